//! GraphQL requests: the JSON body, the document parsed by a real parser (`apollo-parser`), the
//! operation GitHub will run, and what it reads.
//!
//! Owns: choosing the operation (by `operationName`, or the only one), its kind (`query`, the `{…}`
//! shorthand, `mutation`; `subscription` refused), and [`Reads`]: the owners a query names through
//! `repository(owner:)`, `repositoryOwner/organization/user(login:)` and `search(query:)` — literals,
//! `variables` and variable defaults, through aliases, fragments and inline fragments — plus the
//! root fields that read no owner at all (`viewer`, …). `node`/`nodes` by id name no owner either:
//! a query's `node` fields get a probe (`probed_body`) that makes GitHub say which repository each
//! node belongs to, and `screen_nodes` keeps only nodes in allowed owners' repositories.
//! Must never: classify from a partial tree (apollo-parser tolerates errors; any error refuses), or
//! let a node through whose repository it could not read from GitHub's answer.

use std::collections::{BTreeSet, HashMap, HashSet};

use apollo_parser::cst::CstNode;
use apollo_parser::{cst, Parser, SyntaxKind};
use serde::Deserialize;
use serde_json::{Map, Value};

/// GraphQL bodies are read whole before anything is decided; Pingora replays at most 64 KiB of a
/// body it has already read (its retry buffer), so larger documents are refused with 413.
pub const MAX_BODY: usize = 64 * 1024;
const RECURSION_LIMIT: usize = 128;
const TOKEN_LIMIT: usize = 20_000;

/// Root fields that read nothing tied to an owner or to the pool identity.
const HARMLESS_ROOTS: &[&str] = &["rateLimit", "__typename", "__type", "__schema", "meta", "codesOfConduct"];
/// The aliases of the fields the probe adds to `node`/`nodes` selections (documents that use them
/// themselves are refused): a repository-scoped node's repository, or a repository's own name.
const PROBE_REPOSITORY: &str = "ghpoolProbeRepository";
const PROBE_NAME: &str = "ghpoolProbeNameWithOwner";
/// `RepositoryNode` is GitHub's interface of everything that belongs to a repository (issues, pull
/// requests, comments, reviews…); a repository itself is not one.
fn probe() -> String {
    format!(
        " ... on RepositoryNode {{ {PROBE_REPOSITORY}: repository {{ nameWithOwner }} }} \
         ... on Repository {{ {PROBE_NAME}: nameWithOwner }} "
    )
}
/// Fields that take the owner as an argument, and the argument's name.
const OWNER_FIELDS: &[(&str, &str)] =
    &[("repository", "owner"), ("repositoryOwner", "login"), ("organization", "login"), ("user", "login")];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphqlError {
    #[error("Problems parsing JSON")]
    Json,
    #[error("A query attribute must be specified and must be a string.")]
    NoQuery,
    #[error("Parse error in the GraphQL document: {0}")]
    Syntax(String),
    #[error("The GraphQL document has no operation")]
    NoOperation,
    #[error("An operation name is required when the document has several operations")]
    AmbiguousOperation,
    #[error("No operation named \"{0}\"")]
    UnknownOperation(String),
    #[error("Subscriptions are not supported by GitHub's GraphQL API")]
    Subscription,
    #[error("Only executable definitions (operations, fragments) are allowed")]
    NotExecutable,
    #[error("The name {0} is reserved by ghpool")]
    Reserved(&'static str),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperationKind {
    Query,
    Mutation,
}

impl OperationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OperationKind::Query => "query",
            OperationKind::Mutation => "mutation",
        }
    }
}

/// What an operation reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reads {
    /// Owners named anywhere (lower-cased).
    pub owners: BTreeSet<String>,
    /// Root fields that are not scoped to an owner (or whose owner could not be determined).
    pub unscoped: BTreeSet<String>,
    /// Repositories named with both owner and name, as `owner/name` (lower-cased): what a write to
    /// one of them makes stale.
    pub repos: BTreeSet<String>,
}

/// A parsed GraphQL request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphqlRequest {
    pub kind: OperationKind,
    pub operation_name: Option<String>,
    pub reads: Reads,
    /// The document's tokens joined by single spaces: whitespace, commas and comments, which do
    /// not change its meaning, do not split cache keys.
    pub normalized: String,
    /// `variables` as canonical JSON (keys sorted).
    pub variables: String,
    /// The query's root `node`/`nodes` fields: their keys in the answer's `data` and where their
    /// selections end in the document (where the probe goes).
    pub nodes: Vec<NodeField>,
}

/// A root `node(id:)` or `nodes(ids:)` field of a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeField {
    /// `node` or `nodes`.
    pub field: &'static str,
    /// Its key in `data`: the alias, else the field's name.
    pub key: String,
    /// The offset of its selection set's closing brace in the document.
    end: usize,
}

#[derive(Deserialize)]
struct Body {
    query: Option<Value>,
    #[serde(default)]
    variables: Option<Value>,
    #[serde(rename = "operationName", default)]
    operation_name: Option<Value>,
}

/// Parse a `POST /graphql` body.
pub fn parse_request(body: &[u8]) -> Result<GraphqlRequest, GraphqlError> {
    let body: Body = serde_json::from_slice(body).map_err(|_| GraphqlError::Json)?;
    let Some(Value::String(document)) = body.query else { return Err(GraphqlError::NoQuery) };
    let variables = match body.variables {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(map)) => map,
        // GitHub also accepts variables as a JSON-encoded string.
        Some(Value::String(text)) => match serde_json::from_str(&text) {
            Ok(Value::Object(map)) => map,
            _ => return Err(GraphqlError::Json),
        },
        Some(_) => return Err(GraphqlError::Json),
    };
    let operation_name = match body.operation_name {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => Some(s),
        Some(_) => return Err(GraphqlError::Json),
    };
    analyze(&document, operation_name.as_deref(), &variables)
}

/// Parse a document and analyze the operation `operation_name` selects.
pub fn analyze(
    document: &str,
    operation_name: Option<&str>,
    variables: &Map<String, Value>,
) -> Result<GraphqlRequest, GraphqlError> {
    for reserved in [PROBE_REPOSITORY, PROBE_NAME] {
        if document.contains(reserved) {
            return Err(GraphqlError::Reserved(reserved));
        }
    }
    let tree = Parser::new(document).recursion_limit(RECURSION_LIMIT).token_limit(TOKEN_LIMIT).parse();
    if let Some(e) = tree.errors().next() {
        return Err(GraphqlError::Syntax(e.message().to_string()));
    }
    let mut operations = Vec::new();
    let mut fragments = HashMap::new();
    for definition in tree.document().definitions() {
        match definition {
            cst::Definition::OperationDefinition(op) => operations.push(op),
            cst::Definition::FragmentDefinition(f) => {
                if let Some(name) = f.fragment_name().and_then(|n| n.name()) {
                    fragments.insert(name.text().to_string(), f);
                }
            }
            _ => return Err(GraphqlError::NotExecutable),
        }
    }
    let name_of = |op: &cst::OperationDefinition| op.name().map(|n| n.text().to_string());
    let operation = match (operation_name, operations.len()) {
        (_, 0) => return Err(GraphqlError::NoOperation),
        (Some(wanted), _) => operations
            .iter()
            .find(|op| name_of(op).as_deref() == Some(wanted))
            .ok_or_else(|| GraphqlError::UnknownOperation(wanted.to_string()))?,
        (None, 1) => &operations[0],
        (None, _) => return Err(GraphqlError::AmbiguousOperation),
    };
    let kind = match operation.operation_type() {
        None => OperationKind::Query,
        Some(t) if t.query_token().is_some() => OperationKind::Query,
        Some(t) if t.mutation_token().is_some() => OperationKind::Mutation,
        Some(_) => return Err(GraphqlError::Subscription),
    };
    let mut walker = Walker {
        fragments: &fragments,
        variables,
        defaults: HashMap::new(),
        reads: Reads::default(),
        nodes: (kind == OperationKind::Query).then(Vec::new),
    };
    walker.collect_defaults(operation);
    if let Some(selection) = operation.selection_set() {
        walker.walk(&selection, true, &mut HashSet::new());
    }
    let normalized = tree
        .document()
        .syntax()
        .descendants_with_tokens()
        .filter_map(|element| element.into_token())
        .filter(|t| !matches!(t.kind(), SyntaxKind::WHITESPACE | SyntaxKind::COMMENT | SyntaxKind::COMMA))
        .map(|t| t.text().to_string())
        .collect::<Vec<_>>()
        .join(" ");
    // serde_json's map is ordered by key: serializing it is canonical.
    let variables = Value::Object(variables.clone()).to_string();
    let mut nodes = walker.nodes.unwrap_or_default();
    // A fragment spread twice puts its `node` field in the answer once.
    nodes.sort_by(|a, b| (a.end, &a.key).cmp(&(b.end, &b.key)));
    nodes.dedup();
    let operation_name = name_of(operation);
    Ok(GraphqlRequest { kind, operation_name, reads: walker.reads, normalized, variables, nodes })
}

/// The request body with the probe added to the selections of `nodes` (root fields of the query
/// analyzed from this body), or `None` when the body is not the one analyzed.
pub fn probed_body(body: &[u8], nodes: &[NodeField]) -> Option<Vec<u8>> {
    let Ok(Value::Object(mut fields)) = serde_json::from_slice::<Value>(body) else { return None };
    let Some(Value::String(document)) = fields.get_mut("query") else { return None };
    if nodes.iter().any(|n| !document.is_char_boundary(n.end) || document.as_bytes().get(n.end) != Some(&b'}')) {
        return None;
    }
    let mut ends: Vec<usize> = nodes.iter().map(|n| n.end).collect();
    ends.sort_unstable();
    ends.dedup();
    // From the end, so earlier offsets stay valid.
    for end in ends.into_iter().rev() {
        document.insert_str(end, &probe());
    }
    serde_json::to_vec(&fields).ok()
}

/// GitHub's answer to a probed query, with every `node` outside an allowed owner's repositories
/// (or whose repository the answer does not show) replaced by `null` and a `FORBIDDEN` error —
/// GitHub's own shape for an object the caller may not see — and the probe's fields removed. An
/// answer that cannot be read is replaced whole: nothing unchecked gets through.
pub fn screen_nodes(answer: &[u8], nodes: &[NodeField], allowed: impl Fn(&str) -> bool) -> Vec<u8> {
    let unreadable = || {
        let message = "ghpool could not tell which repositories the nodes in GitHub's answer belong to";
        serde_json::json!({"data": null, "errors": [{"type": "FORBIDDEN", "message": message}]})
            .to_string()
            .into_bytes()
    };
    let Ok(Value::Object(mut answer)) = serde_json::from_slice::<Value>(answer) else { return unreadable() };
    let mut errors = Vec::new();
    if let Some(Value::Object(data)) = answer.get_mut("data") {
        for field in nodes {
            match data.get_mut(&field.key) {
                Some(Value::Array(items)) => {
                    for (i, item) in items.iter_mut().enumerate() {
                        screen(item, serde_json::json!([field.key, i]), &allowed, &mut errors);
                    }
                }
                Some(item) => screen(item, serde_json::json!([field.key]), &allowed, &mut errors),
                None => {}
            }
        }
    }
    if !errors.is_empty() {
        match answer.entry("errors").or_insert_with(|| Value::Array(Vec::new())) {
            Value::Array(list) => list.extend(errors),
            _ => return unreadable(),
        }
    }
    serde_json::to_vec(&answer).unwrap_or_else(|_| unreadable())
}

/// One node of an answer: kept (without the probe) when its repository's owner is allowed.
fn screen(item: &mut Value, path: Value, allowed: &impl Fn(&str) -> bool, errors: &mut Vec<Value>) {
    let Value::Object(fields) = item else { return };
    let of_node = fields.remove(PROBE_REPOSITORY).and_then(|r| r.get("nameWithOwner")?.as_str().map(str::to_owned));
    let of_repository = fields.remove(PROBE_NAME).and_then(|n| n.as_str().map(str::to_owned));
    let repository = of_node.or(of_repository);
    let owner = repository.as_deref().and_then(|r| r.split_once('/')).map(|(owner, _)| owner.to_ascii_lowercase());
    if !owner.is_some_and(|o| allowed(&o)) {
        *item = Value::Null;
        let message = "ghpool: this node is not in a repository of an allowed owner";
        errors.push(serde_json::json!({"type": "FORBIDDEN", "path": path, "message": message}));
    }
}

struct Walker<'a> {
    fragments: &'a HashMap<String, cst::FragmentDefinition>,
    variables: &'a Map<String, Value>,
    defaults: HashMap<String, cst::Value>,
    reads: Reads,
    /// Root `node`/`nodes` fields, collected for queries only (`None` for a mutation, where they
    /// stay unscoped like any other root field).
    nodes: Option<Vec<NodeField>>,
}

impl Walker<'_> {
    fn collect_defaults(&mut self, operation: &cst::OperationDefinition) {
        let definitions = operation.variable_definitions().into_iter().flat_map(|d| d.variable_definitions());
        for definition in definitions {
            let name = definition.variable().and_then(|v| v.name()).map(|n| n.text().to_string());
            if let (Some(name), Some(value)) = (name, definition.default_value().and_then(|d| d.value())) {
                self.defaults.insert(name, value);
            }
        }
    }

    /// A string argument's value: a literal, a variable from `variables`, or the variable's default.
    fn string_value(&self, value: &cst::Value) -> Option<String> {
        match value {
            cst::Value::StringValue(s) => Some(String::from(s)),
            cst::Value::Variable(v) => {
                let name = v.name()?.text().to_string();
                match self.variables.get(&name) {
                    Some(Value::String(s)) => Some(s.clone()),
                    Some(_) => None,
                    None => match self.defaults.get(&name) {
                        Some(cst::Value::StringValue(s)) => Some(String::from(s)),
                        _ => None,
                    },
                }
            }
            _ => None,
        }
    }

    fn argument(&self, field: &cst::Field, wanted: &str) -> Option<Option<String>> {
        let args = field.arguments()?;
        let arg = args.arguments().find(|a| a.name().is_some_and(|n| n.text() == wanted))?;
        Some(arg.value().and_then(|v| self.string_value(&v)))
    }

    fn walk(&mut self, selection: &cst::SelectionSet, root: bool, seen_fragments: &mut HashSet<String>) {
        for item in selection.selections() {
            match item {
                cst::Selection::Field(field) => self.field(&field, root, seen_fragments),
                cst::Selection::InlineFragment(inline) => {
                    if let Some(set) = inline.selection_set() {
                        self.walk(&set, root, seen_fragments);
                    }
                }
                cst::Selection::FragmentSpread(spread) => {
                    let Some(name) = spread.fragment_name().and_then(|n| n.name()) else { continue };
                    let name = name.text().to_string();
                    // A fragment spread twice reads the same things; a cycle is invalid anyway.
                    if !seen_fragments.insert(name.clone()) {
                        continue;
                    }
                    match self.fragments.get(&name).and_then(|f| f.selection_set()) {
                        Some(set) => self.walk(&set, root, seen_fragments),
                        None => {
                            self.reads.unscoped.insert(format!("...{name} (undefined fragment)"));
                        }
                    }
                    seen_fragments.remove(&name);
                }
            }
        }
    }

    fn field(&mut self, field: &cst::Field, root: bool, seen_fragments: &mut HashSet<String>) {
        let name = field.name().map(|n| n.text().to_string()).unwrap_or_default();
        let owner_arg = OWNER_FIELDS.iter().find(|(f, _)| *f == name).map(|(_, arg)| *arg);
        match owner_arg.and_then(|arg| self.argument(field, arg)) {
            Some(Some(owner)) => {
                self.reads.owners.insert(owner.to_ascii_lowercase());
                if name == "repository" {
                    if let Some(Some(repo)) = self.argument(field, "name") {
                        self.reads.repos.insert(format!("{owner}/{repo}").to_ascii_lowercase());
                    }
                }
            }
            // The owner is there but not a string we can read (a missing variable, a number…).
            Some(None) => {
                self.reads.unscoped.insert(format!("{name} (owner not determinable)"));
            }
            None if root && name == "search" => match self.argument(field, "query") {
                Some(Some(query)) => match crate::access::search_owners(&query) {
                    Some(owners) => self.reads.owners.extend(owners.into_iter().map(|o| o.to_ascii_lowercase())),
                    None => {
                        self.reads.unscoped.insert("search (no repo:, org: or user: qualifier)".to_string());
                    }
                },
                _ => {
                    self.reads.unscoped.insert("search (query not determinable)".to_string());
                }
            },
            None if root && (name == "node" || name == "nodes") && self.nodes.is_some() => {
                let key = field.alias().and_then(|a| a.name()).map_or_else(|| name.clone(), |n| n.text().to_string());
                let end =
                    field.selection_set().and_then(|s| s.r_curly_token()).map(|t| usize::from(t.text_range().start()));
                match (end, &mut self.nodes) {
                    (Some(end), Some(nodes)) => {
                        let field = if name == "node" { "node" } else { "nodes" };
                        nodes.push(NodeField { field, key, end })
                    }
                    _ => {
                        self.reads.unscoped.insert(format!("{name} (no selection)"));
                    }
                }
            }
            None if root && !HARMLESS_ROOTS.contains(&name.as_str()) => {
                self.reads.unscoped.insert(name.clone());
            }
            None => {}
        }
        if let Some(set) = field.selection_set() {
            self.walk(&set, false, seen_fragments);
        }
    }
}

#[cfg(test)]
mod tests;
