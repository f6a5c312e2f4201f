//! Operating ghpool: the local endpoints (`admin`), the metrics, the write audit and the log.
//!
//! Must never: decide anything about a proxied request (that is `admission`, `pool`, `cache`).

pub mod admin;
pub mod audit;
pub mod logging;
pub mod metrics;
