//! Background upkeep of the pool, on a timer, never on a request's path.
//!
//! Owns: refreshing the budgets of identities that have been idle (`GET /rate_limit`, which GitHub
//! does not charge), so a budget that came back is seen without waiting for a request; and bringing
//! a quarantined identity back when its secret source now holds a different token that GitHub
//! accepts; and re-resolving every identity's secret (`secrets_refresh`, SIGHUP) so a rotated
//! secret replaces a working token without a restart.
//! Must never: log a token, or take an identity out of quarantine on the token that got it there.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crate::secrets::{Resolver, Secret, SecretRef};
use crate::upstream::{get_json, Upstream};

use super::{fetch_login, lock, now_epoch, Identity, Pool, RateLimit};

const CALL_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Keeper {
    pool: Arc<Pool>,
    client: reqwest::Client,
    upstream: Upstream,
    resolver: Resolver,
    interval: Duration,
}

impl Keeper {
    pub fn new(
        pool: Arc<Pool>,
        client: reqwest::Client,
        upstream: Upstream,
        resolver: Resolver,
        interval: Duration,
    ) -> Self {
        Keeper { pool, client, upstream, resolver, interval }
    }

    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// One round of upkeep over every identity.
    pub async fn run_once(&self) {
        let now = now_epoch();
        for identity in self.pool.identities() {
            let quarantined = !identity.is_usable();
            let idle = now.saturating_sub(identity.last_used.load(Ordering::Relaxed)) >= self.interval.as_secs();
            if quarantined {
                self.try_to_restore(identity).await;
            } else if idle {
                self.refresh_budgets(identity).await;
            }
        }
    }

    async fn refresh_budgets(&self, identity: &Identity) {
        let authorization = identity.token().map(|t| format!("token {}", t.expose()));
        let answer =
            match get_json(&self.client, &self.upstream, "/rate_limit", authorization.as_deref(), CALL_TIMEOUT).await {
                Ok(a) => a,
                Err(e) => {
                    log::warn!("budget refresh of identity `{}` failed: {e}", identity.id);
                    return;
                }
            };
        if answer.status == 401 {
            self.pool.quarantine(identity, "GitHub answered 401 Bad credentials to GET /rate_limit");
            return;
        }
        let Some(resources) = answer.body.get("resources").and_then(|r| r.as_object()) else { return };
        let mut budgets = lock(&identity.account.budgets);
        for (name, b) in resources {
            let field = |k: &str| b.get(k).and_then(|v| v.as_u64());
            if let (Some(limit), Some(remaining), Some(reset)) = (field("limit"), field("remaining"), field("reset")) {
                let used = field("used").unwrap_or(limit.saturating_sub(remaining));
                budgets.observe(name, RateLimit { limit, remaining, used, reset });
            }
        }
    }

    /// Re-resolve a quarantined identity's secret; a different token that GitHub accepts as the
    /// same login brings the identity back.
    async fn try_to_restore(&self, identity: &Identity) {
        let Some(reference) = &identity.secret_ref else { return };
        match self.resolver.resolve(reference).await {
            Ok(token) => self.adopt(identity, token).await,
            Err(e) => log::warn!(
                "identity `{}` stays quarantined: {} did not resolve: {e}",
                identity.id,
                reference.describe()
            ),
        }
    }

    /// Resolve every identity's secret again (every `secrets_refresh`, and on SIGHUP). A changed
    /// token replaces the old one once GitHub confirms it; a source that fails keeps the last good
    /// token, with a warning.
    pub async fn refresh_secrets(&self) {
        let identities: Vec<&Arc<Identity>> =
            self.pool.identities().iter().filter(|i| i.secret_ref.is_some()).collect();
        let references: Vec<&SecretRef> = identities.iter().filter_map(|i| i.secret_ref.as_ref()).collect();
        let resolved = self.resolver.resolve_all(&references).await;
        for ((identity, reference), result) in identities.iter().zip(&references).zip(resolved) {
            match result {
                Ok(token) => self.adopt(identity, token).await,
                Err(e) => log::warn!(
                    "identity `{}` keeps its current token: {} did not resolve: {e}",
                    identity.id,
                    reference.describe()
                ),
            }
        }
    }

    /// Take `token` for `identity` if it is new and GitHub says it belongs to the same login. The
    /// swap is one write: a request in flight finishes with the token it was sent with.
    async fn adopt(&self, identity: &Identity, token: Secret) {
        if identity.token().as_ref() == Some(&token) {
            return;
        }
        let quarantined = !identity.is_usable();
        let what = if quarantined { "stays quarantined" } else { "keeps its current token" };
        let header = Secret::new(format!("token {}", token.expose()));
        match fetch_login(&self.client, &self.upstream, &header, CALL_TIMEOUT).await {
            Ok(login) if login.login.eq_ignore_ascii_case(&identity.login) => {
                let fingerprint = token.fingerprint();
                self.pool.replace_token(identity, token, login.token_expires);
                if let Some((resource, rate)) = login.rate {
                    lock(&identity.account.budgets).observe(&resource, rate);
                }
                match quarantined {
                    true => log::info!(
                        "identity `{}` (login {}) is back: its secret now holds a working token ({fingerprint})",
                        identity.id,
                        identity.login
                    ),
                    false => log::info!(
                        "identity `{}` (login {}) now uses its rotated token ({fingerprint})",
                        identity.id,
                        identity.login
                    ),
                }
                self.refresh_budgets(identity).await;
            }
            // Budgets are kept per login; another user's token would need a pool rebuilt around it.
            Ok(login) => log::error!(
                "identity `{}` {what}: its new token belongs to `{}`, not `{}` (restart ghpool to change an identity's user)",
                identity.id,
                login.login,
                identity.login
            ),
            Err(e) => log::warn!("identity `{}` {what}: GitHub did not accept its new token: {e}", identity.id),
        }
    }
}
