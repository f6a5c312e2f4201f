//! GitHub's answer on its way back: what it says about the identity's budget (fail over when it is
//! limited or refused), which answers are held whole, and what a held body becomes — screened
//! `node` fields, repository owners learned, the pool identity's `permissions` stripped, URLs
//! pointed at ghpool — before the cache stores it.
//! Must never: let a pool token's description (`X-OAuth-Scopes`, its expiry) reach a client.

use pingora_core::{Error, ErrorType, Result};
use pingora_http::ResponseHeader;
use pingora_proxy::Session;

use std::time::Duration;

use bytes::Bytes;

use super::{fail_over, Ghpool, RequestCtx, POOL_DESCRIBING_HEADERS, REWRITE_LIMIT};
use crate::admission::graphql;
use crate::admission::rest_screen::{self, Screened};
use crate::cache::invalidate;
use crate::cache::IDENTITY_HEADER;
use crate::pool::{judge, now_epoch, parse_headers, Judgement};
use crate::rewrite;
use crate::route::Route;

/// Says that objects of owners outside the allowlist were removed from this answer, if it had any
/// (the count is in `ghpool_withheld_objects_total`: the header leaves before the body is read).
pub const SCREENED_HEADER: &str = "x-ghpool-screened";

impl Ghpool {
    /// Point `Link` and `Location` at ghpool (idempotent: a rewritten value no longer names GitHub).
    pub(super) fn rewrite_headers(&self, resp: &mut ResponseHeader, ctx: &RequestCtx) -> Result<()> {
        let upstream_base = self.upstream.upstream().base_url();
        for name in ["link", "location"] {
            let value = resp.headers.get(name).and_then(|v| v.to_str().ok());
            if let Some(new) = value.and_then(|v| rewrite::rewrite_header(v, &upstream_base, &ctx.public_base)) {
                resp.insert_header(name, new)?;
            }
        }
        Ok(())
    }

    /// The answer's status line and headers: budgets learned, failover decided, bodies to hold.
    pub(super) fn take_answer_header(&self, resp: &mut ResponseHeader, ctx: &mut RequestCtx) -> Result<()> {
        ctx.upstream_status = Some(resp.status.as_u16());
        // A previous attempt's answer (failed over) leaves nothing behind for this one.
        ctx.body = None;
        ctx.rest_screened = false;
        if resp.status.as_u16() != 200 {
            ctx.repo_json = false;
        }
        self.rewrite_headers(resp, ctx)?;
        let json = resp.headers.get("content-type").and_then(|v| v.to_str().ok()).is_some_and(|t| t.contains("json"));
        let has_body = !matches!(resp.status.as_u16(), 204 | 304);
        let screened = ctx.screened;
        // Pooled REST answers of an allowlisted proxy are screened: held whatever their type.
        // (Raw file contents and diffs are the path's own repository's: not JSON, not screened.)
        ctx.rest_screened = json
            && has_body
            && ctx.lease.is_some()
            && ctx.graphql.is_none()
            && self.allowlist.screens()
            && resp.status.as_u16() == 200
            && ctx.target.as_ref().is_some_and(|t| t.path != "/");
        if ctx.rest_screened {
            resp.insert_header(SCREENED_HEADER, "owners")?;
        }
        if has_body && (screened || ctx.rest_screened || json && resp.headers.get("content-encoding").is_none()) {
            // The body will change length: the stored and the sent header carry none, Pingora frames it.
            resp.remove_header("content-length");
            if screened {
                // Whatever GitHub sent, what goes out is screened JSON (an unreadable answer is
                // replaced whole).
                resp.remove_header("content-encoding");
                resp.insert_header("content-type", "application/json; charset=utf-8")?;
            }
            ctx.body = Some(Vec::new());
        }
        ctx.failover = false;
        ctx.suspect = false;
        if let Some(lease) = &ctx.lease {
            let headers = &resp.headers;
            let rate = parse_headers(|name| headers.get(name).and_then(|v| v.to_str().ok()));
            let retry_after = headers.get("retry-after").and_then(|v| v.to_str().ok()?.trim().parse().ok());
            let expiry = headers.get("github-authentication-token-expiration").and_then(|v| v.to_str().ok());
            let status = resp.status.as_u16();
            let verdict = judge(status, rate.as_ref().map(|(_, r)| r), retry_after, ctx.graphql.is_some(), now_epoch());
            self.pool.set_token_expiry(lease.identity(), expiry);
            self.pool.observe(lease.identity(), rate, status);
            if verdict != Judgement::Fine {
                // Nothing has gone to the client yet: fail over to another identity. When none is
                // left, `upstream_peer` answers 429 (or 503) and the client sees ghpool's answer.
                if let Judgement::Limited { until } = verdict {
                    self.pool.hold_off(lease.identity(), ctx.resource.as_str(), until);
                }
                return Err(fail_over(ctx, status));
            }
            // GitHub's secondary limits without `retry-after` say so only in the body.
            ctx.suspect = matches!(status, 403 | 429);
            for name in POOL_DESCRIBING_HEADERS {
                resp.remove_header(*name);
            }
            match resp.status.as_u16() {
                // Stored with the entry; stripped before any client sees it.
                200 => {
                    if ctx.after_rotation {
                        self.cache.counters.refetched_after_rotation.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    resp.insert_header(IDENTITY_HEADER, lease.identity().token_tag())?
                }
                304 => {
                    self.cache.counters.not_modified.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// A held answer, complete: what it becomes before the cache stores it and the client gets it.
    pub(super) fn finish_answer_body(
        &self,
        session: &Session,
        mut held: Vec<u8>,
        ctx: &mut RequestCtx,
    ) -> Result<Vec<u8>> {
        if ctx.invalidation.is_some() && !invalidate::mutation_changed(&held) {
            ctx.invalidation = None;
        }
        let allows = |owner: &str| self.allowlist.allows(owner);
        if ctx.screened {
            let screened = graphql::screen::screen(&held, self.graphql.schema, allows);
            self.metrics.withheld("graphql", screened.withheld);
            held = screened.body;
        } else if ctx.rest_screened && ctx.upstream_status == Some(200) {
            match rest_screen::screen(&held, allows) {
                Screened::Unchanged => {}
                Screened::Changed { body, withheld } => {
                    log::info!("withheld {withheld} objects of other owners from a pooled answer");
                    self.metrics.withheld("rest", withheld);
                    held = body;
                }
                // The status line is gone: the answer is cut, never completed with another
                // owner's object (nor stored).
                Screened::Foreign { .. } => {
                    self.metrics.withheld("rest", 1);
                    return Error::e_explain(
                        ErrorType::InternalError,
                        "answer belongs to an owner outside the allowlist",
                    );
                }
                Screened::Unreadable(why) => return Error::e_explain(ErrorType::InternalError, why),
            }
        }
        if ctx.repo_json {
            self.repos.learn_from_json(&held);
        }
        ctx.closed = crate::cache::is_closed(&held);
        if let (Some(lease), Some(status)) = (&ctx.lease, ctx.upstream_status) {
            if ctx.suspect && crate::pool::mentions_secondary_limit(&held) {
                self.pool.secondary_limit(lease.identity(), ctx.resource.as_str());
                // A short error body nearly always arrives with its status line, before anything
                // reached the client: fail over now. Otherwise this answer goes out as it is, and
                // the identity pauses for the next requests.
                if session.response_written().is_none() {
                    return Err(fail_over(ctx, status));
                }
            } else if status < 400 {
                self.pool.answered(lease.identity());
            }
        }
        let pooled = ctx.route.as_ref().is_some_and(Route::is_pooled);
        let stripped = if pooled { rewrite::strip_permissions(&held) } else { std::borrow::Cow::Borrowed(&held[..]) };
        let upstream_base = self.upstream.upstream().base_url();
        Ok(rewrite::rewrite_body(&stripped, &upstream_base, &ctx.public_base).into_owned())
    }

    /// A chunk of an answer being held (`ctx.body`): kept until the end, then finished
    /// ([`Ghpool::finish_answer_body`]); past [`REWRITE_LIMIT`] passed on as it is, or cut when it
    /// had to be screened.
    pub(super) fn hold_answer_body(
        &self,
        session: &Session,
        body: &mut Option<Bytes>,
        end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> Result<Option<Duration>> {
        let Some(held) = &mut ctx.body else { return Ok(None) };
        if let Some(chunk) = body.take() {
            held.extend_from_slice(&chunk);
        }
        if held.len() > REWRITE_LIMIT {
            if ctx.screened || ctx.rest_screened {
                // Too big to screen: cut, never passed on unscreened.
                ctx.body = None;
                return Error::e_explain(ErrorType::InternalError, "answer too large to screen");
            }
            // Too big to hold: let it through as it is, from here on.
            *body = ctx.body.take().map(Bytes::from);
            return Ok(None);
        }
        if !end_of_stream {
            return Ok(None);
        }
        let held = ctx.body.take().unwrap_or_default();
        *body = Some(Bytes::from(self.finish_answer_body(session, held, ctx)?));
        Ok(None)
    }
}
