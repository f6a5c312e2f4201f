//! Admission: what a request is and what it may read, decided once before anything goes upstream
//! (`classify` → a `Plan`), and what a pooled answer may carry back.
//!
//! Owns, in the order a request meets them: `classify` (the order of the checks) and `plan` (what
//! it concludes),
//! `access` (the target made canonical; the owner allowlist), `envelope` (what a request may carry
//! besides its target), `target` (a REST path's shape, read once), `rest_routes` (REST paths
//! matched to GitHub's published endpoints), `search` (search queries parsed as GitHub reads them),
//! `graphql` (documents typed against GitHub's published schema, probes, answer screening), `tags`
//! (what a read is filed under and a write purges), `repos` (repository ids and their owners, as
//! learned), `rest_screen` (pooled REST answers screened by owner), `agents` (who a key names),
//! `policy` (an agent's repositories) and `fields` (the field names of a body, for the audit).
//! Pure: no I/O, no Pingora, no identities.
//! Must never: let a request past that it could not read unambiguously; fail open.

pub mod access;
pub mod agents;
pub mod classify;
pub mod envelope;
pub mod fields;
pub mod graphql;
pub mod plan;
pub mod policy;
pub mod repos;
pub mod rest_routes;
pub mod rest_screen;
pub mod search;
pub mod tags;
pub mod target;
