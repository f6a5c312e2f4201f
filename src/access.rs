//! Access control: the request target made canonical, and the owner allowlist applied to it.
//!
//! Owns: `normalize` (one decode, then refuse anything ambiguous: dot segments, empty segments,
//! encoded separators, control characters, foreign hosts) and `Allowlist::check_rest`. The path
//! that is checked is the path that is sent upstream: `normalize` returns the canonical, re-encoded
//! form and the proxy forwards exactly that.
//! Must never: let a path through whose upstream form names an owner outside the allowlist.

use std::collections::HashSet;

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, CONTROLS};

use crate::config::OwnerPolicy;
use crate::respond::Refusal;

/// Hosts an absolute-form request line may name: GitHub's API hosts and the configured upstream.
const GITHUB_API_HOSTS: &[&str] = &["api.github.com", "api.github.localhost"];

/// Owner-free endpoints that reveal nothing about the pool identity.
const PUBLIC_PATHS: &[&str] = &[
    "/",
    "/meta",
    "/emojis",
    "/licenses",
    "/gitignore/templates",
    "/octocat",
    "/zen",
    "/versions",
];

/// Characters escaped when a decoded segment is re-encoded for upstream.
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'/')
    .add(b'\\');

/// A request target made canonical: decoded once, checked, re-encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Decoded segments, none empty, none "." or "..".
    pub segments: Vec<String>,
    /// The canonical path, re-encoded, starting with '/', without any `/api/v3` prefix.
    pub path: String,
    pub query: Option<String>,
}

impl Target {
    pub fn segment(&self, i: usize) -> Option<&str> {
        self.segments.get(i).map(String::as_str)
    }
}

/// Canonicalize a request target (`/repos/o/r?x=1` or `http://api.github.com/repos/o/r`).
/// `upstream_host` is the configured upstream's host, also accepted in absolute form.
pub fn normalize(target: &str, upstream_host: &str) -> Result<Target, Refusal> {
    let bad = |why: &str| Refusal::BadRequest(format!("Invalid request path: {why}"));
    let origin = match target.split_once("://") {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https") => {
            let (authority, path) = rest.find('/').map_or((rest, "/"), |i| (&rest[..i], &rest[i..]));
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            let host = host.rsplit_once(':').map_or(host, |(h, _)| h).to_ascii_lowercase();
            if !GITHUB_API_HOSTS.contains(&host.as_str()) && host != upstream_host.to_ascii_lowercase() {
                return Err(bad(&format!("host `{host}` is not a GitHub API host")));
            }
            path
        }
        _ => target,
    };
    if !origin.starts_with('/') {
        return Err(bad("the path must start with '/'"));
    }
    let (raw_path, query) = match origin.split_once('?') {
        Some((p, q)) => (p, Some(q.to_string())),
        None => (origin, None),
    };
    if raw_path.contains('#') || query.as_deref().is_some_and(|q| q.contains('#')) {
        return Err(bad("fragments are not allowed"));
    }
    let mut segments = Vec::new();
    let body = raw_path.strip_prefix('/').unwrap_or(raw_path);
    let body = body.strip_suffix('/').unwrap_or(body);
    if !body.is_empty() {
        for raw in body.split('/') {
            if raw.is_empty() {
                return Err(bad("empty path segment"));
            }
            let decoded = percent_decode_str(raw).decode_utf8().map_err(|_| bad("not UTF-8"))?;
            if decoded.chars().any(char::is_control) {
                return Err(bad("control character"));
            }
            if decoded.contains(['/', '\\']) {
                return Err(bad("encoded path separator"));
            }
            if decoded == "." || decoded == ".." {
                return Err(bad("dot segment"));
            }
            if decoded.contains('%') {
                // Decoding once more would change the meaning (double encoding): refuse.
                return Err(bad("double percent-encoding"));
            }
            segments.push(decoded.into_owned());
        }
    }
    // GitHub Enterprise layout: /api/v3/... is REST, /api/graphql is GraphQL.
    if segments.first().map(String::as_str) == Some("api") {
        match segments.get(1).map(String::as_str) {
            Some("v3") => {
                segments.drain(..2);
            }
            Some("graphql") if segments.len() == 2 => {
                segments.remove(0);
            }
            _ => {}
        }
    }
    let path = format!(
        "/{}",
        segments
            .iter()
            .map(|s| utf8_percent_encode(s, SEGMENT).to_string())
            .collect::<Vec<_>>()
            .join("/")
    );
    Ok(Target { segments, path, query })
}

/// The owner allowlist.
#[derive(Debug, Clone)]
pub struct Allowlist {
    policy: OwnerPolicy,
}

impl Allowlist {
    pub fn new(policy: OwnerPolicy) -> Self {
        Allowlist { policy }
    }

    fn allows(&self, owner: &str) -> bool {
        match &self.policy {
            OwnerPolicy::AllowAll => true,
            OwnerPolicy::Only(set) => set.contains(&owner.to_ascii_lowercase()),
        }
    }

    fn denied(owner: &str) -> Refusal {
        Refusal::Forbidden(format!("ghpool: owner `{owner}` is not in this proxy's allowlist"))
    }

    /// May a pooled read of `target` go upstream?
    pub fn check_rest(&self, target: &Target) -> Result<(), Refusal> {
        let s = |i| target.segment(i);
        match (s(0), s(1)) {
            (Some("repos" | "orgs" | "users"), Some(owner)) => match self.allows(owner) {
                true => Ok(()),
                false => Err(Self::denied(owner)),
            },
            (Some("repositories"), Some(_)) => match self.policy {
                OwnerPolicy::AllowAll => Ok(()),
                OwnerPolicy::Only(_) => Err(Refusal::Forbidden(
                    "ghpool: /repositories/{id} paths cannot be checked against the allowlist yet; use /repos/{owner}/{repo}".into(),
                )),
            },
            (Some("search"), Some(_)) => self.check_search(target.query.as_deref()),
            (Some("rate_limit"), None) => Ok(()),
            _ if is_public(&target.path) => Ok(()),
            _ => Err(Refusal::Forbidden(format!(
                "ghpool: `{}` belongs to no owner and would expose the pool identity; it is not served through the pool",
                target.path
            ))),
        }
    }

    /// `/search/*`: every `repo:`/`org:`/`user:`/`owner:` qualifier allowed, and at least one present.
    fn check_search(&self, query: Option<&str>) -> Result<(), Refusal> {
        if matches!(self.policy, OwnerPolicy::AllowAll) {
            return Ok(());
        }
        let q = query
            .into_iter()
            .flat_map(|q| url::form_urlencoded::parse(q.as_bytes()))
            .filter(|(k, _)| k == "q")
            .map(|(_, v)| v.into_owned())
            .collect::<Vec<_>>();
        if q.len() != 1 {
            return Err(Refusal::Forbidden(
                "ghpool: a search needs exactly one `q` parameter".into(),
            ));
        }
        let mut owners: HashSet<String> = HashSet::new();
        for term in q[0].split_whitespace() {
            let term = term.trim_start_matches(['-', '+']);
            let Some((qualifier, value)) = term.split_once(':') else {
                continue;
            };
            let value = value.trim_matches('"');
            match qualifier.to_ascii_lowercase().as_str() {
                "repo" => owners.insert(value.split('/').next().unwrap_or("").to_string()),
                "org" | "user" | "owner" => owners.insert(value.to_string()),
                _ => continue,
            };
        }
        if owners.is_empty() {
            return Err(Refusal::Forbidden(
                "ghpool: a search through the pool must be scoped with repo:, org: or user: qualifiers".into(),
            ));
        }
        match owners.iter().find(|o| !self.allows(o)) {
            Some(o) => Err(Self::denied(o)),
            None => Ok(()),
        }
    }
}

fn is_public(path: &str) -> bool {
    PUBLIC_PATHS
        .iter()
        .any(|p| path == *p || (p.len() > 1 && path.starts_with(p) && path[p.len()..].starts_with('/')))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn only(owners: &[&str]) -> Allowlist {
        Allowlist::new(OwnerPolicy::Only(owners.iter().map(|o| o.to_string()).collect()))
    }

    fn check(target: &str) -> Result<(), Refusal> {
        let t = normalize(target, "upstream.local")?;
        only(&["acme"]).check_rest(&t)
    }

    #[test]
    fn normalizes_targets() {
        let t = normalize("/api/v3/repos/Acme/r%20x/issues/?page=2", "h").unwrap();
        assert_eq!(t.path, "/repos/Acme/r%20x/issues");
        assert_eq!(t.query.as_deref(), Some("page=2"));
        let t = normalize("http://api.github.localhost/repos/acme/r", "h").unwrap();
        assert_eq!(t.path, "/repos/acme/r");
        assert_eq!(normalize("/api/graphql", "h").unwrap().path, "/graphql");
        assert_eq!(normalize("/", "h").unwrap().path, "/");
        assert_eq!(
            normalize("http://upstream.local:8080/zen", "upstream.local")
                .unwrap()
                .path,
            "/zen"
        );
    }

    #[test]
    fn allowlist_corpus() {
        let allowed = [
            "/repos/acme/r",
            "/repos/ACME/r/issues?state=all",
            "/orgs/acme/repos",
            "/users/Acme",
            "/api/v3/repos/acme/r",
            "/rate_limit",
            "/meta",
            "/licenses/mit",
            "/search/issues?q=repo:acme/r+is:open",
            "/search/code?q=foo+org:acme",
        ];
        for path in allowed {
            assert_eq!(check(path), Ok(()), "{path}");
        }
        let refused = [
            "/repos/evil/r",
            "/repos/acme/../evil/r",
            "/repos/acme/%2e%2e/evil",
            "/repos/acme%2Fevil/r",
            "/repos/acme/r/%2e%2e/%2e%2e/evil/r",
            "/repos/%2561cme/r",
            "/repos/acme%00/r",
            "/repos//evil/r",
            "//repos/evil/r",
            "/repos/acme\\evil/r",
            "/repos/acme%5cevil/r",
            "/repos/./evil/r",
            "/user",
            "/user/repos",
            "/notifications",
            "/gists",
            "/repositories/1/issues",
            "/search/issues?q=is:open",
            "/search/issues?q=repo:acme/r+repo:evil/r",
            "/search/issues?q=repo:acme/r&q=org:evil",
            "/api/v3/repos/evil/r",
            "/api/v3/api/v3/repos/acme/r",
            "http://evil.example/repos/acme/r",
            "repos/acme/r",
            "/users/evil",
            "/orgs/EVIL/repos",
        ];
        for path in refused {
            assert!(check(path).is_err(), "{path} should be refused");
        }
    }

    #[test]
    fn allow_all_still_hides_the_pool_identity() {
        let all = Allowlist::new(OwnerPolicy::AllowAll);
        assert_eq!(all.check_rest(&normalize("/repos/any/r", "h").unwrap()), Ok(()));
        assert!(all.check_rest(&normalize("/user", "h").unwrap()).is_err());
    }
}
