//! The request ghpool sends upstream: GitHub's target and host, the right credential, and only
//! the headers that were checked — on a pooled request the allow-list `admission::envelope` names, and
//! the cached entry's validators only when the identity that fetched it asks again.
//! Must never: forward a client's token on a pooled request, a pool token on a write, or a method
//! override on any.

use pingora_core::{Error, ErrorType, Result};
use pingora_http::RequestHeader;
use pingora_proxy::Session;

use super::{Ghpool, RequestCtx};
use crate::admission::envelope::{METHOD_OVERRIDES, POOLED_FORWARD};
use crate::cache::IDENTITY_HEADER;
use crate::pool::tag_identity;

/// What to do with the validators Pingora added from a cached entry fetched by `fetched_by`
/// (its `<id>#<generation>` tag), for a request about to go with identity `id` whose token is
/// `token_tag`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validators {
    /// GitHub's ETags are token-specific: they only help when the same identity asks.
    pub keep: bool,
    /// Same identity, rotated token since: the ETag cannot match, a 200 is expected.
    pub after_rotation: bool,
}

pub fn validators(fetched_by: Option<&str>, id: &str, token_tag: &str) -> Validators {
    match fetched_by {
        None => Validators { keep: true, after_rotation: false },
        Some(tag) if tag_identity(tag) != id => Validators { keep: false, after_rotation: false },
        Some(tag) => Validators { keep: true, after_rotation: tag != token_tag },
    }
}

impl Ghpool {
    pub(super) fn prepare_outgoing(
        &self,
        session: &Session,
        req: &mut RequestHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        let Some(plan) = &ctx.plan else { return Error::e_explain(ErrorType::InternalError, "no plan") };
        let up = self.upstream.upstream();
        let target = &plan.target;
        let uri: http::Uri = up
            .target(&target.path, target.query.as_deref())
            .parse()
            .map_err(|e| Error::because(ErrorType::InternalError, "upstream target", e))?;
        req.set_uri(uri);
        req.insert_header("host", up.host_header())?;
        req.remove_header("proxy-connection");
        if let Some(probed) = plan.probed() {
            req.remove_header("transfer-encoding");
            req.insert_header("content-length", probed.len().to_string())?;
            ctx.attempt.probe_sent = false;
        }
        for name in METHOD_OVERRIDES {
            req.remove_header(*name);
        }
        match (&ctx.attempt.lease, plan.read()) {
            (Some(lease), Some(read)) => {
                // A pooled request carries only what its cache key and allowlist check account for.
                let dropped: Vec<http::HeaderName> = req
                    .headers
                    .keys()
                    .filter(|n| n.as_str() != "host" && !POOLED_FORWARD.contains(&n.as_str()))
                    .cloned()
                    .collect();
                for name in dropped {
                    req.remove_header(&name);
                }
                let identity = lease.identity();
                if let Some(token) = identity.token() {
                    req.insert_header("authorization", format!("token {}", token.expose()))?;
                }
                let fetched_by = session.cache.maybe_cache_meta().and_then(|m| m.headers().get(IDENTITY_HEADER));
                let tag = fetched_by.and_then(|v| v.to_str().ok());
                let validators = validators(tag, identity.id(), &identity.token_tag());
                if !validators.keep {
                    req.remove_header("if-none-match");
                    req.remove_header("if-modified-since");
                }
                ctx.attempt.after_rotation = validators.after_rotation;
                self.metrics.upstream_request(identity.id(), read.resource.as_str());
                log::debug!("{} {} goes upstream with identity `{}`", req.method, target.path, identity.id());
            }
            (None, None) => {
                req.remove_header("proxy-authorization");
                // An agent's write goes with the token minted for it, never with the agent's key.
                if let Some(write) = plan.write().filter(|w| w.brokered.is_some()) {
                    req.insert_header("authorization", write.credential.0.expose())?;
                }
                if plan.graphql().is_some() {
                    // A mutation's answer is read (did it change anything?): sent uncompressed.
                    req.remove_header("accept-encoding");
                }
            }
            _ => return Error::e_explain(ErrorType::InternalError, "a read without an identity, or a write with one"),
        }
        if req.headers.get("user-agent").is_none() {
            req.insert_header("user-agent", crate::USER_AGENT)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validators_only_for_the_identity_that_fetched_the_entry() {
        let cases = [
            (None, true, false),
            (Some("a#1"), true, false),
            (Some("a#0"), true, true),
            (Some("b#1"), false, false),
            (Some("a"), true, true),
        ];
        for (fetched_by, keep, after_rotation) in cases {
            assert_eq!(validators(fetched_by, "a", "a#1"), Validators { keep, after_rotation }, "{fetched_by:?}");
        }
    }
}
