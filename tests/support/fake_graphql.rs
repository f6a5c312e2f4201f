//! The fake GitHub's GraphQL endpoint (`POST /graphql`), for real clients (issue #7).
//!
//! It executes whatever document a client sends — parsed with `apollo-parser`, operations, aliases,
//! variables with defaults, fragments and inline fragments with type conditions — against the fake's
//! world laid out as GitHub's schema names it: `repository(owner, name)` with `issues`,
//! `pullRequests`, `issue`/`pullRequest`/`issueOrPullRequest(number)`, `node(id)`, `viewer`,
//! `rateLimit`, and the mutations `addComment` and `createCommitOnBranch`. Connections take `first`/`last`/`after` and `states`
//! and answer `totalCount`, `nodes`, `edges` and `pageInfo`, as GitHub does. A field the fake does
//! not model answers `null` rather than an error, so a client's larger selection still gets the
//! parts that matter; an unknown repository or number answers GitHub's `NOT_FOUND` error.
//!
//! The queries gh 2.23 sends for `issue list/view`, `pr list/view`, `repo view`, `release list`
//! and `issue comment` were captured on the wire and are in `tests/clients_gh.rs`.

use std::collections::HashMap;

use apollo_parser::{cst, Parser};
use ghpool::admission::graphql::GithubSchema;
use serde_json::{json, Map, Value};

use super::{FakeGithub, Reply, Repo, World};

/// Pull requests, comments and the GraphQL call log: what only GraphQL clients see.
#[derive(Default)]
pub(super) struct Store {
    pulls: Vec<Pull>,
    comments: Vec<Comment>,
    calls: Vec<GraphqlCall>,
}

struct Pull {
    repo_id: u64,
    number: u64,
    title: String,
}

struct Comment {
    subject_id: String,
    author: String,
    body: String,
}

/// One GraphQL request as the fake executed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GraphqlCall {
    /// `operationName`, or the operation's own name.
    pub operation: Option<String>,
    /// `query` or `mutation`.
    pub kind: &'static str,
    /// Who sent it (the login behind the token).
    pub login: String,
}

impl FakeGithub {
    /// Adds an open pull request to `owner/name` (numbered after the issues, as GitHub numbers both
    /// in one sequence) and returns its number.
    pub fn add_pull_request(&self, owner: &str, name: &str, title: &str) -> u64 {
        let mut w = self.lock();
        let repo = w.repos.iter_mut().find(|r| r.is(owner, name));
        let repo = repo.unwrap_or_else(|| panic!("fake GitHub: add_repo({owner}, {name}) first"));
        repo.issues += 1;
        let (repo_id, number) = (repo.id, repo.issues);
        w.graphql.pulls.push(Pull { repo_id, number, title: title.to_string() });
        number
    }

    /// Every GraphQL request executed so far, in order.
    pub fn graphql_calls(&self) -> Vec<GraphqlCall> {
        self.lock().graphql.calls.clone()
    }

    /// Comments added with `addComment` to issue or pull request `number`: (author, body).
    pub fn comments_on(&self, owner: &str, name: &str, number: u64) -> Vec<(String, String)> {
        let w = self.lock();
        let Some(repo) = w.find_repo(owner, name) else { return Vec::new() };
        let id = item_id(&w, &repo, number);
        w.graphql.comments.iter().filter(|c| c.subject_id == id).map(|c| (c.author.clone(), c.body.clone())).collect()
    }
}

/// Executes one GraphQL request body for `login`; always 200, with `errors` as GitHub sends them.
pub(super) fn answer(world: &mut World, body: &[u8], login: &str) -> Reply {
    let request: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return Reply::json(400, &json!({ "message": format!("Problems parsing JSON: {e}") })),
    };
    let query = request["query"].as_str().unwrap_or_default();
    // GitHub validates every document against its schema before running it (and refuses the
    // whole request when it is invalid): so does the fake, with GitHub's published schema.
    let schema = GithubSchema::github().schema();
    if let Err(e) = apollo_compiler::ExecutableDocument::parse_and_validate(schema, query, "query.graphql") {
        // GitHub's validator lets one response name have different leaf types on mutually
        // exclusive types (gh selects `state` on `Issue` and `PullRequest`).
        let strict = e.errors.iter().filter(|d| d.error.unstable_error_name() != Some("ConflictingFieldType"));
        let messages: Vec<Value> = strict.map(|d| json!({ "message": d.error.to_string() })).collect();
        if !messages.is_empty() {
            return Reply::json(200, &json!({ "errors": messages }));
        }
    }
    let tree = Parser::new(query).parse();
    if let Some(e) = tree.errors().next() {
        return Reply::json(200, &json!({ "errors": [{ "message": format!("Parse error: {}", e.message()) }] }));
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
            _ => {}
        }
    }
    let wanted = request["operationName"].as_str();
    let name_of = |op: &cst::OperationDefinition| op.name().map(|n| n.text().to_string());
    let operation = match wanted {
        Some(wanted) => operations.into_iter().find(|op| name_of(op).as_deref() == Some(wanted)),
        None if operations.len() == 1 => operations.pop(),
        None => None,
    };
    let Some(operation) = operation else {
        return Reply::json(200, &json!({ "errors": [{ "message": "No operation named by operationName" }] }));
    };
    let mutation = operation.operation_type().is_some_and(|t| t.mutation_token().is_some());
    let kind = if mutation { "mutation" } else { "query" };
    let name = wanted.map(str::to_string).or_else(|| name_of(&operation));
    world.graphql.calls.push(GraphqlCall { operation: name, kind, login: login.to_string() });

    let mut vars = request["variables"].as_object().cloned().unwrap_or_default();
    let mut exec =
        Exec { world, login, vars: Map::new(), fragments, errors: Vec::new(), path: Vec::new(), repos: Vec::new() };
    for definition in operation.variable_definitions().iter().flat_map(|d| d.variable_definitions()) {
        let Some(var) = definition.variable().and_then(|v| v.name()).map(|n| n.text().to_string()) else { continue };
        if !vars.contains_key(&var) {
            if let Some(default) = definition.default_value().and_then(|d| d.value()) {
                let value = exec.value(default);
                vars.insert(var, value);
            }
        }
    }
    exec.vars = vars;
    let root = json!({ "__typename": if mutation { "Mutation" } else { "Query" } });
    let data = match operation.selection_set() {
        Some(set) => exec.select(&root, &set),
        None => Value::Null,
    };
    let mut out = json!({ "data": data });
    if !exec.errors.is_empty() {
        out["errors"] = Value::Array(exec.errors);
    }
    Reply::json(200, &out)
}

struct Exec<'a> {
    world: &'a mut World,
    login: &'a str,
    vars: Map<String, Value>,
    fragments: HashMap<String, cst::FragmentDefinition>,
    errors: Vec<Value>,
    /// Response keys down to the field being resolved, for `errors[].path`.
    path: Vec<String>,
    /// The repositories (ids) the object being resolved is inside, innermost last.
    repos: Vec<u64>,
}

impl Exec<'_> {
    fn select(&mut self, parent: &Value, set: &cst::SelectionSet) -> Value {
        let mut out = Map::new();
        self.collect(parent, set, &mut out);
        Value::Object(out)
    }

    fn collect(&mut self, parent: &Value, set: &cst::SelectionSet, out: &mut Map<String, Value>) {
        let typename = parent["__typename"].as_str().unwrap_or_default().to_string();
        for selection in set.selections() {
            match selection {
                cst::Selection::Field(field) => {
                    let Some(name) = field.name().map(|n| n.text().to_string()) else { continue };
                    let key = field.alias().and_then(|a| a.name()).map_or(name.clone(), |n| n.text().to_string());
                    self.path.push(key.clone());
                    let value = if name == "__typename" {
                        Value::String(typename.clone())
                    } else {
                        let args = self.arguments(&field);
                        let raw = self.resolve(parent, &name, &args);
                        self.complete(raw, field.selection_set())
                    };
                    self.path.pop();
                    merge(out, key, value);
                }
                cst::Selection::InlineFragment(inline) => {
                    let condition = inline.type_condition().and_then(|t| t.named_type()).and_then(|t| t.name());
                    if condition.is_none_or(|c| is_a(&typename, c.text().as_str())) {
                        if let Some(set) = inline.selection_set() {
                            self.collect(parent, &set, out);
                        }
                    }
                }
                cst::Selection::FragmentSpread(spread) => {
                    let name = spread.fragment_name().and_then(|n| n.name()).map(|n| n.text().to_string());
                    let Some(fragment) = name.and_then(|n| self.fragments.get(&n).cloned()) else { continue };
                    let condition = fragment.type_condition().and_then(|t| t.named_type()).and_then(|t| t.name());
                    if condition.is_none_or(|c| is_a(&typename, c.text().as_str())) {
                        if let Some(set) = fragment.selection_set() {
                            self.collect(parent, &set, out);
                        }
                    }
                }
            }
        }
    }

    fn complete(&mut self, value: Value, set: Option<cst::SelectionSet>) -> Value {
        match (value, set) {
            (Value::Array(items), set) => {
                Value::Array(items.into_iter().map(|v| self.complete(v, set.clone())).collect())
            }
            (object @ Value::Object(_), Some(set)) => {
                // What is reached inside a repository (an item, a commit, a check run) belongs to
                // it: its `repository`, where the fake does not model one, is that repository.
                let repository = match object["__typename"].as_str() {
                    Some("Repository") => object["databaseId"].as_u64(),
                    _ => object["__repo"].as_u64(),
                };
                let entered = repository.is_some();
                self.repos.extend(repository);
                let selected = self.select(&object, &set);
                if entered {
                    self.repos.pop();
                }
                selected
            }
            (value, _) => value,
        }
    }

    fn arguments(&self, field: &cst::Field) -> Map<String, Value> {
        let mut args = Map::new();
        for arg in field.arguments().iter().flat_map(|a| a.arguments()) {
            if let (Some(name), Some(value)) = (arg.name(), arg.value()) {
                args.insert(name.text().to_string(), self.value(value));
            }
        }
        args
    }

    fn value(&self, value: cst::Value) -> Value {
        match value {
            cst::Value::Variable(v) => {
                v.name().and_then(|n| self.vars.get(n.text().as_str()).cloned()).unwrap_or(Value::Null)
            }
            cst::Value::StringValue(s) => Value::String(String::from(s)),
            cst::Value::IntValue(i) => {
                i.int_token().and_then(|t| t.text().parse::<i64>().ok()).map_or(Value::Null, Value::from)
            }
            cst::Value::FloatValue(f) => {
                f.float_token().and_then(|t| t.text().parse::<f64>().ok()).map_or(Value::Null, Value::from)
            }
            cst::Value::BooleanValue(b) => Value::Bool(b.true_token().is_some()),
            cst::Value::NullValue(_) => Value::Null,
            cst::Value::EnumValue(e) => e.name().map_or(Value::Null, |n| Value::String(n.text().to_string())),
            cst::Value::ListValue(l) => Value::Array(l.values().map(|v| self.value(v)).collect()),
            cst::Value::ObjectValue(o) => Value::Object(
                o.object_fields()
                    .filter_map(|f| Some((f.name()?.text().to_string(), self.value(f.value()?))))
                    .collect(),
            ),
        }
    }

    fn not_found(&mut self, kind: &str, what: String) -> Value {
        let message = format!("Could not resolve to {kind} with the {what}.");
        self.errors.push(json!({ "type": "NOT_FOUND", "path": self.path, "locations": [], "message": message }));
        Value::Null
    }

    /// The value of field `name` with `args` on `parent` (a JSON object of the fake's world).
    fn resolve(&mut self, parent: &Value, name: &str, args: &Map<String, Value>) -> Value {
        let typename = parent["__typename"].as_str().unwrap_or_default();
        let number = args.get("number").and_then(Value::as_u64);
        let text = |key: &str| args.get(key).and_then(Value::as_str).unwrap_or_default().to_string();
        if let Some(value) = super::reach::resolve(self.world, parent, name, args) {
            return value;
        }
        match (typename, name) {
            ("Query", "repository") => {
                let (owner, repo) = (text("owner"), text("name"));
                // `followRenames` defaults to true: a transferred repository answers under its old name.
                let follow = args.get("followRenames").and_then(Value::as_bool).unwrap_or(true);
                let found = match follow {
                    true => self.world.find_repo_following_renames(&owner, &repo),
                    false => self.world.find_repo(&owner, &repo),
                };
                match found {
                    Some(repo) => repository(self.world, &repo),
                    None => self.not_found("a Repository", format!("name '{owner}/{repo}'")),
                }
            }
            ("Query", "viewer") => user(self.world, self.login),
            ("Query", "user" | "repositoryOwner") => user(self.world, &text("login")),
            ("Query", "organization") => {
                let mut org = user(self.world, &text("login"));
                org["__typename"] = json!("Organization");
                org
            }
            ("Query", "node") => {
                let id = text("id");
                match find_node(self.world, &id) {
                    Some(node) => node,
                    None => self.not_found("a node", format!("id '{id}'")),
                }
            }
            ("Query", "nodes") => {
                let ids = args.get("ids").and_then(Value::as_array).cloned().unwrap_or_default();
                let ids = ids.iter().map(|id| id.as_str().unwrap_or_default().to_string());
                Value::Array(ids.map(|id| find_node(self.world, &id).unwrap_or(Value::Null)).collect())
            }
            ("Query", "rateLimit") => json!({
                "__typename": "RateLimit", "limit": 5000, "cost": 1, "remaining": 4999, "used": 1,
                "resetAt": "2030-01-01T00:00:00Z", "nodeCount": 0,
            }),
            ("Mutation", "addComment") => self.add_comment(args),
            // Issue #19: files committed through GraphQL; the fake answers with the commit.
            ("Mutation", "createCommitOnBranch") => {
                let input = args.get("input").cloned().unwrap_or_default();
                let additions = input["fileChanges"]["additions"].as_array().map_or(0, Vec::len);
                let repo = input["branch"]["repositoryNameWithOwner"].as_str().unwrap_or_default().to_string();
                json!({
                    "__typename": "CreateCommitOnBranchPayload",
                    "clientMutationId": input.get("clientMutationId").cloned().unwrap_or(Value::Null),
                    "commit": {
                        "__typename": "Commit", "oid": format!("{additions:040}"),
                        "url": format!("https://github.com/{repo}/commit/{additions:040}"),
                    },
                })
            }
            ("Repository", "issue" | "pullRequest" | "issueOrPullRequest") => {
                let want = match name {
                    "issue" => Some("Issue"),
                    "pullRequest" => Some("PullRequest"),
                    _ => None,
                };
                let found = parent["__items"].as_array().and_then(|items| {
                    items.iter().find(|i| {
                        i["number"].as_u64() == number && want.is_none_or(|t| i["__typename"].as_str() == Some(t))
                    })
                });
                match found {
                    Some(item) => item.clone(),
                    None => {
                        let kind = want.map_or("an issue or pull request".into(), |t| format!("a {t}"));
                        self.not_found(&kind, format!("number of {}", number.unwrap_or(0)))
                    }
                }
            }
            _ => match parent.get(name) {
                Some(Value::Object(o)) if o.contains_key("__connection") => connection(&o["__connection"], args),
                Some(value) => value.clone(),
                None if name == "repository" && typename != "Repository" => {
                    match self.repos.last().and_then(|id| self.world.repo_by_id(*id)) {
                        Some(repo) => repository_ref(&repo),
                        None => Value::Null,
                    }
                }
                None => Value::Null,
            },
        }
    }

    fn add_comment(&mut self, args: &Map<String, Value>) -> Value {
        let input = args.get("input").cloned().unwrap_or_default();
        let subject = input["subjectId"].as_str().unwrap_or_default().to_string();
        let Some(node) = find_node(self.world, &subject) else {
            return self.not_found("a node", format!("id '{subject}'"));
        };
        // An installation token writes only to its repositories, with its permissions.
        if let Some(installation) = &self.world.installation {
            let full_name = node["repository"]["nameWithOwner"].as_str().unwrap_or_default().to_string();
            let (owner, name) = full_name.split_once('/').unwrap_or_default();
            let in_scope = owner.eq_ignore_ascii_case(&installation.account)
                && installation.repositories.as_ref().is_none_or(|r| r.iter().any(|r| r.eq_ignore_ascii_case(name)));
            let needed = if node["__typename"] == "PullRequest" { "pull_requests" } else { "issues" };
            let allowed =
                installation.permissions.as_ref().is_none_or(|p| matches!(p[needed].as_str(), Some("write" | "admin")));
            if !(in_scope && allowed) {
                let message = "Resource not accessible by integration";
                self.errors
                    .push(json!({ "type": "FORBIDDEN", "path": self.path, "locations": [], "message": message }));
                return Value::Null;
            }
        }
        let body = input["body"].as_str().unwrap_or_default().to_string();
        let author = self.login.to_string();
        self.world.graphql.comments.push(Comment { subject_id: subject, author: author.clone(), body: body.clone() });
        let count = self.world.graphql.comments.len();
        let url = format!("{}#issuecomment-{count}", node["url"].as_str().unwrap_or_default());
        let comment = json!({
            "__typename": "IssueComment", "id": format!("IC_fake{count}"), "url": url, "body": body,
            "author": actor(self.world, &author), "createdAt": "2024-01-02T00:00:00Z",
            "repository": node["repository"].clone(),
        });
        json!({
            "__typename": "AddCommentPayload",
            "clientMutationId": input.get("clientMutationId").cloned().unwrap_or(Value::Null),
            "commentEdge": { "cursor": format!("cursor:{count}"), "node": comment },
            "subject": node,
        })
    }
}

/// Merge a field into the answer: the same response key selected twice (directly and through a
/// fragment) is one field whose sub-selections combine.
fn merge(out: &mut Map<String, Value>, key: String, value: Value) {
    match (out.get_mut(&key), value) {
        (Some(Value::Object(old)), Value::Object(new)) => {
            for (k, v) in new {
                merge(old, k, v);
            }
        }
        (_, value) => {
            out.insert(key, value);
        }
    }
}

/// Whether an object of type `typename` matches a fragment's type condition: its own type, or an
/// interface or union of GitHub's schema that contains it.
fn is_a(typename: &str, condition: &str) -> bool {
    GithubSchema::github().is_a(typename, condition)
}

/// A connection over `nodes` as GitHub answers one: filtered by `states`, paged by `first`/`after`
/// or `last`/`before` (cursors are `cursor:<index>`).
pub(super) fn connection(nodes: &Value, args: &Map<String, Value>) -> Value {
    let mut nodes: Vec<Value> = nodes.as_array().cloned().unwrap_or_default();
    let states: Vec<String> = match args.get("states") {
        Some(Value::Array(states)) => states.iter().filter_map(Value::as_str).map(str::to_string).collect(),
        Some(Value::String(state)) => vec![state.clone()],
        _ => Vec::new(),
    };
    if !states.is_empty() {
        nodes.retain(|n| n["state"].as_str().is_some_and(|s| states.iter().any(|w| w == s)));
    }
    let total = nodes.len();
    let cursor = |key: &str| {
        args.get(key)
            .and_then(Value::as_str)
            .and_then(|c| c.strip_prefix("cursor:"))
            .and_then(|i| i.parse::<usize>().ok())
    };
    let mut start = cursor("after").map_or(0, |i| i + 1).min(total);
    let mut end = cursor("before").unwrap_or(total).min(total).max(start);
    if let Some(first) = args.get("first").and_then(Value::as_u64) {
        end = end.min(start + first as usize);
    }
    if let Some(last) = args.get("last").and_then(Value::as_u64) {
        start = start.max(end.saturating_sub(last as usize));
    }
    let page: Vec<(usize, Value)> = (start..end).map(|i| (i, nodes[i].clone())).collect();
    let edges: Vec<Value> =
        page.iter().map(|(i, node)| json!({ "cursor": format!("cursor:{i}"), "node": node })).collect();
    let cursor_at = |i: Option<&(usize, Value)>| i.map_or(Value::Null, |(i, _)| json!(format!("cursor:{i}")));
    json!({
        "totalCount": total,
        "nodes": page.iter().map(|(_, n)| n.clone()).collect::<Vec<_>>(),
        "edges": edges,
        "pageInfo": {
            "__typename": "PageInfo",
            "hasNextPage": end < total, "hasPreviousPage": start > 0,
            "startCursor": cursor_at(page.first()), "endCursor": cursor_at(page.last()),
        },
    })
}

fn empty_connection() -> Value {
    json!({ "__connection": [] })
}

fn actor(world: &mut World, login: &str) -> Value {
    let id = world.user_id(login);
    json!({ "__typename": "User", "login": login, "id": format!("U_fake{id}"), "name": login,
            "url": format!("https://github.com/{login}") })
}

pub(super) fn user(world: &mut World, login: &str) -> Value {
    let mut user = actor(world, login);
    user["databaseId"] = json!(world.user_id(login));
    user
}

/// The node id of issue or pull request `number` (the REST `node_id` of the same item).
fn item_id(world: &World, repo: &Repo, number: u64) -> String {
    let pull = world.graphql.pulls.iter().any(|p| p.repo_id == repo.id && p.number == number);
    if pull {
        format!("PR_fake{}_{number}", repo.id)
    } else {
        format!("I_fake{}_{number}", repo.id)
    }
}

fn find_node(world: &mut World, id: &str) -> Option<Value> {
    let repos = world.repos.clone();
    repos.iter().find_map(|repo| {
        let items = repository(world, repo)["__items"].as_array().cloned().unwrap_or_default();
        items.into_iter().find(|i| i["id"].as_str() == Some(id))
    })
}

/// Repository `repo` as a GraphQL object, with every issue and pull request under `__items`.
pub(super) fn repository(world: &mut World, repo: &Repo) -> Value {
    let (owner, name) = (repo.owner.clone(), repo.name.clone());
    let items: Vec<Value> = (1..=repo.issues).rev().map(|n| item(world, repo, n)).collect();
    let of_type = |t: &str| items.iter().filter(|i| i["__typename"].as_str() == Some(t)).cloned().collect::<Vec<_>>();
    let (issues, pulls) = (of_type("Issue"), of_type("PullRequest"));
    let owner_json = actor(world, &owner);
    json!({
        "__typename": "Repository",
        "id": format!("R_fake{}", repo.id), "databaseId": repo.id,
        "name": name, "nameWithOwner": format!("{owner}/{name}"), "owner": owner_json,
        "description": format!("The {name} repository"), "url": format!("https://github.com/{owner}/{name}"),
        "hasIssuesEnabled": true, "hasWikiEnabled": false, "isArchived": false,
        "isFork": repo.parent.is_some(), "visibility": if repo.private { "PRIVATE" } else { "PUBLIC" },
        "isPrivate": repo.private, "stargazerCount": 0, "forkCount": 0,
        "defaultBranchRef": { "__typename": "Ref", "name": "main" },
        "viewerPermission": "READ",
        "issues": { "__connection": issues },
        "pullRequests": { "__connection": pulls },
        "releases": { "__connection": [{
            "__typename": "Release", "name": "Widgets 1.0", "tagName": "v1.0.0", "isDraft": false, "isLatest": true,
            "isPrerelease": false, "createdAt": "2024-01-01T00:00:00Z", "publishedAt": "2024-01-01T00:00:00Z",
        }] },
        "labels": empty_connection(), "milestones": empty_connection(),
        "__items": items,
    })
}

/// A repository as an issue's or a blob's `repository` field (what ghpool's probes read).
pub(super) fn repository_ref(repo: &Repo) -> Value {
    let (owner, name) = (&repo.owner, &repo.name);
    json!({
        "__typename": "Repository", "id": format!("R_fake{}", repo.id), "databaseId": repo.id, "name": name,
        "nameWithOwner": format!("{owner}/{name}"), "isPrivate": repo.private,
    })
}

/// Issue or pull request `number`, with the fields gh's queries select (numbers match the REST
/// answers: every tenth issue is closed).
pub(super) fn item(world: &mut World, repo: &Repo, number: u64) -> Value {
    let (owner, name) = (&repo.owner, &repo.name);
    let pull = world.graphql.pulls.iter().find(|p| p.repo_id == repo.id && p.number == number).map(|p| p.title.clone());
    let id = item_id(world, repo, number);
    let comments: Vec<Value> = world
        .graphql
        .comments
        .iter()
        .filter(|c| c.subject_id == id)
        .map(|c| (c.author.clone(), c.body.clone()))
        .collect::<Vec<_>>()
        .into_iter()
        .enumerate()
        .map(|(i, (author, body))| {
            json!({ "__typename": "IssueComment", "id": format!("IC_{id}_{i}"), "author": actor(world, &author),
                    "authorAssociation": "NONE", "body": body, "createdAt": "2024-01-02T00:00:00Z",
                    "includesCreatedEdit": false, "isMinimized": false, "minimizedReason": null,
                    "reactionGroups": [], "viewerDidAuthor": false })
        })
        .collect();
    let author = actor(world, "octocat");
    let closed = pull.is_none() && number % 10 == 0;
    let mut item = json!({
        "id": id, "number": number,
        "title": pull.clone().unwrap_or_else(|| format!("Issue {number}")),
        "body": format!("Body of #{number}"),
        "state": if closed { "CLOSED" } else { "OPEN" }, "closed": closed,
        "stateReason": if closed { json!("COMPLETED") } else { Value::Null },
        "createdAt": "2024-01-01T00:00:00Z", "updatedAt": "2024-01-01T00:00:00Z", "closedAt": null,
        "author": author, "milestone": null, "reactionGroups": [],
        "assignees": empty_connection(), "labels": empty_connection(), "projectCards": empty_connection(),
        "comments": { "__connection": comments },
        "repository": repository_ref(repo),
        "__repo": repo.id,
    });
    match pull {
        Some(_) => {
            item["__typename"] = json!("PullRequest");
            item["url"] = json!(format!("https://github.com/{owner}/{name}/pull/{number}"));
            let head = world.pull_head(repo.id, number).unwrap_or_else(|| repo.clone());
            let owner_json = actor(world, &head.owner);
            for (key, value) in [
                ("isDraft", json!(false)),
                ("maintainerCanModify", json!(false)),
                ("mergeable", json!("MERGEABLE")),
                ("additions", json!(10)),
                ("deletions", json!(2)),
                ("changedFiles", json!(1)),
                ("baseRefName", json!("main")),
                ("headRefName", json!(format!("feature-{number}"))),
                ("headRepositoryOwner", owner_json),
                ("headRepository", repository_ref(&head)),
                ("isCrossRepository", json!(head.id != repo.id)),
                ("reviewDecision", Value::Null),
                ("commits", json!({ "__connection": [commit(owner, name, number)] })),
                ("reviewRequests", empty_connection()),
                ("reviews", empty_connection()),
            ] {
                item[key] = value;
            }
        }
        None => {
            item["__typename"] = json!("Issue");
            item["url"] = json!(format!("https://github.com/{owner}/{name}/issues/{number}"));
        }
    }
    item
}

/// A pull request's head commit, with one successful check run (what `gh pr checks` and `gh pr
/// view` read through `commits(last: 1)`).
fn commit(owner: &str, name: &str, number: u64) -> Value {
    let check = json!({
        "__typename": "CheckRun", "name": "build", "status": "COMPLETED", "conclusion": "SUCCESS",
        "startedAt": "2024-01-01T00:00:00Z", "completedAt": "2024-01-01T00:01:00Z", "isRequired": false,
        "detailsUrl": format!("https://github.com/{owner}/{name}/actions/runs/700/job/{number}"),
        "checkSuite": { "__typename": "CheckSuite", "workflowRun": { "workflow": { "name": "CI" } } },
    });
    json!({
        "__typename": "PullRequestCommit",
        "commit": {
            "__typename": "Commit", "oid": format!("{number:040x}"),
            "statusCheckRollup": {
                "__typename": "StatusCheckRollup", "state": "SUCCESS", "contexts": { "__connection": [check] },
                // As on GitHub, the rollup names its commit (ghpool judges it by that commit's repository).
                "commit": { "__typename": "Commit", "oid": format!("{number:040x}") },
            },
        },
    })
}
