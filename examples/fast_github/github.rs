//! What the fast fake answers, and the per-token accounting the replay reads back.
//!
//! - `GET /repos/{owner}/bench-{2k,20k,200k}/issues` (any query): a JSON list of issues of exactly
//!   2048, 20480 or 204800 bytes, built once, with GitHub's headers (`ETag` token-specific,
//!   `Cache-Control: private, max-age=60`, `Vary: Accept, Authorization`, `Link`, `x-ratelimit-*`).
//! - the replay's world, repositories `acme/repo0..` with pull requests `1..=pulls`:
//!   `GET /repos/acme/{r}`, `…/pulls`, `…/pulls/{n}`, `…/pulls/{n}/files`, `…/issues/{n}/comments`,
//!   `POST …/issues/{n}/comments` (a write: the thread, the pull request and the list change), and
//!   `POST /graphql` for a pull request with its comments (`pullRequest(`) or an issue list (`issues(`).
//! - `GET /user` (`{"login"}`), `GET /rate_limit` (free), 401 for a token not `ghp_bench_<login>`.
//! - `GET /__stats`: requests, rate-limit points, 304s and writes per login and in all, and `herd`:
//!   the requests whose query has `herd=` (the replay's coalescing probe); `POST /__reset` zeroes
//!   them (the world's contents stay).
//!
//! As on GitHub: every request costs its login one point of its resource (`core` or `graphql`) except
//! `/rate_limit` and a `304 Not Modified`; at zero the answer is 403 (GraphQL: 200 with
//! `RATE_LIMITED`). ETags change with the token and with the resource's version.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde::Serialize;
use serde_json::{json, Value};

use crate::Request;

const OWNER: &str = "acme";
const TOKEN_PREFIX: &str = "ghp_bench_";
const LAST_MODIFIED: &str = "Tue, 01 Apr 2025 12:00:00 GMT";
const DOCS: &str = "https://docs.github.com/rest";
/// The load comparison's body sizes, as repository names.
pub const BENCH_SIZES: &[(&str, usize)] = &[("bench-2k", 2048), ("bench-20k", 20 * 1024), ("bench-200k", 200 * 1024)];
/// What GitHub sends on every REST answer besides the budget: these make the head as long as GitHub's.
const COMMON: &str = "x-github-media-type: github.v3; format=json\r\n\
x-github-api-version-selected: 2022-11-28\r\n\
access-control-expose-headers: ETag, Link, Location, Retry-After, X-GitHub-OTP, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Used, X-RateLimit-Resource, X-RateLimit-Reset, X-OAuth-Scopes, X-Accepted-OAuth-Scopes, X-Poll-Interval, X-GitHub-Media-Type, X-GitHub-SSO, X-GitHub-Request-Id, Deprecation, Sunset\r\n\
access-control-allow-origin: *\r\n\
strict-transport-security: max-age=31536000; includeSubdomains; preload\r\n\
x-frame-options: deny\r\n\
x-content-type-options: nosniff\r\n\
x-xss-protection: 0\r\n\
referrer-policy: origin-when-cross-origin, strict-origin-when-cross-origin\r\n\
content-security-policy: default-src 'none'\r\n\
server: github.com\r\n";

#[derive(Debug, Clone)]
pub struct Options {
    /// This server's base URL, written into bodies and `Link` as GitHub writes its own.
    pub base: String,
    pub limit: u64,
    pub repos: usize,
    pub pulls: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options { base: String::new(), limit: 5000, repos: 10, pulls: 20 }
    }
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct Account {
    pub requests: u64,
    pub points: u64,
    pub graphql_points: u64,
    pub not_modified: u64,
    pub writes: u64,
}

#[derive(Debug, Default, Serialize)]
struct Stats {
    requests: u64,
    points: u64,
    not_modified: u64,
    /// `read` (REST GET/HEAD), `write`, `graphql`, `meta` (`/user`, `/rate_limit`), `refused` (401).
    by_kind: BTreeMap<&'static str, u64>,
    points_by_kind: BTreeMap<&'static str, u64>,
    /// Requests whose query string has `herd=`: the replay's probe of request coalescing.
    herd: u64,
    logins: BTreeMap<String, Account>,
}

struct Pull {
    version: u64,
    comments: Vec<(u64, String)>,
}

struct Repo {
    name: String,
    id: u64,
    version: u64,
    pulls: Vec<Pull>,
}

struct State {
    repos: Vec<Repo>,
    next_comment: u64,
}

pub struct World {
    base: String,
    limit: u64,
    reset: u64,
    bench: Vec<(&'static str, Bytes, String)>,
    stats: Mutex<Stats>,
    state: Mutex<State>,
    served: AtomicU64,
}

/// An answer before its head is written.
struct Reply {
    status: u16,
    body: Bytes,
    /// The resource's version when the answer has an ETag (REST reads).
    version: Option<u64>,
    link: Option<String>,
    kind: &'static str,
}

impl Reply {
    fn json(status: u16, value: &Value, kind: &'static str) -> Reply {
        Reply { status, body: Bytes::from(value.to_string()), version: None, link: None, kind }
    }
    fn read(value: &Value, version: u64) -> Reply {
        Reply { version: Some(version), ..Reply::json(200, value, "read") }
    }
    fn error(status: u16, message: &str, kind: &'static str) -> Reply {
        Reply::json(status, &json!({ "message": message, "documentation_url": DOCS }), kind)
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl World {
    pub fn new(o: Options) -> World {
        let bench = BENCH_SIZES
            .iter()
            .map(|&(repo, size)| {
                let link = format!(
                    "<{0}/repositories/1000/issues?page=2>; rel=\"next\", <{0}/repositories/1000/issues?page=9>; rel=\"last\"",
                    o.base
                );
                (repo, Bytes::from(issue_list(&o.base, repo, size)), link)
            })
            .collect();
        let repos = (0..o.repos)
            .map(|i| Repo {
                name: format!("repo{i}"),
                id: 2000 + i as u64,
                version: 0,
                pulls: (0..o.pulls).map(|_| Pull { version: 0, comments: Vec::new() }).collect(),
            })
            .collect();
        World {
            base: o.base,
            limit: o.limit,
            reset: now() + 3600,
            bench,
            stats: Mutex::new(Stats::default()),
            state: Mutex::new(State { repos, next_comment: 1 }),
            served: AtomicU64::new(0),
        }
    }

    /// Answer `req`: the head goes into `out`, the body (if any) is returned.
    pub fn answer(&self, req: &Request, out: &mut Vec<u8>) -> Option<Bytes> {
        let served = self.served.fetch_add(1, Ordering::Relaxed);
        match (req.method.as_str(), req.path.as_str()) {
            ("GET", "/__stats") => {
                let body = Bytes::from(serde_json::to_string(&*lock(&self.stats)).unwrap_or_default());
                return self.finish(req, out, Reply { status: 200, body, version: None, link: None, kind: "" }, None);
            }
            ("POST", "/__reset") => {
                *lock(&self.stats) = Stats::default();
                return self.finish(req, out, Reply::json(200, &json!({}), ""), None);
            }
            _ => {}
        }
        let token = req.authorization.as_deref().map(credential);
        let login = match token {
            None => None,
            Some(t) => match t.strip_prefix(TOKEN_PREFIX).filter(|l| !l.is_empty()) {
                Some(login) => Some(login),
                None => {
                    self.count(req, "refused", Some("(bad token)"), false, false);
                    return self.finish(req, out, Reply::error(401, "Bad credentials", "refused"), None);
                }
            },
        };
        let caller = Caller { login, token: token.unwrap_or(""), served };
        let graphql = req.path == "/graphql";
        if req.path == "/rate_limit" {
            let reply = Reply::json(200, &self.rate_limit(login), "meta");
            self.count(req, "meta", login, false, false);
            return self.finish(req, out, reply, Some(&caller));
        }
        let (used, _) = self.used(login, graphql);
        if used >= self.limit {
            let message = "API rate limit exceeded for user. (fast_github)";
            self.count(req, if graphql { "graphql" } else { "read" }, login, false, false);
            let reply = match graphql {
                true => {
                    Reply::json(200, &json!({ "errors": [{ "type": "RATE_LIMITED", "message": message }] }), "graphql")
                }
                false => Reply::error(403, message, "read"),
            };
            return self.finish(req, out, reply, Some(&caller));
        }
        let mut reply = self.route(req, login);
        if let (Some(version), Some(tags)) = (reply.version, &req.if_none_match) {
            let etag = etag(caller.token, &req.path, &req.query, version);
            if tags.split(',').any(|t| weak_eq(t.trim(), &etag)) {
                reply.status = 304;
                reply.body = Bytes::new();
                self.count(req, reply.kind, login, false, true);
                return self.finish(req, out, reply, Some(&caller));
            }
        }
        self.count(req, reply.kind, login, true, false);
        self.finish(req, out, reply, Some(&caller))
    }

    /// Count a request; `charged` ones cost a point of `core`, or of `graphql` for GraphQL.
    fn count(&self, req: &Request, kind: &'static str, login: Option<&str>, charged: bool, not_modified: bool) {
        let graphql = req.path == "/graphql";
        let mut stats = lock(&self.stats);
        stats.requests += 1;
        stats.points += u64::from(charged);
        stats.herd += u64::from(req.query.contains("herd="));
        stats.not_modified += u64::from(not_modified);
        *stats.by_kind.entry(kind).or_default() += 1;
        *stats.points_by_kind.entry(kind).or_default() += u64::from(charged);
        let name = login.unwrap_or("(anonymous)");
        if !stats.logins.contains_key(name) {
            stats.logins.insert(name.to_string(), Account::default());
        }
        let Some(account) = stats.logins.get_mut(name) else { return };
        account.requests += 1;
        match graphql {
            true => account.graphql_points += u64::from(charged),
            false => account.points += u64::from(charged),
        }
        account.not_modified += u64::from(not_modified);
        account.writes += u64::from(kind == "write");
    }

    /// Points used by `login` on its resource, and the resource's name.
    fn used(&self, login: Option<&str>, graphql: bool) -> (u64, &'static str) {
        let stats = lock(&self.stats);
        let account = stats.logins.get(login.unwrap_or("(anonymous)"));
        match graphql {
            true => (account.map_or(0, |a| a.graphql_points), "graphql"),
            false => (account.map_or(0, |a| a.points), "core"),
        }
    }

    fn rate_limit(&self, login: Option<&str>) -> Value {
        let entry = |graphql| {
            let (used, _) = self.used(login, graphql);
            json!({ "limit": self.limit, "used": used, "remaining": self.limit.saturating_sub(used), "reset": self.reset })
        };
        let core = entry(false);
        json!({ "resources": { "core": core, "graphql": entry(true), "search": entry(false) }, "rate": core })
    }

    fn route(&self, req: &Request, login: Option<&str>) -> Reply {
        let segments: Vec<&str> = req.path.trim_matches('/').split('/').collect();
        let read = req.method == "GET" || req.method == "HEAD";
        match (read, segments.as_slice()) {
            (true, ["user"]) => match login {
                Some(login) => Reply::json(200, &json!({ "login": login, "id": 1, "type": "User" }), "meta"),
                None => Reply::error(401, "Requires authentication", "meta"),
            },
            (true, ["repos", _, repo, "issues"]) => match self.bench.iter().find(|(name, _, _)| name == repo) {
                Some((_, body, link)) => {
                    Reply { status: 200, body: body.clone(), version: Some(0), link: Some(link.clone()), kind: "read" }
                }
                None => self.replay(req, login, &segments),
            },
            (false, ["graphql"]) if req.method == "POST" => self.graphql(&req.body),
            _ => self.replay(req, login, &segments),
        }
    }

    /// The replay's repositories.
    fn replay(&self, req: &Request, login: Option<&str>, segments: &[&str]) -> Reply {
        let mut state = lock(&self.state);
        let not_found = || Reply::error(404, "Not Found", "read");
        let (index, rest) = match segments {
            ["repos", owner, name, rest @ ..] if owner.eq_ignore_ascii_case(OWNER) => {
                match state.repos.iter().position(|r| r.name == *name) {
                    Some(i) => (i, rest),
                    None => return not_found(),
                }
            }
            ["repositories", id, rest @ ..] => match state.repos.iter().position(|r| r.id.to_string() == *id) {
                Some(i) => (i, rest),
                None => return not_found(),
            },
            _ => return not_found(),
        };
        let base = &self.base;
        let number = |s: &str| s.parse::<usize>().ok().filter(|n| (1..=state.repos[index].pulls.len()).contains(n));
        let repo = &state.repos[index];
        let repo_url = format!("{base}/repos/{OWNER}/{}", repo.name);
        match (req.method.as_str(), rest) {
            ("GET" | "HEAD", []) => Reply::read(&repo_json(base, repo), 0),
            ("GET" | "HEAD", ["pulls"]) => {
                let pulls: Vec<Value> =
                    (1..=repo.pulls.len()).map(|n| pull_json(&repo_url, n, &repo.pulls[n - 1])).collect();
                Reply::read(&Value::Array(pulls), repo.version)
            }
            ("GET" | "HEAD", ["pulls", n]) => match number(n) {
                Some(n) => Reply::read(&pull_json(&repo_url, n, &repo.pulls[n - 1]), repo.pulls[n - 1].version),
                None => not_found(),
            },
            ("GET" | "HEAD", ["pulls", n, "files"]) => match number(n) {
                Some(n) => Reply::read(&files_json(&repo_url, n), 0),
                None => not_found(),
            },
            ("GET" | "HEAD", ["issues", n, "comments"]) => match number(n) {
                Some(n) => {
                    let pull = &repo.pulls[n - 1];
                    let comments: Vec<Value> =
                        pull.comments.iter().map(|(id, who)| comment_json(&repo_url, n, *id, who)).collect();
                    Reply::read(&Value::Array(comments), pull.version)
                }
                None => not_found(),
            },
            ("POST", ["issues", n, "comments"]) => match (number(n), login) {
                (Some(n), Some(login)) => {
                    let id = state.next_comment;
                    state.next_comment += 1;
                    let repo = &mut state.repos[index];
                    repo.version += 1;
                    let pull = &mut repo.pulls[n - 1];
                    pull.version += 1;
                    pull.comments.push((id, login.to_string()));
                    Reply::json(201, &comment_json(&repo_url, n, id, login), "write")
                }
                (None, _) => Reply::error(404, "Not Found", "write"),
                (_, None) => Reply::error(401, "Requires authentication", "write"),
            },
            _ => not_found(),
        }
    }

    /// A pull request with its comments (what `gh pr view --comments` asks), or a repository's
    /// issues (`gh issue list`).
    fn graphql(&self, body: &[u8]) -> Reply {
        let Ok(request) = serde_json::from_slice::<Value>(body) else {
            return Reply::error(400, "Problems parsing JSON", "graphql");
        };
        let query = request["query"].as_str().unwrap_or("");
        let vars = &request["variables"];
        let name = vars["repo"].as_str().or(vars["name"].as_str()).unwrap_or("");
        let state = lock(&self.state);
        let Some(repo) = state.repos.iter().find(|r| r.name == name) else {
            let error = json!({ "type": "NOT_FOUND", "message": format!("Could not resolve to a Repository with the name '{OWNER}/{name}'.") });
            return Reply::json(200, &json!({ "data": { "repository": null }, "errors": [error] }), "graphql");
        };
        let data = if query.contains("pullRequest(") {
            let n = vars["number"].as_u64().or(vars["pr_number"].as_u64()).unwrap_or(0) as usize;
            match repo.pulls.get(n.wrapping_sub(1)) {
                Some(pull) => {
                    let nodes: Vec<Value> = pull
                        .comments
                        .iter()
                        .map(|(id, who)| json!({ "id": format!("IC_{id}"), "databaseId": id, "author": { "login": who }, "body": "Looks good to me." }))
                        .collect();
                    json!({ "repository": { "pullRequest": {
                        "number": n, "title": format!("Pull request {n}"), "state": "OPEN",
                        "url": format!("https://github.com/{OWNER}/{}/pull/{n}", repo.name),
                        "comments": { "totalCount": nodes.len(), "nodes": nodes } } } })
                }
                None => json!({ "repository": { "pullRequest": null } }),
            }
        } else if query.contains("issues(") {
            let nodes: Vec<Value> = (1..=20)
                .map(|n| json!({ "number": 100 + n, "title": format!("Issue {n}"), "state": "OPEN", "labels": { "nodes": [] } }))
                .collect();
            json!({ "repository": { "hasIssuesEnabled": true, "issues": { "totalCount": 20, "nodes": nodes } } })
        } else {
            json!({})
        };
        Reply::json(200, &json!({ "data": data }), "graphql")
    }

    /// Write the status line and headers of `reply` into `out`; return its body.
    fn finish(&self, req: &Request, out: &mut Vec<u8>, reply: Reply, caller: Option<&Caller>) -> Option<Bytes> {
        let reason = match reply.status {
            200 => "OK",
            201 => "Created",
            304 => "Not Modified",
            400 => "Bad Request",
            401 => "Unauthorized",
            403 => "Forbidden",
            _ => "Not Found",
        };
        let _ = write!(out, "HTTP/1.1 {} {reason}\r\ndate: ", reply.status);
        with_date(|d| out.extend_from_slice(d.as_bytes()));
        out.extend_from_slice(b"\r\ncontent-type: application/json; charset=utf-8\r\n");
        let has_body = reply.status != 304;
        if has_body {
            let _ = write!(out, "content-length: {}\r\n", reply.body.len());
        }
        if let Some(caller) = caller {
            let graphql = req.path == "/graphql";
            if !graphql {
                let scope = if caller.login.is_some() { "private" } else { "public" };
                let _ = write!(out, "cache-control: {scope}, max-age=60, s-maxage=60\r\n");
                out.extend_from_slice(b"vary: Accept, Authorization, Cookie, X-GitHub-OTP\r\nvary: Accept-Encoding, Accept, X-Requested-With\r\n");
            }
            if let Some(version) = reply.version {
                let _ = write!(
                    out,
                    "etag: {}\r\nlast-modified: {LAST_MODIFIED}\r\n",
                    etag(caller.token, &req.path, &req.query, version)
                );
            }
            if let Some(link) = &reply.link {
                let _ = write!(out, "link: {link}\r\n");
            }
            if caller.login.is_some() {
                out.extend_from_slice(b"x-oauth-scopes: repo, read:org\r\nx-accepted-oauth-scopes: repo\r\ngithub-authentication-token-expiration: 2030-01-01 00:00:00 UTC\r\n");
            }
            let (used, resource) = self.used(caller.login, graphql);
            let _ = write!(
                out,
                "x-ratelimit-limit: {}\r\nx-ratelimit-remaining: {}\r\nx-ratelimit-reset: {}\r\nx-ratelimit-used: {used}\r\nx-ratelimit-resource: {resource}\r\nx-github-request-id: FA57:{:X}:{:08X}\r\n",
                self.limit,
                self.limit.saturating_sub(used),
                self.reset,
                caller.served,
                self.reset
            );
            out.extend_from_slice(COMMON.as_bytes());
        }
        if req.close {
            out.extend_from_slice(b"connection: close\r\n");
        }
        out.extend_from_slice(b"\r\n");
        (has_body && req.method != "HEAD").then_some(reply.body)
    }
}

struct Caller<'a> {
    login: Option<&'a str>,
    token: &'a str,
    served: u64,
}

/// The token in an `Authorization` value: `token X` or `Bearer X`; anything else whole.
fn credential(value: &str) -> &str {
    let (scheme, rest) = value.split_once(' ').unwrap_or(("", value));
    match scheme.eq_ignore_ascii_case("token") || scheme.eq_ignore_ascii_case("bearer") {
        true => rest.trim(),
        false => value,
    }
}

/// GitHub's ETags are weak and token-specific; here they also change with the resource's version.
fn etag(token: &str, path: &str, query: &str, version: u64) -> String {
    let mut h = DefaultHasher::new();
    (token, path, query, version).hash(&mut h);
    let a = h.finish();
    version.hash(&mut h);
    format!("W/\"{a:016x}{:016x}\"", h.finish())
}

fn weak_eq(a: &str, b: &str) -> bool {
    a == "*" || a.trim_start_matches("W/") == b.trim_start_matches("W/")
}

/// `Date` in IMF-fixdate, formatted once a second per thread.
fn with_date(f: impl FnOnce(&str)) {
    thread_local!(static DATE: RefCell<(u64, String)> = const { RefCell::new((0, String::new())) });
    DATE.with(|cell| {
        let mut cell = cell.borrow_mut();
        let secs = now();
        if cell.0 != secs {
            *cell = (secs, http_date(secs));
        }
        f(&cell.1)
    })
}

fn http_date(secs: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let days = (secs / 86_400) as i64;
    let (h, m, s) = (secs % 86_400 / 3600, secs % 3600 / 60, secs % 60);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let weekday = DAYS[(days % 7) as usize];
    format!("{weekday}, {day:02} {} {year} {h:02}:{m:02}:{s:02} GMT", MONTHS[(month - 1) as usize])
}

/// A list of issues of exactly `size` bytes (the last issue's body is padded), with absolute URLs
/// under `base` as GitHub writes them.
fn issue_list(base: &str, repo: &str, size: usize) -> String {
    let issue = |n: usize, body: &str| {
        let url = format!("{base}/repos/{OWNER}/{repo}/issues/{n}");
        json!({
            "url": url, "repository_url": format!("{base}/repos/{OWNER}/{repo}"),
            "labels_url": format!("{url}/labels{{/name}}"), "comments_url": format!("{url}/comments"),
            "events_url": format!("{url}/events"), "html_url": format!("https://github.com/{OWNER}/{repo}/issues/{n}"),
            "id": 1_000_000 + n, "node_id": format!("I_kwDOBench{n:06}"), "number": n,
            "title": format!("Issue {n}: a title about as long as a typical bug report's"),
            "user": { "login": "octocat", "id": 1, "url": format!("{base}/users/octocat"), "type": "User", "site_admin": false },
            "labels": [{ "id": 208_045_946, "name": "bug", "color": "d73a4a", "url": format!("{base}/repos/{OWNER}/{repo}/labels/bug") }],
            "state": "open", "locked": false, "assignees": [], "milestone": null, "comments": 3,
            "created_at": "2025-03-01T12:00:00Z", "updated_at": "2025-03-02T12:00:00Z", "closed_at": null,
            "author_association": "MEMBER", "body": body,
        })
        .to_string()
    };
    let mut items: Vec<String> = Vec::new();
    let len = |items: &[String]| 2 + items.iter().map(|i| i.len() + 1).sum::<usize>() - usize::from(!items.is_empty());
    loop {
        items.push(issue(items.len() + 1, ""));
        if len(&items) > size {
            items.pop();
            break;
        }
    }
    if items.is_empty() {
        items.push(issue(1, ""));
    }
    let missing = size.saturating_sub(len(&items));
    let last = items.len();
    items[last - 1] = issue(last, &"x".repeat(missing));
    format!("[{}]", items.join(","))
}

fn repo_json(base: &str, repo: &Repo) -> Value {
    json!({ "id": repo.id, "name": repo.name, "full_name": format!("{OWNER}/{}", repo.name),
            "owner": { "login": OWNER, "type": "Organization" },
            "url": format!("{base}/repos/{OWNER}/{}", repo.name), "private": false })
}

fn pull_json(repo_url: &str, n: usize, pull: &Pull) -> Value {
    json!({ "url": format!("{repo_url}/pulls/{n}"), "number": n, "state": "open",
            "title": format!("Pull request {n}"), "comments": pull.comments.len(),
            "updated_at": format!("2025-04-01T12:{:02}:{:02}Z", pull.version / 60 % 60, pull.version % 60),
            "comments_url": format!("{repo_url}/issues/{n}/comments"), "merged": false, "draft": false })
}

fn files_json(repo_url: &str, n: usize) -> Value {
    let files: Vec<Value> = (1..=5)
        .map(|f| {
            json!({ "filename": format!("src/module{n}_{f}.rs"), "status": "modified", "additions": 10, "deletions": 2,
                         "contents_url": format!("{repo_url}/contents/src/module{n}_{f}.rs") })
        })
        .collect();
    Value::Array(files)
}

fn comment_json(repo_url: &str, n: usize, id: u64, login: &str) -> Value {
    json!({ "id": id, "url": format!("{repo_url}/issues/comments/{id}"), "issue_url": format!("{repo_url}/issues/{n}"),
            "user": { "login": login }, "body": "Looks good to me." })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bench_bodies_have_their_size() {
        for &(repo, size) in BENCH_SIZES {
            assert_eq!(issue_list("http://127.0.0.1:1", repo, size).len(), size);
        }
    }

    #[test]
    fn dates() {
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(1_743_508_800), "Tue, 01 Apr 2025 12:00:00 GMT");
    }
}
