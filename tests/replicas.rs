//! Issue #15: replicas that behave as one, sharing state through a real Redis — judged by the fake
//! GitHub's request log and by what a client alternating between replicas reads.

mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use support::fake_github::FakeGithub;
use support::ghpool::{client, start_pool, GhpoolProcess};
use support::redis::{Redis, Relay};

const TOKEN_A: &str = "ghp_replicaAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
const TOKEN_B: &str = "ghp_replicaBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB";
const CLIENT_TOKEN: &str = "ghp_replicaCLIENTCCCCCCCCCCCCCCCCCCCCCCC";

fn fake() -> FakeGithub {
    let fake = FakeGithub::start();
    fake.add_token(TOKEN_A, "alice");
    fake.add_token(TOKEN_B, "bob");
    fake.add_token(CLIENT_TOKEN, "carol");
    fake.add_repo("acme", "widgets");
    fake.add_issues("acme", "widgets", 30);
    fake
}

/// A replica of ghpool sharing `redis`, with a generous Redis timeout (a loaded CI machine).
fn replica(fake: &FakeGithub, redis: &Redis) -> GhpoolProcess {
    replica_with(fake, redis, "acme", &[("a", TOKEN_A), ("b", TOKEN_B)], &[])
}

/// [`replica`] allowing `owners`, with these identities and `extra` settings.
fn replica_with(
    fake: &FakeGithub,
    redis: &Redis,
    owners: &str,
    identities: &[(&str, &str)],
    extra: &[(&str, &str)],
) -> GhpoolProcess {
    let url = redis.url();
    let mut env = vec![
        ("GHPOOL_REDIS_URL", url.as_str()),
        ("GHPOOL_REDIS_TIMEOUT", "500ms"),
        // Replicas behind one Service are reached under one name: answers' URLs (and so the
        // cache key) are the same whichever replica serves them.
        ("GHPOOL_PUBLIC_URL", "http://ghpool.test:8080"),
    ];
    env.extend_from_slice(extra);
    start_pool(&fake.base_url(), owners, identities, &env)
}

/// The first issue number in a list read through `gp`, and how ghpool served it.
fn first_issue(gp: &GhpoolProcess, path: &str) -> (u64, String) {
    let resp = client().get(gp.url(path)).send().unwrap();
    assert_eq!(resp.status(), 200, "{path}");
    let outcome = resp.headers()["x-ghpool-cache"].to_str().unwrap().to_string();
    let issues: serde_json::Value = resp.json().unwrap();
    (issues[0]["number"].as_u64().unwrap(), outcome)
}

fn create_issue(gp: &GhpoolProcess, title: &str) {
    let resp = client()
        .post(gp.url("/repos/acme/widgets/issues"))
        .header("authorization", format!("token {CLIENT_TOKEN}"))
        .json(&json!({ "title": title }))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 201);
}

fn graphql(gp: &GhpoolProcess, query: &str) -> (serde_json::Value, String) {
    let resp = client().post(gp.url("/graphql")).json(&json!({ "query": query })).send().unwrap();
    assert_eq!(resp.status(), 200);
    let outcome = resp.headers()["x-ghpool-cache"].to_str().unwrap().to_string();
    (resp.json().unwrap(), outcome)
}

fn upstream_calls(fake: &FakeGithub, path: &str) -> usize {
    fake.requests_to(path).len()
}

fn wait_for_state(gp: &GhpoolProcess, state: &str, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if gp.get_json("/stats")["shared"] == state {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

#[test]
fn what_one_replica_fetched_the_other_serves_15() {
    let (fake, redis) = (fake(), Redis::start());
    let (a, b) = (replica(&fake, &redis), replica(&fake, &redis));
    let path = "/repos/acme/widgets/issues?per_page=5";
    assert_eq!(first_issue(&a, path), (30, "MISS".to_string()));
    // The store into Redis runs beside the answer: give it a moment.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(first_issue(&b, path), (30, "HIT".to_string()), "B serves what A fetched");
    assert_eq!(upstream_calls(&fake, "/repos/acme/widgets/issues"), 1, "one upstream request for both replicas");
    let query = "{ repository(owner: \"acme\", name: \"widgets\") { issues(first: 1) { totalCount } } }";
    assert_eq!(graphql(&a, query).1, "MISS");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(graphql(&b, query).1, "HIT");
    assert_eq!(upstream_calls(&fake, "/graphql"), 1, "a GraphQL query too");
    let stats = b.get_json("/stats");
    assert_eq!(stats["shared"], "up");
    assert!(stats["sharing"]["l2_hits"].as_u64().unwrap() >= 2, "{stats}");
    let metrics = client().get(b.url("/metrics")).send().unwrap().text().unwrap();
    assert!(metrics.contains("ghpool_shared_up 1"), "{metrics}");
    assert!(metrics.contains("ghpool_shared_events_total{event=\"l2_hit\"}"), "{metrics}");
    assert!(metrics.contains("ghpool_shared_round_trip_seconds_bucket{call=\"GET\""), "{metrics}");
    let mut promtool = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool (scripts/deps test)");
    std::io::Write::write_all(&mut promtool.stdin.take().unwrap(), metrics.as_bytes()).unwrap();
    let out = promtool.wait_with_output().unwrap();
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && report.trim().is_empty(), "promtool: {report}");
}

/// Wait until `gp`'s copy of the write generations is leased (its hits check no Redis).
fn wait_until_leased(gp: &GhpoolProcess) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while gp.get_json("/stats")["sharing"]["leased"] != true {
        assert!(Instant::now() < deadline, "never leased: {}", gp.get_json("/stats"));
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_write_through_one_replica_is_read_through_the_other_15() {
    let (fake, redis) = (fake(), Redis::start());
    let (a, b) = (replica(&fake, &redis), replica(&fake, &redis));
    wait_until_leased(&a);
    wait_until_leased(&b);
    let path = "/repos/acme/widgets/issues?per_page=5";
    let query = "{ repository(owner: \"acme\", name: \"widgets\") { issues(first: 1) { totalCount } } }";
    // Both replicas hold the list and the count in their own memory.
    for gp in [&a, &b] {
        first_issue(gp, path);
        graphql(gp, query);
    }
    assert_eq!(first_issue(&b, path), (30, "HIT".to_string()));
    assert_eq!(graphql(&b, query).0["data"]["repository"]["issues"]["totalCount"], 30);

    create_issue(&a, "written through A");

    // At once, through the other replica: the state after the write.
    let (number, outcome) = first_issue(&b, path);
    assert_eq!(number, 31, "B must not serve its list from before A's write ({outcome})");
    let (answer, outcome) = graphql(&b, query);
    assert_eq!(answer["data"]["repository"]["issues"]["totalCount"], 31, "GraphQL too ({outcome})");
    // And the next read is a hit again.
    assert_eq!(first_issue(&b, path), (31, "HIT".to_string()));
    let sharing = b.get_json("/stats")["sharing"].clone();
    assert!(sharing["stale_by_generation"].as_u64().unwrap() >= 2, "{sharing}");
    assert!(sharing["generations_local"].as_u64().unwrap() >= 2, "hits checked the leased copy: {sharing}");
    assert!(a.get_json("/stats")["sharing"]["invalidations"].as_u64().unwrap() >= 1);
}

/// A replica whose subscription lags (what Redis sends it is held back, deterministically)
/// cannot acknowledge a write's bump: the write's answer waits at most a lease, and that
/// replica's copy is not trusted past its lease — it reads the state after the write from Redis.
#[test]
fn a_replica_whose_subscription_lags_never_serves_what_a_write_changed_15() {
    let (fake, redis) = (fake(), Redis::start());
    let relay = Relay::start(&redis);
    let a = replica(&fake, &redis);
    let relayed = relay.url();
    let b = replica_with(&fake, &redis, "acme", &[("a", TOKEN_A), ("b", TOKEN_B)], &[("GHPOOL_REDIS_URL", &relayed)]);
    let path = "/repos/acme/widgets/issues?per_page=5";
    for gp in [&a, &b] {
        first_issue(gp, path);
    }
    wait_until_leased(&b);
    assert_eq!(first_issue(&b, path), (30, "HIT".to_string()));
    relay.hold_subscriptions(true);
    create_issue(&a, "written while B's subscription lags");
    let (number, outcome) = first_issue(&b, path);
    relay.hold_subscriptions(false);
    assert_eq!(number, 31, "B must not serve its list from before A's write ({outcome})");
    assert_eq!(b.get_json("/stats")["shared"], "up", "B's own calls to Redis flowed all along");
}

/// Two deployments on one Redis server, in two databases with the same key prefix: Redis' channels
/// are not per database, and one deployment's bumps must not upset the other's copies.
#[test]
fn deployments_in_two_databases_of_one_redis_keep_their_own_writes_15() {
    let (fake, redis) = (fake(), Redis::start());
    let other_db = redis.url().replace("/0", "/1");
    let in_db1 = [("GHPOOL_REDIS_URL", other_db.as_str())];
    let (b1, b2) = (
        replica_with(&fake, &redis, "acme", &[("a", TOKEN_A)], &in_db1),
        replica_with(&fake, &redis, "acme", &[("a", TOKEN_A)], &in_db1),
    );
    let a = replica(&fake, &redis);
    let path = "/repos/acme/widgets/issues?per_page=5";
    create_issue(&b1, "numbers the bumps of database 1 first");
    create_issue(&a, "a bump in database 0, numbered later");
    for gp in [&b1, &b2] {
        first_issue(gp, path);
    }
    wait_until_leased(&b2);
    assert_eq!(first_issue(&b2, path), (32, "HIT".to_string()));
    create_issue(&b1, "the write database 1's replicas must see");
    let (number, outcome) = first_issue(&b2, path);
    assert_eq!(number, 33, "B2 must see B1's write ({outcome})");
    drop(a);
}

/// After a write, the replicas that held what it changed cost GitHub one new fetch between them:
/// the first to read fills Redis under the new generations, the others take that entry.
#[test]
fn after_a_write_three_replicas_fetch_what_it_changed_once_15() {
    let (fake, redis) = (fake(), Redis::start());
    let replicas = [replica(&fake, &redis), replica(&fake, &redis), replica(&fake, &redis)];
    let path = "/repos/acme/widgets/issues?per_page=5";
    for gp in &replicas {
        first_issue(gp, path);
    }
    assert_eq!(upstream_calls(&fake, "/repos/acme/widgets/issues"), 1);
    create_issue(&replicas[0], "one write");
    let before = upstream_calls(&fake, "/repos/acme/widgets/issues");
    assert_eq!(first_issue(&replicas[0], path).0, 31);
    std::thread::sleep(Duration::from_millis(300));
    for gp in &replicas[1..] {
        let (number, outcome) = first_issue(gp, path);
        assert_eq!((number, outcome.as_str()), (31, "HIT"), "taken from Redis, filled after the write");
    }
    assert_eq!(upstream_calls(&fake, "/repos/acme/widgets/issues") - before, 1, "one fetch for three replicas");
}

#[test]
fn redis_failing_is_degraded_not_down_15() {
    let (fake, mut redis) = (fake(), Redis::start());
    let a = replica(&fake, &redis);
    let read = |page: usize| {
        let resp = client().get(a.url(&format!("/repos/acme/widgets/issues?per_page=5&page={page}"))).send();
        resp.map(|r| r.status().as_u16()).unwrap_or(0)
    };
    for i in 0..10 {
        assert_eq!(read(i % 3 + 1), 200);
    }
    redis.stop();
    let started = Instant::now();
    for i in 0..30 {
        assert_eq!(read(i % 5 + 1), 200, "read {i} with Redis gone");
    }
    assert!(started.elapsed() < Duration::from_secs(20), "reads did not wait on Redis: {:?}", started.elapsed());
    assert!(wait_for_state(&a, "degraded", Duration::from_secs(5)), "{}", a.get_json("/stats")["sharing"]);
    let metrics = client().get(a.url("/metrics")).send().unwrap().text().unwrap();
    assert!(metrics.contains("ghpool_shared_up 0"), "{metrics}");
    assert!(metrics.contains("ghpool_shared{state=\"degraded\"} 1"), "{metrics}");
    assert!(a.wait_for_log("shared state degraded", Duration::from_secs(2)));
    assert_eq!(a.log().matches("shared state degraded").count(), 1, "one warning per change of state");

    redis.resume();
    assert!(wait_for_state(&a, "up", Duration::from_secs(10)), "sharing resumes by itself");
    assert!(a.wait_for_log("shared state up again", Duration::from_secs(2)));
    for i in 0..10 {
        assert_eq!(read(i % 3 + 6), 200);
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(redis.keys().iter().any(|k| k.starts_with("ghpool:e:")), "entries are shared again: {:?}", redis.keys());
}

#[test]
fn nothing_secret_reaches_redis_and_what_is_unreadable_there_is_a_miss_15() {
    let (fake, redis) = (fake(), Redis::start());
    let (a, b) = (replica(&fake, &redis), replica(&fake, &redis));
    let path = "/repos/acme/widgets/issues?per_page=5";
    first_issue(&a, path);
    assert_eq!(client().get(a.url("/repos/acme/widgets")).send().unwrap().status(), 200);
    graphql(&a, "{ repository(owner: \"acme\", name: \"widgets\") { id } }");
    create_issue(&a, "a write");
    std::thread::sleep(Duration::from_millis(300));
    let keys = redis.keys();
    assert!(keys.iter().any(|k| k.starts_with("ghpool:e:")), "{keys:?}");
    assert!(keys.iter().any(|k| k.starts_with("ghpool:g:")), "{keys:?}");
    for key in &keys {
        let dump = redis.cli(&["DUMP", key]) + &redis.cli(&["GET", key]) + key;
        for secret in [TOKEN_A, TOKEN_B, CLIENT_TOKEN, "ghp_replica"] {
            assert!(!dump.contains(secret), "{key} holds a token");
        }
    }

    // Every shared entry replaced by something ghpool did not write: B misses and asks GitHub.
    for key in keys.iter().filter(|k| k.starts_with("ghpool:e:")) {
        redis.cli(&["SET", key, "GHP1garbage"]);
    }
    let before = upstream_calls(&fake, "/repos/acme/widgets/issues");
    assert_eq!(first_issue(&b, path).0, 31);
    assert_eq!(upstream_calls(&fake, "/repos/acme/widgets/issues"), before + 1);
    assert!(b.get_json("/stats")["sharing"]["l2_unreadable"].as_u64().unwrap() >= 1);
}

/// `rediss://`: replicas share over TLS, verifying Redis' certificate against the CA roots (here
/// `SSL_CERT_FILE`, the test CA); a replica that does not trust the certificate shares nothing and
/// serves on, degraded.
#[test]
fn replicas_share_through_a_redis_over_tls_15() {
    let (fake, redis) = (fake(), Redis::start_tls());
    let ca = redis.ca_file().display().to_string();
    let trusting = [("SSL_CERT_FILE", ca.as_str())];
    let (a, b) = (replica_with(&fake, &redis, "acme", &[("a", TOKEN_A)], &trusting), {
        replica_with(&fake, &redis, "acme", &[("a", TOKEN_A)], &trusting)
    });
    let path = "/repos/acme/widgets/issues?per_page=5";
    assert_eq!(first_issue(&a, path), (30, "MISS".to_string()));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(first_issue(&b, path), (30, "HIT".to_string()), "B serves what A stored, over TLS");
    assert_eq!(upstream_calls(&fake, "/repos/acme/widgets/issues"), 1);
    assert_eq!(a.get_json("/stats")["shared"], "up");
    assert!(redis.keys().iter().any(|k| k.starts_with("ghpool:e:")), "entries are in Redis");

    let other_ca = tempfile::tempdir().unwrap();
    let untrusted = other_ca.path().join("ca.pem");
    std::fs::write(&untrusted, std::fs::read_to_string(Redis::start_tls().ca_file()).unwrap()).unwrap();
    let untrusted = untrusted.display().to_string();
    let c = replica_with(&fake, &redis, "acme", &[("a", TOKEN_A)], &[("SSL_CERT_FILE", untrusted.as_str())]);
    let (number, _) = first_issue(&c, "/repos/acme/widgets/issues?per_page=5&page=2");
    assert_eq!(number, 25, "served on, alone");
    assert!(wait_for_state(&c, "degraded", Duration::from_secs(5)), "{}", c.get_json("/stats"));
}

#[test]
fn without_shared_state_stats_say_off_and_a_bad_redis_url_is_refused_15() {
    let fake = fake();
    let gp = start_pool(&fake.base_url(), "acme", &[("a", TOKEN_A)], &[]);
    assert_eq!(gp.get_json("/stats")["shared"], "off");
    let env = [
        ("GHPOOL_UPSTREAM", "http://127.0.0.1:9"),
        ("GHPOOL_ALLOW_ALL_OWNERS", "true"),
        ("GHPOOL_REDIS_URL", "redis://user:hunter2@127.0.0.1:6379"),
    ];
    let (code, out) = support::ghpool::run_to_exit(&env, None, &[]);
    assert_eq!(code, Some(2), "a configuration error: {out}");
    assert!(out.contains("GHPOOL_REDIS_URL") && !out.contains("hunter2"), "{out}");
}

#[test]
fn a_herd_over_three_replicas_is_one_fill_15() {
    let (fake, redis) = (fake(), Redis::start());
    let replicas = [replica(&fake, &redis), replica(&fake, &redis), replica(&fake, &redis)];
    // GitHub is slow to answer: every replica's first reader arrives while the first fill runs.
    fake.set_delay(Duration::from_millis(400));
    let path = "/repos/acme/widgets/issues?per_page=7";
    let urls: Vec<String> = replicas.iter().flat_map(|r| [r.url(path), r.url(path)]).collect();
    let readers: Vec<_> = urls
        .into_iter()
        .map(|url| {
            std::thread::spawn(move || {
                let resp = client().get(url).send().unwrap();
                let status = resp.status().as_u16();
                let issues: serde_json::Value = resp.json().unwrap();
                (status, issues[0]["number"].as_u64())
            })
        })
        .collect();
    for reader in readers {
        assert_eq!(reader.join().unwrap(), (200, Some(30)));
    }
    assert_eq!(upstream_calls(&fake, "/repos/acme/widgets/issues"), 1, "six readers on three replicas, one fill");
    let coalesced: u64 = replicas.iter().map(|r| r.get_json("/stats")["sharing"]["coalesced"].as_u64().unwrap()).sum();
    // Each reader that missed while the fill ran waited for it (all five, unless one came late
    // enough to find the entry stored).
    assert!((1..=5).contains(&coalesced), "{coalesced} readers waited for the fill");
}

/// Requests GitHub got with `token`.
fn sent_with(fake: &FakeGithub, token: &str) -> usize {
    fake.requests().iter().filter(|r| r.token.as_deref() == Some(token) && r.path != "/user").count()
}

/// Two replicas where the pool prefers alice (token A): bob has less budget left.
fn alice_first(fake: &FakeGithub, redis: &Redis) -> (GhpoolProcess, GhpoolProcess) {
    fake.set_budget("bob", "core", 5000, 4000);
    (replica(fake, redis), replica(fake, redis))
}

#[test]
fn a_limit_one_replica_met_is_never_sent_to_github_by_another_15() {
    let (fake, redis) = (fake(), Redis::start());
    let (a, b) = alice_first(&fake, &redis);
    fake.set_secondary_limit(Some("alice"), Some(60));
    assert_eq!(first_issue(&a, "/repos/acme/widgets/issues?per_page=2").0, 30, "A fails over to bob");
    assert_eq!(sent_with(&fake, TOKEN_A), 1, "A met alice's secondary limit once");
    std::thread::sleep(Duration::from_millis(300));
    for page in 1..=3 {
        assert_eq!(first_issue(&b, &format!("/repos/acme/widgets/issues?per_page=3&page={page}")).1, "MISS");
    }
    assert_eq!(sent_with(&fake, TOKEN_A), 1, "B knew alice was held off and never sent her token");
}

#[test]
fn a_token_one_replica_found_refused_is_not_used_by_another_15() {
    let (fake, redis) = (fake(), Redis::start());
    let (a, b) = alice_first(&fake, &redis);
    fake.revoke_token(TOKEN_A);
    assert_eq!(first_issue(&a, "/repos/acme/widgets/issues?per_page=2").0, 30);
    assert_eq!(sent_with(&fake, TOKEN_A), 1, "A found alice's token refused");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(first_issue(&b, "/repos/acme/widgets/issues?per_page=3").0, 30);
    assert_eq!(sent_with(&fake, TOKEN_A), 1, "B quarantined it without asking GitHub");
    let identities = b.get_json("/stats")["identities"].clone();
    let alice = identities.as_array().unwrap().iter().find(|i| i["id"] == "a").unwrap().clone();
    assert_eq!(alice["state"], "quarantined", "{alice}");
}

#[test]
fn a_clients_share_counts_across_replicas_15() {
    let (fake, redis) = (fake(), Redis::start());
    let fair = |_: usize| {
        let key = [("GHPOOL_FAIRNESS_CLIENT_KEY", "header")];
        let rate = [("GHPOOL_FAIRNESS_PER_MINUTE", "2"), ("GHPOOL_FAIRNESS_BURST", "2")];
        replica_with(&fake, &redis, "acme", &[("a", TOKEN_A), ("b", TOKEN_B)], &[key.as_slice(), &rate].concat())
    };
    let (a, b) = (fair(0), fair(1));
    let read = |gp: &GhpoolProcess, page: usize| {
        let url = gp.url(&format!("/repos/acme/widgets/issues?per_page=4&page={page}"));
        client().get(url).header("x-ghpool-client", "agent-7").send().unwrap().status().as_u16()
    };
    // Two a minute for agent-7, whichever replica it reaches: alternating does not double it.
    let statuses = [read(&a, 1), read(&b, 2), read(&a, 3), read(&b, 4)];
    assert_eq!(statuses, [200, 200, 429, 429]);
    let other = client()
        .get(b.url("/repos/acme/widgets/issues?per_page=4&page=5"))
        .header("x-ghpool-client", "agent-8")
        .send()
        .unwrap();
    assert_eq!(other.status(), 200, "another client has its own share");
    assert!(redis.keys().iter().all(|k| !k.contains("ghp_")), "{:?}", redis.keys());
}

#[test]
fn a_password_is_a_secret_reference_and_never_shown_15() {
    let (fake, redis) = (fake(), Redis::start_with(Some("s3cret-redis-pw")));
    let with = |password: Option<&str>| {
        let mut env = vec![];
        if let Some(p) = password {
            env.extend([("GHPOOL_REDIS_PASSWORD", "env:REDIS_PW"), ("REDIS_PW", p)]);
        }
        replica_with(&fake, &redis, "acme", &[("a", TOKEN_A)], &env)
    };
    let (a, b) = (with(Some("s3cret-redis-pw")), with(Some("s3cret-redis-pw")));
    let path = "/repos/acme/widgets/issues?per_page=5";
    assert_eq!(first_issue(&a, path).1, "MISS");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(first_issue(&b, path).1, "HIT", "AUTH worked: B read A's entry");
    let wrong = with(Some("not-the-password"));
    assert_eq!(first_issue(&wrong, "/repos/acme/widgets/issues?per_page=6").0, 30, "served anyway");
    assert!(wait_for_state(&wrong, "degraded", Duration::from_secs(5)));
    for gp in [&a, &b, &wrong] {
        let shown = gp.log() + &gp.get_json("/stats").to_string();
        assert!(!shown.contains("s3cret-redis-pw") && !shown.contains("not-the-password"), "{shown}");
    }
}

/// A rotated Redis password (a new value behind the same secret reference) is taken on `SIGHUP`,
/// without a restart: sharing resumes with it.
#[test]
fn a_rotated_redis_password_is_taken_without_a_restart_15() {
    let (fake, mut redis) = (fake(), Redis::start_with(Some("first-redis-pw")));
    let secrets = tempfile::tempdir().unwrap();
    let file = secrets.path().join("ghpool").join("redis").join("password");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, "first-redis-pw").unwrap();
    let dir = secrets.path().display().to_string();
    let env = [("GHPOOL_REDIS_PASSWORD", "k8s:ghpool/redis:password"), ("GHPOOL_SECRETS_DIR", dir.as_str())];
    let a = replica_with(&fake, &redis, "acme", &[("a", TOKEN_A)], &env);
    assert_eq!(first_issue(&a, "/repos/acme/widgets/issues?per_page=5").1, "MISS");
    assert!(wait_for_state(&a, "up", Duration::from_secs(5)));

    redis.change_password("second-redis-pw");
    first_issue(&a, "/repos/acme/widgets/issues?per_page=6");
    assert!(wait_for_state(&a, "degraded", Duration::from_secs(5)), "the old password no longer opens Redis");
    std::fs::write(&file, "second-redis-pw").unwrap();
    a.signal("HUP");
    assert!(wait_for_state(&a, "up", Duration::from_secs(10)), "{}", a.get_json("/stats"));
    let entries = |redis: &Redis| redis.keys().iter().filter(|k| k.starts_with("ghpool:e:")).count();
    let before = entries(&redis);
    first_issue(&a, "/repos/acme/widgets/issues?per_page=7");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(entries(&redis), before + 1, "stored with the new password");
    let shown = a.log() + &a.get_json("/stats").to_string();
    assert!(!shown.contains("first-redis-pw") && !shown.contains("second-redis-pw"), "{shown}");
}

#[test]
fn the_in_flight_cap_counts_requests_on_every_replica_15() {
    let (fake, redis) = (fake(), Redis::start());
    let capped = || {
        let cap = [("GHPOOL_POOL_MAX_IN_FLIGHT", "1"), ("GHPOOL_POOL_QUEUE_TIMEOUT", "10s")];
        replica_with(&fake, &redis, "acme", &[("a", TOKEN_A)], &cap)
    };
    let (a, b) = (capped(), capped());
    fake.set_delay(Duration::from_millis(700));
    let read = |url: String| std::thread::spawn(move || client().get(url).send().unwrap().status().as_u16());
    let first = read(a.url("/repos/acme/widgets/issues?per_page=8"));
    std::thread::sleep(Duration::from_millis(250));
    let second = read(b.url("/repos/acme/widgets/issues?per_page=9"));
    assert_eq!((first.join().unwrap(), second.join().unwrap()), (200, 200), "the second waited, then went");
    assert_eq!(fake.max_concurrent(TOKEN_A), 1, "one request in flight with the identity, across both replicas");
}

#[test]
fn a_mutation_is_seen_on_every_replica_and_a_refused_one_purges_nothing_15() {
    let (fake, redis) = (fake(), Redis::start());
    let (a, b) = (replica(&fake, &redis), replica(&fake, &redis));
    let count = "{ repository(owner: \"acme\", name: \"widgets\") { issue(number: 3) { comments { totalCount } } } }";
    let comments = |gp: &GhpoolProcess| {
        let (answer, outcome) = graphql(gp, count);
        (answer["data"]["repository"]["issue"]["comments"]["totalCount"].as_u64().unwrap(), outcome)
    };
    for gp in [&a, &b] {
        comments(gp);
    }
    assert_eq!(comments(&b), (0, "HIT".to_string()));
    let mutate = |subject: &str| {
        let mutation = "mutation($s: ID!) { addComment(input: {subjectId: $s, body: \"hi\"}) { clientMutationId } }";
        let resp = client()
            .post(a.url("/graphql"))
            .header("authorization", format!("token {CLIENT_TOKEN}"))
            .json(&json!({ "query": mutation, "variables": { "s": subject } }))
            .send()
            .unwrap();
        assert_eq!(resp.status(), 200);
        resp.json::<serde_json::Value>().unwrap()
    };
    // Refused by GitHub (no such node): nothing changed, nothing is purged on any replica.
    assert!(mutate("I_nope").get("errors").is_some());
    assert_eq!(comments(&b), (0, "HIT".to_string()), "a refused mutation costs the cache nothing");
    // Accepted: the other replica's next read has the comment.
    assert!(mutate("I_fake1000_3").get("errors").is_none());
    assert_eq!(comments(&b).0, 1, "B sees A's comment at once");
}

/// Red team of #15: Redis evicting a write generation must not make a pre-write entry current.
#[test]
fn an_evicted_generation_never_makes_an_old_entry_current_15() {
    let (fake, redis) = (fake(), Redis::start());
    let (a, b) = (replica(&fake, &redis), replica(&fake, &redis));
    let path = "/repos/acme/widgets/issues?per_page=5";
    first_issue(&a, path);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(first_issue(&b, path), (30, "HIT".to_string()));
    create_issue(&a, "written through A");
    for key in redis.keys().iter().filter(|k| k.starts_with("ghpool:g:")) {
        redis.cli(&["DEL", key]);
    }
    assert_eq!(first_issue(&b, path).0, 31, "the generations started again from Redis' clock, not from 0");
}

/// Red team of #15: a write made while Redis was unreachable is told to the others when it is back.
#[test]
fn a_write_redis_missed_is_told_before_sharing_resumes_15() {
    let (fake, mut redis) = (fake(), Redis::start());
    let (a, b) = (replica(&fake, &redis), replica(&fake, &redis));
    let path = "/repos/acme/widgets/issues?per_page=5";
    first_issue(&a, path);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(first_issue(&b, path), (30, "HIT".to_string()));
    redis.stop();
    create_issue(&a, "written while Redis was away");
    assert!(wait_for_state(&a, "degraded", Duration::from_secs(5)));
    redis.resume();
    // Each replica finds its old connection dead on its next call after the restart (and is
    // degraded until its probe, a second later, reconnects): let both settle.
    std::thread::sleep(Duration::from_millis(2500));
    assert!(wait_for_state(&a, "up", Duration::from_secs(10)) && wait_for_state(&b, "up", Duration::from_secs(10)));
    let got = first_issue(&b, path);
    assert_eq!(got.0, 31, "B hears of A's write once Redis is back: {got:?} {}", b.get_json("/stats")["sharing"]);
}

/// Red team of #15: replicas configured differently (a rolling change of the allowlist) share no
/// answers: what one screened for its owners is not what the other may serve.
#[test]
fn replicas_with_other_allowlists_share_no_answers_15() {
    let (fake, redis) = (fake(), Redis::start());
    let a = replica(&fake, &redis);
    let b = replica_with(&fake, &redis, "acme,other", &[("a", TOKEN_A), ("b", TOKEN_B)], &[]);
    let path = "/repos/acme/widgets/issues?per_page=5";
    assert_eq!(first_issue(&a, path).1, "MISS");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(first_issue(&b, path).1, "MISS", "another allowlist, another shared key");
    assert_eq!(upstream_calls(&fake, "/repos/acme/widgets/issues"), 2);
}
