//! What kind of operation a GraphQL body holds, read from its first bytes only: for a body too
//! large to read before knowing whether it needs the client's token (a pooled query is bounded; a
//! mutation, sent with the client's token, may be large).
//!
//! Owns: [`sniff_kind`] and [`operation_kind`]. Pure, linear in their input, bounded by the
//! document limits.
//! Must never: decide anything but which refusal a tokenless oversized body gets; anything it
//! cannot tell is `None`.

use std::cell::RefCell;
use std::fmt;

use apollo_compiler::ast;
use apollo_compiler::parser::Parser;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};

use super::limits::Limits;
use super::OperationKind;

/// The kind of every operation of the document in `prefix` (a body's first bytes), when its
/// `query` member is complete within them and all its operations agree; `None` otherwise.
pub fn sniff_kind(prefix: &[u8], limits: &Limits) -> Option<OperationKind> {
    let found = RefCell::new(None);
    let mut de = serde_json::Deserializer::from_slice(prefix);
    // The seed stops at the `query` member by failing on purpose: the rest may be cut off.
    let _ = FindQuery(&found).deserialize(&mut de);
    let document = found.into_inner()?;
    if document.len() > limits.document {
        return None;
    }
    let ast = Parser::new()
        .recursion_limit(limits.nesting)
        .token_limit(limits.tokens)
        .parse_ast(document, "request.graphql")
        .ok()?;
    let mut kinds = ast.definitions.iter().filter_map(|d| match d {
        ast::Definition::OperationDefinition(op) => Some(op.operation_type),
        _ => None,
    });
    let first = kinds.next()?;
    if !kinds.all(|k| k == first) {
        return None;
    }
    match first {
        ast::OperationType::Query => Some(OperationKind::Query),
        ast::OperationType::Mutation => Some(OperationKind::Mutation),
        ast::OperationType::Subscription => None,
    }
}

/// The kind of the operation `operation_name` selects in `document` (the only one when `None`), or
/// `None` when the document does not parse within the limits or names no such operation.
pub fn operation_kind(document: &str, operation_name: Option<&str>, limits: &Limits) -> Option<OperationKind> {
    if document.len() > limits.document {
        return None;
    }
    let mut parser = Parser::new().recursion_limit(limits.nesting).token_limit(limits.tokens);
    let ast = parser.parse_ast(document, "request.graphql").ok()?;
    let mut operations = ast.definitions.iter().filter_map(|d| match d {
        ast::Definition::OperationDefinition(op) => Some(op),
        _ => None,
    });
    let operation = match operation_name {
        Some(name) => operations.find(|op| op.name.as_ref().is_some_and(|n| n == name))?,
        None => {
            let only = operations.next()?;
            operations.next().is_none().then_some(only)?
        }
    };
    match operation.operation_type {
        ast::OperationType::Query => Some(OperationKind::Query),
        ast::OperationType::Mutation => Some(OperationKind::Mutation),
        ast::OperationType::Subscription => None,
    }
}

struct FindQuery<'a>(&'a RefCell<Option<String>>);

impl<'de> DeserializeSeed<'de> for FindQuery<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for FindQuery<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a GraphQL request body")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if key == "query" {
                *self.0.borrow_mut() = Some(map.next_value::<String>()?);
                return Err(de::Error::custom("found"));
            }
            map.next_value::<IgnoredAny>()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_from_a_prefix_19() {
        let limits = Limits::default();
        let sniff = |body: &str| sniff_kind(body.as_bytes(), &limits);
        let big = "x".repeat(200_000);
        let mutation = format!(
            r#"{{"query":"mutation C($i: CreateCommitOnBranchInput!) {{ createCommitOnBranch(input: $i) {{ commit {{ oid }} }} }}","variables":{{"i":"{big}"}}}}"#
        );
        // Only the first 64 KiB were read: the rest of the variables is cut off.
        assert_eq!(sniff_kind(&mutation.as_bytes()[..65536], &limits), Some(OperationKind::Mutation));
        assert_eq!(sniff(r#"{"query":"{ viewer { login } }","variables":{"a":"#), Some(OperationKind::Query));
        assert_eq!(sniff(r#"{"operationName":"A","query":"query A { a } query B { b }"}"#), Some(OperationKind::Query));
        // Mixed kinds depend on `operationName`; variables first hide the document.
        assert_eq!(sniff(r#"{"query":"query A { a } mutation B { b }"}"#), None);
        assert_eq!(sniff(r#"{"variables":{"i":"aaaa"#), None);
        assert_eq!(sniff(r#"{"query":"mutation { a"#), None);
        assert_eq!(sniff("not json"), None);
        assert_eq!(sniff(r#"{"query":"subscription { a }"}"#), None);
    }
}
