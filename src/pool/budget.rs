//! Rate-limit budgets as GitHub reports them in `x-ratelimit-*` headers, one per resource bucket.
//!
//! Owns: deciding what a budget is worth *now* (the headers are parsed by `ratelimit`) (a passed reset restores
//! it). Must never: know about identities or tokens.

use std::collections::HashMap;

use crate::ratelimit::RateLimit;

/// What GitHub grants before we have seen a header: the documented defaults for a user token.
/// Optimistic on purpose: the first answer replaces it.
pub fn assumed_limit(resource: &str) -> u64 {
    match resource {
        "search" => 30,
        "code_search" => 10,
        _ => 5000,
    }
}

/// The budgets of one GitHub account (all its tokens share them).
#[derive(Debug, Default, Clone)]
pub struct Budgets {
    by_resource: HashMap<String, RateLimit>,
    /// Resources held off until an epoch second by a secondary rate limit (`retry-after`),
    /// whatever `remaining` says.
    blocked: HashMap<String, u64>,
}

impl Budgets {
    /// Record an observation. Within one reset window GitHub's `remaining` only falls, so answers
    /// that arrive out of order never raise it.
    pub fn observe(&mut self, resource: &str, seen: RateLimit) {
        let entry = self.by_resource.entry(resource.to_string()).or_insert(seen);
        if entry.reset == seen.reset && entry.limit == seen.limit {
            entry.remaining = entry.remaining.min(seen.remaining);
            entry.used = entry.used.max(seen.used);
        } else if seen.reset >= entry.reset {
            *entry = seen;
        }
    }

    /// Hold `resource` off until `until` (epoch s): GitHub asked for a pause.
    pub fn block(&mut self, resource: &str, until: u64) {
        let entry = self.blocked.entry(resource.to_string()).or_insert(until);
        *entry = (*entry).max(until);
    }

    fn blocked_until(&self, resource: &str, now: u64) -> Option<u64> {
        self.blocked.get(resource).copied().filter(|until| *until > now)
    }

    /// Remaining requests for `resource` at `now` (epoch s): the observed value, the full limit once
    /// its reset has passed, the assumed default when never observed; zero while held off.
    pub fn remaining(&self, resource: &str, now: u64) -> u64 {
        if self.blocked_until(resource, now).is_some() {
            return 0;
        }
        match self.by_resource.get(resource) {
            Some(b) if b.reset <= now => b.limit,
            Some(b) => b.remaining,
            None => assumed_limit(resource),
        }
    }

    /// When an exhausted budget comes back (epoch s), if it is exhausted.
    pub fn exhausted_until(&self, resource: &str, now: u64) -> Option<u64> {
        let spent = match self.by_resource.get(resource) {
            Some(b) if b.reset > now && b.remaining == 0 => Some(b.reset),
            _ => None,
        };
        match (spent, self.blocked_until(resource, now)) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }

    /// Every resource that cannot be used now, with when it comes back (epoch s).
    pub fn limited(&self, now: u64) -> std::collections::BTreeMap<String, u64> {
        self.by_resource
            .keys()
            .chain(self.blocked.keys())
            .filter_map(|r| self.exhausted_until(r, now).map(|until| (r.clone(), until)))
            .collect()
    }

    pub fn get(&self, resource: &str) -> Option<RateLimit> {
        self.by_resource.get(resource).copied()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &RateLimit)> {
        self.by_resource.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ratelimit::parse_headers;

    fn headers(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<&'static str> {
        move |name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)
    }

    #[test]
    fn parses_github_headers() {
        let h = headers(&[
            ("x-ratelimit-limit", "5000"),
            ("x-ratelimit-remaining", "4999"),
            ("x-ratelimit-used", "1"),
            ("x-ratelimit-reset", "1700000000"),
            ("x-ratelimit-resource", "search"),
        ]);
        let (resource, rl) = parse_headers(h).unwrap();
        assert_eq!(resource, "search");
        assert_eq!(rl, RateLimit { limit: 5000, remaining: 4999, used: 1, reset: 1_700_000_000 });
        assert_eq!(parse_headers(headers(&[("x-ratelimit-limit", "x")])), None);
    }

    #[test]
    fn remaining_never_rises_within_a_window_and_resets_restore() {
        let mut b = Budgets::default();
        b.observe("core", RateLimit { limit: 10, remaining: 3, used: 7, reset: 100 });
        b.observe("core", RateLimit { limit: 10, remaining: 5, used: 5, reset: 100 });
        assert_eq!(b.remaining("core", 50), 3);
        b.observe("core", RateLimit { limit: 10, remaining: 0, used: 10, reset: 100 });
        assert_eq!(b.exhausted_until("core", 50), Some(100));
        assert_eq!(b.remaining("core", 100), 10, "a passed reset restores the budget");
        assert_eq!(b.exhausted_until("core", 100), None);
        b.observe("core", RateLimit { limit: 10, remaining: 9, used: 1, reset: 200 });
        assert_eq!(b.remaining("core", 150), 9, "a new window replaces the old one");
        assert_eq!(b.remaining("graphql", 150), 5000, "unseen resources assume GitHub's default");
        b.block("graphql", 160);
        assert_eq!((b.remaining("graphql", 150), b.exhausted_until("graphql", 150)), (0, Some(160)));
        assert_eq!(b.limited(150).get("graphql"), Some(&160));
        assert_eq!(b.remaining("graphql", 160), 5000, "a hold-off ends by itself");
        assert!(b.limited(160).is_empty());
    }
}
