//! GitHub's rate-limit headers (`x-ratelimit-limit`, `-remaining`, `-used`, `-reset`, `-resource`),
//! as every answer carries them: the vocabulary the pool keeps budgets in and ghpool's own calls
//! report.
//! Must never: know about identities, tokens or HTTP types.

/// The rate-limit bucket GitHub charges a request to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Resource {
    Core,
    Search,
    CodeSearch,
    Graphql,
}

impl Resource {
    /// GitHub's name for it, as `x-ratelimit-resource` says it.
    pub fn as_str(self) -> &'static str {
        match self {
            Resource::Core => "core",
            Resource::Search => "search",
            Resource::CodeSearch => "code_search",
            Resource::Graphql => "graphql",
        }
    }
}

/// One response's `x-ratelimit-*` headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub limit: u64,
    pub remaining: u64,
    pub used: u64,
    /// UTC epoch seconds.
    pub reset: u64,
}

/// The headers as a lookup: a closure so this module needs no HTTP types.
pub fn parse_headers<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Option<(String, RateLimit)> {
    let num = |name: &str| get(name).and_then(|v| v.trim().parse::<u64>().ok());
    let limit = num("x-ratelimit-limit")?;
    let remaining = num("x-ratelimit-remaining")?;
    let reset = num("x-ratelimit-reset")?;
    let used = num("x-ratelimit-used").unwrap_or(limit.saturating_sub(remaining));
    let resource = get("x-ratelimit-resource").map(str::trim).filter(|r| !r.is_empty()).unwrap_or("core");
    Some((resource.to_ascii_lowercase(), RateLimit { limit, remaining, used, reset }))
}
