//! The Pingora glue: the one module that knows `ProxyHttp`. Each hook reads what it is handed,
//! calls a decision function from the modules beside it or below, and applies the result.
//!
//! ```text
//! client ─► request_filter ─► request_cache_filter ─► cache_key_callback ─► [cache lookup]
//!            │ admit: body read, classify → Plan      (reads only)          │ hit ─► cache_hit_filter
//!            │ (owner asked, classified again)                              │        (no-cache, max-age)
//!            │ admin replies, refusals, large mutations                     ▼ miss / expired
//!            ▼                                                        upstream_peer: client charged,
//!                                                                     identity picked (pool), wait ≤ cap
//!                 upstream_request_filter (outgoing): pool token or the client's; header allow-list;
//!                 validators only for the identity that fetched the entry ───────────────► GitHub
//! client ◄─ response_filter ◄─ [cache store] ◄─ upstream_response_body_filter ◄─ upstream_response_filter
//!    X-Ghpool-Cache; a write purges      (cache)  held answers screened, repository    budgets; limited or
//!    what it changed                              owners learned, URLs rewritten       bad token → fail over
//!                                                 (answer)                             (answer::head)
//! logging (record): one line per request, audit line per write, metrics, a mutation's purge
//! ```
//!
//! The hooks below are in the order Pingora calls them. None of them may decide what the plan
//! already says, forward a client's token on a pooled read, or a pool token on a write.

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use pingora_cache::{CacheKey, CacheMeta, ForcedFreshness, HitHandler, NoCacheReason, RespCacheable};
use pingora_core::upstreams::peer::HttpPeer;
use pingora_core::{Error, ErrorType, Result};
use pingora_http::{RequestHeader, ResponseHeader};
use pingora_proxy::{FailToProxy, ProxyHttp, Session};

use crate::admission::classify::{Flow, Plan, ReadOf, WriteOf};
use crate::cache::{key, Outcome, CLOSED_HEADER, GENERATIONS_HEADER, IDENTITY_HEADER};
use crate::ops::admin;
use crate::pool::tag_identity;
use crate::reply::Refusal;

mod admit;
mod answer;
mod audited;
mod credential;
mod ctx;
mod io;
mod large;
mod lookup;
mod outgoing;
mod pick;
mod record;
mod retry;
mod state;

pub use ctx::RequestCtx;
use io::{refuse, send};
pub use state::{Ghpool, Timeouts};

/// The identity was limited or refused and nothing has reached the client: drop its lease and let
/// Pingora retry; `upstream_peer` picks another identity, or answers 429/503 when none is left.
fn fail_over(ctx: &mut RequestCtx, status: u16) -> Box<Error> {
    ctx.end_lease();
    ctx.attempt.failing_over = true;
    let mut e = Error::explain(ErrorType::HTTPStatus(status), "identity limited or refused; failing over");
    e.set_retry(true);
    e
}

#[async_trait]
impl ProxyHttp for Ghpool {
    type CTX = RequestCtx;

    fn new_ctx(&self) -> RequestCtx {
        RequestCtx::new()
    }

    /// 1. Admit the request (`admit`: its plan, or a refusal), and reply locally when the reply is
    /// ghpool's to give (admin endpoints, refusals); send a large mutation (`large`).
    /// Must never: let a request on without a plan, or read a body the plan does not need.
    async fn request_filter(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
        let admitted = match self.admit(session, ctx).await {
            // An agent's write goes with a token minted for it (`credential`).
            Ok(plan) => self.broker_write(plan).await,
            Err(refusal) => Err(refusal),
        };
        let plan = match admitted {
            Ok((plan, minted_on)) => {
                ctx.minted_on = minted_on;
                plan
            }
            Err(refusal) => {
                self.audit_denial(session, &refusal);
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
        // Ghpool sends a write itself when Pingora could not send it again (too large), an
        // agent's mutation (its answer screened), and, with replicas, every mutation: it reads the
        // answer before the client gets it, so the other replicas hear of a mutation that changed
        // something (and only of one) before its answer.
        let large_body = plan.sent_by_ghpool(self.shared.is_some()).cloned();
        let admin = match plan.flow {
            Flow::Admin(path) => Some(path),
            _ => None,
        };
        if let (Flow::GitCredential(wanted), Some(agent)) = (&plan.flow, &plan.agent) {
            let r = self.git_credential(agent, wanted).await;
            ctx.plan = Some(plan);
            send(session, r.status, &r.headers, r.body).await?;
            return Ok(true);
        }
        ctx.plan = Some(plan);
        // A write is recorded before it is sent; one that cannot be recorded is not sent.
        if let Err(refusal) = self.audit_decision(session, ctx).await {
            self.audit_denial(session, &refusal);
            session.set_keepalive(None);
            let r = refusal.reply();
            send(session, r.status, &r.headers, r.body).await?;
            return Ok(true);
        }
        if let Some(path) = admin {
            let accept = session.req_header().headers.get("accept").and_then(|v| v.to_str().ok());
            let r = admin::reply(path, accept, &self.admin_view());
            send(session, r.status, &r.headers, r.body).await?;
            return Ok(true);
        }
        if let Some(body) = large_body {
            self.send_write(session, ctx, body).await?;
            return Ok(true);
        }
        Ok(false)
    }

    /// 2. Reads (REST and GraphQL queries) are cached; nothing else is.
    /// Must never: enable the cache for a write.
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

    /// 3. The plan's primary key, under the client's view of ghpool (answers are stored rewritten
    /// for it), filed under the plan's tags.
    /// Must never: key anything the plan does not name (the request's other headers are not
    /// forwarded on a read).
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
        // What an agent reads is screened by its repositories: kept apart from what others read.
        let primary = match &plan.agent {
            Some(agent) => format!("{}\nagent-policy={}\n{primary}", plan.public_base, agent.policy_digest),
            None => format!("{}\n{primary}", plan.public_base),
        };
        let (key, hash, writes) = self.cache.key(&primary, read.tags.clone());
        ctx.cache_key = Some((hash, writes));
        ctx.shared_name = key::key_note(&key.user_tag).shared_name.map(str::to_string);
        Ok(key)
    }

    /// 4. A client's `Cache-Control: no-cache` (or a `max-age` shorter than the entry's age)
    /// makes a fresh entry revalidate. (A write on any replica since an entry was filled has
    /// made it stale already: the storage's lookup checks the write generations.)
    /// Must never: serve an entry staler than the client allows.
    async fn cache_hit_filter(
        &self,
        session: &mut Session,
        meta: &CacheMeta,
        _hit: &mut HitHandler,
        is_fresh: bool,
        _ctx: &mut RequestCtx,
    ) -> Result<Option<ForcedFreshness>> {
        let cache_control = session.req_header().headers.get("cache-control").and_then(|v| v.to_str().ok());
        if is_fresh && crate::cache::client_wants_fresher(cache_control, meta.age()) {
            return Ok(Some(ForcedFreshness::ForceExpired));
        }
        Ok(None)
    }

    /// 5. A miss goes upstream: the client is charged its share, and the identity picked here,
    /// once the cache has had its say (a hit costs no budget).
    /// Must never: pick an identity for a write, or one that does not serve the plan's owners.
    async fn upstream_peer(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<Box<HttpPeer>> {
        let pooled = ctx.plan.as_ref().is_some_and(|p| p.read().is_some());
        if pooled && ctx.attempt.lease.is_none() {
            ctx.went_upstream = true;
            // A request is charged to its client once, however many identities it tries.
            // Named only here, on the way upstream: a cache hit does not digest a token.
            if let Err(refusal) = self.charge(session, ctx).await {
                return Err(refuse(ctx, refusal));
            }
            if let (Some(shared), Some(read)) = (&self.shared, ctx.plan.as_ref().and_then(Plan::read)) {
                // Read before GitHub is asked: a write anywhere after this makes the answer stale.
                let tags = crate::shared::generation_tags(&read.tags);
                ctx.generations = shared.generations(&tags).await.map(|g| crate::shared::format_generations(&tags, &g));
            }
            let fetched_by = session.cache.maybe_cache_meta().and_then(|m| m.headers().get(IDENTITY_HEADER));
            let preferred = fetched_by.and_then(|v| v.to_str().ok()).map(tag_identity).map(str::to_string);
            let picked = match ctx.plan.as_ref().and_then(Plan::read) {
                Some(read) => self.pick_identity(read, preferred.as_deref()).await,
                None => return Error::e_explain(ErrorType::InternalError, "pooled without a read"),
            };
            match picked {
                Ok(lease) => {
                    // Counted on every replica: GitHub's concurrency limit is per user.
                    let id = lease.identity().id().to_string();
                    ctx.attempt.shared_lease = match &self.shared {
                        Some(shared) => shared.lease_started(&id).map(|member| (shared.clone(), id, member)),
                        None => None,
                    };
                    ctx.attempt.lease = Some(lease);
                }
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

    /// 5b. The connection failed, nothing was sent: Pingora's verdict on the error stands unless
    /// the retry policy says go again (a failover, or a read's one reconnect).
    /// Must never: change Pingora's verdict for a write.
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

    /// 6. Point the request at GitHub with the right credential and only the headers checked
    /// (`outgoing`).
    /// Must never: forward a client's token on a read, a pool token on a write, or a method
    /// override on any.
    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        req: &mut RequestHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        self.prepare_outgoing(session, req, ctx)
    }

    /// 7. A screened query goes upstream probed: the probed body replaces the client's (read
    /// whole before, and replayed by Pingora on every attempt).
    /// Must never: send the client's unprobed document when the plan says probe.
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

    /// 8. GitHub's answer head: the identity's budget learned, a limited or refused identity
    /// failed over, and what the body needs (`answer::head`).
    /// Must never: let a pool token's description reach a client.
    async fn upstream_response_filter(
        &self,
        _session: &mut Session,
        resp: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        self.take_answer_header(resp, ctx)
    }

    /// 9. Whether and for how long the answer is stored (`cache`).
    /// Must never: store a write's answer.
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
        let meta = self.cache.meta_for(graphql, path, resp);
        ctx.answered.stored = meta.is_some();
        match meta {
            Some(meta) => Ok(RespCacheable::Cacheable(meta)),
            None => Ok(RespCacheable::Uncacheable(NoCacheReason::OriginNotCache)),
        }
    }

    /// 10. Say what the cache did, keep ghpool's bookkeeping headers to itself, point GitHub's
    /// absolute URLs at ghpool, and purge what a successful REST write changed (a mutation's purge
    /// waits for its body).
    /// Must never: release a write's answer before its purge.
    async fn response_filter(
        &self,
        session: &mut Session,
        resp: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        resp.remove_header(IDENTITY_HEADER);
        resp.remove_header(CLOSED_HEADER);
        resp.remove_header(GENERATIONS_HEADER);
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
            if let (Some(shared), WriteOf::Rest { .. }) = (&self.shared, &write.of) {
                // Before the answer leaves: the client's next read, on any replica, sees the write.
                // (A mutation's are bumped by `large`, once its answer says it changed something.)
                shared.bump(&crate::shared::purge_tags(&write.purge)).await;
            }
            match write.of {
                // A mutation's 200 may say it changed nothing (`errors`, no data): decided when
                // its body has been read (`logging` purges).
                WriteOf::Mutation { .. } => ctx.answered.purge = true,
                WriteOf::Rest { .. } => self.invalidate(&write.purge),
            }
        }
        Ok(())
    }

    /// 11. A held answer, whole: screened, repository owners learned, the pool identity's
    /// `permissions` stripped and its URLs pointed at ghpool — before the cache stores it, so hits,
    /// revalidations and stale answers serve the rewritten bytes as they are.
    /// Must never: pass on an answer that had to be screened unscreened.
    fn upstream_response_body_filter(
        &self,
        session: &mut Session,
        body: &mut Option<Bytes>,
        end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> Result<Option<Duration>> {
        self.hold_answer_body(session, body, end_of_stream, ctx)
    }

    /// A failed attempt: whether it goes upstream again (`retry::decide`: failover, one reconnect
    /// for reads, Pingora's default otherwise).
    /// Must never: retry once the client has part of an answer, or repeat a write.
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

    /// When GitHub fails, an expired entry within `stale_if_error` is served instead (Pingora
    /// checks the window); so is one when every identity's budget is spent.
    /// Must never: serve stale for a refusal of the client's own making.
    fn should_serve_stale(&self, _session: &mut Session, ctx: &mut RequestCtx, error: Option<&Error>) -> bool {
        let Some(error) = error else { return false };
        error.esource() == &pingora_core::ErrorSource::Upstream
            || matches!(ctx.refusal, Some(Refusal::Exhausted { .. } | Refusal::NoIdentity))
    }

    /// Why the request could not be proxied, as a reply in GitHub's error shape (`reply`).
    /// Must never: write a second reply after part of one was sent.
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

    /// 12. One line per request for operators, the audit line of a write, the metrics, a
    /// mutation's purge, the end of the lease (`record`).
    /// Must never: log a token.
    async fn logging(&self, session: &mut Session, _e: Option<&Error>, ctx: &mut RequestCtx) {
        self.record(session, ctx).await
    }
}
