//! The audit, wired (issue #16): a write's decision recorded — and, with `[audit] path`, synced to
//! disk — before it is sent, its outcome after, and refusals recorded as denials.
//!
//! Owns: what a decision says of a plan (who, what, where, which installation, the body's field
//! names) and when each record is written.
//! Must never: send a write whose decision could not be written (the client gets 503), or put a
//! token, a key or a body value in a record.

use pingora_proxy::Session;

use super::{Ghpool, RequestCtx};
use crate::admission::agents::Caller;
use crate::admission::classify::{Plan, WriteOf};
use crate::ops::audit_log::{Decision, Denial, Outcome, Record, Who};
use crate::reply::Refusal;

/// What a plan's write is recorded as, before it is sent (`request` ties it to its outcome).
pub fn decision(plan: &Plan, who: Who, request: String, method: &str, installation: Option<u64>) -> Option<Decision> {
    let write = plan.write()?;
    let graphql = plan.graphql();
    let repository = match &write.brokered {
        Some(brokered) => Some(format!("{}/{}", brokered.owner, brokered.name.as_deref().unwrap_or("*"))),
        None => match (&plan.target.segments[..], graphql) {
            ([repos, owner, name, ..], None) if repos == "repos" => Some(format!("{owner}/{name}")),
            (_, Some(g)) if g.reads.repos.len() == 1 => g.reads.repos.iter().next().cloned(),
            _ => None,
        },
    };
    let body_fields = match &write.of {
        WriteOf::Rest { body: Some(body) } => crate::admission::fields::top_level_names(body),
        _ => None,
    };
    Some(Decision {
        request,
        who,
        method: method.to_string(),
        path: plan.target.path.clone(),
        graphql_operation: graphql.and_then(|g| g.operation_name.clone()),
        mutation_fields: graphql.map(|g| g.root_fields.clone()).unwrap_or_default(),
        variables: graphql.map(|g| g.variable_names.clone()).unwrap_or_default(),
        repository,
        installation,
        body_fields,
    })
}

/// Is a refusal recorded? Every refusal of a write, of a keyed agent, and every 401/403.
pub fn denial_recorded(method: &str, agent: bool, status: u16) -> bool {
    agent || !matches!(method, "GET" | "HEAD") || matches!(status, 401 | 403)
}

impl Ghpool {
    /// Who a write is by: the agent it is brokered for, else the GitHub login behind the client's
    /// own token (asked of GitHub once, then remembered: `ops::audit`).
    pub(super) async fn writer(&self, plan: &Plan) -> Option<Who> {
        let write = plan.write()?;
        Some(match (&write.brokered, &plan.agent) {
            (Some(_), Some(agent)) => Who::Agent(agent.id.clone()),
            _ => Who::Login(self.auditor.login_for(&write.credential).await),
        })
    }

    /// Record a write's decision before it is sent: in the audit file, synced (or the write is
    /// refused with 503), else nothing here (the log line is written when it ends).
    pub(super) async fn audit_decision(&self, session: &Session, ctx: &mut RequestCtx) -> Result<(), Refusal> {
        let (Some(file), Some(plan)) = (&self.auditor.file, &ctx.plan) else { return Ok(()) };
        let Some(who) = self.writer(plan).await else { return Ok(()) };
        let request = file.request_id();
        let method = session.req_header().method.as_str();
        let installation = ctx.minted_on.map(|on| on.installation_id);
        let Some(decision) = decision(plan, who, request.clone(), method, installation) else { return Ok(()) };
        match file.write(Record::Decision(decision)).await {
            Ok(()) => {
                ctx.audit_request = Some(request);
                Ok(())
            }
            Err(e) => {
                log::error!("{e}: the write {method} {} is refused (503), not sent", plan.target.path);
                Err(Refusal::AuditUnavailable)
            }
        }
    }

    /// Record what came of a write whose decision was recorded.
    pub(super) async fn audit_outcome(&self, ctx: &RequestCtx, status: u16) {
        let (Some(file), Some(request)) = (&self.auditor.file, &ctx.audit_request) else { return };
        let outcome = Outcome {
            request: request.clone(),
            status,
            github_request_id: ctx.answered.request_id.clone(),
            duration_ms: u64::try_from(ctx.started.elapsed().as_millis()).unwrap_or(u64::MAX),
        };
        if let Err(e) = file.write(Record::Outcome(outcome)).await {
            log::error!("{e} (the outcome of request {request})");
        }
    }

    /// Record a refusal (see [`denial_recorded`]): by the agent whose key it showed, if any; kept
    /// for the audit file's next write (no I/O on the refusal's way).
    pub(super) fn audit_denial(&self, session: &Session, refusal: &Refusal) {
        let Some(file) = &self.auditor.file else { return };
        let req = session.req_header();
        let who = match self.agents.is_empty() {
            false => match self.caller(session) {
                Ok(Caller::Agent(agent)) => Who::Agent(agent.id.clone()),
                _ => Who::Unknown,
            },
            true => Who::Unknown,
        };
        let method = req.method.as_str();
        if !denial_recorded(method, matches!(who, Who::Agent(_)), refusal.status()) {
            return;
        }
        // The path as sent, without its query and bounded: it is the client's, and may be anything
        // (the record's token-shaped words are redacted as it is written).
        let raw = String::from_utf8_lossy(req.raw_path());
        let path: String = raw.split('?').next().unwrap_or_default().chars().take(512).collect();
        let denial = Denial { who, method: method.to_string(), path, status: refusal.status(), reason: refusal.code() };
        file.note(Record::Denial(denial));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn denials_recorded_16() {
        // (method, by an agent, status, recorded)
        let cases = [
            ("GET", true, 404, true),
            ("GET", false, 403, true),
            ("GET", false, 401, true),
            ("GET", false, 429, false),
            ("GET", false, 400, false),
            ("POST", false, 400, true),
            ("DELETE", false, 413, true),
        ];
        for (method, agent, status, recorded) in cases {
            assert_eq!(denial_recorded(method, agent, status), recorded, "{method} {agent} {status}");
        }
    }
}
