//! Classification: what kind of request this is, decided from the method and the canonical target.
//!
//! Owns: `classify` → [`Route`]. A pooled route carries no client credential; a passthrough route
//! cannot exist without one — the types make the two impossible to mix up.
//! Must never: look at a pool token, or classify a write as a read.

use crate::access::Target;
use crate::respond::Refusal;
use crate::secrets::Secret;

/// The local endpoints, never proxied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminPath {
    Healthz,
    Readyz,
    Stats,
    Metrics,
}

impl AdminPath {
    pub fn name(self) -> &'static str {
        match self {
            AdminPath::Healthz => "healthz",
            AdminPath::Readyz => "readyz",
            AdminPath::Stats => "stats",
            AdminPath::Metrics => "metrics",
        }
    }
}

/// The client's own `Authorization` header, carried only by passthrough routes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCredential(pub Secret);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Admin(AdminPath),
    /// A REST read served with a pool identity, charged to `resource`.
    PooledRead {
        resource: &'static str,
    },
    /// A write (or, until GraphQL parsing lands, any GraphQL POST), sent with the client's token.
    Passthrough {
        credential: ClientCredential,
    },
}

impl Route {
    /// A short label for logs and metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Route::Admin(_) => "admin",
            Route::PooledRead { .. } => "pooled_read",
            Route::Passthrough { .. } => "passthrough",
        }
    }
}

/// Which rate-limit bucket GitHub charges a request to.
pub fn resource_for(target: &Target) -> &'static str {
    match (target.segment(0), target.segment(1)) {
        (Some("graphql"), None) => "graphql",
        (Some("search"), Some("code")) => "code_search",
        (Some("search"), _) => "search",
        _ => "core",
    }
}

/// Classify a request. `authorization` is the client's header value, if any.
pub fn classify(method: &str, target: &Target, authorization: Option<&str>) -> Result<Route, Refusal> {
    if let Some(admin) = admin_path(&target.path) {
        return match method {
            "GET" | "HEAD" => Ok(Route::Admin(admin)),
            _ => Err(Refusal::MethodNotAllowed),
        };
    }
    match method {
        "GET" | "HEAD" if target.path != "/graphql" => Ok(Route::PooledRead {
            resource: resource_for(target),
        }),
        "POST" | "PATCH" | "PUT" | "DELETE" => {
            let credential = authorization
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .ok_or(Refusal::Unauthenticated)?;
            Ok(Route::Passthrough {
                credential: ClientCredential(Secret::new(credential)),
            })
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
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::normalize;

    fn route(method: &str, path: &str, auth: Option<&str>) -> Result<Route, Refusal> {
        classify(method, &normalize(path, "h").unwrap(), auth)
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
            ("POST", "/graphql", None, Err(401)),
            ("GET", "/graphql", None, Err(405)),
            ("OPTIONS", "/repos/o/r", None, Err(405)),
        ];
        for (method, path, auth, want) in cases {
            let got = route(method, path, *auth).map(|r| r.label()).map_err(|e| e.status());
            assert_eq!(&got, want, "{method} {path}");
        }
    }

    #[test]
    fn resources() {
        let res = |p: &str| resource_for(&normalize(p, "h").unwrap());
        assert_eq!(res("/repos/o/r"), "core");
        assert_eq!(res("/search/issues"), "search");
        assert_eq!(res("/search/code"), "code_search");
        assert_eq!(res("/graphql"), "graphql");
    }
}
