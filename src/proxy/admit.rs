//! Admission, wired: the body read when the plan needs it, `admission::classify` called, and a
//! repository's owner asked of GitHub when the allowlist needs it (then classified again); the
//! client charged its share before anything costs GitHub a request.
//! Must never: decide what `classify` decides, or call GitHub for a refused request.

use pingora_core::protocols::tls::SslDigest;
use pingora_proxy::Session;

use super::io::{read_body, Read};
use super::lookup::Asker;
use super::{Ghpool, RequestCtx};
use crate::admission::classify::{self, Admission, Body, KnowingOwner, Parts, Plan, Rules};
use crate::reply::Refusal;

/// The connection's TLS, when it came over the TLS listener: its digest, which holds the verified
/// client certificate (mutual TLS).
pub(super) fn connection_tls(session: &Session) -> Option<std::sync::Arc<SslDigest>> {
    session.digest()?.ssl_digest.clone()
}

impl Ghpool {
    fn rules<'a>(&'a self, repos: &'a dyn crate::admission::tags::KnownRepos, tls: Option<&'a SslDigest>) -> Rules<'a> {
        Rules {
            allowlist: &self.allowlist,
            graphql: &self.graphql,
            upstream_host: self.upstream.upstream().host(),
            public_url: self.public_url.as_deref(),
            repos,
            agents: &self.agents,
            reads_write_bodies: self.auditor.file.is_some(),
            scheme: if tls.is_some() { "https" } else { "http" },
            client_certificate: tls.and_then(crate::tls::client_certificate),
            mutual_tls: self.tls.as_ref().is_some_and(|t| t.mutual()),
        }
    }

    /// Who the request comes from, by its key or its connection's client certificate: the
    /// [`Agents::identify`](crate::admission::agents::Agents::identify) of `classify`, for what
    /// happens beside it (counts, fairness, the audit of a refusal).
    pub(super) fn caller(&self, session: &Session) -> Result<crate::admission::agents::Caller, Refusal> {
        let authorization = session.req_header().headers.get("authorization").and_then(|v| v.to_str().ok());
        let tls = connection_tls(session);
        self.agents.identify(authorization, tls.as_deref().and_then(crate::tls::client_certificate))
    }

    /// What to do with this request: its plan, or why not — counted for its agent, if it has one.
    pub(super) async fn admit(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<Plan, Refusal> {
        use std::sync::atomic::Ordering;
        let admitted = self.plan(session, ctx).await;
        match &admitted {
            Ok(plan) => {
                if let Some(agent) = &plan.agent {
                    agent.requests.fetch_add(1, Ordering::Relaxed);
                }
            }
            // Refusals are rare: the key is looked at again to say whose it was.
            Err(_) if !self.agents.is_empty() => {
                if let Ok(crate::admission::agents::Caller::Agent(agent)) = self.caller(session) {
                    agent.denials.fetch_add(1, Ordering::Relaxed);
                }
            }
            Err(_) => {}
        }
        admitted
    }

    async fn plan(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<Plan, Refusal> {
        let tls = connection_tls(session);
        let limit = {
            let req = session.req_header();
            let parts = Parts { method: req.method.as_str(), raw_path: req.raw_path(), headers: &req.headers };
            classify::body_limit(&parts, &self.rules(&*self.repos, tls.as_deref()))?
        };
        let body = match limit {
            None => Body::None,
            Some(limit) => match read_body(session, limit).await? {
                Read::Whole(body) => Body::Whole(body.into()),
                Read::Cut(prefix) => Body::Cut(prefix.into()),
            },
        };
        let req = session.req_header();
        let parts = Parts { method: req.method.as_str(), raw_path: req.raw_path(), headers: &req.headers };
        let (id, client) = match classify::classify(&parts, &body, &self.rules(&*self.repos, tls.as_deref()))? {
            Admission::Plan(plan) => return Ok(plan),
            Admission::NeedsOwner { id, client } => (id, client),
        };
        let owner = match &client {
            // A write names its repository with the client's own token, never the pool's.
            Some(credential) => self.owner_of_repository(id, Asker::Client(credential)).await?,
            None => {
                // The look-up costs the pool a request: charged to the client first.
                self.charge(session, ctx).await?;
                self.owner_of_repository(id, Asker::Pool).await?
            }
        };
        let knowing = KnowingOwner { known: &*self.repos, id, owner: &owner };
        let req = session.req_header();
        let parts = Parts { method: req.method.as_str(), raw_path: req.raw_path(), headers: &req.headers };
        match classify::classify(&parts, &body, &self.rules(&knowing, tls.as_deref()))? {
            Admission::Plan(plan) => Ok(plan),
            // The owner is known now: asking again would not change the answer.
            Admission::NeedsOwner { .. } => Err(Refusal::NotFound),
        }
    }

    /// Charge this request to its client's share, once: before anything it costs GitHub (an owner
    /// look-up or the request itself).
    pub(super) async fn charge(&self, session: &Session, ctx: &mut RequestCtx) -> Result<(), Refusal> {
        if std::mem::replace(&mut ctx.charged, true) {
            return Ok(());
        }
        let req = session.req_header();
        let header = req.headers.get("x-ghpool-client").and_then(|v| v.to_str().ok());
        let authorization = req.headers.get("authorization").and_then(|v| v.to_str().ok());
        // Only a token GitHub has accepted names a client: a made-up one per request would not.
        let authorization = authorization.filter(|a| self.auditor.verified(a));
        let addr = session.client_addr().and_then(|a| a.as_inet()).map(|a| a.ip());
        // A keyed agent is one client wherever it runs (issue #16): its share is its own.
        let agent = ctx.plan.as_ref().and_then(|p| p.agent.as_ref()).map(|a| a.id.clone()).or_else(|| {
            match self.caller(session) {
                Ok(crate::admission::agents::Caller::Agent(agent)) => Some(agent.id.clone()),
                _ => None,
            }
        });
        let client = match agent {
            Some(id) => format!("agent:{id}"),
            None => {
                let tls = connection_tls(session);
                let name = tls.as_deref().and_then(crate::tls::client_certificate).map(|c| c.name());
                crate::pool::fairness::client_name(self.fairness.kind, header, authorization, name, addr)
            }
        };
        // Across replicas, the shared bucket decides; without Redis, this replica's own.
        let shared = match (&self.shared, self.fairness.rate()) {
            (Some(shared), Some((interval, burst))) => {
                shared.take_share(self.fairness.bucket_name(&client), interval, burst).await
            }
            _ => None,
        };
        self.fairness
            .settle(&client, std::time::Instant::now(), shared)
            .map_err(|wait| Refusal::OverShare { retry_after_secs: wait.as_secs().max(1) })
    }
}
