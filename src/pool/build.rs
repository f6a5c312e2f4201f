//! Building the pool at start: resolve each identity's secret, then ask GitHub who it is with
//! `GET /user` (bounded by a timeout); for an App, find its installation and mint its first token. An identity that fails either step is left out with a log
//! line saying why; a pool with none left is an error, because serving without the configured
//! identities would silently fall back to something the operator did not ask for.

use std::time::Duration;

use crate::config::Config;
use crate::pool::apps::{renew_at, AppClient};
use crate::secrets::{Resolver, Secret, SecretRef};
use crate::upstream::{get_json, ApiError, Upstream};

use super::{Member, Pool, RateLimit};

/// Why GitHub could not tell us who a token belongs to. Never carries the token.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("GitHub answered {status} to GET /user: {message}")]
    Refused { status: u16, message: String },
    #[error("GitHub's answer to GET /user has no login")]
    NoLogin,
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("no identity could be used:\n{}", .0.join("\n"))]
    NoIdentity(Vec<String>),
}

/// Who a token is, what it has left and when it expires, from `GET /user`.
pub struct Login {
    pub login: String,
    pub rate: Option<(String, RateLimit)>,
    pub token_expires: Option<String>,
}

/// Ask GitHub who `authorization` (a full header value: `token X`, `Bearer X`, Basic) belongs to.
pub async fn fetch_login(
    client: &reqwest::Client,
    upstream: &Upstream,
    authorization: &Secret,
    timeout: Duration,
) -> Result<Login, LoginError> {
    let answer = get_json(client, upstream, "/user", Some(authorization.expose()), timeout).await?;
    if answer.status != 200 {
        return Err(LoginError::Refused { status: answer.status, message: answer.message() });
    }
    let login = answer.body.get("login").and_then(|l| l.as_str()).ok_or(LoginError::NoLogin)?;
    Ok(Login { login: login.to_string(), rate: answer.rate, token_expires: answer.token_expires })
}

/// An App installation's token source, kept for renewing its token in the background.
pub struct AppRenewal {
    /// The pool identity it feeds.
    pub id: String,
    pub client: AppClient,
    pub installation_id: u64,
    /// When the current token stops working (epoch s).
    pub expires_at: u64,
    /// When to mint the next one (epoch s).
    pub renew_at: u64,
}

/// An App installation that mints tokens for agents' writes (`serves = ["writes"]`, issue #16).
pub struct Writer {
    /// The user or organisation it is installed on (lower case).
    pub account: String,
    pub installation_id: u64,
    pub client: AppClient,
}

/// What one configured PAT or App gives: a pool member (with an App's token source), an
/// installation that mints for writes, or both.
struct Joined {
    member: Option<(Member, Option<AppRenewal>)>,
    writer: Option<Writer>,
}

/// The pool, the token sources of its Apps, and the installations that mint for writes.
pub struct Built {
    pub pool: Pool,
    pub renewals: Vec<AppRenewal>,
    pub writers: Vec<Writer>,
}

/// Resolve every configured PAT and App concurrently and build the pool from those that work; the
/// Apps' token sources and the installations that mint for writes come back beside it. Apps that
/// serve only writes are found but never join the pool.
pub async fn build_pool(
    config: &Config,
    resolver: &Resolver,
    client: &reqwest::Client,
    timeout: Duration,
) -> Result<Built, BuildError> {
    if config.identities.is_empty() && config.apps.is_empty() {
        return Ok(Built { pool: Pool::anonymous(), renewals: Vec::new(), writers: Vec::new() });
    }
    // All secrets first: identities kept in one AWS secret cost one call.
    let references: Vec<&SecretRef> =
        config.identities.iter().map(|i| &i.token).chain(config.apps.iter().map(|a| &a.private_key)).collect();
    let mut secrets = resolver.resolve_all(&references).await.into_iter();
    let mut tasks = tokio::task::JoinSet::new();
    for (index, (ident, token)) in config.identities.iter().zip(secrets.by_ref()).enumerate() {
        let (ident, client, upstream) = (ident.clone(), client.clone(), config.upstream.clone());
        tasks.spawn(async move {
            let outcome = async {
                let token = token.map_err(|e| format!("secret {}: {e}", ident.token.describe()))?;
                let header = Secret::new(format!("token {}", token.expose()));
                let login = fetch_login(&client, &upstream, &header, timeout).await.map_err(|e| e.to_string())?;
                let member = Member {
                    id: ident.id.clone(),
                    login: login.login,
                    token: Some(token),
                    secret_ref: Some(ident.token.clone()),
                    first_seen: login.rate,
                    token_expires: login.token_expires,
                    installation: None,
                };
                Ok::<Joined, String>(Joined { member: Some((member, None)), writer: None })
            }
            .await;
            (index, ident.id, outcome)
        });
    }
    let offset = config.identities.len();
    for (index, (app, pem)) in config.apps.iter().zip(secrets).enumerate() {
        let (app, client, upstream) = (app.clone(), client.clone(), config.upstream.clone());
        tasks.spawn(async move {
            let id = app.id.clone();
            let outcome = async {
                let pem = pem.map_err(|e| format!("private key {}: {e}", app.private_key.describe()))?;
                let app_client =
                    AppClient::new(app, &pem, client.clone(), upstream.clone()).map_err(|e| e.to_string())?;
                join_app(app_client, &client, &upstream, timeout).await
            }
            .await;
            (offset + index, id, outcome)
        });
    }
    let mut joined = Vec::new();
    let mut writers = Vec::new();
    let mut failures = Vec::new();
    while let Some(done) = tasks.join_next().await {
        let Ok((index, id, outcome)) = done else { continue };
        match outcome {
            Ok(Joined { member, writer }) => {
                if let Some(member) = member {
                    log::info!("identity `{id}` is GitHub user `{}`", member.0.login);
                    joined.push((index, member));
                }
                writers.extend(writer);
            }
            Err(reason) => {
                log::error!("identity `{id}` left out of the pool: {reason}");
                failures.push(format!("  identity `{id}`: {reason}"));
            }
        }
    }
    let readers = config.identities.len() + config.apps.iter().filter(|a| a.serves.reads).count();
    if joined.is_empty() && readers > 0 {
        failures.sort();
        return Err(BuildError::NoIdentity(failures));
    }
    joined.sort_by_key(|(index, _)| *index);
    let (members, renewals): (Vec<Member>, Vec<Option<AppRenewal>>) = joined.into_iter().map(|(_, j)| j).unzip();
    let pool = if readers == 0 { Pool::anonymous() } else { Pool::new(members) };
    Ok(Built { pool, renewals: renewals.into_iter().flatten().collect(), writers })
}

/// Find the App's installation, mint its first token, and learn its budget (`GET /rate_limit`
/// is free).
async fn join_app(
    app: AppClient,
    client: &reqwest::Client,
    upstream: &Upstream,
    timeout: Duration,
) -> Result<Joined, String> {
    let installation = app.discover().await.map_err(|e| e.to_string())?;
    let writer = app.config.serves.writes.then(|| Writer {
        account: installation.account.clone(),
        installation_id: installation.installation_id,
        client: app.clone(),
    });
    if !app.config.serves.reads {
        log::info!(
            "App `{}`: installation {} on `{}` mints tokens for agents' writes only",
            app.config.id,
            installation.installation_id,
            installation.account
        );
        return Ok(Joined { member: None, writer });
    }
    let minted = app.mint(installation.installation_id).await.map_err(|e| e.to_string())?;
    let header = format!("token {}", minted.token.expose());
    let budget = get_json(client, upstream, "/rate_limit", Some(&header), timeout).await.ok().and_then(|a| a.rate);
    log::info!(
        "identity `{}`: App {} installation {} on `{}`, token until {}",
        app.config.id,
        installation.app_id,
        installation.installation_id,
        installation.account,
        minted.expires_text
    );
    let renewal = AppRenewal {
        id: app.config.id.clone(),
        installation_id: installation.installation_id,
        expires_at: minted.expires_at,
        renew_at: renew_at(super::now_epoch(), minted.expires_at),
        client: app,
    };
    let member = Member {
        id: renewal.id.clone(),
        login: installation.login.clone(),
        token: Some(minted.token),
        secret_ref: None,
        first_seen: budget,
        token_expires: Some(minted.expires_text),
        installation: Some(installation),
    };
    Ok(Joined { member: Some((member, Some(renewal))), writer })
}
