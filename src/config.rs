//! Configuration: the TOML file at `$GHPOOL_CONFIG`, `GHPOOL_*` environment variables over it, then
//! defaults — the contract table in `shared/DESIGN.md`.
//!
//! Two stages, as written → as used: [`RawConfig`] mirrors the TOML exactly (`deny_unknown_fields`),
//! [`Config`] is validated and typed (`Duration`, byte sizes, `SecretRef`, lower-cased owners). Every
//! problem is collected with the key it belongs to, so an operator fixes them all in one pass.
//! Owns: reading the file and the environment snapshot. Must never: resolve secrets (that needs
//! I/O and a network; see `secrets`) or print a secret value.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::secrets::SecretRef;
use crate::upstream::Upstream;

mod apps;

pub use apps::{AppConfig, InstallationRef, RawApp};

pub const DEFAULT_LISTEN: &str = "0.0.0.0:8080";
pub const DEFAULT_UPSTREAM: &str = "https://api.github.com";
pub const DEFAULT_CONFIG_PATH: &str = "config.toml";
pub const DEFAULT_SECRETS_DIR: &str = "/etc/secrets";
const DEFAULT_TTL: Duration = Duration::from_secs(60);
const DEFAULT_MAX_SIZE: u64 = 256 * 1024 * 1024;
const DEFAULT_STALE_IF_ERROR: Duration = Duration::from_secs(3600);
const DEFAULT_CLOSED_TTL: Duration = Duration::from_secs(600);
const DEFAULT_MAX_IN_FLIGHT: u64 = crate::pool::DEFAULT_MAX_IN_FLIGHT;
const PAT_PREFIX: &str = "GHPOOL_PAT_";

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
    pub connect_timeout: Option<DurationText>,
    pub read_timeout: Option<DurationText>,
    #[serde(default)]
    pub identities: Vec<RawIdentity>,
    #[serde(default)]
    pub apps: Vec<RawApp>,
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
pub struct RawAccess {
    pub public_paths: Option<Vec<String>>,
    pub graphql_unscoped_fields: Option<Vec<String>>,
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

/// Which owners pooled reads may touch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnerPolicy {
    /// Every owner: only by `allow_all_owners = true`, or with no identities (anonymous mode).
    AllowAll,
    /// These owners, lower-cased (GitHub logins are case-insensitive).
    Only(HashSet<String>),
}

#[derive(Debug, Clone)]
pub struct CacheConfig {
    pub ttl: Duration,
    pub graphql_ttl: Duration,
    pub max_size: u64,
    /// How long past expiry an entry may be served when GitHub fails.
    pub stale_if_error: Duration,
    /// TTL for GitHub's 301 and 404 answers; zero (the default) does not cache them.
    pub negative_ttl: Duration,
    /// TTL for a closed issue or pull request (or a merged one).
    pub closed_ttl: Duration,
    /// Per-path TTLs, first match wins; a TTL of zero does not cache.
    pub rules: Vec<TtlRule>,
}

#[derive(Debug, Clone)]
pub struct TtlRule {
    /// A glob over the normalized path (`*` also crosses `/`).
    pub path: String,
    pub ttl: Duration,
}

/// How the pool treats its identities.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    /// Requests in flight per identity (GitHub allows 100 per user).
    pub max_in_flight: u64,
    /// How long a request waits for an identity below the cap before a 503.
    pub queue_timeout: Duration,
    /// How often idle identities' budgets are refreshed and quarantined ones re-resolved.
    pub refresh: Duration,
}

/// Each client's share of the requests that cost pool budget.
#[derive(Debug, Clone)]
pub struct FairnessConfig {
    pub client_key: crate::fairness::ClientKey,
    /// Upstream-costing requests a minute per client; 0 turns the limit off.
    pub per_client_per_minute: u64,
    pub burst: u64,
}

/// What the allowlist lets through besides allowed owners.
#[derive(Debug, Clone)]
pub struct AccessConfig {
    /// Owner-free REST paths (and what is below them) served through the pool.
    pub public_paths: Vec<String>,
    /// GraphQL root fields that read no owner but are served through the pool anyway.
    pub graphql_unscoped_fields: BTreeSet<String>,
}

#[derive(Debug, Clone)]
pub struct IdentityConfig {
    pub id: String,
    pub token: SecretRef,
}

/// The validated configuration: the only one that travels past start-up.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub upstream: Upstream,
    /// ghpool's own base URL as clients reach it, for rewriting GitHub's absolute URLs; `None`:
    /// taken from each request's `Host` (and `/api/v3` when the client uses that layout).
    pub public_url: Option<String>,
    pub owners: OwnerPolicy,
    pub secrets_dir: PathBuf,
    /// How often every identity's secret is resolved again (also on SIGHUP).
    pub secrets_refresh: Duration,
    pub cache: CacheConfig,
    pub access: AccessConfig,
    pub pool: PoolConfig,
    pub fairness: FairnessConfig,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    pub identities: Vec<IdentityConfig>,
    /// GitHub App installations, pool identities beside the PATs.
    pub apps: Vec<AppConfig>,
    /// Things worth a warning at start (literal tokens, anonymous mode), safe to log.
    pub warnings: Vec<String>,
}

/// One problem, with the key it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    pub key: String,
    pub message: String,
}

/// Every problem found, reported together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    pub source_name: String,
    pub issues: Vec<ConfigIssue>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "invalid configuration ({}):", self.source_name)?;
        for issue in &self.issues {
            writeln!(f, "  {}: {}", issue.key, issue.message)?;
        }
        Ok(())
    }
}

impl Config {
    /// Load as the binary does: `$GHPOOL_CONFIG` (default `config.toml`; a missing default file is
    /// fine) under the given environment snapshot.
    pub fn load(env: &HashMap<String, String>) -> Result<Config, ConfigError> {
        let (path, explicit) = match env.get("GHPOOL_CONFIG") {
            Some(p) if !p.is_empty() => (p.clone(), true),
            _ => (DEFAULT_CONFIG_PATH.to_string(), false),
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => Some(text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => None,
            Err(e) => {
                return Err(ConfigError {
                    source_name: path.clone(),
                    issues: vec![issue("GHPOOL_CONFIG", format!("cannot read `{path}`: {e}"))],
                })
            }
        };
        let source_name = match text {
            Some(_) => format!("{path} + environment"),
            None => "environment only".to_string(),
        };
        Config::parse(text.as_deref(), env).map_err(|issues| ConfigError { source_name, issues })
    }

    /// Parse and validate TOML text (if any) under an environment snapshot. Pure: no I/O.
    pub fn parse(toml_text: Option<&str>, env: &HashMap<String, String>) -> Result<Config, Vec<ConfigIssue>> {
        let raw: RawConfig = match toml_text {
            Some(text) => toml::from_str(text).map_err(|e| vec![toml_issue(&e)])?,
            None => RawConfig::default(),
        };
        validate(raw, env)
    }
}

fn issue(key: &str, message: impl Into<String>) -> ConfigIssue {
    ConfigIssue { key: key.to_string(), message: message.into() }
}

/// toml's message already says "at line N, column M" and names an unknown field; keep it whole,
/// on one line.
fn toml_issue(e: &toml::de::Error) -> ConfigIssue {
    let message = e.to_string().lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ");
    issue("toml", message)
}

/// Every `GHPOOL_*` variable ghpool (or `ghp`) reads, besides the `GHPOOL_PAT_<ID>` and
/// `GHPOOL_APP_<ID>_<FIELD>` families.
const KNOWN_ENV: &[&str] = &[
    "GHPOOL_CONFIG",
    "GHPOOL_LISTEN",
    "GHPOOL_PORT",
    "GHPOOL_UPSTREAM",
    "GHPOOL_PUBLIC_URL",
    "GHPOOL_ALLOWED_OWNERS",
    "GHPOOL_ALLOW_ALL_OWNERS",
    "GHPOOL_SECRETS_DIR",
    "GHPOOL_SECRETS_REFRESH",
    "GHPOOL_CACHE_TTL",
    "GHPOOL_CACHE_GRAPHQL_TTL",
    "GHPOOL_CACHE_MAX_SIZE",
    "GHPOOL_CACHE_STALE_IF_ERROR",
    "GHPOOL_CACHE_NEGATIVE_TTL",
    "GHPOOL_CACHE_CLOSED_TTL",
    "GHPOOL_POOL_MAX_IN_FLIGHT",
    "GHPOOL_POOL_QUEUE_TIMEOUT",
    "GHPOOL_POOL_REFRESH",
    "GHPOOL_FAIRNESS_CLIENT_KEY",
    "GHPOOL_FAIRNESS_PER_MINUTE",
    "GHPOOL_FAIRNESS_BURST",
    "GHPOOL_CONNECT_TIMEOUT",
    "GHPOOL_READ_TIMEOUT",
    "GHPOOL_GCP_SECRETMANAGER_URL",
    "GHPOOL_URL",
];

/// A `GHPOOL_*` variable nothing reads is most likely a typo: say so at start.
fn unknown_env(env: &HashMap<String, String>) -> Vec<String> {
    let mut unknown: Vec<String> = env
        .keys()
        .filter(|k| k.starts_with("GHPOOL_") && !k.starts_with(PAT_PREFIX) && !k.starts_with("GHPOOL_APP_"))
        .filter(|k| !KNOWN_ENV.contains(&k.as_str()))
        .map(|k| format!("{k} is not a ghpool setting and is ignored (a typo? see README's configuration table)"))
        .collect();
    unknown.sort();
    unknown
}

fn validate(raw: RawConfig, env: &HashMap<String, String>) -> Result<Config, Vec<ConfigIssue>> {
    let mut issues = Vec::new();
    let mut warnings = unknown_env(env);

    let listen = pick_listen(&raw, env, &mut issues);

    let upstream_text = env.get("GHPOOL_UPSTREAM").cloned().or(raw.upstream.clone());
    let upstream_key = if env.contains_key("GHPOOL_UPSTREAM") { "GHPOOL_UPSTREAM" } else { "upstream" };
    let upstream = match Upstream::parse(upstream_text.as_deref().unwrap_or(DEFAULT_UPSTREAM)) {
        Ok(u) => Some(u),
        Err(e) => {
            issues.push(issue(upstream_key, e.to_string()));
            None
        }
    };

    let cache = CacheConfig {
        ttl: pick_duration(env, "GHPOOL_CACHE_TTL", raw.cache.ttl.as_ref(), "cache.ttl", DEFAULT_TTL, &mut issues),
        graphql_ttl: Duration::ZERO,
        max_size: pick_size(env, "GHPOOL_CACHE_MAX_SIZE", raw.cache.max_size.as_ref(), "cache.max_size", &mut issues),
        stale_if_error: pick_duration(
            env,
            "GHPOOL_CACHE_STALE_IF_ERROR",
            raw.cache.stale_if_error.as_ref(),
            "cache.stale_if_error",
            DEFAULT_STALE_IF_ERROR,
            &mut issues,
        ),
        negative_ttl: pick_duration(
            env,
            "GHPOOL_CACHE_NEGATIVE_TTL",
            raw.cache.negative_ttl.as_ref(),
            "cache.negative_ttl",
            Duration::ZERO,
            &mut issues,
        ),
        closed_ttl: pick_duration(
            env,
            "GHPOOL_CACHE_CLOSED_TTL",
            raw.cache.closed_ttl.as_ref(),
            "cache.closed_ttl",
            DEFAULT_CLOSED_TTL,
            &mut issues,
        ),
        rules: pick_rules(&raw.cache.rules, &mut issues),
    };
    let graphql_ttl = pick_duration(
        env,
        "GHPOOL_CACHE_GRAPHQL_TTL",
        raw.cache.graphql_ttl.as_ref(),
        "cache.graphql_ttl",
        cache.ttl,
        &mut issues,
    );
    let cache = CacheConfig { graphql_ttl, ..cache };

    let secrets_dir = PathBuf::from(
        env.get("GHPOOL_SECRETS_DIR").cloned().or(raw.secrets_dir.clone()).unwrap_or(DEFAULT_SECRETS_DIR.into()),
    );

    let secrets_refresh = pick_duration(
        env,
        "GHPOOL_SECRETS_REFRESH",
        raw.secrets_refresh.as_ref(),
        "secrets_refresh",
        Duration::from_secs(300),
        &mut issues,
    )
    .max(Duration::from_secs(1));

    let public_url = pick_public_url(raw.public_url.as_deref(), env, &mut issues);
    let max_in_flight = match env.get("GHPOOL_POOL_MAX_IN_FLIGHT") {
        Some(v) => v.trim().parse::<u64>().ok().filter(|n| *n > 0).unwrap_or_else(|| {
            issues.push(issue("GHPOOL_POOL_MAX_IN_FLIGHT", format!("`{v}` is not a positive number")));
            DEFAULT_MAX_IN_FLIGHT
        }),
        None => match raw.pool.max_in_flight {
            Some(0) => {
                issues.push(issue("pool.max_in_flight", "must be at least 1"));
                DEFAULT_MAX_IN_FLIGHT
            }
            Some(n) => n,
            None => DEFAULT_MAX_IN_FLIGHT,
        },
    };
    let pool = PoolConfig {
        max_in_flight,
        queue_timeout: pick_duration(
            env,
            "GHPOOL_POOL_QUEUE_TIMEOUT",
            raw.pool.queue_timeout.as_ref(),
            "pool.queue_timeout",
            Duration::from_secs(5),
            &mut issues,
        ),
        refresh: pick_duration(
            env,
            "GHPOOL_POOL_REFRESH",
            raw.pool.refresh.as_ref(),
            "pool.refresh",
            Duration::from_secs(60),
            &mut issues,
        )
        .max(Duration::from_secs(1)),
    };
    let fairness = pick_fairness(&raw.fairness, env, &mut issues);
    let connect_timeout = pick_duration(
        env,
        "GHPOOL_CONNECT_TIMEOUT",
        raw.connect_timeout.as_ref(),
        "connect_timeout",
        Duration::from_secs(10),
        &mut issues,
    );
    let read_timeout = pick_duration(
        env,
        "GHPOOL_READ_TIMEOUT",
        raw.read_timeout.as_ref(),
        "read_timeout",
        Duration::from_secs(60),
        &mut issues,
    );
    let access = pick_access(&raw.access, &mut issues);
    let identities = collect_identities(&raw.identities, env, &mut issues, &mut warnings);
    let apps = apps::collect_apps(&raw.apps, env, &mut issues);
    for app in apps.iter().filter(|a| identities.iter().any(|i| i.id == a.id)) {
        issues.push(issue(&format!("apps.{}", app.id), "an identity has the same id"));
    }
    let owners = pick_owners(&raw, env, identities.is_empty() && apps.is_empty(), &mut issues, &mut warnings);

    match (issues.is_empty(), upstream) {
        (true, Some(upstream)) => Ok(Config {
            listen,
            upstream,
            public_url,
            owners,
            secrets_dir,
            secrets_refresh,
            cache,
            access,
            pool,
            fairness,
            connect_timeout,
            read_timeout,
            identities,
            apps,
            warnings,
        }),
        _ => Err(issues),
    }
}

fn pick_listen(raw: &RawConfig, env: &HashMap<String, String>, issues: &mut Vec<ConfigIssue>) -> SocketAddr {
    let fallback: SocketAddr = DEFAULT_LISTEN.parse().expect("default listen address parses");
    let (key, text) = match (env.get("GHPOOL_LISTEN"), &raw.listen) {
        (Some(t), _) => ("GHPOOL_LISTEN", t.clone()),
        (None, Some(t)) => ("listen", t.clone()),
        (None, None) => ("listen", DEFAULT_LISTEN.to_string()),
    };
    let mut addr = match text.parse::<SocketAddr>() {
        Ok(a) => a,
        Err(_) => {
            issues.push(issue(key, format!("`{text}` is not an address:port such as 0.0.0.0:8080")));
            fallback
        }
    };
    if let Some(port) = env.get("GHPOOL_PORT") {
        match port.parse::<u16>() {
            Ok(p) => addr.set_port(p),
            Err(_) => issues.push(issue("GHPOOL_PORT", format!("`{port}` is not a port number"))),
        }
    }
    addr
}

/// A setting from the environment (text) over the file (as written), parsed; the default when
/// neither says anything or what they say does not parse (then an issue names the key).
#[allow(clippy::too_many_arguments)]
fn pick_setting<R: Clone, T>(
    env: &HashMap<String, String>,
    env_key: &str,
    raw: Option<&R>,
    toml_key: &str,
    from_text: fn(String) -> R,
    parse: fn(&R) -> Result<T, String>,
    default: T,
    issues: &mut Vec<ConfigIssue>,
) -> T {
    let (key, value) = match (env.get(env_key), raw) {
        (Some(t), _) => (env_key, from_text(t.clone())),
        (None, Some(v)) => (toml_key, v.clone()),
        (None, None) => return default,
    };
    parse(&value).unwrap_or_else(|m| {
        issues.push(issue(key, m));
        default
    })
}

fn pick_duration(
    env: &HashMap<String, String>,
    env_key: &str,
    raw: Option<&DurationText>,
    toml_key: &str,
    default: Duration,
    issues: &mut Vec<ConfigIssue>,
) -> Duration {
    pick_setting(env, env_key, raw, toml_key, DurationText::Text, parse_duration, default, issues)
}

/// "30s", "5m", "1h 30m", "500ms" (humantime) or plain seconds.
pub fn parse_duration(value: &DurationText) -> Result<Duration, String> {
    match value {
        DurationText::Seconds(s) => Ok(Duration::from_secs(*s)),
        DurationText::Text(t) => {
            let t = t.trim();
            if let Ok(secs) = t.parse::<u64>() {
                return Ok(Duration::from_secs(secs));
            }
            humantime::parse_duration(t)
                .map_err(|e| format!("`{t}` is not a duration ({e}); use seconds or text like \"30s\", \"5m\""))
        }
    }
}

fn pick_size(
    env: &HashMap<String, String>,
    env_key: &str,
    raw: Option<&SizeText>,
    toml_key: &str,
    issues: &mut Vec<ConfigIssue>,
) -> u64 {
    pick_setting(env, env_key, raw, toml_key, SizeText::Text, parse_size, DEFAULT_MAX_SIZE, issues)
}

/// "256MiB", "1GiB", "64 MB" (bytesize) or plain bytes; zero is refused.
pub fn parse_size(value: &SizeText) -> Result<u64, String> {
    let bytes = match value {
        SizeText::Bytes(b) => *b,
        SizeText::Text(t) => t
            .trim()
            .parse::<bytesize::ByteSize>()
            .map_err(|e| format!("`{t}` is not a size ({e}); use bytes or text like \"256MiB\""))?
            .as_u64(),
    };
    if bytes == 0 {
        return Err("size must be greater than zero".to_string());
    }
    Ok(bytes)
}

fn pick_count(env: &HashMap<String, String>, env_key: &str, raw: Option<u64>, issues: &mut Vec<ConfigIssue>) -> u64 {
    match env.get(env_key) {
        Some(v) => v.trim().parse().unwrap_or_else(|_| {
            issues.push(issue(env_key, format!("`{v}` is not a whole number")));
            0
        }),
        None => raw.unwrap_or(0),
    }
}

fn pick_fairness(raw: &RawFairness, env: &HashMap<String, String>, issues: &mut Vec<ConfigIssue>) -> FairnessConfig {
    let (key, text) = match (env.get("GHPOOL_FAIRNESS_CLIENT_KEY"), &raw.client_key) {
        (Some(t), _) => ("GHPOOL_FAIRNESS_CLIENT_KEY", t.clone()),
        (None, Some(t)) => ("fairness.client_key", t.clone()),
        (None, None) => ("fairness.client_key", "token".to_string()),
    };
    let client_key = crate::fairness::ClientKey::parse(&text).unwrap_or_else(|| {
        issues.push(issue(key, format!("`{text}` is not one of header, token, address")));
        crate::fairness::ClientKey::Token
    });
    let per_minute = pick_count(env, "GHPOOL_FAIRNESS_PER_MINUTE", raw.per_client_per_minute, issues);
    let burst = match pick_count(env, "GHPOOL_FAIRNESS_BURST", raw.burst, issues) {
        0 => per_minute.max(1),
        b => b,
    };
    FairnessConfig { client_key, per_client_per_minute: per_minute, burst }
}

fn pick_rules(raw: &[RawRule], issues: &mut Vec<ConfigIssue>) -> Vec<TtlRule> {
    let mut rules = Vec::new();
    for (i, rule) in raw.iter().enumerate() {
        let key = format!("cache.rules[{i}]");
        if !rule.path.starts_with('/') {
            issues.push(issue(&format!("{key}.path"), format!("`{}` must start with '/'", rule.path)));
            continue;
        }
        if let Err(e) = globset::Glob::new(&rule.path) {
            issues.push(issue(&format!("{key}.path"), format!("`{}` is not a glob: {e}", rule.path)));
            continue;
        }
        match parse_duration(&rule.ttl) {
            Ok(ttl) => rules.push(TtlRule { path: rule.path.clone(), ttl }),
            Err(m) => issues.push(issue(&format!("{key}.ttl"), m)),
        }
    }
    rules
}

fn pick_public_url(raw: Option<&str>, env: &HashMap<String, String>, issues: &mut Vec<ConfigIssue>) -> Option<String> {
    let (key, text) = match (env.get("GHPOOL_PUBLIC_URL"), raw) {
        (Some(t), _) => ("GHPOOL_PUBLIC_URL", t.as_str()),
        (None, Some(t)) => ("public_url", t),
        (None, None) => return None,
    };
    match url::Url::parse(text.trim()) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() && u.query().is_none() => {
            Some(text.trim().trim_end_matches('/').to_string())
        }
        _ => {
            issues.push(issue(key, format!("`{text}` is not an http(s) base URL such as http://ghpool.internal:8080")));
            None
        }
    }
}

fn pick_access(raw: &RawAccess, issues: &mut Vec<ConfigIssue>) -> AccessConfig {
    let public_paths = match &raw.public_paths {
        Some(paths) => paths.clone(),
        None => crate::access::DEFAULT_PUBLIC_PATHS.iter().map(|p| p.to_string()).collect(),
    };
    for path in &public_paths {
        if !path.starts_with('/') || path.contains("//") || path.contains("..") {
            issues.push(issue("access.public_paths", format!("`{path}` must be an absolute path such as \"/meta\"")));
        }
    }
    let fields: BTreeSet<String> = raw.graphql_unscoped_fields.clone().unwrap_or_default().into_iter().collect();
    for field in &fields {
        if field.is_empty() || !field.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            issues.push(issue("access.graphql_unscoped_fields", format!("`{field}` is not a GraphQL field name")));
        }
    }
    AccessConfig { public_paths, graphql_unscoped_fields: fields }
}

fn is_valid_id(id: &str) -> bool {
    !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// `[[identities]]` from the file, then `GHPOOL_PAT_<ID>` from the environment (same id: env wins).
fn collect_identities(
    raw: &[RawIdentity],
    env: &HashMap<String, String>,
    issues: &mut Vec<ConfigIssue>,
    warnings: &mut Vec<String>,
) -> Vec<IdentityConfig> {
    let mut by_id: BTreeMap<String, (String, SecretRef)> = BTreeMap::new();
    for (i, ident) in raw.iter().enumerate() {
        let key = format!("identities[{i}]");
        let id = ident.id.trim().to_ascii_lowercase();
        if !is_valid_id(&id) {
            issues.push(issue(
                &format!("{key}.id"),
                format!("`{}` is not a valid id (letters, digits, - and _)", ident.id),
            ));
            continue;
        }
        if by_id.contains_key(&id) {
            issues.push(issue(&format!("{key}.id"), format!("duplicate identity id `{id}`")));
            continue;
        }
        match SecretRef::parse(&ident.token) {
            Ok(r) => {
                by_id.insert(id, (format!("{key}.token"), r));
            }
            Err(e) => issues.push(issue(&format!("{key}.token"), e.to_string())),
        }
    }
    let mut env_pats: Vec<(&String, &String)> = env.iter().filter(|(k, _)| k.starts_with(PAT_PREFIX)).collect();
    env_pats.sort();
    for (key, value) in env_pats {
        let id = key[PAT_PREFIX.len()..].to_ascii_lowercase();
        if !is_valid_id(&id) {
            issues.push(issue(key, "the part after GHPOOL_PAT_ must be an id of letters, digits, - and _"));
            continue;
        }
        match SecretRef::parse(value) {
            Ok(r) => {
                by_id.insert(id, (key.clone(), r));
            }
            Err(e) => issues.push(issue(key, e.to_string())),
        }
    }
    by_id
        .into_iter()
        .map(|(id, (key, token))| {
            if matches!(token, SecretRef::Literal(_)) {
                warnings.push(format!(
                    "{key}: identity `{id}` has a literal token in the configuration; use env:, k8s: or a secrets manager outside local development"
                ));
            }
            IdentityConfig { id, token }
        })
        .collect()
}

fn pick_owners(
    raw: &RawConfig,
    env: &HashMap<String, String>,
    anonymous: bool,
    issues: &mut Vec<ConfigIssue>,
    warnings: &mut Vec<String>,
) -> OwnerPolicy {
    let allow_all = match env.get("GHPOOL_ALLOW_ALL_OWNERS") {
        Some(v) => match v.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" => true,
            "0" | "false" | "no" | "" => false,
            _ => {
                issues.push(issue("GHPOOL_ALLOW_ALL_OWNERS", format!("`{v}` is not true or false")));
                false
            }
        },
        None => raw.allow_all_owners.unwrap_or(false),
    };
    let (key, listed): (&str, Option<Vec<String>>) = match env.get("GHPOOL_ALLOWED_OWNERS") {
        Some(v) => (
            "GHPOOL_ALLOWED_OWNERS",
            Some(v.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()),
        ),
        None => ("allowed_owners", raw.allowed_owners.clone()),
    };
    let mut owners = HashSet::new();
    for owner in listed.iter().flatten() {
        if is_valid_login(owner) {
            owners.insert(owner.to_ascii_lowercase());
        } else {
            issues.push(issue(key, format!("`{owner}` is not a GitHub user or organization name")));
        }
    }
    if allow_all {
        if !owners.is_empty() {
            warnings.push("allow_all_owners = true: allowed_owners is ignored".to_string());
        }
        return OwnerPolicy::AllowAll;
    }
    if !owners.is_empty() {
        return OwnerPolicy::Only(owners);
    }
    if anonymous && listed.is_none() {
        warnings.push(
            "no identities configured: serving unauthenticated reads (60 requests/hour per IP at GitHub) for ALL owners; configure identities and allowed_owners for real use".to_string(),
        );
        return OwnerPolicy::AllowAll;
    }
    issues.push(issue(
        "allowed_owners",
        "identities are configured but no owner is allowed: set allowed_owners (GHPOOL_ALLOWED_OWNERS=org1,org2) or allow_all_owners = true",
    ));
    OwnerPolicy::Only(owners)
}

/// GitHub logins: letters, digits and single hyphens, at most 39 characters.
pub fn is_valid_login(s: &str) -> bool {
    !s.is_empty() && s.len() <= 39 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn unknown_ghpool_variables_are_warned_about() {
        let c = Config::parse(
            None,
            &env(&[
                ("GHPOOL_CACHE_TTLL", "5s"),
                ("GHPOOL_PAT_A", "env:X"),
                ("GHPOOL_ALLOWED_OWNERS", "o"),
                ("HOME", "/"),
            ]),
        )
        .unwrap();
        assert_eq!(c.warnings.iter().filter(|w| w.contains("is not a ghpool setting")).count(), 1, "{:?}", c.warnings);
        assert!(c.warnings.iter().any(|w| w.starts_with("GHPOOL_CACHE_TTLL")), "{:?}", c.warnings);
    }

    fn keys(issues: &[ConfigIssue]) -> Vec<&str> {
        issues.iter().map(|i| i.key.as_str()).collect()
    }

    #[test]
    fn empty_config_is_anonymous_and_serves_everyone() {
        let c = Config::parse(None, &env(&[])).unwrap();
        assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(c.upstream.base_url(), DEFAULT_UPSTREAM);
        assert_eq!(c.owners, OwnerPolicy::AllowAll);
        assert!(c.identities.is_empty());
        assert_eq!(c.cache.ttl, Duration::from_secs(60));
        assert_eq!(c.cache.graphql_ttl, Duration::from_secs(60));
        assert_eq!(c.cache.max_size, 256 * 1024 * 1024);
        assert!(c.warnings.iter().any(|w| w.contains("no identities")));
    }

    #[test]
    fn env_overrides_file() {
        let toml = r#"
            listen = "127.0.0.1:9000"
            upstream = "http://127.0.0.1:1"
            allowed_owners = ["Acme"]
            [cache]
            ttl = "30s"
            max_size = "1MiB"
            [[identities]]
            id = "a"
            token = "env:TOKEN_A"
        "#;
        let e = env(&[
            ("GHPOOL_PORT", "9100"),
            ("GHPOOL_ALLOWED_OWNERS", "octo, Widgets"),
            ("GHPOOL_CACHE_GRAPHQL_TTL", "2m"),
            ("GHPOOL_PAT_B", "env:TOKEN_B"),
        ]);
        let c = Config::parse(Some(toml), &e).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:9100");
        assert_eq!(c.upstream.base_url(), "http://127.0.0.1:1");
        assert_eq!(c.owners, OwnerPolicy::Only(["octo".to_string(), "widgets".to_string()].into()));
        assert_eq!(c.cache.ttl, Duration::from_secs(30));
        assert_eq!(c.cache.graphql_ttl, Duration::from_secs(120));
        assert_eq!(c.cache.max_size, 1024 * 1024);
        let ids: Vec<&str> = c.identities.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(ids, ["a", "b"]);
    }

    /// name, config.toml, environment, key named, text in its message.
    type Case<'a> = (&'a str, Option<&'a str>, &'a [(&'a str, &'a str)], &'a str, &'a str);

    #[test]
    fn each_error_class_names_its_key() {
        let cases: &[Case] = &[
            ("bad toml", Some("listen = \n"), &[], "toml", "line 1"),
            ("unknown key", Some("listne = \"x\""), &[], "toml", "listne"),
            ("unknown cache key", Some("[cache]\nttl2 = 1"), &[], "toml", "ttl2"),
            ("bad duration", Some("[cache]\nttl = \"soon\""), &[], "cache.ttl", "soon"),
            ("bad env duration", None, &[("GHPOOL_CACHE_TTL", "x")], "GHPOOL_CACHE_TTL", "duration"),
            ("bad size", Some("[cache]\nmax_size = \"lots\""), &[], "cache.max_size", "lots"),
            ("zero size", None, &[("GHPOOL_CACHE_MAX_SIZE", "0")], "GHPOOL_CACHE_MAX_SIZE", "zero"),
            ("no allowlist", None, &[("GHPOOL_PAT_A", "env:X")], "allowed_owners", "no owner"),
            (
                "bad secret ref",
                None,
                &[("GHPOOL_PAT_A", "vault:x"), ("GHPOOL_ALLOWED_OWNERS", "o")],
                "GHPOOL_PAT_A",
                "vault",
            ),
            (
                "bad toml secret ref",
                Some("allowed_owners=[\"o\"]\n[[identities]]\nid=\"a\"\ntoken=\"k8s:x\""),
                &[],
                "identities[0].token",
                "k8s",
            ),
            ("bad listen", None, &[("GHPOOL_LISTEN", "nowhere")], "GHPOOL_LISTEN", "nowhere"),
            ("bad port", None, &[("GHPOOL_PORT", "99999")], "GHPOOL_PORT", "99999"),
            ("bad upstream", None, &[("GHPOOL_UPSTREAM", "ftp://x")], "GHPOOL_UPSTREAM", "http"),
            ("bad public url", Some("public_url = \"ghpool:8080\""), &[], "public_url", "ghpool:8080"),
            (
                "bad rule glob",
                Some("[[cache.rules]]\npath = \"/repos/[\"\nttl = 1"),
                &[],
                "cache.rules[0].path",
                "glob",
            ),
            (
                "bad rule ttl",
                Some("[[cache.rules]]\npath = \"/x*\"\nttl = \"soon\""),
                &[],
                "cache.rules[0].ttl",
                "soon",
            ),
            ("bad owner", None, &[("GHPOOL_ALLOWED_OWNERS", "a/b")], "GHPOOL_ALLOWED_OWNERS", "a/b"),
            ("bad public path", Some("[access]\npublic_paths = [\"meta\"]"), &[], "access.public_paths", "meta"),
            (
                "bad graphql field",
                Some("[access]\ngraphql_unscoped_fields = [\"a b\"]"),
                &[],
                "access.graphql_unscoped_fields",
                "a b",
            ),
        ];
        for (name, toml, vars, key, needle) in cases {
            let issues = Config::parse(*toml, &env(vars)).expect_err(name);
            let found = issues.iter().find(|i| i.key == *key);
            let found = found.unwrap_or_else(|| panic!("{name}: no issue for {key} in {issues:?}"));
            assert!(found.message.contains(needle), "{name}: {found:?}");
        }
    }

    #[test]
    fn all_errors_are_reported_together() {
        let issues =
            Config::parse(Some("[cache]\nttl = \"soon\"\nmax_size = \"lots\""), &env(&[("GHPOOL_PAT_A", "env:X")]))
                .unwrap_err();
        assert_eq!(keys(&issues), ["cache.ttl", "cache.max_size", "allowed_owners"]);
    }

    #[test]
    fn literal_tokens_warn_and_never_show() {
        let c = Config::parse(None, &env(&[("GHPOOL_PAT_A", "ghp_abcdef"), ("GHPOOL_ALLOWED_OWNERS", "o")])).unwrap();
        assert!(c.warnings.iter().any(|w| w.contains("literal token")));
        assert!(!format!("{c:?} {:?}", c.warnings).contains("ghp_abcdef"));
    }

    #[test]
    fn allow_all_owners_replaces_the_list() {
        let c = Config::parse(Some("allow_all_owners = true"), &env(&[("GHPOOL_PAT_A", "env:X")])).unwrap();
        assert_eq!(c.owners, OwnerPolicy::AllowAll);
    }

    #[test]
    fn example_config_loads() {
        let text = include_str!("../config.example.toml");
        let c = Config::parse(Some(text), &env(&[])).unwrap();
        assert!(!c.identities.is_empty());
        assert_eq!(c.apps.len(), 1, "the documented [[apps]] entry is valid");
        assert_eq!(c.secrets_refresh, Duration::from_secs(300));
        assert!(matches!(c.owners, OwnerPolicy::Only(_)));
    }
}
