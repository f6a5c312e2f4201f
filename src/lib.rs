//! ghpool: a pooling, caching, allowlisting GitHub API proxy on Pingora.
//!
//! Every module, in the order a request meets them (the layers run one way: a module uses only
//! those listed after it, except `service`, which assembles them all):
//! - `service`: the server assembled from the configuration, and its background tasks;
//! - `preflight`: what the system must provide (randomness, CA roots, name resolution), checked at
//!   start;
//! - `proxy`: Pingora's hooks, which only wire the modules below (`proxy::RequestCtx` holds the plan);
//! - `ops`: `/healthz`, `/readyz`, `/stats`, `/metrics` (`admin`, `metrics`), the write audit and
//!   the log;
//! - `pool`: the identities, their budgets, the pick of one per request, App installations
//!   (`apps`) and each client's share (`fairness`);
//! - `admission`: each request understood once (`classify` → `plan`): its target made canonical,
//!   the allowlist, GitHub's REST routes, search queries and GraphQL documents checked, cache tags,
//!   and pooled answers screened;
//! - `cache`: the cache's keys, storage, invalidation and conditional requests;
//! - `shared`: what replicas share through Redis (entries, write generations);
//! - `tls`: ghpool's own listener over TLS (its certificate, mutual TLS) and the verified client
//!   certificate's names;
//! - `config`: settings from TOML and the environment, validated once at start;
//! - `upstream`: GitHub's address, ghpool's own calls to it, and its absolute URLs pointed at
//!   ghpool (`rewrite`);
//! - `secrets`: secret references (`env:`, `k8s:`, `file:`, `aws:`, `gcp:`) resolved and refreshed;
//! - `reply`: every reply ghpool makes itself, in GitHub's error shape;
//! - `ratelimit`: GitHub's rate-limit headers and buckets;
//! - `clock`: wall-clock time in GitHub's epoch seconds;
//! - `ghp`: the decisions of the `ghp` shim that points `gh` at ghpool.
#![forbid(unsafe_code)]

pub mod admission;
pub mod cache;
pub mod clock;
pub mod config;
pub mod ghp;
pub mod ops;
pub mod pool;
pub mod preflight;
pub mod proxy;
pub mod ratelimit;
pub mod reply;
pub mod secrets;
pub mod service;
pub mod shared;
pub mod tls;
pub mod upstream;

/// Sent upstream when the client sent no `User-Agent` (GitHub requires one), and on ghpool's own calls.
pub const USER_AGENT: &str = concat!("ghpool/", env!("CARGO_PKG_VERSION"));
