//! Answers ghpool writes itself and request bodies it reads itself, outside Pingora's proxy loop.
//! Must never: read more of a body than its limit, or wait on a silent client without a deadline.

use std::time::Duration;

use bytes::Bytes;
use pingora_core::{Error, ErrorType, Result};
use pingora_http::ResponseHeader;
use pingora_proxy::Session;

use super::RequestCtx;
use crate::cache::Outcome;
use crate::respond::Refusal;

/// How long a client may take to send a GraphQL body.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Stop before going upstream: `fail_to_proxy` answers with `refusal` (or a stale entry is served).
pub fn refuse(ctx: &mut RequestCtx, refusal: Refusal) -> Box<Error> {
    let mut error = Error::explain(ErrorType::HTTPStatus(refusal.status()), "refused before going upstream");
    error.esource = pingora_core::ErrorSource::Internal;
    ctx.refusal = Some(refusal);
    error
}

/// Read a whole request body of at most `limit` bytes. Retry buffering is enabled first, so
/// Pingora replays what was read to the upstream; `limit` must not exceed its 64 KiB buffer.
pub async fn read_body(session: &mut Session, limit: usize) -> Result<Vec<u8>, Refusal> {
    let declared = session.req_header().headers.get("content-length").and_then(|v| v.to_str().ok());
    if declared.and_then(|v| v.trim().parse::<usize>().ok()).is_some_and(|n| n > limit) {
        return Err(Refusal::TooLarge(limit));
    }
    session.enable_retry_buffering();
    let mut body = Vec::new();
    // A client that stops sending must not hold the request (and its worker task) forever.
    let deadline = tokio::time::Instant::now() + BODY_READ_TIMEOUT;
    loop {
        let read = tokio::time::timeout_at(deadline, session.read_request_body()).await;
        let Ok(read) = read else { return Err(Refusal::BodyTimeout(BODY_READ_TIMEOUT.as_secs())) };
        match read {
            Ok(Some(chunk)) => {
                body.extend_from_slice(&chunk);
                if body.len() > limit {
                    return Err(Refusal::TooLarge(limit));
                }
            }
            Ok(None) => return Ok(body),
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
