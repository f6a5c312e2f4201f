//! A real Redis (Debian's `redis-server`, installed by `scripts/deps test`) for one test: on a free
//! loopback port, nothing persisted, killed (by its own PID) on drop; it can be stopped and started
//! again on the same port to play an outage.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::ghpool::free_port;

pub struct Redis {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
    /// `requirepass`, when the test wants `AUTH`.
    password: Option<String>,
}

impl Redis {
    pub fn start() -> Redis {
        Self::start_with(None)
    }

    /// One that requires `AUTH password`.
    pub fn start_with(password: Option<&str>) -> Redis {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut redis = Redis { child: None, port: free_port(), dir, password: password.map(str::to_string) };
        redis.resume();
        redis
    }

    /// `redis://127.0.0.1:<port>/0`
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Start again on the same port (after `stop`), and wait until it answers.
    pub fn resume(&mut self) {
        assert!(self.child.is_none(), "redis-server is already running");
        let port = self.port.to_string();
        let mut args = vec!["--port", &port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"];
        args.extend(["--protected-mode", "no"]);
        if let Some(password) = &self.password {
            args.extend(["--requirepass", password.as_str()]);
        }
        let child = Command::new("redis-server")
            .args(&args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (scripts/deps test installs it)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.cli(&["PING"]).trim() != "PONG" {
            assert!(Instant::now() < deadline, "redis-server did not answer on port {port}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kill it (SIGKILL, its own PID): an outage.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// `redis-cli` against it: what it printed.
    pub fn cli(&self, args: &[&str]) -> String {
        let port = self.port.to_string();
        let mut cli = Command::new("redis-cli");
        cli.args(["-h", "127.0.0.1", "-p", &port]);
        if let Some(password) = &self.password {
            cli.args(["--no-auth-warning", "-a", password]);
        }
        let out = cli.args(args).output();
        out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default()
    }

    /// Every key (`--scan`).
    pub fn keys(&self) -> Vec<String> {
        self.cli(&["--scan"]).lines().map(str::to_string).filter(|k| !k.is_empty()).collect()
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}
