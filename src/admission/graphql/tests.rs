//! The GraphQL corpus: one named row per document, against GitHub's real schema, with the allowlist
//! `acme`; then probe placement and screening on answers shaped as GitHub gives them.

use std::collections::BTreeSet;

use apollo_compiler::ExecutableDocument;
use serde_json::{json, Map, Value};

use super::*;

fn acme(owner: &str) -> bool {
    owner == "acme"
}

fn unscoped() -> &'static BTreeSet<String> {
    static SET: std::sync::OnceLock<BTreeSet<String>> = std::sync::OnceLock::new();
    SET.get_or_init(|| BTreeSet::from(["viewer".to_string()]))
}

fn scope() -> Scope<'static> {
    Scope { allows: &acme, agent: None, screens: true, unscoped_roots: unscoped() }
}

fn run(doc: &str, operation: Option<&str>, variables: Value) -> Result<GraphqlRequest, GraphqlError> {
    let variables = variables.as_object().cloned().unwrap_or_default();
    analyze(doc, operation, &variables, GithubSchema::github(), &Limits::default(), &scope())
}

fn query(doc: &str) -> Result<GraphqlRequest, GraphqlError> {
    run(doc, None, json!({}))
}

/// The expected outcome of one document.
#[derive(Debug)]
enum Want {
    /// A query naming these owners (probed or not).
    Query(&'static [&'static str]),
    Mutation,
    /// Refused with this status, and a message containing this text.
    Refused(u16, &'static str),
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
    use Want::*;
    vec![
        row("named query", r#"query Q { repository(owner: "acme", name: "w") { id } }"#, Query(&["acme"])),
        row("shorthand", r#"{ repository(owner: "Acme", name: "w") { id } }"#, Query(&["acme"])),
        row("leading comment", "# mutation { x }\n  query { organization(login: \"acme\") { id } }", Query(&["acme"])),
        row("name that looks like a keyword", r#"query mutationLike { repository(owner: "acme", name: "w") { id } }"#, Query(&["acme"])),
        row("query named mutation", "query mutation { rateLimit { remaining } }", Query(&[])),
        row("mutation", r#"mutation { addComment(input: {subjectId: "x", body: "hi"}) { clientMutationId } }"#, Mutation),
        row("mutation named query", r#"mutation query { addStar(input: {starrableId: "x"}) { clientMutationId } }"#, Mutation),
        row("subscription", "subscription { x }", Refused(400, "")),
        row("owner inside a fragment", r#"fragment R on Query { repository(owner: "evil", name: "x") { id } } query { ...R }"#, Refused(403, "`evil`")),
        row("nested fragments", r#"query { ...A } fragment A on Query { ...B } fragment B on Query { organization(login: "evil") { id } }"#, Refused(403, "`evil`")),
        row("inline fragment at root", r#"{ ... on Query { user(login: "evil") { id } } }"#, Refused(403, "`evil`")),
        row("aliases", r#"{ a: repository(owner: "acme", name: "w") { id } b: repository(owner: "other", name: "w") { id } }"#, Refused(403, "`other`")),
        row("alias named like a safe field", "{ rateLimit: viewer { login } }", Query(&[])),
        row("relay re-exposes the root", r#"{ relay { repository(owner: "evil", name: "x") { id } } }"#, Refused(403, "`relay`")),
        row("an unlisted root field", r#"{ enterprise(slug: "e") { id } }"#, Refused(403, "`enterprise`")),
        row("node by id is screened", r#"{ node(id: "MDQ6VXNlcjE=") { id } }"#, Query(&[])),
        row("rate limit and typename", "{ rateLimit { remaining } __typename }", Query(&[])),
        row("gh introspection", r#"query Issue_fields{Issue: __type(name:"Issue"){fields(includeDeprecated:true){name}}}"#, Query(&[])),
        row("owner from a number is invalid", r#"{ repository(owner: 1, name: "w") { id } }"#, Refused(400, "")),
        row("search scoped", r#"{ search(query: "repo:acme/w is:open", type: ISSUE, first: 5) { issueCount } }"#, Query(&["acme"])),
        row("search unscoped", r#"{ search(query: "is:open bug", type: ISSUE, first: 5) { issueCount } }"#, Refused(403, "confined")),
        // Issue #20, item 1: `-org:` excludes; it does not confine.
        row("negated search 20", r#"{ search(query: "-org:openclaw is:private", type: REPOSITORY, first: 100) { repositoryCount } }"#, Refused(403, "")),
        row("search naming another owner", r#"{ search(query: "org:acme OR org:evil", type: ISSUE, first: 5) { issueCount } }"#, Refused(403, "evil")),
        row("unknown field", r#"{ repository(owner: "acme", name: "w") { noSuchField } }"#, Refused(400, "noSuchField")),
        row("empty document", "   # only a comment\n", Refused(400, "")),
        row("garbage", "}}} not graphql {{{", Refused(400, "")),
        row("two operations without a name", "query A { rateLimit { limit } } query B { rateLimit { cost } }", Refused(400, "")),
        // Issue #20, item 8: GitHub's validator would refuse these; ghpool reads them as GitHub does.
        row("query and mutation of one name 20", r#"query X { repository(owner: "acme", name: "w") { id } } mutation X { addStar(input: {starrableId: "x"}) { clientMutationId } }"#, Refused(400, "")),
        row("duplicate owner argument 20", r#"{ repository(owner: "acme", owner: "evil", name: "w") { id } }"#, Refused(400, "")),
        row("fragment cycle", "query { ...A } fragment A on Query { ...B } fragment B on Query { ...A }", Refused(400, "")),
        row("type system definition", "type T { x: Int } query { rateLimit { limit } }", Refused(400, "")),
        row("reserved alias", r#"{ repository(owner: "acme", name: "w") { ghpool_n: nameWithOwner } }"#, Refused(400, "reserved")),
        row("reserved fragment name", r#"{ ...ghpool_X } fragment ghpool_X on Query { rateLimit { cost } }"#, Refused(400, "reserved")),
        Row {
            name: "operationName picks the query",
            doc: "mutation M { addStar(input: {starrableId: \"x\"}) { clientMutationId } } query Q { user(login: \"acme\") { id } }",
            operation: Some("Q"),
            variables: json!({}),
            want: Query(&["acme"]),
        },
        Row {
            name: "operationName picks the mutation",
            doc: "query Q { user(login: \"acme\") { id } } mutation M { addStar(input: {starrableId: \"x\"}) { clientMutationId } }",
            operation: Some("M"),
            variables: json!({}),
            want: Mutation,
        },
        Row {
            name: "unknown operationName",
            doc: "query Q { rateLimit { limit } }",
            operation: Some("Nope"),
            variables: json!({}),
            want: Refused(400, "Nope"),
        },
        Row {
            name: "owner from variables",
            doc: "query IssueList($owner: String!, $repo: String!) { repository(owner: $owner, name: $repo) { id } }",
            operation: None,
            variables: json!({"owner": "Acme", "repo": "w"}),
            want: Query(&["acme"]),
        },
        Row {
            name: "owner from a variable default",
            doc: "query ($owner: String = \"evil\") { repository(owner: $owner, name: \"w\") { id } }",
            operation: None,
            variables: json!({}),
            want: Refused(403, "`evil`"),
        },
        Row {
            name: "variables override the default",
            doc: "query ($owner: String = \"evil\") { repository(owner: $owner, name: \"w\") { id } }",
            operation: None,
            variables: json!({"owner": "acme"}),
            want: Query(&["acme"]),
        },
        Row {
            name: "missing variable",
            doc: "query ($owner: String!) { repository(owner: $owner, name: \"w\") { id } }",
            operation: None,
            variables: json!({}),
            want: Refused(403, "determined"),
        },
        Row {
            name: "search query from a variable",
            doc: "query ($q: String!) { search(query: $q, type: REPOSITORY, first: 1) { repositoryCount } }",
            operation: None,
            variables: json!({"q": "org:acme"}),
            want: Query(&["acme"]),
        },
    ]
}

#[test]
fn classification_corpus() {
    for r in corpus() {
        let got = run(r.doc, r.operation, r.variables.clone());
        match (&r.want, got) {
            (Want::Query(owners), Ok(req)) => {
                assert_eq!(req.kind, OperationKind::Query, "{}", r.name);
                let owners: BTreeSet<String> = owners.iter().map(|s| s.to_string()).collect();
                assert_eq!(req.reads.owners, owners, "{}", r.name);
            }
            (Want::Mutation, Ok(req)) => {
                assert_eq!(req.kind, OperationKind::Mutation, "{}", r.name);
                assert_eq!(req.probed, None, "{}: a mutation is never probed", r.name);
            }
            (Want::Refused(status, text), Err(e)) => {
                assert_eq!(e.status(), *status, "{}: {e}", r.name);
                assert!(e.to_string().contains(text), "{}: {e}", r.name);
            }
            (want, got) => panic!("{}: wanted {want:?}, got {got:?}", r.name),
        }
    }
}

#[test]
fn request_bodies() {
    let parse = |body: &[u8]| parse_request(body, GithubSchema::github(), &Limits::default(), &scope());
    let ok = parse(br#"{"query": "query Q { rateLimit { limit } }", "variables": null, "operationName": "Q"}"#);
    assert_eq!(ok.unwrap().operation_name.as_deref(), Some("Q"));
    let string_vars =
        parse(br#"{"query": "query($o: String!) { user(login: $o) { id } }", "variables": "{\"o\": \"acme\"}"}"#);
    assert!(string_vars.unwrap().reads.owners.contains("acme"));
    assert_eq!(parse(b"not json"), Err(GraphqlError::Json));
    assert_eq!(parse(br#"{"variables": {}}"#), Err(GraphqlError::NoQuery));
    assert_eq!(parse(br#"{"query": 5}"#), Err(GraphqlError::NoQuery));
    assert_eq!(parse(br#"{"query": "{ rateLimit { cost } }", "variables": [1]}"#), Err(GraphqlError::Json));
}

#[test]
fn limits_are_named_in_the_refusal() {
    let deep = format!("{}{}", "{ a ".repeat(5000), "}".repeat(5000));
    assert_eq!(query(&deep).unwrap_err().status(), 400);
    let big = format!("{{ rateLimit {{ cost }} }} # {}", "x".repeat(70_000));
    assert!(query(&big).unwrap_err().to_string().contains("at most 65536 bytes"));
    let aliases: String = (0..600).map(|i| format!("a{i}: rateLimit {{ cost }} ")).collect();
    assert!(query(&format!("{{ {aliases} }}")).unwrap_err().to_string().contains("aliases"));
}

#[test]
fn whitespace_comments_and_commas_do_not_change_the_normalized_document() {
    let a = query(
        r#"query Q($n: Int) { repository(owner: "acme", name: "w") { issues(first: $n, states: OPEN) { totalCount } } }"#,
    );
    let b = query("# hi\nquery   Q($n: Int)\n{ repository(owner: \"acme\" name: \"w\") {\n issues(first: $n states: OPEN) { totalCount # z\n } } }");
    assert_eq!(a.unwrap().normalized, b.unwrap().normalized);
    let s1 = query(r#"{ search(query: "repo:acme/w a  b", type: ISSUE, first: 1) { issueCount } }"#).unwrap();
    let s2 = query(r#"{ search(query: "repo:acme/w a b", type: ISSUE, first: 1) { issueCount } }"#).unwrap();
    assert_ne!(s1.normalized, s2.normalized, "string contents are kept verbatim");
}

#[test]
fn variables_are_canonical() {
    let parse = |body: &[u8]| parse_request(body, GithubSchema::github(), &Limits::default(), &scope()).unwrap();
    let doc = r#"query($a: IssueOrder, $b: Int) { repository(owner: "acme", name: "w") { issues(first: $b, orderBy: $a) { totalCount } } }"#;
    let order = json!({"direction": "ASC", "field": "CREATED_AT"});
    let reversed = json!({"field": "CREATED_AT", "direction": "ASC"});
    let a = parse(json!({"query": doc, "variables": {"b": 1, "a": order}}).to_string().as_bytes());
    let b = parse(json!({"query": doc, "variables": {"a": reversed, "b": 1}}).to_string().as_bytes());
    assert_eq!(a.variables, b.variables);
}

/// The probed document of a query, checked to be valid against the schema (GitHub validates it).
fn probed(doc: &str) -> String {
    let request = query(doc).unwrap_or_else(|e| panic!("{doc}: {e}"));
    let probed = request.probed.unwrap_or_else(|| panic!("{doc}: not probed"));
    if let Err(e) =
        ExecutableDocument::parse_and_validate(GithubSchema::github().schema(), probed.as_str(), "p.graphql")
    {
        panic!("the probed document is invalid: {}\n{probed}", e.errors);
    }
    probed
}

#[test]
fn probes_follow_the_type_of_every_selection() {
    // Issue #20, item 2: from an allowed repository to another owner's, through an author.
    let doc = probed(
        r#"{ repository(owner: "acme", name: "w") { issues(first: 5) { nodes { title author { ... on User {
           repository(name: "secret") { object(expression: "HEAD:README.md") { ... on Blob { text } } } } } } } } }"#,
    );
    assert!(doc.contains("fragment ghpool_Repository_00 on Repository"), "{doc}");
    assert!(doc.contains("fragment ghpool_Issue_00 on Issue"), "{doc}");
    assert!(doc.contains("fragment ghpool_User_10 on User"), "beyond the profile: the login is probed\n{doc}");
    assert!(doc.contains("ghpool_repository_Repository_nn: repository"), "{doc}");
    // A public profile is not probed; connections below a checked object are not either.
    let doc = probed(r#"{ repository(owner: "acme", name: "w") { issues(first: 5) { nodes { author { login } } } } }"#);
    assert!(!doc.contains("ghpool_Actor") && !doc.contains("IssueConnection"), "{doc}");
    // Unanchored abstract sets drop contained objects.
    let doc = probed(r#"{ node(id: "x") { id } }"#);
    assert!(doc.contains("fragment ghpool_Node_01 on Node { ghpool_t: __typename ghpool_u: __typename"), "{doc}");
    // One fragment per document, however many `node` fields spread it; it names every concrete
    // `Node` type that has an owner (about 250 in GitHub's schema).
    assert!(doc.len() < 48_000, "the Node probe is {} bytes", doc.len());
    // Nothing to probe: the document goes as the client wrote it.
    assert_eq!(query("{ rateLimit { cost } }").unwrap().probed, None);
    assert_eq!(query(r#"{ user(login: "acme") { login name } }"#).unwrap().probed, None);
}

#[test]
fn fragments_are_walked_once_and_anchored_by_every_spread() {
    let doc = probed(
        r#"query { repository(owner: "acme", name: "w") { issues(first: 1) { ...Conn } } }
           fragment Conn on IssueConnection { nodes { title } totalCount }"#,
    );
    assert!(doc.contains("fragment Conn on IssueConnection"), "{doc}");
    // A contained object type spread where nothing anchors it cannot be tied to an owner.
    let err = query(
        r#"query { node(id: "x") { ... on Issue { ...Conn } } ...Top }
                      fragment Top on Query { rateLimit { cost } }
                      fragment Conn on Issue { timelineItems(first: 1) { totalCount } }"#,
    );
    assert!(err.is_ok(), "{err:?}");
    // An object with no owner of its own, reached by id: probed as unanchored, and dropped.
    let doc = probed(r#"{ node(id: "x") { ... on Enterprise { name } } }"#);
    assert!(doc.contains("ghpool_u: __typename"), "{doc}");
    let answer = json!({"data": {"node": {"ghpool_t": "Enterprise", "ghpool_u": "Enterprise", "name": "E"}}});
    let (screened, withheld) = screen_answer(answer);
    assert_eq!((withheld, &screened["data"]["node"]), (1, &Value::Null), "{screened}");
}

fn screen_answer(answer: Value) -> (Value, usize) {
    let screened = screen::screen(answer.to_string().as_bytes(), GithubSchema::github(), acme);
    (serde_json::from_slice(&screened.body).unwrap(), screened.withheld)
}

fn repo(name_with_owner: &str) -> Value {
    json!({"ghpool_t": "Repository", "ghpool_n": name_with_owner})
}

#[test]
fn answers_are_screened_at_every_probed_object() {
    let issue = |title: &str, author: Value| json!({"ghpool_t": "Issue", "title": title, "ghpool_repository_Repository_nn": repo("acme/w"), "author": author});
    let answer = json!({"data": {"repository": {
        "ghpool_t": "Repository", "ghpool_n": "acme/w", "name": "w",
        "issues": {"nodes": [
            issue("mine", json!({"login": "alice"})),
            issue("theirs", json!({"ghpool_t": "User", "ghpool_l": "evil", "repository": {
                "ghpool_t": "Repository", "ghpool_n": "evil/secret", "object": {"text": "SECRET"}}})),
        ]},
        "parent": {"ghpool_t": "Repository", "ghpool_n": "upstream/w", "name": "w"},
    }}});
    let (screened, withheld) = screen_answer(answer);
    assert_eq!(withheld, 2);
    assert!(!screened.to_string().contains("SECRET") && !screened.to_string().contains("ghpool_"), "{screened}");
    let data = &screened["data"]["repository"];
    assert_eq!(data["issues"]["nodes"][0], json!({"title": "mine", "author": {"login": "alice"}}));
    assert_eq!(data["issues"]["nodes"][1]["author"], Value::Null);
    assert_eq!(data["parent"], Value::Null);
    let paths: Vec<&Value> = screened["errors"].as_array().unwrap().iter().map(|e| &e["path"]).collect();
    assert!(paths.contains(&&json!(["repository", "issues", "nodes", 1, "author"])), "{paths:?}");
    assert!(paths.contains(&&json!(["repository", "parent"])), "{paths:?}");
}

#[test]
fn screening_fails_closed() {
    // A contained object where nothing anchors it, a probe that is missing, an owner path that ends
    // in null: all withheld.
    let (screened, withheld) = screen_answer(json!({"data": {
        "a": {"ghpool_t": "Enterprise", "ghpool_u": "Enterprise", "name": "e"},
        "b": {"ghpool_t": "Issue", "title": "no probe"},
        "c": {"ghpool_t": "Issue", "ghpool_repository_Repository_nn": null},
        "d": {"ghpool_t": "PullRequest", "ghpool_u": "PullRequest", "ghpool_repository_Repository_nn": repo("ACME/w")},
        "e": {"ghpool_t": "NoSuchType", "ghpool_u": "NoSuchType"},
    }, "errors": [{"type": "NOT_FOUND", "path": ["c", "ghpool_repository_Repository_nn"]}]}));
    assert_eq!(withheld, 4, "{screened}");
    assert_eq!(screened["data"]["d"], json!({}), "an allowed owner, any case");
    assert_eq!(screened["errors"].as_array().unwrap().len(), 4, "the probe's own error is dropped: {screened}");
    for unreadable in [&b"<html>"[..], b"\x1f\x8b compressed", b"[1]"] {
        let screened = screen::screen(unreadable, GithubSchema::github(), acme);
        let v: Value = serde_json::from_slice(&screened.body).unwrap();
        assert_eq!((v["data"].clone(), v["errors"][0]["type"].clone()), (Value::Null, json!("FORBIDDEN")));
    }
}

/// Issue #20, item 3: analysis of every document is linear: forty levels of fragments spreading the
/// next twice are refused by the limits, before validation, without expanding anything.
#[test]
fn a_fragment_bomb_is_refused_at_once_20() {
    let mut doc = String::from("query { ...F0 }\n");
    for i in 0..40 {
        doc.push_str(&format!("fragment F{i} on Query {{ ...F{n} ...F{n} }}\n", n = i + 1));
    }
    doc.push_str("fragment F40 on Query { node(id: \"x\") { id } }\n");
    let err = query(&doc).unwrap_err();
    assert!(err.to_string().contains("fields once fragments are expanded"), "{err}");
    let _ = Map::<String, Value>::new();
}

/// Red team of issue #20: objects with no `repository` of their own, contained in another owner's
/// project or discussion, reached from an allowed owner — probed through their container and
/// withheld when it is another owner's.
#[test]
fn contained_objects_are_judged_by_their_container_20() {
    let doc = probed(
        r#"{ repository(owner: "acme", name: "w") { issue(number: 1) { projectItems(first: 20) { nodes {
           fieldValues(first: 50) { nodes { ... on ProjectV2ItemFieldTextValue { text } } } } } } } }"#,
    );
    assert!(doc.contains("fragment ghpool_ProjectV2Item_00 on ProjectV2Item"), "{doc}");
    assert!(doc.contains("on ProjectV2ItemFieldTextValue"), "{doc}");
    let doc = probed(r#"{ user(login: "acme") { repositoryDiscussionComments(first: 5) { nodes { body } } } }"#);
    assert!(doc.contains("ghpool_discussion_Discussion"), "{doc}");
    let evil_discussion = json!({"ghpool_t": "Discussion", "ghpool_repository_Repository_nn": repo("evil/secret")});
    let answer = json!({"data": {"user": {"ghpool_t": "User", "ghpool_l": "acme", "repositoryDiscussionComments": {"nodes": [
        {"ghpool_t": "DiscussionComment", "body": "SECRET", "ghpool_discussion_Discussion": evil_discussion},
    ]}}}});
    let (screened, withheld) = screen_answer(answer);
    assert_eq!(withheld, 1, "{screened}");
    assert!(!screened.to_string().contains("SECRET"), "{screened}");
}

/// Red team of issue #20: fields answering with credentials or security configuration are refused
/// on allowed owners too, however they are reached.
#[test]
fn sensitive_fields_are_refused_20() {
    for doc in [
        r#"{ organization(login: "acme") { auditLog(first: 10) { totalCount } } }"#,
        r#"{ organization(login: "acme") { samlIdentityProvider { id } } }"#,
        r#"{ repository(owner: "acme", name: "w") { deployKeys(first: 5) { nodes { key } } } }"#,
        r#"{ repository(owner: "acme", name: "w") { tempCloneToken } }"#,
        r#"query { repositoryOwner(login: "acme") { ... on Organization { ...F } } } fragment F on Organization { ipAllowListEntries(first: 1) { totalCount } }"#,
    ] {
        let err = query(doc).unwrap_err();
        assert_eq!(err.status(), 403, "{doc}: {err}");
        assert!(matches!(err, GraphqlError::Sensitive { .. }), "{doc}: {err}");
    }
    assert!(query(r#"{ repository(owner: "acme", name: "w") { name deleteBranchOnMerge } }"#).is_ok());
}

/// Issue #19: a large mutation is analyzed without its variables' values (only their names are
/// kept, for the audit); a large query is refused as such.
#[test]
fn large_bodies_are_read_without_their_variables_19() {
    let big = "A".repeat(200_000);
    let mutation = json!({
        "query": "mutation C($input: CreateCommitOnBranchInput!, $n: Int) { createCommitOnBranch(input: $input) { commit { oid history(first: $n) { totalCount } } } }",
        "variables": {"input": {"fileChanges": {"additions": [{"path": "a", "contents": big}]}}, "n": 1, "bad name": 2},
    });
    let body = mutation.to_string();
    let request = parse_large_request(body.as_bytes(), GithubSchema::github(), &Limits::default(), &scope()).unwrap();
    assert_eq!(request.kind, OperationKind::Mutation);
    assert_eq!(request.variable_names, vec!["input".to_string(), "n".to_string()]);
    assert!(request.variables.is_empty());
    // Variables sent as a JSON-encoded string, as GitHub also accepts.
    let encoded = json!({"query": mutation["query"], "variables": mutation["variables"].to_string()}).to_string();
    let request = parse_large_request(encoded.as_bytes(), GithubSchema::github(), &Limits::default(), &scope());
    assert_eq!(request.unwrap().variable_names, vec!["input".to_string(), "n".to_string()]);
    let query = json!({"query": "query Q($x: String!) { repository(owner: \"acme\", name: $x) { id } }", "variables": {"x": big}});
    let err = parse_large_request(query.to_string().as_bytes(), GithubSchema::github(), &Limits::default(), &scope());
    assert_eq!(err.unwrap_err().status(), 413);
    // Two operations, the mutation selected.
    let both = json!({"query": "query A { rateLimit { cost } } mutation B { addStar(input: {starrableId: \"x\"}) { clientMutationId } }", "operationName": "B", "variables": {"pad": big}});
    let request =
        parse_large_request(both.to_string().as_bytes(), GithubSchema::github(), &Limits::default(), &scope());
    assert_eq!(request.unwrap().kind, OperationKind::Mutation);
}

/// Issue #16: an agent holding `acme/w` and `tools/*` reads through GraphQL only those: a
/// `repository` root must name one of them, a search must be confined to them, and answers are
/// screened by repository (another acme repository goes, a tools one stays).
#[test]
fn an_agents_documents_and_answers_stay_within_its_repositories_16() {
    let patterns = ["acme/w", "tools/*"].map(|p| crate::config::agents::parse_repo(p).unwrap());
    let agent = crate::admission::policy::AgentPolicy::new(&patterns);
    let touches = |owner: &str| owner == "acme" || owner == "tools";
    let scope = Scope { allows: &touches, agent: Some(&agent), screens: true, unscoped_roots: unscoped() };
    let run = |doc: &str| analyze(doc, None, &Map::new(), GithubSchema::github(), &Limits::default(), &scope);
    let cases: &[(&str, Result<(), &str>)] = &[
        (r#"{ repository(owner: "acme", name: "w") { name } }"#, Ok(())),
        (r#"{ repository(owner: "ACME", name: "W") { name } }"#, Ok(())),
        (r#"{ repository(owner: "tools", name: "anything") { name } }"#, Ok(())),
        (r#"{ repository(owner: "acme", name: "secret") { name } }"#, Err("repository `acme/secret`")),
        (r#"query($n: String!) { repository(owner: "acme", name: $n) { name } }"#, Err("cannot be determined")),
        (r#"{ search(query: "repo:acme/w bug", type: ISSUE, first: 1) { issueCount } }"#, Ok(())),
        (r#"{ search(query: "org:acme bug", type: ISSUE, first: 1) { issueCount } }"#, Err("acme")),
        (r#"{ search(query: "repo:acme/secret", type: ISSUE, first: 1) { issueCount } }"#, Err("acme/secret")),
        (r#"{ search(query: "org:tools", type: ISSUE, first: 1) { issueCount } }"#, Ok(())),
        (r#"{ repository(owner: "evil", name: "w") { name } }"#, Err("evil")),
    ];
    for (doc, want) in cases {
        match (run(doc), want) {
            (Ok(_), Ok(())) => {}
            (Err(e), Err(text)) => {
                assert_eq!(e.status(), 403, "{doc}: {e}");
                assert!(e.to_string().contains(text), "{doc}: {e}");
            }
            (got, _) => panic!("{doc}: {got:?}"),
        }
    }
    let allowed = |owner: &str, name: Option<&str>| match name {
        Some(name) => agent.covers_repo(owner, name),
        None => agent.covers_owner(owner),
    };
    let answer = json!({"data": {"repository": {
        "ghpool_t": "Repository", "ghpool_n": "acme/w",
        "parent": repo("acme/secret"),
        "template": repo("tools/kit"),
        "owner": {"ghpool_t": "Organization", "ghpool_l": "acme", "membersWithRole": {"totalCount": 3}},
        "creator": {"ghpool_t": "Organization", "ghpool_l": "tools", "name": "Tools"},
    }}});
    let screened = screen::screen_repositories(answer.to_string().as_bytes(), GithubSchema::github(), allowed);
    let body: Value = serde_json::from_slice(&screened.body).unwrap();
    let data = &body["data"]["repository"];
    assert_eq!(screened.withheld, 2, "{body}");
    assert_eq!(data["parent"], Value::Null, "another acme repository");
    assert_eq!(data["owner"], Value::Null, "acme as a whole (its members) is not the agent's");
    assert_eq!(data["template"], json!({}), "a tools repository stays");
    assert_eq!(data["creator"]["name"], "Tools", "tools as a whole is the agent's");
}
