//! What a finished request leaves behind: its metrics, the audit line of a write, the log line,
//! a mutation's deferred purge, the end of its lease, and the longer life of a closed entry.
//! Must never: write a token, or keep a lease past the request.

use pingora_proxy::Session;

use super::{Ghpool, RequestCtx};
use crate::admission::classify::Plan;
use crate::ops::audit::AuditEntry;

impl Ghpool {
    pub(super) async fn record(&self, session: &Session, ctx: &mut RequestCtx) {
        let status = session.response_written().map_or(0, |r| r.status.as_u16());
        let label = ctx.plan.as_ref().map_or("refused", Plan::label);
        let elapsed = ctx.started.elapsed();
        self.metrics.request_done(label, status, elapsed);
        if label == "admin" {
            return;
        }
        let req = session.req_header();
        let path = ctx.plan.as_ref().map_or("-", |p| p.target.path.as_str());
        let write = ctx.plan.as_ref().and_then(Plan::write);
        if ctx.audit_request.is_some() {
            // `[audit] path`: its decision was recorded before it was sent.
            self.audit_outcome(ctx, status).await;
        } else if let (Some(plan), None) = (&ctx.plan, &self.auditor.file) {
            // A write (only a write has a writer), audited in the log.
            if let Some(who) = self.writer(plan).await {
                let graphql = plan.graphql();
                let graphql = graphql.map(|g| (g.kind.as_str(), g.operation_name.as_deref(), &g.variable_names[..]));
                let (login, method) = (who.log_name(), req.method.as_str());
                self.auditor.record(&AuditEntry { login: &login, method, path, graphql, status, duration: elapsed });
            }
        }
        let identity = ctx.attempt.lease.as_ref().map_or("-", |l| l.identity().id());
        let upstream = ctx.answered.status.map_or("-".to_string(), |s| s.to_string());
        log::info!(
            "{} {} route={label} identity={identity} status={status} upstream={upstream} {}ms",
            req.method,
            path,
            elapsed.as_millis()
        );
        if let (Some(write), true) = (write, ctx.answered.purge) {
            self.invalidate(&write.purge);
        }
        // A fill this replica claimed ended without an entry (the storage ends a stored one's claim
        // after storing it): replicas waiting on it go on.
        // (Unless the storage ended it after storing the answer, which it did when GitHub answered
        // a cacheable one and nothing failed after.)
        let stored = ctx.answered.stored && ctx.answered.status.is_some() && session.response_written().is_some();
        if let (Some(shared), Some(name), true, false) = (&self.shared, &ctx.shared_name, ctx.went_upstream, stored) {
            shared.release_fill(name);
        }
        ctx.end_lease();
        if let (true, Some((key, writes)), Some(200)) = (ctx.answered.closed, &ctx.cache_key, ctx.answered.status) {
            self.cache.mark_closed(key, *writes);
        }
    }
}
