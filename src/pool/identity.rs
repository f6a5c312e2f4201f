//! One pooled credential and its lease: the identity (a PAT or an App installation), the account
//! budget it shares with its login's other tokens, and the in-flight count a lease holds.
//! Must never: show its token in `Debug` or anywhere but the upstream request (`Secret` redacts).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use serde::Serialize;

use super::{lock, Budgets};
use crate::pool::apps::Installation;
use crate::secrets::{Secret, SecretRef};

/// The budget of one GitHub account, shared by its identities.
#[derive(Debug, Default)]
pub(super) struct Account {
    pub(super) budgets: Mutex<Budgets>,
    pub(super) in_flight: AtomicU64,
}

/// Why an identity is out of service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum State {
    Ok,
    /// GitHub answered 401 with this identity's token: never used again until re-resolved.
    Quarantined {
        reason: String,
        since: u64,
    },
}

/// One pooled credential.
#[derive(Debug)]
pub struct Identity {
    pub(super) id: String,
    pub(super) login: String,
    /// `None` only for the anonymous identity of a pool with no tokens. Replaced when a
    /// quarantined identity's secret is re-resolved to a working token.
    pub(super) token: RwLock<Option<Secret>>,
    /// Where the token comes from, for re-resolution.
    pub(super) secret_ref: Option<SecretRef>,
    /// When a request last went upstream with this identity (epoch s).
    pub(super) last_used: AtomicU64,
    pub(super) account: Arc<Account>,
    pub(super) in_flight: AtomicU64,
    /// Requests other replicas have in flight with it, as last read from Redis (`shared`).
    pub(super) in_flight_elsewhere: AtomicU64,
    pub(super) upstream_requests: AtomicU64,
    /// Secondary limits met in a row without `retry-after`: each doubles the pause.
    pub(super) secondary_strikes: AtomicU64,
    pub(super) state: Mutex<State>,
    pub(super) token_expires: Mutex<Option<String>>,
    /// Set for a GitHub App installation.
    pub(super) installation: Option<Installation>,
    /// Bumped each time the token is replaced: cached ETags belong to one generation.
    pub(super) generation: AtomicU64,
}

impl Identity {
    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn login(&self) -> &str {
        &self.login
    }

    pub fn token(&self) -> Option<Secret> {
        self.token.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(super) fn has_token(&self) -> bool {
        self.token.read().unwrap_or_else(|p| p.into_inner()).is_some()
    }

    /// The current token's fingerprint ([`Secret::fingerprint`]): how replicas name a token they
    /// found bad without ever sharing it.
    pub fn token_digest(&self) -> Option<String> {
        self.token().map(|t| t.fingerprint())
    }

    /// Requests in flight with it, on this replica and (as last heard) on the others.
    pub(super) fn in_flight_everywhere(&self) -> u64 {
        self.in_flight.load(Ordering::Relaxed) + self.in_flight_elsewhere.load(Ordering::Relaxed)
    }

    pub fn is_usable(&self) -> bool {
        matches!(*lock(&self.state), State::Ok)
    }

    /// Which token this is: `<id>#<generation>`, stored with cached entries (read back with
    /// [`tag_identity`]).
    pub fn token_tag(&self) -> String {
        format!("{}#{}", self.id, self.generation.load(Ordering::Relaxed))
    }

    pub fn installation(&self) -> Option<&Installation> {
        self.installation.as_ref()
    }

    /// May this identity read for every one of `owners`? A PAT reads anything its user can; an App
    /// installation only its own account's resources.
    pub fn serves(&self, owners: &[&str]) -> bool {
        match &self.installation {
            None => true,
            Some(i) => owners.iter().all(|o| o.eq_ignore_ascii_case(&i.account)),
        }
    }
}

/// A pooled identity handed out for one upstream request; in-flight accounting ends on drop.
#[derive(Debug)]
pub struct Lease {
    pub(super) identity: Arc<Identity>,
    /// Wakes requests waiting for an identity below its in-flight cap.
    pub(super) released: Arc<tokio::sync::Notify>,
}

impl Lease {
    pub fn identity(&self) -> &Identity {
        &self.identity
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.identity.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.identity.account.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.released.notify_waiters();
    }
}

/// The identity id in a token tag (`<id>#<generation>`, see [`Identity::token_tag`]).
pub fn tag_identity(tag: &str) -> &str {
    tag.split_once('#').map_or(tag, |(id, _)| id)
}
