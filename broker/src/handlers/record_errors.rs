//! Per-record Produce errors (KIP-467): when a batch is refused with
//! INVALID_RECORD, Kafka's LogValidator names each bad record by its index in the
//! batch (`record_errors`) and sums them up in `error_message`, so a producer
//! fails only those records with the reason and the rest as "part of a batch
//! which had invalid records".
//!
//! The log layer refuses the batch; this module only explains the refusal to
//! the client. It re-reads the refused bytes (already CRC-checked), so it costs
//! nothing on the accepted path. Pure: bytes in, errors out.

use bytes::Bytes;
use kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, PartitionProduceResponse,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{Record, RecordBatchDecoder};
use tidewater_storage::batch::BatchHeader;

/// Kafka's reasons for refusing one record, with the batch index they apply to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordErrors {
    /// (index of the record in its batch, LogValidator's message).
    pub errors: Vec<(i32, String)>,
    /// Whether the records were refused for their timestamps (INVALID_TIMESTAMP),
    /// which Kafka sums up differently.
    pub timestamps: bool,
}

impl RecordErrors {
    /// Kafka's `error_message` for a batch refused with record errors.
    pub fn summary(&self) -> String {
        if self.timestamps {
            return "One or more records have been rejected due to invalid timestamp".into();
        }
        let shown: Vec<String> = self
            .errors
            .iter()
            .take(3)
            .map(|(i, m)| format!("RecordError(batchIndex={i}, message='{m}')"))
            .collect();
        format!(
            "One or more records have been rejected due to {} record errors in total, and only showing the first three errors at most: [{}]",
            self.errors.len(),
            shown.join(", ")
        )
    }

    /// Fills `record_errors` and `error_message` on a Produce v8+ answer.
    pub fn fill(&self, p: &mut PartitionProduceResponse, version: i16) {
        if version < 8 {
            return;
        }
        p.record_errors = self
            .errors
            .iter()
            .map(|(i, m)| {
                let mut e = BatchIndexAndErrorMessage::default();
                e.batch_index = *i;
                e.batch_index_error_message = Some(StrBytes::from_string(m.clone()));
                e
            })
            .collect();
        p.error_message = Some(StrBytes::from_string(self.summary()));
    }
}

/// The records of the first batch in `records` for which `bad` gives a reason,
/// by index; `None` when no record has one or the bytes do not decode (the log
/// layer's own error then stands).
fn first_bad_batch(
    records: &[u8],
    bad: impl Fn(&Record) -> Option<String>,
) -> Option<Vec<(i32, String)>> {
    let mut pos = 0usize;
    while pos < records.len() {
        let rest = records.get(pos..)?;
        let size = BatchHeader::parse(rest)?.total_size();
        let mut batch = Bytes::copy_from_slice(rest.get(..size)?);
        let set = RecordBatchDecoder::decode(&mut batch).ok()?;
        let errors: Vec<(i32, String)> = set
            .records
            .iter()
            .enumerate()
            .filter_map(|(i, r)| Some((i32::try_from(i).ok()?, bad(r)?)))
            .collect();
        if !errors.is_empty() {
            return Some(errors);
        }
        pos += size;
    }
    None
}

/// The keyless records, as Kafka reports them for a compacted topic.
pub fn keyless_records(records: &[u8], topic: &str, partition: i32) -> Option<RecordErrors> {
    let message = format!(
        "Compacted topic cannot accept message without key in topic partition {topic}-{partition}."
    );
    let errors = first_bad_batch(records, |r| r.key.is_none().then(|| message.clone()))?;
    Some(RecordErrors {
        errors,
        timestamps: false,
    })
}

/// The records whose CreateTime lies outside `[now - before_max, now + after_max]`,
/// with LogValidator's message.
pub fn out_of_range_timestamps(
    records: &[u8],
    now_ms: i64,
    before_max_ms: i64,
    after_max_ms: i64,
) -> Option<RecordErrors> {
    let (low, high) = (
        now_ms.saturating_sub(before_max_ms),
        now_ms.saturating_add(after_max_ms),
    );
    let errors = first_bad_batch(records, |r| {
        let ts = r.timestamp;
        // -1 is NO_TIMESTAMP: the broker's clock applies, nothing to refuse.
        (ts >= 0 && !(low..=high).contains(&ts)).then(|| {
            format!(
                "Timestamp {ts} of message with offset {} is out of range. The timestamp should be within [{low}, {high}]",
                r.offset
            )
        })
    })?;
    Some(RecordErrors {
        errors,
        timestamps: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use kafka_protocol::records::{
        Compression, NO_PRODUCER_EPOCH, NO_PRODUCER_ID, Record, RecordBatchEncoder,
        RecordEncodeOptions, TimestampType,
    };

    /// One batch whose records have the given keys (`None` = no key).
    fn batch(keys: &[Option<&'static [u8]>], compression: Compression) -> Bytes {
        batch_at(keys, &vec![0; keys.len()], compression)
    }

    fn batch_at(
        keys: &[Option<&'static [u8]>],
        timestamps: &[i64],
        compression: Compression,
    ) -> Bytes {
        let records: Vec<Record> = keys
            .iter()
            .zip(timestamps)
            .enumerate()
            .map(|(i, (key, &timestamp))| Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: 0,
                producer_id: NO_PRODUCER_ID,
                producer_epoch: NO_PRODUCER_EPOCH,
                timestamp_type: TimestampType::Creation,
                offset: i as i64,
                sequence: -1 + i as i32,
                timestamp,
                key: key.map(Bytes::from_static),
                value: Some(Bytes::from_static(b"v")),
                headers: Default::default(),
            })
            .collect();
        let mut buf = BytesMut::new();
        let options = RecordEncodeOptions {
            version: 2,
            compression,
        };
        RecordBatchEncoder::encode(&mut buf, &records, &options).unwrap();
        buf.freeze()
    }

    #[test]
    fn names_each_keyless_record_like_log_validator() {
        for compression in [Compression::None, Compression::Lz4] {
            let b = batch(&[Some(b"a"), None, Some(b"c"), None], compression);
            let e = keyless_records(&b, "t", 2).unwrap();
            let want = "Compacted topic cannot accept message without key in topic partition t-2.";
            assert_eq!(e.errors, vec![(1, want.to_string()), (3, want.to_string())]);
            assert_eq!(
                e.summary(),
                format!(
                    "One or more records have been rejected due to 2 record errors in total, and only showing the first three errors at most: [RecordError(batchIndex=1, message='{want}'), RecordError(batchIndex=3, message='{want}')]"
                )
            );
            let mut p = PartitionProduceResponse::default();
            e.fill(&mut p, 7);
            assert!(p.record_errors.is_empty(), "no such field before v8");
            e.fill(&mut p, 8);
            assert_eq!(p.record_errors.len(), 2);
            assert_eq!(p.record_errors[1].batch_index, 3);
        }
        let keyed = batch(&[Some(b"a")], Compression::None);
        assert_eq!(keyless_records(&keyed, "t", 0), None);
        assert_eq!(
            keyless_records(&keyed[..20], "t", 0),
            None,
            "truncated bytes"
        );
    }

    #[test]
    fn names_each_out_of_range_timestamp() {
        let now = 1_000_000;
        let b = batch_at(
            &[Some(b"a"), Some(b"b"), Some(b"c")],
            &[now, now + 5_000, -1],
            Compression::None,
        );
        let e = out_of_range_timestamps(&b, now, 10_000, 1_000).unwrap();
        assert_eq!(
            e.errors,
            vec![(
                1,
                format!(
                    "Timestamp {} of message with offset 1 is out of range. The timestamp should be within [990000, 1001000]",
                    now + 5_000
                )
            )]
        );
        assert_eq!(
            e.summary(),
            "One or more records have been rejected due to invalid timestamp"
        );
        assert_eq!(out_of_range_timestamps(&b, now, 10_000, 10_000), None);
    }
}
