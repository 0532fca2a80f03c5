//! Reading a segment batch by batch, and the batch rewrites a cleaning makes (Kafka's
//! `MemoryRecords.filterTo`): records filtered out of a batch (same offsets and codec),
//! an emptied batch kept as a bare header when its producer's state needs it, and a
//! delete horizon written into a batch. Pure functions of the stored bytes; no file is
//! written here.

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{RecordBatchEncoder, RecordEncodeOptions};

use super::READ_CHUNK;
use super::txn::ControlType;
use crate::batch::{self, ATTR_DELETE_HORIZON, BatchHeader, BatchIter, HEADER_SIZE, LOG_OVERHEAD};
use crate::error::StorageError;
use crate::segment::Segment;

pub(super) fn decode_err(h: &BatchHeader, reason: impl std::fmt::Display) -> StorageError {
    StorageError::Decode {
        offset: h.base_offset,
        reason: reason.to_string(),
    }
}

/// A visitor of one batch: its header and its stored bytes.
pub(super) type BatchVisitor<'a> = dyn FnMut(&BatchHeader, &[u8]) -> Result<(), StorageError> + 'a;

/// Calls `f` with every batch of `seg`, reading a chunk at a time.
pub(super) fn for_each_batch(seg: &Segment, f: &mut BatchVisitor<'_>) -> Result<(), StorageError> {
    let size = seg.size();
    let mut pos = 0u64;
    while pos < size {
        let chunk = seg.read(pos, READ_CHUNK)?;
        let mut consumed = 0usize;
        for (at, h) in BatchIter::new(&chunk) {
            f(&h, &chunk[at..at + h.total_size()])?;
            consumed = at + h.total_size();
        }
        if consumed == 0 {
            // A batch larger than the chunk, or nothing readable.
            let Some(h) = BatchHeader::parse(&chunk) else {
                break;
            };
            if h.check_shape().is_err() || h.total_size() <= chunk.len() {
                break;
            }
            let whole = seg.read(pos, h.total_size())?;
            if whole.len() < h.total_size() {
                break;
            }
            f(&h, &whole)?;
            consumed = h.total_size();
        }
        pos += consumed as u64;
    }
    Ok(())
}

/// The batch with only the records `keep(offset, key, is_tombstone)` accepts: `None`
/// when all are kept (the stored bytes are reused as they are), else the re-encoded
/// batch (same offsets and codec; empty when nothing is left).
pub(super) fn filter_batch(
    h: &BatchHeader,
    raw: &[u8],
    keep: &dyn Fn(i64, &Bytes, bool) -> bool,
    removed: &mut u64,
) -> Result<Option<Vec<u8>>, StorageError> {
    if h.is_control() {
        return Ok(None);
    }
    let set = batch::decode_records(raw).map_err(|e| decode_err(h, e))?;
    let total = set.records.len();
    let kept: Vec<_> = set
        .records
        .into_iter()
        .filter(|r| match &r.key {
            Some(k) => keep(r.offset, k, r.value.is_none()),
            None => true,
        })
        .collect();
    if kept.len() == total {
        return Ok(None);
    }
    *removed += (total - kept.len()) as u64;
    if kept.is_empty() {
        return Ok(Some(Vec::new()));
    }
    let mut buf = BytesMut::new();
    let opts = RecordEncodeOptions {
        version: 2,
        compression: set.compression,
    };
    RecordBatchEncoder::encode(&mut buf, kept.iter(), &opts).map_err(|e| decode_err(h, e))?;
    let mut buf = buf.to_vec();
    if h.is_log_append_time() {
        // The encoder writes CreateTime; restore the broker's time as stored.
        let mut at = 0;
        while let Some(nh) = BatchHeader::parse(&buf[at..]) {
            let end = at + nh.total_size();
            batch::set_max_timestamp_and_attributes(
                &mut buf[at..end],
                nh.attributes | (1 << 3),
                h.max_timestamp,
            );
            at = end;
        }
    }
    Ok(Some(buf))
}

/// The type of a control batch's marker (decoded, so a compressed one is read too).
pub(super) fn control_type(h: &BatchHeader, raw: &[u8]) -> Result<ControlType, StorageError> {
    if h.records_count <= 0 {
        return Ok(ControlType::Empty);
    }
    let set = batch::decode_records(raw).map_err(|e| decode_err(h, e))?;
    Ok(set.records.first().map_or(ControlType::Empty, |r| {
        ControlType::from_key(r.key.as_deref())
    }))
}

/// The batch without its records (Kafka's `writeEmptyHeader`): same offsets, producer
/// id, epoch, sequence and flags, no compression, no record. What the cleaner keeps of
/// a producer's last batch so its sequence and epoch survive a reload.
pub(super) fn empty_batch(raw: &[u8]) -> Vec<u8> {
    let mut out = raw[..HEADER_SIZE].to_vec();
    let length = (HEADER_SIZE - LOG_OVERHEAD) as i32;
    out[8..12].copy_from_slice(&length.to_be_bytes());
    let attributes = i16::from_be_bytes([out[21], out[22]]) & !0x07;
    out[21..23].copy_from_slice(&attributes.to_be_bytes());
    out[57..61].copy_from_slice(&0i32.to_be_bytes());
    batch::recompute_crc(&mut out);
    out
}

fn put_varint(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

/// The batch with `horizon_ms` as its delete horizon (KIP-534, as Kafka's cleaner
/// writes it): the flag set and the first timestamp replaced by the horizon, each
/// record's timestamp delta rewritten so record timestamps stay what they were. Only
/// uncompressed batches (markers always are); `None` for a compressed or unreadable
/// one, which then keeps no horizon and stays.
pub(super) fn with_delete_horizon(h: &BatchHeader, raw: &[u8], horizon_ms: i64) -> Option<Vec<u8>> {
    if h.compression() != 0 {
        return None;
    }
    let mut out = raw[..HEADER_SIZE].to_vec();
    let mut body = raw.get(HEADER_SIZE..)?;
    let mut rec = Vec::new();
    while !body.is_empty() {
        let (len, n) = batch::read_varint(body)?;
        let record = body.get(n..n + usize::try_from(len).ok()?)?;
        let (delta, m) = batch::read_varint(record.get(1..)?)?;
        let timestamp = h.first_timestamp.saturating_add(delta);
        rec.clear();
        rec.push(record[0]);
        put_varint(&mut rec, timestamp.saturating_sub(horizon_ms));
        rec.extend_from_slice(&record[1 + m..]);
        put_varint(&mut out, rec.len() as i64);
        out.extend_from_slice(&rec);
        body = &body[n + record.len()..];
    }
    let length = i32::try_from(out.len() - LOG_OVERHEAD).ok()?;
    out[8..12].copy_from_slice(&length.to_be_bytes());
    let attributes = h.attributes | ATTR_DELETE_HORIZON;
    out[21..23].copy_from_slice(&attributes.to_be_bytes());
    out[27..35].copy_from_slice(&horizon_ms.to_be_bytes());
    batch::recompute_crc(&mut out);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::indexmap::IndexMap;
    use kafka_protocol::records::{Compression, Record, TimestampType};

    fn marker_batch(timestamps: &[i64]) -> Vec<u8> {
        let records: Vec<Record> = timestamps
            .iter()
            .enumerate()
            .map(|(i, ts)| Record {
                transactional: true,
                control: true,
                delete_horizon: false,
                partition_leader_epoch: 3,
                producer_id: 7,
                producer_epoch: 2,
                timestamp_type: TimestampType::Creation,
                offset: 40 + i as i64,
                // One batch (the encoder splits where offset - sequence changes),
                // base sequence -1 as markers have.
                sequence: i as i32 - 1,
                timestamp: *ts,
                key: Some(Bytes::from_static(&[0, 0, 0, 0])),
                value: Some(Bytes::from_static(&[0, 0, 0, 0, 0, 0])),
                headers: IndexMap::new(),
            })
            .collect();
        let mut buf = BytesMut::new();
        let opts = RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        };
        RecordBatchEncoder::encode(&mut buf, records.iter(), &opts).unwrap();
        buf.to_vec()
    }

    #[test]
    fn a_delete_horizon_keeps_record_timestamps_and_a_valid_crc() {
        let raw = marker_batch(&[1_000, 1_500]);
        let h = BatchHeader::parse(&raw).unwrap();
        assert_eq!(h.delete_horizon_ms(), None);
        // A horizon far from the records: deltas become large negative varints.
        let out = with_delete_horizon(&h, &raw, 1_700_000_000_000).unwrap();
        let nh = BatchHeader::parse(&out).unwrap();
        assert_eq!(nh.delete_horizon_ms(), Some(1_700_000_000_000));
        assert!(batch::crc_valid(&out, &nh));
        assert_eq!(
            (nh.base_offset, nh.last_offset(), nh.records_count),
            (40, 41, 2)
        );
        assert_eq!((nh.producer_id, nh.producer_epoch), (7, 2));
        assert_eq!(nh.max_timestamp, h.max_timestamp);
        let set = batch::decode_records(&out).unwrap();
        let ts: Vec<i64> = set.records.iter().map(|r| r.timestamp).collect();
        assert_eq!(ts, [1_000, 1_500]);
        assert!(set.records.iter().all(|r| r.control && r.delete_horizon));
        assert_eq!(
            control_type(&nh, &out).unwrap(),
            ControlType::Abort,
            "the marker is still readable"
        );
    }

    #[test]
    fn an_emptied_batch_keeps_its_offsets_and_producer() {
        let raw = marker_batch(&[5, 6, 7]);
        let h = BatchHeader::parse(&raw).unwrap();
        let out = empty_batch(&raw);
        let nh = BatchHeader::parse(&out).unwrap();
        assert_eq!(out.len(), HEADER_SIZE);
        assert!(batch::crc_valid(&out, &nh));
        assert_eq!((nh.base_offset, nh.last_offset()), (h.base_offset, 42));
        assert_eq!((nh.records_count, nh.producer_id), (0, 7));
        assert!(nh.is_control() && nh.is_transactional());
        assert_eq!(control_type(&nh, &out).unwrap(), ControlType::Empty);
        assert!(batch::decode_records(&out).unwrap().records.is_empty());
    }
}
