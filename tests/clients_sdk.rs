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
