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
            let route = classify("GET", &t, None).unwrap();
            allow.check_rest(&t).unwrap();
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

criterion_group!(benches, access, pick);
criterion_main!(benches);
