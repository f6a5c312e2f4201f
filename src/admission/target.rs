//! A REST target's shape, read once: the one place where `repos/{owner}/{name}`,
//! `repositories/{id}`, `orgs|users/{login}` and `search/…` are told apart for what follows the
//! allowlist — the rate-limit resource a read is charged to, the cache tags of an entry, what a
//! write purges, whether an answer is repository JSON to learn from.
//!
//! Owns: [`RestTarget`]. Pure. The allowlist itself reads GitHub's route table
//! (`admission::rest_routes`), which names every owner a path holds.
//! Must never: allow anything (that is `access`).

use crate::admission::access::Target;
use crate::ratelimit::Resource;

/// What a REST path is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestTarget<'a> {
    /// `/repos/{owner}/{name}[/…]`; `whole` when the path is the repository itself.
    Repo {
        owner: &'a str,
        name: &'a str,
        whole: bool,
    },
    /// `/repositories/{id}[/…]`.
    RepoId {
        id: u64,
        whole: bool,
    },
    /// `/orgs/{login}[/…]` or `/users/{login}[/…]`.
    Account {
        login: &'a str,
    },
    /// `/search/{kind}`.
    Search {
        code: bool,
    },
    /// `/graphql`.
    Graphql,
    Other,
}

impl<'a> RestTarget<'a> {
    pub fn of(target: &'a Target) -> RestTarget<'a> {
        let whole = target.segments.len() <= 3;
        match (target.segment(0), target.segment(1), target.segment(2)) {
            (Some("repos"), Some(owner), Some(name)) => RestTarget::Repo { owner, name, whole },
            (Some("repositories"), Some(id), _) => match id.parse() {
                Ok(id) => RestTarget::RepoId { id, whole: target.segments.len() == 2 },
                Err(_) => RestTarget::Other,
            },
            (Some("orgs" | "users"), Some(login), _) => RestTarget::Account { login },
            (Some("search"), Some(kind), None) => RestTarget::Search { code: kind == "code" },
            (Some("graphql"), None, _) => RestTarget::Graphql,
            _ => RestTarget::Other,
        }
    }

    /// The bucket a read of this shape is charged to.
    pub fn resource(&self) -> Resource {
        match self {
            RestTarget::Graphql => Resource::Graphql,
            RestTarget::Search { code: true } => Resource::CodeSearch,
            RestTarget::Search { code: false } => Resource::Search,
            _ => Resource::Core,
        }
    }

    /// The answer is one repository's JSON (`/repos/{o}/{r}`, `/repositories/{id}`): its id and
    /// owner are learned from it.
    pub fn is_repository(&self) -> bool {
        matches!(self, RestTarget::Repo { whole: true, .. } | RestTarget::RepoId { whole: true, .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission::access::normalize;

    #[test]
    fn shapes() {
        let shape = |p: &str| {
            let t = normalize(p, "h").unwrap();
            let s = RestTarget::of(&t);
            (format!("{s:?}"), s.resource().as_str(), s.is_repository())
        };
        let repo = r#"Repo { owner: "acme", name: "w", whole: true }"#;
        assert_eq!(shape("/repos/acme/w"), (repo.to_string(), "core", true));
        assert!(!shape("/repos/acme/w/issues").2);
        assert_eq!(shape("/repositories/7"), ("RepoId { id: 7, whole: true }".into(), "core", true));
        assert_eq!(shape("/repositories/7/issues").0, "RepoId { id: 7, whole: false }");
        assert_eq!(shape("/repositories/x/issues").0, "Other");
        assert_eq!(shape("/orgs/acme/repos").0, r#"Account { login: "acme" }"#);
        assert_eq!(shape("/search/code?q=x").1, "code_search");
        assert_eq!(shape("/search/issues").1, "search");
        assert_eq!(shape("/graphql").1, "graphql");
        assert_eq!(shape("/rate_limit").1, "core");
    }
}
