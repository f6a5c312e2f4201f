//! Admission: what a request is and whether it may go on — its target normalized, a GraphQL body
//! read and analyzed, the route classified, the allowlist asked (resolving a repository id's owner
//! when needed), the owners an identity must serve, and the probe for screened `node` fields.
//! Must never: let a request past without an allowlist verdict, or call GitHub for a refused one.

use bytes::Bytes;
use pingora_proxy::Session;

use super::io::read_body;
use super::{Ghpool, RequestCtx};
use crate::access::{normalize, Target, Verdict};
use crate::graphql;
use crate::respond::Refusal;
use crate::route::{classify, is_graphql, Route, Write};

/// A pooled read whose answer is a repository object: `/repos/{o}/{r}` or `/repositories/{id}`.
fn answers_with_repository(target: &Target) -> bool {
    matches!((target.segment(0), target.segments.len()), (Some("repos"), 3) | (Some("repositories"), 2))
}

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
        let mut body = Vec::new();
        if is_graphql(&target) && method == "POST" {
            body = read_body(session, graphql::MAX_BODY).await?;
            let request = graphql::parse_request(&body).map_err(|e| Refusal::BadRequest(e.to_string()))?;
            ctx.graphql = Some(request);
        }
        let route = classify(&method, &target, authorization.as_deref(), ctx.graphql.as_ref())?;
        let owner_of = |id| self.repos.get(id);
        match (&route, &ctx.graphql) {
            (Route::PooledRead { .. }, _) => {
                self.settle(self.allowlist.check_rest(&target, owner_of)?).await?;
                ctx.owners = crate::access::rest_read_owners(&target, |id| self.repos.get(id));
            }
            (Route::Passthrough { write: Write::Rest, .. }, _) => {
                self.settle(self.allowlist.check_write(&target, owner_of)?).await?
            }
            (Route::GraphqlQuery { .. }, Some(request)) => {
                self.allowlist.check_graphql_query(&request.reads)?;
                ctx.owners = request.reads.owners.iter().cloned().collect();
                ctx.screened = request.nodes.iter().filter(|n| self.allowlist.screens(n.field)).cloned().collect();
                if !ctx.screened.is_empty() {
                    let probed = graphql::probed_body(&body, &ctx.screened).ok_or_else(|| {
                        Refusal::BadRequest("could not read the GraphQL document's node fields".into())
                    })?;
                    ctx.probed = Some(Bytes::from(probed));
                }
            }
            (Route::Passthrough { write: Write::Mutation { .. }, .. }, Some(request)) => {
                self.allowlist.check_graphql_owners(&request.reads)?
            }
            _ => {}
        }
        if let Some(resource) = route.resource() {
            ctx.resource = resource;
            ctx.repo_json = answers_with_repository(&target);
        }
        Ok(route)
    }

    /// Finish a REST check that needed a repository's owner.
    async fn settle(&self, verdict: Verdict) -> Result<(), Refusal> {
        match verdict {
            Verdict::Allowed => Ok(()),
            Verdict::NeedsOwnerOf(id) => {
                let owner = self.repos.resolve(id, &self.pool, &self.client, self.upstream.upstream()).await?;
                self.allowlist.check_owner(&owner)
            }
        }
    }
}
