//! Screening pooled REST answers: GitHub answers an allowed path with whatever the pool identity can
//! see, so an issue timeline's `cross-referenced` events, a repository's forks, a pull request's
//! `head.repo`, a user's events and stars, and search hits can carry another owner's (private)
//! objects. Every object that belongs to an owner outside the allowlist is removed from its list or
//! replaced by `null`, and the answer says how many were withheld.
//!
//! Owns: reading an object's owner from its own markers, first found decides (GitHub's shapes, as
//! `scripts/github-rest-ownership.py` derives them from the OpenAPI description into
//! `data/github/rest-ownership.tsv`):
//! 1. a `full_name` "owner/name" (a repository; its `owner` member is not required, because
//!    GitHub's classroom, cache-usage and variant-analysis repositories have none);
//! 2. a `repository_url` `https://host[/api/v3]/repos/{owner}/{repo}` (issues, deployments, ...);
//! 3. a member `repository` that has a `full_name` (search hits, check suites: the whole object goes
//!    with a foreign repository, or its path, sha or message would leak);
//! 4. a member `repo` object: a repository, or the compact `{id, name, url}` of events and of
//!    `pull-request-minimal` (owner from `url`; a `name` "owner/x" must agree);
//! 5. its own `url` when it is a repository's API URL (`/repos/{owner}/{repo}/…`): pull requests,
//!    commits, labels, comments — what a project item's `content` or a commit's associated pull
//!    requests may carry from another owner.
//!
//! Objects without markers (users and organizations: public profiles) are walked, not judged; a kept
//! object is walked too (a repository's `parent`, `source`, `template_repository` may be foreign).
//! Must never: keep an object whose owner marker it cannot read; pass an answer it could not read;
//! re-serialize an answer it did not change.
//!
//! Known limits (the TSV's limit rows; those objects are kept, the answer's path scopes them):
//! objects naming their repository by `repository_id` only (hook-delivery, hook-delivery-item,
//! org-repo-custom-property-values, push-event, rule-suite, repository-rule-params-workflow-file-
//! reference, repository-ruleset-conditions-repository-id-target), by name only
//! (repository-ruleset-conditions-repository-name-target), by a string `repository`
//! (billing-usage-summary-report-org/-user), or only inside a URL (34 schemas, among them commit,
//! pull-request, review-comment, secret-scanning-location-*, and issue-event, whose `referenced`
//! events carry a `commit_url` that may name another owner's repository); objects owned only through
//! an `owner` user (gists, projects-v2, migrations). A repository URL under another prefix than
//! `/api/v3` is unreadable (withheld); `GET /`'s URL templates read as owner `{owner}` (foreign).

use serde_json::{Map, Value};

/// Deeper answers are refused: GitHub's REST answers nest a dozen levels, serde_json stops at 128.
const MAX_DEPTH: usize = 128;

/// A screened answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Screened {
    /// Nothing withheld: the caller keeps GitHub's bytes as they are.
    Unchanged,
    /// `withheld` objects removed from lists or replaced by `null`.
    Changed { body: Vec<u8>, withheld: usize },
    /// The answer itself belongs to this (lower-cased) owner, who is not allowed.
    Foreign { owner: String },
    /// Not JSON, too deep, or the answer's own owner marker is unreadable: the caller fails closed.
    Unreadable(&'static str),
}

/// Why one object is withheld.
enum Withhold {
    Foreign(String),
    Unreadable,
}

/// The walk stopped: deeper than [`MAX_DEPTH`].
struct TooDeep;

/// Screen a pooled REST answer body (identity-encoded JSON as GitHub sent it, absolute URLs not yet
/// rewritten).
pub fn screen(body: &[u8], allowed: impl Fn(&str) -> bool) -> Screened {
    screen_repositories(body, |owner, _| allowed(owner))
}

/// [`screen`], judging each object by its repository (`allowed(owner, name)`, both lower-cased)
/// rather than its owner alone: an agent's policy (issue #16) reaches some of an owner's
/// repositories only. Every marker names the repository as well as its owner.
pub fn screen_repositories(body: &[u8], allowed: impl Fn(&str, &str) -> bool) -> Screened {
    if body.trim_ascii().is_empty() {
        return Screened::Unchanged;
    }
    let Ok(mut value) = serde_json::from_slice::<Value>(body) else {
        return Screened::Unreadable("ghpool could not read GitHub's answer as JSON");
    };
    let mut withheld = 0;
    match walk(&mut value, &allowed, &mut withheld, 0) {
        Err(TooDeep) => Screened::Unreadable("GitHub's answer nests deeper than ghpool screens"),
        Ok(Some(Withhold::Foreign(owner))) => Screened::Foreign { owner },
        Ok(Some(Withhold::Unreadable)) => {
            Screened::Unreadable("GitHub's answer does not say which owner it belongs to")
        }
        Ok(None) if withheld == 0 => Screened::Unchanged,
        Ok(None) => match serde_json::to_vec(&value) {
            Ok(body) => Screened::Changed { body, withheld },
            Err(_) => Screened::Unreadable("ghpool could not write the screened answer"),
        },
    }
}

/// Screen one value in place; `Some` when the value itself must go (the caller removes or nulls it).
fn walk(
    value: &mut Value,
    allowed: &impl Fn(&str, &str) -> bool,
    withheld: &mut usize,
    depth: usize,
) -> Result<Option<Withhold>, TooDeep> {
    if depth > MAX_DEPTH {
        return Err(TooDeep);
    }
    match value {
        Value::Array(items) => {
            let mut deep = Ok(());
            items.retain_mut(|item| match deep.is_ok().then(|| walk(item, allowed, withheld, depth + 1)) {
                Some(Ok(Some(_))) => {
                    *withheld += 1;
                    false
                }
                Some(Err(e)) => {
                    deep = Err(e);
                    true
                }
                _ => true,
            });
            deep?;
        }
        Value::Object(fields) => {
            if let Some(why) = judge(fields, allowed) {
                return Ok(Some(why));
            }
            for item in fields.values_mut() {
                if walk(item, allowed, withheld, depth + 1)?.is_some() {
                    *item = Value::Null;
                    *withheld += 1;
                }
            }
        }
        _ => {}
    }
    Ok(None)
}

/// An object's verdict from its own markers: `None` keeps it (allowed, or no marker at all).
fn judge(fields: &Map<String, Value>, allowed: &impl Fn(&str, &str) -> bool) -> Option<Withhold> {
    match marked_owner(fields)? {
        None => Some(Withhold::Unreadable),
        Some((owner, name)) => {
            let (owner, name) = (owner.to_ascii_lowercase(), name.to_ascii_lowercase());
            (!allowed(&owner, &name)).then_some(Withhold::Foreign(owner))
        }
    }
}

/// An owner and one of its repositories, as a marker names them.
type Repository<'a> = (&'a str, &'a str);

/// The repository an object's first marker names: `None` without a marker, `Some(None)` when the
/// marker is present but unreadable.
fn marked_owner(fields: &Map<String, Value>) -> Option<Option<Repository<'_>>> {
    if let Some(full_name) = fields.get("full_name") {
        return Some(full_name_owner(full_name));
    }
    if let Some(url) = fields.get("repository_url") {
        return Some(url.as_str().and_then(repos_url_owner));
    }
    // `repository` also names other things (a token's permission map); only a repository is a marker.
    if let Some(Value::Object(repository)) = fields.get("repository") {
        if let Some(full_name) = repository.get("full_name") {
            return Some(full_name_owner(full_name));
        }
    }
    if let Some(Value::Object(repo)) = fields.get("repo") {
        return Some(repo_owner(repo));
    }
    // Last, an object's own API `url` under `/repos/{owner}/{repo}/…` (pull requests, commits,
    // labels, comments: the schemas the description marks url-only); any other `url` (a user's, an
    // organization's) is not a marker.
    match fields.get("url") {
        Some(Value::String(url)) => repos_url_owner(url).map(Some),
        _ => None,
    }
}

fn full_name_owner(full_name: &Value) -> Option<Repository<'_>> {
    let (owner, name) = full_name.as_str()?.split_once('/')?;
    (!owner.is_empty() && !name.is_empty() && !name.contains('/')).then_some((owner, name))
}

/// `https://api.github.com/repos/{owner}/{repo}[/...]`, or GHES's `http(s)://host/api/v3/repos/...`.
fn repos_url_owner(url: &str) -> Option<Repository<'_>> {
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"))?;
    let (host, path) = rest.split_once('/')?;
    let path = path.strip_prefix("api/v3/").unwrap_or(path);
    let mut segments = path.strip_prefix("repos/")?.split('/');
    let (owner, repo) = (segments.next()?, segments.next()?);
    (!host.is_empty() && !owner.is_empty() && !repo.is_empty()).then_some((owner, repo))
}

/// A `repo` member: a repository (pull request `head`/`base`, starred), or the compact `{id, name,
/// url}` of events (`name` "owner/name") and of `pull-request-minimal` (`name` without owner).
fn repo_owner(repo: &Map<String, Value>) -> Option<Repository<'_>> {
    if let Some(full_name) = repo.get("full_name") {
        return full_name_owner(full_name);
    }
    let by_url = match repo.get("url") {
        Some(url) => Some(url.as_str().and_then(repos_url_owner)?),
        None => None,
    };
    let by_name = repo.get("name").and_then(Value::as_str).and_then(|n| n.split_once('/'));
    let same = |a: Repository, b: Repository| a.0.eq_ignore_ascii_case(b.0) && a.1.eq_ignore_ascii_case(b.1);
    match (by_url, by_name) {
        (Some(url), Some(name)) => same(url, name).then_some(url),
        (url, name) => {
            url.or(name).filter(|(owner, repo)| !owner.is_empty() && !repo.is_empty() && !repo.contains('/'))
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::{screen, Screened};

    fn acme(owner: &str) -> bool {
        owner == "acme"
    }

    fn repo(full_name: &str) -> Value {
        let owner = full_name.split('/').next().unwrap_or_default();
        json!({"id": 1, "name": "x", "full_name": full_name, "owner": {"login": owner, "type": "User"}})
    }

    fn repo_url(owner: &str) -> String {
        format!("https://api.github.com/repos/{owner}/w")
    }

    /// A timeline event whose `source.issue` (`null` for none) lives in `owner`'s repository.
    fn xref(owner: Option<&str>) -> Value {
        let issue = owner.map(|o| json!({"title": "secret", "repository_url": repo_url(o)}));
        json!({"event": "cross-referenced", "source": {"type": "issue", "issue": issue}})
    }

    fn event(name: &str) -> Value {
        let url = repo_url(name.split('/').next().unwrap_or_default());
        json!({"type": "WatchEvent", "repo": {"id": 1, "name": name, "url": url}})
    }

    fn hit(owner: &str) -> Value {
        json!({"path": "secret.rs", "sha": "abc", "repository": repo(&format!("{owner}/x"))})
    }

    fn pull(head: Value) -> Value {
        json!({"number": 1, "head": head, "base": {"ref": "main", "repo": repo("acme/w")}})
    }

    fn fork(parent: Value, source: Value) -> Value {
        json!({"full_name": "acme/w", "owner": {"login": "acme"}, "fork": true, "parent": parent, "source": source})
    }

    fn bytes(value: Value) -> Vec<u8> {
        value.to_string().into_bytes()
    }

    enum Want {
        Unchanged,
        Changed(Value, usize),
        Foreign(&'static str),
        Unreadable,
    }

    fn check(name: &str, body: &[u8], want: Want) {
        match (screen(body, acme), want) {
            (Screened::Unchanged, Want::Unchanged) | (Screened::Unreadable(_), Want::Unreadable) => {}
            (Screened::Foreign { owner }, Want::Foreign(want)) => assert_eq!(owner, want, "{name}"),
            (Screened::Changed { body, withheld }, Want::Changed(want, count)) => {
                assert_eq!(serde_json::from_slice::<Value>(&body).ok(), Some(want), "{name}");
                assert_eq!(withheld, count, "{name}");
            }
            (got, _) => panic!("{name}: got {got:?}"),
        }
    }

    /// Issue #16: an agent holding `acme/w` only reads none of acme's other repositories through
    /// the answers of `acme/w` (a cross-reference, a fork's parent, an event, a pull's head).
    #[test]
    fn answers_screened_by_repository_16() {
        let agent = |owner: &str, name: &str| owner == "acme" && name == "w";
        let secret_xref = json!({"event": "cross-referenced", "source": {"type": "issue",
            "issue": {"title": "secret", "repository_url": "https://api.github.com/repos/acme/secret"}}});
        let timeline = json!([xref(Some("acme")), secret_xref]);
        match super::screen_repositories(&bytes(timeline), agent) {
            Screened::Changed { body, withheld } => {
                let kept: Value = serde_json::from_slice(&body).unwrap();
                assert_eq!(withheld, 1);
                assert_eq!(kept[0], xref(Some("acme")), "acme/w's own cross-reference stays");
                assert_eq!(kept[1]["source"]["issue"], Value::Null, "acme/secret's goes");
            }
            other => panic!("{other:?}"),
        }
        let cases = [
            ("a fork of another acme repository", fork(repo("acme/secret"), Value::Null), 1),
            (
                "an event in another acme repository",
                json!([
                    event("acme/w"),
                    json!({"type": "PushEvent",
                "repo": {"id": 2, "name": "acme/secret", "url": "https://api.github.com/repos/acme/secret"}})
                ]),
                1,
            ),
            (
                "a compact repo whose name and url disagree",
                json!([json!({"repo": {"id": 3, "name": "acme/w",
                "url": "https://api.github.com/repos/acme/secret"}})]),
                1,
            ),
            ("a pull whose head is another acme repository", pull(json!({"ref": "x", "repo": repo("acme/secret")})), 1),
        ];
        for (name, value, count) in cases {
            match super::screen_repositories(&bytes(value), agent) {
                Screened::Changed { withheld, .. } => assert_eq!(withheld, count, "{name}"),
                other => panic!("{name}: {other:?}"),
            }
        }
        assert!(matches!(super::screen_repositories(&bytes(repo("acme/secret")), agent), Screened::Foreign { .. }));
        assert_eq!(super::screen_repositories(&bytes(repo("ACME/W")), agent), Screened::Unchanged);
    }

    #[test]
    fn answers() {
        let labeled = json!({"event": "labeled", "actor": {"login": "u", "type": "User"}});
        let ghes =
            |owner: &str| json!({"title": owner, "repository_url": format!("http://ghe/api/v3/repos/{owner}/w")});
        let compact =
            json!({"number": 1, "head": {"ref": "f", "repo": {"id": 2, "name": "w", "url": repo_url("evil")}}});
        let unreadable = json!([
            {"full_name": "noslash", "owner": {}},
            {"repository_url": "https://api.github.com/orgs/acme"},
            {"full_name": null},
            {"repo": {"id": 1, "name": "evil/w", "url": repo_url("acme")}},
            {"repo": {"id": 1}},
            {"repository": {"full_name": 7}},
        ]);
        let rows: Vec<(&str, Vec<u8>, Want)> = vec![
            (
                "timeline: a foreign cross-referenced source.issue is nulled, the rest kept",
                bytes(json!([labeled, xref(Some("evil")), xref(Some("acme"))])),
                Want::Changed(json!([labeled, xref(None), xref(Some("acme"))]), 1),
            ),
            (
                "forks: foreign forks removed",
                bytes(json!([repo("acme/a"), repo("evil/a"), repo("acme/b"), repo("other/b")])),
                Want::Changed(json!([repo("acme/a"), repo("acme/b")]), 2),
            ),
            (
                "pull request: a foreign head is nulled as a whole, an allowed base kept",
                bytes(pull(json!({"label": "evil:f", "ref": "f", "sha": "1", "repo": repo("evil/w")}))),
                Want::Changed(pull(Value::Null), 1),
            ),
            (
                "project items: a foreign pull request as content is nulled by its own url",
                bytes(json!([
                    {"id": 1, "content": {"number": 3, "title": "secret", "url": format!("{}/pulls/3", repo_url("evil"))}},
                    {"id": 2, "content": {"number": 4, "title": "ours", "url": format!("{}/pulls/4", repo_url("acme"))}},
                    {"id": 3, "creator": {"login": "evil", "url": "https://api.github.com/users/evil"}},
                ])),
                Want::Changed(
                    json!([
                        {"id": 1, "content": null},
                        {"id": 2, "content": {"number": 4, "title": "ours", "url": format!("{}/pulls/4", repo_url("acme"))}},
                        {"id": 3, "creator": {"login": "evil", "url": "https://api.github.com/users/evil"}},
                    ]),
                    1,
                ),
            ),
            (
                "pull request from a deleted fork: no head.repo, no marker",
                bytes(pull(json!({"repo": null}))),
                Want::Unchanged,
            ),
            (
                "repository: foreign parent and source nulled, repository kept",
                bytes(fork(repo("evil/p"), repo("evil/s"))),
                Want::Changed(fork(Value::Null, Value::Null), 2),
            ),
            (
                "code search: items of a foreign repository removed, total_count untouched",
                bytes(json!({"total_count": 3, "items": [hit("evil"), hit("acme"), hit("evil")]})),
                Want::Changed(json!({"total_count": 3, "items": [hit("acme")]}), 2),
            ),
            (
                "user events: a foreign event removed",
                bytes(json!([event("evil/x"), event("acme/w")])),
                Want::Changed(json!([event("acme/w")]), 1),
            ),
            (
                "issue search: items judged by repository_url, GHES prefix too",
                bytes(json!({"items": [ghes("acme"), ghes("evil"), {"repository_url": repo_url("acme")}]})),
                Want::Changed(json!({"items": [ghes("acme"), {"repository_url": repo_url("acme")}]}), 1),
            ),
            (
                "check suite: pull-request-minimal's compact repo is read from its url",
                bytes(json!({"pull_requests": [compact]})),
                Want::Changed(json!({"pull_requests": [{"number": 1, "head": null}]}), 1),
            ),
            ("top-level foreign repository", bytes(repo("Evil/x")), Want::Foreign("evil")),
            ("garbage", b"<html>rate limited</html>".to_vec(), Want::Unreadable),
            ("truncated JSON", br#"[{"full_name": "acme/w", "owner""#.to_vec(), Want::Unreadable),
            ("200-deep nesting", format!("{}{}", "[".repeat(200), "]".repeat(200)).into_bytes(), Want::Unreadable),
            ("nothing foreign", br#"[ {"z": 1, "full_name": "acme/w", "owner": {}} ]"#.to_vec(), Want::Unchanged),
            ("empty body", Vec::new(), Want::Unchanged),
            ("a top-level string", br#""evil/x""#.to_vec(), Want::Unchanged),
            ("owners compare case-insensitively", bytes(json!([repo("ACME/w"), event("AcMe/w")])), Want::Unchanged),
            ("unreadable markers withhold", bytes(unreadable), Want::Changed(json!([]), 6)),
            (
                "top-level unreadable marker",
                br#"{"repository_url": "https://x/v4/repos/acme/w"}"#.to_vec(),
                Want::Unreadable,
            ),
            (
                "a permission map is no repository",
                br#"{"permissions": {"repository": {"contents": "read"}}}"#.to_vec(),
                Want::Unchanged,
            ),
        ];
        for (name, body, want) in rows {
            check(name, &body, want);
        }
    }

    /// One instance of each marker GitHub's description uses, naming `owner`.
    fn instance(marker: &str, owner: &str) -> Option<Value> {
        let url = format!("https://api.github.com/repos/{owner}/x");
        Some(match marker {
            "full_name" => repo(&format!("{owner}/x")),
            "repository_url" => json!({"id": 1, "repository_url": url}),
            "repository" => json!({"id": 1, "repository": repo(&format!("{owner}/x"))}),
            "repo" => json!({"repo": repo(&format!("{owner}/x"))}),
            "repo-compact" => json!({"repo": {"id": 1, "name": "x", "url": url}}),
            _ => return None,
        })
    }

    /// Limits the walker knowingly cannot read (the module doc lists them).
    const LIMITS: [&str; 5] = ["repository_id", "repository_name", "repository-text", "url-only", "none"];

    /// `leaf` placed along a TSV path (`a.b`, `[]` an array item, `*` a map value).
    fn nest(path: &str, leaf: Value) -> Value {
        let steps = path.split('.').filter(|s| *s != "-").flat_map(|segment| {
            let key = segment.trim_end_matches("[]");
            let arrays = (segment.len() - key.len()) / 2;
            (!key.is_empty()).then(|| key.replace('*', "k")).into_iter().map(Some).chain((0..arrays).map(|_| None))
        });
        steps.collect::<Vec<_>>().into_iter().rev().fold(leaf, |inner, step| match step {
            Some(key) => json!({ key: inner }),
            None => json!([inner]),
        })
    }

    #[test]
    fn every_owned_schema_of_the_description_is_screened() {
        let tsv = include_str!("../../data/github/rest-ownership.tsv");
        let mut seen = std::collections::BTreeSet::new();
        for line in tsv.lines().filter(|l| !l.starts_with('#')) {
            let cols: Vec<&str> = line.split('\t').collect();
            let [kind, schema, path, _, marker] = cols[..] else { panic!("bad row {line:?}") };
            let Some(evil) = instance(marker, "evil") else {
                assert!(LIMITS.contains(&marker), "{schema}: marker {marker} is new: teach the walker");
                continue;
            };
            let allowed = instance(marker, "acme").unwrap_or_default();
            seen.insert(marker);
            let row = format!("{kind} {schema} {path}");
            if kind == "schema" {
                check(&row, evil.to_string().as_bytes(), Want::Foreign("evil"));
                check(&row, allowed.to_string().as_bytes(), Want::Unchanged);
            }
            let body = json!([nest(path, evil)]).to_string();
            match screen(body.as_bytes(), acme) {
                Screened::Changed { body, withheld: 1 } => {
                    assert!(!String::from_utf8_lossy(&body).contains("evil"), "{row}")
                }
                got => panic!("{row}: got {got:?}"),
            }
            check(&row, json!([nest(path, allowed)]).to_string().as_bytes(), Want::Unchanged);
        }
        assert_eq!(seen.len(), 5, "a marker kind is gone from the TSV: {seen:?}");
    }
}
