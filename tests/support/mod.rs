//! Shared helpers for ghpool's integration tests. Each test crate includes this with `mod support;` and uses
//! only part of it, hence the `dead_code` allowance.
#![allow(dead_code)]

pub mod fake_github;
pub mod ghpool;
