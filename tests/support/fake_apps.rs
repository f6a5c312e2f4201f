//! GitHub Apps for the fake GitHub: the App endpoints, authenticated by an RS256 JWT that is verified
//! with the App's public key (an expired or foreign JWT gets GitHub's 401), installations found by owner
//! or id, and installation tokens (`ghs_…`) with `expires_at`, optionally scoped to repositories. An
//! installation token is valid until it expires, has a budget of its own, reads only its account's
//! repositories (its scoped ones, if scoped), and gets `403 Resource not accessible by integration` on
//! `/user`, as on GitHub.
//!
//! Keys are generated at run time ([`key_pair`]); none is committed.

use std::collections::HashMap;

use axum::http::Method;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{json, Value};

/// One RSA key pair (private PKCS#8 PEM, public SPKI PEM), fresh for each call.
pub fn key_pair() -> (String, String) {
    use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
    let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).expect("fake GitHub: RSA key");
    let private_pem = key.to_pkcs8_pem(LineEnding::LF).expect("PKCS#8 PEM").to_string();
    let public_pem = key.to_public_key().to_public_key_pem(LineEnding::LF).expect("public PEM");
    (private_pem, public_pem)
}

struct App {
    slug: String,
    public_pem: String,
}

struct Installation {
    app_id: u64,
    account: String,
}

struct IssuedToken {
    installation_id: u64,
    expires_at: u64,
    /// Repository names the token may read; `None`: all of the account's.
    repositories: Option<Vec<String>>,
    /// The permissions asked for at minting (`None`: the installation's own).
    permissions: Option<Value>,
}

/// Who an installation token is, for the fake's budgets and access checks.
#[derive(Clone)]
pub struct InstallationCaller {
    /// The budget key: `installation:<id>` (each installation has its own budget).
    pub login: String,
    pub account: String,
    pub repositories: Option<Vec<String>>,
    /// The permissions the token was minted with (`None`: the installation's own, all of them here).
    pub permissions: Option<Value>,
}

/// What the fake knows about Apps.
#[derive(Default)]
pub struct Apps {
    apps: HashMap<u64, App>,
    installations: HashMap<u64, Installation>,
    tokens: HashMap<String, IssuedToken>,
    /// Lifetime of minted tokens (GitHub: one hour).
    pub token_ttl: u64,
    /// While set, minting answers 500.
    pub refuse_minting: bool,
    minted: u64,
}

/// The answer to an App call: status and JSON body.
pub type AppReply = (u16, Value);

fn error(status: u16, message: &str) -> AppReply {
    (status, json!({ "message": message, "documentation_url": "https://docs.github.com/rest/apps" }))
}

impl Apps {
    pub fn add_app(&mut self, app_id: u64, slug: &str, public_pem: &str) {
        self.apps.insert(app_id, App { slug: slug.into(), public_pem: public_pem.into() });
    }

    pub fn add_installation(&mut self, app_id: u64, installation_id: u64, account: &str) {
        self.installations.insert(installation_id, Installation { app_id, account: account.to_ascii_lowercase() });
    }

    /// Tokens minted so far (for assertions), and the token strings minted for `installation_id`.
    pub fn minted(&self) -> u64 {
        self.minted
    }

    /// What a minted token was scoped to: its repositories and the permissions asked for.
    pub fn scope_of(&self, token: &str) -> Option<(Option<Vec<String>>, Option<Value>)> {
        self.tokens.get(token).map(|t| (t.repositories.clone(), t.permissions.clone()))
    }

    pub fn tokens_of(&self, installation_id: u64) -> Vec<String> {
        self.tokens.iter().filter(|(_, t)| t.installation_id == installation_id).map(|(k, _)| k.clone()).collect()
    }

    /// The App a JWT proves, or GitHub's 401.
    fn verify(&self, jwt: &str, now: u64) -> Result<u64, AppReply> {
        // Which App it claims to be decides the key that must have signed it.
        let mut peek = Validation::new(Algorithm::RS256);
        peek.insecure_disable_signature_validation();
        peek.validate_exp = false;
        peek.required_spec_claims.clear();
        let unverified = jsonwebtoken::decode::<Value>(jwt, &DecodingKey::from_secret(&[]), &peek)
            .map_err(|_| error(401, "A JSON web token could not be decoded"))?;
        let iss = unverified.claims["iss"]
            .as_str()
            .map(str::to_string)
            .or(unverified.claims["iss"].as_u64().map(|n| n.to_string()));
        let app_id: u64 =
            iss.and_then(|s| s.parse().ok()).ok_or_else(|| error(401, "'Issuer' claim ('iss') must be an Integer"))?;
        let app = self.apps.get(&app_id).ok_or_else(|| error(401, "Integration not found"))?;
        let key = DecodingKey::from_rsa_pem(app.public_pem.as_bytes()).expect("fake GitHub: public key");
        let mut validation = Validation::new(Algorithm::RS256);
        validation.leeway = 0;
        validation.validate_exp = false;
        validation.required_spec_claims.clear();
        let data = jsonwebtoken::decode::<Value>(jwt, &key, &validation)
            .map_err(|_| error(401, "A JSON web token could not be decoded"))?;
        let (iat, exp) = (data.claims["iat"].as_u64().unwrap_or(0), data.claims["exp"].as_u64().unwrap_or(0));
        if exp <= now {
            return Err(error(401, "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires"));
        }
        if exp > now + 600 + 30 || iat > now + 60 {
            return Err(error(401, "'Expiration time' claim ('exp') is too far in the future"));
        }
        Ok(app_id)
    }

    /// Answers the App endpoints (JWT-authenticated), or `None` for any other request.
    pub fn app_call(
        &mut self,
        method: &Method,
        path: &str,
        jwt: Option<&str>,
        body: &[u8],
        now: u64,
    ) -> Option<AppReply> {
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let app_path = matches!(
            segments.as_slice(),
            ["app", ..] | ["orgs" | "users", _, "installation"] | ["repos", _, _, "installation"]
        );
        if !app_path {
            return None;
        }
        let Some(jwt) = jwt.filter(|j| j.matches('.').count() == 2) else {
            return Some(error(401, "A JSON web token could not be decoded"));
        };
        let app_id = match self.verify(jwt, now) {
            Ok(id) => id,
            Err(reply) => return Some(reply),
        };
        let installation_json = |id: u64, i: &Installation| {
            json!({ "id": id, "app_id": i.app_id, "account": { "login": i.account, "type": "Organization" },
                    "repository_selection": "all", "permissions": { "contents": "read", "issues": "read" } })
        };
        let mine = |i: &&Installation| i.app_id == app_id;
        Some(match (method.as_str(), segments.as_slice()) {
            ("GET", ["app"]) => {
                let app = &self.apps[&app_id];
                (200, json!({ "id": app_id, "slug": app.slug, "name": app.slug, "owner": { "login": "acme" } }))
            }
            ("GET", ["app", "installations"]) => {
                let list: Vec<Value> = self
                    .installations
                    .iter()
                    .filter(|(_, i)| mine(i))
                    .map(|(id, i)| installation_json(*id, i))
                    .collect();
                (200, Value::Array(list))
            }
            ("GET", ["app", "installations", id]) => {
                match id.parse().ok().and_then(|id| self.installations.get(&id).filter(mine).map(|i| (id, i))) {
                    Some((id, i)) => (200, installation_json(id, i)),
                    None => error(404, "Not Found"),
                }
            }
            ("GET", [_, owner, "installation"]) | ("GET", ["repos", owner, _, "installation"]) => {
                match self.installations.iter().find(|(_, i)| mine(i) && i.account.eq_ignore_ascii_case(owner)) {
                    Some((id, i)) => (200, installation_json(*id, i)),
                    None => error(404, "Not Found"),
                }
            }
            ("POST", ["app", "installations", id, "access_tokens"]) => {
                let Some(id) =
                    id.parse::<u64>().ok().filter(|id| self.installations.get(id).is_some_and(|i| i.app_id == app_id))
                else {
                    return Some(error(404, "Not Found"));
                };
                if self.refuse_minting {
                    return Some(error(500, "Internal Server Error"));
                }
                let request: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
                let repositories: Option<Vec<String>> = request["repositories"]
                    .as_array()
                    .map(|a| a.iter().filter_map(|r| r.as_str().map(str::to_ascii_lowercase)).collect());
                self.minted += 1;
                let token = format!("ghs_fake{:06}{}", self.minted, "X".repeat(28));
                let ttl = if self.token_ttl == 0 { 3600 } else { self.token_ttl };
                let expires_at = now + ttl;
                let permissions = request.get("permissions").filter(|p| p.is_object()).cloned();
                self.tokens.insert(
                    token.clone(),
                    IssuedToken {
                        installation_id: id,
                        expires_at,
                        repositories: repositories.clone(),
                        permissions: permissions.clone(),
                    },
                );
                let granted = permissions.unwrap_or_else(|| json!({ "contents": "read" }));
                let mut answer = json!({ "token": token, "expires_at": iso8601(expires_at), "permissions": granted,
                                         "repository_selection": if repositories.is_some() { "selected" } else { "all" } });
                if let Some(repos) = repositories {
                    answer["repositories"] = Value::Array(repos.iter().map(|r| json!({ "name": r })).collect());
                }
                (201, answer)
            }
            _ => error(404, "Not Found"),
        })
    }

    /// An installation token's caller, `Some(Err(()))` for one that has expired, `None` if unknown.
    pub fn installation_caller(&self, token: &str, now: u64) -> Option<Result<InstallationCaller, ()>> {
        let issued = self.tokens.get(token)?;
        if issued.expires_at <= now {
            return Some(Err(()));
        }
        let account = self.installations.get(&issued.installation_id).map(|i| i.account.clone()).unwrap_or_default();
        Some(Ok(InstallationCaller {
            login: format!("installation:{}", issued.installation_id),
            account,
            repositories: issued.repositories.clone(),
            permissions: issued.permissions.clone(),
        }))
    }
}

impl InstallationCaller {
    /// May this token read `path`? Only its account's repositories (its scoped ones, if scoped);
    /// `/user` is not for integrations.
    /// May this token write `path`? GitHub's check of a minted token's permissions: a write needs
    /// the permission of its area (`issues`, `pull_requests`, `contents`) at `write`.
    pub fn write_refusal(&self, path: &str) -> Option<AppReply> {
        let permissions = self.permissions.as_ref()?;
        let segments: Vec<&str> = path.split('?').next().unwrap_or("").trim_matches('/').split('/').collect();
        let needed = match segments.as_slice() {
            ["repos", _, _, "issues" | "labels" | "milestones", ..] => "issues",
            ["repos", _, _, "pulls", ..] => "pull_requests",
            ["repos", _, _, "contents" | "git", ..] => "contents",
            // A mutation is held to the token's scope by the GraphQL executor, field by field.
            ["graphql"] => return None,
            _ => return Some(error(403, "Resource not accessible by integration")),
        };
        match permissions[needed].as_str() {
            Some("write" | "admin") => None,
            _ => Some(error(403, "Resource not accessible by integration")),
        }
    }

    pub fn refusal(&self, path: &str) -> Option<AppReply> {
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        match segments.as_slice() {
            ["user", ..] => Some(error(403, "Resource not accessible by integration")),
            ["repos", owner, name, ..] => {
                let in_scope = owner.eq_ignore_ascii_case(&self.account)
                    && self.repositories.as_ref().is_none_or(|r| r.iter().any(|r| r.eq_ignore_ascii_case(name)));
                (!in_scope).then(|| error(404, "Not Found"))
            }
            _ => None,
        }
    }
}

/// Epoch seconds as GitHub writes times: `2026-11-29T05:00:00Z`.
fn iso8601(epoch: u64) -> String {
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + std::time::Duration::from_secs(epoch)).to_string()
}
