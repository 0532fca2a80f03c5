//! Fetch: reads stored batches as they are on disk (never re-encoded) up to the
//! high watermark, honouring max.bytes / partition max bytes (at least one batch
//! for the first partition with data), long-polls until min.bytes or
//! max.wait.ms, and answers through a KIP-227 fetch session when asked.

use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{FetchRequest, FetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use tidewater_storage::{ReadError, TopicPartition};
use tokio::time::Instant;
use uuid::Uuid;

use crate::state::Broker;
use crate::state::fetch_sessions::{FetchContext, FetchPartition, PartitionOutcome};

/// One partition's read, before shaping into the response.
struct PartitionRead {
    error_code: i16,
    high_watermark: i64,
    log_start_offset: i64,
    records: Bytes,
}

impl PartitionRead {
    fn error(code: i16) -> Self {
        PartitionRead {
            error_code: code,
            high_watermark: -1,
            log_start_offset: -1,
            records: Bytes::new(),
        }
    }
}

/// Resolves request topics to partitions; unknown topic ids are answered with
/// UNKNOWN_TOPIC_ID without entering the session.
fn resolve(
    broker: &Broker,
    req: &FetchRequest,
    version: i16,
) -> (Vec<FetchPartition>, Vec<TopicPartition>, Vec<(Uuid, i32)>) {
    let mut parts = Vec::new();
    let mut unknown_ids = Vec::new();
    for t in &req.topics {
        let (name, id) = if version >= 13 {
            match broker.metadata.topic_by_id(t.topic_id) {
                Some(m) => (m.name, m.id),
                None => {
                    unknown_ids.extend(t.partitions.iter().map(|p| (t.topic_id, p.partition)));
                    continue;
                }
            }
        } else {
            let name = t.topic.0.to_string();
            let id = broker
                .metadata
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
            });
        }
    }
    let mut forgotten = Vec::new();
    for f in &req.forgotten_topics_data {
        let name = if version >= 13 {
            match broker.metadata.topic_by_id(f.topic_id) {
                Some(m) => m.name,
                None => continue,
            }
        } else {
            f.topic.0.to_string()
        };
        forgotten.extend(
            f.partitions
                .iter()
                .map(|p| TopicPartition::new(name.clone(), *p)),
        );
    }
    (parts, forgotten, unknown_ids)
}

fn read_partitions(
    broker: &Broker,
    parts: &[FetchPartition],
    max_bytes: usize,
) -> (Vec<PartitionRead>, usize) {
    let mut total = 0usize;
    let mut out = Vec::with_capacity(parts.len());
    for p in parts {
        let log = match broker.leader_log(&p.tp.topic, p.tp.partition) {
            Ok(log) => log,
            Err(code) => {
                out.push(PartitionRead::error(code));
                continue;
            }
        };
        let hw = log.high_watermark();
        let remaining = max_bytes.saturating_sub(total);
        let limit = usize::try_from(p.partition_max_bytes.max(0))
            .unwrap_or(0)
            .min(remaining);
        let read = if p.fetch_offset == hw && p.fetch_offset >= log.log_start_offset() {
            // Caught up: nothing to read, and not out of range.
            Ok(None)
        } else if limit == 0 && total > 0 {
            Ok(None)
        } else {
            log.read(p.fetch_offset, limit, hw, total == 0).map(Some)
        };
        match read {
            Ok(r) => {
                let records = r.map(|r| r.records).unwrap_or_default();
                total += records.len();
                if !records.is_empty() {
                    broker.metrics.fetched(&p.tp.topic, records.len() as u64);
                }
                out.push(PartitionRead {
                    error_code: 0,
                    high_watermark: hw,
                    log_start_offset: log.log_start_offset(),
                    records,
                });
            }
            Err(e) => {
                if !matches!(e, ReadError::OffsetOutOfRange { .. }) {
                    broker.metrics.fetch_failed(&p.tp.topic);
                }
                out.push(PartitionRead {
                    error_code: e.error_code(),
                    high_watermark: hw,
                    log_start_offset: log.log_start_offset(),
                    records: Bytes::new(),
                });
            }
        }
    }
    (out, total)
}

pub async fn handle(broker: &Broker, req: FetchRequest, version: i16) -> FetchResponse {
    let replica_id = if version >= 15 {
        req.replica_state.replica_id.0
    } else {
        req.replica_id.0
    };
    if replica_id >= 0 && broker.cluster.is_some() {
        return super::replica_fetch::handle(broker, req, version, replica_id).await;
    }
    let (parts, forgotten, unknown_ids) = resolve(broker, &req, version);
    let mut resp = FetchResponse::default();
    let session_id = if version >= 7 { req.session_id } else { 0 };
    let epoch = if version >= 7 { req.session_epoch } else { -1 };
    let begun = broker
        .fetch_sessions
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .begin(session_id, epoch, parts, &forgotten);
    let ctx: FetchContext = match begun {
        Ok(c) => c,
        Err(code) => {
            resp.error_code = code;
            return resp;
        }
    };
    let max_bytes =
        usize::try_from(req.max_bytes.min(broker.config.fetch_max_bytes).max(0)).unwrap_or(0);
    let min_bytes = usize::try_from(req.min_bytes.max(0)).unwrap_or(0);
    let deadline =
        Instant::now() + Duration::from_millis(u64::try_from(req.max_wait_ms.max(0)).unwrap_or(0));
    let (reads, _) = loop {
        // Register interest before reading so an append in between still wakes us.
        let notified = broker.notifier.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let (reads, total) = read_partitions(broker, &ctx.partitions, max_bytes);
        let any_error = reads.iter().any(|r| r.error_code != 0) || !unknown_ids.is_empty();
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

    let outcomes: Vec<PartitionOutcome> = reads
        .iter()
        .map(|r| PartitionOutcome {
            error_code: r.error_code,
            high_watermark: r.high_watermark,
            log_start_offset: r.log_start_offset,
            has_records: !r.records.is_empty(),
        })
        .collect();
    let include = broker
        .fetch_sessions
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .complete(&ctx, &outcomes);
    resp.session_id = ctx.session_id();
    for ((p, read), include) in ctx.partitions.iter().zip(reads).zip(include) {
        if !include {
            continue;
        }
        let mut pd = PartitionData::default();
        pd.partition_index = p.tp.partition;
        pd.error_code = read.error_code;
        pd.high_watermark = read.high_watermark;
        pd.last_stable_offset = read.high_watermark;
        pd.log_start_offset = read.log_start_offset;
        pd.aborted_transactions = (req.isolation_level == 1).then(Vec::new);
        pd.records = Some(read.records);
        push_partition(&mut resp, &p.tp.topic, p.topic_id, pd);
    }
    for (id, partition) in unknown_ids {
        let mut pd = PartitionData::default();
        pd.partition_index = partition;
        pd.error_code = E::UnknownTopicId.code();
        pd.high_watermark = -1;
        pd.records = Some(Bytes::new());
        push_partition(&mut resp, "", id, pd);
    }
    resp
}

/// Appends to the last topic entry when it is the same topic (keeps request order).
fn push_partition(resp: &mut FetchResponse, topic: &str, id: Uuid, pd: PartitionData) {
    match resp.responses.last_mut() {
        Some(t) if t.topic.0.as_str() == topic && t.topic_id == id => t.partitions.push(pd),
        _ => {
            let mut t = FetchableTopicResponse::default();
            t.topic = TopicName(StrBytes::from_string(topic.to_string()));
            t.topic_id = id;
            t.partitions = vec![pd];
            resp.responses.push(t);
        }
    }
}

#[cfg(test)]
mod tests;
