//! ghpool: a pooling, caching, allowlisting GitHub API proxy on Pingora.
//!
//! The modules follow a request's path: `config` and `secrets` at start; `access` (normalize,
//! allowlist) and `route` (classify) on the way in; `pool` to pick the identity; `upstream` to
//! reach GitHub; `proxy` wiring them into Pingora's hooks; `respond` for every answer ghpool makes
//! itself; `admin` and `metrics` for operators; `service` to assemble the server.
#![forbid(unsafe_code)]

pub mod access;
pub mod admin;
pub mod admission;
pub mod apps;
pub mod audit;
pub mod cache;
pub mod config;
pub mod fairness;
pub mod ghp;
pub mod logging;
pub mod metrics;
pub mod pool;
pub mod proxy;
pub mod repos;
pub mod respond;
pub mod rewrite;
pub mod route;
pub mod secrets;
pub mod service;
pub mod upstream;

/// Sent upstream when the client sent no `User-Agent` (GitHub requires one), and on ghpool's own calls.
pub const USER_AGENT: &str = concat!("ghpool/", env!("CARGO_PKG_VERSION"));
