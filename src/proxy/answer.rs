//! GitHub's answer on its way back: what it says about the identity's budget (fail over when it is
//! limited or refused), which answers are held whole, and what a held body becomes — screened by
//! owner, repository owners learned, the pool identity's `permissions` stripped, URLs pointed at
//! ghpool — before the cache stores it.
//!
//! The decisions are plain functions ([`head`]); the methods below apply them.
//! Must never: let a pool token's description (`X-OAuth-Scopes`, its expiry) reach a client, or an
//! answer that had to be screened reach one unscreened.

use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use pingora_core::{Error, ErrorType, Result};
use pingora_http::ResponseHeader;
use pingora_proxy::Session;

use super::{fail_over, Ghpool, RequestCtx};
use crate::admission::classify::{Flow, Plan, Read, ReadOf, WriteOf};
use crate::admission::graphql;
use crate::admission::rest_screen::{self, Screened};
use crate::cache::invalidate::mutation_changed;
use crate::cache::{generations_value, GENERATIONS_HEADER, IDENTITY_HEADER};
use crate::pool::{judge, now_epoch, parse_headers, Judgement, SharedIdentity};
use crate::upstream::rewrite;

/// Says that objects of owners outside the allowlist were removed from this answer, if it had any
/// (the count is in `ghpool_withheld_objects_total`: the header leaves before the body is read).
pub const SCREENED_HEADER: &str = "x-ghpool-screened";

/// Headers that describe the token a request was sent with: on a pooled read that is the pool's
/// token, not the caller's, so they are stripped (GITHUB.md, "Authentication").
const POOL_DESCRIBING_HEADERS: &[&str] = &["x-oauth-scopes", "github-authentication-token-expiration"];

/// JSON answers up to this size are held whole to rewrite their URLs (and learn repository
/// owners); larger ones pass through as they are.
const REWRITE_LIMIT: usize = 16 * 1024 * 1024;

/// How a held answer is screened for objects of owners outside the allowlist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    No,
    /// A pooled REST JSON answer (`rest_screen`).
    Rest,
    /// A probed GraphQL query's answer (`graphql::screen`).
    Graphql,
}

/// What to do with an answer's head, decided from it and the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// Hold the body whole and finish it at its end.
    pub hold: bool,
    pub screen: Screen,
    /// The body is one repository's JSON: learn its id and owner.
    pub learn_repository: bool,
}

/// The answer's head, as far as [`head`] reads it.
#[derive(Debug, Clone, Copy)]
pub struct AnswerHead<'a> {
    pub status: u16,
    pub content_type: Option<&'a str>,
    pub content_encoding: bool,
}

/// What an answer with this head needs, for this plan. A probed query's answer is always held and
/// screened (whatever GitHub sent, what goes out is screened JSON); a pooled REST 200 in JSON is
/// screened when an allowlist is in force (raw contents and diffs are the path's own repository's:
/// not JSON, not screened); any other JSON answer not compressed is held to rewrite its URLs.
pub fn head(answer: AnswerHead, plan: &Plan) -> Head {
    let json = answer.content_type.is_some_and(|t| t.contains("json"));
    let has_body = !matches!(answer.status, 204 | 304);
    let screen = match &plan.flow {
        Flow::Read(Read { of: ReadOf::Graphql { probed: Some(_), .. }, .. }) => Screen::Graphql,
        Flow::Read(Read { of: ReadOf::Rest { screened: true, .. }, .. }) if json && answer.status == 200 => {
            Screen::Rest
        }
        _ => Screen::No,
    };
    let learn_repository = answer.status == 200
        && matches!(&plan.flow, Flow::Read(Read { of: ReadOf::Rest { repository: true, .. }, .. }));
    let hold = has_body && (screen != Screen::No || json && !answer.content_encoding);
    Head { hold, screen: if has_body { screen } else { Screen::No }, learn_repository }
}

/// An answer being held.
pub(super) struct Held {
    body: Vec<u8>,
    head: Head,
}

impl Ghpool {
    /// What this replica learned of an identity, told to the others (`[shared]`).
    fn share_identity(&self, id: &str, learned: SharedIdentity) {
        if let Some(shared) = &self.shared {
            shared.publish_identity(id, learned);
        }
    }

    /// Point `Link` and `Location` at ghpool (idempotent: a rewritten value no longer names GitHub).
    pub(super) fn rewrite_headers(&self, resp: &mut ResponseHeader, public_base: &str) -> Result<()> {
        let upstream_base = self.upstream.upstream().base_url();
        for name in ["link", "location"] {
            let value = resp.headers.get(name).and_then(|v| v.to_str().ok());
            if let Some(new) = value.and_then(|v| rewrite::rewrite_header(v, &upstream_base, public_base)) {
                resp.insert_header(name, new)?;
            }
        }
        Ok(())
    }

    /// The answer's status line and headers: budgets learned, failover decided, bodies to hold.
    pub(super) fn take_answer_header(&self, resp: &mut ResponseHeader, ctx: &mut RequestCtx) -> Result<()> {
        let Some(plan) = &ctx.plan else { return Error::e_explain(ErrorType::InternalError, "answer without a plan") };
        let status = resp.status.as_u16();
        ctx.answered.status = Some(status);
        if ctx.audit_request.is_some() {
            ctx.answered.request_id = github_request_id(&resp.headers);
        }
        // A previous attempt's answer (failed over) leaves nothing behind for this one.
        ctx.attempt.held = None;
        ctx.attempt.suspect = false;
        ctx.attempt.failing_over = false;
        self.rewrite_headers(resp, &plan.public_base)?;
        if let Some(lease) = &ctx.attempt.lease {
            let headers = &resp.headers;
            let rate = parse_headers(|name| headers.get(name).and_then(|v| v.to_str().ok()));
            let retry_after = headers.get("retry-after").and_then(|v| v.to_str().ok()?.trim().parse().ok());
            let expiry = headers.get("github-authentication-token-expiration").and_then(|v| v.to_str().ok());
            let graphql = plan.graphql().is_some();
            let judgement = judge(status, rate.as_ref().map(|(_, r)| r), retry_after, graphql, now_epoch());
            self.pool.set_token_expiry(lease.identity(), expiry);
            let mut learned = SharedIdentity { budgets: rate.clone().into_iter().collect(), ..Default::default() };
            self.pool.observe(lease.identity(), rate, status);
            if judgement != Judgement::Fine {
                // Nothing has gone to the client yet: fail over to another identity. When none is
                // left, `upstream_peer` answers 429 (or 503) and the client sees ghpool's answer.
                if let (Judgement::Limited { until }, Some(read)) = (judgement, plan.read()) {
                    self.pool.hold_off(lease.identity(), read.resource.as_str(), until);
                    learned.holds.push((read.resource.as_str().to_string(), until));
                }
                if judgement == Judgement::BadCredentials {
                    learned.refused_token = lease.identity().token_digest();
                }
                self.share_identity(lease.identity().id(), learned);
                return Err(fail_over(ctx, status));
            }
            self.share_identity(lease.identity().id(), learned);
            // GitHub's secondary limits without `retry-after` say so only in the body.
            ctx.attempt.suspect = matches!(status, 403 | 429);
            for name in POOL_DESCRIBING_HEADERS {
                resp.remove_header(*name);
            }
            if self.shared.is_some() {
                // Stored with the entry, whatever its status (merged into it from a 304);
                // stripped before any client sees it.
                resp.insert_header(GENERATIONS_HEADER, generations_value(ctx.generations.as_deref()))?;
            }
            match status {
                // Stored with the entry; stripped before any client sees it.
                200 => {
                    if ctx.attempt.after_rotation {
                        self.cache.counters.refetched_after_rotation.fetch_add(1, Ordering::Relaxed);
                    }
                    resp.insert_header(IDENTITY_HEADER, lease.identity().token_tag())?
                }
                304 => {
                    self.cache.counters.not_modified.fetch_add(1, Ordering::Relaxed);
                }
                _ => {}
            }
        }
        let content_type = resp.headers.get("content-type").and_then(|v| v.to_str().ok());
        let answer =
            AnswerHead { status, content_type, content_encoding: resp.headers.get("content-encoding").is_some() };
        let head = head(answer, plan);
        if head.screen == Screen::Rest {
            resp.insert_header(SCREENED_HEADER, "owners")?;
        }
        if head.hold {
            // The body will change length: the stored and the sent header carry none, Pingora frames it.
            resp.remove_header("content-length");
            if head.screen == Screen::Graphql {
                // An unreadable answer is replaced whole.
                resp.remove_header("content-encoding");
                resp.insert_header("content-type", "application/json; charset=utf-8")?;
            }
            ctx.attempt.held = Some(Held { body: Vec::new(), head });
        }
        Ok(())
    }

    /// A held answer, complete: what it becomes before the cache stores it and the client gets it.
    fn finish_answer_body(&self, session: &Session, held: Held, ctx: &mut RequestCtx) -> Result<Vec<u8>> {
        let Some(plan) = &ctx.plan else { return Error::e_explain(ErrorType::InternalError, "answer without a plan") };
        let Held { mut body, head } = held;
        if matches!(&plan.flow, Flow::Write(w) if matches!(w.of, WriteOf::Mutation { .. })) && !mutation_changed(&body)
        {
            ctx.answered.purge = false;
        }
        let allows = |owner: &str| self.allowlist.allows(owner);
        // An agent's answer is screened by its repositories too (issue #16).
        let policy = plan.agent.as_deref().map(|a| &a.policy);
        let covers = |owner: &str, name: Option<&str>| policy.is_none_or(|p| p.covers_object(owner, name));
        match head.screen {
            Screen::No => {}
            Screen::Graphql => {
                let schema = self.graphql.schema;
                let screened = graphql::screen::screen_repositories(&body, schema, |o, n| allows(o) && covers(o, n));
                self.metrics.withheld("graphql", screened.withheld);
                body = screened.body;
            }
            Screen::Rest => match rest_screen::screen_repositories(&body, |o, n| allows(o) && covers(o, Some(n))) {
                Screened::Unchanged => {}
                Screened::Changed { body: kept, withheld } => {
                    log::info!("withheld {withheld} objects of other owners from a pooled answer");
                    self.metrics.withheld("rest", withheld);
                    body = kept;
                }
                // The status line is gone: the answer is cut, never completed with another owner's
                // object (nor stored).
                Screened::Foreign { .. } => {
                    self.metrics.withheld("rest", 1);
                    return Error::e_explain(
                        ErrorType::InternalError,
                        "answer belongs to an owner outside the allowlist",
                    );
                }
                Screened::Unreadable(why) => return Error::e_explain(ErrorType::InternalError, why),
            },
        }
        if head.learn_repository {
            self.repos.learn_from_json(&body);
        }
        ctx.answered.closed = crate::cache::is_closed(&body);
        if let (Some(lease), Some(status), Some(read)) = (&ctx.attempt.lease, ctx.answered.status, plan.read()) {
            if ctx.attempt.suspect && crate::pool::mentions_secondary_limit(&body) {
                let until = self.pool.secondary_limit(lease.identity(), read.resource.as_str());
                let holds = vec![(read.resource.as_str().to_string(), until)];
                self.share_identity(lease.identity().id(), SharedIdentity { holds, ..Default::default() });
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
        let stripped = match plan.read() {
            Some(_) => rewrite::strip_permissions(&body),
            None => std::borrow::Cow::Borrowed(&body[..]),
        };
        let upstream_base = self.upstream.upstream().base_url();
        Ok(rewrite::rewrite_body(&stripped, &upstream_base, &plan.public_base).into_owned())
    }

    /// A chunk of an answer being held: kept until the end, then finished; past [`REWRITE_LIMIT`]
    /// passed on as it is, or cut when it had to be screened.
    pub(super) fn hold_answer_body(
        &self,
        session: &Session,
        body: &mut Option<Bytes>,
        end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> Result<Option<Duration>> {
        let Some(held) = &mut ctx.attempt.held else { return Ok(None) };
        if let Some(chunk) = body.take() {
            held.body.extend_from_slice(&chunk);
        }
        if held.body.len() > REWRITE_LIMIT {
            let screened = held.head.screen != Screen::No;
            let held = ctx.attempt.held.take().map(|h| h.body);
            if screened {
                // Too big to screen: cut, never passed on unscreened.
                return Error::e_explain(ErrorType::InternalError, "answer too large to screen");
            }
            // Too big to hold: let it through as it is, from here on.
            *body = held.map(Bytes::from);
            return Ok(None);
        }
        if !end_of_stream {
            return Ok(None);
        }
        let Some(held) = ctx.attempt.held.take() else { return Ok(None) };
        *body = Some(Bytes::from(self.finish_answer_body(session, held, ctx)?));
        Ok(None)
    }
}

/// GitHub's id of the request it answered (`X-GitHub-Request-Id`), as the audit records it:
/// printable ASCII, bounded.
pub(super) fn github_request_id(headers: &http::HeaderMap) -> Option<String> {
    let value = headers.get("x-github-request-id")?.to_str().ok()?;
    let printable = value.len() <= 128 && value.bytes().all(|b| b.is_ascii_graphic());
    printable.then(|| value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission::access::normalize;
    use crate::admission::classify::{ClientCredential, Write};
    use crate::cache::invalidate::Invalidation;
    use crate::ratelimit::Resource;

    fn plan(flow: Flow) -> Plan {
        Plan { target: normalize("/x", "h").unwrap(), public_base: "http://g".into(), flow, agent: None }
    }

    fn rest(repository: bool, screened: bool) -> Plan {
        let of = ReadOf::Rest { repository, screened };
        plan(Flow::Read(Read { resource: Resource::Core, owners: vec![], tags: Default::default(), of }))
    }

    fn write() -> Plan {
        let credential = ClientCredential(crate::secrets::Secret::new("token t"));
        plan(Flow::Write(Write {
            credential,
            purge: Invalidation::Everything,
            of: WriteOf::Rest { body: None },
            brokered: None,
        }))
    }

    fn probed_query() -> Plan {
        let body = br#"{"query": "{ node(id: \"x\") { id } }"}"#;
        let allows = |o: &str| o == "acme";
        let unscoped = Default::default();
        let scope = graphql::Scope { allows: &allows, agent: None, screens: true, unscoped_roots: &unscoped };
        let schema = graphql::GithubSchema::github();
        let request = graphql::parse_request(body, schema, &graphql::Limits::default(), &scope).unwrap();
        let probed = Some(Bytes::from_static(b"probed"));
        let of = ReadOf::Graphql { request: Box::new(request), probed };
        plan(Flow::Read(Read { resource: Resource::Graphql, owners: vec![], tags: Default::default(), of }))
    }

    const JSON: Option<&str> = Some("application/json; charset=utf-8");

    /// name, plan, status, content type, compressed → hold, screen, learn repository.
    type Case = (&'static str, Plan, u16, Option<&'static str>, bool, Head);

    #[test]
    fn what_an_answer_head_needs() {
        let h = |hold, screen, learn_repository| Head { hold, screen, learn_repository };
        let cases: Vec<Case> = vec![
            ("screened REST 200", rest(false, true), 200, JSON, false, h(true, Screen::Rest, false)),
            ("screened REST, compressed", rest(false, true), 200, JSON, true, h(true, Screen::Rest, false)),
            (
                "raw contents are not screened",
                rest(false, true),
                200,
                Some("application/vnd.github.raw"),
                false,
                h(false, Screen::No, false),
            ),
            ("a 404 is only rewritten", rest(false, true), 404, JSON, false, h(true, Screen::No, false)),
            ("no allowlist: rewritten", rest(false, false), 200, JSON, false, h(true, Screen::No, false)),
            ("compressed: passed on", rest(false, false), 200, JSON, true, h(false, Screen::No, false)),
            ("a 304 has no body", rest(true, true), 304, JSON, false, h(false, Screen::No, false)),
            ("repository JSON is learned", rest(true, false), 200, JSON, false, h(true, Screen::No, true)),
            ("not from an error", rest(true, false), 404, JSON, false, h(true, Screen::No, false)),
            ("a probed query, any type", probed_query(), 200, Some("text/html"), true, h(true, Screen::Graphql, false)),
            ("a probed query's 502", probed_query(), 502, None, false, h(true, Screen::Graphql, false)),
            ("a write is rewritten", write(), 201, JSON, false, h(true, Screen::No, false)),
            ("a write's 204", write(), 204, None, false, h(false, Screen::No, false)),
        ];
        for (name, plan, status, content_type, content_encoding, want) in cases {
            let got = head(AnswerHead { status, content_type, content_encoding }, &plan);
            assert_eq!(got, want, "{name}");
        }
    }
}
