//! The identity pool: the PATs and GitHub App installations that pooled reads are sent with.
//!
//! Owns: which identity serves a read (`pick`), what each one has left (`observe`), and who is out
//! of service (`quarantine`). PATs of one GitHub login share one [`Budgets`] and one in-flight
//! count, because GitHub counts all of a user's tokens against one budget; each App installation
//! has a budget of its own, and serves only the owner it is installed on.
//! Must never: see a client's token, or hand a pool token to anything but a pooled read.

mod budget;
mod build;
mod keeper;
mod renew;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

pub use budget::{assumed_limit, parse_headers, Budgets, RateLimit};
pub use build::{build_pool, fetch_login, AppRenewal, BuildError, Login, LoginError};
pub use keeper::Keeper;
pub use renew::Renewer;

use crate::apps::Installation;
use crate::secrets::{Secret, SecretRef};

/// GitHub allows 100 concurrent requests per user; stay well below by default.
pub const DEFAULT_MAX_IN_FLIGHT: u64 = 50;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub fn now_epoch() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// The budget of one GitHub account, shared by its identities.
#[derive(Debug, Default)]
struct Account {
    budgets: Mutex<Budgets>,
    in_flight: AtomicU64,
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
    id: String,
    login: String,
    /// `None` only for the anonymous identity of a pool with no tokens. Replaced when a
    /// quarantined identity's secret is re-resolved to a working token.
    token: RwLock<Option<Secret>>,
    /// Where the token comes from, for re-resolution.
    secret_ref: Option<SecretRef>,
    /// When a request last went upstream with this identity (epoch s).
    last_used: AtomicU64,
    account: Arc<Account>,
    in_flight: AtomicU64,
    upstream_requests: AtomicU64,
    /// Secondary limits met in a row without `retry-after`: each doubles the pause.
    secondary_strikes: AtomicU64,
    state: Mutex<State>,
    token_expires: Mutex<Option<String>>,
    /// Set for a GitHub App installation.
    installation: Option<Installation>,
    /// Bumped each time the token is replaced: cached ETags belong to one generation.
    generation: AtomicU64,
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

    fn has_token(&self) -> bool {
        self.token.read().unwrap_or_else(|p| p.into_inner()).is_some()
    }

    pub fn is_usable(&self) -> bool {
        matches!(*lock(&self.state), State::Ok)
    }

    /// Which token this is: `<id>#<generation>`, stored with cached entries.
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
    identity: Arc<Identity>,
    /// Wakes requests waiting for an identity below its in-flight cap.
    released: Arc<tokio::sync::Notify>,
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

/// What an upstream answer says about the identity that got it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Judgement {
    Fine,
    /// 401: the token is bad.
    BadCredentials,
    /// A primary or secondary rate limit, lifting at `until` (epoch s).
    Limited {
        until: u64,
    },
}

/// Judge an answer (GITHUB.md, "Primary/Secondary rate limits"): 401 is a bad token; a 403/429 with
/// `retry-after` is a secondary limit for that long, one with `x-ratelimit-remaining: 0` the primary
/// limit until `reset`; GraphQL says rate-limited with a 200 and `remaining: 0`. A 403 with budget
/// left and no `retry-after` is a permission answer, not a limit.
pub fn judge(status: u16, rate: Option<&RateLimit>, retry_after: Option<u64>, graphql: bool, now: u64) -> Judgement {
    let spent = rate.filter(|r| r.remaining == 0).map(|r| r.reset.max(now + 1));
    match status {
        401 => Judgement::BadCredentials,
        403 | 429 => match (retry_after, spent) {
            (Some(secs), _) => Judgement::Limited { until: now + secs.max(1) },
            (None, Some(until)) => Judgement::Limited { until },
            (None, None) => Judgement::Fine,
        },
        200 if graphql => spent.map_or(Judgement::Fine, |until| Judgement::Limited { until }),
        _ => Judgement::Fine,
    }
}

/// Does an error body say "secondary rate limit" (Octokit's test: `/\bsecondary rate\b/i`)?
pub fn mentions_secondary_limit(body: &[u8]) -> bool {
    let text = String::from_utf8_lossy(body).to_ascii_lowercase();
    text.contains("secondary rate")
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

    /// Pick like [`Pool::pick_preferring`]; when every identity is at its in-flight cap, wait up
    /// to `timeout` for one to free up.
    pub async fn pick_waiting(
        &self,
        resource: &str,
        owners: &[&str],
        preferred: Option<&str>,
        timeout: Duration,
    ) -> Result<Lease, PickError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // Register before trying, so a release between the try and the wait is not missed.
            let released = self.released.notified();
            match self.pick_preferring(resource, owners, preferred) {
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

    /// The identity with the most budget left for `resource`, counting requests already in flight
    /// against it (so a burst spreads instead of piling onto whoever looked best a moment ago).
    pub fn pick(&self, resource: &str) -> Result<Lease, PickError> {
        self.pick_at(resource, now_epoch())
    }

    /// Like [`Pool::pick`] for a read of `owners`' resources, but `preferred` (the identity that
    /// fetched a cached entry, whose ETag only it can revalidate) wins whenever it is usable, serves
    /// those owners and has budget left.
    pub fn pick_preferring(
        &self,
        resource: &str,
        owners: &[&str],
        preferred: Option<&str>,
    ) -> Result<Lease, PickError> {
        let now = now_epoch();
        if let Some(identity) = preferred.and_then(|id| self.identities.iter().find(|i| i.id == id)) {
            let _serial = lock(&self.pick_lock);
            let budgets = lock(&identity.account.budgets);
            let below_cap = identity.in_flight.load(Ordering::Relaxed) < self.max_in_flight;
            if identity.is_usable() && identity.serves(owners) && below_cap && budgets.remaining(resource, now) > 0 {
                return Ok(self.lease(identity));
            }
        }
        self.pick_for(resource, owners, now)
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

    pub fn pick_at(&self, resource: &str, now: u64) -> Result<Lease, PickError> {
        self.pick_for(resource, &[], now)
    }

    /// The best identity among those that serve `owners`.
    fn pick_for(&self, resource: &str, owners: &[&str], now: u64) -> Result<Lease, PickError> {
        let _serial = lock(&self.pick_lock);
        let mut best: Option<(i64, u64, &Arc<Identity>)> = None;
        let mut earliest_reset: Option<u64> = None;
        let mut busy = false;
        for identity in self.identities.iter().filter(|i| i.is_usable() && i.serves(owners)) {
            if identity.in_flight.load(Ordering::Relaxed) >= self.max_in_flight {
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
    /// one in a row (at most 16 min), as GitHub's guidance and Octokit do.
    pub fn secondary_limit(&self, identity: &Identity, resource: &str) {
        let strikes = identity.secondary_strikes.fetch_add(1, Ordering::Relaxed).min(4);
        self.hold_off(identity, resource, now_epoch() + (60 << strikes));
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

    /// The pool's combined budget per resource, over distinct usable accounts: what `GET /rate_limit`
    /// answers through ghpool (limits and remaining summed, the earliest reset).
    pub fn totals(&self) -> std::collections::BTreeMap<String, ResourceSnapshot> {
        self.totals_at(now_epoch())
    }

    pub fn totals_at(&self, now: u64) -> std::collections::BTreeMap<String, ResourceSnapshot> {
        let mut seen: Vec<*const Account> = Vec::new();
        let mut totals: std::collections::BTreeMap<String, ResourceSnapshot> =
            ["core", "search", "graphql", "code_search"]
                .iter()
                .map(|r| (r.to_string(), ResourceSnapshot { limit: 0, remaining: 0, used: 0, reset: u64::MAX }))
                .collect();
        for identity in self.identities.iter().filter(|i| i.is_usable()) {
            let account = Arc::as_ptr(&identity.account);
            if seen.contains(&account) {
                continue;
            }
            seen.push(account);
            let budgets = lock(&identity.account.budgets);
            let names: std::collections::BTreeSet<String> =
                totals.keys().cloned().chain(budgets.iter().map(|(n, _)| n.clone())).collect();
            for name in names {
                let observed = budgets.get(&name);
                let limit = observed.map_or(assumed_limit(&name), |b| b.limit);
                let remaining = budgets.remaining(&name, now);
                let reset = observed.filter(|b| b.reset > now).map_or(now + 3600, |b| b.reset);
                let t =
                    totals.entry(name).or_insert(ResourceSnapshot { limit: 0, remaining: 0, used: 0, reset: u64::MAX });
                t.limit += limit;
                t.remaining += remaining;
                t.used += limit.saturating_sub(remaining);
                t.reset = t.reset.min(reset);
            }
        }
        for t in totals.values_mut() {
            if t.reset == u64::MAX {
                t.reset = now + 3600;
            }
        }
        totals
    }

    /// What `/stats` shows: never a token.
    pub fn snapshot(&self) -> Vec<IdentitySnapshot> {
        let now = now_epoch();
        self.identities
            .iter()
            .map(|i| {
                let budgets = lock(&i.account.budgets);
                let mut resources: Vec<(String, ResourceSnapshot)> = budgets
                    .iter()
                    .map(|(name, rl)| {
                        let remaining = budgets.remaining(name, now);
                        (name.clone(), ResourceSnapshot { limit: rl.limit, remaining, used: rl.used, reset: rl.reset })
                    })
                    .collect();
                resources.sort_by(|a, b| a.0.cmp(&b.0));
                IdentitySnapshot {
                    id: i.id.clone(),
                    login: i.login.clone(),
                    state: lock(&i.state).clone(),
                    in_flight: i.in_flight.load(Ordering::Relaxed),
                    upstream_requests: i.upstream_requests.load(Ordering::Relaxed),
                    token_expires: lock(&i.token_expires).clone(),
                    resources: resources.into_iter().collect(),
                    limited_until: budgets.limited(now),
                    app: i.installation.clone(),
                }
            })
            .collect()
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ResourceSnapshot {
    pub limit: u64,
    pub remaining: u64,
    pub used: u64,
    pub reset: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct IdentitySnapshot {
    pub id: String,
    pub login: String,
    #[serde(flatten)]
    pub state: State,
    pub in_flight: u64,
    pub upstream_requests: u64,
    pub token_expires: Option<String>,
    pub resources: std::collections::BTreeMap<String, ResourceSnapshot>,
    /// Resources this identity cannot serve now (spent, or paused by GitHub), and until when
    /// (epoch s).
    pub limited_until: std::collections::BTreeMap<String, u64>,
    /// For a GitHub App installation: app id, installation id, account, scope.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app: Option<Installation>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: &str, login: &str, remaining: u64) -> Member {
        Member {
            id: id.into(),
            login: login.into(),
            token: Some(Secret::new(format!("ghp_{id}"))),
            secret_ref: None,
            first_seen: Some((
                "core".into(),
                RateLimit { limit: 5000, remaining, used: 5000 - remaining, reset: 2000 },
            )),
            token_expires: None,
            installation: None,
        }
    }

    fn installation(id: &str, installation_id: u64, account: &str, remaining: u64) -> Member {
        let installation = Installation {
            app_id: 1,
            installation_id,
            account: account.into(),
            login: "app[bot]".into(),
            repositories: Vec::new(),
        };
        Member { login: "app[bot]".into(), installation: Some(installation), ..member(id, "app[bot]", remaining) }
    }

    #[test]
    fn installations_have_budgets_of_their_own_and_serve_only_their_account() {
        let pool = Pool::new(vec![
            installation("acme_bot", 1, "acme", 4000),
            installation("other_bot", 2, "other", 3000),
            member("pat", "alice", 100),
        ]);
        // Same bot login, separate budgets: each keeps what GitHub said of it.
        let remaining: Vec<u64> =
            pool.identities().iter().map(|i| lock(&i.account.budgets).remaining("core", 1000)).collect();
        assert_eq!(remaining, [4000, 3000, 100]);
        let pick = |owners: &[&str]| pool.pick_for("core", owners, 1000).unwrap().identity().id().to_string();
        assert_eq!(pick(&["acme"]), "acme_bot");
        assert_eq!(pick(&["Other"]), "other_bot", "owners compare case-insensitively");
        assert_eq!(pick(&["elsewhere"]), "pat", "only a PAT reads for an owner no installation covers");
        assert_eq!(pick(&["acme", "other"]), "pat", "a read across owners needs an identity that serves all");
        assert_eq!(pick(&[]), "acme_bot", "an owner-free read goes by budget");
        let bot = &pool.identities()[0];
        let tag = bot.token_tag();
        pool.replace_token(bot, Secret::new("ghs_new"), None);
        assert_ne!(bot.token_tag(), tag, "a new token is a new ETag generation");
    }

    #[test]
    fn picks_the_highest_remaining() {
        let pool = Pool::new(vec![member("a", "alice", 100), member("b", "bob", 4000), member("c", "carol", 50)]);
        assert_eq!(pool.pick_at("core", 1000).unwrap().identity().id(), "b");
    }

    #[test]
    fn in_flight_spreads_a_burst() {
        let pool = Pool::new(vec![member("a", "alice", 1000), member("b", "bob", 1000)]);
        let leases: Vec<Lease> = (0..50).map(|_| pool.pick_at("core", 1000).unwrap()).collect();
        let on_a = leases.iter().filter(|l| l.identity().id() == "a").count();
        assert_eq!(on_a, 25);
        drop(leases);
        assert!(pool.identities().iter().all(|i| i.in_flight.load(Ordering::Relaxed) == 0));
    }

    #[test]
    fn same_login_shares_one_budget() {
        let pool = Pool::new(vec![member("a1", "alice", 1000), member("a2", "Alice", 1000), member("b", "bob", 900)]);
        let (a1, a2) = (&pool.identities()[0], &pool.identities()[1]);
        assert!(Arc::ptr_eq(&a1.account, &a2.account));
        pool.observe(a1, Some(("core".into(), RateLimit { limit: 5000, remaining: 10, used: 4990, reset: 2000 })), 200);
        // a2 never answered anything, but its account is down to 10: bob wins.
        assert_eq!(pool.pick_at("core", 1000).unwrap().identity().id(), "b");
        // In-flight on one token of alice counts against the other.
        let pool = Pool::new(vec![member("a1", "alice", 1000), member("a2", "alice", 1000), member("b", "bob", 1000)]);
        let leases: Vec<Lease> = (0..30).map(|_| pool.pick_at("core", 1000).unwrap()).collect();
        let on_bob = leases.iter().filter(|l| l.identity().id() == "b").count();
        assert_eq!(on_bob, 15, "alice's two tokens together get as much as bob's one");
    }

    #[test]
    fn exhausted_and_quarantined_are_skipped() {
        let pool = Pool::new(vec![member("a", "alice", 0), member("b", "bob", 10)]);
        assert_eq!(pool.pick_at("core", 1000).unwrap().identity().id(), "b");
        let b = pool.identities()[1].clone();
        pool.observe(&b, None, 401);
        assert!(!b.is_usable());
        assert_eq!(
            pool.pick_at("core", 1000).unwrap_err(),
            PickError::Exhausted { resource: "core".into(), reset: 2000 }
        );
        assert_eq!(pool.pick_at("core", 2000).unwrap().identity().id(), "a", "a passed reset restores a");
        assert_eq!(pool.usable_count(), 1);
    }

    #[test]
    fn the_in_flight_cap_holds_and_waiters_get_a_freed_slot() {
        let pool =
            Arc::new(Pool::new(vec![member("a", "alice", 1000), member("b", "bob", 1000)]).with_max_in_flight(2));
        let leases: Vec<Lease> = (0..4).map(|_| pool.pick_at("core", 1000).unwrap()).collect();
        assert_eq!(pool.pick_at("core", 1000).unwrap_err(), PickError::Busy);
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let waited = rt.block_on(pool.pick_waiting("core", &[], None, Duration::from_millis(50)));
        assert_eq!(waited.unwrap_err(), PickError::Busy, "a bounded wait");
        let (pool2, mut leases) = (pool.clone(), leases);
        let got = rt.block_on(async move {
            let waiter =
                tokio::spawn(async move { pool2.pick_waiting("core", &[], None, Duration::from_secs(5)).await });
            tokio::time::sleep(Duration::from_millis(20)).await;
            leases.pop();
            waiter.await.unwrap()
        });
        assert!(got.is_ok(), "a released slot wakes a waiter");
    }

    #[test]
    fn repeated_secondary_limits_back_off_exponentially() {
        let pool = Pool::new(vec![member("a", "alice", 1000)]);
        let a = pool.identities()[0].clone();
        let until = |pool: &Pool| pool.pick("core").unwrap_err();
        pool.secondary_limit(&a, "core");
        let PickError::Exhausted { reset: first, .. } = until(&pool) else { panic!() };
        pool.secondary_limit(&a, "core");
        let PickError::Exhausted { reset: second, .. } = until(&pool) else { panic!() };
        let now = now_epoch();
        assert!((55..=61).contains(&(first - now)), "{}", first - now);
        assert!((115..=121).contains(&(second - now)), "{}", second - now);
        pool.answered(&a);
        assert_eq!(a.secondary_strikes.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn verdicts() {
        let rl = |remaining| RateLimit { limit: 5000, remaining, used: 5000 - remaining, reset: 2000 };
        assert_eq!(judge(200, Some(&rl(10)), None, false, 1000), Judgement::Fine);
        assert_eq!(judge(401, None, None, false, 1000), Judgement::BadCredentials);
        assert_eq!(judge(403, Some(&rl(0)), None, false, 1000), Judgement::Limited { until: 2000 });
        assert_eq!(judge(429, Some(&rl(0)), None, false, 1000), Judgement::Limited { until: 2000 });
        assert_eq!(judge(403, Some(&rl(50)), Some(60), false, 1000), Judgement::Limited { until: 1060 });
        assert_eq!(judge(403, Some(&rl(50)), None, false, 1000), Judgement::Fine, "a permission 403");
        assert_eq!(judge(200, Some(&rl(0)), None, true, 1000), Judgement::Limited { until: 2000 });
        assert_eq!(judge(200, Some(&rl(0)), None, false, 1000), Judgement::Fine, "REST: the last request succeeded");
        assert_eq!(judge(404, Some(&rl(0)), None, false, 1000), Judgement::Fine);
    }

    #[test]
    fn totals_count_each_account_once() {
        let pool = Pool::new(vec![member("a1", "alice", 100), member("a2", "alice", 100), member("b", "bob", 40)]);
        let core = &pool.totals_at(1000)["core"];
        assert_eq!((core.limit, core.remaining, core.reset), (10000, 140, 2000));
        assert_eq!(pool.totals_at(1000)["search"].limit, 60, "unseen resources count GitHub's default per account");
    }

    #[test]
    fn the_fetching_identity_is_preferred_while_it_can_serve() {
        let pool = Pool::new(vec![member("a", "alice", 100), member("b", "bob", 4000)]);
        for (i, remaining) in [(0, 100), (1, 4000)] {
            let seen = RateLimit { limit: 5000, remaining, used: 5000 - remaining, reset: u64::MAX };
            pool.observe(&pool.identities()[i], Some(("core".into(), seen)), 200);
        }
        assert_eq!(pool.pick_preferring("core", &[], Some("a")).unwrap().identity().id(), "a");
        assert_eq!(pool.pick_preferring("core", &[], Some("zz")).unwrap().identity().id(), "b");
        let a = pool.identities()[0].clone();
        pool.observe(&a, None, 401);
        assert_eq!(pool.pick_preferring("core", &[], Some("a")).unwrap().identity().id(), "b", "quarantined");
    }

    #[test]
    fn resources_are_separate() {
        let pool = Pool::new(vec![member("a", "alice", 0), member("b", "bob", 10)]);
        let a = pool.identities()[0].clone();
        pool.observe(&a, Some(("search".into(), RateLimit { limit: 30, remaining: 30, used: 0, reset: 2000 })), 200);
        let b = pool.identities()[1].clone();
        pool.observe(&b, Some(("search".into(), RateLimit { limit: 30, remaining: 2, used: 28, reset: 2000 })), 200);
        assert_eq!(pool.pick_at("search", 1000).unwrap().identity().id(), "a");
    }
}
