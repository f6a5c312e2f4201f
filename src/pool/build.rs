//! Building the pool at start: resolve each identity's secret, then ask GitHub who it is with
//! `GET /user` (bounded by a timeout). An identity that fails either step is left out with a log
//! line saying why; a pool with none left is an error, because serving without the configured
//! identities would silently fall back to something the operator did not ask for.

use std::time::Duration;

use crate::config::Config;
use crate::secrets::{Resolver, Secret};
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

/// Resolve every configured identity concurrently and build the pool from those that work.
pub async fn build_pool(
    config: &Config,
    resolver: &Resolver,
    client: &reqwest::Client,
    timeout: Duration,
) -> Result<Pool, BuildError> {
    if config.identities.is_empty() {
        return Ok(Pool::anonymous());
    }
    let mut tasks = tokio::task::JoinSet::new();
    for (index, ident) in config.identities.iter().enumerate() {
        let (ident, resolver, client, upstream) =
            (ident.clone(), resolver.clone(), client.clone(), config.upstream.clone());
        tasks.spawn(async move {
            let outcome = async {
                let token = resolver
                    .resolve(&ident.token)
                    .await
                    .map_err(|e| format!("secret {}: {e}", ident.token.describe()))?;
                let login = fetch_login(&client, &upstream, &token, timeout).await.map_err(|e| e.to_string())?;
                Ok::<_, String>(Member {
                    id: ident.id.clone(),
                    login: login.login,
                    token: Some(token),
                    secret_ref: Some(ident.token.clone()),
                    first_seen: login.rate,
                    token_expires: login.token_expires,
                })
            }
            .await;
            (index, ident.id, outcome)
        });
    }
    let mut members = Vec::new();
    let mut failures = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let Ok((index, id, outcome)) = joined else { continue };
        match outcome {
            Ok(member) => {
                log::info!("identity `{id}` is GitHub user `{}`", member.login);
                members.push((index, member));
            }
            Err(reason) => {
                log::error!("identity `{id}` left out of the pool: {reason}");
                failures.push(format!("  identity `{id}`: {reason}"));
            }
        }
    }
    if members.is_empty() {
        failures.sort();
        return Err(BuildError::NoIdentity(failures));
    }
    members.sort_by_key(|(index, _)| *index);
    Ok(Pool::new(members.into_iter().map(|(_, m)| m).collect()))
}
