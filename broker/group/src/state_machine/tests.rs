//! Deterministic tests of the sans-IO core: a tiny harness plays the shell (keeps
//! parked responses, an in-memory `__consumer_offsets`, and a timer list fired by
//! advancing a fake clock).

mod consumer;
mod harness;
mod offsets;
mod ownership;
mod ownership_props;
mod props;
mod rebalance;
mod static_members;
mod store_errors;
mod txn_offsets;
