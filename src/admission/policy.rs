//! An agent's policy (issue #16): the repositories it may reach — `owner/name`, or every repository
//! of an owner with `owner/*` — and nothing else (default deny), within the operator's allowlist.
//!
//! Owns: [`AgentPolicy`] (does a read that names this repository, or this owner as a whole, lie
//! within the agent's repositories?) and [`rest_reach`] (what a REST endpoint names: repositories,
//! and owners named without one of their repositories). Pure: no I/O.
//! Must never: let an owner-wide read (an organization's repository list, a user's events, a
//! search by `org:`, a fork owner in a compare range) through for an agent that holds only some of
//! that owner's repositories; or match names another way than GitHub does (case-insensitively).

use std::collections::BTreeSet;

use super::rest_routes::{basehead_repositories, Endpoint, ParamKind, RouteError};
use super::search::Named;
use crate::config::agents::RepoPattern;

/// What an agent may reach.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentPolicy {
    /// `owner/name`, lower-cased.
    repos: BTreeSet<(String, String)>,
    /// `owner/*`, lower-cased.
    owners: BTreeSet<String>,
}

/// What a read names, for a policy to judge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reached {
    /// One repository.
    Repo { owner: String, name: String },
    /// An owner as a whole (its profile and everything under it: its repositories, members, events).
    Owner(String),
}

impl std::fmt::Display for Reached {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reached::Repo { owner, name } => write!(f, "{owner}/{name}"),
            Reached::Owner(owner) => write!(f, "{owner}/*"),
        }
    }
}

impl AgentPolicy {
    pub fn new(patterns: &[RepoPattern]) -> AgentPolicy {
        let mut policy = AgentPolicy::default();
        for pattern in patterns {
            match pattern {
                RepoPattern::Repo { owner, name } => {
                    policy.repos.insert((owner.to_ascii_lowercase(), name.to_ascii_lowercase()));
                }
                RepoPattern::Owner(owner) => {
                    policy.owners.insert(owner.to_ascii_lowercase());
                }
            }
        }
        policy
    }

    /// May the agent read this repository?
    pub fn covers_repo(&self, owner: &str, name: &str) -> bool {
        let (owner, name) = (owner.to_ascii_lowercase(), name.to_ascii_lowercase());
        self.owners.contains(&owner) || self.repos.contains(&(owner, name))
    }

    /// May the agent read everything of this owner (`owner/*`)?
    pub fn covers_owner(&self, owner: &str) -> bool {
        self.owners.contains(&owner.to_ascii_lowercase())
    }

    /// May the agent read an object of an answer that belongs to repository `owner/name`, or (no
    /// name) to `owner` itself? How its answers are screened.
    pub fn covers_object(&self, owner: &str, name: Option<&str>) -> bool {
        match name {
            Some(name) => self.covers_repo(owner, name),
            None => self.covers_owner(owner),
        }
    }

    pub fn covers(&self, reached: &Reached) -> bool {
        match reached {
            Reached::Repo { owner, name } => self.covers_repo(owner, name),
            Reached::Owner(owner) => self.covers_owner(owner),
        }
    }

    /// Does the agent hold any repository of this owner (or all of them)? What lets a GraphQL
    /// document name the owner at all; its answer is screened by repository.
    pub fn touches_owner(&self, owner: &str) -> bool {
        let owner = owner.to_ascii_lowercase();
        self.owners.contains(&owner) || self.repos.iter().any(|(o, _)| *o == owner)
    }

    /// Every owner the agent holds repositories of (lower-cased).
    pub fn owners(&self) -> BTreeSet<String> {
        self.owners.iter().cloned().chain(self.repos.iter().map(|(o, _)| o.clone())).collect()
    }

    /// The agent's repositories of `owner`: `None` when it holds the owner whole (`owner/*`).
    pub fn repositories_of(&self, owner: &str) -> Option<Vec<String>> {
        let owner = owner.to_ascii_lowercase();
        if self.owners.contains(&owner) {
            return None;
        }
        Some(self.repos.iter().filter(|(o, _)| *o == owner).map(|(_, name)| name.clone()).collect())
    }

    /// A name for the policy, the same for the same repositories: part of the cache key of what
    /// it screened (answers screened for one policy are not served under another).
    pub fn digest(&self) -> String {
        use sha2::Digest;
        let mut hasher = sha2::Sha256::new();
        for (owner, name) in &self.repos {
            hasher.update(format!("{owner}/{name}\n"));
        }
        for owner in &self.owners {
            hasher.update(format!("{owner}/*\n"));
        }
        hasher.finalize().iter().take(12).map(|b| format!("{b:02x}")).collect()
    }

    /// May the agent run a search confined by this qualifier (`repo:` names a repository; `org:`
    /// and `user:` an owner as a whole)? For [`super::search::confine_named`].
    pub fn allows_qualifier(&self, named: Named<'_>) -> bool {
        match named.repo {
            Some(name) => self.covers_repo(named.owner, name),
            None => self.covers_owner(named.owner),
        }
    }

    /// The first of `reached` outside the policy, if any.
    pub fn first_outside<'a>(&self, reached: &'a [Reached]) -> Option<&'a Reached> {
        reached.iter().find(|r| !self.covers(r))
    }
}

/// What a REST endpoint reaches: each `{owner}/{repo}` pair as a repository; every other owner it
/// names (an organization, a user, a fork owner of a compare range) as a whole owner — unless it
/// is a pair's owner already (`compare/acme:topic` inside `acme/widgets`). The repository named by
/// id (`/repositories/{id}`) is not in it: the caller resolves it ([`Endpoint::repository_id`]).
pub fn rest_reach(endpoint: &Endpoint<'_>) -> Result<Vec<Reached>, RouteError> {
    let mut reached = Vec::new();
    let mut pair_owners = BTreeSet::new();
    // The owners the route table counts (a member or assignee named inside a repository is a
    // subject of its data, not an owner).
    let counted = endpoint.owners()?;
    let params = &endpoint.params;
    for (i, param) in params.iter().enumerate() {
        if param.kind != ParamKind::Owner {
            continue;
        }
        let owner = param.value.to_ascii_lowercase();
        match params.get(i + 1) {
            Some(repo) if repo.kind == ParamKind::Repo => {
                pair_owners.insert(owner.clone());
                reached.push(Reached::Repo { owner, name: repo.value.to_ascii_lowercase() });
            }
            // An owner named on its own (`/orgs/{org}/teams/{slug}/repos/{owner}/{repo}`): the
            // owner as a whole, even when a repository of it is named too.
            _ if counted.contains(&owner) => reached.push(Reached::Owner(owner)),
            _ => {}
        }
    }
    // A compare range's other sides: `owner:repo:ref` names that repository; `owner:ref` that
    // owner's repository in the fork network (the path's own when it is the path's owner).
    for param in endpoint.params.iter().filter(|p| p.kind == ParamKind::BaseHead) {
        for (owner, repo) in basehead_repositories(&param.value)? {
            let owner = owner.to_ascii_lowercase();
            match repo {
                Some(name) => reached.push(Reached::Repo { owner, name: name.to_ascii_lowercase() }),
                None if pair_owners.contains(&owner) => {}
                None => reached.push(Reached::Owner(owner)),
            }
        }
    }
    reached.dedup();
    Ok(reached)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission::rest_routes::RouteTable;

    fn policy(patterns: &[&str]) -> AgentPolicy {
        let parsed: Vec<RepoPattern> = patterns.iter().map(|p| crate::config::agents::parse_repo(p).unwrap()).collect();
        AgentPolicy::new(&parsed)
    }

    fn reach(method: &str, path: &str) -> Vec<String> {
        let segments: Vec<String> = path.trim_start_matches('/').split('/').map(str::to_string).collect();
        let endpoint = RouteTable::github().lookup(method, &segments).unwrap_or_else(|| panic!("{path}"));
        rest_reach(&endpoint).unwrap().iter().map(ToString::to_string).collect()
    }

    #[test]
    fn what_a_rest_endpoint_reaches_16() {
        let cases: &[(&str, &str, &[&str])] = &[
            ("GET", "/repos/Acme/Widgets", &["acme/widgets"]),
            ("GET", "/repos/acme/widgets/issues/1/comments", &["acme/widgets"]),
            ("GET", "/repos/acme/widgets/assignees/mallory", &["acme/widgets"]),
            ("GET", "/repos/acme/widgets/compare/main...evil:topic", &["acme/widgets", "evil/*"]),
            ("GET", "/repos/acme/widgets/compare/main...acme:topic", &["acme/widgets"]),
            ("GET", "/repos/acme/widgets/compare/main...acme:secret:topic", &["acme/widgets", "acme/secret"]),
            ("GET", "/repos/acme/widgets/compare/evil:x:main...acme:topic", &["acme/widgets", "evil/x"]),
            ("GET", "/orgs/acme/repos", &["acme/*"]),
            ("GET", "/users/acme/events", &["acme/*"]),
            ("GET", "/orgs/acme/members/mallory", &["acme/*"]),
            ("GET", "/orgs/acme/teams/core/repos/acme/widgets", &["acme/*", "acme/widgets"]),
            ("POST", "/repos/acme/widgets/issues", &["acme/widgets"]),
            ("GET", "/repositories/42/issues", &[]),
        ];
        for (method, path, want) in cases {
            assert_eq!(reach(method, path), *want, "{method} {path}");
        }
    }

    #[test]
    fn a_search_is_confined_to_the_agents_repositories_16() {
        use crate::admission::search::SearchRefusal::{NotAllowed, Unscoped};
        let p = policy(&["acme/widgets", "tools/*"]);
        let run = |q: &str| crate::admission::search::confine_named(q, |n| p.allows_qualifier(n));
        let owners = |o: &[&str]| Ok(o.iter().map(|s| s.to_string()).collect());
        assert_eq!(run("repo:acme/widgets is:open"), owners(&["acme"]));
        assert_eq!(run("repo:ACME/Widgets bug"), owners(&["acme"]));
        assert_eq!(run("org:tools label:bug"), owners(&["tools"]));
        assert_eq!(run("org:acme"), Err(NotAllowed("acme".into())), "an owner as a whole");
        assert_eq!(run("repo:acme/gadgets"), Err(NotAllowed("acme/gadgets".into())));
        assert_eq!(run("repo:acme/widgets OR repo:acme/secret"), Err(NotAllowed("acme/secret".into())));
        assert_eq!(run("repo:acme/widgets,acme/secret"), Err(NotAllowed("acme/secret".into())));
        assert_eq!(run("-repo:acme/secret repo:acme/widgets"), Err(NotAllowed("acme/secret".into())));
        assert_eq!(run("is:open bug"), Err(Unscoped));
    }

    #[test]
    fn a_policy_covers_its_repositories_and_no_more_16() {
        let p = policy(&["acme/widgets", "tools/*"]);
        let repo = |o: &str, n: &str| Reached::Repo { owner: o.into(), name: n.into() };
        let cases = [
            (repo("acme", "widgets"), true),
            (repo("ACME", "Widgets"), true),
            (repo("acme", "gadgets"), false),
            (repo("acme", "widgets-private"), false),
            (Reached::Owner("acme".into()), false),
            (repo("tools", "anything"), true),
            (Reached::Owner("tools".into()), true),
            (Reached::Owner("TOOLS".into()), true),
            (repo("evil", "widgets"), false),
        ];
        for (reached, want) in cases {
            assert_eq!(p.covers(&reached), want, "{reached}");
        }
        assert_eq!(p.digest(), policy(&["tools/*", "ACME/widgets"]).digest(), "one policy, one name");
        assert_ne!(p.digest(), policy(&["acme/widgets"]).digest());
        assert_ne!(policy(&["acme/*"]).digest(), policy(&["acme/widgets"]).digest());
        let reached = [repo("acme", "widgets"), Reached::Owner("acme".into())];
        assert_eq!(p.first_outside(&reached), Some(&Reached::Owner("acme".into())));
        assert_eq!(
            policy(&[]).first_outside(&[repo("acme", "widgets")]).map(ToString::to_string).as_deref(),
            Some("acme/widgets"),
            "no repositories: nothing"
        );
    }
}
