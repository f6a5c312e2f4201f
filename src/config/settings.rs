//! The scalar settings as one table — TOML key, environment variable, kind, default — walked
//! once: the environment's text over the file's value, parsed, or the default, and an issue naming
//! the key when what was written does not parse. Also the settings that are more than a scalar
//! (cache rules, access lists).
//! Must never: stop at the first problem (every issue is collected).

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use super::{
    issue, AccessConfig, ConfigIssue, DurationText, RawAccess, RawConfig, RawRule, SizeText, TtlRule,
    DEFAULT_CLOSED_TTL, DEFAULT_LISTEN, DEFAULT_MAX_IN_FLIGHT, DEFAULT_MAX_MUTATION_BODY, DEFAULT_MAX_SIZE,
    DEFAULT_STALE_IF_ERROR, DEFAULT_TTL, DEFAULT_UPSTREAM,
};

/// How a setting's value is read.
#[derive(Debug, Clone, Copy)]
pub(super) enum Kind {
    /// "30s", "5m", "1h 30m", "500ms" or seconds ([`parse_duration`]).
    Duration(Option<Duration>),
    /// "256MiB" or bytes, above zero ([`parse_size`]).
    Size(u64),
    /// A whole number.
    Count(u64),
    /// A whole number of at least 1.
    Positive(u64),
    /// Text, read by the setting's own parser where it is used.
    Text(Option<&'static str>),
}

/// A scalar as the file wrote it.
pub(super) enum Written {
    Duration(DurationText),
    Size(SizeText),
    Count(u64),
    Text(String),
}

/// One scalar setting: its TOML key, its environment variable (which wins over the file), its kind
/// with its default, and where the file's value sits.
pub(super) struct Setting {
    pub toml: &'static str,
    pub env: &'static str,
    kind: Kind,
    written: fn(&RawConfig) -> Option<Written>,
}

macro_rules! setting {
    ($name:ident, $toml:literal, $env:literal, $kind:expr, |$raw:ident| $written:expr) => {
        pub(super) const $name: Setting = Setting { toml: $toml, env: $env, kind: $kind, written: |$raw| $written };
    };
}

fn dur(d: &Option<DurationText>) -> Option<Written> {
    d.clone().map(Written::Duration)
}

fn size(s: &Option<SizeText>) -> Option<Written> {
    s.clone().map(Written::Size)
}

fn text(t: &Option<String>) -> Option<Written> {
    t.clone().map(Written::Text)
}

const fn secs(s: u64) -> Kind {
    Kind::Duration(Some(Duration::from_secs(s)))
}

setting!(LISTEN, "listen", "GHPOOL_LISTEN", Kind::Text(Some(DEFAULT_LISTEN)), |r| text(&r.listen));
setting!(UPSTREAM, "upstream", "GHPOOL_UPSTREAM", Kind::Text(Some(DEFAULT_UPSTREAM)), |r| text(&r.upstream));
setting!(PUBLIC_URL, "public_url", "GHPOOL_PUBLIC_URL", Kind::Text(None), |r| text(&r.public_url));
setting!(SECRETS_DIR, "secrets_dir", "GHPOOL_SECRETS_DIR", Kind::Text(Some(super::DEFAULT_SECRETS_DIR)), |r| text(
    &r.secrets_dir
));
setting!(SECRETS_REFRESH, "secrets_refresh", "GHPOOL_SECRETS_REFRESH", secs(300), |r| dur(&r.secrets_refresh));
setting!(CACHE_TTL, "cache.ttl", "GHPOOL_CACHE_TTL", Kind::Duration(Some(DEFAULT_TTL)), |r| dur(&r.cache.ttl));
setting!(CACHE_MAX_SIZE, "cache.max_size", "GHPOOL_CACHE_MAX_SIZE", Kind::Size(DEFAULT_MAX_SIZE), |r| size(
    &r.cache.max_size
));
setting!(
    CACHE_STALE_IF_ERROR,
    "cache.stale_if_error",
    "GHPOOL_CACHE_STALE_IF_ERROR",
    Kind::Duration(Some(DEFAULT_STALE_IF_ERROR)),
    |r| dur(&r.cache.stale_if_error)
);
setting!(CACHE_NEGATIVE_TTL, "cache.negative_ttl", "GHPOOL_CACHE_NEGATIVE_TTL", secs(0), |r| dur(&r
    .cache
    .negative_ttl));
setting!(
    CACHE_CLOSED_TTL,
    "cache.closed_ttl",
    "GHPOOL_CACHE_CLOSED_TTL",
    Kind::Duration(Some(DEFAULT_CLOSED_TTL)),
    |r| dur(&r.cache.closed_ttl)
);
// Defaults to `cache.ttl`.
setting!(CACHE_GRAPHQL_TTL, "cache.graphql_ttl", "GHPOOL_CACHE_GRAPHQL_TTL", Kind::Duration(None), |r| dur(&r
    .cache
    .graphql_ttl));
setting!(
    POOL_MAX_IN_FLIGHT,
    "pool.max_in_flight",
    "GHPOOL_POOL_MAX_IN_FLIGHT",
    Kind::Positive(DEFAULT_MAX_IN_FLIGHT),
    |r| r.pool.max_in_flight.map(Written::Count)
);
setting!(POOL_QUEUE_TIMEOUT, "pool.queue_timeout", "GHPOOL_POOL_QUEUE_TIMEOUT", secs(5), |r| dur(&r
    .pool
    .queue_timeout));
setting!(POOL_REFRESH, "pool.refresh", "GHPOOL_POOL_REFRESH", secs(60), |r| dur(&r.pool.refresh));
setting!(FAIRNESS_CLIENT_KEY, "fairness.client_key", "GHPOOL_FAIRNESS_CLIENT_KEY", Kind::Text(Some("token")), |r| {
    text(&r.fairness.client_key)
});
setting!(FAIRNESS_PER_MINUTE, "fairness.per_client_per_minute", "GHPOOL_FAIRNESS_PER_MINUTE", Kind::Count(0), |r| r
    .fairness
    .per_client_per_minute
    .map(Written::Count));
// Zero (the default) means `per_client_per_minute`.
setting!(FAIRNESS_BURST, "fairness.burst", "GHPOOL_FAIRNESS_BURST", Kind::Count(0), |r| r
    .fairness
    .burst
    .map(Written::Count));
setting!(GRAPHQL_SCHEMA, "graphql.schema", "GHPOOL_GRAPHQL_SCHEMA", Kind::Text(None), |r| text(&r.graphql.schema));
setting!(
    GRAPHQL_MAX_MUTATION_BODY,
    "graphql.max_mutation_body",
    "GHPOOL_GRAPHQL_MAX_MUTATION_BODY",
    Kind::Size(DEFAULT_MAX_MUTATION_BODY),
    |r| size(&r.graphql.max_mutation_body)
);
setting!(REDIS_URL, "shared.redis_url", "GHPOOL_REDIS_URL", Kind::Text(None), |r| text(&r.shared.redis_url));
setting!(REDIS_PASSWORD, "shared.redis_password", "GHPOOL_REDIS_PASSWORD", Kind::Text(None), |r| text(
    &r.shared.redis_password
));
setting!(KEY_PREFIX, "shared.key_prefix", "GHPOOL_REDIS_KEY_PREFIX", Kind::Text(Some("ghpool:")), |r| text(
    &r.shared.key_prefix
));
setting!(
    SHARED_TIMEOUT,
    "shared.timeout",
    "GHPOOL_REDIS_TIMEOUT",
    Kind::Duration(Some(Duration::from_millis(50))),
    |r| dur(&r.shared.timeout)
);
setting!(TLS_CERT, "tls.cert", "GHPOOL_TLS_CERT", Kind::Text(None), |r| text(&r.tls.cert));
setting!(TLS_KEY, "tls.key", "GHPOOL_TLS_KEY", Kind::Text(None), |r| text(&r.tls.key));
setting!(TLS_CLIENT_CA, "tls.client_ca", "GHPOOL_TLS_CLIENT_CA", Kind::Text(None), |r| text(&r.tls.client_ca));
setting!(TLS_ALSO_PLAIN, "tls.also_plain", "GHPOOL_TLS_ALSO_PLAIN", Kind::Text(None), |r| text(&r.tls.also_plain));
setting!(AUDIT_PATH, "audit.path", "GHPOOL_AUDIT_PATH", Kind::Text(None), |r| text(&r.audit.path));
setting!(CONNECT_TIMEOUT, "connect_timeout", "GHPOOL_CONNECT_TIMEOUT", secs(10), |r| dur(&r.connect_timeout));
setting!(READ_TIMEOUT, "read_timeout", "GHPOOL_READ_TIMEOUT", secs(60), |r| dur(&r.read_timeout));

/// Every scalar setting, in the order problems are reported.
pub(super) const SETTINGS: &[Setting] = &[
    LISTEN,
    UPSTREAM,
    PUBLIC_URL,
    SECRETS_DIR,
    SECRETS_REFRESH,
    CACHE_TTL,
    CACHE_GRAPHQL_TTL,
    CACHE_MAX_SIZE,
    CACHE_STALE_IF_ERROR,
    CACHE_NEGATIVE_TTL,
    CACHE_CLOSED_TTL,
    POOL_MAX_IN_FLIGHT,
    POOL_QUEUE_TIMEOUT,
    POOL_REFRESH,
    FAIRNESS_CLIENT_KEY,
    FAIRNESS_PER_MINUTE,
    FAIRNESS_BURST,
    GRAPHQL_SCHEMA,
    GRAPHQL_MAX_MUTATION_BODY,
    REDIS_URL,
    REDIS_PASSWORD,
    KEY_PREFIX,
    SHARED_TIMEOUT,
    AUDIT_PATH,
    TLS_CERT,
    TLS_KEY,
    TLS_CLIENT_CA,
    TLS_ALSO_PLAIN,
    CONNECT_TIMEOUT,
    READ_TIMEOUT,
];

/// A setting's value, parsed.
#[derive(Debug, Clone)]
enum Value {
    Duration(Duration),
    Number(u64),
    Text(String),
}

/// The table, read: each setting's value and the key it came from (the environment variable or
/// the TOML key), or none when neither said anything (or what they said did not parse).
pub(super) struct Settings {
    values: HashMap<&'static str, (&'static str, Value)>,
}

/// Walk [`SETTINGS`] once.
pub(super) fn read(raw: &RawConfig, env: &HashMap<String, String>, issues: &mut Vec<ConfigIssue>) -> Settings {
    let mut values = HashMap::new();
    for s in SETTINGS {
        let (key, written) = match (env.get(s.env), (s.written)(raw)) {
            (Some(t), _) => (s.env, from_text(s.kind, t)),
            (None, Some(w)) => (s.toml, w),
            (None, None) => continue,
        };
        match parse(s.kind, written) {
            Ok(value) => {
                values.insert(s.toml, (key, value));
            }
            Err(m) => issues.push(issue(key, m)),
        }
    }
    Settings { values }
}

fn from_text(kind: Kind, text: &str) -> Written {
    match kind {
        Kind::Duration(_) => Written::Duration(DurationText::Text(text.to_string())),
        Kind::Size(_) => Written::Size(SizeText::Text(text.to_string())),
        Kind::Count(_) | Kind::Positive(_) | Kind::Text(_) => Written::Text(text.to_string()),
    }
}

fn parse(kind: Kind, written: Written) -> Result<Value, String> {
    let number = |w: Written| match w {
        Written::Count(n) => Ok(n),
        Written::Text(t) => t.trim().parse::<u64>().map_err(|_| format!("`{t}` is not a whole number")),
        _ => Err("not a whole number".to_string()),
    };
    match (kind, written) {
        (Kind::Duration(_), Written::Duration(d)) => parse_duration(&d).map(Value::Duration),
        (Kind::Size(_), Written::Size(s)) => parse_size(&s).map(Value::Number),
        (Kind::Count(_), w) => number(w).map(Value::Number),
        (Kind::Positive(_), w) => match number(w)? {
            0 => Err("must be at least 1".to_string()),
            n => Ok(Value::Number(n)),
        },
        (Kind::Text(_), Written::Text(t)) => Ok(Value::Text(t)),
        _ => Err("not a value of this setting's kind".to_string()),
    }
}

impl Settings {
    /// A duration setting, or its default.
    pub(super) fn duration(&self, s: &Setting) -> Duration {
        self.duration_or(s, Duration::ZERO)
    }

    /// A duration setting, or its default, or `fallback` for a setting whose default is another's.
    pub(super) fn duration_or(&self, s: &Setting, fallback: Duration) -> Duration {
        match (self.values.get(s.toml), s.kind) {
            (Some((_, Value::Duration(d))), _) => *d,
            (_, Kind::Duration(Some(default))) => default,
            _ => fallback,
        }
    }

    /// A size or count setting, or its default.
    pub(super) fn number(&self, s: &Setting) -> u64 {
        match (self.values.get(s.toml), s.kind) {
            (Some((_, Value::Number(n))), _) => *n,
            (_, Kind::Size(default) | Kind::Count(default) | Kind::Positive(default)) => default,
            _ => 0,
        }
    }

    /// A text setting (or its default) and the key it came from, for its own parser's issues.
    pub(super) fn text(&self, s: &Setting) -> Option<(&'static str, String)> {
        match (self.values.get(s.toml), s.kind) {
            (Some((key, Value::Text(t))), _) => Some((key, t.clone())),
            (_, Kind::Text(Some(default))) => Some((s.toml, default.to_string())),
            _ => None,
        }
    }
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

pub(super) fn pick_rules(raw: &[RawRule], issues: &mut Vec<ConfigIssue>) -> Vec<TtlRule> {
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

/// `public_url`: an http(s) base URL without a query; `key` is where it was written.
pub(super) fn pick_public_url(key: &str, text: &str, issues: &mut Vec<ConfigIssue>) -> Option<String> {
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

/// `[access] allow_unkeyed`, `GHPOOL_ALLOW_UNKEYED` winning.
pub(super) const ALLOW_UNKEYED_ENV: &str = "GHPOOL_ALLOW_UNKEYED";

pub(super) fn pick_access(
    raw: &RawAccess,
    env: &HashMap<String, String>,
    issues: &mut Vec<ConfigIssue>,
) -> AccessConfig {
    let allow_unkeyed = super::env_flag(env, ALLOW_UNKEYED_ENV, raw.allow_unkeyed, issues);
    let public_paths = match &raw.public_paths {
        Some(paths) => paths.clone(),
        None => crate::config::DEFAULT_PUBLIC_PATHS.iter().map(|p| p.to_string()).collect(),
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
    AccessConfig { public_paths, graphql_unscoped_fields: fields, allow_unkeyed }
}
