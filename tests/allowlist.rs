//! Issue #20: the allowlist by construction, through the real binary, against a fake GitHub whose
//! pool identity can see other owners' private repositories. Each test is named after the item of
//! the issue it guards and judged by what reached the client and by the fake's request log (which
//! token reached GitHub, with what).

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::fake_github::FakeGithub;
use support::ghpool::{client, start_pool, GhpoolProcess};

const POOL_TOKEN: &str = "ghp_poolPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPP";
const CLIENT_TOKEN: &str = "ghp_clientCCCCCCCCCCCCCCCCCCCCCCCCCCCCC";
const SECRET: &str = "AWS_SECRET_ACCESS_KEY=evil-private-contents";

/// acme (allowed) and evilcorp (not): evilcorp has a private repository holding `SECRET`, a private
/// fork of acme's repository, an issue that mentions acme's issue 1, a pull request into acme's
/// repository from its fork; alice is both an acme member and an author of acme's issues.
fn world() -> FakeGithub {
    let fake = FakeGithub::start();
    fake.add_token(POOL_TOKEN, "poolbot");
    fake.add_token(CLIENT_TOKEN, "carol");
    fake.add_repo("acme", "widgets");
    fake.add_issues("acme", "widgets", 3);
    fake.add_private_repo("evilcorp", "secret");
    fake.add_issues("evilcorp", "secret", 2);
    fake.set_file("evilcorp", "secret", "README.md", SECRET);
    fake.add_fork("acme", "widgets", "evilcorp", "widgets-fork", true);
    fake.add_cross_reference(("evilcorp", "secret", 1), ("acme", "widgets", 1));
    fake.add_pull_request_from("acme", "widgets", "From a fork", "evilcorp", "widgets-fork");
    fake.add_member("acme", "evilcorp");
    fake
}

fn start(fake: &FakeGithub, extra: &[(&str, &str)]) -> GhpoolProcess {
    start_pool(&fake.base_url(), "acme", &[("main", POOL_TOKEN)], extra)
}

fn get(gp: &GhpoolProcess, path: &str) -> (u16, String) {
    let resp = client().get(gp.url(path)).send().expect("ghpool answers");
    let status = resp.status().as_u16();
    (status, resp.text().unwrap_or_default())
}

fn graphql(gp: &GhpoolProcess, query: &str) -> (u16, Value) {
    let resp = client().post(gp.url("/graphql")).json(&json!({ "query": query })).send().expect("ghpool answers");
    let status = resp.status().as_u16();
    (status, resp.json().unwrap_or(Value::Null))
}

/// Every request that reached the fake with the pool's token, but ghpool's own look-ups of its
/// identities (`/user`, `/rate_limit`).
fn pooled(fake: &FakeGithub) -> Vec<String> {
    let own = |path: &str| path == "/user" || path == "/rate_limit";
    let requests = fake.requests().into_iter().filter(|r| r.token.as_deref() == Some(POOL_TOKEN));
    requests.map(|r| r.path).filter(|p| !own(p)).collect()
}

#[test]
fn negated_and_unscoped_searches_are_refused_20() {
    let fake = world();
    let gp = start(&fake, &[]);
    let refused = [
        "/search/issues?q=-org:acme+is:private",
        "/search/code?q=-repo:acme/widgets+AWS_SECRET_ACCESS_KEY",
        "/search/repositories?q=-user:acme",
        "/search/commits?q=NOT+org:acme+fix",
        "/search/issues?q=repo:acme/widgets+OR+is:private",
        "/search/issues?q=(repo:acme/widgets+OR+label:x)+OR+is:private",
        "/search/issues?q=repo:acme/widgets,evilcorp/secret",
        "/search/issues?q=repo:acme/widgets;q=org:evilcorp",
        "/search/issues?q=repo:acme/widgets&q=org:evilcorp",
        "/search/issues?q=org:acme+org:evilcorp",
    ];
    for path in refused {
        let (status, body) = get(&gp, path);
        assert!(status == 403 || status == 400, "{path}: {status} {body}");
    }
    for query in [
        r#"{ search(query: "-org:acme is:private", type: REPOSITORY, first: 100) { repositoryCount } }"#,
        r#"{ search(query: "repo:acme/widgets OR is:private", type: ISSUE, first: 5) { issueCount } }"#,
    ] {
        let (status, body) = graphql(&gp, query);
        assert_eq!(status, 403, "{query}: {body}");
    }
    assert!(pooled(&fake).is_empty(), "nothing went upstream: {:?}", pooled(&fake));
    // A search confined to allowed owners still goes through.
    let (status, body) = get(&gp, "/search/issues?q=repo:acme/widgets+is:open");
    assert_ne!(status, 403, "{body}");
}

#[test]
fn graphql_traversals_to_other_owners_are_screened_20() {
    let fake = world();
    let gp = start(&fake, &[]);
    let documents = [
        // An issue author's repository, then a file in it.
        r#"{ repository(owner: "acme", name: "widgets") { issues(first: 5) { nodes { author { ... on User {
            repository(name: "secret") { object(expression: "HEAD:README.md") { ... on Blob { text } } } } } } } } }"#,
        // The parent of a fork, and forks.
        r#"{ repository(owner: "acme", name: "widgets") { forks(first: 10) { nodes { nameWithOwner isPrivate
            object(expression: "HEAD:README.md") { ... on Blob { text } } } } } }"#,
        // Members' private repositories.
        r#"{ organization(login: "acme") { membersWithRole(first: 10) { nodes {
            repositories(first: 10, privacy: PRIVATE) { nodes { nameWithOwner
            object(expression: "HEAD:README.md") { ... on Blob { text } } } } } } } }"#,
        // Cross-references from another owner's private issue.
        r#"{ repository(owner: "acme", name: "widgets") { issue(number: 1) { timelineItems(first: 10) { nodes {
            ... on CrossReferencedEvent { source { ... on Issue { title body repository { nameWithOwner } } } } } } } } }"#,
    ];
    for document in documents {
        let (status, body) = graphql(&gp, document);
        let text = body.to_string();
        assert!(!text.contains("evil-private-contents"), "{document}\n→ {text}");
        assert!(!text.contains("evilcorp/secret"), "{document}\n→ {text}");
        assert!(!text.contains("Body of evilcorp"), "{document}\n→ {text}");
        if status == 200 {
            let forbidden = body["errors"].as_array().is_some_and(|e| e.iter().any(|e| e["type"] == "FORBIDDEN"));
            let fake_saw = pooled(&fake).iter().any(|p| p == "/graphql");
            assert!(forbidden || !fake_saw, "withheld objects are named in errors: {text}");
        } else {
            assert_eq!(status, 403, "{document}: {text}");
        }
    }
    // `followRenames` (the default) answers a repository renamed into another owner: screened.
    fake.rename_repo("acme", "old-name", "evilcorp", "renamed");
    let (_, body) = graphql(&gp, r#"{ repository(owner: "acme", name: "old-name") { nameWithOwner isPrivate } }"#);
    assert!(!body.to_string().contains("evilcorp/renamed"), "{body}");
    // What is the allowed owner's stays.
    let (status, body) = graphql(&gp, r#"{ repository(owner: "acme", name: "widgets") { nameWithOwner } }"#);
    assert_eq!((status, body["data"]["repository"]["nameWithOwner"].as_str()), (200, Some("acme/widgets")), "{body}");
}

#[test]
fn a_fragment_bomb_is_refused_in_linear_time_and_ghpool_stays_up_20() {
    let fake = world();
    let gp = start(&fake, &[]);
    let mut document = String::from("query { ...F0 }\n");
    for i in 0..40 {
        document.push_str(&format!("fragment F{i} on Query {{ ...F{} ...F{} }}\n", i + 1, i + 1));
    }
    document.push_str("fragment F40 on Query { rateLimit { remaining } }\n");
    let started = Instant::now();
    let sender = {
        let url = gp.url("/graphql");
        let body = json!({ "query": document }).to_string();
        std::thread::spawn(move || {
            let resp = client().post(url).header("content-type", "application/json").body(body).send();
            resp.map(|r| r.status().as_u16()).unwrap_or(0)
        })
    };
    // ghpool answers its health check meanwhile, and the bomb itself, promptly.
    let (status, _) = get(&gp, "/healthz");
    assert_eq!(status, 200);
    let status = sender.join().expect("sender");
    assert_eq!(status, 400);
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    assert!(fake.requests_to("/graphql").is_empty());
}

#[test]
fn made_up_tokens_do_not_make_new_clients_and_lookups_are_charged_20() {
    let fake = world();
    let evil_id = fake.add_repo("evilcorp", "public");
    let gp = start(
        &fake,
        &[("GHPOOL_FAIRNESS_CLIENT_KEY", "token"), ("GHPOOL_FAIRNESS_PER_MINUTE", "3"), ("GHPOOL_FAIRNESS_BURST", "3")],
    );
    let mut upstream = 0;
    for i in 0..8 {
        let resp = client()
            .get(gp.url(&format!("/repos/acme/widgets/issues?page={i}")))
            .header("authorization", format!("token made-up-{i}"))
            .send()
            .unwrap();
        if resp.status() == 200 {
            upstream += 1;
        }
    }
    assert_eq!(upstream, 3, "one client, whatever token it makes up");
    assert_eq!(pooled(&fake).len(), 3);

    // A repository id the allowlist excludes: GitHub's 404, no owner named; asked once.
    let gp = start(&fake, &[]);
    fake.clear_log();
    for _ in 0..3 {
        let (status, body) = get(&gp, &format!("/repositories/{evil_id}/issues"));
        assert_eq!(status, 404, "{body}");
        assert!(!body.contains("evilcorp"), "{body}");
    }
    let (status, _) = get(&gp, "/repositories/999999/issues");
    assert_eq!(status, 404);
    let (status, _) = get(&gp, "/repositories/999999/issues");
    assert_eq!(status, 404);
    let lookups: Vec<String> = pooled(&fake);
    assert_eq!(
        lookups,
        vec![format!("/repositories/{evil_id}"), "/repositories/999999".to_string()],
        "failures remembered"
    );

    // A write names its repository with the client's own token, never the pool's.
    fake.clear_log();
    let resp = client()
        .post(gp.url("/repositories/424242/issues"))
        .header("authorization", "token x")
        .json(&json!({ "title": "t" }))
        .send()
        .unwrap();
    assert_ne!(resp.status(), 201);
    assert!(pooled(&fake).is_empty(), "the pool paid for a write's look-up: {:?}", fake.requests());
}

#[test]
fn low_items_20() {
    let fake = world();
    let gp = start(&fake, &[]);
    // JSON-P is refused.
    let (status, _) = get(&gp, "/repos/acme/widgets?callback=cb");
    assert_eq!(status, 400);
    // Repeated parameters keep their order: two entries, two upstream reads.
    fake.clear_log();
    get(&gp, "/repos/acme/widgets/issues?per_page=3&per_page=7");
    get(&gp, "/repos/acme/widgets/issues?per_page=7&per_page=3");
    assert_eq!(fake.requests_to("/repos/acme/widgets/issues").len(), 2);
    // X-Github-Next-Global-ID is part of the key.
    fake.clear_log();
    client().get(gp.url("/repos/acme/widgets")).send().unwrap();
    client().get(gp.url("/repos/acme/widgets")).header("x-github-next-global-id", "1").send().unwrap();
    assert_eq!(fake.requests_to("/repos/acme/widgets").len(), 2);
    // Two Accept lines: refused, not keyed by one and sent with both.
    let resp = client()
        .get(gp.url("/repos/acme/widgets"))
        .header("accept", "application/vnd.github+json")
        .header("accept", "application/vnd.github.raw")
        .send()
        .unwrap();
    assert_eq!(resp.status(), 400);
    // A mutation GitHub refused (200 with errors) purges nothing.
    fake.clear_log();
    get(&gp, "/repos/acme/widgets/issues");
    let refused =
        json!({ "query": "mutation { addComment(input: {subjectId: \"nope\", body: \"x\"}) { clientMutationId } }" });
    let resp = client()
        .post(gp.url("/graphql"))
        .header("authorization", format!("token {CLIENT_TOKEN}"))
        .json(&refused)
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    let (status, _) = get(&gp, "/repos/acme/widgets/issues");
    assert_eq!(status, 200);
    assert_eq!(fake.requests_to("/repos/acme/widgets/issues").len(), 1, "the cache was kept");
}

#[test]
fn rest_answers_are_screened_20() {
    let fake = world();
    let gp = start(&fake, &[]);
    let (status, body) = get(&gp, "/repos/acme/widgets/issues/1/timeline");
    assert_eq!(status, 200, "{body}");
    assert!(!body.contains("evilcorp"), "{body}");
    let resp = client().get(gp.url("/repos/acme/widgets/forks")).send().unwrap();
    assert_eq!(resp.headers().get("x-ghpool-screened").and_then(|v| v.to_str().ok()), Some("owners"));
    let forks: Value = resp.json().unwrap();
    assert_eq!(forks, json!([]), "the private fork of another owner is withheld");
    let (status, body) = get(&gp, "/repos/acme/widgets/pulls/4");
    assert_eq!(status, 200, "{body}");
    let pull: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(pull["head"]["repo"], Value::Null, "{body}");
    assert_eq!(pull["base"]["repo"]["full_name"], "acme/widgets", "{body}");
    let metrics = get(&gp, "/metrics").1;
    assert!(metrics.contains("ghpool_withheld_objects_total{api=\"rest\"}"), "{metrics}");
}

#[test]
fn sensitive_endpoints_are_never_served_with_the_pool_20() {
    let fake = world();
    let gp = start(&fake, &[]);
    for path in [
        "/orgs/acme/credential-authorizations",
        "/orgs/acme/audit-log",
        "/orgs/acme/hooks",
        "/orgs/acme/hooks/1/config",
        "/orgs/acme/installations",
        "/orgs/acme/invitations",
        "/orgs/acme/personal-access-tokens",
        "/orgs/acme/actions/secrets",
        "/repos/acme/widgets/hooks",
        "/repos/acme/widgets/keys",
        "/repos/acme/widgets/actions/secrets",
        "/repos/acme/widgets/invitations",
    ] {
        let (status, body) = get(&gp, path);
        assert_eq!(status, 403, "{path}: {body}");
    }
    assert!(pooled(&fake).is_empty(), "{:?}", pooled(&fake));
}

#[test]
fn pooled_requests_carry_only_what_was_checked_20() {
    let fake = world();
    let gp = start(&fake, &[]);
    // A body on a GET.
    let resp = client().get(gp.url("/repos/acme/widgets")).body("x=1").send().unwrap();
    assert_eq!(resp.status(), 400);
    // The URL part of a GraphQL POST.
    let resp = client()
        .post(gp.url("/graphql?query=%7Bviewer%7Blogin%7D%7D"))
        .json(&json!({ "query": "{ rateLimit { remaining } }" }))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 400);
    // Operation names and arguments GitHub's validator would read differently.
    for document in [
        r#"query A { repository(owner: "acme", name: "widgets") { id } } mutation A { addStar(input: {starrableId: "x"}) { clientMutationId } }"#,
        r#"{ repository(owner: "acme", owner: "evilcorp", name: "secret") { id } }"#,
    ] {
        let (status, body) = graphql(&gp, document);
        assert_eq!(status, 400, "{document}: {body}");
    }
    // A second owner later in the path.
    for path in ["/users/acme/events/orgs/evilcorp", "/repos/acme/widgets/compare/main...evilcorp:branch"] {
        let (status, body) = get(&gp, path);
        assert_eq!(status, 403, "{path}: {body}");
    }
    assert!(pooled(&fake).is_empty(), "{:?}", pooled(&fake));
    // Headers: only the allow-list goes upstream, and never a method override.
    let resp = client()
        .get(gp.url("/repos/acme/widgets/issues"))
        .header("x-http-method-override", "DELETE")
        .header("x-method-override", "DELETE")
        .header("cookie", "session=1")
        .header("x-anything", "1")
        .header("authorization", format!("token {CLIENT_TOKEN}"))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    let sent = fake.requests_to("/repos/acme/widgets/issues");
    let names: Vec<&str> = sent[0].headers.iter().map(|(n, _)| n.as_str()).collect();
    for name in names.iter() {
        assert!(
            ["host", "accept", "user-agent", "x-github-api-version", "content-length"].contains(name),
            "{name} went upstream on a pooled read: {names:?}"
        );
    }
    assert_eq!(sent[0].token.as_deref(), Some(POOL_TOKEN));
}

#[test]
fn a_head_miss_leaves_no_lock_behind_20() {
    let fake = world();
    let gp = start(&fake, &[]);
    let resp = client().head(gp.url("/repos/acme/widgets/issues")).send().unwrap();
    assert_eq!(resp.status(), 200);
    let started = Instant::now();
    let resp = client().get(gp.url("/repos/acme/widgets/issues")).timeout(Duration::from_secs(5)).send().unwrap();
    assert_eq!(resp.status(), 200);
    assert!(started.elapsed() < Duration::from_secs(3), "the GET waited {:?}", started.elapsed());
}

/// A raw request whose head declares `declared` body bytes, of which `sent` are written.
fn raw_post(gp: &GhpoolProcess, path: &str, headers: &str, declared: usize, body: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", gp.port())).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let head = format!("POST {path} HTTP/1.1\r\nhost: ghpool\r\ncontent-type: application/json\r\ncontent-length: {declared}\r\n{headers}\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    let _ = stream.write_all(body);
    let mut answer = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                answer.extend_from_slice(&buf[..n]);
                if answer.windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
        }
    }
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, text)
}

fn commit_mutation(bytes: usize) -> Vec<u8> {
    use std::fmt::Write as _;
    let mut contents = String::with_capacity(bytes);
    let mut i = 0u64;
    while contents.len() < bytes {
        let _ = write!(contents, "{i:016x}");
        i += 1;
    }
    let body = json!({
        "query": "mutation Commit($input: CreateCommitOnBranchInput!) { createCommitOnBranch(input: $input) { commit { oid url } } }",
        "variables": { "input": {
            "branch": { "repositoryNameWithOwner": "acme/widgets", "branchName": "main" },
            "message": { "headline": "Add a large file" },
            "expectedHeadOid": "0000000000000000000000000000000000000000",
            "fileChanges": { "additions": [{ "path": "big.txt", "contents": contents }] },
        } },
    });
    serde_json::to_vec(&body).unwrap()
}

/// `POST /graphql` of `body` with the client's own token.
fn post_with_token(gp: &GhpoolProcess, body: &[u8]) -> reqwest::blocking::Response {
    client()
        .post(gp.url("/graphql"))
        .header("authorization", format!("bearer {CLIENT_TOKEN}"))
        .header("content-type", "application/json")
        .body(body.to_vec())
        .send()
        .expect("ghpool answers")
}

/// Issue #19: a mutation of several megabytes reaches GitHub whole, with the client's token.
#[test]
fn a_large_mutation_passes_through_byte_for_byte_19() {
    use sha2::Digest;
    let fake = world();
    let gp = start(&fake, &[]);
    let body = commit_mutation(4 << 20);
    let resp = post_with_token(&gp, &body);
    assert_eq!(resp.status(), 200);
    let answer: Value = resp.json().unwrap();
    assert!(answer["data"]["createCommitOnBranch"]["commit"]["oid"].is_string(), "{answer}");
    let sent = fake.requests_to("/graphql");
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].token.as_deref(), Some(CLIENT_TOKEN));
    assert_eq!(sent[0].body_len, body.len());
    let digest: String = sha2::Sha256::digest(&body).iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(sent[0].body_sha256, digest);
    assert!(gp.wait_for_log("graphql_variables=input", Duration::from_secs(5)), "{}", gp.log());
    assert!(!gp.log().contains("0000000000000001"), "the audit names variables, never their values");
}

#[test]
fn large_bodies_without_a_token_or_as_queries_never_reach_github_19() {
    let fake = world();
    let gp = start(&fake, &[]);
    // 5 MB declared, 100 KB sent: answered 401 before the rest.
    let body = commit_mutation(5 << 20);
    let (status, text) = raw_post(&gp, "/graphql", "", body.len(), &body[..100 << 10]);
    assert_eq!(status, 401, "{text}");
    // A pooled query over the cap.
    let big = "x".repeat(100 << 10);
    let query = json!({ "query": "query Q($x: String!) { repository(owner: \"acme\", name: $x) { id } }", "variables": { "x": big } });
    let resp = client().post(gp.url("/graphql")).json(&query).send().unwrap();
    assert_eq!(resp.status(), 413);
    assert!(resp.text().unwrap().contains("query"));
    let resp = client()
        .post(gp.url("/graphql"))
        .header("authorization", format!("token {CLIENT_TOKEN}"))
        .json(&query)
        .send()
        .unwrap();
    assert_eq!(resp.status(), 413);
    assert!(fake.requests_to("/graphql").is_empty());
}

#[test]
fn a_slow_large_mutation_times_out_cleanly_19() {
    let fake = world();
    let gp = start(&fake, &[]);
    let body = commit_mutation(1 << 20);
    let started = Instant::now();
    let auth = format!("authorization: token {CLIENT_TOKEN}\r\n");
    let (status, text) = raw_post(&gp, "/graphql", &auth, body.len(), &body[..200 << 10]);
    assert_eq!(status, 408, "{text}");
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(fake.requests_to("/graphql").is_empty());
    let (status, _) = get(&gp, "/healthz");
    assert_eq!(status, 200);
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap_or("VmRSS: 0 kB");
    line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).unwrap_or(0)
}

#[test]
fn memory_stays_flat_across_large_mutations_19() {
    let fake = world();
    let gp = start(&fake, &[]);
    let body = commit_mutation(4 << 20);
    let send = || assert_eq!(post_with_token(&gp, &body).status(), 200);
    for _ in 0..3 {
        send();
    }
    let warm = rss_kib(gp.pid());
    for _ in 0..20 {
        send();
    }
    let after = rss_kib(gp.pid());
    // 20 × 4 MiB bodies went through: a retained body would show as 80 MiB or more.
    assert!(after < warm + 40 * 1024, "RSS grew from {warm} KiB to {after} KiB");
}
