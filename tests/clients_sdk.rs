//! Issue #7: PyGithub and Octokit.js, each running README's example verbatim (its code block,
//! extracted from README.md) against ghpool and the fake GitHub: get a repository, follow `Link`
//! past the first page, a GraphQL query, and a write with the client's own token.

mod support;

use std::process::Command;
use std::time::Duration;

use support::clients::{
    acme_widgets, node_dir, on_path, readme_block, run, skipped, venv_python, POOL_TOKEN, USER_TOKEN,
};
use support::fake_github::FakeGithub;
use support::ghpool::GhpoolProcess;

const TIMEOUT: Duration = Duration::from_secs(60);

/// The example's environment: ghpool's URL and the client's token, nothing else of ours.
fn example(cmd: &mut Command, gp: &GhpoolProcess, base: &str) {
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("GHPOOL_URL", gp.url(base))
        .env("GITHUB_TOKEN", USER_TOKEN);
}

/// What every example does, judged by the fake's log: each read with the pool's token, on every
/// page (through ghpool: the `/repositories/{id}` links were rewritten); the one write with the
/// client's.
fn assert_pooled_reads_and_own_write(fake: &FakeGithub, pages: usize) {
    let requests: Vec<_> = fake.requests().into_iter().filter(|r| r.path != "/user").collect();
    for r in &requests {
        let write = r.method == "POST" && r.path.starts_with("/repos/");
        let want = if write { USER_TOKEN } else { POOL_TOKEN };
        assert_eq!(r.token.as_deref(), Some(want), "{} {}", r.method, r.path);
    }
    let followed = requests.iter().filter(|r| r.path.starts_with("/repositories/1000/issues?")).count();
    assert_eq!(followed, pages - 1, "pages after the first come through ghpool's rewritten links");
    assert_eq!(requests.iter().filter(|r| r.method == "POST" && r.path == "/repos/acme/widgets/issues").count(), 1);
    assert_eq!(requests.iter().filter(|r| r.path == "/graphql").count(), 1);
    let calls = fake.graphql_calls();
    assert_eq!(calls.len(), 1);
    assert_eq!((calls[0].kind, calls[0].login.as_str()), ("query", "alice"));
}

fn pygithub(base: &str) {
    let test = "pygithub_readme_example";
    let python = venv_python();
    let has_pygithub =
        python.is_file() && run(Command::new(&python).args(["-c", "import github"]), TIMEOUT).code == Some(0);
    if !has_pygithub {
        skipped(test, &format!("PyGithub is not installed in {}", python.display()));
        return;
    }
    let (fake, gp) = acme_widgets();
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("example.py");
    std::fs::write(&script, readme_block("### PyGithub", "python")).unwrap();
    let mut cmd = Command::new(&python);
    cmd.arg(&script);
    example(&mut cmd, &gp, base);
    let out = run(&mut cmd, TIMEOUT).ok("README's PyGithub example");
    // 45 issues over two pages of 30; 41 open; the new issue is #46.
    assert_eq!(out.stdout.trim(), "acme/widgets 45 41 46");
    assert_pooled_reads_and_own_write(&fake, 2);
}

#[test]
fn pygithub_readme_example() {
    pygithub("");
}

/// GitHub Enterprise's layout: PyGithub then sends GraphQL to `/api/graphql`, and asserts that
/// every link it follows keeps the `/api/v3` prefix.
#[test]
fn pygithub_readme_example_with_the_api_v3_prefix() {
    pygithub("/api/v3");
}

#[test]
fn octokit_readme_example() {
    let test = "octokit_readme_example";
    let modules = node_dir().join("node_modules/@octokit/rest");
    if on_path("node").is_none() || !modules.is_dir() {
        skipped(test, &format!("node or @octokit/rest (in {}) is not installed", modules.display()));
        return;
    }
    let (fake, gp) = acme_widgets();
    // Beside node_modules, so that `import "@octokit/rest"` resolves.
    let script = node_dir().join(format!("readme-example-{}.mjs", std::process::id()));
    std::fs::write(&script, readme_block("### Octokit.js", "js")).unwrap();
    let mut cmd = Command::new("node");
    cmd.arg(&script);
    example(&mut cmd, &gp, "");
    let out = run(&mut cmd, TIMEOUT);
    let _ = std::fs::remove_file(&script);
    let out = out.ok("README's Octokit example");
    // 45 issues over three pages of 20; 41 open; the new issue is #46.
    assert_eq!(out.stdout.trim(), "acme/widgets 45 41 46");
    assert_pooled_reads_and_own_write(&fake, 3);
}

/// Issue #16: PyGithub and Octokit with an agent key as their token, unchanged: they read the
/// agent's repository (pages, a GraphQL query), create an issue in it (sent with a token minted for
/// it by an App installation that serves writes), and are refused another with a 403 naming the
/// agent.
const AGENT_KEY: &str = "ghpk_sdkAGENTsdkAGENTsdkAGENTsdkAGENTsdkAGENT00";

fn keyed_acme() -> (FakeGithub, GhpoolProcess) {
    let fake = FakeGithub::start();
    fake.add_token(POOL_TOKEN, "alice");
    fake.add_repo("acme", "widgets");
    fake.add_repo("acme", "gadgets");
    fake.add_issues("acme", "widgets", 45);
    let (private, public) = support::fake_github::apps::key_pair();
    fake.add_app(77, "ghpool-agents", &public, 1001, "acme");
    let agent = [
        ("GHPOOL_AGENT_SDK_KEYS", "env:SDK_KEY"),
        ("SDK_KEY", AGENT_KEY),
        ("GHPOOL_AGENT_SDK_REPOS", "acme/widgets"),
        ("GHPOOL_AGENT_SDK_PERMISSIONS", "issues:write"),
        ("GHPOOL_APP_WRITER_APP_ID", "77"),
        ("GHPOOL_APP_WRITER_PRIVATE_KEY", "env:APP_KEY"),
        ("GHPOOL_APP_WRITER_INSTALLATION_ID", "1001"),
        ("GHPOOL_APP_WRITER_SERVES", "writes"),
        ("APP_KEY", private.as_str()),
    ];
    let gp = support::ghpool::start_pool(&fake.base_url(), "acme", &[("a", POOL_TOKEN)], &agent);
    (fake, gp)
}

fn keyed(cmd: &mut Command, gp: &GhpoolProcess) {
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("GHPOOL_URL", gp.url(""))
        .env("GITHUB_TOKEN", AGENT_KEY);
}

/// Reads went with the pool's token, the one write with a token minted for acme/widgets, the key
/// nowhere, and nothing reached acme/gadgets.
fn assert_pooled_reads_brokered_write_and_nothing_else(fake: &FakeGithub) {
    let requests = fake.requests();
    let (writes, reads): (Vec<_>, Vec<_>) = requests
        .iter()
        .filter(|r| !r.path.starts_with("/app"))
        .partition(|r| r.path == "/repos/acme/widgets/issues" && r.method == "POST");
    assert!(reads.iter().all(|r| r.token.as_deref() == Some(POOL_TOKEN)), "{reads:?}");
    assert_eq!(writes.len(), 1, "{requests:?}");
    let minted = writes[0].token.as_deref().unwrap();
    assert_eq!(fake.token_scope(minted).unwrap().0, Some(vec!["widgets".to_string()]));
    assert!(requests.iter().all(|r| r.token.as_deref() != Some(AGENT_KEY)), "the key never reaches GitHub");
    assert!(requests.iter().all(|r| !r.path.contains("gadgets")), "{requests:?}");
}

#[test]
fn pygithub_with_an_agent_key_reads_and_writes_its_repository_16() {
    let python = venv_python();
    if !(python.is_file() && run(Command::new(&python).args(["-c", "import github"]), TIMEOUT).code == Some(0)) {
        skipped("pygithub_with_an_agent_key_reads_and_writes_its_repository_16", "PyGithub is not installed");
        return;
    }
    let (fake, gp) = keyed_acme();
    let script = r#"
import os
from github import Auth, Github, GithubException
gh = Github(base_url=os.environ["GHPOOL_URL"], auth=Auth.Token(os.environ["GITHUB_TOKEN"]))
repo = gh.get_repo("acme/widgets")
issues = list(repo.get_issues(state="all"))
created = repo.create_issue(title="from an agent")
try:
    gh.get_repo("acme/gadgets")
    refused = "served"
except GithubException as e:
    refused = f"{e.status} {e.data.get('message', '')}"
print(repo.full_name, len(issues), created.number)
print(refused)
"#;
    let mut cmd = Command::new(&python);
    cmd.args(["-c", script]);
    keyed(&mut cmd, &gp);
    let out = run(&mut cmd, TIMEOUT).ok("PyGithub with an agent key");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "acme/widgets 45 46", "{}", out.stdout);
    assert!(lines[1].starts_with("403 ") && lines[1].contains("agent `sdk`"), "{}", out.stdout);
    assert_pooled_reads_brokered_write_and_nothing_else(&fake);
}

#[test]
fn octokit_with_an_agent_key_reads_and_writes_its_repository_16() {
    let modules = node_dir().join("node_modules/@octokit/rest");
    if on_path("node").is_none() || !modules.is_dir() {
        skipped(
            "octokit_with_an_agent_key_reads_and_writes_its_repository_16",
            "node or @octokit/rest is not installed",
        );
        return;
    }
    let (fake, gp) = keyed_acme();
    let script = node_dir().join(format!("keyed-example-{}.mjs", std::process::id()));
    let code = r#"
import { Octokit } from "@octokit/rest";
const octokit = new Octokit({ baseUrl: process.env.GHPOOL_URL, auth: process.env.GITHUB_TOKEN });
const { data: repo } = await octokit.rest.repos.get({ owner: "acme", repo: "widgets" });
const issues = await octokit.paginate(octokit.rest.issues.listForRepo, { owner: "acme", repo: "widgets", state: "all" });
const q = await octokit.graphql(`{ repository(owner: "acme", name: "widgets") { issues { totalCount } } }`);
const { data: created } = await octokit.rest.issues.create({ owner: "acme", repo: "widgets", title: "from an agent" });
let refused = "served";
try { await octokit.rest.repos.get({ owner: "acme", repo: "gadgets" }); }
catch (e) { refused = `${e.status} ${e.response?.data?.message ?? ""}`; }
console.log(repo.full_name, issues.length, q.repository.issues.totalCount, created.number);
console.log(refused);
"#;
    std::fs::write(&script, code).unwrap();
    let mut cmd = Command::new("node");
    cmd.arg(&script);
    keyed(&mut cmd, &gp);
    let out = run(&mut cmd, TIMEOUT);
    let _ = std::fs::remove_file(&script);
    let out = out.ok("Octokit with an agent key");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "acme/widgets 45 45 46", "{}", out.stdout);
    assert!(lines[1].starts_with("403 ") && lines[1].contains("agent `sdk`"), "{}", out.stdout);
    assert_pooled_reads_brokered_write_and_nothing_else(&fake);
}
