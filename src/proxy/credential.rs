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
use crate::pool::broker::BrokerError;
use crate::reply::{Refusal, Reply};
use crate::secrets::Secret;

impl Ghpool {
    /// An agent's write with the token the broker mints for its repository and permissions set as
    /// its credential; any other plan as it is.
    pub(super) async fn broker_write(&self, mut plan: Plan) -> Result<Plan, Refusal> {
        let agent = plan.agent.clone();
        let (Flow::Write(write), Some(agent)) = (&mut plan.flow, agent) else { return Ok(plan) };
        let Some(brokered) = write.brokered.clone() else { return Ok(plan) };
        let minted = self
            .broker
            .mint(&agent.id, &brokered.owner, std::slice::from_ref(&brokered.name), &agent.permissions)
            .await
            .map_err(|e| match e {
                BrokerError::NoInstallation(_) | BrokerError::Unscoped => Refusal::Forbidden(format!("ghpool: {e}")),
                other => Refusal::BadGateway(other.to_string()),
            })?;
        write.credential = ClientCredential(Secret::new(format!("token {}", minted.token.expose())));
        log::info!("agent `{}` writes to {}/{} with a token minted for it", agent.id, brokered.owner, brokered.name);
        Ok(plan)
    }

    pub(super) async fn git_credential(&self, agent: &Agent, wanted: &GitCredential) -> Reply {
        let level = if wanted.write { "write" } else { "read" };
        let permissions = BTreeMap::from([("contents".to_string(), level.to_string())]);
        let minted = self.broker.mint(&agent.id, &wanted.owner, std::slice::from_ref(&wanted.name), &permissions).await;
        match minted {
            Ok(scoped) => {
                log::info!(
                    "git credential for agent `{}`: {}/{} contents:{level}, until {}",
                    agent.id,
                    wanted.owner,
                    wanted.name,
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
            Err(e @ BrokerError::NoInstallation(_)) => Refusal::Forbidden(format!("ghpool: {e}")).reply(),
            Err(e @ BrokerError::Unscoped) => Refusal::Forbidden(format!("ghpool: {e}")).reply(),
            Err(e) => Refusal::BadGateway(e.to_string()).reply(),
        }
    }
}
