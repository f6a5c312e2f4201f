//! Access control: the request target made canonical, and the owner allowlist applied to it.
//!
//! Owns: `normalize` (one decode, then refuse anything ambiguous: dot segments, empty segments,
//! encoded separators, control characters, foreign hosts) and `Allowlist::check_rest`. The path
//! that is checked is the path that is sent upstream: `normalize` returns the canonical, re-encoded
//! form and the proxy forwards exactly that.
//! Must never: let a path through whose upstream form names an owner outside the allowlist.

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, CONTROLS};

use std::collections::BTreeSet;

use crate::admission::plan::AdminPath;
use crate::admission::rest_routes::{Endpoint, RouteTable};
use crate::admission::search;
use crate::admission::target::RestTarget;
use crate::config::OwnerPolicy;
use crate::reply::Refusal;

/// Hosts an absolute-form request line may name: GitHub's API hosts and the configured upstream.
const GITHUB_API_HOSTS: &[&str] = &["api.github.com", "api.github.localhost"];

pub use crate::config::DEFAULT_PUBLIC_PATHS;

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
pub enum OwnerCheck {
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

    fn owner_check(&self, owner: &str) -> Result<OwnerCheck, Refusal> {
        match self.allows(owner) {
            true => Ok(OwnerCheck::Allowed),
            false => Err(Self::denied(owner)),
        }
    }

    /// May a pooled read of `target` go upstream? The path is matched to the endpoint GitHub
    /// documents (`admission::rest_routes`): every owner it names, wherever it stands, must be
    /// allowed; a repository named by id must belong to an allowed owner (`owner_of` knows the
    /// owners seen before); sensitive endpoints and shapes GitHub does not document are refused.
    pub fn check_rest(&self, target: &Target, owner_of: impl Fn(u64) -> Option<String>) -> Result<OwnerCheck, Refusal> {
        self.check_read(target, &RestTarget::of(target), owner_of).map(|(verdict, _)| verdict)
    }

    /// [`Allowlist::check_rest`], and the owners the read touches as far as they are known
    /// (lower-cased; a repository named by id adds its owner once resolved): what decides which
    /// App installations may serve it. One look-up in the route table per request.
    pub fn check_read(
        &self,
        target: &Target,
        shape: &RestTarget,
        owner_of: impl Fn(u64) -> Option<String>,
    ) -> Result<(OwnerCheck, Vec<String>), Refusal> {
        match shape {
            // Labels are searched within one repository, named by id: its owner decides.
            RestTarget::Search { kind: "labels" } => {
                let id =
                    search::repository_id(target.query.as_deref()).map_err(|e| Refusal::BadRequest(e.to_string()))?;
                let owner = owner_of(id).map(|o| o.to_ascii_lowercase());
                return Ok((self.check_repository(id, owner.clone())?, owner.into_iter().collect()));
            }
            RestTarget::Search { .. } => return Ok((OwnerCheck::Allowed, self.check_search(target.query.as_deref())?)),
            // Answered by ghpool from the pool's own state.
            RestTarget::Local(AdminPath::RateLimit) => return Ok((OwnerCheck::Allowed, Vec::new())),
            _ => {}
        }
        let Some(endpoint) = RouteTable::github().lookup("GET", &target.segments) else {
            // Not an endpoint GitHub documents: answered as GitHub would, unless the operator
            // serves it on purpose.
            return match self.is_public(&target.path) {
                true => Ok((OwnerCheck::Allowed, Vec::new())),
                false => Err(Refusal::NotFound),
            };
        };
        // `/user/…` describes the authenticated identity (its memberships, stars, follows): with a
        // pool token, the pool identity's — whatever owner the path names.
        if let RestTarget::Viewer = shape {
            return Err(Refusal::Forbidden(format!(
                "ghpool: `{}` describes the pool identity; it is not served through the pool",
                endpoint.template
            )));
        }
        if let Some(why) = endpoint.sensitive() {
            return Err(Refusal::Forbidden(format!(
                "ghpool: `{}` answers with {why}; it is never served with a pool identity",
                endpoint.template
            )));
        }
        self.check_endpoint(&endpoint, target, owner_of)
    }

    /// The owners an endpoint names, then the repository it names by id. A path with neither is
    /// served only when the operator lists it as public (it would read the pool identity's own view).
    fn check_endpoint(
        &self,
        endpoint: &Endpoint<'_>,
        target: &Target,
        owner_of: impl Fn(u64) -> Option<String>,
    ) -> Result<(OwnerCheck, Vec<String>), Refusal> {
        let mut owners = endpoint.owners().map_err(|e| Refusal::BadRequest(e.to_string()))?;
        for owner in &owners {
            self.owner_check(owner)?;
        }
        if let Some(id) = endpoint.repository_id() {
            let owner = owner_of(id).map(|o| o.to_ascii_lowercase());
            let verdict = self.check_repository(id, owner.clone())?;
            owners.extend(owner);
            return Ok((verdict, owners));
        }
        if !owners.is_empty() || self.is_public(&target.path) {
            return Ok((OwnerCheck::Allowed, owners));
        }
        Err(Refusal::Forbidden(format!(
            "ghpool: `{}` belongs to no owner and would expose the pool identity; it is not served through the pool",
            target.path
        )))
    }

    /// A repository named by id: its owner, known or still to be asked, decides.
    fn check_repository(&self, id: u64, owner: Option<String>) -> Result<OwnerCheck, Refusal> {
        match owner {
            // A repository only the pool can see: GitHub's 404, never its owner's name.
            Some(owner) if !self.allows(&owner) => Err(Refusal::NotFound),
            Some(_) => Ok(OwnerCheck::Allowed),
            None if matches!(self.policy, OwnerPolicy::AllowAll) => Ok(OwnerCheck::Allowed),
            None => Ok(OwnerCheck::NeedsOwnerOf(id)),
        }
    }

    /// May a write (with the client's own token) go upstream? The endpoint must be one GitHub
    /// documents for `method`; owner paths need every owner allowed; owner-free writes
    /// (`/user/repos`, `/gists`, …) only when every owner is allowed.
    pub fn check_write(
        &self,
        method: &str,
        target: &Target,
        owner_of: impl Fn(u64) -> Option<String>,
    ) -> Result<OwnerCheck, Refusal> {
        let Some(endpoint) = RouteTable::github().lookup(method, &target.segments) else {
            return Err(Refusal::NotFound);
        };
        let owners = endpoint.owners().map_err(|e| Refusal::BadRequest(e.to_string()))?;
        if owners.is_empty() && endpoint.repository_id().is_none() {
            return match self.policy {
                OwnerPolicy::AllowAll => Ok(OwnerCheck::Allowed),
                OwnerPolicy::Only(_) => Err(Refusal::Forbidden(format!(
                    "ghpool: `{}` belongs to no owner; writes through ghpool must name an allowed owner",
                    target.path
                ))),
            };
        }
        self.check_endpoint(&endpoint, target, owner_of).map(|(verdict, _)| verdict)
    }

    /// Whether answers of pooled GraphQL queries are screened: when an allowlist is in force.
    pub fn screens(&self) -> bool {
        matches!(self.policy, OwnerPolicy::Only(_))
    }

    /// GraphQL root fields the operator serves without an owner.
    pub fn graphql_unscoped_fields(&self) -> &BTreeSet<String> {
        &self.graphql_fields
    }

    fn is_public(&self, path: &str) -> bool {
        self.public_paths
            .iter()
            .any(|p| path == p || (p.len() > 1 && path.starts_with(p.as_str()) && path[p.len()..].starts_with('/')))
    }

    /// `/search/*`: one `q` parameter, confined to allowed owners as GitHub reads it; the owners
    /// it names.
    fn check_search(&self, query: Option<&str>) -> Result<Vec<String>, Refusal> {
        let q = search::q_parameter(query).map_err(|e| Refusal::Forbidden(e.to_string()));
        if matches!(self.policy, OwnerPolicy::AllowAll) {
            let owners = q.ok().and_then(|q| search::confine(&q, |_| true).ok());
            return Ok(owners.map(|o| o.into_iter().collect()).unwrap_or_default());
        }
        let owners = search::confine(&q?, |owner| self.allows(owner)).map_err(|e| Refusal::Forbidden(e.to_string()))?;
        Ok(owners.into_iter().collect())
    }
}

#[cfg(test)]
mod read_owner_tests {
    use super::*;

    /// The owners a pooled REST read touches, as far as its path names them (every owner
    /// parameter, `/repositories/{id}` through `owner_of`, a search's qualifiers).
    fn rest_read_owners(target: &Target, owner_of: impl Fn(u64) -> Option<String>) -> Vec<String> {
        let all = Allowlist::new(OwnerPolicy::AllowAll);
        all.check_read(target, &RestTarget::of(target), owner_of).map(|(_, owners)| owners).unwrap_or_default()
    }

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
            OwnerCheck::Allowed => Ok(()),
            OwnerCheck::NeedsOwnerOf(_) => Err(Refusal::NotFound),
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
            "/search/labels?repository_id=7&q=bug",
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
            "/search/labels?repository_id=666&q=repo:acme/r",
            "/search/labels?q=repo:acme/r",
            "/search/labels?repository_id=7&repository_id=666&q=bug",
            "/search/labels?repository_id=7&%5Brepository_id%5D=666&q=bug",
            "/teams/4242/memberships/acme",
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
        assert_eq!(all.check_rest(&normalize("/repos/any/r", "h").unwrap(), none), Ok(OwnerCheck::Allowed));
        assert!(all.check_rest(&normalize("/user", "h").unwrap(), none).is_err());
        assert_eq!(all.check_write("POST", &normalize("/user/repos", "h").unwrap(), none), Ok(OwnerCheck::Allowed));
    }

    #[test]
    fn unknown_repository_ids_need_resolving() {
        let t = normalize("/repositories/42/issues", "h").unwrap();
        assert_eq!(only(&["acme"]).check_rest(&t, |_| None), Ok(OwnerCheck::NeedsOwnerOf(42)));
        let post = normalize("/repositories/42/issues", "h").unwrap();
        assert_eq!(only(&["acme"]).check_write("POST", &post, |_| None), Ok(OwnerCheck::NeedsOwnerOf(42)));
    }

    #[test]
    fn writes_need_an_allowed_owner() {
        let none = |_| None;
        let list = only(&["acme"]);
        let write = |method: &str, path: &str| list.check_write(method, &normalize(path, "h").unwrap(), none);
        assert_eq!(write("POST", "/repos/acme/r/issues"), Ok(OwnerCheck::Allowed));
        assert_eq!(write("PATCH", "/repos/acme/r/issues/3"), Ok(OwnerCheck::Allowed));
        assert!(write("POST", "/repos/evil/r/issues").is_err());
        assert!(write("POST", "/user/repos").is_err());
        // A shape GitHub does not document for this method.
        assert_eq!(write("POST", "/repos/acme/r/nothing-here"), Err(Refusal::NotFound));
        assert_eq!(write("PATCH", "/repos/acme/r/issues"), Err(Refusal::NotFound));
        // A user inside an allowed organization is a subject of its data, not an owner.
        assert_eq!(write("PUT", "/orgs/acme/memberships/someone"), Ok(OwnerCheck::Allowed));
    }

    /// Issue #20 (7, 8): sensitive endpoints, owners later in the path, unknown shapes, and
    /// repositories by id that must not confirm anything.
    #[test]
    fn routes_from_githubs_description_20() {
        let owner_of = |id: u64| (id == 666).then(|| "evil".to_string());
        let list = only(&["acme"]);
        let read = |path: &str| list.check_rest(&normalize(path, "h").unwrap(), owner_of);
        for sensitive in [
            "/orgs/acme/credential-authorizations",
            "/orgs/acme/audit-log",
            "/orgs/acme/hooks",
            "/orgs/acme/hooks/1/config",
            "/orgs/acme/installations",
            "/orgs/acme/invitations",
            "/orgs/acme/personal-access-tokens",
            "/orgs/acme/actions/secrets",
            "/orgs/acme/actions/secrets/public-key",
            "/repos/acme/r/hooks",
            "/repos/acme/r/keys",
            "/repos/acme/r/actions/secrets",
            "/repos/acme/r/actions/variables",
            "/repos/acme/r/environments/prod/secrets",
            "/repos/acme/r/invitations",
            "/repos/acme/r/installation",
            "/repositories/7/hooks",
            "/user/memberships/orgs/acme",
            "/user/starred/acme/r",
        ] {
            assert!(matches!(read(sensitive), Err(Refusal::Forbidden(_))), "{sensitive}: {:?}", read(sensitive));
        }
        assert!(matches!(read("/users/acme/events/orgs/evil"), Err(Refusal::Forbidden(_))));
        assert_eq!(read("/users/acme/events/orgs/acme"), Ok(OwnerCheck::Allowed));
        assert!(read("/repos/acme/r/compare/main...evil:feature").is_err());
        assert_eq!(read("/repos/acme/r/compare/main...acme:feature"), Ok(OwnerCheck::Allowed));
        assert_eq!(read("/repos/acme/r/compare/main...feature/x"), Ok(OwnerCheck::Allowed));
        assert_eq!(read("/repos/acme/r/contents/dir/file.txt"), Ok(OwnerCheck::Allowed));
        assert_eq!(read("/repos/acme/r/issues/1/timeline"), Ok(OwnerCheck::Allowed));
        assert_eq!(read("/repos/acme/r/nothing-here"), Err(Refusal::NotFound));
        assert_eq!(read("/repositories/666/issues"), Err(Refusal::NotFound), "no owner named");
        assert_eq!(read("/repositories/7/issues"), Ok(OwnerCheck::NeedsOwnerOf(7)));
    }
}
