//! Read-your-writes across replicas: each tag's write generation in Redis, bumped by a write before
//! its answer leaves, read with every hit. A generation never goes back to a value it had (a
//! missing one starts from Redis' clock), and writes Redis did not hear of are kept until it does.
//! Must never: let an entry filled before a write be taken for current after it.

use std::sync::atomic::Ordering;

use super::{lock, Shared, EVERYTHING};

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

    pub(super) async fn bump_now(&self, tags: &[String], moves_state: bool) -> bool {
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
