//! Admission: what a request is and what it may read, decided before anything goes upstream, and
//! what a pooled answer may carry back.
//!
//! Owns: `graphql` (documents typed against GitHub's published schema, probes, answer screening)
//! `search` (search queries parsed as GitHub reads them), `rest_routes` (REST paths matched to
//! GitHub's published endpoints), `rest_screen` (pooled REST answers screened by owner), `shape`
//! (what a request may carry besides its target) and `target` (a REST path's shape, read once).
//! Pure: no I/O, no Pingora.
//! Must never: let a request past that it could not read unambiguously; fail open.

pub mod graphql;
pub mod rest_routes;
pub mod rest_screen;
pub mod search;
pub mod shape;
pub mod target;
