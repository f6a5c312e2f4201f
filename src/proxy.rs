//! The Pingora glue: the one module that knows `ProxyHttp`. Each hook reads the request, calls a
//! decision function from the modules beside it, and applies the result — nothing more.
//!
//! ```text
//! client ─► request_filter ──────────────► upstream_peer ─► upstream_request_filter ─► GitHub
//!            │ normalize (access)                              │ pooled: pool token, client's dropped
//!            │ classify (route)                                │ passthrough: client's token kept
//!            │ admin endpoints answered here (admin)           │ Host, User-Agent, upstream prefix
//!            │ allowlist (access), pick identity (pool)
//!            │ refusals answered here (respond)
//!            ▼
//! client ◄─ response_filter ◄── upstream_response_filter ◄──────────────────────────── GitHub
//!                                 │ budgets and 401s into the pool; pool-describing headers stripped
//! logging: one line per request, metrics
//! ```
//! Must never: forward a client's token on a pooled read, or a pool token on a write.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use pingora_core::upstreams::peer::HttpPeer;
use pingora_core::{Error, ErrorType, Result};
use pingora_http::{RequestHeader, ResponseHeader};
use pingora_proxy::{FailToProxy, ProxyHttp, Session};

use crate::access::{normalize, Allowlist, Target};
use crate::admin::{self, AdminView};
use crate::metrics::Metrics;
use crate::pool::{now_epoch, parse_headers, Lease, PickError, Pool};
use crate::respond::{retry_after, Refusal};
use crate::route::{classify, Route};
use crate::upstream::ResolvedUpstream;

/// Headers that describe the token a request was sent with: on a pooled read that is the pool's
/// token, not the caller's, so they are stripped (GITHUB.md, "Authentication").
const POOL_DESCRIBING_HEADERS: &[&str] = &["x-oauth-scopes", "github-authentication-token-expiration"];

/// Request headers that must not travel upstream on a pooled read.
const POOLED_DROP: &[&str] = &["authorization", "cookie", "proxy-authorization"];

/// How long to wait on GitHub.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub connect: Duration,
    pub read: Duration,
    pub idle: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(10),
            read: Duration::from_secs(60),
            idle: Duration::from_secs(60),
        }
    }
}

/// Everything the hooks share.
pub struct Ghpool {
    pub pool: Arc<Pool>,
    pub allowlist: Allowlist,
    pub upstream: Arc<ResolvedUpstream>,
    pub metrics: Arc<Metrics>,
    pub timeouts: Timeouts,
    pub started: Instant,
}

/// Per-request state, filled in as the request moves through the hooks.
pub struct RequestCtx {
    started: Instant,
    target: Option<Target>,
    route: Option<Route>,
    lease: Option<Lease>,
    resource: &'static str,
    upstream_status: Option<u16>,
}

impl Ghpool {
    /// Normalize, classify, check: what to do with this request, decided before any I/O.
    fn admit(&self, session: &Session, ctx: &mut RequestCtx) -> Result<Route, Refusal> {
        let req = session.req_header();
        if !req.raw_path_is_utf8() {
            return Err(Refusal::BadRequest("Invalid request path: not UTF-8".into()));
        }
        let raw = String::from_utf8_lossy(req.raw_path());
        let target = ctx.target.insert(normalize(&raw, self.upstream.upstream().host())?);
        let authorization = req.headers.get("authorization").and_then(|v| v.to_str().ok());
        let route = classify(req.method.as_str(), target, authorization)?;
        if let Route::PooledRead { resource } = route {
            self.allowlist.check_rest(target)?;
            ctx.resource = resource;
            ctx.lease = Some(self.pool.pick(resource).map_err(|e| match e {
                PickError::Exhausted { resource, reset } => Refusal::Exhausted {
                    resource,
                    retry_after_secs: retry_after(reset, now_epoch()),
                    reset,
                },
                PickError::NoneUsable => Refusal::NoIdentity,
            })?);
        }
        Ok(route)
    }

    fn admin_view(&self) -> AdminView<'_> {
        AdminView {
            pool: &self.pool,
            metrics: &self.metrics,
            upstream_base: self.upstream.upstream().base_url(),
            upstream_resolved: self.upstream.addr().is_some(),
            started: self.started,
        }
    }
}

/// Write a complete answer made by ghpool itself.
async fn send(session: &mut Session, status: u16, headers: &[(&str, String)], body: Vec<u8>) -> Result<()> {
    let mut resp = ResponseHeader::build(status, Some(headers.len() + 2))?;
    for (name, value) in headers {
        resp.insert_header(name.to_string(), value.as_str())?;
    }
    resp.insert_header("content-length", body.len().to_string())?;
    let head_only = session.req_header().method == http::Method::HEAD;
    session.write_response_header(Box::new(resp), head_only).await?;
    if !head_only {
        session.write_response_body(Some(Bytes::from(body)), true).await?;
    }
    Ok(())
}

#[async_trait]
impl ProxyHttp for Ghpool {
    type CTX = RequestCtx;

    fn new_ctx(&self) -> RequestCtx {
        RequestCtx {
            started: Instant::now(),
            target: None,
            route: None,
            lease: None,
            resource: "core",
            upstream_status: None,
        }
    }

    /// Decide, and answer locally when the answer is ours to give (admin, refusals).
    async fn request_filter(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
        match self.admit(session, ctx) {
            Ok(Route::Admin(path)) => {
                let accept = session.req_header().headers.get("accept").and_then(|v| v.to_str().ok());
                let a = admin::answer(path, accept, &self.admin_view());
                ctx.route = Some(Route::Admin(path));
                send(
                    session,
                    a.status,
                    &[("content-type", a.content_type.to_string())],
                    a.body.into_bytes(),
                )
                .await?;
                Ok(true)
            }
            Ok(route) => {
                ctx.route = Some(route);
                Ok(false)
            }
            Err(refusal) => {
                // A body, if one was sent, was not read: the connection cannot be reused safely.
                let method = &session.req_header().method;
                if method != http::Method::GET && method != http::Method::HEAD {
                    session.set_keepalive(None);
                }
                let a = refusal.answer();
                send(session, a.status, &a.headers, a.body).await?;
                Ok(true)
            }
        }
    }

    async fn upstream_peer(&self, _session: &mut Session, _ctx: &mut RequestCtx) -> Result<Box<HttpPeer>> {
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
    async fn upstream_request_filter(
        &self,
        _session: &mut Session,
        req: &mut RequestHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        let up = self.upstream.upstream();
        let target = ctx
            .target
            .as_ref()
            .ok_or_else(|| Error::explain(ErrorType::InternalError, "no target"))?;
        let uri: http::Uri = up
            .target(&target.path, target.query.as_deref())
            .parse()
            .map_err(|e| Error::because(ErrorType::InternalError, "upstream target", e))?;
        req.set_uri(uri);
        req.insert_header("host", up.host_header())?;
        req.remove_header("proxy-connection");
        if let Some(lease) = &ctx.lease {
            for name in POOLED_DROP {
                req.remove_header(*name);
            }
            if let Some(token) = lease.identity().token() {
                req.insert_header("authorization", format!("token {}", token.expose()))?;
            }
            self.metrics.upstream_request(lease.identity().id(), ctx.resource);
        } else {
            req.remove_header("proxy-authorization");
        }
        if req.headers.get("user-agent").is_none() {
            req.insert_header("user-agent", crate::USER_AGENT)?;
        }
        Ok(())
    }

    /// Learn the identity's budget from GitHub's answer; hide what describes the pool's token.
    async fn upstream_response_filter(
        &self,
        _session: &mut Session,
        resp: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        ctx.upstream_status = Some(resp.status.as_u16());
        if let Some(lease) = &ctx.lease {
            let headers = &resp.headers;
            let rate = parse_headers(|name| headers.get(name).and_then(|v| v.to_str().ok()));
            let expiry = headers
                .get("github-authentication-token-expiration")
                .and_then(|v| v.to_str().ok());
            self.pool.set_token_expiry(lease.identity(), expiry);
            self.pool.observe(lease.identity(), rate, resp.status.as_u16());
            for name in POOL_DESCRIBING_HEADERS {
                resp.remove_header(*name);
            }
        }
        Ok(())
    }

    async fn fail_to_proxy(&self, session: &mut Session, e: &Error, _ctx: &mut RequestCtx) -> FailToProxy {
        let refusal = match e.etype() {
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
            return FailToProxy {
                error_code: 0,
                can_reuse_downstream: false,
            };
        };
        let a = refusal.answer();
        if session.response_written().is_none() {
            if let Err(err) = send(session, a.status, &a.headers, a.body).await {
                log::debug!("could not send the error answer: {err}");
            }
        }
        FailToProxy {
            error_code: a.status,
            can_reuse_downstream: false,
        }
    }

    /// One line per request for operators, and the request metrics.
    async fn logging(&self, session: &mut Session, _e: Option<&Error>, ctx: &mut RequestCtx) {
        let status = session.response_written().map_or(0, |r| r.status.as_u16());
        let route = ctx.route.as_ref().map_or("refused", Route::label);
        let elapsed = ctx.started.elapsed();
        self.metrics.request_done(route, status, elapsed);
        if matches!(ctx.route, Some(Route::Admin(_))) {
            return;
        }
        let req = session.req_header();
        let path = ctx.target.as_ref().map_or("-", |t| t.path.as_str());
        let identity = ctx.lease.as_ref().map_or("-", |l| l.identity().id());
        let upstream = ctx.upstream_status.map_or("-".to_string(), |s| s.to_string());
        log::info!(
            "{} {} route={route} identity={identity} status={status} upstream={upstream} {}ms",
            req.method,
            path,
            elapsed.as_millis()
        );
        // The lease ends here, not when the context is dropped later.
        ctx.lease = None;
    }
}
