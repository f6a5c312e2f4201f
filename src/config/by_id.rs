//! Entries named by id — `[[apps]]` and `GHPOOL_APP_<ID>_<FIELD>`, `[[agents]]` and
//! `GHPOOL_AGENT_<ID>_<FIELD>` — gathered by id from the file and the environment, the
//! environment winning per field.
//! Owns: the ids (valid, not repeated) and which variable sets which field of which entry.
//! Must never: validate an entry's fields (each family does), or drop a variable silently.

use std::collections::{BTreeMap, HashMap};

use super::{is_valid_id, issue, ConfigIssue};

/// One family: its TOML array (`apps`), what one entry is called (`app`), its variables' prefix
/// (`GHPOOL_APP_`) and their field suffixes, longest first (`_APP_ID` is not an id ending in `_APP`).
pub(super) struct Family<'a> {
    pub section: &'a str,
    pub noun: &'a str,
    pub prefix: &'a str,
    pub fields: &'a [&'a str],
}

/// Every entry by id, with the key its issues are reported under (`apps[0]`, or the variables'
/// `GHPOOL_APP_<ID>`). `set` applies one variable (`field`, the variable's name, its value).
pub(super) fn gather<R: Clone + Default>(
    family: &Family,
    raw: &[R],
    id_of: impl for<'r> Fn(&'r R) -> Option<&'r str>,
    env: &HashMap<String, String>,
    issues: &mut Vec<ConfigIssue>,
    mut set: impl FnMut(&mut R, &str, &str, &str, &mut Vec<ConfigIssue>),
) -> BTreeMap<String, (String, R)> {
    let mut by_id: BTreeMap<String, (String, R)> = BTreeMap::new();
    for (i, entry) in raw.iter().enumerate() {
        let key = format!("{}[{i}]", family.section);
        let Some(id) = id_of(entry).map(|s| s.trim().to_ascii_lowercase()) else {
            issues.push(issue(&format!("{key}.id"), "missing"));
            continue;
        };
        if !is_valid_id(&id) {
            issues.push(issue(&format!("{key}.id"), format!("`{id}` is not a valid id (letters, digits, - and _)")));
            continue;
        }
        if by_id.insert(id.clone(), (key.clone(), entry.clone())).is_some() {
            issues.push(issue(&format!("{key}.id"), format!("duplicate {} id `{id}`", family.noun)));
        }
    }
    let mut vars: Vec<(&String, &String)> = env.iter().filter(|(k, _)| k.starts_with(family.prefix)).collect();
    vars.sort();
    for (name, value) in vars {
        let rest = &name[family.prefix.len()..];
        let Some(field) = family.fields.iter().find(|f| rest.ends_with(*f) && rest.len() > f.len()) else {
            issues.push(issue(name, format!("expected {}<ID>{{{}}}", family.prefix, family.fields.join(","))));
            continue;
        };
        let written_id = &rest[..rest.len() - field.len()];
        let id = written_id.to_ascii_lowercase();
        if !is_valid_id(&id) {
            issues.push(issue(name, format!("the <ID> in {}<ID>_… must be letters, digits, - and _", family.prefix)));
            continue;
        }
        let (_, entry) = by_id.entry(id).or_insert_with(|| (format!("{}{written_id}", family.prefix), R::default()));
        set(entry, field, name, value, issues);
    }
    by_id
}
