//! The per-request state the hooks fill in as a request moves through them.

use std::time::Instant;

use crate::access::Target;
use crate::admission::graphql::GraphqlRequest;
use crate::pool::Lease;
use crate::respond::Refusal;
use crate::route::Route;

/// Per-request state, filled in as the request moves through the hooks.
pub struct RequestCtx {
    pub(super) started: Instant,
    pub(super) target: Option<Target>,
    pub(super) route: Option<Route>,
    pub(super) graphql: Option<GraphqlRequest>,
    pub(super) lease: Option<Lease>,
    pub(super) resource: crate::route::Resource,
    pub(super) upstream_status: Option<u16>,
    /// This answer is repository JSON: learn its id → owner.
    pub(super) repo_json: bool,
    /// ghpool's base URL as this client reaches it.
    pub(super) public_base: String,
    /// A JSON answer held whole to rewrite its URLs.
    pub(super) body: Option<Vec<u8>>,
    /// A probed query: its answer is screened (`graphql::screen::screen`) before anything else.
    pub(super) screened: bool,
    /// A pooled REST JSON answer of an allowlisted proxy: screened (`rest_screen`) when complete.
    pub(super) rest_screened: bool,
    /// The body sent upstream instead of the client's: its document probed for the owner of every
    /// object that may belong to another owner.
    pub(super) probed: Option<bytes::Bytes>,
    /// This attempt has not sent `probed` yet (every retry sends it again).
    pub(super) probe_pending: bool,
    /// The cache key's hash and the cache's write count when it was made, once keyed.
    pub(super) cache_key: Option<(pingora_cache::key::HashBinary, u64)>,
    /// The answer is a closed issue or pull request: stored for `closed_ttl`.
    pub(super) closed: bool,
    /// Why no identity could take the request upstream, answered by `fail_to_proxy`.
    pub(super) refusal: Option<Refusal>,
    /// This request has been charged to its client's share.
    pub(super) charged: bool,
    /// The last answer was a rate limit or a bad token for its identity: Pingora retries the request,
    /// `upstream_peer` picks another identity.
    pub(super) failover: bool,
    /// A 403/429 that named no limit in its headers: its body may still say "secondary rate limit".
    pub(super) suspect: bool,
    /// The request was sent again after a connection error (once is enough).
    pub(super) reconnected: bool,
    /// The owners a pooled read touches: an App installation serves only its own.
    pub(super) owners: Vec<String>,
    /// A revalidation by the identity that cached the entry, but with a token rotated since: its
    /// ETag cannot match, a 200 is expected.
    pub(super) after_rotation: bool,
    /// What a successful mutation purges, once its answer says it changed something.
    pub(super) invalidation: Option<crate::cache::invalidate::Invalidation>,
    /// A mutation body larger than Pingora's retry buffer: ghpool sends it itself
    /// (`proxy::large`), once, with the client's token, and drops it with the answer.
    pub(super) large_body: Option<bytes::Bytes>,
}

impl RequestCtx {
    pub(super) fn new() -> RequestCtx {
        RequestCtx {
            started: Instant::now(),
            target: None,
            route: None,
            lease: None,
            graphql: None,
            resource: crate::route::Resource::Core,
            upstream_status: None,
            repo_json: false,
            public_base: String::new(),
            body: None,
            screened: false,
            rest_screened: false,
            probed: None,
            probe_pending: false,
            cache_key: None,
            closed: false,
            refusal: None,
            failover: false,
            charged: false,
            suspect: false,
            reconnected: false,
            owners: Vec::new(),
            after_rotation: false,
            invalidation: None,
            large_body: None,
        }
    }
}
