//! GraphQL requests: the JSON body, the document parsed by a real parser (`apollo-parser`), the
//! operation GitHub will run, and what it reads.
//!
//! Owns: choosing the operation (by `operationName`, or the only one), its kind (`query`, the `{…}`
//! shorthand, `mutation`; `subscription` refused), and [`Reads`]: the owners a query names through
//! `repository(owner:)`, `repositoryOwner/organization/user(login:)` and `search(query:)` — literals,
//! `variables` and variable defaults, through aliases, fragments and inline fragments — plus the
//! root fields that read no owner at all (`viewer`, `node`, …).
//! Must never: classify from a partial tree. apollo-parser tolerates errors; any error refuses.

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
    let mut walker = Walker { fragments: &fragments, variables, defaults: HashMap::new(), reads: Reads::default() };
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
    Ok(GraphqlRequest { kind, operation_name: name_of(operation), reads: walker.reads, normalized, variables })
}

struct Walker<'a> {
    fragments: &'a HashMap<String, cst::FragmentDefinition>,
    variables: &'a Map<String, Value>,
    defaults: HashMap<String, cst::Value>,
    reads: Reads,
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
