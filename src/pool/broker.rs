//! Tokens ghpool mints for agents (issue #16): GitHub App installation tokens scoped to the
//! repositories and permissions an agent is given, so GitHub enforces both and the agent never
//! holds a long-lived credential. Cached per agent and scope until shortly before they expire.
//!
//! Owns: which configured installation serves an owner (for a write, only one whose `[[apps]]`
//! entry `serves` writes), minting with `repositories` and `permissions`, and the cache of what
//! was minted.
//! Must never: mint a token wider than asked (every token names its permissions, and its
//! repositories unless the agent holds the owner whole), log or show a token, or mint for an owner
//! no configured installation is on.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use super::apps::{renew_at, AppClient};
use crate::clock::now_epoch;
use crate::secrets::Secret;

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("no GitHub App installation configured on `{0}` can mint a token for it")]
    NoInstallation(String),
    #[error("no GitHub App installation on `{0}` serves writes (`serves = [\"writes\"]` in its `[[apps]]` entry)")]
    NoWriter(String),
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
    /// Its `[[apps]]` entry serves writes: it may mint tokens that write.
    writes: bool,
}

/// Which repositories a token reaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Repositories {
    /// These (names without owner).
    Named(Vec<String>),
    /// Every repository the installation reaches on its owner: only for an agent given the owner
    /// whole (`owner/*`).
    All,
}

/// What a token is for: a write needs an installation that serves writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Read,
    Write,
}

impl Purpose {
    /// A token with any `write` or `admin` permission writes.
    pub fn of(permissions: &BTreeMap<String, String>) -> Purpose {
        match crate::config::agents::writes_with(permissions) {
            true => Purpose::Write,
            false => Purpose::Read,
        }
    }
}

/// A minted token's cache key and where it was minted: what the audit names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MintedOn {
    pub installation_id: u64,
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
    /// The configured installations (`(account, installation id, client, serves writes)`).
    pub fn new(installations: Vec<(String, u64, AppClient, bool)>) -> Broker {
        let installations = installations
            .into_iter()
            .map(|(account, installation_id, client, writes)| Installed {
                account: account.to_ascii_lowercase(),
                installation_id,
                client,
                writes,
            })
            .collect();
        Broker { installations, minted: Mutex::new(HashMap::new()) }
    }

    /// Is an installation on `owner` configured that can mint for `purpose`?
    pub fn serves(&self, owner: &str, purpose: Purpose) -> bool {
        self.installation(owner, purpose).is_ok()
    }

    /// The installation that mints on `owner`: for a write one that serves writes; for a read any,
    /// one that serves writes first (it was given what agents need).
    fn installation(&self, owner: &str, purpose: Purpose) -> Result<&Installed, BrokerError> {
        let on_owner = || self.installations.iter().filter(|i| i.account.eq_ignore_ascii_case(owner));
        if let Some(writer) = on_owner().find(|i| i.writes) {
            return Ok(writer);
        }
        match (purpose, on_owner().next()) {
            (Purpose::Read, Some(reader)) => Ok(reader),
            (Purpose::Write, Some(_)) => Err(BrokerError::NoWriter(owner.to_ascii_lowercase())),
            (_, None) => Err(BrokerError::NoInstallation(owner.to_ascii_lowercase())),
        }
    }

    /// A token for `agent` reaching `repositories` of `owner` with `permissions` only: a cached
    /// one while it has more than a few minutes left, else a new one.
    pub async fn mint(
        &self,
        agent: &str,
        owner: &str,
        repositories: &Repositories,
        permissions: &BTreeMap<String, String>,
    ) -> Result<(Scoped, MintedOn), BrokerError> {
        let named = match repositories {
            Repositories::Named(names) if names.is_empty() => return Err(BrokerError::Unscoped),
            Repositories::Named(names) => Some(names),
            Repositories::All => None,
        };
        if permissions.is_empty() {
            return Err(BrokerError::Unscoped);
        }
        let installed = self.installation(owner, Purpose::of(permissions))?;
        let on = MintedOn { installation_id: installed.installation_id };
        let repositories = named.map(|names| {
            let mut names: Vec<String> = names.iter().map(|r| r.to_ascii_lowercase()).collect();
            names.sort();
            names.dedup();
            names
        });
        let key = scope_key(agent, installed.installation_id, repositories.as_deref(), permissions);
        let now = now_epoch();
        if let Some(cached) = self.lock().get(&key).filter(|c| c.renew_at > now) {
            return Ok((cached.scoped.clone(), on));
        }
        let minted = installed
            .client
            .mint_scoped(installed.installation_id, repositories.as_deref(), permissions)
            .await
            .map_err(|e| {
                // GitHub's reason is for the operator; the agent learns only that it failed.
                log::warn!("minting a token for agent `{agent}` on `{owner}` failed: {e}");
                BrokerError::Minting(format!("installation {}", installed.installation_id))
            })?;
        let scoped = Scoped { token: minted.token, expires_text: minted.expires_text };
        let renew = renew_at(now, minted.expires_at);
        let mut cache = self.lock();
        cache.retain(|_, c| c.renew_at > now);
        cache.insert(key, Cached { scoped: scoped.clone(), renew_at: renew });
        Ok((scoped, on))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Cached>> {
        self.minted.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// One cache entry per agent, installation, repositories (`None`: all) and permissions.
fn scope_key(
    agent: &str,
    installation: u64,
    repositories: Option<&[String]>,
    permissions: &BTreeMap<String, String>,
) -> String {
    let permissions: Vec<String> = permissions.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let repositories = repositories.map_or("all".to_string(), |names| format!("repos:{}", names.join(",")));
    format!("{agent}\n{installation}\n{repositories}\n{}", permissions.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scope_is_its_agent_installation_repositories_and_permissions_16() {
        let perms = |p: &[(&str, &str)]| p.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let repos = |r: &[&str]| r.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let read = perms(&[("contents", "read")]);
        let a = scope_key("triage", 1, Some(&repos(&["w"])), &read);
        assert_ne!(a, scope_key("coder", 1, Some(&repos(&["w"])), &read));
        assert_ne!(a, scope_key("triage", 2, Some(&repos(&["w"])), &read));
        assert_ne!(a, scope_key("triage", 1, Some(&repos(&["w", "x"])), &read));
        assert_ne!(a, scope_key("triage", 1, Some(&repos(&["w"])), &perms(&[("contents", "write")])));
        assert_ne!(a, scope_key("triage", 1, None, &read));
        assert_ne!(
            scope_key("t", 1, Some(&repos(&["all"])), &read),
            scope_key("t", 1, None, &read),
            "a name is no wildcard"
        );
        assert!(!Broker::default().serves("acme", Purpose::Read));
    }

    #[test]
    fn a_token_that_writes_needs_an_installation_that_serves_writes_16() {
        let perms = |p: &[(&str, &str)]| p.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        assert_eq!(Purpose::of(&perms(&[("contents", "read"), ("metadata", "read")])), Purpose::Read);
        assert_eq!(Purpose::of(&perms(&[("contents", "read"), ("issues", "write")])), Purpose::Write);
        assert_eq!(Purpose::of(&perms(&[("administration", "admin")])), Purpose::Write);
    }

    #[tokio::test]
    async fn a_token_is_never_minted_wider_than_named_16() {
        let broker = Broker::default();
        let read = BTreeMap::from([("contents".to_string(), "read".to_string())]);
        let unscoped = |r: Result<(Scoped, MintedOn), BrokerError>| matches!(r, Err(BrokerError::Unscoped));
        let w = Repositories::Named(vec!["w".to_string()]);
        assert!(unscoped(broker.mint("a", "acme", &Repositories::Named(vec![]), &read).await), "no repositories");
        assert!(unscoped(broker.mint("a", "acme", &w, &BTreeMap::new()).await), "no permissions");
        assert!(unscoped(broker.mint("a", "acme", &Repositories::All, &BTreeMap::new()).await), "no permissions");
        let none = broker.mint("a", "acme", &w, &read).await;
        assert!(matches!(none, Err(BrokerError::NoInstallation(_))));
    }
}
