//! `ghp`: gh through ghpool. With `GHPOOL_URL` set, runs the real gh with `GH_HOST=github.localhost`,
//! ghpool as its HTTP proxy and the user's own token, so reads are pooled and cached and writes go to
//! GitHub with the user's authentication; without it, runs the real gh unchanged. The decisions are in
//! `ghpool::ghp` (see there for why); this file only reads the environment and execs.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};

use anyhow::{bail, Context, Result};
use ghpool::ghp;

fn main() -> ExitCode {
    match run() {
        // `run` only returns when exec failed or nothing could be exec'd.
        Ok(never) => match never {},
        Err(e) => {
            eprintln!("ghp: {e:#}");
            ExitCode::from(127)
        }
    }
}

fn run() -> Result<std::convert::Infallible> {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    if args.first().is_some_and(|a| a == "git-credential") {
        let action = args.get(1).and_then(|a| a.to_str()).unwrap_or("get").to_string();
        std::process::exit(git_credential(&action));
    }
    let gh = real_gh()?;
    let mut command = Command::new(&gh);
    command.args(&args);
    let ghpool_url = std::env::var(ghp::GHPOOL_URL_ENV).ok().map(|u| u.trim().to_string()).filter(|u| !u.is_empty());
    if let Some(url) = ghpool_url.filter(|_| ghp::through_pool(&args)) {
        let var = |name: &str| std::env::var(name).ok();
        let token = match ghp::token_from_env(var) {
            Some(token) => Some(token),
            None => token_from_gh(&gh),
        };
        let host = var("GH_HOST").unwrap_or_else(|| "github.com".to_string());
        let repo = git_remotes().and_then(|remotes| ghp::repo_from_remotes(&remotes, &host));
        let env = ghp::pool_env(&url, token.as_deref(), repo.as_deref(), var);
        for name in env.remove {
            command.env_remove(name);
        }
        command.envs(env.set);
    } else {
        // gh talks to GitHub itself: an agent key is never its token there.
        for name in ghp::agent_key_vars(|name| std::env::var(name).ok()) {
            command.env_remove(name);
        }
    }
    let error = command.exec();
    Err(error).with_context(|| format!("cannot run {}", gh.display()))
}

/// The first gh on PATH that is not this program.
fn real_gh() -> Result<PathBuf> {
    let me = std::env::current_exe().context("cannot tell where ghp itself is")?;
    let path = std::env::var_os("PATH").unwrap_or_default();
    match ghp::find_real_gh(&path, &me) {
        Some(gh) => Ok(gh),
        None => bail!("no gh on PATH other than ghp itself ({}); install gh", me.display()),
    }
}

/// `gh auth token` in the user's own environment (gh's stored login for their usual host).
fn token_from_gh(gh: &std::path::Path) -> Option<String> {
    let out = Command::new(gh).args(["auth", "token"]).stdin(Stdio::null()).stderr(Stdio::null()).output().ok()?;
    let token = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !token.is_empty()).then_some(token)
}

/// The current checkout's remotes (`None` outside one, or without git).
fn git_remotes() -> Option<String> {
    let out = Command::new("git")
        .args(["config", "--get-regexp", r"^remote\..*\.(url|gh-resolved)$"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `ghp git-credential <get|store|erase>`, git's credential-helper protocol (issue #16): for `get`,
/// a token for the one repository git names, from ghpool's `/git-credential` with the agent key in
/// `GH_TOKEN`; `store` and `erase` do nothing. Set up with
/// `git config --global credential.https://github.com.helper '!ghp git-credential'` and
/// `credential.useHttpPath true`.
fn git_credential(action: &str) -> i32 {
    let mut request = String::new();
    let _ = std::io::Read::read_to_string(&mut std::io::stdin(), &mut request);
    if action != "get" {
        return 0;
    }
    let var = |name: &str| std::env::var(name).ok();
    let Some(url) =
        var(ghp::GHPOOL_URL_ENV).map(|u| u.trim().trim_end_matches('/').to_string()).filter(|u| !u.is_empty())
    else {
        eprintln!("ghp git-credential: {} is not set", ghp::GHPOOL_URL_ENV);
        return 0;
    };
    let Some(repo) = ghp::credential_repository(&request, "github.com") else { return 0 };
    // Only an agent key goes to ghpool: a GitHub token in GH_TOKEN is not sent anywhere.
    let Some(key) = ghp::token_from_env(var).filter(|t| ghp::is_agent_key(t)) else {
        eprintln!("ghp git-credential: no agent key (ghpk_…) in GH_TOKEN");
        println!("quit=true");
        return 0;
    };
    let asked = tokio::runtime::Builder::new_current_thread().enable_all().build().map(|runtime| {
        runtime.block_on(async {
            let client = reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(30))
                .redirect(reqwest::redirect::Policy::none())
                .build()?;
            let resp = client
                .get(format!("{url}/git-credential"))
                .query(&[("repo", repo.as_str())])
                .header("authorization", format!("token {key}"))
                .send()
                .await?;
            let status = resp.status().as_u16();
            Ok::<_, reqwest::Error>((status, resp.json::<serde_json::Value>().await.unwrap_or_default()))
        })
    });
    match asked {
        Ok(Ok((status, body))) => {
            if status != 200 {
                eprintln!("ghp git-credential: ghpool refused {repo}: {}", body["message"].as_str().unwrap_or("?"));
            }
            print!("{}", ghp::credential_answer(status, &body));
        }
        Ok(Err(e)) => eprintln!("ghp git-credential: ghpool did not answer: {e}"),
        Err(e) => eprintln!("ghp git-credential: {e}"),
    }
    0
}
