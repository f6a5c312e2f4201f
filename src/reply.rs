//! The one place where a refusal or a failure becomes an HTTP reply — what ghpool says itself, as
//! opposed to GitHub's answers, which it passes on.
//!
//! Every reply ghpool makes up itself is JSON in GitHub's own error shape,
//! `{"message": "...", "documentation_url": "..."}`, so gh, Octokit and PyGithub surface it as they
//! would a GitHub error. Must never: put a token, or anything derived from one, in a body or header.

use std::time::Duration;

use serde::Serialize;

const DOCS: &str = "https://github.com/ghpool/ghpool#readme";
const RATE_DOCS: &str = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api";

/// Every reason ghpool replies to a request itself instead of forwarding it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("{0}")]
    BadRequest(String),
    #[error("Requires authentication: ghpool forwards writes with your own token; send an Authorization header")]
    Unauthenticated,
    /// Agents are configured (issue #16) and the request shows no key of theirs.
    #[error("Bad credentials: ghpool serves keyed agents; send your agent key as `Authorization: token <key>`")]
    NoAgentKey,
    #[error("{0}")]
    Forbidden(String),
    #[error("Not Found")]
    NotFound,
    #[error("Method Not Allowed")]
    MethodNotAllowed,
    #[error("Request body too large: {1} (at most {0} bytes)")]
    TooLarge(usize, &'static str),
    #[error("Request body not received in time: ghpool waits {0} s for each part of a body, and {0} s plus 1 s per MiB for all of it")]
    BodyTimeout(u64),
    #[error("API rate limit exceeded for every identity in the ghpool pool (resource `{resource}`); retry after {retry_after_secs} s")]
    Exhausted { resource: String, retry_after_secs: u64, reset: u64 },
    #[error("ghpool has no usable identity: every pool token was refused by GitHub")]
    NoIdentity,
    #[error("every ghpool identity is at its limit of concurrent requests; retry shortly")]
    Busy,
    #[error("this client has used its share of ghpool's GitHub budget; retry after {retry_after_secs} s")]
    OverShare { retry_after_secs: u64 },
    #[error("GitHub could not be reached: {0}")]
    BadGateway(String),
    #[error("GitHub did not answer in time")]
    GatewayTimeout,
    /// `[audit] path` is set and the write's decision could not be written: it was not sent.
    #[error("ghpool could not record this write in its audit log, so it was not sent; retry later")]
    AuditUnavailable,
}

#[derive(Serialize)]
struct Body<'a> {
    message: String,
    documentation_url: &'a str,
}

/// A reply ghpool makes itself, ready to send: status, headers, body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl Refusal {
    /// The refusal's kind, for records that must not carry what the client sent (its message may
    /// quote the request: a repository named in a GraphQL variable, a search query).
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::BadRequest(_) => "bad_request",
            Refusal::Unauthenticated => "unauthenticated",
            Refusal::NoAgentKey => "no_agent_key",
            Refusal::Forbidden(_) => "forbidden",
            Refusal::NotFound => "not_found",
            Refusal::MethodNotAllowed => "method_not_allowed",
            Refusal::TooLarge(..) => "too_large",
            Refusal::BodyTimeout(_) => "body_timeout",
            Refusal::Exhausted { .. } => "exhausted",
            Refusal::NoIdentity => "no_identity",
            Refusal::Busy => "busy",
            Refusal::OverShare { .. } => "over_share",
            Refusal::BadGateway(_) => "bad_gateway",
            Refusal::GatewayTimeout => "gateway_timeout",
            Refusal::AuditUnavailable => "audit_unavailable",
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            Refusal::BadRequest(_) => 400,
            Refusal::Unauthenticated | Refusal::NoAgentKey => 401,
            Refusal::Forbidden(_) => 403,
            Refusal::NotFound => 404,
            Refusal::MethodNotAllowed => 405,
            Refusal::TooLarge(..) => 413,
            Refusal::BodyTimeout(_) => 408,
            Refusal::Exhausted { .. } | Refusal::OverShare { .. } => 429,
            Refusal::NoIdentity | Refusal::Busy | Refusal::AuditUnavailable => 503,
            Refusal::BadGateway(_) => 502,
            Refusal::GatewayTimeout => 504,
        }
    }

    pub fn reply(&self) -> Reply {
        let documentation_url = match self {
            Refusal::Exhausted { .. } => RATE_DOCS,
            _ => DOCS,
        };
        let body = serde_json::to_vec(&Body { message: self.to_string(), documentation_url })
            .unwrap_or_else(|_| b"{}".to_vec());
        let mut headers = vec![("content-type", "application/json; charset=utf-8".to_string())];
        match self {
            Refusal::Exhausted { retry_after_secs, reset, .. } => {
                headers.push(("retry-after", retry_after_secs.to_string()));
                headers.push(("x-ratelimit-remaining", "0".to_string()));
                headers.push(("x-ratelimit-reset", reset.to_string()));
            }
            Refusal::NoIdentity => headers.push(("retry-after", "60".to_string())),
            Refusal::Busy => headers.push(("retry-after", "1".to_string())),
            Refusal::AuditUnavailable => headers.push(("retry-after", "5".to_string())),
            Refusal::OverShare { retry_after_secs } => headers.push(("retry-after", retry_after_secs.to_string())),
            _ => {}
        }
        Reply { status: self.status(), headers, body }
    }
}

/// Seconds from `now` until `reset`, at least 1 (a `Retry-After: 0` invites a tight loop).
pub fn retry_after(reset: u64, now: u64) -> u64 {
    Duration::from_secs(reset.saturating_sub(now)).as_secs().max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_in_githubs_shape() {
        let a = Refusal::Forbidden("owner `evil` is not allowed".into()).reply();
        assert_eq!(a.status, 403);
        let v: serde_json::Value = serde_json::from_slice(&a.body).unwrap();
        assert_eq!(v["message"], "owner `evil` is not allowed");
        assert!(v["documentation_url"].as_str().unwrap().starts_with("https://"));
    }

    #[test]
    fn exhaustion_says_when_to_come_back() {
        let a = Refusal::Exhausted { resource: "core".into(), retry_after_secs: retry_after(1100, 1000), reset: 1100 }
            .reply();
        assert_eq!(a.status, 429);
        assert!(a.headers.contains(&("retry-after", "100".to_string())));
        assert!(a.headers.contains(&("x-ratelimit-reset", "1100".to_string())));
        assert_eq!(retry_after(900, 1000), 1);
    }
}
