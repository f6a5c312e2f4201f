//! The configuration file exactly as written: TOML mirrored field by field, unknown keys refused.
//! Must never: validate or default anything (that is `config::validate`).

use serde::Deserialize;

use super::RawApp;

/// The file exactly as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub listen: Option<String>,
    pub upstream: Option<String>,
    pub public_url: Option<String>,
    pub allowed_owners: Option<Vec<String>>,
    pub allow_all_owners: Option<bool>,
    pub secrets_dir: Option<String>,
    pub secrets_refresh: Option<DurationText>,
    #[serde(default)]
    pub cache: RawCache,
    #[serde(default)]
    pub access: RawAccess,
    #[serde(default)]
    pub pool: RawPool,
    #[serde(default)]
    pub fairness: RawFairness,
    #[serde(default)]
    pub graphql: RawGraphql,
    #[serde(default)]
    pub shared: RawShared,
    #[serde(default)]
    pub audit: RawAudit,
    #[serde(default)]
    pub tls: RawTls,
    pub connect_timeout: Option<DurationText>,
    pub read_timeout: Option<DurationText>,
    #[serde(default)]
    pub identities: Vec<RawIdentity>,
    #[serde(default)]
    pub apps: Vec<RawApp>,
    #[serde(default)]
    pub agents: Vec<super::agents::RawAgent>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPool {
    pub max_in_flight: Option<u64>,
    pub queue_timeout: Option<DurationText>,
    pub refresh: Option<DurationText>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFairness {
    pub client_key: Option<String>,
    pub per_client_per_minute: Option<u64>,
    pub burst: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGraphql {
    pub schema: Option<String>,
    pub max_mutation_body: Option<SizeText>,
}

/// `[tls]`: ghpool's own listener over TLS.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTls {
    pub cert: Option<String>,
    pub key: Option<String>,
    pub client_ca: Option<String>,
    pub also_plain: Option<String>,
}

/// `[audit]`: where writes are recorded.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAudit {
    pub path: Option<String>,
}

/// `[shared]`: the Redis replicas share state through.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawShared {
    pub redis_url: Option<String>,
    pub redis_password: Option<String>,
    pub key_prefix: Option<String>,
    pub timeout: Option<DurationText>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAccess {
    pub public_paths: Option<Vec<String>>,
    pub graphql_unscoped_fields: Option<Vec<String>>,
    /// With agents configured, whether clients without a key are served as without agents.
    pub allow_unkeyed: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCache {
    pub ttl: Option<DurationText>,
    pub graphql_ttl: Option<DurationText>,
    pub max_size: Option<SizeText>,
    pub stale_if_error: Option<DurationText>,
    pub negative_ttl: Option<DurationText>,
    pub closed_ttl: Option<DurationText>,
    #[serde(default)]
    pub rules: Vec<RawRule>,
}

/// `[[cache.rules]] path = "/repos/*/*/actions/runs*", ttl = "10s"`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRule {
    pub path: String,
    pub ttl: DurationText,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawIdentity {
    pub id: String,
    pub token: String,
}

/// A duration as TOML allows it: seconds as an integer, or text such as "30s", "5m", "1h".
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum DurationText {
    Seconds(u64),
    Text(String),
}

/// A size as TOML allows it: bytes as an integer, or text such as "256MiB".
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum SizeText {
    Bytes(u64),
    Text(String),
}
