//! Issue #2 (core): the pool, pooled reads, configuration and the admin endpoints, driven through
//! the real binary against the fake GitHub. The fake's request log is the judge.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use support::fake_github::FakeGithub;
use support::ghpool::{burst, client, run_to_exit, GhpoolProcess};

const TOKEN_A: &str = "ghp_tokenAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
const TOKEN_B: &str = "ghp_tokenBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB";
const TOKEN_A2: &str = "ghp_tokenA2A2A2A2A2A2A2A2A2A2A2A2A2A2A2";
const CLIENT_TOKEN: &str = "ghp_clientCCCCCCCCCCCCCCCCCCCCCCCCCCCCC";

fn fake_with_repo() -> FakeGithub {
    let fake = FakeGithub::start();
    fake.add_token(TOKEN_A, "alice");
    fake.add_token(TOKEN_A2, "alice");
    fake.add_token(TOKEN_B, "bob");
    fake.add_repo("acme", "widgets");
    fake.add_issues("acme", "widgets", 5);
    fake
}

/// ghpool with identities `a` and `b` given as `env:` references, allowlisting `acme`.
fn start_pool(fake: &FakeGithub, extra: &[(&str, &str)]) -> GhpoolProcess {
    support::ghpool::start_pool(&fake.base_url(), "acme", &[("a", TOKEN_A), ("b", TOKEN_B)], extra)
}

fn tokens_seen(fake: &FakeGithub, path_prefix: &str) -> HashMap<Option<String>, usize> {
    let mut counts = HashMap::new();
    for r in fake.requests_to(path_prefix) {
        *counts.entry(r.token).or_insert(0) += 1;
    }
    counts
}

#[test]
fn pooled_read_uses_a_pool_token_and_never_the_clients() {
    let fake = fake_with_repo();
    let gp = start_pool(&fake, &[]);
    let resp = client()
        .get(gp.url("/repos/acme/widgets"))
        .header("authorization", format!("token {CLIENT_TOKEN}"))
        .header("cookie", "session=abc")
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().get("x-ratelimit-remaining").is_some(), "GitHub's headers reach the client");
    assert!(resp.headers().get("etag").is_some());
    assert!(resp.headers().get("x-oauth-scopes").is_none(), "the pool token's scopes are hidden");
    assert!(resp.headers().get("github-authentication-token-expiration").is_none());
    let body: serde_json::Value = resp.json().unwrap();
    assert_eq!(body["full_name"], "acme/widgets");

    let reqs = fake.requests_to("/repos/acme/widgets");
    assert_eq!(reqs.len(), 1);
    let token = reqs[0].token.as_deref().expect("a pooled read carries a token");
    assert!(token == TOKEN_A || token == TOKEN_B, "pool token used");
    assert!(fake.requests().iter().all(|r| r.token.as_deref() != Some(CLIENT_TOKEN)), "client token never upstream");
    assert!(reqs[0].user_agent.as_deref().is_some_and(|ua| ua.starts_with("ghpool/")), "a User-Agent is set");
}

#[test]
fn pick_prefers_the_identity_with_most_remaining() {
    let fake = fake_with_repo();
    fake.set_budget("alice", "core", 5000, 100);
    fake.set_budget("bob", "core", 5000, 4000);
    let gp = start_pool(&fake, &[]);
    for i in 0..10 {
        assert_eq!(client().get(gp.url(&format!("/repos/acme/widgets?n={i}"))).send().unwrap().status(), 200);
    }
    let seen = tokens_seen(&fake, "/repos/acme/widgets");
    assert_eq!(seen.get(&Some(TOKEN_B.to_string())), Some(&10), "all reads go to bob: {seen:?}");
}

#[test]
fn in_flight_requests_spread_a_burst_over_equal_identities() {
    let fake = fake_with_repo();
    let gp = start_pool(&fake, &[]);
    fake.set_delay(Duration::from_millis(300));
    let statuses = burst(&gp.url("/repos/acme/widgets"), 50);
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let seen = tokens_seen(&fake, "/repos/acme/widgets");
    let a = seen.get(&Some(TOKEN_A.to_string())).copied().unwrap_or(0);
    let b = seen.get(&Some(TOKEN_B.to_string())).copied().unwrap_or(0);
    assert_eq!(a + b, 50);
    assert!(a >= 15 && b >= 15, "a burst spreads over both identities: a={a} b={b}");
}

#[test]
fn in_flight_requests_count_against_the_budget_of_a_slightly_richer_identity() {
    // bob has 10 more than alice: without in-flight accounting every read of a burst would go to
    // bob, who looks best until his answers come back.
    let fake = fake_with_repo();
    fake.set_budget("alice", "core", 5000, 1000);
    fake.set_budget("bob", "core", 5000, 1010);
    let gp = start_pool(&fake, &[]);
    fake.set_delay(Duration::from_millis(300));
    let statuses = burst(&gp.url("/repos/acme/widgets"), 50);
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let seen = tokens_seen(&fake, "/repos/acme/widgets");
    let a = seen.get(&Some(TOKEN_A.to_string())).copied().unwrap_or(0);
    assert!(a >= 15, "alice takes her share once bob's in-flight reads bring him level: {seen:?}");
}

#[test]
fn tokens_of_one_login_share_one_budget() {
    let fake = fake_with_repo();
    let identities = [("a1", TOKEN_A), ("a2", TOKEN_A2), ("b", TOKEN_B)];
    let gp = support::ghpool::start_pool(&fake.base_url(), "acme", &identities, &[]);
    // In flight: alice's two tokens together take as much of a burst as bob's one.
    fake.set_delay(Duration::from_millis(300));
    let statuses = burst(&gp.url("/repos/acme/widgets"), 30);
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let seen = tokens_seen(&fake, "/repos/acme/widgets");
    let bob = seen.get(&Some(TOKEN_B.to_string())).copied().unwrap_or(0);
    assert!(bob >= 12, "bob's one token gets about half, not a third: {seen:?}");

    // Budget: both of alice's identities report alice's one budget.
    fake.set_delay(Duration::ZERO);
    let stats = gp.get_json("/stats");
    let ids = stats["identities"].as_array().unwrap();
    let core = |id: &str| ids.iter().find(|i| i["id"] == id).unwrap()["resources"]["core"]["remaining"].clone();
    assert_eq!(core("a1"), core("a2"));
    let alice_used = 5000 - core("a1").as_u64().unwrap();
    let a_requests: u64 = ["a1", "a2"]
        .iter()
        .map(|id| ids.iter().find(|i| i["id"] == *id).unwrap()["upstream_requests"].as_u64().unwrap())
        .sum();
    assert_eq!(alice_used, a_requests + 2, "every read and both GET /user calls counted on one budget");
}

#[test]
fn logins_are_resolved_at_start_and_a_failing_identity_is_left_out() {
    let fake = fake_with_repo();
    let upstream = fake.base_url();
    let gp = GhpoolProcess::start(&[
        ("GHPOOL_UPSTREAM", upstream.as_str()),
        ("GHPOOL_ALLOWED_OWNERS", "acme"),
        ("GHPOOL_PAT_A", "env:TOKEN_A"),
        ("GHPOOL_PAT_BAD", "env:TOKEN_BAD"),
        ("GHPOOL_PAT_MISSING", "env:NOT_SET_ANYWHERE"),
        ("TOKEN_A", TOKEN_A),
        ("TOKEN_BAD", "ghp_revokedrevokedrevokedrevokedrevoked"),
    ]);
    let stats = gp.get_json("/stats");
    let ids: Vec<(String, String)> = stats["identities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["id"].as_str().unwrap().to_string(), i["login"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(ids, [("a".to_string(), "alice".to_string())]);
    let log = gp.log();
    assert!(log.contains("identity `bad` left out") && log.contains("401"), "{log}");
    assert!(log.contains("identity `missing` left out") && log.contains("NOT_SET_ANYWHERE"), "{log}");
    let user_calls = fake.requests_to("/user");
    assert_eq!(user_calls.len(), 2, "GET /user once per resolvable identity");
    for i in 0..3 {
        client().get(gp.url(&format!("/repos/acme/widgets?n={i}"))).send().unwrap();
    }
    assert_eq!(tokens_seen(&fake, "/repos/acme/widgets").get(&Some(TOKEN_A.to_string())), Some(&3));
}

#[test]
fn no_usable_identity_means_no_start() {
    let fake = fake_with_repo();
    let upstream = fake.base_url();
    let (code, out) = run_to_exit(
        &[
            ("GHPOOL_UPSTREAM", upstream.as_str()),
            ("GHPOOL_ALLOWED_OWNERS", "acme"),
            ("GHPOOL_PAT_BAD", "ghp_revokedrevokedrevokedrevokedrevoked"),
        ],
        None,
        &[],
    );
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("no identity could be used") && out.contains("identity `bad`"), "{out}");
    assert!(!out.contains("revokedrevoked"), "the token is never printed: {out}");
}

#[test]
fn stats_and_metrics_describe_the_pool_and_never_show_a_token() {
    let fake = fake_with_repo();
    let gp = start_pool(&fake, &[]);
    for i in 0..4 {
        assert_eq!(client().get(gp.url(&format!("/repos/acme/widgets/issues?n={i}"))).send().unwrap().status(), 200);
    }
    assert_eq!(client().get(gp.url("/repos/evil/x")).send().unwrap().status(), 403);

    let stats_text = client().get(gp.url("/stats")).send().unwrap().text().unwrap();
    let stats: serde_json::Value = serde_json::from_str(&stats_text).unwrap();
    let ids = stats["identities"].as_array().unwrap();
    assert_eq!(ids.len(), 2);
    for i in ids {
        assert!(["alice", "bob"].contains(&i["login"].as_str().unwrap()));
        assert_eq!(i["state"], "ok");
        assert_eq!(i["in_flight"], 0);
        let core = &i["resources"]["core"];
        assert_eq!(core["limit"], 5000);
        assert!(core["remaining"].as_u64().unwrap() < 5000 && core["reset"].as_u64().unwrap() > 0);
    }
    let total: u64 = ids.iter().map(|i| i["upstream_requests"].as_u64().unwrap()).sum();
    assert_eq!(total, 4);
    assert_eq!(stats["requests"]["by_route"]["pooled_read"], 4);
    assert_eq!(stats["requests"]["by_route"]["refused"], 1);
    assert_eq!(stats["requests"]["by_status"]["403"], 1);

    let metrics = client().get(gp.url("/metrics")).send().unwrap().text().unwrap();
    assert!(metrics.contains(r#"ghpool_upstream_requests_total{identity="#));
    assert!(metrics.contains(r#"ghpool_rate_limit_remaining{identity="a",resource="core"}"#));
    assert!(metrics.contains("ghpool_request_duration_seconds_bucket"));
    let prom_stats = client()
        .get(gp.url("/stats"))
        .header("accept", "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5")
        .send()
        .unwrap();
    assert!(prom_stats.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    assert!(prom_stats.text().unwrap().contains("ghpool_requests_total"));

    let log = gp.log();
    for secret in [TOKEN_A, TOKEN_B] {
        assert!(!stats_text.contains(secret) && !metrics.contains(secret) && !log.contains(secret));
    }
    assert!(log.contains("route=pooled_read identity="), "one log line per request: {log}");
}

#[test]
fn debug_logging_never_prints_a_token() {
    let fake = fake_with_repo();
    fake.add_token(CLIENT_TOKEN, "carol");
    let gp = start_pool(&fake, &[("RUST_LOG", "trace,pingora_proxy::proxy_h1=trace")]);
    for _ in 0..2 {
        assert_eq!(client().get(gp.url("/repos/acme/widgets")).send().unwrap().status(), 200);
    }
    client()
        .post(gp.url("/repos/acme/widgets/issues"))
        .header("authorization", format!("token {CLIENT_TOKEN}"))
        .body("{}")
        .send()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let log = gp.log();
    assert!(log.contains("DEBUG") || log.contains("TRACE"), "debug logging is on: {log}");
    for secret in [TOKEN_A, TOKEN_B, CLIENT_TOKEN] {
        assert!(!log.contains(secret), "a token in the log at trace level");
    }
}

#[test]
fn metrics_pass_promtool() {
    let fake = fake_with_repo();
    let gp = start_pool(&fake, &[]);
    client().get(gp.url("/repos/acme/widgets")).send().unwrap();
    let text = client().get(gp.url("/metrics")).send().unwrap().text().unwrap();
    let mut child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool is installed by .ci/run (Debian package prometheus)");
    use std::io::Write;
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && report.trim().is_empty(), "promtool: {report}\n{text}");
}

#[test]
fn anonymous_default_serves_public_reads_without_a_token() {
    let fake = fake_with_repo();
    let upstream = fake.base_url();
    let gp = GhpoolProcess::start(&[("GHPOOL_UPSTREAM", upstream.as_str())]);
    let resp = client()
        .get(gp.url("/repos/anyone/widgets"))
        .header("authorization", format!("token {CLIENT_TOKEN}"))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 404, "reaches the fake, which has no such repo");
    let reqs = fake.requests_to("/repos/anyone/widgets");
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].token, None, "anonymous: no token at all, and never the client's");
    assert!(gp.log().contains("no identities configured"), "a loud warning at start");
    assert_eq!(gp.get_json("/stats")["mode"], "anonymous");
    assert_eq!(client().get(gp.url("/readyz")).send().unwrap().status(), 200);
}

#[test]
fn reads_via_absolute_form_head_and_the_ghes_prefix() {
    let fake = fake_with_repo();
    let gp = start_pool(&fake, &[]);
    // What gh sends with HTTP_PROXY pointing at ghpool.
    let proxied = reqwest::blocking::Client::builder()
        .proxy(reqwest::Proxy::http(gp.url("")).unwrap())
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let resp = proxied.get("http://api.github.localhost/repos/acme/widgets").send().unwrap();
    assert_eq!(resp.status(), 200);
    let resp = proxied.get("http://evil.example/repos/acme/widgets").send().unwrap();
    assert_eq!(resp.status(), 400, "a foreign host is refused");
    let resp = client().head(gp.url("/api/v3/repos/acme/widgets?via=ghes")).send().unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().get("etag").is_some(), "HEAD answers with GET's headers");
    let paths: Vec<(String, String)> =
        fake.requests().into_iter().map(|r| (r.method, r.path)).filter(|(_, p)| p != "/user").collect();
    assert_eq!(
        paths,
        [
            ("GET".to_string(), "/repos/acme/widgets".to_string()),
            // The cache fills itself with a GET, which then serves HEADs too.
            ("GET".to_string(), "/repos/acme/widgets?via=ghes".to_string())
        ]
    );
}

#[test]
fn writes_carry_the_clients_token_and_need_one() {
    let fake = fake_with_repo();
    fake.add_token(CLIENT_TOKEN, "carol");
    let gp = start_pool(&fake, &[]);
    let resp = client().post(gp.url("/repos/acme/widgets/issues")).body("{}").send().unwrap();
    assert_eq!(resp.status(), 401);
    let body: serde_json::Value = resp.json().unwrap();
    assert!(body["message"].as_str().unwrap().contains("Authorization"));
    assert!(fake.requests_to("/repos/acme/widgets/issues").is_empty(), "no upstream call without auth");

    client()
        .post(gp.url("/repos/acme/widgets/issues"))
        .header("authorization", format!("token {CLIENT_TOKEN}"))
        .body(r#"{"title":"x"}"#)
        .send()
        .unwrap();
    let reqs = fake.requests_to("/repos/acme/widgets/issues");
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].token.as_deref(), Some(CLIENT_TOKEN), "the client's own token, never a pool token");
}

#[test]
fn exhausted_pool_answers_429_at_once() {
    let fake = fake_with_repo();
    let gp = start_pool(&fake, &[]);
    fake.set_budget("alice", "core", 5000, 1);
    fake.set_budget("bob", "core", 5000, 1);
    // Each identity spends its last request; GitHub's headers then say 0 left.
    for i in 0..2 {
        assert_eq!(client().get(gp.url(&format!("/repos/acme/widgets?n={i}"))).send().unwrap().status(), 200);
    }
    fake.clear_log();
    let resp = client().get(gp.url("/repos/acme/widgets?n=3")).send().unwrap();
    assert_eq!(resp.status(), 429);
    let retry: u64 = resp.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry > 0 && retry <= 3600);
    assert!(resp.headers().get("x-ratelimit-reset").is_some());
    assert!(fake.requests().is_empty(), "no upstream call when every budget is spent");
}

/// name, config.toml, environment, what the output must say.
type ConfigCase<'a> = (&'a str, Option<&'a str>, &'a [(&'a str, &'a str)], &'a [&'a str]);

/// One test per class of configuration error: exit code 2 before listening, key named.
#[test]
fn configuration_errors_stop_the_start_and_name_the_key() {
    let cases: &[ConfigCase] = &[
        ("bad toml", Some("listen = \"127.0.0.1:1\"\n[cache\n"), &[], &["line 2"]),
        ("unknown key", Some("listne = \"x\"\n"), &[], &["listne"]),
        ("bad duration", Some("[cache]\nttl = \"soon\"\n"), &[], &["cache.ttl", "soon"]),
        ("bad size", None, &[("GHPOOL_CACHE_MAX_SIZE", "lots")], &["GHPOOL_CACHE_MAX_SIZE", "lots"]),
        ("no allowlist", None, &[("GHPOOL_PAT_A", "env:X")], &["allowed_owners"]),
        (
            "bad secret reference",
            None,
            &[("GHPOOL_PAT_A", "vault:x"), ("GHPOOL_ALLOWED_OWNERS", "o")],
            &["GHPOOL_PAT_A", "vault"],
        ),
        (
            "AWS secret without a region",
            None,
            &[
                ("GHPOOL_PAT_A", "aws:secretsmanager:s:k"),
                ("GHPOOL_ALLOWED_OWNERS", "o"),
                ("GHPOOL_UPSTREAM", "http://127.0.0.1:9"),
                // Loopback only: never ask the instance metadata service.
                ("AWS_EC2_METADATA_DISABLED", "true"),
            ],
            &["identity `a`", "aws:secretsmanager:s:k", "no AWS region"],
        ),
    ];
    for (name, toml, env, needles) in cases {
        let (code, out) = run_to_exit(env, *toml, &[]);
        assert!(matches!(code, Some(1) | Some(2)), "{name}: exit {code:?}\n{out}");
        for needle in *needles {
            assert!(out.contains(needle), "{name}: `{needle}` missing from:\n{out}");
        }
        assert!(!out.contains("listening on"), "{name}: stopped before listening");
    }
}

#[test]
fn test_flag_checks_the_configuration_without_serving() {
    let example = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config.example.toml")).unwrap();
    let (code, out) = run_to_exit(&[], Some(&example), &["-t"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("configuration OK"), "{out}");
}

#[test]
fn sigterm_without_a_conf_file_stops_within_seconds() {
    let fake = fake_with_repo();
    let upstream = fake.base_url();
    let mut gp = GhpoolProcess::start(&[("GHPOOL_UPSTREAM", upstream.as_str())]);
    // Pingora's own default grace period is 300 s; ghpool's default drains for 5 s + 5 s.
    let took = gp.terminate(Duration::from_secs(25));
    assert!(took.is_some(), "still running 25 s after SIGTERM:\n{}", gp.log());
}
