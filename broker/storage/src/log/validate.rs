//! What Kafka's LogValidator checks on an append, before any offset is assigned: batch
//! framing, magic, size limits, CRC-32C, record counts, timestamps, and keys on compacted
//! topics. Pure: bytes and config in, batch headers or a typed error out.

use crate::batch::{self, BatchHeader, HEADER_SIZE, LOG_OVERHEAD};
use crate::config::{LogConfig, TimestampType};
use crate::error::AppendError;

/// Who is appending: producers get every check, followers get the integrity checks only
/// (the leader already validated content).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Client,
    /// The coordinators' own batches: the transaction coordinator's markers
    /// (WriteTxnMarkers; control batches, which clients may not write) and the group
    /// coordinator's TxnOffsetCommit batches, with every other client check but the
    /// producer sequence's (Kafka's `AppendOrigin.COORDINATOR`).
    Coordinator,
    Replication,
}

/// Splits `records` into batches and validates each; returns `(position, header)` pairs.
/// For client batches the returned header's `max_timestamp` is computed from the records
/// (it may differ from the bytes: the append path rewrites the stored header).
pub fn validate(
    records: &[u8],
    cfg: &LogConfig,
    now_ms: i64,
    origin: Origin,
) -> Result<Vec<(usize, BatchHeader)>, AppendError> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos < records.len() {
        let rest = &records[pos..];
        let batch_index = out.len();
        let corrupt = |reason: String| AppendError::CorruptMessage {
            batch_index,
            position: pos,
            reason,
        };
        if rest.len() > 16 {
            let magic = rest[16] as i8;
            if magic == 0 || magic == 1 {
                return Err(AppendError::UnsupportedForMessageFormat { magic });
            }
        }
        let Some(h) = BatchHeader::parse(rest) else {
            return Err(corrupt(format!(
                "{} trailing bytes are too short for a record batch header",
                rest.len()
            )));
        };
        h.check_shape().map_err(|e| corrupt(e.to_string()))?;
        let size = h.total_size();
        if size > rest.len() {
            return Err(corrupt(format!(
                "batch length {} exceeds the {} bytes remaining",
                h.batch_length,
                rest.len() - LOG_OVERHEAD
            )));
        }
        if size as u64 > cfg.max_message_bytes {
            return Err(AppendError::MessageTooLarge {
                size,
                max: cfg.max_message_bytes,
            });
        }
        let bytes = &rest[..size];
        if !batch::crc_valid(bytes, &h) {
            return Err(corrupt("CRC-32C mismatch".into()));
        }
        let invalid = |reason: String| AppendError::InvalidRecord {
            batch_index,
            reason,
        };
        // A leader's log may hold what a producer may not send: batches the cleaner
        // emptied (kept for producer state) or thinned (offsets with gaps). A follower
        // copies them as they are, as Kafka's does.
        if origin != Origin::Replication && h.records_count <= 0 {
            return Err(invalid("record batch has no records".into()));
        }
        if origin != Origin::Replication
            && i64::from(h.last_offset_delta) + 1 != i64::from(h.records_count)
        {
            return Err(invalid(format!(
                "inconsistent batch: last offset delta {} but {} records",
                h.last_offset_delta, h.records_count
            )));
        }
        let mut h = h;
        if origin != Origin::Replication {
            if h.is_control() {
                if origin == Origin::Client {
                    return Err(invalid("clients may not write control records".into()));
                }
            } else if h.has_producer_id() && h.base_sequence < 0 {
                return Err(invalid(format!(
                    "producer id {} with invalid base sequence {}",
                    h.producer_id, h.base_sequence
                )));
            }
            let compacted = cfg.cleanup_policy.compacts();
            let timestamps = if h.compression() == 0 {
                let body = batch::walk_uncompressed(bytes, &h, compacted)
                    .map_err(|e| corrupt(e.to_string()))?;
                if compacted && body.null_key {
                    return Err(invalid(
                        "compacted topic cannot accept a record without a key".into(),
                    ));
                }
                body.timestamps
            } else {
                // Kafka decompresses every compressed batch on append too: the header's
                // max timestamp is only a claim, the records say what it is.
                if bytes.len() <= HEADER_SIZE {
                    return Err(corrupt("compressed batch has no body".into()));
                }
                let set = batch::decode_records(bytes).map_err(|e| corrupt(e.to_string()))?;
                if set.records.len() != h.records_count as usize {
                    return Err(invalid(
                        "record count does not match the batch header".into(),
                    ));
                }
                if compacted && set.records.iter().any(|r| r.key.is_none()) {
                    return Err(invalid(
                        "compacted topic cannot accept a record without a key".into(),
                    ));
                }
                let mut t = batch::RecordTimestamps::default();
                for r in &set.records {
                    t.add(r.timestamp);
                }
                t
            };
            check_timestamps(timestamps, cfg, now_ms)?;
            // LogValidator: the stored max timestamp is the records' (or NO_TIMESTAMP),
            // whatever the producer wrote; append rewrites the header to match.
            h.max_timestamp = timestamps.max;
        }
        out.push((pos, h));
        pos += size;
    }
    if out.is_empty() {
        return Err(AppendError::CorruptMessage {
            batch_index: 0,
            position: 0,
            reason: "no record batches".into(),
        });
    }
    Ok(out)
}

/// Kafka's `validateTimestamp` for CreateTime, over the records' own timestamps
/// (NO_TIMESTAMP is always accepted).
fn check_timestamps(
    t: batch::RecordTimestamps,
    cfg: &LogConfig,
    now_ms: i64,
) -> Result<(), AppendError> {
    if cfg.message_timestamp_type != TimestampType::CreateTime {
        return Ok(());
    }
    for ts in [t.min, t.max] {
        if ts == -1 || ts == i64::MAX {
            continue; // NO_TIMESTAMP, or no record with a timestamp
        }
        if now_ms.saturating_sub(ts) > cfg.message_timestamp_before_max_ms {
            return Err(AppendError::InvalidTimestamp {
                timestamp: ts,
                reason: format!(
                    "more than message.timestamp.before.max.ms={} in the past",
                    cfg.message_timestamp_before_max_ms
                ),
            });
        }
        if ts.saturating_sub(now_ms) > cfg.message_timestamp_after_max_ms {
            return Err(AppendError::InvalidTimestamp {
                timestamp: ts,
                reason: format!(
                    "more than message.timestamp.after.max.ms={} in the future",
                    cfg.message_timestamp_after_max_ms
                ),
            });
        }
    }
    Ok(())
}
