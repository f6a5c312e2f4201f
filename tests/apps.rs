//! Issue #9: GitHub App installations as pool identities, against the fake GitHub's App endpoints
//! (JWTs verified with a key pair generated here; installation tokens with `expires_at`, scoping).

mod support;

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use support::fake_github::apps::key_pair;
use support::fake_github::FakeGithub;
use support::ghpool::{client, GhpoolProcess};

const TOKEN_A: &str = "ghp_appsAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
const APP_ID: u64 = 77;
const ACME_INSTALLATION: u64 = 1001;
const OTHER_INSTALLATION: u64 = 1002;
const WAIT: Duration = Duration::from_secs(20);

/// One key pair per test process: generating an RSA key takes a moment.
fn keys() -> &'static (String, String) {
    static KEYS: OnceLock<(String, String)> = OnceLock::new();
    KEYS.get_or_init(key_pair)
}

fn fake() -> FakeGithub {
    let fake = FakeGithub::start();
    fake.add_token(TOKEN_A, "alice");
    fake.add_repo("acme", "widgets");
    fake.add_repo("acme", "gadgets");
    fake.add_repo("other", "things");
    fake.add_app(APP_ID, "ghpool-test", &keys().1, ACME_INSTALLATION, "acme");
    fake.add_installation(APP_ID, OTHER_INSTALLATION, "other");
    fake
}

/// ghpool with the App configured as `apps` entries `(id, owner, repositories)` (by environment),
/// its key only in `APP_KEY`, plus `extra`.
fn start(fake: &FakeGithub, apps: &[(&str, &str, &str)], extra: &[(&str, &str)]) -> GhpoolProcess {
    let mut env: Vec<(String, String)> = vec![
        ("GHPOOL_UPSTREAM".into(), fake.base_url()),
        ("GHPOOL_ALLOWED_OWNERS".into(), "acme,other".into()),
        ("APP_KEY".into(), keys().0.clone()),
    ];
    for (id, owner, repositories) in apps {
        let prefix = format!("GHPOOL_APP_{}", id.to_ascii_uppercase());
        env.push((format!("{prefix}_APP_ID"), APP_ID.to_string()));
        env.push((format!("{prefix}_PRIVATE_KEY"), "env:APP_KEY".into()));
        env.push((format!("{prefix}_OWNER"), owner.to_string()));
        if !repositories.is_empty() {
            env.push((format!("{prefix}_REPOSITORIES"), repositories.to_string()));
        }
    }
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    GhpoolProcess::start(&env)
}

/// ghpool with the App installed on `acme` serving reads and writes, and these agents `(id, key,
/// repos, permissions)` (by environment; each key in its own variable), plus `extra`.
fn start_with_agents(fake: &FakeGithub, agents: &[(&str, &str, &str, &str)]) -> GhpoolProcess {
    start_with_agents_and(fake, agents, &[])
}

fn start_with_agents_and(
    fake: &FakeGithub,
    agents: &[(&str, &str, &str, &str)],
    extra: &[(&str, &str)],
) -> GhpoolProcess {
    let mut env: Vec<(String, String)> = vec![("GHPOOL_APP_ACME_SERVES".into(), "reads,writes".into())];
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    for (id, key, repos, permissions) in agents {
        let prefix = format!("GHPOOL_AGENT_{}", id.to_ascii_uppercase());
        let var = format!("{}_KEY", id.to_ascii_uppercase());
        env.push((format!("{prefix}_KEYS"), format!("env:{var}")));
        env.push((var, key.to_string()));
        env.push((format!("{prefix}_REPOS"), repos.to_string()));
        if !permissions.is_empty() {
            env.push((format!("{prefix}_PERMISSIONS"), permissions.to_string()));
        }
    }
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    start(fake, &[("acme", "acme", "")], &env)
}

/// `POST path` with `body` as JSON, as an agent with key `key`.
fn post_as(gp: &GhpoolProcess, key: &str, path: &str, body: serde_json::Value) -> reqwest::blocking::Response {
    client().post(gp.url(path)).header("authorization", format!("token {key}")).json(&body).send().unwrap()
}

fn read(gp: &GhpoolProcess, path: &str) -> u16 {
    client().get(gp.url(path)).send().map(|r| r.status().as_u16()).unwrap_or(0)
}

/// The tokens the fake saw on requests whose path starts with `prefix`, in order.
fn tokens_on(fake: &FakeGithub, prefix: &str) -> Vec<String> {
    fake.requests_to(prefix).into_iter().filter_map(|r| r.token).collect()
}

fn assert_no_secret_in(log: &str, fake: &FakeGithub) {
    assert!(!log.contains(TOKEN_A), "a PAT in the log");
    for token in fake.installation_tokens(ACME_INSTALLATION).iter().chain(&fake.installation_tokens(OTHER_INSTALLATION))
    {
        assert!(!log.contains(token.as_str()), "an installation token in the log:\n{log}");
    }
    let key_line = keys().0.lines().nth(1).unwrap();
    assert!(!log.contains(key_line), "the private key in the log");
}

#[test]
fn an_installation_is_found_by_owner_minted_at_start_and_serves_reads() {
    let fake = fake();
    let gp = start(&fake, &[("bot", "acme", "")], &[]);
    assert_eq!(fake.minted(), 1, "one token minted at start");
    let stats = gp.get_json("/stats");
    let bot = &stats["identities"][0];
    assert_eq!(bot["id"], "bot");
    assert_eq!(bot["login"], "ghpool-test[bot]");
    assert_eq!(bot["app"]["app_id"], APP_ID);
    assert_eq!(bot["app"]["installation_id"], ACME_INSTALLATION);
    assert_eq!(bot["app"]["account"], "acme");
    assert!(bot["token_expires"].as_str().is_some_and(|t| t.ends_with('Z')), "{bot}");
    assert!(bot["resources"]["core"]["limit"].as_u64().is_some(), "budget learned at start: {bot}");

    for i in 0..3 {
        assert_eq!(read(&gp, &format!("/repos/acme/widgets?n={i}")), 200);
    }
    let minted = fake.installation_tokens(ACME_INSTALLATION);
    let used = tokens_on(&fake, "/repos/acme/widgets");
    assert_eq!(used.len(), 3);
    assert!(used.iter().all(|t| minted.contains(t)), "reads go out with the installation token");

    let metrics = client().get(gp.url("/metrics")).send().unwrap().text().unwrap();
    let series = format!(
        r#"ghpool_app_installation{{account="acme",app_id="{APP_ID}",identity="bot",installation_id="{ACME_INSTALLATION}"}} 1"#
    );
    assert!(metrics.contains(&series), "{metrics}");
    assert!(metrics.contains(r#"ghpool_token_expiry_timestamp_seconds{identity="bot"}"#), "{metrics}");
    assert_no_secret_in(&gp.log(), &fake);
}

#[test]
fn tokens_are_renewed_before_they_expire_with_no_failed_request() {
    let fake = fake();
    // Six-second tokens: renewed half-way, several times within the loop below.
    fake.set_installation_token_ttl(6);
    let gp = start(&fake, &[("bot", "acme", "")], &[]);
    let started = Instant::now();
    let mut statuses = Vec::new();
    while started.elapsed() < Duration::from_secs(10) {
        statuses.push(read(&gp, &format!("/repos/acme/widgets?n={}", statuses.len())));
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(statuses.iter().all(|s| *s == 200), "no read failed across renewals: {statuses:?}");
    assert!(fake.minted() >= 3, "renewed in the background: {} tokens", fake.minted());
    let mut used = tokens_on(&fake, "/repos/acme/widgets");
    used.dedup();
    assert!(used.len() >= 3, "reads moved to each new token in turn: {} distinct runs", used.len());
    assert!(fake.requests().iter().all(|r| r.status != 401), "an expired token was never sent");
    assert!(gp.log().contains("identity `bot` has a new installation token"), "{}", gp.log());
    assert_no_secret_in(&gp.log(), &fake);
}

#[test]
fn a_failed_renewal_keeps_the_current_token_until_it_can_renew() {
    let fake = fake();
    fake.set_installation_token_ttl(12);
    let gp = start(&fake, &[("bot", "acme", "")], &[]);
    fake.refuse_minting(true);
    assert!(gp.wait_for_log("identity `bot`: its installation token could not be renewed", WAIT), "{}", gp.log());
    assert_eq!(read(&gp, "/repos/acme/widgets?during"), 200, "the current token still serves");
    assert_eq!(fake.minted(), 1);
    fake.refuse_minting(false);
    assert!(gp.wait_for_log("identity `bot` has a new installation token", WAIT), "{}", gp.log());
    assert_eq!(fake.minted(), 2);
    assert_eq!(read(&gp, "/repos/acme/widgets?after"), 200);
    let after = tokens_on(&fake, "/repos/acme/widgets?after");
    assert_eq!(
        after,
        fake.installation_tokens(ACME_INSTALLATION).into_iter().filter(|t| t.contains("000002")).collect::<Vec<_>>()
    );
}

#[test]
fn a_scoped_installation_token_reads_only_its_repositories() {
    let fake = fake();
    let gp = start(&fake, &[("bot", "acme", "widgets")], &[]);
    assert_eq!(read(&gp, "/repos/acme/widgets"), 200);
    // GitHub (the fake) enforces the scope ghpool asked for when minting.
    assert_eq!(read(&gp, "/repos/acme/gadgets"), 404);
    assert_eq!(tokens_on(&fake, "/repos/acme/gadgets").len(), 1);
}

#[test]
fn pats_and_installations_are_picked_by_budget_and_by_owner() {
    let fake = fake();
    // alice has 100 requests left, the acme installation 5000, the one on `other` 4000.
    fake.set_budget("alice", "core", 5000, 100);
    fake.set_budget(&format!("installation:{OTHER_INSTALLATION}"), "core", 5000, 4000);
    let pat = [("GHPOOL_PAT_A", "env:TOKEN_A"), ("TOKEN_A", TOKEN_A)];
    let gp = start(&fake, &[("acme_bot", "acme", ""), ("other_bot", "other", "")], &pat);
    let acme_tokens = fake.installation_tokens(ACME_INSTALLATION);
    let other_tokens = fake.installation_tokens(OTHER_INSTALLATION);

    // `other`'s reads never go to the acme installation, though it has the most budget.
    for i in 0..3 {
        assert_eq!(read(&gp, &format!("/repos/other/things?n={i}")), 200);
    }
    let used = tokens_on(&fake, "/repos/other/things");
    assert!(used.iter().all(|t| other_tokens.contains(t)), "the installation on `other` serves it: {used:?}");

    assert_eq!(read(&gp, "/repos/acme/widgets?n=1"), 200);
    assert!(acme_tokens.contains(&tokens_on(&fake, "/repos/acme/widgets?n=1")[0]), "the fuller budget serves");
    // The installation is nearly spent now; ghpool learns it from the next answer's headers.
    fake.set_budget(&format!("installation:{ACME_INSTALLATION}"), "core", 5000, 10);
    assert_eq!(read(&gp, "/repos/acme/widgets?n=2"), 200);
    assert_eq!(read(&gp, "/repos/acme/widgets?n=3"), 200);
    assert_eq!(tokens_on(&fake, "/repos/acme/widgets?n=3"), [TOKEN_A], "then alice's 100 > the installation's 9");
}

#[test]
fn a_token_rotation_keeps_the_cache_and_counts_the_full_refetch() {
    let fake = fake();
    fake.set_installation_token_ttl(4);
    let gp = start(&fake, &[("bot", "acme", "")], &[("GHPOOL_CACHE_TTL", "1s")]);
    assert_eq!(read(&gp, "/repos/acme/widgets"), 200);
    assert!(gp.wait_for_log("identity `bot` has a new installation token", WAIT), "{}", gp.log());
    std::thread::sleep(Duration::from_millis(1200));
    // Expired entry, same identity, new token: its ETag belonged to the old token, so GitHub
    // answers a full 200 — counted, and the entry is replaced, not lost.
    let resp = client().get(gp.url("/repos/acme/widgets")).send().unwrap();
    assert_eq!(resp.status(), 200);
    let cache = gp.get_json("/stats")["cache"].clone();
    assert_eq!(cache["refetched_after_rotation"], 1, "{cache}");
    assert!(cache["entries"].as_u64().unwrap() >= 1, "{cache}");
    let requests = fake.requests_to("/repos/acme/widgets");
    assert_eq!(requests.len(), 2);
    assert!(requests[1].if_none_match.is_some(), "revalidated with the entry's ETag");
}

/// Issue #16: `GET /git-credential?repo=` mints, for a keyed agent, an installation token scoped to
/// that one repository with `contents: read` (or `write` when the agent may), answered as git's
/// helpers want it and never cached by anyone; GitHub (the fake) holds the token to that scope.
#[test]
fn git_credentials_are_one_repository_tokens_minted_for_the_agent_16() {
    const KEY: &str = "ghpk_gitAGENTgitAGENTgitAGENTgitAGENTgitAGENT000";
    const WRITER: &str = "ghpk_gitWRITERgitWRITERgitWRITERgitWRITERgit00";
    let fake = fake();
    let gp =
        start_with_agents(&fake, &[("triage", KEY, "acme/widgets", ""), ("coder", WRITER, "acme/*", "contents:write")]);
    let credential = |key: Option<&str>, repo: &str| {
        let mut req = client().get(gp.url(&format!("/git-credential?repo={repo}")));
        if let Some(key) = key {
            req = req.header("authorization", format!("token {key}"));
        }
        let resp = req.send().unwrap();
        let (status, no_store) = (resp.status().as_u16(), resp.headers().get("cache-control").cloned());
        (status, no_store, resp.json::<serde_json::Value>().unwrap_or_default())
    };
    let (status, cache_control, answer) = credential(Some(KEY), "acme/widgets");
    assert_eq!(status, 200, "{answer}");
    assert_eq!(cache_control.unwrap(), "no-store");
    assert_eq!(answer["username"], "x-access-token");
    assert!(answer["expires_at"].is_string(), "{answer}");
    let token = answer["password"].as_str().unwrap().to_string();
    let (repos, permissions) = fake.token_scope(&token).expect("minted by the fake");
    assert_eq!(repos, Some(vec!["widgets".to_string()]), "one repository");
    assert_eq!(permissions, Some(serde_json::json!({"contents": "read"})), "read only");
    let minted = fake.minted();
    assert_eq!(credential(Some(KEY), "acme/widgets").2["password"], token.as_str(), "cached until near expiry");
    assert_eq!(fake.minted(), minted);

    // GitHub holds the token to its repository.
    let with_token = |path: &str| {
        client().get(format!("{}{path}", fake.base_url())).header("authorization", format!("token {token}")).send()
    };
    assert_eq!(with_token("/repos/acme/widgets").unwrap().status(), 200);
    assert_ne!(with_token("/repos/acme/gadgets").unwrap().status(), 200);

    let (_, _, written) = credential(Some(WRITER), "acme/gadgets");
    let (_, permissions) = fake.token_scope(written["password"].as_str().unwrap()).unwrap();
    assert_eq!(permissions, Some(serde_json::json!({"contents": "write"})), "contents:write for an agent that may");

    assert_eq!(credential(Some(KEY), "acme/gadgets").0, 403, "outside the agent's repositories");
    assert_eq!(credential(Some(KEY), "other/things").0, 403);
    assert_eq!(credential(None, "acme/widgets").0, 401);
    assert_eq!(credential(Some(KEY), "acme").0, 400);
    assert!(!gp.log().contains(&token) && !gp.log().contains(KEY), "no token or key in the log");
    let stats = gp.get_json("/stats");
    let triage = stats["agents"].as_array().unwrap().iter().find(|a| a["id"] == "triage").unwrap().clone();
    assert_eq!(triage["git_credentials"], 2, "{triage}");
}

/// Issue #16: the real `git credential fill`, with `ghp git-credential` as the helper for
/// github.com (`credential.useHttpPath`), prints a one-repository token for the agent's repository
/// and stops (`quit`) for another.
#[test]
fn git_fills_its_credential_from_ghp_with_an_agent_key_16() {
    const KEY: &str = "ghpk_fillAGENTfillAGENTfillAGENTfillAGENTfill00";
    let fake = fake();
    let gp = start_with_agents(&fake, &[("triage", KEY, "acme/widgets", "")]);
    let home = tempfile::tempdir().unwrap();
    let fill = |path: &str| {
        let helper = format!("!{} git-credential", env!("CARGO_BIN_EXE_ghp"));
        let mut git = std::process::Command::new("git");
        git.args(["-c", &format!("credential.https://github.com.helper={helper}")])
            .args(["-c", "credential.useHttpPath=true", "credential", "fill"])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", home.path())
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GHPOOL_URL", gp.url(""))
            .env("GH_TOKEN", KEY)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = git.spawn().expect("git");
        let request = format!("protocol=https\nhost=github.com\npath={path}\n\n");
        std::io::Write::write_all(child.stdin.as_mut().unwrap(), request.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, stdout, stderr) = fill("acme/widgets.git");
    assert!(ok, "{stdout}{stderr}");
    assert!(stdout.contains("username=x-access-token"), "{stdout}");
    let password = stdout.lines().find_map(|l| l.strip_prefix("password=")).expect("a password").to_string();
    assert_eq!(fake.token_scope(&password).unwrap().0, Some(vec!["widgets".to_string()]), "one repository");
    let (ok, stdout, stderr) = fill("acme/gadgets.git");
    assert!(!ok && !stdout.contains("password="), "refused: {stdout}{stderr}");
    assert!(stderr.contains("may not read"), "{stderr}");
}

/// Issue #16: an agent's REST write goes to GitHub with an installation token minted for its one
/// repository and its permissions — never with its key — and GitHub holds the token to both: an
/// issue is created; a pull request (a permission the agent lacks) is GitHub's 403; another
/// repository is ghpool's 403 and never sent. The agent reads its write back at once.
#[test]
fn an_agents_write_is_brokered_with_a_token_scoped_to_its_repository_and_permissions_16() {
    const KEY: &str = "ghpk_writeAGENTwriteAGENTwriteAGENTwriteAGENT0";
    let fake = fake();
    fake.add_issues("acme", "widgets", 2);
    let gp = start_with_agents(&fake, &[("triage", KEY, "acme/widgets,acme/gadgets", "issues:write")]);
    let post = |path: &str, body: serde_json::Value| {
        let resp =
            client().post(gp.url(path)).header("authorization", format!("token {KEY}")).json(&body).send().unwrap();
        (resp.status().as_u16(), resp.json::<serde_json::Value>().unwrap_or_default())
    };
    let read = |path: &str| {
        client()
            .get(gp.url(path))
            .header("authorization", format!("token {KEY}"))
            .send()
            .unwrap()
            .json::<serde_json::Value>()
            .unwrap()
    };
    assert_eq!(read("/repos/acme/widgets/issues")[0]["number"], 2);
    let (status, created) = post("/repos/acme/widgets/issues", serde_json::json!({"title": "brokered"}));
    assert_eq!(status, 201, "{created}");
    assert_eq!(read("/repos/acme/widgets/issues")[0]["number"], created["number"], "read back at once");

    let writes: Vec<_> =
        fake.requests().into_iter().filter(|r| r.method == "POST" && r.path.starts_with("/repos/")).collect();
    assert_eq!(writes.len(), 1);
    let token = writes[0].token.clone().unwrap();
    assert!(token.starts_with("ghs_"), "an installation token, not the key: {token}");
    let (repos, permissions) = fake.token_scope(&token).unwrap();
    assert_eq!(repos, Some(vec!["widgets".to_string()]));
    assert_eq!(permissions, Some(serde_json::json!({"issues": "write"})));

    let (status, refused) =
        post("/repos/acme/widgets/pulls", serde_json::json!({"title": "x", "head": "a", "base": "main"}));
    assert_eq!(status, 403, "GitHub holds the token to its permissions: {refused}");
    assert!(refused["message"].as_str().unwrap().contains("not accessible by integration"), "{refused}");
    let before = fake.requests().len();
    let (status, refused) = post("/repos/other/things/issues", serde_json::json!({"title": "x"}));
    assert_eq!(status, 403, "{refused}");
    assert!(refused["message"].as_str().unwrap().contains("agent `triage`"), "{refused}");
    assert_eq!(fake.requests().len(), before, "never sent");
    assert!(fake.requests().iter().all(|r| r.token.as_deref() != Some(KEY)), "the key never reaches GitHub");
    assert!(!gp.log().contains(KEY) && !gp.log().contains(&token));
    assert!(gp.log().contains("login=agent:triage"), "audited as the agent");
}

/// Issue #16: an App entry says what its installation serves. An agent that may write on an owner
/// where no installation serves writes stops ghpool at start, saying what to add; an installation
/// that serves writes only never joins the pool, and mints the agent's write tokens.
#[test]
fn an_agent_that_writes_needs_an_installation_that_serves_writes_16() {
    const KEY: &str = "ghpk_servesAGENTservesAGENTservesAGENTserves00";
    let fake = fake();
    let agent = [
        ("GHPOOL_AGENT_CODER_KEYS", "env:CODER_KEY"),
        ("CODER_KEY", KEY),
        ("GHPOOL_AGENT_CODER_REPOS", "acme/widgets"),
        ("GHPOOL_AGENT_CODER_PERMISSIONS", "issues:write"),
    ];
    let mut env: Vec<(&str, String)> = vec![
        ("GHPOOL_UPSTREAM", fake.base_url()),
        ("GHPOOL_ALLOWED_OWNERS", "acme".into()),
        ("APP_KEY", keys().0.clone()),
        ("GHPOOL_APP_READER_APP_ID", APP_ID.to_string()),
        ("GHPOOL_APP_READER_PRIVATE_KEY", "env:APP_KEY".into()),
        ("GHPOOL_APP_READER_OWNER", "acme".into()),
    ];
    env.extend(agent.iter().map(|(k, v)| (*k, v.to_string())));
    let reads_only: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (code, out) = support::ghpool::run_to_exit(&reads_only, None, &[]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("agent `coder` may write to `acme`") && out.contains("serves = [\"writes\"]"), "{out}");

    env.extend([
        ("GHPOOL_APP_WRITER_APP_ID", APP_ID.to_string()),
        ("GHPOOL_APP_WRITER_PRIVATE_KEY", "env:APP_KEY".into()),
        ("GHPOOL_APP_WRITER_INSTALLATION_ID", ACME_INSTALLATION.to_string()),
        ("GHPOOL_APP_WRITER_SERVES", "writes".into()),
    ]);
    let with_writer: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let gp = GhpoolProcess::start(&with_writer);
    let stats = gp.get_json("/stats");
    let ids: Vec<&str> = stats["identities"].as_array().unwrap().iter().filter_map(|i| i["id"].as_str()).collect();
    assert_eq!(ids, ["reader"], "an installation that serves writes only is not in the pool");
    assert!(gp.log().contains("mints tokens for agents' writes only"), "{}", gp.log());
    let resp = post_as(&gp, KEY, "/repos/acme/widgets/issues", serde_json::json!({"title": "brokered"}));
    assert_eq!(resp.status(), 201);
    let write = fake.requests_to("/repos/acme/widgets/issues").into_iter().find(|r| r.method == "POST").unwrap();
    assert_eq!(fake.token_scope(write.token.as_deref().unwrap()).unwrap().0, Some(vec!["widgets".to_string()]));
    let stats = gp.get_json("/stats");
    assert_eq!(stats["agents"][0]["brokered_writes"], 1, "{}", stats["agents"]);
    let metrics = client().get(gp.url("/metrics")).send().unwrap().text().unwrap();
    assert!(metrics.contains(r#"ghpool_agent_requests_total{agent="coder",outcome="brokered_write"} 1"#), "{metrics}");
}

/// Issue #16: an agent's GraphQL mutation (gh's `addComment`) goes with a token minted for the
/// agent's repositories on its owner, never with its key; GitHub holds the token to them (a comment
/// on another repository's issue is GitHub's FORBIDDEN); the answer is probed and screened like a
/// query's.
#[test]
fn an_agents_mutation_is_brokered_with_a_token_for_its_repositories_16() {
    const KEY: &str = "ghpk_mutateAGENTmutateAGENTmutateAGENTmutate00";
    let fake = fake();
    fake.add_issues("acme", "widgets", 3);
    fake.add_issues("acme", "gadgets", 3);
    let gp = start_with_agents(&fake, &[("coder", KEY, "acme/widgets", "issues:write")]);
    let graphql = |query: &str, variables: serde_json::Value| {
        let body = serde_json::json!({ "query": query, "variables": variables });
        let resp = client()
            .post(gp.url("/graphql"))
            .header("authorization", format!("bearer {KEY}"))
            .json(&body)
            .send()
            .unwrap();
        (resp.status().as_u16(), resp.json::<serde_json::Value>().unwrap_or_default())
    };
    let (_, issue) =
        graphql(r#"{ repository(owner: "acme", name: "widgets") { issue(number: 2) { id } } }"#, serde_json::json!({}));
    let id = issue["data"]["repository"]["issue"]["id"].as_str().expect("an issue id").to_string();
    let comment = r#"mutation CommentCreate($input: AddCommentInput!) {
        addComment(input: $input) { commentEdge { node { url } } subject { id } } }"#;
    let (status, answer) =
        graphql(comment, serde_json::json!({ "input": { "subjectId": id, "body": "from an agent" } }));
    assert_eq!(status, 200, "{answer}");
    let url = answer["data"]["addComment"]["commentEdge"]["node"]["url"].as_str().unwrap_or_default();
    assert!(url.contains("/acme/widgets/issues/2#issuecomment-"), "{answer}");
    assert!(answer.to_string().find("ghpool_").is_none(), "ghpool's probes are stripped: {answer}");
    let comments = fake.comments_on("acme", "widgets", 2);
    assert_eq!(comments.len(), 1);
    assert_eq!(comments[0].1, "from an agent");
    assert!(comments[0].0.starts_with("installation:"), "written by the installation: {comments:?}");

    let mutations: Vec<_> = fake.requests_to("/graphql").into_iter().filter(|r| r.method == "POST").collect();
    let token = mutations.last().and_then(|r| r.token.clone()).unwrap();
    assert!(token.starts_with("ghs_"), "{token}");
    let (repos, permissions) = fake.token_scope(&token).unwrap();
    assert_eq!(repos, Some(vec!["widgets".to_string()]), "the agent's repositories on acme");
    assert_eq!(permissions, Some(serde_json::json!({"issues": "write"})));

    // A node of another repository: the token does not reach it, GitHub says so.
    let (_, other) = {
        // Read with a pooled identity straight from the fake (the agent may not read gadgets).
        let body = serde_json::json!({ "query": r#"{ repository(owner: "acme", name: "gadgets") { issue(number: 1) { id } } }"# });
        let resp =
            client().post(format!("{}/graphql", fake.base_url())).bearer_auth(TOKEN_A).json(&body).send().unwrap();
        (resp.status(), resp.json::<serde_json::Value>().unwrap())
    };
    let other_id = other["data"]["repository"]["issue"]["id"].as_str().unwrap().to_string();
    let (status, answer) =
        graphql(comment, serde_json::json!({ "input": { "subjectId": other_id, "body": "elsewhere" } }));
    assert_eq!(status, 200);
    assert_eq!(answer["errors"][0]["message"], "Resource not accessible by integration", "{answer}");
    assert!(fake.comments_on("acme", "gadgets", 1).is_empty());
    assert!(fake.requests().iter().all(|r| r.token.as_deref() != Some(KEY)), "the key never reaches GitHub");
    assert!(!gp.log().contains(KEY) && !gp.log().contains(&token));
}

/// Issue #16: with `[audit] path`, every write's decision — who, what, which repository and
/// installation, the body's field names and no value — is on disk before GitHub sees the write,
/// and its outcome (status, GitHub's request id) after; a refusal is a denial record. The file is
/// opened again on SIGHUP (logrotate). An audit that cannot be written stops writes (503, nothing
/// sent) and nothing else.
#[test]
fn every_write_is_audited_before_it_is_sent_and_not_sent_when_it_cannot_be_16() {
    const KEY: &str = "ghpk_auditAGENTauditAGENTauditAGENTauditAGENT0";
    let fake = fake();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    fake.watch_file(&path);
    let audit_path = path.to_str().unwrap().to_string();
    let gp = start_with_agents_and(
        &fake,
        &[("coder", KEY, "acme/widgets", "issues:write")],
        &[("GHPOOL_AUDIT_PATH", &audit_path), ("GHPOOL_ALLOW_UNKEYED", "true")],
    );
    let post = |gp: &GhpoolProcess, path: &str, auth: &str| {
        let body = serde_json::json!({"title": "a secret title", "body": "a secret body"});
        client().post(gp.url(path)).header("authorization", auth).json(&body).send().unwrap().status().as_u16()
    };
    let records = |path: &std::path::Path| -> Vec<serde_json::Value> {
        std::fs::read_to_string(path).unwrap_or_default().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    };
    assert_eq!(post(&gp, "/repos/acme/widgets/issues", &format!("token {KEY}")), 201);
    let write = fake.requests_to("/repos/acme/widgets/issues").into_iter().find(|r| r.method == "POST").unwrap();
    let seen: Vec<serde_json::Value> =
        write.watched.unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(seen.len(), 1, "the decision, and only it, was on disk when GitHub saw the write: {seen:?}");
    let decision = &seen[0];
    assert_eq!(decision["record"], "decision");
    assert_eq!(decision["who"]["agent"], "coder");
    assert_eq!(
        (decision["method"].as_str(), decision["path"].as_str()),
        (Some("POST"), Some("/repos/acme/widgets/issues"))
    );
    assert_eq!(decision["repository"], "acme/widgets");
    assert_eq!(decision["installation"], ACME_INSTALLATION);
    assert_eq!(decision["body_fields"], serde_json::json!(["body", "title"]), "as sent (serde_json sorts keys)");
    // The outcome is written when the request ends, which may be just after the client has the answer.
    let deadline = Instant::now() + WAIT;
    let outcome = loop {
        if let Some(outcome) = records(&path).into_iter().find(|r| r["record"] == "outcome") {
            break outcome;
        }
        assert!(Instant::now() < deadline, "no outcome record");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(outcome["request"], decision["request"]);
    assert_eq!(outcome["status"], 201);
    assert!(outcome["github_request_id"].as_str().is_some_and(|id| id.starts_with("FA4E:")), "{outcome}");

    assert_eq!(post(&gp, "/repos/acme/gadgets/issues", &format!("token {KEY}")), 403);
    assert_eq!(post(&gp, "/repos/acme/widgets/issues", "token ghpk_notAKeyAtAll"), 401);
    // Denials are written with the next write, or within a second.
    let deadline = Instant::now() + WAIT;
    let denials = loop {
        let denials: Vec<_> = records(&path).into_iter().filter(|r| r["record"] == "denial").collect();
        if denials.len() >= 2 || Instant::now() > deadline {
            break denials;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(denials.len(), 2, "{denials:?}");
    assert_eq!((denials[0]["who"]["agent"].as_str(), denials[0]["status"].as_u64()), (Some("coder"), Some(403)));
    assert_eq!(denials[0]["reason"], "forbidden", "a code: a refusal's message may quote the request");
    assert_eq!((denials[1]["who"].as_str(), denials[1]["status"].as_u64()), (Some("unknown"), Some(401)));
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains("secret") && !text.contains(KEY) && !text.contains("ghs_"), "names only: {text}");

    // A token for git is recorded before it is handed over.
    let resp = client()
        .get(gp.url("/git-credential?repo=acme/widgets"))
        .header("authorization", format!("token {KEY}"))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    let all = records(&path);
    let git = all.iter().find(|r| r["record"] == "git_credential").expect("a git_credential record");
    assert_eq!((git["who"]["agent"].as_str(), git["repository"].as_str()), (Some("coder"), Some("acme/widgets")));
    assert_eq!((git["contents"].as_str(), git["installation"].as_u64()), (Some("read"), Some(ACME_INSTALLATION)));

    // A passthrough mutation with a user's own token: recorded as that user, with its fields.
    fake.add_issues("acme", "widgets", 1);
    let mutation = serde_json::json!({
        "query": "mutation Note($id: ID!, $text: String!) { addComment(input: {subjectId: $id, body: $text}) { clientMutationId } }",
        "variables": { "id": "I_none", "text": "a secret comment" },
    });
    let resp = client().post(gp.url("/graphql")).bearer_auth(TOKEN_A).json(&mutation).send().unwrap();
    assert_eq!(resp.status(), 200);
    let all = records(&path);
    let decision = all.iter().rfind(|r| r["record"] == "decision").unwrap();
    assert_eq!(decision["who"]["login"], "alice", "{decision}");
    assert_eq!(decision["graphql_operation"], "Note");
    assert_eq!(decision["mutation_fields"], serde_json::json!(["addComment"]));
    assert_eq!(decision["variables"], serde_json::json!(["id", "text"]));
    assert!(decision["installation"].is_null(), "{decision}");
    assert!(!std::fs::read_to_string(&path).unwrap().contains("secret"));

    // logrotate: the file moves, SIGHUP, the next records go to a new file at the path.
    std::fs::rename(&path, dir.path().join("audit.jsonl.1")).unwrap();
    gp.signal("HUP");
    let deadline = Instant::now() + WAIT;
    while !gp.log().contains("audit file") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(post(&gp, "/repos/acme/widgets/issues", &format!("token {KEY}")), 201);
    assert_eq!(records(&path).iter().filter(|r| r["record"] == "decision").count(), 1, "a new file");

    // An audit that cannot be written: writes refused, unsent; reads served.
    for unwritable in ["/dev/full", dir.path().to_str().unwrap()] {
        let gp = start_with_agents_and(
            &fake,
            &[("coder", KEY, "acme/widgets", "issues:write")],
            &[("GHPOOL_AUDIT_PATH", unwritable)],
        );
        let before = fake.requests_to("/repos/").iter().filter(|r| r.method == "POST").count();
        let resp = post_as(&gp, KEY, "/repos/acme/widgets/issues", serde_json::json!({"title": "x"}));
        assert_eq!(resp.status(), 503, "{unwritable}");
        assert!(resp.text().unwrap().contains("audit"), "{unwritable}");
        assert_eq!(fake.requests_to("/repos/").iter().filter(|r| r.method == "POST").count(), before, "nothing sent");
        let read = client().get(gp.url("/repos/acme/widgets")).header("authorization", format!("token {KEY}")).send();
        assert_eq!(read.unwrap().status(), 200, "reads are not audited: served");
        let git = client()
            .get(gp.url("/git-credential?repo=acme/widgets"))
            .header("authorization", format!("token {KEY}"))
            .send()
            .unwrap();
        assert_eq!(git.status(), 503, "no git token handed over unrecorded");
    }
}
