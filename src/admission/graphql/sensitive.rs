//! GraphQL fields that answer with credentials or an owner's security configuration: never read
//! with a pool identity, even on an allowed owner — the GraphQL side of the sensitive REST
//! endpoints (`admission::rest_routes`).
//!
//! Owns: [`SENSITIVE`] and [`check`], a walk of every selection of the document once (fragments
//! included, each once: linear). Pure.
//! Must never: let a query select a listed field, through any type that has it.

use apollo_compiler::executable::{Selection, SelectionSet};
use apollo_compiler::validation::Valid;
use apollo_compiler::ExecutableDocument;

use super::{GithubSchema, GraphqlError};

/// (type, field, why). A field is refused on the type named and wherever a selection's type could
/// be that type (an interface it implements, a union it belongs to).
const SENSITIVE: &[(&str, &str, &str)] = &[
    ("Organization", "auditLog", "the organization's audit log"),
    ("Enterprise", "auditLog", "the enterprise's audit log"),
    ("Organization", "samlIdentityProvider", "members' identities at the identity provider"),
    ("Enterprise", "ownerInfo", "the enterprise's security configuration"),
    ("Organization", "ipAllowListEntries", "the IP allow list"),
    ("App", "ipAllowListEntries", "the IP allow list"),
    ("Organization", "pendingMembers", "pending invitations"),
    ("Organization", "domains", "verified domains and their tokens"),
    ("Repository", "deployKeys", "deploy keys"),
    ("Repository", "tempCloneToken", "a temporary clone token"),
    ("Repository", "vulnerabilityAlerts", "unfixed vulnerability alerts"),
    ("Repository", "environments", "deployment environments and their protection rules"),
];

/// Refuse a document that selects a sensitive field anywhere.
pub fn check(document: &Valid<ExecutableDocument>, schema: &GithubSchema) -> Result<(), GraphqlError> {
    for operation in document.operations.iter() {
        walk(&operation.selection_set, schema)?;
    }
    for fragment in document.fragments.values() {
        walk(&fragment.selection_set, schema)?;
    }
    Ok(())
}

/// One selection set; fragment spreads are walked where they are defined, not where spread.
fn walk(set: &SelectionSet, schema: &GithubSchema) -> Result<(), GraphqlError> {
    for selection in &set.selections {
        match selection {
            Selection::Field(field) => {
                let hit = SENSITIVE.iter().find(|(ty, name, _)| {
                    field.name == *name && (set.ty == *ty || schema.possible(&set.ty).iter().any(|p| p == ty))
                });
                if let Some((ty, name, why)) = hit {
                    return Err(GraphqlError::Sensitive { ty: ty.to_string(), field: name.to_string(), why });
                }
                walk(&field.selection_set, schema)?;
            }
            Selection::InlineFragment(inline) => walk(&inline.selection_set, schema)?,
            Selection::FragmentSpread(_) => {}
        }
    }
    Ok(())
}
