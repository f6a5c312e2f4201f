//! Runs the real `ghpool` binary as a child process, as a user would: configured only through its
//! environment, on an ephemeral loopback port, in an empty working directory, killed on drop.
//! Everything it prints is captured so tests can assert on its log.

use std::io::Read;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A ghpool binary running under test (the proxy itself is `ghpool::proxy::Ghpool`).
pub struct GhpoolProcess {
    child: Child,
    port: u16,
    output: Arc<Mutex<String>>,
    _dir: tempfile::TempDir,
}

/// A free loopback port (bound, then released for the child to take).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

fn command(env: &[(&str, &str)], dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ghpool"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "info")
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

fn capture(child: &mut Child) -> Arc<Mutex<String>> {
    let output = Arc::new(Mutex::new(String::new()));
    let streams: Vec<Box<dyn Read + Send>> = vec![
        Box::new(child.stdout.take().expect("piped stdout")),
        Box::new(child.stderr.take().expect("piped stderr")),
    ];
    for mut stream in streams {
        let output = output.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stream.read(&mut buf) {
                if n == 0 {
                    break;
                }
                output.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
    }
    output
}

impl GhpoolProcess {
    /// Start with these environment variables (GHPOOL_LISTEN is set here) and wait for /healthz.
    pub fn start(env: &[(&str, &str)]) -> GhpoolProcess {
        Self::start_with_config(env, None)
    }

    /// Same, with a TOML file written to the working directory as `config.toml`.
    pub fn start_with_config(env: &[(&str, &str)], toml: Option<&str>) -> GhpoolProcess {
        Self::start_full(env, toml, &[])
    }

    /// Same, with command-line arguments (Pingora's `-c conf.yaml`, …).
    pub fn start_full(env: &[(&str, &str)], toml: Option<&str>, args: &[&str]) -> GhpoolProcess {
        let dir = tempfile::tempdir().expect("tempdir");
        if let Some(toml) = toml {
            std::fs::write(dir.path().join("config.toml"), toml).expect("write config");
        }
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        let mut env = env.to_vec();
        env.push(("GHPOOL_LISTEN", &listen));
        let mut child = command(&env, dir.path()).args(args).spawn().expect("spawn ghpool");
        let output = capture(&mut child);
        let mut g = GhpoolProcess { child, port, output, _dir: dir };
        let deadline = Instant::now() + START_TIMEOUT;
        let client = reqwest::blocking::Client::builder().timeout(Duration::from_secs(2)).build().unwrap();
        loop {
            if let Ok(Some(status)) = g.child.try_wait() {
                panic!("ghpool exited with {status} before serving:\n{}", g.log());
            }
            if client.get(g.url("/healthz")).send().is_ok_and(|r| r.status() == 200) {
                return g;
            }
            if Instant::now() > deadline {
                panic!("ghpool did not serve /healthz within {START_TIMEOUT:?}:\n{}", g.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Send SIGTERM and wait at most `timeout` for the process to exit; how long it took.
    pub fn terminate(&mut self, timeout: Duration) -> Option<Duration> {
        let started = Instant::now();
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        while started.elapsed() < timeout {
            if let Ok(Some(_)) = self.child.try_wait() {
                return Some(started.elapsed());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// Send a signal by name (`HUP`, `QUIT`, …) to this process only.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill").args([&format!("-{name}"), &self.child.id().to_string()]).status();
        assert!(status.is_ok_and(|s| s.success()), "kill -{name} {}", self.child.id());
    }

    /// Wait until the log contains `needle` (at most `timeout`); whether it did.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.log().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// Everything the process printed so far.
    pub fn log(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// GET `path` and parse the JSON answer.
    pub fn get_json(&self, path: &str) -> serde_json::Value {
        let resp = client().get(self.url(path)).send().expect("request to ghpool");
        resp.json().expect("JSON answer")
    }
}

impl Drop for GhpoolProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// ghpool in front of `upstream`, allowlisting `owners`, with each `(id, token)` configured as
/// `GHPOOL_PAT_<ID>=env:TOKEN_<ID>` (the token itself only in that variable), plus `extra`.
pub fn start_pool(upstream: &str, owners: &str, identities: &[(&str, &str)], extra: &[(&str, &str)]) -> GhpoolProcess {
    let mut owned: Vec<(String, String)> =
        vec![("GHPOOL_UPSTREAM".into(), upstream.into()), ("GHPOOL_ALLOWED_OWNERS".into(), owners.into())];
    for (id, token) in identities {
        let var = format!("TOKEN_{}", id.to_ascii_uppercase());
        owned.push((format!("GHPOOL_PAT_{}", id.to_ascii_uppercase()), format!("env:{var}")));
        owned.push((var, token.to_string()));
    }
    owned.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let env: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    GhpoolProcess::start(&env)
}

/// `n` concurrent GETs of `url`, each with its own query (`?n=i`) so the cache answers none of
/// them; their statuses (0 for a transport error).
pub fn burst(url: &str, n: usize) -> Vec<u16> {
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let url = format!("{url}?n={i}");
            std::thread::spawn(move || client().get(url).send().map(|r| r.status().as_u16()).unwrap_or(0))
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

/// A blocking client with a timeout, for tests.
pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder().timeout(Duration::from_secs(20)).build().expect("client")
}

/// Run ghpool expecting it to exit by itself (a bad configuration): exit code and output.
pub fn run_to_exit(env: &[(&str, &str)], toml: Option<&str>, args: &[&str]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    if let Some(toml) = toml {
        std::fs::write(dir.path().join("config.toml"), toml).expect("write config");
    }
    let port = free_port().to_string();
    let listen = format!("127.0.0.1:{port}");
    let mut env = env.to_vec();
    if !env.iter().any(|(k, _)| *k == "GHPOOL_LISTEN") {
        env.push(("GHPOOL_LISTEN", &listen));
    }
    let mut child = command(&env, dir.path()).args(args).spawn().expect("spawn ghpool");
    let output = capture(&mut child);
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            std::thread::sleep(Duration::from_millis(100));
            let text = output.lock().unwrap().clone();
            return (status.code(), text);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let text = output.lock().unwrap().clone();
            panic!("ghpool did not exit within {START_TIMEOUT:?}:\n{text}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl GhpoolProcess {
    /// Spawn ghpool listening on `127.0.0.1:port` and return at once, without waiting for it to
    /// serve: the new process of a graceful upgrade (`-u`) serves only once the old one has handed
    /// over its listening socket, so the caller decides what to wait for.
    pub fn spawn_on(port: u16, env: &[(&str, &str)], args: &[&str]) -> GhpoolProcess {
        let dir = tempfile::tempdir().expect("tempdir");
        let listen = format!("127.0.0.1:{port}");
        let mut env = env.to_vec();
        env.push(("GHPOOL_LISTEN", &listen));
        let mut child = command(&env, dir.path()).args(args).spawn().expect("spawn ghpool");
        let output = capture(&mut child);
        GhpoolProcess { child, port, output, _dir: dir }
    }

    /// Wait at most `timeout` for the process to exit by itself (no signal is sent): its exit
    /// status, or `None` if it is still running.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
