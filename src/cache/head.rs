//! A response header as the cache keeps it: the names, and the values back to back in one buffer.
//!
//! Owns: turning Pingora's `ResponseHeader` into that compact form and back. A parsed
//! `ResponseHeader` is a `HeaderMap` plus a map of the names' spellings — 5 to 8 KiB for GitHub's
//! 25 or so headers, more than the 2 KiB body of a typical answer — and its values are slices of
//! the upstream connection's read buffer, which a kept copy would hold alive. Kept compact, a
//! header is its bytes plus a name each; rebuilt per hit, its values are slices of the kept buffer
//! (no copy).
//! Must never: change a value, or keep `Content-Length`/`Transfer-Encoding` from upstream (the
//! body's stored length is the only true one).

use bytes::{Bytes, BytesMut};
use http::{HeaderName, HeaderValue, StatusCode, Version};
use pingora_http::ResponseHeader;

/// The framing headers a stored answer is sent with, whatever GitHub framed it with.
const FRAMING: [&str; 2] = ["content-length", "transfer-encoding"];

#[derive(Clone)]
pub struct StoredHeader {
    status: StatusCode,
    version: Version,
    names: Box<[HeaderName]>,
    /// Every value, back to back; value `i` ends at `ends[i]`.
    values: Bytes,
    ends: Box<[u32]>,
}

impl StoredHeader {
    /// `header` to keep with a body of `body_len` bytes, sent with that `Content-Length`.
    pub fn framed(header: &ResponseHeader, body_len: usize) -> StoredHeader {
        let length = body_len.to_string();
        let fields = header.headers.iter().filter(|(name, _)| !FRAMING.contains(&name.as_str()));
        let fields: Vec<(&HeaderName, &[u8])> = fields
            .map(|(name, value)| (name, value.as_bytes()))
            .chain(std::iter::once((&http::header::CONTENT_LENGTH, length.as_bytes())))
            .collect();
        let mut values = BytesMut::with_capacity(fields.iter().map(|(_, v)| v.len()).sum());
        let mut ends = Vec::with_capacity(fields.len());
        for (_, value) in &fields {
            values.extend_from_slice(value);
            ends.push(u32::try_from(values.len()).unwrap_or(u32::MAX));
        }
        StoredHeader {
            status: header.status,
            version: header.version,
            names: fields.iter().map(|(name, _)| owned(name)).collect(),
            values: values.freeze(),
            ends: ends.into_boxed_slice(),
        }
    }

    /// The header again, for one answer: its values are slices of the kept buffer. Built as
    /// `http` parts (no name spellings to keep): Pingora's `append_header` would spell every name
    /// out and parse it back.
    pub fn to_header(&self) -> Option<ResponseHeader> {
        let (mut parts, ()) = http::Response::new(()).into_parts();
        parts.status = self.status;
        parts.version = self.version;
        parts.headers.reserve(self.names.len());
        let mut start = 0;
        for (name, &end) in self.names.iter().zip(self.ends.iter()) {
            let end = end as usize;
            // Kept from a valid header: every value is valid again.
            let value = HeaderValue::from_maybe_shared(self.values.slice(start..end)).ok()?;
            parts.headers.append(name.clone(), value);
            start = end;
        }
        Some(ResponseHeader::from(parts))
    }

    /// The first value of header `name` (lower-case), without rebuilding the header.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        let i = self.names.iter().position(|n| n.as_str() == name)?;
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        self.values.get(start..self.ends[i] as usize)
    }

    /// What it takes in memory, about: the values, a name each (and a custom name's bytes), the
    /// value ends, and the allocations.
    pub fn size(&self) -> u64 {
        let names: usize = self.names.iter().map(|n| std::mem::size_of::<HeaderName>() + n.as_str().len()).sum();
        (names + self.values.len() + 4 * self.ends.len() + std::mem::size_of::<StoredHeader>() + 64) as u64
    }
}

impl StoredHeader {
    /// The header as bytes, for the shared cache: status, version, then each name and value with
    /// its length.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.status.as_u16().to_be_bytes());
        out.push(match self.version {
            Version::HTTP_10 => 10,
            Version::HTTP_2 => 20,
            _ => 11,
        });
        out.extend_from_slice(&(self.names.len() as u16).to_be_bytes());
        let mut start = 0;
        for (name, &end) in self.names.iter().zip(self.ends.iter()) {
            let value = &self.values[start..end as usize];
            out.extend_from_slice(&(name.as_str().len() as u16).to_be_bytes());
            out.extend_from_slice(name.as_str().as_bytes());
            out.extend_from_slice(&(value.len() as u32).to_be_bytes());
            out.extend_from_slice(value);
            start = end as usize;
        }
    }

    /// [`StoredHeader::encode`]'s bytes read back; `None` for anything that is not exactly that
    /// (a value from another version, cut, or not a header).
    pub fn decode(bytes: &[u8]) -> Option<StoredHeader> {
        let mut r = Reader(bytes);
        let status = StatusCode::from_u16(u16::from_be_bytes(r.take(2)?.try_into().ok()?)).ok()?;
        let version = match r.take(1)?[0] {
            10 => Version::HTTP_10,
            20 => Version::HTTP_2,
            11 => Version::HTTP_11,
            _ => return None,
        };
        let count = u16::from_be_bytes(r.take(2)?.try_into().ok()?) as usize;
        let (mut names, mut ends, mut values) = (Vec::with_capacity(count), Vec::with_capacity(count), BytesMut::new());
        for _ in 0..count {
            let len = u16::from_be_bytes(r.take(2)?.try_into().ok()?) as usize;
            names.push(HeaderName::from_bytes(r.take(len)?).ok()?);
            let len = u32::from_be_bytes(r.take(4)?.try_into().ok()?) as usize;
            let value = r.take(len)?;
            HeaderValue::from_bytes(value).ok()?;
            values.extend_from_slice(value);
            ends.push(u32::try_from(values.len()).ok()?);
        }
        if !r.0.is_empty() {
            return None;
        }
        Some(StoredHeader {
            status,
            version,
            names: names.into_boxed_slice(),
            values: values.freeze(),
            ends: ends.into_boxed_slice(),
        })
    }
}

/// Reads a byte slice front to back.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
}

/// A name that shares no buffer: a custom name Pingora parsed may be a slice of its read buffer.
fn owned(name: &HeaderName) -> HeaderName {
    HeaderName::from_bytes(name.as_str().as_bytes()).unwrap_or_else(|_| name.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_comes_back_as_it_was_kept_with_its_stored_length() {
        let mut upstream = ResponseHeader::build(200, None).unwrap();
        for (name, value) in [
            ("Content-Type", "application/json; charset=utf-8"),
            ("ETag", "W/\"abc\""),
            ("Link", "<http://h/a?page=2>; rel=\"next\""),
            ("X-RateLimit-Remaining", "4999"),
            ("Vary", "Accept"),
            ("Vary", "Authorization"),
            ("Transfer-Encoding", "chunked"),
            ("Content-Length", "99"),
        ] {
            upstream.append_header(name, value).unwrap();
        }
        let kept = StoredHeader::framed(&upstream, 2);
        let header = kept.to_header().unwrap();
        assert_eq!(header.status, 200);
        assert_eq!(header.headers["etag"], "W/\"abc\"");
        assert_eq!(header.headers["x-ratelimit-remaining"], "4999");
        let vary: Vec<_> = header.headers.get_all("vary").iter().collect();
        assert_eq!(vary, ["Accept", "Authorization"], "repeated headers keep their order");
        assert_eq!(header.headers["content-length"], "2", "framed by the stored body");
        assert!(header.headers.get("transfer-encoding").is_none());
        assert_eq!(header.headers.len(), 7);
        assert_eq!(kept.get("etag"), Some(&b"W/\"abc\""[..]));
        assert_eq!(kept.get("vary"), Some(&b"Accept"[..]), "the first of repeated values");
        assert_eq!(kept.get("content-length"), Some(&b"2"[..]));
        assert_eq!(kept.get("x-missing"), None);
        assert_eq!(kept.clone().to_header().unwrap().headers, header.headers);
        assert!(kept.size() < 1024, "{}", kept.size());
        let mut bytes = Vec::new();
        kept.encode(&mut bytes);
        let back = StoredHeader::decode(&bytes).unwrap();
        assert_eq!(back.to_header().unwrap().headers, header.headers);
        assert!(StoredHeader::decode(&bytes[..bytes.len() - 1]).is_none(), "cut");
        bytes.push(0);
        assert!(StoredHeader::decode(&bytes).is_none(), "trailing bytes");
    }
}
