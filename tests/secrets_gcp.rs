//! Issue #6 item 5: identities whose tokens live in GCP Secret Manager
//! (`gcp:secretmanager:projects/<p>/secrets/<s>:<version>`), read with a token from the metadata
//! server or from a service-account key file. The fake Google endpoints stand in for both; the fake
//! GitHub's request log shows which tokens reached upstream.

mod support;

use std::time::{Duration, Instant};

use support::fake_gcp::FakeGcp;
use support::fake_github::FakeGithub;
use support::ghpool::{client, run_to_exit, GhpoolProcess};

const TOKEN_A: &str = "ghp_gcpAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
const TOKEN_B: &str = "ghp_gcpBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB";
const ROTATED: &str = "ghp_gcpRotatedRRRRRRRRRRRRRRRRRRRRRRRRRR";
const SECRET_A: &str = "projects/p/secrets/ghpool-a";
const SECRET_B: &str = "projects/p/secrets/ghpool-b";
const REF_A: &str = "gcp:secretmanager:projects/p/secrets/ghpool-a:latest";
const REF_B: &str = "gcp:secretmanager:projects/p/secrets/ghpool-b:latest";
const METADATA_PATH: &str = "/computeMetadata/v1/instance/service-accounts/default/token";

fn fakes() -> (FakeGithub, FakeGcp) {
    let github = FakeGithub::start();
    github.add_token(TOKEN_A, "alice");
    github.add_token(TOKEN_B, "bob");
    github.add_repo("acme", "widgets");
    let gcp = FakeGcp::start();
    gcp.add_secret_version(SECRET_A, &format!("{TOKEN_A}\n"));
    gcp.add_secret_version(SECRET_B, TOKEN_B);
    (github, gcp)
}

/// ghpool in front of the fake GitHub, reading Secret Manager at the fake GCP, plus `extra`.
fn env<'a>(github: &'a str, gcp: &'a str, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut env =
        vec![("GHPOOL_UPSTREAM", github), ("GHPOOL_ALLOWED_OWNERS", "acme"), ("GHPOOL_GCP_SECRETMANAGER_URL", gcp)];
    env.extend_from_slice(extra);
    env
}

/// `n` distinct reads (the cache answers none); their statuses.
fn reads(gp: &GhpoolProcess, tag: &str, n: usize) -> Vec<u16> {
    (0..n)
        .map(|i| client().get(gp.url(&format!("/repos/acme/widgets?{tag}={i}"))).send().unwrap().status().as_u16())
        .collect()
}

fn tokens_upstream(github: &FakeGithub, path: &str) -> Vec<String> {
    github.requests_to(path).iter().filter_map(|r| r.token.clone()).collect()
}

/// Neither a GitHub token, nor a Google access token, nor any part of a private key is in `log`.
fn assert_no_secret_in(log: &str, gcp: &FakeGcp, key_file: Option<&str>) {
    for token in [TOKEN_A, TOKEN_B, ROTATED] {
        assert!(!log.contains(token), "a GitHub token is in the log:\n{log}");
    }
    for token in gcp.issued_tokens() {
        assert!(!log.contains(&token), "a Google access token is in the log:\n{log}");
    }
    assert!(!log.contains("PRIVATE KEY"), "{log}");
    if let Some(key_file) = key_file {
        let key: serde_json::Value = serde_json::from_str(key_file).unwrap();
        let body_lines = key["private_key"].as_str().unwrap().lines().filter(|l| !l.starts_with("-----"));
        for line in body_lines {
            assert!(!log.contains(line), "a line of the private key is in the log:\n{log}");
        }
    }
}

#[test]
fn issue6_a_token_from_the_metadata_server_reads_the_secret() {
    let (github, gcp) = fakes();
    let (github_url, gcp_url, metadata) = (github.base_url(), gcp.base_url(), gcp.metadata_host());
    let gp = GhpoolProcess::start(&env(
        &github_url,
        &gcp_url,
        &[("GHPOOL_PAT_A", REF_A), ("GCE_METADATA_HOST", metadata.as_str())],
    ));

    assert!(reads(&gp, "m", 3).iter().all(|s| *s == 200));
    assert_eq!(tokens_upstream(&github, "/user"), [TOKEN_A], "the resolved token (trimmed) asked who it is");
    assert!(tokens_upstream(&github, "/repos/acme/widgets").iter().all(|t| t == TOKEN_A));
    assert_eq!(gp.get_json("/stats")["identities"][0]["login"], "alice");

    let asked = gcp.requests_to(METADATA_PATH);
    assert_eq!(asked.len(), 1, "one token from the metadata server: {asked:?}");
    let access = gcp.requests_to("/v1/");
    assert_eq!(access.len(), 1, "{access:?}");
    assert_eq!(access[0].path, "/v1/projects/p/secrets/ghpool-a/versions/latest:access");
    assert_eq!((access[0].status, access[0].token.clone()), (200, gcp.issued_tokens().first().cloned()));
    assert_no_secret_in(&gp.log(), &gcp, None);
}

#[test]
fn issue6_a_service_account_key_file_reads_every_secret_with_one_token() {
    let (github, gcp) = fakes();
    let key_file = gcp.service_account_key("ghpool@p.iam.gserviceaccount.com");
    let dir = tempfile::tempdir().unwrap();
    let key_path = dir.path().join("key.json");
    std::fs::write(&key_path, &key_file).unwrap();
    let (github_url, gcp_url, metadata) = (github.base_url(), gcp.base_url(), gcp.metadata_host());
    let key_path = key_path.to_str().unwrap();
    let extra = [
        ("GHPOOL_PAT_A", REF_A),
        ("GHPOOL_PAT_B", REF_B),
        ("GOOGLE_APPLICATION_CREDENTIALS", key_path),
        // Set, yet unused: a key file takes precedence over the metadata server.
        ("GCE_METADATA_HOST", metadata.as_str()),
    ];
    let gp = GhpoolProcess::start(&env(&github_url, &gcp_url, &extra));

    assert!(reads(&gp, "s", 6).iter().all(|s| *s == 200));
    let mut who = tokens_upstream(&github, "/user");
    who.sort();
    assert_eq!(who, [TOKEN_A, TOKEN_B], "both resolved tokens asked who they are");
    assert!(tokens_upstream(&github, "/repos/acme/widgets").iter().all(|t| t == TOKEN_A || t == TOKEN_B));
    let stats = gp.get_json("/stats");
    let mut logins: Vec<&str> =
        stats["identities"].as_array().unwrap().iter().map(|i| i["login"].as_str().unwrap()).collect();
    logins.sort();
    assert_eq!(logins, ["alice", "bob"]);

    assert!(gcp.requests_to(METADATA_PATH).is_empty(), "the metadata server is not asked");
    let minted = gcp.requests_to("/token");
    assert_eq!(minted.len(), 1, "the two secrets share one access token: {minted:?}");
    assert_eq!(minted[0].status, 200, "the fake verified the assertion's RS256 signature");
    let access = gcp.requests_to("/v1/");
    assert_eq!(access.len(), 2, "{access:?}");
    assert!(access.iter().all(|r| r.status == 200 && r.token == gcp.issued_tokens().first().cloned()));
    assert_no_secret_in(&gp.log(), &gcp, Some(&key_file));
}

/// A start-up that must fail: the reference, how ghpool gets a Google token, what the error says.
struct Refusal<'a> {
    name: &'a str,
    reference: &'a str,
    credentials: (&'a str, &'a str),
    needles: &'a [&'a str],
}

#[test]
fn issue6_a_secret_that_cannot_be_read_stops_start_up_naming_it() {
    let (github, gcp) = fakes();
    gcp.deny("projects/p/secrets/forbidden");
    // A key whose account the token endpoint does not know: the signature cannot be checked.
    let trusted = gcp.service_account_key("ghpool@p.iam.gserviceaccount.com");
    let untrusted = trusted.replace("ghpool@p.iam", "stranger@p.iam");
    let dir = tempfile::tempdir().unwrap();
    let untrusted_path = dir.path().join("untrusted.json");
    std::fs::write(&untrusted_path, &untrusted).unwrap();
    let (github_url, gcp_url, metadata) = (github.base_url(), gcp.base_url(), gcp.metadata_host());
    let untrusted_path = untrusted_path.to_str().unwrap();

    let via_metadata = ("GCE_METADATA_HOST", metadata.as_str());
    let cases = [
        Refusal {
            name: "missing",
            reference: "gcp:secretmanager:projects/p/secrets/missing:latest",
            credentials: via_metadata,
            needles: &["projects/p/secrets/missing/versions/latest", "not found", "HTTP 404"],
        },
        Refusal {
            name: "missing version",
            reference: "gcp:secretmanager:projects/p/secrets/ghpool-a:7",
            credentials: via_metadata,
            needles: &["projects/p/secrets/ghpool-a/versions/7", "not found"],
        },
        Refusal {
            name: "forbidden",
            reference: "gcp:secretmanager:projects/p/secrets/forbidden:latest",
            credentials: via_metadata,
            needles: &["projects/p/secrets/forbidden/versions/latest", "permission denied", "secretAccessor"],
        },
        Refusal {
            name: "untrusted key",
            reference: REF_A,
            credentials: ("GOOGLE_APPLICATION_CREDENTIALS", untrusted_path),
            needles: &["token endpoint", "/token", "HTTP 400", "invalid_grant"],
        },
    ];
    for Refusal { name, reference, credentials, needles } in cases {
        let (code, out) =
            run_to_exit(&env(&github_url, &gcp_url, &[("GHPOOL_PAT_A", reference), credentials]), None, &[]);
        assert_eq!(code, Some(1), "{name}: {out}");
        assert!(out.contains("no identity could be used") && out.contains("identity `a`"), "{name}: {out}");
        for needle in needles {
            assert!(out.contains(needle), "{name}: `{needle}` missing from:\n{out}");
        }
        assert!(!out.contains("listening on"), "{name}: stopped before listening");
        assert_no_secret_in(&out, &gcp, Some(&untrusted));
    }
}

#[test]
fn issue6_a_quarantined_identity_comes_back_when_its_gcp_secret_gets_a_new_version() {
    let (github, gcp) = fakes();
    let (github_url, gcp_url, metadata) = (github.base_url(), gcp.base_url(), gcp.metadata_host());
    let extra = [
        ("GHPOOL_PAT_A", REF_A),
        ("GHPOOL_PAT_B", "env:TOKEN_B"),
        ("TOKEN_B", TOKEN_B),
        ("GCE_METADATA_HOST", metadata.as_str()),
        ("GHPOOL_POOL_REFRESH", "1s"),
    ];
    let gp = GhpoolProcess::start(&env(&github_url, &gcp_url, &extra));
    github.revoke_token(TOKEN_A);
    assert!(reads(&gp, "before", 4).iter().all(|s| *s == 200));
    let state = |gp: &GhpoolProcess| {
        let stats = gp.get_json("/stats");
        stats["identities"].as_array().unwrap().iter().find(|i| i["id"] == "a").unwrap()["state"].clone()
    };
    assert_eq!(state(&gp), "quarantined");
    // The keeper has re-read the secret once (still the revoked token), so it holds a Google token.
    let deadline = Instant::now() + Duration::from_secs(15);
    while gcp.requests_to("/v1/").len() < 2 {
        assert!(Instant::now() < deadline, "the keeper never re-read the secret:\n{}", gp.log());
        std::thread::sleep(Duration::from_millis(100));
    }

    // A new version is added (and the cached Google token has expired meanwhile: ghpool must
    // notice the 401 and fetch a fresh one).
    github.add_token(ROTATED, "alice");
    gcp.expire_tokens();
    gcp.add_secret_version(SECRET_A, ROTATED);
    let deadline = Instant::now() + Duration::from_secs(15);
    while state(&gp) != "ok" {
        assert!(Instant::now() < deadline, "still quarantined:\n{}\n{:?}", gp.log(), gcp.requests());
        std::thread::sleep(Duration::from_millis(200));
    }
    github.set_budget("bob", "core", 5000, 0);
    assert!(reads(&gp, "after", 3).iter().all(|s| *s == 200));
    assert!(tokens_upstream(&github, "/repos/acme/widgets").iter().any(|t| t == ROTATED), "the new version serves");
    let refused = gcp.requests_to("/v1/").iter().filter(|r| r.status == 401).count();
    assert!(refused >= 1 && gcp.requests_to(METADATA_PATH).len() >= 2, "{:?}", gcp.requests());
    assert_no_secret_in(&gp.log(), &gcp, None);
}
