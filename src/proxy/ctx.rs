//! The per-request state: the plan admission made (immutable once made), and what each attempt
//! upstream learns as it goes.
//! Must never: hold a decision a hook could make again from the plan.

use std::time::Instant;

use crate::admission::classify::Plan;
use crate::pool::Lease;
use crate::reply::Refusal;

/// Per-request state.
pub struct RequestCtx {
    pub(super) started: Instant,
    /// What admission decided; `None` only for a request refused before it had a plan.
    pub(super) plan: Option<Plan>,
    /// Charged to its client's share (once, however many identities it tries).
    pub(super) charged: bool,
    /// The cache key's hash and the cache's write count when it was made, once keyed.
    pub(super) cache_key: Option<(pingora_cache::key::HashBinary, u64)>,
    /// Why no identity could take the request upstream: answered by `fail_to_proxy`, and lets
    /// `should_serve_stale` serve an expired entry instead.
    pub(super) refusal: Option<Refusal>,
    /// With `[shared]`: the entry's name in Redis (its fill claim is released when the request ends).
    pub(super) shared_name: Option<String>,
    /// With `[shared]`: the write generations of the read's tags before it went upstream (`3,0,7`),
    /// stored with its answer; `None` when Redis could not say.
    pub(super) generations: Option<String>,
    /// A miss that went for GitHub (charged, an identity asked for): it may hold a shared fill claim.
    pub(super) went_upstream: bool,
    /// Sent again once after a connection error already (once is enough).
    pub(super) reconnected: bool,
    /// An agent's write: the installation its token was minted on (for the audit).
    pub(super) minted_on: Option<crate::pool::broker::MintedOn>,
    /// The audit file's id of this write's decision: its outcome is recorded under it.
    pub(super) audit_request: Option<String>,
    /// The attempt upstream under way (a failover starts a new one).
    pub(super) attempt: Attempt,
    /// What GitHub's last answer turned out to be, for `logging`.
    pub(super) answered: Answered,
}

/// One attempt upstream, with one identity (or the client's own token).
#[derive(Default)]
pub(super) struct Attempt {
    /// The pool identity this attempt goes with; `None` for a write.
    pub(super) lease: Option<Lease>,
    /// The lease as the other replicas count it (`shared`): the handle, the identity, its name.
    pub(super) shared_lease: Option<(std::sync::Arc<crate::shared::Shared>, String, String)>,
    /// The identity was limited or refused: Pingora retries, `upstream_peer` picks another.
    pub(super) failing_over: bool,
    /// The probed body replaced the client's on this attempt.
    pub(super) probe_sent: bool,
    /// A revalidation by the identity that cached the entry, with a token rotated since: its ETag
    /// cannot match, a 200 is expected.
    pub(super) after_rotation: bool,
    /// The answer's body, held whole until its end, and what it needs then.
    pub(super) held: Option<super::answer::Held>,
    /// A 403/429 that named no limit in its headers: its body may still say "secondary rate limit".
    pub(super) suspect: bool,
}

/// What the answer said, once it came.
#[derive(Default)]
pub(super) struct Answered {
    pub(super) status: Option<u16>,
    /// GitHub's `X-GitHub-Request-Id` (for the audit's outcome record).
    pub(super) request_id: Option<String>,
    /// The cache keeps this answer (its storage then ends a shared fill claim).
    pub(super) stored: bool,
    /// A closed issue or pull request: its entry is kept for `closed_ttl`.
    pub(super) closed: bool,
    /// A write that succeeded and changed something: what it makes stale is purged when the
    /// request ends (a mutation's 200 may say it changed nothing).
    pub(super) purge: bool,
}

impl RequestCtx {
    /// The attempt is done with its identity, here and as the other replicas count it.
    pub(super) fn end_lease(&mut self) {
        self.attempt.lease = None;
        if let Some((shared, id, member)) = self.attempt.shared_lease.take() {
            shared.lease_ended(&id, member);
        }
    }

    pub(super) fn new() -> RequestCtx {
        RequestCtx {
            started: Instant::now(),
            plan: None,
            charged: false,
            cache_key: None,
            refusal: None,
            generations: None,
            shared_name: None,
            went_upstream: false,
            minted_on: None,
            audit_request: None,
            reconnected: false,
            attempt: Attempt::default(),
            answered: Answered::default(),
        }
    }
}
