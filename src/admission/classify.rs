//! A request understood once: [`classify`] turns the request line, headers and (for `POST
//! /graphql`) body into an immutable [`Plan`], or a [`Refusal`]. Everything that follows —
//! the identity pick, the cache key and tags, the headers sent upstream, what the answer needs
//! (held, screened, learned from), what a write purges, the audit — reads the plan; nothing
//! matches the path again.
//!
//! Owns: the order of the checks — target made canonical (`access`), envelope (`envelope`), GraphQL
//! document (`graphql`), route, allowlist (`access`), tags (`tags`) — and how much of a body is read
//! for them. The plan itself is `admission::plan`.
//! Pure: what ghpool has learned of repositories is passed in ([`KnownRepos`]); a repository
//! named by an id whose owner is not known yet comes back as [`Admission::NeedsOwner`], to be
//! asked and classified again.
//! Must never: return a plan without an allowlist decision, classify a write as a read, or let a
//! pooled plan carry the client's credential.

use bytes::Bytes;

use super::access::{normalize, Allowlist, OwnerCheck, Target};
use super::agents::{Agent, Agents, Caller};
use super::envelope;
use super::graphql::{self, GithubSchema, Limits, OperationKind};
pub use super::plan::{AdminPath, ClientCredential, Flow, Plan, Read, ReadOf, Write, WriteOf};
use super::search;
use super::tags::{self, KnownRepos};
use super::target::RestTarget;
use crate::ratelimit::Resource;
use crate::reply::Refusal;
use crate::secrets::Secret;
use crate::upstream::rewrite;

/// Pingora keeps at most this much of a request body to send it again on a retry (its retry
/// buffer): a pooled GraphQL query must fit, to fail over to another identity.
pub const RETRY_BUFFER: usize = 64 * 1024;

const QUERY_TOO_LARGE: &str = "a pooled GraphQL query is held whole to be sent again on failover and is part of \
    its cache key; only mutations, sent with your own token, may be larger";
const MUTATION_TOO_LARGE: &str = "GraphQL mutation bodies are limited by `[graphql] max_mutation_body`";
const WRITE_TOO_LARGE: &str = "write bodies read for the audit are limited by `[graphql] max_mutation_body`";

/// How GraphQL documents are read.
#[derive(Debug, Clone, Copy)]
pub struct GraphqlRules {
    pub schema: &'static GithubSchema,
    pub limits: Limits,
    /// The largest mutation body, sent with the client's own token.
    pub max_mutation_body: u64,
}

/// What [`classify`] consults besides the request.
pub struct Rules<'a> {
    pub allowlist: &'a Allowlist,
    pub graphql: &'a GraphqlRules,
    /// The configured upstream's host, also accepted in an absolute-form request line.
    pub upstream_host: &'a str,
    /// `public_url` from the configuration, if set.
    pub public_url: Option<&'a str>,
    /// What ghpool knows of repositories (ids, names, owners).
    pub repos: &'a dyn KnownRepos,
    /// The agents and their keys (issue #16); none configured: every client as before.
    pub agents: &'a Agents,
    /// The audit names a REST write body's top-level fields (`[audit] path`): the body is read.
    pub reads_write_bodies: bool,
    /// How the client reached ghpool: `https` on the TLS listener (issue #17), else `http`; the
    /// scheme of the URLs in answers pointed at ghpool.
    pub scheme: &'a str,
    /// The connection's verified client certificate (mutual TLS), which may name an agent.
    pub client_certificate: Option<&'a crate::tls::ClientCertificate>,
    /// `[tls] client_ca` is set: a TLS connection must have a verified certificate, and the plain
    /// listener (`also_plain`) serves only the probes and metrics.
    pub mutual_tls: bool,
}

/// The request as it arrived: its line and headers.
pub struct Parts<'a> {
    pub method: &'a str,
    pub raw_path: &'a [u8],
    pub headers: &'a http::HeaderMap,
}

impl Parts<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn authorization(&self) -> Option<&str> {
        self.header("authorization")
    }
}

/// The request body, as far as it was read: `POST /graphql` bodies, and REST write bodies when the
/// audit names their fields ([`body_limit`]).
#[derive(Debug, Clone)]
pub enum Body {
    None,
    Whole(Bytes),
    /// More than the limit was sent: its first bytes.
    Cut(Bytes),
}

/// What [`classify`] concluded.
#[derive(Debug)]
// Made once per request and moved into its context: boxing the plan would cost every request an
// allocation to save a few bytes on a rare answer.
#[allow(clippy::large_enum_variant)]
pub enum Admission {
    Plan(Plan),
    /// A repository named by id decides: ask GitHub for its owner (with the pool's token for a
    /// read, with the client's own for a write), then classify again knowing it
    /// ([`KnowingOwner`]).
    NeedsOwner {
        id: u64,
        client: Option<ClientCredential>,
    },
}

/// [`KnownRepos`], plus the owner of one repository just asked.
pub struct KnowingOwner<'a> {
    pub known: &'a dyn KnownRepos,
    pub id: u64,
    pub owner: &'a str,
}

impl KnownRepos for KnowingOwner<'_> {
    fn owner_of(&self, id: u64) -> Option<String> {
        match id == self.id {
            true => Some(self.owner.to_ascii_lowercase()),
            false => self.known.owner_of(id),
        }
    }
    fn full_name(&self, id: u64) -> Option<String> {
        self.known.full_name(id)
    }
    fn id_of(&self, full_name: &str) -> Option<u64> {
        self.known.id_of(full_name)
    }
}

/// The local endpoint a canonical path names, if any.
pub fn admin_path(target: &Target) -> Option<AdminPath> {
    match RestTarget::of(target) {
        RestTarget::Local(path) => Some(path),
        _ => None,
    }
}

/// How much of the body to read before classifying: `None` when it is not read. `POST /graphql`
/// bodies are: a query fits Pingora's retry buffer; a mutation, sent with the client's token (or
/// an agent's minted one), may be as large as `[graphql] max_mutation_body`. So are REST write
/// bodies when the audit names their fields (`reads_write_bodies`), up to the same size. A body
/// declared larger is refused before any of it is read; so is one from a caller without a key when
/// agents exist.
pub fn body_limit(parts: &Parts, rules: &Rules) -> Result<Option<usize>, Refusal> {
    if !matches!(parts.method, "POST" | "PATCH" | "PUT" | "DELETE") {
        return Ok(None);
    }
    // What `classify` refuses is refused here too, before any of the body is read.
    let raw = request_target(parts)?;
    let Ok(target) = normalize(raw, rules.upstream_host) else { return Ok(None) };
    let shape = RestTarget::of(&target);
    // Refused as it stands, before its body is read.
    connection_allows(rules, &shape)?;
    let graphql = match shape {
        RestTarget::Graphql if parts.method == "POST" => {
            check_envelope(parts, &target, true)?;
            true
        }
        RestTarget::Graphql | RestTarget::Local(_) => return Ok(None),
        _ if rules.reads_write_bodies => false,
        _ => return Ok(None),
    };
    // Who sends it, before any of it is read: no key, no body.
    let caller = rules.agents.identify(parts.authorization(), rules.client_certificate)?;
    let credentialed = matches!(caller, Caller::Agent(_)) || parts.authorization().is_some();
    let max = max_mutation(rules).max(RETRY_BUFFER);
    let declared = parts.header("content-length").and_then(|v| v.trim().parse::<usize>().ok());
    if declared.is_some_and(|n| n > max) {
        return Err(Refusal::TooLarge(max, if graphql { MUTATION_TOO_LARGE } else { WRITE_TOO_LARGE }));
    }
    Ok(match (graphql, credentialed) {
        (_, true) => Some(max),
        (true, false) => Some(RETRY_BUFFER),
        // A write without a credential is refused unread.
        (false, false) => None,
    })
}

/// Classify a request: its canonical target, its envelope, its GraphQL document, its route and the
/// allowlist's decision, the owners and tags of a read, what a write purges.
pub fn classify(parts: &Parts, body: &Body, rules: &Rules) -> Result<Admission, Refusal> {
    let target = normalize(request_target(parts)?, rules.upstream_host)?;
    let shape = RestTarget::of(&target);
    connection_allows(rules, &shape)?;
    check_envelope(parts, &target, shape == RestTarget::Graphql)?;
    let host = parts.header("host");
    let public_base = rewrite::public_base(rules.public_url, rules.scheme, host, target.ghes_layout);
    // ghpool's own endpoints (probes, metrics, stats) need no agent key; git credentials do.
    let agent = match (&shape, identify(parts, &target, rules.agents, rules.client_certificate)) {
        (RestTarget::Local(path), _) if *path != AdminPath::GitCredential => None,
        (_, Ok(Caller::Agent(agent))) => Some(agent),
        (_, Ok(Caller::Unkeyed)) => None,
        (_, Err(refusal)) => return Err(refusal),
    };
    let flow = match shape {
        RestTarget::Local(AdminPath::GitCredential) => match parts.method {
            "GET" => git_credential(&target, agent.as_deref(), rules.allowlist)?,
            _ => return Err(Refusal::MethodNotAllowed),
        },
        RestTarget::Local(admin) => match parts.method {
            "GET" | "HEAD" => Flow::Admin(admin),
            _ => return Err(Refusal::MethodNotAllowed),
        },
        RestTarget::Graphql => match graphql_flow(parts, body, rules, agent.as_deref())? {
            Some(flow) => flow,
            None => return Err(Refusal::MethodNotAllowed),
        },
        _ => match rest_flow(parts, &target, &shape, rules, agent.as_deref(), body)? {
            Ok(flow) => flow,
            Err(needs_owner) => return Ok(needs_owner),
        },
    };
    Ok(Admission::Plan(Plan { target, public_base, flow, agent }))
}

/// With mutual TLS, what the connection allows: on the TLS listener, anything once its client
/// certificate verified (now: a resumed session's certificate is checked again, `tls`); on the
/// plain listener beside it (`also_plain`), the probes and metrics only.
fn connection_allows(rules: &Rules, shape: &RestTarget) -> Result<(), Refusal> {
    if !rules.mutual_tls {
        return Ok(());
    }
    match (rules.scheme, rules.client_certificate, shape) {
        ("https", Some(_), _) => Ok(()),
        ("https", None, _) => Err(Refusal::Forbidden(
            "ghpool: this connection's client certificate is not (or no longer) valid for ghpool's client CA".into(),
        )),
        (_, _, RestTarget::Local(AdminPath::Healthz | AdminPath::Readyz | AdminPath::Metrics)) => Ok(()),
        _ => Err(Refusal::Forbidden(
            "ghpool: with mutual TLS, the plain-HTTP listener serves only /healthz, /readyz and /metrics: use https:// with a client certificate".into(),
        )),
    }
}

/// Who the request comes from ([`Agents::identify`]), once agents are configured: one
/// `Authorization` only, and no agent key anywhere else a server could read one (the query string)
/// — it would be passed on to GitHub with the request.
fn identify(
    parts: &Parts,
    target: &Target,
    agents: &Agents,
    client_certificate: Option<&crate::tls::ClientCertificate>,
) -> Result<Caller, Refusal> {
    if !agents.is_empty() {
        if parts.headers.get_all("authorization").iter().count() > 1 {
            return Err(Refusal::BadRequest("more than one Authorization header".into()));
        }
        if target.query.as_deref().is_some_and(|q| q.contains(crate::secrets::agent_key::KEY_PREFIX)) {
            return Err(Refusal::NoAgentKey);
        }
    }
    agents.identify(parts.authorization(), client_certificate)
}

/// The request target as sent: UTF-8, or refused.
fn request_target<'a>(parts: &Parts<'a>) -> Result<&'a str, Refusal> {
    std::str::from_utf8(parts.raw_path).map_err(|_| Refusal::BadRequest("Invalid request path: not UTF-8".into()))
}

/// What a request may carry besides its target (`envelope`).
fn check_envelope(parts: &Parts, target: &Target, graphql: bool) -> Result<(), Refusal> {
    let headers = parts.headers;
    let header = |name: &str| {
        let values = headers.get_all(name);
        (values.iter().count(), values.iter().all(|v| v.to_str().is_ok()))
    };
    let has_body =
        headers.contains_key("transfer-encoding") || parts.header("content-length").is_some_and(|v| v.trim() != "0");
    let envelope =
        envelope::Envelope { method: parts.method, graphql, query: target.query.as_deref(), has_body, header: &header };
    envelope::check(&envelope).map_err(|e| Refusal::BadRequest(e.to_string()))
}

/// The client's credential, required for every write: `token X`, `Bearer X`, Basic — any scheme
/// GitHub accepts; GitHub judges it, ghpool only insists that there is one.
fn credential(authorization: Option<&str>) -> Result<ClientCredential, Refusal> {
    let value = authorization.map(str::trim).filter(|v| !v.is_empty()).ok_or(Refusal::Unauthenticated)?;
    Ok(ClientCredential(Secret::new(value)))
}

/// `POST /graphql`: a query is a pooled read of the owners its document names, a mutation a
/// write. `None`: not a method GraphQL takes.
fn graphql_flow(parts: &Parts, body: &Body, rules: &Rules, agent: Option<&Agent>) -> Result<Option<Flow>, Refusal> {
    if parts.method != "POST" {
        return Ok(None);
    }
    let body = match body {
        Body::Whole(body) => body,
        Body::None => return Err(Refusal::BadRequest("A GraphQL request needs a JSON body".into())),
        Body::Cut(_) if parts.authorization().is_some() => {
            return Err(Refusal::TooLarge(max_mutation(rules), MUTATION_TOO_LARGE))
        }
        // A mutation needs the client's token whatever its size; anything else this large is over
        // a query's limit (a document cut off in the prefix included).
        Body::Cut(prefix) => {
            return Err(match graphql::sniff::sniff_kind(prefix, &rules.graphql.limits) {
                Some(OperationKind::Mutation) => Refusal::Unauthenticated,
                _ => Refusal::TooLarge(RETRY_BUFFER, QUERY_TOO_LARGE),
            })
        }
    };
    let allowlist = rules.allowlist;
    // An agent reaches owners it holds repositories of; its answers are always screened.
    let allows = |owner: &str| allowlist.allows(owner) && agent.is_none_or(|a| a.policy.touches_owner(owner));
    let scope = graphql::Scope {
        allows: &allows,
        agent: agent.map(|a| &a.policy),
        screens: allowlist.screens() || agent.is_some(),
        unscoped_roots: allowlist.graphql_unscoped_fields(),
    };
    let (schema, limits) = (rules.graphql.schema, &rules.graphql.limits);
    let large = body.len() > RETRY_BUFFER;
    let request = match large {
        false => graphql::parse_request(body, schema, limits, &scope),
        // Too large to be a query; read without copying its variables.
        true => graphql::parse_large_request(body, schema, limits, &scope),
    };
    let request = request.map_err(|e| match e.status() {
        403 => Refusal::Forbidden(e.to_string()),
        413 => Refusal::TooLarge(RETRY_BUFFER, QUERY_TOO_LARGE),
        _ => Refusal::BadRequest(e.to_string()),
    })?;
    Ok(Some(match request.kind {
        OperationKind::Query => {
            let probed = probed_body(body, &request)?;
            Flow::Read(Read {
                resource: Resource::Graphql,
                owners: request.reads.owners.iter().cloned().collect(),
                tags: tags::graphql_tags(&request.reads),
                of: ReadOf::Graphql { request: Box::new(request), probed },
            })
        }
        OperationKind::Mutation if agent.is_some() => {
            // Sent with a token for the agent's repositories on one owner.
            let brokered = mutation_scope(agent.ok_or(Refusal::NoAgentKey)?, allowlist)?;
            let probed = probed_body(body, &request)?;
            Flow::Write(Write {
                // The token the broker mints for it, set before it is sent.
                credential: ClientCredential(Secret::new(String::new())),
                purge: tags::for_mutation(&request.reads, rules.repos),
                of: WriteOf::Mutation { body: body.clone(), large, request: Box::new(request), probed },
                brokered: Some(brokered),
            })
        }
        OperationKind::Mutation => Flow::Write(Write {
            brokered: None,
            credential: credential(parts.authorization())?,
            purge: tags::for_mutation(&request.reads, rules.repos),
            // Sent by ghpool itself (`proxy::large`): Pingora could not send it again.
            of: WriteOf::Mutation { body: body.clone(), large, request: Box::new(request), probed: None },
        }),
    }))
}

/// The body sent upstream instead of the client's when the document was probed.
fn probed_body(body: &Bytes, request: &graphql::GraphqlRequest) -> Result<Option<Bytes>, Refusal> {
    let Some(document) = &request.probed else { return Ok(None) };
    let probed = graphql::probed_body(body, document)
        .ok_or_else(|| Refusal::BadRequest("could not rewrite the GraphQL body with probes".into()))?;
    Ok(Some(Bytes::from(probed)))
}

fn max_mutation(rules: &Rules) -> usize {
    usize::try_from(rules.graphql.max_mutation_body).unwrap_or(usize::MAX)
}

/// A REST request: a read through the pool, or a write with the client's token; either way
/// checked against the allowlist. `Err(NeedsOwner)` when a repository's unknown owner decides.
fn rest_flow(
    parts: &Parts,
    target: &Target,
    shape: &RestTarget,
    rules: &Rules,
    agent: Option<&Agent>,
    body: &Body,
) -> Result<Result<Flow, Admission>, Refusal> {
    let repos = rules.repos;
    // A write's body, when it was read for the audit.
    let write_body = || match body {
        Body::None => Ok(None),
        Body::Whole(body) => Ok(Some(body.clone())),
        Body::Cut(_) => Err(Refusal::TooLarge(max_mutation(rules).max(RETRY_BUFFER), WRITE_TOO_LARGE)),
    };
    let owner_of = |id| repos.owner_of(id);
    match parts.method {
        "GET" | "HEAD" => {
            let (check, owners) = rules.allowlist.check_read(target, shape, owner_of)?;
            if let OwnerCheck::NeedsOwnerOf(id) = check {
                return Ok(Err(Admission::NeedsOwner { id, client: None }));
            }
            if let Some(agent) = agent {
                if let Some(id) = agent_read(agent, target, shape, rules)? {
                    return Ok(Err(Admission::NeedsOwner { id, client: None }));
                }
            }
            Ok(Ok(Flow::Read(Read {
                resource: shape.resource(),
                owners,
                tags: tags::rest_tags(target, repos),
                of: ReadOf::Rest {
                    repository: shape.is_repository(),
                    screened: (rules.allowlist.screens() || agent.is_some()) && *shape != RestTarget::Root,
                },
            })))
        }
        "POST" | "PATCH" | "PUT" | "DELETE" if agent.is_some() => {
            let brokered = agent_write(agent, parts.method, target, rules)?;
            let purge = tags::for_rest_write(target, repos);
            // The credential is the token the broker mints for it, set before it is sent.
            let credential = ClientCredential(Secret::new(String::new()));
            let of = WriteOf::Rest { body: write_body()? };
            Ok(Ok(Flow::Write(Write { credential, purge, of, brokered: Some(brokered) })))
        }
        "POST" | "PATCH" | "PUT" | "DELETE" => {
            let credential = credential(parts.authorization())?;
            if let OwnerCheck::NeedsOwnerOf(id) = rules.allowlist.check_write(parts.method, target, owner_of)? {
                // A write names its repository with the client's own token, never the pool's.
                return Ok(Err(Admission::NeedsOwner { id, client: Some(credential) }));
            }
            let purge = tags::for_rest_write(target, repos);
            let of = WriteOf::Rest { body: write_body()? };
            Ok(Ok(Flow::Write(Write { credential, purge, of, brokered: None })))
        }
        _ => Err(Refusal::MethodNotAllowed),
    }
}

/// A read by `agent`, already within the allowlist: within the agent's repositories too, or the
/// refusal naming the agent and what it may not read. `Ok(Some(id))`: repository `id` decides and
/// its name is not known yet (ask GitHub, classify again).
fn agent_read(agent: &Agent, target: &Target, shape: &RestTarget, rules: &Rules) -> Result<Option<u64>, Refusal> {
    use super::policy::rest_reach;
    use super::rest_routes::RouteTable;
    let denied = |what: &dyn std::fmt::Display| {
        Refusal::Forbidden(format!(
            "ghpool: agent `{}` may not read `{what}`: it is not among its repositories",
            agent.id
        ))
    };
    // A repository named by id: its name decides (an agent holds repositories, not owners).
    let by_id = |id: u64| -> Result<Option<u64>, Refusal> {
        let owner = rules.repos.owner_of(id);
        if owner.as_deref().is_some_and(|o| agent.policy.covers_owner(o)) {
            return Ok(None);
        }
        match rules.repos.full_name(id) {
            None => Ok(Some(id)),
            // Not its own: GitHub's 404, as for an id that does not exist (no oracle of which exist).
            Some(full_name) => match full_name.split_once('/') {
                Some((owner, name)) if agent.policy.covers_repo(owner, name) => Ok(None),
                _ => Err(Refusal::NotFound),
            },
        }
    };
    match shape {
        RestTarget::Local(_) => Ok(None),
        RestTarget::Search { kind: "labels" } => {
            let id = search::repository_id(target.query.as_deref()).map_err(|e| Refusal::BadRequest(e.to_string()))?;
            by_id(id)
        }
        RestTarget::Search { .. } => {
            let q = search::q_parameter(target.query.as_deref()).map_err(|e| Refusal::Forbidden(e.to_string()))?;
            let allowlist = rules.allowlist;
            search::confine_named(&q, |named| allowlist.allows(named.owner) && agent.policy.allows_qualifier(named))
                .map_err(|e| match e {
                    search::SearchRefusal::NotAllowed(what) => denied(&what),
                    other => Refusal::Forbidden(other.to_string()),
                })?;
            Ok(None)
        }
        _ => {
            // Not an endpoint GitHub documents: only the operator's public paths got this far.
            let Some(endpoint) = RouteTable::github().lookup("GET", &target.segments) else { return Ok(None) };
            let reached = rest_reach(&endpoint).map_err(|e| Refusal::BadRequest(e.to_string()))?;
            if let Some(outside) = agent.policy.first_outside(&reached) {
                return Err(denied(outside));
            }
            // An owner-free path got this far only as one the operator serves publicly.
            endpoint.repository_id().map_or(Ok(None), by_id)
        }
    }
}

/// `GET /git-credential?repo=owner/name`: for a keyed agent, one of its repositories.
fn git_credential(target: &Target, agent: Option<&Agent>, allowlist: &Allowlist) -> Result<Flow, Refusal> {
    let agent = agent.ok_or(Refusal::NoAgentKey)?;
    let repo = search::single(target.query.as_deref(), "repo").map_err(|e| Refusal::BadRequest(e.to_string()))?;
    let parsed = crate::config::agents::parse_repo(&repo).map_err(Refusal::BadRequest)?;
    let crate::config::agents::RepoPattern::Repo { owner, name } = parsed else {
        return Err(Refusal::BadRequest("`repo` names one repository: owner/name".into()));
    };
    if !allowlist.allows(&owner) || !agent.policy.covers_repo(&owner, &name) {
        return Err(Refusal::Forbidden(format!(
            "ghpool: agent `{}` may not read `{owner}/{name}`: it is not among its repositories",
            agent.id
        )));
    }
    let write = agent.permissions.get("contents").is_some_and(|level| level == "write");
    Ok(Flow::GitCredential(super::plan::GitCredential { owner, name, write }))
}

/// An agent's REST write: to exactly one repository of its policy, named `owner/name` in the path,
/// by an agent given write permissions (GitHub holds the minted token to them).
fn agent_write(
    agent: Option<&Agent>,
    method: &str,
    target: &Target,
    rules: &Rules,
) -> Result<super::plan::Brokered, Refusal> {
    use super::policy::{rest_reach, Reached};
    use super::rest_routes::RouteTable;
    let Some(agent) = agent else { return Err(agent_writes(None)) };
    if !crate::config::agents::writes_with(&agent.permissions) {
        return Err(read_only(agent));
    }
    let endpoint = RouteTable::github().lookup(method, &target.segments).ok_or(Refusal::NotFound)?;
    let reached = rest_reach(&endpoint).map_err(|e| Refusal::BadRequest(e.to_string()))?;
    let repos: Vec<(&String, &String)> = reached
        .iter()
        .filter_map(|r| match r {
            Reached::Repo { owner, name } => Some((owner, name)),
            Reached::Owner(_) => None,
        })
        .collect();
    let denied = |what: &dyn std::fmt::Display| {
        Refusal::Forbidden(format!(
            "ghpool: agent `{}` may not write to `{what}`: it is not among its repositories",
            agent.id
        ))
    };
    if let Some(outside) = agent.policy.first_outside(&reached) {
        return Err(denied(outside));
    }
    // Only the repository's own endpoints: `/user/starred/{owner}/{repo}` or
    // `/teams/{id}/repos/{owner}/{repo}` name one too, but write to something else.
    let under_repos = target.segments.first().is_some_and(|s| s == "repos");
    match repos[..] {
        [(owner, name)]
            if under_repos
                && reached.len() == 1
                && endpoint.repository_id().is_none()
                && rules.allowlist.allows(owner) =>
        {
            Ok(super::plan::Brokered { owner: owner.clone(), name: Some(name.clone()) })
        }
        _ => Err(Refusal::Forbidden(format!(
            "ghpool: agent `{}` writes name one repository as /repos/{{owner}}/{{repo}}/…; `{}` does not",
            agent.id, target.path
        ))),
    }
}

/// An agent given no permission to write with (none, or `read` levels only).
fn read_only(agent: &Agent) -> Refusal {
    Refusal::Forbidden(format!("ghpool: agent `{}` is read-only (no write permissions configured)", agent.id))
}

/// A write by a caller that is no agent where one was expected.
fn agent_writes(agent: Option<&Agent>) -> Refusal {
    match agent {
        Some(agent) => Refusal::Forbidden(format!("ghpool: agent `{}` may not write here", agent.id)),
        None => Refusal::NoAgentKey,
    }
}

/// What an agent's GraphQL mutation is sent with: a token for the agent's repositories on the one
/// owner it holds repositories of (a mutation names nodes, not repositories; GitHub holds the token
/// to them). An agent without write permissions, or whose repositories span several owners (ghpool
/// could not tell which installation's token the mutation needs), is refused.
fn mutation_scope(agent: &Agent, allowlist: &Allowlist) -> Result<super::plan::Brokered, Refusal> {
    if !crate::config::agents::writes_with(&agent.permissions) {
        return Err(read_only(agent));
    }
    let owners: Vec<String> = agent.policy.owners().into_iter().filter(|o| allowlist.allows(o)).collect();
    match &owners[..] {
        [owner] => Ok(super::plan::Brokered { owner: owner.clone(), name: None }),
        _ => Err(Refusal::Forbidden(format!(
            "ghpool: agent `{}` holds repositories of {} owners ({}): a GraphQL mutation names nodes, not repositories, so ghpool cannot tell which owner's installation to send it with; use the REST API for this write, or give the agent repositories of one owner",
            agent.id,
            owners.len(),
            owners.join(", ")
        ))),
    }
}

#[cfg(test)]
mod tests;
