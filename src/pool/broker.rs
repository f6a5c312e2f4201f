//! Tokens ghpool mints for agents (issue #16): GitHub App installation tokens scoped to the
//! repositories and permissions an agent is given, so GitHub enforces both and the agent never
//! holds a long-lived credential. Cached per agent and scope until shortly before they expire.
//!
//! Owns: which configured installation serves an owner, minting with `repositories` and
//! `permissions`, and the cache of what was minted.
//! Must never: mint a token wider than asked (every token names its repositories and permissions),
//! log or show a token, or mint for an owner no configured installation is on.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use super::apps::{renew_at, AppClient};
use crate::clock::now_epoch;
use crate::secrets::Secret;

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("no GitHub App installation configured on `{0}` can mint a token for it")]
    NoInstallation(String),
    #[error("GitHub did not mint the token: {0}")]
    Minting(String),
    /// Asked without repositories or permissions: GitHub would mint the installation's own scope.
    #[error("a token for an agent names its repositories and permissions")]
    Unscoped,
}

/// A minted token, as the caller hands it on.
#[derive(Clone)]
pub struct Scoped {
    pub token: Secret,
    /// As GitHub wrote it.
    pub expires_text: String,
}

struct Installed {
    account: String,
    installation_id: u64,
    client: AppClient,
}

struct Cached {
    scoped: Scoped,
    renew_at: u64,
}

#[derive(Default)]
pub struct Broker {
    installations: Vec<Installed>,
    minted: Mutex<HashMap<String, Cached>>,
}

impl Broker {
    /// The configured installations (`(account, installation id, client)`).
    pub fn new(installations: Vec<(String, u64, AppClient)>) -> Broker {
        let installations = installations
            .into_iter()
            .map(|(account, installation_id, client)| Installed {
                account: account.to_ascii_lowercase(),
                installation_id,
                client,
            })
            .collect();
        Broker { installations, minted: Mutex::new(HashMap::new()) }
    }

    /// Is an installation on `owner` configured?
    pub fn serves(&self, owner: &str) -> bool {
        self.installations.iter().any(|i| i.account.eq_ignore_ascii_case(owner))
    }

    /// A token for `agent` reaching `repositories` of `owner` with `permissions` only: a cached
    /// one while it has more than a few minutes left, else a new one.
    pub async fn mint(
        &self,
        agent: &str,
        owner: &str,
        repositories: &[String],
        permissions: &BTreeMap<String, String>,
    ) -> Result<Scoped, BrokerError> {
        if repositories.is_empty() || permissions.is_empty() {
            return Err(BrokerError::Unscoped);
        }
        let installed = self
            .installations
            .iter()
            .find(|i| i.account.eq_ignore_ascii_case(owner))
            .ok_or_else(|| BrokerError::NoInstallation(owner.to_ascii_lowercase()))?;
        let mut repositories: Vec<String> = repositories.iter().map(|r| r.to_ascii_lowercase()).collect();
        repositories.sort();
        repositories.dedup();
        let key = scope_key(agent, installed.installation_id, &repositories, permissions);
        let now = now_epoch();
        if let Some(cached) = self.lock().get(&key).filter(|c| c.renew_at > now) {
            return Ok(cached.scoped.clone());
        }
        let minted = installed
            .client
            .mint_scoped(installed.installation_id, &repositories, permissions)
            .await
            .map_err(|e| BrokerError::Minting(e.to_string()))?;
        let scoped = Scoped { token: minted.token, expires_text: minted.expires_text };
        let renew = renew_at(now, minted.expires_at);
        let mut cache = self.lock();
        cache.retain(|_, c| c.renew_at > now);
        cache.insert(key, Cached { scoped: scoped.clone(), renew_at: renew });
        Ok(scoped)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Cached>> {
        self.minted.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// One cache entry per agent, installation, repositories and permissions.
fn scope_key(
    agent: &str,
    installation: u64,
    repositories: &[String],
    permissions: &BTreeMap<String, String>,
) -> String {
    let permissions: Vec<String> = permissions.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{agent}\n{installation}\n{}\n{}", repositories.join(","), permissions.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scope_is_its_agent_installation_repositories_and_permissions_16() {
        let perms = |p: &[(&str, &str)]| p.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let repos = |r: &[&str]| r.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let a = scope_key("triage", 1, &repos(&["w"]), &perms(&[("contents", "read")]));
        assert_ne!(a, scope_key("coder", 1, &repos(&["w"]), &perms(&[("contents", "read")])));
        assert_ne!(a, scope_key("triage", 2, &repos(&["w"]), &perms(&[("contents", "read")])));
        assert_ne!(a, scope_key("triage", 1, &repos(&["w", "x"]), &perms(&[("contents", "read")])));
        assert_ne!(a, scope_key("triage", 1, &repos(&["w"]), &perms(&[("contents", "write")])));
        assert!(!Broker::default().serves("acme"));
    }

    #[tokio::test]
    async fn a_token_is_never_minted_wider_than_named_16() {
        let broker = Broker::default();
        let read = BTreeMap::from([("contents".to_string(), "read".to_string())]);
        let unscoped = |r: Result<Scoped, BrokerError>| matches!(r, Err(BrokerError::Unscoped));
        assert!(unscoped(broker.mint("a", "acme", &[], &read).await), "no repositories");
        assert!(unscoped(broker.mint("a", "acme", &["w".to_string()], &BTreeMap::new()).await), "no permissions");
        let none = broker.mint("a", "acme", &["w".to_string()], &read).await;
        assert!(matches!(none, Err(BrokerError::NoInstallation(_))));
    }
}
