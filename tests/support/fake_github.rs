//! A fake GitHub REST API (api.github.com layout) for integration tests.
//!
//! It imitates what a pooling, caching proxy depends on (see `/work/shared/GITHUB.md`):
//! token auth (`token`/`Bearer`/Basic) with `401 Bad credentials`; primary budgets per (login, resource) shared
//! by all tokens of a login, with `x-ratelimit-*` headers on every answer and a 403 at zero; a free
//! `GET /rate_limit`; a switchable secondary limit (403 + optional `retry-after`); token-specific weak ETags and
//! free `304 Not Modified`; paginated issue lists whose `Link` header holds absolute `/repositories/{id}/…` URLs;
//! absolute API URLs in bodies. Switches for latency (`set_delay`), an outage (`set_down`) and broken connections
//! (`drop_connections`), and a log of every request with its final status.
//!
//! The server runs on its own thread with its own Tokio runtime, so it works from plain `#[test]` functions and
//! from `#[tokio::test]` alike. Dropping the [`FakeGithub`] stops it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method};
use axum::response::Response;
use axum::Router;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// Actions runs, for `gh run` (issue #7).
#[path = "fake_actions.rs"]
mod actions;
/// GitHub Apps: JWT-authenticated App endpoints and installation tokens (issue #9).
#[path = "fake_apps.rs"]
pub mod apps;
/// `POST /graphql`, executed against this world for real clients (issue #7); in its own file.
#[path = "fake_graphql.rs"]
pub mod graphql;
/// What a pool identity reaches beyond an allowed owner: forks, cross-references, renames (issue #20).
#[path = "fake_reach.rs"]
mod reach;
/// Real GitHub answers recorded by `@octokit/fixtures`, replayed (issue #7); in its own file.
#[path = "fake_replay.rs"]
pub mod replay;
/// The server thread every fake runs on.
#[path = "serve.rs"]
pub mod serve;

const DOCS: &str = "https://docs.github.com/rest";
const RATE_DOCS: &str = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api";
const SECONDARY_DOCS: &str =
    "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits";
const SECONDARY_MSG: &str = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.";
/// Budget key of requests without `Authorization` (GitHub keys these by IP; core limit 60/h).
const ANONYMOUS: &str = "anonymous";
/// Every resource carries this `Last-Modified` (GitHub sends one on most GETs).
const LAST_MODIFIED: &str = "Mon, 01 Jan 2024 00:00:00 GMT";
const VARY: &str = "Accept, Authorization, Cookie, X-GitHub-OTP, Accept-Encoding, Accept, X-Requested-With";
const RESOURCES: [&str; 4] = ["core", "search", "graphql", "code_search"];

/// One request as the fake received it, with the status it answered.
#[derive(Clone, Debug)]
pub struct LoggedRequest {
    pub method: String,
    /// Path plus `?query` if any, exactly as received.
    pub path: String,
    /// The credential from `Authorization` under any scheme (`token X`, `Bearer X`, Basic `user:X` → `X`).
    pub token: Option<String>,
    pub if_none_match: Option<String>,
    pub status: u16,
    pub user_agent: Option<String>,
    /// The request body's length and SHA-256 (hex): what arrived, without keeping large bodies.
    pub body_len: usize,
    pub body_sha256: String,
    /// Every request header name (lower-case) and value, `authorization` excepted (see `token`).
    pub headers: Vec<(String, String)>,
    /// For a write, what the watched file ([`FakeGithub::watch_file`]) held when it arrived.
    pub watched: Option<String>,
}

/// A running fake GitHub API on `127.0.0.1:<random port>`.
pub struct FakeGithub {
    port: u16,
    world: Arc<Mutex<World>>,
    _server: serve::Served,
}

impl std::fmt::Debug for FakeGithub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeGithub").field("port", &self.port).finish_non_exhaustive()
    }
}

impl FakeGithub {
    /// Binds 127.0.0.1:0 and serves on a dedicated thread; returns once the socket is listening.
    pub fn start() -> FakeGithub {
        let mut world = None;
        let server = serve::serve("fake GitHub", |port| {
            let w = Arc::new(Mutex::new(World { base: format!("http://127.0.0.1:{port}"), ..World::default() }));
            world = Some(w.clone());
            Router::new().fallback(handle).with_state(w)
        });
        FakeGithub { port: server.port, world: world.expect("the router was built"), _server: server }
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Makes `token` valid for `login`. Several tokens may map to one login; they share its budgets, as all PATs
    /// of one GitHub user do.
    pub fn add_token(&self, token: &str, login: &str) {
        let mut w = self.lock();
        w.user_id(login);
        w.tokens.insert(token.to_string(), login.to_string());
    }

    /// From now on `token` gets `401 Bad credentials`.
    pub fn revoke_token(&self, token: &str) {
        self.lock().tokens.remove(token);
    }

    /// Sets a budget; its reset is now + 3600 s unless [`FakeGithub::set_reset`] is called afterwards.
    pub fn set_budget(&self, login: &str, resource: &str, limit: u64, remaining: u64) {
        let budget = Budget { limit, remaining: remaining.min(limit), reset: now() + 3600 };
        self.lock().budgets.insert((login.to_string(), resource.to_string()), budget);
    }

    /// Sets the reset epoch of a budget. Like GitHub, once `reset` has passed the window rolls over: the next
    /// request sees `remaining == limit` and a new reset.
    pub fn set_reset(&self, login: &str, resource: &str, reset_epoch: u64) {
        self.lock().budget(login, resource).reset = reset_epoch;
    }

    /// Current remaining budget of (login, resource), without charging anything.
    pub fn remaining(&self, login: &str, resource: &str) -> u64 {
        self.lock().budget(login, resource).remaining
    }

    /// Adds repository `owner/name` (no issues yet) and returns its numeric id (1000, 1001, …). Adding an
    /// existing repository returns its id.
    pub fn add_repo(&self, owner: &str, name: &str) -> u64 {
        let mut w = self.lock();
        if let Some(repo) = w.find_repo(owner, name) {
            return repo.id;
        }
        let id = 1000 + w.repos.len() as u64;
        let owner_id = w.user_id(owner);
        let repo = Repo {
            id,
            owner: owner.to_string(),
            owner_id,
            name: name.to_string(),
            issues: 0,
            private: false,
            parent: None,
        };
        w.repos.push(repo);
        id
    }

    /// Appends `count` open issues to a repository added with [`FakeGithub::add_repo`].
    pub fn add_issues(&self, owner: &str, name: &str, count: usize) {
        let mut w = self.lock();
        let repo = w.repos.iter_mut().find(|r| r.is(owner, name));
        repo.unwrap_or_else(|| panic!("fake GitHub: add_repo({owner}, {name}) first")).issues += count as u64;
    }

    /// Switches the secondary limit on: `Some(login)` for that login only, `None` with `Some(retry_after)` for
    /// every caller; `set_secondary_limit(None, None)` clears it everywhere (as does `clear_secondary_limit`).
    /// While on, every request of the caller gets GitHub's secondary-limit 403 (not charged).
    pub fn set_secondary_limit(&self, login: Option<&str>, retry_after: Option<u64>) {
        let mut w = self.lock();
        match login {
            Some(login) => {
                w.secondary.insert(login.to_string(), retry_after);
            }
            None if retry_after.is_some() => w.secondary_all = retry_after,
            None => w.clear_secondary(),
        }
    }

    /// Switches every secondary limit off.
    pub fn clear_secondary_limit(&self) {
        self.lock().clear_secondary();
    }

    /// Every answer waits `d` first (without blocking other requests).
    pub fn set_delay(&self, d: Duration) {
        self.lock().delay = d;
    }

    /// While down, everything gets `503 {"message":"Service Unavailable"}` and nothing is charged.
    /// Answer each GET from the state of the moment it arrives, but deliver the answer `d` later.
    pub fn set_read_delay(&self, d: Duration) {
        self.lock().read_delay = d;
    }

    pub fn set_down(&self, down: bool) {
        self.lock().down = down;
    }

    /// The next `count` requests get their connection closed without any answer (logged with status 0).
    pub fn drop_connections(&self, count: usize) {
        self.lock().drop_connections = count;
    }

    /// Registers a GitHub App whose JWTs `public_pem` verifies, installed on `account` as `installation_id`.
    pub fn add_app(&self, app_id: u64, slug: &str, public_pem: &str, installation_id: u64, account: &str) {
        let mut w = self.lock();
        w.apps.add_app(app_id, slug, public_pem);
        w.apps.add_installation(app_id, installation_id, account);
    }

    /// Installs a registered App on another account.
    pub fn add_installation(&self, app_id: u64, installation_id: u64, account: &str) {
        self.lock().apps.add_installation(app_id, installation_id, account);
    }

    /// Installation tokens live this long from now on (GitHub: 3600 s).
    pub fn set_installation_token_ttl(&self, seconds: u64) {
        self.lock().apps.token_ttl = seconds;
    }

    /// While set, `POST /app/installations/{id}/access_tokens` answers 500.
    /// Read `path` as each write arrives, into its [`LoggedRequest::watched`]: what a client
    /// wrote before it sent the write (ghpool's audit file) is there, what it wrote after is not.
    pub fn watch_file(&self, path: &std::path::Path) {
        self.lock().watched = Some(path.to_path_buf());
    }

    pub fn refuse_minting(&self, refuse: bool) {
        self.lock().apps.refuse_minting = refuse;
    }

    /// How many installation tokens were minted, and the ones minted for `installation_id`.
    pub fn minted(&self) -> u64 {
        self.lock().apps.minted()
    }

    /// What a minted installation token was scoped to: repositories, and the permissions asked for.
    pub fn token_scope(&self, token: &str) -> Option<(Option<Vec<String>>, Option<serde_json::Value>)> {
        self.lock().apps.scope_of(token)
    }

    pub fn installation_tokens(&self, installation_id: u64) -> Vec<String> {
        self.lock().apps.tokens_of(installation_id)
    }

    /// The most requests ever answered at once with `token`.
    pub fn max_concurrent(&self, token: &str) -> usize {
        self.lock().concurrent.get(token).map_or(0, |(_, max)| *max)
    }

    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.lock().log.clone()
    }

    pub fn clear_log(&self) {
        self.lock().log.clear();
    }

    /// Logged requests whose path (with query) starts with `path_prefix`.
    pub fn requests_to(&self, path_prefix: &str) -> Vec<LoggedRequest> {
        self.lock().log.iter().filter(|r| r.path.starts_with(path_prefix)).cloned().collect()
    }

    fn lock(&self) -> MutexGuard<'_, World> {
        lock(&self.world)
    }
}

fn lock(world: &Mutex<World>) -> MutexGuard<'_, World> {
    world.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[derive(Clone, Copy, Debug)]
struct Budget {
    limit: u64,
    remaining: u64,
    reset: u64,
}

#[derive(Clone, Debug)]
struct Repo {
    id: u64,
    owner: String,
    owner_id: u64,
    name: String,
    issues: u64,
    private: bool,
    /// The repository this one is a fork of.
    parent: Option<u64>,
}

impl Repo {
    /// GitHub matches owner and repository names case-insensitively.
    fn is(&self, owner: &str, name: &str) -> bool {
        self.owner.eq_ignore_ascii_case(owner) && self.name.eq_ignore_ascii_case(name)
    }
}

/// The request facts the fake looks at.
struct Incoming {
    method: Method,
    path: String,
    query: String,
    token: Option<String>,
    if_none_match: Option<String>,
    if_modified_since: Option<String>,
    /// The request body (App token requests name repositories in it).
    body: Vec<u8>,
}

/// Who a request counts against.
struct Caller {
    login: String,
    resource: &'static str,
    token: Option<String>,
    request_id: String,
}

/// An answer before it becomes an HTTP response.
struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
}

impl Reply {
    fn new(status: u16, body: String) -> Reply {
        Reply { status, headers: Vec::new(), body }
    }
    fn json(status: u16, body: &Value) -> Reply {
        Reply::new(status, body.to_string())
    }
    fn error(status: u16, message: &str, docs: &str) -> Reply {
        Reply::json(status, &json!({ "message": message, "documentation_url": docs }))
    }
    fn not_found() -> Reply {
        Reply::error(404, "Not Found", DOCS)
    }
    fn header(&mut self, name: &'static str, value: impl ToString) {
        self.headers.push((name, value.to_string()));
    }
}

/// Everything the fake knows; one mutex guards it all, so each answer is atomic.
#[derive(Default)]
struct World {
    /// `http://127.0.0.1:PORT`, the origin of every absolute URL the fake hands out.
    base: String,
    tokens: HashMap<String, String>,
    user_ids: HashMap<String, u64>,
    budgets: HashMap<(String, String), Budget>,
    repos: Vec<Repo>,
    secondary: HashMap<String, Option<u64>>,
    secondary_all: Option<u64>,
    delay: Duration,
    /// GETs are answered at once but delivered this late: a read that saw the state before a write
    /// arrives after it.
    read_delay: Duration,
    down: bool,
    /// The next this many requests get their connection closed without an answer.
    drop_connections: usize,
    log: Vec<LoggedRequest>,
    served: u64,
    /// Requests being answered now, and the most ever at once, per credential ("" for none):
    /// GitHub's secondary limit counts concurrent requests per user.
    concurrent: HashMap<String, (usize, usize)>,
    /// GitHub Apps, their installations and installation tokens.
    apps: apps::Apps,
    /// Pull requests, comments and the GraphQL call log.
    graphql: graphql::Store,
    /// Recorded GitHub answers to replay.
    replay: replay::Recordings,
    /// Relations that lead from one owner to another.
    reach: reach::Reach,
    /// The installation token of the request being answered, if it is one: GraphQL mutations are
    /// held to its repositories and permissions.
    installation: Option<apps::InstallationCaller>,
    /// A file read as each write arrives (an audit log that must hold the write's decision first).
    watched: Option<std::path::PathBuf>,
}

impl World {
    /// Stable numeric id of a user or organisation, allocated on first sight (1, 2, …).
    fn user_id(&mut self, login: &str) -> u64 {
        let next = self.user_ids.len() as u64 + 1;
        *self.user_ids.entry(login.to_string()).or_insert(next)
    }

    fn find_repo(&self, owner: &str, name: &str) -> Option<Repo> {
        self.repos.iter().find(|r| r.is(owner, name)).cloned()
    }

    fn clear_secondary(&mut self) {
        self.secondary.clear();
        self.secondary_all = None;
    }

    /// The budget of (login, resource), created with GitHub's defaults and rolled over once its reset passed.
    fn budget(&mut self, login: &str, resource: &str) -> &mut Budget {
        // search and code_search are per-minute windows; core and graphql per hour.
        let window = if resource.contains("search") { 60 } else { 3600 };
        let limit = match (login == ANONYMOUS, resource) {
            (true, "core") => 60,
            (true, "graphql") => 0,
            (true, "search") => 10,
            (false, "search") => 30,
            (_, "code_search") => 10,
            _ => 5000,
        };
        let now = now();
        let budget = self.budgets.entry((login.to_string(), resource.to_string())).or_insert(Budget {
            limit,
            remaining: limit,
            reset: now + window,
        });
        if now >= budget.reset {
            budget.remaining = budget.limit;
            budget.reset = now + window;
        }
        budget
    }

    /// Answers one request; all budget bookkeeping happens here, under the lock, so it is atomic.
    fn answer(&mut self, req: &Incoming) -> Reply {
        if self.down {
            let mut reply = Reply::json(503, &json!({ "message": "Service Unavailable" }));
            reply.header("content-type", "application/json; charset=utf-8");
            return reply;
        }
        self.served += 1;
        let request_id = format!("FA4E:{:06X}:{:08X}", self.served, now());
        let mut caller = Caller { login: ANONYMOUS.into(), resource: "core", token: None, request_id };
        if let Some((status, body)) = self.apps.app_call(&req.method, &req.path, req.token.as_deref(), &req.body, now())
        {
            // App endpoints are authenticated by the App's JWT and cost no installation budget.
            let mut reply = Reply::json(status, &body);
            reply.header("content-type", "application/json; charset=utf-8");
            return reply;
        }
        if let Some(token) = &req.token {
            match (self.tokens.get(token), self.apps.installation_caller(token, now())) {
                (Some(login), _) => (caller.login, caller.token) = (login.clone(), Some(token.clone())),
                (None, Some(Ok(installation))) => {
                    (caller.login, caller.token) = (installation.login.clone(), Some(token.clone()));
                    if let Some((status, body)) = installation.refusal(&req.path) {
                        return self.finish(Reply::json(status, &body), &caller);
                    }
                    let write = req.method != Method::GET && req.method != Method::HEAD;
                    if let Some((status, body)) = installation.write_refusal(&req.path).filter(|_| write) {
                        return self.finish(Reply::json(status, &body), &caller);
                    }
                }
                // A bad or expired token is rejected before any budget is looked at.
                _ => return self.finish(Reply::error(401, "Bad credentials", DOCS), &caller),
            }
        }
        if let Some(recorded) = self.replay.answer(req) {
            // A recorded GitHub answer carries its own headers, x-ratelimit-* included.
            return recorded;
        }
        let secondary = self.secondary.get(&caller.login).copied().or(self.secondary_all.map(Some));
        if let Some(retry_after) = secondary {
            // Secondary limits leave the primary `remaining` untouched (usually non-zero).
            let mut reply = Reply::error(403, SECONDARY_MSG, SECONDARY_DOCS);
            if let Some(seconds) = retry_after {
                reply.header("retry-after", seconds);
            }
            return self.finish(reply, &caller);
        }
        if req.path == "/rate_limit" {
            // "GET /rate_limit does not count against the primary limit."
            let reply = Reply::json(200, &self.rate_limit_body(&caller.login));
            return self.finish(reply, &caller);
        }
        caller.resource = match req.path.as_str() {
            p if p.starts_with("/search/code") => "code_search",
            p if p.starts_with("/search/") => "search",
            "/graphql" => "graphql",
            _ => "core",
        };
        if self.budget(&caller.login, caller.resource).remaining == 0 {
            return self.finish(self.exhausted(&caller), &caller);
        }
        self.installation = req.token.as_deref().and_then(|t| self.apps.installation_caller(t, now())?.ok());
        let mut reply = self.route(req, &caller.login);
        self.installation = None;
        let is_get = req.method == Method::GET || req.method == Method::HEAD;
        let callback = req.query.split('&').find_map(|p| p.strip_prefix("callback=")).map(str::to_string);
        if let (true, Some(callback)) = (is_get && reply.status == 200, callback) {
            // JSON-P: GitHub wraps the answer in a call and says it is JavaScript.
            reply.body = format!("/**/{callback}({{\"meta\":{{\"status\":200}},\"data\":{}}})", reply.body);
            reply.header("content-type", "application/javascript; charset=utf-8");
        }
        if reply.status == 200 && is_get {
            // GitHub's ETags are weak and token-specific: the same body under another token has another ETag.
            let digest = Sha256::digest(format!("{}{}", caller.token.as_deref().unwrap_or(""), reply.body));
            let etag = format!("W/\"{}\"", digest.iter().map(|b| format!("{b:02x}")).collect::<String>());
            reply.header("etag", &etag);
            reply.header("last-modified", LAST_MODIFIED);
            let fresh = match &req.if_none_match {
                Some(tags) => tags.split(',').map(str::trim).any(|t| t == "*" || weak_eq(t, &etag)),
                None => req.if_modified_since.as_deref() == Some(LAST_MODIFIED),
            };
            if fresh {
                // A 304 repeats ETag and the caching headers, has no body and costs nothing.
                let not_modified = Reply { headers: reply.headers, ..Reply::new(304, String::new()) };
                return self.finish(not_modified, &caller);
            }
        }
        let budget = self.budget(&caller.login, caller.resource);
        budget.remaining -= 1;
        self.finish(reply, &caller)
    }

    /// The answer when the primary budget is spent: REST 403 with remaining 0, GraphQL 200 with an error.
    fn exhausted(&self, caller: &Caller) -> Reply {
        let message = match self.user_ids.get(&caller.login) {
            Some(id) if caller.token.is_some() => format!(
                "API rate limit exceeded for user ID {id}. If you reach out to GitHub Support for help, please \
                 include the request ID {}.",
                caller.request_id
            ),
            _ => "API rate limit exceeded for 127.0.0.1. (But here's the good news: Authenticated requests get a \
                  higher rate limit. Check out the documentation for more details.)"
                .to_string(),
        };
        if caller.resource == "graphql" {
            return Reply::json(200, &json!({ "errors": [{ "type": "RATE_LIMITED", "message": message }] }));
        }
        Reply::error(403, &message, RATE_DOCS)
    }

    /// Adds the headers GitHub puts on every answer; the x-ratelimit-* ones describe the caller's budget after
    /// this request.
    fn finish(&mut self, mut reply: Reply, caller: &Caller) -> Reply {
        let b = *self.budget(&caller.login, caller.resource);
        reply.header("x-ratelimit-limit", b.limit);
        reply.header("x-ratelimit-remaining", b.remaining);
        reply.header("x-ratelimit-used", b.limit - b.remaining);
        reply.header("x-ratelimit-reset", b.reset);
        reply.header("x-ratelimit-resource", caller.resource);
        reply.header("x-github-request-id", &caller.request_id);
        reply.header("x-github-media-type", "github.v3; format=json");
        if !reply.headers.iter().any(|(name, _)| *name == "content-type") {
            reply.header("content-type", "application/json; charset=utf-8");
        }
        if caller.resource != "graphql" {
            // GraphQL answers carry no Cache-Control; anonymous REST answers are public, authenticated private.
            let scope = if caller.token.is_some() { "private" } else { "public" };
            reply.header("cache-control", format!("{scope}, max-age=60, s-maxage=60"));
        }
        reply.header("vary", VARY);
        if caller.token.is_some() {
            reply.header("x-oauth-scopes", "repo, read:org");
            reply.header("x-accepted-oauth-scopes", "repo");
            reply.header("github-authentication-token-expiration", "2030-01-01 00:00:00 UTC");
        }
        reply
    }

    fn rate_limit_body(&mut self, login: &str) -> Value {
        let mut resources = serde_json::Map::new();
        for resource in RESOURCES {
            let b = *self.budget(login, resource);
            let entry =
                json!({ "limit": b.limit, "used": b.limit - b.remaining, "remaining": b.remaining, "reset": b.reset });
            resources.insert(resource.to_string(), entry);
        }
        let rate = resources["core"].clone();
        json!({ "resources": resources, "rate": rate })
    }

    fn route(&mut self, req: &Incoming, login: &str) -> Reply {
        let segments: Vec<&str> = req.path.trim_matches('/').split('/').collect();
        let get = req.method == Method::GET || req.method == Method::HEAD;
        let base = self.base.clone();
        match (get, segments.as_slice()) {
            (false, ["graphql"]) if req.method == Method::POST => match login {
                ANONYMOUS => Reply::error(401, "This endpoint requires you to be authenticated.", DOCS),
                _ => graphql::answer(self, &req.body, login),
            },
            // Creating an issue changes what the repository's lists answer: read-your-writes tests need
            // a write that GitHub would see.
            (false, ["repos", owner, name, "issues"]) if req.method == Method::POST && login != ANONYMOUS => {
                match self.repos.iter_mut().find(|r| r.is(owner, name)) {
                    Some(repo) => {
                        repo.issues += 1;
                        let repo = repo.clone();
                        Reply::json(201, &self.issue_json(&repo, repo.issues))
                    }
                    None => Reply::not_found(),
                }
            }
            (true, [""]) => Reply::json(200, &json!({ "current_user_url": format!("{base}/user") })),
            (true, ["user"]) if login == ANONYMOUS => Reply::error(401, "Requires authentication", DOCS),
            (true, ["user"]) => Reply::json(200, &self.account(login, "User")),
            (true, ["orgs" | "users", ..]) if self.owner_route(&segments).is_some() => {
                self.owner_route(&segments).unwrap_or_else(Reply::not_found)
            }
            (true, ["users", name]) => Reply::json(200, &self.account(name, "User")),
            (true, ["orgs", name]) => Reply::json(200, &self.account(name, "Organization")),
            (true, ["search", _]) => {
                Reply::json(200, &json!({ "total_count": 0, "incomplete_results": false, "items": [] }))
            }
            (true, ["repos", owner, name, rest @ ..]) => match self.find_repo(owner, name) {
                Some(repo) => self.repo_route(&repo, rest, &req.query),
                None => Reply::not_found(),
            },
            (true, ["repositories", id, rest @ ..]) => {
                let id: Option<u64> = id.parse().ok();
                match self.repos.iter().find(|r| Some(r.id) == id).cloned() {
                    Some(repo) => self.repo_route(&repo, rest, &req.query),
                    None => Reply::not_found(),
                }
            }
            _ => Reply::not_found(),
        }
    }

    fn repo_route(&self, repo: &Repo, rest: &[&str], query: &str) -> Reply {
        if let Some(reply) = self.reach_route(repo, rest) {
            return reply;
        }
        match rest {
            [] => Reply::json(200, &self.repo_json(repo)),
            ["issues"] => self.issues_page(repo, query),
            ["issues", number] => match number.parse::<u64>() {
                Ok(n) if (1..=repo.issues).contains(&n) => Reply::json(200, &self.issue_json(repo, n)),
                _ => Reply::not_found(),
            },
            ["actions", rest @ ..] => actions::answer(&self.base, repo, rest).unwrap_or_else(Reply::not_found),
            _ => Reply::not_found(),
        }
    }

    /// A page of issues, newest first. `per_page` defaults to 30 (max 100), `page` to 1; the `Link` header holds
    /// absolute `/repositories/{id}/issues` URLs, as GitHub's does for `/repos/{owner}/{repo}/issues`.
    fn issues_page(&self, repo: &Repo, query: &str) -> Reply {
        let (mut per_page, mut page, mut others) = (30u64, 1u64, String::new());
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match key {
                "per_page" => per_page = value.parse().ok().filter(|n| *n > 0).unwrap_or(30).min(100),
                "page" => page = value.parse().ok().filter(|n| *n > 0).unwrap_or(1),
                _ => others.push_str(&format!("&{pair}")),
            }
        }
        let total = repo.issues;
        let last = total.div_ceil(per_page).max(1);
        let start = (page - 1).saturating_mul(per_page);
        let end = start.saturating_add(per_page).min(total);
        let items: Vec<Value> = (start..end).map(|i| self.issue_json(repo, total - i)).collect();
        let mut reply = Reply::json(200, &Value::Array(items));

        let link = |n: u64, rel: &str| {
            format!(
                "<{}/repositories/{}/issues?per_page={per_page}{others}&page={n}>; rel=\"{rel}\"",
                self.base, repo.id
            )
        };
        let mut links = Vec::new();
        if page > 1 {
            links.push(link(page - 1, "prev"));
        }
        if page < last {
            links.push(link(page + 1, "next"));
            links.push(link(last, "last"));
        }
        if page > 1 {
            links.push(link(1, "first"));
        }
        if !links.is_empty() {
            reply.header("link", links.join(", "));
        }
        reply
    }

    fn account(&mut self, login: &str, kind: &str) -> Value {
        let id = self.user_id(login);
        let path = if kind == "User" { "users" } else { "orgs" };
        json!({
            "login": login, "id": id, "node_id": format!("U_fake{id}"), "type": kind, "site_admin": false,
            "url": format!("{}/{path}/{login}", self.base), "html_url": format!("https://github.com/{login}"),
        })
    }

    fn repo_json(&self, repo: &Repo) -> Value {
        let mut json = self.repo_json_alone(repo);
        if let Some(parent) = repo.parent.and_then(|id| self.repo_by_id(id)) {
            // A fork names its parent and the network's root (here the same).
            json["parent"] = self.repo_json_alone(&parent);
            json["source"] = self.repo_json_alone(&parent);
        }
        json
    }

    fn repo_json_alone(&self, repo: &Repo) -> Value {
        let (base, owner, name) = (&self.base, &repo.owner, &repo.name);
        json!({
            "id": repo.id, "node_id": format!("R_fake{}", repo.id), "name": name, "full_name": format!("{owner}/{name}"),
            "owner": { "login": owner, "id": repo.owner_id, "type": "User", "url": format!("{base}/users/{owner}"),
                       "html_url": format!("https://github.com/{owner}") },
            "private": repo.private, "fork": repo.parent.is_some(), "default_branch": "main", "has_issues": true,
            "open_issues_count": repo.issues,
            "url": format!("{base}/repos/{owner}/{name}"),
            "html_url": format!("https://github.com/{owner}/{name}"),
            "issues_url": format!("{base}/repos/{owner}/{name}/issues{{/number}}"),
            "permissions": { "admin": false, "push": true, "pull": true },
        })
    }

    fn issue_json(&self, repo: &Repo, number: u64) -> Value {
        let (base, owner, name) = (&self.base, &repo.owner, &repo.name);
        json!({
            "id": repo.id * 1_000_000 + number, "node_id": format!("I_fake{}_{number}", repo.id), "number": number,
            // Every tenth issue is closed, so state-aware caching has something to see.
            "title": format!("Issue {number}"), "state": if number % 10 == 0 { "closed" } else { "open" }, "comments": 0,
            "url": format!("{base}/repos/{owner}/{name}/issues/{number}"),
            "repository_url": format!("{base}/repos/{owner}/{name}"),
            "html_url": format!("https://github.com/{owner}/{name}/issues/{number}"),
        })
    }
}

/// Weak comparison of entity tags (RFC 9110 §8.8.3.2), which `If-None-Match` uses.
fn weak_eq(a: &str, b: &str) -> bool {
    a.trim_start_matches("W/") == b.trim_start_matches("W/")
}

/// The credential in an `Authorization` value: `token X`, `Bearer X` (any case), or Basic `user:X`.
/// Anything else is returned whole (and will be a bad credential).
fn credential(value: &str) -> String {
    let value = value.trim();
    let (scheme, rest) = value.split_once(' ').unwrap_or(("", value));
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("token") || scheme.eq_ignore_ascii_case("bearer") {
        return rest.to_string();
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64_decode(rest).and_then(|bytes| String::from_utf8(bytes).ok());
        if let Some((_, password)) = decoded.as_deref().and_then(|s| s.split_once(':')) {
            return password.to_string();
        }
    }
    // GitHub wants a scheme: a bare token is not a credential it accepts.
    format!("(no scheme) {value}")
}

fn base64_decode(input: &str) -> Option<Vec<u8>> {
    let (mut out, mut acc, mut bits) = (Vec::new(), 0u32, 0u32);
    for c in input.bytes().filter(|&c| c != b'=') {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

fn header_string(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

async fn handle(State(world): State<Arc<Mutex<World>>>, req: Request) -> Response {
    let who = header_string(req.headers(), header::AUTHORIZATION).map(|v| credential(&v)).unwrap_or_default();
    {
        let mut w = lock(&world);
        if w.drop_connections > 0 {
            w.drop_connections -= 1;
            let path = req.uri().path_and_query().map_or_else(String::new, |pq| pq.as_str().to_string());
            let (method, token) = (req.method().to_string(), Some(who.clone()).filter(|t| !t.is_empty()));
            let (body_len, body_sha256) = (0, String::new());
            let headers = Vec::new();
            w.log.push(LoggedRequest {
                method,
                path,
                token,
                if_none_match: None,
                status: 0,
                user_agent: None,
                body_len,
                body_sha256,
                headers,
                watched: None,
            });
            drop(w);
            // Unwinding out of the connection's task makes hyper drop the socket unanswered;
            // `resume_unwind` skips the panic hook, so nothing is printed.
            std::panic::resume_unwind(Box::new("fake GitHub: connection dropped"));
        }
    }
    let (delay, read_delay) = {
        let mut w = lock(&world);
        let (now, max) = w.concurrent.entry(who.clone()).or_default();
        *now += 1;
        *max = (*max).max(*now);
        (w.delay, if req.method() == Method::GET { w.read_delay } else { Duration::ZERO })
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let (parts, body) = req.into_parts();
    // Large enough for a GraphQL mutation that commits files of several megabytes (issue #19).
    let body = axum::body::to_bytes(body, 256 << 20).await.map(|b| b.to_vec()).unwrap_or_default();
    let response = answer(&world, Request::from_parts(parts, Body::empty()), body);
    if !read_delay.is_zero() {
        tokio::time::sleep(read_delay).await;
    }
    if let Some((now, _)) = lock(&world).concurrent.get_mut(&who) {
        *now -= 1;
    }
    response
}

fn answer(world: &Arc<Mutex<World>>, req: Request, body: Vec<u8>) -> Response {
    let headers = req.headers();
    let incoming = Incoming {
        method: req.method().clone(),
        path: req.uri().path().to_string(),
        query: req.uri().query().unwrap_or("").to_string(),
        token: header_string(headers, header::AUTHORIZATION).map(|v| credential(&v)),
        if_none_match: header_string(headers, header::IF_NONE_MATCH),
        if_modified_since: header_string(headers, header::IF_MODIFIED_SINCE),
        body,
    };
    let reply = {
        let mut w = lock(world);
        let write = incoming.method != Method::GET && incoming.method != Method::HEAD;
        let watched = w.watched.as_ref().filter(|_| write).map(|p| std::fs::read_to_string(p).unwrap_or_default());
        let reply = w.answer(&incoming);
        w.log.push(LoggedRequest {
            method: incoming.method.to_string(),
            path: req.uri().path_and_query().map_or_else(|| incoming.path.clone(), |pq| pq.as_str().to_string()),
            token: incoming.token.clone(),
            if_none_match: incoming.if_none_match.clone(),
            status: reply.status,
            user_agent: header_string(headers, header::USER_AGENT),
            body_len: incoming.body.len(),
            body_sha256: Sha256::digest(&incoming.body).iter().map(|b| format!("{b:02x}")).collect(),
            headers: headers
                .iter()
                .filter(|(name, _)| *name != header::AUTHORIZATION)
                .map(|(name, value)| {
                    (name.as_str().to_string(), String::from_utf8_lossy(value.as_bytes()).into_owned())
                })
                .collect(),
            watched,
        });
        reply
    };
    let mut builder = Response::builder().status(reply.status);
    for (name, value) in &reply.headers {
        builder = builder.header(*name, value);
    }
    // HEAD is answered like GET, without the body (but with the GET body's length).
    let body = if incoming.method == Method::HEAD && reply.status != 304 {
        builder = builder.header(header::CONTENT_LENGTH, reply.body.len());
        Body::empty()
    } else {
        Body::from(reply.body)
    };
    builder.body(body).unwrap_or_else(|e| {
        let mut response = Response::new(Body::from(format!("fake GitHub: bad response: {e}")));
        *response.status_mut() = axum::http::StatusCode::INTERNAL_SERVER_ERROR;
        response
    })
}
