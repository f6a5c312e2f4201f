//! Secrets: the `Secret` type that carries every token, and the references (`SecretRef`) that say
//! where a token comes from.
//!
//! Owns: parsing the reference forms of the configuration contract (`env:`, `k8s:`,
//! `aws:secretsmanager:`, `gcp:secretmanager:`, a literal `ghp_…`/`github_pat_…`) and resolving them.
//! Must never: print, log or format a token. `Secret`'s `Debug` and `Display` redact, and the only way
//! to read the value is the explicit [`Secret::expose`], used where a header is built.

pub mod agent_key;
mod aws;
pub mod gcp;
mod resolve;

use std::fmt;

use sha2::{Digest, Sha256};

pub use aws::AwsError;
pub use gcp::GcpError;
pub use resolve::{ResolveError, Resolver};

/// `text` with every token-shaped word — an agent key (`ghpk_` and URL-safe base64, wherever it
/// starts) or a GitHub token (`ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_`, `github_pat_` starting a word,
/// 16 characters or more) — cut to its prefix and `<redacted>`: for records that carry what a client
/// sent (a path, a name), which may hold one. Names that merely contain such letters
/// (`acme/weighs_api`) are kept.
pub fn redact_token_shapes(text: &str) -> std::borrow::Cow<'_, str> {
    static SHAPES: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"(ghpk)_[A-Za-z0-9_-]{4,}|\b(ghp|gho|ghu|ghs|ghr|github_pat)_[A-Za-z0-9_]{16,}")
            .expect("a valid pattern")
    });
    SHAPES.replace_all(text, "${1}${2}_<redacted>")
}

/// A secret string (a token, a private key). Printing it by accident prints `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The raw value, for building an `Authorization` header and nothing else.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A short, stable, non-reversible fingerprint (first 12 hex digits of SHA-256) for logs that
    /// must tell two secrets apart without showing either.
    pub fn fingerprint(&self) -> String {
        let digest = Sha256::digest(self.0.as_bytes());
        digest.iter().take(6).map(|b| format!("{b:02x}")).collect()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The token in an `Authorization` value: what follows `token ` or `Bearer ` (any case), else the
/// whole value (Basic credentials are the credential as a whole). One token is one client whatever
/// scheme carries it.
pub fn bare_token(authorization: &str) -> &str {
    let value = authorization.trim();
    match value.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("token") || scheme.eq_ignore_ascii_case("bearer") => {
            rest.trim()
        }
        _ => value,
    }
}

/// Where a secret lives. Parsed from the configuration; resolved at start and on refresh.
#[derive(Clone, PartialEq, Eq)]
pub enum SecretRef {
    /// A token written in the configuration itself: fine for local development, warned about.
    Literal(Secret),
    /// `env:VAR`
    Env(String),
    /// `k8s:<namespace>/<secret-name>:<key>`: a Kubernetes secret mounted as files.
    K8s { namespace: String, name: String, key: String },
    /// `file:/absolute/path`: a file (a certificate and its key on a VM; read again on refresh).
    File(std::path::PathBuf),
    /// `aws:secretsmanager:<secret-name>:<json-key>`
    AwsSecretsManager { name: String, key: String },
    /// `gcp:secretmanager:projects/<p>/secrets/<s>:<version>`
    GcpSecretManager { resource: String, version: String },
}

/// A reference that does not parse. Carries the reason, never the text (it may be a token).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretRefError {
    #[error("empty secret reference")]
    Empty,
    #[error("`env:` needs a variable name, as in `env:GITHUB_TOKEN`")]
    EnvName,
    #[error("`k8s:` needs `k8s:<namespace>/<secret-name>:<key>`")]
    K8s,
    #[error("`aws:secretsmanager:` needs `aws:secretsmanager:<secret-name>:<json-key>`")]
    Aws,
    #[error("`gcp:secretmanager:` needs `gcp:secretmanager:projects/<p>/secrets/<s>:<version>`")]
    Gcp,
    #[error("`file:` needs an absolute path, as in `file:/etc/ghpool/tls.key`")]
    File,
    #[error("unknown secret reference scheme `{0}:` (expected env:, k8s:, file:, aws:secretsmanager:, gcp:secretmanager: or a literal ghp_/github_pat_ token)")]
    UnknownScheme(String),
    #[error("not a secret reference and not a GitHub token (a literal must start with ghp_, gho_, ghs_, ghu_ or github_pat_)")]
    NotAToken,
}

const LITERAL_PREFIXES: &[&str] = &["ghp_", "gho_", "ghs_", "ghu_", "github_pat_"];

impl SecretRef {
    pub fn parse(text: &str) -> Result<SecretRef, SecretRefError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(SecretRefError::Empty);
        }
        if LITERAL_PREFIXES.iter().any(|p| text.starts_with(p)) {
            return Ok(SecretRef::Literal(Secret::new(text)));
        }
        if let Some(var) = text.strip_prefix("env:") {
            return match var.is_empty() || var.contains(char::is_whitespace) {
                true => Err(SecretRefError::EnvName),
                false => Ok(SecretRef::Env(var.to_string())),
            };
        }
        if let Some(rest) = text.strip_prefix("k8s:") {
            let (path, key) = rest.rsplit_once(':').ok_or(SecretRefError::K8s)?;
            let (namespace, name) = path.split_once('/').ok_or(SecretRefError::K8s)?;
            if [namespace, name, key].iter().any(|s| !is_path_safe(s)) {
                return Err(SecretRefError::K8s);
            }
            return Ok(SecretRef::K8s {
                namespace: namespace.to_string(),
                name: name.to_string(),
                key: key.to_string(),
            });
        }
        if let Some(path) = text.strip_prefix("file:") {
            return match path.starts_with('/') {
                true => Ok(SecretRef::File(std::path::PathBuf::from(path))),
                false => Err(SecretRefError::File),
            };
        }
        if let Some(rest) = text.strip_prefix("aws:secretsmanager:") {
            // Secret names may not contain ':' but ARNs do, so the JSON key is after the last one.
            let (name, key) = rest.rsplit_once(':').ok_or(SecretRefError::Aws)?;
            if name.is_empty() || key.is_empty() {
                return Err(SecretRefError::Aws);
            }
            return Ok(SecretRef::AwsSecretsManager { name: name.to_string(), key: key.to_string() });
        }
        if let Some(rest) = text.strip_prefix("gcp:secretmanager:") {
            let (resource, version) = rest.rsplit_once(':').ok_or(SecretRefError::Gcp)?;
            let parts: Vec<&str> = resource.split('/').collect();
            let well_formed = parts.len() == 4
                && parts[0] == "projects"
                && parts[2] == "secrets"
                && !parts[1].is_empty()
                && !parts[3].is_empty();
            if !well_formed || version.is_empty() {
                return Err(SecretRefError::Gcp);
            }
            return Ok(SecretRef::GcpSecretManager { resource: resource.to_string(), version: version.to_string() });
        }
        match text.split_once(':') {
            Some((scheme, _)) if scheme.chars().all(|c| c.is_ascii_alphanumeric()) => {
                Err(SecretRefError::UnknownScheme(scheme.to_string()))
            }
            _ => Err(SecretRefError::NotAToken),
        }
    }

    /// Where the secret comes from, safe to log (never the value of a literal).
    pub fn describe(&self) -> String {
        match self {
            SecretRef::Literal(_) => "a literal token in the configuration".to_string(),
            SecretRef::Env(var) => format!("env:{var}"),
            SecretRef::K8s { namespace, name, key } => format!("k8s:{namespace}/{name}:{key}"),
            SecretRef::File(path) => format!("file:{}", path.display()),
            SecretRef::AwsSecretsManager { name, key } => format!("aws:secretsmanager:{name}:{key}"),
            SecretRef::GcpSecretManager { resource, version } => {
                format!("gcp:secretmanager:{resource}:{version}")
            }
        }
    }
}

impl fmt::Debug for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretRef({})", self.describe())
    }
}

/// A name used as a path component under the secrets directory: no traversal, no separators.
fn is_path_safe(s: &str) -> bool {
    !s.is_empty() && s != "." && s != ".." && !s.contains(['/', '\\', '\0'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_prints_its_value() {
        let s = Secret::new("ghp_supersecret");
        assert_eq!(format!("{s}"), "<redacted>");
        let said = "GET /repos/acme/ghpk_abc-DEF_12-3x?t=ghp_AAAAAAAAAAAAAAAAAAAA&u=github_pat_11AB_cdAAAAAAAAAAAA x_ghpk_Zz-9";
        assert_eq!(
            redact_token_shapes(said),
            "GET /repos/acme/ghpk_<redacted>?t=ghp_<redacted>&u=github_pat_<redacted> x_ghpk_<redacted>"
        );
        for kept in ["/repos/acme/widgets", "/repos/acme/weighs_api_gateway_service", "laughs_bot", "ghs_short"] {
            assert_eq!(redact_token_shapes(kept), kept);
        }
        assert!(!format!("{s:?}").contains("supersecret"));
        assert_eq!(s.fingerprint().len(), 12);
        let r = SecretRef::parse("ghp_supersecret").unwrap();
        assert!(!format!("{r:?}").contains("supersecret"));
    }

    #[test]
    fn parses_every_reference_form() {
        let cases: &[(&str, SecretRef)] = &[
            ("env:GH_A", SecretRef::Env("GH_A".into())),
            ("file:/etc/ghpool/tls.key", SecretRef::File("/etc/ghpool/tls.key".into())),
            (
                "k8s:tools/ghpool-tokens:pat-a",
                SecretRef::K8s { namespace: "tools".into(), name: "ghpool-tokens".into(), key: "pat-a".into() },
            ),
            (
                "aws:secretsmanager:prod/ghpool:pat_a",
                SecretRef::AwsSecretsManager { name: "prod/ghpool".into(), key: "pat_a".into() },
            ),
            (
                "aws:secretsmanager:arn:aws:secretsmanager:us-east-1:1:secret:x:pat",
                SecretRef::AwsSecretsManager {
                    name: "arn:aws:secretsmanager:us-east-1:1:secret:x".into(),
                    key: "pat".into(),
                },
            ),
            (
                "gcp:secretmanager:projects/p1/secrets/gh:latest",
                SecretRef::GcpSecretManager { resource: "projects/p1/secrets/gh".into(), version: "latest".into() },
            ),
            ("ghp_abc", SecretRef::Literal(Secret::new("ghp_abc"))),
            ("github_pat_abc", SecretRef::Literal(Secret::new("github_pat_abc"))),
        ];
        for (text, want) in cases {
            assert_eq!(&SecretRef::parse(text).unwrap(), want, "{text}");
        }
    }

    #[test]
    fn refuses_malformed_references() {
        let cases: &[(&str, SecretRefError)] = &[
            ("", SecretRefError::Empty),
            ("env:", SecretRefError::EnvName),
            ("k8s:nonamespace:key", SecretRefError::K8s),
            ("k8s:ns/name", SecretRefError::K8s),
            ("k8s:ns/../x:key", SecretRefError::K8s),
            ("aws:secretsmanager:nokey", SecretRefError::Aws),
            ("gcp:secretmanager:projects/p/secrets:1", SecretRefError::Gcp),
            ("file:relative/tls.key", SecretRefError::File),
            ("vault:secret/x", SecretRefError::UnknownScheme("vault".into())),
            ("hunter2", SecretRefError::NotAToken),
        ];
        for (text, want) in cases {
            assert_eq!(&SecretRef::parse(text).unwrap_err(), want, "{text}");
        }
    }
}
