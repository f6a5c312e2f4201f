//! Issue #18: the static binary in an empty root. `scripts/build-static` builds it (`scripts/test`
//! runs it first; the test runs it again, which finds nothing to do). Each run is a root made here
//! — the binary, and only what a case gives it (`/etc/hosts`, `/etc/nsswitch.conf`; no `/dev`) —
//! entered with `unshare -r -m` and `chroot`, on the test machine's network (the fake GitHub on
//! loopback). Where user namespaces are not available every test says SKIPPED and passes.

mod support;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
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

/// An empty root holding the binary and, when `hosts` is given, `/etc/hosts` with it and
/// `/etc/nsswitch.conf` (`hosts: files dns`). No `/dev`: the static binary draws randomness from
/// the getrandom system call itself.
struct Root {
    dir: tempfile::TempDir,
}

/// ghpool running in a root: killed by its PID when dropped; what it prints is collected as it
/// comes (a full pipe would block it).
struct Running {
    child: Child,
    output: Arc<Mutex<String>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl Running {
    /// Wait at most [`WAIT`] for it to exit by itself.
    fn wait(&mut self) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                for reader in self.readers.drain(..) {
                    let _ = reader.join();
                }
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Root {
    fn new(hosts: Option<&str>) -> Root {
        // Under target/, not /tmp: a noexec /tmp would fail the chroot, not skip it.
        let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
        std::fs::copy(binary(), dir.path().join("ghpool")).unwrap();
        if let Some(hosts) = hosts {
            std::fs::create_dir_all(dir.path().join("etc")).unwrap();
            std::fs::write(dir.path().join("etc/hosts"), hosts).unwrap();
            std::fs::write(dir.path().join("etc/nsswitch.conf"), "hosts: files dns\n").unwrap();
        }
        Root { dir }
    }

    /// ghpool in the root with `env` only (and `args`): its PID is the child's, as each step
    /// `exec`s the next.
    fn spawn(&self, env: &[(&str, &str)], args: &str) -> Running {
        let root = self.dir.path().display().to_string();
        let script = format!("exec chroot '{root}' /ghpool {args}");
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
        let mut child = cmd.spawn().expect("unshare");
        let output = Arc::new(Mutex::new(String::new()));
        let mut readers = Vec::new();
        let streams: [Box<dyn std::io::Read + Send>; 2] =
            [Box::new(child.stdout.take().unwrap()), Box::new(child.stderr.take().unwrap())];
        for mut stream in streams {
            let output = output.clone();
            readers.push(std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    output.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            }));
        }
        Running { child, output, readers }
    }

    /// Run to its end (at most [`WAIT`]): exit code and everything it printed.
    fn run(&self, env: &[(&str, &str)], args: &str) -> (Option<i32>, String) {
        let mut running = self.spawn(env, args);
        let status = running.wait().unwrap_or_else(|| panic!("did not exit in the empty root:\n{}", running.output()));
        (status.code(), running.output())
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

/// In an empty root holding the binary, `/etc/hosts` and `/etc/nsswitch.conf`: it resolves the fake
/// GitHub by name, serves `/healthz` and a pooled read, and stops on SIGTERM.
#[test]
fn the_static_binary_serves_from_an_empty_root_18() {
    if !namespaces("the_static_binary_serves_from_an_empty_root_18") {
        return;
    }
    let fake = FakeGithub::start();
    fake.add_token(TOKEN, "alice");
    fake.add_repo("acme", "widgets");
    let root = Root::new(Some("127.0.0.1 github.fake.internal\n"));
    let upstream = format!("http://github.fake.internal:{}", fake.port());
    let port = support::ghpool::free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut running = root.spawn(&env_for(&upstream, &listen), "");
    let client = support::ghpool::client();
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(status) = running.child.try_wait().unwrap() {
            panic!("exited with {status}: {}", running.output());
        }
        if client.get(format!("http://{listen}/healthz")).send().is_ok_and(|r| r.status() == 200) {
            break;
        }
        assert!(Instant::now() < deadline, "no /healthz from the empty root:\n{}", running.output());
        std::thread::sleep(Duration::from_millis(100));
    }
    let repo: serde_json::Value =
        client.get(format!("http://{listen}/repos/acme/widgets")).send().unwrap().json().unwrap();
    assert_eq!(repo["full_name"], "acme/widgets");
    assert_eq!(fake.requests_to("/repos/acme/widgets")[0].token.as_deref(), Some(TOKEN), "a pooled read");
    // A graceful SIGTERM (ghpool is the child's own process: unshare, sh and chroot exec'd).
    let pid = running.child.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let status = running.wait().unwrap_or_else(|| panic!("still running {WAIT:?} after SIGTERM"));
    let said = running.output();
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
        (Root::new(Some(hosts)), "https://github.fake.internal:1", vec![], "no CA certificates were found"),
        (
            Root::new(Some(hosts)),
            "http://github.fake.internal:1",
            vec![("SSL_CERT_FILE", "/etc/ssl/certs/ca-certificates.crt")],
            "SSL_CERT_FILE names `/etc/ssl/certs/ca-certificates.crt`",
        ),
        (Root::new(None), "http://github.fake.internal:1", vec![], "neither /etc/hosts nor /etc/resolv.conf"),
    ];
    for (root, upstream, extra, says) in cases {
        let mut env = env_for(upstream, &listen);
        env.extend(extra);
        let (code, out) = root.run(&env, "");
        assert_eq!(code, Some(1), "{says}: {out}");
        assert!(out.contains(says), "{says}: {out}");
        assert!(!out.contains("panicked"), "{out}");
    }
    // No /dev at all (`-t`: check and exit): the static binary needs no device for randomness.
    let env = [("GHPOOL_UPSTREAM", "http://github.fake.internal:1"), ("GHPOOL_LISTEN", listen.as_str())];
    let (code, out) = Root::new(Some(hosts)).run(&env, "-t");
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("configuration OK") && !out.contains("panicked"), "{out}");
}
