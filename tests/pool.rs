//! Issue #5 (the pool under pressure): failover before the client sees anything. The fake GitHub's
//! switches make one identity limited or refused; its request log shows the failover.

mod support;

use support::fake_github::FakeGithub;
use support::ghpool::{burst, client, start_pool, GhpoolProcess};

const TOKEN_A: &str = "ghp_poolAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
const TOKEN_B: &str = "ghp_poolBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB";

fn setup() -> (FakeGithub, GhpoolProcess) {
    let fake = FakeGithub::start();
    fake.add_token(TOKEN_A, "alice");
    fake.add_token(TOKEN_B, "bob");
    fake.add_repo("acme", "widgets");
    let gp = start_pool(&fake.base_url(), "acme", &[("a", TOKEN_A), ("b", TOKEN_B)], &[]);
    (fake, gp)
}

/// `n` distinct reads (the cache answers none); their statuses.
fn reads(gp: &GhpoolProcess, n: usize) -> Vec<u16> {
    (0..n)
        .map(|i| client().get(gp.url(&format!("/repos/acme/widgets?n={i}"))).send().unwrap().status().as_u16())
        .collect()
}

fn statuses_by_token(fake: &FakeGithub, token: &str) -> Vec<u16> {
    fake.requests_to("/repos/acme/widgets")
        .iter()
        .filter(|r| r.token.as_deref() == Some(token))
        .map(|r| r.status)
        .collect()
}

#[test]
fn a_secondary_limit_on_one_identity_is_never_seen_by_clients() {
    let (fake, gp) = setup();
    fake.set_secondary_limit(Some("alice"), Some(60));
    let statuses = reads(&gp, 10);
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let alice = statuses_by_token(&fake, TOKEN_A);
    assert_eq!(alice, [403], "alice is tried once, then held off for retry-after");
    assert_eq!(statuses_by_token(&fake, TOKEN_B).len(), 10);
    assert!(gp.log().contains("identity `a` (login alice) is rate limited"), "{}", gp.log());
}

#[test]
fn a_spent_primary_budget_fails_over_to_the_others() {
    let (fake, gp) = setup();
    // GitHub knows alice is spent; ghpool learns it from the 403.
    fake.set_budget("alice", "core", 5000, 0);
    let statuses = reads(&gp, 6);
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(statuses_by_token(&fake, TOKEN_A), [403]);
    let stats = gp.get_json("/stats");
    let alice = stats["identities"].as_array().unwrap().iter().find(|i| i["id"] == "a").unwrap().clone();
    assert_eq!(alice["resources"]["core"]["remaining"], 0, "{alice}");
    assert!(alice["limited_until"]["core"].as_u64().is_some_and(|t| t > 0), "/stats says until when: {alice}");
}

#[test]
fn a_passed_reset_restores_a_budget_without_waiting_for_an_answer() {
    let (fake, gp) = setup();
    let soon = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 2;
    for login in ["alice", "bob"] {
        fake.set_budget(login, "core", 5000, 0);
        fake.set_reset(login, "core", soon);
    }
    assert_eq!(client().get(gp.url("/repos/acme/widgets?n=1")).send().unwrap().status(), 429);
    fake.clear_log();
    assert_eq!(client().get(gp.url("/repos/acme/widgets?n=2")).send().unwrap().status(), 429);
    assert!(fake.requests().is_empty(), "ghpool knows both are spent");
    std::thread::sleep(std::time::Duration::from_millis(3200));
    // The fake refills at its reset too; ghpool sends the read because the reset time has passed.
    assert_eq!(client().get(gp.url("/repos/acme/widgets?n=3")).send().unwrap().status(), 200);
}

#[test]
fn a_rate_limited_graphql_answer_fails_over() {
    let (fake, gp) = setup();
    fake.set_budget("alice", "graphql", 5000, 0);
    for i in 0..4 {
        let body = serde_json::json!({"query": format!("query Q{i} {{ organization(login: \"acme\") {{ id }} }}")});
        let resp = client().post(gp.url("/graphql")).json(&body).send().unwrap();
        assert_eq!(resp.status(), 200);
        let answer: serde_json::Value = resp.json().unwrap();
        assert!(answer.get("errors").is_none(), "the client never sees RATE_LIMITED: {answer}");
    }
    let calls = fake.requests_to("/graphql");
    assert_eq!(calls.iter().filter(|c| c.token.as_deref() == Some(TOKEN_A)).count(), 1);
    assert_eq!(calls.iter().filter(|c| c.token.as_deref() == Some(TOKEN_B)).count(), 4);
}

#[test]
fn a_revoked_identity_is_quarantined_after_one_request() {
    let (fake, gp) = setup();
    fake.revoke_token(TOKEN_A);
    let statuses = reads(&gp, 8);
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(statuses_by_token(&fake, TOKEN_A), [401], "used once, never again");
    let stats = gp.get_json("/stats");
    let alice = stats["identities"].as_array().unwrap().iter().find(|i| i["id"] == "a").unwrap().clone();
    assert_eq!(alice["state"], "quarantined", "{alice}");
    let ready = gp.get_json("/readyz");
    assert_eq!(ready["usable_identities"], 1);
    assert!(gp.log().contains("identity `a` (login alice) quarantined"), "{}", gp.log());
}

#[test]
fn when_every_identity_is_limited_the_client_gets_429_from_ghpool() {
    let (fake, gp) = setup();
    fake.set_budget("alice", "core", 5000, 0);
    fake.set_budget("bob", "core", 5000, 0);
    let resp = client().get(gp.url("/repos/acme/widgets?n=1")).send().unwrap();
    assert_eq!(resp.status(), 429);
    assert!(resp.headers().get("retry-after").is_some());
    assert_eq!(fake.requests_to("/repos/acme/widgets").len(), 2, "each identity tried once");
    fake.clear_log();
    assert_eq!(client().get(gp.url("/repos/acme/widgets?n=2")).send().unwrap().status(), 429);
    assert!(fake.requests().is_empty(), "then refused at once, no upstream call");
}

#[test]
fn with_every_identity_spent_a_stale_entry_is_served_instead_of_429() {
    let fake = FakeGithub::start();
    fake.add_token(TOKEN_A, "alice");
    fake.add_repo("acme", "widgets");
    let gp = start_pool(&fake.base_url(), "acme", &[("a", TOKEN_A)], &[("GHPOOL_CACHE_TTL", "1s")]);
    let first = client().get(gp.url("/repos/acme/widgets")).send().unwrap().text().unwrap();
    fake.set_budget("alice", "core", 5000, 0);
    assert_eq!(client().get(gp.url("/repos/acme/widgets?other")).send().unwrap().status(), 429);
    std::thread::sleep(std::time::Duration::from_millis(1300));
    fake.clear_log();
    let resp = client().get(gp.url("/repos/acme/widgets")).send().unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-ghpool-cache"], "STALE");
    assert_eq!(resp.text().unwrap(), first);
    assert!(fake.requests().is_empty(), "no upstream call");
}

#[test]
fn the_per_identity_in_flight_cap_holds_under_a_burst() {
    let fake = FakeGithub::start();
    fake.add_token(TOKEN_A, "alice");
    fake.add_token(TOKEN_B, "bob");
    fake.add_repo("acme", "widgets");
    let extra = [("GHPOOL_POOL_MAX_IN_FLIGHT", "4"), ("GHPOOL_POOL_QUEUE_TIMEOUT", "20s")];
    let gp = start_pool(&fake.base_url(), "acme", &[("a", TOKEN_A), ("b", TOKEN_B)], &extra);
    fake.set_delay(std::time::Duration::from_millis(100));
    let statuses = burst(&gp.url("/repos/acme/widgets"), 200);
    assert!(statuses.iter().all(|s| *s == 200), "every read waits its turn: {statuses:?}");
    for token in [TOKEN_A, TOKEN_B] {
        let max = fake.max_concurrent(token);
        assert!((1..=4).contains(&max), "{max} requests at once with one identity");
    }
}

#[test]
fn past_the_queue_timeout_the_answer_is_503_with_retry_after() {
    let fake = FakeGithub::start();
    fake.add_token(TOKEN_A, "alice");
    fake.add_repo("acme", "widgets");
    let extra = [("GHPOOL_POOL_MAX_IN_FLIGHT", "1"), ("GHPOOL_POOL_QUEUE_TIMEOUT", "200ms")];
    let gp = start_pool(&fake.base_url(), "acme", &[("a", TOKEN_A)], &extra);
    fake.set_delay(std::time::Duration::from_millis(1500));
    let statuses = burst(&gp.url("/repos/acme/widgets"), 3);
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 503).count(), 2, "{statuses:?}");
    let resp = {
        let url = gp.url("/repos/acme/widgets?slow");
        let slow = std::thread::spawn(move || client().get(url).send().unwrap().status());
        std::thread::sleep(std::time::Duration::from_millis(300));
        let resp = client().get(gp.url("/repos/acme/widgets?second")).send().unwrap();
        assert_eq!(slow.join().unwrap(), 200);
        resp
    };
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers()["retry-after"], "1");
}

#[test]
fn idle_budgets_are_refreshed_in_the_background_for_free() {
    let (fake, gp) = {
        let fake = FakeGithub::start();
        fake.add_token(TOKEN_A, "alice");
        fake.add_repo("acme", "widgets");
        let gp = start_pool(&fake.base_url(), "acme", &[("a", TOKEN_A)], &[("GHPOOL_POOL_REFRESH", "1s")]);
        (fake, gp)
    };
    fake.set_budget("alice", "core", 5000, 1234);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let stats = gp.get_json("/stats");
        if stats["identities"][0]["resources"]["core"]["remaining"] == 1234 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never refreshed: {stats}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let refreshes = fake.requests_to("/rate_limit");
    assert!(!refreshes.is_empty() && refreshes.iter().all(|r| r.token.as_deref() == Some(TOKEN_A)));
    assert_eq!(fake.remaining("alice", "core"), 1234, "GET /rate_limit costs nothing");
}

#[test]
fn a_quarantined_identity_comes_back_when_its_secret_is_rotated() {
    let fake = FakeGithub::start();
    const ROTATED: &str = "ghp_rotatedRRRRRRRRRRRRRRRRRRRRRRRRRRRRRR";
    fake.add_token(TOKEN_A, "alice");
    fake.add_token(TOKEN_B, "bob");
    fake.add_repo("acme", "widgets");
    let secrets = tempfile::tempdir().unwrap();
    let file = secrets.path().join("ghpool-tokens").join("alice");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, TOKEN_A).unwrap();
    let dir = secrets.path().to_str().unwrap();
    let extra =
        [("GHPOOL_SECRETS_DIR", dir), ("GHPOOL_PAT_A", "k8s:tools/ghpool-tokens:alice"), ("GHPOOL_POOL_REFRESH", "1s")];
    let gp = start_pool(&fake.base_url(), "acme", &[("b", TOKEN_B)], &extra);
    fake.revoke_token(TOKEN_A);
    let statuses = reads(&gp, 4);
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let state = |gp: &GhpoolProcess| {
        let stats = gp.get_json("/stats");
        stats["identities"].as_array().unwrap().iter().find(|i| i["id"] == "a").unwrap()["state"].clone()
    };
    assert_eq!(state(&gp), "quarantined");
    // The secret is rotated in place, as the kubelet does.
    fake.add_token(ROTATED, "alice");
    std::fs::write(&file, ROTATED).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while state(&gp) != "ok" {
        assert!(std::time::Instant::now() < deadline, "still quarantined:\n{}", gp.log());
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    fake.set_budget("bob", "core", 5000, 0);
    for i in 0..3 {
        let status = client().get(gp.url(&format!("/repos/acme/widgets?after={i}"))).send().unwrap().status();
        assert_eq!(status, 200);
    }
    assert!(fake.requests().iter().any(|r| r.token.as_deref() == Some(ROTATED)), "the rotated token serves reads");
    assert!(!gp.log().contains(ROTATED) && !gp.log().contains(TOKEN_A));
}

#[test]
fn a_greedy_client_gets_429_past_its_share_while_others_are_served() {
    let fake = FakeGithub::start();
    fake.add_token(TOKEN_A, "alice");
    fake.add_repo("acme", "widgets");
    let extra =
        [("GHPOOL_FAIRNESS_CLIENT_KEY", "header"), ("GHPOOL_FAIRNESS_PER_MINUTE", "6"), ("GHPOOL_FAIRNESS_BURST", "5")];
    let gp = start_pool(&fake.base_url(), "acme", &[("a", TOKEN_A)], &extra);
    let get = |who: &str, path: &str| client().get(gp.url(path)).header("x-ghpool-client", who).send().unwrap();
    let statuses: Vec<u16> =
        (0..8).map(|i| get("greedy", &format!("/repos/acme/widgets?g={i}")).status().as_u16()).collect();
    assert_eq!(statuses, [200, 200, 200, 200, 200, 429, 429, 429]);
    let refused = get("greedy", "/repos/acme/widgets?g=99");
    assert_eq!(refused.status(), 429);
    let retry: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=10).contains(&retry), "{retry}");
    assert_eq!(get("greedy", "/repos/acme/widgets?g=0").status(), 200, "a cache hit costs nothing");
    for i in 0..3 {
        assert_eq!(get("polite", &format!("/repos/acme/widgets?p={i}")).status(), 200, "others are unaffected");
    }
    assert_eq!(fake.requests_to("/repos/acme/widgets?g=").len(), 5, "refused requests never reached GitHub");
    let clients = gp.get_json("/stats")["clients"].clone();
    assert_eq!(clients["client:greedy"]["upstream_requests"], 5, "{clients}");
    assert_eq!(clients["client:greedy"]["refused"], 4, "{clients}");
    assert_eq!(clients["client:polite"]["upstream_requests"], 3, "{clients}");
    let metrics = client().get(gp.url("/metrics")).send().unwrap().text().unwrap();
    assert!(
        metrics.contains(r#"ghpool_client_requests_total{client="client:greedy",outcome="refused"} 4"#),
        "{metrics}"
    );
}

#[test]
fn a_secondary_limit_without_retry_after_fails_over_too() {
    let (fake, gp) = setup();
    fake.set_secondary_limit(Some("alice"), None);
    let statuses = reads(&gp, 8);
    // Only the message says "secondary rate limit": ghpool reads it before anything reaches the
    // client, fails over, and pauses alice (60 s, doubling) for the reads after.
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(statuses_by_token(&fake, TOKEN_A), [403], "alice is not asked again");
    assert_eq!(statuses_by_token(&fake, TOKEN_B).len(), 8);
    let stats = gp.get_json("/stats");
    let alice = stats["identities"].as_array().unwrap().iter().find(|i| i["id"] == "a").unwrap().clone();
    assert!(alice["limited_until"]["core"].as_u64().is_some_and(|t| t > 0), "{alice}");
}

#[test]
fn a_secondary_limit_without_retry_after_on_every_identity_gets_ghpools_429() {
    let (fake, gp) = setup();
    fake.set_secondary_limit(Some("alice"), None);
    fake.set_secondary_limit(Some("bob"), None);
    let resp = client().get(gp.url("/repos/acme/widgets")).send().unwrap();
    assert_eq!(resp.status().as_u16(), 429);
    let retry_after: u64 = resp.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_eq!(fake.requests_to("/repos/acme/widgets").len(), 2, "each identity asked once");
}

#[test]
fn a_read_whose_connection_breaks_is_retried_once_on_a_new_connection() {
    let (fake, gp) = setup();
    fake.drop_connections(1);
    let resp = client().get(gp.url("/repos/acme/widgets")).send().unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let statuses: Vec<u16> = fake.requests_to("/repos/acme/widgets").iter().map(|r| r.status).collect();
    assert_eq!(statuses, [0, 200], "dropped, then retried");
    // Once only: two broken connections in a row reach the client as a 502.
    fake.drop_connections(2);
    let resp = client().get(gp.url("/repos/acme/widgets?second")).send().unwrap();
    assert_eq!(resp.status().as_u16(), 502);
    assert_eq!(fake.requests_to("/repos/acme/widgets?second").len(), 2);
}

#[test]
fn a_write_whose_connection_breaks_is_not_repeated() {
    let (fake, gp) = setup();
    fake.drop_connections(1);
    let resp = client()
        .post(gp.url("/repos/acme/widgets/issues"))
        .header("authorization", format!("token {TOKEN_A}"))
        .body(r#"{"title":"once"}"#)
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 502);
    assert_eq!(fake.requests_to("/repos/acme/widgets/issues").len(), 1, "the write was not sent twice");
}
