//! GitHub App installations as pool identities: the JWT that proves ghpool is the App, finding the
//! installation, and minting its one-hour installation tokens (GITHUB.md, "GitHub Apps").
//!
//! Owns: the App's JWT (RS256, `iat` 60 s in the past for clock drift, `exp` 9 min ahead, `iss` the
//! App id), `GET /app` (its slug: the identity's login is `<slug>[bot]`), installation discovery by
//! owner, and `POST /app/installations/{id}/access_tokens` (scoped to repositories when configured).
//! Must never: log, format or keep a private key, a JWT or a token outside a [`Secret`].

use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

use crate::config::{AppConfig, InstallationRef};
use crate::secrets::Secret;
use crate::upstream::{call_json, get_json, ApiError, Fetched, Upstream};

/// How long a call to GitHub's App endpoints may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// GitHub refuses a JWT that expires more than 10 minutes ahead.
const JWT_LIFETIME: u64 = 9 * 60;
/// Clock drift allowance, as GitHub recommends.
const JWT_BACKDATE: u64 = 60;

/// Why an App installation could not give ghpool a token. Never carries a key or a token.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("the private key is not an RSA key in PEM form: {0}")]
    Key(String),
    #[error("the JWT could not be signed: {0}")]
    Sign(String),
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("GitHub answered {status} to {what}: {message}")]
    Refused { what: String, status: u16, message: String },
    #[error("GitHub's answer to {0} lacks a field ghpool needs")]
    Malformed(String),
    #[error("the App is not installed on `{0}` (GET /orgs/{0}/installation and /users/{0}/installation: 404)")]
    NotInstalled(String),
}

/// The App's signing key, parsed once.
#[derive(Clone)]
pub struct AppKey {
    app_id: u64,
    key: EncodingKey,
}

impl std::fmt::Debug for AppKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AppKey(app {}, <redacted>)", self.app_id)
    }
}

impl AppKey {
    pub fn new(app_id: u64, pem: &Secret) -> Result<AppKey, AppError> {
        // The error text of the parser never includes the key.
        let key = EncodingKey::from_rsa_pem(pem.expose().as_bytes()).map_err(|e| AppError::Key(e.to_string()))?;
        Ok(AppKey { app_id, key })
    }

    /// A JWT valid from a minute ago for nine minutes: the `Authorization: Bearer` of App calls.
    pub fn jwt(&self, now: u64) -> Result<Secret, AppError> {
        let claims = json!({ "iat": now - JWT_BACKDATE, "exp": now + JWT_LIFETIME, "iss": self.app_id.to_string() });
        let token = jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &self.key)
            .map_err(|e| AppError::Sign(e.to_string()))?;
        Ok(Secret::new(format!("Bearer {token}")))
    }
}

/// What is known about one installation, for the pool and `/stats`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Installation {
    pub app_id: u64,
    pub installation_id: u64,
    /// The user or organisation the App is installed on (lower case): the only owner this
    /// identity serves.
    pub account: String,
    /// `<slug>[bot]`, the login GitHub shows for the App's requests.
    pub login: String,
    /// Tokens are scoped to these repositories; empty: everything the installation reaches.
    pub repositories: Vec<String>,
}

/// An installation token and when it stops working.
pub struct Minted {
    pub token: Secret,
    /// Epoch seconds.
    pub expires_at: u64,
    /// As GitHub wrote it, for `/stats`.
    pub expires_text: String,
}

/// Talks to GitHub's App endpoints for one configured App installation.
#[derive(Clone)]
pub struct AppClient {
    pub config: AppConfig,
    key: AppKey,
    client: reqwest::Client,
    upstream: Upstream,
}

impl AppClient {
    pub fn new(config: AppConfig, pem: &Secret, client: reqwest::Client, upstream: Upstream) -> Result<Self, AppError> {
        let key = AppKey::new(config.app_id, pem)?;
        Ok(AppClient { config, key, client, upstream })
    }

    async fn get(&self, path: &str) -> Result<Fetched, AppError> {
        let jwt = self.key.jwt(crate::clock::now_epoch())?;
        Ok(get_json(&self.client, &self.upstream, path, Some(jwt.expose()), CALL_TIMEOUT).await?)
    }

    /// Who the App is and where it is installed: `GET /app`, then the installation by id or owner.
    pub async fn discover(&self) -> Result<Installation, AppError> {
        let app = self.get("/app").await?;
        let slug = match app.status {
            200 => {
                app.body.get("slug").and_then(|s| s.as_str()).ok_or_else(|| AppError::Malformed("GET /app".into()))?
            }
            status => return Err(refused("GET /app", status, &app)),
        };
        let answer = match &self.config.installation {
            InstallationRef::Id(id) => {
                let what = format!("GET /app/installations/{id}");
                let a = self.get(&format!("/app/installations/{id}")).await?;
                if a.status != 200 {
                    return Err(refused(&what, a.status, &a));
                }
                a
            }
            InstallationRef::Owner(owner) => self.installation_of(owner).await?,
        };
        let id = answer.body.get("id").and_then(|v| v.as_u64());
        let account = answer.body.pointer("/account/login").and_then(|v| v.as_str());
        let (Some(installation_id), Some(account)) = (id, account) else {
            return Err(AppError::Malformed("the installation".into()));
        };
        Ok(Installation {
            app_id: self.config.app_id,
            installation_id,
            account: account.to_ascii_lowercase(),
            login: format!("{slug}[bot]"),
            repositories: self.config.repositories.clone(),
        })
    }

    /// `GET /orgs/{owner}/installation`, else `/users/{owner}/installation`.
    async fn installation_of(&self, owner: &str) -> Result<Fetched, AppError> {
        for kind in ["orgs", "users"] {
            let a = self.get(&format!("/{kind}/{owner}/installation")).await?;
            match a.status {
                200 => return Ok(a),
                404 => continue,
                status => return Err(refused(&format!("GET /{kind}/{owner}/installation"), status, &a)),
            }
        }
        Err(AppError::NotInstalled(owner.to_string()))
    }

    /// A fresh installation token (scoped to the configured repositories).
    pub async fn mint(&self, installation_id: u64) -> Result<Minted, AppError> {
        let body = match self.config.repositories.is_empty() {
            true => json!({}),
            false => json!({ "repositories": self.config.repositories }),
        };
        self.mint_with(installation_id, &body).await
    }

    /// A token for these repositories (names, without owner; `None`: every one the installation
    /// reaches) with these permissions only: what the broker mints for an agent (issue #16).
    /// GitHub enforces both.
    pub async fn mint_scoped(
        &self,
        installation_id: u64,
        repositories: Option<&[String]>,
        permissions: &std::collections::BTreeMap<String, String>,
    ) -> Result<Minted, AppError> {
        let body = match repositories {
            Some(repositories) => json!({ "repositories": repositories, "permissions": permissions }),
            None => json!({ "permissions": permissions }),
        };
        self.mint_with(installation_id, &body).await
    }

    async fn mint_with(&self, installation_id: u64, body: &serde_json::Value) -> Result<Minted, AppError> {
        let what = format!("POST /app/installations/{installation_id}/access_tokens");
        let jwt = self.key.jwt(crate::clock::now_epoch())?;
        let path = format!("/app/installations/{installation_id}/access_tokens");
        let answer = call_json(
            &self.client,
            &self.upstream,
            reqwest::Method::POST,
            &path,
            Some(jwt.expose()),
            Some(body),
            CALL_TIMEOUT,
        )
        .await?;
        if answer.status != 201 {
            return Err(refused(&what, answer.status, &answer));
        }
        let token = answer.body.get("token").and_then(|t| t.as_str()).map(Secret::new);
        let expires_text = answer.body.get("expires_at").and_then(|t| t.as_str()).map(str::to_string);
        let expires_at = expires_text.as_deref().and_then(parse_time);
        match (token, expires_text, expires_at) {
            (Some(token), Some(expires_text), Some(expires_at)) => Ok(Minted { token, expires_at, expires_text }),
            _ => Err(AppError::Malformed(what)),
        }
    }
}

fn refused(what: &str, status: u16, answer: &Fetched) -> AppError {
    AppError::Refused { what: what.to_string(), status, message: answer.message() }
}

/// GitHub's `2026-11-29T05:00:00Z` as epoch seconds.
pub fn parse_time(text: &str) -> Option<u64> {
    let t = humantime::parse_rfc3339_weak(text.trim().trim_end_matches(" UTC").trim_end_matches('Z')).ok()?;
    t.duration_since(std::time::UNIX_EPOCH).ok().map(|d| d.as_secs())
}

/// When to mint the next token: five minutes before this one expires (GitHub tokens live an
/// hour), or half-way for short-lived ones, never in the past.
pub fn renew_at(minted_at: u64, expires_at: u64) -> u64 {
    let lifetime = expires_at.saturating_sub(minted_at);
    let margin = (5 * 60).min(lifetime / 2);
    expires_at.saturating_sub(margin).max(minted_at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_renewal() {
        assert_eq!(parse_time("1970-01-01T01:00:00Z"), Some(3600));
        assert_eq!(parse_time("1970-01-01 01:00:00 UTC"), Some(3600), "a PAT's expiration header");
        assert_eq!(parse_time("not a time"), None);
        // An hour-long token is renewed five minutes before it expires…
        assert_eq!(renew_at(1000, 1000 + 3600), 1000 + 3300);
        // …a short one half-way.
        assert_eq!(renew_at(1000, 1060), 1030);
        assert_eq!(renew_at(1000, 900), 1000);
    }

    #[test]
    fn a_bad_key_is_refused_without_echoing_it() {
        let pem = Secret::new("-----BEGIN RSA PRIVATE KEY-----\nnot-a-key-SECRETBYTES\n-----END RSA PRIVATE KEY-----");
        let err = AppKey::new(1, &pem).unwrap_err().to_string();
        assert!(!err.contains("SECRETBYTES"), "{err}");
    }
}
