//! What a validated operation may read, and where its answer must be probed.
//!
//! Owns: the root rules (`repository(owner:)`, `user`/`organization`/`repositoryOwner(login:)` name
//! an owner that must be allowed; `search(query:)` must be confined; `node`/`nodes` are answered and
//! screened; `rateLimit`, `meta`, licenses, codes of conduct and introspection are harmless; any other
//! root field only when the operator lists it), and the probes: every selection set whose objects
//! may belong to another owner gets a probe fragment (added to the document in place), chosen from the
//! set's type alone. A set is *anchored* when every object it can hold sits below an object that was
//! checked, or below a root field scoped by construction: there, contained objects (no owner of their
//! own: connections, events, page info) need no probe; elsewhere they are refused when the type says
//! so, and dropped from the answer when only the answer can say (an abstract type). Fragments are
//! walked once each, in dependency order, anchored only when every spread of them is.
//! Must never: walk a fragment before every place that spreads it, or walk any definition twice.

use std::collections::{BTreeSet, HashMap, VecDeque};

use apollo_compiler::executable::{ExecutableDocument, FragmentSpread, Selection, SelectionSet};
use apollo_compiler::{ast, Name, Node};
use serde_json::{Map, Value};

use super::probe::ProbeKey;
use super::{GithubSchema, GraphqlError, OwnerPath, Reads, Scope};

/// Root fields that read nothing tied to an owner or to the pool identity.
const HARMLESS_ROOTS: &[&str] = &[
    "__typename",
    "__schema",
    "__type",
    "rateLimit",
    "meta",
    "codeOfConduct",
    "codesOfConduct",
    "license",
    "licenses",
];

/// A user's or organization's public profile: selecting only these does not tie the object to an
/// owner (an issue's `author { login }` is fine whoever the author is). Anything else — `repository`,
/// `repositories`, `gists`, `contributionsCollection`, `email` — makes the object answer only for
/// allowed owners.
const PROFILE: &[&str] = &[
    "__typename",
    "id",
    "databaseId",
    "login",
    "name",
    "url",
    "resourcePath",
    "avatarUrl",
    "bio",
    "company",
    "location",
    "websiteUrl",
    "twitterUsername",
    "createdAt",
    "description",
];

pub(super) struct Reach {
    pub reads: Reads,
    /// The probe fragments the document now spreads (empty: nothing to probe, document unchanged).
    pub probes: BTreeSet<ProbeKey>,
}

struct Walker<'a> {
    schema: &'a GithubSchema,
    scope: &'a Scope<'a>,
    variables: &'a Map<String, Value>,
    defaults: HashMap<Name, Node<ast::Value>>,
    screened: bool,
    reads: Reads,
    probes: BTreeSet<ProbeKey>,
    /// Per fragment: spreads not walked yet, and whether every spread walked so far is anchored.
    pending: HashMap<Name, (usize, bool)>,
    ready: VecDeque<Name>,
}

/// Reach the operation `operation` of `document`, adding probes to `document` when `screened`.
pub(super) fn walk(
    document: &mut ExecutableDocument,
    operation: Option<&str>,
    variables: &Map<String, Value>,
    schema: &GithubSchema,
    scope: &Scope,
    screened: bool,
) -> Result<Reach, GraphqlError> {
    let op = document.operations.get(operation).map_err(|e| GraphqlError::Operation(e.message().to_string()))?;
    let defaults =
        op.variables.iter().filter_map(|v| Some((v.name.clone(), v.default_value.clone()?))).collect::<HashMap<_, _>>();
    let pending = spread_counts(document, &op.selection_set);
    let mut walker = Walker {
        schema,
        scope,
        variables,
        defaults,
        screened,
        reads: Reads::default(),
        probes: BTreeSet::new(),
        pending,
        ready: VecDeque::new(),
    };
    let op = document.operations.get_mut(operation).map_err(|e| GraphqlError::Operation(e.message().to_string()))?;
    walker.set(&mut op.selection_set, true, "")?;
    while let Some(name) = walker.ready.pop_front() {
        let anchored = walker.pending.get(&name).is_some_and(|(_, anchored)| *anchored);
        let Some(fragment) = document.fragments.get_mut(&name) else { continue };
        walker.set(&mut fragment.make_mut().selection_set, anchored, &name)?;
    }
    // Validation refuses cycles, so every fragment the operation reaches was walked; if one was not,
    // its selections went unprobed: refuse rather than guess.
    if let Some((name, _)) = walker.pending.iter().find(|(_, (left, _))| *left > 0) {
        return Err(GraphqlError::Invalid(format!("fragment {name} could not be walked")));
    }
    Ok(Reach { reads: walker.reads, probes: walker.probes })
}

/// How many times each fragment the operation reaches is spread, counted over the operation and
/// those fragments (each walked once).
fn spread_counts(document: &ExecutableDocument, root: &SelectionSet) -> HashMap<Name, (usize, bool)> {
    fn spreads(set: &SelectionSet, out: &mut Vec<Name>) {
        for selection in &set.selections {
            match selection {
                Selection::Field(f) => spreads(&f.selection_set, out),
                Selection::InlineFragment(i) => spreads(&i.selection_set, out),
                Selection::FragmentSpread(s) => out.push(s.fragment_name.clone()),
            }
        }
    }
    let mut counts: HashMap<Name, (usize, bool)> = HashMap::new();
    let mut queue = Vec::new();
    spreads(root, &mut queue);
    while let Some(name) = queue.pop() {
        let entry = counts.entry(name.clone()).or_insert((0, true));
        entry.0 += 1;
        if entry.0 == 1 {
            if let Some(fragment) = document.fragments.get(&name) {
                spreads(&fragment.selection_set, &mut queue);
            }
        }
    }
    counts
}

impl Walker<'_> {
    fn set(&mut self, set: &mut SelectionSet, anchored: bool, field: &str) -> Result<(), GraphqlError> {
        if self.schema.is_query_type(&set.ty) {
            return self.root(set);
        }
        // The mutation root is no object of an owner; its payloads are probed when screened.
        let screened = self.screened && !self.schema.is_mutation_type(&set.ty);
        let (mut owners, mut owned, mut contained) = (false, false, false);
        for ty in self.schema.possible(&set.ty) {
            match self.schema.owner_path(ty) {
                Some(OwnerPath::Login) => owners = true,
                Some(_) => owned = true,
                None => contained = true,
            }
        }
        let beyond_profile =
            set.selections.iter().any(|s| matches!(s, Selection::Field(f) if !PROFILE.contains(&f.name.as_str())));
        let key = ProbeKey { ty: set.ty.clone(), owners: owners && beyond_profile, unanchored: !anchored && contained };
        if screened && key.unanchored && self.schema.possible(&set.ty).len() == 1 {
            return Err(GraphqlError::Unowned { field: field.to_string(), ty: set.ty.to_string() });
        }
        let probed = screened && (owned || key.owners || key.unanchored);
        // Objects of a probed set are checked (or dropped) before anything below them is served.
        let below = anchored || probed;
        for selection in &mut set.selections {
            match selection {
                Selection::Field(f) if !f.selection_set.selections.is_empty() => {
                    let name = f.response_key().to_string();
                    self.set(&mut f.make_mut().selection_set, below, &name)?
                }
                Selection::Field(_) => {}
                Selection::InlineFragment(i) => self.set(&mut i.make_mut().selection_set, below, field)?,
                Selection::FragmentSpread(s) => self.spread(&s.fragment_name, below),
            }
        }
        if probed {
            set.push(FragmentSpread::new(key.fragment_name()));
            self.probes.insert(key);
        }
        Ok(())
    }

    fn spread(&mut self, name: &Name, anchored: bool) {
        if let Some((left, all_anchored)) = self.pending.get_mut(name) {
            *all_anchored &= anchored;
            *left = left.saturating_sub(1);
            if *left == 0 {
                self.ready.push_back(name.clone());
            }
        }
    }

    /// A selection set on `Query`: every field is a root field and must be allowed.
    fn root(&mut self, set: &mut SelectionSet) -> Result<(), GraphqlError> {
        for selection in &mut set.selections {
            match selection {
                Selection::Field(f) => {
                    let anchored = self.root_field(f)?;
                    if !f.selection_set.selections.is_empty() {
                        let name = f.response_key().to_string();
                        self.set(&mut f.make_mut().selection_set, anchored, &name)?;
                    }
                }
                Selection::InlineFragment(i) => self.set(&mut i.make_mut().selection_set, true, "")?,
                Selection::FragmentSpread(s) => self.spread(&s.fragment_name, true),
            }
        }
        Ok(())
    }

    /// Check one root field; whether what it returns is anchored (scoped by construction).
    fn root_field(&mut self, field: &apollo_compiler::executable::Field) -> Result<bool, GraphqlError> {
        let name = field.name.as_str();
        match name {
            "repository" => {
                let owner = self.owner_argument(field, "owner")?;
                let name = self.string_argument(field, "name").map(|n| n.to_ascii_lowercase());
                if let Some(agent) = self.scope.agent {
                    // An agent reaches repositories, not owners: the name must be known and its own.
                    let name =
                        name.as_deref().ok_or_else(|| GraphqlError::OwnerNotDeterminable("repository".into()))?;
                    if !agent.covers_repo(&owner, name) {
                        return Err(GraphqlError::RepositoryNotAllowed(format!("{owner}/{name}")));
                    }
                }
                if let Some(name) = name {
                    self.reads.repos.insert(format!("{owner}/{name}"));
                }
                Ok(false)
            }
            "user" | "organization" | "repositoryOwner" => self.owner_argument(field, "login").map(|_| false),
            "node" | "nodes" => Ok(false),
            "search" if !self.scope.screens => Ok(true),
            "search" => {
                let query = self.string_argument(field, "query").ok_or_else(|| {
                    GraphqlError::OwnerNotDeterminable("search (its query is not a string the document gives)".into())
                })?;
                let owners = match self.scope.agent {
                    None => crate::admission::search::confine(&query, self.scope.allows),
                    Some(agent) => crate::admission::search::confine_named(&query, |named| {
                        (self.scope.allows)(named.owner) && agent.allows_qualifier(named)
                    }),
                }
                .map_err(|e| GraphqlError::Search(e.to_string()))?;
                self.reads.owners.extend(owners);
                Ok(true)
            }
            _ if HARMLESS_ROOTS.contains(&name) || self.scope.unscoped_roots.contains(name) => Ok(true),
            _ => Err(GraphqlError::NotScoped(name.to_string())),
        }
    }

    /// The owner a root field names in its argument `argument`, which must be allowed.
    fn owner_argument(
        &mut self,
        field: &apollo_compiler::executable::Field,
        argument: &str,
    ) -> Result<String, GraphqlError> {
        let owner = self
            .string_argument(field, argument)
            .ok_or_else(|| GraphqlError::OwnerNotDeterminable(field.name.to_string()))?
            .to_ascii_lowercase();
        if !(self.scope.allows)(&owner) {
            return Err(GraphqlError::OwnerNotAllowed(owner));
        }
        self.reads.owners.insert(owner.clone());
        Ok(owner)
    }

    /// A string argument's value: a literal, a variable from `variables`, or the variable's default.
    fn string_argument(&self, field: &apollo_compiler::executable::Field, argument: &str) -> Option<String> {
        let value = field.arguments.iter().find(|a| a.name == argument)?.value.clone();
        match value.as_ref() {
            ast::Value::String(s) => Some(s.clone()),
            ast::Value::Variable(name) => match self.variables.get(name.as_str()) {
                Some(Value::String(s)) => Some(s.clone()),
                Some(_) => None,
                None => match self.defaults.get(name).map(|d| d.as_ref()) {
                    Some(ast::Value::String(s)) => Some(s.clone()),
                    _ => None,
                },
            },
            _ => None,
        }
    }
}
