//! What the pool shows of itself: per-identity state for `/stats` and `/metrics`, and the combined
//! budget `GET /rate_limit` answers with.
//! Must never: include a token.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use serde::Serialize;

use super::identity::{Account, State};
use super::{assumed_limit, lock, now_epoch, Pool};
use crate::pool::apps::Installation;

impl Pool {
    /// The pool's combined budget per resource, over distinct usable accounts: what `GET /rate_limit`
    /// answers through ghpool (limits and remaining summed, the earliest reset).
    pub fn totals(&self) -> std::collections::BTreeMap<String, ResourceSnapshot> {
        self.totals_at(now_epoch())
    }

    pub fn totals_at(&self, now: u64) -> std::collections::BTreeMap<String, ResourceSnapshot> {
        let mut seen: Vec<*const Account> = Vec::new();
        let mut totals: std::collections::BTreeMap<String, ResourceSnapshot> =
            ["core", "search", "graphql", "code_search"]
                .iter()
                .map(|r| (r.to_string(), ResourceSnapshot { limit: 0, remaining: 0, used: 0, reset: u64::MAX }))
                .collect();
        for identity in self.identities.iter().filter(|i| i.is_usable()) {
            let account = Arc::as_ptr(&identity.account);
            if seen.contains(&account) {
                continue;
            }
            seen.push(account);
            let budgets = lock(&identity.account.budgets);
            let names: std::collections::BTreeSet<String> =
                totals.keys().cloned().chain(budgets.iter().map(|(n, _)| n.clone())).collect();
            for name in names {
                let observed = budgets.get(&name);
                let limit = observed.map_or(assumed_limit(&name), |b| b.limit);
                let remaining = budgets.remaining(&name, now);
                let reset = observed.filter(|b| b.reset > now).map_or(now + 3600, |b| b.reset);
                let t =
                    totals.entry(name).or_insert(ResourceSnapshot { limit: 0, remaining: 0, used: 0, reset: u64::MAX });
                t.limit += limit;
                t.remaining += remaining;
                t.used += limit.saturating_sub(remaining);
                t.reset = t.reset.min(reset);
            }
        }
        for t in totals.values_mut() {
            if t.reset == u64::MAX {
                t.reset = now + 3600;
            }
        }
        totals
    }

    /// What `/stats` shows: never a token.
    pub fn snapshot(&self) -> Vec<IdentitySnapshot> {
        let now = now_epoch();
        self.identities
            .iter()
            .map(|i| {
                let budgets = lock(&i.account.budgets);
                let mut resources: Vec<(String, ResourceSnapshot)> = budgets
                    .iter()
                    .map(|(name, rl)| {
                        let remaining = budgets.remaining(name, now);
                        (name.clone(), ResourceSnapshot { limit: rl.limit, remaining, used: rl.used, reset: rl.reset })
                    })
                    .collect();
                resources.sort_by(|a, b| a.0.cmp(&b.0));
                IdentitySnapshot {
                    id: i.id.clone(),
                    login: i.login.clone(),
                    state: lock(&i.state).clone(),
                    in_flight: i.in_flight.load(Ordering::Relaxed),
                    upstream_requests: i.upstream_requests.load(Ordering::Relaxed),
                    token_expires: lock(&i.token_expires).clone(),
                    resources: resources.into_iter().collect(),
                    limited_until: budgets.limited(now),
                    app: i.installation.clone(),
                }
            })
            .collect()
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ResourceSnapshot {
    pub limit: u64,
    pub remaining: u64,
    pub used: u64,
    pub reset: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct IdentitySnapshot {
    pub id: String,
    pub login: String,
    #[serde(flatten)]
    pub state: State,
    pub in_flight: u64,
    pub upstream_requests: u64,
    pub token_expires: Option<String>,
    pub resources: std::collections::BTreeMap<String, ResourceSnapshot>,
    /// Resources this identity cannot serve now (spent, or paused by GitHub), and until when
    /// (epoch s).
    pub limited_until: std::collections::BTreeMap<String, u64>,
    /// For a GitHub App installation: app id, installation id, account, scope.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app: Option<Installation>,
}
