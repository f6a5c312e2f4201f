//! The request's own shape, before what it reads is considered: what a pooled read may carry
//! besides its path, and which request headers ghpool forwards with a pool identity.
//!
//! Owns: [`check`] (a body on a read, a query string on `/graphql`, JSON-P, `;` separators,
//! repeated or unreadable headers that select the answer) and [`POOLED_FORWARD`], the allow-list of headers a
//! pooled request keeps. Pure: no I/O.
//! Must never: let a read through whose meaning to GitHub could differ from ghpool's reading of it
//! (its cache key, its allowlist check).

use crate::cache::key::GRAPHQL_VARY;

/// Request headers a pooled read (or GraphQL query) keeps on its way upstream, besides the ones
/// ghpool sets itself (`Host`, `Authorization`, `User-Agent` when absent). Whatever selects a
/// different answer is in the cache key (`cache::key`); the rest is framing and validators.
pub const POOLED_FORWARD: &[&str] = &[
    "accept",
    "x-github-api-version",
    "graphql-features",
    "x-github-next-global-id",
    "user-agent",
    "if-none-match",
    "if-modified-since",
    "content-type",
    "content-length",
    "transfer-encoding",
];

/// Headers that ask a server to act as if the method were another: never forwarded, on any route.
pub const METHOD_OVERRIDES: &[&str] = &["x-http-method-override", "x-http-method", "x-method-override"];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("a {0} request carries no body; ghpool does not forward one")]
    BodyOnRead(String),
    #[error("POST /graphql takes its query, variables and operation name in the JSON body, not the URL")]
    QueryOnGraphql,
    #[error("JSON-P (`callback`) is not served through ghpool")]
    Callback,
    #[error("`;` in a query string is read differently by different servers; encode it as %3B")]
    Semicolon,
    #[error("the `{0}` header is sent more than once; send it once")]
    RepeatedHeader(&'static str),
    #[error("the `{0}` header's value is not visible ASCII")]
    OpaqueHeader(&'static str),
}

/// What [`check`] needs to know about a request.
pub struct Envelope<'a> {
    pub method: &'a str,
    pub graphql: bool,
    pub query: Option<&'a str>,
    /// A `Content-Length` above zero or any `Transfer-Encoding`.
    pub has_body: bool,
    /// How many times a header is present, and whether every value of it is visible ASCII
    /// (what the cache key can read).
    pub header: &'a dyn Fn(&str) -> (usize, bool),
}

/// Refuse what ghpool could not forward with the meaning it checked.
pub fn check(shape: &Envelope<'_>) -> Result<(), EnvelopeError> {
    let read = matches!(shape.method, "GET" | "HEAD");
    if read && shape.has_body {
        return Err(EnvelopeError::BodyOnRead(shape.method.to_string()));
    }
    let query = shape.query.filter(|q| !q.is_empty());
    if shape.graphql && query.is_some() {
        return Err(EnvelopeError::QueryOnGraphql);
    }
    if let (true, Some(query)) = (read, query) {
        if query.contains(';') {
            return Err(EnvelopeError::Semicolon);
        }
        let callback = url::form_urlencoded::parse(query.as_bytes()).any(|(name, _)| name.trim() == "callback");
        if callback {
            return Err(EnvelopeError::Callback);
        }
    }
    for name in GRAPHQL_VARY {
        match (shape.header)(name) {
            (count, _) if count > 1 => return Err(EnvelopeError::RepeatedHeader(name)),
            // The key is built from what it can read; a value it cannot would be keyed as absent
            // and forwarded as sent.
            (_, false) => return Err(EnvelopeError::OpaqueHeader(name)),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope<'a>(
        method: &'a str,
        query: Option<&'a str>,
        header: &'a dyn Fn(&str) -> (usize, bool),
    ) -> Envelope<'a> {
        Envelope { method, graphql: false, query, has_body: false, header }
    }

    /// Issue #20 (5, 8): each refusal, and what stays allowed.
    #[test]
    fn request_shapes_20() {
        let once = |_: &str| (1, true);
        let twice_accept = |h: &str| if h == "accept" { (2, true) } else { (1, true) };
        let ok = |s: Envelope<'_>| check(&s);
        assert_eq!(ok(envelope("GET", Some("per_page=3&page=2"), &once)), Ok(()));
        assert_eq!(ok(envelope("GET", Some("q=a%3Bb"), &once)), Ok(()));
        assert_eq!(ok(envelope("GET", Some("callback=cb"), &once)), Err(EnvelopeError::Callback));
        assert_eq!(ok(envelope("GET", Some("a=1&callback"), &once)), Err(EnvelopeError::Callback));
        assert_eq!(ok(envelope("HEAD", Some("a=1;callback=x"), &once)), Err(EnvelopeError::Semicolon));
        assert_eq!(ok(envelope("GET", None, &twice_accept)), Err(EnvelopeError::RepeatedHeader("accept")));
        // Writes go with the client's own token and are not cached: their query is theirs.
        assert_eq!(ok(envelope("POST", Some("a;b"), &once)), Ok(()));
        let body = Envelope { has_body: true, ..envelope("GET", None, &once) };
        assert!(matches!(check(&body), Err(EnvelopeError::BodyOnRead(_))));
        let body = Envelope { has_body: true, ..envelope("POST", None, &once) };
        assert_eq!(check(&body), Ok(()));
        let graphql = Envelope { graphql: true, ..envelope("POST", Some("query={viewer{login}}"), &once) };
        assert_eq!(check(&graphql), Err(EnvelopeError::QueryOnGraphql));
        let graphql = Envelope { graphql: true, ..envelope("POST", None, &once) };
        assert_eq!(check(&graphql), Ok(()));
        let opaque = |h: &str| (1, h != "accept");
        let opaque = envelope("GET", None, &opaque);
        assert_eq!(check(&opaque), Err(EnvelopeError::OpaqueHeader("accept")));
    }
}
