//! Issue #3: classification and access control through the real binary. The fake GitHub's request
//! log proves what leaked and what did not.

mod support;

use support::fake_github::FakeGithub;
use support::ghpool::{client, GhpoolProcess};

const POOL_TOKEN: &str = "ghp_poolPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPP";
const CLIENT_TOKEN: &str = "ghp_clientCCCCCCCCCCCCCCCCCCCCCCCCCCCCC";

struct Setup {
    fake: FakeGithub,
    gp: GhpoolProcess,
    acme_id: u64,
    evil_id: u64,
}

fn setup() -> Setup {
    let fake = FakeGithub::start();
    fake.add_token(POOL_TOKEN, "poolbot");
    fake.add_token(CLIENT_TOKEN, "carol");
    let acme_id = fake.add_repo("acme", "widgets");
    let evil_id = fake.add_repo("evil", "secrets");
    fake.add_issues("acme", "widgets", 40);
    let upstream = fake.base_url();
    let gp = GhpoolProcess::start(&[
        ("GHPOOL_UPSTREAM", upstream.as_str()),
        ("GHPOOL_ALLOWED_OWNERS", "acme"),
        ("GHPOOL_PAT_POOL", "env:POOL_TOKEN"),
        ("POOL_TOKEN", POOL_TOKEN),
    ]);
    Setup { fake, gp, acme_id, evil_id }
}

fn graphql(gp: &GhpoolProcess, body: serde_json::Value, auth: Option<&str>) -> (u16, serde_json::Value) {
    let mut req = client().post(gp.url("/graphql")).json(&body);
    if let Some(token) = auth {
        req = req.header("authorization", format!("bearer {token}"));
    }
    let resp = req.send().unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().unwrap_or(serde_json::Value::Null))
}

fn graphql_calls(fake: &FakeGithub) -> usize {
    fake.requests_to("/graphql").len()
}

#[test]
fn graphql_queries_are_pooled_when_every_owner_is_allowed() {
    let s = setup();
    let body = serde_json::json!({
        "query": "# a comment first\nquery IssueList($owner: String!, $repo: String!) { repository(owner: $owner, name: $repo) { id } }",
        "variables": {"owner": "ACME", "repo": "widgets"},
    });
    let (status, _) = graphql(&s.gp, body, Some(CLIENT_TOKEN));
    assert_eq!(status, 200);
    let calls = s.fake.requests_to("/graphql");
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].token.as_deref(), Some(POOL_TOKEN), "a query is a pooled read: pool token, not the client's");

    // The same under GitHub Enterprise's layout.
    let resp = client()
        .post(s.gp.url("/api/graphql"))
        .json(&serde_json::json!({"query": "{ organization(login: \"acme\") { id } }"}))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(graphql_calls(&s.fake), 2);
}

#[test]
fn graphql_refusals_never_reach_github() {
    let s = setup();
    let cases: Vec<(&str, serde_json::Value, u16, &str)> = vec![
        (
            "disallowed owner",
            serde_json::json!({"query": "{ repository(owner: \"evil\", name: \"secrets\") { id } }"}),
            403,
            "evil",
        ),
        (
            "disallowed owner through a variable and a fragment",
            serde_json::json!({"query": "fragment F on Query { repository(owner: $o, name: \"s\") { id } } query Q($o: String!) { ...F }", "variables": {"o": "Evil"}}),
            403,
            "evil",
        ),
        ("viewer", serde_json::json!({"query": "{ viewer { login } }"}), 403, "viewer"),
        ("node under relay", serde_json::json!({"query": "{ relay { node(id: \"x\") { id } } }"}), 403, "relay"),
        (
            "unscoped search",
            serde_json::json!({"query": "{ search(query: \"password\", type: ISSUE, first: 1) { issueCount } }"}),
            403,
            "search",
        ),
        ("subscription", serde_json::json!({"query": "subscription { x }"}), 400, "subscription"),
        (
            "two operations",
            serde_json::json!({"query": "query A { rateLimit { limit } } query B { rateLimit { limit } }"}),
            400,
            "operationName",
        ),
        (
            "unknown operationName",
            serde_json::json!({"query": "query A { rateLimit { limit } }", "operationName": "B"}),
            400,
            "B",
        ),
        ("garbage", serde_json::json!({"query": "{{{"}), 400, "Parse error"),
        ("no query", serde_json::json!({"variables": {}}), 400, "query"),
    ];
    for (name, body, want, needle) in cases {
        let (status, answer) = graphql(&s.gp, body, None);
        assert_eq!(status, want, "{name}: {answer}");
        let message = answer["message"].as_str().unwrap_or_default();
        assert!(message.contains(needle), "{name}: {message}");
        assert!(answer["documentation_url"].is_string(), "{name}: GitHub's error shape");
    }
    let resp = client().post(s.gp.url("/graphql")).body("not json").send().unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(graphql_calls(&s.fake), 0, "nothing refused reached GitHub");
}

/// `node(id:)` names no owner: ghpool asks GitHub which repository each node is in and answers
/// only for nodes in allowed owners' repositories; another owner's gets `null` and GitHub's
/// `FORBIDDEN` error, from GitHub and from the cache alike.
#[test]
fn nodes_by_id_are_answered_only_within_allowed_owners() {
    let s = setup();
    s.fake.add_issues("evil", "secrets", 3);
    let (mine, theirs) = (format!("I_fake{}_1", s.acme_id), format!("I_fake{}_2", s.evil_id));
    let body = serde_json::json!({
        "query": "query($a: ID!, $b: ID!) { one: node(id: $a) { ... on Issue { title } } \
                  nodes(ids: [$a, $b]) { id ... on Issue { title body } } }",
        "variables": {"a": mine, "b": theirs},
    });
    for outcome in ["MISS", "HIT"] {
        let resp = client().post(s.gp.url("/graphql")).json(&body).send().unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["x-ghpool-cache"], outcome);
        let answer: serde_json::Value = resp.json().unwrap();
        assert_eq!(answer["data"]["one"], serde_json::json!({"title": "Issue 1"}), "{outcome}");
        let allowed = serde_json::json!({"id": mine, "title": "Issue 1", "body": "Body of #1"});
        assert_eq!(answer["data"]["nodes"], serde_json::json!([allowed, null]), "{outcome}");
        assert_eq!(answer["errors"][0]["type"], "FORBIDDEN");
        assert_eq!(answer["errors"][0]["path"], serde_json::json!(["nodes", 1]));
        let text = answer.to_string();
        assert!(!text.contains("Body of #2") && !text.contains("ghpoolProbe"), "{text}");
    }
    let calls = s.fake.requests_to("/graphql");
    assert_eq!(calls.len(), 1, "one pooled call, then the cache");
    assert_eq!(calls[0].token.as_deref(), Some(POOL_TOKEN));
}

#[test]
fn graphql_bodies_over_the_limit_are_refused_with_413() {
    let s = setup();
    let padding = "#".repeat(70 * 1024);
    let body = serde_json::json!({"query": format!("{padding}\n{{ rateLimit {{ limit }} }}")});
    let (status, answer) = graphql(&s.gp, body, None);
    assert_eq!(status, 413, "{answer}");
    assert_eq!(graphql_calls(&s.fake), 0);
    // Just under the limit still works: the whole body reaches GitHub.
    let padding = "#".repeat(60 * 1024);
    let body = serde_json::json!({"query": format!("{padding}\n{{ rateLimit {{ limit }} }}")});
    assert_eq!(graphql(&s.gp, body, None).0, 200);
    assert_eq!(graphql_calls(&s.fake), 1);
}

#[test]
fn mutations_pass_through_with_the_clients_token_and_are_audited() {
    let s = setup();
    let mutation = serde_json::json!({
        "query": "query Q { rateLimit { limit } } mutation AddComment { addComment(input: {subjectId: \"x\", body: \"hi\"}) { clientMutationId } }",
        "operationName": "AddComment",
    });
    let (status, answer) = graphql(&s.gp, mutation.clone(), None);
    assert_eq!(status, 401, "{answer}");
    assert_eq!(graphql_calls(&s.fake), 0);

    for _ in 0..2 {
        assert_eq!(graphql(&s.gp, mutation.clone(), Some(CLIENT_TOKEN)).0, 200);
    }
    let calls = s.fake.requests_to("/graphql");
    assert_eq!(calls.len(), 2, "two identical writes, two upstream calls: never cached or coalesced");
    assert!(calls.iter().all(|c| c.token.as_deref() == Some(CLIENT_TOKEN)), "the client's own token");

    // REST writes too, and the audit resolves the login once per token.
    let resp = client()
        .patch(s.gp.url("/repos/acme/widgets/issues/1"))
        .header("authorization", format!("token {CLIENT_TOKEN}"))
        .body("{}")
        .send()
        .unwrap();
    assert_ne!(resp.status(), 401);
    let resp = client()
        .post(s.gp.url("/repos/evil/secrets/issues"))
        .header("authorization", format!("token {CLIENT_TOKEN}"))
        .body("{}")
        .send()
        .unwrap();
    assert_eq!(resp.status(), 403, "writes are held to the allowlist too");
    assert!(s.fake.requests_to("/repos/evil").is_empty());

    std::thread::sleep(std::time::Duration::from_millis(300));
    let log = s.gp.log();
    let audit: Vec<&str> = log.lines().filter(|l| l.contains("audit time=")).collect();
    assert_eq!(audit.len(), 3, "one audit line per passthrough request:\n{log}");
    assert!(audit[0].contains("login=carol") && audit[0].contains("graphql_kind=mutation"));
    assert!(audit[0].contains("graphql_operation=AddComment") && audit[0].contains("status=200"));
    assert!(audit[2].contains("method=PATCH") && audit[2].contains("path=/repos/acme/widgets/issues/1"));
    let user_calls: Vec<_> =
        s.fake.requests_to("/user").into_iter().filter(|r| r.token.as_deref() == Some(CLIENT_TOKEN)).collect();
    assert_eq!(user_calls.len(), 1, "the login is cached by the token's digest");
    assert!(!log.contains(CLIENT_TOKEN) && !log.contains(POOL_TOKEN), "no token in any log line");
}

#[test]
fn rest_tricks_aimed_at_a_disallowed_owner_are_refused() {
    let s = setup();
    let evil_repo = format!("/repositories/{}/issues", s.evil_id);
    let tricks: Vec<String> = [
        "/repos/evil/secrets",
        "/repos/EVIL/secrets",
        "/repos/Evil/secrets/issues",
        "/repos/acme/../evil/secrets",
        "/repos/acme/%2e%2e/evil/secrets",
        "/repos/acme/%2E%2E/evil/secrets",
        "/repos/acme/widgets/../../evil/secrets",
        "/repos/acme%2Fevil/secrets",
        "/repos/acme%2fevil/secrets",
        "/repos/%65vil/secrets",
        "/repos/%2565vil/secrets",
        "/repos/evil%00/secrets",
        "/repos/acme%00/../evil/secrets",
        "/repos//evil/secrets",
        "//repos/evil/secrets",
        "/repos/./evil/secrets",
        "/repos/evil./secrets",
        "/repos/acme%5C..%5Cevil/secrets",
        "/orgs/evil/repos",
        "/users/evil/repos",
        "/api/v3/repos/evil/secrets",
        "/api/v3/../repos/evil/secrets",
        "/api/v3//repos/evil/secrets",
        "/search/issues?q=repo:evil/secrets",
        "/search/issues?q=repo:acme/widgets+repo:evil/secrets",
        "/search/code?q=org:acme&q=org:evil",
        "/search/issues?q=password",
        "/user/repos",
        "/user",
        "/notifications",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([evil_repo])
    .collect();
    assert!(tricks.len() >= 25);
    let raw = reqwest::blocking::Client::builder().timeout(std::time::Duration::from_secs(10)).build().unwrap();
    for trick in &tricks {
        // reqwest would normalize dot segments; send the raw request line over a socket instead.
        let status = raw_get(s.gp.port(), trick);
        assert!(matches!(status, 400 | 403 | 404), "{trick} answered {status}");
    }
    let _ = raw;
    let leaked: Vec<String> = s
        .fake
        .requests()
        .into_iter()
        .filter(|r| {
            r.path.to_ascii_lowercase().contains("evil") || r.path.contains("/user/") || r.path == "/notifications"
        })
        .map(|r| r.path)
        .collect();
    assert!(leaked.is_empty(), "requests that reached GitHub: {leaked:?}");
}

/// A GET with the target exactly as given; returns the status code.
fn raw_get(port: u16, target: &str) -> u16 {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
    write!(stream, "GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
}

#[test]
fn repository_ids_are_resolved_before_the_allowlist_decides() {
    let s = setup();
    // Unknown allowed id: one pooled GET /repositories/{id}, then the read.
    let path = format!("/repositories/{}/issues?page=2", s.acme_id);
    let resp = client().get(s.gp.url(&path)).send().unwrap();
    assert_eq!(resp.status(), 200);
    let resolves = s.fake.requests_to(&format!("/repositories/{}", s.acme_id));
    assert_eq!(resolves.len(), 2, "the resolution and the read: {resolves:?}");
    assert!(resolves.iter().all(|r| r.token.as_deref() == Some(POOL_TOKEN)));

    // Known now: no second resolution (another page, so the cache does not answer).
    s.fake.clear_log();
    let path = format!("/repositories/{}/issues?page=1", s.acme_id);
    assert_eq!(client().get(s.gp.url(&path)).send().unwrap().status(), 200);
    assert_eq!(s.fake.requests().len(), 1);

    // A disallowed repository by id: resolved, refused as GitHub refuses what one cannot see (404,
    // its owner not named), its issues never fetched.
    s.fake.clear_log();
    let path = format!("/repositories/{}/issues", s.evil_id);
    let resp = client().get(s.gp.url(&path)).send().unwrap();
    assert_eq!(resp.status(), 404);
    assert!(!resp.text().unwrap().contains("evil"));
    let seen: Vec<String> = s.fake.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(seen, [format!("/repositories/{}", s.evil_id)]);

    // An id GitHub does not know: 404, nothing else fetched.
    assert_eq!(client().get(s.gp.url("/repositories/999999/issues")).send().unwrap().status(), 404);
}

#[test]
fn pagination_links_by_repository_id_are_followed_through_the_proxy() {
    let s = setup();
    // Reading the repository teaches ghpool its id: following the Link costs no resolution.
    assert_eq!(client().get(s.gp.url("/repos/acme/widgets")).send().unwrap().status(), 200);
    let resp = client().get(s.gp.url("/repos/acme/widgets/issues")).send().unwrap();
    let link = resp.headers()["link"].to_str().unwrap().to_string();
    let next = link.split(',').find(|l| l.contains("rel=\"next\"")).unwrap();
    let url = next.trim().trim_start_matches('<').split('>').next().unwrap();
    let path = &url[url.find("/repositories/").unwrap()..];
    s.fake.clear_log();
    let resp = client().get(s.gp.url(path)).send().unwrap();
    assert_eq!(resp.status(), 200);
    let issues: serde_json::Value = resp.json().unwrap();
    assert_eq!(issues.as_array().unwrap().len(), 10, "page 2 of 40 issues at 30 per page");
    let seen: Vec<String> = s.fake.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(seen, [path.to_string()], "no resolution call: the id was learned from the repo JSON");
}

#[test]
fn rate_limit_is_answered_from_the_pools_own_state() {
    let s = setup();
    s.fake.clear_log();
    let answer = s.gp.get_json("/api/v3/rate_limit");
    assert!(s.fake.requests().is_empty(), "GET /rate_limit never reaches GitHub");
    let core = &answer["resources"]["core"];
    assert_eq!(core["limit"], 5000);
    let remaining = core["remaining"].as_u64().unwrap();
    assert!(remaining < 5000 && remaining == s.fake.remaining("poolbot", "core"), "{answer}");
    assert_eq!(answer["rate"], answer["resources"]["core"]);
}

#[test]
fn a_graphql_body_that_never_arrives_is_answered_408_not_held_forever() {
    use std::io::{Read, Write};
    let s = setup();
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", s.gp.port())).unwrap();
    stream.set_read_timeout(Some(std::time::Duration::from_secs(30))).unwrap();
    // Promise 100 bytes, send 10, then nothing.
    write!(stream, "POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"query\":").unwrap();
    let started = std::time::Instant::now();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.to_ascii_lowercase().contains("x-ghpool-cache: bypass"), "{answer}");
    assert!(started.elapsed() < std::time::Duration::from_secs(25));
    assert_eq!(s.fake.requests_to("/graphql").len(), 0);
}

// Issue #16: keyed agents through the real binary.

const TRIAGE_KEY: &str = "ghpk_triageKEYtriageKEYtriageKEYtriageKEY000";
const NEXT_KEY: &str = "ghpk_nextKEYnextKEYnextKEYnextKEYnextKEY0000";

/// ghpool with one agent, `triage`, holding `acme/widgets` (its key read from a file, as a
/// Kubernetes Secret mounts it), beside `acme/gadgets` it does not hold.
fn agent_setup(extra: &[(&str, &str)]) -> (FakeGithub, GhpoolProcess, tempfile::TempDir) {
    let fake = FakeGithub::start();
    fake.add_token(POOL_TOKEN, "poolbot");
    fake.add_repo("acme", "widgets");
    fake.add_repo("acme", "gadgets");
    fake.add_issues("acme", "widgets", 3);
    fake.add_issues("acme", "gadgets", 3);
    let secrets = tempfile::tempdir().unwrap();
    let file = secrets.path().join("ghpool").join("agents").join("triage");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, TRIAGE_KEY).unwrap();
    let (upstream, dir) = (fake.base_url(), secrets.path().display().to_string());
    let mut env = vec![
        ("GHPOOL_UPSTREAM", upstream.as_str()),
        ("GHPOOL_ALLOWED_OWNERS", "acme"),
        ("GHPOOL_PAT_POOL", "env:POOL_TOKEN"),
        ("POOL_TOKEN", POOL_TOKEN),
        ("GHPOOL_SECRETS_DIR", dir.as_str()),
        ("GHPOOL_AGENT_TRIAGE_KEYS", "k8s:ghpool/agents:triage"),
        ("GHPOOL_AGENT_TRIAGE_REPOS", "acme/widgets"),
    ];
    env.extend_from_slice(extra);
    let gp = GhpoolProcess::start(&env);
    (fake, gp, secrets)
}

fn get_as(gp: &GhpoolProcess, path: &str, key: Option<&str>) -> (u16, String) {
    let mut req = client().get(gp.url(path));
    if let Some(key) = key {
        req = req.header("authorization", format!("token {key}"));
    }
    let resp = req.send().unwrap();
    (resp.status().as_u16(), resp.text().unwrap_or_default())
}

#[test]
fn an_agent_reads_its_repositories_with_its_key_and_nothing_else_16() {
    let (fake, gp, _secrets) = agent_setup(&[]);
    let (status, body) = get_as(&gp, "/repos/acme/widgets/issues", Some(TRIAGE_KEY));
    assert_eq!(status, 200, "{body}");
    let (status, body) = get_as(&gp, "/repos/acme/gadgets/issues", Some(TRIAGE_KEY));
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("agent `triage`") && body.contains("acme/gadgets"), "{body}");
    assert!(!body.contains(TRIAGE_KEY), "{body}");
    assert_eq!(get_as(&gp, "/orgs/acme/repos", Some(TRIAGE_KEY)).0, 403, "the owner as a whole");
    assert_eq!(get_as(&gp, "/search/issues?q=org%3Aacme", Some(TRIAGE_KEY)).0, 403);
    assert_eq!(get_as(&gp, "/search/issues?q=repo%3Aacme%2Fwidgets", Some(TRIAGE_KEY)).0, 200);
    let (status, answer) = graphql(
        &gp,
        serde_json::json!({"query": "{ repository(owner: \"acme\", name: \"gadgets\") { name } }"}),
        Some(TRIAGE_KEY),
    );
    assert_eq!(status, 403, "{answer}");
    let (status, answer) = graphql(
        &gp,
        serde_json::json!({"query": "{ repository(owner: \"acme\", name: \"widgets\") { name } }"}),
        Some(TRIAGE_KEY),
    );
    assert_eq!((status, &answer["data"]["repository"]["name"]), (200, &serde_json::json!("widgets")), "{answer}");

    // Without a key (or with a wrong one, or a GitHub token) nothing is served; probes need none.
    let (status, body) = get_as(&gp, "/repos/acme/widgets/issues", None);
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("\"message\"") && body.contains("documentation_url"), "GitHub's shape: {body}");
    assert_eq!(get_as(&gp, "/repos/acme/widgets", Some("ghpk_wrongwrongwrong")).0, 401);
    assert_eq!(get_as(&gp, "/repos/acme/widgets", Some(POOL_TOKEN)).0, 401);
    assert_eq!(get_as(&gp, "/healthz", None).0, 200);
    assert_eq!(get_as(&gp, "/stats", None).0, 200);
    let write = client()
        .post(gp.url("/repos/acme/widgets/issues"))
        .header("authorization", format!("token {TRIAGE_KEY}"))
        .json(&serde_json::json!({"title": "t"}))
        .send()
        .unwrap();
    assert_eq!(write.status(), 403, "a read-only agent (no permissions) does not write");

    let stats = gp.get_json("/stats");
    let triage = &stats["agents"][0];
    assert_eq!(triage["id"], "triage", "{stats}");
    assert!(triage["requests"].as_u64().unwrap() >= 3 && triage["denials"].as_u64().unwrap() >= 5, "{stats}");
    assert!(!stats.to_string().contains(TRIAGE_KEY));
    assert!(stats["clients"]["agent:triage"]["upstream_requests"].as_u64().unwrap() >= 1, "fairness by agent: {stats}");
    let metrics = client().get(gp.url("/metrics")).send().unwrap().text().unwrap();
    assert!(metrics.contains("ghpool_agent_requests_total{agent=\"triage\",outcome=\"denied\"}"), "{metrics}");

    // GitHub saw pool tokens only, nothing of acme/gadgets, and never a key; the log holds no key.
    let requests = fake.requests();
    assert!(requests.iter().all(|r| r.token.as_deref() == Some(POOL_TOKEN)), "{requests:?}");
    assert!(requests.iter().all(|r| !r.path.contains("gadgets")), "{requests:?}");
    assert!(!gp.log().contains(TRIAGE_KEY), "a key in the log");
}

#[test]
fn an_agents_key_rotates_without_a_restart_and_unkeyed_clients_are_served_when_allowed_16() {
    let (_fake, gp, secrets) = agent_setup(&[("GHPOOL_ALLOW_UNKEYED", "true")]);
    assert_eq!(get_as(&gp, "/repos/acme/gadgets/issues", None).0, 200, "network trust beside agents");
    assert_eq!(get_as(&gp, "/repos/acme/gadgets/issues", Some(TRIAGE_KEY)).0, 403, "the agent is still limited");
    assert_eq!(get_as(&gp, "/repos/acme/widgets", Some("ghpk_wrongwrongwrong")).0, 401, "a wrong key is not unkeyed");
    let file = secrets.path().join("ghpool").join("agents").join("triage");
    std::fs::write(&file, NEXT_KEY).unwrap();
    gp.signal("HUP");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while get_as(&gp, "/repos/acme/widgets", Some(NEXT_KEY)).0 != 200 {
        assert!(std::time::Instant::now() < deadline, "the new key was never taken");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(get_as(&gp, "/repos/acme/widgets", Some(TRIAGE_KEY)).0, 401, "the old key is gone with its file");
}
