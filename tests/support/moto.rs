//! A real AWS Secrets Manager API for tests: moto's server (`pip install 'moto[server]'`; `scripts/deps
//! test` installs it into `target/tools/venv`), on an ephemeral loopback port, killed on drop. Its request
//! recorder tells how many calls ghpool made.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const START_TIMEOUT: Duration = Duration::from_secs(30);
/// moto takes the region from the signature's credential scope; it does not check the signature.
const AUTHORIZATION: &str = "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/secretsmanager/aws4_request, \
                             SignedHeaders=host, Signature=0";

pub struct Moto {
    child: Child,
    port: u16,
    /// moto's working directory: its recorder writes its file there, one per server.
    _dir: tempfile::TempDir,
}

/// `moto_server` from the venv `scripts/deps test` makes, else from `PATH`; a loud failure otherwise.
fn moto_server() -> PathBuf {
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/tools/venv/bin/moto_server");
    if venv.exists() {
        return venv;
    }
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).map(|d| d.join("moto_server")).find(|c| c.exists()))
        .unwrap_or_default();
    on_path.unwrap_or_else(|| {
        panic!(
            "moto_server not found (target/tools/venv or PATH): run `scripts/deps test`, which installs moto[server]"
        )
    })
}

impl Moto {
    pub fn start() -> Moto {
        let port = super::ghpool::free_port();
        let dir = tempfile::tempdir().expect("tempdir");
        let child = Command::new(moto_server())
            .current_dir(dir.path())
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("MOTO_ENABLE_RECORDING", "True")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn moto_server");
        let mut moto = Moto { child, port, _dir: dir };
        let client = reqwest::blocking::Client::builder().timeout(Duration::from_secs(2)).build().unwrap();
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = moto.child.try_wait() {
                panic!("moto_server exited with {status}");
            }
            if client.get(format!("{}/moto-api/", moto.endpoint())).send().is_ok_and(|r| r.status().is_success()) {
                break;
            }
            assert!(Instant::now() < deadline, "moto_server did not answer within {START_TIMEOUT:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
        let started = client.post(format!("{}/moto-api/recorder/start-recording", moto.endpoint())).send();
        assert!(started.is_ok_and(|r| r.status().is_success()), "moto's recorder did not start");
        moto
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The environment that points the AWS SDK's standard chain at this server and nowhere else.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            // Never ask the instance metadata service (169.254.169.254 is not loopback).
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    fn call(&self, action: &str, body: Value) -> Value {
        let resp = reqwest::blocking::Client::new()
            .post(format!("{}/", self.endpoint()))
            .header("authorization", AUTHORIZATION)
            .header("x-amz-target", format!("secretsmanager.{action}"))
            .header("content-type", "application/x-amz-json-1.1")
            .timeout(Duration::from_secs(10))
            .body(body.to_string())
            .send()
            .expect("call moto");
        assert!(resp.status().is_success(), "moto {action}: {}", resp.status());
        resp.json().expect("moto answers JSON")
    }

    pub fn create_secret(&self, name: &str, text: &str) {
        self.call("CreateSecret", json!({ "Name": name, "SecretString": text }));
    }

    pub fn create_binary_secret(&self, name: &str) {
        self.call("CreateSecret", json!({ "Name": name, "SecretBinary": "AAEC" }));
    }

    pub fn put_secret_value(&self, name: &str, text: &str) {
        self.call("PutSecretValue", json!({ "SecretId": name, "SecretString": text }));
    }

    /// How many recorded calls were this Secrets Manager action (e.g. `GetSecretValue`).
    pub fn calls(&self, action: &str) -> usize {
        let text = reqwest::blocking::get(format!("{}/moto-api/recorder/download-recording", self.endpoint()))
            .and_then(|r| r.text())
            .expect("moto's recording");
        let target = format!("secretsmanager.{action}");
        text.lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|r| {
                let headers = r["headers"].as_object().cloned().unwrap_or_default();
                headers.iter().any(|(k, v)| k.eq_ignore_ascii_case("x-amz-target") && v == &json!(target))
            })
            .count()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
