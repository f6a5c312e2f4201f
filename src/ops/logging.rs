//! Logging: `env_logger` configured by `RUST_LOG` (default `info`), behind a guard.
//!
//! Some libraries print whole request headers at debug or trace level (Pingora's "Sending header
//! to upstream {:?}", HTTP clients' wire traces), and on a pooled read those headers carry a pool
//! token. The guard drops their records below `info` whatever `RUST_LOG` asks for, however
//! specific the directive (`pingora_proxy::proxy_h1=trace` included).
//! Must never: let a record from those targets through below `info`.

use log::{Level, Log, Metadata, Record};

/// Target prefixes whose debug and trace records may contain request headers (or, for AWS's SDK,
/// signed requests and the secrets it fetched).
const HEADER_PRINTING_TARGETS: &[&str] = &["pingora", "hyper", "h2", "reqwest", "rustls", "aws"];

/// Is this record one the guard drops?
pub fn muted(target: &str, level: Level) -> bool {
    level > Level::Info && HEADER_PRINTING_TARGETS.iter().any(|prefix| target.starts_with(prefix))
}

struct Guarded(env_logger::Logger);

impl Log for Guarded {
    fn enabled(&self, metadata: &Metadata) -> bool {
        !muted(metadata.target(), metadata.level()) && self.0.enabled(metadata)
    }

    fn log(&self, record: &Record) {
        if self.enabled(record.metadata()) {
            self.0.log(record);
        }
    }

    fn flush(&self) {
        self.0.flush();
    }
}

/// Install the guarded logger. Call once, first thing.
pub fn init() {
    let logger = env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).build();
    let max = logger.filter();
    if log::set_boxed_logger(Box::new(Guarded(logger))).is_ok() {
        log::set_max_level(max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_printing_libraries_are_muted_below_info() {
        assert!(muted("pingora_proxy::proxy_h1", Level::Debug));
        assert!(muted("hyper_util::client", Level::Trace));
        assert!(muted("aws_smithy_runtime::client::orchestrator", Level::Trace));
        assert!(!muted("pingora_proxy", Level::Info));
        assert!(!muted("pingora_core::server", Level::Error));
        assert!(!muted("ghpool::proxy", Level::Debug));
    }
}
