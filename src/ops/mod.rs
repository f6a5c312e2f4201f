//! Operating ghpool: the server assembled from the configuration and its background tasks
//! (`service`), the local endpoints (`admin`), the metrics, the write audit and the log.
//!
//! Must never: decide anything about a proxied request (that is `admission`, `pool`, `cache`).

pub mod admin;
pub mod audit;
pub mod logging;
pub mod metrics;
pub mod service;
