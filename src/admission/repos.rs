//! Repository ids → owners, for `/repositories/{id}/…` paths (GitHub's own pagination links use
//! them): learned from the repository JSON that passes through, and from the look-ups the proxy
//! makes for an unknown id (`proxy::lookup`) before the allowlist decides.
//!
//! Owns: the bounded, expiring id → owner and id ↔ name maps, and the ids the pool could not see.
//! Pure state: no I/O, no identities. Must never: allow anything itself (that is `access`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Repositories are rarely transferred; an hour bounds how long a transfer goes unnoticed.
const TTL: Duration = Duration::from_secs(3600);
const CAPACITY: usize = 100_000;
/// How long an id the pool cannot see is answered 404 without asking GitHub again.
const MISSING_TTL: Duration = Duration::from_secs(300);

#[derive(Debug, Default)]
pub struct RepoOwners {
    map: Mutex<HashMap<u64, (String, Instant)>>,
    /// id ↔ `owner/name`, lower-cased, from repository JSON: lets a write to `/repos/o/r` find the
    /// cached `/repositories/{id}` reads of the same repository.
    names: Mutex<HashMap<u64, (String, Instant)>>,
    /// Ids the pool could not see, and when: not asked again for `MISSING_TTL`.
    missing: Mutex<HashMap<u64, Instant>>,
}

impl RepoOwners {
    pub fn get(&self, id: u64) -> Option<String> {
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&id).filter(|(_, at)| at.elapsed() < TTL).map(|(owner, _)| owner.clone())
    }

    pub fn learn(&self, id: u64, owner: &str) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= CAPACITY && !map.contains_key(&id) {
            map.retain(|_, (_, at)| at.elapsed() < TTL);
            if map.len() >= CAPACITY {
                // Still full of live entries: drop an arbitrary tenth rather than grow.
                let victims: Vec<u64> = map.keys().take(CAPACITY / 10).copied().collect();
                for v in victims {
                    map.remove(&v);
                }
            }
        }
        map.insert(id, (owner.to_ascii_lowercase(), Instant::now()));
    }

    /// The `owner/name` of repository `id`, if seen within `TTL` (a repository renamed or
    /// transferred since is asked again: an agent's policy is judged by the name).
    pub fn full_name(&self, id: u64) -> Option<String> {
        let names = self.names.lock().unwrap_or_else(|p| p.into_inner());
        names.get(&id).filter(|(_, at)| at.elapsed() < TTL).map(|(name, _)| name.clone())
    }

    /// The id of `owner/name`, if seen.
    pub fn id_of(&self, full_name: &str) -> Option<u64> {
        let names = self.names.lock().unwrap_or_else(|p| p.into_inner());
        names.iter().find(|(_, (n, at))| at.elapsed() < TTL && n.eq_ignore_ascii_case(full_name)).map(|(id, _)| *id)
    }

    fn learn_name(&self, id: u64, full_name: &str) {
        let mut names = self.names.lock().unwrap_or_else(|p| p.into_inner());
        if names.len() >= CAPACITY && !names.contains_key(&id) {
            names.clear();
        }
        names.insert(id, (full_name.to_ascii_lowercase(), Instant::now()));
    }

    /// Learn from a repository object (`{"id", "owner": {"login"}}`) or a list of them.
    pub fn learn_from_json(&self, body: &[u8]) {
        let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else { return };
        let items = match &value {
            serde_json::Value::Array(items) => items.iter().collect(),
            other => vec![other],
        };
        for item in items {
            let id = item.get("id").and_then(|v| v.as_u64());
            let owner = item.get("owner").and_then(|o| o.get("login")).and_then(|l| l.as_str());
            if let (Some(id), Some(owner)) = (id, owner) {
                self.learn(id, owner);
                if let Some(full_name) = item.get("full_name").and_then(|n| n.as_str()) {
                    self.learn_name(id, full_name);
                }
            }
        }
    }

    /// Learn the owner (and name) of repository `id` from GitHub's answer for it; its owner,
    /// lower-cased, or None when the answer names none.
    pub fn learn_repository(&self, id: u64, repository: &serde_json::Value) -> Option<String> {
        let owner = repository.get("owner").and_then(|o| o.get("login")).and_then(|l| l.as_str())?;
        self.learn(id, owner);
        if let Some(full_name) = repository.get("full_name").and_then(|n| n.as_str()) {
            self.learn_name(id, full_name);
        }
        Some(owner.to_ascii_lowercase())
    }

    /// A pooled look-up of `id` found nothing a moment ago (only the pool's view is remembered:
    /// a client's token may see what the pool does not).
    pub fn recently_missing(&self, id: u64) -> bool {
        let missing = self.missing.lock().unwrap_or_else(|p| p.into_inner());
        missing.get(&id).is_some_and(|at| at.elapsed() < MISSING_TTL)
    }

    pub fn remember_missing(&self, id: u64) {
        let mut missing = self.missing.lock().unwrap_or_else(|p| p.into_inner());
        if missing.len() >= CAPACITY {
            missing.retain(|_, at| at.elapsed() < MISSING_TTL);
            if missing.len() >= CAPACITY {
                missing.clear();
            }
        }
        missing.insert(id, Instant::now());
    }
}

/// What admission needs to know of repositories.
impl crate::admission::tags::KnownRepos for RepoOwners {
    fn owner_of(&self, id: u64) -> Option<String> {
        RepoOwners::get(self, id)
    }
    fn full_name(&self, id: u64) -> Option<String> {
        RepoOwners::full_name(self, id)
    }
    fn id_of(&self, full_name: &str) -> Option<u64> {
        RepoOwners::id_of(self, full_name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_from_repository_json() {
        let owners = RepoOwners::default();
        owners.learn_from_json(br#"{"id": 7, "owner": {"login": "Acme"}, "name": "w", "full_name": "Acme/W"}"#);
        owners.learn_from_json(br#"[{"id": 8, "owner": {"login": "b"}}, {"id": 9}]"#);
        owners.learn_from_json(b"not json");
        assert_eq!(owners.get(7).as_deref(), Some("acme"));
        assert_eq!(owners.get(8).as_deref(), Some("b"));
        assert_eq!(owners.get(9), None);
        assert_eq!(owners.full_name(7).as_deref(), Some("acme/w"));
        assert_eq!(owners.id_of("ACME/w"), Some(7));
    }
}
