//! Issue #4: the cache, judged by the fake GitHub's request log.

mod support;

use std::time::Duration;

use support::fake_github::FakeGithub;
use support::ghpool::{client, GhpoolProcess};

const TOKEN_A: &str = "ghp_cacheAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
const TOKEN_B: &str = "ghp_cacheBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB";
const CLIENT_TOKEN: &str = "ghp_clientCCCCCCCCCCCCCCCCCCCCCCCCCCCCC";

fn fake() -> FakeGithub {
    let fake = FakeGithub::start();
    fake.add_token(TOKEN_A, "alice");
    fake.add_token(TOKEN_B, "bob");
    fake.add_token(CLIENT_TOKEN, "carol");
    fake.add_repo("acme", "widgets");
    fake.add_issues("acme", "widgets", 250);
    fake
}

fn start(fake: &FakeGithub, extra: &[(&str, &str)]) -> GhpoolProcess {
    support::ghpool::start_pool(&fake.base_url(), "acme", &[("a", TOKEN_A), ("b", TOKEN_B)], extra)
}

/// GET through ghpool: status, `X-Ghpool-Cache`, body.
fn get(gp: &GhpoolProcess, path: &str, headers: &[(&str, &str)]) -> (u16, String, String) {
    let mut req = client().get(gp.url(path));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().unwrap();
    let status = resp.status().as_u16();
    let outcome = resp.headers().get("x-ghpool-cache").map_or("-", |v| v.to_str().unwrap()).to_string();
    (status, outcome, resp.text().unwrap())
}

fn upstream_calls(fake: &FakeGithub, path: &str) -> usize {
    fake.requests().iter().filter(|r| r.path == path).count()
}

/// A write: `POST /repos/acme/widgets/issues` with the client's own token.
fn create_issue(gp: &GhpoolProcess, title: &str) -> reqwest::blocking::Response {
    let req = client().post(gp.url("/repos/acme/widgets/issues"));
    req.header("authorization", format!("token {CLIENT_TOKEN}"))
        .json(&serde_json::json!({"title": title}))
        .send()
        .unwrap()
}

fn graphql(gp: &GhpoolProcess, body: serde_json::Value) -> (u16, String) {
    let resp = client().post(gp.url("/graphql")).json(&body).send().unwrap();
    let outcome = resp.headers().get("x-ghpool-cache").map_or("-", |v| v.to_str().unwrap()).to_string();
    (resp.status().as_u16(), outcome)
}

#[test]
fn a_hit_follows_a_miss_with_one_upstream_call() {
    let fake = fake();
    let gp = start(&fake, &[]);
    let (s1, o1, b1) = get(&gp, "/repos/acme/widgets", &[]);
    let (s2, o2, b2) = get(&gp, "/repos/acme/widgets", &[("authorization", &format!("token {CLIENT_TOKEN}"))]);
    assert_eq!((s1, o1.as_str(), s2, o2.as_str()), (200, "MISS", 200, "HIT"));
    assert_eq!(b1, b2);
    assert_eq!(upstream_calls(&fake, "/repos/acme/widgets"), 1);
    let stats = gp.get_json("/stats");
    assert_eq!(stats["cache"]["hits"], 1);
    assert_eq!(stats["cache"]["misses"], 1);
    assert_eq!(stats["cache"]["entries"], 1);
    assert!(stats["cache"]["bytes"].as_u64().unwrap() > b1.len() as u64);
}

#[test]
fn keys_separate_what_github_answers_differently_and_merge_what_it_does_not() {
    let fake = fake();
    let gp = start(&fake, &[]);
    get(&gp, "/repos/acme/widgets/issues?state=open&per_page=5", &[]);
    assert_eq!(get(&gp, "/repos/acme/widgets/issues?per_page=5&state=open", &[]).1, "HIT", "parameter order");
    assert_eq!(get(&gp, "/repos/acme/widgets/issues?per_page=6&state=open", &[]).1, "MISS", "query string");
    assert_eq!(get(&gp, "/repos/acme/widgets", &[("accept", "application/vnd.github.raw+json")]).1, "MISS");
    assert_eq!(get(&gp, "/repos/acme/widgets", &[]).1, "MISS", "Accept");
    assert_eq!(get(&gp, "/repos/acme/widgets", &[("x-github-api-version", "2022-11-28")]).1, "MISS");
    assert_eq!(get(&gp, "/repos/acme/widgets", &[]).1, "HIT");

    let q = "query Q($o: String!) { repository(owner: $o, name: \"widgets\") { id } }";
    let spaced = "# the same query\nquery Q($o: String!) {\n  repository(owner: $o,\n name: \"widgets\") { id }\n}";
    assert_eq!(graphql(&gp, serde_json::json!({"query": q, "variables": {"o": "acme"}})), (200, "MISS".into()));
    assert_eq!(graphql(&gp, serde_json::json!({"query": spaced, "variables": {"o": "acme"}})).1, "HIT");
    assert_eq!(graphql(&gp, serde_json::json!({"query": q, "variables": {"o": "ACME"}})).1, "MISS", "variables");
    let two = "query A { organization(login: \"acme\") { id } } query B { organization(login: \"acme\") { login } }";
    assert_eq!(graphql(&gp, serde_json::json!({"query": two, "operationName": "A"})).1, "MISS");
    assert_eq!(graphql(&gp, serde_json::json!({"query": two, "operationName": "B"})).1, "MISS", "operationName");
    assert_eq!(graphql(&gp, serde_json::json!({"query": two, "operationName": "A"})).1, "HIT");
    assert_eq!(fake.requests_to("/graphql").len(), 4);
}

#[test]
fn concurrent_cold_reads_make_at_most_two_upstream_calls() {
    let fake = fake();
    let gp = start(&fake, &[]);
    fake.set_delay(Duration::from_millis(300));
    let url = gp.url("/repos/acme/widgets/issues?per_page=100");
    let handles: Vec<_> = (0..50)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || client().get(url).send().map(|r| r.status().as_u16()).unwrap_or(0))
        })
        .collect();
    let statuses: Vec<u16> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let calls = upstream_calls(&fake, "/repos/acme/widgets/issues?per_page=100");
    assert!((1..=2).contains(&calls), "{calls} upstream calls for 50 identical cold reads");
}

#[test]
fn expired_entries_revalidate_with_the_fetching_identitys_token_and_a_free_304() {
    let fake = fake();
    let gp = start(&fake, &[("GHPOOL_CACHE_TTL", "1s")]);
    let (_, first, body) = get(&gp, "/repos/acme/widgets", &[]);
    assert_eq!(first, "MISS");
    let fetch = fake.requests_to("/repos/acme/widgets").remove(0);
    std::thread::sleep(Duration::from_millis(1300));
    let (status, outcome, again) = get(&gp, "/repos/acme/widgets", &[]);
    assert_eq!((status, outcome.as_str()), (200, "REVALIDATED"));
    assert_eq!(again, body, "the client gets the full 200 body");
    let calls = fake.requests_to("/repos/acme/widgets");
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[1].status, 304);
    assert_eq!(calls[1].token, fetch.token, "revalidated with the token that fetched the entry");
    assert!(calls[1].if_none_match.as_deref().is_some_and(|e| e.starts_with("W/")), "{:?}", calls[1]);
    assert_eq!(gp.get_json("/stats")["cache"]["not_modified"], 1);
}

#[test]
fn a_clients_no_cache_forces_revalidation() {
    let fake = fake();
    let gp = start(&fake, &[]);
    get(&gp, "/repos/acme/widgets", &[]);
    assert_eq!(get(&gp, "/repos/acme/widgets", &[]).1, "HIT");
    let (status, outcome, _) = get(&gp, "/repos/acme/widgets", &[("cache-control", "no-cache")]);
    assert_eq!((status, outcome.as_str()), (200, "REVALIDATED"));
    assert_eq!(get(&gp, "/repos/acme/widgets", &[("cache-control", "max-age=3600")]).1, "HIT");
    let calls = fake.requests_to("/repos/acme/widgets");
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[1].status, 304);
}

#[test]
fn memory_stays_within_max_size() {
    let fake = fake();
    let max = 64 * 1024;
    let gp = start(&fake, &[("GHPOOL_CACHE_MAX_SIZE", "64KiB")]);
    let mut written = 0usize;
    let mut i = 0;
    while written < 10 * max {
        let (status, _, body) = get(&gp, &format!("/repos/acme/widgets/issues?per_page=40&n={i}"), &[]);
        assert_eq!(status, 200);
        written += body.len();
        i += 1;
        let bytes = gp.get_json("/stats")["cache"]["bytes"].as_u64().unwrap();
        assert!(bytes <= max as u64, "{bytes} bytes cached after writing {written}");
    }
    let cache = gp.get_json("/stats")["cache"].clone();
    assert!(cache["evictions"].as_u64().unwrap() > 0, "{cache}");
    assert!(cache["entries"].as_u64().unwrap() > 0, "{cache}");
}

#[test]
fn errors_and_rate_limited_answers_are_never_cached() {
    let fake = fake();
    let gp = start(&fake, &[]);
    for _ in 0..2 {
        assert_eq!(get(&gp, "/repos/acme/nothing-here", &[]).0, 404);
    }
    assert_eq!(upstream_calls(&fake, "/repos/acme/nothing-here"), 2, "a 404 is not cached");

    // GitHub answers a rate-limited GraphQL query with 200 and errors: ghpool takes it for what it
    // is, tries the other identity, and with both spent answers 429 itself — nothing is stored.
    fake.set_budget("alice", "graphql", 5000, 0);
    fake.set_budget("bob", "graphql", 5000, 0);
    let body = serde_json::json!({"query": "{ organization(login: \"acme\") { id } }"});
    let entries = gp.get_json("/stats")["cache"]["entries"].clone();
    let first = graphql(&gp, body.clone());
    assert_eq!(first.0, 429);
    assert_eq!(fake.requests_to("/graphql").len(), 2, "each identity tried once");
    assert_eq!(gp.get_json("/stats")["cache"]["entries"], entries, "the rate-limited answer was not stored");
    assert_ne!(graphql(&gp, body).1, "HIT");
}

#[test]
fn stale_entries_are_served_when_github_is_down_and_errors_are_githubs_shape_otherwise() {
    let fake = fake();
    let gp = start(&fake, &[("GHPOOL_CACHE_TTL", "1s")]);
    let (_, _, body) = get(&gp, "/repos/acme/widgets", &[]);
    std::thread::sleep(Duration::from_millis(1300));
    fake.set_down(true);
    let (status, outcome, stale) = get(&gp, "/repos/acme/widgets", &[]);
    assert_eq!((status, outcome.as_str()), (200, "STALE"));
    assert_eq!(stale, body);
    assert_eq!(gp.get_json("/stats")["cache"]["stale_served"], 1);
    // Nothing cached: GitHub's own 503 passes through.
    assert_eq!(get(&gp, "/repos/acme/widgets/issues", &[]).0, 503);
    // GitHub unreachable and nothing cached: 502 in GitHub's shape.
    drop(fake);
    let resp = client().get(gp.url("/repos/acme/widgets/issues?page=9")).send().unwrap();
    assert_eq!(resp.status(), 502);
    let answer: serde_json::Value = resp.json().unwrap();
    assert!(answer["message"].is_string() && answer["documentation_url"].is_string());
    // Unreachable, but cached: stale again.
    assert_eq!(get(&gp, "/repos/acme/widgets", &[]).1, "STALE");
}

#[test]
fn passthrough_writes_are_never_cached() {
    let fake = fake();
    let gp = start(&fake, &[]);
    for _ in 0..2 {
        let resp = create_issue(&gp, "t");
        assert_eq!(resp.status(), 201);
        assert_eq!(resp.headers()["x-ghpool-cache"], "BYPASS");
    }
    assert_eq!(fake.requests().iter().filter(|r| r.method == "POST").count(), 2);
}

#[test]
fn absolute_urls_in_links_and_bodies_point_at_ghpool() {
    let fake = fake();
    let gp = start(&fake, &[]);
    let base = gp.url("");
    for (prefix, public) in [("", base.clone()), ("/api/v3", format!("{base}/api/v3"))] {
        let resp = client().get(gp.url(&format!("{prefix}/repos/acme/widgets/issues?per_page=10"))).send().unwrap();
        assert_eq!(resp.status(), 200);
        let link = resp.headers()["link"].to_str().unwrap().to_string();
        assert!(link.contains(&format!("<{public}/repositories/")), "{link}");
        assert!(!link.contains(&fake.base_url()), "{link}");
        let issues: serde_json::Value = resp.json().unwrap();
        let url = issues[0]["url"].as_str().unwrap();
        assert!(url.starts_with(&format!("{public}/repos/acme/widgets/issues/")), "{url}");

        // A client following rel="next" as given stays on ghpool.
        let next = link.split(',').find(|l| l.contains("rel=\"next\"")).unwrap();
        let next = next.trim().trim_start_matches('<').split('>').next().unwrap();
        let page2 = client().get(next).send().unwrap();
        assert_eq!(page2.status(), 200, "{next}");
        assert_eq!(page2.json::<serde_json::Value>().unwrap().as_array().unwrap().len(), 10);
        // And so does one following a body's url.
        assert_eq!(client().get(url).send().unwrap().status(), 200, "{url}");
    }
}

#[test]
fn the_pool_identitys_permissions_are_stripped() {
    let fake = fake();
    let gp = start(&fake, &[]);
    for _ in 0..2 {
        let repo: serde_json::Value = client().get(gp.url("/repos/acme/widgets")).send().unwrap().json().unwrap();
        assert_eq!(repo["full_name"], "acme/widgets");
        assert!(repo.get("permissions").is_none(), "{repo}");
    }
}

#[test]
fn a_write_makes_the_next_read_fresh() {
    let fake = fake();
    let gp = start(&fake, &[]);
    let first_number = |path: &str| -> (String, u64) {
        let resp = client().get(gp.url(path)).send().unwrap();
        let outcome = resp.headers()["x-ghpool-cache"].to_str().unwrap().to_string();
        let issues: serde_json::Value = resp.json().unwrap();
        (outcome, issues[0]["number"].as_u64().unwrap())
    };
    // Warm: the list by name and by id, and a GraphQL query on the repository.
    let repo: serde_json::Value = client().get(gp.url("/repos/acme/widgets")).send().unwrap().json().unwrap();
    let by_id = format!("/repositories/{}/issues?per_page=5", repo["id"]);
    let query = serde_json::json!({"query": "{ repository(owner: \"acme\", name: \"widgets\") { id } }"});
    assert_eq!(first_number("/repos/acme/widgets/issues?per_page=5"), ("MISS".into(), 250));
    assert_eq!(first_number(&by_id), ("MISS".into(), 250));
    graphql(&gp, query.clone());
    assert_eq!(first_number("/repos/acme/widgets/issues?per_page=5"), ("HIT".into(), 250));
    assert_eq!(graphql(&gp, query.clone()).1, "HIT");

    let resp = create_issue(&gp, "new");
    assert_eq!(resp.status(), 201);

    assert_eq!(first_number("/repos/acme/widgets/issues?per_page=5"), ("MISS".into(), 251), "the writer reads it");
    assert_eq!(first_number(&by_id), ("MISS".into(), 251), "through /repositories/{{id}} too");
    assert_eq!(graphql(&gp, query).1, "MISS", "and GraphQL answers about the repository");
    assert!(gp.get_json("/stats")["cache"]["purges"].as_u64().unwrap() >= 3);
}

/// A read that GitHub answered before a write, but that arrives after it, must not be what the
/// writer reads next: neither by joining that read in flight nor from the cache once it is stored.
#[test]
fn a_read_that_saw_the_state_before_a_write_is_not_served_after_it() {
    let fake = fake();
    let gp = start(&fake, &[]);
    let path = "/repos/acme/widgets/issues?per_page=5";
    let first_number = |gp: &GhpoolProcess| -> u64 {
        let issues: serde_json::Value = client().get(gp.url(path)).send().unwrap().json().unwrap();
        issues[0]["number"].as_u64().unwrap()
    };
    fake.set_read_delay(Duration::from_millis(1500));
    std::thread::scope(|s| {
        let before = s.spawn(|| first_number(&gp));
        // The slow read has been answered from the old state (`set_read_delay` answers at arrival).
        let seen = std::time::Instant::now();
        while upstream_calls(&fake, path) == 0 && seen.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(upstream_calls(&fake, path), 1, "the slow read reached GitHub");
        let resp = create_issue(&gp, "new");
        assert_eq!(resp.status(), 201);
        assert_eq!(first_number(&gp), 251, "the writer's read is not answered by the read in flight");
        assert_eq!(before.join().unwrap(), 250, "the read that began before the write sees the old list");
    });
    fake.set_read_delay(Duration::ZERO);
    assert_eq!(first_number(&gp), 251, "the old answer, stored after the write, is not served");
}

/// A write expires what it may have changed rather than dropping it: what it did not change after
/// all comes back as GitHub's free 304, asked with the stored ETag.
#[test]
fn after_a_write_what_it_did_not_change_revalidates_for_free() {
    let fake = fake();
    let gp = start(&fake, &[]);
    assert_eq!(get(&gp, "/repos/acme/widgets/issues/5", &[]).1, "MISS");
    assert_eq!(get(&gp, "/repos/acme/widgets/issues/5", &[]).1, "HIT");
    let resp = create_issue(&gp, "new");
    assert_eq!(resp.status(), 201);
    let (status, outcome, body) = get(&gp, "/repos/acme/widgets/issues/5", &[]);
    assert_eq!((status, outcome.as_str()), (200, "REVALIDATED"), "{body}");
    let asked: Vec<_> = fake.requests().into_iter().filter(|r| r.path == "/repos/acme/widgets/issues/5").collect();
    assert_eq!(asked.len(), 2);
    assert!(asked[1].if_none_match.is_some() && asked[1].status == 304, "{:?}", asked[1]);
    assert_eq!(get(&gp, "/repos/acme/widgets/issues/5", &[]).1, "HIT");
}

#[test]
fn a_graphql_mutation_makes_the_next_reads_fresh() {
    let fake = fake();
    let gp = start(&fake, &[]);
    let query = serde_json::json!({"query": "{ repository(owner: \"acme\", name: \"widgets\") { id } }"});
    // A subject that exists: a mutation GitHub refuses changes nothing and purges nothing.
    let subject = format!("I_fake{}_1", fake.add_repo("acme", "widgets"));
    let mutation = serde_json::json!({
        "query": "mutation($s: ID!) { addComment(input: {subjectId: $s, body: \"hi\"}) { clientMutationId } }",
        "variables": { "s": subject },
    });
    let mutate = |authorization: Option<&str>| {
        let mut req = client().post(gp.url("/graphql")).json(&mutation);
        if let Some(a) = authorization {
            req = req.header("authorization", a);
        }
        req.send().unwrap().status().as_u16()
    };
    assert_eq!(get(&gp, "/repos/acme/widgets", &[]).1, "MISS");
    assert_eq!(graphql(&gp, query.clone()).1, "MISS");
    // Refused without a token: nothing changed, nothing is purged.
    assert_eq!(mutate(None), 401);
    assert_eq!(get(&gp, "/repos/acme/widgets", &[]).1, "HIT");
    assert_eq!(graphql(&gp, query.clone()).1, "HIT");
    // A mutation that names its subject only by node id could have changed anything it can reach.
    assert_eq!(mutate(Some(&format!("bearer {CLIENT_TOKEN}"))), 200);
    assert_eq!(get(&gp, "/repos/acme/widgets", &[]).1, "MISS");
    assert_eq!(graphql(&gp, query).1, "MISS");
    let mutations: Vec<_> = fake.requests_to("/graphql").into_iter().filter(|r| r.token.is_some()).collect();
    assert!(mutations.iter().any(|r| r.token.as_deref() == Some(CLIENT_TOKEN)), "the client's own token");
}

#[test]
fn ttl_rules_negative_caching_and_closed_items() {
    let fake = fake();
    let upstream = fake.base_url();
    let toml =
        "[cache]\nttl = \"1s\"\nnegative_ttl = \"30s\"\n[[cache.rules]]\npath = \"/repos/*/*/issues/2*\"\nttl = \"30s\"\n";
    let gp = GhpoolProcess::start_with_config(
        &[
            ("GHPOOL_UPSTREAM", upstream.as_str()),
            ("GHPOOL_ALLOWED_OWNERS", "acme"),
            ("GHPOOL_PAT_A", "env:TOKEN_A"),
            ("TOKEN_A", TOKEN_A),
        ],
        Some(toml),
    );
    for path in [
        "/repos/acme/widgets/issues/10",
        "/repos/acme/widgets/issues/11",
        "/repos/acme/widgets/issues/21",
        "/repos/acme/gone",
    ] {
        assert_eq!(get(&gp, path, &[]).1, "MISS", "{path}");
    }
    std::thread::sleep(Duration::from_millis(1400));
    assert_eq!(get(&gp, "/repos/acme/widgets/issues/11", &[]).1, "REVALIDATED", "the default TTL of 1 s");
    assert_eq!(get(&gp, "/repos/acme/widgets/issues/10", &[]).1, "HIT", "a closed issue keeps closed_ttl");
    let (status, outcome, _) = get(&gp, "/repos/acme/widgets/issues/21", &[]);
    assert_eq!((status, outcome.as_str()), (200, "HIT"), "the path rule's 30 s");
    let (status, outcome, _) = get(&gp, "/repos/acme/gone", &[]);
    assert_eq!((status, outcome.as_str()), (404, "HIT"), "negative_ttl caches GitHub's 404");
}

#[test]
fn an_entry_whose_identity_cannot_serve_is_refetched_whole_by_another() {
    let fake = fake();
    let gp = start(&fake, &[("GHPOOL_CACHE_TTL", "1s")]);
    assert_eq!(get(&gp, "/repos/acme/widgets", &[]).1, "MISS");
    let fetcher = fake.requests_to("/repos/acme/widgets").remove(0).token.unwrap();
    let (login, other) = if fetcher == TOKEN_A { ("alice", TOKEN_B) } else { ("bob", TOKEN_A) };
    // The fetching identity spends its budget: GitHub's headers tell ghpool so.
    fake.set_budget(login, "core", 5000, 1);
    for i in 0..4 {
        get(&gp, &format!("/repos/acme/widgets/issues?n={i}"), &[]);
    }
    assert!(fake.requests().iter().any(|r| r.token.as_deref() == Some(fetcher.as_str()) && r.path.contains("?n=")));
    std::thread::sleep(Duration::from_millis(1300));
    fake.clear_log();
    let (status, _, _) = get(&gp, "/repos/acme/widgets", &[]);
    assert_eq!(status, 200);
    let calls = fake.requests_to("/repos/acme/widgets");
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].token.as_deref(), Some(other), "another identity");
    assert_eq!(calls[0].if_none_match, None, "without the other token's ETag, which GitHub would not honour");
    assert_eq!(calls[0].status, 200);
}
