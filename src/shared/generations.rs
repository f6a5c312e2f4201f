//! Read-your-writes across replicas: each tag's write generation in Redis, bumped by a write before
//! its answer leaves, read with every hit. A generation never goes back to a value it had (a
//! missing one starts from Redis' clock), and writes Redis did not hear of are kept until it does.
//! Must never: let an entry filled before a write be taken for current after it.

use std::sync::atomic::Ordering;

use std::time::{Duration, Instant};

use super::view::{Bump, Renewal, LEASE, RENEW};
use super::{lock, Shared, EVERYTHING};

/// The write generation of each tag in `KEYS`. A tag never written, or whose key Redis evicted or
/// expired (`ARGV[1]` ms after its creation or last bump), starts at Redis' clock in microseconds —
/// never at a value it had before, so an entry filled under the old value is never taken for
/// current. (The TTL keeps tags clients make up evictable: a made-up repository name is a key.)
const READ_GENERATIONS: &str = r#"
local t = redis.call('TIME')
local fresh = t[1] .. string.format('%06d', tonumber(t[2]))
local out = {}
for i, key in ipairs(KEYS) do
  local v = redis.call('GET', key)
  if not v then
    redis.call('SET', key, fresh, 'NX', 'PX', ARGV[1])
    v = redis.call('GET', key)
  end
  out[i] = v
end
return out
"#;

/// A write changed what the tags name: each generation moves on (from Redis' clock when the key is
/// gone, as in [`READ_GENERATIONS`]), the bump is numbered (`KEYS[1]`, from Redis' clock when gone:
/// a number never comes back) and published (`ARGV[1]`) with the tags (`ARGV[2..]`) and their new
/// generations. Returns the number, Redis' time (ms), then each replica whose copy is leased
/// (`KEYS[2]`) with the lease's end: the write's answer waits for their acknowledgements.
const BUMP_GENERATIONS: &str = r#"
local t = redis.call('TIME')
local fresh = t[1] .. string.format('%06d', tonumber(t[2]))
local now = string.format('%d', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
local function bump(key)
  if redis.call('EXISTS', key) == 1 then redis.call('INCR', key) else redis.call('SET', key, fresh) end
  return redis.call('GET', key)
end
local seq = bump(KEYS[1])
local g = {}
for i = 3, #KEYS do
  g[#g + 1] = {ARGV[i], bump(KEYS[i])}
  redis.call('PEXPIRE', KEYS[i], ARGV[2])
end
redis.call('PUBLISH', ARGV[1], cjson.encode({s = seq, g = g}))
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local out = {seq, now}
for _, v in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. now, '+inf', 'WITHSCORES')) do out[#out + 1] = v end
return out
"#;

/// A replica's lease on its copy (`view`): registered in `KEYS[2]` until Redis' time plus
/// `ARGV[3]` ms only when the bumps it has applied (`ARGV[2]`) are Redis' numbering (`KEYS[1]`)
/// exactly (a numbering that went back — a Redis that lost its state — is not caught up with).
/// Returns the numbering and `1` when registered. The set has no TTL (an eviction policy must not
/// take it: writers would stop waiting); it drops lapsed leases itself.
const RENEW_LEASE: &str = r#"
local seq = redis.call('GET', KEYS[1]) or '0'
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', string.format('%d', now))
if tonumber(ARGV[2]) == tonumber(seq) then
  redis.call('ZADD', KEYS[2], string.format('%d', now + tonumber(ARGV[3])), ARGV[1])
  return {seq, '1'}
end
return {seq, '0'}
"#;

/// How long a tag's generation is kept after its creation or last bump.
const GENERATION_TTL_MS: u64 = 24 * 3600 * 1000;

/// How long a replica's acknowledgement is kept (a writer reads it within a lease).
const ACK_TTL_MS: u64 = 60_000;

/// How often a writer looks for the acknowledgements its answer waits for.
const ACK_POLL: Duration = Duration::from_millis(1);

/// How long the subscription may take to be made.
const SUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Past this many tags of writes Redis missed, `*` stands for all of them.
const MAX_UNPUBLISHED: usize = 1024;

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

impl Shared {
    /// The current write generation of each tag, in order: from this replica's copy under its lease,
    /// else from Redis (and kept in the copy); `None` when Redis cannot say.
    pub async fn generations(&self, tags: &[String]) -> Option<Vec<u64>> {
        if let Some(generations) = self.view.generations(tags, Instant::now()) {
            self.counters.generations_local.fetch_add(1, Ordering::Relaxed);
            return Some(generations);
        }
        let epoch = self.view.epoch();
        let keys: Vec<String> = tags.iter().map(|t| self.key("g", t)).collect();
        let values: Vec<u64> = self
            .request_call("GENERATIONS", |mut c| async move {
                let script = redis::Script::new(READ_GENERATIONS);
                let mut invocation = script.prepare_invoke();
                for key in &keys {
                    invocation.key(key);
                }
                invocation.arg(GENERATION_TTL_MS).invoke_async(&mut c).await
            })
            .await?;
        if values.len() != tags.len() {
            return None;
        }
        self.counters.generations_asked.fetch_add(1, Ordering::Relaxed);
        self.view.learn(epoch, tags, &values);
        Some(values)
    }

    /// A write changed what `tags` name: bump their generations (one round trip), so every
    /// replica's next read of an entry carrying one revalidates it. `false` when Redis could not
    /// be told.
    pub async fn bump(&self, tags: &[String]) -> bool {
        if tags.is_empty() {
            return true;
        }
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

    /// Bump `tags` in Redis, then wait (at most each lease) for the replicas whose copies are
    /// leased to acknowledge it: when this returns, every replica's next read sees the write.
    pub(super) async fn bump_now(&self, tags: &[String], moves_state: bool) -> bool {
        let mut keys = vec![self.key("s", ""), self.key("l", "")];
        keys.extend(tags.iter().map(|t| self.key("g", t)));
        let mut args = vec![self.channel.clone(), GENERATION_TTL_MS.to_string()];
        args.extend(tags.iter().cloned());
        let answer: Option<Vec<String>> = self
            .call_with("BUMP", self.timeout, moves_state, |mut c| async move {
                let script = redis::Script::new(BUMP_GENERATIONS);
                let mut invocation = script.prepare_invoke();
                for key in &keys {
                    invocation.key(key);
                }
                for arg in &args {
                    invocation.arg(arg);
                }
                invocation.invoke_async(&mut c).await
            })
            .await;
        let Some(answer) = answer else { return false };
        self.counters.invalidations.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        if let Some((seq, leases)) = leases_to_wait_for(&answer) {
            self.wait_for_acks(seq, leases, started).await;
        }
        self.round_trip.with_label_values(&["ACKS"]).observe(started.elapsed().as_secs_f64());
        true
    }

    /// Wait until each replica in `leases` (with how long its lease runs, from `started`) has
    /// acknowledged bump `seq`, or its lease has run out.
    async fn wait_for_acks(&self, seq: u64, leases: Vec<(String, Duration)>, started: Instant) {
        let mut pending: Vec<(String, Duration)> =
            leases.into_iter().map(|(replica, until)| (self.key("a", &replica), until)).collect();
        loop {
            pending.retain(|(_, until)| started.elapsed() < *until);
            if pending.is_empty() {
                return;
            }
            let keys: Vec<String> = pending.iter().map(|(key, _)| key.clone()).collect();
            // Never past the last lease's end, however slow Redis is.
            let left =
                pending.iter().map(|(_, until)| *until).max().unwrap_or_default().saturating_sub(started.elapsed());
            let acks: Option<Vec<Option<u64>>> = self
                .call_with("MGET", left.min(self.timeout), false, |mut c| async move {
                    redis::cmd("MGET").arg(&keys).query_async(&mut c).await
                })
                .await;
            if let Some(acks) = acks.filter(|a| a.len() == pending.len()) {
                let mut acks = acks.into_iter();
                pending.retain(|_| acks.next().flatten().is_none_or(|ack| ack < seq));
            }
            if !pending.is_empty() {
                tokio::time::sleep(ACK_POLL).await;
            }
        }
    }

    /// Follow the bumps every replica publishes into this replica's copy, renewing its lease, until
    /// shutdown: a subscription lost (Redis restarted, unreachable) is made again every second.
    pub async fn follow_bumps(&self, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        loop {
            if let Some(pubsub) = self.subscribe().await {
                self.follow(pubsub, &mut shutdown).await;
                self.view.unsubscribed();
            }
            if *shutdown.borrow() {
                break;
            }
            tokio::select! {
                _ = shutdown.changed() => break,
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
        // Writers need not wait for a replica that is going away.
        self.view.unsubscribed();
        let (leases, replica) = (self.key("l", ""), self.replica.clone());
        let _: Option<i64> = self
            .call_with("ZREM", self.timeout, false, |mut c| async move {
                redis::cmd("ZREM").arg(&leases).arg(replica).query_async(&mut c).await
            })
            .await;
    }

    /// Subscribe, then start the copy from Redis' numbering as it stands (every later bump reaches
    /// this subscription).
    async fn subscribe(&self) -> Option<redis::aio::PubSub> {
        let channel = self.channel.clone();
        let made = tokio::time::timeout(SUBSCRIBE_TIMEOUT, async {
            let mut pubsub = self.client().get_async_pubsub().await?;
            pubsub.subscribe(&channel).await?;
            Ok::<_, redis::RedisError>(pubsub)
        })
        .await;
        let pubsub = match made {
            Ok(Ok(pubsub)) => pubsub,
            Ok(Err(e)) => {
                log::debug!("no subscription to bumps: {:?}", e.kind());
                return None;
            }
            Err(_) => return None,
        };
        let seq = self.key("s", "");
        let at: Option<Option<u64>> = self
            .call_with("GET", self.timeout, false, |mut c| async move {
                redis::cmd("GET").arg(&seq).query_async(&mut c).await
            })
            .await;
        self.view.subscribed(at?.unwrap_or(0));
        Some(pubsub)
    }

    /// Apply bumps as they come and renew the lease, until the subscription ends or lags too long.
    async fn follow(&self, mut pubsub: redis::aio::PubSub, shutdown: &mut tokio::sync::watch::Receiver<bool>) {
        use futures_util::{FutureExt, StreamExt};
        let mut renew = tokio::time::interval(RENEW);
        renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut messages = pubsub.on_message();
        loop {
            tokio::select! {
                _ = shutdown.changed() => return,
                message = messages.next() => {
                    let Some(message) = message else { return };
                    let mut applied = self.apply(&message);
                    // Whatever else has come is applied too, then acknowledged at once (the last
                    // number stands for every one before it).
                    while let Some(Some(message)) = messages.next().now_or_never() {
                        applied = self.apply(&message).or(applied);
                    }
                    if let Some(applied) = applied.and(self.view.applied()) {
                        self.acknowledge(applied).await;
                    }
                }
                _ = renew.tick() => {
                    if self.renew().await == Renewal::Resubscribe {
                        return;
                    }
                }
            }
        }
    }

    /// Apply a published bump to the copy; the number to acknowledge. Unreadable: as a bump
    /// without a number, which drops the copy.
    fn apply(&self, message: &redis::Msg) -> Option<u64> {
        let bump =
            serde_json::from_slice(message.get_payload_bytes()).unwrap_or(Bump { s: String::new(), g: Vec::new() });
        self.view.apply(&bump)
    }

    /// Tell writers this replica's copy holds every bump up to `applied`.
    async fn acknowledge(&self, applied: u64) {
        let key = self.key("a", &self.replica);
        let _: Option<()> = self
            .call_with("ACK", self.timeout, false, |mut c| async move {
                redis::cmd("SET").arg(&key).arg(applied).arg("PX").arg(ACK_TTL_MS).query_async(&mut c).await
            })
            .await;
    }

    /// Renew the lease on the copy, registered in Redis, when every numbered bump is applied here.
    async fn renew(&self) -> Renewal {
        let Some(sent) = self.view.applied() else { return Renewal::Resubscribe };
        let started = Instant::now();
        let answer: Option<Vec<String>> = match self.is_up() {
            false => None,
            true => {
                let keys = [self.key("s", ""), self.key("l", "")];
                let (replica, lease) = (self.replica.clone(), LEASE.as_millis() as u64);
                self.call_with("RENEW", self.timeout, false, |mut c| async move {
                    let script = redis::Script::new(RENEW_LEASE);
                    script.key(&keys[0]).key(&keys[1]).arg(replica).arg(sent).arg(lease).invoke_async(&mut c).await
                })
                .await
            }
        };
        let (numbered, registered) = match answer.as_deref() {
            Some([seq, registered]) => (seq.parse().unwrap_or(u64::MAX), registered == "1"),
            _ => (u64::MAX, false),
        };
        self.view.renewed(started, sent, numbered, registered)
    }

    /// Is this replica's copy leased now?
    pub fn leased(&self) -> bool {
        self.view.in_lease(Instant::now())
    }
}

/// A bump's answer read: its number, and each leased replica with how long its lease still runs
/// (Redis' times; waited out on this replica's clock from when the answer came).
fn leases_to_wait_for(answer: &[String]) -> Option<(u64, Vec<(String, Duration)>)> {
    let seq = answer.first()?.parse().ok()?;
    let now: u64 = answer.get(1)?.parse().ok()?;
    let leases = answer[2..]
        .chunks_exact(2)
        .filter_map(|pair| {
            let until = pair[1].parse::<f64>().ok()? as u64;
            // Never longer than a lease: a foreign or broken score does not hold writes up.
            let runs = Duration::from_millis(until.saturating_sub(now)).min(LEASE);
            Some((pair[0].clone(), runs))
        })
        .collect();
    Some((seq, leases))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bump_waits_for_each_leased_replica_at_most_its_lease() {
        let answer = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let (seq, leases) =
            leases_to_wait_for(&answer(&["1796000000000123", "1000", "r1", "1150", "r2", "9999999", "r3", "x"]))
                .unwrap();
        assert_eq!(seq, 1796000000000123, "a number past Lua's printing precision is exact");
        assert_eq!(
            leases,
            vec![("r1".to_string(), Duration::from_millis(150)), ("r2".to_string(), LEASE)],
            "a score past a lease is cut to one; an unreadable one is skipped"
        );
        assert_eq!(leases_to_wait_for(&answer(&["7", "1000"])), Some((7, vec![])));
        assert_eq!(leases_to_wait_for(&answer(&["seven"])), None);
    }

    #[test]
    fn generations_are_kept_as_text() {
        let tags = |t: &[&str]| t.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let kept = format_generations(&tags(&["repo:acme/w", "*"]), &[3, 7]);
        assert!(kept.ends_with(":3,7"), "{kept}");
        assert_ne!(kept, format_generations(&tags(&["repoid:9", "*"]), &[3, 7]), "other tags, other value");
    }
}
