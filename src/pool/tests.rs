//! The pool's choices, budgets and verdicts.

use super::*;

fn member(id: &str, login: &str, remaining: u64) -> Member {
    Member {
        id: id.into(),
        login: login.into(),
        token: Some(Secret::new(format!("ghp_{id}"))),
        secret_ref: None,
        first_seen: Some(("core".into(), RateLimit { limit: 5000, remaining, used: 5000 - remaining, reset: 2000 })),
        token_expires: None,
        installation: None,
    }
}

fn installation(id: &str, installation_id: u64, account: &str, remaining: u64) -> Member {
    let installation = Installation {
        app_id: 1,
        installation_id,
        account: account.into(),
        login: "app[bot]".into(),
        repositories: Vec::new(),
    };
    Member { login: "app[bot]".into(), installation: Some(installation), ..member(id, "app[bot]", remaining) }
}

#[test]
fn installations_have_budgets_of_their_own_and_serve_only_their_account() {
    let pool = Pool::new(vec![
        installation("acme_bot", 1, "acme", 4000),
        installation("other_bot", 2, "other", 3000),
        member("pat", "alice", 100),
    ]);
    // Same bot login, separate budgets: each keeps what GitHub said of it.
    let remaining: Vec<u64> =
        pool.identities().iter().map(|i| lock(&i.account.budgets).remaining("core", 1000)).collect();
    assert_eq!(remaining, [4000, 3000, 100]);
    let pick = |owners: &[&str]| {
        pool.try_pick(&Want { owners, ..Want::any(Resource::Core) }, 1000).unwrap().identity().id().to_string()
    };
    assert_eq!(pick(&["acme"]), "acme_bot");
    assert_eq!(pick(&["Other"]), "other_bot", "owners compare case-insensitively");
    assert_eq!(pick(&["elsewhere"]), "pat", "only a PAT reads for an owner no installation covers");
    assert_eq!(pick(&["acme", "other"]), "pat", "a read across owners needs an identity that serves all");
    assert_eq!(pick(&[]), "acme_bot", "an owner-free read goes by budget");
    let bot = &pool.identities()[0];
    let tag = bot.token_tag();
    pool.replace_token(bot, Secret::new("ghs_new"), None);
    assert_ne!(bot.token_tag(), tag, "a new token is a new ETag generation");
}

#[test]
fn picks_the_highest_remaining() {
    let pool = Pool::new(vec![member("a", "alice", 100), member("b", "bob", 4000), member("c", "carol", 50)]);
    assert_eq!(pool.try_pick(&Want::any(Resource::Core), 1000).unwrap().identity().id(), "b");
}

#[test]
fn in_flight_spreads_a_burst() {
    let pool = Pool::new(vec![member("a", "alice", 1000), member("b", "bob", 1000)]);
    let leases: Vec<Lease> = (0..50).map(|_| pool.try_pick(&Want::any(Resource::Core), 1000).unwrap()).collect();
    let on_a = leases.iter().filter(|l| l.identity().id() == "a").count();
    assert_eq!(on_a, 25);
    drop(leases);
    assert!(pool.identities().iter().all(|i| i.in_flight.load(Ordering::Relaxed) == 0));
}

#[test]
fn same_login_shares_one_budget() {
    let pool = Pool::new(vec![member("a1", "alice", 1000), member("a2", "Alice", 1000), member("b", "bob", 900)]);
    let (a1, a2) = (&pool.identities()[0], &pool.identities()[1]);
    assert!(Arc::ptr_eq(&a1.account, &a2.account));
    pool.observe(a1, Some(("core".into(), RateLimit { limit: 5000, remaining: 10, used: 4990, reset: 2000 })), 200);
    // a2 never answered anything, but its account is down to 10: bob wins.
    assert_eq!(pool.try_pick(&Want::any(Resource::Core), 1000).unwrap().identity().id(), "b");
    // In-flight on one token of alice counts against the other.
    let pool = Pool::new(vec![member("a1", "alice", 1000), member("a2", "alice", 1000), member("b", "bob", 1000)]);
    let leases: Vec<Lease> = (0..30).map(|_| pool.try_pick(&Want::any(Resource::Core), 1000).unwrap()).collect();
    let on_bob = leases.iter().filter(|l| l.identity().id() == "b").count();
    assert_eq!(on_bob, 15, "alice's two tokens together get as much as bob's one");
}

#[test]
fn exhausted_and_quarantined_are_skipped() {
    let pool = Pool::new(vec![member("a", "alice", 0), member("b", "bob", 10)]);
    assert_eq!(pool.try_pick(&Want::any(Resource::Core), 1000).unwrap().identity().id(), "b");
    let b = pool.identities()[1].clone();
    pool.observe(&b, None, 401);
    assert!(!b.is_usable());
    assert_eq!(
        pool.try_pick(&Want::any(Resource::Core), 1000).unwrap_err(),
        PickError::Exhausted { resource: "core".into(), reset: 2000 }
    );
    assert_eq!(
        pool.try_pick(&Want::any(Resource::Core), 2000).unwrap().identity().id(),
        "a",
        "a passed reset restores a"
    );
    assert_eq!(pool.usable_count(), 1);
}

#[test]
fn the_in_flight_cap_holds_and_waiters_get_a_freed_slot() {
    let pool = Arc::new(Pool::new(vec![member("a", "alice", 1000), member("b", "bob", 1000)]).with_max_in_flight(2));
    let leases: Vec<Lease> = (0..4).map(|_| pool.try_pick(&Want::any(Resource::Core), 1000).unwrap()).collect();
    assert_eq!(pool.try_pick(&Want::any(Resource::Core), 1000).unwrap_err(), PickError::Busy);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let waited = rt.block_on(pool.pick(&Want { wait: Duration::from_millis(50), ..Want::any(Resource::Core) }));
    assert_eq!(waited.unwrap_err(), PickError::Busy, "a bounded wait");
    let (pool2, mut leases) = (pool.clone(), leases);
    let got = rt.block_on(async move {
        let waiter = tokio::spawn(async move {
            pool2.pick(&Want { wait: Duration::from_secs(5), ..Want::any(Resource::Core) }).await
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        leases.pop();
        waiter.await.unwrap()
    });
    assert!(got.is_ok(), "a released slot wakes a waiter");
}

#[test]
fn repeated_secondary_limits_back_off_exponentially() {
    let pool = Pool::new(vec![member("a", "alice", 1000)]);
    let a = pool.identities()[0].clone();
    let until = |pool: &Pool| pool.try_pick(&Want::any(Resource::Core), now_epoch()).unwrap_err();
    pool.secondary_limit(&a, "core");
    let PickError::Exhausted { reset: first, .. } = until(&pool) else { panic!() };
    pool.secondary_limit(&a, "core");
    let PickError::Exhausted { reset: second, .. } = until(&pool) else { panic!() };
    let now = now_epoch();
    assert!((55..=61).contains(&(first - now)), "{}", first - now);
    assert!((115..=121).contains(&(second - now)), "{}", second - now);
    pool.answered(&a);
    assert_eq!(a.secondary_strikes.load(Ordering::Relaxed), 0);
}

#[test]
fn verdicts() {
    let rl = |remaining| RateLimit { limit: 5000, remaining, used: 5000 - remaining, reset: 2000 };
    assert_eq!(judge(200, Some(&rl(10)), None, false, 1000), Judgement::Fine);
    assert_eq!(judge(401, None, None, false, 1000), Judgement::BadCredentials);
    assert_eq!(judge(403, Some(&rl(0)), None, false, 1000), Judgement::Limited { until: 2000 });
    assert_eq!(judge(429, Some(&rl(0)), None, false, 1000), Judgement::Limited { until: 2000 });
    assert_eq!(judge(403, Some(&rl(50)), Some(60), false, 1000), Judgement::Limited { until: 1060 });
    assert_eq!(judge(403, Some(&rl(50)), None, false, 1000), Judgement::Fine, "a permission 403");
    assert_eq!(judge(200, Some(&rl(0)), None, true, 1000), Judgement::Limited { until: 2000 });
    assert_eq!(judge(200, Some(&rl(0)), None, false, 1000), Judgement::Fine, "REST: the last request succeeded");
    assert_eq!(judge(404, Some(&rl(0)), None, false, 1000), Judgement::Fine);
}

#[test]
fn totals_count_each_account_once() {
    let pool = Pool::new(vec![member("a1", "alice", 100), member("a2", "alice", 100), member("b", "bob", 40)]);
    let core = &pool.totals_at(1000)["core"];
    assert_eq!((core.limit, core.remaining, core.reset), (10000, 140, 2000));
    assert_eq!(pool.totals_at(1000)["search"].limit, 60, "unseen resources count GitHub's default per account");
}

#[test]
fn the_fetching_identity_is_preferred_while_it_can_serve() {
    let pool = Pool::new(vec![member("a", "alice", 100), member("b", "bob", 4000)]);
    for (i, remaining) in [(0, 100), (1, 4000)] {
        let seen = RateLimit { limit: 5000, remaining, used: 5000 - remaining, reset: u64::MAX };
        pool.observe(&pool.identities()[i], Some(("core".into(), seen)), 200);
    }
    assert_eq!(
        pool.try_pick(&Want { preferred: Some("a"), ..Want::any(Resource::Core) }, now_epoch())
            .unwrap()
            .identity()
            .id(),
        "a"
    );
    assert_eq!(
        pool.try_pick(&Want { preferred: Some("zz"), ..Want::any(Resource::Core) }, now_epoch())
            .unwrap()
            .identity()
            .id(),
        "b"
    );
    let a = pool.identities()[0].clone();
    pool.observe(&a, None, 401);
    assert_eq!(
        pool.try_pick(&Want { preferred: Some("a"), ..Want::any(Resource::Core) }, now_epoch())
            .unwrap()
            .identity()
            .id(),
        "b",
        "quarantined"
    );
}

#[test]
fn resources_are_separate() {
    let pool = Pool::new(vec![member("a", "alice", 0), member("b", "bob", 10)]);
    let a = pool.identities()[0].clone();
    pool.observe(&a, Some(("search".into(), RateLimit { limit: 30, remaining: 30, used: 0, reset: 2000 })), 200);
    let b = pool.identities()[1].clone();
    pool.observe(&b, Some(("search".into(), RateLimit { limit: 30, remaining: 2, used: 28, reset: 2000 })), 200);
    assert_eq!(pool.try_pick(&Want::any(Resource::Search), 1000).unwrap().identity().id(), "a");
}
