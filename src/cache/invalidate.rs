//! Read-your-writes, the cache's side: the tags entries are filed under, what a write purges, and
//! whether a mutation's answer says it changed anything. Which tags a request has is decided at
//! admission (`admission::tags`).
//! Must never: leave an entry a write can change reachable — when in doubt, purge more.

use std::collections::BTreeSet;

/// What a cached entry is about, and what a write purges.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Tag {
    /// Repository `owner/name` (lower-cased).
    Repo(String),
    /// A repository read by id whose name is not known yet.
    RepoId(u64),
    /// An owner's owner-level reads (`/orgs/o`, `/users/o`, GraphQL `organization`, …).
    Owner(String),
    Search,
    Graphql,
}

impl std::fmt::Display for Tag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Tag::Repo(full_name) => write!(f, "repo:{full_name}"),
            Tag::RepoId(id) => write!(f, "repoid:{id}"),
            Tag::Owner(owner) => write!(f, "owner:{owner}"),
            Tag::Search => f.write_str("search"),
            Tag::Graphql => f.write_str("graphql"),
        }
    }
}

/// What a successful write purges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalidation {
    Tags(BTreeSet<Tag>),
    Everything,
}

/// Whether a mutation's 200 answer says something changed: some top-level field has data. GitHub
/// answers a refused mutation with `errors` and `data` null (or every field null); an answer that
/// cannot be read is taken to have changed something.
pub fn mutation_changed(answer: &[u8]) -> bool {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(answer) else { return true };
    match value.get("data") {
        Some(serde_json::Value::Object(fields)) => fields.values().any(|v| !v.is_null()),
        Some(serde_json::Value::Null) | None => value.get("errors").is_none(),
        Some(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue #20 (5): a mutation GitHub refused (200 with `errors`) purges nothing.
    #[test]
    fn only_mutations_that_changed_something_purge_20() {
        let refused = br#"{"data":null,"errors":[{"type":"NOT_FOUND","message":"Could not resolve"}]}"#;
        assert!(!mutation_changed(refused));
        assert!(!mutation_changed(br#"{"data":{"addComment":null},"errors":[{"message":"x"}]}"#));
        assert!(!mutation_changed(br#"{"errors":[{"message":"Parse error"}]}"#));
        assert!(mutation_changed(br#"{"data":{"addComment":{"clientMutationId":null}}}"#));
        assert!(mutation_changed(br#"{"data":{"a":null,"b":{"id":"1"}},"errors":[{"message":"a failed"}]}"#));
        assert!(mutation_changed(b"not json"), "unreadable: purge");
    }
}
