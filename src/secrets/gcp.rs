//! GCP Secret Manager: `gcp:secretmanager:projects/<p>/secrets/<s>:<version>`.
//!
//! Owns: the access token ghpool shows Google — minted from a service-account key file
//! (`GOOGLE_APPLICATION_CREDENTIALS`: an RS256 JWT assertion traded at the key's `token_uri`), else
//! asked of the metadata server (`GCE_METADATA_HOST`, default `metadata.google.internal`) — and
//! cached until shortly before it expires; reading a secret version through the REST API
//! (`GHPOOL_GCP_SECRETMANAGER_URL`, default `https://secretmanager.googleapis.com`) and decoding its
//! base64 payload.
//! Must never: log, format or keep outside a [`Secret`] an access token, a private key, a JWT
//! assertion or a secret's value. Errors name the secret version, the URL and Google's status and
//! message, never a credential.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::Mutex;

use super::Secret;
use crate::clock::now_epoch;

const DEFAULT_ENDPOINT: &str = "https://secretmanager.googleapis.com";
const DEFAULT_METADATA_HOST: &str = "metadata.google.internal";
const METADATA_TOKEN_PATH: &str = "/computeMetadata/v1/instance/service-accounts/default/token";
/// Where a key file without `token_uri` trades its assertion (every key Google issues names it).
const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// Google's OAuth server accepts assertions valid for at most an hour.
const ASSERTION_LIFETIME_SECS: u64 = 3600;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Off GCP the metadata host does not answer; say so before a whole request timeout passes.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// A cached token is renewed this long before Google says it expires, so none expires in flight.
const RENEW_MARGIN: Duration = Duration::from_secs(60);
/// Google's error messages are a sentence; anything longer is not one and is cut.
const MAX_MESSAGE_CHARS: usize = 200;

/// Why a secret could not be taken from GCP Secret Manager.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum GcpError {
    #[error(
        "no GCP credentials: GOOGLE_APPLICATION_CREDENTIALS is not set and the metadata server `{url}` gave no token ({reason}); set GOOGLE_APPLICATION_CREDENTIALS to a service-account key file, or run on GCP with a service account attached"
    )]
    NoCredentials { url: String, reason: String },
    #[error("GCP credentials file `{path}` (GOOGLE_APPLICATION_CREDENTIALS): {reason}")]
    KeyFile { path: String, reason: String },
    #[error("GCP token endpoint `{url}` refused the service account's assertion: HTTP {status}: {message}")]
    TokenRefused { url: String, status: u16, message: String },
    #[error("GCP token endpoint `{url}` could not be reached: {reason}")]
    TokenUnreachable { url: String, reason: String },
    #[error("GCP token endpoint `{url}` answered without an access_token")]
    TokenAnswer { url: String },
    #[error(
        "GCP secret `{name}`: permission denied (HTTP 403: {message}); grant ghpool's service account roles/secretmanager.secretAccessor on it"
    )]
    PermissionDenied { name: String, message: String },
    #[error("GCP secret `{name}` not found (HTTP 404: {message})")]
    NotFound { name: String, message: String },
    #[error("GCP secret `{name}`: `{url}` answered HTTP {status}: {message}")]
    Refused { name: String, url: String, status: u16, message: String },
    #[error("GCP secret `{name}`: `{url}` could not be reached: {reason}")]
    Unreachable { name: String, url: String, reason: String },
    #[error("GCP secret `{name}`: the answer is not Secret Manager's JSON")]
    NotJson { name: String },
    #[error("GCP secret `{name}`: payload.data is not base64")]
    NotBase64 { name: String },
    #[error("GCP secret `{name}`: the payload is not UTF-8 text")]
    NotText { name: String },
    #[error("GCP secret `{name}` is empty")]
    Empty { name: String },
    #[error("GHPOOL_GCP_SECRETMANAGER_URL `{url}` is not a usable base URL: {reason}")]
    Endpoint { url: String, reason: String },
    #[error("the HTTP client for GCP could not be built: {0}")]
    Client(String),
}

/// Where to reach Google and how to authenticate, read from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    endpoint: String,
    credentials: Credentials,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Credentials {
    KeyFile(PathBuf),
    Metadata { host: String },
}

/// Overrides Secret Manager's endpoint (an emulator, a private endpoint).
pub const ENDPOINT_ENV: &str = "GHPOOL_GCP_SECRETMANAGER_URL";

impl Settings {
    /// Read through the resolver's lookup (a map in tests); empty values count as unset.
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Settings {
        let var = |name: &str| env(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let endpoint = var(ENDPOINT_ENV).unwrap_or_else(|| DEFAULT_ENDPOINT.to_string());
        let credentials = match var("GOOGLE_APPLICATION_CREDENTIALS") {
            Some(path) => Credentials::KeyFile(PathBuf::from(path)),
            None => Credentials::Metadata { host: var("GCE_METADATA_HOST").unwrap_or(DEFAULT_METADATA_HOST.into()) },
        };
        Settings { endpoint, credentials }
    }
}

/// The HTTP client and the cached access token, shared by every clone of the resolver.
#[derive(Default)]
pub struct GcpSecrets {
    http: OnceLock<Result<reqwest::Client, GcpError>>,
    /// Held while a token is fetched, so identities resolving at once share one fetch.
    token: Mutex<Option<CachedToken>>,
}

struct CachedToken {
    source: Credentials,
    token: Secret,
    renew_at: Instant,
}

/// An access token as Google granted it.
struct Granted {
    token: Secret,
    expires_in: Option<u64>,
}

impl GcpSecrets {
    /// The text of `<resource>/versions/<version>`, trimmed and non-empty.
    pub async fn fetch(&self, settings: &Settings, resource: &str, version: &str) -> Result<Secret, GcpError> {
        let name = format!("{resource}/versions/{version}");
        let url = access_url(&settings.endpoint, resource, version)?;
        let http = self.http()?;
        let mut retried = false;
        loop {
            let token = self.access_token(http, &settings.credentials).await?;
            let unreachable = |e: reqwest::Error| GcpError::Unreachable {
                name: name.clone(),
                url: url.to_string(),
                reason: reason(&e),
            };
            let answer = http.get(url.clone()).bearer_auth(token.expose()).send().await.map_err(unreachable)?;
            let status = answer.status().as_u16();
            let body = answer.bytes().await.map_err(unreachable)?;
            // A token revoked or expired early: fetch a fresh one, once.
            if status == 401 && !retried {
                *self.token.lock().await = None;
                retried = true;
                continue;
            }
            if status != 200 {
                return Err(access_error(&name, url.as_str(), status, &body));
            }
            return decode_payload(&name, &body);
        }
    }

    fn http(&self) -> Result<&reqwest::Client, GcpError> {
        let built = self.http.get_or_init(|| {
            reqwest::Client::builder()
                .user_agent(crate::USER_AGENT)
                .timeout(REQUEST_TIMEOUT)
                .connect_timeout(CONNECT_TIMEOUT)
                // The resolver serves start-up's runtime and then Pingora's; an idle connection
                // belongs to the runtime that opened it, so none is kept (secrets are read rarely).
                .pool_max_idle_per_host(0)
                .build()
                .map_err(|e| GcpError::Client(reason(&e)))
        });
        built.as_ref().map_err(Clone::clone)
    }

    async fn access_token(&self, http: &reqwest::Client, credentials: &Credentials) -> Result<Secret, GcpError> {
        let mut cached = self.token.lock().await;
        if let Some(c) = cached.as_ref().filter(|c| c.source == *credentials && Instant::now() < c.renew_at) {
            return Ok(c.token.clone());
        }
        let granted = match credentials {
            Credentials::KeyFile(path) => {
                let account = read_key_file(path)?;
                exchange_assertion(http, &account, &assertion(&account, now_epoch())?).await?
            }
            Credentials::Metadata { host } => from_metadata(http, host).await?,
        };
        let lifetime = Duration::from_secs(granted.expires_in.unwrap_or(0)).saturating_sub(RENEW_MARGIN);
        *cached = (!lifetime.is_zero()).then(|| CachedToken {
            source: credentials.clone(),
            token: granted.token.clone(),
            renew_at: Instant::now() + lifetime,
        });
        Ok(granted.token)
    }
}

/// The service-account fields ghpool needs. No `Debug`: it holds the private key.
struct ServiceAccount {
    path: String,
    client_email: String,
    private_key: Secret,
    private_key_id: Option<String>,
    token_uri: String,
}

/// A key file as Google writes it; other fields are ignored.
#[derive(Deserialize)]
struct KeyFileJson {
    #[serde(rename = "type")]
    kind: Option<String>,
    client_email: Option<String>,
    private_key: Option<String>,
    private_key_id: Option<String>,
    token_uri: Option<String>,
}

fn read_key_file(path: &Path) -> Result<ServiceAccount, GcpError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| GcpError::KeyFile { path: shown.clone(), reason: format!("cannot be read: {e}") })?;
    parse_key_file(&shown, &text)
}

fn parse_key_file(path: &str, text: &str) -> Result<ServiceAccount, GcpError> {
    let bad = |reason: String| GcpError::KeyFile { path: path.to_string(), reason };
    // serde_json's message gives a line and column, never the text around them.
    let raw: KeyFileJson = serde_json::from_str(text).map_err(|e| bad(format!("not JSON: {e}")))?;
    match raw.kind.as_deref() {
        Some("service_account") => {}
        Some(other) => return Err(bad(format!("type `{other}` is not supported (only a service_account key)"))),
        None => return Err(bad("no `type` (expected a service_account key)".into())),
    }
    let client_email = raw.client_email.filter(|s| !s.is_empty()).ok_or_else(|| bad("no `client_email`".into()))?;
    let private_key = raw.private_key.filter(|s| !s.is_empty()).ok_or_else(|| bad("no `private_key`".into()))?;
    Ok(ServiceAccount {
        path: path.to_string(),
        client_email,
        private_key: Secret::new(private_key),
        private_key_id: raw.private_key_id.filter(|s| !s.is_empty()),
        token_uri: raw.token_uri.filter(|s| !s.is_empty()).unwrap_or_else(|| DEFAULT_TOKEN_URI.to_string()),
    })
}

/// The claims of the assertion a service account trades for an access token.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
struct Claims {
    iss: String,
    scope: String,
    aud: String,
    iat: u64,
    exp: u64,
}

fn claims(account: &ServiceAccount, now: u64) -> Claims {
    Claims {
        iss: account.client_email.clone(),
        scope: SCOPE.to_string(),
        aud: account.token_uri.clone(),
        iat: now,
        exp: now + ASSERTION_LIFETIME_SECS,
    }
}

/// The RS256-signed JWT assertion, signed with the account's private key.
fn assertion(account: &ServiceAccount, now: u64) -> Result<Secret, GcpError> {
    let bad = |reason: String| GcpError::KeyFile { path: account.path.clone(), reason };
    let key = EncodingKey::from_rsa_pem(account.private_key.expose().as_bytes())
        .map_err(|e| bad(format!("`private_key` is not an RSA private key in PEM: {e}")))?;
    let header = Header { kid: account.private_key_id.clone(), ..Header::new(Algorithm::RS256) };
    jsonwebtoken::encode(&header, &claims(account, now), &key)
        .map(Secret::new)
        .map_err(|e| bad(format!("the assertion could not be signed: {e}")))
}

async fn exchange_assertion(
    http: &reqwest::Client,
    account: &ServiceAccount,
    assertion: &Secret,
) -> Result<Granted, GcpError> {
    let url = &account.token_uri;
    let form = [("grant_type", JWT_BEARER), ("assertion", assertion.expose())];
    let unreachable = |e: reqwest::Error| GcpError::TokenUnreachable { url: url.clone(), reason: reason(&e) };
    let answer = http.post(url).form(&form).send().await.map_err(unreachable)?;
    let status = answer.status().as_u16();
    let body = answer.bytes().await.map_err(unreachable)?;
    if status != 200 {
        return Err(GcpError::TokenRefused { url: url.clone(), status, message: short_message(&body) });
    }
    granted(&body).ok_or_else(|| GcpError::TokenAnswer { url: url.clone() })
}

async fn from_metadata(http: &reqwest::Client, host: &str) -> Result<Granted, GcpError> {
    let url = format!("http://{host}{METADATA_TOKEN_PATH}");
    let no_token = |reason: String| GcpError::NoCredentials { url: url.clone(), reason };
    // The header proves the request is not a redirected browser; the server refuses without it.
    let answer = http.get(&url).header("Metadata-Flavor", "Google").send().await.map_err(|e| no_token(reason(&e)))?;
    let status = answer.status().as_u16();
    let body = answer.bytes().await.map_err(|e| no_token(reason(&e)))?;
    if status != 200 {
        return Err(no_token(format!("HTTP {status}: {}", short_message(&body))));
    }
    granted(&body).ok_or_else(|| GcpError::TokenAnswer { url: url.clone() })
}

/// `{"access_token": "...", "expires_in": 3599, "token_type": "Bearer"}`, from either source.
fn granted(body: &[u8]) -> Option<Granted> {
    // No `Debug`: it holds the token.
    #[derive(Deserialize)]
    struct Answer {
        access_token: Option<String>,
        expires_in: Option<u64>,
    }
    let answer: Answer = serde_json::from_slice(body).ok()?;
    let token = answer.access_token.filter(|t| !t.trim().is_empty())?;
    Some(Granted { token: Secret::new(token.trim()), expires_in: answer.expires_in })
}

/// `{endpoint}/v1/{resource}/versions/{version}:access`, each part a path segment (percent-encoded
/// where needed, so a stray `?` or `#` in the configuration cannot change the request).
fn access_url(endpoint: &str, resource: &str, version: &str) -> Result<url::Url, GcpError> {
    let bad = |reason: String| GcpError::Endpoint { url: endpoint.to_string(), reason };
    let mut url = url::Url::parse(endpoint).map_err(|e| bad(e.to_string()))?;
    url.path_segments_mut()
        .map_err(|()| bad("it cannot have a path".into()))?
        .pop_if_empty()
        .push("v1")
        .extend(resource.split('/'))
        .push("versions")
        .push(&format!("{version}:access"));
    Ok(url)
}

/// A refusal of `:access`, by what the operator must do about it.
fn access_error(name: &str, url: &str, status: u16, body: &[u8]) -> GcpError {
    let (name, message) = (name.to_string(), short_message(body));
    match status {
        403 => GcpError::PermissionDenied { name, message },
        404 => GcpError::NotFound { name, message },
        _ => GcpError::Refused { name, url: url.to_string(), status, message },
    }
}

/// `{"name": "...", "payload": {"data": "<base64>"}}` → the secret's text, trimmed.
fn decode_payload(name: &str, body: &[u8]) -> Result<Secret, GcpError> {
    let name = || name.to_string();
    let answer: Value = serde_json::from_slice(body).map_err(|_| GcpError::NotJson { name: name() })?;
    // Protobuf's JSON leaves an empty `bytes` field out altogether.
    let Some(data) = answer.pointer("/payload/data").and_then(Value::as_str) else {
        return Err(GcpError::Empty { name: name() });
    };
    let data = data.trim();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(data))
        .map_err(|_| GcpError::NotBase64 { name: name() })?;
    let text = String::from_utf8(bytes).map_err(|_| GcpError::NotText { name: name() })?;
    let value = text.trim();
    if value.is_empty() {
        return Err(GcpError::Empty { name: name() });
    }
    Ok(Secret::new(value))
}

/// Google's message from an error body: `{"error": {"message": ...}}` (APIs), `{"error": "...",
/// "error_description": "..."}` (OAuth), else the text itself; one line, cut short.
fn short_message(body: &[u8]) -> String {
    let json: Option<Value> = serde_json::from_slice(body).ok();
    let from_json = json.as_ref().and_then(|v| match v.get("error")? {
        Value::Object(e) => e.get("message")?.as_str().map(str::to_string),
        Value::String(code) => Some(match v.get("error_description").and_then(Value::as_str) {
            Some(description) => format!("{code}: {description}"),
            None => code.clone(),
        }),
        _ => None,
    });
    let text = from_json.unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match one_line.chars().count() {
        0 => "(no message)".to_string(),
        n if n > MAX_MESSAGE_CHARS => format!("{}…", one_line.chars().take(MAX_MESSAGE_CHARS).collect::<String>()),
        _ => one_line,
    }
}

/// A transport error with its causes ("connection refused", "timed out"); reqwest's own message
/// is only "error sending request".
fn reason(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::sync::Arc;

    const NAME: &str = "projects/p/secrets/s/versions/latest";

    fn b64(text: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(text)
    }

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k: &str| map.get(k).cloned()
    }

    #[test]
    fn settings_come_from_the_lookup() {
        type Vars = &'static [(&'static str, &'static str)];
        let cases: &[(&str, Vars, Settings)] = &[
            (
                "defaults",
                &[],
                Settings {
                    endpoint: DEFAULT_ENDPOINT.into(),
                    credentials: Credentials::Metadata { host: "metadata.google.internal".into() },
                },
            ),
            (
                "metadata host and endpoint overridden",
                &[("GCE_METADATA_HOST", "127.0.0.1:9"), ("GHPOOL_GCP_SECRETMANAGER_URL", "http://127.0.0.1:8")],
                Settings {
                    endpoint: "http://127.0.0.1:8".into(),
                    credentials: Credentials::Metadata { host: "127.0.0.1:9".into() },
                },
            ),
            (
                "a key file wins over the metadata server",
                &[("GOOGLE_APPLICATION_CREDENTIALS", "/k.json"), ("GCE_METADATA_HOST", "127.0.0.1:9")],
                Settings { endpoint: DEFAULT_ENDPOINT.into(), credentials: Credentials::KeyFile("/k.json".into()) },
            ),
            (
                "empty values count as unset",
                &[("GOOGLE_APPLICATION_CREDENTIALS", " "), ("GHPOOL_GCP_SECRETMANAGER_URL", "")],
                Settings {
                    endpoint: DEFAULT_ENDPOINT.into(),
                    credentials: Credentials::Metadata { host: "metadata.google.internal".into() },
                },
            ),
        ];
        for (name, vars, want) in cases {
            assert_eq!(&Settings::from_env(&env(vars)), want, "{name}");
        }
    }

    #[test]
    fn access_url_is_built_from_segments() {
        let cases: &[(&str, &str, &str, &str)] = &[
            (
                "default endpoint",
                DEFAULT_ENDPOINT,
                "latest",
                "https://secretmanager.googleapis.com/v1/projects/p/secrets/s/versions/latest:access",
            ),
            (
                "trailing slash and a path prefix",
                "http://127.0.0.1:8080/gcp/",
                "3",
                "http://127.0.0.1:8080/gcp/v1/projects/p/secrets/s/versions/3:access",
            ),
            (
                "a stray ? stays in the path",
                "http://h",
                "1?x",
                "http://h/v1/projects/p/secrets/s/versions/1%3Fx:access",
            ),
        ];
        for (name, endpoint, version, want) in cases {
            assert_eq!(access_url(endpoint, "projects/p/secrets/s", version).unwrap().as_str(), *want, "{name}");
        }
        assert!(matches!(access_url("not a url", "projects/p/secrets/s", "1"), Err(GcpError::Endpoint { .. })));
    }

    #[test]
    fn payload_decoding() {
        let ok = format!(r#"{{"name":"projects/1/secrets/s/versions/2","payload":{{"data":"{}"}}}}"#, b64("ghp_x\n"));
        assert_eq!(decode_payload(NAME, ok.as_bytes()).unwrap().expose(), "ghp_x");
        let url_safe = format!(r#"{{"payload":{{"data":"{}"}}}}"#, "Pz8_"); // "???" in the URL-safe alphabet
        assert_eq!(decode_payload(NAME, url_safe.as_bytes()).unwrap().expose(), "???");

        let name = || NAME.to_string();
        let cases: &[(&str, String, GcpError)] = &[
            ("not JSON", "<html>".into(), GcpError::NotJson { name: name() }),
            ("no payload data", r#"{"payload":{}}"#.into(), GcpError::Empty { name: name() }),
            ("blank text", format!(r#"{{"payload":{{"data":"{}"}}}}"#, b64(" \n")), GcpError::Empty { name: name() }),
            ("not base64", r#"{"payload":{"data":"***"}}"#.into(), GcpError::NotBase64 { name: name() }),
            ("not UTF-8", r#"{"payload":{"data":"/w=="}}"#.into(), GcpError::NotText { name: name() }),
        ];
        for (case, body, want) in cases {
            assert_eq!(&decode_payload(NAME, body.as_bytes()).unwrap_err(), want, "{case}");
        }
    }

    #[test]
    fn errors_are_mapped_by_status_with_googles_message() {
        let api = |code: u16, message: &str| format!(r#"{{"error":{{"code":{code},"message":"{message}"}}}}"#);
        let url = "https://secretmanager.googleapis.com/v1/x:access";
        let denied = access_error(NAME, url, 403, api(403, "Permission denied on resource").as_bytes());
        assert_eq!(
            denied,
            GcpError::PermissionDenied { name: NAME.into(), message: "Permission denied on resource".into() }
        );
        assert!(denied.to_string().contains("secretAccessor"), "{denied}");
        let missing = access_error(NAME, url, 404, api(404, "Secret [projects/p/secrets/s] not found").as_bytes());
        assert!(matches!(&missing, GcpError::NotFound { .. }));
        assert!(missing.to_string().contains(NAME), "{missing}");
        let other = access_error(NAME, url, 503, b"upstream\n  connect error").to_string();
        assert!(
            other.contains("HTTP 503") && other.contains(url) && other.contains("upstream connect error"),
            "{other}"
        );

        let oauth = br#"{"error":"invalid_grant","error_description":"Invalid JWT Signature."}"#;
        assert_eq!(short_message(oauth), "invalid_grant: Invalid JWT Signature.");
        assert_eq!(short_message(b""), "(no message)");
        assert_eq!(short_message("x".repeat(500).as_bytes()).chars().count(), MAX_MESSAGE_CHARS + 1);
    }

    #[test]
    fn key_files_are_checked_without_showing_the_key() {
        let parse = |json: &str| parse_key_file("/k.json", json).map(|a| a.client_email);
        let ok = r#"{"type":"service_account","client_email":"a@p.iam.gserviceaccount.com","private_key":"K"}"#;
        assert_eq!(parse(ok).unwrap(), "a@p.iam.gserviceaccount.com");
        let account = parse_key_file("/k.json", ok).unwrap();
        assert_eq!(account.token_uri, DEFAULT_TOKEN_URI, "a key without token_uri uses Google's");

        let cases: &[(&str, &str, &str)] = &[
            ("not JSON", "-----BEGIN PRIVATE KEY----- secretbits", "not JSON"),
            ("a user's credentials", r#"{"type":"authorized_user","refresh_token":"secretbits"}"#, "authorized_user"),
            ("no email", r#"{"type":"service_account","private_key":"secretbits"}"#, "client_email"),
            ("no key", r#"{"type":"service_account","client_email":"a@b"}"#, "private_key"),
        ];
        for (case, json, needle) in cases {
            let err = parse(json).unwrap_err().to_string();
            assert!(err.contains("/k.json") && err.contains(needle), "{case}: {err}");
            assert!(!err.contains("secretbits"), "{case}: {err}");
        }
        let bad_pem = r#"{"type":"service_account","client_email":"a@b","private_key":"secretbits"}"#;
        let err = assertion(&parse_key_file("/k.json", bad_pem).unwrap(), 0).err().unwrap().to_string();
        assert!(err.contains("not an RSA private key") && !err.contains("secretbits"), "{err}");
    }

    #[test]
    fn the_assertion_carries_googles_claims_and_verifies_with_the_public_key() {
        use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
        let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap();
        let private_pem = key.to_pkcs8_pem(LineEnding::LF).unwrap();
        let public_pem = key.to_public_key().to_public_key_pem(LineEnding::LF).unwrap();
        let account = ServiceAccount {
            path: "/k.json".into(),
            client_email: "ghpool@p.iam.gserviceaccount.com".into(),
            private_key: Secret::new(private_pem.as_str()),
            private_key_id: Some("kid-1".into()),
            token_uri: "https://oauth2.googleapis.com/token".into(),
        };
        let now = now_epoch();
        let want = Claims {
            iss: "ghpool@p.iam.gserviceaccount.com".into(),
            scope: "https://www.googleapis.com/auth/cloud-platform".into(),
            aud: "https://oauth2.googleapis.com/token".into(),
            iat: now,
            exp: now + 3600,
        };
        assert_eq!(claims(&account, now), want);

        let jwt = assertion(&account, now).unwrap();
        let header = jsonwebtoken::decode_header(jwt.expose()).unwrap();
        assert_eq!((header.alg, header.kid.as_deref()), (Algorithm::RS256, Some("kid-1")));
        let mut validation = jsonwebtoken::Validation::new(Algorithm::RS256);
        validation.set_audience(&["https://oauth2.googleapis.com/token"]);
        validation.set_issuer(&["ghpool@p.iam.gserviceaccount.com"]);
        let decoding = jsonwebtoken::DecodingKey::from_rsa_pem(public_pem.as_bytes()).unwrap();
        let decoded = jsonwebtoken::decode::<Claims>(jwt.expose(), &decoding, &validation).unwrap();
        assert_eq!(decoded.claims, want);
    }

    #[test]
    fn the_resolver_reads_gcp_settings_through_its_env_lookup() {
        // A closed port stands in for the metadata server: the error names the one the map gave.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let host = format!("127.0.0.1:{port}");
        let lookup = env(&[("GCE_METADATA_HOST", host.as_str())]);
        let resolver = crate::secrets::Resolver::new("/nonexistent", Arc::new(lookup));
        let reference = crate::secrets::SecretRef::GcpSecretManager {
            resource: "projects/p/secrets/s".into(),
            version: "1".into(),
        };
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let err = runtime.block_on(resolver.resolve(&reference)).unwrap_err().to_string();
        assert!(err.contains("no GCP credentials") && err.contains(&host), "{err}");
    }
}
