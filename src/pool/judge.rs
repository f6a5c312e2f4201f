//! What an upstream answer says about the identity that got it: fine, a bad token, or a rate limit
//! until when (GITHUB.md, "Primary/Secondary rate limits").
//! Must never: take a permission 403 for a rate limit (that would pause a healthy identity).

use super::RateLimit;

/// What an upstream answer says about the identity that got it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Judgement {
    Fine,
    /// 401: the token is bad.
    BadCredentials,
    /// A primary or secondary rate limit, lifting at `until` (epoch s).
    Limited {
        until: u64,
    },
}

/// Judge an answer (GITHUB.md, "Primary/Secondary rate limits"): 401 is a bad token; a 403/429 with
/// `retry-after` is a secondary limit for that long, one with `x-ratelimit-remaining: 0` the primary
/// limit until `reset`; GraphQL says rate-limited with a 200 and `remaining: 0`. A 403 with budget
/// left and no `retry-after` is a permission answer, not a limit.
pub fn judge(status: u16, rate: Option<&RateLimit>, retry_after: Option<u64>, graphql: bool, now: u64) -> Judgement {
    let spent = rate.filter(|r| r.remaining == 0).map(|r| r.reset.max(now + 1));
    match status {
        401 => Judgement::BadCredentials,
        403 | 429 => match (retry_after, spent) {
            (Some(secs), _) => Judgement::Limited { until: now + secs.max(1) },
            (None, Some(until)) => Judgement::Limited { until },
            (None, None) => Judgement::Fine,
        },
        200 if graphql => spent.map_or(Judgement::Fine, |until| Judgement::Limited { until }),
        _ => Judgement::Fine,
    }
}

/// Does an error body say "secondary rate limit" (Octokit's test: `/\bsecondary rate\b/i`)?
pub fn mentions_secondary_limit(body: &[u8]) -> bool {
    let text = String::from_utf8_lossy(body).to_ascii_lowercase();
    text.contains("secondary rate")
}
