//! The `ghpool` binary: Pingora's standard options (`-c` server conf, `-u` upgrade, `-d` daemon,
//! `-t` test), ghpool's own configuration from `$GHPOOL_CONFIG` and `GHPOOL_*`, then serve.
//! `ghpool keygen` prints a new agent key and its digest instead.

use std::collections::HashMap;
use std::process::ExitCode;

use ghpool::config::Config;
use ghpool::service;
use pingora_core::server::configuration::Opt;

fn main() -> ExitCode {
    // Before anything draws a random seed (hash maps, TLS): a missing source is said, not a panic.
    if let Err(e) = ghpool::preflight::randomness() {
        eprintln!("ghpool: cannot start: {e}");
        return ExitCode::from(1);
    }
    if std::env::args().nth(1).as_deref() == Some("keygen") {
        return keygen();
    }
    ghpool::ops::logging::init();
    let opt = Opt::parse_args();
    let env: HashMap<String, String> = std::env::vars().collect();
    let config = match Config::load(&env) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ghpool: {e}");
            return ExitCode::from(2);
        }
    };
    for warning in &config.warnings {
        log::warn!("{warning}");
    }
    let conf = match service::server_conf(&opt) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ghpool: {e}");
            return ExitCode::from(2);
        }
    };
    if opt.test {
        println!("ghpool: configuration OK (listen {}, upstream {})", config.listen, config.upstream.base_url());
        return ExitCode::SUCCESS;
    }
    let ghpool = match service::prepare(&config, &conf) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("ghpool: cannot start: {e}");
            return ExitCode::from(1);
        }
    };
    let scheme = if config.tls.is_some() { "https" } else { "http" };
    log::info!("ghpool listening on {scheme}://{}, upstream {}", config.listen, config.upstream.base_url());
    match service::build_server(opt, conf, &config, ghpool) {
        Ok(server) => server.run_forever(),
        Err(e) => {
            eprintln!("ghpool: cannot start: {e}");
            ExitCode::from(1)
        }
    }
}

/// `ghpool keygen`: a new agent key (for the agent) and its digest (for the configuration:
/// `keys = ["sha256:…"]`), one per line.
fn keygen() -> ExitCode {
    match ghpool::secrets::agent_key::generate() {
        Ok((key, digest)) => {
            println!("key:    {}", key.expose());
            println!("digest: {digest}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ghpool keygen: {e}");
            ExitCode::from(1)
        }
    }
}
