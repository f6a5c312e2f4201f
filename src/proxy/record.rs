//! What a finished request leaves behind: its metrics, the audit line of a write, the log line,
//! a mutation's deferred purge, the end of its lease, and the longer life of a closed entry.
//! Must never: write a token, or keep a lease past the request.

use pingora_proxy::Session;

use super::{Ghpool, RequestCtx};
use crate::audit::AuditEntry;
use crate::route::Route;

impl Ghpool {
    pub(super) async fn record(&self, session: &Session, ctx: &mut RequestCtx) {
        let status = session.response_written().map_or(0, |r| r.status.as_u16());
        let route = ctx.route.as_ref().map_or("refused", Route::label);
        let elapsed = ctx.started.elapsed();
        self.metrics.request_done(route, status, elapsed);
        if matches!(ctx.route, Some(Route::Admin(_))) {
            return;
        }
        let req = session.req_header();
        let path = ctx.target.as_ref().map_or("-", |t| t.path.as_str());
        if let Some(Route::Passthrough { credential, .. }) = &ctx.route {
            let login = self.auditor.login_for(credential).await;
            let graphql =
                ctx.graphql.as_ref().map(|g| (g.kind.as_str(), g.operation_name.as_deref(), &g.variable_names[..]));
            let method = req.method.as_str();
            self.auditor.record(&AuditEntry { login: &login, method, path, graphql, status, duration: elapsed });
        }
        let identity = ctx.lease.as_ref().map_or("-", |l| l.identity().id());
        let upstream = ctx.upstream_status.map_or("-".to_string(), |s| s.to_string());
        log::info!(
            "{} {} route={route} identity={identity} status={status} upstream={upstream} {}ms",
            req.method,
            path,
            elapsed.as_millis()
        );
        // A mutation whose answer could not be read is taken to have changed something.
        if let Some(what) = ctx.invalidation.take() {
            self.invalidate(&what);
        }
        // The lease ends here, not when the context is dropped later.
        ctx.lease = None;
        // The entry is stored by now: a closed issue or pull request keeps longer.
        if let (true, Some((key, writes)), Some(200)) = (ctx.closed, &ctx.cache_key, ctx.upstream_status) {
            self.cache.mark_closed(key, *writes);
        }
    }
}
