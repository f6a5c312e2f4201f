//! When a request may go upstream again after its attempt failed: the policy behind
//! `error_while_proxy` and `fail_to_connect`.
//!
//! Must never: send a request again once any part of an answer has reached the client, or repeat a
//! write whose first attempt may have reached GitHub.

use pingora_core::{Error, ErrorType};
use pingora_proxy::Session;

use super::{Ghpool, RequestCtx};

/// What is known about a failed attempt.
#[derive(Debug, Clone, Copy, Default)]
pub struct Attempt {
    /// The identity was limited or refused before anything reached the client: try another.
    pub failover: bool,
    /// The client has already been sent (part of) an answer.
    pub answer_started: bool,
    /// A pooled read (REST GET or GraphQL query): safe to repeat whatever its method.
    pub pooled: bool,
    /// GET, HEAD, … by HTTP's definition.
    pub idempotent_method: bool,
    /// The request body no longer fits Pingora's retry buffer: it cannot be replayed.
    pub body_truncated: bool,
    /// The connection failed (refused, reset, closed early): not a timeout, not an HTTP answer.
    pub connection_error: bool,
    /// This request was already sent again once after a connection error.
    pub reconnected: bool,
}

/// The decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Go upstream again (`upstream_peer` runs again and may pick another identity).
    Yes,
    /// Give up: the client gets the error.
    No,
    /// Pingora's default: retry only if the failed connection was a reused one (it may have been
    /// closed by GitHub while idle), never a fresh one.
    IfReused,
}

/// Decide whether the failed attempt is tried again.
pub fn decide(a: Attempt) -> Retry {
    if a.answer_started || a.body_truncated {
        return Retry::No;
    }
    if a.failover {
        return Retry::Yes;
    }
    if !(a.idempotent_method || a.pooled) {
        return Retry::No;
    }
    // Issue #5: an idempotent pooled read that fails on a connection error is retried once on
    // another connection, fresh or not; timeouts are not retried (the client already waited).
    if a.pooled && a.connection_error && !a.reconnected {
        return Retry::Yes;
    }
    Retry::IfReused
}

/// Errors that say the connection broke, as opposed to a timeout or an answer.
pub fn is_connection_error(etype: &ErrorType) -> bool {
    matches!(
        etype,
        ErrorType::ConnectRefused
            | ErrorType::ConnectError
            | ErrorType::ConnectionClosed
            | ErrorType::ReadError
            | ErrorType::WriteError
    )
}

impl Ghpool {
    /// Apply [`decide`] to a failed attempt.
    pub(super) fn apply_retry_policy(
        &self,
        session: &Session,
        e: &mut Error,
        ctx: &mut RequestCtx,
        client_reused: bool,
    ) {
        let attempt = Attempt {
            failover: ctx.attempt.failing_over,
            answer_started: session.response_written().is_some(),
            pooled: ctx.plan.as_ref().is_some_and(|p| p.read().is_some()),
            idempotent_method: session.req_header().method.is_idempotent(),
            body_truncated: session.as_ref().retry_buffer_truncated(),
            connection_error: is_connection_error(e.etype()),
            reconnected: ctx.reconnected,
        };
        match decide(attempt) {
            Retry::Yes => {
                ctx.reconnected |= attempt.connection_error && !attempt.failover;
                e.set_retry(true)
            }
            Retry::No => e.set_retry(false),
            Retry::IfReused => e.retry.decide_reuse(client_reused),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POOLED_GET: Attempt = Attempt {
        failover: false,
        answer_started: false,
        pooled: true,
        idempotent_method: true,
        body_truncated: false,
        connection_error: false,
        reconnected: false,
    };

    #[test]
    fn decisions() {
        let write = Attempt { pooled: false, idempotent_method: false, ..POOLED_GET };
        let graphql_query = Attempt { idempotent_method: false, ..POOLED_GET };
        let cases: &[(&str, Attempt, Retry)] = &[
            ("a limited identity fails over", Attempt { failover: true, ..POOLED_GET }, Retry::Yes),
            (
                "nothing is retried once the client has part of an answer",
                Attempt { failover: true, answer_started: true, ..POOLED_GET },
                Retry::No,
            ),
            ("a broken connection is retried once", Attempt { connection_error: true, ..POOLED_GET }, Retry::Yes),
            ("but only once", Attempt { connection_error: true, reconnected: true, ..POOLED_GET }, Retry::IfReused),
            ("a GraphQL query is a read", Attempt { connection_error: true, ..graphql_query }, Retry::Yes),
            ("a timeout is left to Pingora's default", POOLED_GET, Retry::IfReused),
            ("a write is never repeated", Attempt { connection_error: true, ..write }, Retry::No),
            (
                "a truncated body cannot be replayed",
                Attempt { body_truncated: true, connection_error: true, ..graphql_query },
                Retry::No,
            ),
            (
                "a passthrough GET keeps Pingora's default",
                Attempt { pooled: false, connection_error: true, ..POOLED_GET },
                Retry::IfReused,
            ),
        ];
        for (name, attempt, expected) in cases {
            assert_eq!(decide(*attempt), *expected, "{name}");
        }
    }

    #[test]
    fn timeouts_are_not_connection_errors() {
        assert!(is_connection_error(&ErrorType::ConnectionClosed));
        assert!(is_connection_error(&ErrorType::ConnectRefused));
        assert!(!is_connection_error(&ErrorType::ReadTimedout));
        assert!(!is_connection_error(&ErrorType::ConnectTimedout));
        assert!(!is_connection_error(&ErrorType::HTTPStatus(502)));
    }
}
