//! The probes ghpool adds to a pooled query so that GitHub's answer says, for every object that may
//! belong to another owner, which owner that is.
//!
//! Owns: the probe fragment of a selection set's type (`fragment ghpool_Issue_00 on Issue {
//! ghpool_t: __typename ghpool_repository_Repository_nn: repository { ghpool_t: __typename
//! ghpool_n: nameWithOwner } }`), built from the type's possible concrete types and their
//! [`OwnerPath`]s, and the probed document: the walked document (probe spreads already in place)
//! serialized, followed by the fragments it spreads. Aliases carry the field's type, so probes on
//! different concrete types in one selection set always merge (GitHub validates the document).
//! Must never: emit a name without the reserved prefix, or an owner path deeper than it can read back.

use std::collections::BTreeSet;
use std::fmt::Write;

use apollo_compiler::executable::ExecutableDocument;
use apollo_compiler::Name;

use super::{GithubSchema, OwnerPath};

/// The alias of the concrete type of every probed object.
pub const TYPE: &str = "ghpool_t";
/// Present (also the concrete type) when the probed set is not anchored: a contained object there
/// is dropped from the answer.
pub const UNANCHORED: &str = "ghpool_u";
/// A repository's `nameWithOwner`.
pub const NAME_WITH_OWNER: &str = "ghpool_n";
/// A user's or organization's `login`.
pub const LOGIN: &str = "ghpool_l";
/// How many `Via` steps an owner path may take (GitHub's schema needs three: a project item's
/// project's owner's repository).
pub const MAX_VIA: usize = 4;

/// Which probe a selection set gets: its type, whether users' and organizations' own logins are
/// probed (the set reads more than their public profile), and whether the set is unanchored.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) struct ProbeKey {
    pub ty: Name,
    pub owners: bool,
    pub unanchored: bool,
}

impl ProbeKey {
    pub fn fragment_name(&self) -> Name {
        Name::new_unchecked(&format!("ghpool_{}_{}{}", self.ty, u8::from(self.owners), u8::from(self.unanchored)))
    }

    /// `fragment ghpool_… on T { … }`.
    fn fragment(&self, schema: &GithubSchema) -> String {
        let mut body = format!("{TYPE}: __typename ");
        if self.unanchored {
            let _ = write!(body, "{UNANCHORED}: __typename ");
        }
        for ty in schema.possible(&self.ty) {
            match schema.owner_path(ty) {
                Some(OwnerPath::Login) if !self.owners => {}
                Some(path) if *ty == self.ty => fields(&mut body, path, schema, 0),
                Some(path) => {
                    let _ = write!(body, "... on {ty} {{ ");
                    fields(&mut body, path, schema, 0);
                    body.push_str("} ");
                }
                None => {}
            }
        }
        format!("fragment {} on {} {{ {body}}}", self.fragment_name(), self.ty)
    }
}

/// The probe fields that read an owner along `path`.
fn fields(out: &mut String, path: &OwnerPath, schema: &GithubSchema, depth: usize) {
    match path {
        OwnerPath::NameWithOwner => {
            let _ = write!(out, "{NAME_WITH_OWNER}: nameWithOwner ");
        }
        OwnerPath::Login => {
            let _ = write!(out, "{LOGIN}: login ");
        }
        OwnerPath::Via { .. } if depth >= MAX_VIA => {}
        OwnerPath::Via { field, alias, target } => {
            let _ = write!(out, "{alias}: {field} {{ {TYPE}: __typename ");
            for ty in schema.possible(target) {
                let Some(inner) = schema.owner_path(ty) else { continue };
                if ty == target {
                    fields(out, inner, schema, depth + 1);
                } else {
                    let _ = write!(out, "... on {ty} {{ ");
                    fields(out, inner, schema, depth + 1);
                    out.push_str("} ");
                }
            }
            out.push_str("} ");
        }
    }
}

/// The probed document: `document` (its sets already spread the probes) and the probe fragments.
pub(super) fn render(document: &ExecutableDocument, probes: &BTreeSet<ProbeKey>, schema: &GithubSchema) -> String {
    let mut out = document.serialize().no_indent().to_string();
    for key in probes {
        out.push('\n');
        out.push_str(&key.fragment(schema));
    }
    out
}
