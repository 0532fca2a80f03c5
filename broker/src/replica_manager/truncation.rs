//! The follower's log checks against its leader, the truncation paths of Kafka's
//! `AbstractFetcherThread`: OffsetForLeaderEpoch after a leader change (KIP-101/279),
//! and the reset after OFFSET_OUT_OF_RANGE (`handleOutOfRangeError` /
//! `fetchOffsetAndTruncate`): ListOffsets for the leader's log start and log end as a
//! replica, then truncate to the leader's end (this replica is ahead of it, after an
//! unclean election) or restart the log empty at the leader's log start (this replica
//! is below it: retention or DeleteRecords removed what it misses, or it was down long).
//!
//! The decisions are `FollowerState`'s; this module asks the leader and applies them to
//! the log. It never fetches records.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use kafka_protocol::messages::{
    BrokerId, ListOffsetsRequest, OffsetForLeaderEpochRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use tidewater_client::{ClientError, Connection};
use tidewater_replication::{EpochEndOffset, FollowerAction, LeaderOffsets};
use tidewater_storage::{AppendError, LogAppendInfo};
use tracing::{debug, info, warn};

use super::ReplicaManager;
use super::backoff::{delay, error_backoff};
use super::{Partition, PartitionInner, Role};

/// ListOffsets timestamps: the log end offset (for a replica) and the log start offset.
const LATEST_TIMESTAMP: i64 = -1;
const EARLIEST_TIMESTAMP: i64 = -2;

/// A truncation that leaves the log end and the epoch cache as they were changes
/// nothing the leader will see: fetching again at once would get the same answer.
pub(super) fn truncate_with_progress(
    p: &Partition,
    offset: i64,
) -> Result<bool, tidewater_storage::StorageError> {
    let log = &p.log;
    let before = (log.log_end_offset(), log.leader_epoch_entries());
    log.truncate_to(offset)?;
    Ok((log.log_end_offset(), log.leader_epoch_entries()) != before)
}

/// OffsetForLeaderEpoch for partitions validating their log after a leader change.
pub(super) async fn offsets_for_epochs(
    replicas: &ReplicaManager,
    conn: &Connection,
    queries: &[(Arc<Partition>, i32, i32)],
) -> Result<bool, ClientError> {
    let mut req = OffsetForLeaderEpochRequest::default();
    req.replica_id = BrokerId(replicas.node_id);
    let partitions = queries.iter().map(|(p, current, epoch)| {
        let mut op = OffsetForLeaderPartition::default();
        op.partition = p.tp.partition;
        op.current_leader_epoch = *current;
        op.leader_epoch = *epoch;
        (p.tp.topic.clone(), op)
    });
    for (name, partitions) in by_topic(partitions) {
        let mut t = OffsetForLeaderTopic::default();
        t.topic = TopicName(StrBytes::from_string(name));
        t.partitions = partitions;
        req.topics.push(t);
    }
    let resp = conn.send(req).await?;
    let mut all_ok = true;
    for t in resp.topics {
        for r in t.partitions {
            let Some((p, current, _)) = queries.iter().find(|(p, _, _)| {
                p.tp.topic == t.topic.0.as_str() && p.tp.partition == r.partition
            }) else {
                continue;
            };
            let answer = match ResponseError::try_from_code(r.error_code) {
                None => Ok(EpochEndOffset {
                    epoch: r.leader_epoch,
                    end_offset: r.end_offset,
                }),
                Some(error) => Err(error),
            };
            let mut inner = p.lock();
            let Role::Follower(state) = &mut inner.role else {
                continue;
            };
            let log = &p.log;
            let action = state.on_offset_for_leader_epoch(
                *current,
                answer,
                &p.epochs(),
                log.log_end_offset(),
            );
            match action {
                FollowerAction::Truncate { offset } => match truncate_with_progress(p, offset) {
                    Ok(true) => info!(tp = %p.tp, offset, "truncated to the leader's epoch end"),
                    Ok(false) => {}
                    Err(e) => {
                        warn!(tp = %p.tp, error = %e, "truncation failed");
                        all_ok = false;
                    }
                },
                // This partition waits, not the whole fetcher: the others from this
                // leader (often just elected with it) keep fetching.
                FollowerAction::Backoff { error } => {
                    debug!(tp = %p.tp, code = error.code(), "epoch query refused; backing off");
                    delay(&mut inner, error_backoff(replicas, error));
                }
                _ => {}
            }
            inner.sync_high_watermark(log);
        }
    }
    Ok(all_ok)
}

/// Partitions out of range on the leader, with the leader epoch they fetched in: asks
/// the leader (as this replica, so LATEST is its log end offset) for its log start and
/// end, and applies each partition's reset (a refused partition backs off alone).
pub(super) async fn reset_out_of_range(
    replicas: &ReplicaManager,
    conn: &Connection,
    queries: &[(Arc<Partition>, i32)],
) -> Result<bool, ClientError> {
    let earliest = list_offsets(replicas, conn, queries, EARLIEST_TIMESTAMP).await?;
    let latest = list_offsets(replicas, conn, queries, LATEST_TIMESTAMP).await?;
    let backoff = Duration::from_millis(replicas.settings.fetch_backoff_ms.max(50));
    for (p, current) in queries {
        let key = (p.tp.topic.clone(), p.tp.partition);
        let answer = match (earliest.get(&key), latest.get(&key)) {
            (Some(Ok(start)), Some(Ok(end))) => Ok(LeaderOffsets {
                log_start_offset: *start,
                log_end_offset: *end,
            }),
            (Some(Err(e)), _) | (_, Some(Err(e))) => Err(*e),
            // The leader left the partition out of its answer.
            _ => Err(ResponseError::UnknownTopicOrPartition),
        };
        let mut inner = p.lock();
        let Role::Follower(state) = &mut inner.role else {
            continue;
        };
        let log = &p.log;
        let log_end = log.log_end_offset();
        let was_out_of_range = state.is_out_of_range();
        match state.on_leader_offsets(*current, answer, log_end) {
            FollowerAction::Truncate { offset } => match truncate_with_progress(p, offset) {
                Ok(_) => {
                    info!(tp = %p.tp, offset, log_end, "fetch offset past the leader's log end; truncated to it")
                }
                Err(e) => {
                    warn!(tp = %p.tp, error = %e, "truncation failed");
                    delay(&mut inner, backoff);
                }
            },
            FollowerAction::TruncateFullyAndStartAt { offset } => {
                restart_log_at(p, &mut inner, offset, backoff);
            }
            // This partition waits, not the whole fetcher (as for epoch queries).
            FollowerAction::Backoff { error } => {
                debug!(tp = %p.tp, code = error.code(), "cannot list the leader's offsets; backing off");
                delay(&mut inner, error_backoff(replicas, error));
            }
            FollowerAction::AwaitMetadata { error } => {
                debug!(tp = %p.tp, code = error.code(), "fenced; waiting for new metadata");
            }
            FollowerAction::Ignore if was_out_of_range && !state.is_out_of_range() => {
                // The leader's range holds our log end after all (Kafka fetches on from
                // it): back off so a leader that keeps answering OFFSET_OUT_OF_RANGE is
                // not asked in a tight loop.
                debug!(tp = %p.tp, log_end, "log end within the leader's range; fetching again");
                delay(&mut inner, backoff);
            }
            _ => {}
        }
        if inner.sync_high_watermark(log) {
            replicas.notifier().notify();
        }
    }
    Ok(true)
}

/// Kafka's `truncateFullyAndStartAt` for a follower below the leader's log start.
pub(super) fn restart_log_at(
    p: &Partition,
    inner: &mut PartitionInner,
    offset: i64,
    backoff: Duration,
) {
    let log_end = p.log.log_end_offset();
    match p.log.truncate_fully_and_start_at(offset) {
        Ok(()) => {
            info!(tp = %p.tp, log_end, leader_log_start = offset, "log end below the leader's log start; restarted the log empty there")
        }
        Err(e) => {
            warn!(tp = %p.tp, error = %e, offset, "cannot restart the log at the leader's log start");
            delay(inner, backoff);
        }
    }
}

/// Appends fetched records; when the log is empty and the first batch starts below its
/// end but holds it (the leader's log start, moved by DeleteRecords, falls inside that
/// batch), restarts the log at the batch's base offset and appends again, as Kafka's
/// `Partition.doAppendRecordsToFollowerOrFutureReplica` does. The log start then moves
/// up to the leader's with the high watermark, as on every fetch.
pub(super) fn append_as_follower(
    p: &Partition,
    records: &[u8],
) -> Result<LogAppendInfo, AppendError> {
    let log = &p.log;
    match log.append_as_follower(records) {
        Err(AppendError::UnexpectedAppendOffset {
            first_offset,
            last_offset,
            log_end_offset,
        }) if log_end_offset == log.log_start_offset() && last_offset >= log_end_offset => {
            info!(tp = %p.tp, first_offset, log_start = log_end_offset, "the first fetched batch starts below our empty log's start; restarting the log at the batch");
            log.truncate_fully_and_start_at(first_offset)?;
            log.append_as_follower(records)
        }
        other => other,
    }
}

/// One ListOffsets round trip as this replica: each partition's offset or error.
async fn list_offsets(
    replicas: &ReplicaManager,
    conn: &Connection,
    queries: &[(Arc<Partition>, i32)],
    timestamp: i64,
) -> Result<HashMap<(String, i32), Result<i64, ResponseError>>, ClientError> {
    let mut req = ListOffsetsRequest::default();
    req.replica_id = BrokerId(replicas.node_id);
    let partitions = queries.iter().map(|(p, current)| {
        let mut lp = ListOffsetsPartition::default();
        lp.partition_index = p.tp.partition;
        lp.current_leader_epoch = *current;
        lp.timestamp = timestamp;
        (p.tp.topic.clone(), lp)
    });
    for (name, partitions) in by_topic(partitions) {
        let mut t = ListOffsetsTopic::default();
        t.name = TopicName(StrBytes::from_string(name));
        t.partitions = partitions;
        req.topics.push(t);
    }
    let resp = conn.send(req).await?;
    let mut out = HashMap::new();
    for t in resp.topics {
        for r in t.partitions {
            let answer = match ResponseError::try_from_code(r.error_code) {
                None => Ok(r.offset),
                Some(error) => Err(error),
            };
            out.insert((t.name.0.to_string(), r.partition_index), answer);
        }
    }
    Ok(out)
}

/// Request partitions grouped under their topic (each topic once, as Kafka requires).
fn by_topic<P>(items: impl IntoIterator<Item = (String, P)>) -> BTreeMap<String, Vec<P>> {
    let mut out: BTreeMap<String, Vec<P>> = BTreeMap::new();
    for (topic, partition) in items {
        out.entry(topic).or_default().push(partition);
    }
    out
}
