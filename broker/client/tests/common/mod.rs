//! Shared helpers of the client's integration tests.
#![allow(dead_code)]
// each test binary uses a subset
// Test harness: a setup step that fails must fail the test, loudly.
#![allow(clippy::unwrap_used)]

pub mod broker;
pub mod peer;
// The broker tests' port picker (outside the ephemeral range; see there).
#[path = "../../../tests/common/ports.rs"]
pub mod ports;
