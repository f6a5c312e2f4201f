//! Agents in the configuration (issue #16): `[[agents]]` in the TOML file, or
//! `GHPOOL_AGENT_<ID>_<FIELD>` in the environment (`KEYS`, `REPOS`, `PERMISSIONS`; the environment
//! wins per field).
//!
//! Owns: validating each entry into an [`AgentConfig`] — its id; its keys (one or two, so a key is
//! rotated without a gap), each a secret reference or a `sha256:<hex>` digest; its repositories
//! (`owner/name` or `owner/*`: nothing else is allowed to it); its write permissions, checked
//! against the App permissions GitHub publishes (`data/github/app-permissions.tsv`).
//! Must never: accept a key written in the configuration itself (only a reference, or a digest so
//! the configuration holds no key at all), or resolve one.

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;

use super::by_id::{gather, Family};
use super::{issue, ConfigIssue};
use crate::secrets::SecretRef;

const AGENT_PREFIX: &str = "GHPOOL_AGENT_";
/// Longest first: a field is the longest suffix that matches.
const ENV_FIELDS: [&str; 4] = ["_CERTIFICATE_SUBJECT", "_PERMISSIONS", "_REPOS", "_KEYS"];

/// The permissions a GitHub App installation token can carry, and their levels, as GitHub's
/// OpenAPI description lists them (`scripts/refresh-github-data`).
const APP_PERMISSIONS: &str = include_str!("../../data/github/app-permissions.tsv");

/// One `[[agents]]` entry exactly as written.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAgent {
    pub id: Option<String>,
    pub keys: Option<Vec<String>>,
    pub repos: Option<Vec<String>>,
    pub permissions: Option<BTreeMap<String, String>>,
    pub certificate_subject: Option<String>,
}

/// How the configuration names an agent's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentKey {
    /// Resolved like a token (and again on every refresh: a rotated key is taken without a restart).
    Reference(SecretRef),
    /// The SHA-256 of the key (`ghpool keygen` prints it): the configuration holds no key.
    Digest([u8; 32]),
}

/// What an agent may reach: one repository, or every repository of an owner (lower-cased).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum RepoPattern {
    Repo { owner: String, name: String },
    Owner(String),
}

/// A validated agent.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    pub id: String,
    pub keys: Vec<AgentKey>,
    pub repos: Vec<RepoPattern>,
    /// App permission name → level (`read`, `write`, `admin`); empty: the agent only reads.
    pub permissions: BTreeMap<String, String>,
    /// With mutual TLS (issue #17): a verified client certificate with this subject (or common
    /// name, or alternative name) is this agent, without a key.
    pub certificate_subject: Option<String>,
}

/// The kinds of name a client certificate carries (mutual TLS, issue #17).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    CommonName,
    Dns,
    Uri,
    Email,
}

/// What a `certificate_subject` names: its kind (`cn:`, `dns:`, `uri:`, `email:`; no prefix: the
/// common name) and the name itself.
pub fn certificate_name(wanted: &str) -> (NameKind, &str) {
    let wanted = wanted.trim();
    for (prefix, kind) in
        [("cn:", NameKind::CommonName), ("dns:", NameKind::Dns), ("uri:", NameKind::Uri), ("email:", NameKind::Email)]
    {
        if let Some(rest) = wanted.strip_prefix(prefix) {
            return (kind, rest);
        }
    }
    (NameKind::CommonName, wanted)
}

/// Every `[[agents]]` entry and every `GHPOOL_AGENT_*` group.
pub fn collect_agents(
    raw: &[RawAgent],
    env: &HashMap<String, String>,
    issues: &mut Vec<ConfigIssue>,
) -> Vec<AgentConfig> {
    let family = Family { section: "agents", noun: "agent", prefix: AGENT_PREFIX, fields: &ENV_FIELDS };
    let by_id = gather(
        &family,
        raw,
        |agent| agent.id.as_deref(),
        env,
        issues,
        |agent, field, _, value, _| {
            let list = || super::env_list(value);
            match field {
                "_KEYS" => agent.keys = Some(list()),
                "_REPOS" => agent.repos = Some(list()),
                "_CERTIFICATE_SUBJECT" => agent.certificate_subject = Some(value.trim().to_string()),
                _ => {
                    let mut permissions = BTreeMap::new();
                    for pair in list() {
                        // Without a level, the level is empty: refused with the levels it takes.
                        let (permission, level) = pair.split_once(':').unwrap_or((&pair, ""));
                        permissions.insert(permission.trim().to_string(), level.trim().to_string());
                    }
                    agent.permissions = Some(permissions);
                }
            }
        },
    );
    by_id.into_iter().filter_map(|(id, (key, agent))| validate(id, &key, agent, issues)).collect()
}

fn validate(id: String, key: &str, agent: RawAgent, issues: &mut Vec<ConfigIssue>) -> Option<AgentConfig> {
    let before = issues.len();
    let field = |name: &str| match key.starts_with(AGENT_PREFIX) {
        true => format!("{key}_{}", name.to_ascii_uppercase()),
        false => format!("{key}.{name}"),
    };
    let written = agent.keys.unwrap_or_default();
    let certificate_subject = agent.certificate_subject.map(|s| s.trim().to_string());
    if certificate_subject.as_deref().is_some_and(|s| certificate_name(s).1.is_empty()) {
        issues.push(issue(
            &field("certificate_subject"),
            "empty: a common name (`agent-1` or `cn:agent-1`), or `dns:`, `uri:` or `email:` and an alternative name",
        ));
    }
    if (written.is_empty() && certificate_subject.is_none()) || written.len() > 2 {
        issues.push(issue(&field("keys"), "one key, or two while one is rotated (or a certificate_subject)"));
    }
    let keys: Vec<AgentKey> =
        written.iter().filter_map(|k| parse_key(k).map_err(|e| issues.push(issue(&field("keys"), e))).ok()).collect();
    let repos: Vec<RepoPattern> = agent
        .repos
        .unwrap_or_default()
        .iter()
        .filter_map(|r| parse_repo(r).map_err(|e| issues.push(issue(&field("repos"), e))).ok())
        .collect();
    if repos.is_empty() && issues.len() == before {
        issues.push(issue(
            &field("repos"),
            "none: an agent reaches only the repositories listed (\"acme/widgets\", \"acme/*\")",
        ));
    }
    let known = app_permissions();
    let permissions = agent.permissions.unwrap_or_default();
    for (name, level) in &permissions {
        match known.get(name.as_str()) {
            None => issues.push(issue(&field("permissions"), format!("`{name}` is not a GitHub App permission"))),
            Some(p) if !p.levels.contains(&level.as_str()) => issues.push(issue(
                &field("permissions"),
                format!("`{name}` takes {} (not `{level}`)", p.levels.join(" or ")),
            )),
            // A token minted for an agent's repositories would still carry it to the whole owner.
            Some(p) if p.scope != "repository" => issues.push(issue(
                &field("permissions"),
                format!("`{name}` is an {} permission: an agent's permissions apply to its repositories only", p.scope),
            )),
            Some(_) => {}
        }
    }
    (issues.len() == before).then_some(AgentConfig { id, keys, repos, permissions, certificate_subject })
}

/// A key as configured: `sha256:<64 hex digits>`, or a secret reference (never the key itself).
pub fn parse_key(text: &str) -> Result<AgentKey, String> {
    let text = text.trim();
    if let Some(hex) = text.strip_prefix("sha256:") {
        return digest_from_hex(hex).map(AgentKey::Digest).ok_or_else(|| "`sha256:` takes 64 hex digits".to_string());
    }
    match SecretRef::parse(text) {
        Ok(SecretRef::Literal(_)) | Err(_) if looks_like_key(text) => {
            Err("a key is never written in the configuration: give its sha256: digest (ghpool keygen) or a secret reference".into())
        }
        Ok(SecretRef::Literal(_)) => Err("a key is never written in the configuration: give a secret reference".into()),
        Ok(reference) => Ok(AgentKey::Reference(reference)),
        Err(e) => Err(e.to_string()),
    }
}

/// Does `text` look like a key itself rather than a reference to one?
fn looks_like_key(text: &str) -> bool {
    text.starts_with("ghpk_") || !text.contains(':')
}

fn digest_from_hex(hex: &str) -> Option<[u8; 32]> {
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// `owner/name` or `owner/*`, as GitHub spells names (letters, digits, `-`, `_`, `.`), lower-cased.
pub fn parse_repo(text: &str) -> Result<RepoPattern, String> {
    let text = text.trim().to_ascii_lowercase();
    let bad = || format!("`{text}` is not owner/name or owner/*");
    let (owner, name) = text.split_once('/').ok_or_else(bad)?;
    let valid = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if !valid(owner) || owner.contains('.') {
        return Err(bad());
    }
    match name {
        "*" => Ok(RepoPattern::Owner(owner.to_string())),
        name if valid(name) && name != "." && name != ".." => {
            Ok(RepoPattern::Repo { owner: owner.to_string(), name: name.to_string() })
        }
        _ => Err(bad()),
    }
}

/// Whether permissions let a token write: any level but `read` (`write`, `admin`).
pub fn writes_with(permissions: &BTreeMap<String, String>) -> bool {
    permissions.values().any(|level| level != "read")
}

/// One of GitHub's App permissions: its levels, and what it reaches (`repository`,
/// `organization`, `account`).
pub struct AppPermission {
    pub levels: Vec<&'static str>,
    pub scope: &'static str,
}

/// GitHub's App permissions by name.
pub fn app_permissions() -> BTreeMap<&'static str, AppPermission> {
    APP_PERMISSIONS
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let mut fields = l.split('\t');
            let (name, levels, scope) = (fields.next()?, fields.next()?, fields.next()?);
            Some((name, AppPermission { levels: levels.split(',').collect(), scope }))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    const DIGEST: &str = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    #[test]
    fn agents_from_the_file_and_the_environment_16() {
        let raw = vec![RawAgent {
            id: Some("Triage".into()),
            keys: Some(vec![DIGEST.into()]),
            repos: Some(vec!["Acme/Widgets".into(), "acme/*".into()]),
            permissions: Some(BTreeMap::from([("issues".into(), "write".into())])),
            certificate_subject: None,
        }];
        let vars = env(&[
            ("GHPOOL_AGENT_CODER_KEYS", "env:CODER_KEY, k8s:ghpool/agents:coder-next"),
            ("GHPOOL_AGENT_CODER_REPOS", "acme/gadgets"),
            ("GHPOOL_AGENT_CODER_PERMISSIONS", "contents:write,pull_requests:write"),
            ("GHPOOL_AGENT_MESH_CERTIFICATE_SUBJECT", " uri:spiffe://acme/agent-1 "),
            ("GHPOOL_AGENT_MESH_REPOS", "acme/widgets"),
        ]);
        let mut issues = vec![];
        let agents = collect_agents(&raw, &vars, &mut issues);
        assert_eq!(issues, vec![]);
        let (coder, mesh, triage) = (&agents[0], &agents[1], &agents[2]);
        assert_eq!(mesh.certificate_subject.as_deref(), Some("uri:spiffe://acme/agent-1"), "named by its certificate");
        assert_eq!(certificate_name("uri:spiffe://acme/agent-1"), (NameKind::Uri, "spiffe://acme/agent-1"));
        assert_eq!(certificate_name(" agent-1 "), (NameKind::CommonName, "agent-1"));
        assert!(mesh.keys.is_empty(), "no key needed");
        assert_eq!(triage.id, "triage");
        assert!(matches!(triage.keys[0], AgentKey::Digest(d) if d[0] == 0x9f && d[31] == 0x08));
        assert_eq!(
            triage.repos,
            vec![RepoPattern::Repo { owner: "acme".into(), name: "widgets".into() }, RepoPattern::Owner("acme".into())]
        );
        assert_eq!(
            coder.keys,
            vec![AgentKey::Reference(SecretRef::Env("CODER_KEY".into())), {
                AgentKey::Reference(SecretRef::parse("k8s:ghpool/agents:coder-next").unwrap())
            }]
        );
        assert_eq!(coder.permissions["contents"], "write");
        assert!(coder.permissions.contains_key("pull_requests"));
    }

    #[test]
    fn what_an_agent_entry_must_not_be_16() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("GHPOOL_AGENT_A_REPOS", "acme/w")], "one key"),
            (&[("GHPOOL_AGENT_A_REPOS", "acme/w"), ("GHPOOL_AGENT_A_CERTIFICATE_SUBJECT", " ")], "empty"),
            (&[("GHPOOL_AGENT_A_REPOS", "acme/w"), ("GHPOOL_AGENT_A_CERTIFICATE_SUBJECT", "uri:")], "empty"),
            (&[("GHPOOL_AGENT_A_KEYS", "ghpk_0123456789abcdef"), ("GHPOOL_AGENT_A_REPOS", "acme/w")], "never written"),
            (&[("GHPOOL_AGENT_A_KEYS", "sha256:abcd"), ("GHPOOL_AGENT_A_REPOS", "acme/w")], "64 hex"),
            (&[("GHPOOL_AGENT_A_KEYS", "env:K,env:L,env:M"), ("GHPOOL_AGENT_A_REPOS", "acme/w")], "two while"),
            (&[("GHPOOL_AGENT_A_KEYS", "env:K")], "none: an agent reaches only"),
            (&[("GHPOOL_AGENT_A_KEYS", "env:K"), ("GHPOOL_AGENT_A_REPOS", "acme")], "not owner/name"),
            (&[("GHPOOL_AGENT_A_KEYS", "env:K"), ("GHPOOL_AGENT_A_REPOS", "*/*")], "not owner/name"),
            (&[("GHPOOL_AGENT_A_KEYS", "env:K"), ("GHPOOL_AGENT_A_REPOS", "acme/..")], "not owner/name"),
            (
                &[
                    ("GHPOOL_AGENT_A_KEYS", "env:K"),
                    ("GHPOOL_AGENT_A_REPOS", "acme/w"),
                    ("GHPOOL_AGENT_A_PERMISSIONS", "isues:write"),
                ],
                "not a GitHub App permission",
            ),
            (
                &[
                    ("GHPOOL_AGENT_A_KEYS", "env:K"),
                    ("GHPOOL_AGENT_A_REPOS", "acme/w"),
                    ("GHPOOL_AGENT_A_PERMISSIONS", "issues:admin"),
                ],
                "takes read or write",
            ),
            (
                &[
                    ("GHPOOL_AGENT_A_KEYS", "env:K"),
                    ("GHPOOL_AGENT_A_REPOS", "acme/w"),
                    ("GHPOOL_AGENT_A_PERMISSIONS", "issues"),
                ],
                "takes read or write (not ``)",
            ),
            (
                &[
                    ("GHPOOL_AGENT_A_KEYS", "env:K"),
                    ("GHPOOL_AGENT_A_REPOS", "acme/w"),
                    ("GHPOOL_AGENT_A_PERMISSIONS", "issues:write,organization_projects:write"),
                ],
                "`organization_projects` is an organization permission",
            ),
            (
                &[
                    ("GHPOOL_AGENT_A_KEYS", "env:K"),
                    ("GHPOOL_AGENT_A_REPOS", "acme/*"),
                    ("GHPOOL_AGENT_A_PERMISSIONS", "members:read"),
                ],
                "`members` is an organization permission",
            ),
            (
                &[
                    ("GHPOOL_AGENT_A_KEYS", "env:K"),
                    ("GHPOOL_AGENT_A_REPOS", "acme/w"),
                    ("GHPOOL_AGENT_A_PERMISSIONS", "starring:write"),
                ],
                "`starring` is an account permission",
            ),
            (&[("GHPOOL_AGENT_A_TOKEN", "env:K")], "expected GHPOOL_AGENT_<ID>"),
        ];
        for (vars, expected) in cases {
            let mut issues = vec![];
            let agents = collect_agents(&[], &env(vars), &mut issues);
            assert!(agents.is_empty(), "{vars:?}");
            assert!(issues.iter().any(|i| i.message.contains(expected)), "{vars:?}: {issues:?}");
        }
    }

    #[test]
    fn githubs_app_permissions_are_the_data_16() {
        let known = app_permissions();
        assert!(known.len() > 40, "{}", known.len());
        assert_eq!(known.len(), APP_PERMISSIONS.lines().filter(|l| !l.starts_with('#')).count(), "every line read");
        assert_eq!(known["issues"].levels, ["read", "write"]);
        assert_eq!(known["workflows"].levels, ["write"]);
        assert!(known["organization_projects"].levels.contains(&"admin"));
        let scope = |name: &str| known[name].scope;
        assert_eq!(
            (scope("issues"), scope("contents"), scope("pull_requests")),
            ("repository", "repository", "repository")
        );
        assert_eq!((scope("members"), scope("organization_custom_roles")), ("organization", "organization"));
        assert_eq!((scope("starring"), scope("gpg_keys")), ("account", "account"));
    }
}
