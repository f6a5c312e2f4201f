//! The Pingora glue: the one module that knows `ProxyHttp`. Each hook reads the request, calls a
//! decision function from the modules beside it, and applies the result — nothing more.
//!
//! ```text
//! client ─► request_filter ─► request_cache_filter ─► cache_key_callback ─► [cache lookup]
//!            │ normalize, classify, allowlist          (pooled reads and      │ hit ─► cache_hit_filter
//!            │ (admit: access, admission, route, repos) GraphQL queries)    │        (no-cache, max-age)
//!            │ admin + refusals answered (admin, respond)                      ▼ miss / expired
//!            │ client named (fairness), public base (rewrite)           upstream_peer: fairness share,
//!            ▼                                                          pick identity (pool), wait ≤ cap
//!                 upstream_request_filter (outgoing): pool token or the client's; header allow-list;
//!                 validators only for the identity that fetched the entry ───────────────► GitHub
//! client ◄─ response_filter ◄─ [cache store] ◄─ upstream_response_body_filter ◄─ upstream_response_filter
//!    X-Ghpool-Cache; writes purge       (cache)   learn repo ids, strip permissions,    budgets; limited or
//!    what they change (cache)                     screen, rewrite URLs (answer)         bad token → fail over
//! logging (record): one line per request, audit line per write, metrics, closed entries kept longer
//! large GraphQL mutations are sent by ghpool itself from request_filter (large).
//! ```
//! Must never: forward a client's token on a pooled read, or a pool token on a write.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use pingora_cache::{CacheKey, CacheMeta, ForcedFreshness, HitHandler, NoCacheReason, RespCacheable};
use pingora_core::upstreams::peer::HttpPeer;
use pingora_core::{Error, ErrorType, Result};
use pingora_http::{RequestHeader, ResponseHeader};
use pingora_proxy::{FailToProxy, ProxyHttp, Session};

use crate::admission::access::Allowlist;
use crate::admission::classify::{Flow, GraphqlRules, Plan, ReadOf, WriteOf};
use crate::admission::repos::RepoOwners;
use crate::cache::invalidate::Invalidation;
use crate::cache::{key, Cache, Outcome, CLOSED_HEADER, IDENTITY_HEADER};
use crate::ops::admin::{self, AdminView};
use crate::ops::audit::Auditor;
use crate::ops::metrics::Metrics;
use crate::pool::{tag_identity, Pool, Want};
use crate::reply::Refusal;
use crate::upstream::ResolvedUpstream;

mod admit;
mod answer;
mod ctx;
mod io;
mod large;
mod lookup;
mod outgoing;
mod record;
mod retry;

pub use ctx::RequestCtx;
use io::{refuse, send};

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
}

/// The identity was limited or refused and nothing has reached the client: drop its lease and let
/// Pingora retry; `upstream_peer` picks another identity, or answers 429/503 when none is left.
fn fail_over(ctx: &mut RequestCtx, status: u16) -> Box<Error> {
    ctx.attempt.lease = None;
    ctx.attempt.failing_over = true;
    let mut e = Error::explain(ErrorType::HTTPStatus(status), "identity limited or refused; failing over");
    e.set_retry(true);
    e
}

impl Ghpool {
    fn invalidate(&self, what: &Invalidation) {
        let removed = self.cache.invalidate(what);
        log::debug!("a write purged {removed} cached entries ({what:?})");
    }

    fn admin_view(&self) -> AdminView<'_> {
        AdminView {
            pool: &self.pool,
            metrics: &self.metrics,
            upstream_base: self.upstream.upstream().base_url(),
            upstream_resolved: self.upstream.addr().is_some(),
            started: self.started,
            cache: self.cache.snapshot(),
            clients: self.fairness.usage(),
        }
    }
}

#[async_trait]
impl ProxyHttp for Ghpool {
    type CTX = RequestCtx;

    fn new_ctx(&self) -> RequestCtx {
        RequestCtx::new()
    }

    /// Admit (`admit`: the plan, or a refusal), and answer locally when the answer is ours to give
    /// (admin endpoints, refusals); a large mutation is sent from here (`large`).
    async fn request_filter(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
        let plan = match self.admit(session, ctx).await {
            Ok(plan) => plan,
            Err(refusal) => {
                // A body, if one was sent, was not read: the connection cannot be reused safely.
                let method = &session.req_header().method;
                if method != http::Method::GET && method != http::Method::HEAD {
                    session.set_keepalive(None);
                }
                let r = refusal.reply();
                send(session, r.status, &r.headers, r.body).await?;
                return Ok(true);
            }
        };
        let large_body = plan.large_body().cloned();
        let admin = match plan.flow {
            Flow::Admin(path) => Some(path),
            _ => None,
        };
        ctx.plan = Some(plan);
        if let Some(path) = admin {
            let accept = session.req_header().headers.get("accept").and_then(|v| v.to_str().ok());
            let r = admin::reply(path, accept, &self.admin_view());
            send(session, r.status, &r.headers, r.body).await?;
            return Ok(true);
        }
        if let Some(body) = large_body {
            self.send_large_mutation(session, ctx, body).await?;
            return Ok(true);
        }
        Ok(false)
    }

    /// Pooled reads and GraphQL queries are cached; nothing else is.
    fn request_cache_filter(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<()> {
        if ctx.plan.as_ref().is_some_and(|p| p.read().is_some()) {
            let c = &self.cache;
            // A HEAD miss does not fill the entry: a lock it took would be left for the next GET
            // to wait out.
            let lock = (session.req_header().method != http::Method::HEAD).then_some(c.lock);
            session.cache.enable(c.storage, None, None, lock, None);
        }
        Ok(())
    }

    /// The plan's primary key (with the client's view of ghpool: answers are stored rewritten
    /// for it) and its tags.
    fn cache_key_callback(&self, session: &Session, ctx: &mut RequestCtx) -> Result<CacheKey> {
        let Some((plan, read)) = ctx.plan.as_ref().and_then(|p| Some((p, p.read()?))) else {
            return Error::e_explain(ErrorType::InternalError, "cache key without a read");
        };
        let headers = &session.req_header().headers;
        let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let primary = match &read.of {
            ReadOf::Graphql { request: g, .. } => {
                key::graphql_key(&g.normalized, &g.variables, g.operation_name.as_deref(), get)
            }
            ReadOf::Rest { .. } => key::rest_key(&plan.target.path, plan.target.query.as_deref(), get),
        };
        let (key, hash, writes) = self.cache.key(&format!("{}\n{primary}", plan.public_base), read.tags.clone());
        ctx.cache_key = Some((hash, writes));
        Ok(key)
    }

    /// A client's `Cache-Control: no-cache` (or a `max-age` shorter than the entry's age) makes a
    /// fresh entry revalidate.
    async fn cache_hit_filter(
        &self,
        session: &mut Session,
        meta: &CacheMeta,
        _hit: &mut HitHandler,
        is_fresh: bool,
        _ctx: &mut RequestCtx,
    ) -> Result<Option<ForcedFreshness>> {
        let cache_control = session.req_header().headers.get("cache-control").and_then(|v| v.to_str().ok());
        match is_fresh && crate::cache::client_wants_fresher(cache_control, meta.age()) {
            true => Ok(Some(ForcedFreshness::ForceExpired)),
            false => Ok(None),
        }
    }

    fn response_cache_filter(
        &self,
        _session: &Session,
        resp: &ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<RespCacheable> {
        let (graphql, path) = match &ctx.plan {
            Some(plan) => (plan.graphql().is_some(), plan.target.path.as_str()),
            None => (false, ""),
        };
        match self.cache.meta_for(graphql, path, resp) {
            Some(meta) => Ok(RespCacheable::Cacheable(meta)),
            None => Ok(RespCacheable::Uncacheable(NoCacheReason::OriginNotCache)),
        }
    }

    /// When GitHub fails, an expired entry within `stale_if_error` is served instead (Pingora
    /// checks the window); so is one when every identity's budget is spent.
    fn should_serve_stale(&self, _session: &mut Session, ctx: &mut RequestCtx, error: Option<&Error>) -> bool {
        let Some(error) = error else { return false };
        error.esource() == &pingora_core::ErrorSource::Upstream
            || matches!(ctx.refusal, Some(Refusal::Exhausted { .. } | Refusal::NoIdentity))
    }

    /// Pick the identity here, once the cache has had its say: a hit costs no budget.
    async fn upstream_peer(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<Box<HttpPeer>> {
        let pooled = ctx.plan.as_ref().is_some_and(|p| p.read().is_some());
        if pooled && ctx.attempt.lease.is_none() {
            // A request is charged to its client once, however many identities it tries.
            // Named only here, on the way upstream: a cache hit does not digest a token.
            if let Err(refusal) = self.charge(session, ctx) {
                return Err(refuse(ctx, refusal));
            }
            let fetched_by = session.cache.maybe_cache_meta().and_then(|m| m.headers().get(IDENTITY_HEADER));
            let preferred = fetched_by.and_then(|v| v.to_str().ok()).map(tag_identity);
            let picked = match ctx.plan.as_ref().and_then(Plan::read) {
                Some(read) => {
                    let owners: Vec<&str> = read.owners.iter().map(String::as_str).collect();
                    let want = Want { resource: read.resource, owners: &owners, preferred, wait: self.queue_timeout };
                    self.pool.pick(&want).await
                }
                None => return Error::e_explain(ErrorType::InternalError, "pooled without a read"),
            };
            match picked {
                Ok(lease) => ctx.attempt.lease = Some(lease),
                Err(e) => return Err(refuse(ctx, Refusal::from(e))),
            }
        }
        let addr = match self.upstream.addr() {
            Some(addr) => addr,
            None => self
                .upstream
                .refresh()
                .await
                .map_err(|e| Error::because(ErrorType::ConnectNoRoute, "upstream host does not resolve", e))?,
        };
        let up = self.upstream.upstream();
        let mut peer = HttpPeer::new(addr, up.tls(), up.host().to_string());
        peer.options.connection_timeout = Some(self.timeouts.connect);
        peer.options.read_timeout = Some(self.timeouts.read);
        peer.options.idle_timeout = Some(self.timeouts.idle);
        Ok(Box::new(peer))
    }

    /// Point the request at GitHub and give it the right credential.
    /// A screened query goes upstream probed: the probed body replaces the client's (read whole
    /// before, and replayed by Pingora on every attempt).
    async fn request_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        _end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        if let Some(probed) = ctx.plan.as_ref().and_then(Plan::probed) {
            if body.as_ref().is_some_and(|b| !b.is_empty()) {
                let first = !std::mem::replace(&mut ctx.attempt.probe_sent, true);
                *body = Some(if first { probed.clone() } else { Bytes::new() });
            }
        }
        Ok(())
    }

    /// Point the request at GitHub with the right credential and only the headers checked
    /// (`outgoing`).
    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        req: &mut RequestHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        self.prepare_outgoing(session, req, ctx)
    }

    /// Learn the identity's budget from GitHub's answer; hide what describes the pool's token.
    async fn upstream_response_filter(
        &self,
        _session: &mut Session,
        resp: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        self.take_answer_header(resp, ctx)
    }

    /// Say what the cache did, keep ghpool's bookkeeping header to itself, point GitHub's absolute
    /// URLs at ghpool, and purge what a successful write made stale.
    async fn response_filter(
        &self,
        session: &mut Session,
        resp: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        resp.remove_header(IDENTITY_HEADER);
        resp.remove_header(CLOSED_HEADER);
        let Some(plan) = &ctx.plan else { return Ok(()) };
        let outcome = match plan.read() {
            Some(_) => Outcome::from_phase(&session.cache.phase()),
            None => Outcome::Bypass,
        };
        self.cache.record(outcome);
        resp.insert_header("x-ghpool-cache", outcome.label())?;
        // A hit's header was rewritten before it was stored.
        if outcome != Outcome::Hit {
            self.rewrite_headers(resp, &plan.public_base)?;
        }
        if let (Some(write), true) = (plan.write(), resp.status.is_success()) {
            match write.of {
                // A mutation's 200 may say it changed nothing (`errors`, no data): decided when
                // its body has been read (`logging` purges).
                WriteOf::Mutation { .. } => ctx.answered.purge = true,
                WriteOf::Rest => self.invalidate(&write.purge),
            }
        }
        Ok(())
    }

    /// Hold a JSON answer whole, then learn repository owners from it, strip the pool identity's
    /// `permissions` (pooled answers) and point its URLs at ghpool — before the cache stores it, so
    /// hits, revalidations and stale answers serve the rewritten bytes as they are (the public base
    /// is part of the cache key).
    fn upstream_response_body_filter(
        &self,
        session: &mut Session,
        body: &mut Option<Bytes>,
        end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> Result<Option<Duration>> {
        self.hold_answer_body(session, body, end_of_stream, ctx)
    }

    /// Whether a failed attempt goes upstream again: `retry::decide` (failover, one reconnect for
    /// pooled reads, Pingora's default otherwise).
    fn error_while_proxy(
        &self,
        peer: &HttpPeer,
        session: &mut Session,
        e: Box<Error>,
        ctx: &mut RequestCtx,
        client_reused: bool,
    ) -> Box<Error> {
        let mut e = e.more_context(format!("Peer: {peer}"));
        self.apply_retry_policy(session, &mut e, ctx, client_reused);
        e
    }

    fn fail_to_connect(
        &self,
        session: &mut Session,
        _peer: &HttpPeer,
        ctx: &mut RequestCtx,
        e: Box<Error>,
    ) -> Box<Error> {
        let mut e = e;
        // Nothing was sent: Pingora's own verdict on the error stands unless the policy says retry.
        if ctx.attempt.failing_over || ctx.attempt.lease.is_some() {
            self.apply_retry_policy(session, &mut e, ctx, false);
        }
        e
    }

    async fn fail_to_proxy(&self, session: &mut Session, e: &Error, ctx: &mut RequestCtx) -> FailToProxy {
        let refusal = match e.etype() {
            _ if ctx.refusal.is_some() => ctx.refusal.clone(),
            ErrorType::ConnectTimedout | ErrorType::ReadTimedout | ErrorType::WriteTimedout => {
                Some(Refusal::GatewayTimeout)
            }
            _ if e.esource() == &pingora_core::ErrorSource::Upstream => {
                Some(Refusal::BadGateway(e.etype().as_str().to_string()))
            }
            _ if e.esource() == &pingora_core::ErrorSource::Downstream => None,
            _ => Some(Refusal::BadGateway("internal error".into())),
        };
        let Some(refusal) = refusal else {
            return FailToProxy { error_code: 0, can_reuse_downstream: false };
        };
        let r = refusal.reply();
        if session.response_written().is_none() {
            if let Err(err) = send(session, r.status, &r.headers, r.body).await {
                log::debug!("could not send the error reply: {err}");
            }
        }
        FailToProxy { error_code: r.status, can_reuse_downstream: false }
    }

    /// One line per request for operators, and the request metrics.
    async fn logging(&self, session: &mut Session, _e: Option<&Error>, ctx: &mut RequestCtx) {
        self.record(session, ctx).await
    }
}
