//! The port between the coordinator and the broker: `__consumer_offsets` appends
//! that complete once replicated (Kafka's acks=-1), and topic existence. The broker
//! implements it over its replicas.

use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use kafka_protocol::ResponseError;

/// One `__consumer_offsets` record: key and value (`None` = tombstone).
pub type OffsetsRecord = (Bytes, Option<Bytes>);

/// One record of a `__consumer_offsets` replay, with what its batch says of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadRecord {
    /// A record written outside any transaction.
    Plain(OffsetsRecord),
    /// A TxnOffsetCommit's record, in a transactional batch of `producer_id`: its
    /// offset is pending until that producer's marker.
    Transactional {
        producer_id: i64,
        record: OffsetsRecord,
    },
    /// A transaction marker of `producer_id` (COMMIT or ABORT).
    Marker { producer_id: i64, commit: bool },
}

impl From<OffsetsRecord> for LoadRecord {
    fn from(record: OffsetsRecord) -> Self {
        LoadRecord::Plain(record)
    }
}

/// The outcome of an append, available once the records are as durable as Kafka's
/// `offsets.commit.required.acks=-1` demands (the high watermark covers them), or
/// the Kafka error of the append or of the replication wait.
pub type Replicated = Pin<Box<dyn Future<Output = Result<(), ResponseError>> + Send>>;

/// A [`Replicated`] that is already settled (an append refused at once, or one
/// with nothing left to wait for).
pub fn settled(result: Result<(), ResponseError>) -> Replicated {
    Box::pin(std::future::ready(result))
}

/// What the coordinator needs from the broker: durable writes to `__consumer_offsets`
/// and knowledge of which topic partitions exist.
pub trait OffsetsBackend: Send + Sync + 'static {
    /// Appends (key, value) records (value None = tombstone) to the given
    /// `__consumer_offsets` partition, as one batch, before returning: records of
    /// calls made one after another land in that order. The returned future
    /// resolves once they are replicated; its error is the Kafka error
    /// (NOT_ENOUGH_REPLICAS, REQUEST_TIMED_OUT, NOT_LEADER_OR_FOLLOWER, ...) that
    /// the coordinator translates as Kafka's `GroupMetadataManager` does.
    fn append(&self, partition: i32, records: Vec<OffsetsRecord>) -> Replicated;
    /// As [`OffsetsBackend::append`], as one transactional batch of the producer
    /// `(producer id, epoch)` (a TxnOffsetCommit, as Kafka writes it): the log checks
    /// the epoch (INVALID_PRODUCER_EPOCH for a fenced producer) and the batch belongs
    /// to the producer's open transaction until its marker.
    fn append_transactional(
        &self,
        partition: i32,
        producer: (i64, i16),
        records: Vec<OffsetsRecord>,
    ) -> Replicated;
    /// Whether `topic`/`partition` exists, so commits for unknown partitions get
    /// UNKNOWN_TOPIC_OR_PARTITION as Kafka answers.
    fn topic_partition_exists(&self, topic: &str, partition: i32) -> bool;
    /// A topic's id and partition count, for KIP-848 server-side assignment
    /// (`None` for a topic that does not exist).
    fn topic_info(&self, topic: &str) -> Option<crate::consumer::TopicInfo>;
}

/// The result of `replicated` if it is settled already, without waiting: a
/// single-replica partition, or a refused append, need no task.
pub(crate) fn settled_now(replicated: &mut Replicated) -> Option<Result<(), ResponseError>> {
    use std::task::{Context, Poll, Waker};
    match replicated
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(result) => Some(result),
        Poll::Pending => None,
    }
}
