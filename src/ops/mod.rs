//! Operating ghpool: the local endpoints (`admin`), the metrics, the write audit (`audit`: who a
//! credential is; `audit_log`: the fail-closed audit file) and the log.
//!
//! Must never: decide anything about a proxied request (that is `admission`, `pool`, `cache`).

pub mod admin;
pub mod audit;
pub mod audit_log;
pub mod logging;
pub mod metrics;
