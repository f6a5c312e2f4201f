//! ghpool: a pooling, caching, allowlisting GitHub API proxy on Pingora.
//!
//! The modules, in the order a request meets them:
//! - `config`: settings from TOML and the environment, validated once at start;
//! - `secrets`: secret references (`env:`, `k8s:`, `aws:`, `gcp:`) resolved and refreshed;
//! - `service`: the server assembled from the configuration, and its background tasks;
//! - `proxy`: Pingora's hooks, which only wire the modules below;
//! - `access`: the request target made canonical, and the owner allowlist applied to it;
//! - `admission`: GitHub's REST routes, search queries, GraphQL documents and request shapes,
//!   checked, and pooled answers screened;
//! - `route`: which route a request takes (pooled read, passthrough write, admin);
//! - `repos`: repository ids and the owners they belong to;
//! - `fairness`: each client's share of the pool's budget;
//! - `pool`: the identities, their budgets, and the pick of one per request;
//! - `apps`: GitHub App installations as identities (tokens minted and renewed);
//! - `cache`: the cache's keys, storage, invalidation and conditional requests;
//! - `upstream`: GitHub's address, and ghpool's own calls to it;
//! - `ratelimit`: GitHub's rate-limit headers;
//! - `rewrite`: GitHub's absolute URLs pointed at ghpool;
//! - `respond`: every answer ghpool makes itself, in GitHub's error shape;
//! - `audit`: one line per write, with the login behind the client's token;
//! - `admin`, `metrics`, `logging`: `/healthz`, `/readyz`, `/stats`, `/metrics` and the log;
//! - `clock`: wall-clock time in GitHub's epoch seconds;
//! - `ghp`: the `ghp` shim that points `gh` at ghpool.
#![forbid(unsafe_code)]

pub mod admission;
pub mod cache;
pub mod clock;
pub mod config;
pub mod ghp;
pub mod ops;
pub mod pool;
pub mod proxy;
pub mod ratelimit;
pub mod reply;
pub mod secrets;
pub mod upstream;

/// Sent upstream when the client sent no `User-Agent` (GitHub requires one), and on ghpool's own calls.
pub const USER_AGENT: &str = concat!("ghpool/", env!("CARGO_PKG_VERSION"));
