//! Issue #7: the real gh (Debian's 2.23) through `ghp` and ghpool, against the fake GitHub.
//!
//! `ghp` is installed as `gh` the way README says (`ln -sf $(which ghp) ~/bin/gh`), and finds the
//! real gh further down `PATH`. Each test judges by what gh printed and by the fake's logs: reads
//! were sent with the pool's token, writes with the user's.
//!
//! What gh 2.23 sends, captured on the wire (`GH_HOST=github.localhost`, `HTTP_PROXY` at a logger):
//! REST as `GET http://api.github.localhost/repos/o/r` with `Authorization: token <GH_TOKEN>`;
//! `issue list` one `query IssueList` (fragment `issue on Issue`, `repository.issues(first:,
//! after:, states:, orderBy:, filterBy:)`); `pr view N` one `query PullRequestByNumber` (a large
//! selection, inline fragments on `User`/`Team`, an aliased `statusCheckRollup: commits(last: 1)`);
//! `issue comment` `query IssueByNumber` (`issueOrPullRequest` with `...on Issue`/`...on
//! PullRequest`) then `mutation CommentCreate` (`addComment`). No introspection query for
//! `github.localhost` (that is only sent to Enterprise hosts), so no cache dirs need resetting;
//! the tests still give gh fresh `HOME`, `GH_CONFIG_DIR` and `TMPDIR` so nothing of the user's
//! leaks in.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use support::clients::{on_path, run, skipped, Output, POOL_TOKEN, USER_TOKEN};
use support::fake_github::graphql::GraphqlCall;
use support::fake_github::FakeGithub;
use support::ghpool::{start_pool, GhpoolProcess};

const TIMEOUT: Duration = Duration::from_secs(60);

struct Setup {
    fake: FakeGithub,
    gp: GhpoolProcess,
    /// HOME, GH_CONFIG_DIR, TMPDIR and `bin/gh -> ghp`.
    dir: tempfile::TempDir,
    real_gh_dir: PathBuf,
    pull: u64,
}

/// The fake with `acme/widgets` (45 issues, every tenth closed, and pull request #46), ghpool
/// pooling one identity (alice) in front of it, and `ghp` linked as `gh`. `None` (after a loud
/// SKIPPED) when gh is not installed.
fn setup(test: &str) -> Option<Setup> {
    setup_with(test, None)
}

/// The same, with ghpool's `config.toml`.
fn setup_with(test: &str, toml: Option<&str>) -> Option<Setup> {
    setup_agents(test, toml, &[])
}

/// The same, with ghpool serving these agents (`GHPOOL_AGENT_*` variables and their keys), and,
/// when there are agents, a GitHub App installed on `acme` that serves their writes only.
fn setup_agents(test: &str, toml: Option<&str>, agents: &[(&str, &str)]) -> Option<Setup> {
    let Some(real_gh) = on_path("gh") else {
        skipped(test, "gh is not installed (Debian package `gh`)");
        return None;
    };
    let fake = FakeGithub::start();
    fake.add_token(POOL_TOKEN, "alice");
    fake.add_token(USER_TOKEN, "carol");
    fake.add_repo("acme", "widgets");
    fake.add_issues("acme", "widgets", 45);
    let pull = fake.add_pull_request("acme", "widgets", "Make widgets faster");
    let mut extra: Vec<(&str, String)> = agents.iter().map(|(k, v)| (*k, v.to_string())).collect();
    if !agents.is_empty() {
        let (private, public) = support::fake_github::apps::key_pair();
        fake.add_app(77, "ghpool-agents", &public, 1001, "acme");
        extra.extend([
            ("GHPOOL_APP_WRITER_APP_ID", "77".to_string()),
            ("GHPOOL_APP_WRITER_PRIVATE_KEY", "env:APP_KEY".to_string()),
            ("GHPOOL_APP_WRITER_INSTALLATION_ID", "1001".to_string()),
            ("GHPOOL_APP_WRITER_SERVES", "writes".to_string()),
            ("APP_KEY", private),
        ]);
    }
    let extra: Vec<(&str, &str)> = extra.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let gp = match toml {
        None => start_pool(&fake.base_url(), "acme", &[("a", POOL_TOKEN)], &extra),
        Some(toml) => {
            let env = [("GHPOOL_UPSTREAM", fake.base_url()), ("GHPOOL_ALLOWED_OWNERS", "acme".into())];
            let mut env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
            env.extend([("GHPOOL_PAT_A", "env:TOKEN_A"), ("TOKEN_A", POOL_TOKEN)]);
            GhpoolProcess::start_with_config(&env, Some(toml))
        }
    };
    let dir = tempfile::tempdir().unwrap();
    for sub in ["home", "config", "tmp", "bin", "work"] {
        std::fs::create_dir(dir.path().join(sub)).unwrap();
    }
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_ghp"), dir.path().join("bin/gh")).unwrap();
    let real_gh_dir = real_gh.parent().unwrap().to_path_buf();
    Some(Setup { fake, gp, dir, real_gh_dir, pull })
}

impl Setup {
    /// `gh args…` as a user with `ghp` installed as `gh` runs it, in `cwd` (default: an empty dir).
    fn gh_in(&self, cwd: Option<&Path>, args: &[&str]) -> Output {
        self.gh_as(USER_TOKEN, cwd, args)
    }

    /// [`Setup::gh_in`] with `GH_TOKEN` set to `token` (a user's GitHub token, or an agent key).
    fn gh_as(&self, token: &str, cwd: Option<&Path>, args: &[&str]) -> Output {
        let d = self.dir.path();
        let path = std::env::join_paths([d.join("bin"), self.real_gh_dir.clone(), "/usr/bin".into(), "/bin".into()]);
        let mut cmd = Command::new(d.join("bin/gh"));
        cmd.args(args)
            .env_clear()
            .env("PATH", path.unwrap())
            .env("HOME", d.join("home"))
            .env("GH_CONFIG_DIR", d.join("config"))
            .env("TMPDIR", d.join("tmp"))
            .env("GH_NO_UPDATE_NOTIFIER", "1")
            .env("GH_PROMPT_DISABLED", "1")
            // A usual NO_PROXY: ghp must keep it from exempting api.github.localhost.
            .env("NO_PROXY", "localhost,127.0.0.1")
            .env("GHPOOL_URL", self.gp.url(""))
            .env("GH_TOKEN", token)
            .current_dir(cwd.unwrap_or(&d.join("work")));
        run(&mut cmd, TIMEOUT)
    }

    fn gh(&self, args: &[&str]) -> Output {
        self.gh_in(None, args)
    }

    /// Tokens of the fake's logged requests whose path starts with `prefix`.
    fn tokens_to(&self, prefix: &str) -> Vec<Option<String>> {
        self.fake.requests_to(prefix).into_iter().map(|r| r.token).collect()
    }
}

fn pool() -> Option<String> {
    Some(POOL_TOKEN.to_string())
}

#[test]
fn gh_api_reads_a_repository_through_the_pool() {
    let Some(s) = setup("gh_api_reads_a_repository_through_the_pool") else { return };
    let out = s.gh(&["api", "repos/acme/widgets"]).ok("gh api repos/acme/widgets");
    let repo: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(repo["full_name"], "acme/widgets");
    // GitHub's absolute URLs lead back through ghpool, on the host gh proxies through it.
    assert_eq!(repo["url"], "http://api.github.localhost/repos/acme/widgets");
    assert!(repo.get("permissions").is_none(), "the pool identity's permissions are stripped");
    assert_eq!(s.tokens_to("/repos/acme/widgets"), [pool()], "read with the pool's token, not the user's");
}

#[test]
fn gh_api_paginate_follows_rewritten_links() {
    let Some(s) = setup("gh_api_paginate_follows_rewritten_links") else { return };
    let out = s.gh(&["api", "--paginate", "repos/acme/widgets/issues?per_page=20", "--jq", ".[].number"]);
    let numbers: Vec<u64> = out.ok("gh api --paginate").stdout.lines().map(|l| l.parse().unwrap()).collect();
    assert_eq!(numbers, (1..=46).rev().collect::<Vec<_>>(), "every page, in order");
    let paths: Vec<String> = s.fake.requests().into_iter().map(|r| r.path).filter(|p| p.contains("issues")).collect();
    assert_eq!(paths.len(), 3, "{paths:?}");
    assert!(paths[1].starts_with("/repositories/1000/issues?") && paths[1].ends_with("page=2"), "{paths:?}");
    let tokens: Vec<Option<String>> =
        s.fake.requests().into_iter().filter(|r| r.path.contains("issues")).map(|r| r.token).collect();
    assert_eq!(tokens, [pool(), pool(), pool()]);
}

#[test]
fn gh_issue_list_uses_pooled_graphql_in_a_checkout_and_with_repo_flag() {
    let Some(s) = setup("gh_issue_list_uses_pooled_graphql_in_a_checkout_and_with_repo_flag") else { return };
    let out = s.gh(&["issue", "list", "-R", "acme/widgets"]).ok("gh issue list -R");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 30, "gh's default limit, open issues only:\n{}", out.stdout);
    assert!(lines[0].starts_with("45\tOPEN\tIssue 45\t"), "{}", lines[0]);
    assert!(!out.stdout.contains("Issue 40\t"), "closed issues are not listed");
    assert!(!out.stdout.contains("Make widgets faster"), "pull requests are not issues");

    // In a checkout of github.com/acme/widgets, without -R: ghp names the repository for gh.
    let checkout = s.dir.path().join("work/widgets");
    let git = |args: &[&str]| run(Command::new("git").args(args).current_dir(&checkout), TIMEOUT).ok("git");
    std::fs::create_dir(&checkout).unwrap();
    git(&["init", "-q"]);
    git(&["remote", "add", "origin", "https://github.com/acme/widgets.git"]);
    let out = s.gh_in(Some(&checkout), &["issue", "list", "-L", "50", "--json", "number", "--jq", ".[].number"]);
    let numbers: Vec<u64> = out.ok("gh issue list in a checkout").stdout.lines().map(|l| l.parse().unwrap()).collect();
    let open: Vec<u64> = (1..=45).rev().filter(|n| n % 10 != 0).collect();
    assert_eq!(numbers, open);

    let calls = s.fake.graphql_calls();
    assert!(calls.iter().all(|c| c.operation.as_deref() == Some("IssueList") && c.login == "alice"), "{calls:?}");
    assert!(s.tokens_to("/graphql").iter().all(|t| *t == pool()));
}

#[test]
fn gh_pr_view_shows_the_pull_request() {
    let Some(s) = setup("gh_pr_view_shows_the_pull_request") else { return };
    let number = s.pull.to_string();
    let out = s.gh(&["pr", "view", &number, "-R", "acme/widgets"]).ok("gh pr view");
    assert!(out.stdout.contains("title:\tMake widgets faster"), "{}", out.stdout);
    assert!(out.stdout.contains("state:\tOPEN") && out.stdout.contains("author:\toctocat"), "{}", out.stdout);
    assert!(out.stdout.contains(&format!("url:\thttps://github.com/acme/widgets/pull/{number}")), "{}", out.stdout);
    let json = s.gh(&["pr", "view", &number, "-R", "acme/widgets", "--json", "title,headRefName,state"]);
    let pr: serde_json::Value = serde_json::from_str(&json.ok("gh pr view --json").stdout).unwrap();
    let want = serde_json::json!({"title": "Make widgets faster", "headRefName": format!("feature-{number}"), "state": "OPEN"});
    assert_eq!(pr, want);
    let calls = s.fake.graphql_calls();
    assert!(calls.iter().all(|c| c.operation.as_deref() == Some("PullRequestByNumber") && c.login == "alice"));
    assert!(s.tokens_to("/graphql").iter().all(|t| *t == pool()));
}

#[test]
fn gh_issue_comment_writes_with_the_users_own_token() {
    let Some(s) = setup("gh_issue_comment_writes_with_the_users_own_token") else { return };
    // `issue view` shows the comment count (its IssueByNumber query).
    let view = || s.gh(&["issue", "view", "3", "-R", "acme/widgets"]).ok("gh issue view").stdout;
    assert!(view().contains("comments:\t0"));
    let out = s.gh(&["issue", "comment", "3", "-R", "acme/widgets", "--body", "hello from ghp"]).ok("gh issue comment");
    assert!(out.stdout.contains("https://github.com/acme/widgets/issues/3#issuecomment-"), "{}", out.stdout);
    assert_eq!(s.fake.comments_on("acme", "widgets", 3), [("carol".to_string(), "hello from ghp".to_string())]);
    // The write purged the cached view: the user sees their own comment at once.
    let after = view();
    assert!(after.contains("comments:\t1"), "{after}");

    let call = |kind: &'static str, operation: &str, login: &str| GraphqlCall {
        operation: Some(operation.into()),
        kind,
        login: login.into(),
    };
    let lookup = call("query", "IssueByNumber", "alice");
    assert_eq!(
        s.fake.graphql_calls(),
        [lookup.clone(), lookup.clone(), call("mutation", "CommentCreate", "carol"), lookup],
        "reads through the pool (alice), the comment with the user's own token (carol)"
    );
    let user = Some(USER_TOKEN.to_string());
    assert_eq!(s.tokens_to("/graphql"), [pool(), pool(), user, pool()]);
}

/// The other built-in read commands the issue names, each in one of gh's output formats.
#[test]
fn gh_read_commands_keep_their_output_formats() {
    let Some(s) = setup("gh_read_commands_keep_their_output_formats") else { return };
    let number = s.pull.to_string();
    let gh = |args: &[&str]| s.gh(args).ok(&format!("gh {}", args.join(" "))).stdout;
    let gh_r = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend_from_slice(&["-R", "acme/widgets"]);
        gh(&all)
    };

    let view = gh_r(&["issue", "view", "3"]);
    assert!(view.starts_with("title:\tIssue 3\nstate:\tOPEN\nauthor:\toctocat\n"), "{view}");
    assert!(view.ends_with("--\nBody of #3\n"), "{view}");
    let prs = gh_r(&["pr", "list"]);
    assert!(prs.starts_with(&format!("{number}\tMake widgets faster\tfeature-{number}\tOPEN\t")), "{prs}");
    let template = gh_r(&["pr", "view", &number, "--json", "title,state", "--template", "{{.title}} ({{.state}})"]);
    assert_eq!(template, "Make widgets faster (OPEN)");
    assert_eq!(gh(&["repo", "view", "acme/widgets"]), "name:\tacme/widgets\ndescription:\tThe widgets repository\n");
    let releases = gh_r(&["release", "list"]);
    assert!(releases.starts_with("Widgets 1.0\tLatest\tv1.0.0\t"), "{releases}");
    let runs = gh_r(&["run", "list"]);
    assert!(runs.starts_with("completed\tsuccess\tMake widgets faster\tCI\tmain\tpush\t700\t"), "{runs}");
    let run = gh_r(&["run", "view", "700"]);
    assert!(run.contains("main CI · 700") && run.contains("Triggered via push"), "{run}");
    let first = gh_r(&["issue", "list", "--json", "number,title", "--jq", ".[0]"]);
    assert_eq!(first.trim(), r#"{"number":45,"title":"Issue 45"}"#);

    let operations: std::collections::BTreeSet<String> =
        s.fake.graphql_calls().into_iter().filter_map(|c| c.operation).collect();
    let want = ["IssueByNumber", "IssueList", "PullRequestByNumber", "PullRequestList", "RepositoryInfo"];
    assert!(want.iter().all(|op| operations.contains(*op)), "{operations:?}");
    assert!(s.fake.graphql_calls().iter().all(|c| c.kind == "query" && c.login == "alice"));
    let tokens: Vec<_> = s.fake.requests().into_iter().filter(|r| r.path != "/user").map(|r| r.token).collect();
    assert!(tokens.iter().all(|t| *t == pool()), "every read with the pool's token: {tokens:?}");
}

/// `gh issue view --comments` and `gh pr checks` read by `node(id:)`, which names no owner: ghpool
/// has GitHub say which repository each node is in and answers for allowed owners' only (README,
/// "gh and ghp"), so they work unchanged.
#[test]
fn gh_commands_that_read_by_node_id_work_within_the_allowlist() {
    let Some(s) = setup("gh_commands_that_read_by_node_id_work_within_the_allowlist") else { return };
    s.gh(&["issue", "comment", "3", "-R", "acme/widgets", "--body", "first!"]).ok("gh issue comment");
    let view = s.gh(&["issue", "view", "3", "-R", "acme/widgets", "--comments"]).ok("gh issue view --comments");
    assert!(view.stdout.contains("first!"), "{}", view.stdout);
    let checks = s.gh(&["pr", "checks", &s.pull.to_string(), "-R", "acme/widgets"]).ok("gh pr checks");
    assert!(
        checks.stdout.starts_with("build\tpass\t1m0s\thttps://github.com/acme/widgets/actions/runs/700/"),
        "{checks:?}"
    );
    let calls = s.fake.graphql_calls();
    assert!(calls.iter().any(|c| c.operation.as_deref() == Some("PullRequestStatusChecks") && c.login == "alice"));
}

/// A stand-in gh that prints what ghp handed it: runs whether or not gh is installed.
#[test]
fn ghp_sets_gh_up_for_ghpool_and_otherwise_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (bin, real, work) = (dir.path().join("bin"), dir.path().join("real"), dir.path().join("work"));
    for d in [&bin, &real, &work] {
        std::fs::create_dir(d).unwrap();
    }
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_ghp"), bin.join("gh")).unwrap();
    let script = "#!/bin/sh\necho \"host=$GH_HOST proxy=$HTTP_PROXY/$http_proxy token=$GH_TOKEN repo=$GH_REPO \
                  no_proxy=$NO_PROXY args=$*\"\n";
    std::fs::write(real.join("gh"), script).unwrap();
    let executable = <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o755);
    std::fs::set_permissions(real.join("gh"), executable).unwrap();
    let git = |args: &[&str]| run(Command::new("git").args(args).current_dir(&work), TIMEOUT).ok("git");
    git(&["init", "-q"]);
    git(&["remote", "add", "origin", "git@github.com:acme/widgets.git"]);
    let ghp = |pool: Option<&str>, args: &[&str]| {
        let mut cmd = Command::new(bin.join("gh"));
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::join_paths([&bin, &real, Path::new("/usr/bin"), Path::new("/bin")]).unwrap())
            .env("HOME", dir.path())
            .env("GH_TOKEN", "tok")
            .env("NO_PROXY", "localhost,corp.example")
            .current_dir(&work);
        if let Some(url) = pool {
            cmd.env("GHPOOL_URL", url);
        }
        run(&mut cmd, TIMEOUT).ok("ghp").stdout.trim().to_string()
    };
    assert_eq!(
        ghp(Some("http://127.0.0.1:9"), &["issue", "list"]),
        "host=github.localhost proxy=http://127.0.0.1:9/http://127.0.0.1:9 token=tok repo=acme/widgets \
         no_proxy=corp.example args=issue list"
    );
    assert_eq!(
        ghp(None, &["issue", "list"]),
        "host= proxy=/ token=tok repo= no_proxy=localhost,corp.example args=issue list",
        "without GHPOOL_URL, gh runs as it would"
    );
    assert_eq!(
        ghp(Some("http://127.0.0.1:9"), &["repo", "clone", "acme/widgets"]),
        "host= proxy=/ token=tok repo= no_proxy=localhost,corp.example args=repo clone acme/widgets",
        "git transport goes to the real host"
    );
}

/// Issue #16: gh through `ghp` with an agent key as `GH_TOKEN` reads the agent's repository (REST
/// and gh's own GraphQL queries), comments on an issue (`addComment`, sent with a token minted for
/// the agent's repository), is refused another repository with a message naming the agent, and the
/// key never reaches GitHub. The session is printed (`--nocapture`) as a transcript.
#[test]
fn gh_with_an_agent_key_reads_and_comments_on_its_repository_and_nothing_else_16() {
    const KEY: &str = "ghpk_ghAGENTghAGENTghAGENTghAGENTghAGENT0000";
    let agents = [
        ("GHPOOL_AGENT_TRIAGE_KEYS", "env:TRIAGE_KEY"),
        ("TRIAGE_KEY", KEY),
        ("GHPOOL_AGENT_TRIAGE_REPOS", "acme/widgets"),
        ("GHPOOL_AGENT_TRIAGE_PERMISSIONS", "issues:write"),
    ];
    let test = "gh_with_an_agent_key_reads_and_comments_on_its_repository_and_nothing_else_16";
    let Some(s) = setup_agents(test, None, &agents) else {
        return;
    };
    s.fake.add_repo("acme", "gadgets");
    let mut transcript = String::new();
    let mut gh = |args: &[&str]| {
        let out = s.gh_as(KEY, None, args);
        transcript.push_str(&format!("$ GH_TOKEN=ghpk_… gh {}\n{}{}", args.join(" "), out.stdout, out.stderr));
        if out.code != Some(0) {
            transcript.push_str(&format!("(exit {})\n", out.code.unwrap_or(-1)));
        }
        out
    };
    let out = gh(&["issue", "list", "-R", "acme/widgets", "-L", "3"]).ok("gh issue list with a key");
    assert_eq!(out.stdout.lines().count(), 3, "{}", out.stdout);
    assert!(out.stdout.starts_with("45\tOPEN\tIssue 45\t"), "{}", out.stdout);
    let number = s.pull.to_string();
    let out = gh(&["pr", "view", &number, "-R", "acme/widgets"]).ok("gh pr view with a key");
    assert!(out.stdout.contains("title:\tMake widgets faster"), "{}", out.stdout);
    let out = gh(&["api", "repos/acme/widgets", "--jq", ".full_name"]).ok("gh api with a key");
    assert_eq!(out.stdout.trim(), "acme/widgets");
    let out = gh(&["issue", "comment", "3", "-R", "acme/widgets", "--body", "triaged by an agent"])
        .ok("gh issue comment with a key");
    assert!(out.stdout.contains("https://github.com/acme/widgets/issues/3#issuecomment-"), "{}", out.stdout);
    let comments = s.fake.comments_on("acme", "widgets", 3);
    assert_eq!(comments.len(), 1);
    assert_eq!(comments[0].1, "triaged by an agent");

    let refused = gh(&["api", "repos/acme/gadgets"]);
    let said = format!("{}{}", refused.stdout, refused.stderr);
    assert!(refused.code != Some(0) && said.contains("agent `triage` may not read `acme/gadgets`"), "{said}");
    let refused = gh(&["issue", "comment", "1", "-R", "acme/gadgets", "--body", "elsewhere"]);
    let said = format!("{}{}", refused.stdout, refused.stderr);
    assert!(refused.code != Some(0) && said.contains("acme/gadgets"), "{said}");
    let unkeyed = s.gh_as(USER_TOKEN, None, &["api", "repos/acme/widgets"]);
    let said = format!("{}{}", unkeyed.stdout, unkeyed.stderr);
    assert!(unkeyed.code != Some(0) && said.contains("agent key"), "{said}");
    eprintln!("--- keyed gh session against the fake GitHub ---\n{transcript}---");

    // Reads with the pool's token; the comment with a token minted for acme/widgets; minting with
    // the App's JWT; never the key.
    let requests = s.fake.requests();
    let minted: Vec<&str> = requests
        .iter()
        .filter(|r| r.path == "/graphql" && r.token.as_deref() != Some(POOL_TOKEN))
        .filter_map(|r| r.token.as_deref())
        .collect();
    assert_eq!(minted.len(), 1, "one mutation with a minted token: {requests:?}");
    assert_eq!(s.fake.token_scope(minted[0]).unwrap().0, Some(vec!["widgets".to_string()]));
    let reads = requests.iter().filter(|r| {
        let get = r.method == "GET" && !r.path.starts_with("/app");
        get || (r.path == "/graphql" && r.token.as_deref() == Some(POOL_TOKEN))
    });
    assert!(reads.clone().count() >= 4, "{requests:?}");
    assert!(reads.clone().all(|r| r.token.as_deref() == Some(POOL_TOKEN)), "reads with the pool's token");
    assert!(requests.iter().all(|r| r.token.as_deref() != Some(KEY)), "the key never reaches GitHub");
    assert!(requests.iter().all(|r| !r.path.contains("gadgets")), "{requests:?}");
    assert!(!s.gp.log().contains(KEY));
}
