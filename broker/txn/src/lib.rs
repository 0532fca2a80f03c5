//! Kafka's transaction coordinator (KIP-98), as a sans-IO state machine.
//!
//! - [`state`]: the states of a transactional id and the transitions between them;
//! - [`metadata`]: one id's state and its two-step (prepare, then complete once
//!   durable) transitions;
//! - [`coordinator`]: the ids this broker coordinates and, for each transactional
//!   request, Kafka's error or the `__transaction_state` record to write;
//! - [`records`]: that record's bytes, as Kafka writes them.
//!
//! Nothing here touches a socket, a log or a clock: the broker's IO shell writes the
//! records, sends the markers and passes the time in.

pub mod coordinator;
pub mod metadata;
pub mod records;
pub mod state;

pub use coordinator::{EndTxn, Ending, InitProducerId, Markers, TxnConfig, TxnCoordinator};
pub use metadata::{TRANSACTION_VERSION_2, TopicPartition, Transit, TxnError, TxnMetadata};
pub use state::TxnState;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_tv2;
