//! Access control: the request target made canonical, and the owner allowlist applied to it.
//!
//! Owns: `normalize` (one decode, then refuse anything ambiguous: dot segments, empty segments,
//! encoded separators, control characters, foreign hosts) and `Allowlist::check_rest`. The path
//! that is checked is the path that is sent upstream: `normalize` returns the canonical, re-encoded
//! form and the proxy forwards exactly that.
//! Must never: let a path through whose upstream form names an owner outside the allowlist.

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, CONTROLS};

use std::collections::BTreeSet;

use crate::config::OwnerPolicy;
use crate::graphql::Reads;
use crate::respond::Refusal;

/// Hosts an absolute-form request line may name: GitHub's API hosts and the configured upstream.
const GITHUB_API_HOSTS: &[&str] = &["api.github.com", "api.github.localhost"];

/// Owner-free endpoints that reveal nothing about the pool identity (a prefix also covers what is
/// below it: `/licenses` covers `/licenses/mit`).
pub const DEFAULT_PUBLIC_PATHS: &[&str] =
    &["/", "/meta", "/emojis", "/licenses", "/gitignore/templates", "/octocat", "/zen", "/versions"];

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
    /// The client used GitHub Enterprise's layout (`/api/v3/…`, `/api/graphql`): URLs in answers
    /// keep that prefix.
    pub ghes_layout: bool,
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
    let mut ghes_layout = false;
    if segments.first().map(String::as_str) == Some("api") {
        match segments.get(1).map(String::as_str) {
            Some("v3") => {
                segments.drain(..2);
                ghes_layout = true;
            }
            Some("graphql") if segments.len() == 2 => {
                segments.remove(0);
                ghes_layout = true;
            }
            _ => {}
        }
    }
    let mut path = String::with_capacity(raw_path.len() + 1);
    for segment in &segments {
        path.push('/');
        path.extend(utf8_percent_encode(segment, SEGMENT));
    }
    if path.is_empty() {
        path.push('/');
    }
    Ok(Target { segments, path, query, ghes_layout })
}

/// The owner allowlist, and the owner-free paths and GraphQL root fields let through anyway.
#[derive(Debug, Clone)]
pub struct Allowlist {
    policy: OwnerPolicy,
    public_paths: Vec<String>,
    graphql_fields: BTreeSet<String>,
}

/// What a REST check needs before it can answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// `/repositories/{id}/…`: allowed or not depending on the repository's owner, not known yet.
    NeedsOwnerOf(u64),
}

impl Allowlist {
    pub fn new(policy: OwnerPolicy) -> Self {
        Allowlist::with_lists(policy, DEFAULT_PUBLIC_PATHS.iter().map(|p| p.to_string()).collect(), BTreeSet::new())
    }

    /// `public_paths`: owner-free REST paths served through the pool; `graphql_fields`: root fields
    /// that read no owner (`viewer`, …) but are served anyway.
    pub fn with_lists(policy: OwnerPolicy, public_paths: Vec<String>, graphql_fields: BTreeSet<String>) -> Self {
        Allowlist { policy, public_paths, graphql_fields }
    }

    pub fn allows(&self, owner: &str) -> bool {
        match &self.policy {
            OwnerPolicy::AllowAll => true,
            OwnerPolicy::Only(set) => set.contains(&owner.to_ascii_lowercase()),
        }
    }

    fn denied(owner: &str) -> Refusal {
        Refusal::Forbidden(format!("ghpool: owner `{owner}` is not in this proxy's allowlist"))
    }

    fn owner_check(&self, owner: &str) -> Result<Verdict, Refusal> {
        match self.allows(owner) {
            true => Ok(Verdict::Allowed),
            false => Err(Self::denied(owner)),
        }
    }

    /// The owner of a repository reached by id, once known.
    pub fn check_owner(&self, owner: &str) -> Result<(), Refusal> {
        self.owner_check(owner).map(|_| ())
    }

    /// May a pooled read of `target` go upstream? `owner_of` knows the owners of repository ids
    /// seen before.
    pub fn check_rest(&self, target: &Target, owner_of: impl Fn(u64) -> Option<String>) -> Result<Verdict, Refusal> {
        let s = |i| target.segment(i);
        match (s(0), s(1)) {
            (Some("repos" | "orgs" | "users"), Some(owner)) => self.owner_check(owner),
            (Some("repositories"), Some(id)) => {
                let id = id.parse::<u64>().map_err(|_| Refusal::NotFound)?;
                match owner_of(id) {
                    Some(owner) => self.owner_check(&owner),
                    None if matches!(self.policy, OwnerPolicy::AllowAll) => Ok(Verdict::Allowed),
                    None => Ok(Verdict::NeedsOwnerOf(id)),
                }
            }
            (Some("search"), Some(_)) => self.check_search(target.query.as_deref()).map(|_| Verdict::Allowed),
            (Some("rate_limit"), None) => Ok(Verdict::Allowed),
            _ if self.is_public(&target.path) => Ok(Verdict::Allowed),
            _ => Err(Refusal::Forbidden(format!(
                "ghpool: `{}` belongs to no owner and would expose the pool identity; it is not served through the pool",
                target.path
            ))),
        }
    }

    /// May a write (with the client's own token) go upstream? Owner paths need an allowed owner;
    /// owner-free writes (`/user/repos`, `/gists`, …) only when every owner is allowed.
    pub fn check_write(&self, target: &Target, owner_of: impl Fn(u64) -> Option<String>) -> Result<Verdict, Refusal> {
        match (target.segment(0), &self.policy) {
            (Some("repos" | "orgs" | "users" | "repositories"), _) => self.check_rest(target, owner_of),
            (_, OwnerPolicy::AllowAll) => Ok(Verdict::Allowed),
            _ => Err(Refusal::Forbidden(format!(
                "ghpool: `{}` belongs to no owner; writes through ghpool must name an allowed owner",
                target.path
            ))),
        }
    }

    /// May a pooled GraphQL query go upstream? Every owner it names allowed, and nothing it reads
    /// unscoped unless configured.
    pub fn check_graphql_query(&self, reads: &Reads) -> Result<(), Refusal> {
        if let Some(field) = reads.unscoped.iter().find(|f| !self.graphql_fields.contains(*f)) {
            return Err(Refusal::Forbidden(format!(
                "ghpool: the GraphQL field `{field}` is not scoped to an allowed owner and is not served through the pool"
            )));
        }
        self.check_graphql_owners(reads)
    }

    /// Must the answers of a query's root `field` (`node`/`nodes`) be screened for nodes outside
    /// allowed owners' repositories? Not when every owner is allowed, nor when the operator lets the
    /// field through unscoped.
    pub fn screens(&self, field: &str) -> bool {
        matches!(self.policy, OwnerPolicy::Only(_)) && !self.graphql_fields.contains(field)
    }

    /// The owners a GraphQL document names (mutations: where determinable) must all be allowed.
    pub fn check_graphql_owners(&self, reads: &Reads) -> Result<(), Refusal> {
        match reads.owners.iter().find(|o| !self.allows(o)) {
            Some(owner) => Err(Self::denied(owner)),
            None => Ok(()),
        }
    }

    fn is_public(&self, path: &str) -> bool {
        self.public_paths
            .iter()
            .any(|p| path == p || (p.len() > 1 && path.starts_with(p.as_str()) && path[p.len()..].starts_with('/')))
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
            return Err(Refusal::Forbidden("ghpool: a search needs exactly one `q` parameter".into()));
        }
        let owners = search_owners(&q[0]).ok_or_else(|| {
            Refusal::Forbidden(
                "ghpool: a search through the pool must be scoped with repo:, org: or user: qualifiers".into(),
            )
        })?;
        match owners.iter().find(|o| !self.allows(o)) {
            Some(o) => Err(Self::denied(o)),
            None => Ok(()),
        }
    }
}

/// The owners a pooled REST read touches, as far as its path names them (`/repos/{o}/…`,
/// `/orgs/{o}`, `/users/{o}`, `/repositories/{id}` through `owner_of`, a search's qualifiers):
/// what decides which App installations may serve it. Empty when it names none.
pub fn rest_read_owners(target: &Target, owner_of: impl Fn(u64) -> Option<String>) -> Vec<String> {
    match (target.segment(0), target.segment(1)) {
        (Some("repos" | "orgs" | "users"), Some(owner)) => vec![owner.to_ascii_lowercase()],
        (Some("repositories"), Some(id)) => id.parse().ok().and_then(owner_of).into_iter().collect(),
        (Some("search"), Some(_)) => {
            let query = target.query.as_deref().unwrap_or("");
            let q = url::form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "q").map(|(_, v)| v.into_owned());
            q.and_then(|q| search_owners(&q)).unwrap_or_default()
        }
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod read_owner_tests {
    use super::*;

    #[test]
    fn owners_of_rest_reads() {
        let owner_of = |id: u64| (id == 7).then(|| "acme".to_string());
        let cases: &[(&str, &[&str])] = &[
            ("/repos/Acme/widgets/issues", &["acme"]),
            ("/orgs/acme", &["acme"]),
            ("/repositories/7/issues", &["acme"]),
            ("/repositories/8/issues", &[]),
            ("/search/issues?q=repo%3Aacme%2Fw+is%3Aopen", &["acme"]),
            ("/rate_limit", &[]),
        ];
        for (path, want) in cases {
            let target = normalize(path, "api.github.com").unwrap();
            assert_eq!(rest_read_owners(&target, owner_of), *want, "{path}");
        }
    }
}

/// The owners a GitHub search query is scoped to (`repo:o/r`, `org:o`, `user:o`, `owner:o`), or
/// `None` when it names none. Shared by REST `/search/*` and GraphQL `search(query:)`.
pub fn search_owners(query: &str) -> Option<Vec<String>> {
    let mut owners: Vec<String> = Vec::new();
    for term in query.split_whitespace() {
        let term = term.trim_start_matches(['-', '+']);
        let Some((qualifier, value)) = term.split_once(':') else { continue };
        let value = value.trim_matches('"');
        let owner = match qualifier.to_ascii_lowercase().as_str() {
            "repo" => value.split('/').next().unwrap_or(""),
            "org" | "user" | "owner" => value,
            _ => continue,
        };
        owners.push(owner.to_string());
    }
    (!owners.is_empty()).then_some(owners)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn only(owners: &[&str]) -> Allowlist {
        Allowlist::new(OwnerPolicy::Only(owners.iter().map(|o| o.to_string()).collect()))
    }

    fn check(target: &str) -> Result<(), Refusal> {
        let t = normalize(target, "upstream.local")?;
        let owner_of = |id| (id == 7).then(|| "acme".to_string()).or((id == 666).then(|| "evil".to_string()));
        match only(&["acme"]).check_rest(&t, owner_of)? {
            Verdict::Allowed => Ok(()),
            Verdict::NeedsOwnerOf(_) => Err(Refusal::NotFound),
        }
    }

    #[test]
    fn normalizes_targets() {
        let t = normalize("/api/v3/repos/Acme/r%20x/issues/?page=2", "h").unwrap();
        assert_eq!(t.path, "/repos/Acme/r%20x/issues");
        assert_eq!(t.query.as_deref(), Some("page=2"));
        assert!(t.ghes_layout);
        assert!(!normalize("/repos/o/r", "h").unwrap().ghes_layout);
        let t = normalize("http://api.github.localhost/repos/acme/r", "h").unwrap();
        assert_eq!(t.path, "/repos/acme/r");
        assert_eq!(normalize("/api/graphql", "h").unwrap().path, "/graphql");
        assert_eq!(normalize("/", "h").unwrap().path, "/");
        assert_eq!(normalize("http://upstream.local:8080/zen", "upstream.local").unwrap().path, "/zen");
    }

    /// Issue #7: what gh 2.23 sends through `HTTP_PROXY` with `GH_HOST=github.localhost` (seen on the
    /// wire): the path and query are taken, the host only checked.
    #[test]
    fn absolute_form_from_gh_7() {
        let t = normalize("http://api.github.localhost/repos/acme/r/issues?per_page=100&page=2", "h").unwrap();
        assert_eq!((t.path.as_str(), t.query.as_deref()), ("/repos/acme/r/issues", Some("per_page=100&page=2")));
        assert!(!t.ghes_layout);
        let t = normalize("http://API.github.localhost:80/repositories/1000/issues?page=3", "h").unwrap();
        assert_eq!((t.path.as_str(), t.query.as_deref()), ("/repositories/1000/issues", Some("page=3")));
        assert_eq!(normalize("http://api.github.localhost/graphql", "h").unwrap().path, "/graphql");
        assert_eq!(normalize("http://api.github.localhost", "h").unwrap().path, "/");
        // The canonical-path rules hold for absolute-form too.
        assert!(normalize("http://api.github.localhost/repos/acme/%2e%2e/evil", "h").is_err());
        assert!(normalize("http://elsewhere.example/repos/acme/r", "h").is_err());
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
            "/repositories/7/issues?page=2",
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
            "/repositories/666/issues",
            "/repositories/1/issues",
            "/repositories/x/issues",
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
        let none = |_| None;
        assert_eq!(all.check_rest(&normalize("/repos/any/r", "h").unwrap(), none), Ok(Verdict::Allowed));
        assert!(all.check_rest(&normalize("/user", "h").unwrap(), none).is_err());
        assert_eq!(all.check_write(&normalize("/user/repos", "h").unwrap(), none), Ok(Verdict::Allowed));
    }

    #[test]
    fn unknown_repository_ids_need_resolving() {
        let t = normalize("/repositories/42/issues", "h").unwrap();
        assert_eq!(only(&["acme"]).check_rest(&t, |_| None), Ok(Verdict::NeedsOwnerOf(42)));
        assert_eq!(only(&["acme"]).check_write(&t, |_| None), Ok(Verdict::NeedsOwnerOf(42)));
    }

    #[test]
    fn writes_need_an_allowed_owner() {
        let none = |_| None;
        let list = only(&["acme"]);
        assert_eq!(list.check_write(&normalize("/repos/acme/r/issues", "h").unwrap(), none), Ok(Verdict::Allowed));
        assert!(list.check_write(&normalize("/repos/evil/r/issues", "h").unwrap(), none).is_err());
        assert!(list.check_write(&normalize("/user/repos", "h").unwrap(), none).is_err());
    }

    #[test]
    fn graphql_reads() {
        let list = Allowlist::with_lists(
            OwnerPolicy::Only(["acme".to_string()].into()),
            vec![],
            ["viewer".to_string()].into(),
        );
        let reads = |owners: &[&str], unscoped: &[&str]| Reads {
            owners: owners.iter().map(|s| s.to_string()).collect(),
            unscoped: unscoped.iter().map(|s| s.to_string()).collect(),
            repos: Default::default(),
        };
        assert_eq!(list.check_graphql_query(&reads(&["acme"], &[])), Ok(()));
        assert_eq!(list.check_graphql_query(&reads(&["acme"], &["viewer"])), Ok(()), "configured");
        assert!(list.check_graphql_query(&reads(&["acme", "evil"], &[])).is_err());
        let err = list.check_graphql_query(&reads(&[], &["node"])).unwrap_err();
        assert!(err.to_string().contains("`node`"), "{err}");
    }
}
