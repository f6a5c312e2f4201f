//! GitHub App installations in the configuration: `[[apps]]` in the TOML file, or
//! `GHPOOL_APP_<ID>_<FIELD>` in the environment (fields `APP_ID`, `PRIVATE_KEY`, `INSTALLATION_ID`,
//! `OWNER`, `REPOSITORIES`, `SERVES`).
//!
//! Owns: validating each entry into an [`AppConfig`]. Must never: accept a private key written in
//! the configuration itself (only a secret reference), or resolve one.

use std::collections::HashMap;

use serde::Deserialize;

use super::by_id::{gather, Family};
use super::{issue, ConfigIssue};
use crate::secrets::SecretRef;

const APP_PREFIX: &str = "GHPOOL_APP_";
/// Longest first: `_APP_ID` must not be read as an id ending in `_APP`.
const ENV_FIELDS: [&str; 6] = ["_INSTALLATION_ID", "_REPOSITORIES", "_PRIVATE_KEY", "_APP_ID", "_SERVES", "_OWNER"];

/// One `[[apps]]` entry exactly as written.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawApp {
    pub id: Option<String>,
    pub app_id: Option<u64>,
    pub private_key: Option<String>,
    pub installation_id: Option<u64>,
    pub owner: Option<String>,
    pub repositories: Option<Vec<String>>,
    pub serves: Option<Vec<String>>,
}

/// What an installation is used for: pooled reads (the default), tokens minted for agents' writes
/// (issue #16; usually a second App, given write permissions), or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Serves {
    pub reads: bool,
    pub writes: bool,
}

impl Default for Serves {
    fn default() -> Self {
        Serves { reads: true, writes: false }
    }
}

impl Serves {
    /// `["reads"]`, `["writes"]` or both; anything else is named in the error.
    pub fn parse(names: &[String]) -> Result<Serves, String> {
        let mut serves = Serves { reads: false, writes: false };
        for name in names {
            match name.trim() {
                "reads" => serves.reads = true,
                "writes" => serves.writes = true,
                other => return Err(format!("`{other}`: an installation serves \"reads\", \"writes\" or both")),
            }
        }
        match serves.reads || serves.writes {
            true => Ok(serves),
            false => Err("empty: an installation serves \"reads\", \"writes\" or both".to_string()),
        }
    }
}

/// Which installation of the App serves the pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstallationRef {
    Id(u64),
    /// Discovered with `GET /orgs/{owner}/installation`, else `/users/{owner}/installation`.
    Owner(String),
}

/// A validated App installation identity.
#[derive(Debug, Clone)]
pub struct AppConfig {
    pub id: String,
    pub app_id: u64,
    pub private_key: SecretRef,
    pub installation: InstallationRef,
    /// Scope the minted tokens to these repositories (names without owner); empty: all the
    /// installation can reach.
    pub repositories: Vec<String>,
    pub serves: Serves,
}

/// Every `[[apps]]` entry and every `GHPOOL_APP_*` group (the environment wins per field).
pub fn collect_apps(raw: &[RawApp], env: &HashMap<String, String>, issues: &mut Vec<ConfigIssue>) -> Vec<AppConfig> {
    let family = Family { section: "apps", noun: "app", prefix: APP_PREFIX, fields: &ENV_FIELDS };
    let by_id = gather(
        &family,
        raw,
        |app| app.id.as_deref(),
        env,
        issues,
        |app, field, name, value, issues| {
            let number = |issues: &mut Vec<ConfigIssue>| match value.trim().parse::<u64>() {
                Ok(n) => Some(n),
                Err(_) => {
                    issues.push(issue(name, format!("`{value}` is not a number")));
                    None
                }
            };
            match field {
                "_APP_ID" => app.app_id = number(issues),
                "_INSTALLATION_ID" => app.installation_id = number(issues),
                "_PRIVATE_KEY" => app.private_key = Some(value.to_string()),
                "_OWNER" => app.owner = Some(value.to_string()),
                "_SERVES" => app.serves = Some(super::env_list(value)),
                _ => app.repositories = Some(super::env_list(value)),
            }
        },
    );
    by_id.into_iter().filter_map(|(id, (key, app))| validate(id, &key, app, issues)).collect()
}

fn validate(id: String, key: &str, app: RawApp, issues: &mut Vec<ConfigIssue>) -> Option<AppConfig> {
    let before = issues.len();
    let field = |name: &str| match key.starts_with(APP_PREFIX) {
        true => format!("{key}_{}", name.to_ascii_uppercase()),
        false => format!("{key}.{name}"),
    };
    let app_id = app.app_id.filter(|n| *n > 0);
    if app_id.is_none() {
        issues.push(issue(&field("app_id"), "missing: the App's numeric id (its settings page shows it)"));
    }
    let private_key = match app.private_key.as_deref().map(str::trim) {
        None | Some("") => {
            issues.push(issue(&field("private_key"), "missing: a secret reference to the App's PEM private key"));
            None
        }
        Some(text) if text.starts_with("-----BEGIN") => {
            issues.push(issue(
                &field("private_key"),
                "a private key is never written in the configuration: reference it (env:, k8s:, aws:secretsmanager:, gcp:secretmanager:)",
            ));
            None
        }
        Some(text) => match SecretRef::parse(text) {
            Ok(SecretRef::Literal(_)) | Err(_) => {
                issues.push(issue(
                    &field("private_key"),
                    "not a secret reference (env:, k8s:, aws:secretsmanager:, gcp:secretmanager:)",
                ));
                None
            }
            Ok(r) => Some(r),
        },
    };
    let owner = app.owner.as_deref().map(str::trim).filter(|o| !o.is_empty()).map(str::to_ascii_lowercase);
    let installation = match (app.installation_id, owner) {
        (Some(n), None) if n > 0 => Some(InstallationRef::Id(n)),
        (None, Some(owner)) => Some(InstallationRef::Owner(owner)),
        (Some(_), Some(_)) => {
            issues.push(issue(&field("installation_id"), "give installation_id or owner, not both"));
            None
        }
        _ => {
            issues.push(issue(&field("installation_id"), "missing: installation_id, or owner to discover it"));
            None
        }
    };
    let repositories = app.repositories.unwrap_or_default();
    if let Some(bad) = repositories.iter().find(|r| r.is_empty() || r.contains('/')) {
        issues.push(issue(&field("repositories"), format!("`{bad}`: repository names without their owner")));
    }
    let serves = match app.serves.as_deref().map(Serves::parse) {
        None => Serves::default(),
        Some(Ok(serves)) => serves,
        Some(Err(why)) => {
            issues.push(issue(&field("serves"), why));
            Serves::default()
        }
    };
    match (issues.len() == before, app_id, private_key, installation) {
        (true, Some(app_id), Some(private_key), Some(installation)) => {
            Some(AppConfig { id, app_id, private_key, installation, repositories, serves })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn env_form_and_toml_form() {
        let mut issues = Vec::new();
        let raw = [RawApp {
            id: Some("bot".into()),
            app_id: Some(7),
            private_key: Some("k8s:ns/app:key.pem".into()),
            owner: Some("Acme".into()),
            repositories: Some(vec!["widgets".into()]),
            ..RawApp::default()
        }];
        let vars = env(&[
            ("GHPOOL_APP_CI_BOT_APP_ID", "42"),
            ("GHPOOL_APP_CI_BOT_PRIVATE_KEY", "env:APP_KEY"),
            ("GHPOOL_APP_CI_BOT_INSTALLATION_ID", "1001"),
            ("GHPOOL_APP_CI_BOT_REPOSITORIES", "a, b"),
            ("GHPOOL_APP_CI_BOT_SERVES", "writes, reads"),
        ]);
        let apps = collect_apps(&raw, &vars, &mut issues);
        assert!(issues.is_empty(), "{issues:?}");
        assert_eq!(apps.len(), 2);
        assert_eq!((apps[0].id.as_str(), apps[0].app_id), ("bot", 7));
        assert_eq!(apps[0].installation, InstallationRef::Owner("acme".into()));
        assert_eq!(apps[1].id, "ci_bot");
        assert_eq!((apps[1].app_id, &apps[1].installation), (42, &InstallationRef::Id(1001)));
        assert_eq!(apps[1].repositories, ["a", "b"]);
        assert_eq!(apps[1].private_key, SecretRef::Env("APP_KEY".into()));
        assert_eq!(apps[0].serves, Serves { reads: true, writes: false }, "reads only by default");
        assert_eq!(apps[1].serves, Serves { reads: true, writes: true });
    }

    #[test]
    fn every_problem_is_named_with_its_key() {
        // (environment, the key named, what the message says)
        type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);
        let cases: &[Case] = &[
            (
                &[("GHPOOL_APP_X_APP_ID", "1"), ("GHPOOL_APP_X_INSTALLATION_ID", "2")],
                "GHPOOL_APP_X_PRIVATE_KEY",
                "missing",
            ),
            (
                &[
                    ("GHPOOL_APP_X_APP_ID", "1"),
                    ("GHPOOL_APP_X_PRIVATE_KEY", "-----BEGIN RSA PRIVATE KEY-----"),
                    ("GHPOOL_APP_X_OWNER", "a"),
                ],
                "GHPOOL_APP_X_PRIVATE_KEY",
                "never written",
            ),
            (&[("GHPOOL_APP_X_APP_ID", "one")], "GHPOOL_APP_X_APP_ID", "not a number"),
            (
                &[("GHPOOL_APP_X_APP_ID", "1"), ("GHPOOL_APP_X_PRIVATE_KEY", "env:K")],
                "GHPOOL_APP_X_INSTALLATION_ID",
                "installation_id, or owner",
            ),
            (
                &[
                    ("GHPOOL_APP_X_APP_ID", "1"),
                    ("GHPOOL_APP_X_PRIVATE_KEY", "env:K"),
                    ("GHPOOL_APP_X_OWNER", "a"),
                    ("GHPOOL_APP_X_INSTALLATION_ID", "2"),
                ],
                "GHPOOL_APP_X_INSTALLATION_ID",
                "not both",
            ),
            (
                &[
                    ("GHPOOL_APP_X_APP_ID", "1"),
                    ("GHPOOL_APP_X_PRIVATE_KEY", "env:K"),
                    ("GHPOOL_APP_X_OWNER", "a"),
                    ("GHPOOL_APP_X_REPOSITORIES", "a/b"),
                ],
                "GHPOOL_APP_X_REPOSITORIES",
                "without their owner",
            ),
            (&[("GHPOOL_APP_X_COLOUR", "red")], "GHPOOL_APP_X_COLOUR", "expected GHPOOL_APP_<ID>"),
            (
                &[
                    ("GHPOOL_APP_X_APP_ID", "1"),
                    ("GHPOOL_APP_X_PRIVATE_KEY", "env:K"),
                    ("GHPOOL_APP_X_OWNER", "a"),
                    ("GHPOOL_APP_X_SERVES", "reads,admin"),
                ],
                "GHPOOL_APP_X_SERVES",
                "`admin`",
            ),
            (
                &[
                    ("GHPOOL_APP_X_APP_ID", "1"),
                    ("GHPOOL_APP_X_PRIVATE_KEY", "env:K"),
                    ("GHPOOL_APP_X_OWNER", "a"),
                    ("GHPOOL_APP_X_SERVES", " , "),
                ],
                "GHPOOL_APP_X_SERVES",
                "empty",
            ),
        ];
        for (vars, key, message) in cases {
            let mut issues = Vec::new();
            let apps = collect_apps(&[], &env(vars), &mut issues);
            assert!(apps.is_empty(), "{key}");
            assert!(issues.iter().any(|i| i.key == *key && i.message.contains(message)), "{key}: {issues:?}");
        }
    }
}
