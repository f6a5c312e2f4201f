//! What ghpool needs from the system it runs on, checked at start (issue #18): a randomness
//! source, CA roots for an `https` upstream, and a way to resolve names. ghpool ships as one
//! static binary on a static base image (or in an empty root), where each of these can be missing;
//! each missing piece is an error naming it and how to provide it, before anything could panic on
//! it (ahash's random seeds, Pingora's TLS connector).
//!
//! Owns: the checks and their messages. Must never: change what it checks (the roots are loaded
//! the way Pingora's connector loads them, then dropped), or let ghpool start without something an
//! `https` upstream needs.

use std::path::Path;

/// A piece of the environment ghpool cannot run without.
#[derive(Debug, thiserror::Error)]
pub enum EnvironmentError {
    #[error("no randomness source ({0}): ghpool needs the getrandom system call, or /dev/random and /dev/urandom; in a chroot or a minimal container, bind-mount both (scripts/build-static's binary needs neither)")]
    Randomness(String),
    #[error("SSL_CERT_FILE names `{path}`, which cannot be used ({reason}): point it at a PEM bundle of CA certificates, or unset it to use the system's (/etc/ssl/certs/ca-certificates.crt on Debian and in distroless images)")]
    CertFile { path: String, reason: String },
    #[error("the CA certificates could not be loaded ({0}): set SSL_CERT_FILE to a PEM bundle, or `ca_file` in the server configuration")]
    Roots(String),
    #[error("{needs} but no CA certificates were found: install them (Debian: ca-certificates; distroless/static has them), set SSL_CERT_FILE to a PEM bundle, or `ca_file` in the server configuration")]
    NoRoots { needs: String },
    #[error("`ca_file` `{path}` cannot be used: {reason}")]
    CaFile { path: String, reason: String },
    #[error("the upstream host `{host}` cannot be resolved, and this system has neither /etc/hosts nor /etc/resolv.conf: ghpool resolves names with the system's resolver, which reads them (in a chroot or an empty image, provide one — the host's /etc/resolv.conf, or /etc/hosts naming `{host}` — and /etc/nsswitch.conf with `hosts: files dns`)")]
    NoResolver { host: String },
}

/// Can ghpool draw random numbers (hash seeds, agent keys, request ids)?
pub fn randomness() -> Result<(), EnvironmentError> {
    let mut seed = [0u8; 16];
    getrandom::fill(&mut seed).map_err(|e| EnvironmentError::Randomness(e.to_string()))
}

/// Where the upstream's CA roots come from, for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roots {
    pub count: usize,
    pub source: String,
}

/// The CA roots Pingora's connector will load — from `ca_file`, else the system's (with
/// `SSL_CERT_FILE` / `SSL_CERT_DIR`) — loaded now and as it loads them, so that what is wrong is
/// said instead of the connector's panic. None is fine when nothing is reached over TLS (a
/// plain-`http` upstream and no `aws:`/`gcp:` secrets: `https_for` is `None`), but a bundle that
/// cannot be read or holds a certificate that cannot be taken is an error either way (Pingora loads
/// it whatever the upstream).
pub fn ca_roots(ca_file: Option<&str>, https_for: Option<String>) -> Result<Roots, EnvironmentError> {
    use pingora_core::tls::RootCertStore;
    let mut store = RootCertStore::empty();
    let source = match ca_file {
        Some(path) => {
            pingora_core::tls::load_ca_file_into_store(path, &mut store)
                .map_err(|e| EnvironmentError::CaFile { path: path.to_string(), reason: e.to_string() })?;
            format!("ca_file {path}")
        }
        None => {
            let certs = pingora_core::tls::load_native_certs().map_err(|e| match std::env::var("SSL_CERT_FILE") {
                Ok(path) => EnvironmentError::CertFile { path, reason: e.to_string() },
                Err(_) => EnvironmentError::Roots(e.to_string()),
            })?;
            for cert in certs {
                // Pingora stops (panics) on a root it cannot take: so does this, with words.
                store
                    .add(cert)
                    .map_err(|e| EnvironmentError::Roots(format!("a CA certificate cannot be used: {e}")))?;
            }
            match std::env::var("SSL_CERT_FILE") {
                Ok(path) => format!("SSL_CERT_FILE {path}"),
                Err(_) => "the system's CA certificates".to_string(),
            }
        }
    };
    if let (true, Some(needs)) = (store.is_empty(), https_for) {
        return Err(EnvironmentError::NoRoots { needs });
    }
    Ok(Roots { count: store.len(), source })
}

/// The upstream host did not resolve: an error when the system has nothing to resolve it with
/// (`root` is `/` but for tests); otherwise a blip, retried in the background.
pub fn resolution(root: &Path, host: &str) -> Result<(), EnvironmentError> {
    let has = |file: &str| root.join(file).exists();
    match has("etc/hosts") || has("etc/resolv.conf") {
        true => Ok(()),
        false => Err(EnvironmentError::NoResolver { host: host.to_string() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn randomness_is_there_here() {
        randomness().unwrap();
    }

    #[test]
    fn a_resolver_needs_hosts_or_resolv_conf_18() {
        let root = tempfile::tempdir().unwrap();
        let refused = resolution(root.path(), "github.internal").unwrap_err().to_string();
        assert!(refused.contains("github.internal") && refused.contains("/etc/resolv.conf"), "{refused}");
        std::fs::create_dir(root.path().join("etc")).unwrap();
        std::fs::write(root.path().join("etc/hosts"), "127.0.0.1 github.internal\n").unwrap();
        assert!(resolution(root.path(), "github.internal").is_ok());
    }

    #[test]
    fn a_ca_file_that_cannot_be_read_is_named_18() {
        let refused = ca_roots(Some("/nonexistent/ca.pem"), Some("the upstream".into())).unwrap_err().to_string();
        assert!(refused.contains("/nonexistent/ca.pem"), "{refused}");
    }
}
