//! Who the pool is and whom it serves: identities from `[[identities]]` and `GHPOOL_PAT_<ID>`, and
//! the owner allowlist (or the explicit allow-all).
//! Must never: print a token, or allow every owner without being told to (anonymous mode aside).

use std::collections::{BTreeMap, HashMap, HashSet};

use super::{issue, ConfigIssue, IdentityConfig, OwnerPolicy, RawConfig, RawIdentity, PAT_PREFIX};
use crate::secrets::SecretRef;

pub(super) fn is_valid_id(id: &str) -> bool {
    !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// `[[identities]]` from the file, then `GHPOOL_PAT_<ID>` from the environment (same id: env wins).
pub(super) fn collect_identities(
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

/// The allowlist, comma-separated (over `allowed_owners`).
pub(super) const ALLOWED_OWNERS_ENV: &str = "GHPOOL_ALLOWED_OWNERS";
/// `true` serves every owner (over `allow_all_owners`).
pub(super) const ALLOW_ALL_OWNERS_ENV: &str = "GHPOOL_ALLOW_ALL_OWNERS";

pub(super) fn pick_owners(
    raw: &RawConfig,
    env: &HashMap<String, String>,
    anonymous: bool,
    issues: &mut Vec<ConfigIssue>,
    warnings: &mut Vec<String>,
) -> OwnerPolicy {
    let allow_all = super::env_flag(env, ALLOW_ALL_OWNERS_ENV, raw.allow_all_owners, issues);
    let (key, listed): (&str, Option<Vec<String>>) = match env.get(ALLOWED_OWNERS_ENV) {
        Some(v) => (ALLOWED_OWNERS_ENV, Some(super::env_list(v))),
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
