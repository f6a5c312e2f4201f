//! Issue #18: the static binary in an empty root. `scripts/build-static` builds it (`scripts/test`
//! runs it first; a test that finds no binary builds it). Each run is a root made here — the binary,
//! and only what a case gives it (`/etc/hosts`, `/dev/urandom` bound in) — entered with `unshare -r
//! -m` and `chroot`, on the test machine's network (the fake GitHub on loopback). Where user
//! namespaces are not available every test says SKIPPED and passes.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use support::fake_github::FakeGithub;

const TOKEN: &str = "ghp_staticPOOLstaticPOOLstaticPOOLstaticPOOL";
const WAIT: Duration = Duration::from_secs(30);

/// The static binary: `scripts/build-static` once per test run (nothing to do after scripts/test
/// built it).
fn binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        // The environment of a shell, not of `cargo test` (whose variables would make cargo rebuild
        // what scripts/test built already).
        let mut build = Command::new(root.join("scripts/build-static"));
        build.current_dir(root).env_clear();
        for var in ["PATH", "HOME", "CARGO_HOME", "RUSTUP_HOME", "RUSTUP_TOOLCHAIN"] {
            if let Some(value) = std::env::var_os(var) {
                build.env(var, value);
            }
        }
        let out = build.output().expect("scripts/build-static");
        assert!(out.status.success(), "scripts/build-static failed:\n{}", String::from_utf8_lossy(&out.stderr));
        let path = String::from_utf8_lossy(&out.stdout).lines().last().unwrap_or_default().trim().to_string();
        root.join(path)
    })
}

/// User and mount namespaces (for `chroot` without root), or a loud SKIPPED.
fn namespaces(test: &str) -> bool {
    let ok = Command::new("unshare").args(["-r", "-m", "true"]).status().is_ok_and(|s| s.success());
    if !ok {
        support::clients::skipped(test, "user namespaces are not available (unshare -r -m)");
    }
    ok
}

/// An empty root holding the binary, plus `/etc/hosts` naming `hosts` (if any) and empty
/// `/dev/urandom` and `/dev/random` to bind the real ones onto (if `urandom`: the static binary
/// reads them, as it cannot look the getrandom call up).
struct Root {
    dir: tempfile::TempDir,
    urandom: bool,
}

impl Root {
    fn new(hosts: Option<&str>, urandom: bool) -> Root {
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(binary(), dir.path().join("ghpool")).unwrap();
        if let Some(hosts) = hosts {
            std::fs::create_dir_all(dir.path().join("etc")).unwrap();
            std::fs::write(dir.path().join("etc/hosts"), hosts).unwrap();
        }
        if urandom {
            std::fs::create_dir_all(dir.path().join("dev")).unwrap();
            std::fs::write(dir.path().join("dev/urandom"), "").unwrap();
            std::fs::write(dir.path().join("dev/random"), "").unwrap();
        }
        Root { dir, urandom }
    }

    /// ghpool in the root with `env` only: a child whose PID is ghpool's (each step `exec`s).
    fn spawn(&self, env: &[(&str, &str)]) -> Child {
        self.spawn_with(env, "")
    }

    /// The same, with arguments (`-t`).
    fn spawn_with(&self, env: &[(&str, &str)], args: &str) -> Child {
        let root = self.dir.path().display().to_string();
        let bind = match self.urandom {
            true => format!(
                "mount --bind /dev/urandom '{root}/dev/urandom' && mount --bind /dev/random '{root}/dev/random' && "
            ),
            false => String::new(),
        };
        let script = format!("{bind}exec chroot '{root}' /ghpool {args}");
        let mut cmd = Command::new("unshare");
        cmd.args(["-r", "-m", "/bin/sh", "-c", &script])
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.spawn().expect("unshare")
    }

    /// Run to its end (at most [`WAIT`]): exit code and everything it printed.
    fn run(&self, env: &[(&str, &str)], args: &str) -> (Option<i32>, String) {
        let mut child = self.spawn_with(env, args);
        let deadline = Instant::now() + WAIT;
        while child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("ghpool did not exit in the empty root");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let out = child.wait_with_output().unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        (out.status.code(), text)
    }
}

fn env_for<'a>(upstream: &'a str, listen: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("GHPOOL_UPSTREAM", upstream),
        ("GHPOOL_LISTEN", listen),
        ("GHPOOL_ALLOWED_OWNERS", "acme"),
        ("GHPOOL_PAT_A", "env:TOKEN_A"),
        ("TOKEN_A", TOKEN),
        ("GHPOOL_SECRETS_DIR", "/nonexistent"),
    ]
}

#[test]
fn the_binary_links_nothing_at_run_time_18() {
    let ldd = Command::new("ldd").arg(binary()).output().unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&ldd.stdout), String::from_utf8_lossy(&ldd.stderr));
    assert!(said.contains("statically linked"), "ldd: {said}");
    if let Ok(file) = Command::new("file").arg(binary()).output() {
        let said = String::from_utf8_lossy(&file.stdout);
        assert!(said.contains("static-pie linked") || said.contains("statically linked"), "file: {said}");
    }
}

/// In an empty root holding the binary, `/etc/hosts` and `/dev/urandom`: it resolves the fake
/// GitHub by name, serves `/healthz` and a pooled read, and stops on SIGTERM.
#[test]
fn the_static_binary_serves_from_an_empty_root_18() {
    if !namespaces("the_static_binary_serves_from_an_empty_root_18") {
        return;
    }
    let fake = FakeGithub::start();
    fake.add_token(TOKEN, "alice");
    fake.add_repo("acme", "widgets");
    let root = Root::new(Some("127.0.0.1 github.fake.internal\n"), true);
    let upstream = format!("http://github.fake.internal:{}", fake.port());
    let port = support::ghpool::free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut child = root.spawn(&env_for(&upstream, &listen));
    let client = support::ghpool::client();
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            panic!(
                "exited with {status}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        if client.get(format!("http://{listen}/healthz")).send().is_ok_and(|r| r.status() == 200) {
            break;
        }
        assert!(Instant::now() < deadline, "no /healthz from the empty root");
        std::thread::sleep(Duration::from_millis(100));
    }
    let repo: serde_json::Value =
        client.get(format!("http://{listen}/repos/acme/widgets")).send().unwrap().json().unwrap();
    assert_eq!(repo["full_name"], "acme/widgets");
    assert_eq!(fake.requests_to("/repos/acme/widgets")[0].token.as_deref(), Some(TOKEN), "a pooled read");
    // A graceful SIGTERM (ghpool is the child's own process: unshare, sh and chroot exec'd).
    let pid = child.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let deadline = Instant::now() + WAIT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "still running {WAIT:?} after SIGTERM");
        std::thread::sleep(Duration::from_millis(100));
    };
    let out = child.wait_with_output().unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(status.success(), "{status}: {said}");
    assert!(!said.contains("panicked"), "{said}");
}

/// What the empty root lacks is said, with exit status 1 — never a panic.
#[test]
fn what_the_root_lacks_is_said_not_panicked_18() {
    if !namespaces("what_the_root_lacks_is_said_not_panicked_18") {
        return;
    }
    let hosts = "127.0.0.1 github.fake.internal\n";
    let port = support::ghpool::free_port().to_string();
    let listen = format!("127.0.0.1:{port}");
    // (what the root has, the upstream, extra environment, what ghpool says)
    type Case<'a> = (Root, &'a str, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case> = vec![
        (Root::new(Some(hosts), true), "https://github.fake.internal:1", vec![], "no CA certificates were found"),
        (
            Root::new(Some(hosts), true),
            "http://github.fake.internal:1",
            vec![("SSL_CERT_FILE", "/etc/ssl/certs/ca-certificates.crt")],
            "SSL_CERT_FILE names `/etc/ssl/certs/ca-certificates.crt`",
        ),
        (Root::new(None, true), "http://github.fake.internal:1", vec![], "neither /etc/hosts nor /etc/resolv.conf"),
    ];
    for (root, upstream, extra, says) in cases {
        let mut env = env_for(upstream, &listen);
        env.extend(extra);
        let (code, out) = root.run(&env, "");
        assert_eq!(code, Some(1), "{says}: {out}");
        assert!(out.contains(says), "{says}: {out}");
        assert!(!out.contains("panicked"), "{out}");
    }
    // Without /dev/urandom (`-t`: check and exit): the randomness check passes (the getrandom system
    // call) or says what is missing — never a panic.
    let env = [("GHPOOL_UPSTREAM", "http://github.fake.internal:1"), ("GHPOOL_LISTEN", listen.as_str())];
    let (code, out) = Root::new(Some(hosts), false).run(&env, "-t");
    assert!(!out.contains("panicked"), "{code:?}: {out}");
    match code {
        Some(0) => assert!(out.contains("configuration OK"), "{out}"),
        _ => assert!(code == Some(1) && out.contains("no randomness source"), "{code:?}: {out}"),
    }
}
