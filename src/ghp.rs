//! The decisions of `ghp`, the drop-in for `gh` (the binary in `src/bin/ghp.rs` only does I/O).
//!
//! Why this design: gh 2.23 speaks plain HTTP only to the special host `github.localhost`, and then
//! honours `HTTP_PROXY`, sending every request — REST and GraphQL alike — as an absolute-form request
//! (`GET http://api.github.localhost/repos/o/r`) that ghpool accepts. So `ghp` changes nothing but gh's
//! environment and runs the real gh: every command, output format (`--json`, `--jq`, `--template`,
//! tables) and pager is gh's own. ghpool does the splitting: reads go through the pool and the cache
//! (the client's token is dropped), writes go upstream with the user's own token, which `ghp` hands gh
//! as `GH_TOKEN`.
//!
//! What `ghp` must get right, and what is tested here:
//! - find the real gh on `PATH` without finding itself (`ln -sf $(which ghp) ~/bin/gh` must work);
//! - keep `NO_PROXY` from sending `api.github.localhost` around the proxy (Go matches `localhost`
//!   against every `*.localhost`);
//! - name the repository of the current checkout in `GH_REPO`: with `GH_HOST=github.localhost` gh
//!   finds no git remote of "its" host;
//! - run commands that need the real host (git transport, the browser, the user's own account,
//!   `gh auth`) as plain gh, unchanged.
//!
//! Must never: put the user's token anywhere but `GH_TOKEN` of the child, or print it.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

/// The host gh speaks plain HTTP to (its API at `http://api.github.localhost/`).
pub const GH_HOST: &str = "github.localhost";
/// The host gh's requests name in absolute form, which `NO_PROXY` must not exempt.
const API_HOST: &str = "api.github.localhost";

/// Commands (first word, or first two) that `ghp` runs as plain gh: they clone, push or check out
/// with git against the repository's real host, open a browser on it, or read the user's own
/// account (which ghpool refuses to answer from the pool).
const DIRECT: &[&[&str]] = &[
    &["alias"],
    &["auth"],
    &["browse"],
    &["codespace"],
    &["completion"],
    &["config"],
    &["extension"],
    &["gist"],
    &["gpg-key"],
    &["help"],
    &["org"],
    &["ssh-key"],
    &["status"],
    &["version"],
    // Asks about the user (`viewer`): the pool cannot answer for them.
    &["issue", "status"],
    &["pr", "checkout"],
    &["pr", "create"],
    &["pr", "merge"],
    // Asks about the user (`viewer`): the pool cannot answer for them.
    &["pr", "status"],
    &["repo", "clone"],
    &["repo", "create"],
    &["repo", "fork"],
    &["repo", "rename"],
    &["repo", "sync"],
];

/// Where ghpool is, for `ghp`.
pub const GHPOOL_URL_ENV: &str = "GHPOOL_URL";

/// Whether gh's arguments name a command that goes through ghpool (else: plain gh).
/// `gh` alone, `--version` and `--help` are plain gh too.
pub fn through_pool(args: &[OsString]) -> bool {
    let words = command_words(args);
    match words.first() {
        None => false,
        Some(_) => !DIRECT.iter().any(|cmd| words.len() >= cmd.len() && words[..cmd.len()] == **cmd),
    }
}

/// The first two words that are not flags: gh's command and subcommand. `-R`/`--repo`, which cobra
/// also takes between the two (`gh pr -R o/r checkout 3`), is skipped with its value.
fn command_words(args: &[OsString]) -> Vec<&str> {
    let mut words = Vec::new();
    let mut args = args.iter().filter_map(|a| a.to_str());
    while let Some(arg) = args.next() {
        match arg {
            "-R" | "--repo" => {
                args.next();
            }
            flag if flag.starts_with('-') => {}
            word => words.push(word),
        }
        if words.len() == 2 {
            break;
        }
    }
    words
}

/// The real gh: the first `gh` on `path` (a `PATH` value) that is an executable file and not this
/// very program (`self_exe`, compared after resolving symlinks on both sides).
pub fn find_real_gh(path: &OsStr, self_exe: &Path) -> Option<PathBuf> {
    let me = std::fs::canonicalize(self_exe).unwrap_or_else(|_| self_exe.to_path_buf());
    std::env::split_paths(path).map(|dir| dir.join("gh")).find(|candidate| {
        let Ok(real) = std::fs::canonicalize(candidate) else { return false };
        real != me && is_executable(&real)
    })
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The user's own token from the environment, as gh reads it for github.com: `GH_TOKEN`, then
/// `GITHUB_TOKEN`. `None` means: ask `gh auth token`.
pub fn token_from_env(var: impl Fn(&str) -> Option<String>) -> Option<String> {
    ["GH_TOKEN", "GITHUB_TOKEN"].into_iter().filter_map(var).map(|t| t.trim().to_string()).find(|t| !t.is_empty())
}

/// A `NO_PROXY` value without the entries that would exempt `api.github.localhost` (Go's rules:
/// `*`, and any entry the host equals or ends with as a domain — `localhost` matches every
/// `*.localhost`). `None` when nothing is left.
pub fn no_proxy_without_api_host(value: &str) -> Option<String> {
    let kept: Vec<&str> = value
        .split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .filter(|entry| {
            let domain = entry.trim_start_matches("*.").trim_start_matches('.').to_ascii_lowercase();
            let domain = domain.split(':').next().unwrap_or_default();
            !(*entry == "*" || API_HOST == domain || API_HOST.ends_with(&format!(".{domain}")))
        })
        .collect();
    (!kept.is_empty()).then(|| kept.join(","))
}

/// `owner/repo` of the checkout whose remotes `remotes` lists, as gh picks it: the remote marked
/// by `gh repo set-default` (`remote.NAME.gh-resolved`), else `upstream`, `github`, `origin`, then
/// the others, whichever first points at `host`. `remotes` is the output of
/// `git config --get-regexp '^remote\..*\.(url|gh-resolved)$'`.
pub fn repo_from_remotes(remotes: &str, host: &str) -> Option<String> {
    let mut urls: Vec<(String, String)> = Vec::new();
    let mut resolved: Vec<String> = Vec::new();
    for line in remotes.lines() {
        let Some((key, value)) = line.split_once(char::is_whitespace) else { continue };
        let Some(rest) = key.strip_prefix("remote.") else { continue };
        if let Some(name) = rest.strip_suffix(".url") {
            urls.push((name.to_string(), value.trim().to_string()));
        } else if let Some(name) = rest.strip_suffix(".gh-resolved") {
            resolved.push(name.to_string());
        }
    }
    let rank = |name: &str| {
        if resolved.iter().any(|r| r == name) {
            return 0;
        }
        ["upstream", "github", "origin"].iter().position(|n| *n == name).map_or(4, |i| i + 1)
    };
    urls.sort_by_key(|(name, _)| rank(name));
    urls.iter().find_map(|(_, url)| repo_of_url(url, host))
}

/// `owner/repo` from a git remote URL on `host`: `https://host/o/r(.git)`, `git@host:o/r.git`,
/// `ssh://git@host[:port]/o/r.git`, `git://host/o/r`.
fn repo_of_url(url: &str, host: &str) -> Option<String> {
    let (authority, path) = match url.split_once("://") {
        Some((_, rest)) => rest.split_once('/')?,
        None => url.split_once(':')?,
    };
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let authority = authority.split(':').next().unwrap_or_default();
    if !authority.eq_ignore_ascii_case(host) {
        return None;
    }
    let path = path.trim_matches('/');
    let path = path.strip_suffix(".git").unwrap_or(path);
    match path.split('/').collect::<Vec<_>>().as_slice() {
        [owner, repo] if !owner.is_empty() && !repo.is_empty() => Some(format!("{owner}/{repo}")),
        _ => None,
    }
}

/// What the real gh gets when a command goes through ghpool.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct PoolEnv {
    pub set: Vec<(&'static str, String)>,
    pub remove: Vec<&'static str>,
}

/// The environment changes for a command through ghpool at `ghpool_url`: gh talks to
/// `github.localhost` through ghpool as its HTTP proxy, with `token` (the user's own) as `GH_TOKEN`;
/// `repo` is the checkout's repository when the user has not set `GH_REPO`. `var` reads the
/// current environment.
pub fn pool_env(
    ghpool_url: &str,
    token: Option<&str>,
    repo: Option<&str>,
    var: impl Fn(&str) -> Option<String>,
) -> PoolEnv {
    let mut env = PoolEnv::default();
    env.set.push(("GH_HOST", GH_HOST.to_string()));
    // gh (Go) reads HTTP_PROXY first; git (libcurl) only the lower-case one, and only for http://
    // URLs, so git over https is untouched.
    env.set.push(("HTTP_PROXY", ghpool_url.to_string()));
    env.set.push(("http_proxy", ghpool_url.to_string()));
    match token {
        Some(token) => env.set.push(("GH_TOKEN", token.to_string())),
        None => env.remove.push("GH_TOKEN"),
    }
    for name in ["NO_PROXY", "no_proxy"] {
        if let Some(value) = var(name) {
            match no_proxy_without_api_host(&value) {
                Some(kept) if kept != value => env.set.push((name, kept)),
                Some(_) => {}
                None => env.remove.push(name),
            }
        }
    }
    if let (Some(repo), None) = (repo, var("GH_REPO")) {
        env.set.push(("GH_REPO", repo.to_string()));
    }
    env
}

/// `ghp git-credential get` (issue #16): the repository git asks a credential for, from what git
/// writes on the helper's stdin (`protocol=https`, `host=github.com`, `path=acme/widgets.git`; the
/// path only with `credential.useHttpPath=true`). `None`: not a GitHub HTTPS repository this helper
/// can name, or no path.
pub fn credential_repository(request: &str, github_host: &str) -> Option<String> {
    let field = |name: &str| {
        request.lines().map(str::trim).find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix('=')))
    };
    if field("protocol")? != "https" || !field("host")?.eq_ignore_ascii_case(github_host) {
        return None;
    }
    let path = field("path")?.trim_matches('/');
    let path = path.strip_suffix(".git").unwrap_or(path);
    let (owner, name) = path.split_once('/')?;
    let valid = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    (valid(owner) && valid(name) && !name.contains('/')).then(|| format!("{owner}/{name}"))
}

/// What `ghp git-credential get` prints for ghpool's `/git-credential` answer: the username and
/// password, or `quit=true` (git stops asking) when ghpool refused or answered anything but a
/// token-shaped password for `x-access-token`.
pub fn credential_answer(status: u16, body: &serde_json::Value) -> String {
    let token_shaped = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    match (status, body["username"].as_str(), body["password"].as_str()) {
        (200, Some(username @ "x-access-token"), Some(password)) if token_shaped(password) => {
            format!("username={username}\npassword={password}\n")
        }
        _ => "quit=true\n".to_string(),
    }
}

/// Is this an agent key (`ghpk_…`)? Only such a key is sent to ghpool by the credential helper,
/// and never left where the real gh would send it to GitHub.
pub fn is_agent_key(token: &str) -> bool {
    token.starts_with("ghpk_")
}

/// The token variables to take out of the real gh's environment when it talks to GitHub itself
/// (a command not routed through ghpool): those holding an agent key, which GitHub must never see.
pub fn agent_key_vars(var: impl Fn(&str) -> Option<String>) -> Vec<&'static str> {
    ["GH_TOKEN", "GITHUB_TOKEN"].into_iter().filter(|name| var(name).is_some_and(|t| is_agent_key(t.trim()))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_git_credential_helper_reads_what_git_asks_and_says_what_ghpool_answered_16() {
        let ask = |s: &str| credential_repository(s, "github.com");
        assert_eq!(ask("protocol=https\nhost=github.com\npath=acme/widgets.git\n"), Some("acme/widgets".into()));
        assert_eq!(ask("protocol=https\nhost=GitHub.com\npath=acme/widgets\n\n"), Some("acme/widgets".into()));
        assert_eq!(ask("protocol=https\nhost=github.com\n"), None, "no path: credential.useHttpPath is off");
        assert_eq!(ask("protocol=http\nhost=github.com\npath=acme/w.git\n"), None);
        assert_eq!(ask("protocol=https\nhost=gitlab.com\npath=acme/w.git\n"), None);
        assert_eq!(ask("protocol=https\nhost=github.com\npath=acme/w/x.git\n"), None);
        assert_eq!(ask("protocol=https\nhost=github.com\npath=acme/w%20x\n"), None);
        let ok = serde_json::json!({"username": "x-access-token", "password": "ghs_x", "expires_at": "t"});
        assert_eq!(credential_answer(200, &ok), "username=x-access-token\npassword=ghs_x\n");
        assert_eq!(credential_answer(403, &serde_json::json!({"message": "no"})), "quit=true\n");
        assert_eq!(
            credential_answer(200, &serde_json::json!({"password": "a\nb", "username": "x-access-token"})),
            "quit=true\n"
        );
        assert_eq!(credential_answer(200, &serde_json::json!({"password": "ghs_x", "username": "u"})), "quit=true\n");
        assert_eq!(
            credential_answer(200, &serde_json::json!({"password": "a b", "username": "x-access-token"})),
            "quit=true\n"
        );
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
        };
        assert_eq!(agent_key_vars(env(&[("GH_TOKEN", "ghpk_x"), ("GITHUB_TOKEN", "ghp_y")])), ["GH_TOKEN"]);
        assert_eq!(agent_key_vars(env(&[("GH_TOKEN", "ghp_y")])), Vec::<&str>::new());
    }
    use std::collections::HashMap;

    fn args(line: &str) -> Vec<OsString> {
        line.split_whitespace().map(OsString::from).collect()
    }

    #[test]
    fn which_commands_go_through_ghpool() {
        let pooled = [
            "api repos/o/r",
            "api --paginate repos/o/r/issues",
            "issue list -R o/r",
            "issue view 3",
            "issue comment 3 -b hi",
            "pr view 3 -R o/r",
            "pr list",
            "pr checks 3",
            "repo view o/r",
            "release list",
            "run list",
            "run view 7",
            "search issues repo:o/r",
            "pr -R o/r view 3",
        ];
        for line in pooled {
            assert!(through_pool(&args(line)), "{line}");
        }
        let direct = [
            "",
            "--version",
            "--help",
            "auth login",
            "auth token",
            "repo clone o/r",
            "repo fork o/r",
            "pr checkout 3",
            "pr create --fill",
            "browse",
            "ssh-key list",
            "status",
            "pr status",
            "pr -R o/r status",
            "issue status",
            "gist clone abc",
            "pr -R o/r checkout 3",
            "pr --repo=o/r checkout 3",
            "repo --help clone",
        ];
        for line in direct {
            assert!(!through_pool(&args(line)), "{line}");
        }
    }

    #[test]
    fn the_token_comes_from_gh_token_then_github_token() {
        let env = |pairs: &[(&str, &str)]| {
            let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            token_from_env(|k| map.get(k).cloned())
        };
        assert_eq!(env(&[("GH_TOKEN", "a"), ("GITHUB_TOKEN", "b")]).as_deref(), Some("a"));
        assert_eq!(env(&[("GITHUB_TOKEN", "b")]).as_deref(), Some("b"));
        assert_eq!(env(&[("GH_TOKEN", " "), ("GITHUB_TOKEN", "b\n")]).as_deref(), Some("b"));
        assert_eq!(env(&[]), None);
    }

    #[test]
    fn no_proxy_loses_only_what_exempts_the_api_host() {
        let cases = [
            ("localhost,127.0.0.1", Some("127.0.0.1")),
            (".localhost,corp.example", Some("corp.example")),
            ("*.localhost", None),
            ("github.localhost", None),
            ("api.github.localhost:80", None),
            ("*", None),
            ("corp.example, 10.0.0.0/8", Some("corp.example,10.0.0.0/8")),
            ("mylocalhost,localhost.example", Some("mylocalhost,localhost.example")),
        ];
        for (value, want) in cases {
            assert_eq!(no_proxy_without_api_host(value).as_deref(), want, "{value}");
        }
    }

    #[test]
    fn the_checkout_repository_is_found_as_gh_finds_it() {
        let remotes = "remote.fork.url git@github.com:me/widgets.git\n\
                       remote.origin.url https://github.com/acme/widgets.git\n";
        assert_eq!(repo_from_remotes(remotes, "github.com").as_deref(), Some("acme/widgets"));
        let upstream = format!("{remotes}remote.upstream.url ssh://git@github.com:22/up/widgets\n");
        assert_eq!(repo_from_remotes(&upstream, "github.com").as_deref(), Some("up/widgets"));
        let set_default = format!("{upstream}remote.fork.gh-resolved base\n");
        assert_eq!(repo_from_remotes(&set_default, "github.com").as_deref(), Some("me/widgets"));
        assert_eq!(repo_from_remotes(remotes, "ghe.example.com"), None, "another host");
        assert_eq!(repo_from_remotes("remote.origin.url https://github.com/acme/\n", "github.com"), None);
        assert_eq!(
            repo_from_remotes("remote.origin.url git://GitHub.com/acme/w/\n", "github.com").as_deref(),
            Some("acme/w")
        );
        assert_eq!(repo_from_remotes("", "github.com"), None);
    }

    #[test]
    fn the_environment_points_gh_at_ghpool() {
        let vars: HashMap<&str, &str> = [("NO_PROXY", "localhost,corp.example"), ("no_proxy", "localhost")].into();
        let env = pool_env("http://ghpool:8080", Some("tok"), Some("acme/w"), |k| vars.get(k).map(|v| v.to_string()));
        let set: HashMap<&str, &str> = env.set.iter().map(|(k, v)| (*k, v.as_str())).collect();
        assert_eq!(set["GH_HOST"], "github.localhost");
        assert_eq!(set["HTTP_PROXY"], "http://ghpool:8080");
        assert_eq!(set["http_proxy"], "http://ghpool:8080");
        assert_eq!(set["GH_TOKEN"], "tok");
        assert_eq!(set["NO_PROXY"], "corp.example");
        assert_eq!(set["GH_REPO"], "acme/w");
        assert_eq!(env.remove, ["no_proxy"]);

        let users_repo = pool_env("http://g", None, Some("acme/w"), |k| (k == "GH_REPO").then(|| "o/r".to_string()));
        assert!(!users_repo.set.iter().any(|(k, _)| *k == "GH_REPO"), "the user's GH_REPO wins");
        assert_eq!(users_repo.remove, ["GH_TOKEN"]);
    }

    #[test]
    fn the_real_gh_is_found_without_finding_ghp() {
        use std::os::unix::fs::{symlink, PermissionsExt};
        let dir = tempfile::tempdir().unwrap();
        let (shim_dir, real_dir, empty_dir) = (dir.path().join("bin"), dir.path().join("usr"), dir.path().join("e"));
        for d in [&shim_dir, &real_dir, &empty_dir] {
            std::fs::create_dir(d).unwrap();
        }
        let ghp = dir.path().join("ghp");
        let real = real_dir.join("gh");
        for file in [&ghp, &real] {
            std::fs::write(file, "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        // ~/bin/gh -> ghp, as `ln -sf $(which ghp) ~/bin/gh` makes it.
        symlink(&ghp, shim_dir.join("gh")).unwrap();
        let path = std::env::join_paths([&empty_dir, &shim_dir, &real_dir]).unwrap();
        assert_eq!(find_real_gh(&path, &shim_dir.join("gh")), Some(real_dir.join("gh")));
        assert_eq!(find_real_gh(&path, &ghp), Some(real_dir.join("gh")));
        let only_shim = std::env::join_paths([&shim_dir]).unwrap();
        assert_eq!(find_real_gh(&only_shim, &ghp), None);
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(find_real_gh(&path, &ghp), None, "not executable");
    }
}
