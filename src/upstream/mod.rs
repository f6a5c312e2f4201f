//! The upstream GitHub API: its base URL (scheme, host, port, path prefix) and the address it
//! resolves to.
//!
//! Owns: parsing `upstream`, building the upstream request target from a client path, and keeping a
//! resolved address fresh. Pingora's `HttpPeer::new("host:port")` would resolve DNS on a worker and
//! panic on failure, so resolution happens here, at start and in the background, and the proxy
//! hands Pingora a `SocketAddr` with SNI and `Host` set from the configured name.
//! Also ghpool's own small calls to the API ([`get_json`]: `GET /user`, `GET /repositories/{id}`),
//! made with reqwest outside Pingora's request path.
//! Must never: decide anything about a request, or put a credential in an error.

pub mod rewrite;

use std::net::SocketAddr;
use std::sync::RwLock;
use std::time::Duration;

use crate::ratelimit::{parse_headers, RateLimit};

use url::Url;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UpstreamError {
    #[error("`{0}` is not a URL: {1}")]
    NotAUrl(String, String),
    #[error("`{0}`: the scheme must be http or https")]
    Scheme(String),
    #[error("`{0}`: a host is required")]
    NoHost(String),
    #[error("`{0}`: query strings, fragments and credentials are not allowed in the base URL")]
    Extra(String),
}

/// The configured GitHub API base, e.g. `https://api.github.com` or `https://ghe.example.com/api/v3`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    tls: bool,
    host: String,
    port: u16,
    /// Path prefix without a trailing slash: "" or "/api/v3".
    prefix: String,
}

impl Upstream {
    pub fn parse(text: &str) -> Result<Upstream, UpstreamError> {
        let url = Url::parse(text.trim()).map_err(|e| UpstreamError::NotAUrl(text.to_string(), e.to_string()))?;
        let tls = match url.scheme() {
            "https" => true,
            "http" => false,
            _ => return Err(UpstreamError::Scheme(text.to_string())),
        };
        if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() || url.password().is_some() {
            return Err(UpstreamError::Extra(text.to_string()));
        }
        let host = url.host_str().filter(|h| !h.is_empty()).ok_or_else(|| UpstreamError::NoHost(text.to_string()))?;
        let port = url.port_or_known_default().unwrap_or(if tls { 443 } else { 80 });
        let prefix = url.path().trim_end_matches('/').to_string();
        Ok(Upstream { tls, host: host.trim_matches(['[', ']']).to_string(), port, prefix })
    }

    pub fn tls(&self) -> bool {
        self.tls
    }

    /// The name for SNI and certificate verification.
    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The `Host` header GitHub expects: the name, with the port only when it is not the default.
    pub fn host_header(&self) -> String {
        let default_port = if self.tls { 443 } else { 80 };
        let host = if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() };
        match self.port == default_port {
            true => host,
            false => format!("{host}:{}", self.port),
        }
    }

    /// `scheme://host[:port]prefix`, no trailing slash.
    pub fn base_url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}{}", self.host_header(), self.prefix)
    }

    /// The upstream request target for a normalized client path (starting with '/') and query.
    pub fn target(&self, path: &str, query: Option<&str>) -> String {
        match query {
            Some(q) if !q.is_empty() => format!("{}{path}?{q}", self.prefix),
            _ => format!("{}{path}", self.prefix),
        }
    }
}

/// The upstream's resolved address, refreshed in the background.
#[derive(Debug)]
pub struct ResolvedUpstream {
    upstream: Upstream,
    addr: RwLock<Option<SocketAddr>>,
}

impl ResolvedUpstream {
    pub fn new(upstream: Upstream) -> Self {
        ResolvedUpstream { upstream, addr: RwLock::new(None) }
    }

    pub fn upstream(&self) -> &Upstream {
        &self.upstream
    }

    /// The last good address, if any resolution has succeeded.
    pub fn addr(&self) -> Option<SocketAddr> {
        *self.addr.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Resolve now; on failure keep the previous address (DNS blips must not take ghpool down).
    pub async fn refresh(&self) -> std::io::Result<SocketAddr> {
        let mut addrs = tokio::net::lookup_host((self.upstream.host.as_str(), self.upstream.port)).await?;
        let addr = addrs
            .next()
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no address for the upstream host"))?;
        *self.addr.write().unwrap_or_else(|p| p.into_inner()) = Some(addr);
        Ok(addr)
    }
}

/// GitHub's answer to one of ghpool's own calls.
#[derive(Debug)]
pub struct Fetched {
    pub status: u16,
    pub rate: Option<(String, RateLimit)>,
    pub token_expires: Option<String>,
    /// The JSON body (`Null` when there is none or it is not JSON).
    pub body: serde_json::Value,
}

impl Fetched {
    /// GitHub's `message`, for error reports.
    pub fn message(&self) -> String {
        self.body.get("message").and_then(|m| m.as_str()).unwrap_or("no message").to_string()
    }
}

/// Why one of ghpool's own calls got no answer. Never carries the credential.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("GitHub could not be reached: {0}")]
    Unreachable(String),
    #[error("GitHub did not answer within {0:?}")]
    Timeout(Duration),
}

/// `GET <base><path>` with `authorization` (a full header value, or none), bounded by `timeout`.
pub async fn get_json(
    client: &reqwest::Client,
    upstream: &Upstream,
    path: &str,
    authorization: Option<&str>,
    timeout: Duration,
) -> Result<Fetched, ApiError> {
    call_json(client, upstream, reqwest::Method::GET, path, authorization, None, timeout).await
}

/// Any method, with an optional JSON body: ghpool's own calls to GitHub (logins, App tokens).
pub async fn call_json(
    client: &reqwest::Client,
    upstream: &Upstream,
    method: reqwest::Method,
    path: &str,
    authorization: Option<&str>,
    body: Option<&serde_json::Value>,
    timeout: Duration,
) -> Result<Fetched, ApiError> {
    let mut request = client
        .request(method, format!("{}{path}", upstream.base_url()))
        .header("accept", "application/vnd.github+json")
        .header("user-agent", crate::USER_AGENT)
        .timeout(timeout);
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = match request.send().await {
        Ok(r) => r,
        Err(e) if e.is_timeout() => return Err(ApiError::Timeout(timeout)),
        // reqwest's error text names the URL, never a header value.
        Err(e) => return Err(ApiError::Unreachable(e.to_string())),
    };
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let rate = parse_headers(get);
    let token_expires = get("github-authentication-token-expiration").map(str::to_string);
    let body = match response.bytes().await {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
        Err(e) if e.is_timeout() => return Err(ApiError::Timeout(timeout)),
        Err(e) => return Err(ApiError::Unreachable(e.to_string())),
    };
    Ok(Fetched { status, rate, token_expires, body })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_base_urls() {
        let gh = Upstream::parse("https://api.github.com").unwrap();
        assert_eq!((gh.tls(), gh.host(), gh.port(), gh.prefix()), (true, "api.github.com", 443, ""));
        assert_eq!(gh.host_header(), "api.github.com");
        assert_eq!(gh.target("/repos/o/r", Some("page=2")), "/repos/o/r?page=2");

        let ghes = Upstream::parse("https://ghe.example.com/api/v3/").unwrap();
        assert_eq!(ghes.prefix(), "/api/v3");
        assert_eq!(ghes.target("/repos/o/r", None), "/api/v3/repos/o/r");
        assert_eq!(ghes.base_url(), "https://ghe.example.com/api/v3");

        let local = Upstream::parse("http://127.0.0.1:8081").unwrap();
        assert_eq!((local.tls(), local.port()), (false, 8081));
        assert_eq!(local.host_header(), "127.0.0.1:8081");
    }

    #[test]
    fn refuses_bad_base_urls() {
        assert!(matches!(Upstream::parse("api.github.com"), Err(UpstreamError::NotAUrl(..))));
        assert!(matches!(Upstream::parse("ftp://x"), Err(UpstreamError::Scheme(_))));
        assert!(matches!(Upstream::parse("https://x/?a=b"), Err(UpstreamError::Extra(_))));
        assert!(matches!(Upstream::parse("https://u:p@x/"), Err(UpstreamError::Extra(_))));
    }
}
