//! Cache keys: what makes two reads the same read.
//!
//! REST: the normalized path, the query parameters in canonical order, and the request headers
//! that change GitHub's answer (`Accept`, `X-GitHub-Api-Version`, `X-Github-Next-Global-ID`). GraphQL: the document with
//! whitespace and comments removed, the canonical JSON of `variables`, `operationName`, and the
//! `GraphQL-Features` header gh sends. HEAD shares GET's key: Pingora fills the cache with a GET.
//! Never part of a key: `Authorization` (the pool cache is shared on purpose, GitHub's
//! `Vary: Authorization` notwithstanding) or anything else from the client's credentials.

use std::fmt::Write;

/// Request headers that select a different answer for the same path.
pub const REST_VARY: &[&str] = &["accept", "x-github-api-version", "x-github-next-global-id"];
pub const GRAPHQL_VARY: &[&str] = &["accept", "x-github-api-version", "graphql-features", "x-github-next-global-id"];

/// `path?query` with the query's parameters sorted by name, so `?a=1&b=2` and `?b=2&a=1` are one
/// key; a repeated parameter keeps its values in their order (GitHub reads them by position:
/// `?per_page=3&per_page=7` is not `?per_page=7&per_page=3`).
pub fn canonical_target(path: &str, query: Option<&str>) -> String {
    let Some(query) = query.filter(|q| !q.is_empty()) else { return path.to_string() };
    let mut pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes()).into_owned().collect();
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    let canonical = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish();
    format!("{path}?{canonical}")
}

/// Append the headers of `names`, lower-cased name=value, in a fixed order; absent ones are empty.
fn push_vary<'a>(key: &mut String, names: &[&str], get: impl Fn(&str) -> Option<&'a str>) {
    for (i, name) in names.iter().enumerate() {
        if i > 0 {
            key.push('\n');
        }
        key.push_str(name);
        key.push('=');
        key.push_str(get(name).unwrap_or("").trim());
    }
}

/// The key of a pooled REST read (built in one buffer: it is computed for every hit).
pub fn rest_key<'a>(path: &str, query: Option<&str>, headers: impl Fn(&str) -> Option<&'a str>) -> String {
    let mut key = String::with_capacity(64 + path.len() + query.map_or(0, str::len));
    key.push_str("rest\nGET ");
    match query.filter(|q| !q.is_empty()) {
        None => key.push_str(path),
        Some(_) => key.push_str(&canonical_target(path, query)),
    }
    key.push('\n');
    push_vary(&mut key, REST_VARY, headers);
    key
}

/// The key of a pooled GraphQL query, from its normalized document, canonical variables and
/// operation name.
pub fn graphql_key<'a>(
    normalized_document: &str,
    canonical_variables: &str,
    operation_name: Option<&str>,
    headers: impl Fn(&str) -> Option<&'a str>,
) -> String {
    let mut key = format!("graphql\n{normalized_document}\n{canonical_variables}\n{}\n", operation_name.unwrap_or(""));
    push_vary(&mut key, GRAPHQL_VARY, headers);
    key
}

/// What a Pingora key carries to the storage besides the request (its `user_tag`): the storage's
/// write count when the key was made, and with `[shared]` the entry's name in Redis and the tags
/// whose write generations say whether an entry is current (`generations::generation_tags`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyNote<'a> {
    pub made: Option<u64>,
    pub shared_name: Option<&'a str>,
    /// The tags' lines as written: read ([`KeyNote::generation_tags`]) only by a lookup that needs
    /// them, not by every reader of the note.
    tag_lines: Option<&'a str>,
}

impl KeyNote<'_> {
    /// The tags whose write generations say whether an entry is current.
    pub fn generation_tags(&self) -> Vec<String> {
        self.tag_lines.map_or_else(Vec::new, |lines| lines.split('\n').map(unescape).collect())
    }
}

/// [`KeyNote`] as a `user_tag`: `<writes>`, or `<writes> <name>` then each tag on a line of its
/// own (tags come from clients' paths and documents: `\` and line feeds in them are escaped, so no
/// byte of a tag reads as a separator). Made and read for every hit: no allocation past the string.
pub fn user_tag(writes: u64, shared: Option<(&str, &[String])>) -> String {
    let Some((name, tags)) = shared else { return writes.to_string() };
    let mut out = String::with_capacity(24 + name.len() + tags.iter().map(|t| t.len() + 1).sum::<usize>());
    let _ = write!(out, "{writes} {name}");
    for tag in tags {
        out.push('\n');
        match tag.contains(['\\', '\n']) {
            false => out.push_str(tag),
            true => out.push_str(&tag.replace('\\', "\\\\").replace('\n', "\\n")),
        }
    }
    out
}

/// [`user_tag`] read back; parts that do not parse are absent (keys made by tests and tools).
pub fn key_note(user_tag: &str) -> KeyNote<'_> {
    let (head, tag_lines) = match user_tag.split_once('\n') {
        Some((head, lines)) => (head, Some(lines)),
        None => (user_tag, None),
    };
    let mut head = head.splitn(2, ' ');
    let made = head.next().and_then(|w| w.parse().ok());
    let shared_name = head.next().filter(|n| !n.is_empty());
    KeyNote { made, shared_name, tag_lines }
}

/// A tag as [`user_tag`] escaped it.
fn unescape(tag: &str) -> String {
    if !tag.contains('\\') {
        return tag.to_string();
    }
    let (mut out, mut chars) = (String::with_capacity(tag.len()), tag.chars());
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_keys_note_reads_back_whatever_the_tags_hold() {
        for tags in [
            vec!["repo:acme/widgets".to_string(), "owner:acme".to_string(), "*".to_string()],
            vec!["repo:acme/wid gets\n*".to_string(), "owner:a\\nb\\".to_string(), "*".to_string()],
            vec![],
        ] {
            let note = user_tag(7, Some(("0af3", &tags)));
            let read = key_note(&note);
            assert_eq!((read.made, read.shared_name, read.generation_tags()), (Some(7), Some("0af3"), tags));
        }
        fn read(t: &str) -> (Option<u64>, Option<&str>, Vec<String>) {
            let n = key_note(t);
            (n.made, n.shared_name, n.generation_tags())
        }
        assert_eq!(read("7"), (Some(7), None, vec![]));
        assert_eq!(read(""), (None, None, vec![]));
    }

    fn none(_: &str) -> Option<&'static str> {
        None
    }

    #[test]
    fn query_order_does_not_split_keys_but_values_do() {
        let a = rest_key("/repos/o/r/issues", Some("state=all&per_page=100"), none);
        let b = rest_key("/repos/o/r/issues", Some("per_page=100&state=all"), none);
        let c = rest_key("/repos/o/r/issues", Some("per_page=100&state=open"), none);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(rest_key("/repos/o/r", None, none), rest_key("/repos/o/r2", None, none));
    }

    /// Issue #20 (5): GitHub reads a repeated parameter by position.
    #[test]
    fn repeated_parameters_keep_their_order_20() {
        let a = rest_key("/repos/o/r/issues", Some("per_page=3&per_page=7"), none);
        let b = rest_key("/repos/o/r/issues", Some("per_page=7&per_page=3"), none);
        assert_ne!(a, b);
        let c = rest_key("/repos/o/r/issues", Some("state=all&per_page=3&per_page=7"), none);
        assert_eq!(a.replace("per_page=3&per_page=7", "per_page=3&per_page=7&state=all"), c);
    }

    /// Issue #20 (5): `X-Github-Next-Global-ID` changes the ids in GitHub's answer.
    #[test]
    fn next_global_id_splits_keys_20() {
        let next = |h: &str| (h == "x-github-next-global-id").then_some("1");
        assert_ne!(rest_key("/repos/o/r", None, next), rest_key("/repos/o/r", None, none));
        assert_ne!(graphql_key("q", "{}", None, next), graphql_key("q", "{}", None, none));
    }

    #[test]
    fn accept_and_api_version_split_keys_authorization_does_not() {
        let json = rest_key("/repos/o/r", None, |h| (h == "accept").then_some("application/vnd.github+json"));
        let raw = rest_key("/repos/o/r", None, |h| (h == "accept").then_some("application/vnd.github.raw"));
        assert_ne!(json, raw);
        let v1 = rest_key("/repos/o/r", None, |h| (h == "x-github-api-version").then_some("2022-11-28"));
        assert_ne!(v1, rest_key("/repos/o/r", None, none));
        let with_auth = rest_key("/repos/o/r", None, |h| (h == "authorization").then_some("token x"));
        assert_eq!(with_auth, rest_key("/repos/o/r", None, none));
    }

    #[test]
    fn graphql_keys() {
        let k = |doc, vars, op: Option<&str>| graphql_key(doc, vars, op, none);
        assert_ne!(k("query { a }", "{}", None), k("query { a }", "{\"x\":1}", None));
        assert_ne!(k("query A { a }", "{}", Some("A")), k("query A { a }", "{}", None));
        let features = graphql_key("q", "{}", None, |h| (h == "graphql-features").then_some("merge_queue"));
        assert_ne!(features, k("q", "{}", None));
    }
}
