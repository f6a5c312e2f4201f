//! The agent-fleet replay of issue #8, and the cache filler of its memory measurements; run by
//! `benches/load/compare.sh` against `examples/fast_github`.
//!
//! ```sh
//! fleet_replay replay --target URL --fake URL [--name NAME] [--agents 50] [--ops 5000] [--repos 10]
//!                     [--pulls 20] [--write-percent 5] [--think-ms 750] [--seed 1]
//! fleet_replay fill --target URL --count N [--concurrency 32] [--path /repos/acme/bench-2k/issues]
//! ```
//!
//! `replay`: N agents, each with its own token, work on M repositories the way coding agents do:
//! list pull requests, view one (REST and gh's GraphQL), read its comments and files, list issues
//! (GraphQL, as `gh issue list`), and now and then (5%) comment on a pull request and read the thread
//! back. First they all ask for one resource at the same moment (a thundering herd: how many of those
//! reach GitHub shows coalescing). It counts, from the client side, reads whose answer lacks the
//! agent's own comment just written (stale reads after own write), and the minimum rate-limit points
//! any cache could have spent: the number of distinct resource versions read. From the fake's
//! accounting it takes upstream requests, points and 304s. Prints one JSON line.
//!
//! `fill`: `count` GETs with unique query strings (every one a cache miss that is stored).

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const PR_QUERY: &str = "query PullRequestByNumber($owner: String!, $repo: String!, $pr_number: Int!) {
  repository(owner: $owner, name: $repo) {
    pullRequest(number: $pr_number) {
      id number title state body url author { login }
      comments(first: 100) { totalCount nodes { id databaseId author { login } body createdAt } }
    }
  }
}";
const ISSUES_QUERY: &str =
    "query IssueList($owner: String!, $repo: String!, $limit: Int, $states: [IssueState!] = OPEN) {
  repository(owner: $owner, name: $repo) {
    hasIssuesEnabled
    issues(first: $limit, orderBy: {field: CREATED_AT, direction: DESC}, states: $states) {
      totalCount nodes { number title state labels(first: 10) { nodes { name } } }
    }
  }
}";

#[derive(Debug, Clone)]
struct Settings {
    target: String,
    fake: String,
    name: String,
    agents: usize,
    ops: usize,
    repos: usize,
    pulls: usize,
    write_percent: u64,
    think_ms: u64,
    seed: u64,
    count: u64,
    concurrency: usize,
    path: String,
}

fn usage() -> ! {
    eprintln!("usage: fleet_replay replay --target URL --fake URL [options] | fill --target URL --count N [options]");
    std::process::exit(2)
}

fn parse_args() -> (String, Settings) {
    let mut args = std::env::args().skip(1);
    let command = args.next().unwrap_or_else(|| usage());
    let mut s = Settings {
        target: String::new(),
        fake: String::new(),
        name: "replay".into(),
        agents: 50,
        ops: 5000,
        repos: 10,
        pulls: 20,
        write_percent: 5,
        think_ms: 750,
        seed: 1,
        count: 10_000,
        concurrency: 32,
        path: "/repos/acme/bench-2k/issues".into(),
    };
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_else(|| usage());
        let number = || value.parse::<u64>().unwrap_or_else(|_| usage());
        match flag.as_str() {
            "--target" => s.target = value.trim_end_matches('/').to_string(),
            "--fake" => s.fake = value.trim_end_matches('/').to_string(),
            "--name" => s.name = value.clone(),
            "--agents" => s.agents = number().max(1) as usize,
            "--ops" => s.ops = number() as usize,
            "--repos" => s.repos = number().max(1) as usize,
            "--pulls" => s.pulls = number().max(1) as usize,
            "--write-percent" => s.write_percent = number().min(100),
            "--think-ms" => s.think_ms = number(),
            "--seed" => s.seed = number(),
            "--count" => s.count = number(),
            "--concurrency" => s.concurrency = number().max(1) as usize,
            "--path" => s.path = value.clone(),
            _ => usage(),
        }
    }
    if s.target.is_empty() || (command == "replay" && s.fake.is_empty()) {
        usage()
    }
    (command, s)
}

fn main() {
    let (command, settings) = parse_args();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build();
    let runtime = runtime.unwrap_or_else(|e| fail(&format!("no runtime: {e}")));
    let result = match command.as_str() {
        "replay" => runtime.block_on(replay(settings)),
        "fill" => runtime.block_on(fill(settings)),
        _ => usage(),
    };
    match result {
        Ok(value) => println!("{value}"),
        Err(e) => fail(&e),
    }
}

fn fail(message: &str) -> ! {
    eprintln!("fleet_replay: {message}");
    std::process::exit(1)
}

/// xorshift64*: reproducible per agent without a dependency.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// What every agent shares: the versions of what it reads (mirroring the fake's world, so the
/// minimum number of upstream fetches can be counted) and the tallies.
#[derive(Default)]
struct Shared {
    /// (repo) → writes so far; (repo, pull) → writes so far.
    repo_versions: Mutex<Vec<u64>>,
    pull_versions: Mutex<Vec<Vec<u64>>>,
    versions_read: Mutex<HashSet<String>>,
    reads: AtomicU64,
    writes: AtomicU64,
    served_from_cache: AtomicU64,
    stale_after_write: AtomicU64,
    /// Of those, the GraphQL ones (`gh pr view --comments`).
    stale_graphql: AtomicU64,
    errors: AtomicU64,
    first_error: Mutex<Option<String>>,
}

struct Agent {
    client: reqwest::Client,
    base: String,
    token: String,
    shared: Arc<Shared>,
}

impl Agent {
    fn error(&self, what: String) {
        self.shared.errors.fetch_add(1, Ordering::Relaxed);
        self.shared.first_error.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(what);
    }

    /// A read, counted as one version of `resource`; returns the JSON answer.
    async fn read(&self, resource: String, request: reqwest::RequestBuilder) -> Option<Value> {
        self.shared.reads.fetch_add(1, Ordering::Relaxed);
        self.shared.versions_read.lock().unwrap_or_else(|p| p.into_inner()).insert(resource.clone());
        let answer = request
            .header("authorization", format!("token {}", self.token))
            .header("accept", "application/vnd.github+json")
            .send()
            .await;
        let response = match answer {
            Ok(r) => r,
            Err(e) => {
                self.error(format!("{resource}: {e}"));
                return None;
            }
        };
        let label = ["x-ghpool-cache", "x-cache-status"]
            .iter()
            .find_map(|h| response.headers().get(*h).and_then(|v| v.to_str().ok()).map(str::to_string));
        if matches!(label.as_deref(), Some("HIT" | "STALE" | "UPDATING")) {
            self.shared.served_from_cache.fetch_add(1, Ordering::Relaxed);
        }
        let status = response.status();
        if !status.is_success() {
            self.error(format!("{resource}: status {status}"));
            return None;
        }
        response.json::<Value>().await.map_err(|e| self.error(format!("{resource}: {e}"))).ok()
    }

    async fn rest(&self, resource: String, path: &str) -> Option<Value> {
        let request = self.client.get(format!("{}{path}", self.base));
        self.read(resource, request).await
    }

    async fn graphql(&self, resource: String, query: &str, variables: Value) -> Option<Value> {
        let body = json!({ "query": query, "variables": variables });
        let request = self.client.post(format!("{}/graphql", self.base)).json(&body);
        self.read(resource, request).await
    }

    fn repo_version(&self, repo: usize) -> u64 {
        self.shared.repo_versions.lock().unwrap_or_else(|p| p.into_inner())[repo]
    }

    fn pull_version(&self, repo: usize, pull: usize) -> u64 {
        self.shared.pull_versions.lock().unwrap_or_else(|p| p.into_inner())[repo][pull - 1]
    }

    /// One operation of the mix.
    async fn operation(&self, rng: &mut Rng, s: &Settings, home: usize) {
        let repo = if rng.below(5) == 0 { rng.below(s.repos as u64) as usize } else { home };
        // Agents crowd on a few pull requests: low numbers are much likelier.
        let u = rng.unit();
        let pull = 1 + ((u * u * s.pulls as f64) as usize).min(s.pulls - 1);
        let r = format!("/repos/acme/repo{repo}");
        let vars = json!({ "owner": "acme", "repo": format!("repo{repo}"), "pr_number": pull });
        if rng.below(100) < s.write_percent {
            return self.write_then_read(repo, pull).await;
        }
        match rng.below(95) {
            0..=19 => {
                let v = self.repo_version(repo);
                self.rest(format!("pulls {repo} v{v}"), &format!("{r}/pulls?state=open&per_page=30")).await;
            }
            20..=34 => {
                let v = self.pull_version(repo, pull);
                self.rest(format!("pull {repo}/{pull} v{v}"), &format!("{r}/pulls/{pull}")).await;
            }
            35..=49 => {
                let v = self.pull_version(repo, pull);
                let path = format!("{r}/issues/{pull}/comments?per_page=100");
                self.rest(format!("comments {repo}/{pull} v{v}"), &path).await;
            }
            50..=64 => {
                self.rest(format!("files {repo}/{pull}"), &format!("{r}/pulls/{pull}/files?per_page=100")).await;
            }
            65..=79 => {
                let v = self.pull_version(repo, pull);
                self.graphql(format!("gql pull {repo}/{pull} v{v}"), PR_QUERY, vars).await;
            }
            _ => {
                let vars = json!({ "owner": "acme", "repo": format!("repo{repo}"), "limit": 30 });
                self.graphql(format!("gql issues {repo}"), ISSUES_QUERY, vars).await;
            }
        }
    }

    /// Comment on a pull request, then read the thread back twice (REST as `gh api`, GraphQL as
    /// `gh pr view --comments`): an answer without the new comment is a stale read after own write.
    async fn write_then_read(&self, repo: usize, pull: usize) {
        let url = format!("{}/repos/acme/repo{repo}/issues/{pull}/comments", self.base);
        let answer = self
            .client
            .post(url)
            .header("authorization", format!("token {}", self.token))
            .json(&json!({ "body": "Looks good to me." }))
            .send()
            .await;
        let id = match answer {
            Ok(r) if r.status().as_u16() == 201 => r.json::<Value>().await.ok().and_then(|v| v["id"].as_u64()),
            Ok(r) => {
                self.error(format!("comment on repo{repo}#{pull}: status {}", r.status()));
                None
            }
            Err(e) => {
                self.error(format!("comment on repo{repo}#{pull}: {e}"));
                None
            }
        };
        let Some(id) = id else { return };
        self.shared.writes.fetch_add(1, Ordering::Relaxed);
        {
            self.shared.repo_versions.lock().unwrap_or_else(|p| p.into_inner())[repo] += 1;
            self.shared.pull_versions.lock().unwrap_or_else(|p| p.into_inner())[repo][pull - 1] += 1;
        }
        let v = self.pull_version(repo, pull);
        let path = format!("/repos/acme/repo{repo}/issues/{pull}/comments?per_page=100");
        if let Some(list) = self.rest(format!("comments {repo}/{pull} v{v}"), &path).await {
            let seen = list.as_array().is_some_and(|l| l.iter().any(|c| c["id"].as_u64() == Some(id)));
            if !seen {
                self.shared.stale_after_write.fetch_add(1, Ordering::Relaxed);
            }
        }
        let vars = json!({ "owner": "acme", "repo": format!("repo{repo}"), "pr_number": pull });
        if let Some(answer) = self.graphql(format!("gql pull {repo}/{pull} v{v}"), PR_QUERY, vars).await {
            let nodes = &answer["data"]["repository"]["pullRequest"]["comments"]["nodes"];
            let seen = nodes.as_array().is_some_and(|l| l.iter().any(|c| c["databaseId"].as_u64() == Some(id)));
            if !seen {
                self.shared.stale_after_write.fetch_add(1, Ordering::Relaxed);
                self.shared.stale_graphql.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

async fn replay(s: Settings) -> Result<Value, String> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(s.agents)
        .build()
        .map_err(|e| e.to_string())?;
    let reset = client.post(format!("{}/__reset", s.fake)).send().await.map_err(|e| format!("fake: {e}"))?;
    if !reset.status().is_success() {
        return Err(format!("fake: /__reset answered {}", reset.status()));
    }
    let shared = Arc::new(Shared {
        repo_versions: Mutex::new(vec![0; s.repos]),
        pull_versions: Mutex::new(vec![vec![0; s.pulls]; s.repos]),
        ..Shared::default()
    });
    let started = Instant::now();
    let barrier = Arc::new(tokio::sync::Barrier::new(s.agents));
    let per_agent = s.ops / s.agents;
    let extra = s.ops % s.agents;
    let mut tasks = Vec::new();
    for i in 0..s.agents {
        let agent = Agent {
            client: client.clone(),
            base: s.target.clone(),
            token: format!("ghp_bench_agent{i}"),
            shared: shared.clone(),
        };
        let (s, barrier) = (s.clone(), barrier.clone());
        let ops = per_agent + usize::from(i < extra);
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng::new(s.seed.wrapping_add(i as u64 * 7919));
            // The herd: every agent asks for the same uncached resource at the same moment.
            barrier.wait().await;
            agent.rest("herd".into(), "/repos/acme/repo0/pulls/1/files?per_page=100&herd=1").await;
            for _ in 0..ops {
                if s.think_ms > 0 {
                    tokio::time::sleep(Duration::from_millis(rng.below(2 * s.think_ms + 1))).await;
                }
                agent.operation(&mut rng, &s, i % s.repos).await;
            }
        }));
    }
    for task in tasks {
        task.await.map_err(|e| format!("an agent failed: {e}"))?;
    }
    let seconds = started.elapsed().as_secs_f64();
    let stats: Value = client
        .get(format!("{}/__stats", s.fake))
        .send()
        .await
        .map_err(|e| format!("fake: {e}"))?
        .json()
        .await
        .map_err(|e| format!("fake: {e}"))?;
    let kind = |k: &str| stats["by_kind"][k].as_u64().unwrap_or(0);
    let points = |k: &str| stats["points_by_kind"][k].as_u64().unwrap_or(0);
    let (read_points, write_points) = (points("read") + points("graphql"), points("write"));
    // `/user` (ghpool's audit names each writer once) and `/rate_limit` are not reads.
    let meta = kind("meta");
    let herd = stats["herd"].as_u64().unwrap_or(0);
    let count = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let errors = count(&shared.errors);
    let versions = shared.versions_read.lock().unwrap_or_else(|p| p.into_inner()).len();
    Ok(json!({
        "name": s.name,
        "config": { "agents": s.agents, "operations": s.ops, "repos": s.repos, "pulls": s.pulls,
                    "write_percent": s.write_percent, "think_ms": s.think_ms, "seed": s.seed },
        "client_requests": count(&shared.reads) + count(&shared.writes),
        "client_reads": count(&shared.reads),
        "writes": count(&shared.writes),
        "served_from_cache": count(&shared.served_from_cache),
        "upstream_requests": stats["requests"].as_u64().unwrap_or(0),
        "upstream_reads": kind("read") + kind("graphql"),
        "upstream_meta": meta,
        "read_points": read_points,
        "write_points": write_points,
        "not_modified": stats["not_modified"].as_u64().unwrap_or(0),
        "herd": { "clients": s.agents, "upstream": herd, "coalesced": (s.agents as u64).saturating_sub(herd) },
        "coalesced": (s.agents as u64).saturating_sub(herd),
        "minimum_points": versions,
        "stale_after_write": count(&shared.stale_after_write),
        "stale_graphql": count(&shared.stale_graphql),
        "errors": errors,
        "first_error": shared.first_error.lock().unwrap_or_else(|p| p.into_inner()).clone(),
        "seconds": seconds,
    }))
}

/// `count` unique-key GETs, `concurrency` at a time.
async fn fill(s: Settings) -> Result<Value, String> {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().map_err(|e| e.to_string())?;
    let next = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let salt = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let mut tasks = Vec::new();
    for _ in 0..s.concurrency {
        let (client, next, failed, s) = (client.clone(), next.clone(), failed.clone(), s.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= s.count {
                    return;
                }
                let url = format!("{}{}?fill={salt}-{n}", s.target, s.path);
                let ok = match client.get(url).header("authorization", "token ghp_bench_filler").send().await {
                    Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                    Err(_) => false,
                };
                if !ok {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for task in tasks {
        task.await.map_err(|e| format!("a filler failed: {e}"))?;
    }
    let failed = failed.load(Ordering::Relaxed);
    if failed > 0 {
        return Err(format!("{failed} of {} requests failed", s.count));
    }
    Ok(json!({ "requests": s.count, "seconds": started.elapsed().as_secs_f64() }))
}
