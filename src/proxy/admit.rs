//! Admission: what a request is and whether it may go on — its target normalized, a GraphQL body
//! read and analyzed, the route classified, the allowlist asked (resolving a repository id's owner
//! when needed), the owners an identity must serve, and the probe for screened `node` fields.
//! Must never: let a request past without an allowlist verdict, or call GitHub for a refused one.

use bytes::Bytes;
use pingora_proxy::Session;

use super::io::{declared_length, read_body, Read, RETRY_BUFFER};
use super::lookup::Asker;
use super::{Ghpool, RequestCtx};
use crate::access::{normalize, Verdict};
use crate::admission::target::Shape;
use crate::admission::{graphql, shape};
use crate::respond::Refusal;
use crate::route::{classify, is_graphql, Route, Write};

const QUERY_TOO_LARGE: &str = "a pooled GraphQL query is held whole to be sent again on failover and is part of \
    its cache key; only mutations, sent with your own token, may be larger";
const MUTATION_TOO_LARGE: &str = "GraphQL mutation bodies are limited by `[graphql] max_mutation_body`";

impl Ghpool {
    /// Normalize, read a GraphQL body, classify, check, pick: what to do with this request.
    pub(super) async fn admit(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<Route, Refusal> {
        let req = session.req_header();
        if !req.raw_path_is_utf8() {
            return Err(Refusal::BadRequest("Invalid request path: not UTF-8".into()));
        }
        let raw = String::from_utf8_lossy(req.raw_path()).into_owned();
        let method = req.method.as_str().to_string();
        let authorization = req.headers.get("authorization").and_then(|v| v.to_str().ok()).map(str::to_string);
        let target = ctx.target.insert(normalize(&raw, self.upstream.upstream().host())?).clone();
        {
            let headers = &req.headers;
            let header = |name: &str| {
                let values = headers.get_all(name);
                (values.iter().count(), values.iter().all(|v| v.to_str().is_ok()))
            };
            let has_body = headers.contains_key("transfer-encoding")
                || headers.get("content-length").and_then(|v| v.to_str().ok()).is_some_and(|v| v.trim() != "0");
            let shape = shape::Shape {
                method: &method,
                graphql: is_graphql(&target),
                query: target.query.as_deref(),
                has_body,
                header: &header,
            };
            shape::check(&shape).map_err(|e| Refusal::BadRequest(e.to_string()))?;
        }
        let mut body = Vec::new();
        if is_graphql(&target) && method == "POST" {
            body = self.read_graphql_body(session, authorization.is_some()).await?;
            let allows = |owner: &str| self.allowlist.allows(owner);
            let scope = graphql::Scope {
                allows: &allows,
                screens: self.allowlist.screens(),
                unscoped_roots: self.allowlist.graphql_unscoped_fields(),
            };
            let (schema, limits) = (self.graphql.schema, &self.graphql.limits);
            let large = body.len() > RETRY_BUFFER;
            let request = match large {
                false => graphql::parse_request(&body, schema, limits, &scope),
                // Too large to be a query; read without copying its variables.
                true => graphql::parse_large_request(&body, schema, limits, &scope),
            };
            let request = request.map_err(|e| match e.status() {
                403 => Refusal::Forbidden(e.to_string()),
                413 => Refusal::TooLarge(RETRY_BUFFER, QUERY_TOO_LARGE),
                _ => Refusal::BadRequest(e.to_string()),
            })?;
            if large {
                // Sent by ghpool itself (`proxy::large`): Pingora could not replay it.
                ctx.large_body = Some(Bytes::from(std::mem::take(&mut body)));
            }
            ctx.graphql = Some(request);
        }
        let route = classify(&method, &target, authorization.as_deref(), ctx.graphql.as_ref())?;
        let owner_of = |id| self.repos.get(id);
        match (&route, &ctx.graphql) {
            (Route::PooledRead { .. }, _) => {
                let (verdict, mut owners) = self.allowlist.check_read(&target, owner_of)?;
                if let Verdict::NeedsOwnerOf(id) = verdict {
                    // The look-up costs the pool a request: charged to the client first.
                    self.charge(session, ctx)?;
                    let owner = self.owner_of_repository(id, Asker::Pool).await?;
                    self.allowlist.check_resolved(&owner)?;
                    owners.push(owner);
                }
                ctx.owners = owners;
            }
            (Route::Passthrough { write: Write::Rest, credential }, _) => {
                if let Verdict::NeedsOwnerOf(id) = self.allowlist.check_write(&method, &target, owner_of)? {
                    // A write names its repository with the client's own token, never the pool's.
                    let owner = self.owner_of_repository(id, Asker::Client(credential)).await?;
                    self.allowlist.check_resolved(&owner)?;
                }
            }
            (Route::GraphqlQuery { .. }, Some(request)) => {
                ctx.owners = request.reads.owners.iter().cloned().collect();
                if let Some(document) = &request.probed {
                    let probed = graphql::probed_body(&body, document)
                        .ok_or_else(|| Refusal::BadRequest("could not rewrite the GraphQL body with probes".into()))?;
                    ctx.probed = Some(Bytes::from(probed));
                    ctx.screened = true;
                }
            }
            _ => {}
        }
        if let Some(resource) = route.resource() {
            ctx.resource = resource;
            ctx.repo_json = Shape::of(&target).is_repository();
        }
        Ok(route)
    }

    /// A GraphQL body: a query fits Pingora's retry buffer; a mutation, sent with the client's
    /// token, may be as large as `[graphql] max_mutation_body`. A body too large for a query and
    /// sent without a token is refused once its first 64 KiB are read, before the rest: 401 when
    /// they show a mutation, 413 otherwise.
    async fn read_graphql_body(&self, session: &mut Session, has_token: bool) -> Result<Vec<u8>, Refusal> {
        let max = usize::try_from(self.graphql.max_mutation_body).unwrap_or(usize::MAX);
        if declared_length(session).is_some_and(|n| n > max.max(RETRY_BUFFER)) {
            return Err(Refusal::TooLarge(max, MUTATION_TOO_LARGE));
        }
        let limit = if has_token { max.max(RETRY_BUFFER) } else { RETRY_BUFFER };
        match read_body(session, limit).await? {
            Read::Whole(body) => Ok(body),
            Read::Cut(_) if has_token => Err(Refusal::TooLarge(max, MUTATION_TOO_LARGE)),
            // A mutation needs the client's token whatever its size; anything else this large
            // is over a query's limit (a document cut off in the prefix included).
            Read::Cut(prefix) => Err(match graphql::sniff::sniff_kind(&prefix, &self.graphql.limits) {
                Some(graphql::OperationKind::Mutation) => Refusal::Unauthenticated,
                _ => Refusal::TooLarge(RETRY_BUFFER, QUERY_TOO_LARGE),
            }),
        }
    }

    /// Charge this request to its client's share, once: before anything it costs GitHub (an owner
    /// look-up or the request itself).
    pub(super) fn charge(&self, session: &Session, ctx: &mut RequestCtx) -> std::result::Result<(), Refusal> {
        if std::mem::replace(&mut ctx.charged, true) {
            return Ok(());
        }
        let req = session.req_header();
        let header = req.headers.get("x-ghpool-client").and_then(|v| v.to_str().ok());
        let authorization = req.headers.get("authorization").and_then(|v| v.to_str().ok());
        // Only a token GitHub has accepted names a client: a made-up one per request would not.
        let authorization = authorization.filter(|a| self.auditor.verified(a));
        let addr = session.client_addr().and_then(|a| a.as_inet()).map(|a| a.ip());
        let client = crate::fairness::client_name(self.fairness.kind, header, authorization, addr);
        self.fairness
            .take(&client, std::time::Instant::now())
            .map_err(|wait| Refusal::OverShare { retry_after_secs: wait.as_secs().max(1) })
    }
}
