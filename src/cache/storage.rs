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
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use pingora_cache::key::{CacheHashKey, CompactCacheKey, HashBinary};
use pingora_cache::storage::{
    HandleHit, HandleMiss, HitHandler, MissFinishType, MissHandler, PurgeOutcome, PurgeTarget, PurgeType,
};
use pingora_cache::trace::SpanHandle;
use pingora_cache::{CacheKey, CacheMeta, Storage};
use pingora_core::Result;
use pingora_http::ResponseHeader;
use tinyufo::TinyUfo;

use super::head::StoredHeader;
use super::key::key_note;
use super::{generations_current, GENERATIONS_HEADER};
use crate::clock::epoch_millis;
use crate::shared::format_generations;
use crate::shared::Shared;

/// How long a replica's claim to fill an entry holds, and how long others wait for it: about a slow
/// GitHub answer. An answer that is not stored (an error) leaves the others waiting that long.
const FILL_CLAIM: std::time::Duration = std::time::Duration::from_secs(2);

/// TinyUFO weighs entries in `u16`: count in KiB, rounded up, so the weights over-estimate and the
/// byte bound holds. An entry over 64 MiB is not stored.
const WEIGHT_UNIT: u64 = 1024;

/// One cached answer.
struct Entry {
    meta: StoredMeta,
    body: Bytes,
    /// What the bound counts: body, meta and key.
    size: u64,
}

/// A `CacheMeta` kept as it is used, not serialized: a hit then costs rebuilding the response
/// header from `StoredHeader` (slices of one buffer), where Pingora's serialized form costs a zstd
/// decompression and a header parse (a third of a hit's instructions, measured with callgrind).
///
/// What it leaves out: a meta is rebuilt with `created` = `updated` (the last revalidation), so
/// age and freshness are exact; creation time and provenance, which only Pingora's purge-by-time
/// and `valid_after` read, are not kept. ghpool sets no variance and no epoch override.
#[derive(Clone)]
struct StoredMeta {
    times: Times,
    header: StoredHeader,
}

/// A meta's times and windows.
#[derive(Clone, Copy)]
struct Times {
    fresh_until: SystemTime,
    updated: SystemTime,
    stale_while_revalidate_sec: u32,
    stale_if_error_sec: u32,
}

impl Times {
    fn of(meta: &CacheMeta) -> Times {
        Times {
            fresh_until: meta.fresh_until(),
            updated: meta.updated(),
            stale_while_revalidate_sec: meta.stale_while_revalidate_sec(),
            stale_if_error_sec: meta.stale_if_error_sec(),
        }
    }

    /// Stale from now on, when a write may have changed what they describe.
    fn expired(self) -> Times {
        Times { fresh_until: self.fresh_until.min(SystemTime::now()), ..self }
    }
}

impl StoredMeta {
    /// `meta` to keep with a body of `body_len` bytes (a hit is sent with that `Content-Length`,
    /// not chunked: the proxy drops GitHub's length from answers whose body it rewrites).
    fn of(meta: &CacheMeta, body_len: usize) -> StoredMeta {
        StoredMeta { times: Times::of(meta), header: StoredHeader::framed(meta.response_header(), body_len) }
    }

    fn to_meta(&self) -> Option<CacheMeta> {
        let t = self.times;
        let header = self.header.to_header()?;
        Some(CacheMeta::new(t.fresh_until, t.updated, t.stale_while_revalidate_sec, t.stale_if_error_sec, header))
    }

    fn size(&self) -> u64 {
        self.header.size() + std::mem::size_of::<Times>() as u64
    }
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
    /// Replicas' shared cache (Redis), looked in when this one misses and told what this one stores.
    l2: Option<Arc<Shared>>,
    /// Keyed by the key's hash as Pingora computes it (`combined_bin`), never its hex spelling.
    entries: TinyUfo<HashBinary, Arc<Entry>>,
    /// Writes seen so far (`Cache::invalidate`). A key carries the count from when it was made (its
    /// `user_tag`): an answer for a key made before a later write is stored expired.
    writes: AtomicU64,
    max_bytes: u64,
    stats: Arc<StorageStats>,
}

impl MemoryStorage {
    pub fn new(max_bytes: u64, stats: Arc<StorageStats>, l2: Option<Arc<Shared>>) -> MemoryStorage {
        let limit = (max_bytes / WEIGHT_UNIT).max(1) as usize;
        // The estimate sizes TinyLFU's sketch; answers of a few KiB are typical for GitHub.
        let estimated_entries = (max_bytes / (4 * 1024)).clamp(1024, 1 << 22) as usize;
        let entries = TinyUfo::new(limit, estimated_entries);
        MemoryStorage { l2, entries, writes: AtomicU64::new(0), max_bytes, stats }
    }

    /// Tell the shared cache what this replica stored (in the background), for as long as it may
    /// be served: fresh, then within `stale_if_error`.
    fn share(&self, name: Option<&str>, meta: &StoredMeta, body: &[u8]) {
        let (Some(l2), Some(name)) = (&self.l2, name) else { return };
        let fresh = meta.times.fresh_until.duration_since(SystemTime::now()).unwrap_or_default();
        let ttl = fresh + std::time::Duration::from_secs(u64::from(meta.times.stale_if_error_sec));
        l2.put_entry(name, Some(encode_entry(meta, body)), ttl);
    }

    /// With `[shared]`: the entry to serve for `hash`, and whether it must be revalidated first.
    /// This replica's own entry when it is fresh and filled under the tags' current write
    /// generations (no write on any replica since); else one another replica stored that is; else
    /// the fill another replica is making now (awaited, bounded); else the entry this replica holds
    /// (or the newest one in Redis), to be revalidated with its ETag; else a miss.
    /// Redis unable to say (degraded) leaves this replica's own entry as it is.
    async fn shared_lookup(
        &self,
        l2: &Shared,
        name: &str,
        tags: &[String],
        hash: HashBinary,
        local: Option<Arc<Entry>>,
    ) -> Option<(Arc<Entry>, Freshness)> {
        let counters = &l2.counters;
        let Some(now) = l2.generations(tags).await else {
            return local.map(|e| (e, Freshness::AsStored));
        };
        let now = format_generations(tags, &now);
        let current = |meta: &StoredMeta| meta.times.fresh_until > SystemTime::now() && filled_under(meta, &now);
        if let Some(entry) = &local {
            if current(&entry.meta) {
                return Some((entry.clone(), Freshness::AsStored));
            }
            if entry.meta.times.fresh_until > SystemTime::now() {
                counters.stale_by_generation.fetch_add(1, Ordering::Relaxed);
                // Known stale from now on, even if Redis cannot be asked next time.
                self.expire(&hash);
            }
        }
        // Another replica's entry, filled since the last write, spares GitHub a request.
        let mut older = None;
        if let Some(bytes) = l2.get_entry(name).await {
            match decode_entry(&bytes) {
                Some((meta, body)) if current(&meta) => {
                    counters.l2_hits.fetch_add(1, Ordering::Relaxed);
                    return Some((self.keep(hash, meta, body)?, Freshness::AsStored));
                }
                Some(found) => older = Some(found),
                None => {
                    counters.l2_unreadable.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        // Nobody has it current: this replica fills it, unless another one already is — then its
        // answer is awaited (bounded), not fetched again.
        if l2.claim_fill(name, FILL_CLAIM).await == Some(false) {
            let accept = |bytes: &[u8]| decode_entry(bytes).is_some_and(|(meta, _)| current(&meta));
            if let Some((meta, body)) =
                l2.wait_for_fill(name, FILL_CLAIM, accept).await.as_deref().and_then(decode_entry)
            {
                counters.coalesced.fetch_add(1, Ordering::Relaxed);
                return Some((self.keep(hash, meta, body)?, Freshness::AsStored));
            }
        }
        counters.l2_misses.fetch_add(1, Ordering::Relaxed);
        let entry = match (local, older) {
            (Some(entry), _) => entry,
            // Revalidated with the ETag and identity that travel with it.
            (None, Some((meta, body))) => self.keep(hash, meta, body)?,
            (None, None) => return None,
        };
        Some((entry, Freshness::Revalidate))
    }

    /// Keep an entry another replica stored, here too from now on.
    fn keep(&self, hash: HashBinary, meta: StoredMeta, body: Bytes) -> Option<Arc<Entry>> {
        let size = (body.len() + std::mem::size_of::<HashBinary>()) as u64 + meta.size();
        self.insert(hash, Entry { meta, body, size });
        self.entries.get(&hash)
    }

    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    pub fn writes(&self) -> u64 {
        self.writes.load(Ordering::SeqCst)
    }

    pub fn count_write(&self) {
        self.writes.fetch_add(1, Ordering::SeqCst);
    }

    /// Did a write happen after a key made at write count `made` (its `user_tag`)? Keys without
    /// a count (tests, tools) say no.
    fn written_since(&self, made: Option<u64>) -> bool {
        made.is_some_and(|made| made != self.writes())
    }

    /// Make a fresh entry stale now (a write may have changed it); `false` when it is absent or
    /// already stale.
    pub fn expire(&self, key: &HashBinary) -> bool {
        let Some(old) = self.entries.get(key) else { return false };
        if old.meta.times.fresh_until <= SystemTime::now() {
            return false;
        }
        let meta = StoredMeta { times: old.meta.times.expired(), header: old.meta.header.clone() };
        self.stats.purges.fetch_add(1, Ordering::Relaxed);
        self.replace_meta(*key, &old, meta);
        true
    }
    fn weight(size: u64) -> Option<u16> {
        u16::try_from(size.div_ceil(WEIGHT_UNIT)).ok()
    }

    fn insert(&self, key: HashBinary, entry: Entry) {
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
    fn remove(&self, key: &HashBinary, why: Option<PurgeType>) -> bool {
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
        self.purge(&key.combined_bin())
    }

    /// Change a stored entry's meta in place (its freshness, a marker header); `false` when the
    /// entry is gone.
    pub fn edit_meta(&self, key: &HashBinary, edit: impl FnOnce(&mut CacheMeta)) -> Result<bool> {
        let Some(old) = self.entries.get(key) else { return Ok(false) };
        let Some(mut meta) = old.meta.to_meta() else { return Ok(false) };
        edit(&mut meta);
        self.replace_meta(*key, &old, StoredMeta::of(&meta, old.body.len()));
        Ok(true)
    }

    /// Store `old`'s body again under `key` with a new meta.
    fn replace_meta(&self, key: HashBinary, old: &Entry, meta: StoredMeta) {
        let size = old.size - old.meta.size() + meta.size();
        self.insert(key, Entry { meta, body: old.body.clone(), size });
    }

    /// Purge a key by its hash, as `CacheKey::combined_bin` computes it.
    pub fn purge(&self, key: &HashBinary) -> bool {
        self.remove(key, Some(PurgeType::Invalidation))
    }
}

/// How a found entry is served.
enum Freshness {
    /// As its times say.
    AsStored,
    /// Stale now: a write on some replica since it was filled, or its time ran out.
    Revalidate,
}

/// Was an entry filled (or last revalidated) under the write generations `now`
/// (`format_generations` of its tags)?
fn filled_under(meta: &StoredMeta, now: &str) -> bool {
    let stored = meta.header.get(GENERATIONS_HEADER).and_then(|v| std::str::from_utf8(v).ok());
    generations_current(stored, now)
}

/// A shared entry's first bytes: the format and its version. Anything else is a miss.
const SHARED_MAGIC: &[u8; 4] = b"GHP1";

/// An entry as the shared cache keeps it: magic, CRC-32 of the rest, times, header, body.
fn encode_entry(meta: &StoredMeta, body: &[u8]) -> Vec<u8> {
    let mut header = Vec::with_capacity(1024);
    meta.header.encode(&mut header);
    let mut out = Vec::with_capacity(36 + header.len() + body.len());
    out.extend_from_slice(SHARED_MAGIC);
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&epoch_millis(meta.times.fresh_until).to_be_bytes());
    out.extend_from_slice(&epoch_millis(meta.times.updated).to_be_bytes());
    out.extend_from_slice(&meta.times.stale_while_revalidate_sec.to_be_bytes());
    out.extend_from_slice(&meta.times.stale_if_error_sec.to_be_bytes());
    out.extend_from_slice(&(header.len() as u32).to_be_bytes());
    out.extend_from_slice(&header);
    out.extend_from_slice(body);
    let crc = crc32fast::hash(&out[8..]);
    out[4..8].copy_from_slice(&crc.to_be_bytes());
    out
}

/// [`encode_entry`] read back: `None` for a foreign, older or corrupted value.
fn decode_entry(bytes: &[u8]) -> Option<(StoredMeta, Bytes)> {
    let (magic, rest) = bytes.split_at_checked(4)?;
    let (crc, rest) = rest.split_at_checked(4)?;
    if magic != SHARED_MAGIC || crc32fast::hash(rest).to_be_bytes() != crc {
        return None;
    }
    let u64_at = |at: usize| Some(u64::from_be_bytes(rest.get(at..at + 8)?.try_into().ok()?));
    let u32_at = |at: usize| Some(u32::from_be_bytes(rest.get(at..at + 4)?.try_into().ok()?));
    let time = |ms: u64| SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(ms);
    let times = Times {
        fresh_until: time(u64_at(0)?),
        updated: time(u64_at(8)?),
        stale_while_revalidate_sec: u32_at(16)?,
        stale_if_error_sec: u32_at(20)?,
    };
    let header_len = u32_at(24)? as usize;
    let header = StoredHeader::decode(rest.get(28..28 + header_len)?)?;
    let body = Bytes::copy_from_slice(rest.get(28 + header_len..)?);
    Some((StoredMeta { times, header }, body))
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
    key: HashBinary,
    /// Its name in the shared cache, when there is one.
    shared: Option<String>,
    /// The write count when the request was keyed: the entry is stored expired if it moved since.
    made: Option<u64>,
    times: Times,
    /// Kept as Pingora gave it until the body's length is known.
    header: ResponseHeader,
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

    async fn finish(mut self: Box<Self>) -> Result<MissFinishType> {
        // Grown chunk by chunk: give back what the growth over-allocated before keeping it.
        self.body.shrink_to_fit();
        let expired = self.storage.written_since(self.made);
        let times = if expired { self.times.expired() } else { self.times };
        let meta = StoredMeta { times, header: StoredHeader::framed(&self.header, self.body.len()) };
        let size = (self.body.len() + std::mem::size_of::<HashBinary>()) as u64 + meta.size();
        // Stored expired, it is not worth sharing: the next read revalidates it anyway.
        match (expired, &self.storage.l2, &self.shared) {
            (false, _, _) => self.storage.share(self.shared.as_deref(), &meta, &self.body),
            (true, Some(l2), Some(name)) => l2.release_fill(name),
            _ => {}
        }
        let entry = Entry { meta, body: Bytes::from(self.body), size };
        self.storage.insert(self.key, entry);
        Ok(MissFinishType::Created(size as usize))
    }
}

#[async_trait]
impl Storage for MemoryStorage {
    async fn lookup(&'static self, key: &CacheKey, _: &SpanHandle) -> Result<Option<(CacheMeta, HitHandler)>> {
        let hash = key.combined_bin();
        let local = self.entries.get(&hash);
        let note = key_note(&key.user_tag);
        let found = match (&self.l2, note.shared_name) {
            (Some(l2), Some(name)) => self.shared_lookup(l2, name, &note.generation_tags(), hash, local).await,
            _ => local.map(|entry| (entry, Freshness::AsStored)),
        };
        let Some((entry, freshness)) = found else { return Ok(None) };
        let meta = match freshness {
            Freshness::AsStored => entry.meta.to_meta(),
            Freshness::Revalidate => StoredMeta { times: entry.meta.times.expired(), ..entry.meta.clone() }.to_meta(),
        };
        let Some(meta) = meta else { return Ok(None) };
        Ok(Some((meta, Box::new(Hit { body: Some(entry.body.clone()) }))))
    }

    async fn get_miss_handler(&'static self, key: &CacheKey, meta: &CacheMeta, _: &SpanHandle) -> Result<MissHandler> {
        // The key's note read once: its write count and its name in the shared cache.
        let note = key_note(&key.user_tag);
        let (hash, made, shared) = (key.combined_bin(), note.made, note.shared_name.map(str::to_string));
        let (times, header) = (Times::of(meta), meta.response_header_copy());
        Ok(Box::new(Miss { storage: self, key: hash, shared, made, times, header, body: Vec::new() }))
    }

    async fn purge(&'static self, target: PurgeTarget<'_>, kind: PurgeType, _: &SpanHandle) -> Result<PurgeOutcome> {
        match self.remove(&target.key().combined_bin(), Some(kind)) {
            true => Ok(PurgeOutcome::Purged(None)),
            false => Ok(PurgeOutcome::NotFound),
        }
    }

    /// A 304 refreshed the entry's meta. The entry may have been evicted while GitHub answered:
    /// then there is nothing to update, which is not an error.
    async fn update_meta(&'static self, key: &CacheKey, meta: &CacheMeta, _: &SpanHandle) -> Result<bool> {
        let hash = key.combined_bin();
        let Some(old) = self.entries.get(&hash) else { return Ok(false) };
        let mut meta = StoredMeta::of(meta, old.body.len());
        // A 304 GitHub may have sent before a write since: it refreshes nothing.
        let note = key_note(&key.user_tag);
        if self.written_since(note.made) {
            meta.times = meta.times.expired();
        } else {
            self.share(note.shared_name, &meta, &old.body);
        }
        self.replace_meta(hash, &old, meta);
        Ok(true)
    }

    fn as_any(&self) -> &(dyn Any + Send + Sync + 'static) {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn meta() -> CacheMeta {
        let header = ResponseHeader::build(200, None).unwrap();
        CacheMeta::new(SystemTime::now() + Duration::from_secs(60), SystemTime::now(), 0, 0, header)
    }

    fn storage(max: u64) -> (&'static MemoryStorage, Arc<StorageStats>) {
        let stats = Arc::new(StorageStats::default());
        (Box::leak(Box::new(MemoryStorage::new(max, stats.clone(), None))), stats)
    }

    async fn put(s: &'static MemoryStorage, key: &CacheKey, body: &[u8]) {
        let span = pingora_cache::trace::Span::inactive().handle();
        let mut miss = s.get_miss_handler(key, &meta(), &span).await.unwrap();
        miss.write_body(Bytes::copy_from_slice(body), true).await.unwrap();
        miss.finish().await.unwrap();
    }

    /// Issue #15: what replicas share is read back exactly; anything else in Redis is a miss.
    #[test]
    fn a_shared_entry_reads_back_and_nothing_else_does_15() {
        let mut header = ResponseHeader::build(200, None).unwrap();
        header.append_header("etag", "W/\"1\"").unwrap();
        header.append_header("cache-tag", "ghpool-generations=1,0").unwrap();
        let meta = CacheMeta::new(SystemTime::now() + Duration::from_secs(60), SystemTime::now(), 0, 3600, header);
        let stored = StoredMeta::of(&meta, 9);
        let bytes = encode_entry(&stored, b"{\"id\":1}");
        let (back, body) = decode_entry(&bytes).unwrap();
        assert_eq!(body, Bytes::from_static(b"{\"id\":1}"));
        let back = back.to_meta().unwrap();
        assert_eq!(back.headers()["etag"], "W/\"1\"");
        assert_eq!(back.headers()["cache-tag"], "ghpool-generations=1,0");
        assert_eq!(back.stale_if_error_sec(), 3600);
        let fresh = |m: &CacheMeta| m.fresh_until().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_millis();
        assert_eq!(fresh(&back), fresh(&meta));
        for i in [0, 3, 4, 8, 20, bytes.len() - 1] {
            let mut bad = bytes.clone();
            bad[i] ^= 1;
            assert!(decode_entry(&bad).is_none(), "a flipped byte at {i} is caught");
        }
        assert!(decode_entry(&bytes[..bytes.len() - 1]).is_none(), "cut");
        assert!(decode_entry(b"").is_none() && decode_entry(b"GHP1").is_none() && decode_entry(b"GHP2....").is_none());
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

    #[tokio::test]
    async fn a_hit_has_the_meta_that_was_stored_and_edited() {
        let (s, _) = storage(1 << 20);
        let span = pingora_cache::trace::Span::inactive().handle();
        let key = CacheKey::new("GET /repos/o/r/issues/1", "");
        let mut header = ResponseHeader::build(200, None).unwrap();
        header.insert_header("etag", "W/\"abc\"").unwrap();
        let stored = SystemTime::now() - Duration::from_secs(30);
        let fresh_until = stored + Duration::from_secs(60);
        let mut miss =
            s.get_miss_handler(&key, &CacheMeta::new(fresh_until, stored, 0, 3600, header), &span).await.unwrap();
        miss.write_body(Bytes::from_static(b"{}"), true).await.unwrap();
        miss.finish().await.unwrap();

        let (meta, _) = s.lookup(&key, &span).await.unwrap().unwrap();
        assert_eq!(meta.headers()["etag"], "W/\"abc\"");
        assert_eq!(meta.headers()["content-length"], "2", "a hit is sent with its length");
        assert_eq!(meta.fresh_until(), fresh_until);
        assert_eq!(meta.stale_if_error_sec(), 3600);
        assert!((29..=31).contains(&meta.age().as_secs()), "age counts from when it was stored");

        let later = SystemTime::now() + Duration::from_secs(600);
        assert!(s
            .edit_meta(&key.combined_bin(), |m| {
                m.update_freshness(later, 0, 3600);
                m.response_header_mut().insert_header("x-mark", "1").unwrap();
            })
            .unwrap());
        let (meta, _) = s.lookup(&key, &span).await.unwrap().unwrap();
        assert_eq!((meta.fresh_until(), meta.headers()["x-mark"].as_bytes()), (later, &b"1"[..]));
        assert!(meta.age().as_secs() < 2, "a revalidation restarts the age");
    }
}
