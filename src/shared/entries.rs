//! The second-level cache replicas share: entries by the hash of their key (versioned and checked
//! by `cache::storage`, opaque here), and the claim of the replica filling one, so that identical
//! misses on several replicas cost GitHub one request.
//! Must never: make a request wait on a store, or wait on another replica's fill past its claim.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::{Shared, MAX_ENTRY};

/// Deletes a fill claim only when it is still the caller's (a claim that expired and was taken
/// by another replica stays).
const RELEASE_OWN: &str =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";

/// How often a replica waiting on another's fill looks for it.
const FILL_POLL: Duration = Duration::from_millis(20);

/// How long a background store may take (no request waits on it).
const BACKGROUND_TIMEOUT: Duration = Duration::from_secs(2);

impl Shared {
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

    /// Wait (at most `wait`) for the entry another replica is filling — one `accept` takes (an
    /// older entry may be there meanwhile): it, or `None` when that fill ended without one or took
    /// too long (then this replica fills it itself).
    pub async fn wait_for_fill(&self, hash: &str, wait: Duration, accept: impl Fn(&[u8]) -> bool) -> Option<Vec<u8>> {
        let deadline = tokio::time::Instant::now() + wait;
        let claim = self.key("f", hash);
        loop {
            tokio::time::sleep(FILL_POLL).await;
            if let Some(entry) = self.get_entry(hash).await.filter(|e| accept(e)) {
                return Some(entry);
            }
            let claim = claim.clone();
            let pending: Option<bool> =
                self.request_call("EXISTS", |mut c| async move {
                    redis::cmd("EXISTS").arg(&claim).query_async(&mut c).await
                })
                .await;
            if pending != Some(true) || tokio::time::Instant::now() >= deadline {
                return self.get_entry(hash).await.filter(|e| accept(e));
            }
        }
    }
}
