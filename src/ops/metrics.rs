//! Prometheus metrics: the counters, gauges and histograms ghpool exports, in a registry of its own.
//!
//! Owns: metric names, labels and the text exposition. Labels are route names, status codes,
//! identity ids and resource names — never a token or anything derived from one.
//! Must never: make decisions; it only counts.

use std::collections::BTreeMap;
use std::time::Duration;

use prometheus::core::Collector;
use prometheus::{Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder};

use crate::cache::CacheSnapshot;
use crate::pool::Pool;

pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    upstream_requests: IntCounterVec,
    budget_remaining: IntGaugeVec,
    budget_limit: IntGaugeVec,
    identity_up: IntGaugeVec,
    installation: IntGaugeVec,
    token_expiry: IntGaugeVec,
    duration: HistogramVec,
    cache_size: IntGaugeVec,
    cache_events: IntCounterVec,
    client_requests: IntCounterVec,
    agent_requests: IntCounterVec,
    withheld: IntCounterVec,
    shared_up: IntGaugeVec,
    shared_state: IntGaugeVec,
    shared_events: IntCounterVec,
}

fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("static metric definition is valid");
    registry.register(Box::new(c.clone())).expect("metric names are unique");
    c
}

fn gauge(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let g = IntGaugeVec::new(Opts::new(name, help), labels).expect("static metric definition is valid");
    registry.register(Box::new(g.clone())).expect("metric names are unique");
    g
}

/// Bring a counter up to a running total kept elsewhere (counters only ever move forward).
fn advance(counter: &prometheus::IntCounter, total: u64) {
    counter.inc_by(total.saturating_sub(counter.get()));
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let requests = counter(
            &registry,
            "ghpool_requests_total",
            "Requests answered, by route and HTTP status.",
            &["route", "status"],
        );
        let upstream_requests = counter(
            &registry,
            "ghpool_upstream_requests_total",
            "Requests sent to GitHub with a pool identity, by identity and rate-limit resource.",
            &["identity", "resource"],
        );
        let budget_remaining = gauge(
            &registry,
            "ghpool_rate_limit_remaining",
            "Requests left in the current window, by identity and resource, as GitHub last reported.",
            &["identity", "resource"],
        );
        let budget_limit = gauge(
            &registry,
            "ghpool_rate_limit_limit",
            "Requests allowed per window, by identity and resource.",
            &["identity", "resource"],
        );
        let identity_up = gauge(
            &registry,
            "ghpool_identity_usable",
            "1 when the identity serves reads, 0 when quarantined.",
            &["identity"],
        );
        let installation = gauge(
            &registry,
            "ghpool_app_installation",
            "1 for each identity that is a GitHub App installation, labelled with what it is.",
            &["identity", "app_id", "installation_id", "account"],
        );
        let token_expiry = gauge(
            &registry,
            "ghpool_token_expiry_timestamp_seconds",
            "When the identity's token expires (epoch s), where GitHub says.",
            &["identity"],
        );
        let duration = HistogramVec::new(
            HistogramOpts::new("ghpool_request_duration_seconds", "Time from request to last byte, by route.")
                .buckets(vec![0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]),
            &["route"],
        )
        .expect("static metric definition is valid");
        registry.register(Box::new(duration.clone())).expect("metric names are unique");
        let cache_size =
            gauge(&registry, "ghpool_cache_size", "Cache size: entries, bytes and the bytes bound.", &["measure"]);
        let cache_events = counter(
            &registry,
            "ghpool_cache_events_total",
            "Cache events: hit, miss, revalidation, not_modified (GitHub's free 304s), stale_served, refetched_after_rotation, eviction, purge.",
            &["event"],
        );
        let client_requests = counter(
            &registry,
            "ghpool_client_requests_total",
            "Requests that cost pool budget, by client (as fairness names them) and outcome (upstream, refused).",
            &["client", "outcome"],
        );
        let agent_requests = counter(
            &registry,
            "ghpool_agent_requests_total",
            "Requests of each keyed agent, by outcome: served (admitted), denied (outside its repositories, or refused otherwise), brokered_write (sent with a token minted for it), git_credential (a token minted for git).",
            &["agent", "outcome"],
        );
        let withheld = counter(
            &registry,
            "ghpool_withheld_objects_total",
            "Objects of owners outside the allowlist removed from pooled answers, by API (rest, graphql).",
            &["api"],
        );
        let shared_up = gauge(
            &registry,
            "ghpool_shared_up",
            "1 while replicas share state through Redis, 0 while degraded (each replica alone); absent without [shared].",
            &[],
        );
        let shared_state = gauge(
            &registry,
            "ghpool_shared",
            "1 for the state sharing through Redis is in (up or degraded), 0 for the other; absent without [shared].",
            &["state"],
        );
        let shared_events = counter(
            &registry,
            "ghpool_shared_events_total",
            "Shared state through Redis: l2_hit, l2_miss, l2_unreadable, l2_store, coalesced, error, invalidation, stale_by_generation, generations_local, generations_asked.",
            &["event"],
        );
        Metrics {
            shared_up,
            shared_state,
            shared_events,
            withheld,
            client_requests,
            agent_requests,
            registry,
            requests,
            upstream_requests,
            budget_remaining,
            budget_limit,
            identity_up,
            installation,
            token_expiry,
            duration,
            cache_size,
            cache_events,
        }
    }

    pub fn request_done(&self, route: &str, status: u16, elapsed: Duration) {
        self.requests.with_label_values(&[route, &status.to_string()]).inc();
        self.duration.with_label_values(&[route]).observe(elapsed.as_secs_f64());
    }

    pub fn withheld(&self, api: &str, objects: usize) {
        self.withheld.with_label_values(&[api]).inc_by(objects as u64);
    }

    pub fn upstream_request(&self, identity: &str, resource: &str) {
        self.upstream_requests.with_label_values(&[identity, resource]).inc();
    }

    /// Requests answered so far, summed by route and by status.
    pub fn request_counts(&self) -> (BTreeMap<String, u64>, BTreeMap<String, u64>) {
        let mut by_route = BTreeMap::new();
        let mut by_status = BTreeMap::new();
        for family in self.requests.collect() {
            for m in family.get_metric() {
                let value = m.get_counter().get_value() as u64;
                for label in m.get_label() {
                    let map = match label.name() {
                        "route" => &mut by_route,
                        "status" => &mut by_status,
                        _ => continue,
                    };
                    *map.entry(label.value().to_string()).or_insert(0) += value;
                }
            }
        }
        (by_route, by_status)
    }

    /// Bring the cache metrics up to a snapshot (counters only ever move forward).
    fn sync_cache(&self, cache: &CacheSnapshot) {
        for (measure, value) in [("entries", cache.entries), ("bytes", cache.bytes), ("max_bytes", cache.max_bytes)] {
            self.cache_size.with_label_values(&[measure]).set(value as i64);
        }
        let events = [
            ("hit", cache.hits),
            ("miss", cache.misses),
            ("revalidation", cache.revalidations),
            ("not_modified", cache.not_modified),
            ("stale_served", cache.stale_served),
            ("refetched_after_rotation", cache.refetched_after_rotation),
            ("eviction", cache.evictions),
            ("purge", cache.purges),
        ];
        for (event, total) in events {
            advance(&self.cache_events.with_label_values(&[event]), total);
        }
    }

    /// Export Redis' round trips as part of these metrics (`[shared]`).
    pub fn register_shared(&self, shared: &crate::shared::Shared) {
        if let Err(e) = self.registry.register(Box::new(shared.round_trip.clone())) {
            log::warn!("the shared round-trip histogram could not be registered: {e}");
        }
    }

    /// The text exposition, with budget gauges, cache and client metrics refreshed first.
    pub fn render(
        &self,
        pool: &Pool,
        cache: &CacheSnapshot,
        clients: &std::collections::BTreeMap<String, crate::pool::fairness::ClientUsage>,
        shared: &crate::shared::SharedSnapshot,
        agents: &[crate::admission::agents::AgentUsage],
    ) -> String {
        for agent in agents {
            let outcomes = [
                ("served", agent.requests),
                ("denied", agent.denials),
                ("brokered_write", agent.brokered_writes),
                ("git_credential", agent.git_credentials),
            ];
            for (outcome, total) in outcomes {
                advance(&self.agent_requests.with_label_values(&[&agent.id, outcome]), total);
            }
        }
        self.sync_cache(cache);
        if shared.state != "off" {
            self.shared_up.with_label_values::<&str>(&[]).set(i64::from(shared.state == "up"));
            for state in ["up", "degraded"] {
                self.shared_state.with_label_values(&[state]).set(i64::from(shared.state == state));
            }
            for (event, total) in shared.events() {
                advance(&self.shared_events.with_label_values(&[event]), total);
            }
        }
        for (client, usage) in clients {
            for (outcome, total) in [("upstream", usage.upstream_requests), ("refused", usage.refused)] {
                advance(&self.client_requests.with_label_values(&[client, outcome]), total);
            }
        }
        for identity in pool.snapshot() {
            let usable = matches!(identity.state, crate::pool::State::Ok);
            self.identity_up.with_label_values(&[&identity.id]).set(usable as i64);
            if let Some(app) = &identity.app {
                let (app_id, installation_id) = (app.app_id.to_string(), app.installation_id.to_string());
                self.installation.with_label_values(&[&identity.id, &app_id, &installation_id, &app.account]).set(1);
            }
            if let Some(expiry) = identity.token_expires.as_deref().and_then(crate::pool::apps::parse_time) {
                self.token_expiry.with_label_values(&[&identity.id]).set(expiry as i64);
            }
            for (resource, b) in &identity.resources {
                self.budget_remaining.with_label_values(&[&identity.id, resource]).set(b.remaining as i64);
                self.budget_limit.with_label_values(&[&identity.id, resource]).set(b.limit as i64);
            }
        }
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            log::error!("metrics encoding failed: {e}");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}
