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
//! names hold digests, not tokens).
//! Must never: fail a request because Redis did, block one longer than `timeout`, or write a token,
//! a client credential or a key into Redis (only GitHub's answers as ghpool serves them, identity
//! ids, tags and numbers).

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, IntoConnectionInfo};
use tokio::sync::OnceCell;

use crate::config::SharedConfig;
use crate::secrets::Secret;

/// The tag every entry also carries: a write whose scope cannot be told bumps it.
pub const EVERYTHING: &str = "*";

/// Deletes a fill claim only when it is still the caller's (a claim that expired and was taken
/// by another replica stays).
const RELEASE_OWN: &str =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";

/// Merges what one replica learned of an identity into `<prefix>p:<id>`, atomically:
/// `b:<resource>` = `limit,remaining,used,reset` (within one reset window `remaining` only falls; a
/// later window replaces an earlier one), `h:<resource>` = a hold's end (the later one wins), `q` =
/// the digest of a token GitHub refused. ARGV: kind (`b`, `h`, `q`), field, value…, TTL (s).
const MERGE_IDENTITY: &str = r#"
local kind, field, ttl = ARGV[1], ARGV[2], ARGV[#ARGV]
if kind == 'b' then
  local limit, remaining, used, reset = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
  local cur = redis.call('HGET', KEYS[1], field)
  if cur then
    local l, r, u, t = string.match(cur, '^(%d+),(%d+),(%d+),(%d+)$')
    l, r, u, t = tonumber(l), tonumber(r), tonumber(u), tonumber(t)
    if t == reset and l == limit then
      remaining, used = math.min(r, remaining), math.max(u, used)
    elseif t and t > reset then
      limit, remaining, used, reset = l, r, u, t
    end
  end
  redis.call('HSET', KEYS[1], field, limit .. ',' .. remaining .. ',' .. used .. ',' .. reset)
elseif kind == 'h' then
  local cur = tonumber(redis.call('HGET', KEYS[1], field) or '0')
  if tonumber(ARGV[3]) > cur then redis.call('HSET', KEYS[1], field, ARGV[3]) end
else
  redis.call('HSET', KEYS[1], 'q', ARGV[3])
end
redis.call('EXPIRE', KEYS[1], ttl)
return 1
"#;

/// How long what replicas learned of an identity is kept: past any reset window (an hour).
const IDENTITY_TTL_SECS: u64 = 2 * 3600;

/// One client's share across replicas, as GCRA on Redis' own clock: `KEYS[1]` holds the
/// theoretical arrival time (ms); ARGV: the interval between requests (ms), the burst. Returns 0
/// when the request may go, else the milliseconds to wait.
const TAKE_SHARE: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local over = new_tat - now - burst * interval
if over > 0 then return math.ceil(over) end
redis.call('SET', KEYS[1], new_tat, 'PX', math.ceil(new_tat - now) + 1000)
return 0
"#;

/// Requests other replicas have in flight with an identity: `KEYS[1]` is a sorted set of leases
/// (`<replica>#<n>`, scored by when they lapse, ms); expired ones are dropped first. ARGV: now (ms),
/// this replica's member prefix.
const IN_FLIGHT_ELSEWHERE: &str = r#"
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local n = 0
for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if string.sub(member, 1, #ARGV[2]) ~= ARGV[2] then n = n + 1 end
end
return n
"#;

/// How long a lease counts without being released (a replica that died holding it).
const LEASE_LAPSE: Duration = Duration::from_secs(120);

/// The write generation of each tag in `KEYS`. A tag never written, or whose key Redis evicted,
/// starts at Redis' clock in microseconds — never at a value it had before, so an entry filled
/// under the old value is never taken for current.
const READ_GENERATIONS: &str = r#"
local t = redis.call('TIME')
local fresh = t[1] .. string.format('%06d', tonumber(t[2]))
local out = {}
for i, key in ipairs(KEYS) do
  local v = redis.call('GET', key)
  if not v then
    redis.call('SET', key, fresh, 'NX')
    v = redis.call('GET', key)
  end
  out[i] = v
end
return out
"#;

/// A write changed what `KEYS` name: each generation moves on (from Redis' clock when the key is
/// gone, as in [`READ_GENERATIONS`]).
const BUMP_GENERATIONS: &str = r#"
local t = redis.call('TIME')
local fresh = t[1] .. string.format('%06d', tonumber(t[2]))
for _, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then redis.call('INCR', key) else redis.call('SET', key, fresh) end
end
return #KEYS
"#;

/// How often a replica waiting on another's fill looks for it.
const FILL_POLL: Duration = Duration::from_millis(20);

/// Past this many tags of writes Redis missed, `*` stands for all of them.
const MAX_UNPUBLISHED: usize = 1024;

/// How long a background store may take (no request waits on it).
const BACKGROUND_TIMEOUT: Duration = Duration::from_secs(2);

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
}

impl SharedSnapshot {
    pub fn off() -> SharedSnapshot {
        SharedSnapshot { state: "off", ..SharedSnapshot::default() }
    }

    /// Each counter by name, for the metrics.
    pub fn events(&self) -> [(&'static str, u64); 8] {
        [
            ("coalesced", self.coalesced),
            ("l2_hit", self.l2_hits),
            ("l2_miss", self.l2_misses),
            ("l2_unreadable", self.l2_unreadable),
            ("l2_store", self.l2_stores),
            ("error", self.errors),
            ("invalidation", self.invalidations),
            ("stale_by_generation", self.stale_by_generation),
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
    client: Client,
    connection: OnceCell<ConnectionManager>,
    prefix: String,
    timeout: Duration,
    degraded: AtomicBool,
    pub counters: SharedCounters,
}

impl Shared {
    /// A handle on the configured Redis; nothing is connected until the first call.
    pub fn new(config: &SharedConfig, password: Option<&Secret>) -> Result<Shared, SharedError> {
        // The password joins the URL only here, in memory, to be parsed: it is never shown.
        let mut url = url::Url::parse(&config.redis_url).map_err(|e| SharedError::Url(e.to_string()))?;
        if let Some(password) = password {
            url.set_password(Some(password.expose()))
                .map_err(|()| SharedError::Url("cannot carry a password".into()))?;
        }
        let info = url.as_str().into_connection_info().map_err(|e| SharedError::Url(format!("{:?}", e.kind())))?;
        let client = Client::open(info).map_err(|e| SharedError::Url(format!("{:?}", e.kind())))?;
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
            client,
            connection: OnceCell::new(),
            prefix: config.key_prefix.clone(),
            timeout: config.timeout,
            degraded: AtomicBool::new(false),
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
        }
    }

    pub fn is_up(&self) -> bool {
        !self.degraded.load(Ordering::Relaxed)
    }

    fn key(&self, kind: &str, name: &str) -> String {
        format!("{}{kind}:{name}", self.prefix)
    }

    async fn connection(&self) -> Option<ConnectionManager> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(1));
        let made = self
            .connection
            .get_or_try_init(|| async { ConnectionManager::new_lazy_with_config(self.client.clone(), config) })
            .await;
        match made {
            Ok(connection) => Some(connection.clone()),
            Err(e) => {
                self.failed(&e.to_string());
                None
            }
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

    /// An entry other replicas stored, by the hash of its key.
    pub async fn get_entry(&self, hash: &str) -> Option<Vec<u8>> {
        let key = self.key("e", hash);
        let value: Option<Option<Vec<u8>>> = self
            .request_call("GET", |mut c| async move { redis::cmd("GET").arg(&key).query_async(&mut c).await })
            .await;
        value.flatten()
    }

    /// Store an entry for `ttl` (`None`: only end this replica's claim to fill it), then end the
    /// claim — in that order, so a replica waiting on the fill finds the entry — in the background
    /// (a miss's answer does not wait for it).
    pub fn put_entry(self: &std::sync::Arc<Self>, hash: &str, value: Option<Vec<u8>>, ttl: Duration) {
        if !self.is_up() {
            return;
        }
        let (key, claim) = (self.key("e", hash), self.key("f", hash));
        let millis = ttl.as_millis().clamp(1000, u128::from(u32::MAX)) as u64;
        let shared = self.clone();
        tokio::spawn(async move {
            if let Some(value) = value.filter(|v| v.len() <= MAX_ENTRY) {
                let done: Option<()> = shared
                    .call_with("SET", BACKGROUND_TIMEOUT, false, |mut c| async move {
                        redis::cmd("SET").arg(&key).arg(value).arg("PX").arg(millis).query_async(&mut c).await
                    })
                    .await;
                if done.is_some() {
                    shared.counters.l2_stores.fetch_add(1, Ordering::Relaxed);
                }
            }
            let replica = shared.replica.clone();
            let _: Option<i64> = shared
                .call("EVAL", |mut c| async move {
                    redis::Script::new(RELEASE_OWN).key(&claim).arg(replica).invoke_async(&mut c).await
                })
                .await;
        });
    }

    /// Claim the fill of entry `hash` for `ttl`: `Some(true)` this replica fills it, `Some(false)`
    /// another one is filling it now, `None` Redis cannot say (fill it here).
    pub async fn claim_fill(&self, hash: &str, ttl: Duration) -> Option<bool> {
        let key = self.key("f", hash);
        let (replica, millis) = (self.replica.clone(), ttl.as_millis() as u64);
        let set: Option<Option<String>> = self
            .request_call("SET NX", |mut c| async move {
                redis::cmd("SET").arg(&key).arg(replica).arg("NX").arg("PX").arg(millis).query_async(&mut c).await
            })
            .await;
        set.map(|answer| answer.is_some())
    }

    /// Done filling `hash` without storing it (an answer the cache does not keep): replicas
    /// waiting on it stop waiting. Only this replica's own claim is removed.
    pub fn release_fill(self: &std::sync::Arc<Self>, hash: &str) {
        self.put_entry(hash, None, Duration::ZERO);
    }

    /// Wait (at most `wait`) for the entry another replica is filling: it, or `None` when that
    /// fill ended without one or took too long (then this replica fills it itself).
    pub async fn wait_for_fill(&self, hash: &str, wait: Duration) -> Option<Vec<u8>> {
        let deadline = tokio::time::Instant::now() + wait;
        let claim = self.key("f", hash);
        loop {
            tokio::time::sleep(FILL_POLL).await;
            if let Some(entry) = self.get_entry(hash).await {
                return Some(entry);
            }
            let claim = claim.clone();
            let pending: Option<bool> =
                self.request_call("EXISTS", |mut c| async move {
                    redis::cmd("EXISTS").arg(&claim).query_async(&mut c).await
                })
                .await;
            if pending != Some(true) || tokio::time::Instant::now() >= deadline {
                return self.get_entry(hash).await;
            }
        }
    }

    /// Tell the other replicas what this one learned of identity `id` (in the background).
    pub fn publish_identity(self: &std::sync::Arc<Self>, id: &str, learned: crate::pool::SharedIdentity) {
        if !self.is_up() {
            return;
        }
        let key = self.key("p", id);
        let mut updates: Vec<Vec<String>> = Vec::new();
        for (resource, r) in learned.budgets {
            let values = [r.limit, r.remaining, r.used, r.reset].map(|n| n.to_string());
            updates.push([vec!["b".to_string(), format!("b:{resource}")], values.to_vec()].concat());
        }
        for (resource, until) in learned.holds {
            updates.push(vec!["h".to_string(), format!("h:{resource}"), until.to_string()]);
        }
        if let Some(digest) = learned.refused_token {
            updates.push(vec!["q".to_string(), "q".to_string(), digest]);
        }
        if updates.is_empty() {
            return;
        }
        let shared = self.clone();
        tokio::spawn(async move {
            let _: Option<()> = shared
                .call("EVAL", |mut c| async move {
                    let script = redis::Script::new(MERGE_IDENTITY);
                    for args in &updates {
                        let mut invocation = script.key(&key);
                        for arg in args {
                            invocation.arg(arg);
                        }
                        invocation.arg(IDENTITY_TTL_SECS);
                        let _: i64 = invocation.invoke_async(&mut c).await?;
                    }
                    Ok(())
                })
                .await;
        });
    }

    /// What every replica learned of these identities, and how many requests the others have in
    /// flight with each (one round trip), for the pick.
    pub async fn identities(&self, ids: &[String]) -> Option<Vec<(String, crate::pool::SharedIdentity)>> {
        let keys: Vec<(String, String)> = ids.iter().map(|id| (self.key("p", id), self.key("i", id))).collect();
        let (now, mine) = (now_millis(), format!("{}#", self.replica));
        let answers: Vec<(std::collections::HashMap<String, String>, u64)> = self
            .request_call("HGETALL", |mut c| async move {
                let mut pipe = redis::pipe();
                for (learned, leases) in &keys {
                    pipe.cmd("HGETALL").arg(learned);
                    pipe.cmd("EVAL").arg(IN_FLIGHT_ELSEWHERE).arg(1).arg(leases).arg(now).arg(&mine);
                }
                let flat: Vec<redis::Value> = pipe.query_async(&mut c).await?;
                let mut out = Vec::with_capacity(flat.len() / 2);
                for pair in flat.chunks(2) {
                    let map: std::collections::HashMap<String, String> = redis::from_redis_value_ref(&pair[0])?;
                    let elsewhere: u64 = redis::from_redis_value_ref(&pair[1])?;
                    out.push((map, elsewhere));
                }
                Ok(out)
            })
            .await?;
        let learned = answers.iter().map(|(map, elsewhere)| crate::pool::SharedIdentity {
            in_flight_elsewhere: *elsewhere,
            ..parse_identity(map)
        });
        Some(ids.iter().cloned().zip(learned).collect())
    }

    /// A request goes upstream with identity `id`: counted on every replica until
    /// [`Shared::lease_ended`] (or until it lapses, should this replica die). The lease's name.
    pub fn lease_started(self: &std::sync::Arc<Self>, id: &str) -> Option<String> {
        if !self.is_up() {
            return None;
        }
        let member = format!("{}#{}", self.replica, self.leases.fetch_add(1, Ordering::Relaxed));
        let (key, lapse, name) = (self.key("i", id), now_millis() + LEASE_LAPSE.as_millis() as u64, member.clone());
        let shared = self.clone();
        tokio::spawn(async move {
            let _: Option<()> = shared
                .call("ZADD", |mut c| async move {
                    let mut pipe = redis::pipe();
                    pipe.cmd("ZADD").arg(&key).arg(lapse).arg(&name).ignore();
                    pipe.cmd("PEXPIRE").arg(&key).arg(LEASE_LAPSE.as_millis() as u64).ignore();
                    pipe.query_async(&mut c).await
                })
                .await;
        });
        Some(member)
    }

    /// The request that took lease `member` of identity `id` is done with it.
    pub fn lease_ended(self: &std::sync::Arc<Self>, id: &str, member: String) {
        let key = self.key("i", id);
        let shared = self.clone();
        tokio::spawn(async move {
            let _: Option<()> = shared
                .call(
                    "ZREM",
                    |mut c| async move { redis::cmd("ZREM").arg(&key).arg(&member).query_async(&mut c).await },
                )
                .await;
        });
    }

    /// Charge one upstream request to `client` (a name that holds no token: `fairness::client_name`)
    /// in the bucket all replicas share: `Ok`, or how long to wait; `None` when Redis cannot say.
    pub async fn take_share(&self, client: &str, interval: Duration, burst: u64) -> Option<Result<(), Duration>> {
        let key = self.key("c", client);
        let interval = interval.as_millis().max(1) as u64;
        let wait: i64 = self
            .request_call("EVAL", |mut c| async move {
                redis::Script::new(TAKE_SHARE).key(&key).arg(interval).arg(burst).invoke_async(&mut c).await
            })
            .await?;
        Some(match wait {
            0 => Ok(()),
            ms => Err(Duration::from_millis(ms.unsigned_abs())),
        })
    }

    /// The current write generation of each tag (0 for one never written), in order; `None` when
    /// Redis cannot say.
    pub async fn generations(&self, tags: &[String]) -> Option<Vec<u64>> {
        let keys: Vec<String> = tags.iter().map(|t| self.key("g", t)).collect();
        let values: Vec<u64> = self
            .request_call("GENERATIONS", |mut c| async move {
                let script = redis::Script::new(READ_GENERATIONS);
                let mut invocation = script.prepare_invoke();
                for key in &keys {
                    invocation.key(key);
                }
                invocation.invoke_async(&mut c).await
            })
            .await?;
        (values.len() == tags.len()).then_some(values)
    }

    /// A write changed what `tags` name: bump their generations (one round trip), so every
    /// replica's next read of an entry carrying one revalidates it. `false` when Redis could not
    /// be told.
    pub async fn bump(&self, tags: &[String]) -> bool {
        if self.is_up() && self.bump_now(tags, true).await {
            return true;
        }
        // Told when Redis is back, before sharing resumes (`probe`).
        let mut unpublished = lock(&self.unpublished);
        unpublished.extend(tags.iter().cloned());
        if unpublished.len() > MAX_UNPUBLISHED {
            unpublished.clear();
            unpublished.insert(EVERYTHING.to_string());
        }
        false
    }

    async fn bump_now(&self, tags: &[String], moves_state: bool) -> bool {
        let keys: Vec<String> = tags.iter().map(|t| self.key("g", t)).collect();
        let done: Option<()> = self
            .call_with("BUMP", self.timeout, moves_state, |mut c| async move {
                let script = redis::Script::new(BUMP_GENERATIONS);
                let mut invocation = script.prepare_invoke();
                for key in &keys {
                    invocation.key(key);
                }
                let _: i64 = invocation.invoke_async(&mut c).await?;
                Ok(())
            })
            .await;
        if done.is_some() {
            self.counters.invalidations.fetch_add(1, Ordering::Relaxed);
        }
        done.is_some()
    }
}

fn now_millis() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// An identity's hash as [`MERGE_IDENTITY`] writes it; what does not parse is left out.
fn parse_identity(fields: &std::collections::HashMap<String, String>) -> crate::pool::SharedIdentity {
    let mut learned = crate::pool::SharedIdentity::default();
    for (field, value) in fields {
        if let Some(resource) = field.strip_prefix("b:") {
            let n: Vec<u64> = value.split(',').filter_map(|v| v.parse().ok()).collect();
            if let [limit, remaining, used, reset] = n[..] {
                learned
                    .budgets
                    .push((resource.to_string(), crate::ratelimit::RateLimit { limit, remaining, used, reset }));
            }
        } else if let (Some(resource), Ok(until)) = (field.strip_prefix("h:"), value.parse()) {
            learned.holds.push((resource.to_string(), until));
        } else if field == "q" {
            learned.refused_token = Some(value.clone());
        }
    }
    learned
}

/// The tags whose generations an entry is filled under: its own, then [`EVERYTHING`].
pub fn generation_tags(tags: &std::collections::BTreeSet<crate::cache::invalidate::Tag>) -> Vec<String> {
    tags.iter().map(ToString::to_string).chain(std::iter::once(EVERYTHING.to_string())).collect()
}

/// The tags a write bumps.
pub fn purge_tags(purge: &crate::cache::invalidate::Invalidation) -> Vec<String> {
    match purge {
        crate::cache::invalidate::Invalidation::Tags(tags) => tags.iter().map(ToString::to_string).collect(),
        crate::cache::invalidate::Invalidation::Everything => vec![EVERYTHING.to_string()],
    }
}

/// The generations an entry was filled under, as kept in its header: a CRC-32 of the tags' names
/// (replicas may name one entry's tags differently: what one knows of a repository id, the other may
/// not), then each tag's generation: `1c2b3a4d:3,0,7`.
pub fn format_generations(tags: &[String], generations: &[u64]) -> String {
    let mut names = crc32fast::Hasher::new();
    for tag in tags {
        names.update(tag.as_bytes());
        names.update(b"\n");
    }
    let mut out = format!("{:08x}:", names.finalize());
    for (i, g) in generations.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&g.to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generations_are_kept_as_text() {
        let tags = |t: &[&str]| t.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let kept = format_generations(&tags(&["repo:acme/w", "*"]), &[3, 7]);
        assert!(kept.ends_with(":3,7"), "{kept}");
        assert_ne!(kept, format_generations(&tags(&["repoid:9", "*"]), &[3, 7]), "other tags, other value");
    }
}
