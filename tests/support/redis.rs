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
    /// Served over TLS only, with a certificate from a CA made for the test (in `dir`).
    tls: bool,
}

impl Redis {
    pub fn start() -> Redis {
        Self::start_with(None)
    }

    /// One that requires `AUTH password`.
    pub fn start_with(password: Option<&str>) -> Redis {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut redis =
            Redis { child: None, port: free_port(), dir, password: password.map(str::to_string), tls: false };
        redis.resume();
        redis
    }

    /// One served over TLS only (`rediss://`), its certificate (for `localhost` and 127.0.0.1)
    /// signed by a CA made here: [`Redis::ca_file`].
    pub fn start_tls() -> Redis {
        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
        let dir = tempfile::tempdir().expect("tempdir");
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, "ghpool test Redis CA");
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        let key = KeyPair::generate().unwrap();
        let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
        let cert = CertificateParams::new(names).unwrap().signed_by(&key, &ca).unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
        std::fs::write(dir.path().join("cert.pem"), cert.pem()).unwrap();
        std::fs::write(dir.path().join("key.pem"), key.serialize_pem()).unwrap();
        let mut redis = Redis { child: None, port: free_port(), dir, password: None, tls: true };
        redis.resume();
        redis
    }

    /// The CA that signed a TLS Redis's certificate (PEM).
    pub fn ca_file(&self) -> std::path::PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// `redis://127.0.0.1:<port>/0`, or `rediss://localhost:<port>/0` over TLS.
    pub fn url(&self) -> String {
        match self.tls {
            true => format!("rediss://localhost:{}/0", self.port),
            false => format!("redis://127.0.0.1:{}/0", self.port),
        }
    }

    /// Start again on the same port (after `stop`), and wait until it answers.
    pub fn resume(&mut self) {
        assert!(self.child.is_none(), "redis-server is already running");
        let port = self.port.to_string();
        let mut args = vec!["--port", &port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"];
        args.extend(["--protected-mode", "no"]);
        let files = ["cert.pem", "key.pem", "ca.pem"].map(|f| self.dir.path().join(f).display().to_string());
        if self.tls {
            args[1] = "0";
            args.extend(["--tls-port", &port, "--tls-auth-clients", "no"]);
            args.extend(["--tls-cert-file", &files[0], "--tls-key-file", &files[1], "--tls-ca-cert-file", &files[2]]);
        }
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
        if self.tls {
            cli.arg("--tls").arg("--cacert").arg(self.ca_file());
        }
        if let Some(password) = &self.password {
            cli.args(["--no-auth-warning", "-a", password]);
        }
        let out = cli.args(args).output();
        out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default()
    }

    /// Change `requirepass` (`CONFIG SET`) and close every client connection, as a rotation does.
    pub fn change_password(&mut self, password: &str) {
        assert_eq!(self.cli(&["CONFIG", "SET", "requirepass", password]).trim(), "OK");
        self.password = Some(password.to_string());
        for kind in ["normal", "pubsub"] {
            self.cli(&["CLIENT", "KILL", "TYPE", kind, "SKIPME", "yes"]);
        }
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

/// A relay in front of a Redis (a free loopback port) that can hold back what Redis sends to
/// subscribers — connections that sent `SUBSCRIBE` — while every other connection flows: a replica
/// whose subscription lags, deterministically. Its threads stop when it is dropped.
pub struct Relay {
    port: u16,
    hold: std::sync::Arc<std::sync::atomic::AtomicBool>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Relay {
    pub fn start(redis: &Redis) -> Relay {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::Arc;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("relay bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().unwrap().port();
        let (hold, stop) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
        let (target, relay_hold, relay_stop) = (redis.port, hold.clone(), stop.clone());
        std::thread::spawn(move || {
            while !relay_stop.load(Ordering::Relaxed) {
                let Ok((client, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                let Ok(server) = std::net::TcpStream::connect(("127.0.0.1", target)) else { continue };
                let _ = client.set_nonblocking(false);
                let subscriber = Arc::new(AtomicBool::new(false));
                let to_server = (client.try_clone().unwrap(), server.try_clone().unwrap(), subscriber.clone());
                let stop = relay_stop.clone();
                std::thread::spawn(move || {
                    let (mut from, mut to, subscriber) = to_server;
                    pump(&mut from, &mut to, &stop, |chunk| {
                        if chunk.windows(9).any(|w| w.eq_ignore_ascii_case(b"subscribe")) {
                            subscriber.store(true, Ordering::Relaxed);
                        }
                        true
                    });
                });
                let (hold, stop) = (relay_hold.clone(), relay_stop.clone());
                std::thread::spawn(move || {
                    let (mut from, mut to) = (server, client);
                    pump(&mut from, &mut to, &stop.clone(), |_| {
                        while subscriber.load(Ordering::Relaxed) && hold.load(Ordering::Relaxed) {
                            if stop.load(Ordering::Relaxed) {
                                return false;
                            }
                            std::thread::sleep(Duration::from_millis(2));
                        }
                        true
                    });
                });
            }
        });
        Relay { port, hold, stop }
    }

    /// `redis://127.0.0.1:<relay port>/0`
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Hold back (or release) what Redis sends to subscribers.
    pub fn hold_subscriptions(&self, hold: bool) {
        self.hold.store(hold, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Copy `from` to `to` until either closes or `stop`; `pass` sees each chunk first (and may hold
/// it back for a while; `false` ends the copy).
fn pump(
    from: &mut std::net::TcpStream,
    to: &mut std::net::TcpStream,
    stop: &std::sync::atomic::AtomicBool,
    mut pass: impl FnMut(&[u8]) -> bool,
) {
    use std::io::{Read, Write};
    let _ = from.set_read_timeout(Some(Duration::from_millis(100)));
    let mut buf = [0u8; 16 * 1024];
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if !pass(&buf[..n]) || to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(_) => break,
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Both);
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}
