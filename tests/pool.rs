//! Issue #5 (the pool under pressure): failover before the client sees anything. The fake GitHub's
//! switches make one identity limited or refused; its request log shows the failover.

mod support;

use support::fake_github::FakeGithub;
use support::ghpool::{client, start_pool, Ghpool};

const TOKEN_A: &str = "ghp_poolAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
const TOKEN_B: &str = "ghp_poolBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB";

fn setup() -> (FakeGithub, Ghpool) {
    let fake = FakeGithub::start();
    fake.add_token(TOKEN_A, "alice");
    fake.add_token(TOKEN_B, "bob");
    fake.add_repo("acme", "widgets");
    let gp = start_pool(&fake.base_url(), "acme", &[("a", TOKEN_A), ("b", TOKEN_B)], &[]);
    (fake, gp)
}

/// `n` distinct reads (the cache answers none); their statuses.
fn reads(gp: &Ghpool, n: usize) -> Vec<u16> {
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
