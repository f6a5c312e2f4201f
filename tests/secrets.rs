//! Issue #6: secrets from AWS Secrets Manager (a real API: moto's server) and Kubernetes mounts,
//! rotated without a restart — every `secrets_refresh` and on SIGHUP — with no request lost.

mod support;

use std::os::unix::fs::symlink;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use support::fake_github::FakeGithub;
use support::ghpool::{client, run_to_exit, GhpoolProcess};
use support::moto::Moto;

const OLD_A: &str = "ghp_rotOLDaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const NEW_A: &str = "ghp_rotNEWaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const TOKEN_B: &str = "ghp_rotBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB";
const WAIT: Duration = Duration::from_secs(15);

fn fake() -> FakeGithub {
    let fake = FakeGithub::start();
    fake.add_token(OLD_A, "alice");
    fake.add_token(NEW_A, "alice");
    fake.add_token(TOKEN_B, "bob");
    fake.add_repo("acme", "widgets");
    fake
}

fn start(fake: &FakeGithub, env: &[(String, String)]) -> GhpoolProcess {
    let mut all = vec![
        ("GHPOOL_UPSTREAM".to_string(), fake.base_url()),
        ("GHPOOL_ALLOWED_OWNERS".to_string(), "acme".to_string()),
    ];
    all.extend(env.iter().cloned());
    let env: Vec<(&str, &str)> = all.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    GhpoolProcess::start(&env)
}

fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// Distinct (uncached) reads in a loop until stopped; every status.
struct Readers {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Vec<u16>>,
}

fn read_continuously(gp: &GhpoolProcess) -> Readers {
    let stop = Arc::new(AtomicBool::new(false));
    let (flag, base) = (stop.clone(), gp.url("/repos/acme/widgets"));
    let handle = std::thread::spawn(move || {
        let (client, started) = (client(), Instant::now());
        let mut statuses = Vec::new();
        // Bounded: stops when told, or after 30 s whatever happens.
        while !flag.load(Ordering::Relaxed) && started.elapsed() < Duration::from_secs(30) {
            let url = format!("{base}?n={}", statuses.len());
            statuses.push(client.get(url).send().map(|r| r.status().as_u16()).unwrap_or(0));
            std::thread::sleep(Duration::from_millis(10));
        }
        statuses
    });
    Readers { stop, handle }
}

impl Readers {
    fn finish(self) -> Vec<u16> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().unwrap()
    }
}

fn tokens_used(fake: &FakeGithub) -> Vec<String> {
    fake.requests_to("/repos/acme/widgets").into_iter().filter_map(|r| r.token).collect()
}

fn assert_no_token_in(log: &str) {
    for token in [OLD_A, NEW_A, TOKEN_B] {
        assert!(!log.contains(token), "a token leaked into the log:\n{log}");
    }
}

#[test]
fn identities_in_one_aws_secret_cost_one_call() {
    let (fake, moto) = (fake(), Moto::start());
    moto.create_secret("ghpool/tokens", &format!(r#"{{"a": "{OLD_A}", "b": "{TOKEN_B}"}}"#));
    let mut env = moto.env();
    env.extend(owned(&[
        ("GHPOOL_PAT_A", "aws:secretsmanager:ghpool/tokens:a"),
        ("GHPOOL_PAT_B", "aws:secretsmanager:ghpool/tokens:b"),
    ]));
    let gp = start(&fake, &env);
    assert_eq!(moto.calls("GetSecretValue"), 1, "two identities, one secret, one call");
    for i in 0..4 {
        let status = client().get(gp.url(&format!("/repos/acme/widgets?n={i}"))).send().unwrap().status();
        assert_eq!(status, 200);
    }
    let used = tokens_used(&fake);
    assert!(used.iter().any(|t| t == OLD_A) && used.iter().any(|t| t == TOKEN_B), "both identities serve");
    let stats = gp.get_json("/stats");
    let logins: Vec<&str> =
        stats["identities"].as_array().unwrap().iter().map(|i| i["login"].as_str().unwrap()).collect();
    assert_eq!(logins, ["alice", "bob"]);
    assert_no_token_in(&gp.log());
}

#[test]
fn aws_errors_name_the_secret_and_the_problem() {
    let (fake, moto) = (fake(), Moto::start());
    moto.create_secret("ghpool/tokens", &format!(r#"{{"a": "{OLD_A}"}}"#));
    moto.create_secret("ghpool/plain", OLD_A);
    moto.create_binary_secret("ghpool/binary");
    let mut env = moto.env();
    env.extend(owned(&[
        ("GHPOOL_UPSTREAM", &fake.base_url()),
        ("GHPOOL_ALLOWED_OWNERS", "acme"),
        ("GHPOOL_PAT_MISSING", "aws:secretsmanager:ghpool/nope:a"),
        ("GHPOOL_PAT_NOKEY", "aws:secretsmanager:ghpool/tokens:zz"),
        ("GHPOOL_PAT_PLAIN", "aws:secretsmanager:ghpool/plain:a"),
        ("GHPOOL_PAT_BINARY", "aws:secretsmanager:ghpool/binary:a"),
    ]));
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let (code, log) = run_to_exit(&pairs, None, &[]);
    assert_eq!(code, Some(1), "{log}");
    for expected in [
        "AWS secret `ghpool/nope` does not exist",
        "AWS secret `ghpool/tokens` has no key `zz`",
        "AWS secret `ghpool/plain` is not a JSON object",
        "AWS secret `ghpool/binary` holds binary data",
    ] {
        assert!(log.contains(expected), "missing `{expected}` in:\n{log}");
    }
    assert_no_token_in(&log);

    // No credentials anywhere in the standard chain (and no instance metadata service to ask).
    let no_credentials: Vec<(&str, &str)> = pairs
        .iter()
        .copied()
        .filter(|(k, _)| !k.starts_with("AWS_ACCESS_KEY_ID") && !k.starts_with("AWS_SECRET_ACCESS_KEY"))
        .filter(|(k, _)| !k.starts_with("GHPOOL_PAT_") || *k == "GHPOOL_PAT_NOKEY")
        .collect();
    let (code, log) = run_to_exit(&no_credentials, None, &[]);
    assert_eq!(code, Some(1), "{log}");
    assert!(log.contains("no AWS credentials"), "{log}");
}

#[test]
fn a_rotated_aws_secret_replaces_the_token_on_sighup_without_a_failed_request() {
    let (fake, moto) = (fake(), Moto::start());
    moto.create_secret("ghpool/tokens", &format!(r#"{{"a": "{OLD_A}"}}"#));
    let mut env = moto.env();
    env.push(("GHPOOL_PAT_A".into(), "aws:secretsmanager:ghpool/tokens:a".into()));
    let gp = start(&fake, &env);
    let readers = read_continuously(&gp);
    std::thread::sleep(Duration::from_millis(300));

    moto.put_secret_value("ghpool/tokens", &format!(r#"{{"a": "{NEW_A}"}}"#));
    gp.signal("HUP");
    assert!(gp.wait_for_log("identity `a` (login alice) now uses its rotated token", WAIT), "{}", gp.log());
    // The old token dies once the new one is in use (as when a PAT is regenerated).
    fake.revoke_token(OLD_A);
    fake.clear_log();
    std::thread::sleep(Duration::from_millis(300));
    let statuses = readers.finish();

    assert!(statuses.len() > 20, "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == 200), "no read failed across the rotation: {statuses:?}");
    let after = tokens_used(&fake);
    assert!(!after.is_empty() && after.iter().all(|t| t == NEW_A), "only the new token after the swap");
    assert_eq!(moto.calls("GetSecretValue"), 2, "once at start, once on SIGHUP");
    assert_no_token_in(&gp.log());
}

/// A secret volume as the kubelet writes it: `<dir>/<key>` → `..data/<key>`, `..data` → a timestamped
/// directory, swapped atomically by renaming a new `..data` link over the old one.
fn kubelet_write(mount: &Path, generation: u32, key: &str, value: &str) {
    let version = format!("..2026_11_29_{generation:02}");
    std::fs::create_dir_all(mount.join(&version)).unwrap();
    std::fs::write(mount.join(&version).join(key), value).unwrap();
    let _ = std::fs::remove_file(mount.join("..data_tmp"));
    symlink(&version, mount.join("..data_tmp")).unwrap();
    std::fs::rename(mount.join("..data_tmp"), mount.join("..data")).unwrap();
    if !mount.join(key).exists() {
        symlink(format!("..data/{key}"), mount.join(key)).unwrap();
    }
    if generation > 1 {
        std::fs::remove_dir_all(mount.join(format!("..2026_11_29_{:02}", generation - 1))).unwrap();
    }
}

#[test]
fn a_kubelet_secret_swap_is_picked_up_by_the_periodic_refresh() {
    let fake = fake();
    let secrets = tempfile::tempdir().unwrap();
    let mount = secrets.path().join("ghpool-tokens");
    kubelet_write(&mount, 1, "a", &format!("{OLD_A}\n"));
    let env = owned(&[
        ("GHPOOL_PAT_A", "k8s:tools/ghpool-tokens:a"),
        ("GHPOOL_SECRETS_DIR", secrets.path().to_str().unwrap()),
        ("GHPOOL_SECRETS_REFRESH", "1s"),
    ]);
    let gp = start(&fake, &env);
    let readers = read_continuously(&gp);
    std::thread::sleep(Duration::from_millis(300));

    kubelet_write(&mount, 2, "a", &format!("{NEW_A}\n"));
    assert!(gp.wait_for_log("identity `a` (login alice) now uses its rotated token", WAIT), "{}", gp.log());
    fake.revoke_token(OLD_A);
    fake.clear_log();
    std::thread::sleep(Duration::from_millis(300));

    // A source that breaks keeps the last good token, with a warning.
    std::fs::remove_file(mount.join("a")).unwrap();
    assert!(gp.wait_for_log("identity `a` keeps its current token: k8s:tools/ghpool-tokens:a", WAIT), "{}", gp.log());
    std::thread::sleep(Duration::from_millis(300));
    let statuses = readers.finish();

    assert!(statuses.len() > 20, "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == 200), "no read failed across the swap: {statuses:?}");
    let after = tokens_used(&fake);
    assert!(!after.is_empty() && after.iter().all(|t| t == NEW_A), "only the new token after the swap");
    assert_no_token_in(&gp.log());
}

/// Issue #16: `ghpool keygen` prints a new agent key (`ghpk_…`) and its digest, the SHA-256 the
/// configuration can hold instead of the key; no configuration is needed to run it.
#[test]
fn keygen_prints_a_new_key_and_its_digest_16() {
    let run = || {
        let (status, out) = run_to_exit(&[], None, &["keygen"]);
        assert_eq!(status, Some(0), "{out}");
        let field =
            |name: &str| out.lines().find_map(|l| l.strip_prefix(name)).map(|v| v.trim().to_string()).expect(name);
        (field("key:"), field("digest:"))
    };
    let (key, digest) = run();
    assert!(key.starts_with("ghpk_") && key.len() > 40, "{key}");
    let sha = sha256_hex(key.as_bytes());
    assert_eq!(digest, format!("sha256:{sha}"));
    assert_ne!(run().0, key, "a new key each time");
}

fn sha256_hex(bytes: &[u8]) -> String {
    let out = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            std::io::Write::write_all(child.stdin.as_mut().unwrap(), bytes)?;
            drop(child.stdin.take());
            child.wait_with_output()
        })
        .expect("sha256sum");
    String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap_or_default().to_string()
}
