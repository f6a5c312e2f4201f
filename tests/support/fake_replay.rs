//! Recorded real GitHub answers, replayed by the fake (issue #7): the `raw-fixture.json` files of
//! the npm package `@octokit/fixtures` (read from where `scripts/deps test` installs it, never
//! committed) hold real exchanges with api.github.com — bodies as GitHub wrote them, real ETags,
//! `Cache-Control`, both `Vary` lines, `x-ratelimit-*`, and `Link` pagination through
//! `/repositories/{id}`.
//!
//! The fake answers a recorded `GET` (same path and query) with the recorded status, headers and
//! body, `https://api.github.com` replaced by its own base URL so that ghpool rewrites them as it
//! would GitHub's; a matching `If-None-Match` gets the recorded headers with a 304. Only the
//! recorded `GET`s are replayed; writes in a scenario only set it up. A repository created in the
//! scenario is also served at `GET /repositories/{id}`, from its recorded JSON, so ghpool can learn
//! the owner behind a `/repositories/{id}` link as it does from GitHub.
//! Callers still authenticate: a bad token gets the fake's 401 first.

use std::path::Path;

use serde_json::Value;

use super::{FakeGithub, Incoming, Reply};

/// Response headers replayed (the rest — hop-by-hop, `Content-Length` of the unrewritten body,
/// CORS, `Date`, `Server` — are not).
const KEPT: &[&str] = &[
    "cache-control",
    "content-type",
    "etag",
    "github-authentication-token-expiration",
    "last-modified",
    "link",
    "location",
    "retry-after",
    "vary",
    "x-accepted-oauth-scopes",
    "x-github-media-type",
    "x-github-request-id",
    "x-oauth-scopes",
    "x-poll-interval",
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "x-ratelimit-reset",
    "x-ratelimit-resource",
    "x-ratelimit-used",
];

const GITHUB: &str = "https://api.github.com";

#[derive(Default)]
pub(super) struct Recordings {
    exchanges: Vec<Recorded>,
}

struct Recorded {
    /// Path and query, as recorded.
    target: String,
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
}

/// What a scenario brought: its repositories (full name, id) and the recorded `GET` targets.
#[derive(Debug, Default)]
pub struct Replayed {
    pub repositories: Vec<(String, u64)>,
    pub targets: Vec<String>,
}

impl FakeGithub {
    /// Replays the `GET`s of `raw_fixture` (an `@octokit/fixtures` scenario's `raw-fixture.json`).
    pub fn replay_octokit_fixture(&self, raw_fixture: &Path) -> Replayed {
        let text = std::fs::read_to_string(raw_fixture).unwrap_or_else(|e| panic!("{}: {e}", raw_fixture.display()));
        let exchanges: Vec<Value> = serde_json::from_str(&text).expect("a JSON array of exchanges");
        let mut w = self.lock();
        let base = w.base.clone();
        let mut replayed = Replayed::default();
        for exchange in &exchanges {
            let status = exchange["status"].as_u64().and_then(|s| u16::try_from(s).ok()).unwrap_or(0);
            let body = match &exchange["response"] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let body = body.replace(GITHUB, &base);
            let headers = recorded_headers(&exchange["rawHeaders"], &base);
            let response: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
            if let (Some(id), Some(name)) = (response["id"].as_u64(), response["full_name"].as_str()) {
                if response.get("owner").is_some() && !replayed.repositories.iter().any(|(_, i)| *i == id) {
                    // The repository's own JSON, recorded: also its answer at /repositories/{id}.
                    replayed.repositories.push((name.to_string(), id));
                    let target = format!("/repositories/{id}");
                    let headers = headers.iter().filter(|(k, _)| *k != "location").cloned().collect();
                    w.replay.exchanges.push(Recorded { target, status: 200, headers, body: body.clone() });
                }
            }
            if exchange["method"].as_str().is_some_and(|m| m.eq_ignore_ascii_case("get")) {
                let target = exchange["path"].as_str().unwrap_or_default().to_string();
                replayed.targets.push(target.clone());
                w.replay.exchanges.push(Recorded { target, status, headers, body });
            }
        }
        replayed
    }
}

fn recorded_headers(raw: &Value, base: &str) -> Vec<(&'static str, String)> {
    let raw: Vec<&str> = raw.as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
    raw.chunks(2)
        .filter_map(|pair| match pair {
            [name, value] => {
                let kept = KEPT.iter().find(|k| k.eq_ignore_ascii_case(name))?;
                Some((*kept, value.replace(GITHUB, base)))
            }
            _ => None,
        })
        .collect()
}

impl Recordings {
    /// The recorded answer to `req`, if it is a replayed `GET` (the last recording of a target wins).
    pub(super) fn answer(&self, req: &Incoming) -> Option<Reply> {
        if req.method != axum::http::Method::GET && req.method != axum::http::Method::HEAD {
            return None;
        }
        let target = if req.query.is_empty() { req.path.clone() } else { format!("{}?{}", req.path, req.query) };
        let recorded = self.exchanges.iter().rev().find(|r| r.target == target)?;
        let etag = recorded.headers.iter().find(|(k, _)| *k == "etag").map(|(_, v)| v.trim_start_matches("W/"));
        let fresh = match (&req.if_none_match, etag) {
            (Some(tags), Some(etag)) => tags.split(',').any(|t| t.trim().trim_start_matches("W/") == etag),
            _ => false,
        };
        let (status, body) = if fresh { (304, String::new()) } else { (recorded.status, recorded.body.clone()) };
        Some(Reply { headers: recorded.headers.clone(), ..Reply::new(status, body) })
    }
}
