//! Audit of writes: who (the GitHub login behind the client's token) did what, one log line each.
//!
//! Owns: resolving a client credential to a login with `GET /user` under that credential, cached
//! by the SHA-256 of the credential (bounded, expiring), and the audit line's format.
//! Must never: use the credential itself as a key, a log field or a metric label; only its digest
//! is kept, and only in memory.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use sha2::{Digest, Sha256};

use crate::admission::classify::ClientCredential;
use crate::pool::{fetch_login, LoginError};
use crate::upstream::Upstream;

const TTL: Duration = Duration::from_secs(600);
/// A credential GitHub refused is asked about again sooner.
const FAILURE_TTL: Duration = Duration::from_secs(60);
const CAPACITY: usize = 10_000;
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

pub struct Auditor {
    client: reqwest::Client,
    upstream: Upstream,
    logins: Mutex<HashMap<[u8; 32], (String, Instant, Duration)>>,
    /// `[audit] path`: writes are recorded there, fail-closed (`audit_log`); else in the log.
    pub file: Option<std::sync::Arc<super::audit_log::AuditLog>>,
}

/// One passthrough request, as the audit log records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry<'a> {
    pub login: &'a str,
    pub method: &'a str,
    pub path: &'a str,
    /// `(kind, operation name, top-level variable names)` for GraphQL: never the variables' values.
    pub graphql: Option<(&'a str, Option<&'a str>, &'a [String])>,
    pub status: u16,
    pub duration: Duration,
}

/// The audit line: `key=value` pairs, values that may hold spaces quoted.
pub fn audit_line(entry: &AuditEntry, at: SystemTime) -> String {
    let mut line = format!(
        "audit time={} login={} method={} path={}",
        humantime::format_rfc3339_millis(at),
        entry.login,
        entry.method,
        entry.path
    );
    if let Some((kind, name, variables)) = entry.graphql {
        line.push_str(&format!(" graphql_kind={kind} graphql_operation={}", name.unwrap_or("-")));
        if !variables.is_empty() {
            line.push_str(&format!(" graphql_variables={}", variables.join(",")));
        }
    }
    line.push_str(&format!(" status={} duration_ms={}", entry.status, entry.duration.as_millis()));
    line
}

/// The cache key for a credential: the SHA-256 of the token itself, so `token X` and `Bearer X`
/// are one client.
fn credential_digest(credential: &ClientCredential) -> [u8; 32] {
    Sha256::digest(crate::secrets::bare_token(credential.0.expose()).as_bytes()).into()
}

impl Auditor {
    pub fn new(client: reqwest::Client, upstream: Upstream, path: Option<&str>) -> Self {
        let file = path.map(super::audit_log::AuditLog::new);
        if let Some(file) = &file {
            log::info!("writes are audited to {} (each decision synced before the write is sent)", file.describe());
        }
        Auditor { client, upstream, logins: Mutex::new(HashMap::new()), file }
    }

    /// The login behind a client's credential, or a placeholder saying why it is unknown.
    pub async fn login_for(&self, credential: &ClientCredential) -> String {
        let key = credential_digest(credential);
        if let Some(login) = self.cached(&key) {
            return login;
        }
        let (login, ttl) = match fetch_login(&self.client, &self.upstream, &credential.0, LOOKUP_TIMEOUT).await {
            Ok(found) => (found.login, TTL),
            Err(LoginError::Refused { status, .. }) => (format!("unknown(status {status})"), FAILURE_TTL),
            Err(e) => {
                log::warn!("audit: could not resolve a client's login: {e}");
                return "unknown(unreachable)".to_string();
            }
        };
        let mut logins = self.logins.lock().unwrap_or_else(|p| p.into_inner());
        if logins.len() >= CAPACITY {
            logins.retain(|_, (_, at, ttl)| at.elapsed() < *ttl);
            if logins.len() >= CAPACITY {
                logins.clear();
            }
        }
        logins.insert(key, (login.clone(), Instant::now(), ttl));
        login
    }

    /// Whether GitHub has accepted this `Authorization` value on a request ghpool passed through
    /// (its login was resolved and is still remembered). Fairness keys clients by such tokens only:
    /// a made-up token is not a new client.
    pub fn verified(&self, authorization: &str) -> bool {
        let key: [u8; 32] = Sha256::digest(crate::secrets::bare_token(authorization).as_bytes()).into();
        self.cached(&key).is_some_and(|login| !login.starts_with("unknown("))
    }

    fn cached(&self, key: &[u8; 32]) -> Option<String> {
        let logins = self.logins.lock().unwrap_or_else(|p| p.into_inner());
        logins.get(key).filter(|(_, at, ttl)| at.elapsed() < *ttl).map(|(login, _, _)| login.clone())
    }

    pub fn record(&self, entry: &AuditEntry) {
        log::info!(target: "ghpool::ops::audit", "{}", audit_line(entry, SystemTime::now()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_token_is_one_client_whatever_the_scheme() {
        let c = |v: &str| ClientCredential(crate::secrets::Secret::new(v));
        assert_eq!(credential_digest(&c("token abc")), credential_digest(&c("Bearer abc")));
        assert_eq!(credential_digest(&c("bearer  abc")), credential_digest(&c("TOKEN abc")));
        assert_ne!(credential_digest(&c("token abc")), credential_digest(&c("token abd")));
    }

    #[test]
    fn audit_line_names_everything_but_the_token() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let entry = AuditEntry {
            login: "carol",
            method: "POST",
            path: "/graphql",
            graphql: Some(("mutation", Some("AddComment"), &["input".to_string(), "n".to_string()])),
            status: 200,
            duration: Duration::from_millis(42),
        };
        assert_eq!(
            audit_line(&entry, at),
            "audit time=2023-11-14T22:13:20.000Z login=carol method=POST path=/graphql \
             graphql_kind=mutation graphql_operation=AddComment graphql_variables=input,n status=200 duration_ms=42"
        );
    }
}
