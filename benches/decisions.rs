//! Micro-benchmarks of the per-request decisions: normalizing and checking a path, classifying it,
//! and picking an identity from pools of 2, 16 and 128 (the pick holds a lock, so its cost under
//! contention matters). Run with `cargo bench --bench decisions`.

use std::collections::HashSet;

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
use ghpool::access::{normalize, Allowlist};
use ghpool::config::OwnerPolicy;
use ghpool::pool::{Member, Pool, RateLimit};
use ghpool::route::classify;
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
        })
        .collect();
    Pool::new(members)
}

fn access(c: &mut Criterion) {
    let allow = Allowlist::new(OwnerPolicy::Only(HashSet::from(["acme".to_string()])));
    c.bench_function("normalize+classify+allowlist /repos/o/r/issues?page=2", |b| {
        b.iter(|| {
            let t = normalize(black_box("/api/v3/repos/acme/widgets/issues?page=2"), "api.github.com").unwrap();
            let route = classify("GET", &t, None, None).unwrap();
            allow.check_rest(&t, |_| None).unwrap();
            route
        })
    });
}

fn pick(c: &mut Criterion) {
    let mut group = c.benchmark_group("Pool::pick");
    for n in [2, 16, 128] {
        let pool = pool_of(n);
        group.bench_with_input(BenchmarkId::new("sequential", n), &pool, |b, pool| {
            b.iter(|| pool.pick(black_box("core")).unwrap())
        });
    }
    group.finish();
}

fn graphql(c: &mut Criterion) {
    let small = r#"{"query": "query Q($o: String!) { repository(owner: $o, name: \"w\") { issues(first: 10) { nodes { title } } } }", "variables": {"o": "acme"}}"#;
    let fields: String = (0..1600).map(|i| format!("f{i}: title ")).collect();
    let big_doc = format!(
        "query Big {{ repository(owner: \"acme\", name: \"w\") {{ issues(first: 100) {{ nodes {{ {fields} }} }} }} }}"
    );
    let big = serde_json::json!({ "query": big_doc }).to_string();
    assert!(big.len() > 15_000);
    let mut group = c.benchmark_group("graphql::parse_request");
    group.bench_function("small", |b| b.iter(|| ghpool::graphql::parse_request(black_box(small.as_bytes())).unwrap()));
    group.bench_function("20KB", |b| b.iter(|| ghpool::graphql::parse_request(black_box(big.as_bytes())).unwrap()));
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
            b.iter(|| ghpool::rewrite::rewrite_body(body.as_bytes(), "https://api.github.com", "http://ghpool:8080"))
        });
    }
    group.finish();
}

criterion_group!(benches, access, pick, graphql, rewrite);
criterion_main!(benches);
