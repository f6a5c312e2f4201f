//! A fake of the two Google endpoints ghpool reads secrets through, for integration tests.
//!
//! - the metadata server's token endpoint (`GET /computeMetadata/v1/instance/service-accounts/default/token`),
//!   which refuses a request without `Metadata-Flavor: Google`, as the real one does;
//! - an OAuth token endpoint (`POST /token`) that takes a JWT-bearer assertion only if its RS256 signature
//!   verifies with a registered service account's public key and its claims are Google's (`iss`, `aud`,
//!   `scope`, `exp`);
//! - Secret Manager's `GET /v1/projects/{p}/secrets/{s}/versions/{v}:access`, which wants a token one of the
//!   two endpoints issued and serves versions the test adds (`latest` is the newest, so adding one rotates).
//!
//! Service-account keys are generated at run time ([`FakeGcp::service_account_key`]); none is ever committed.
//! Answers and errors have Google's shapes. The server runs on its own thread with its own Tokio runtime, on
//! `127.0.0.1:0`; dropping the [`FakeGcp`] stops it.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{header, Method};
use axum::response::Response;
use axum::Router;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{json, Value};

const METADATA_TOKEN_PATH: &str = "/computeMetadata/v1/instance/service-accounts/default/token";
const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// One request as the fake received it, with the status it answered.
#[derive(Clone, Debug)]
pub struct GcpRequest {
    pub method: String,
    pub path: String,
    /// The bearer token, if any.
    pub token: Option<String>,
    pub status: u16,
}

/// A running fake on `127.0.0.1:<random port>`.
pub struct FakeGcp {
    port: u16,
    world: Arc<Mutex<World>>,
    _server: super::fake_github::serve::Served,
}

#[derive(Default)]
struct World {
    /// `http://127.0.0.1:PORT/token`, the audience every assertion must name.
    token_uri: String,
    /// Secret resource (`projects/p/secrets/s`) → its versions, oldest first (version n is `[n - 1]`).
    secrets: HashMap<String, Vec<String>>,
    /// Resources whose `:access` answers 403.
    denied: HashSet<String>,
    /// Service account email → public key PEM.
    accounts: HashMap<String, String>,
    /// Access tokens issued and still valid.
    tokens: HashSet<String>,
    issued: u64,
    log: Vec<GcpRequest>,
}

impl FakeGcp {
    /// Binds 127.0.0.1:0 and serves on a dedicated thread; returns once the socket is listening.
    pub fn start() -> FakeGcp {
        let mut world = None;
        let server = super::fake_github::serve::serve("fake GCP", |port| {
            let token_uri = format!("http://127.0.0.1:{port}/token");
            let w = Arc::new(Mutex::new(World { token_uri, ..World::default() }));
            world = Some(w.clone());
            Router::new().fallback(handle).with_state(w)
        });
        FakeGcp { port: server.port, world: world.expect("the router was built"), _server: server }
    }

    /// For `GHPOOL_GCP_SECRETMANAGER_URL`.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// For `GCE_METADATA_HOST`.
    pub fn metadata_host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The OAuth token endpoint, as a key file's `token_uri`.
    pub fn token_uri(&self) -> String {
        format!("{}/token", self.base_url())
    }

    /// Adds a version holding `value` to secret `resource` (`projects/p/secrets/s`), creating the secret;
    /// it becomes `latest`. Returns its version number (1, 2, …).
    pub fn add_secret_version(&self, resource: &str, value: &str) -> usize {
        let mut w = self.lock();
        let versions = w.secrets.entry(resource.to_string()).or_default();
        versions.push(value.to_string());
        versions.len()
    }

    /// From now on reading `resource` answers 403 PERMISSION_DENIED.
    pub fn deny(&self, resource: &str) {
        self.lock().denied.insert(resource.to_string());
    }

    /// A new service account `client_email`: the JSON key file Google would hand out (private key in PKCS#8
    /// PEM, `token_uri` pointing at this fake), whose public key the token endpoint now trusts.
    pub fn service_account_key(&self, client_email: &str) -> String {
        let (private_pem, public_pem) = key_pair();
        self.lock().accounts.insert(client_email.to_string(), public_pem.clone());
        json!({
            "type": "service_account",
            "project_id": "p",
            "private_key_id": "fake-key-1",
            "private_key": private_pem,
            "client_email": client_email,
            "client_id": "100000000000000000001",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": self.token_uri(),
        })
        .to_string()
    }

    /// Every access token issued so far (valid or not), so tests can check none leaks into a log.
    pub fn issued_tokens(&self) -> Vec<String> {
        (1..=self.lock().issued).map(token_text).collect()
    }

    /// Makes every issued token invalid, as an expiry would.
    pub fn expire_tokens(&self) {
        self.lock().tokens.clear();
    }

    pub fn requests(&self) -> Vec<GcpRequest> {
        self.lock().log.clone()
    }

    /// Logged requests whose path starts with `path_prefix`.
    pub fn requests_to(&self, path_prefix: &str) -> Vec<GcpRequest> {
        self.lock().log.iter().filter(|r| r.path.starts_with(path_prefix)).cloned().collect()
    }

    fn lock(&self) -> MutexGuard<'_, World> {
        lock(&self.world)
    }
}

fn lock(world: &Mutex<World>) -> MutexGuard<'_, World> {
    world.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// One RSA key pair per test process (private PKCS#8 PEM, public SPKI PEM): generating a 2048-bit key takes a
/// moment, and the fake tells accounts apart by `iss`, not by key.
fn key_pair() -> (String, String) {
    static PAIR: OnceLock<(String, String)> = OnceLock::new();
    PAIR.get_or_init(|| {
        use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
        let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).expect("fake GCP: RSA key");
        let private_pem = key.to_pkcs8_pem(LineEnding::LF).expect("fake GCP: PKCS#8 PEM").to_string();
        let public_pem = key.to_public_key().to_public_key_pem(LineEnding::LF).expect("fake GCP: public PEM");
        (private_pem, public_pem)
    })
    .clone()
}

fn token_text(n: u64) -> String {
    format!("ya29.fake-gcp-access-token-{n:04}")
}

/// An answer before it becomes an HTTP response.
struct Reply {
    status: u16,
    body: Value,
}

impl Reply {
    fn ok(body: Value) -> Reply {
        Reply { status: 200, body }
    }
    /// Google APIs' error shape.
    fn api_error(status: u16, code: &str, message: &str) -> Reply {
        Reply { status, body: json!({ "error": { "code": status, "message": message, "status": code } }) }
    }
    /// OAuth's error shape.
    fn oauth_error(error: &str, description: &str) -> Reply {
        Reply { status: 400, body: json!({ "error": error, "error_description": description }) }
    }
}

impl World {
    fn issue_token(&mut self) -> Reply {
        self.issued += 1;
        let token = token_text(self.issued);
        self.tokens.insert(token.clone());
        Reply::ok(json!({ "access_token": token, "expires_in": 3599, "token_type": "Bearer" }))
    }

    fn metadata_token(&mut self, flavor: Option<&str>) -> Reply {
        if flavor != Some("Google") {
            return Reply { status: 403, body: json!("Missing required header: Metadata-Flavor: Google") };
        }
        self.issue_token()
    }

    fn oauth_token(&mut self, form: &HashMap<String, String>) -> Reply {
        if form.get("grant_type").map(String::as_str) != Some(JWT_BEARER) {
            return Reply::oauth_error("unsupported_grant_type", "Invalid grant_type");
        }
        let Some(assertion) = form.get("assertion") else {
            return Reply::oauth_error("invalid_request", "Missing required parameter: assertion");
        };
        let verified = self.accounts.iter().any(|(email, public_pem)| {
            let Ok(key) = DecodingKey::from_rsa_pem(public_pem.as_bytes()) else { return false };
            let mut validation = Validation::new(Algorithm::RS256);
            validation.set_audience(&[&self.token_uri]);
            validation.set_issuer(&[email]);
            validation.set_required_spec_claims(&["exp", "iat", "iss", "aud"]);
            jsonwebtoken::decode::<Value>(assertion, &key, &validation)
                .is_ok_and(|data| data.claims["scope"].as_str().is_some_and(|s| s.split(' ').any(|s| s == SCOPE)))
        });
        if !verified {
            return Reply::oauth_error("invalid_grant", "Invalid JWT Signature.");
        }
        self.issue_token()
    }

    fn access(&self, path: &str, token: Option<&str>) -> Reply {
        if !token.is_some_and(|t| self.tokens.contains(t)) {
            return Reply::api_error(
                401,
                "UNAUTHENTICATED",
                "Request had invalid authentication credentials. Expected OAuth 2 access token.",
            );
        }
        let Some(rest) = path.strip_prefix("/v1/").and_then(|p| p.strip_suffix(":access")) else {
            return Reply::api_error(404, "NOT_FOUND", "Method not found.");
        };
        let Some((resource, version)) = rest.rsplit_once("/versions/") else {
            return Reply::api_error(404, "NOT_FOUND", "Method not found.");
        };
        if self.denied.contains(resource) {
            let message = format!(
                "Permission 'secretmanager.versions.access' denied for resource '{resource}/versions/{version}' (or it may not exist)."
            );
            return Reply::api_error(403, "PERMISSION_DENIED", &message);
        }
        let Some(versions) = self.secrets.get(resource).filter(|v| !v.is_empty()) else {
            return Reply::api_error(404, "NOT_FOUND", &format!("Secret [{resource}] not found or has no versions."));
        };
        let number = match version {
            "latest" => Some(versions.len()),
            n => n.parse::<usize>().ok().filter(|n| (1..=versions.len()).contains(n)),
        };
        let Some(number) = number else {
            return Reply::api_error(
                404,
                "NOT_FOUND",
                &format!("Secret Version [{resource}/versions/{version}] not found."),
            );
        };
        let data = base64::engine::general_purpose::STANDARD.encode(&versions[number - 1]);
        Reply::ok(json!({ "name": format!("{resource}/versions/{number}"), "payload": { "data": data } }))
    }
}

async fn handle(State(world): State<Arc<Mutex<World>>>, req: Request) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let flavor = req.headers().get("metadata-flavor").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    let body = to_bytes(req.into_body(), 1 << 20).await.unwrap_or_default();
    let reply = {
        let mut w = lock(&world);
        let reply = match (&method, path.as_str()) {
            (&Method::GET, METADATA_TOKEN_PATH) => w.metadata_token(flavor.as_deref()),
            (&Method::POST, "/token") => {
                let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
                w.oauth_token(&form)
            }
            (&Method::GET, p) if p.starts_with("/v1/") => w.access(p, token.as_deref()),
            _ => Reply::api_error(404, "NOT_FOUND", "Not Found"),
        };
        w.log.push(GcpRequest { method: method.to_string(), path, token, status: reply.status });
        reply
    };
    let body = match &reply.body {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    Response::builder()
        .status(reply.status)
        .header(header::CONTENT_TYPE, "application/json; charset=UTF-8")
        .body(Body::from(body))
        .unwrap_or_else(|e| Response::new(Body::from(format!("fake GCP: bad response: {e}"))))
}
