//! Tidewater's log layer: Kafka's on-disk format (`<topic>-<partition>/` directories of
//! `.log`, `.index` and `.timeindex` segments), with retention, compaction and crash
//! recovery. It knows nothing of sockets or of the Kafka request protocol.
//!
//! Entry points: [`LogManager`] (all partitions of a broker) and [`Log`] (one partition).

pub mod batch;
mod checkpoint;
mod cleaner;
mod config;
pub mod dump;
mod error;
mod index;
mod log;
mod manager;
pub mod producer_state;
mod segment;
mod sync;
mod topic_partition;
pub mod txn_index;

pub use cleaner::CleanStats;
pub use config::{CleanupPolicy, ConfigError, LogConfig, TimestampType, ValueRule};
pub use error::{AppendError, ReadError, StorageError};
pub use log::{FileReadResult, FileRecords, Log, LogAppendInfo, ReadResult, TimestampAndOffset};
pub use manager::{LogDirInfo, LogManager, LogManagerConfig};
pub use producer_state::{BatchMetadata, ProducerEntry};
pub use topic_partition::TopicPartition;
