//! Issue #3: property tests over the path normalizer and the GraphQL classifier. They never panic,
//! and never allow a path or a document whose upstream form names a disallowed owner. Issue #20:
//! the analysis of a document stays linear in its size, however its fragments nest.

use std::collections::HashSet;

use ghpool::admission::access::{normalize, Allowlist, OwnerCheck};
use ghpool::config::OwnerPolicy;
use std::collections::BTreeSet;

use ghpool::admission::graphql::{analyze, limits, parse_request, GithubSchema, GraphqlError, Limits, Scope};
use percent_encoding::percent_decode_str;
use proptest::prelude::*;

fn acme(owner: &str) -> bool {
    owner == "acme"
}

/// The GraphQL rules of an allowlist of `acme`.
fn scoped<T>(f: impl FnOnce(&GithubSchema, &Limits, &Scope) -> T) -> T {
    let unscoped = BTreeSet::new();
    let scope = Scope { allows: &acme, agent: None, screens: true, unscoped_roots: &unscoped };
    f(GithubSchema::github(), &Limits::default(), &scope)
}

fn allowlist() -> Allowlist {
    Allowlist::new(OwnerPolicy::Only(HashSet::from(["acme".to_string()])))
}

/// Pieces that tricks are made of.
fn piece() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "/",
        "//",
        "repos",
        "orgs",
        "users",
        "repositories",
        "search",
        "issues",
        "acme",
        "ACME",
        "evil",
        "Evil",
        ".",
        "..",
        "%2e",
        "%2E%2e",
        "%2f",
        "%2F",
        "%5c",
        "\\",
        "%00",
        "%25",
        "%2565vil",
        "%65vil",
        "api",
        "v3",
        "graphql",
        "?",
        "q=repo:evil/x",
        "q=repo:acme/x",
        "&",
        "#",
        "7",
        "user",
        " ",
        "%20",
        "http://api.github.com",
        "http://evil.example",
        ";",
        ":",
    ])
    .prop_map(str::to_string)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]

    #[test]
    fn normalizer_never_panics(raw in ".{0,200}") {
        let _ = normalize(&raw, "upstream.local");
    }

    #[test]
    fn an_allowed_path_names_no_disallowed_owner(pieces in prop::collection::vec(piece(), 1..14)) {
        let raw = pieces.concat();
        let Ok(target) = normalize(&raw, "upstream.local") else { return Ok(()) };
        let owner_of = |id: u64| Some(if id == 7 { "acme".to_string() } else { "evil".to_string() });
        let Ok(OwnerCheck::Allowed) = allowlist().check_rest(&target, owner_of) else { return Ok(()) };
        // What goes upstream is target.path: decoded once, it must be exactly the checked segments.
        let decoded: Vec<String> = target.path.trim_start_matches('/').split('/')
            .filter(|s| !s.is_empty())
            .map(|s| percent_decode_str(s).decode_utf8().unwrap().into_owned())
            .collect();
        prop_assert_eq!(&decoded, &target.segments);
        for segment in &target.segments {
            prop_assert!(segment != "." && segment != ".." && !segment.contains(['/', '\\', '\0']));
        }
        if matches!(target.segment(0), Some("repos" | "orgs" | "users")) {
            let owner = target.segment(1).map(str::to_ascii_lowercase);
            prop_assert_eq!(owner.as_deref(), Some("acme"), "{}", raw);
        }
        if target.segment(0) == Some("repositories") {
            prop_assert_eq!(target.segment(1), Some("7"), "{}", raw);
        }
        if target.segment(0) == Some("search") {
            let q = target.query.clone().unwrap_or_default().to_ascii_lowercase();
            prop_assert!(!q.contains("evil"), "{}", raw);
        }
    }

    #[test]
    fn classifier_never_panics(doc in ".{0,300}", op in proptest::option::of("[A-Za-z]{1,5}")) {
        scoped(|schema, limits, scope| {
            let _ = analyze(&doc, op.as_deref(), &serde_json::Map::new(), schema, limits, scope);
            let body = serde_json::json!({ "query": doc, "operationName": op }).to_string();
            let _ = parse_request(body.as_bytes(), schema, limits, scope);
        });
    }

    #[test]
    fn classifier_never_panics_on_graphql_like_input(parts in prop::collection::vec(prop::sample::select(vec![
        "{", "}", "(", ")", "query", "mutation", "subscription", "fragment", "F", "on", "Query", "...", "repository",
        "owner:", "\"evil\"", "\"acme\"", "$o", "name:", "#", "\n", " ", "Q", "@skip", ":", "=", "[", "]", "viewer",
    ]), 0..60)) {
        let doc = parts.join(" ");
        scoped(|schema, limits, scope| analyze(&doc, None, &serde_json::Map::new(), schema, limits, scope).err());
    }

    /// However a read of `evil` is dressed (aliases, fragments, inline fragments, variables,
    /// comments, keyword-like names), the owner is found and the query refused.
    #[test]
    fn a_disguised_owner_is_always_found(
        alias in proptest::option::of("[a-z]{1,6}"),
        via in 0..4usize,
        name in prop::sample::select(vec!["", "Q", "mutation", "query", "subscriptionX"]),
        comment in prop::sample::select(vec!["", "# mutation {}\n", "#x\n#y\n"]),
        owner in prop::sample::select(vec!["evil", "EVIL", "Evil"]),
        literal in any::<bool>(),
    ) {
        let value = if literal { format!("\"{owner}\"") } else { "$o".to_string() };
        let alias = alias.map(|a| format!("{a}: ")).unwrap_or_default();
        let field = format!("{alias}repository(owner: {value}, name: \"x\") {{ id }}");
        let header = if literal { format!("query {name}") } else { format!("query {name}($o: String!)") };
        let doc = match via {
            0 => format!("{comment}{header} {{ {field} }}"),
            1 => format!("{comment}fragment F on Query {{ {field} }} {header} {{ ...F }}"),
            2 => format!("{comment}{header} {{ ... on Query {{ {field} }} }}"),
            _ => format!("{comment}{header} {{ rateLimit {{ limit }} {field} }}"),
        };
        let vars = serde_json::json!({ "o": owner });
        let refused = scoped(|schema, limits, scope| analyze(&doc, None, vars.as_object().unwrap(), schema, limits, scope));
        prop_assert!(matches!(refused, Err(GraphqlError::OwnerNotAllowed(_))), "{}: {:?}", doc, refused.map(|r| r.reads));
    }

    /// Issue #20 (3): however fragments nest and repeat (each spread several times, chains and
    /// diamonds), checking the limits visits each definition's selections once: the work is
    /// bounded by a constant times the document's size, never by its expansion.
    #[test]
    fn analysis_is_linear_in_the_document_20(
        depth in 1..60usize,
        fan in 1..6usize,
        leaves in 1..4usize,
    ) {
        let mut doc = String::from("query { ...F0 }\n");
        for i in 0..depth {
            let spreads: String = (0..fan).map(|_| format!("...F{} ", i + 1)).collect();
            doc.push_str(&format!("fragment F{i} on Query {{ {spreads} rateLimit {{ remaining }} }}\n"));
        }
        let fields: String = (0..leaves).map(|i| format!("a{i}: rateLimit {{ cost }} ")).collect();
        doc.push_str(&format!("fragment F{depth} on Query {{ {fields} }}\n"));
        let ast = apollo_compiler::ast::Document::parse(&doc, "p.graphql").unwrap();
        let visits = limits::work(&ast, &Limits::default());
        prop_assert!(visits <= doc.len(), "{} visits for {} bytes", visits, doc.len());
        // The whole analysis answers, within the limits or refusing past them.
        let _ = scoped(|schema, limits, scope| analyze(&doc, None, &serde_json::Map::new(), schema, limits, scope).err());
    }
}
