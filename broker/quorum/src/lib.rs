//! The metadata quorum: a replicated, persisted metadata log (openraft), the metadata
//! image built by applying it in order, and the controller logic that turns requests
//! into metadata records.

pub mod controller;
pub mod image;
pub mod raft;
pub mod records;
pub mod service;
