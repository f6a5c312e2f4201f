//! The identity pool: the PATs and GitHub App installations that pooled reads are sent with.
//!
//! Owns: which identity serves a read (`pick`), what each one has left (`observe`), and who is out
//! of service (`quarantine`). PATs of one GitHub login share one [`Budgets`] and one in-flight
//! count, because GitHub counts all of a user's tokens against one budget; each App installation
//! has a budget of its own, and serves only the owner it is installed on.
//! Must never: see a client's token, or hand a pool token to anything but a pooled read.

pub mod apps;
pub mod broker;
mod budget;
mod build;
pub mod fairness;
mod identity;
mod judge;
mod keeper;
mod renew;
mod snapshot;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

pub use crate::ratelimit::{parse_headers, RateLimit};
pub use budget::{assumed_limit, Budgets};
pub use build::{build_pool, fetch_login, AppRenewal, BuildError, Built, Login, LoginError, Writer};
pub use identity::{tag_identity, Identity, Lease, State};
pub use judge::{judge, mentions_secondary_limit, Judgement};
pub use keeper::Keeper;
pub use renew::Renewer;
pub use snapshot::{IdentitySnapshot, ResourceSnapshot};

use identity::Account;

use crate::pool::apps::Installation;
use crate::ratelimit::Resource;
use crate::secrets::{Secret, SecretRef};

pub use crate::config::DEFAULT_MAX_IN_FLIGHT;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub use crate::clock::now_epoch;

/// Why no identity can serve a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PickError {
    #[error("every identity has exhausted its `{resource}` budget until {reset}")]
    Exhausted { resource: String, reset: u64 },
    #[error("no usable identity (all quarantined)")]
    NoneUsable,
    #[error("every identity has its maximum of requests in flight")]
    Busy,
}

/// What a client is told when no identity can serve its request.
impl From<PickError> for crate::reply::Refusal {
    fn from(e: PickError) -> crate::reply::Refusal {
        match e {
            PickError::Exhausted { resource, reset } => {
                let now = now_epoch();
                crate::reply::Refusal::Exhausted {
                    resource,
                    retry_after_secs: crate::reply::retry_after(reset, now),
                    reset,
                }
            }
            PickError::NoneUsable => crate::reply::Refusal::NoIdentity,
            PickError::Busy => crate::reply::Refusal::Busy,
        }
    }
}

/// What replicas share of one identity (`shared`): what GitHub last reported per resource, holds
/// (epoch s) and the digest of a token GitHub refused — never a token.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SharedIdentity {
    pub budgets: Vec<(String, RateLimit)>,
    pub holds: Vec<(String, u64)>,
    pub refused_token: Option<String>,
    /// Requests the other replicas have in flight with it (GitHub's concurrency limit is per user).
    pub in_flight_elsewhere: u64,
}

/// What a request needs of an identity.
#[derive(Debug, Clone, Copy)]
pub struct Want<'a> {
    /// The rate-limit bucket it is charged to.
    pub resource: Resource,
    /// The owners it reads (an App installation serves only its own).
    pub owners: &'a [&'a str],
    /// The identity that fetched the cached entry being revalidated.
    pub preferred: Option<&'a str>,
    /// How long to wait for an identity below its in-flight cap.
    pub wait: Duration,
}

impl Want<'static> {
    /// Any identity with budget for `resource`, now or never.
    pub fn any(resource: Resource) -> Want<'static> {
        Want { resource, owners: &[], preferred: None, wait: Duration::ZERO }
    }
}

/// A resolved identity, ready to join a pool.
#[derive(Debug)]
pub struct Member {
    pub id: String,
    pub login: String,
    pub token: Option<Secret>,
    pub secret_ref: Option<SecretRef>,
    /// What `GET /user` reported, if it carried rate-limit headers.
    pub first_seen: Option<(String, RateLimit)>,
    pub token_expires: Option<String>,
    pub installation: Option<Installation>,
}

#[derive(Debug, Default)]
pub struct Pool {
    identities: Vec<Arc<Identity>>,
    /// Serializes pick-and-count so concurrent picks see each other's in-flight requests.
    pick_lock: Mutex<()>,
    anonymous: bool,
    max_in_flight: u64,
    released: Arc<tokio::sync::Notify>,
}

impl Pool {
    /// Build a pool; members with the same login (case-insensitive) share one account budget.
    pub fn new(members: Vec<Member>) -> Pool {
        let mut accounts: HashMap<String, Arc<Account>> = HashMap::new();
        let identities = members
            .into_iter()
            .map(|m| {
                // Each installation has a budget of its own, whatever its bot's login.
                let key = match &m.installation {
                    Some(i) => format!("installation:{}", i.installation_id),
                    None => m.login.to_ascii_lowercase(),
                };
                let account = accounts.entry(key).or_default().clone();
                if let Some((resource, seen)) = &m.first_seen {
                    lock(&account.budgets).observe(resource, *seen);
                }
                Arc::new(Identity {
                    id: m.id,
                    login: m.login,
                    token: RwLock::new(m.token),
                    secret_ref: m.secret_ref,
                    last_used: AtomicU64::new(0),
                    account,
                    in_flight: AtomicU64::new(0),
                    in_flight_elsewhere: AtomicU64::new(0),
                    upstream_requests: AtomicU64::new(0),
                    secondary_strikes: AtomicU64::new(0),
                    state: Mutex::new(State::Ok),
                    token_expires: Mutex::new(m.token_expires),
                    installation: m.installation,
                    generation: AtomicU64::new(0),
                })
            })
            .collect();
        Pool {
            identities,
            pick_lock: Mutex::new(()),
            anonymous: false,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            released: Arc::new(tokio::sync::Notify::new()),
        }
    }

    /// A pool of one identity without a token: unauthenticated reads of public data.
    pub fn anonymous() -> Pool {
        let member = Member {
            id: "anonymous".into(),
            login: "anonymous".into(),
            token: None,
            secret_ref: None,
            first_seen: None,
            token_expires: None,
            installation: None,
        };
        Pool { anonymous: true, ..Pool::new(vec![member]) }
    }

    /// Cap the requests in flight per identity.
    pub fn with_max_in_flight(mut self, max: u64) -> Pool {
        self.max_in_flight = max.max(1);
        self
    }

    /// The identity for a request ([`Want`]); when every identity that could serve it is at its
    /// in-flight cap, wait up to `want.wait` for one to free up.
    pub async fn pick(&self, want: &Want<'_>) -> Result<Lease, PickError> {
        let deadline = tokio::time::Instant::now() + want.wait;
        loop {
            // Register before trying, so a release between the try and the wait is not missed.
            let released = self.released.notified();
            match self.try_pick(want, now_epoch()) {
                Err(PickError::Busy) => {
                    if tokio::time::timeout_at(deadline, released).await.is_err() {
                        return Err(PickError::Busy);
                    }
                }
                other => return other,
            }
        }
    }

    pub fn is_anonymous(&self) -> bool {
        self.anonymous
    }

    pub fn identities(&self) -> &[Arc<Identity>] {
        &self.identities
    }

    pub fn usable_count(&self) -> usize {
        self.identities.iter().filter(|i| i.is_usable()).count()
    }

    /// One try at time `now`, without waiting: `want.preferred` (the identity that fetched a cached
    /// entry, whose ETag only it can revalidate) wins whenever it is usable, serves the owners,
    /// is below its cap and has budget left; otherwise the identity that serves the owners with the
    /// most budget left for the resource, counting requests already in flight against it (so a
    /// burst spreads instead of piling onto whoever looked best a moment ago).
    pub fn try_pick(&self, want: &Want<'_>, now: u64) -> Result<Lease, PickError> {
        let resource = want.resource.as_str();
        if let Some(identity) = want.preferred.and_then(|id| self.identities.iter().find(|i| i.id == id)) {
            let _serial = lock(&self.pick_lock);
            let budgets = lock(&identity.account.budgets);
            let below_cap = identity.in_flight_everywhere() < self.max_in_flight;
            if identity.is_usable() && identity.serves(want.owners) && below_cap && budgets.remaining(resource, now) > 0
            {
                return Ok(self.lease(identity));
            }
        }
        self.pick_best(resource, want.owners, now)
    }

    /// Put a new token in service for `identity` (a rotated secret, a fresh App installation
    /// token): one swap, so a request in flight finishes with the token it was sent with. The
    /// identity is usable again, and entries it cached are known to hold the old token's ETags.
    pub fn replace_token(&self, identity: &Identity, token: Secret, expires: Option<String>) {
        *identity.token.write().unwrap_or_else(|p| p.into_inner()) = Some(token);
        identity.generation.fetch_add(1, Ordering::Relaxed);
        identity.secondary_strikes.store(0, Ordering::Relaxed);
        *lock(&identity.token_expires) = expires;
        *lock(&identity.state) = State::Ok;
    }

    fn lease(&self, identity: &Arc<Identity>) -> Lease {
        identity.in_flight.fetch_add(1, Ordering::Relaxed);
        identity.account.in_flight.fetch_add(1, Ordering::Relaxed);
        identity.upstream_requests.fetch_add(1, Ordering::Relaxed);
        identity.last_used.store(now_epoch(), Ordering::Relaxed);
        Lease { identity: identity.clone(), released: self.released.clone() }
    }

    /// The best identity among those that serve `owners`.
    fn pick_best(&self, resource: &str, owners: &[&str], now: u64) -> Result<Lease, PickError> {
        let _serial = lock(&self.pick_lock);
        let mut best: Option<(i64, u64, &Arc<Identity>)> = None;
        let mut earliest_reset: Option<u64> = None;
        let mut busy = false;
        for identity in self.identities.iter().filter(|i| i.is_usable() && i.serves(owners)) {
            if identity.in_flight_everywhere() >= self.max_in_flight {
                busy = true;
                continue;
            }
            let budgets = lock(&identity.account.budgets);
            if let Some(reset) = budgets.exhausted_until(resource, now) {
                earliest_reset = Some(earliest_reset.map_or(reset, |r| r.min(reset)));
                continue;
            }
            let remaining = budgets.remaining(resource, now) as i64;
            let score = remaining - identity.account.in_flight.load(Ordering::Relaxed) as i64;
            let own = identity.in_flight.load(Ordering::Relaxed);
            // Highest score wins; on a tie, the identity with fewer requests of its own in flight.
            let better = match best {
                None => true,
                Some((s, o, _)) => score > s || (score == s && own < o),
            };
            if better {
                best = Some((score, own, identity));
            }
        }
        match (best, earliest_reset) {
            (Some((_, _, identity)), _) => Ok(self.lease(identity)),
            (None, _) if busy => Err(PickError::Busy),
            (None, Some(reset)) => Err(PickError::Exhausted { resource: resource.to_string(), reset }),
            (None, None) => Err(PickError::NoneUsable),
        }
    }

    /// Learn from an upstream answer sent with `identity`: its budget headers, and a 401 meaning
    /// the token is bad.
    pub fn observe(&self, identity: &Identity, rate: Option<(String, RateLimit)>, status: u16) {
        if let Some((resource, seen)) = rate {
            lock(&identity.account.budgets).observe(&resource, seen);
        }
        if status == 401 && identity.has_token() {
            self.quarantine(identity, "GitHub answered 401 Bad credentials");
        }
    }

    /// GitHub said "secondary rate limit" without a `retry-after`: pause 60 s, doubling with each
    /// one in a row (at most 16 min), as GitHub's guidance and Octokit do. Until when (epoch s).
    pub fn secondary_limit(&self, identity: &Identity, resource: &str) -> u64 {
        let strikes = identity.secondary_strikes.fetch_add(1, Ordering::Relaxed).min(4);
        let until = now_epoch() + (60 << strikes);
        self.hold_off(identity, resource, until);
        until
    }

    /// What another replica learned of identity `id` (`shared`): budgets GitHub reported, holds,
    /// and the digest of a token GitHub refused — merged as if this replica had seen them.
    pub fn merge_shared(&self, id: &str, learned: &SharedIdentity) {
        let Some(identity) = self.identities.iter().find(|i| i.id == id) else { return };
        identity.in_flight_elsewhere.store(learned.in_flight_elsewhere, Ordering::Relaxed);
        {
            let mut budgets = lock(&identity.account.budgets);
            for (resource, seen) in &learned.budgets {
                budgets.observe(resource, *seen);
            }
            for (resource, until) in &learned.holds {
                budgets.block(resource, *until);
            }
        }
        if let Some(bad) = &learned.refused_token {
            if identity.token_digest().as_ref() == Some(bad) {
                self.quarantine(identity, "GitHub answered 401 Bad credentials (seen by another replica)");
            }
        }
    }

    /// A normal answer ends a run of secondary limits.
    pub fn answered(&self, identity: &Identity) {
        identity.secondary_strikes.store(0, Ordering::Relaxed);
    }

    /// GitHub asked this identity to pause on `resource` until `until` (epoch s).
    pub fn hold_off(&self, identity: &Identity, resource: &str, until: u64) {
        log::warn!(
            "identity `{}` (login {}) is rate limited on `{resource}` for {} s; other identities take over",
            identity.id,
            identity.login,
            until.saturating_sub(now_epoch())
        );
        lock(&identity.account.budgets).block(resource, until);
    }

    pub fn quarantine(&self, identity: &Identity, reason: &str) {
        let mut state = lock(&identity.state);
        if *state == State::Ok {
            log::error!(
                "identity `{}` (login {}) quarantined: {reason}; check or rotate its token",
                identity.id,
                identity.login
            );
            *state = State::Quarantined { reason: reason.to_string(), since: now_epoch() };
        }
    }

    pub fn set_token_expiry(&self, identity: &Identity, expires: Option<&str>) {
        if let Some(e) = expires {
            let mut slot = lock(&identity.token_expires);
            if slot.as_deref() != Some(e) {
                *slot = Some(e.to_string());
            }
        }
    }
}

#[cfg(test)]
mod tests;
