//! Fairness between clients: one runaway agent must not drain the pool for the others.
//!
//! Owns: telling clients apart (the `X-Ghpool-Client` header, a digest of the client's token, or
//! the source address), and a token bucket per client over the requests that cost pool budget
//! (cache hits are free; only requests that go upstream with a pool identity are charged).
//! Must never: use a raw token as a key or a label — a client known by its token is named by the
//! first 12 hex digits of its SHA-256.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::secrets::Secret;
use serde::Serialize;

/// Clients remembered at once; past this, idle clients (full buckets) are forgotten first.
const MAX_CLIENTS: usize = 10_000;
const MAX_HEADER_CHARS: usize = 64;

pub use crate::config::ClientKey;

/// The name a client goes by in buckets, `/stats` and metric labels.
/// `authorization` is the client's token only when GitHub has accepted it before (see
/// `Auditor::verified`): anything else could be minted per request, and falls back to the address.
pub fn client_name(
    kind: ClientKey,
    header: Option<&str>,
    authorization: Option<&str>,
    certificate: Option<&str>,
    addr: Option<IpAddr>,
) -> String {
    let from_header = || {
        header.map(str::trim).filter(|h| !h.is_empty()).map(|h| {
            let clean: String = h
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || "-_.:/@".contains(*c))
                .take(MAX_HEADER_CHARS)
                .collect();
            format!("client:{clean}")
        })
    };
    let from_token = || {
        authorization
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(|a| format!("token:{}", Secret::new(crate::secrets::bare_token(a)).fingerprint()))
    };
    // An IPv6 client is its /64: a host is handed a whole /64, and must not mint addresses.
    let from_addr = || match addr {
        Some(IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_none() => {
            let s = v6.segments();
            format!("address:{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Some(IpAddr::V6(v6)) => format!("address:{}", v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4)),
        Some(a) => format!("address:{a}"),
        None => "address:unknown".to_string(),
    };
    match kind {
        ClientKey::Header => from_header().or_else(from_token).unwrap_or_else(from_addr),
        ClientKey::Token => from_token().unwrap_or_else(from_addr),
        ClientKey::Address => from_addr(),
        // A verified client certificate's name (mutual TLS): the CA vouches for it.
        ClientKey::Certificate => match certificate {
            Some(name) => format!("certificate:{name}"),
            None => from_addr(),
        },
    }
}

/// How often a full table is swept for clients that owe nothing.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// The bucket new clients share while every tracked client still owes (see `Fairness::take`).
const OVERFLOW: &str = "overflow";

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
    charged: u64,
    refused: u64,
}

/// What `/stats` shows per client.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct ClientUsage {
    pub upstream_requests: u64,
    pub refused: u64,
}

/// Token buckets per client: `per_minute` requests a minute, bursts of up to `burst`.
pub struct Fairness {
    pub kind: ClientKey,
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
    /// When a full table was last swept for refilled buckets: at most once a second, so a flood
    /// of newcomers does not walk the whole table under the lock each.
    swept: Mutex<Option<Instant>>,
}

impl Fairness {
    /// `per_minute == 0` turns the limit off (usage is still counted).
    pub fn new(kind: ClientKey, per_minute: u64, burst: u64) -> Fairness {
        Fairness {
            kind,
            per_second: per_minute as f64 / 60.0,
            burst: burst.max(1) as f64,
            buckets: Mutex::new(HashMap::new()),
            swept: Mutex::new(None),
        }
    }

    fn limited(&self) -> bool {
        self.per_second > 0.0
    }

    /// Charge one upstream request to `client`, or say how long until it may send one.
    pub fn take(&self, client: &str, now: Instant) -> Result<(), Duration> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let mut client = client;
        if buckets.len() >= MAX_CLIENTS && !buckets.contains_key(client) {
            // Forget the clients whose buckets have refilled: they owe nothing.
            let mut swept = self.swept.lock().unwrap_or_else(|p| p.into_inner());
            if swept.is_none_or(|at| now.saturating_duration_since(at) >= SWEEP_EVERY) {
                *swept = Some(now);
                let (per_second, burst) = (self.per_second, self.burst);
                buckets.retain(|_, b| b.tokens + now.duration_since(b.at).as_secs_f64() * per_second < burst);
            }
            if buckets.len() >= MAX_CLIENTS {
                // Every client still owes: newcomers share one bucket rather than reset everyone's
                // (many source addresses must not buy a fresh share each).
                client = OVERFLOW;
            }
        }
        let bucket =
            buckets.entry(client.to_string()).or_insert(Bucket { tokens: self.burst, at: now, charged: 0, refused: 0 });
        if !self.limited() {
            bucket.charged += 1;
            return Ok(());
        }
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.per_second).min(self.burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            bucket.charged += 1;
            Ok(())
        } else {
            bucket.refused += 1;
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / self.per_second))
        }
    }

    /// The limit as replicas share it: one request every `interval`, bursts of `burst`; `None`
    /// when there is no limit.
    pub fn rate(&self) -> Option<(Duration, u64)> {
        self.limited().then(|| (Duration::from_secs_f64(1.0 / self.per_second), self.burst as u64))
    }

    /// [`Fairness::take`], unless the replicas' shared bucket already decided (`shared`): then
    /// that decision stands and is only counted here.
    pub fn settle(&self, client: &str, now: Instant, shared: Option<Result<(), Duration>>) -> Result<(), Duration> {
        let Some(decision) = shared else { return self.take(client, now) };
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let client = if buckets.len() >= MAX_CLIENTS && !buckets.contains_key(client) { OVERFLOW } else { client };
        let bucket =
            buckets.entry(client.to_string()).or_insert(Bucket { tokens: self.burst, at: now, charged: 0, refused: 0 });
        match decision {
            Ok(()) => bucket.charged += 1,
            Err(_) => bucket.refused += 1,
        }
        decision
    }

    /// The bucket `client` is charged to: its own, or the overflow one once the table is full of
    /// clients that still owe (a flood of new names must not buy a fresh share each — across
    /// replicas too, where this name keys the shared bucket).
    pub fn bucket_name<'a>(&self, client: &'a str) -> &'a str {
        let buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        match buckets.len() >= MAX_CLIENTS && !buckets.contains_key(client) {
            true => OVERFLOW,
            false => client,
        }
    }

    pub fn usage(&self) -> BTreeMap<String, ClientUsage> {
        let buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        buckets
            .iter()
            .map(|(name, b)| (name.clone(), ClientUsage { upstream_requests: b.charged, refused: b.refused }))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_never_show_a_token() {
        let t = client_name(ClientKey::Token, None, Some("token ghp_secret"), None, None);
        assert!(t.starts_with("token:") && !t.contains("secret"));
        assert_eq!(
            t,
            client_name(ClientKey::Token, None, Some("Bearer ghp_secret"), None, None),
            "one token, one client"
        );
        let h = client_name(ClientKey::Header, Some("agent-7\r\nx"), Some("token t"), None, None);
        assert_eq!(h, "client:agent-7x");
        let ip: IpAddr = "10.1.2.3".parse().unwrap();
        assert_eq!(client_name(ClientKey::Header, None, None, None, Some(ip)), "address:10.1.2.3");
        assert_eq!(client_name(ClientKey::Address, Some("a"), Some("token t"), None, Some(ip)), "address:10.1.2.3");
        let cert = |name| client_name(ClientKey::Certificate, Some("a"), Some("token t"), name, Some(ip));
        assert_eq!(cert(Some("agent-1")), "certificate:agent-1");
        assert_eq!(cert(None), "address:10.1.2.3", "no verified certificate: the address");
        // Red team of issue #20: an IPv6 host is its /64 (it cannot mint clients by address).
        let v6 = |a: &str| client_name(ClientKey::Address, None, None, None, Some(a.parse().unwrap()));
        assert_eq!(v6("2001:db8:1:2::5"), v6("2001:db8:1:2:ffff::9"));
        assert_eq!(v6("2001:db8:1:2::5"), "address:2001:db8:1:2::/64");
        assert_ne!(v6("2001:db8:1:2::5"), v6("2001:db8:1:3::5"));
        assert_eq!(v6("::ffff:10.1.2.3"), "address:10.1.2.3");
    }

    #[test]
    fn a_bucket_refuses_past_its_share_and_refills() {
        let f = Fairness::new(ClientKey::Header, 60, 3);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(f.take("greedy", t0).is_ok());
        }
        let wait = f.take("greedy", t0).unwrap_err();
        assert!(wait <= Duration::from_secs(1) && wait > Duration::ZERO);
        assert!(f.take("polite", t0).is_ok(), "another client is unaffected");
        assert!(f.take("greedy", t0 + Duration::from_millis(1100)).is_ok(), "one a second comes back");
        let usage = f.usage();
        assert_eq!(usage["greedy"], ClientUsage { upstream_requests: 4, refused: 1 });
    }

    /// Red team of issue #20: a client with many addresses cannot reset everyone's buckets by
    /// filling the table; newcomers share one bucket while every tracked client still owes.
    #[test]
    fn a_full_table_shares_one_bucket_among_newcomers_20() {
        let f = Fairness::new(ClientKey::Address, 60, 1);
        let t0 = Instant::now();
        for i in 0..MAX_CLIENTS {
            assert!(f.take(&format!("address:{i}"), t0).is_ok());
        }
        assert!(f.take("address:0", t0).is_err(), "a tracked client keeps its debt");
        assert!(f.take("address:new-1", t0).is_ok(), "the first newcomer takes the shared bucket");
        assert!(f.take("address:new-2", t0).is_err(), "the next shares it");
        assert!(f.take("address:0", t0).is_err(), "nobody was reset");
        // Within the second, no sweep: the next newcomer shares the bucket too.
        assert!(f.take("address:new-3", t0 + Duration::from_millis(500)).is_err());
        // Once buckets have refilled, a sweep forgets them and a newcomer gets its own again.
        let later = t0 + Duration::from_secs(5);
        assert!(f.take("address:new-4", later).is_ok());
        assert!(f.usage().contains_key("address:new-4"), "tracked on its own");
    }

    #[test]
    fn off_counts_but_never_refuses() {
        let f = Fairness::new(ClientKey::Token, 0, 1);
        let now = Instant::now();
        for _ in 0..100 {
            assert!(f.take("c", now).is_ok());
        }
        assert_eq!(f.usage()["c"].upstream_requests, 100);
    }
}
