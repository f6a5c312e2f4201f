//! Configuration: the TOML file at `$GHPOOL_CONFIG`, `GHPOOL_*` environment variables over it, then
//! defaults — the contract table in `shared/DESIGN.md`.
//!
//! Two stages, as written → as used: [`RawConfig`] mirrors the TOML exactly (`deny_unknown_fields`),
//! [`Config`] is validated and typed (`Duration`, byte sizes, `SecretRef`, lower-cased owners). Every
//! problem is collected with the key it belongs to, so an operator fixes them all in one pass.
//! Owns: reading the file and the environment snapshot. Must never: resolve secrets (that needs
//! I/O and a network; see `secrets`) or print a secret value.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::secrets::SecretRef;
use crate::upstream::Upstream;

/// `[[agents]]` (issue #16).
pub mod agents;
mod apps;
mod by_id;
mod owners;
mod raw;
mod settings;

pub use apps::{AppConfig, InstallationRef, RawApp, Serves};
pub use owners::is_valid_login;
use owners::{collect_identities, is_valid_id, pick_owners};
pub use raw::{
    DurationText, RawAccess, RawCache, RawConfig, RawFairness, RawGraphql, RawIdentity, RawPool, RawRule, RawShared,
    SizeText,
};
pub use settings::{parse_duration, parse_size};
use settings::{Settings, SETTINGS};

pub const DEFAULT_LISTEN: &str = "0.0.0.0:8080";
pub const DEFAULT_UPSTREAM: &str = "https://api.github.com";
pub const DEFAULT_CONFIG_PATH: &str = "config.toml";
pub const DEFAULT_SECRETS_DIR: &str = "/etc/secrets";
/// Overrides the port of `listen`.
const PORT_ENV: &str = "GHPOOL_PORT";
/// The configuration file.
const CONFIG_ENV: &str = "GHPOOL_CONFIG";
pub(crate) const DEFAULT_TTL: Duration = Duration::from_secs(60);
pub(crate) const DEFAULT_MAX_SIZE: u64 = 256 * 1024 * 1024;
pub(crate) const DEFAULT_STALE_IF_ERROR: Duration = Duration::from_secs(3600);
pub(crate) const DEFAULT_CLOSED_TTL: Duration = Duration::from_secs(600);
/// GitHub allows 100 concurrent requests per user; stay well below by default.
pub const DEFAULT_MAX_IN_FLIGHT: u64 = 50;

/// Owner-free endpoints that reveal nothing about the pool identity (a prefix also covers what is
/// below it: `/licenses` covers `/licenses/mit`).
pub const DEFAULT_PUBLIC_PATHS: &[&str] =
    &["/", "/meta", "/emojis", "/licenses", "/gitignore/templates", "/octocat", "/zen", "/versions"];
const PAT_PREFIX: &str = "GHPOOL_PAT_";

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

/// How clients are told apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientKey {
    /// `X-Ghpool-Client` (declared by the client: for cooperating clients only), falling back to a
    /// verified token's digest, then the address.
    Header,
    /// A digest of the client's `Authorization` once GitHub has accepted it, else the address.
    Token,
    /// The source IP address.
    Address,
    /// The verified client certificate's name (mutual TLS: `[tls] client_ca`).
    Certificate,
}

impl ClientKey {
    pub fn parse(text: &str) -> Option<ClientKey> {
        match text.trim().to_ascii_lowercase().as_str() {
            "header" => Some(ClientKey::Header),
            "token" => Some(ClientKey::Token),
            "address" => Some(ClientKey::Address),
            "certificate" => Some(ClientKey::Certificate),
            _ => None,
        }
    }
}

/// Each client's share of the requests that cost pool budget.
#[derive(Debug, Clone)]
pub struct FairnessConfig {
    pub client_key: ClientKey,
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
    /// With agents configured: clients without a key are still served as without agents (network
    /// trust beside keyed agents). Without agents it changes nothing.
    pub allow_unkeyed: bool,
}

/// How GraphQL documents are read.
#[derive(Debug, Clone)]
pub struct GraphqlConfig {
    /// A GraphQL schema file to validate documents against instead of the vendored GitHub schema
    /// (a newer one, or a GitHub Enterprise Server one).
    pub schema: Option<PathBuf>,
    /// The largest body of a GraphQL mutation (sent with the client's own token); queries stay
    /// within 64 KiB.
    pub max_mutation_body: u64,
}

/// ghpool's listener over TLS (`[tls]`): its certificate chain and key, and for mutual TLS the CA
/// client certificates must be signed by — each a secret reference, resolved again on every
/// secrets refresh — and a plain-HTTP address kept beside it, if any.
#[derive(Debug, Clone)]
pub struct TlsConfig {
    pub cert: SecretRef,
    pub key: SecretRef,
    pub client_ca: Option<SecretRef>,
    pub also_plain: Option<SocketAddr>,
}

/// The Redis that replicas share their cache, invalidations and budgets through (`shared`).
#[derive(Debug, Clone)]
pub struct SharedConfig {
    /// `redis://host:port/db` or `rediss://…` (TLS); never holds a password (that is `password`).
    pub redis_url: String,
    /// `AUTH`'s password, a secret reference.
    pub password: Option<SecretRef>,
    /// Put before every key, so deployments can share one Redis.
    pub key_prefix: String,
    /// The longest a request waits on Redis before going on without it.
    pub timeout: Duration,
}

/// GitHub takes files of up to 100 MB through its contents API; a mutation carries them base64-encoded.
pub const DEFAULT_MAX_MUTATION_BODY: u64 = 100 * 1024 * 1024;

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
    pub graphql: GraphqlConfig,
    /// `None`: no `[shared] redis_url`, each replica on its own (as before).
    pub shared: Option<SharedConfig>,
    /// `[tls]`: the listener speaks TLS (`None`: plain HTTP, as before).
    pub tls: Option<TlsConfig>,
    /// `[audit] path`: the JSON Lines file every write's decision is written and synced to before
    /// it is sent (`-`: standard output); `None`: writes are audited in the log only.
    pub audit_path: Option<String>,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    pub identities: Vec<IdentityConfig>,
    /// GitHub App installations, pool identities beside the PATs.
    pub apps: Vec<AppConfig>,
    /// Agents (issue #16): each with its keys and the repositories it may read. None: every client
    /// is served as before (network trust).
    pub agents: Vec<agents::AgentConfig>,
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
        let (path, explicit) = match env.get(CONFIG_ENV) {
            Some(p) if !p.is_empty() => (p.clone(), true),
            _ => (DEFAULT_CONFIG_PATH.to_string(), false),
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => Some(text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => None,
            Err(e) => {
                return Err(ConfigError {
                    source_name: path.clone(),
                    issues: vec![issue(CONFIG_ENV, format!("cannot read `{path}`: {e}"))],
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

/// A variable's comma-separated list (`a, b,,c` → `a`, `b`, `c`): items trimmed, empty ones dropped.
fn env_list(value: &str) -> Vec<String> {
    value.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect()
}

/// A yes/no setting: the environment's `name` (`1`/`true`/`yes`, `0`/`false`/`no`/empty) over the
/// file's value, `false` by default; anything else is an issue naming the variable.
fn env_flag(env: &HashMap<String, String>, name: &str, written: Option<bool>, issues: &mut Vec<ConfigIssue>) -> bool {
    let Some(v) = env.get(name) else { return written.unwrap_or(false) };
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" => true,
        "0" | "false" | "no" | "" => false,
        _ => {
            issues.push(issue(name, format!("`{v}` is not true or false")));
            false
        }
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

/// `GHPOOL_*` variables read besides the settings table's, the `GHPOOL_PAT_<ID>`,
/// `GHPOOL_APP_<ID>_<FIELD>` and `GHPOOL_AGENT_<ID>_<FIELD>` families: by the owner policy, the
/// access settings, the GCP resolver and `ghp`.
const OTHER_ENV: &[&str] = &[
    CONFIG_ENV,
    settings::ALLOW_UNKEYED_ENV,
    PORT_ENV,
    owners::ALLOWED_OWNERS_ENV,
    owners::ALLOW_ALL_OWNERS_ENV,
    crate::secrets::gcp::ENDPOINT_ENV,
    crate::ghp::GHPOOL_URL_ENV,
];

/// A `GHPOOL_*` variable nothing reads is most likely a typo: say so at start.
fn unknown_env(env: &HashMap<String, String>) -> Vec<String> {
    let known = |k: &str| SETTINGS.iter().any(|s| s.env == k) || OTHER_ENV.contains(&k);
    let mut unknown: Vec<String> = env
        .keys()
        .filter(|k| k.starts_with("GHPOOL_") && !k.starts_with(PAT_PREFIX) && !k.starts_with("GHPOOL_APP_"))
        .filter(|k| !k.starts_with("GHPOOL_AGENT_"))
        .filter(|k| !known(k))
        .map(|k| format!("{k} is not a ghpool setting and is ignored (a typo? see README's configuration table)"))
        .collect();
    unknown.sort();
    unknown
}

/// `listen`, with `GHPOOL_PORT` over its port.
fn pick_listen(settings: &Settings, env: &HashMap<String, String>, issues: &mut Vec<ConfigIssue>) -> SocketAddr {
    let fallback: SocketAddr = DEFAULT_LISTEN.parse().expect("default listen address parses");
    let (key, text) = settings.text(&settings::LISTEN).unwrap_or(("listen", DEFAULT_LISTEN.to_string()));
    let mut addr = text.parse::<SocketAddr>().unwrap_or_else(|_| {
        issues.push(issue(key, format!("`{text}` is not an address:port such as 0.0.0.0:8080")));
        fallback
    });
    if let Some(port) = env.get(PORT_ENV) {
        match port.parse::<u16>() {
            Ok(p) => addr.set_port(p),
            Err(_) => issues.push(issue(PORT_ENV, format!("`{port}` is not a port number"))),
        }
    }
    addr
}

/// `[tls]`: a certificate and a key (both or neither), each a secret reference — never the PEM
/// itself; an optional client CA (mutual TLS) and plain-HTTP address.
fn pick_tls(set: &Settings, issues: &mut Vec<ConfigIssue>) -> Option<TlsConfig> {
    use settings::{TLS_ALSO_PLAIN, TLS_CERT, TLS_CLIENT_CA, TLS_KEY};
    let reference = |(key, text): (&'static str, String), issues: &mut Vec<ConfigIssue>| {
        if text.trim_start().starts_with("-----BEGIN") {
            issues.push(issue(
                key,
                "PEM is never written in the configuration: reference it (file:, env:, k8s:, aws:, gcp:)",
            ));
            return None;
        }
        match SecretRef::parse(&text) {
            Ok(SecretRef::Literal(_)) | Err(_) => {
                issues.push(issue(
                    key,
                    "not a secret reference (file:, env:, k8s:, aws:secretsmanager:, gcp:secretmanager:)",
                ));
                None
            }
            Ok(r) => Some(r),
        }
    };
    let cert = set.text(&TLS_CERT);
    let key = set.text(&TLS_KEY);
    let client_ca = set.text(&TLS_CLIENT_CA);
    let also_plain = set.text(&TLS_ALSO_PLAIN);
    let (cert, key) = match (cert, key) {
        (None, None) => {
            for (key, _) in client_ca.iter().chain(also_plain.iter()) {
                issues.push(issue(key, "needs tls.cert and tls.key"));
            }
            return None;
        }
        (Some(_), None) => {
            issues.push(issue("tls.key", "missing: tls.cert is set, the listener needs its key too"));
            return None;
        }
        (None, Some(_)) => {
            issues.push(issue("tls.cert", "missing: tls.key is set, the listener needs its certificate too"));
            return None;
        }
        (Some(cert), Some(key)) => (reference(cert, issues), reference(key, issues)),
    };
    let client_ca = client_ca.and_then(|ca| reference(ca, issues));
    let also_plain = also_plain.and_then(|(key, text)| match text.trim().parse::<SocketAddr>() {
        Ok(addr) => Some(addr),
        Err(_) => {
            issues.push(issue(key, format!("`{text}` is not an address:port such as 0.0.0.0:8080")));
            None
        }
    });
    Some(TlsConfig { cert: cert?, key: key?, client_ca, also_plain })
}

/// `[shared]`: a Redis URL (`redis://` or `rediss://`) without credentials in it (they would be
/// logged and shown wherever the URL is), a password as a secret reference, a prefix and a timeout.
fn pick_shared(set: &Settings, issues: &mut Vec<ConfigIssue>, warnings: &mut Vec<String>) -> Option<SharedConfig> {
    use settings::{KEY_PREFIX, REDIS_PASSWORD, REDIS_URL, SHARED_TIMEOUT};
    let (url_key, url) = set.text(&REDIS_URL)?;
    let url = url.trim().to_string();
    let parsed =
        url::Url::parse(&url).ok().filter(|u| matches!(u.scheme(), "redis" | "rediss") && u.host_str().is_some());
    let Some(parsed) = parsed else {
        issues.push(issue(url_key, "is not a Redis URL such as redis://redis:6379/0 or rediss://host:6380"));
        return None;
    };
    if parsed.password().is_some() || !parsed.username().is_empty() {
        issues.push(issue(
            url_key,
            "must not carry credentials: put the password in shared.redis_password (a secret reference)",
        ));
        return None;
    }
    let password = match set.text(&REDIS_PASSWORD) {
        Some((key, text)) => match SecretRef::parse(&text) {
            Ok(r) => {
                if matches!(r, SecretRef::Literal(_)) {
                    warnings.push(format!(
                        "{key} is written in the configuration; use a secret reference (env:, k8s:, aws:, gcp:)"
                    ));
                }
                Some(r)
            }
            Err(e) => {
                issues.push(issue(key, e.to_string()));
                None
            }
        },
        None => None,
    };
    let (prefix_key, key_prefix) = set.text(&KEY_PREFIX).unwrap_or_default();
    if key_prefix.chars().any(|c| c.is_whitespace() || c.is_control()) {
        issues.push(issue(prefix_key, "must not contain spaces or control characters"));
    }
    let timeout = set.duration(&SHARED_TIMEOUT);
    if timeout.is_zero() {
        issues.push(issue("shared.timeout", "must be above zero"));
    }
    Some(SharedConfig { redis_url: url, password, key_prefix, timeout })
}

fn validate(raw: RawConfig, env: &HashMap<String, String>) -> Result<Config, Vec<ConfigIssue>> {
    use settings::*;
    let mut issues = Vec::new();
    let mut warnings = unknown_env(env);
    let set = settings::read(&raw, env, &mut issues);

    let listen = pick_listen(&set, env, &mut issues);
    let (upstream_key, upstream_text) = set.text(&UPSTREAM).unwrap_or(("upstream", DEFAULT_UPSTREAM.to_string()));
    let upstream = Upstream::parse(&upstream_text).map_err(|e| issues.push(issue(upstream_key, e.to_string()))).ok();
    let public_url = set.text(&PUBLIC_URL).and_then(|(key, text)| pick_public_url(key, &text, &mut issues));
    let cache_ttl = set.duration(&CACHE_TTL);
    let cache = CacheConfig {
        ttl: cache_ttl,
        graphql_ttl: set.duration_or(&CACHE_GRAPHQL_TTL, cache_ttl),
        max_size: set.number(&CACHE_MAX_SIZE),
        stale_if_error: set.duration(&CACHE_STALE_IF_ERROR),
        negative_ttl: set.duration(&CACHE_NEGATIVE_TTL),
        closed_ttl: set.duration(&CACHE_CLOSED_TTL),
        rules: pick_rules(&raw.cache.rules, &mut issues),
    };
    let secrets_dir = PathBuf::from(set.text(&SECRETS_DIR).map(|(_, t)| t).unwrap_or_default());
    let pool = PoolConfig {
        max_in_flight: set.number(&POOL_MAX_IN_FLIGHT),
        queue_timeout: set.duration(&POOL_QUEUE_TIMEOUT),
        refresh: set.duration(&POOL_REFRESH).max(Duration::from_secs(1)),
    };
    let (client_key_at, client_key) = set.text(&FAIRNESS_CLIENT_KEY).unwrap_or_default();
    let client_key = ClientKey::parse(&client_key).unwrap_or_else(|| {
        issues.push(issue(client_key_at, format!("`{client_key}` is not one of header, token, address, certificate")));
        ClientKey::Token
    });
    let per_client_per_minute = set.number(&FAIRNESS_PER_MINUTE);
    let burst = match set.number(&FAIRNESS_BURST) {
        0 => per_client_per_minute.max(1),
        b => b,
    };
    let fairness = FairnessConfig { client_key, per_client_per_minute, burst };
    let graphql = GraphqlConfig {
        schema: set.text(&GRAPHQL_SCHEMA).map(|(_, path)| PathBuf::from(path)),
        max_mutation_body: set.number(&GRAPHQL_MAX_MUTATION_BODY),
    };
    let shared = pick_shared(&set, &mut issues, &mut warnings);
    let tls = pick_tls(&set, &mut issues);
    if client_key == ClientKey::Certificate && tls.as_ref().is_none_or(|t| t.client_ca.is_none()) {
        issues.push(issue(client_key_at, "`certificate` needs mutual TLS: set tls.cert, tls.key and tls.client_ca"));
    }
    let audit_path = set.text(&AUDIT_PATH).map(|(_, path)| path.trim().to_string()).filter(|p| !p.is_empty());
    let access = pick_access(&raw.access, env, &mut issues);
    let agents = agents::collect_agents(&raw.agents, env, &mut issues);
    for (i, agent) in agents.iter().enumerate() {
        let Some(subject) = agent.certificate_subject.as_deref() else { continue };
        let same = |other: &agents::AgentConfig| {
            other.certificate_subject.as_deref().map(agents::certificate_name)
                == Some(agents::certificate_name(subject))
        };
        if let Some(other) = agents[..i].iter().find(|o| same(o)) {
            issues.push(issue(
                &format!("agents.{}.certificate_subject", agent.id),
                format!("`{subject}` already names agent `{}`: a certificate names one agent", other.id),
            ));
        }
    }
    let identities = collect_identities(&raw.identities, env, &mut issues, &mut warnings);
    let apps = apps::collect_apps(&raw.apps, env, &mut issues);
    for app in apps.iter().filter(|a| identities.iter().any(|i| i.id == a.id)) {
        issues.push(issue(&format!("apps.{}", app.id), "an identity has the same id"));
    }
    let owners = pick_owners(&raw, env, identities.is_empty() && apps.is_empty(), &mut issues, &mut warnings);
    if let OwnerPolicy::Only(allowed) = &owners {
        for agent in &agents {
            for pattern in &agent.repos {
                let (agents::RepoPattern::Repo { owner, .. } | agents::RepoPattern::Owner(owner)) = pattern;
                if !allowed.contains(owner) {
                    warnings.push(format!(
                        "agent `{}` lists a repository of `{owner}`, which is not in allowed_owners: it can never read it",
                        agent.id
                    ));
                }
            }
        }
    }

    match (issues.is_empty(), upstream) {
        (true, Some(upstream)) => Ok(Config {
            listen,
            upstream,
            public_url,
            owners,
            secrets_dir,
            secrets_refresh: set.duration(&SECRETS_REFRESH).max(Duration::from_secs(1)),
            cache,
            access,
            pool,
            fairness,
            graphql,
            shared,
            tls,
            audit_path,
            connect_timeout: set.duration(&CONNECT_TIMEOUT),
            read_timeout: set.duration(&READ_TIMEOUT),
            identities,
            apps,
            agents,
            warnings,
        }),
        _ => Err(issues),
    }
}

#[cfg(test)]
mod tests;
