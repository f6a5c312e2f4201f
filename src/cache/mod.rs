//! The cache: pooled REST reads and GraphQL queries, shared by every client, built on
//! `pingora-cache` (its lookup, cache lock and revalidation) over a bounded storage of ours.
//!
//! Owns: what is cacheable and for how long, the cache's keys (`key`), its storage (`storage`), its
//! counters, and the `X-Ghpool-Cache` outcome of each answer.
//! Must never: cache a passthrough request, an error, a rate-limited answer or an answer that sets
//! a cookie; or put a credential in a key.

mod head;
pub mod invalidate;
pub mod key;
pub mod storage;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use pingora_cache::key::{CacheHashKey, HashBinary};
use pingora_cache::lock::{CacheKeyLockImpl, CacheLock};
use pingora_cache::{CacheKey, CacheMeta, CachePhase};
use pingora_http::ResponseHeader;
use serde::Serialize;

use crate::config::CacheConfig;
use crate::shared::Shared;
use invalidate::{Invalidation, Tag};
use storage::{MemoryStorage, StorageStats};

/// Keys remembered per tag for invalidation, in all. Past this the index is dropped along with
/// everything it indexed (a new epoch), so no entry a write can change stays reachable.
const INDEX_CAPACITY: usize = 500_000;

/// How long a request waits for another one filling the same key before it goes upstream itself.
const LOCK_TIMEOUT: Duration = Duration::from_secs(10);

/// Marks a stored entry as a closed issue or pull request, so a revalidation keeps `closed_ttl`.
pub const CLOSED_HEADER: &str = "x-ghpool-closed";

/// The response header that names the identity that fetched an entry: stored with the entry (so a
/// revalidation uses the same token — GitHub's ETags are token-specific), never sent to a client.
pub const IDENTITY_HEADER: &str = "x-ghpool-identity";

/// With `[shared]`: the write generations of an entry's tags when it was filled (or revalidated),
/// `ghpool-generations=3,0,7`; a hit whose tags moved on since is revalidated. `Cache-Tag` because
/// Pingora merges that header from a 304 into the stored entry (and no other of ours); never sent
/// to a client.
pub const GENERATIONS_HEADER: &str = "cache-tag";
const GENERATIONS_PREFIX: &str = "ghpool-generations=";

/// The header value for generations read from Redis (`None`: Redis could not say, and the entry
/// will be revalidated by the next read that can check).
pub fn generations_value(generations: Option<&str>) -> String {
    format!("{GENERATIONS_PREFIX}{}", generations.unwrap_or("unknown"))
}

/// Is an entry filled under `stored` (its header value) current, now that the generations are
/// `now`?
pub fn generations_current(stored: Option<&str>, now: &str) -> bool {
    stored.and_then(|v| v.strip_prefix(GENERATIONS_PREFIX)) == Some(now)
}

/// What happened to a request, as `X-Ghpool-Cache` tells the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Hit,
    Miss,
    Revalidated,
    Stale,
    Bypass,
}

impl Outcome {
    pub fn from_phase(phase: &CachePhase) -> Outcome {
        match phase {
            CachePhase::Hit => Outcome::Hit,
            CachePhase::Miss | CachePhase::Expired => Outcome::Miss,
            CachePhase::Revalidated | CachePhase::RevalidatedNoCache(_) => Outcome::Revalidated,
            CachePhase::Stale | CachePhase::StaleUpdating => Outcome::Stale,
            _ => Outcome::Bypass,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Outcome::Hit => "HIT",
            Outcome::Miss => "MISS",
            Outcome::Revalidated => "REVALIDATED",
            Outcome::Stale => "STALE",
            Outcome::Bypass => "BYPASS",
        }
    }
}

#[derive(Debug, Default)]
pub struct CacheCounters {
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    pub revalidations: AtomicU64,
    /// GitHub's free 304s.
    pub not_modified: AtomicU64,
    pub stale_served: AtomicU64,
    /// Revalidations that cost a full 200 because the fetching identity's token had rotated
    /// since (GitHub's ETags are token-specific).
    pub refetched_after_rotation: AtomicU64,
}

/// What `/stats` shows of the cache.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct CacheSnapshot {
    pub entries: u64,
    pub bytes: u64,
    pub max_bytes: u64,
    pub hits: u64,
    pub misses: u64,
    pub revalidations: u64,
    pub not_modified: u64,
    pub stale_served: u64,
    pub refetched_after_rotation: u64,
    pub evictions: u64,
    pub purges: u64,
}

pub struct Cache {
    pub storage: &'static MemoryStorage,
    /// Replicas share entries (`[shared]`): keys carry their name in the shared cache, made from
    /// this salt (what makes an answer differ between configurations: the allowlist, the upstream)
    /// and the request, so replicas configured differently never serve each other's answers.
    shared_salt: Option<String>,
    pub lock: &'static CacheKeyLockImpl,
    storage_stats: Arc<StorageStats>,
    pub counters: CacheCounters,
    ttl: Duration,
    graphql_ttl: Duration,
    stale_if_error: Duration,
    negative_ttl: Duration,
    closed_ttl: Duration,
    rules: Vec<(globset::GlobMatcher, Duration)>,
    /// What keys are made of besides the request, and which entries a write purges.
    index: Mutex<Index>,
}

#[derive(Default)]
struct Index {
    /// Part of every key: bumping it makes every entry unreachable at once (purge everything).
    epoch: u64,
    /// tag → hashes of the keys of the entries carrying it.
    by_tag: HashMap<Tag, HashSet<HashBinary>>,
    size: usize,
}

impl Cache {
    /// The storage and lock live for the whole process (Pingora wants `&'static`): made once at start.
    /// `shared_salt`: with `[shared]`, what the configuration makes of answers (see `shared_salt`).
    pub fn new(config: &CacheConfig, shared: Option<(Arc<Shared>, String)>) -> Cache {
        let storage_stats = Arc::new(StorageStats::default());
        let (shared, shared_salt) = match shared {
            Some((shared, salt)) => (Some(shared), Some(salt)),
            None => (None, None),
        };
        let storage: &'static MemoryStorage =
            Box::leak(Box::new(MemoryStorage::new(config.max_size, storage_stats.clone(), shared)));
        let lock: &'static CacheLock = Box::leak(CacheLock::new_boxed(LOCK_TIMEOUT));
        Cache {
            storage,
            shared_salt,
            lock,
            storage_stats,
            counters: CacheCounters::default(),
            ttl: config.ttl,
            graphql_ttl: config.graphql_ttl,
            stale_if_error: config.stale_if_error,
            negative_ttl: config.negative_ttl,
            closed_ttl: config.closed_ttl,
            // Validated by `config`: a rule that does not compile never gets here.
            rules: config
                .rules
                .iter()
                .filter_map(|r| globset::Glob::new(&r.path).ok().map(|g| (g.compile_matcher(), r.ttl)))
                .collect(),
            index: Mutex::new(Index::default()),
        }
    }

    /// The Pingora key for `primary`, remembered under `tags` for invalidation, with its hash and
    /// the storage's write count when it was made.
    ///
    /// The write count travels in the key (its `user_tag`) to the storage, which stores an answer
    /// already expired when a write happened since: GitHub may have answered a read begun before
    /// the write from the state before it. Such an entry is revalidated by the next read (a free
    /// 304 when the write did not change it), and so is one a read after the write waited for
    /// through the cache lock.
    pub fn key(&self, primary: &str, tags: BTreeSet<Tag>) -> (CacheKey, HashBinary, u64) {
        let mut index = self.index.lock().unwrap_or_else(|p| p.into_inner());
        if index.size >= INDEX_CAPACITY {
            let epoch = index.epoch + 1;
            *index = Index { epoch, ..Index::default() };
        }
        // Read under the index lock, which `invalidate` holds while it counts a write and expires.
        let writes = self.storage.writes();
        // The shared cache's name for it: the same on every replica, whatever this one's epoch;
        // and the tags whose write generations say whether an entry of it is current.
        let user_tag = match &self.shared_salt {
            Some(salt) => {
                let name = hex(&CacheKey::new(format!("{salt}\n{primary}"), "").combined_bin());
                key::user_tag(writes, Some((&name, &crate::shared::generation_tags(&tags))))
            }
            None => key::user_tag(writes, None),
        };
        let mut key = CacheKey::new(format!("{}\n{primary}", index.epoch), user_tag);
        let hash = key.combined_bin();
        // Hashed once: Pingora's lookup, cache lock and storage ask for it again.
        key.set_primary_bin_override(hash);
        for tag in tags {
            if index.by_tag.entry(tag).or_default().insert(hash) {
                index.size += 1;
            }
        }
        (key, hash, writes)
    }

    /// Expire what a successful write may have changed, so the next read revalidates it (GitHub's
    /// 304 is free when the write did not change it after all); `Everything` drops every entry.
    /// Returns how many fresh entries were invalidated.
    pub fn invalidate(&self, what: &Invalidation) -> usize {
        let mut index = self.index.lock().unwrap_or_else(|p| p.into_inner());
        self.storage.count_write();
        match what {
            Invalidation::Everything => {
                let removed = index.by_tag.values().flatten().filter(|k| self.storage.purge(k)).count();
                let epoch = index.epoch + 1;
                *index = Index { epoch, ..Index::default() };
                removed
            }
            Invalidation::Tags(tags) => {
                let keys: HashSet<HashBinary> =
                    tags.iter().filter_map(|t| index.by_tag.get(t)).flatten().copied().collect();
                keys.iter().filter(|k| self.storage.expire(k)).count()
            }
        }
    }

    /// Count an answer's outcome.
    pub fn record(&self, outcome: Outcome) {
        let counter = match outcome {
            Outcome::Hit => &self.counters.hits,
            Outcome::Miss => &self.counters.misses,
            Outcome::Revalidated => &self.counters.revalidations,
            Outcome::Stale => &self.counters.stale_served,
            Outcome::Bypass => return,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> CacheSnapshot {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        CacheSnapshot {
            entries: get(&self.storage_stats.entries),
            bytes: get(&self.storage_stats.bytes),
            max_bytes: self.storage.max_bytes(),
            hits: get(&self.counters.hits),
            misses: get(&self.counters.misses),
            revalidations: get(&self.counters.revalidations),
            not_modified: get(&self.counters.not_modified),
            stale_served: get(&self.counters.stale_served),
            refetched_after_rotation: get(&self.counters.refetched_after_rotation),
            evictions: get(&self.storage_stats.evictions),
            purges: get(&self.storage_stats.purges),
        }
    }

    /// How long an answer stays fresh, `None` when it must not be cached: 200s for the default,
    /// GraphQL or closed TTL, or the first matching path rule; GitHub's 301/404 for
    /// `negative_ttl`; nothing else.
    pub fn ttl_for(&self, graphql: bool, path: &str, resp: &ResponseHeader) -> Option<Duration> {
        let status = resp.status.as_u16();
        if !(cacheable(graphql, resp) || status == 301 || status == 404) {
            return None;
        }
        if resp.headers.get("set-cookie").is_some() {
            return None;
        }
        let ttl = match status {
            200 if resp.headers.get(CLOSED_HEADER).is_some() => self.closed_ttl,
            200 if graphql => self.graphql_ttl,
            200 => self.rules.iter().find(|(glob, _)| glob.is_match(path)).map_or(self.ttl, |(_, ttl)| *ttl),
            301 | 404 if !graphql => self.negative_ttl,
            _ => Duration::ZERO,
        };
        (!ttl.is_zero()).then_some(ttl)
    }

    /// The meta of a cacheable answer, or `None` when it must not be cached.
    pub fn meta_for(&self, graphql: bool, path: &str, resp: &ResponseHeader) -> Option<CacheMeta> {
        let ttl = self.ttl_for(graphql, path, resp)?;
        let now = SystemTime::now();
        Some(CacheMeta::new(now + ttl, now, 0, self.stale_if_error_secs(), resp.clone()))
    }

    fn stale_if_error_secs(&self) -> u32 {
        u32::try_from(self.stale_if_error.as_secs()).unwrap_or(u32::MAX)
    }

    /// A stored answer turned out to be a closed issue or pull request: keep it `closed_ttl`,
    /// also across revalidations — unless a write happened since its request was keyed (`writes`).
    pub fn mark_closed(&self, key: &HashBinary, writes: u64) {
        if self.storage.writes() != writes {
            return;
        }
        let fresh_until = SystemTime::now() + self.closed_ttl;
        let sie = self.stale_if_error_secs();
        let edited = self.storage.edit_meta(key, |meta| {
            meta.update_freshness(fresh_until, 0, sie);
            let _ = meta.response_header_mut().insert_header(CLOSED_HEADER, "1");
        });
        if let Err(e) = edited {
            log::warn!("could not extend a closed entry's freshness: {e}");
        }
    }

    pub fn stale_if_error(&self) -> Duration {
        self.stale_if_error
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Is this answer a closed issue or pull request (or a merged pull request)? Only single objects
/// count: a list mixes states.
pub fn is_closed(body: &[u8]) -> bool {
    let looks_closed = |needle: &[u8]| memchr::memmem::find(body, needle).is_some();
    if !looks_closed(b"\"closed\"") && !looks_closed(b"\"merged\"") {
        return false;
    }
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(map)) => {
            map.get("state").and_then(|s| s.as_str()) == Some("closed")
                || map.get("merged").and_then(|m| m.as_bool()) == Some(true)
        }
        _ => false,
    }
}

/// Does the client's `Cache-Control` ask for something fresher than an entry of this age?
/// `no-cache` always does; `max-age=N` does when the entry is older than N seconds.
pub fn client_wants_fresher(cache_control: Option<&str>, age: Duration) -> bool {
    let Some(cc) = cache_control else { return false };
    cc.split(',').map(|d| d.trim().to_ascii_lowercase()).any(|directive| match directive.split_once('=') {
        None => directive == "no-cache",
        Some((name, value)) => name.trim() == "max-age" && value.trim().parse::<u64>().is_ok_and(|n| age.as_secs() > n),
    })
}

/// 200s only (GitHub's 4xx/5xx and redirects are not cached), never with `Set-Cookie`, and never a
/// rate-limited answer: GitHub's GraphQL answers those with 200, `errors` of type `RATE_LIMITED`
/// and `x-ratelimit-remaining: 0`, which is the part visible before the body.
pub fn cacheable(graphql: bool, resp: &ResponseHeader) -> bool {
    let remaining_zero =
        resp.headers.get("x-ratelimit-remaining").and_then(|v| v.to_str().ok()).is_some_and(|v| v.trim() == "0");
    resp.status.as_u16() == 200 && resp.headers.get("set-cookie").is_none() && !(graphql && remaining_zero)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(status: u16, headers: &[(&'static str, &str)]) -> ResponseHeader {
        let mut r = ResponseHeader::build(status, None).unwrap();
        for (k, v) in headers {
            r.insert_header(*k, *v).unwrap();
        }
        r
    }

    #[test]
    fn what_is_cacheable() {
        let private = [("cache-control", "private, max-age=60"), ("vary", "Accept, Authorization")];
        assert!(cacheable(false, &resp(200, &private)), "GitHub's private/Vary are ignored for the pool");
        assert!(!cacheable(false, &resp(404, &[])));
        assert!(!cacheable(false, &resp(403, &[])));
        assert!(!cacheable(false, &resp(502, &[])));
        assert!(!cacheable(false, &resp(200, &[("set-cookie", "a=b")])));
        assert!(!cacheable(true, &resp(200, &[("x-ratelimit-remaining", "0")])), "a rate-limited GraphQL answer");
        assert!(cacheable(true, &resp(200, &[("x-ratelimit-remaining", "10")])));
    }

    #[test]
    fn closed_answers() {
        assert!(is_closed(br#"{"number": 1, "state": "closed"}"#));
        assert!(is_closed(br#"{"number": 1, "state": "open", "merged": true}"#));
        assert!(!is_closed(br#"{"number": 1, "state": "open", "merged": false}"#));
        assert!(!is_closed(br#"[{"state": "closed"}]"#), "a list is not one closed item");
        assert!(!is_closed(br#"{"title": "closed"}"#));
    }

    #[test]
    fn client_cache_control() {
        let age = Duration::from_secs(30);
        assert!(client_wants_fresher(Some("no-cache"), age));
        assert!(client_wants_fresher(Some("max-age=10"), age));
        assert!(!client_wants_fresher(Some("max-age=60"), age));
        assert!(!client_wants_fresher(Some("max-age=bogus"), age));
        assert!(!client_wants_fresher(None, age));
        assert!(client_wants_fresher(Some("private, No-Cache"), age));
    }

    fn cache_with(rules: &[(&str, u64)], negative: u64) -> Cache {
        let config = CacheConfig {
            ttl: Duration::from_secs(60),
            graphql_ttl: Duration::from_secs(30),
            max_size: 1 << 20,
            stale_if_error: Duration::from_secs(3600),
            negative_ttl: Duration::from_secs(negative),
            closed_ttl: Duration::from_secs(600),
            rules: rules
                .iter()
                .map(|(p, s)| crate::config::TtlRule { path: p.to_string(), ttl: Duration::from_secs(*s) })
                .collect(),
        };
        Cache::new(&config, None)
    }

    #[test]
    fn ttls() {
        let c = cache_with(&[("/repos/*/*/actions/runs*", 10), ("/repos/*/*/actions/*", 0)], 0);
        let ok = resp(200, &[]);
        let secs = |graphql, path, r: &ResponseHeader| c.ttl_for(graphql, path, r).map(|d| d.as_secs());
        assert_eq!(secs(false, "/repos/o/r", &ok), Some(60));
        assert_eq!(secs(true, "/graphql", &ok), Some(30));
        assert_eq!(secs(false, "/repos/o/r/actions/runs/5", &ok), Some(10), "first matching rule");
        assert_eq!(secs(false, "/repos/o/r/actions/jobs/5", &ok), None, "a zero TTL rule does not cache");
        assert_eq!(secs(false, "/repos/o/r/issues/1", &resp(200, &[(CLOSED_HEADER, "1")])), Some(600));
        assert_eq!(secs(false, "/repos/o/missing", &resp(404, &[])), None, "negative caching is off by default");
        let c = cache_with(&[], 5);
        assert_eq!(c.ttl_for(false, "/repos/o/missing", &resp(404, &[])), Some(Duration::from_secs(5)));
        assert_eq!(c.ttl_for(false, "/repos/o/moved", &resp(301, &[])), Some(Duration::from_secs(5)));
        assert_eq!(c.ttl_for(false, "/repos/o/r", &resp(500, &[])), None);
        assert_eq!(c.ttl_for(false, "/repos/o/r", &resp(404, &[("set-cookie", "a")])), None);
    }

    #[tokio::test]
    async fn a_write_expires_what_it_may_change_and_no_other() {
        use pingora_cache::Storage;
        let c = cache_with(&[], 0);
        let span = pingora_cache::trace::Span::inactive().handle();
        let tag = |t: &str| match t.split_once(':') {
            Some(("repo", r)) => Tag::Repo(r.to_string()),
            Some(("owner", o)) => Tag::Owner(o.to_string()),
            _ => Tag::Graphql,
        };
        let tags = |t: &[&str]| t.iter().map(|s| tag(s)).collect::<BTreeSet<_>>();
        let store = |path: &str, tag: &str| {
            let (key, _, _) = c.key(path, tags(&[tag]));
            let meta = c.meta_for(false, path, &resp(200, &[])).unwrap();
            (key, meta)
        };
        let fresh = |key: &CacheKey| {
            let (key, span) = (key.clone(), &span);
            async move { c.storage.lookup(&key, span).await.unwrap().unwrap().0.is_fresh(SystemTime::now()) }
        };
        let (widgets, gadgets) =
            (store("/repos/acme/widgets", "repo:acme/widgets"), store("/repos/acme/gadgets", "repo:acme/gadgets"));
        for (key, meta) in [&widgets, &gadgets] {
            let mut miss = c.storage.get_miss_handler(key, meta, &span).await.unwrap();
            miss.write_body(bytes::Bytes::from_static(b"{}"), true).await.unwrap();
            miss.finish().await.unwrap();
        }
        // A read keyed before the write, filled after it.
        let (late, late_meta) = store("/repos/acme/widgets/issues", "repo:acme/widgets");
        let mut late_fill = c.storage.get_miss_handler(&late, &late_meta, &span).await.unwrap();

        assert_eq!(c.invalidate(&Invalidation::Tags(tags(&["repo:acme/widgets", "owner:acme"]))), 1);
        assert!(!fresh(&widgets.0).await, "expired: the next read revalidates it");
        assert!(fresh(&gadgets.0).await, "another repository keeps its entries");
        late_fill.write_body(bytes::Bytes::from_static(b"[]"), true).await.unwrap();
        late_fill.finish().await.unwrap();
        assert!(!fresh(&late).await, "an answer GitHub may have given before the write is stored expired");

        let (after, _, writes) = c.key("/repos/acme/widgets", tags(&["repo:acme/widgets"]));
        assert_eq!(after.combined_bin(), widgets.0.combined_bin(), "keys stay: the entry's ETag is reused");
        c.mark_closed(&after.combined_bin(), writes - 1);
        assert!(!fresh(&widgets.0).await, "a request keyed before the write does not refresh it");
        c.invalidate(&Invalidation::Everything);
        assert!(c.storage.lookup(&gadgets.0, &span).await.unwrap().is_none());
    }

    #[test]
    fn outcomes() {
        assert_eq!(Outcome::from_phase(&CachePhase::Hit).label(), "HIT");
        assert_eq!(Outcome::from_phase(&CachePhase::Revalidated).label(), "REVALIDATED");
        assert_eq!(Outcome::from_phase(&CachePhase::Uninit).label(), "BYPASS");
    }
}
