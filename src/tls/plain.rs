//! A plain-HTTP request sent to the TLS port: answered `400` in plain HTTP, saying to use
//! `https://`, instead of a TLS alert the client shows as a garbled error.
//!
//! Owns: the look at a connection's first byte before the handshake (a TLS record starts with
//! `0x16`; an HTTP request with a method's capital letter). Must never: consume a byte of a TLS
//! connection (what it read is put back), or wait on a silent client without a deadline.

use std::time::Duration;

use async_trait::async_trait;
use pingora_core::listeners::PreTlsProcess;
use pingora_core::protocols::l4::stream::Stream;
use pingora_error::{Error, ErrorType, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long a new connection may stay silent before its first byte.
const FIRST_BYTE: Duration = Duration::from_secs(10);

const ANSWER: &str = "ghpool speaks TLS on this port: use https://";

/// Does a connection that starts with `first` speak plain HTTP (a method's first letter)?
pub fn looks_like_plain_http(first: u8) -> bool {
    first.is_ascii_uppercase()
}

pub struct PlainHttpRefusal;

#[async_trait]
impl PreTlsProcess for PlainHttpRefusal {
    async fn process(&self, stream: &mut Stream) -> Result<()> {
        let mut first = [0u8; 1];
        let read = tokio::time::timeout(FIRST_BYTE, stream.read(&mut first)).await;
        let n = match read {
            Ok(Ok(n)) => n,
            Ok(Err(e)) => return Error::e_because(ErrorType::ReadError, "before the TLS handshake", e),
            Err(_) => return Error::e_explain(ErrorType::ReadTimedout, "no TLS handshake in time"),
        };
        if n == 0 {
            return Error::e_explain(ErrorType::ConnectionClosed, "closed before the TLS handshake");
        }
        if !looks_like_plain_http(first[0]) {
            stream.rewind(&first);
            return Ok(());
        }
        let body = format!(r#"{{"message":"{ANSWER}","documentation_url":"https://github.com/ghpool/ghpool#readme"}}"#);
        let answer = format!(
            "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        // Best effort: the connection is closed either way.
        let _ = tokio::time::timeout(FIRST_BYTE, async {
            stream.write_all(answer.as_bytes()).await?;
            stream.flush().await
        })
        .await;
        Error::e_explain(ErrorType::InvalidHTTPHeader, "a plain-HTTP request on the TLS port")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tls_record_is_not_plain_http_and_a_method_is_17() {
        assert!(!looks_like_plain_http(0x16), "a TLS handshake record");
        for method in ["GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT"] {
            assert!(looks_like_plain_http(method.as_bytes()[0]), "{method}");
        }
    }
}
