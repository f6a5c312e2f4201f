//! Issue #6 item 1: zero-downtime operations with Pingora's server. A graceful upgrade (`-u` plus
//! SIGQUIT to the old process) under load loses no request, and SIGTERM lets every in-flight
//! request finish before the process exits. Both run the real binary with a Pingora server conf
//! (`-c`) whose grace periods are short, against the fake GitHub.

mod support;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use support::fake_github::FakeGithub;
use support::ghpool::GhpoolProcess;

const TOKEN_A: &str = "ghp_upgrAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
const TOKEN_B: &str = "ghp_upgrBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB";
const GRACE: Duration = Duration::from_secs(2);
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(2);
/// Pingora keeps accepting this long after sending its listeners to the new process, before its
/// grace period starts (`CLOSE_TIMEOUT` in pingora-core's `server/mod.rs`, not configurable).
const UPGRADE_CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);
const READ: &str = "/repos/acme/widgets";
/// Load threads that reuse their connections; as many again open a fresh connection per request.
const KEEP_ALIVE_THREADS: usize = 10;

/// A Pingora server conf in `dir` (pid file and upgrade socket there too), with short grace periods.
fn write_conf(dir: &Path) -> (PathBuf, PathBuf) {
    let sock = dir.join("upgrade.sock");
    let conf = dir.join("server.yaml");
    let yaml = format!(
        "---\nversion: 1\nthreads: 2\npid_file: {}\nupgrade_sock: {}\ngrace_period_seconds: {}\n\
         graceful_shutdown_timeout_seconds: {}\n",
        dir.join("ghpool.pid").display(),
        sock.display(),
        GRACE.as_secs(),
        SHUTDOWN_TIMEOUT.as_secs(),
    );
    std::fs::write(&conf, yaml).expect("write server conf");
    (conf, sock)
}

/// The fake GitHub with two pool identities and one repo, and ghpool's environment for it.
fn fake_and_env() -> (FakeGithub, Vec<(String, String)>) {
    let fake = FakeGithub::start();
    fake.add_token(TOKEN_A, "alice");
    fake.add_token(TOKEN_B, "bob");
    fake.add_repo("acme", "widgets");
    let env = vec![
        ("GHPOOL_UPSTREAM".to_string(), fake.base_url()),
        ("GHPOOL_ALLOWED_OWNERS".to_string(), "acme".to_string()),
        ("GHPOOL_PAT_A".to_string(), "env:TOKEN_A".to_string()),
        ("TOKEN_A".to_string(), TOKEN_A.to_string()),
        ("GHPOOL_PAT_B".to_string(), "env:TOKEN_B".to_string()),
        ("TOKEN_B".to_string(), TOKEN_B.to_string()),
    ];
    (fake, env)
}

fn refs(env: &[(String, String)]) -> Vec<(&str, &str)> {
    env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder().timeout(CLIENT_TIMEOUT).build().expect("client")
}

/// A keep-alive client as RFC 9110 §9.2.2 / RFC 9112 §9.3.1 expect one to behave: a server may
/// close an idle persistent connection at any moment, so an idempotent request that meets a
/// connection closed or reset before any answer is sent again, on a new connection (Go's
/// `net/http` Transport, which `gh` uses, and curl do this; reqwest only retries HTTP/2 NACKs
/// unless told). Each such retry is counted in `retries`.
fn retrying_client(retries: Arc<AtomicUsize>) -> reqwest::blocking::Client {
    let policy = reqwest::retry::for_host("127.0.0.1").classify_fn(move |rr| {
        if rr.method().is_idempotent() && rr.error().is_some_and(closed_before_answer) {
            retries.fetch_add(1, Ordering::SeqCst);
            rr.retryable()
        } else {
            rr.success()
        }
    });
    reqwest::blocking::Client::builder().timeout(CLIENT_TIMEOUT).retry(policy).build().expect("client")
}

/// Whether a transport error means the connection was closed (FIN or RST) before an answer came:
/// an io error of that kind, or hyper's "connection closed before message completed".
fn closed_before_answer(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(e);
    while let Some(e) = cause {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            if matches!(io.kind(), ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof) {
                return true;
            }
        }
        if e.to_string().contains("connection closed before message completed") {
            return true;
        }
        cause = e.source();
    }
    false
}

/// A request's error with its whole source chain (reset, closed before message completed, …).
fn describe(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

/// What one load thread saw.
#[derive(Default)]
struct Tally {
    ok: usize,
    retries: usize,
    /// (path, what went wrong)
    failures: Vec<(String, String)>,
}

/// Sets the stop flag when dropped, so load threads end even if the test panics.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// One client thread: alternately a cached read and a distinct uncached one, until `stop` (or a
/// hard deadline). With `keep_alive` it reuses one connection pool (and retries idempotent requests
/// on a connection the server closed, see [`retrying_client`]); otherwise every request asks for
/// `Connection: close`, so each opens a fresh connection, and nothing is retried.
fn load_thread(
    base: String,
    id: usize,
    keep_alive: bool,
    started: Instant,
    stop: Arc<AtomicBool>,
) -> JoinHandle<Tally> {
    std::thread::spawn(move || {
        let retries = Arc::new(AtomicUsize::new(0));
        let client = if keep_alive { retrying_client(retries.clone()) } else { client() };
        let hard_deadline = Instant::now() + Duration::from_secs(40);
        let mut tally = Tally::default();
        let mut i = 0usize;
        while !stop.load(Ordering::SeqCst) && Instant::now() < hard_deadline {
            let path = if i % 2 == 0 { READ.to_string() } else { format!("{READ}?n={id}-{i}") };
            let mut request = client.get(format!("{base}{path}"));
            if !keep_alive {
                request = request.header("connection", "close");
            }
            let at = started.elapsed().as_secs_f64();
            let kind = if keep_alive { "keep-alive" } else { "fresh connection" };
            let failure = match request.send() {
                Ok(resp) if resp.status() == 200 => match resp.bytes() {
                    Ok(_) => None,
                    Err(e) => Some(format!("body: {}", describe(&e))),
                },
                Ok(resp) => Some(format!("status {}", resp.status())),
                Err(e) => Some(describe(&e)),
            };
            match failure {
                None => tally.ok += 1,
                Some(f) => tally.failures.push((path.clone(), format!("t={at:.2}s {path} ({kind}): {f}"))),
            }
            i += 1;
            std::thread::sleep(Duration::from_millis(10));
        }
        tally.retries = retries.load(Ordering::SeqCst);
        tally
    })
}

fn wait_for_file(path: &Path, process: &mut GhpoolProcess, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while !path.exists() {
        if let Some(status) = process.wait_exit(Duration::ZERO) {
            panic!("the new ghpool exited with {status} before listening on {}:\n{}", path.display(), process.log());
        }
        assert!(
            Instant::now() < deadline,
            "the new ghpool did not create {} within {timeout:?}:\n{}",
            path.display(),
            process.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn an_upgrade_under_load_loses_no_request() {
    let (fake, env) = fake_and_env();
    let dir = tempfile::tempdir().expect("tempdir");
    let (conf, sock) = write_conf(dir.path());
    let conf = conf.to_str().expect("utf-8 path").to_string();
    let mut old = GhpoolProcess::start_full(&refs(&env), None, &["-c", &conf]);
    fake.set_delay(Duration::from_millis(20));

    let started = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let _stop_guard = StopOnDrop(stop.clone());
    let base = old.url("");
    let threads: Vec<_> = (0..2 * KEEP_ALIVE_THREADS)
        .map(|id| load_thread(base.clone(), id, id % 2 == 0, started, stop.clone()))
        .collect();

    // The new process binds the upgrade socket and waits for the listeners; the old one sends them
    // on SIGQUIT, keeps accepting for Pingora's close timeout, then drains for its grace period.
    std::thread::sleep(Duration::from_millis(1000));
    let mut new = GhpoolProcess::spawn_on(old.port(), &refs(&env), &["-c", &conf, "-u"]);
    wait_for_file(&sock, &mut new, Duration::from_secs(15));
    let quit_at = started.elapsed();
    old.signal("QUIT");
    let bound = UPGRADE_CLOSE_TIMEOUT + GRACE + SHUTDOWN_TIMEOUT + Duration::from_secs(3);
    let exit = old.wait_exit(bound);
    let old_gone_at = started.elapsed();
    // Load on the new process alone for a moment, then stop.
    std::thread::sleep(Duration::from_millis(700));
    stop.store(true, Ordering::SeqCst);
    let tallies: Vec<Tally> = threads.into_iter().map(|t| t.join().expect("load thread")).collect();
    let load_time = started.elapsed();

    let ok: usize = tallies.iter().map(|t| t.ok).sum();
    // Even-numbered threads keep connections alive, odd ones open a fresh one per request.
    let keep_alive_ok: usize = tallies.iter().step_by(2).map(|t| t.ok).sum();
    let fresh_ok = ok - keep_alive_ok;
    let retries: usize = tallies.iter().map(|t| t.retries).sum();
    let failures: Vec<&(String, String)> = tallies.iter().flat_map(|t| &t.failures).collect();
    println!(
        "upgrade under load: {} requests in {load_time:.1?} ({ok} ok: {keep_alive_ok} keep-alive, {fresh_ok} fresh \
         connections; {} failed; {retries} keep-alive retries on a closed idle connection); SIGQUIT at \
         {quit_at:.1?}, old process gone at {old_gone_at:.1?} ({exit:?})",
        ok + failures.len(),
        failures.len(),
    );
    for (path, failure) in &failures {
        // An uncached read GitHub never saw was dropped by ghpool before it read the request.
        let reached = if path.contains("?n=") { format!("{}", !fake.requests_to(path).is_empty()) } else { "-".into() };
        println!("  failed (reached GitHub: {reached}): {failure}");
    }

    let status = exit.unwrap_or_else(|| panic!("the old ghpool still runs {bound:?} after SIGQUIT:\n{}", old.log()));
    assert!(status.success(), "the old ghpool exited with {status}:\n{}", old.log());
    assert!(old.log().contains("listener sockets sent"), "{}", old.log());
    assert!(
        failures.is_empty(),
        "{} of {} requests failed during the upgrade (see above)\nold:\n{}\nnew:\n{}",
        failures.len(),
        ok + failures.len(),
        old.log(),
        new.log()
    );
    assert!(ok > 500, "the load ran: {ok} requests");
    // The old process closes each idle keep-alive connection once, when it stops accepting: at most
    // one retry per keep-alive client.
    assert!(retries <= KEEP_ALIVE_THREADS, "{retries} retries by {KEEP_ALIVE_THREADS} keep-alive clients");

    // The new process took over the port and serves on its own.
    assert!(new.wait_exit(Duration::ZERO).is_none(), "the new ghpool exited:\n{}", new.log());
    let c = client();
    let health = c.get(new.url("/healthz")).send().expect("healthz from the new process");
    assert_eq!(health.status(), 200);
    let read = c.get(new.url(&format!("{READ}?after=upgrade"))).send().expect("a read from the new process");
    assert_eq!(read.status(), 200, "{}", new.log());
    let served = new.get_json("/stats")["requests"]["by_status"]["200"].as_u64().unwrap_or(0);
    println!("the new process answered {served} requests with 200");
    assert!(served > 100, "the new process took part of the load: {served}");
}

#[test]
fn sigterm_loses_no_in_flight_request() {
    const N: usize = 10;
    let (fake, env) = fake_and_env();
    let dir = tempfile::tempdir().expect("tempdir");
    let (conf, _) = write_conf(dir.path());
    let conf = conf.to_str().expect("utf-8 path").to_string();
    let mut gp = GhpoolProcess::start_full(&refs(&env), None, &["-c", &conf]);
    fake.set_delay(Duration::from_secs(1));

    let handles: Vec<_> = (0..N)
        .map(|i| {
            let url = gp.url(&format!("{READ}?slow={i}"));
            std::thread::spawn(move || match client().get(url).send() {
                Ok(resp) => resp.status().as_u16().to_string(),
                Err(e) => describe(&e),
            })
        })
        .collect();
    // Every read has reached the fake (which answers after its delay) before the signal.
    let deadline = Instant::now() + Duration::from_secs(5);
    while fake.max_concurrent(TOKEN_A) + fake.max_concurrent(TOKEN_B) < N {
        assert!(Instant::now() < deadline, "the reads did not reach the fake GitHub:\n{}", gp.log());
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(fake.requests_to(&format!("{READ}?slow=")).is_empty(), "a read was answered before SIGTERM");

    let bound = GRACE + SHUTDOWN_TIMEOUT + Duration::from_secs(2);
    let took = gp.terminate(bound);
    let outcomes: Vec<String> = handles.into_iter().map(|h| h.join().expect("client thread")).collect();
    println!("SIGTERM with {N} reads in flight: exited after {took:?}; answers {outcomes:?}");
    assert!(outcomes.iter().all(|o| o == "200"), "every in-flight read is answered: {outcomes:?}\n{}", gp.log());
    assert!(took.is_some(), "ghpool still runs {bound:?} after SIGTERM:\n{}", gp.log());
}

/// Regression: at shutdown Pingora closed connections that had been accepted but had not yet sent
/// their first request, unanswered — a client that had just connected lost its request (a write
/// included). ghpool's `Linger` serves them for a moment first.
#[test]
fn a_connection_made_just_before_sigterm_still_gets_its_answer() {
    use std::io::{Read, Write};
    let (_fake, env) = fake_and_env();
    let dir = tempfile::tempdir().expect("tempdir");
    let (conf, _) = write_conf(dir.path());
    let conf = conf.to_str().expect("utf-8 path").to_string();
    let mut gp = GhpoolProcess::start_full(&refs(&env), None, &["-c", &conf]);
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", gp.port())).expect("connect");
    stream.set_read_timeout(Some(CLIENT_TIMEOUT)).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    gp.signal("TERM");
    std::thread::sleep(Duration::from_millis(300));
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: ghpool\r\n\r\n").expect("send the request");
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "answered during shutdown: {answer:?}\n{}", gp.log());
    assert!(answer.to_ascii_lowercase().contains("connection: close"), "{answer}");
    assert!(gp.wait_exit(GRACE + SHUTDOWN_TIMEOUT + Duration::from_secs(3)).is_some(), "{}", gp.log());
}
