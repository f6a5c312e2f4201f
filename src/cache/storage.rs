//! The cache's storage: complete answers in memory, bounded in bytes, evicted by TinyUFO
//! (TinyLFU admission, S3-FIFO eviction — Cloudflare's, as used by Pingora's own memory cache).
//!
//! Owns: implementing Pingora's `Storage` for whole entries (no partial reads: Pingora's cache
//! lock makes concurrent readers of a filling key wait for it), the byte count, and purging by key.
//! Must never: hold more than its byte bound, or panic when Pingora updates an entry that was
//! evicted meanwhile (Pingora's `MemCache` does; that is one reason this storage exists).

use std::any::Any;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use pingora_cache::key::{CacheHashKey, CompactCacheKey};
use pingora_cache::storage::{
    HandleHit, HandleMiss, HitHandler, MissFinishType, MissHandler, PurgeOutcome, PurgeTarget, PurgeType,
};
use pingora_cache::trace::SpanHandle;
use pingora_cache::{CacheKey, CacheMeta, Storage};
use pingora_core::Result;
use tinyufo::TinyUfo;

/// TinyUFO weighs entries in `u16`: count in KiB, rounded up, so the weights over-estimate and the
/// byte bound holds. An entry over 64 MiB is not stored.
const WEIGHT_UNIT: u64 = 1024;

/// One cached answer.
struct Entry {
    /// Pingora's serialized meta (internal, header).
    meta: (Vec<u8>, Vec<u8>),
    body: Bytes,
    /// What the bound counts: body, meta and key.
    size: u64,
}

/// Counters the storage keeps itself.
#[derive(Debug, Default)]
pub struct StorageStats {
    pub entries: AtomicU64,
    pub bytes: AtomicU64,
    pub evictions: AtomicU64,
    pub purges: AtomicU64,
}

pub struct MemoryStorage {
    entries: TinyUfo<String, Arc<Entry>>,
    max_bytes: u64,
    stats: Arc<StorageStats>,
}

impl MemoryStorage {
    pub fn new(max_bytes: u64, stats: Arc<StorageStats>) -> MemoryStorage {
        let limit = (max_bytes / WEIGHT_UNIT).max(1) as usize;
        // The estimate sizes TinyLFU's sketch; answers of a few KiB are typical for GitHub.
        let estimated_entries = (max_bytes / (4 * 1024)).clamp(1024, 1 << 22) as usize;
        MemoryStorage { entries: TinyUfo::new(limit, estimated_entries), max_bytes, stats }
    }

    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    fn weight(size: u64) -> Option<u16> {
        u16::try_from(size.div_ceil(WEIGHT_UNIT)).ok()
    }

    fn insert(&self, key: String, entry: Entry) {
        let Some(weight) = Self::weight(entry.size) else { return };
        if entry.size > self.max_bytes {
            return;
        }
        self.remove(&key, None);
        let size = entry.size;
        self.stats.entries.fetch_add(1, Ordering::Relaxed);
        self.stats.bytes.fetch_add(size, Ordering::Relaxed);
        for evicted in self.entries.force_put(key, Arc::new(entry), weight) {
            self.stats.entries.fetch_sub(1, Ordering::Relaxed);
            self.stats.bytes.fetch_sub(evicted.data.size, Ordering::Relaxed);
            self.stats.evictions.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Remove `key`; `why` counts it as a purge (invalidation) or an eviction.
    fn remove(&self, key: &String, why: Option<PurgeType>) -> bool {
        match self.entries.remove(key) {
            Some(old) => {
                self.stats.entries.fetch_sub(1, Ordering::Relaxed);
                self.stats.bytes.fetch_sub(old.size, Ordering::Relaxed);
                match why {
                    Some(PurgeType::Eviction) => self.stats.evictions.fetch_add(1, Ordering::Relaxed),
                    Some(PurgeType::Invalidation) => self.stats.purges.fetch_add(1, Ordering::Relaxed),
                    None => 0,
                };
                true
            }
            None => false,
        }
    }

    /// Purge a key by its Pingora key (read-your-writes invalidation).
    pub fn purge_key(&self, key: &CompactCacheKey) -> bool {
        self.purge_combined(&key.combined())
    }

    /// Change a stored entry's meta in place (its freshness, a marker header); `false` when the
    /// entry is gone.
    pub fn edit_meta(&self, combined: &str, edit: impl FnOnce(&mut CacheMeta)) -> Result<bool> {
        let key = combined.to_string();
        let Some(old) = self.entries.get(&key) else { return Ok(false) };
        let mut meta = CacheMeta::deserialize(&old.meta.0, &old.meta.1)?;
        edit(&mut meta);
        self.replace_meta(key, &old, meta.serialize()?);
        Ok(true)
    }

    /// Store `old`'s body again under `key` with a new serialized meta.
    fn replace_meta(&self, key: String, old: &Entry, meta: (Vec<u8>, Vec<u8>)) {
        let size = old.size - (old.meta.0.len() + old.meta.1.len()) as u64 + (meta.0.len() + meta.1.len()) as u64;
        self.insert(key, Entry { meta, body: old.body.clone(), size });
    }

    /// Purge a key by its combined hash, as `CacheKey::combined` spells it.
    pub fn purge_combined(&self, combined: &str) -> bool {
        self.remove(&combined.to_string(), Some(PurgeType::Invalidation))
    }
}

struct Hit {
    body: Option<Bytes>,
}

#[async_trait]
impl HandleHit for Hit {
    async fn read_body(&mut self) -> Result<Option<Bytes>> {
        Ok(self.body.take())
    }

    async fn finish(self: Box<Self>, _: &'static (dyn Storage + Sync), _: &CacheKey, _: &SpanHandle) -> Result<()> {
        Ok(())
    }

    fn as_any(&self) -> &(dyn Any + Send + Sync) {
        self
    }

    fn as_any_mut(&mut self) -> &mut (dyn Any + Send + Sync) {
        self
    }
}

struct Miss {
    storage: &'static MemoryStorage,
    key: String,
    meta: (Vec<u8>, Vec<u8>),
    body: Vec<u8>,
}

#[async_trait]
impl HandleMiss for Miss {
    async fn write_body(&mut self, data: Bytes, _eof: bool) -> Result<()> {
        // Past the bound the entry will not be stored anyway: stop growing the buffer.
        if (self.body.len() as u64) <= self.storage.max_bytes {
            self.body.extend_from_slice(&data);
        }
        Ok(())
    }

    async fn finish(self: Box<Self>) -> Result<MissFinishType> {
        let size = (self.body.len() + self.meta.0.len() + self.meta.1.len() + self.key.len()) as u64;
        let entry = Entry { meta: self.meta, body: Bytes::from(self.body), size };
        self.storage.insert(self.key, entry);
        Ok(MissFinishType::Created(size as usize))
    }
}

#[async_trait]
impl Storage for MemoryStorage {
    async fn lookup(&'static self, key: &CacheKey, _: &SpanHandle) -> Result<Option<(CacheMeta, HitHandler)>> {
        let Some(entry) = self.entries.get(&key.combined()) else { return Ok(None) };
        let meta = CacheMeta::deserialize(&entry.meta.0, &entry.meta.1)?;
        Ok(Some((meta, Box::new(Hit { body: Some(entry.body.clone()) }))))
    }

    async fn get_miss_handler(&'static self, key: &CacheKey, meta: &CacheMeta, _: &SpanHandle) -> Result<MissHandler> {
        Ok(Box::new(Miss { storage: self, key: key.combined(), meta: meta.serialize()?, body: Vec::new() }))
    }

    async fn purge(&'static self, target: PurgeTarget<'_>, kind: PurgeType, _: &SpanHandle) -> Result<PurgeOutcome> {
        match self.remove(&target.key().combined(), Some(kind)) {
            true => Ok(PurgeOutcome::Purged(None)),
            false => Ok(PurgeOutcome::NotFound),
        }
    }

    /// A 304 refreshed the entry's meta. The entry may have been evicted while GitHub answered:
    /// then there is nothing to update, which is not an error.
    async fn update_meta(&'static self, key: &CacheKey, meta: &CacheMeta, _: &SpanHandle) -> Result<bool> {
        let combined = key.combined();
        let Some(old) = self.entries.get(&combined) else { return Ok(false) };
        self.replace_meta(combined, &old, meta.serialize()?);
        Ok(true)
    }

    fn as_any(&self) -> &(dyn Any + Send + Sync + 'static) {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pingora_http::ResponseHeader;
    use std::time::{Duration, SystemTime};

    fn meta() -> CacheMeta {
        let header = ResponseHeader::build(200, None).unwrap();
        CacheMeta::new(SystemTime::now() + Duration::from_secs(60), SystemTime::now(), 0, 0, header)
    }

    fn storage(max: u64) -> (&'static MemoryStorage, Arc<StorageStats>) {
        let stats = Arc::new(StorageStats::default());
        (Box::leak(Box::new(MemoryStorage::new(max, stats.clone()))), stats)
    }

    async fn put(s: &'static MemoryStorage, key: &CacheKey, body: &[u8]) {
        let span = pingora_cache::trace::Span::inactive().handle();
        let mut miss = s.get_miss_handler(key, &meta(), &span).await.unwrap();
        miss.write_body(Bytes::copy_from_slice(body), true).await.unwrap();
        miss.finish().await.unwrap();
    }

    #[tokio::test]
    async fn stores_reads_and_purges() {
        let (s, stats) = storage(1 << 20);
        let span = pingora_cache::trace::Span::inactive().handle();
        let key = CacheKey::new("GET /repos/o/r", "");
        assert!(s.lookup(&key, &span).await.unwrap().is_none());
        put(s, &key, b"{\"id\":1}").await;
        let (_, mut hit) = s.lookup(&key, &span).await.unwrap().unwrap();
        assert_eq!(hit.read_body().await.unwrap().unwrap(), Bytes::from_static(b"{\"id\":1}"));
        assert_eq!(hit.read_body().await.unwrap(), None);
        assert_eq!(stats.entries.load(Ordering::Relaxed), 1);
        assert!(s.purge_key(&key.to_compact()));
        assert!(s.lookup(&key, &span).await.unwrap().is_none());
        assert_eq!((stats.entries.load(Ordering::Relaxed), stats.bytes.load(Ordering::Relaxed)), (0, 0));
        assert!(!s.update_meta(&key, &meta(), &span).await.unwrap(), "an evicted entry is not an error");
    }

    #[tokio::test]
    async fn bytes_never_exceed_the_bound() {
        let max = 256 * 1024;
        let (s, stats) = storage(max);
        let body = vec![b'x'; 3000];
        for i in 0..(10 * max as usize / body.len()) {
            put(s, &CacheKey::new(format!("GET /k/{i}"), ""), &body).await;
            assert!(stats.bytes.load(Ordering::Relaxed) <= max, "after {i} entries");
        }
        assert!(stats.evictions.load(Ordering::Relaxed) > 0);
        assert!(stats.entries.load(Ordering::Relaxed) > 10, "the cache still holds entries");
    }
}
