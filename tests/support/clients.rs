//! Running real GitHub clients (gh, curl, PyGithub, Octokit) from tests (issue #7): finding them,
//! skipping loudly when one is not installed, and running each with a timeout so no test hangs.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::fake_github::FakeGithub;
use super::ghpool::{start_pool, GhpoolProcess};

/// The pool identity (alice) and the client's own token (carol) of the client suites.
pub const POOL_TOKEN: &str = "ghp_poolAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
pub const USER_TOKEN: &str = "ghp_userCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC";

/// `acme/widgets` with 45 issues (four of them closed), one pool identity (alice), and the client
/// carol; ghpool in front of it.
pub fn acme_widgets() -> (FakeGithub, GhpoolProcess) {
    let fake = FakeGithub::start();
    fake.add_token(POOL_TOKEN, "alice");
    fake.add_token(USER_TOKEN, "carol");
    fake.add_repo("acme", "widgets");
    fake.add_issues("acme", "widgets", 45);
    let gp = start_pool(&fake.base_url(), "acme", &[("a", POOL_TOKEN)], &[]);
    (fake, gp)
}

/// What a client printed, and how it exited.
#[derive(Debug)]
pub struct Output {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// Panics with everything the client printed unless it exited 0.
    pub fn ok(self, what: &str) -> Output {
        assert_eq!(self.code, Some(0), "{what} failed:\nstdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        self
    }
}

/// Runs `cmd` (stdin closed) and waits at most `timeout`; a client still running then is killed and
/// the test fails.
pub fn run(cmd: &mut Command, timeout: Duration) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let read = |stream: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut stream) = stream {
                let _ = stream.read_to_string(&mut text);
            }
            text
        })
    };
    let stdout = read(child.stdout.take().map(|s| Box::new(s) as Box<dyn Read + Send>));
    let stderr = read(child.stderr.take().map(|s| Box::new(s) as Box<dyn Read + Send>));
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let (out, err) = (stdout.join().unwrap_or_default(), stderr.join().unwrap_or_default());
            panic!("{cmd:?} did not finish within {timeout:?}:\nstdout:\n{out}\nstderr:\n{err}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output { code: status.code(), stdout: stdout.join().unwrap_or_default(), stderr: stderr.join().unwrap_or_default() }
}

/// Says loudly that a client test did not run, and why: cargo shows it as passed, so the message
/// goes straight to stderr, past the test harness's capture (which only takes `print!`/`eprint!`).
pub fn skipped(test: &str, why: &str) {
    use std::io::Write;
    let message = format!("\n*** SKIPPED {test}: {why}. `scripts/deps test` installs it. ***\n");
    let _ = std::io::stderr().write_all(message.as_bytes());
}

/// `name` on PATH.
pub fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(name)).find(|p| p.is_file())
}

/// The repository's root (where README.md and `target/tools` are).
pub fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The virtualenv `scripts/deps test` fills (moto, PyGithub).
pub fn venv_python() -> PathBuf {
    repo_root().join("target/tools/venv/bin/python")
}

/// Where `scripts/deps test` installs npm packages (`node_modules` below it).
pub fn node_dir() -> PathBuf {
    repo_root().join("target/tools/node")
}

/// README.md, as the user reads it.
pub fn readme() -> String {
    std::fs::read_to_string(repo_root().join("README.md")).expect("README.md")
}

/// The first fenced block of `lang` (```` ```python ````) after the line `heading` (`### PyGithub`).
pub fn readme_block(heading: &str, lang: &str) -> String {
    let text = readme();
    let after = text.split_once(&format!("\n{heading}\n")).unwrap_or_else(|| panic!("README has no `{heading}`")).1;
    let block =
        after.split_once(&format!("\n```{lang}\n")).unwrap_or_else(|| panic!("no {lang} block after {heading}")).1;
    block.split_once("\n```").expect("an unterminated block").0.to_string()
}

/// Every line of README's ```` ```sh ```` blocks that starts with `prefix` (`curl `).
pub fn readme_commands(prefix: &str) -> Vec<String> {
    let (mut commands, mut in_sh) = (Vec::new(), false);
    for line in readme().lines() {
        match line.trim_end() {
            "```sh" => in_sh = true,
            "```" => in_sh = false,
            line if in_sh && line.starts_with(prefix) => commands.push(line.to_string()),
            _ => {}
        }
    }
    commands
}

/// Sends `request`, panicking on a transport error or a non-2xx status.
pub fn client_ok(request: reqwest::blocking::RequestBuilder) -> reqwest::blocking::Response {
    let resp = request.send().expect("request to ghpool");
    assert!(resp.status().is_success(), "{}", resp.status());
    resp
}
