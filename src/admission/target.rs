//! A REST target's shape, read once: the one place where `repos/{owner}/{name}`,
//! `repositories/{id}`, `orgs|users/{login}`, `search/…`, `user/…`, `graphql` and ghpool's own
//! endpoints are told apart — for the route, the allowlist's special cases, the rate-limit resource
//! a read is charged to, the cache tags of an entry, what a write purges, whether an answer is
//! repository JSON to learn from.
//!
//! Owns: [`RestTarget`]. Pure. The allowlist itself reads GitHub's route table
//! (`admission::rest_routes`), which names every owner a path holds.
//! Must never: allow anything (that is `access`).

use crate::admission::access::Target;
use crate::admission::plan::AdminPath;
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
        kind: &'a str,
    },
    /// `/user[/…]`: the authenticated identity's own view (with a pool token, the pool's).
    Viewer,
    /// `/graphql`.
    Graphql,
    /// `/`: GitHub's index of URL templates.
    Root,
    /// One of ghpool's own endpoints (`/healthz`, `/readyz`, `/stats`, `/metrics`, `/rate_limit`).
    Local(AdminPath),
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
            (Some("search"), Some(kind), None) => RestTarget::Search { kind },
            (Some("user"), _, _) => RestTarget::Viewer,
            (Some("graphql"), None, _) => RestTarget::Graphql,
            (None, _, _) => RestTarget::Root,
            (Some(name), None, _) => match name {
                "healthz" => RestTarget::Local(AdminPath::Healthz),
                "readyz" => RestTarget::Local(AdminPath::Readyz),
                "stats" => RestTarget::Local(AdminPath::Stats),
                "metrics" => RestTarget::Local(AdminPath::Metrics),
                "rate_limit" => RestTarget::Local(AdminPath::RateLimit),
                "git-credential" => RestTarget::Local(AdminPath::GitCredential),
                _ => RestTarget::Other,
            },
            _ => RestTarget::Other,
        }
    }

    /// The bucket a read of this shape is charged to.
    pub fn resource(&self) -> Resource {
        match self {
            RestTarget::Graphql => Resource::Graphql,
            RestTarget::Search { kind: "code" } => Resource::CodeSearch,
            RestTarget::Search { .. } => Resource::Search,
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
        assert_eq!(shape("/rate_limit").0, "Local(RateLimit)");
        assert_eq!(shape("/api/v3/stats").0, "Local(Stats)");
        assert_eq!(shape("/healthz/x").0, "Other");
        assert_eq!(shape("/search/labels?q=x").0, r#"Search { kind: "labels" }"#);
        assert_eq!(shape("/search/labels/x").0, "Other");
        assert_eq!(shape("/user").0, "Viewer");
        assert_eq!(shape("/user/starred/acme/w").0, "Viewer");
        assert_eq!(shape("/users/acme").0, r#"Account { login: "acme" }"#);
        assert_eq!(shape("/").0, "Root");
        assert_eq!(shape("/api/graphql").0, "Graphql");
        assert_eq!(shape("/graphql/x").0, "Other");
    }
}
