//! AWS Secrets Manager: `aws:secretsmanager:<secret-name>:<json-key>`.
//!
//! Owns: the SDK client (built once, on first use, from the standard credential chain — env,
//! profile, web identity, ECS task role, instance profile — with `AWS_ENDPOINT_URL` respected),
//! fetching a secret's `SecretString`, and taking one key out of its JSON object.
//! Must never: log, format or keep a secret's text outside a [`Secret`]; errors name the secret and
//! the key, never a value.

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_secretsmanager::Client;
use aws_smithy_http_client::tls;
use tokio::sync::OnceCell;

use super::Secret;

/// A call that takes longer has failed (the SDK retries inside it).
const OPERATION_TIMEOUT: Duration = Duration::from_secs(15);

/// Why a secret could not be taken from AWS Secrets Manager. Cloned to every identity that names
/// the same secret.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum AwsError {
    #[error(
        "no AWS credentials: {0} (set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE, or run with web identity, an ECS task role or an instance profile)"
    )]
    NoCredentials(String),
    #[error("no AWS region: set AWS_REGION (or a profile's region)")]
    NoRegion,
    #[error("AWS secret `{0}` does not exist")]
    NotFound(String),
    #[error("AWS secret `{name}` could not be read: {message}")]
    Service { name: String, message: String },
    #[error("AWS secret `{0}` holds binary data, not a JSON SecretString")]
    NotText(String),
    #[error("AWS secret `{0}` is not a JSON object (expected {{\"<key>\": \"<token>\", ...}})")]
    NotJson(String),
    #[error("AWS secret `{name}` has no key `{key}`")]
    MissingKey { name: String, key: String },
    #[error("AWS secret `{name}`: the value of `{key}` is not a non-empty string")]
    BadValue { name: String, key: String },
}

/// The SDK client, built on first use inside the runtime that uses it.
#[derive(Default)]
pub struct AwsSecrets {
    sdk: OnceCell<Result<Sdk, AwsError>>,
}

#[derive(Clone)]
struct Sdk {
    client: Client,
    /// The chain the client signs with, asked directly when a call fails without an answer.
    credentials: Option<SharedCredentialsProvider>,
}

impl AwsSecrets {
    /// The secret's text (its `SecretString`), as a `Secret`.
    pub async fn fetch(&self, name: &str) -> Result<Secret, AwsError> {
        let sdk = self.sdk.get_or_init(build_client).await.clone()?;
        let answer = sdk.client.get_secret_value().secret_id(name).send().await;
        match answer {
            Ok(out) => match out.secret_string {
                Some(text) => Ok(Secret::new(text)),
                None => Err(AwsError::NotText(name.to_string())),
            },
            Err(e) => Err(explain(name, sdk.credentials.as_ref(), e).await),
        }
    }
}

async fn build_client() -> Result<Sdk, AwsError> {
    // rustls with ring, the TLS stack the rest of ghpool uses (the SDK's default is aws-lc).
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::Ring))
        .build_https();
    let timeouts = aws_config::timeout::TimeoutConfig::builder().operation_timeout(OPERATION_TIMEOUT).build();
    let conf = aws_config::defaults(BehaviorVersion::latest()).http_client(http).timeout_config(timeouts).load().await;
    if conf.region().is_none() {
        return Err(AwsError::NoRegion);
    }
    Ok(Sdk { client: Client::new(&conf), credentials: conf.credentials_provider() })
}

/// Turn the SDK's error into one that says what to fix.
async fn explain<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
    name: &str,
    credentials: Option<&SharedCredentialsProvider>,
    e: SdkError<E, R>,
) -> AwsError {
    if let SdkError::ServiceError(service) = &e {
        let err = service.err();
        return match err.code() {
            Some("ResourceNotFoundException") => AwsError::NotFound(name.to_string()),
            code => AwsError::Service {
                name: name.to_string(),
                message: format!("{}: {}", code.unwrap_or("error"), err.message().unwrap_or("no message")),
            },
        };
    }
    // Not an answer from AWS: missing credentials are the usual cause, and the SDK's own error
    // says only "dispatch failure".
    if let Some(provider) = credentials {
        if let Err(reason) = provider.provide_credentials().await {
            return AwsError::NoCredentials(reason.to_string());
        }
    }
    let mut message = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        message = format!("{message}: {s}");
        source = s.source();
    }
    AwsError::Service { name: name.to_string(), message }
}

/// Take `key` out of a secret's JSON object.
pub fn extract(name: &str, text: &Secret, key: &str) -> Result<Secret, AwsError> {
    let object: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(text.expose()).map_err(|_| AwsError::NotJson(name.to_string()))?;
    match object.get(key) {
        None => Err(AwsError::MissingKey { name: name.to_string(), key: key.to_string() }),
        Some(serde_json::Value::String(v)) if !v.trim().is_empty() => Ok(Secret::new(v.trim())),
        Some(_) => Err(AwsError::BadValue { name: name.to_string(), key: key.to_string() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extracts_one_key_and_says_what_is_wrong_otherwise() {
        let text = Secret::new(r#"{"a": "ghp_a\n", "n": 3, "e": ""}"#);
        assert_eq!(extract("s", &text, "a").unwrap().expose(), "ghp_a");
        assert_eq!(extract("s", &text, "b"), Err(AwsError::MissingKey { name: "s".into(), key: "b".into() }));
        assert_eq!(extract("s", &text, "n"), Err(AwsError::BadValue { name: "s".into(), key: "n".into() }));
        assert_eq!(extract("s", &text, "e"), Err(AwsError::BadValue { name: "s".into(), key: "e".into() }));
        let plain = Secret::new("ghp_not_json");
        let err = extract("s", &plain, "a").unwrap_err();
        assert_eq!(err, AwsError::NotJson("s".into()));
        assert!(!err.to_string().contains("ghp_not_json"), "the value is never in the error");
        assert_eq!(extract("s", &Secret::new(r#"["a"]"#), "a"), Err(AwsError::NotJson("s".into())));
    }
}
