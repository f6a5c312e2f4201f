//! What the pool shares across replicas: what each learned of an identity (budgets, holds, the
//! digest of a refused token), the requests each has in flight with it, and each client's share.
//! Must never: hold a token (identities by id, tokens by digest, clients by `fairness` name).

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::Shared;
use crate::clock::now_millis;

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

impl Shared {
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
}
