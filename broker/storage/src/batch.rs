//! Zero-copy access to magic-v2 record batch headers (the 61-byte prefix), the hot-path
//! validation Kafka's LogValidator performs on produce, and in-place header rewrites.
//! Record bodies are only walked when uncompressed; compressed bodies are decoded (by the
//! `kafka-protocol` crate) only when a compacted topic needs the keys checked.

use bytes::Bytes;

/// Base offset (8) + batch length (4): the bytes not counted by `batch_length`.
pub const LOG_OVERHEAD: usize = 12;
/// The full v2 batch header.
pub const HEADER_SIZE: usize = 61;
/// Where the CRC-covered part of a batch starts (the attributes field).
const CRC_START: usize = 21;
const ATTR_COMPRESSION_MASK: i16 = 0x07;
const ATTR_LOG_APPEND_TIME: i16 = 1 << 3;
pub(crate) const ATTR_TRANSACTIONAL: i16 = 1 << 4;
pub(crate) const ATTR_CONTROL: i16 = 1 << 5;
/// The first timestamp holds the delete horizon the cleaner set (KIP-534).
pub(crate) const ATTR_DELETE_HORIZON: i16 = 1 << 6;

/// Why a record batch is malformed: the reason of a CORRUPT_MESSAGE answer, a
/// recovery truncation or a dump report.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum BatchError {
    #[error("magic {0} is not 2")]
    Magic(i8),
    #[error("batch length {0} is too small")]
    LengthTooSmall(i32),
    #[error("negative last offset delta {0}")]
    NegativeLastOffsetDelta(i32),
    /// A record ends inside the named field.
    #[error("truncated {0}")]
    Truncated(&'static str),
    #[error("record too short")]
    RecordTooShort,
    #[error("record {record} has invalid length {len}")]
    RecordLength { record: usize, len: i64 },
    #[error("record {record} has offset delta {delta}, expected {record}")]
    OffsetDelta { record: usize, delta: i64 },
    #[error("batch header says {header} records but the body holds {body}")]
    RecordCount { header: i32, body: usize },
    /// The `kafka-protocol` decoder's own message (its error type is `anyhow`).
    #[error("{0}")]
    Decode(String),
}

fn be_i64(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}
fn be_i32(b: &[u8], at: usize) -> i32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    i32::from_be_bytes(a)
}
fn be_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}

/// The decoded fixed header of one record batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchHeader {
    pub base_offset: i64,
    pub batch_length: i32,
    pub partition_leader_epoch: i32,
    pub magic: i8,
    pub crc: u32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub first_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub records_count: i32,
}

impl BatchHeader {
    /// Reads the header from the first 61 bytes of `buf`; `None` when shorter. Performs
    /// no validation: see [`BatchHeader::check_shape`].
    pub fn parse(buf: &[u8]) -> Option<BatchHeader> {
        if buf.len() < HEADER_SIZE {
            return None;
        }
        Some(BatchHeader {
            base_offset: be_i64(buf, 0),
            batch_length: be_i32(buf, 8),
            partition_leader_epoch: be_i32(buf, 12),
            magic: buf[16] as i8,
            crc: be_i32(buf, 17) as u32,
            attributes: be_i16(buf, 21),
            last_offset_delta: be_i32(buf, 23),
            first_timestamp: be_i64(buf, 27),
            max_timestamp: be_i64(buf, 35),
            producer_id: be_i64(buf, 43),
            producer_epoch: be_i16(buf, 51),
            base_sequence: be_i32(buf, 53),
            records_count: be_i32(buf, 57),
        })
    }

    /// Total bytes of the batch on disk, including the 12-byte log overhead.
    pub fn total_size(&self) -> usize {
        LOG_OVERHEAD + self.batch_length.max(0) as usize
    }
    /// Saturating: headers come from the network and from disk, and a corrupt base
    /// offset must produce an error later, not an overflow panic here.
    pub fn last_offset(&self) -> i64 {
        self.base_offset
            .saturating_add(i64::from(self.last_offset_delta))
    }
    pub fn next_offset(&self) -> i64 {
        self.last_offset().saturating_add(1)
    }
    pub fn compression(&self) -> i16 {
        self.attributes & ATTR_COMPRESSION_MASK
    }
    pub fn compression_name(&self) -> &'static str {
        match self.compression() {
            0 => "none",
            1 => "gzip",
            2 => "snappy",
            3 => "lz4",
            4 => "zstd",
            _ => "unknown",
        }
    }
    pub fn is_log_append_time(&self) -> bool {
        self.attributes & ATTR_LOG_APPEND_TIME != 0
    }
    pub fn is_transactional(&self) -> bool {
        self.attributes & ATTR_TRANSACTIONAL != 0
    }
    pub fn is_control(&self) -> bool {
        self.attributes & ATTR_CONTROL != 0
    }
    /// When the cleaner may remove this batch's tombstones or (a control batch) its
    /// marker: set by a cleaning, in the first timestamp field, as Kafka does.
    pub fn delete_horizon_ms(&self) -> Option<i64> {
        (self.attributes & ATTR_DELETE_HORIZON != 0).then_some(self.first_timestamp)
    }
    pub fn has_producer_id(&self) -> bool {
        self.producer_id >= 0
    }
    pub fn last_sequence(&self) -> i32 {
        if self.base_sequence < 0 {
            return -1;
        }
        // Sequences wrap at i32::MAX back to 0, as in Kafka's DefaultRecordBatch.
        let last = i64::from(self.base_sequence) + i64::from(self.last_offset_delta);
        if last > i64::from(i32::MAX) {
            (last - i64::from(i32::MAX) - 1) as i32
        } else {
            last as i32
        }
    }

    /// The structural checks that need no body: magic, a length that can hold the header,
    /// a non-negative offset delta. The error is a reason for CORRUPT_MESSAGE (or
    /// UNSUPPORTED_FOR_MESSAGE_FORMAT, told apart by `magic`).
    pub fn check_shape(&self) -> Result<(), BatchError> {
        if self.magic != 2 {
            return Err(BatchError::Magic(self.magic));
        }
        if (self.batch_length as i64) < (HEADER_SIZE - LOG_OVERHEAD) as i64 {
            return Err(BatchError::LengthTooSmall(self.batch_length));
        }
        if self.last_offset_delta < 0 {
            return Err(BatchError::NegativeLastOffsetDelta(self.last_offset_delta));
        }
        Ok(())
    }
}

/// Whether the stored CRC-32C matches the batch bytes (`batch` is the whole batch).
pub fn crc_valid(batch: &[u8], header: &BatchHeader) -> bool {
    batch.len() >= HEADER_SIZE && crc32c::crc32c(&batch[CRC_START..]) == header.crc
}

pub(crate) fn set_base_offset(batch: &mut [u8], base_offset: i64) {
    batch[0..8].copy_from_slice(&base_offset.to_be_bytes());
}

pub(crate) fn set_partition_leader_epoch(batch: &mut [u8], epoch: i32) {
    batch[12..16].copy_from_slice(&epoch.to_be_bytes());
}

pub(crate) fn set_max_timestamp_and_attributes(batch: &mut [u8], attributes: i16, max_ts: i64) {
    batch[21..23].copy_from_slice(&attributes.to_be_bytes());
    batch[35..43].copy_from_slice(&max_ts.to_be_bytes());
    recompute_crc(batch);
}

/// LogAppendTime on a detached copy of a batch header: `body` is the rest of the batch,
/// left where it is, so the CRC covers header and body without copying the body.
pub(crate) fn set_log_append_time_detached(
    header: &mut [u8; HEADER_SIZE],
    body: &[u8],
    now_ms: i64,
) {
    let attrs = be_i16(header, 21) | ATTR_LOG_APPEND_TIME;
    header[21..23].copy_from_slice(&attrs.to_be_bytes());
    header[35..43].copy_from_slice(&now_ms.to_be_bytes());
    let crc = crc32c::crc32c_append(crc32c::crc32c(&header[CRC_START..]), body);
    header[17..21].copy_from_slice(&crc.to_be_bytes());
}

pub(crate) fn recompute_crc(batch: &mut [u8]) {
    let crc = crc32c::crc32c(&batch[CRC_START..]);
    batch[17..21].copy_from_slice(&crc.to_be_bytes());
}

/// Iterates the complete batches of a buffer: `(position, header)`. Stops (without an
/// error) at a trailing partial batch; `remainder_position` then says where it starts.
pub struct BatchIter<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> BatchIter<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        BatchIter { buf, pos: 0 }
    }
    /// Where iteration stopped: the end of the last complete batch returned.
    pub fn position(&self) -> usize {
        self.pos
    }
}

impl Iterator for BatchIter<'_> {
    type Item = (usize, BatchHeader);
    fn next(&mut self) -> Option<Self::Item> {
        let rest = &self.buf[self.pos..];
        let header = BatchHeader::parse(rest)?;
        if header.batch_length < (HEADER_SIZE - LOG_OVERHEAD) as i32 {
            return None;
        }
        let size = header.total_size();
        if size > rest.len() {
            return None;
        }
        let at = self.pos;
        self.pos += size;
        Some((at, header))
    }
}

/// Decodes a zigzag varint (as used inside v2 records); returns value and bytes used.
#[inline]
pub(crate) fn read_varint(buf: &[u8]) -> Option<(i64, usize)> {
    // Most varints in a record (deltas, small lengths) fit one byte.
    if let Some(&b) = buf.first()
        && b & 0x80 == 0
    {
        let raw = u64::from(b);
        return Some((((raw >> 1) as i64) ^ -((raw & 1) as i64), 1));
    }
    let mut raw: u64 = 0;
    for (i, b) in buf.iter().enumerate().take(10) {
        raw |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            let v = ((raw >> 1) as i64) ^ -((raw & 1) as i64);
            return Some((v, i + 1));
        }
    }
    None
}

/// What the light walk over an uncompressed batch body learned.
pub(crate) struct BodyCheck {
    pub null_key: bool,
    /// Smallest and largest record timestamp (first timestamp + delta), -1 (Kafka's
    /// NO_TIMESTAMP) when no record carries one: what LogValidator trusts, not the header.
    pub timestamps: RecordTimestamps,
}

/// The span of record timestamps of one batch, computed from the records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RecordTimestamps {
    /// Smallest record timestamp other than NO_TIMESTAMP (-1); i64::MAX when none.
    pub min: i64,
    /// Kafka's `maxTimestamp` as LogValidator computes it: starts at NO_TIMESTAMP.
    pub max: i64,
}

impl Default for RecordTimestamps {
    fn default() -> Self {
        RecordTimestamps {
            min: i64::MAX,
            max: -1,
        }
    }
}

impl RecordTimestamps {
    pub fn add(&mut self, ts: i64) {
        if ts != -1 {
            self.min = self.min.min(ts);
        }
        self.max = self.max.max(ts);
    }
}

/// Makes a detached batch header say CreateTime with `max_ts`, recomputing the CRC over
/// the header and the untouched `body` (LogValidator's `setMaxTimestamp(CREATE_TIME,
/// ..)`: a producer's LogAppendTime bit on a CreateTime topic is cleared too).
pub(crate) fn set_create_time_detached(header: &mut [u8; HEADER_SIZE], body: &[u8], max_ts: i64) {
    let attrs = be_i16(header, 21) & !ATTR_LOG_APPEND_TIME;
    header[21..23].copy_from_slice(&attrs.to_be_bytes());
    header[35..43].copy_from_slice(&max_ts.to_be_bytes());
    let crc = crc32c::crc32c_append(crc32c::crc32c(&header[CRC_START..]), body);
    header[17..21].copy_from_slice(&crc.to_be_bytes());
}

/// Walks the records of an uncompressed batch body: each record's length must fit,
/// offset deltas must be 0, 1, 2, ... and the count must match the header. Keys are
/// looked at only when `want_keys` (compacted topics), to report a null one.
pub(crate) fn walk_uncompressed(
    batch: &[u8],
    header: &BatchHeader,
    want_keys: bool,
) -> Result<BodyCheck, BatchError> {
    let mut body = &batch[HEADER_SIZE..];
    let mut records = 0usize;
    let mut null_key = false;
    let mut timestamps = RecordTimestamps::default();
    while !body.is_empty() {
        let (len, n) = read_varint(body).ok_or(BatchError::Truncated("record length"))?;
        if len < 0 || (len as usize) > body.len() - n {
            return Err(BatchError::RecordLength {
                record: records,
                len,
            });
        }
        let rec = &body[n..n + len as usize];
        // attributes (1 byte), timestamp delta, offset delta, key length
        let rest = rec.get(1..).ok_or(BatchError::RecordTooShort)?;
        let (ts_delta, a) = read_varint(rest).ok_or(BatchError::Truncated("timestamp delta"))?;
        timestamps.add(header.first_timestamp.saturating_add(ts_delta));
        let (delta, b) = read_varint(&rest[a..]).ok_or(BatchError::Truncated("offset delta"))?;
        if delta != records as i64 {
            return Err(BatchError::OffsetDelta {
                record: records,
                delta,
            });
        }
        if want_keys {
            let (key_len, _) =
                read_varint(&rest[a + b..]).ok_or(BatchError::Truncated("key length"))?;
            null_key |= key_len < 0;
        }
        records += 1;
        body = &body[n + len as usize..];
    }
    if records != header.records_count.max(0) as usize {
        return Err(BatchError::RecordCount {
            header: header.records_count,
            body: records,
        });
    }
    Ok(BodyCheck {
        null_key,
        timestamps,
    })
}

/// Decodes a (possibly compressed) batch with the `kafka-protocol` crate.
pub(crate) fn decode_records(
    batch: &[u8],
) -> Result<kafka_protocol::records::RecordSet, BatchError> {
    let mut bytes = Bytes::copy_from_slice(batch);
    kafka_protocol::records::RecordBatchDecoder::decode(&mut bytes)
        .map_err(|e| BatchError::Decode(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_decode_zigzag() {
        assert_eq!(read_varint(&[0x00]), Some((0, 1)));
        assert_eq!(read_varint(&[0x01]), Some((-1, 1)));
        assert_eq!(read_varint(&[0x02]), Some((1, 1)));
        assert_eq!(read_varint(&[0xac, 0x02]), Some((150, 2)));
        assert_eq!(read_varint(&[0x80]), None);
    }

    #[test]
    fn last_sequence_wraps() {
        let mut h = BatchHeader::parse(&[0u8; HEADER_SIZE]).unwrap();
        h.base_sequence = i32::MAX;
        h.last_offset_delta = 1;
        assert_eq!(h.last_sequence(), 0);
        h.base_sequence = 5;
        assert_eq!(h.last_sequence(), 6);
        h.base_sequence = -1;
        assert_eq!(h.last_sequence(), -1);
    }

    #[test]
    fn shape_errors_say_what_is_wrong() {
        let mut h = BatchHeader::parse(&[0u8; HEADER_SIZE]).unwrap();
        assert_eq!(h.check_shape(), Err(BatchError::Magic(0)));
        assert_eq!(h.check_shape().unwrap_err().to_string(), "magic 0 is not 2");
        h.magic = 2;
        h.batch_length = 3;
        assert_eq!(h.check_shape(), Err(BatchError::LengthTooSmall(3)));
        h.batch_length = (HEADER_SIZE - LOG_OVERHEAD) as i32;
        h.last_offset_delta = -1;
        assert_eq!(
            h.check_shape().unwrap_err().to_string(),
            "negative last offset delta -1"
        );
        h.last_offset_delta = 0;
        assert_eq!(h.check_shape(), Ok(()));
    }

    #[test]
    fn body_errors_name_the_record() {
        let mut batch = vec![0u8; HEADER_SIZE];
        let mut h = BatchHeader::parse(&batch).unwrap();
        h.records_count = 1;
        assert_eq!(
            walk_uncompressed(&batch, &h, false).map(|_| ()),
            Err(BatchError::RecordCount { header: 1, body: 0 })
        );
        // One record of length 3 (zigzag 6): attributes 0, timestamp delta 0, then
        // offset delta 1 (zigzag 2) where 0 is expected.
        batch.extend_from_slice(&[0x06, 0x00, 0x00, 0x02]);
        let err = walk_uncompressed(&batch, &h, false)
            .map(|_| ())
            .unwrap_err();
        assert_eq!(
            err,
            BatchError::OffsetDelta {
                record: 0,
                delta: 1
            }
        );
        assert_eq!(err.to_string(), "record 0 has offset delta 1, expected 0");
        // Length 2: the record ends before its offset delta.
        batch.truncate(HEADER_SIZE);
        batch.extend_from_slice(&[0x04, 0x00, 0x00]);
        assert_eq!(
            walk_uncompressed(&batch, &h, false).map(|_| ()),
            Err(BatchError::Truncated("offset delta"))
        );
        assert!(matches!(
            decode_records(&[0u8; 3]),
            Err(BatchError::Decode(_))
        ));
    }
}
