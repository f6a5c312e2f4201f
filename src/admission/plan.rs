//! The plan: what ghpool does with one request, decided once by `admission::classify` and never
//! changed after. Everything past admission reads it — the identity pick, the cache key and tags,
//! the headers sent upstream, what the answer needs, what a write purges, the audit.
//!
//! Owns: [`Plan`] and its parts. The types make the wrong combinations unwritable: a pooled read
//! carries no client credential, a write carries one; only a query has a probed body, only a
//! mutation a large one.
//! Must never: be built outside `classify`, or changed once built.

use std::collections::BTreeSet;

use bytes::Bytes;

use super::access::Target;
use super::graphql::GraphqlRequest;
use crate::cache::invalidate::{Invalidation, Tag};
use crate::ratelimit::Resource;
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
    /// `GET /git-credential?repo=o/r`: a token for git, minted for a keyed agent (issue #16).
    GitCredential,
}

impl AdminPath {
    pub fn name(self) -> &'static str {
        match self {
            AdminPath::Healthz => "healthz",
            AdminPath::Readyz => "readyz",
            AdminPath::Stats => "stats",
            AdminPath::Metrics => "metrics",
            AdminPath::RateLimit => "rate_limit",
            AdminPath::GitCredential => "git_credential",
        }
    }
}

/// The client's own `Authorization` header, carried only by writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCredential(pub Secret);

/// What ghpool does with one request, decided once, before anything goes upstream; never changed
/// after.
#[derive(Debug)]
pub struct Plan {
    pub target: Target,
    /// ghpool's base URL as this client reaches it: GitHub's URLs in answers are pointed there.
    pub public_base: String,
    pub flow: Flow,
    /// The keyed agent the request comes from (issue #16): its policy screens the answer and keys
    /// the cache. `None`: no agent key (no agents configured, or `allow_unkeyed`).
    pub agent: Option<std::sync::Arc<super::agents::Agent>>,
}

#[derive(Debug)]
pub enum Flow {
    /// Answered by ghpool itself.
    Admin(AdminPath),
    /// A REST read or a GraphQL query, served with a pool identity and cached.
    Read(Read),
    /// A write, sent with the client's own token.
    Write(Write),
    /// A token for git to reach one repository, minted for the plan's agent.
    GitCredential(GitCredential),
}

/// What `GET /git-credential` asks for: one repository within the agent's policy, its contents read
/// (or written, when the agent's `contents` permission is `write`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitCredential {
    pub owner: String,
    pub name: String,
    pub write: bool,
}

/// A pooled read.
#[derive(Debug)]
pub struct Read {
    /// The rate-limit bucket it is charged to.
    pub resource: Resource,
    /// The owners it touches (lower-cased): an App installation serves only its own.
    pub owners: Vec<String>,
    /// What its cache entry is filed under, for writes to purge.
    pub tags: BTreeSet<Tag>,
    pub of: ReadOf,
}

#[derive(Debug)]
pub enum ReadOf {
    Rest {
        /// The answer is one repository's JSON: its id and owner are learned from it.
        repository: bool,
        /// An allowlist is in force: a JSON answer is screened by owner (`rest_screen`).
        screened: bool,
    },
    Graphql {
        request: Box<GraphqlRequest>,
        /// The body sent upstream instead of the client's, its document probed for the owner of
        /// every object that may belong to another owner; its answer is screened.
        probed: Option<Bytes>,
    },
}

/// A write.
#[derive(Debug)]
pub struct Write {
    /// The client's own `Authorization`; for an agent's write, the token the broker minted for it
    /// (set by the proxy before the write is sent).
    pub credential: ClientCredential,
    /// What a successful write makes stale.
    pub purge: Invalidation,
    pub of: WriteOf,
    /// An agent's write (issue #16): the repository its token is minted for.
    pub brokered: Option<Brokered>,
}

/// What an agent's write reaches, which its minted token is scoped to: one repository (a REST
/// write), or the agent's repositories on one owner (a GraphQL mutation, which names nodes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Brokered {
    pub owner: String,
    /// `None`: every repository of `owner` the agent holds.
    pub name: Option<String>,
}

#[derive(Debug)]
pub enum WriteOf {
    /// REST `POST`/`PATCH`/`PUT`/`DELETE`.
    Rest {
        /// The body, read whole when the audit names its fields (`[audit] path`); else it streams
        /// to GitHub unread.
        body: Option<Bytes>,
    },
    Mutation {
        request: Box<GraphqlRequest>,
        /// The body as the client sent it.
        body: Bytes,
        /// Larger than [`super::classify::RETRY_BUFFER`]: Pingora could not send it again, so
        /// ghpool sends it itself, once (`proxy::large`).
        large: bool,
        /// An agent's mutation: the body with ghpool's probes in its document, sent instead of the
        /// client's; the answer is screened by the agent's repositories.
        probed: Option<Bytes>,
    },
}

impl Plan {
    /// A short label for logs and metrics.
    pub fn label(&self) -> &'static str {
        match &self.flow {
            Flow::Admin(_) => "admin",
            Flow::GitCredential(_) => "git_credential",
            Flow::Read(Read { of: ReadOf::Rest { .. }, .. }) => "pooled_read",
            Flow::Read(Read { of: ReadOf::Graphql { .. }, .. }) => "graphql_query",
            Flow::Write(Write { brokered: Some(_), .. }) => "brokered_write",
            Flow::Write(Write { of: WriteOf::Rest { .. }, .. }) => "passthrough",
            Flow::Write(Write { of: WriteOf::Mutation { .. }, .. }) => "graphql_mutation",
        }
    }

    /// The pooled read, if this is one.
    pub fn read(&self) -> Option<&Read> {
        match &self.flow {
            Flow::Read(read) => Some(read),
            _ => None,
        }
    }

    pub fn write(&self) -> Option<&Write> {
        match &self.flow {
            Flow::Write(write) => Some(write),
            _ => None,
        }
    }

    /// The GraphQL document, for a query or a mutation.
    pub fn graphql(&self) -> Option<&GraphqlRequest> {
        match &self.flow {
            Flow::Read(Read { of: ReadOf::Graphql { request, .. }, .. }) => Some(request),
            Flow::Write(Write { of: WriteOf::Mutation { request, .. }, .. }) => Some(request),
            _ => None,
        }
    }

    /// The probed body sent upstream instead of the client's.
    pub fn probed(&self) -> Option<&Bytes> {
        match &self.flow {
            Flow::Read(Read { of: ReadOf::Graphql { probed, .. }, .. }) => probed.as_ref(),
            _ => None,
        }
    }

    /// The body of a write ghpool sends itself (`proxy::large`), not Pingora: one too large for
    /// Pingora to send again; an agent's mutation (probed, its answer screened); and, with
    /// replicas (`shared`), every mutation (its answer read before the client has it).
    pub fn sent_by_ghpool(&self, shared: bool) -> Option<&Bytes> {
        match &self.flow {
            Flow::Write(Write { of: WriteOf::Mutation { probed: Some(probed), .. }, .. }) => Some(probed),
            Flow::Write(Write { of: WriteOf::Mutation { body, large, .. }, brokered, .. })
                if *large || shared || brokered.is_some() =>
            {
                Some(body)
            }
            Flow::Write(Write { of: WriteOf::Rest { body: Some(body) }, .. })
                if body.len() > super::classify::RETRY_BUFFER =>
            {
                Some(body)
            }
            _ => None,
        }
    }
}
