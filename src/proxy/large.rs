//! Writes ghpool sends itself: those larger than Pingora's retry buffer (files committed with
//! `createCommitOnBranch` carry their contents in the variables; a REST body read for the audit),
//! which Pingora cannot replay; an agent's mutation, sent probed and its answer screened by the
//! agent's repositories; and, with replicas sharing state, every mutation — whether it changed
//! anything is known only from its answer, which the other replicas must hear of before the client
//! has it. Sent once, with the client's own token (an agent's: the one minted for it); GitHub's
//! answer written back as Pingora would have.
//!
//! Owns: that one exchange (request headers forwarded, answer headers and URLs rewritten, the
//! write's invalidation). Must never: retry the write, add a pool token, forward an agent's key,
//! keep the body after the answer, or wait on GitHub without a deadline.

use bytes::Bytes;
use pingora_core::Result;
use pingora_http::ResponseHeader;
use pingora_proxy::Session;

use super::{Ghpool, RequestCtx};
use crate::admission::classify::WriteOf;
use crate::admission::envelope::METHOD_OVERRIDES;
use crate::cache::invalidate::mutation_changed;
use crate::cache::Outcome;
use crate::reply::Refusal;
use crate::upstream::rewrite;

/// Request headers that describe one hop, or that ghpool sets itself: never copied onto its call.
const NOT_FORWARDED: &[&str] = &[
    "host",
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
    "expect",
    // The answer is read (did the mutation change anything?) and its URLs rewritten.
    "accept-encoding",
];

/// Answer headers that describe GitHub's hop: Pingora frames what ghpool writes.
const NOT_RETURNED: &[&str] =
    &["connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding", "upgrade", "trailer"];

impl Ghpool {
    /// Send a write's body to GitHub with the client's headers (its token among them; an agent's
    /// minted token instead of its key) and answer the client (see the module doc for which
    /// writes). What it changed is purged here, and told to the other replicas, before the client
    /// has the answer. The body is dropped as soon as it is sent.
    pub(super) async fn send_write(&self, session: &mut Session, ctx: &mut RequestCtx, body: Bytes) -> Result<()> {
        let Some(plan) = &ctx.plan else { return Ok(()) };
        let Some(write) = plan.write() else { return Ok(()) };
        let up = self.upstream.upstream();
        let target = &plan.target;
        let url = format!(
            "{}://{}{}",
            if up.tls() { "https" } else { "http" },
            up.host_header(),
            up.target(&target.path, target.query.as_deref())
        );
        let method = reqwest::Method::from_bytes(session.req_header().method.as_str().as_bytes())
            .map_err(|e| pingora_core::Error::because(pingora_core::ErrorType::InternalError, "method", e))?;
        let mut request = self
            .client
            .request(method, url)
            .timeout(self.timeouts.connect + self.timeouts.read)
            .header("user-agent", crate::USER_AGENT);
        let brokered = write.brokered.is_some();
        for (name, value) in session.req_header().headers.iter() {
            let name = name.as_str();
            let own_credential = brokered && name == "authorization";
            if !NOT_FORWARDED.contains(&name) && !METHOD_OVERRIDES.contains(&name) && !own_credential {
                request = request.header(name, value.clone());
            }
        }
        if brokered {
            request = request.header("authorization", write.credential.0.expose());
        }
        let answer = match request.body(reqwest::Body::from(body)).send().await {
            Ok(answer) => answer,
            Err(e) => {
                let refusal = match e.is_timeout() {
                    true => Refusal::GatewayTimeout,
                    // reqwest's error text names the URL, never a header value.
                    false => Refusal::BadGateway(e.without_url().to_string()),
                };
                let r = refusal.reply();
                return super::io::send(session, r.status, &r.headers, r.body).await;
            }
        };
        let status = answer.status().as_u16();
        ctx.answered.status = Some(status);
        ctx.answered.request_id = super::answer::github_request_id(answer.headers());
        let mut resp = ResponseHeader::build(status, Some(answer.headers().len() + 2))?;
        for (name, value) in answer.headers() {
            if !NOT_RETURNED.contains(&name.as_str()) {
                resp.append_header(name.as_str().to_string(), value.as_bytes())?;
            }
        }
        let body = match answer.bytes().await {
            Ok(body) => body,
            Err(e) => {
                log::warn!("the answer to a large mutation was cut: {}", e.without_url());
                session.set_keepalive(None);
                return Ok(());
            }
        };
        let Some(plan) = &ctx.plan else { return Ok(()) };
        let Some(write) = plan.write() else { return Ok(()) };
        self.rewrite_headers(&mut resp, &plan.public_base)?;
        resp.insert_header("x-ghpool-cache", Outcome::Bypass.label())?;
        let changed = match &write.of {
            WriteOf::Mutation { .. } => status == 200 && mutation_changed(&body),
            WriteOf::Rest { .. } => (200..300).contains(&status),
        };
        // An agent's mutation is answered with a token that reads public repositories beyond its
        // own: the answer is screened by its repositories, as its queries' are.
        let body = match (&plan.agent, &write.of) {
            (Some(agent), WriteOf::Mutation { probed: Some(_), .. }) => {
                let allows = |owner: &str, name: Option<&str>| {
                    self.allowlist.allows(owner) && agent.policy.covers_object(owner, name)
                };
                let screened =
                    crate::admission::graphql::screen::screen_repositories(&body, self.graphql.schema, allows);
                self.metrics.withheld("graphql", screened.withheld);
                screened.body
            }
            _ => body.to_vec(),
        };
        let upstream_base = up.base_url();
        let body = Bytes::from(rewrite::rewrite_body(&body, &upstream_base, &plan.public_base).into_owned());
        resp.insert_header("content-length", body.len().to_string())?;
        // Purged before the client has the answer: its next read sees the write.
        if changed {
            self.invalidate(&write.purge);
            if let Some(shared) = &self.shared {
                shared.bump(&crate::shared::purge_tags(&write.purge)).await;
            }
        }
        session.write_response_header(Box::new(resp), false).await?;
        session.write_response_body(Some(body), true).await?;
        Ok(())
    }
}
