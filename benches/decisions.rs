//! Micro-benchmarks of the per-request decisions: normalizing and checking a path, classifying it,
//! the allowlist, cache keys, picking an identity from pools of 2, 16 and 128 (the pick holds a
//! lock, so its cost under contention matters), GraphQL parsing and URL rewriting (`Link` headers,
//! bodies). Run with `cargo bench --bench decisions`; the load comparison is `benches/load/compare.sh`.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::{Duration, Instant};

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
use ghpool::admission::access::{normalize, Allowlist};
use ghpool::admission::classify::{classify, Body, GraphqlRules, Parts, Rules};
use ghpool::config::OwnerPolicy;
use ghpool::pool::Want;
use ghpool::pool::{Member, Pool, RateLimit};
use ghpool::ratelimit::Resource;
use ghpool::secrets::Secret;

fn pool_of(n: usize) -> Pool {
    let members = (0..n)
        .map(|i| Member {
            id: format!("id{i}"),
            login: format!("user{i}"),
            token: Some(Secret::new(format!("ghp_{i}"))),
            secret_ref: None,
            first_seen: Some((
                "core".into(),
                RateLimit { limit: 5000, remaining: 4000 + i as u64, used: 1000, reset: u64::MAX },
            )),
            token_expires: None,
            installation: None,
        })
        .collect();
    Pool::new(members)
}

fn access(c: &mut Criterion) {
    let allow = Allowlist::new(OwnerPolicy::Only(HashSet::from(["acme".to_string()])));
    let graphql = GraphqlRules {
        schema: ghpool::admission::graphql::GithubSchema::github(),
        limits: Default::default(),
        max_mutation_body: 1 << 20,
    };
    let repos = ghpool::admission::repos::RepoOwners::default();
    let agents = ghpool::admission::agents::Agents::default();
    let rules = Rules {
        allowlist: &allow,
        graphql: &graphql,
        upstream_host: "api.github.com",
        public_url: None,
        repos: &repos,
        agents: &agents,
        reads_write_bodies: false,
        scheme: "http",
        client_certificate: None,
        mutual_tls: false,
    };
    let mut headers = http::HeaderMap::new();
    headers.insert("host", http::HeaderValue::from_static("ghpool:8080"));
    c.bench_function("classify GET /api/v3/repos/o/r/issues?page=2", |b| {
        b.iter(|| {
            let raw_path = black_box(b"/api/v3/repos/acme/widgets/issues?page=2");
            classify(&Parts { method: "GET", raw_path, headers: &headers }, &Body::None, &rules).unwrap()
        })
    });
}

/// The allowlist alone: an allowed owner, a refused one, a repository reached by id, a GraphQL query.
fn allowlist(c: &mut Criterion) {
    let allow = Allowlist::new(OwnerPolicy::Only(HashSet::from(["acme".to_string(), "acme-labs".to_string()])));
    let allowed = normalize("/repos/Acme/widgets/pulls/12/files?per_page=100", "api.github.com").unwrap();
    let refused = normalize("/repos/other/widgets/issues", "api.github.com").unwrap();
    let by_id = normalize("/repositories/1296269/issues?page=3", "api.github.com").unwrap();
    let mut group = c.benchmark_group("Allowlist");
    group.bench_function("check_rest allowed", |b| b.iter(|| allow.check_rest(black_box(&allowed), |_| None)));
    group.bench_function("check_rest refused", |b| b.iter(|| allow.check_rest(black_box(&refused), |_| None)));
    group.bench_function("check_rest /repositories/{id}", |b| {
        b.iter(|| allow.check_rest(black_box(&by_id), |_| Some("acme".to_string())))
    });
    group.finish();
}

/// Cache keys: the REST and GraphQL primary keys, and `Cache::key`, which also records the key under
/// its invalidation tags (a shared index behind a lock) on every request, hits included.
fn cache_key(c: &mut Criterion) {
    use ghpool::admission::tags;
    use ghpool::cache::{invalidate, key, Cache};
    let headers = |name: &str| match name {
        "accept" => Some("application/vnd.github+json"),
        "x-github-api-version" => Some("2022-11-28"),
        _ => None,
    };
    let query = parse(GRAPHQL_SMALL);
    let config = ghpool::config::Config::load(&HashMap::new()).expect("default configuration");
    let cache = Cache::new(&config.cache, None);
    let target = normalize("/repos/acme/widgets/issues?state=all&per_page=100&page=2", "api.github.com").unwrap();
    let mut group = c.benchmark_group("cache key");
    group.bench_function("rest_key", |b| {
        b.iter(|| key::rest_key(black_box(&target.path), black_box(target.query.as_deref()), headers))
    });
    group.bench_function("graphql_key", |b| {
        b.iter(|| key::graphql_key(black_box(&query.normalized), &query.variables, None, headers))
    });
    let primary = format!("http://ghpool:8080\n{}", key::rest_key(&target.path, target.query.as_deref(), headers));
    let tags = BTreeSet::from([invalidate::Tag::Repo("acme/widgets".to_string())]);
    group.bench_function("Cache::key (same key again, as a hit)", |b| {
        b.iter(|| cache.key(black_box(&primary), tags.clone()))
    });
    let names = ghpool::admission::repos::RepoOwners::default();
    group.bench_function("rest_tags", |b| b.iter(|| tags::rest_tags(black_box(&target), &names)));
    group.finish();
}

fn pick(c: &mut Criterion) {
    let mut group = c.benchmark_group("Pool::pick");
    for n in [2, 16, 128] {
        let pool = pool_of(n);
        group.bench_with_input(BenchmarkId::new("sequential", n), &pool, |b, pool| {
            b.iter(|| pool.try_pick(black_box(&Want::any(Resource::Core)), 1000).unwrap())
        });
        // Every thread picks (and drops its lease) at once: the time per pick as one thread sees it.
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get()).max(2);
        group.bench_with_input(BenchmarkId::new(format!("contended/{threads} threads"), n), &pool, |b, pool| {
            b.iter_custom(|iters| contended(pool, threads, iters))
        });
    }
    group.finish();
}

fn contended(pool: &Pool, threads: usize, iters: u64) -> Duration {
    let barrier = std::sync::Barrier::new(threads);
    let total: Duration = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    let start = Instant::now();
                    for _ in 0..iters {
                        black_box(pool.try_pick(&Want::any(Resource::Core), 1000).unwrap());
                    }
                    start.elapsed()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    total / threads as u32
}

const GRAPHQL_SMALL: &str = r#"{"query": "query Q($o: String!) { repository(owner: $o, name: \"w\") { issues(first: 10) { nodes { title } } } }", "variables": {"o": "acme"}}"#;

/// Parse, validate against GitHub's schema and plan a GraphQL body, under an allowlist of `acme`.
fn parse(body: &str) -> ghpool::admission::graphql::GraphqlRequest {
    use ghpool::admission::graphql::{parse_request, GithubSchema, Limits, Scope};
    let unscoped = BTreeSet::new();
    let scope = Scope { allows: &|owner: &str| owner == "acme", agent: None, screens: true, unscoped_roots: &unscoped };
    parse_request(body.as_bytes(), GithubSchema::github(), &Limits::default(), &scope).expect("a valid, allowed query")
}

fn graphql(c: &mut Criterion) {
    let small = GRAPHQL_SMALL;
    // Within the alias limit: inline fragments repeat what they select, as generated queries do.
    let fields: String = (0..600).map(|_| "... on Issue { title body url number } ").collect();
    let big_doc = format!(
        "query Big {{ repository(owner: \"acme\", name: \"w\") {{ issues(first: 100) {{ nodes {{ {fields} }} }} }} }}"
    );
    let big = serde_json::json!({ "query": big_doc }).to_string();
    assert!(big.len() > 15_000);
    use ghpool::admission::graphql::GithubSchema;
    let mut group = c.benchmark_group("graphql::parse_request");
    GithubSchema::github();
    group.bench_function("small", |b| b.iter(|| parse(black_box(small))));
    group.bench_function("20KB", |b| b.iter(|| parse(black_box(&big))));
    group.finish();
}

/// The cost of pointing a body's URLs at ghpool, per GitHub-like body size.
fn rewrite(c: &mut Criterion) {
    let item = r#"{"id":1,"url":"https://api.github.com/repos/acme/w/issues/1","html_url":"https://github.com/acme/w/issues/1","title":"A title long enough to be typical","state":"open","labels_url":"https://api.github.com/repos/acme/w/issues/1/labels{/name}"},"#;
    let mut group = c.benchmark_group("rewrite::rewrite_body");
    for kib in [2usize, 20, 200] {
        let mut body = String::from("[");
        while body.len() < kib * 1024 {
            body.push_str(item);
        }
        body.pop();
        body.push(']');
        group.throughput(criterion::Throughput::Bytes(body.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(format!("{kib}KiB")), &body, |b, body| {
            b.iter(|| {
                ghpool::upstream::rewrite::rewrite_body(body.as_bytes(), "https://api.github.com", "http://ghpool:8080")
            })
        });
    }
    group.finish();
    let link = "<https://api.github.com/repositories/1296269/issues?page=2>; rel=\"next\", \
                <https://api.github.com/repositories/1296269/issues?page=9>; rel=\"last\"";
    c.bench_function("rewrite::rewrite_header Link", |b| {
        b.iter(|| {
            ghpool::upstream::rewrite::rewrite_header(black_box(link), "https://api.github.com", "http://ghpool:8080")
        })
    });
}

criterion_group!(benches, access, allowlist, cache_key, pick, graphql, rewrite);
criterion_main!(benches);
