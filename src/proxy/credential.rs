//! Tokens minted for agents, wired (issue #16): `GET /git-credential` — a token for git to reach one
//! repository, `contents: read` (or `write` when the agent may write contents), answered as git's
//! credential helpers want it, never cached — and an agent's REST write, sent with a token minted
//! for its one repository and its permissions.
//! Must never: mint for a repository outside the agent's policy (`classify` refused it), or let a
//! token reach a log or a cache.

use std::collections::BTreeMap;

use super::Ghpool;
use crate::admission::agents::Agent;
use crate::admission::classify::{ClientCredential, Flow, Plan};
use crate::admission::plan::GitCredential;
use crate::pool::broker::{BrokerError, MintedOn, Repositories};
use crate::reply::{Refusal, Reply};
use crate::secrets::Secret;

impl Ghpool {
    /// An agent's write with the token the broker mints for its repository (or, for a mutation,
    /// its repositories on the owner) and its permissions set as its credential, and where it was
    /// minted; any other plan as it is.
    pub(super) async fn broker_write(&self, mut plan: Plan) -> Result<(Plan, Option<MintedOn>), Refusal> {
        let agent = plan.agent.clone();
        let (Flow::Write(write), Some(agent)) = (&mut plan.flow, agent) else { return Ok((plan, None)) };
        let Some(brokered) = write.brokered.clone() else { return Ok((plan, None)) };
        let repositories = match &brokered.name {
            Some(name) => Repositories::Named(vec![name.clone()]),
            None => agent.policy.repositories_of(&brokered.owner).map_or(Repositories::All, Repositories::Named),
        };
        let (minted, on) =
            self.broker.mint(&agent.id, &brokered.owner, &repositories, &agent.permissions).await.map_err(refusal)?;
        write.credential = ClientCredential(Secret::new(format!("token {}", minted.token.expose())));
        agent.brokered.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let to = brokered.name.as_deref().unwrap_or("*");
        log::info!("agent `{}` writes to {}/{to} with a token minted for it", agent.id, brokered.owner);
        Ok((plan, Some(on)))
    }

    pub(super) async fn git_credential(&self, agent: &Agent, wanted: &GitCredential) -> Reply {
        let level = if wanted.write { "write" } else { "read" };
        let permissions = BTreeMap::from([("contents".to_string(), level.to_string())]);
        let repositories = Repositories::Named(vec![wanted.name.clone()]);
        match self.broker.mint(&agent.id, &wanted.owner, &repositories, &permissions).await {
            Ok((scoped, on)) => {
                // Recorded before it is handed over; not handed over if it cannot be.
                if let Some(file) = &self.auditor.file {
                    let record = crate::ops::audit_log::GitCredential {
                        who: crate::ops::audit_log::Who::Agent(agent.id.clone()),
                        repository: format!("{}/{}", wanted.owner, wanted.name),
                        installation: on.installation_id,
                        contents: level.to_string(),
                        expires_at: scoped.expires_text.clone(),
                    };
                    if let Err(e) = file.write(crate::ops::audit_log::Record::GitCredential(record)).await {
                        log::error!("{e}: a git credential for agent `{}` is refused (503)", agent.id);
                        return Refusal::AuditUnavailable.reply();
                    }
                }
                agent.git_credentials.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                log::info!(
                    "git credential for agent `{}`: {}/{} contents:{level} (installation {}), until {}",
                    agent.id,
                    wanted.owner,
                    wanted.name,
                    on.installation_id,
                    scoped.expires_text
                );
                let body = serde_json::json!({
                    "username": "x-access-token",
                    "password": scoped.token.expose(),
                    "expires_at": scoped.expires_text,
                });
                let headers = vec![
                    ("content-type", "application/json; charset=utf-8".to_string()),
                    ("cache-control", "no-store".to_string()),
                ];
                Reply { status: 200, headers, body: body.to_string().into_bytes() }
            }
            Err(e) => refusal(e).reply(),
        }
    }
}

/// Why no token was minted, as the agent is told: what configuration lacks is named, what GitHub
/// said is logged (`broker`) and not passed on.
fn refusal(e: BrokerError) -> Refusal {
    match e {
        BrokerError::NoInstallation(_) | BrokerError::NoWriter(_) | BrokerError::Unscoped => {
            Refusal::Forbidden(format!("ghpool: {e}"))
        }
        BrokerError::Minting(_) => Refusal::BadGateway(e.to_string()),
    }
}
