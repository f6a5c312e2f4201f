//! What the hooks share: the pool, the cache, the allowlist, GitHub's address, the metrics and the
//! audit, built once at start (`service`).
//! Must never: hold per-request state (that is `ctx`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::admission::access::Allowlist;
use crate::admission::classify::GraphqlRules;
use crate::admission::repos::RepoOwners;
use crate::cache::invalidate::Invalidation;
use crate::cache::Cache;
use crate::ops::admin::AdminView;
use crate::ops::audit::Auditor;
use crate::ops::metrics::Metrics;
use crate::pool::Pool;
use crate::upstream::ResolvedUpstream;

/// How long to wait on GitHub.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub connect: Duration,
    pub read: Duration,
    pub idle: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts { connect: Duration::from_secs(10), read: Duration::from_secs(60), idle: Duration::from_secs(60) }
    }
}

/// Everything the hooks share.
pub struct Ghpool {
    pub pool: Arc<Pool>,
    pub allowlist: Allowlist,
    /// Keyed agents and their policies (issue #16); empty: network trust, as before.
    pub agents: Arc<crate::admission::agents::Agents>,
    /// Mints App installation tokens scoped to an agent's repositories and permissions.
    pub broker: Arc<crate::pool::broker::Broker>,
    pub upstream: Arc<ResolvedUpstream>,
    pub metrics: Arc<Metrics>,
    pub repos: Arc<RepoOwners>,
    pub auditor: Arc<Auditor>,
    pub cache: Arc<Cache>,
    pub fairness: Arc<crate::pool::fairness::Fairness>,
    /// `public_url` from the configuration, if set.
    pub public_url: Option<String>,
    /// For ghpool's own calls (repository owners).
    pub client: reqwest::Client,
    pub timeouts: Timeouts,
    /// How long a request waits for an identity below its in-flight cap.
    pub queue_timeout: Duration,
    pub started: Instant,
    /// App installations' token sources, handed to their background renewer at start.
    pub app_renewals: Vec<crate::pool::AppRenewal>,
    /// GitHub's GraphQL schema (or the one `[graphql] schema` names) and the bounds on documents.
    pub graphql: GraphqlRules,
    /// What replicas share through Redis (`[shared]`), if configured.
    pub shared: Option<Arc<crate::shared::Shared>>,
    /// `[tls]`: the listener's certificate (and client CA), refreshed with the other secrets.
    pub tls: Option<Arc<crate::tls::ListenerTls>>,
}

impl Ghpool {
    pub(super) fn invalidate(&self, what: &Invalidation) {
        let removed = self.cache.invalidate(what);
        log::debug!("a write purged {removed} cached entries ({what:?})");
    }

    pub(super) fn admin_view(&self) -> AdminView<'_> {
        AdminView {
            pool: &self.pool,
            metrics: &self.metrics,
            upstream_base: self.upstream.upstream().base_url(),
            upstream_resolved: self.upstream.addr().is_some(),
            started: self.started,
            cache: self.cache.snapshot(),
            clients: self.fairness.usage(),
            shared: self.shared.as_ref().map_or_else(crate::shared::SharedSnapshot::off, |s| s.snapshot()),
            agents: self.agents.usage(),
            tls: self.tls.as_ref().map(|t| t.snapshot()),
        }
    }
}
