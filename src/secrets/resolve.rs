//! Turning a `SecretRef` into a `Secret`: environment variables and Kubernetes mounted secrets
//! today; AWS Secrets Manager and GCP Secret Manager answer "not supported yet" until their issue
//! lands, so a configuration naming them fails loudly instead of running without the identity.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{Secret, SecretRef};

/// Why a reference could not be resolved. Names the source, never a value.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("environment variable `{0}` is not set")]
    EnvMissing(String),
    #[error("environment variable `{0}` is empty")]
    EnvEmpty(String),
    #[error("kubernetes secret file not found: tried {tried}")]
    K8sMissing { tried: String },
    #[error("kubernetes secret file `{path}` could not be read: {source}")]
    K8sRead { path: String, source: std::io::Error },
    #[error("kubernetes secret file `{0}` is empty")]
    K8sEmpty(String),
    #[error("{0} secret references are not supported yet (planned); use env: or k8s: for now")]
    NotSupportedYet(&'static str),
}

type EnvLookup = dyn Fn(&str) -> Option<String> + Send + Sync;

/// Resolves references against an environment and a secrets directory. The environment is a
/// function so tests can pass a map instead of mutating the process environment.
#[derive(Clone)]
pub struct Resolver {
    secrets_dir: PathBuf,
    env: Arc<EnvLookup>,
}

impl Resolver {
    pub fn new(secrets_dir: impl Into<PathBuf>, env: Arc<EnvLookup>) -> Self {
        Resolver { secrets_dir: secrets_dir.into(), env }
    }

    /// A resolver over the process environment.
    pub fn from_process(secrets_dir: impl Into<PathBuf>) -> Self {
        Resolver::new(secrets_dir, Arc::new(|name: &str| std::env::var(name).ok()))
    }

    pub async fn resolve(&self, reference: &SecretRef) -> Result<Secret, ResolveError> {
        match reference {
            SecretRef::Literal(secret) => Ok(secret.clone()),
            SecretRef::Env(var) => {
                let value = (self.env)(var).ok_or_else(|| ResolveError::EnvMissing(var.clone()))?;
                let value = value.trim();
                if value.is_empty() {
                    return Err(ResolveError::EnvEmpty(var.clone()));
                }
                Ok(Secret::new(value))
            }
            SecretRef::K8s { namespace, name, key } => self.read_k8s(namespace, name, key),
            SecretRef::AwsSecretsManager { .. } => Err(ResolveError::NotSupportedYet("aws:secretsmanager:")),
            SecretRef::GcpSecretManager { .. } => Err(ResolveError::NotSupportedYet("gcp:secretmanager:")),
        }
    }

    /// `<dir>/<namespace>/<name>/<key>`, else `<dir>/<name>/<key>` (a secret volume mounted at
    /// `<dir>/<name>`, the usual layout). Reading through the path follows the kubelet's `..data`
    /// symlink, so an atomic swap is seen whole.
    fn read_k8s(&self, namespace: &str, name: &str, key: &str) -> Result<Secret, ResolveError> {
        let candidates = [self.secrets_dir.join(namespace).join(name).join(key), self.secrets_dir.join(name).join(key)];
        for path in &candidates {
            match std::fs::read_to_string(path) {
                Ok(text) => return non_empty_file(path, &text),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(source) => return Err(ResolveError::K8sRead { path: path.display().to_string(), source }),
            }
        }
        let tried = candidates.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ");
        Err(ResolveError::K8sMissing { tried })
    }
}

fn non_empty_file(path: &Path, text: &str) -> Result<Secret, ResolveError> {
    let value = text.trim();
    if value.is_empty() {
        return Err(ResolveError::K8sEmpty(path.display().to_string()));
    }
    Ok(Secret::new(value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn resolver(dir: &Path, vars: &[(&str, &str)]) -> Resolver {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Resolver::new(dir, Arc::new(move |k: &str| map.get(k).cloned()))
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
    }

    #[test]
    fn env_and_literal() {
        let dir = tempfile::tempdir().unwrap();
        let r = resolver(dir.path(), &[("A", "ghp_a\n"), ("EMPTY", " ")]);
        let got = block_on(r.resolve(&SecretRef::Env("A".into()))).unwrap();
        assert_eq!(got.expose(), "ghp_a");
        assert!(matches!(block_on(r.resolve(&SecretRef::Env("B".into()))), Err(ResolveError::EnvMissing(_))));
        assert!(matches!(block_on(r.resolve(&SecretRef::Env("EMPTY".into()))), Err(ResolveError::EnvEmpty(_))));
        let lit = SecretRef::Literal(Secret::new("ghp_x"));
        assert_eq!(block_on(r.resolve(&lit)).unwrap().expose(), "ghp_x");
    }

    #[test]
    fn k8s_namespaced_then_plain_mount() {
        let dir = tempfile::tempdir().unwrap();
        let r = resolver(dir.path(), &[]);
        let reference = SecretRef::K8s { namespace: "ns".into(), name: "tok".into(), key: "a".into() };
        let err = block_on(r.resolve(&reference)).unwrap_err().to_string();
        assert!(err.contains("ns/tok/a") && err.contains("tok/a"), "{err}");

        std::fs::create_dir_all(dir.path().join("tok")).unwrap();
        std::fs::write(dir.path().join("tok/a"), "ghp_plain\n").unwrap();
        assert_eq!(block_on(r.resolve(&reference)).unwrap().expose(), "ghp_plain");

        std::fs::create_dir_all(dir.path().join("ns/tok")).unwrap();
        std::fs::write(dir.path().join("ns/tok/a"), "ghp_ns").unwrap();
        assert_eq!(block_on(r.resolve(&reference)).unwrap().expose(), "ghp_ns");
    }

    #[test]
    fn cloud_sources_say_not_supported_yet() {
        let dir = tempfile::tempdir().unwrap();
        let r = resolver(dir.path(), &[]);
        let aws = SecretRef::AwsSecretsManager { name: "n".into(), key: "k".into() };
        let err = block_on(r.resolve(&aws)).unwrap_err().to_string();
        assert!(err.contains("not supported yet"), "{err}");
    }
}
