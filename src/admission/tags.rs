//! Read-your-writes, decided at admission: the tags a cached read is filed under and what a
//! successful write purges, as functions of the request's target (`RestTarget`) or of what its
//! GraphQL document reads.
//!
//! Tags: `repo:o/r` for what belongs to one repository (REST paths under `/repos/o/r` or
//! `/repositories/{id}`, GraphQL `repository(owner:, name:)`), `repoid:N` for a `/repositories/N`
//! read whose name is not known yet, `owner:o` for owner-level reads (`/orgs/o`, `/users/o`, GraphQL
//! `organization`/`user`/`repositoryOwner`/`search`). A write purges the tags it can change; a write
//! whose scope cannot be told drops everything.
//! Must never: leave an entry a write can change reachable — when in doubt, purge more.

use std::collections::BTreeSet;

use crate::admission::access::Target;
use crate::admission::graphql::Reads;
use crate::admission::target::RestTarget;
use crate::cache::invalidate::{Invalidation, Tag};

/// Lookups into what ghpool has learned of repositories: ids, names and owners.
pub trait KnownRepos {
    /// The owner (lower-cased) of repository `id`.
    fn owner_of(&self, id: u64) -> Option<String>;
    fn full_name(&self, id: u64) -> Option<String>;
    fn id_of(&self, full_name: &str) -> Option<u64>;
}

/// The repository a REST path belongs to, as `owner/name`, when it does.
fn rest_repo(shape: &RestTarget, names: &dyn KnownRepos) -> Option<String> {
    match shape {
        RestTarget::Repo { owner, name, .. } => Some(format!("{owner}/{name}").to_ascii_lowercase()),
        RestTarget::RepoId { id, .. } => names.full_name(*id),
        _ => None,
    }
}

/// The tags of a cached REST read.
pub fn rest_tags(target: &Target, names: &dyn KnownRepos) -> BTreeSet<Tag> {
    let shape = RestTarget::of(target);
    let mut tags: BTreeSet<Tag> = rest_repo(&shape, names).map(Tag::Repo).into_iter().collect();
    match shape {
        RestTarget::RepoId { id, .. } => {
            tags.insert(Tag::RepoId(id));
        }
        RestTarget::Account { login } => {
            tags.insert(Tag::Owner(login.to_ascii_lowercase()));
        }
        RestTarget::Search { .. } => {
            tags.insert(Tag::Search);
        }
        _ => {}
    }
    tags
}

/// The tags of a cached GraphQL query: its repositories, and the owners it reads other than
/// through one of those repositories.
pub fn graphql_tags(reads: &Reads) -> BTreeSet<Tag> {
    let repo_owners: BTreeSet<&str> = reads.repos.iter().filter_map(|r| r.split('/').next()).collect();
    let mut tags: BTreeSet<Tag> = reads.repos.iter().map(|r| Tag::Repo(r.clone())).collect();
    tags.extend(reads.owners.iter().filter(|o| !repo_owners.contains(o.as_str())).map(|o| Tag::Owner(o.clone())));
    tags.insert(Tag::Graphql);
    tags
}

/// The tags a write to repository `owner/name` purges: the repository by name and by id, its
/// owner's owner-level reads, and searches.
fn repo_write(full_name: &str, names: &dyn KnownRepos) -> BTreeSet<Tag> {
    let owner = full_name.split('/').next().unwrap_or("");
    let mut tags = BTreeSet::from([Tag::Repo(full_name.to_string()), Tag::Owner(owner.to_string()), Tag::Search]);
    if let Some(id) = names.id_of(full_name) {
        tags.insert(Tag::RepoId(id));
    }
    tags
}

/// What a successful REST write to `target` purges.
pub fn for_rest_write(target: &Target, names: &dyn KnownRepos) -> Invalidation {
    let shape = RestTarget::of(target);
    if let Some(repo) = rest_repo(&shape, names) {
        return Invalidation::Tags(repo_write(&repo, names));
    }
    match shape {
        // A repository by id whose name ghpool never saw: it may be cached only under its id.
        RestTarget::RepoId { id, .. } => Invalidation::Tags(BTreeSet::from([Tag::RepoId(id)])),
        RestTarget::Account { login } => Invalidation::Tags(BTreeSet::from([Tag::Owner(login.to_ascii_lowercase())])),
        _ => Invalidation::Everything,
    }
}

/// What a successful GraphQL mutation purges: the repositories it names (and their owners'
/// owner-level reads), else the owners it names, else everything.
pub fn for_mutation(reads: &Reads, names: &dyn KnownRepos) -> Invalidation {
    if reads.repos.is_empty() && reads.owners.is_empty() {
        return Invalidation::Everything;
    }
    let mut tags: BTreeSet<Tag> = reads.repos.iter().flat_map(|r| repo_write(r, names)).collect();
    tags.extend(reads.owners.iter().map(|o| Tag::Owner(o.clone())));
    Invalidation::Tags(tags)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission::access::normalize;

    struct Known;
    impl KnownRepos for Known {
        fn owner_of(&self, id: u64) -> Option<String> {
            (id == 7).then(|| "acme".to_string())
        }
        fn full_name(&self, id: u64) -> Option<String> {
            (id == 7).then(|| "acme/w".to_string())
        }
        fn id_of(&self, full_name: &str) -> Option<u64> {
            (full_name == "acme/w").then_some(7)
        }
    }

    fn t(path: &str) -> Target {
        normalize(path, "h").unwrap()
    }

    /// Tags as they are written (`repo:acme/w`), for tables that read like the index.
    fn set(tags: &[&str]) -> BTreeSet<String> {
        tags.iter().map(|s| s.to_string()).collect()
    }

    fn shown(tags: BTreeSet<Tag>) -> BTreeSet<String> {
        tags.iter().map(Tag::to_string).collect()
    }

    /// An invalidation as it is written: the tags it purges, or `*` for everything.
    fn purged(what: Invalidation) -> BTreeSet<String> {
        match what {
            Invalidation::Tags(tags) => shown(tags),
            Invalidation::Everything => set(&["*"]),
        }
    }

    #[test]
    fn reads_are_tagged_by_repository_and_owner() {
        assert_eq!(shown(rest_tags(&t("/repos/Acme/W/issues/1"), &Known)), set(&["repo:acme/w"]));
        assert_eq!(shown(rest_tags(&t("/repositories/7/issues"), &Known)), set(&["repo:acme/w", "repoid:7"]));
        assert_eq!(shown(rest_tags(&t("/repositories/8/issues"), &Known)), set(&["repoid:8"]));
        assert_eq!(shown(rest_tags(&t("/orgs/Acme/repos"), &Known)), set(&["owner:acme"]));
        let reads = Reads { owners: set(&["acme", "octo"]), repos: set(&["acme/w"]) };
        assert_eq!(shown(graphql_tags(&reads)), set(&["repo:acme/w", "owner:octo", "graphql"]));
    }

    #[test]
    fn writes_purge_what_they_can_change() {
        let repo = set(&["repo:acme/w", "repoid:7", "owner:acme", "search"]);
        assert_eq!(purged(for_rest_write(&t("/repos/acme/w/issues"), &Known)), repo.clone());
        assert_eq!(purged(for_rest_write(&t("/repositories/7/issues/1"), &Known)), repo.clone());
        assert_eq!(purged(for_rest_write(&t("/repositories/9"), &Known)), set(&["repoid:9"]));
        assert_eq!(purged(for_rest_write(&t("/orgs/acme/teams"), &Known)), set(&["owner:acme"]));
        assert_eq!(purged(for_rest_write(&t("/user/repos"), &Known)), set(&["*"]));
        let mutation = Reads { owners: set(&["acme"]), repos: set(&["acme/w"]) };
        assert_eq!(purged(for_mutation(&mutation, &Known)), repo);
        assert_eq!(purged(for_mutation(&Reads::default(), &Known)), set(&["*"]));
    }
}
