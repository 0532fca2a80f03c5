//! A consumer's Fetch (no `replica_id`): reads stored batches as they are on disk
//! (never re-encoded) up to the high watermark, honouring max.bytes / partition max
//! bytes (at least one batch for the first partition with data), long-polls until
//! min.bytes or max.wait.ms, answers through a KIP-227 fetch session when asked, and
//! redirects to a closer replica (KIP-392) when the selector says so.
//!
//! Record sets of [`ZERO_COPY_MIN`] bytes or more leave as file ranges
//! ([`FetchReply::files`]) that the connection sends with `sendfile`; smaller ones
//! are read into the response.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::fetch_response::{AbortedTransaction, PartitionData};
use kafka_protocol::messages::{FetchRequest, FetchResponse, ProducerId};
use tidewater_storage::{FileRecords, ReadError, TopicPartition};
use tokio::time::Instant;
use uuid::Uuid;

use super::response::{FetchReply, push_partition};
use tidewater_quorum::acl::AclOperation;

use crate::broker_server::Broker;
use crate::handlers::{RequestContext, authz};
use crate::protocol::ZERO_COPY_MIN;
use crate::replica_manager::Role;
use crate::replica_manager::fetch_sessions::{
    FetchContext, FetchPartition, Forget, PartitionOutcome,
};
use kafka_protocol::messages::BrokerId;
use tidewater_replication::RackAwareReplicaSelector;

/// One partition's read, before shaping into the response.
struct PartitionRead {
    error_code: i16,
    high_watermark: i64,
    log_start_offset: i64,
    /// Records read into memory (small record sets, or `zero_copy` off).
    records: Bytes,
    /// Records to send straight from the segment file instead.
    file: Option<FileRecords>,
    /// KIP-392: the replica the consumer should fetch from instead (-1 = here).
    preferred_read_replica: i32,
    /// The last stable offset: where a `read_committed` read stops.
    last_stable_offset: i64,
    /// For `read_committed`: the aborted transactions overlapping what was read.
    aborted: Vec<tidewater_storage::txn_index::AbortedTxn>,
}

impl PartitionRead {
    fn error(code: i16) -> Self {
        Self::answer(code, -1, -1)
    }

    fn answer(error_code: i16, high_watermark: i64, log_start_offset: i64) -> Self {
        PartitionRead {
            error_code,
            high_watermark,
            log_start_offset,
            records: Bytes::new(),
            file: None,
            preferred_read_replica: -1,
            last_stable_offset: high_watermark,
            aborted: Vec::new(),
        }
    }

    fn len(&self) -> usize {
        self.file
            .as_ref()
            .map_or(self.records.len(), FileRecords::len)
    }
}

/// How a consumer fetch reaches a partition's log.
enum Source {
    Log(std::sync::Arc<tidewater_storage::Log>),
    /// KIP-392: a closer in-sync replica should serve this consumer.
    Redirect {
        replica: i32,
        high_watermark: i64,
        log_start_offset: i64,
    },
}

/// The leader's log, a follower's log for a KIP-392 consumer (Fetch v11+), or a
/// redirect to the replica in the consumer's rack (`replica.selector.class`).
fn source(broker: &Broker, p: &FetchPartition, version: i16, rack: &str) -> Result<Source, E> {
    let replica = broker
        .replicas()
        .local_replica(&p.tp.topic, p.tp.partition)?;
    let inner = replica.lock();
    match &inner.role {
        Role::Leader(leader) => {
            if broker.config().replica.rack_aware_selector && version >= 11 && !rack.is_empty() {
                let racks = broker.metadata().replica_racks();
                let preferred = RackAwareReplicaSelector.preferred_read_replica(
                    leader,
                    &racks,
                    Some(rack),
                    p.fetch_offset,
                    crate::broker_server::mono_ms(),
                );
                if let Some(id) = preferred.filter(|id| *id != broker.config().node_id) {
                    return Ok(Source::Redirect {
                        replica: id,
                        high_watermark: replica.log.high_watermark(),
                        log_start_offset: replica.log.log_start_offset(),
                    });
                }
            }
            Ok(Source::Log(replica.log.clone()))
        }
        Role::Follower(_) if version >= 11 => Ok(Source::Log(replica.log.clone())),
        _ => Err(E::NotLeaderOrFollower),
    }
}

/// Resolves request topics to partitions; unknown topic ids are answered with
/// UNKNOWN_TOPIC_ID without entering the session.
pub(super) fn resolve(
    broker: &Broker,
    req: &FetchRequest,
    version: i16,
) -> (Vec<FetchPartition>, Vec<Forget>, Vec<(Uuid, i32)>) {
    let mut parts = Vec::new();
    let mut unknown_ids = Vec::new();
    for t in &req.topics {
        let (name, id) = if version >= 13 {
            match broker.metadata().topic_by_id(t.topic_id) {
                Some(m) => (m.name, m.id),
                None => {
                    unknown_ids.extend(t.partitions.iter().map(|p| (t.topic_id, p.partition)));
                    continue;
                }
            }
        } else {
            let name = t.topic.0.to_string();
            let id = broker
                .metadata()
                .topic(&name)
                .map(|m| m.id)
                .unwrap_or_default();
            (name, id)
        };
        for p in &t.partitions {
            parts.push(FetchPartition {
                tp: TopicPartition::new(name.clone(), p.partition),
                topic_id: id,
                fetch_offset: p.fetch_offset,
                partition_max_bytes: p.partition_max_bytes,
                current_leader_epoch: p.current_leader_epoch,
                last_fetched_epoch: p.last_fetched_epoch,
                log_start_offset: p.log_start_offset,
                replica: Default::default(),
            });
        }
    }
    let mut forgotten = Vec::new();
    for f in &req.forgotten_topics_data {
        let name = if version >= 13 {
            match broker.metadata().topic_by_id(f.topic_id) {
                Some(m) => m.name,
                None => {
                    // A deleted topic: the session still holds it under its id.
                    forgotten.extend(f.partitions.iter().map(|p| Forget::Id(f.topic_id, *p)));
                    continue;
                }
            }
        } else {
            f.topic.0.to_string()
        };
        forgotten.extend(
            f.partitions
                .iter()
                .map(|p| Forget::Name(TopicPartition::new(name.clone(), *p))),
        );
    }
    (parts, forgotten, unknown_ids)
}

fn read_partitions(
    broker: &Broker,
    parts: &[std::sync::Arc<FetchPartition>],
    max_bytes: usize,
    version: i16,
    rack: &str,
    zero_copy: bool,
    read_committed: bool,
) -> (Vec<PartitionRead>, usize) {
    let mut total = 0usize;
    let mut out = Vec::with_capacity(parts.len());
    for p in parts {
        let log = match source(broker, p, version, rack) {
            Ok(Source::Log(log)) => log,
            Ok(Source::Redirect {
                replica,
                high_watermark,
                log_start_offset,
            }) => {
                out.push(PartitionRead {
                    preferred_read_replica: replica,
                    ..PartitionRead::answer(0, high_watermark, log_start_offset)
                });
                continue;
            }
            Err(error) => {
                out.push(PartitionRead::error(error.code()));
                continue;
            }
        };
        let hw = log.high_watermark();
        // read_committed reads stop at the last stable offset (Kafka's FetchTxnCommitted).
        let lso = log.last_stable_offset();
        let upper = if read_committed { lso } else { hw };
        let remaining = max_bytes.saturating_sub(total);
        let limit = usize::try_from(p.partition_max_bytes.max(0))
            .unwrap_or(0)
            .min(remaining);
        let read = if p.fetch_offset >= upper
            && p.fetch_offset <= hw
            && p.fetch_offset >= log.log_start_offset()
        {
            // Caught up: nothing to read, and not out of range.
            Ok(None)
        } else if limit == 0 && total > 0 {
            Ok(None)
        } else {
            log.read_file(p.fetch_offset, limit, upper, total == 0)
                .and_then(|r| {
                    let mut read = PartitionRead::answer(0, hw, log.log_start_offset());
                    match r.records {
                        Some(f) if zero_copy && f.len() >= ZERO_COPY_MIN => read.file = Some(f),
                        Some(f) => read.records = f.read()?,
                        None => {}
                    }
                    Ok(read)
                })
                .map(Some)
        };
        match read {
            Ok(r) => {
                let mut r =
                    r.unwrap_or_else(|| PartitionRead::answer(0, hw, log.log_start_offset()));
                r.last_stable_offset = lso;
                if read_committed && r.len() > 0 {
                    // Records below the LSO only: the transactions aborted among them.
                    r.aborted = log.aborted_transactions(p.fetch_offset, lso);
                }
                total += r.len();
                if r.len() > 0 {
                    broker.metrics().fetched(&p.tp.topic, r.len() as u64);
                }
                out.push(r);
            }
            Err(e) => {
                if !matches!(e, ReadError::OffsetOutOfRange { .. }) {
                    broker.metrics().fetch_failed(&p.tp.topic);
                }
                out.push(PartitionRead::answer(
                    e.error_code(),
                    hw,
                    log.log_start_offset(),
                ));
            }
        }
    }
    (out, total)
}

/// Answers a consumer's Fetch; `zero_copy` leaves large record sets as file ranges.
pub(super) async fn handle(
    broker: &Broker,
    rctx: &RequestContext,
    req: FetchRequest,
    version: i16,
    zero_copy: bool,
) -> FetchReply {
    let (parts, forgotten, unknown_ids) = resolve(broker, &req, version);
    let mut resp = FetchResponse::default();
    let mut files = Vec::new();
    let session_id = if version >= 7 { req.session_id } else { 0 };
    let epoch = if version >= 7 { req.session_epoch } else { -1 };
    let begun = broker
        .replicas()
        .fetch_sessions()
        .begin(session_id, epoch, parts, &forgotten);
    let ctx: FetchContext = match begun {
        Ok(c) => c,
        Err(error) => {
            resp.error_code = error.code();
            return FetchReply { body: resp, files };
        }
    };
    // Read on each topic, checked on every fetch of the session (Kafka checks the
    // session's partitions, not only those named), so a revoked ACL stops the next one.
    let denied = authz::denied_topics(
        broker,
        rctx,
        AclOperation::Read,
        ctx.partitions.iter().map(|p| p.tp.topic.as_str()),
    )
    .filter(|d| d.contains(&true));
    let readable: Cow<'_, [Arc<FetchPartition>]> = match &denied {
        None => Cow::Borrowed(&ctx.partitions),
        Some(d) => Cow::Owned(
            ctx.partitions
                .iter()
                .zip(d)
                .filter(|(_, denied)| !**denied)
                .map(|(p, _)| Arc::clone(p))
                .collect(),
        ),
    };
    let rack = if version >= 11 {
        req.rack_id.to_string()
    } else {
        String::new()
    };
    let max_bytes =
        usize::try_from(req.max_bytes.min(broker.config().fetch_max_bytes).max(0)).unwrap_or(0);
    let min_bytes = usize::try_from(req.min_bytes.max(0)).unwrap_or(0);
    let deadline =
        Instant::now() + Duration::from_millis(u64::try_from(req.max_wait_ms.max(0)).unwrap_or(0));
    let (reads, _) = loop {
        // Register interest before reading so an append in between still wakes us.
        let notified = broker.replicas().notifier().notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let (reads, total) = read_partitions(
            broker,
            &readable,
            max_bytes,
            version,
            &rack,
            zero_copy,
            req.isolation_level == 1,
        );
        let any_error = reads
            .iter()
            .any(|r| r.error_code != 0 || r.preferred_read_replica >= 0)
            || !unknown_ids.is_empty()
            || denied.is_some();
        if total >= min_bytes
            || any_error
            || ctx.partitions.is_empty()
            || Instant::now() >= deadline
            || broker.is_closing()
        {
            break (reads, total);
        }
        tokio::select! {
            _ = &mut notified => {}
            _ = tokio::time::sleep_until(deadline) => {}
        }
    };

    let reads: Vec<PartitionRead> = match &denied {
        None => reads,
        Some(d) => {
            let mut read = reads.into_iter();
            d.iter()
                .map(|denied| match denied {
                    true => PartitionRead::error(E::TopicAuthorizationFailed.code()),
                    // One read per readable partition, in order.
                    false => read
                        .next()
                        .unwrap_or_else(|| PartitionRead::error(E::UnknownServerError.code())),
                })
                .collect()
        }
    };
    let outcomes: Vec<PartitionOutcome> = reads
        .iter()
        .map(|r| PartitionOutcome {
            error_code: r.error_code,
            high_watermark: r.high_watermark,
            log_start_offset: r.log_start_offset,
            has_records: r.len() > 0,
            evaluated: None,
        })
        .collect();
    let include = broker.replicas().fetch_sessions().complete(&ctx, &outcomes);
    resp.session_id = ctx.session_id();
    for ((p, read), include) in ctx.partitions.iter().zip(reads).zip(include) {
        if !include {
            continue;
        }
        let mut pd = PartitionData::default();
        pd.partition_index = p.tp.partition;
        pd.error_code = read.error_code;
        pd.high_watermark = read.high_watermark;
        pd.last_stable_offset = read.last_stable_offset;
        pd.log_start_offset = read.log_start_offset;
        pd.aborted_transactions = (req.isolation_level == 1).then(|| {
            read.aborted
                .iter()
                .map(|t| {
                    let mut a = AbortedTransaction::default();
                    a.producer_id = ProducerId(t.producer_id);
                    a.first_offset = t.first_offset;
                    a
                })
                .collect()
        });
        pd.records = Some(read.records);
        if version >= 11 {
            pd.preferred_read_replica = BrokerId(read.preferred_read_replica);
        }
        push_partition(&mut resp, &p.tp.topic, p.topic_id, pd);
        files.push(read.file);
    }
    for (id, partition) in unknown_ids {
        let mut pd = PartitionData::default();
        pd.partition_index = partition;
        pd.error_code = E::UnknownTopicId.code();
        pd.high_watermark = -1;
        pd.records = Some(Bytes::new());
        push_partition(&mut resp, "", id, pd);
    }
    FetchReply { body: resp, files }
}
