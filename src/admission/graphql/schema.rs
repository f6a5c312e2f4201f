//! GitHub's published GraphQL schema, and what ghpool derives from it once at start: for every
//! object type, how an object of that type is tied to an owner (its [`OwnerPath`]).
//!
//! Owns: loading and validating the schema (the vendored `data/github/schema.graphql` from npm
//! `@octokit/graphql-schema`, or `[graphql] schema`), the possible concrete types of every abstract
//! type, and the owner paths, derived from the schema rather than listed by hand:
//! - `Repository`: its `nameWithOwner`;
//! - `User` and `Organization` (every `RepositoryOwner`): their `login`;
//! - any object with an argument-free `repository` field (issues, pull requests, comments, commits,
//!   refs, releases, check runs, discussions…: 86 types in GitHub's schema, of which only 13 implement
//!   `RepositoryNode`): that repository's owner;
//! - any object with an argument-free `owner` field whose every possible type has an owner (`Gist`,
//!   `ProjectV2`, `Project`): that owner's;
//! - any object with an argument-free non-null `organization` field (`Team`, org audit entries):
//!   that organization's;
//! - any other object with an argument-free, single-valued field leading to an owned object that
//!   contains it — not a person acting on it (`author`, `user`, `actor`, …) — is that container's:
//!   a discussion comment its `discussion`'s, a project item its `project`'s, a project field value
//!   its `item`'s, an issue contribution its `issue`'s.
//!
//! Every other object type is *contained*: it has no owner of its own and is only served below an
//! object that was checked (or below a root field that is scoped by construction).
//! Must never: classify a type as owned through a field that takes arguments
//! (`User.repository(name:)` names another repository, not the user's container).

use std::collections::HashMap;
use std::path::Path;

use apollo_compiler::schema::ExtendedType;
use apollo_compiler::validation::{Valid, WithErrors};
use apollo_compiler::{Name, Schema};

/// GitHub's public schema, vendored by `scripts/refresh-github-data`.
pub const GITHUB_SCHEMA: &str = include_str!("../../../data/github/schema.graphql");

/// How an object of a given type says which owner it belongs to (the probe ghpool adds, and how
/// the answer is read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnerPath {
    /// `Repository.nameWithOwner` (`owner/name`).
    NameWithOwner,
    /// `login` of a `User` or `Organization`.
    Login,
    /// An argument-free field leading to an object that has an owner of its own.
    Via {
        field: Name,
        /// The reserved alias the probe gives the field (unique per field and type, so that probes
        /// on different types in one selection set always merge).
        alias: String,
        /// The field's named type.
        target: Name,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("could not read the GraphQL schema `{path}`: {error}")]
    Read { path: String, error: std::io::Error },
    #[error("the GraphQL schema `{path}` is not valid: {first}")]
    Invalid { path: String, first: String },
    #[error("the GraphQL schema `{path}` is not GitHub's: it has no {missing}")]
    NotGithub { path: String, missing: &'static str },
}

/// A repeated field definition (apollo-compiler's `ObjectFieldNameCollision` and
/// `InterfaceFieldNameCollision`, which it reports only as text).
fn is_repeated_field(message: &str) -> bool {
    message.starts_with("duplicate definitions for the `")
        && (message.contains("` field of object type `") || message.contains("` field of interface type `"))
}

/// The schema and what is derived from it.
pub struct GithubSchema {
    schema: Valid<Schema>,
    query_type: Name,
    mutation_type: Option<Name>,
    /// Concrete object types of every composite type (an object type is its own only one).
    possible: HashMap<Name, Vec<Name>>,
    /// Object types that have an owner.
    paths: HashMap<Name, OwnerPath>,
}

impl std::fmt::Debug for GithubSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GithubSchema").field("types", &self.possible.len()).field("owned", &self.paths.len()).finish()
    }
}

impl GithubSchema {
    /// The vendored schema, parsed once for the whole process (about 1.2 MB of SDL).
    pub fn github() -> &'static GithubSchema {
        static SCHEMA: std::sync::OnceLock<GithubSchema> = std::sync::OnceLock::new();
        SCHEMA.get_or_init(|| match GithubSchema::parse(GITHUB_SCHEMA, "data/github/schema.graphql") {
            Ok(schema) => schema,
            // The vendored file is checked by a unit test: failing here is a build defect.
            Err(e) => panic!("the vendored GitHub schema does not load: {e}"),
        })
    }

    /// A schema file named by `[graphql] schema` (a newer GitHub schema, or a GHES one).
    pub fn load(path: &Path) -> Result<GithubSchema, SchemaError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|error| SchemaError::Read { path: shown.clone(), error })?;
        GithubSchema::parse(&text, &shown)
    }

    pub fn parse(text: &str, path: &str) -> Result<GithubSchema, SchemaError> {
        let invalid = |e: WithErrors<Schema>| SchemaError::Invalid {
            path: path.to_string(),
            first: e.errors.iter().next().map_or_else(String::new, |d| d.error.to_string()),
        };
        let parsed = match Schema::parse(text, path) {
            Ok(schema) => schema,
            // GitHub's published schema defines a few fields twice, identically (seen in
            // `EnterpriseOwnerInfo`); the builder keeps the first. Anything else is refused.
            Err(e) if e.errors.iter().all(|d| is_repeated_field(&d.error.to_string())) => {
                log::warn!(
                    "GraphQL schema {path}: {} field(s) defined twice; the first definition is used",
                    e.errors.len()
                );
                e.partial
            }
            Err(e) => return Err(invalid(e)),
        };
        let schema = parsed.validate().map_err(invalid)?;
        let not_github = |missing| SchemaError::NotGithub { path: path.to_string(), missing };
        let query_type = schema.schema_definition.query.as_ref().ok_or_else(|| not_github("query type"))?.name.clone();
        let mutation_type = schema.schema_definition.mutation.as_ref().map(|m| m.name.clone());
        let repository = schema.get_object("Repository").ok_or_else(|| not_github("Repository type"))?;
        if !repository.fields.contains_key("nameWithOwner") {
            return Err(not_github("Repository.nameWithOwner"));
        }
        if schema.get_interface("RepositoryOwner").is_none_or(|i| !i.fields.contains_key("login")) {
            return Err(not_github("RepositoryOwner.login"));
        }
        let possible = possible_types(&schema);
        let paths = owner_paths(&schema, &possible);
        Ok(GithubSchema { schema, query_type, mutation_type, possible, paths })
    }

    pub fn schema(&self) -> &Valid<Schema> {
        &self.schema
    }

    pub fn is_query_type(&self, name: &str) -> bool {
        self.query_type == name
    }

    pub fn is_mutation_type(&self, name: &str) -> bool {
        self.mutation_type.as_ref().is_some_and(|m| m == name)
    }

    /// The concrete object types a value of composite type `name` can be (empty for leaves).
    pub fn possible(&self, name: &str) -> &[Name] {
        self.possible.get(name).map_or(&[], Vec::as_slice)
    }

    /// How an object of concrete type `name` is tied to an owner; `None` for a contained type.
    pub fn owner_path(&self, name: &str) -> Option<&OwnerPath> {
        self.paths.get(name)
    }

    /// Whether `name` is an object type, or an abstract type that `object` belongs to.
    pub fn is_a(&self, object: &str, name: &str) -> bool {
        object == name || self.possible(name).iter().any(|p| p == object)
    }

    /// How many object types have an owner, and how many are contained (for the start-up log).
    pub fn counts(&self) -> (usize, usize) {
        let objects = self.schema.types.values().filter(|t| t.is_object() && !t.is_built_in()).count();
        (self.paths.len(), objects.saturating_sub(self.paths.len()))
    }
}

fn possible_types(schema: &Schema) -> HashMap<Name, Vec<Name>> {
    let implementers = schema.implementers_map();
    let mut possible = HashMap::new();
    for (name, ty) in &schema.types {
        let types: Vec<Name> = match ty {
            ExtendedType::Object(_) => vec![name.clone()],
            ExtendedType::Interface(_) => {
                implementers.get(name).map(|i| i.objects.iter().cloned().collect()).unwrap_or_default()
            }
            ExtendedType::Union(u) => u.members.iter().map(|m| m.name.clone()).collect(),
            _ => continue,
        };
        possible.insert(name.clone(), types);
    }
    possible
}

/// The argument-free field `field` of object `ty`, with its named type and non-null-ness.
fn container_field<'s>(schema: &'s Schema, ty: &str, field: &str) -> Option<(&'s Name, bool)> {
    let definition = schema.get_object(ty)?.fields.get(field)?;
    if !definition.arguments.is_empty() || definition.ty.is_list() {
        return None;
    }
    Some((definition.ty.inner_named_type(), definition.ty.is_non_null()))
}

/// Fields that name a person or an account acting on an object, never what contains it (a comment
/// in acme's discussion by alice is acme's), and an edge's `node`.
const PEOPLE: &[&str] = &[
    "actor",
    "assignee",
    "author",
    "creator",
    "editor",
    "enterprise",
    "follower",
    "invitee",
    "inviter",
    "member",
    "sponsor",
    "sponsorable",
    "sponsorEntity",
    "user",
    "viewer",
    "deletedBy",
    "mergedBy",
    "lastEditedBy",
    "requestedReviewer",
    "dismissedBy",
    "committer",
    "enqueuer",
    "approver",
    "subject",
    // A connection's edge wraps its node, which is judged itself wherever it is selected.
    "node",
];

/// The field through which an object with no `repository`, `owner` or `organization` of its own is
/// contained in an owned object (a discussion comment in its `discussion`, a project item in its
/// `project`, a project field value in its `item`, an issue contribution in its `issue`): the
/// argument-free, single-valued, non-person field whose every possible type is owned, non-null ones
/// first, then by name (deterministic).
fn container<'s>(schema: &'s Schema, ty: &str, owned: &impl Fn(&Name) -> bool) -> Option<(&'s str, &'s Name, bool)> {
    let object = schema.get_object(ty)?;
    let mut candidates: Vec<(&str, &Name, bool)> = object
        .fields
        .iter()
        .filter(|(name, _)| !PEOPLE.contains(&name.as_str()) && !name.starts_with("viewer"))
        .filter(|(_, f)| f.arguments.is_empty() && !f.ty.is_list())
        .map(|(name, f)| (name.as_str(), f.ty.inner_named_type(), f.ty.is_non_null()))
        // An account is an owner only through `owner` and `organization`: any other field leading
        // to one names someone related to the object (a claimant, a sender), not its container.
        .filter(|(_, target, _)| owned(target) && !possible_accounts(schema, target))
        .collect();
    candidates.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(b.0)));
    candidates.into_iter().next()
}

/// Whether a value of type `target` can be a `User` or an `Organization`.
fn possible_accounts(schema: &Schema, target: &Name) -> bool {
    let account = |name: &Name| schema.is_subtype("RepositoryOwner", name) || name == "RepositoryOwner";
    match schema.types.get(target) {
        Some(ExtendedType::Union(u)) => u.members.iter().any(|m| account(&m.name)),
        Some(ExtendedType::Interface(_)) => {
            account(target) || schema.implementers_map().get(target).is_some_and(|i| i.objects.iter().any(account))
        }
        _ => account(target),
    }
}

fn via(field: &str, target: &Name, non_null: bool) -> OwnerPath {
    let suffix = if non_null { "_nn" } else { "" };
    OwnerPath::Via {
        field: Name::new_unchecked(field),
        alias: format!("ghpool_{field}_{target}{suffix}"),
        target: target.clone(),
    }
}

/// Derive every object type's owner path (see the module doc). `owner` fields are resolved in
/// rounds, so a path only ever leads to types already resolved: no cycles.
fn owner_paths(schema: &Schema, possible: &HashMap<Name, Vec<Name>>) -> HashMap<Name, OwnerPath> {
    let mut paths = HashMap::new();
    let objects: Vec<&Name> =
        schema.types.iter().filter(|(_, t)| t.is_object() && !t.is_built_in()).map(|(n, _)| n).collect();
    for &name in &objects {
        let path = if name == "Repository" {
            Some(OwnerPath::NameWithOwner)
        } else if schema.is_subtype("RepositoryOwner", name) {
            Some(OwnerPath::Login)
        } else {
            match container_field(schema, name, "repository") {
                Some((target, non_null)) if target == "Repository" => Some(via("repository", target, non_null)),
                _ => None,
            }
        };
        if let Some(path) = path {
            paths.insert(name.clone(), path);
        }
    }
    // An owner that is itself owned (`ProjectV2.owner` can be an issue): as many rounds as it takes,
    // bounded by the number of types.
    for _ in 0..objects.len() {
        let mut added = Vec::new();
        for &name in &objects {
            if paths.contains_key(name) {
                continue;
            }
            let owned = |target: &Name| {
                possible.get(target).is_some_and(|p| !p.is_empty() && p.iter().all(|t| paths.contains_key(t)))
            };
            if let Some((target, non_null)) = container_field(schema, name, "owner").filter(|(t, _)| owned(t)) {
                added.push((name.clone(), via("owner", target, non_null)));
            } else if let Some((target, true)) = container_field(schema, name, "organization") {
                if target == "Organization" {
                    added.push((name.clone(), via("organization", target, true)));
                }
            } else if let Some((field, target, non_null)) = container(schema, name, &owned) {
                added.push((name.clone(), via(field, target, non_null)));
            }
        }
        if added.is_empty() {
            break;
        }
        paths.extend(added);
    }
    paths
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vendored_schema_loads_and_classifies_what_github_publishes() {
        let s = GithubSchema::github();
        assert_eq!(s.owner_path("Repository"), Some(&OwnerPath::NameWithOwner));
        assert_eq!(s.owner_path("User"), Some(&OwnerPath::Login));
        assert_eq!(s.owner_path("Organization"), Some(&OwnerPath::Login));
        for owned_by_repository in
            ["Issue", "PullRequest", "IssueComment", "Commit", "Ref", "Release", "CheckRun", "Blob"]
        {
            let Some(OwnerPath::Via { field, .. }) = s.owner_path(owned_by_repository) else {
                panic!("{owned_by_repository} should be owned through a field")
            };
            assert_eq!(field.as_str(), "repository", "{owned_by_repository}");
        }
        // Contained in an owned object, through the field that contains it (red team, issue #20).
        let containers = [
            ("Gist", "owner"),
            ("ProjectV2", "owner"),
            ("Team", "organization"),
            ("ProjectV2Item", "project"),
            // Its `field` (a configuration of the same project) contains it as well as its `item`.
            ("ProjectV2ItemFieldTextValue", "field"),
            ("DiscussionComment", "discussion"),
            ("CreatedIssueContribution", "issue"),
            ("CreatedPullRequestContribution", "pullRequest"),
        ];
        // A person related to an object does not contain it.
        assert_eq!(s.owner_path("Mannequin"), None);
        for (ty, field) in containers {
            assert!(
                matches!(s.owner_path(ty), Some(OwnerPath::Via { field: f, .. }) if f == field),
                "{ty}: {:?}",
                s.owner_path(ty)
            );
        }
        // Contained: no owner of their own.
        for contained in ["PageInfo", "IssueConnection", "Enterprise", "RateLimit", "ReactingUserEdge"] {
            assert_eq!(s.owner_path(contained), None, "{contained}");
        }
        // `User.repository(name:)` takes an argument: it names another repository.
        assert!(s.possible("Node").len() > 200);
        assert!(s.is_a("Issue", "RepositoryNode") && !s.is_a("Repository", "RepositoryNode"));
        let (owned, contained) = s.counts();
        assert!(owned > 90 && contained > 500, "{owned} owned, {contained} contained");
    }

    #[test]
    fn a_schema_that_is_not_githubs_is_refused() {
        let err = GithubSchema::parse("type Query { a: Int }", "x.graphql").unwrap_err();
        assert!(err.to_string().contains("not GitHub's"), "{err}");
        let err = GithubSchema::parse("type Query {", "x.graphql").unwrap_err();
        assert!(matches!(err, SchemaError::Invalid { .. }), "{err}");
        // A type defined twice is a real defect, not GitHub's repeated field.
        let err = GithubSchema::parse("type Query { a: Int }\ntype Query { b: Int }", "x.graphql").unwrap_err();
        assert!(matches!(err, SchemaError::Invalid { .. }), "{err}");
    }

    #[test]
    fn a_field_defined_twice_keeps_the_first_definition() {
        assert!(is_repeated_field("duplicate definitions for the `a` field of object type `T`"));
        assert!(is_repeated_field("duplicate definitions for the `a` field of interface type `T`"));
        assert!(!is_repeated_field("duplicate definitions for the `a` value of enum type `T`"));
        assert!(!is_repeated_field("the type `T` is defined multiple times in the schema"));
    }
}
