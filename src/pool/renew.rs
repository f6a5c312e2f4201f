//! Keeping App installation tokens fresh, in the background and never on a request's path.
//!
//! Owns: minting each installation's next token before the current one expires (five minutes
//! ahead for GitHub's one-hour tokens) and putting it in service in one swap; when minting fails,
//! the current token keeps serving until it expires, with a warning, and minting is tried again.
//! Must never: log a token, a JWT or a key.

use std::sync::Arc;

use tokio::sync::Mutex;

use crate::pool::apps::renew_at;

use super::{now_epoch, AppRenewal, Pool};

/// Seconds between attempts after a failed mint (less when the current token is about to expire).
const RETRY_AFTER_FAILURE: u64 = 30;

pub struct Renewer {
    pool: Arc<Pool>,
    apps: Mutex<Vec<AppRenewal>>,
}

impl Renewer {
    pub fn new(pool: Arc<Pool>, apps: Vec<AppRenewal>) -> Renewer {
        Renewer { pool, apps: Mutex::new(apps) }
    }

    /// Renew every token that is due.
    pub async fn run_once(&self) {
        let now = now_epoch();
        for app in self.apps.lock().await.iter_mut().filter(|a| a.renew_at <= now) {
            let Some(identity) = self.pool.identities().iter().find(|i| i.id() == app.id) else { continue };
            match app.client.mint(app.installation_id).await {
                Ok(minted) => {
                    let now = now_epoch();
                    (app.expires_at, app.renew_at) = (minted.expires_at, renew_at(now, minted.expires_at));
                    log::info!(
                        "identity `{}` has a new installation token ({}), until {}",
                        app.id,
                        minted.token.fingerprint(),
                        minted.expires_text
                    );
                    self.pool.replace_token(identity, minted.token, Some(minted.expires_text));
                }
                Err(e) => {
                    let left = app.expires_at.saturating_sub(now);
                    let retry = (left / 4).clamp(1, RETRY_AFTER_FAILURE);
                    app.renew_at = now + retry;
                    log::warn!(
                        "identity `{}`: its installation token could not be renewed ({e}); the current one serves for {left} s more, retrying in {retry} s",
                        app.id
                    );
                }
            }
        }
    }
}
