//! Shared helpers for ghpool's integration tests. Each test crate includes this with `mod support;` and uses
//! only part of it, hence the `dead_code` allowance.
#![allow(dead_code)]

pub mod clients;
pub mod fake_gcp;
pub mod fake_github;
pub mod ghpool;
pub mod moto;
pub mod redis;
