//! Issue #7: real clients meet real GitHub answers. The fake replays scenarios recorded by
//! `@octokit/fixtures` (installed by `scripts/deps test`, read from `target/tools/node`), so bodies,
//! ETags, `Cache-Control`, both `Vary` lines, `x-ratelimit-*` and `Link` headers are GitHub's own;
//! Octokit and PyGithub go through ghpool to them.

mod support;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use support::clients::{client_ok, node_dir, on_path, run, skipped, venv_python, POOL_TOKEN, USER_TOKEN};
use support::fake_github::FakeGithub;
use support::ghpool::{client, start_pool, GhpoolProcess};

const OWNER: &str = "octokit-fixture-org";
const TIMEOUT: Duration = Duration::from_secs(60);

fn scenario(name: &str) -> PathBuf {
    node_dir().join("node_modules/@octokit/fixtures/scenarios/api.github.com").join(name).join("raw-fixture.json")
}

/// The fake replaying `scenarios`, ghpool pooling alice in front of it. `None` after a loud SKIPPED
/// when the fixtures are not installed.
fn setup(test: &str, scenarios: &[&str]) -> Option<(FakeGithub, GhpoolProcess, Vec<String>)> {
    if let Some(missing) = scenarios.iter().map(|s| scenario(s)).find(|p| !p.is_file()) {
        skipped(test, &format!("@octokit/fixtures is not installed ({} is missing)", missing.display()));
        return None;
    }
    let fake = FakeGithub::start();
    fake.add_token(POOL_TOKEN, "alice");
    fake.add_token(USER_TOKEN, "carol");
    let mut repos = Vec::new();
    for name in scenarios {
        let replayed = fake.replay_octokit_fixture(&scenario(name));
        repos.extend(replayed.repositories.into_iter().map(|(full_name, _)| full_name));
    }
    let gp = start_pool(&fake.base_url(), OWNER, &[("a", POOL_TOKEN)], &[]);
    Some((fake, gp, repos))
}

fn all_pooled(fake: &FakeGithub) {
    for r in fake.requests().into_iter().filter(|r| r.path != "/user") {
        assert_eq!(r.token.as_deref(), Some(POOL_TOKEN), "{} {}", r.method, r.path);
    }
}

#[test]
fn octokit_paginates_recorded_github_pages_through_ghpool() {
    let test = "octokit_paginates_recorded_github_pages_through_ghpool";
    if on_path("node").is_none() || !node_dir().join("node_modules/@octokit/rest").is_dir() {
        skipped(test, "node or @octokit/rest is not installed");
        return;
    }
    let Some((fake, gp, repos)) = setup(test, &["paginate-issues"]) else { return };
    let repo = repos.iter().find(|r| r.contains("paginate-issues")).expect("the scenario's repository").clone();
    let script = node_dir().join(format!("fixture-paginate-{}.mjs", std::process::id()));
    std::fs::write(
        &script,
        r#"import { Octokit } from "@octokit/rest";
const octokit = new Octokit({ baseUrl: process.env.GHPOOL_URL, auth: process.env.GITHUB_TOKEN });
const [owner, repo] = process.env.REPO.split("/");
const issues = await octokit.paginate("GET /repos/{owner}/{repo}/issues", { owner, repo, per_page: 3 });
console.log(JSON.stringify(issues.map((i) => [i.number, i.url])));
"#,
    )
    .unwrap();
    let mut cmd = Command::new("node");
    cmd.arg(&script)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("GHPOOL_URL", gp.url(""))
        .env("GITHUB_TOKEN", USER_TOKEN)
        .env("REPO", &repo);
    let out = run(&mut cmd, TIMEOUT);
    let _ = std::fs::remove_file(&script);
    let issues: Vec<(u64, String)> = serde_json::from_str(out.ok("octokit paginate").stdout.trim()).unwrap();
    assert_eq!(issues.iter().map(|(n, _)| *n).collect::<Vec<_>>(), (1..=13).rev().collect::<Vec<_>>());
    let url = format!("{}/repos/{repo}/issues/13", gp.url(""));
    assert_eq!(issues[0].1, url, "GitHub's body URLs point at ghpool");
    let pages: Vec<String> = fake.requests().into_iter().map(|r| r.path).filter(|p| p.contains("/issues")).collect();
    assert_eq!(pages.len(), 5, "five recorded pages, the last four through rewritten /repositories links: {pages:?}");
    assert!(pages[1..].iter().all(|p| p.starts_with("/repositories/")), "{pages:?}");
    all_pooled(&fake);
}

#[test]
fn pygithub_reads_a_recorded_repository_and_ghpool_keeps_githubs_headers() {
    let test = "pygithub_reads_a_recorded_repository_and_ghpool_keeps_githubs_headers";
    let python = venv_python();
    if !python.is_file() || run(Command::new(&python).args(["-c", "import github"]), TIMEOUT).code != Some(0) {
        skipped(test, "PyGithub is not installed");
        return;
    }
    let Some((fake, gp, _)) = setup(test, &["get-repository"]) else { return };
    let mut cmd = Command::new(&python);
    cmd.args([
        "-c",
        "import os; from github import Auth, Github\n\
                     gh = Github(base_url=os.environ['GHPOOL_URL'], auth=Auth.Token(os.environ['GITHUB_TOKEN']))\n\
                     repo = gh.get_repo('octokit-fixture-org/hello-world')\n\
                     print(repo.full_name, repo.id, repo.url)",
    ])
    .env_clear()
    .env("GHPOOL_URL", gp.url(""))
    .env("GITHUB_TOKEN", USER_TOKEN);
    let out = run(&mut cmd, TIMEOUT).ok("PyGithub get_repo");
    let want =
        format!("octokit-fixture-org/hello-world 103703892 {}/repos/octokit-fixture-org/hello-world", gp.url(""));
    assert_eq!(out.stdout.trim(), want);

    // The same answer, as any client sees it: GitHub's caching headers kept, the pool's token
    // scopes and repository permissions gone.
    let resp = client_ok(client().get(gp.url("/repos/octokit-fixture-org/hello-world")));
    let headers = resp.headers().clone();
    assert_eq!(headers["x-ghpool-cache"], "HIT", "PyGithub's read filled the cache");
    assert_eq!(headers["etag"], "\"b6bf76818c02a332828422c6fa78009ad1f08f302c18524af715ed641f004227\"");
    assert_eq!(headers["last-modified"], "Tue, 19 Sep 2017 15:57:54 GMT");
    assert!(headers.get("x-oauth-scopes").is_none(), "the pool token's scopes are not the caller's");
    let body: serde_json::Value = resp.json().unwrap();
    assert!(body.get("permissions").is_none(), "{body}");
    assert_eq!(fake.requests_to("/repos/octokit-fixture-org/hello-world").len(), 1);
    all_pooled(&fake);
}
