//! Turning a `SecretRef` into a `Secret`: environment variables, Kubernetes mounted secrets, AWS
//! Secrets Manager (`aws`) and GCP Secret Manager. Resolving many references at once
//! ([`Resolver::resolve_all`]) asks AWS once per secret name however many identities it holds.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::aws::{self, AwsError, AwsSecrets};
use super::gcp::{self, GcpError, GcpSecrets};
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
    #[error("file `{path}` could not be read: {source}")]
    FileRead { path: String, source: std::io::Error },
    #[error("file `{0}` is empty")]
    FileEmpty(String),
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error(transparent)]
    Gcp(#[from] GcpError),
}

type EnvLookup = dyn Fn(&str) -> Option<String> + Send + Sync;

/// Resolves references against an environment and a secrets directory. The environment is a
/// function so tests can pass a map instead of mutating the process environment.
#[derive(Clone)]
pub struct Resolver {
    secrets_dir: PathBuf,
    env: Arc<EnvLookup>,
    aws: Arc<AwsSecrets>,
    gcp: Arc<GcpSecrets>,
}

impl Resolver {
    pub fn new(secrets_dir: impl Into<PathBuf>, env: Arc<EnvLookup>) -> Self {
        Resolver { secrets_dir: secrets_dir.into(), env, aws: Arc::default(), gcp: Arc::default() }
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
            SecretRef::File(path) => read_file(path),
            SecretRef::AwsSecretsManager { name, key } => Ok(aws::extract(name, &self.aws.fetch(name).await?, key)?),
            SecretRef::GcpSecretManager { resource, version } => {
                Ok(self.gcp.fetch(&gcp::Settings::from_env(&*self.env), resource, version).await?)
            }
        }
    }

    /// Resolve every reference, in order; each AWS secret is fetched once for all the keys taken
    /// from it.
    pub async fn resolve_all(&self, references: &[&SecretRef]) -> Vec<Result<Secret, ResolveError>> {
        let mut fetched: HashMap<&str, Result<Secret, AwsError>> = HashMap::new();
        for reference in references {
            if let SecretRef::AwsSecretsManager { name, .. } = reference {
                if !fetched.contains_key(name.as_str()) {
                    fetched.insert(name, self.aws.fetch(name).await);
                }
            }
        }
        let mut resolved = Vec::with_capacity(references.len());
        for reference in references {
            resolved.push(match reference {
                SecretRef::AwsSecretsManager { name, key } => match &fetched[name.as_str()] {
                    Ok(text) => aws::extract(name, text, key).map_err(ResolveError::from),
                    Err(e) => Err(e.clone().into()),
                },
                other => self.resolve(other).await,
            });
        }
        resolved
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

/// The most a `file:` secret may hold (a certificate chain is a few KiB).
const MAX_FILE: u64 = 1 << 20;

/// A `file:` secret: a regular file (symlinks followed, as Kubernetes' `..data` swap needs), at
/// most [`MAX_FILE`] bytes, not empty.
fn read_file(path: &Path) -> Result<Secret, ResolveError> {
    use std::io::Read;
    let failed = |source| ResolveError::FileRead { path: path.display().to_string(), source };
    let file = std::fs::File::open(path).map_err(failed)?;
    let metadata = file.metadata().map_err(failed)?;
    if !metadata.is_file() || metadata.len() > MAX_FILE {
        let why = format!("not a regular file of at most {MAX_FILE} bytes");
        return Err(failed(std::io::Error::new(std::io::ErrorKind::InvalidInput, why)));
    }
    let mut text = String::new();
    file.take(MAX_FILE).read_to_string(&mut text).map_err(failed)?;
    match text.trim() {
        "" => Err(ResolveError::FileEmpty(path.display().to_string())),
        value => Ok(Secret::new(value)),
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
    fn a_file_secret_is_a_bounded_regular_file_17() {
        let dir = tempfile::tempdir().unwrap();
        let r = resolver(dir.path(), &[]);
        let file = dir.path().join("tls.crt");
        std::fs::write(&file, "  PEM TEXT\n").unwrap();
        assert_eq!(block_on(r.resolve(&SecretRef::File(file))).unwrap().expose(), "PEM TEXT");
        let empty = dir.path().join("empty");
        std::fs::write(&empty, "\n").unwrap();
        assert!(matches!(block_on(r.resolve(&SecretRef::File(empty))), Err(ResolveError::FileEmpty(_))));
        for not_a_file in ["/dev/zero", "/", "/nonexistent/tls.key"] {
            let got = block_on(r.resolve(&SecretRef::File(not_a_file.into())));
            assert!(matches!(got, Err(ResolveError::FileRead { .. })), "{not_a_file}");
        }
        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'a'; (MAX_FILE + 1) as usize]).unwrap();
        assert!(block_on(r.resolve(&SecretRef::File(big))).is_err(), "bounded");
    }
}
