//! State replicas share through Redis, so that N replicas behave as one ghpool: the second-level
//! cache (answers any replica stored) and the write generations that make a write visible to every
//! replica's next read (read-your-writes across replicas).
//!
//! Owns: the connection (made lazily, reconnecting by itself), the key prefix, the bound on every
//! call (`[shared] timeout`), and the state — `up`, or `degraded` after a failure, with one log line
//! per change; while degraded, requests do not wait on Redis at all and a probe (`Shared::probe`,
//! once a second) brings sharing back.
//! Keys: `<prefix>e:<hash>` an entry (the hash of its cache key), `<prefix>f:<hash>` the claim of
//! the replica filling it (identical misses on several replicas cost GitHub one request),
//! `<prefix>g:<tag>` a tag's write generation (never read as a value it had before: a missing one
//! starts from Redis' clock) (tags name repositories and owners, `*` every entry),
//! `<prefix>p:<identity id>` what replicas learned of an identity (budgets, holds, the digest of a
//! refused token), `<prefix>i:<identity id>` the requests each replica has in flight with it (GitHub's
//! concurrency limit is per user, across replicas), `<prefix>c:<client>` a client's share (client
//! names hold digests, not tokens), `<prefix>s:` the number of the last bump of generations,
//! `<prefix>l:` the replicas whose copy of the generations is leased (`view`), and until when,
//! `<prefix>a:<replica>` the last bump a replica acknowledged; bumps are published on
//! `<prefix>bumps@<db>`.
//! Must never: fail a request because Redis did, block one longer than `timeout` (a write's answer
//! waits at most `view::LEASE` more for replicas to acknowledge its bump), or write a token,
//! a client credential or a key into Redis (only GitHub's answers as ghpool serves them, identity
//! ids, tags and numbers).

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, IntoConnectionInfo};

use crate::config::SharedConfig;
use crate::secrets::Secret;

mod entries;
mod generations;
mod pool;
mod view;

pub use generations::{format_generations, generation_tags, purge_tags};

/// The tag every entry also carries: a write whose scope cannot be told bumps it.
pub const EVERYTHING: &str = "*";

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Entries larger than this are kept in the replica's own memory only.
pub const MAX_ENTRY: usize = 4 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum SharedError {
    #[error("shared.redis_url: {0}")]
    Url(String),
}

/// What `/stats` and `/metrics` show of sharing.
#[derive(Debug, Default)]
pub struct SharedCounters {
    /// Answers found in Redis after the replica's own memory missed.
    pub l2_hits: AtomicU64,
    pub l2_misses: AtomicU64,
    /// Values in Redis that could not be read (another version, corrupted): served as misses.
    pub l2_unreadable: AtomicU64,
    /// Answers written to Redis.
    pub l2_stores: AtomicU64,
    /// Misses that waited for another replica's fill instead of asking GitHub.
    pub coalesced: AtomicU64,
    /// Calls that failed or ran past the timeout.
    pub errors: AtomicU64,
    /// Writes whose generations were bumped for the other replicas.
    pub invalidations: AtomicU64,
    /// Hits revalidated because a write on some replica came after them.
    pub stale_by_generation: AtomicU64,
    /// Generations read from this replica's leased copy (no round trip).
    pub generations_local: AtomicU64,
    /// Generations asked of Redis (no lease, or tags the copy did not hold).
    pub generations_asked: AtomicU64,
}

/// Sharing as `/stats` shows it.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct SharedSnapshot {
    /// `up`, `degraded` or `off` (no `[shared]`).
    pub state: &'static str,
    pub l2_hits: u64,
    pub l2_misses: u64,
    pub l2_unreadable: u64,
    pub l2_stores: u64,
    pub coalesced: u64,
    pub errors: u64,
    pub invalidations: u64,
    pub stale_by_generation: u64,
    pub generations_local: u64,
    pub generations_asked: u64,
    /// This replica's copy of the write generations is leased (hits check it without Redis).
    pub leased: bool,
}

impl SharedSnapshot {
    pub fn off() -> SharedSnapshot {
        SharedSnapshot { state: "off", ..SharedSnapshot::default() }
    }

    /// Each counter by name, for the metrics.
    pub fn events(&self) -> [(&'static str, u64); 10] {
        [
            ("coalesced", self.coalesced),
            ("l2_hit", self.l2_hits),
            ("l2_miss", self.l2_misses),
            ("l2_unreadable", self.l2_unreadable),
            ("l2_store", self.l2_stores),
            ("error", self.errors),
            ("invalidation", self.invalidations),
            ("stale_by_generation", self.stale_by_generation),
            ("generations_local", self.generations_local),
            ("generations_asked", self.generations_asked),
        ]
    }
}

pub struct Shared {
    /// Tags of writes Redis did not hear of (it failed, or was not asked while degraded).
    unpublished: std::sync::Mutex<std::collections::BTreeSet<String>>,
    /// How long Redis takes to answer a call, by call (`ghpool_shared_round_trip_seconds`).
    pub round_trip: prometheus::HistogramVec,
    /// Leases this replica registered, numbered.
    leases: AtomicU64,
    /// This replica, as its fill claims name it (a process id and a start time; nothing secret).
    replica: String,
    /// How to reach Redis, and the connection made from it (lazily; made again when the password
    /// changes: `rotate_password`).
    link: std::sync::RwLock<Link>,
    /// The URL as configured (without a password).
    url: String,
    /// Where bumps of write generations are published: the prefix and the database number (Redis'
    /// channels are not per database: deployments on one server must not hear each other's).
    channel: String,
    prefix: String,
    timeout: Duration,
    degraded: AtomicBool,
    /// This replica's copy of the write generations (`view`).
    view: view::View,
    pub counters: SharedCounters,
}

/// How a replica reaches Redis.
struct Link {
    client: Client,
    connection: Option<ConnectionManager>,
    /// The fingerprint of the password in use (to tell a rotated one).
    password: Option<String>,
}

/// The database number a Redis URL names (`/3`), 0 when none.
fn database(redis_url: &str) -> u64 {
    let path = url::Url::parse(redis_url).map(|u| u.path().trim_start_matches('/').to_string()).unwrap_or_default();
    path.parse().unwrap_or(0)
}

/// A client for `redis_url` with `password`. The password joins the URL only here, in memory, to
/// be parsed: it is never shown.
fn client(redis_url: &str, password: Option<&Secret>) -> Result<Client, SharedError> {
    let mut url = url::Url::parse(redis_url).map_err(|e| SharedError::Url(e.to_string()))?;
    if let Some(password) = password {
        url.set_password(Some(password.expose())).map_err(|()| SharedError::Url("cannot carry a password".into()))?;
    }
    let info = url.as_str().into_connection_info().map_err(|e| SharedError::Url(format!("{:?}", e.kind())))?;
    Client::open(info).map_err(|e| SharedError::Url(format!("{:?}", e.kind())))
}

impl Shared {
    /// A handle on the configured Redis; nothing is connected until the first call.
    pub fn new(config: &SharedConfig, password: Option<&Secret>) -> Result<Shared, SharedError> {
        let client = client(&config.redis_url, password)?;
        let started = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let round_trip = prometheus::HistogramVec::new(
            prometheus::HistogramOpts::new(
                "ghpool_shared_round_trip_seconds",
                "How long Redis took to answer ghpool's calls (or to fail them), by command.",
            )
            .buckets(vec![0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25]),
            &["call"],
        )
        .map_err(|e| SharedError::Url(e.to_string()))?;
        Ok(Shared {
            unpublished: std::sync::Mutex::new(std::collections::BTreeSet::new()),
            round_trip,
            leases: AtomicU64::new(0),
            replica: format!("{}-{}", std::process::id(), started.as_nanos()),
            link: std::sync::RwLock::new(Link {
                client,
                connection: None,
                password: password.map(Secret::fingerprint),
            }),
            url: config.redis_url.clone(),
            channel: format!("{}bumps@{}", config.key_prefix, database(&config.redis_url)),
            prefix: config.key_prefix.clone(),
            timeout: config.timeout,
            degraded: AtomicBool::new(false),
            view: view::View::default(),
            counters: SharedCounters::default(),
        })
    }

    /// `up` or `degraded`.
    pub fn state(&self) -> &'static str {
        match self.degraded.load(Ordering::Relaxed) {
            true => "degraded",
            false => "up",
        }
    }

    pub fn snapshot(&self) -> SharedSnapshot {
        let c = &self.counters;
        let get = |n: &AtomicU64| n.load(Ordering::Relaxed);
        SharedSnapshot {
            state: self.state(),
            l2_hits: get(&c.l2_hits),
            l2_misses: get(&c.l2_misses),
            l2_unreadable: get(&c.l2_unreadable),
            l2_stores: get(&c.l2_stores),
            coalesced: get(&c.coalesced),
            errors: get(&c.errors),
            invalidations: get(&c.invalidations),
            stale_by_generation: get(&c.stale_by_generation),
            generations_local: get(&c.generations_local),
            generations_asked: get(&c.generations_asked),
            leased: self.leased(),
        }
    }

    pub fn is_up(&self) -> bool {
        !self.degraded.load(Ordering::Relaxed)
    }

    fn key(&self, kind: &str, name: &str) -> String {
        format!("{}{kind}:{name}", self.prefix)
    }

    async fn connection(&self) -> Option<ConnectionManager> {
        if let Some(connection) = &self.link.read().unwrap_or_else(|p| p.into_inner()).connection {
            return Some(connection.clone());
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(1));
        let mut link = self.link.write().unwrap_or_else(|p| p.into_inner());
        if link.connection.is_none() {
            match ConnectionManager::new_lazy_with_config(link.client.clone(), config) {
                Ok(made) => link.connection = Some(made),
                Err(e) => {
                    drop(link);
                    self.failed(&e.to_string());
                    return None;
                }
            }
        }
        link.connection.clone()
    }

    /// The client, for a connection of its own (the subscription to bumps).
    fn client(&self) -> Client {
        self.link.read().unwrap_or_else(|p| p.into_inner()).client.clone()
    }

    /// The password resolved again (`secrets_refresh`, `SIGHUP`): when it changed, new connections
    /// authenticate with it (calls in flight finish on the old one; Redis keeps connections that
    /// authenticated before a password change).
    pub fn rotate_password(&self, password: &Secret) {
        let fingerprint = password.fingerprint();
        let mut link = self.link.write().unwrap_or_else(|p| p.into_inner());
        if link.password.as_ref() == Some(&fingerprint) {
            return;
        }
        match client(&self.url, Some(password)) {
            Ok(client) => {
                *link = Link { client, connection: None, password: Some(fingerprint) };
                log::info!("shared.redis_password changed: Redis connections are made again with it");
            }
            Err(e) => log::warn!("shared.redis_password changed but cannot be used ({e}); keeping the old one"),
        }
    }

    /// Run one call within the timeout; a failure degrades sharing, a success restores it.
    async fn call<T, F>(&self, what: &str, call: impl FnOnce(ConnectionManager) -> F) -> Option<T>
    where
        F: Future<Output = redis::RedisResult<T>>,
    {
        self.call_with(what, self.timeout, true, call).await
    }

    /// Run one call within `timeout`; with `moves_state`, a failure degrades sharing and a success
    /// restores it (background calls, which no request waits on, only count their failures).
    async fn call_with<T, F>(
        &self,
        what: &str,
        timeout: Duration,
        moves_state: bool,
        call: impl FnOnce(ConnectionManager) -> F,
    ) -> Option<T>
    where
        F: Future<Output = redis::RedisResult<T>>,
    {
        let connection = self.connection().await?;
        let started = std::time::Instant::now();
        let answer = tokio::time::timeout(timeout, call(connection)).await;
        self.round_trip.with_label_values(&[what]).observe(started.elapsed().as_secs_f64());
        let failure = match answer {
            Ok(Ok(value)) => {
                if moves_state {
                    self.recovered();
                }
                return Some(value);
            }
            Ok(Err(e)) => format!("{what}: {:?}", e.kind()),
            Err(_) => format!("{what}: no answer within {} ms", timeout.as_millis()),
        };
        match moves_state {
            true => self.failed(&failure),
            false => {
                self.counters.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
        None
    }

    /// A call a request would wait on: skipped while degraded (the probe brings sharing back).
    async fn request_call<T, F>(&self, what: &str, call: impl FnOnce(ConnectionManager) -> F) -> Option<T>
    where
        F: Future<Output = redis::RedisResult<T>>,
    {
        if !self.is_up() {
            return None;
        }
        self.call(what, call).await
    }

    fn failed(&self, why: &str) {
        self.counters.errors.fetch_add(1, Ordering::Relaxed);
        if !self.degraded.swap(true, Ordering::Relaxed) {
            log::warn!("shared state degraded: Redis failed ({why}); each replica goes on alone until it is back");
        }
    }

    fn recovered(&self) {
        if self.degraded.swap(false, Ordering::Relaxed) {
            log::warn!("shared state up again: Redis answers");
        }
    }

    /// Ask Redis whether it is back (or still there): the background probe, once a second.
    pub async fn probe(&self) {
        let nothing_owed = lock(&self.unpublished).is_empty();
        if self.is_up() && nothing_owed {
            let _: Option<String> =
                self.call("PING", |mut c| async move { redis::cmd("PING").query_async(&mut c).await }).await;
            return;
        }
        // Back only once the writes Redis missed are told: until then another replica could serve
        // what they changed.
        let pending: Vec<String> = lock(&self.unpublished).iter().cloned().collect();
        if pending.is_empty() || self.bump_now(&pending, false).await {
            {
                let mut unpublished = lock(&self.unpublished);
                for tag in &pending {
                    unpublished.remove(tag);
                }
            }
            let _: Option<String> =
                self.call("PING", |mut c| async move { redis::cmd("PING").query_async(&mut c).await }).await;
        }
    }
}
