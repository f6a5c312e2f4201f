//! Classification: what kind of request this is, decided from the method and the canonical target.
//!
//! Owns: `classify` → [`Route`]. A pooled route carries no client credential; a passthrough route
//! cannot exist without one — the types make the two impossible to mix up.
//! Must never: look at a pool token, or classify a write as a read.

use crate::access::Target;
use crate::admission::graphql::{GraphqlRequest, OperationKind};
pub use crate::admission::target::Resource;
use crate::admission::target::Shape;
use crate::respond::Refusal;
use crate::secrets::Secret;

/// The local endpoints, never proxied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminPath {
    Healthz,
    Readyz,
    Stats,
    Metrics,
    /// `GET /rate_limit`, answered from the pool's own state.
    RateLimit,
}

impl AdminPath {
    pub fn name(self) -> &'static str {
        match self {
            AdminPath::Healthz => "healthz",
            AdminPath::Readyz => "readyz",
            AdminPath::Stats => "stats",
            AdminPath::Metrics => "metrics",
            AdminPath::RateLimit => "rate_limit",
        }
    }
}

/// The client's own `Authorization` header, carried only by passthrough routes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCredential(pub Secret);

/// What a passthrough request writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    /// REST `POST`/`PATCH`/`PUT`/`DELETE`.
    Rest,
    /// A GraphQL mutation.
    Mutation { operation_name: Option<String> },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Admin(AdminPath),
    /// A REST read served with a pool identity, charged to `resource`.
    PooledRead {
        resource: Resource,
    },
    /// A GraphQL query served with a pool identity, charged to `graphql`.
    GraphqlQuery {
        operation_name: Option<String>,
    },
    /// A write, sent with the client's own token.
    Passthrough {
        credential: ClientCredential,
        write: Write,
    },
}

impl Route {
    /// A short label for logs and metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Route::Admin(_) => "admin",
            Route::PooledRead { .. } => "pooled_read",
            Route::GraphqlQuery { .. } => "graphql_query",
            Route::Passthrough { write: Write::Rest, .. } => "passthrough",
            Route::Passthrough { write: Write::Mutation { .. }, .. } => "graphql_mutation",
        }
    }

    /// Served with a pool identity?
    pub fn is_pooled(&self) -> bool {
        matches!(self, Route::PooledRead { .. } | Route::GraphqlQuery { .. })
    }

    /// The rate-limit resource a pooled route is charged to.
    pub fn resource(&self) -> Option<Resource> {
        match self {
            Route::PooledRead { resource } => Some(*resource),
            Route::GraphqlQuery { .. } => Some(Resource::Graphql),
            _ => None,
        }
    }
}

/// Is this the GraphQL endpoint (after normalization, `/api/graphql` is `/graphql`)?
pub fn is_graphql(target: &Target) -> bool {
    target.path == "/graphql"
}

/// The client's credential, required for every write: `token X`, `Bearer X`, Basic — any scheme
/// GitHub accepts; GitHub judges it, ghpool only insists that there is one.
fn credential(authorization: Option<&str>) -> Result<ClientCredential, Refusal> {
    let value = authorization.map(str::trim).filter(|v| !v.is_empty()).ok_or(Refusal::Unauthenticated)?;
    Ok(ClientCredential(Secret::new(value)))
}

/// Classify a request. `authorization` is the client's header value, if any; `graphql` the parsed
/// body of a `POST /graphql` (the caller parses it: a body that does not parse is refused there).
pub fn classify(
    method: &str,
    target: &Target,
    authorization: Option<&str>,
    graphql: Option<&GraphqlRequest>,
) -> Result<Route, Refusal> {
    if let Some(admin) = admin_path(&target.path) {
        return match method {
            "GET" | "HEAD" => Ok(Route::Admin(admin)),
            _ => Err(Refusal::MethodNotAllowed),
        };
    }
    if is_graphql(target) {
        let request = match (method, graphql) {
            ("POST", Some(request)) => request,
            ("POST", None) => return Err(Refusal::BadRequest("A GraphQL request needs a JSON body".into())),
            _ => return Err(Refusal::MethodNotAllowed),
        };
        let operation_name = request.operation_name.clone();
        return match request.kind {
            OperationKind::Query => Ok(Route::GraphqlQuery { operation_name }),
            OperationKind::Mutation => Ok(Route::Passthrough {
                credential: credential(authorization)?,
                write: Write::Mutation { operation_name },
            }),
        };
    }
    match method {
        "GET" | "HEAD" => Ok(Route::PooledRead { resource: Shape::of(target).resource() }),
        "POST" | "PATCH" | "PUT" | "DELETE" => {
            Ok(Route::Passthrough { credential: credential(authorization)?, write: Write::Rest })
        }
        _ => Err(Refusal::MethodNotAllowed),
    }
}

fn admin_path(path: &str) -> Option<AdminPath> {
    match path {
        "/healthz" => Some(AdminPath::Healthz),
        "/readyz" => Some(AdminPath::Readyz),
        "/stats" => Some(AdminPath::Stats),
        "/metrics" => Some(AdminPath::Metrics),
        "/rate_limit" => Some(AdminPath::RateLimit),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::normalize;

    fn route(method: &str, path: &str, auth: Option<&str>) -> Result<Route, Refusal> {
        classify(method, &normalize(path, "h").unwrap(), auth, None)
    }

    fn graphql(doc: &str, auth: Option<&str>) -> Result<Route, Refusal> {
        use crate::admission::graphql::{parse_request, GithubSchema, Limits, Scope};
        let body = serde_json::json!({ "query": doc }).to_string();
        let unscoped = Default::default();
        let scope = Scope { allows: &|_| true, screens: false, unscoped_roots: &unscoped };
        let request = parse_request(body.as_bytes(), GithubSchema::github(), &Limits::default(), &scope).unwrap();
        classify("POST", &normalize("/api/graphql", "h").unwrap(), auth, Some(&request))
    }

    #[test]
    fn graphql_queries_are_pooled_and_mutations_need_a_token() {
        assert_eq!(graphql("{ rateLimit { limit } }", None).unwrap().label(), "graphql_query");
        assert_eq!(graphql("{ rateLimit { limit } }", None).unwrap().resource(), Some(Resource::Graphql));
        let mutation = r#"mutation { addStar(input: {starrableId: "x"}) { clientMutationId } }"#;
        assert_eq!(graphql(mutation, None).unwrap_err().status(), 401);
        let m = graphql(r#"mutation M { addStar(input: {starrableId: "x"}) { clientMutationId } }"#, Some("bearer t"))
            .unwrap();
        assert_eq!(m.label(), "graphql_mutation");
        assert!(!m.is_pooled());
        assert_eq!(route("POST", "/graphql", Some("token t")).unwrap_err().status(), 400);
    }

    /// method, path, Authorization, route label or refusal status.
    type Case<'a> = (&'a str, &'a str, Option<&'a str>, Result<&'a str, u16>);

    #[test]
    fn classification_table() {
        let cases: &[Case] = &[
            ("GET", "/repos/o/r", None, Ok("pooled_read")),
            ("HEAD", "/repos/o/r", None, Ok("pooled_read")),
            ("GET", "/repos/o/r", Some("token client"), Ok("pooled_read")),
            ("GET", "/healthz", None, Ok("admin")),
            ("GET", "/api/v3/stats", None, Ok("admin")),
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
        ];
        for (method, path, auth, want) in cases {
            let got = route(method, path, *auth).map(|r| r.label()).map_err(|e| e.status());
            assert_eq!(&got, want, "{method} {path}");
        }
    }
}
