//! GraphQL requests, understood against GitHub's published schema.
//!
//! Owns: the `POST /graphql` body (`query`, `variables`, `operationName`), the document's bounds
//! ([`limits`], checked first, linear in the document), its validation against the schema with
//! `apollo-compiler` (unknown fields, duplicate operations or arguments, fragment cycles: 400), the
//! operation GitHub will run and its kind, what a query may read at its root ([`reach`]: owners named
//! by arguments, confined searches, `node`), the probes that make GitHub say which owner every
//! object of the answer belongs to ([`probe`]), and the screening of that answer ([`screen`]).
//! Must never: let a document past that it has not parsed, bounded and validated whole; classify a
//! request by anything but its parsed operation; or send a pooled query upstream without the probes
//! its screening relies on.

use std::collections::BTreeSet;

use apollo_compiler::ast;
use apollo_compiler::parser::Parser;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::admission::fields::is_name;

pub mod limits;
mod probe;
mod reach;
pub mod schema;
pub mod screen;
mod sensitive;
pub mod sniff;

pub use limits::{LimitError, Limits};
pub use schema::{GithubSchema, OwnerPath};

/// Prefix of every name ghpool adds to a document (probe aliases, probe fragments): documents that
/// use it themselves are refused, so an answer's probe fields are always ghpool's own.
pub const RESERVED_PREFIX: &str = "ghpool";

/// Why a GraphQL request is refused: a 400 for what is not a valid GitHub GraphQL request, a 403 for
/// what the allowlist does not let through.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphqlError {
    #[error("Problems parsing JSON")]
    Json,
    #[error("A query attribute must be specified and must be a string.")]
    NoQuery,
    #[error("Parse error in the GraphQL document: {0}")]
    Syntax(String),
    #[error("{0}")]
    Limit(#[from] LimitError),
    #[error("The GraphQL document is not valid against GitHub's schema: {0}")]
    Invalid(String),
    #[error("{0}")]
    Operation(String),
    #[error("Subscriptions are not supported by GitHub's GraphQL API")]
    Subscription,
    #[error("Names starting with `{RESERVED_PREFIX}` are reserved by ghpool (`{0}`)")]
    Reserved(String),
    #[error("ghpool: the GraphQL field `{0}` is not scoped to an allowed owner and is not served through the pool")]
    NotScoped(String),
    #[error("ghpool: owner `{0}` is not in this proxy's allowlist")]
    OwnerNotAllowed(String),
    #[error("ghpool: repository `{0}` is not one this agent may read")]
    RepositoryNotAllowed(String),
    #[error("ghpool: the owner of the GraphQL field `{0}` cannot be determined from the document")]
    OwnerNotDeterminable(String),
    #[error("{0}")]
    Search(String),
    #[error("ghpool: `{field}` reads `{ty}`, which ghpool cannot tie to an allowed owner; it is not served through the pool")]
    Unowned { field: String, ty: String },
    #[error("a pooled GraphQL query's body is {0} bytes; it is held whole to be sent again on failover and is part of its cache key, so ghpool takes at most 64 KiB (only mutations, sent with your own token, may be larger)")]
    QueryTooLarge(usize),
    #[error("ghpool: `{ty}.{field}` answers with {why}; it is never served with a pool identity")]
    Sensitive { ty: String, field: String, why: &'static str },
}

impl GraphqlError {
    /// 403 for what the allowlist refuses, 400 for the rest.
    pub fn status(&self) -> u16 {
        match self {
            GraphqlError::NotScoped(_)
            | GraphqlError::OwnerNotAllowed(_)
            | GraphqlError::RepositoryNotAllowed(_)
            | GraphqlError::OwnerNotDeterminable(_)
            | GraphqlError::Search(_)
            | GraphqlError::Unowned { .. }
            | GraphqlError::Sensitive { .. } => 403,
            GraphqlError::QueryTooLarge(_) => 413,
            _ => 400,
        }
    }
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

/// What the allowlist asks of a document (built by `access::Allowlist::graphql_scope`).
pub struct Scope<'a> {
    /// Whether an owner (lower-cased) is allowed.
    pub allows: &'a dyn Fn(&str) -> bool,
    /// An agent's repositories (issue #16), when the request is an agent's: then a `repository`
    /// root must name one of them, a search must be confined to them, and `allows` says only that
    /// an owner holds some of them (answers are screened by repository).
    pub agent: Option<&'a crate::admission::policy::AgentPolicy>,
    /// Answers of queries are screened (an allowlist is in force, not `allow_all_owners`).
    pub screens: bool,
    /// Root fields the operator serves without an owner (`[access] graphql_unscoped_fields`); their
    /// answers are screened like any other.
    pub unscoped_roots: &'a BTreeSet<String>,
}

/// What an operation reads, as far as its document names it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reads {
    /// Owners named by root arguments and confined searches (lower-cased).
    pub owners: BTreeSet<String>,
    /// Repositories named with both owner and name, as `owner/name` (lower-cased): what a write to
    /// one of them makes stale.
    pub repos: BTreeSet<String>,
}

/// A GraphQL request, parsed, bounded, validated, and its reach and probes known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphqlRequest {
    pub kind: OperationKind,
    pub operation_name: Option<String>,
    pub reads: Reads,
    /// The document in canonical form (whitespace, commas and comments, which do not change its
    /// meaning, do not split cache keys).
    pub normalized: String,
    /// A query's `variables` as canonical JSON (keys sorted), for its cache key; empty for a
    /// mutation (never cached: its variables, files committed through it, are not kept twice).
    pub variables: String,
    /// The top-level variable names (GraphQL names only, at most 32), for the audit.
    pub variable_names: Vec<String>,
    /// The operation's root fields (`addComment`, `createCommitOnBranch`), each once, in document
    /// order: what the audit names of a mutation.
    pub root_fields: Vec<String>,
    /// For a screened query: the document with ghpool's probes, sent upstream instead of the
    /// client's (`probed_body`); its answer goes through [`screen::screen`].
    pub probed: Option<String>,
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
pub fn parse_request(
    body: &[u8],
    schema: &GithubSchema,
    limits: &Limits,
    scope: &Scope,
) -> Result<GraphqlRequest, GraphqlError> {
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
    let operation_name = operation_name(body.operation_name)?;
    analyze(&document, operation_name.as_deref(), &variables, schema, limits, scope)
}

fn operation_name(value: Option<Value>) -> Result<Option<String>, GraphqlError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(GraphqlError::Json),
    }
}

/// A body too large to be a pooled query, read without copying its variables: only their names
/// are kept (for the audit), the values — files committed through `createCommitOnBranch` — stay
/// in the body that is sent as it is. A query is refused ([`GraphqlError::QueryTooLarge`]); a
/// mutation is analyzed as usual, without variables (ghpool reads none of a mutation's inputs).
pub fn parse_large_request(
    body: &[u8],
    schema: &GithubSchema,
    limits: &Limits,
    scope: &Scope,
) -> Result<GraphqlRequest, GraphqlError> {
    let large: LargeBody = serde_json::from_slice(body).map_err(|_| GraphqlError::Json)?;
    let Some(Value::String(document)) = large.query else { return Err(GraphqlError::NoQuery) };
    let operation_name = operation_name(large.operation_name)?;
    if sniff::operation_kind(&document, operation_name.as_deref(), limits) != Some(OperationKind::Mutation) {
        return Err(GraphqlError::QueryTooLarge(body.len()));
    }
    let mut request = analyze(&document, operation_name.as_deref(), &Map::new(), schema, limits, scope)?;
    request.variable_names = large.variables.map(|names| names.names).unwrap_or_default();
    Ok(request)
}

#[derive(Deserialize)]
struct LargeBody {
    query: Option<Value>,
    #[serde(default)]
    variables: Option<crate::admission::fields::Names>,
    #[serde(rename = "operationName", default)]
    operation_name: Option<Value>,
}

/// Bound, parse, validate and walk a document for the operation `operation_name` selects.
pub fn analyze(
    document: &str,
    operation_name: Option<&str>,
    variables: &Map<String, Value>,
    schema: &GithubSchema,
    limits: &Limits,
    scope: &Scope,
) -> Result<GraphqlRequest, GraphqlError> {
    if document.len() > limits.document {
        return Err(LimitError::Document(document.len(), limits.document).into());
    }
    let ast = Parser::new()
        .recursion_limit(limits.nesting)
        .token_limit(limits.tokens)
        .parse_ast(document, "request.graphql")
        .map_err(|e| GraphqlError::Syntax(first_error(&e.errors)))?;
    limits::check(&ast, limits)?;
    reserved_names(&ast)?;
    let executable = match ast.to_executable_validate(schema.schema()) {
        Ok(executable) => executable,
        // GitHub's validator lets one response name have different leaf types on mutually
        // exclusive object types (gh selects `state` on both `Issue` and `PullRequest`, whose
        // enums differ); the spec, and apollo-compiler, do not. ghpool reads answers by its own
        // reserved aliases, never by such a name, so it defers to GitHub here and only here.
        Err(e) if e.errors.iter().all(|d| d.error.unstable_error_name() == Some("ConflictingFieldType")) => {
            apollo_compiler::validation::Valid::assume_valid(e.partial)
        }
        Err(e) => return Err(GraphqlError::Invalid(first_error(&e.errors))),
    };
    let operation =
        executable.operations.get(operation_name).map_err(|e| GraphqlError::Operation(e.message().to_string()))?;
    let kind = match operation.operation_type {
        ast::OperationType::Query => OperationKind::Query,
        ast::OperationType::Mutation => OperationKind::Mutation,
        ast::OperationType::Subscription => return Err(GraphqlError::Subscription),
    };
    let operation_name = operation.name.as_ref().map(|n| n.to_string());
    let mut root_fields: Vec<String> = Vec::new();
    for field in operation.root_fields(&executable) {
        if !root_fields.iter().any(|f| f == field.name.as_str()) {
            root_fields.push(field.name.to_string());
        }
    }
    if kind == OperationKind::Query {
        sensitive::check(&executable, schema)?;
    }
    // A query's answer is screened under an allowlist; an agent's mutation's too (it is answered
    // with a token minted for the agent, which reads public repositories beyond its own).
    let screened = match kind {
        OperationKind::Query => scope.screens,
        OperationKind::Mutation => scope.agent.is_some(),
    };
    // The walk adds its probe spreads to a copy (nodes are shared until changed).
    let mut probed_document = executable.clone().into_inner();
    let reach = reach::walk(&mut probed_document, operation_name.as_deref(), variables, schema, scope, screened)?;
    let probed = (!reach.probes.is_empty()).then(|| probe::render(&probed_document, &reach.probes, schema));
    Ok(GraphqlRequest {
        kind,
        operation_name,
        reads: reach.reads,
        normalized: ast.serialize().no_indent().to_string(),
        // serde_json's map is ordered by key: serializing it is canonical.
        variables: match kind {
            OperationKind::Query => Value::Object(variables.clone()).to_string(),
            OperationKind::Mutation => String::new(),
        },
        variable_names: variables.keys().filter(|k| is_name(k)).take(32).cloned().collect(),
        root_fields,
        probed,
    })
}

/// The request body with the probed document in place of the client's `query`, or `None` when the
/// body is not a GraphQL body (it was analyzed from this body, so that is a defect: fail closed).
pub fn probed_body(body: &[u8], probed: &str) -> Option<Vec<u8>> {
    let Ok(Value::Object(mut fields)) = serde_json::from_slice::<Value>(body) else { return None };
    let query = fields.get_mut("query")?;
    *query = Value::String(probed.to_string());
    serde_json::to_vec(&fields).ok()
}

/// The first few of a document's errors (a client fixes them together), one line.
fn first_error(errors: &apollo_compiler::validation::DiagnosticList) -> String {
    let shown: Vec<String> = errors.iter().take(3).map(|d| d.error.to_string()).collect();
    match shown.is_empty() {
        true => "invalid document".to_string(),
        false => shown.join("; "),
    }
}

/// Aliases and fragment names ghpool uses for its probes are refused in client documents.
fn reserved_names(document: &ast::Document) -> Result<(), GraphqlError> {
    fn walk(set: &[ast::Selection]) -> Result<(), GraphqlError> {
        for selection in set {
            match selection {
                ast::Selection::Field(f) => {
                    if let Some(alias) = f.alias.as_ref().filter(|a| a.starts_with(RESERVED_PREFIX)) {
                        return Err(GraphqlError::Reserved(alias.to_string()));
                    }
                    walk(&f.selection_set)?
                }
                ast::Selection::InlineFragment(i) => walk(&i.selection_set)?,
                ast::Selection::FragmentSpread(s) if s.fragment_name.starts_with(RESERVED_PREFIX) => {
                    return Err(GraphqlError::Reserved(s.fragment_name.to_string()))
                }
                ast::Selection::FragmentSpread(_) => {}
            }
        }
        Ok(())
    }
    for definition in &document.definitions {
        match definition {
            ast::Definition::OperationDefinition(op) => walk(&op.selection_set)?,
            ast::Definition::FragmentDefinition(f) if f.name.starts_with(RESERVED_PREFIX) => {
                return Err(GraphqlError::Reserved(f.name.to_string()))
            }
            ast::Definition::FragmentDefinition(f) => walk(&f.selection_set)?,
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
