//! Answers ghpool writes itself and request bodies it reads itself, outside Pingora's proxy loop.
//! Must never: read more of a body than its limit, or wait on a silent client without a deadline.

use std::time::Duration;

use bytes::Bytes;
use pingora_core::{Error, ErrorType, Result};
use pingora_http::ResponseHeader;
use pingora_proxy::Session;

use super::RequestCtx;
use crate::cache::Outcome;
use crate::reply::Refusal;

/// How long a client may stay silent while sending a body, and the base of the whole body's
/// deadline (which grows by [`BODY_SECONDS_PER_MIB`] for every MiB received).
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);
pub const BODY_SECONDS_PER_MIB: u64 = 1;

/// Stop before going upstream: `fail_to_proxy` answers with `refusal` (or a stale entry is served).
pub fn refuse(ctx: &mut RequestCtx, refusal: Refusal) -> Box<Error> {
    let mut error = Error::explain(ErrorType::HTTPStatus(refusal.status()), "refused before going upstream");
    error.esource = pingora_core::ErrorSource::Internal;
    ctx.refusal = Some(refusal);
    error
}

/// The request's declared `Content-Length`, if any.
pub fn declared_length(session: &Session) -> Option<usize> {
    let value = session.req_header().headers.get("content-length")?.to_str().ok()?;
    value.trim().parse().ok()
}

/// A request body as read: whole, or its first bytes when it is longer than the limit.
pub enum Read {
    Whole(Vec<u8>),
    /// At least `limit` bytes were read and more were coming (or declared): the rest is unread.
    Cut(Vec<u8>),
}

/// Read a request body of at most `limit` bytes. Retry buffering is enabled first, so Pingora can
/// replay a body of up to [`crate::admission::classify::RETRY_BUFFER`] bytes to the upstream. A silent client is cut after
/// [`BODY_READ_TIMEOUT`]; a slow one once the whole body has taken longer than that plus
/// [`BODY_SECONDS_PER_MIB`] per MiB received.
pub async fn read_body(session: &mut Session, limit: usize) -> Result<Read, Refusal> {
    session.enable_retry_buffering();
    let mut body = Vec::with_capacity(declared_length(session).unwrap_or(0).min(limit));
    let started = tokio::time::Instant::now();
    let timeout = || Refusal::BodyTimeout(BODY_READ_TIMEOUT.as_secs());
    loop {
        if body.len() >= limit && declared_length(session).is_some_and(|n| n > limit) {
            return Ok(Read::Cut(body));
        }
        let allowed = BODY_READ_TIMEOUT + Duration::from_secs(BODY_SECONDS_PER_MIB * (body.len() as u64 >> 20));
        let deadline = (started + allowed).min(tokio::time::Instant::now() + BODY_READ_TIMEOUT);
        let read = tokio::time::timeout_at(deadline, session.read_request_body()).await;
        let Ok(read) = read else { return Err(timeout()) };
        match read {
            Ok(Some(chunk)) => {
                body.extend_from_slice(&chunk);
                if body.len() > limit {
                    return Ok(Read::Cut(body));
                }
            }
            Ok(None) => return Ok(Read::Whole(body)),
            Err(e) if e.etype() == &ErrorType::ReadTimedout => return Err(timeout()),
            Err(e) => {
                return Err(Refusal::BadRequest(format!("could not read the request body: {}", e.etype().as_str())))
            }
        }
    }
}

/// Write a complete answer made by ghpool itself.
pub async fn send(session: &mut Session, status: u16, headers: &[(&str, String)], body: Vec<u8>) -> Result<()> {
    let mut resp = ResponseHeader::build(status, Some(headers.len() + 2))?;
    for (name, value) in headers {
        resp.insert_header(name.to_string(), value.as_str())?;
    }
    resp.insert_header("content-length", body.len().to_string())?;
    // ghpool's own answers went nowhere near the cache either.
    resp.insert_header("x-ghpool-cache", Outcome::Bypass.label())?;
    let head_only = session.req_header().method == http::Method::HEAD;
    session.write_response_header(Box::new(resp), head_only).await?;
    if !head_only {
        session.write_response_body(Some(Bytes::from(body)), true).await?;
    }
    Ok(())
}
