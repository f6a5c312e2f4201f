//! [`classify`], as a table: what each request becomes.

use std::collections::BTreeSet;

use super::*;
use crate::admission::repos::RepoOwners;
use crate::cache::invalidate::{Invalidation, Tag};
use crate::config::OwnerPolicy;

fn rules_for<'a>(allowlist: &'a Allowlist, repos: &'a dyn KnownRepos) -> Rules<'a> {
    static GRAPHQL: std::sync::OnceLock<GraphqlRules> = std::sync::OnceLock::new();
    let graphql = GRAPHQL.get_or_init(|| GraphqlRules {
        schema: GithubSchema::github(),
        limits: Limits::default(),
        max_mutation_body: 1 << 20,
    });
    static AGENTS: std::sync::OnceLock<crate::admission::agents::Agents> = std::sync::OnceLock::new();
    let agents = AGENTS.get_or_init(crate::admission::agents::Agents::default);
    Rules {
        allowlist,
        graphql,
        upstream_host: "api.github.com",
        public_url: None,
        repos,
        agents,
        reads_write_bodies: false,
        scheme: "http",
        client_certificate: None,
        mutual_tls: false,
    }
}

fn acme_only() -> Allowlist {
    Allowlist::new(OwnerPolicy::Only(["acme".to_string()].into()))
}

fn known() -> RepoOwners {
    let repos = RepoOwners::default();
    repos.learn_from_json(br#"{"id": 7, "owner": {"login": "acme"}, "full_name": "acme/w"}"#);
    repos.learn_from_json(br#"{"id": 666, "owner": {"login": "evil"}, "full_name": "evil/x"}"#);
    repos
}

fn headers(authorization: Option<&str>, body: &Body) -> http::HeaderMap {
    let mut headers = http::HeaderMap::new();
    headers.insert("host", "ghpool.internal:8080".parse().unwrap());
    if let Some(a) = authorization {
        headers.insert("authorization", a.parse().unwrap());
    }
    if let Body::Whole(b) | Body::Cut(b) = body {
        headers.insert("content-length", b.len().to_string().parse().unwrap());
    }
    headers
}

fn run(allowlist: &Allowlist, method: &str, path: &str, auth: Option<&str>, body: Body) -> Result<Admission, Refusal> {
    let repos = known();
    let headers = headers(auth, &body);
    let parts = Parts { method, raw_path: path.as_bytes(), headers: &headers };
    classify(&parts, &body, &rules_for(allowlist, &repos))
}

fn graphql_body(doc: &str) -> Body {
    Body::Whole(Bytes::from(serde_json::json!({ "query": doc }).to_string()))
}

/// What a request became: the plan's label, `needs owner N`, or the refusal's status.
fn outcome(result: Result<Admission, Refusal>) -> Result<String, u16> {
    match result {
        Ok(Admission::Plan(plan)) => Ok(plan.label().to_string()),
        Ok(Admission::NeedsOwner { id, client }) => {
            Ok(format!("needs owner {id} ({})", if client.is_some() { "client" } else { "pool" }))
        }
        Err(refusal) => Err(refusal.status()),
    }
}

type Case<'a> = (&'a str, &'a str, Option<&'a str>, Result<&'a str, u16>);

#[test]
fn routes_and_refusals() {
    let everyone = Allowlist::new(OwnerPolicy::AllowAll);
    let cases: &[Case] = &[
        ("GET", "/repos/o/r", None, Ok("pooled_read")),
        ("HEAD", "/repos/o/r", None, Ok("pooled_read")),
        ("GET", "/repos/o/r", Some("token client"), Ok("pooled_read")),
        ("GET", "/healthz", None, Ok("admin")),
        ("GET", "/api/v3/stats", None, Ok("admin")),
        ("GET", "/rate_limit", None, Ok("admin")),
        ("POST", "/healthz", None, Err(405)),
        ("POST", "/repos/o/r/issues", None, Err(401)),
        ("POST", "/repos/o/r/issues", Some("  "), Err(401)),
        ("POST", "/repos/o/r/issues", Some("token t"), Ok("passthrough")),
        ("PATCH", "/repos/o/r", Some("Bearer t"), Ok("passthrough")),
        ("PUT", "/repos/o/r/topics", Some("bearer t"), Ok("passthrough")),
        ("DELETE", "/repos/o/r", Some("Basic dTp0"), Ok("passthrough")),
        ("POST", "/graphql", None, Err(400)),
        ("GET", "/graphql", None, Err(405)),
        ("OPTIONS", "/repos/o/r", None, Err(405)),
        ("GET", "/repos/o/../x/r", None, Err(400)),
        ("GET", "/repos/o/r?callback=x", None, Err(400)),
    ];
    for (method, path, auth, want) in cases {
        let got = outcome(run(&everyone, method, path, *auth, Body::None));
        assert_eq!(got.as_deref().map_err(|s| *s), *want, "{method} {path}");
    }
}

#[test]
fn the_allowlist_decides_before_a_plan_exists() {
    let acme = acme_only();
    let cases: &[Case] = &[
        ("GET", "/repos/acme/w/issues", None, Ok("pooled_read")),
        ("GET", "/repos/evil/x/issues", None, Err(403)),
        ("GET", "/repositories/7/issues", None, Ok("pooled_read")),
        ("GET", "/repositories/666/issues", None, Err(404)),
        ("GET", "/repositories/8/issues", None, Ok("needs owner 8 (pool)")),
        ("PATCH", "/repositories/8", Some("token t"), Ok("needs owner 8 (client)")),
        ("POST", "/repos/evil/x/issues", Some("token t"), Err(403)),
        ("GET", "/search/issues?q=repo%3Aacme%2Fw", None, Ok("pooled_read")),
        ("GET", "/search/issues?q=repo%3Aevil%2Fx", None, Err(403)),
        ("GET", "/user/repos", None, Err(403)),
    ];
    for (method, path, auth, want) in cases {
        let got = outcome(run(&acme, method, path, *auth, Body::None));
        assert_eq!(got.as_deref().map_err(|s| *s), *want, "{method} {path}");
    }
}

#[test]
fn an_owner_asked_for_is_classified_again() {
    let acme = acme_only();
    let repos = known();
    let headers = headers(None, &Body::None);
    let parts = Parts { method: "GET", raw_path: b"/repositories/8/issues", headers: &headers };
    for (owner, want) in [("Acme", Ok("pooled_read".to_string())), ("evil", Err(404))] {
        let knowing = KnowingOwner { known: &repos, id: 8, owner };
        let got = classify(&parts, &Body::None, &rules_for(&acme, &knowing));
        assert_eq!(outcome(got), want, "{owner}");
    }
    let knowing = KnowingOwner { known: &repos, id: 8, owner: "acme" };
    let Ok(Admission::Plan(plan)) = classify(&parts, &Body::None, &rules_for(&acme, &knowing)) else { panic!() };
    assert_eq!(plan.read().unwrap().owners, ["acme"]);
}

fn plan(allowlist: &Allowlist, method: &str, path: &str, auth: Option<&str>, body: Body) -> Plan {
    match run(allowlist, method, path, auth, body) {
        Ok(Admission::Plan(plan)) => plan,
        other => panic!("{method} {path}: {other:?}"),
    }
}

fn shown(tags: &BTreeSet<Tag>) -> Vec<String> {
    tags.iter().map(Tag::to_string).collect()
}

#[test]
fn a_read_plan_carries_what_follows_admission() {
    let acme = acme_only();
    let p = plan(&acme, "GET", "/repos/Acme/W", None, Body::None);
    assert_eq!(p.public_base, "http://ghpool.internal:8080");
    let read = p.read().unwrap();
    assert_eq!(
        (read.resource, read.owners.clone(), shown(&read.tags)),
        (Resource::Core, vec!["acme".into()], vec!["repo:acme/w".into()])
    );
    assert!(matches!(read.of, ReadOf::Rest { repository: true, screened: true }));
    let p = plan(&Allowlist::new(OwnerPolicy::AllowAll), "GET", "/repos/a/b/issues", None, Body::None);
    assert!(matches!(p.read().unwrap().of, ReadOf::Rest { repository: false, screened: false }));
    let p = plan(&acme, "GET", "/search/code?q=org%3Aacme+x", None, Body::None);
    assert_eq!(
        (p.read().unwrap().resource, shown(&p.read().unwrap().tags)),
        (Resource::CodeSearch, vec!["search".into()])
    );
    let p = plan(&acme, "GET", "/api/v3/repos/acme/w", None, Body::None);
    assert_eq!(p.public_base, "http://ghpool.internal:8080/api/v3");
}

#[test]
fn graphql_queries_are_pooled_and_probed_mutations_need_a_token() {
    let acme = acme_only();
    let query = "{ repository(owner: \"acme\", name: \"w\") { issues(first: 1) { nodes { title } } } }";
    let p = plan(&acme, "POST", "/graphql", None, graphql_body(query));
    assert_eq!(p.label(), "graphql_query");
    assert_eq!(p.read().unwrap().resource, Resource::Graphql);
    assert_eq!(shown(&p.read().unwrap().tags), ["repo:acme/w", "graphql"]);
    let node = "{ node(id: \"x\") { id } }";
    let p = plan(&acme, "POST", "/graphql", None, graphql_body(node));
    assert!(p.probed().is_some(), "a node read is probed for its owner");
    let mutation = "mutation { addStar(input: {starrableId: \"x\"}) { clientMutationId } }";
    assert_eq!(outcome(run(&acme, "POST", "/graphql", None, graphql_body(mutation))), Err(401));
    let p = plan(&acme, "POST", "/graphql", Some("bearer t"), graphql_body(mutation));
    assert_eq!(p.label(), "graphql_mutation");
    assert!(p.read().is_none() && p.probed().is_none() && p.sent_by_ghpool(false).is_none());
    assert!(p.sent_by_ghpool(true).is_some(), "with replicas, ghpool sends every mutation");
    assert_eq!(p.write().unwrap().purge, Invalidation::Everything, "names no repository: purges all");
    let evil = "{ repository(owner: \"evil\", name: \"x\") { id } }";
    assert_eq!(outcome(run(&acme, "POST", "/graphql", None, graphql_body(evil))), Err(403));
}

#[test]
fn bodies_too_large_are_refused_by_what_they_are() {
    let acme = acme_only();
    let mutation = "mutation { addStar(input: {starrableId: \"x\"}) { clientMutationId } }";
    let cut = |doc: &str| Body::Cut(Bytes::from(serde_json::json!({ "query": doc }).to_string()));
    assert_eq!(outcome(run(&acme, "POST", "/graphql", None, cut(mutation))), Err(401));
    assert_eq!(outcome(run(&acme, "POST", "/graphql", None, cut("{ viewer { login } }"))), Err(413));
    assert_eq!(outcome(run(&acme, "POST", "/graphql", Some("token t"), cut(mutation))), Err(413));
    let padding = "x".repeat(RETRY_BUFFER);
    let large = serde_json::json!({ "query": mutation, "variables": { "pad": padding } }).to_string();
    let p = plan(&acme, "POST", "/graphql", Some("token t"), Body::Whole(Bytes::from(large.clone())));
    assert_eq!(p.sent_by_ghpool(false).map(|b| b.len()), Some(large.len()));
    let large_query = serde_json::json!({ "query": "{ viewer { login } }", "variables": { "pad": padding } });
    let body = Body::Whole(Bytes::from(large_query.to_string()));
    assert_eq!(outcome(run(&acme, "POST", "/graphql", Some("token t"), body)), Err(413));
}

#[test]
fn only_graphql_bodies_are_read() {
    let acme = acme_only();
    let repos = known();
    let rules = rules_for(&acme, &repos);
    let limit = |method: &str, path: &str, auth: Option<&str>, length: Option<usize>| {
        let mut headers = headers(auth, &Body::None);
        if let Some(n) = length {
            headers.insert("content-length", n.to_string().parse().unwrap());
        }
        body_limit(&Parts { method, raw_path: path.as_bytes(), headers: &headers }, &rules).map_err(|r| r.status())
    };
    assert_eq!(limit("POST", "/repos/acme/w/issues", Some("token t"), Some(10)), Ok(None));
    assert_eq!(limit("GET", "/graphql", None, None), Ok(None));
    assert_eq!(limit("POST", "/graphql", None, Some(10)), Ok(Some(RETRY_BUFFER)));
    assert_eq!(limit("POST", "/api/graphql", Some("token t"), Some(10)), Ok(Some(1 << 20)));
    assert_eq!(limit("POST", "/graphql", Some("token t"), Some((1 << 20) + 1)), Err(413));
    assert_eq!(limit("POST", "/graphql?query=x", None, Some(10)), Err(400), "refused before its body is read");
    let headers = headers(None, &Body::None);
    let not_utf8 = Parts { method: "POST", raw_path: b"http://\xff@api.github.com/graphql", headers: &headers };
    assert_eq!(body_limit(&not_utf8, &rules).map_err(|r| r.status()), Err(400), "red team: refused unread");
}

/// Issue #16: with `[audit] path`, a REST write's body is read (its field names are recorded), as
/// large as a mutation's may be; a write without a credential is refused unread.
#[test]
fn write_bodies_are_read_for_the_audit_16() {
    let acme = acme_only();
    let repos = known();
    let rules = Rules { reads_write_bodies: true, ..rules_for(&acme, &repos) };
    let limit = |method: &str, path: &str, auth: Option<&str>, length: Option<usize>| {
        let mut headers = headers(auth, &Body::None);
        if let Some(n) = length {
            headers.insert("content-length", n.to_string().parse().unwrap());
        }
        body_limit(&Parts { method, raw_path: path.as_bytes(), headers: &headers }, &rules).map_err(|r| r.status())
    };
    for method in ["POST", "PATCH", "PUT", "DELETE"] {
        assert_eq!(limit(method, "/repos/acme/w/issues/1", Some("token t"), Some(10)), Ok(Some(1 << 20)), "{method}");
    }
    assert_eq!(limit("POST", "/repos/acme/w/issues", None, Some(10)), Ok(None), "refused unread (401)");
    assert_eq!(limit("PUT", "/repos/acme/w/contents/a", Some("token t"), Some((1 << 20) + 1)), Err(413));
    assert_eq!(limit("GET", "/repos/acme/w", Some("token t"), None), Ok(None));
    assert_eq!(limit("POST", "/stats", Some("token t"), Some(10)), Ok(None));
    // The body read is the plan's; one cut at the limit is refused.
    let body = Body::Whole(Bytes::from_static(br#"{"title": "t"}"#));
    let headers = headers(Some("token t"), &body);
    let parts = Parts { method: "POST", raw_path: b"/repos/acme/w/issues", headers: &headers };
    let Ok(Admission::Plan(p)) = classify(&parts, &body, &rules) else { panic!("planned") };
    assert!(matches!(&p.write().unwrap().of, WriteOf::Rest { body: Some(b) } if b.len() == 14));
    let cut = Body::Cut(Bytes::from_static(b"{"));
    let refused = classify(&parts, &cut, &rules).map(|_| ()).map_err(|r| r.status());
    assert_eq!(refused, Err(413));
}

/// Issue #16: an agent's mutation goes with a token for its repositories on its one owner, its
/// payload probed; an agent whose repositories span owners cannot send one (which installation?).
#[test]
fn an_agents_mutation_is_brokered_on_its_one_owner_16() {
    use crate::admission::agents::Agents;
    use crate::config::agents::{parse_repo, AgentConfig, AgentKey};
    use crate::secrets::agent_key::digest;
    let both = Allowlist::new(OwnerPolicy::Only(["acme".to_string(), "other".to_string()].into()));
    let repos = known();
    let agent = |id: &str, key: &str, patterns: &[&str]| AgentConfig {
        id: id.into(),
        keys: vec![AgentKey::Digest(digest(key))],
        repos: patterns.iter().map(|p| parse_repo(p).unwrap()).collect(),
        permissions: [("issues".to_string(), "write".to_string())].into(),
        certificate_subject: None,
    };
    let agents =
        Agents::new(&[agent("one", "ghpk_one", &["acme/w"]), agent("two", "ghpk_two", &["acme/w", "other/x"])], false);
    let rules = Rules { agents: &agents, ..rules_for(&both, &repos) };
    let mutation = r#"mutation($id: ID!) { addComment(input: {subjectId: $id, body: "b"}) { commentEdge { node { url } } subject { id } } }"#;
    let body =
        Body::Whole(Bytes::from(serde_json::json!({ "query": mutation, "variables": { "id": "I_1" } }).to_string()));
    let run = |key: &str| {
        let headers = headers(Some(key), &body);
        let parts = Parts { method: "POST", raw_path: b"/graphql", headers: &headers };
        classify(&parts, &body, &rules)
    };
    let Ok(Admission::Plan(p)) = run("token ghpk_one") else { panic!("planned") };
    let write = p.write().unwrap();
    assert_eq!(write.brokered, Some(crate::admission::plan::Brokered { owner: "acme".into(), name: None }));
    let WriteOf::Mutation { probed: Some(probed), request, .. } = &write.of else { panic!("probed") };
    assert!(
        String::from_utf8_lossy(probed).contains("ghpool_n"),
        "the payload's objects are probed for their repository"
    );
    assert_eq!(request.root_fields, ["addComment"]);
    assert_eq!(p.sent_by_ghpool(false), Some(probed), "sent by ghpool, probed");
    let Err(refusal) = run("token ghpk_two") else { panic!("refused") };
    assert_eq!(refusal.status(), 403);
    assert!(refusal.to_string().contains("2 owners (acme, other)"), "{refusal}");
}

/// Issue #16: with agents configured, a request shows a key or gets 401; an agent reads only its
/// repositories (REST paths, repositories by id, searches, GraphQL documents), never writes (not
/// brokered in this version), and ghpool's own endpoints need no key.
#[test]
fn an_agent_reads_its_repositories_and_nothing_else_16() {
    use crate::admission::agents::Agents;
    use crate::config::agents::{parse_repo, AgentConfig, AgentKey};
    use crate::secrets::agent_key::digest;
    let acme = acme_only();
    let repos = known();
    repos.learn_from_json(br#"{"id": 8, "owner": {"login": "acme"}, "full_name": "acme/secret"}"#);
    let config = AgentConfig {
        id: "triage".into(),
        keys: vec![AgentKey::Digest(digest("ghpk_one"))],
        repos: vec![parse_repo("acme/w").unwrap()],
        permissions: Default::default(),
        certificate_subject: None,
    };
    let writer = AgentConfig {
        id: "writer".into(),
        keys: vec![AgentKey::Digest(digest("ghpk_two"))],
        repos: vec![parse_repo("acme/w").unwrap()],
        permissions: [("issues".to_string(), "write".to_string())].into(),
        certificate_subject: None,
    };
    let reader = AgentConfig {
        id: "reader".into(),
        keys: vec![AgentKey::Digest(digest("ghpk_three"))],
        repos: vec![parse_repo("acme/w").unwrap()],
        permissions: [("contents".to_string(), "read".to_string())].into(),
        certificate_subject: None,
    };
    let agents = Agents::new(&[config, writer, reader], false);
    let rules = Rules { agents: &agents, ..rules_for(&acme, &repos) };
    let run = |method: &str, path: &str, auth: Option<&str>, body: Body| {
        let headers = headers(auth, &body);
        let parts = Parts { method, raw_path: path.as_bytes(), headers: &headers };
        match classify(&parts, &body, &rules) {
            Ok(Admission::Plan(plan)) => Ok(plan.agent.as_ref().map_or("unkeyed".to_string(), |a| a.id.clone())),
            Ok(Admission::NeedsOwner { id, .. }) => Ok(format!("needs {id}")),
            Err(refusal) => Err((refusal.status(), refusal.to_string())),
        }
    };
    let key = Some("token ghpk_one");
    let graphql = |q: &str| Body::Whole(bytes::Bytes::from(serde_json::json!({ "query": q }).to_string()));
    type Case<'a> = (&'a str, &'a str, Option<&'a str>, Body, Result<&'a str, (u16, &'a str)>);
    let cases: Vec<Case> = vec![
        ("GET", "/repos/acme/w/issues", key, Body::None, Ok("triage")),
        ("GET", "/repos/ACME/W", key, Body::None, Ok("triage")),
        ("GET", "/repos/acme/secret/issues", key, Body::None, Err((403, "agent `triage` may not read `acme/secret`"))),
        ("GET", "/orgs/acme/repos", key, Body::None, Err((403, "`acme/*`"))),
        ("GET", "/repositories/7/issues", key, Body::None, Ok("triage")),
        ("GET", "/repositories/8/issues", key, Body::None, Err((404, "Not Found"))),
        ("GET", "/repos/acme/w?access_token=ghpk_one", None, Body::None, Err((401, "agent key"))),
        ("GET", "/repositories/9/issues", key, Body::None, Ok("needs 9")),
        ("GET", "/search/issues?q=repo%3Aacme%2Fw+bug", key, Body::None, Ok("triage")),
        ("GET", "/search/issues?q=org%3Aacme+bug", key, Body::None, Err((403, "`acme`"))),
        ("GET", "/search/issues?q=repo%3Aacme%2Fw+OR+repo%3Aacme%2Fsecret", key, Body::None, Err((403, "acme/secret"))),
        ("POST", "/repos/acme/w/issues", key, Body::None, Err((403, "read-only"))),
        ("POST", "/graphql", key, graphql(r#"{ repository(owner: "acme", name: "w") { name } }"#), Ok("triage")),
        (
            "POST",
            "/graphql",
            key,
            graphql(r#"{ repository(owner: "acme", name: "secret") { name } }"#),
            Err((403, "acme/secret")),
        ),
        (
            "POST",
            "/graphql",
            key,
            graphql(r#"mutation { addStar(input: {starrableId: "x"}) { clientMutationId } }"#),
            Err((403, "read-only")),
        ),
        (
            "POST",
            "/graphql",
            Some("token ghpk_two"),
            graphql(r#"mutation { addStar(input: {starrableId: "x"}) { clientMutationId } }"#),
            Ok("writer"),
        ),
        ("GET", "/repos/acme/w", None, Body::None, Err((401, "agent key"))),
        ("GET", "/repos/acme/w", Some("token ghp_someGitHubToken"), Body::None, Err((401, "agent key"))),
        ("POST", "/repos/acme/w/issues", Some("token ghp_someGitHubToken"), Body::None, Err((401, "agent key"))),
        ("GET", "/repos/acme/w", Some("token ghpk_wrong"), Body::None, Err((401, "agent key"))),
        ("POST", "/repos/acme/w/issues", Some("token ghpk_two"), Body::None, Ok("writer")),
        // `read` levels only: nothing to write with (red team).
        ("POST", "/repos/acme/w/issues", Some("token ghpk_three"), Body::None, Err((403, "read-only"))),
        (
            "POST",
            "/graphql",
            Some("token ghpk_three"),
            graphql(r#"mutation { addStar(input: {starrableId: "x"}) { clientMutationId } }"#),
            Err((403, "read-only")),
        ),
        (
            "POST",
            "/repos/acme/secret/issues",
            Some("token ghpk_two"),
            Body::None,
            Err((403, "may not write to `acme/secret`")),
        ),
        ("PUT", "/user/starred/acme/w", Some("token ghpk_two"), Body::None, Err((403, "name one repository"))),
        ("PUT", "/teams/1/repos/acme/w", Some("token ghpk_two"), Body::None, Err((403, "name one repository"))),
        ("POST", "/repositories/7/issues", Some("token ghpk_two"), Body::None, Err((403, "name one repository"))),
        ("GET", "/healthz", None, Body::None, Ok("unkeyed")),
        ("GET", "/stats", None, Body::None, Ok("unkeyed")),
    ];
    for (method, path, auth, body, want) in cases {
        let got = run(method, path, auth, body);
        match (&got, want) {
            (Ok(who), Ok(w)) => assert_eq!(who, w, "{method} {path}"),
            (Err((status, message)), Err((s, text))) => {
                assert_eq!(*status, s, "{method} {path}: {message}");
                assert!(message.contains(text), "{method} {path}: {message}");
            }
            _ => panic!("{method} {path}: {got:?}"),
        }
    }
}

/// Issue #17: with mutual TLS, a TLS connection needs a verified certificate (checked again on
/// resumption, `tls`), and the plain listener beside it serves only the probes and metrics.
#[test]
fn mutual_tls_connections_and_the_plain_listener_beside_them_17() {
    let acme = acme_only();
    let repos = known();
    let certificate = crate::tls::ClientCertificate {
        subject: "CN=agent-1".into(),
        common_name: Some("agent-1".into()),
        alternative_names: vec![],
    };
    let run = |scheme: &str, verified: bool, mutual: bool, path: &str| {
        let rules = Rules {
            scheme,
            client_certificate: verified.then_some(&certificate),
            mutual_tls: mutual,
            ..rules_for(&acme, &repos)
        };
        let headers = headers(None, &Body::None);
        let parts = Parts { method: "GET", raw_path: path.as_bytes(), headers: &headers };
        classify(&parts, &Body::None, &rules).map(|_| ()).map_err(|r| r.status())
    };
    // (scheme, verified certificate, mutual TLS on, path, allowed)
    let cases = [
        ("https", true, true, "/repos/acme/w", true),
        ("https", false, true, "/repos/acme/w", false),
        ("https", false, true, "/healthz", false),
        ("http", false, true, "/healthz", true),
        ("http", false, true, "/readyz", true),
        ("http", false, true, "/metrics", true),
        ("http", false, true, "/stats", false),
        ("http", false, true, "/repos/acme/w", false),
        ("http", false, false, "/repos/acme/w", true),
        ("https", false, false, "/repos/acme/w", true),
    ];
    for (scheme, verified, mutual, path, allowed) in cases {
        let got = run(scheme, verified, mutual, path);
        assert_eq!(got.is_ok(), allowed, "{scheme} verified={verified} mutual={mutual} {path}: {got:?}");
    }
}
