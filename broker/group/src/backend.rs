//! The port between the coordinator and the broker: durable `__consumer_offsets`
//! appends and topic existence. The broker implements it over the storage layer.

use bytes::Bytes;

/// One `__consumer_offsets` record: key and value (`None` = tombstone).
pub type OffsetsRecord = (Bytes, Option<Bytes>);

/// What the coordinator needs from the broker: durable writes to `__consumer_offsets`
/// and knowledge of which topic partitions exist.
pub trait OffsetsBackend: Send + Sync + 'static {
    /// Durably appends (key, value) records (value None = tombstone) to the given
    /// `__consumer_offsets` partition, as one batch. Err = Kafka error code.
    fn append(&self, partition: i32, records: Vec<OffsetsRecord>) -> Result<(), i16>;
    /// Whether `topic`/`partition` exists, so commits for unknown partitions get
    /// UNKNOWN_TOPIC_OR_PARTITION as Kafka answers.
    fn topic_partition_exists(&self, topic: &str, partition: i32) -> bool;
}
