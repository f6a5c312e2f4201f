//! `GET /git-credential`, wired (issue #16): a token for git to reach one repository, minted by the
//! broker for the request's agent — `contents: read`, or `write` when the agent may write contents
//! — and answered as git's credential helpers want it, never cached.
//! Must never: answer for a repository outside the agent's policy (`classify` refused it), or let
//! the token reach a log or a cache.

use std::collections::BTreeMap;

use super::Ghpool;
use crate::admission::agents::Agent;
use crate::admission::plan::GitCredential;
use crate::pool::broker::BrokerError;
use crate::reply::{Refusal, Reply};

impl Ghpool {
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
            Err(e) => Refusal::BadGateway(e.to_string()).reply(),
        }
    }
}
