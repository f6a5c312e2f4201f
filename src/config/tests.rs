//! The configuration's contract: every key, its environment override, its default and its errors.

use super::*;

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[test]
fn unknown_ghpool_variables_are_warned_about() {
    let c = Config::parse(
        None,
        &env(&[("GHPOOL_CACHE_TTLL", "5s"), ("GHPOOL_PAT_A", "env:X"), ("GHPOOL_ALLOWED_OWNERS", "o"), ("HOME", "/")]),
    )
    .unwrap();
    assert_eq!(c.warnings.iter().filter(|w| w.contains("is not a ghpool setting")).count(), 1, "{:?}", c.warnings);
    assert!(c.warnings.iter().any(|w| w.starts_with("GHPOOL_CACHE_TTLL")), "{:?}", c.warnings);
}

fn keys(issues: &[ConfigIssue]) -> Vec<&str> {
    issues.iter().map(|i| i.key.as_str()).collect()
}

#[test]
fn empty_config_is_anonymous_and_serves_everyone() {
    let c = Config::parse(None, &env(&[])).unwrap();
    assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
    assert_eq!(c.upstream.base_url(), DEFAULT_UPSTREAM);
    assert_eq!(c.owners, OwnerPolicy::AllowAll);
    assert!(c.identities.is_empty());
    assert_eq!(c.cache.ttl, Duration::from_secs(60));
    assert_eq!(c.cache.graphql_ttl, Duration::from_secs(60));
    assert_eq!(c.cache.max_size, 256 * 1024 * 1024);
    assert!(c.warnings.iter().any(|w| w.contains("no identities")));
}

#[test]
fn env_overrides_file() {
    let toml = r#"
        listen = "127.0.0.1:9000"
        upstream = "http://127.0.0.1:1"
        allowed_owners = ["Acme"]
        [cache]
        ttl = "30s"
        max_size = "1MiB"
        [[identities]]
        id = "a"
        token = "env:TOKEN_A"
    "#;
    let e = env(&[
        ("GHPOOL_PORT", "9100"),
        ("GHPOOL_ALLOWED_OWNERS", "octo, Widgets"),
        ("GHPOOL_CACHE_GRAPHQL_TTL", "2m"),
        ("GHPOOL_PAT_B", "env:TOKEN_B"),
    ]);
    let c = Config::parse(Some(toml), &e).unwrap();
    assert_eq!(c.listen.to_string(), "127.0.0.1:9100");
    assert_eq!(c.upstream.base_url(), "http://127.0.0.1:1");
    assert_eq!(c.owners, OwnerPolicy::Only(["octo".to_string(), "widgets".to_string()].into()));
    assert_eq!(c.cache.ttl, Duration::from_secs(30));
    assert_eq!(c.cache.graphql_ttl, Duration::from_secs(120));
    assert_eq!(c.cache.max_size, 1024 * 1024);
    let ids: Vec<&str> = c.identities.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(ids, ["a", "b"]);
}

/// name, config.toml, environment, key named, text in its message.
type Case<'a> = (&'a str, Option<&'a str>, &'a [(&'a str, &'a str)], &'a str, &'a str);

#[test]
fn each_error_class_names_its_key() {
    let cases: &[Case] = &[
        ("bad toml", Some("listen = \n"), &[], "toml", "line 1"),
        ("unknown key", Some("listne = \"x\""), &[], "toml", "listne"),
        ("unknown cache key", Some("[cache]\nttl2 = 1"), &[], "toml", "ttl2"),
        ("bad duration", Some("[cache]\nttl = \"soon\""), &[], "cache.ttl", "soon"),
        ("bad env duration", None, &[("GHPOOL_CACHE_TTL", "x")], "GHPOOL_CACHE_TTL", "duration"),
        ("bad size", Some("[cache]\nmax_size = \"lots\""), &[], "cache.max_size", "lots"),
        ("zero size", None, &[("GHPOOL_CACHE_MAX_SIZE", "0")], "GHPOOL_CACHE_MAX_SIZE", "zero"),
        ("no allowlist", None, &[("GHPOOL_PAT_A", "env:X")], "allowed_owners", "no owner"),
        (
            "bad secret ref",
            None,
            &[("GHPOOL_PAT_A", "vault:x"), ("GHPOOL_ALLOWED_OWNERS", "o")],
            "GHPOOL_PAT_A",
            "vault",
        ),
        (
            "bad toml secret ref",
            Some("allowed_owners=[\"o\"]\n[[identities]]\nid=\"a\"\ntoken=\"k8s:x\""),
            &[],
            "identities[0].token",
            "k8s",
        ),
        ("bad listen", None, &[("GHPOOL_LISTEN", "nowhere")], "GHPOOL_LISTEN", "nowhere"),
        ("bad port", None, &[("GHPOOL_PORT", "99999")], "GHPOOL_PORT", "99999"),
        ("bad upstream", None, &[("GHPOOL_UPSTREAM", "ftp://x")], "GHPOOL_UPSTREAM", "http"),
        ("bad public url", Some("public_url = \"ghpool:8080\""), &[], "public_url", "ghpool:8080"),
        ("bad rule glob", Some("[[cache.rules]]\npath = \"/repos/[\"\nttl = 1"), &[], "cache.rules[0].path", "glob"),
        ("bad rule ttl", Some("[[cache.rules]]\npath = \"/x*\"\nttl = \"soon\""), &[], "cache.rules[0].ttl", "soon"),
        ("bad owner", None, &[("GHPOOL_ALLOWED_OWNERS", "a/b")], "GHPOOL_ALLOWED_OWNERS", "a/b"),
        ("bad public path", Some("[access]\npublic_paths = [\"meta\"]"), &[], "access.public_paths", "meta"),
        (
            "bad graphql field",
            Some("[access]\ngraphql_unscoped_fields = [\"a b\"]"),
            &[],
            "access.graphql_unscoped_fields",
            "a b",
        ),
    ];
    for (name, toml, vars, key, needle) in cases {
        let issues = Config::parse(*toml, &env(vars)).expect_err(name);
        let found = issues.iter().find(|i| i.key == *key);
        let found = found.unwrap_or_else(|| panic!("{name}: no issue for {key} in {issues:?}"));
        assert!(found.message.contains(needle), "{name}: {found:?}");
    }
}

#[test]
fn all_errors_are_reported_together() {
    let issues =
        Config::parse(Some("[cache]\nttl = \"soon\"\nmax_size = \"lots\""), &env(&[("GHPOOL_PAT_A", "env:X")]))
            .unwrap_err();
    assert_eq!(keys(&issues), ["cache.ttl", "cache.max_size", "allowed_owners"]);
}

#[test]
fn literal_tokens_warn_and_never_show() {
    let c = Config::parse(None, &env(&[("GHPOOL_PAT_A", "ghp_abcdef"), ("GHPOOL_ALLOWED_OWNERS", "o")])).unwrap();
    assert!(c.warnings.iter().any(|w| w.contains("literal token")));
    assert!(!format!("{c:?} {:?}", c.warnings).contains("ghp_abcdef"));
}

#[test]
fn allow_all_owners_replaces_the_list() {
    let c = Config::parse(Some("allow_all_owners = true"), &env(&[("GHPOOL_PAT_A", "env:X")])).unwrap();
    assert_eq!(c.owners, OwnerPolicy::AllowAll);
}

#[test]
fn example_config_loads() {
    let text = include_str!("../../config.example.toml");
    let c = Config::parse(Some(text), &env(&[])).unwrap();
    assert!(!c.identities.is_empty());
    assert_eq!(c.apps.len(), 1, "the documented [[apps]] entry is valid");
    assert_eq!(c.secrets_refresh, Duration::from_secs(300));
    assert!(matches!(c.owners, OwnerPolicy::Only(_)));
}

#[test]
fn the_settings_table_names_each_setting_once() {
    let (mut envs, mut keys) = (HashSet::new(), HashSet::new());
    for s in settings::SETTINGS {
        assert!(s.env.starts_with("GHPOOL_"), "{}", s.env);
        assert!(envs.insert(s.env), "{} twice", s.env);
        assert!(keys.insert(s.toml), "{} twice", s.toml);
        assert!(unknown_env(&env(&[(s.env, "x")])).is_empty(), "{} is read", s.env);
    }
    for name in OTHER_ENV {
        assert!(!envs.contains(name), "{name} is in the table and in the other list");
    }
}

#[test]
fn each_kind_of_setting_is_read_from_either_place() {
    let from_file = Config::parse(
        Some("secrets_refresh = 30\n[pool]\nmax_in_flight = 7\n[fairness]\nper_client_per_minute = 60\n"),
        &env(&[]),
    )
    .unwrap();
    assert_eq!(from_file.secrets_refresh, Duration::from_secs(30));
    assert_eq!(from_file.pool.max_in_flight, 7);
    assert_eq!((from_file.fairness.per_client_per_minute, from_file.fairness.burst), (60, 60), "burst follows");
    let from_env = Config::parse(
        Some("[pool]\nmax_in_flight = 7"),
        &env(&[("GHPOOL_POOL_MAX_IN_FLIGHT", "9"), ("GHPOOL_GRAPHQL_MAX_MUTATION_BODY", "2MiB")]),
    )
    .unwrap();
    assert_eq!(from_env.pool.max_in_flight, 9);
    assert_eq!(from_env.graphql.max_mutation_body, 2 * 1024 * 1024);
    let zero = Config::parse(Some("[pool]\nmax_in_flight = 0"), &env(&[])).unwrap_err();
    assert_eq!(keys(&zero), ["pool.max_in_flight"]);
    let zero = Config::parse(None, &env(&[("GHPOOL_POOL_MAX_IN_FLIGHT", "none")])).unwrap_err();
    assert_eq!(keys(&zero), ["GHPOOL_POOL_MAX_IN_FLIGHT"]);
}

/// Issue #15: `[shared]`, from the file or the environment.
#[test]
fn shared_state_is_configured_with_a_url_a_password_reference_a_prefix_and_a_timeout_15() {
    assert!(Config::parse(None, &env(&[])).unwrap().shared.is_none(), "no Redis: each replica alone");
    let c = Config::parse(
        Some("[shared]\nredis_url = \"rediss://redis.internal:6380/2\"\nredis_password = \"env:REDIS_PASSWORD\"\n"),
        &env(&[]),
    )
    .unwrap();
    let shared = c.shared.unwrap();
    assert_eq!(shared.redis_url, "rediss://redis.internal:6380/2");
    assert_eq!(shared.password, Some(SecretRef::Env("REDIS_PASSWORD".into())));
    assert_eq!((shared.key_prefix.as_str(), shared.timeout), ("ghpool:", Duration::from_millis(50)));
    let c = Config::parse(
        None,
        &env(&[
            ("GHPOOL_REDIS_URL", "redis://r:6379"),
            ("GHPOOL_REDIS_KEY_PREFIX", "prod:"),
            ("GHPOOL_REDIS_TIMEOUT", "20ms"),
        ]),
    )
    .unwrap();
    let shared = c.shared.unwrap();
    assert_eq!((shared.key_prefix.as_str(), shared.timeout), ("prod:", Duration::from_millis(20)));
    for (url, needle) in
        [("http://r:6379", "not a Redis URL"), ("redis://:pw@r:6379", "credentials"), ("r:6379", "not a Redis URL")]
    {
        let issues = Config::parse(None, &env(&[("GHPOOL_REDIS_URL", url)])).unwrap_err();
        assert_eq!(keys(&issues), ["GHPOOL_REDIS_URL"], "{url}");
        assert!(issues[0].message.contains(needle) && !issues[0].message.contains("pw"), "{issues:?}");
    }
    let issues = Config::parse(None, &env(&[("GHPOOL_REDIS_URL", "redis://r"), ("GHPOOL_REDIS_PASSWORD", "hunter2")]))
        .unwrap_err();
    assert_eq!(keys(&issues), ["GHPOOL_REDIS_PASSWORD"], "a password is a secret reference");
    assert!(!format!("{issues:?}").contains("hunter2"));
}

/// Issue #16: agents from the file and the environment, `[access] allow_unkeyed`, and a warning for
/// an agent's repository the allowlist never lets through.
#[test]
fn agents_and_unkeyed_access_16() {
    let toml = r#"
        allowed_owners = ["acme"]
        [access]
        allow_unkeyed = true
        [[agents]]
        id = "triage"
        keys = ["sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"]
        repos = ["acme/widgets", "evil/*"]
        permissions = { issues = "write" }
    "#;
    let vars = [
        ("GHPOOL_PAT_A", "env:X"),
        ("GHPOOL_AGENT_CODER_KEYS", "env:CODER_KEY"),
        ("GHPOOL_AGENT_CODER_REPOS", "acme/*"),
    ];
    let c = Config::parse(Some(toml), &env(&vars)).unwrap();
    assert!(c.access.allow_unkeyed);
    assert_eq!(c.agents.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(), ["coder", "triage"]);
    assert!(c.warnings.iter().any(|w| w.contains("agent `triage`") && w.contains("`evil`")), "{:?}", c.warnings);
    assert!(!c.warnings.iter().any(|w| w.contains("GHPOOL_AGENT")), "known variables: {:?}", c.warnings);
    let strict =
        Config::parse(Some(toml), &env(&[("GHPOOL_PAT_A", "env:X"), ("GHPOOL_ALLOW_UNKEYED", "false")])).unwrap();
    assert!(!strict.access.allow_unkeyed, "the environment wins");
    let bad = Config::parse(None, &env(&[("GHPOOL_PAT_A", "env:X"), ("GHPOOL_AGENT_X_KEYS", "ghpk_literal")]));
    assert!(bad.is_err());
}

/// Issue #17: `[tls]` takes a certificate and a key as secret references (both or neither, never
/// PEM), an optional client CA and plain address; `client_key = "certificate"` needs mutual TLS.
#[test]
fn tls_settings_17() {
    let parse = |toml: Option<&str>, vars: &[(&str, &str)]| Config::parse(toml, &env(vars));
    let c = parse(
        Some("[tls]\ncert = \"file:/etc/ghpool/tls.crt\"\nkey = \"k8s:ghpool/ghpool-tls:tls.key\"\nalso_plain = \"0.0.0.0:8080\"\n"),
        &[],
    )
    .unwrap();
    let tls = c.tls.unwrap();
    assert_eq!(tls.cert, SecretRef::File("/etc/ghpool/tls.crt".into()));
    assert_eq!(tls.also_plain, Some("0.0.0.0:8080".parse().unwrap()));
    assert!(tls.client_ca.is_none());
    assert!(parse(None, &[]).unwrap().tls.is_none(), "plain HTTP by default");
    let c = parse(
        None,
        &[
            ("GHPOOL_TLS_CERT", "env:CERT"),
            ("GHPOOL_TLS_KEY", "env:KEY"),
            ("GHPOOL_TLS_CLIENT_CA", "env:CA"),
            ("GHPOOL_FAIRNESS_CLIENT_KEY", "certificate"),
        ],
    )
    .unwrap();
    assert_eq!(c.tls.unwrap().client_ca, Some(SecretRef::Env("CA".into())));
    assert_eq!(c.fairness.client_key, ClientKey::Certificate);

    type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);
    let cases: &[Case] = &[
        (&[("GHPOOL_TLS_CERT", "env:C")], "tls.key", "missing"),
        (&[("GHPOOL_TLS_KEY", "env:K")], "tls.cert", "missing"),
        (
            &[("GHPOOL_TLS_CERT", "-----BEGIN CERTIFICATE-----"), ("GHPOOL_TLS_KEY", "env:K")],
            "GHPOOL_TLS_CERT",
            "never written",
        ),
        (
            &[("GHPOOL_TLS_CERT", "env:C"), ("GHPOOL_TLS_KEY", "/etc/tls.key")],
            "GHPOOL_TLS_KEY",
            "not a secret reference",
        ),
        (&[("GHPOOL_TLS_CLIENT_CA", "env:CA")], "GHPOOL_TLS_CLIENT_CA", "needs tls.cert"),
        (
            &[("GHPOOL_TLS_CERT", "env:C"), ("GHPOOL_TLS_KEY", "env:K"), ("GHPOOL_TLS_ALSO_PLAIN", "8080")],
            "GHPOOL_TLS_ALSO_PLAIN",
            "address:port",
        ),
        (&[("GHPOOL_FAIRNESS_CLIENT_KEY", "certificate")], "GHPOOL_FAIRNESS_CLIENT_KEY", "mutual TLS"),
        (
            &[("GHPOOL_TLS_CERT", "env:C"), ("GHPOOL_TLS_KEY", "env:K"), ("GHPOOL_FAIRNESS_CLIENT_KEY", "certificate")],
            "GHPOOL_FAIRNESS_CLIENT_KEY",
            "mutual TLS",
        ),
    ];
    for (vars, key, message) in cases {
        let issues = parse(None, vars).expect_err(key);
        assert!(issues.iter().any(|i| i.key == *key && i.message.contains(message)), "{key}: {issues:?}");
    }
    // One certificate name, one agent (however the name is spelled: `agent-1` is `cn:agent-1`).
    let issues = parse(
        None,
        &[
            ("GHPOOL_AGENT_A_CERTIFICATE_SUBJECT", "agent-1"),
            ("GHPOOL_AGENT_A_REPOS", "acme/w"),
            ("GHPOOL_AGENT_B_CERTIFICATE_SUBJECT", "cn:agent-1"),
            ("GHPOOL_AGENT_B_REPOS", "acme/w"),
        ],
    )
    .expect_err("a duplicate");
    assert!(
        issues.iter().any(|i| i.key.ends_with("certificate_subject") && i.message.contains("already names")),
        "{issues:?}"
    );
}
