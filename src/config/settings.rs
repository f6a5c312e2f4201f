//! One setting at a time: the environment's text over the file's value, parsed, or the default —
//! and an issue naming the key when what was written does not parse.
//! Must never: stop at the first problem (every issue is collected).

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::time::Duration;

use super::{
    issue, AccessConfig, ConfigIssue, DurationText, FairnessConfig, GraphqlConfig, RawAccess, RawConfig, RawFairness,
    RawGraphql, RawRule, SizeText, TtlRule, DEFAULT_LISTEN, DEFAULT_MAX_MUTATION_BODY, DEFAULT_MAX_SIZE,
};

pub(super) fn pick_listen(raw: &RawConfig, env: &HashMap<String, String>, issues: &mut Vec<ConfigIssue>) -> SocketAddr {
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
pub(super) fn pick_setting<R: Clone, T>(
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

pub(super) fn pick_duration(
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

pub(super) fn pick_size(
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

pub(super) fn pick_count(
    env: &HashMap<String, String>,
    env_key: &str,
    raw: Option<u64>,
    issues: &mut Vec<ConfigIssue>,
) -> u64 {
    match env.get(env_key) {
        Some(v) => v.trim().parse().unwrap_or_else(|_| {
            issues.push(issue(env_key, format!("`{v}` is not a whole number")));
            0
        }),
        None => raw.unwrap_or(0),
    }
}

pub(super) fn pick_fairness(
    raw: &RawFairness,
    env: &HashMap<String, String>,
    issues: &mut Vec<ConfigIssue>,
) -> FairnessConfig {
    let (key, text) = match (env.get("GHPOOL_FAIRNESS_CLIENT_KEY"), &raw.client_key) {
        (Some(t), _) => ("GHPOOL_FAIRNESS_CLIENT_KEY", t.clone()),
        (None, Some(t)) => ("fairness.client_key", t.clone()),
        (None, None) => ("fairness.client_key", "token".to_string()),
    };
    let client_key = crate::config::ClientKey::parse(&text).unwrap_or_else(|| {
        issues.push(issue(key, format!("`{text}` is not one of header, token, address")));
        crate::config::ClientKey::Token
    });
    let per_minute = pick_count(env, "GHPOOL_FAIRNESS_PER_MINUTE", raw.per_client_per_minute, issues);
    let burst = match pick_count(env, "GHPOOL_FAIRNESS_BURST", raw.burst, issues) {
        0 => per_minute.max(1),
        b => b,
    };
    FairnessConfig { client_key, per_client_per_minute: per_minute, burst }
}

pub(super) fn pick_graphql(
    raw: &RawGraphql,
    env: &HashMap<String, String>,
    issues: &mut Vec<ConfigIssue>,
) -> GraphqlConfig {
    let schema = env.get("GHPOOL_GRAPHQL_SCHEMA").or(raw.schema.as_ref()).map(std::path::PathBuf::from);
    let max_mutation_body = pick_setting(
        env,
        "GHPOOL_GRAPHQL_MAX_MUTATION_BODY",
        raw.max_mutation_body.as_ref(),
        "graphql.max_mutation_body",
        SizeText::Text,
        parse_size,
        DEFAULT_MAX_MUTATION_BODY,
        issues,
    );
    GraphqlConfig { schema, max_mutation_body }
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

pub(super) fn pick_public_url(
    raw: Option<&str>,
    env: &HashMap<String, String>,
    issues: &mut Vec<ConfigIssue>,
) -> Option<String> {
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

pub(super) fn pick_access(raw: &RawAccess, issues: &mut Vec<ConfigIssue>) -> AccessConfig {
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
    AccessConfig { public_paths, graphql_unscoped_fields: fields }
}
