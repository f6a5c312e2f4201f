//! The classification corpus: one named row per document.

use super::*;
use serde_json::json;

fn vars(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

/// The expected outcome of one document.
#[derive(Debug)]
enum Want {
    Query(&'static [&'static str], &'static [&'static str]),
    Mutation,
    Error(GraphqlError),
}

fn q(owners: &'static [&'static str]) -> Want {
    Want::Query(owners, &[])
}

struct Row {
    name: &'static str,
    doc: &'static str,
    operation: Option<&'static str>,
    variables: Value,
    want: Want,
}

fn row(name: &'static str, doc: &'static str, want: Want) -> Row {
    Row { name, doc, operation: None, variables: json!({}), want }
}

fn corpus() -> Vec<Row> {
    vec![
        row("named query", r#"query Q { repository(owner: "acme", name: "w") { id } }"#, q(&["acme"])),
        row("anonymous query", r#"query { repository(owner: "acme", name: "w") { id } }"#, q(&["acme"])),
        row("shorthand", r#"{ repository(owner: "Acme", name: "w") { id } }"#, q(&["acme"])),
        row("leading comment", "# mutation { x }\n  query { organization(login: \"acme\") { id } }", q(&["acme"])),
        row("comment before shorthand", "#c\n#d\n{ user(login: \"octo\") { id } }", q(&["octo"])),
        row("name that looks like a keyword", r#"query mutationLike { repository(owner: "acme", name: "w") { id } }"#, q(&["acme"])),
        row("query named mutation", r#"query mutation { rateLimit { remaining } }"#, q(&[])),
        row("mutation named query", r#"mutation query { addStar(input: {starrableId: "x"}) { clientMutationId } }"#, Want::Mutation),
        row("mutation", r#"mutation { addComment(input: {subjectId: "x", body: "hi"}) { clientMutationId } }"#, Want::Mutation),
        row("mutation after comment", "# query\nmutation M { closeIssue(input: {issueId: \"x\"}) { clientMutationId } }", Want::Mutation),
        row("subscription", r#"subscription { x }"#, Want::Error(GraphqlError::Subscription)),
        row("fragment before operation", r#"fragment F on Repository { id } query { repository(owner: "acme", name: "w") { ...F } }"#, q(&["acme"])),
        row("owner inside fragment", r#"fragment R on Query { repository(owner: "evil", name: "x") { id } } query { ...R }"#, q(&["evil"])),
        row("nested fragments", r#"query { ...A } fragment A on Query { ...B } fragment B on Query { organization(login: "deep") { id } }"#, q(&["deep"])),
        row("inline fragment at root", r#"{ ... on Query { user(login: "inl") { id } } }"#, q(&["inl"])),
        row("aliases", r#"{ a: repository(owner: "acme", name: "w") { id } b: repository(owner: "other", name: "w") { id } }"#, q(&["acme", "other"])),
        row("alias named like a safe field", r#"{ rateLimit: viewer { login } }"#, Want::Query(&[], &["viewer"])),
        row("viewer", r#"{ viewer { login } }"#, Want::Query(&[], &["viewer"])),
        // Queries' node fields are screened by their answers (`screen_nodes`), not refused.
        row("node by id", r#"{ node(id: "MDQ6VXNlcjE=") { id } }"#, Want::Query(&[], &[])),
        row("nodes by ids", r#"query { nodes(ids: ["a"]) { id } }"#, Want::Query(&[], &[])),
        row("node under relay", r#"{ relay { node(id: "a") { id } } }"#, Want::Query(&[], &["relay"])),
        row("node without a selection", r#"{ node(id: "a") }"#, Want::Query(&[], &["node (no selection)"])),
        row(
            "the probe's names are reserved",
            r#"{ node(id: "a") { ghpoolProbeRepository: id } }"#,
            Want::Error(GraphqlError::Reserved("ghpoolProbeRepository")),
        ),
        row("rate limit and typename", r#"{ rateLimit { remaining } __typename }"#, q(&[])),
        row("gh introspection", r#"query Issue_fields{Issue: __type(name:"Issue"){fields(includeDeprecated:true){name}}}"#, q(&[])),
        row("repository without owner", r#"{ repository(name: "w") { id } }"#, Want::Query(&[], &["repository"])),
        row("owner from a number", r#"{ repository(owner: 1, name: "w") { id } }"#, Want::Query(&[], &["repository (owner not determinable)"])),
        row("search scoped", r#"{ search(query: "repo:acme/w is:open", type: ISSUE, first: 5) { issueCount } }"#, q(&["acme"])),
        row("search two owners", r#"{ search(query: "org:acme user:bob bug", type: ISSUE, first: 5) { issueCount } }"#, q(&["acme", "bob"])),
        row("search unscoped", r#"{ search(query: "is:open bug", type: ISSUE, first: 5) { issueCount } }"#, Want::Query(&[], &["search (no repo:, org: or user: qualifier)"])),
        row("nested owner field", r#"{ organization(login: "acme") { repository(name: "w") { owner { login } } } }"#, q(&["acme"])),
        row("empty document", "   # only a comment\n", Want::Error(GraphqlError::Syntax(String::new()))),
        row("garbage", "}}} not graphql {{{", Want::Error(GraphqlError::Syntax(String::new()))),
        row("unterminated", r#"query { repository(owner: "acme""#, Want::Error(GraphqlError::Syntax(String::new()))),
        row("two operations without a name", "query A { rateLimit { limit } } query B { viewer { login } }", Want::Error(GraphqlError::AmbiguousOperation)),
        row("type system definition", "type T { x: Int } query { rateLimit { limit } }", Want::Error(GraphqlError::NotExecutable)),
        Row {
            name: "operationName picks the query",
            doc: "mutation M { addStar(input: {starrableId: \"x\"}) { clientMutationId } } query Q { user(login: \"u\") { id } }",
            operation: Some("Q"),
            variables: json!({}),
            want: q(&["u"]),
        },
        Row {
            name: "operationName picks the mutation",
            doc: "query Q { user(login: \"u\") { id } } mutation M { addStar(input: {starrableId: \"x\"}) { clientMutationId } }",
            operation: Some("M"),
            variables: json!({}),
            want: Want::Mutation,
        },
        Row {
            name: "unknown operationName",
            doc: "query Q { rateLimit { limit } }",
            operation: Some("Nope"),
            variables: json!({}),
            want: Want::Error(GraphqlError::UnknownOperation("Nope".into())),
        },
        Row {
            name: "owner from variables",
            doc: "query IssueList($owner: String!, $repo: String!) { repository(owner: $owner, name: $repo) { id } }",
            operation: None,
            variables: json!({"owner": "Acme", "repo": "w"}),
            want: q(&["acme"]),
        },
        Row {
            name: "owner from a variable default",
            doc: "query ($owner: String = \"dflt\") { repository(owner: $owner, name: \"w\") { id } }",
            operation: None,
            variables: json!({}),
            want: q(&["dflt"]),
        },
        Row {
            name: "variables override the default",
            doc: "query ($owner: String = \"dflt\") { repository(owner: $owner, name: \"w\") { id } }",
            operation: None,
            variables: json!({"owner": "given"}),
            want: q(&["given"]),
        },
        Row {
            name: "missing variable",
            doc: "query ($owner: String!) { repository(owner: $owner, name: \"w\") { id } }",
            operation: None,
            variables: json!({}),
            want: Want::Query(&[], &["repository (owner not determinable)"]),
        },
        Row {
            name: "search query from a variable",
            doc: "query ($q: String!) { search(query: $q, type: REPOSITORY, first: 1) { repositoryCount } }",
            operation: None,
            variables: json!({"q": "org:acme"}),
            want: q(&["acme"]),
        },
    ]
}

#[test]
fn classification_corpus() {
    let corpus = corpus();
    assert!(corpus.len() >= 30);
    for r in corpus {
        let got = analyze(r.doc, r.operation, &vars(r.variables.clone()));
        match (&r.want, got) {
            (Want::Query(owners, unscoped), Ok(req)) => {
                assert_eq!(req.kind, OperationKind::Query, "{}", r.name);
                let owners: BTreeSet<String> = owners.iter().map(|s| s.to_string()).collect();
                let unscoped: BTreeSet<String> = unscoped.iter().map(|s| s.to_string()).collect();
                assert_eq!(req.reads.owners, owners, "{}", r.name);
                assert_eq!(req.reads.unscoped, unscoped, "{}", r.name);
                if r.name == "owner from variables" {
                    assert_eq!(req.reads.repos, BTreeSet::from(["acme/w".to_string()]));
                }
            }
            (Want::Mutation, Ok(req)) => assert_eq!(req.kind, OperationKind::Mutation, "{}", r.name),
            (Want::Error(GraphqlError::Syntax(_)), Err(GraphqlError::Syntax(_))) => {}
            (Want::Error(want), Err(got)) => assert_eq!(&got, want, "{}", r.name),
            (want, got) => panic!("{}: wanted {want:?}, got {got:?}", r.name),
        }
    }
}

#[test]
fn request_bodies() {
    let ok = parse_request(br#"{"query": "query Q { rateLimit { limit } }", "variables": null, "operationName": "Q"}"#);
    assert_eq!(ok.unwrap().operation_name.as_deref(), Some("Q"));
    let string_vars = parse_request(
        br#"{"query": "query($o: String!) { user(login: $o) { id } }", "variables": "{\"o\": \"octo\"}"}"#,
    );
    assert!(string_vars.unwrap().reads.owners.contains("octo"));
    assert_eq!(parse_request(b"not json"), Err(GraphqlError::Json));
    assert_eq!(parse_request(br#"{"variables": {}}"#), Err(GraphqlError::NoQuery));
    assert_eq!(parse_request(br#"{"query": 5}"#), Err(GraphqlError::NoQuery));
    assert_eq!(parse_request(br#"{"query": "{ a }", "variables": [1]}"#), Err(GraphqlError::Json));
}

#[test]
fn deep_nesting_is_refused_not_a_stack_overflow() {
    let doc = format!("{}{}", "{ a ".repeat(5000), "}".repeat(5000));
    assert!(matches!(analyze(&doc, None, &Map::new()), Err(GraphqlError::Syntax(_))));
}

#[test]
fn whitespace_comments_and_commas_do_not_change_the_normalized_document() {
    let a = analyze("query Q($a: Int) { x(a: $a, b: 2) { y } }", None, &Map::new()).unwrap();
    let b = analyze("# hi\nquery   Q($a: Int)\n{\n  x(a: $a b: 2) {\n y # z\n }\n}\n", None, &Map::new()).unwrap();
    assert_eq!(a.normalized, b.normalized);
    let c = analyze("query Q($a: Int) { x(a: $a, b: 3) { y } }", None, &Map::new()).unwrap();
    assert_ne!(a.normalized, c.normalized);
    let s1 = analyze("{ x(s: \"a  b\") }", None, &Map::new()).unwrap();
    let s2 = analyze("{ x(s: \"a b\") }", None, &Map::new()).unwrap();
    assert_ne!(s1.normalized, s2.normalized, "string contents are kept verbatim");
}

#[test]
fn variables_are_canonical() {
    let a = parse_request(br#"{"query": "{ a }", "variables": {"b": 1, "a": {"y": 2, "x": 1}}}"#).unwrap();
    let b = parse_request(br#"{"query": "{ a }", "variables": {"a": {"x": 1, "y": 2}, "b": 1}}"#).unwrap();
    assert_eq!(a.variables, b.variables);
}

fn nodes_of(doc: &str) -> (String, Vec<NodeField>) {
    let body = json!({"query": doc, "variables": {"id": "PR_1"}}).to_string();
    let request = parse_request(body.as_bytes()).unwrap();
    (body, request.nodes)
}

#[test]
fn node_fields_are_probed_where_their_selections_end() {
    let doc = "query($id: ID!) { pr: node(id: $id) { id ... on PullRequest { title } } \
               ...F rateLimit { cost } } fragment F on Query { nodes(ids: [$id]) { id } }";
    let (body, nodes) = nodes_of(doc);
    let keys: Vec<(&str, &str)> = nodes.iter().map(|n| (n.field, n.key.as_str())).collect();
    assert_eq!(keys, [("node", "pr"), ("nodes", "nodes")]);
    let probed: Value = serde_json::from_slice(&probed_body(body.as_bytes(), &nodes).unwrap()).unwrap();
    assert_eq!(probed["variables"], json!({"id": "PR_1"}), "the rest of the body is kept");
    let document = probed["query"].as_str().unwrap();
    let probed_request = analyze(document, None, &vars(json!({"id": "PR_1"})));
    assert!(probed_request.is_err(), "the probe uses the reserved names: a client cannot send it");
    let tree = Parser::new(document).parse();
    assert_eq!(tree.errors().count(), 0, "{document}");
    assert_eq!(
        document.matches("... on RepositoryNode { ghpoolProbeRepository: repository { nameWithOwner } }").count(),
        2
    );
    assert!(document.contains("title }  ... on RepositoryNode"), "inside the node's selection: {document}");
    let mutation = parse_request(br#"{"query": "mutation { addComment(input: {}) { clientMutationId } }"}"#).unwrap();
    assert!(mutation.nodes.is_empty());
    assert_eq!(probed_body(b"{\"query\": \"{ x }\"}", &nodes), None, "not the body analyzed");
}

#[test]
fn only_nodes_in_allowed_owners_repositories_are_answered() {
    let (_, nodes) = nodes_of("query($id: ID!) { pr: node(id: $id) { id } nodes(ids: [$id]) { id } }");
    let acme = |owner: &str| owner == "acme";
    let answer = json!({"data": {
        "pr": {"id": "PR_1", "ghpoolProbeRepository": {"nameWithOwner": "Acme/widgets"}},
        "nodes": [
            {"id": "R_1", "ghpoolProbeNameWithOwner": "acme/widgets"},
            {"id": "PR_2", "ghpoolProbeRepository": {"nameWithOwner": "evil/secrets"}},
            {"id": "U_1"},
            null,
        ],
    }});
    let screened: Value = serde_json::from_slice(&screen_nodes(answer.to_string().as_bytes(), &nodes, acme)).unwrap();
    assert_eq!(screened["data"]["pr"], json!({"id": "PR_1"}), "allowed, probe removed");
    assert_eq!(screened["data"]["nodes"], json!([{"id": "R_1"}, null, null, null]));
    let paths: Vec<&Value> = screened["errors"].as_array().unwrap().iter().map(|e| &e["path"]).collect();
    assert_eq!(paths, [&json!(["nodes", 1]), &json!(["nodes", 2])], "another owner's node, and a user");
    assert!(!screened.to_string().contains("evil"), "nothing of the refused node is left");

    let with_errors = json!({"data": {"pr": null}, "errors": [{"type": "NOT_FOUND"}]});
    let kept: Value = serde_json::from_slice(&screen_nodes(with_errors.to_string().as_bytes(), &nodes, acme)).unwrap();
    assert_eq!(kept, with_errors, "GitHub's own errors stay");
    for unreadable in [&b"<html>"[..], b"\x1f\x8b compressed", b"[1]"] {
        let replaced: Value = serde_json::from_slice(&screen_nodes(unreadable, &nodes, acme)).unwrap();
        assert_eq!(replaced["data"], Value::Null);
        assert_eq!(replaced["errors"][0]["type"], "FORBIDDEN");
    }
}
