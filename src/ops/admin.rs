//! The local endpoints: `/healthz` (process up), `/readyz` (a usable identity and a resolved
//! upstream), `/stats` (JSON) and `/metrics` (Prometheus text; `/stats` replies the same to a
//! Prometheus `Accept`).
//!
//! Owns: what those endpoints say. Must never: show a token — identities appear by id and login.

use std::time::Instant;

use serde_json::json;

use crate::admission::classify::AdminPath;
use crate::cache::CacheSnapshot;
use crate::ops::metrics::Metrics;
use crate::pool::Pool;
use crate::reply::Reply;

pub const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Everything the admin endpoints read.
pub struct AdminView<'a> {
    pub pool: &'a Pool,
    pub metrics: &'a Metrics,
    pub upstream_base: String,
    pub upstream_resolved: bool,
    pub started: Instant,
    pub cache: CacheSnapshot,
    /// Per-client usage of the pool's budget (names never carry a token).
    pub clients: std::collections::BTreeMap<String, crate::pool::fairness::ClientUsage>,
    /// Sharing between replicas (`off` without `[shared]`).
    pub shared: crate::shared::SharedSnapshot,
    /// Each agent's requests and denials (none without agents).
    pub agents: Vec<crate::admission::agents::AgentUsage>,
    /// The TLS listener's certificate and the client certificates it verified (`None`: plain).
    pub tls: Option<crate::tls::TlsSnapshot>,
}

/// Does this `Accept` header ask for Prometheus' text format (as Prometheus' scraper sends it)?
pub fn wants_prometheus(accept: Option<&str>) -> bool {
    let Some(accept) = accept else { return false };
    let compact: String = accept.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_lowercase();
    compact.contains("application/openmetrics-text") || compact.contains("text/plain;version=0.0.4")
}

fn json_reply(status: u16, value: serde_json::Value) -> Reply {
    let headers = vec![("content-type", "application/json; charset=utf-8".to_string())];
    Reply { status, headers, body: value.to_string().into_bytes() }
}

/// What an admin endpoint says.
pub fn reply(path: AdminPath, accept: Option<&str>, view: &AdminView) -> Reply {
    match path {
        AdminPath::Healthz => json_reply(200, json!({"status": "ok"})),
        AdminPath::Readyz => {
            let usable = view.pool.usable_count();
            let ready = usable > 0 && view.upstream_resolved;
            let body = json!({
                "ready": ready,
                "usable_identities": usable,
                "identities": view.pool.identities().len(),
                "upstream_resolved": view.upstream_resolved,
            });
            json_reply(if ready { 200 } else { 503 }, body)
        }
        AdminPath::Metrics => prometheus(view),
        AdminPath::RateLimit => {
            let totals = view.pool.totals();
            json_reply(200, json!({ "resources": totals, "rate": totals.get("core") }))
        }
        // Minted per request by the proxy (`Flow::GitCredential`), never answered from here.
        AdminPath::GitCredential => json_reply(404, json!({"message": "Not Found"})),
        AdminPath::Stats if wants_prometheus(accept) => prometheus(view),
        AdminPath::Stats => json_reply(200, stats(view)),
    }
}

fn prometheus(view: &AdminView) -> Reply {
    let body = view.metrics.render(view.pool, &view.cache, &view.clients, &view.shared, &view.agents).into_bytes();
    Reply { status: 200, headers: vec![("content-type", PROMETHEUS_CONTENT_TYPE.to_string())], body }
}

fn stats(view: &AdminView) -> serde_json::Value {
    let (by_route, by_status) = view.metrics.request_counts();
    json!({
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_seconds": view.started.elapsed().as_secs(),
        "mode": if view.pool.is_anonymous() { "anonymous" } else { "pool" },
        "upstream": view.upstream_base,
        "identities": view.pool.snapshot(),
        "requests": { "by_route": by_route, "by_status": by_status },
        "cache": view.cache,
        "clients": view.clients,
        "agents": view.agents,
        "tls": view.tls,
        // `up`, `degraded` or `off`; the counters beside it.
        "shared": view.shared.state,
        "sharing": view.shared,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_accept_headers() {
        assert!(wants_prometheus(Some(
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
        )));
        assert!(wants_prometheus(Some("text/plain; version=0.0.4")));
        assert!(!wants_prometheus(Some("application/json")));
        assert!(!wants_prometheus(Some("*/*")));
        assert!(!wants_prometheus(None));
    }

    #[test]
    fn readyz_needs_a_resolved_upstream() {
        let pool = Pool::anonymous();
        let metrics = Metrics::new();
        let mut view = AdminView {
            pool: &pool,
            metrics: &metrics,
            upstream_base: "x".into(),
            upstream_resolved: false,
            started: Instant::now(),
            cache: CacheSnapshot::default(),
            clients: Default::default(),
            shared: crate::shared::SharedSnapshot::off(),
            agents: Vec::new(),
            tls: None,
        };
        assert_eq!(reply(AdminPath::Readyz, None, &view).status, 503);
        view.upstream_resolved = true;
        assert_eq!(reply(AdminPath::Readyz, None, &view).status, 200);
        let stats = reply(AdminPath::Stats, None, &view);
        let v: serde_json::Value = serde_json::from_slice(&stats.body).unwrap();
        assert_eq!(v["mode"], "anonymous");
        assert_eq!(v["identities"][0]["id"], "anonymous");
    }
}
