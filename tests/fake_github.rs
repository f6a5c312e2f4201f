//! Self-tests of the fake GitHub API in `tests/support/fake_github.rs`: it must behave as GITHUB.md describes,
//! or every proxy test built on it proves nothing.
mod support;

use std::time::{Duration, Instant};

use reqwest::blocking::{Client, Response};
use serde_json::Value;
use support::fake_github::FakeGithub;

fn client() -> Client {
    Client::builder().no_proxy().user_agent("fake-selftest/1.0").build().expect("client")
}

/// GET `path` with `Authorization: token <token>` if given, plus extra headers.
fn get(fake: &FakeGithub, path: &str, token: Option<&str>, extra: &[(&str, &str)]) -> Response {
    let mut req = client().get(format!("{}{path}", fake.base_url()));
    if let Some(token) = token {
        req = req.header("Authorization", format!("token {token}"));
    }
    for (name, value) in extra {
        req = req.header(*name, *value);
    }
    req.send().expect("request to fake GitHub")
}

fn header(resp: &Response, name: &str) -> String {
    resp.headers().get(name).map(|v| v.to_str().expect("ascii header").to_string()).unwrap_or_default()
}

fn remaining(resp: &Response) -> u64 {
    header(resp, "x-ratelimit-remaining").parse().expect("x-ratelimit-remaining")
}

fn json(resp: Response) -> Value {
    resp.json().expect("JSON body")
}

/// A fake with token `t1` for alice and repository o/r.
fn setup() -> FakeGithub {
    let fake = FakeGithub::start();
    fake.add_token("t1", "alice");
    fake.add_repo("o", "r");
    fake
}

#[test]
fn budget_decrements_and_answers_403_at_zero() {
    let fake = setup();
    fake.set_budget("alice", "core", 5, 2);
    let first = get(&fake, "/repos/o/r", Some("t1"), &[]);
    assert_eq!(first.status(), 200);
    assert_eq!(header(&first, "x-ratelimit-limit"), "5");
    assert_eq!(header(&first, "x-ratelimit-remaining"), "1");
    assert_eq!(header(&first, "x-ratelimit-used"), "4");
    assert_eq!(header(&first, "x-ratelimit-resource"), "core");
    assert!(header(&first, "x-ratelimit-reset").parse::<u64>().expect("reset") > 1_700_000_000);
    assert!(!header(&first, "x-github-request-id").is_empty());
    assert_eq!(header(&first, "content-type"), "application/json; charset=utf-8");
    assert_eq!(header(&first, "cache-control"), "private, max-age=60, s-maxage=60");
    assert_eq!(header(&first, "github-authentication-token-expiration"), "2030-01-01 00:00:00 UTC");
    assert_eq!(header(&first, "x-oauth-scopes"), "repo, read:org");
    let body = json(first);
    assert_eq!(body["full_name"], "o/r");
    assert_eq!(body["url"], format!("{}/repos/o/r", fake.base_url()));
    assert_eq!(body["issues_url"], format!("{}/repos/o/r/issues{{/number}}", fake.base_url()));
    assert_eq!(body["permissions"]["push"], true);

    assert_eq!(remaining(&get(&fake, "/repos/o/r", Some("t1"), &[])), 0);
    for _ in 0..2 {
        let limited = get(&fake, "/repos/o/r", Some("t1"), &[]);
        assert_eq!(limited.status(), 403);
        assert_eq!(remaining(&limited), 0);
        assert_eq!(header(&limited, "x-ratelimit-used"), "5");
        let body = json(limited);
        assert!(body["message"].as_str().expect("message").starts_with("API rate limit exceeded for user ID 1."));
    }
    assert_eq!(fake.remaining("alice", "core"), 0);
    // Other resources are separate budgets.
    assert_eq!(get(&fake, "/search/issues?q=x", Some("t1"), &[]).status(), 200);
}

#[test]
fn reset_in_the_past_refills_the_budget() {
    let fake = setup();
    fake.set_budget("alice", "core", 10, 0);
    assert_eq!(get(&fake, "/repos/o/r", Some("t1"), &[]).status(), 403);
    fake.set_reset("alice", "core", 1);
    let resp = get(&fake, "/repos/o/r", Some("t1"), &[]);
    assert_eq!(resp.status(), 200);
    assert_eq!(remaining(&resp), 9);
}

#[test]
fn matching_etag_gives_free_304() {
    let fake = setup();
    let first = get(&fake, "/repos/o/r", Some("t1"), &[]);
    let etag = header(&first, "etag");
    assert!(etag.starts_with("W/\"") && etag.len() == 64 + 4, "weak sha256 ETag, got {etag}");
    assert!(!header(&first, "last-modified").is_empty());
    let after_first = remaining(&first);
    assert_eq!(after_first, 4999);

    let revalidated = get(&fake, "/repos/o/r", Some("t1"), &[("If-None-Match", &etag)]);
    assert_eq!(revalidated.status(), 304);
    assert_eq!(header(&revalidated, "etag"), etag);
    assert_eq!(header(&revalidated, "cache-control"), "private, max-age=60, s-maxage=60");
    assert!(header(&revalidated, "vary").starts_with("Accept, Authorization, Cookie"));
    assert_eq!(remaining(&revalidated), after_first, "a 304 costs nothing");
    assert!(revalidated.text().expect("body").is_empty());

    let stale = get(&fake, "/repos/o/r", Some("t1"), &[("If-None-Match", "W/\"other\"")]);
    assert_eq!(stale.status(), 200);
    assert_eq!(remaining(&stale), after_first - 1);
}

#[test]
fn etags_are_token_specific() {
    let fake = setup();
    fake.add_token("t2", "bob");
    let alice = header(&get(&fake, "/repos/o/r", Some("t1"), &[]), "etag");
    let bob = header(&get(&fake, "/repos/o/r", Some("t2"), &[]), "etag");
    assert_ne!(alice, bob);
    let cross = get(&fake, "/repos/o/r", Some("t2"), &[("If-None-Match", &alice)]);
    assert_eq!(cross.status(), 200, "another token's ETag does not revalidate");
    assert_eq!(remaining(&cross), 4998);
}

#[test]
fn tokens_of_one_login_share_a_budget() {
    let fake = setup();
    fake.add_token("t1b", "alice");
    fake.add_token("t2", "bob");
    assert_eq!(remaining(&get(&fake, "/repos/o/r", Some("t1"), &[])), 4999);
    assert_eq!(remaining(&get(&fake, "/repos/o/r", Some("t1b"), &[])), 4998);
    assert_eq!(remaining(&get(&fake, "/repos/o/r", Some("t2"), &[])), 4999);
    assert_eq!(json(get(&fake, "/user", Some("t1b"), &[]))["login"], "alice");
}

#[test]
fn unknown_and_revoked_tokens_get_401() {
    let fake = setup();
    let unknown = get(&fake, "/repos/o/r", Some("nope"), &[]);
    assert_eq!(unknown.status(), 401);
    let body = json(unknown);
    assert_eq!(body["message"], "Bad credentials");
    assert_eq!(body["documentation_url"], "https://docs.github.com/rest");

    assert_eq!(get(&fake, "/user", Some("t1"), &[]).status(), 200);
    fake.revoke_token("t1");
    assert_eq!(get(&fake, "/user", Some("t1"), &[]).status(), 401);
    assert_eq!(fake.remaining("alice", "core"), 4999, "401s are not charged");
    assert_eq!(fake.remaining("anonymous", "core"), 60);
}

#[test]
fn every_authorization_scheme_works_and_anonymous_has_60() {
    let fake = setup();
    let url = format!("{}/user", fake.base_url());
    for value in ["token t1", "Bearer t1", "bearer t1", "Basic YWxpY2U6dDE=" /* alice:t1 */] {
        let resp = client().get(&url).header("Authorization", value).send().expect("request");
        assert_eq!(resp.status(), 200, "{value}");
        assert_eq!(json(resp)["login"], "alice");
    }
    assert!(fake.requests().iter().all(|r| r.token.as_deref() == Some("t1")));

    let anonymous = get(&fake, "/user", None, &[]);
    assert_eq!(anonymous.status(), 401);
    assert_eq!(header(&anonymous, "x-ratelimit-limit"), "60");
    assert_eq!(json(anonymous)["message"], "Requires authentication");
    let repo = get(&fake, "/repos/o/r", None, &[]);
    assert_eq!(repo.status(), 200);
    assert_eq!(header(&repo, "x-ratelimit-remaining"), "58");
    assert_eq!(header(&repo, "github-authentication-token-expiration"), "");
}

#[test]
fn pagination_links_are_absolute_repositories_urls() {
    let fake = setup();
    let id = fake.add_repo("o", "r");
    assert_eq!(id, 1000);
    fake.add_issues("o", "r", 65);
    let base = fake.base_url();

    let first = get(&fake, "/repos/o/r/issues?per_page=20", Some("t1"), &[]);
    let link = header(&first, "link");
    assert_eq!(
        link,
        format!(
            "<{base}/repositories/{id}/issues?per_page=20&page=2>; rel=\"next\", \
             <{base}/repositories/{id}/issues?per_page=20&page=4>; rel=\"last\""
        )
    );
    let mut numbers: Vec<u64> = Vec::new();
    let mut body = json(first);
    let mut next = next_link(&link);
    let mut last_link = link;
    loop {
        let items = body.as_array().expect("array").clone();
        assert!(items.len() <= 20);
        for issue in &items {
            let n = issue["number"].as_u64().expect("number");
            assert_eq!(issue["url"], format!("{base}/repos/o/r/issues/{n}"));
            assert_eq!(issue["state"], if n % 10 == 0 { "closed" } else { "open" });
            numbers.push(n);
        }
        let Some(url) = next else { break };
        let resp = client().get(&url).header("Authorization", "token t1").send().expect("follow Link");
        assert_eq!(resp.status(), 200);
        last_link = header(&resp, "link");
        next = next_link(&last_link);
        body = json(resp);
    }
    assert!(last_link.contains("page=3>; rel=\"prev\"") && last_link.contains("page=1>; rel=\"first\""));
    numbers.sort_unstable();
    assert_eq!(numbers, (1..=65).collect::<Vec<_>>());

    let default = json(get(&fake, &format!("/repositories/{id}/issues"), Some("t1"), &[]));
    assert_eq!(default.as_array().expect("array").len(), 30);
    let capped = get(&fake, "/repos/o/r/issues?per_page=500", Some("t1"), &[]);
    assert!(header(&capped, "link").is_empty(), "65 issues fit one page of 100");
    assert_eq!(json(capped).as_array().expect("array").len(), 65);
    assert_eq!(json(get(&fake, "/repos/o/r/issues/7", Some("t1"), &[]))["number"], 7);
    assert_eq!(json(get(&fake, &format!("/repositories/{id}",), Some("t1"), &[]))["name"], "r");
    let missing = get(&fake, "/repos/o/r/issues/66", Some("t1"), &[]);
    assert_eq!(missing.status(), 404);
    assert_eq!(remaining(&missing), 5000 - 9, "404s are charged");
}

fn next_link(link: &str) -> Option<String> {
    link.split(", ")
        .find(|part| part.ends_with("rel=\"next\""))
        .map(|part| part[1..part.find('>').expect("<url>")].to_string())
}

#[test]
fn rate_limit_is_free_and_complete() {
    let fake = setup();
    fake.set_budget("alice", "core", 100, 42);
    for _ in 0..3 {
        let resp = get(&fake, "/rate_limit", Some("t1"), &[]);
        assert_eq!(resp.status(), 200);
        let body = json(resp);
        assert_eq!(body["resources"]["core"]["remaining"], 42);
        assert_eq!(body["resources"]["core"]["used"], 58);
        assert_eq!(body["rate"]["limit"], 100);
        assert_eq!(body["resources"]["search"]["limit"], 30);
        assert_eq!(body["resources"]["graphql"]["limit"], 5000);
        assert_eq!(body["resources"]["code_search"]["limit"], 10);
    }
    let code = get(&fake, "/search/code?q=x", Some("t1"), &[]);
    assert_eq!(header(&code, "x-ratelimit-resource"), "code_search");
    assert_eq!(remaining(&code), 9);
    let search = get(&fake, "/search/issues?q=x", Some("t1"), &[]);
    assert_eq!(header(&search, "x-ratelimit-resource"), "search");
    assert_eq!(fake.remaining("alice", "core"), 42);
    let graphql = client()
        .post(format!("{}/graphql", fake.base_url()))
        .header("Authorization", "bearer t1")
        .body(r#"{"query":"{ viewer { login } }"}"#)
        .send()
        .expect("graphql");
    assert_eq!(header(&graphql, "x-ratelimit-resource"), "graphql");
    assert_eq!(json(graphql)["data"]["viewer"]["login"], "alice");
}

#[test]
fn secondary_limit_switch() {
    let fake = setup();
    fake.add_token("t2", "bob");
    fake.set_secondary_limit(Some("alice"), Some(30));
    let limited = get(&fake, "/repos/o/r", Some("t1"), &[]);
    assert_eq!(limited.status(), 403);
    assert_eq!(header(&limited, "retry-after"), "30");
    assert_eq!(remaining(&limited), 5000, "secondary limits leave remaining non-zero");
    assert!(json(limited)["message"].as_str().expect("message").contains("secondary rate limit"));
    assert_eq!(get(&fake, "/repos/o/r", Some("t2"), &[]).status(), 200, "bob is not limited");

    fake.set_secondary_limit(Some("alice"), None);
    let limited = get(&fake, "/repos/o/r", Some("t1"), &[]);
    assert_eq!(limited.status(), 403);
    assert!(limited.headers().get("retry-after").is_none());

    fake.clear_secondary_limit();
    assert_eq!(get(&fake, "/repos/o/r", Some("t1"), &[]).status(), 200);
    fake.set_secondary_limit(None, Some(5));
    assert_eq!(get(&fake, "/repos/o/r", Some("t2"), &[]).status(), 403, "None + retry_after limits everyone");
    fake.set_secondary_limit(None, None);
    assert_eq!(get(&fake, "/repos/o/r", Some("t2"), &[]).status(), 200);
}

#[test]
fn down_switch_answers_503_free() {
    let fake = setup();
    fake.set_down(true);
    let resp = get(&fake, "/repos/o/r", Some("t1"), &[]);
    assert_eq!(resp.status(), 503);
    assert_eq!(json(resp)["message"], "Service Unavailable");
    assert_eq!(fake.remaining("alice", "core"), 5000);
    fake.set_down(false);
    assert_eq!(get(&fake, "/repos/o/r", Some("t1"), &[]).status(), 200);
}

#[test]
fn request_log_records_everything() {
    let fake = setup();
    let etag = header(&get(&fake, "/repos/o/r?x=1", Some("t1"), &[]), "etag");
    get(&fake, "/repos/o/r", Some("t1"), &[("If-None-Match", &etag)]);
    get(&fake, "/nothing/here", None, &[]);
    get(&fake, "/user", Some("bad"), &[]);
    let head = client().head(format!("{}/repos/o/r", fake.base_url())).send().expect("HEAD");
    assert_eq!(head.status(), 200);
    assert!(!header(&head, "etag").is_empty());
    let length: u64 = header(&head, "content-length").parse().expect("HEAD has content-length");
    assert!(length > 100, "HEAD reports the GET body's length, got {length}");

    let log = fake.requests();
    let summary: Vec<(&str, &str, Option<&str>, u16)> =
        log.iter().map(|r| (r.method.as_str(), r.path.as_str(), r.token.as_deref(), r.status)).collect();
    assert_eq!(
        summary,
        vec![
            ("GET", "/repos/o/r?x=1", Some("t1"), 200),
            ("GET", "/repos/o/r", Some("t1"), 304),
            ("GET", "/nothing/here", None, 404),
            ("GET", "/user", Some("bad"), 401),
            ("HEAD", "/repos/o/r", None, 200),
        ]
    );
    assert_eq!(log[1].if_none_match.as_deref(), Some(etag.as_str()));
    assert_eq!(log[0].user_agent.as_deref(), Some("fake-selftest/1.0"));
    assert_eq!(fake.requests_to("/repos/").len(), 3);
    fake.clear_log();
    assert!(fake.requests().is_empty());
}

#[test]
fn delay_does_not_serialise_requests() {
    let fake = setup();
    fake.set_delay(Duration::from_millis(500));
    let started = Instant::now();
    std::thread::scope(|scope| {
        let handles: Vec<_> =
            (0..4).map(|_| scope.spawn(|| get(&fake, "/repos/o/r", Some("t1"), &[]).status())).collect();
        for handle in handles {
            assert_eq!(handle.join().expect("thread"), 200);
        }
    });
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(500), "{elapsed:?}");
    assert!(elapsed < Duration::from_millis(1900), "4 delayed requests ran one after another (2 s): {elapsed:?}");
}

#[test]
fn drop_stops_the_server() {
    let fake = setup();
    let port = fake.port();
    assert_eq!(fake.base_url(), format!("http://127.0.0.1:{port}"));
    drop(fake);
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
}

#[tokio::test]
async fn usable_from_tokio_tests() {
    let fake = setup();
    let resp = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
        .get(format!("{}/repos/o/r", fake.base_url()))
        .header("Authorization", "token t1")
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 200);
    drop(fake);
}

/// An App JWT signed with `private_pem`, issued `iat_ago` seconds ago and valid for `lifetime` from then.
fn app_jwt(private_pem: &str, app_id: u64, iat_ago: i64, lifetime: i64) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let claims =
        serde_json::json!({ "iat": now - iat_ago, "exp": now - iat_ago + lifetime, "iss": app_id.to_string() });
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(private_pem.as_bytes()).unwrap();
    jsonwebtoken::encode(&jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256), &claims, &key).unwrap()
}

#[test]
fn app_endpoints_verify_the_jwt_and_mint_expiring_scoped_installation_tokens() {
    let fake = setup();
    fake.add_repo("o", "other");
    let (private_pem, public_pem) = support::fake_github::apps::key_pair();
    let (stranger_pem, _) = support::fake_github::apps::key_pair();
    fake.add_app(5, "my-app", &public_pem, 50, "o");
    let app_get =
        |jwt: &str, path: &str| client().get(format!("{}{path}", fake.base_url())).bearer_auth(jwt).send().unwrap();
    assert_eq!(app_get(&app_jwt(&private_pem, 5, 60, 600), "/app").status(), 200);
    assert_eq!(app_get(&app_jwt(&private_pem, 5, 700, 600), "/app").status(), 401, "expired");
    assert_eq!(app_get(&app_jwt(&stranger_pem, 5, 60, 600), "/app").status(), 401, "signed by another key");
    assert_eq!(app_get("not-a-jwt", "/app").status(), 401);
    let installation = json(app_get(&app_jwt(&private_pem, 5, 60, 600), "/orgs/o/installation"));
    assert_eq!((installation["id"].as_u64(), installation["account"]["login"].as_str()), (Some(50), Some("o")));

    fake.set_installation_token_ttl(2);
    let minted = client()
        .post(format!("{}/app/installations/50/access_tokens", fake.base_url()))
        .bearer_auth(app_jwt(&private_pem, 5, 60, 600))
        .json(&serde_json::json!({ "repositories": ["r"] }))
        .send()
        .unwrap();
    assert_eq!(minted.status(), 201);
    let minted = json(minted);
    let token = minted["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("ghs_") && minted["expires_at"].as_str().unwrap().ends_with('Z'), "{minted}");
    assert_eq!(get(&fake, "/repos/o/r", Some(&token), &[]).status(), 200);
    assert_eq!(get(&fake, "/repos/o/other", Some(&token), &[]).status(), 404, "outside the token's scope");
    assert_eq!(get(&fake, "/user", Some(&token), &[]).status(), 403, "not for integrations");
    std::thread::sleep(Duration::from_millis(2100));
    assert_eq!(get(&fake, "/repos/o/r", Some(&token), &[]).status(), 401, "expired");
}
