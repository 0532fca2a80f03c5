//! The `__transaction_state` record format, byte-exact with Kafka's
//! `transaction-coordinator` schemas, so a coordinator can replay what Kafka wrote and
//! Kafka's tools read what we write.
//!
//! Key: int16 version 0, then `TransactionLogKey` {transactional id}. Value: int16
//! version, then `TransactionLogValue` {producer id, producer epoch, timeout, status,
//! partitions by topic (null when Empty), last update time, start time}; version 1 is
//! flexible (compact lengths, tagged fields: previous producer id 0, next producer id
//! 1, client transaction version 2). A transaction ended by a transaction version 2
//! client is written in version 1, so its next producer id and version survive a
//! coordinator move; the others in version 0, byte for byte what Kafka wrote before
//! `transaction.version` 1. Both are read. A tombstone (null value) removes the id.

use std::collections::BTreeSet;

use bytes::Bytes;
use tidewater_group::records::RecordError;
use tidewater_group::records::wire::{Reader, Writer};

use crate::metadata::{NO_PRODUCER_EPOCH, NO_PRODUCER_ID, Transit};
use crate::state::TxnState;

const KEY_VERSION: i16 = 0;
const VALUE_VERSION: i16 = 0;
/// The flexible version (transaction version 2 clients).
const VALUE_VERSION_FLEXIBLE: i16 = 1;
/// Tags of version 1: `PreviousProducerId`, `NextProducerId`, `ClientTransactionVersion`.
const TAG_PREVIOUS_PRODUCER_ID: u32 = 0;
const TAG_NEXT_PRODUCER_ID: u32 = 1;
const TAG_CLIENT_TRANSACTION_VERSION: u32 = 2;

pub fn encode_key(transactional_id: &str) -> Bytes {
    let mut w = Writer::new(KEY_VERSION, false);
    w.string(transactional_id);
    w.finish()
}

pub fn decode_key(key: Bytes) -> Result<String, RecordError> {
    let mut r = Reader::new(key);
    match r.i16("key version")? {
        KEY_VERSION => r.string(false, "transactional id"),
        version => Err(RecordError::UnsupportedVersion {
            schema: "TransactionLogKey",
            version,
        }),
    }
}

/// The value of a transit (never of Dead: its record is a tombstone).
pub fn encode_value(t: &Transit) -> Bytes {
    let flexible = t.supports_epoch_bump();
    let version = if flexible {
        VALUE_VERSION_FLEXIBLE
    } else {
        VALUE_VERSION
    };
    let mut w = Writer::new(version, flexible);
    w.i64(t.producer_id);
    w.i16(t.producer_epoch);
    w.i32(t.timeout_ms);
    w.i8(t.state.id());
    if t.state == TxnState::Empty {
        w.nullable_array_len(None);
    } else {
        let topics = by_topic(&t.partitions);
        w.array_len(topics.len());
        for (topic, partitions) in topics {
            w.string(topic);
            w.array_len(partitions.len());
            for p in partitions {
                w.i32(p);
            }
            w.no_tagged_fields();
        }
    }
    w.i64(t.last_update_ms);
    w.i64(t.start_ms);
    // Fields at their defaults are left out, as Kafka's generated writer does.
    let previous = t.last_producer_id.to_be_bytes();
    let next = t.next_producer_id.to_be_bytes();
    let client_version = t.client_transaction_version.to_be_bytes();
    let tagged: Vec<(u32, &[u8])> = [
        (t.last_producer_id != NO_PRODUCER_ID).then_some((TAG_PREVIOUS_PRODUCER_ID, &previous[..])),
        (t.next_producer_id != NO_PRODUCER_ID).then_some((TAG_NEXT_PRODUCER_ID, &next[..])),
        (t.client_transaction_version != 0)
            .then_some((TAG_CLIENT_TRANSACTION_VERSION, &client_version[..])),
    ]
    .into_iter()
    .flatten()
    .collect();
    w.tagged_fields(&tagged);
    w.finish()
}

/// The partitions grouped by topic, in order.
fn by_topic(partitions: &BTreeSet<(String, i32)>) -> Vec<(&str, Vec<i32>)> {
    let mut out: Vec<(&str, Vec<i32>)> = Vec::new();
    for (topic, p) in partitions {
        match out.last_mut() {
            Some((t, ps)) if *t == topic.as_str() => ps.push(*p),
            _ => out.push((topic.as_str(), vec![*p])),
        }
    }
    out
}

pub fn decode_value(value: Bytes) -> Result<Transit, RecordError> {
    let mut r = Reader::new(value);
    let version = r.i16("value version")?;
    let compact = match version {
        VALUE_VERSION => false,
        VALUE_VERSION_FLEXIBLE => true,
        version => {
            return Err(RecordError::UnsupportedVersion {
                schema: "TransactionLogValue",
                version,
            });
        }
    };
    let producer_id = r.i64("producer id")?;
    let producer_epoch = r.i16("producer epoch")?;
    let timeout_ms = r.i32("transaction timeout")?;
    let status = r.i8("transaction status")?;
    let state = TxnState::from_id(status).ok_or(RecordError::Malformed {
        field: "transaction status",
        reason: "unknown state id",
    })?;
    let mut partitions = BTreeSet::new();
    if let Some(topics) = r.nullable_array_len(compact, "transaction partitions")? {
        for _ in 0..topics {
            let topic = r.string(compact, "topic")?;
            for _ in 0..r.array_len(compact, "partition ids")? {
                partitions.insert((topic.clone(), r.i32("partition id")?));
            }
            if compact {
                r.skip_tagged_fields("partitions tagged fields")?;
            }
        }
    }
    // Kafka ignores the partitions of an Empty transaction.
    if state == TxnState::Empty {
        partitions.clear();
    }
    let last_update_ms = r.i64("last update timestamp")?;
    let start_ms = r.i64("start timestamp")?;
    let mut last_producer_id = NO_PRODUCER_ID;
    let mut next_producer_id = NO_PRODUCER_ID;
    let mut client_transaction_version = 0;
    if compact {
        for (tag, raw) in r.tagged_fields("value tagged fields")? {
            match tag {
                TAG_PREVIOUS_PRODUCER_ID => {
                    last_producer_id = Reader::new(raw).i64("previous producer id")?;
                }
                TAG_NEXT_PRODUCER_ID => {
                    next_producer_id = Reader::new(raw).i64("next producer id")?;
                }
                TAG_CLIENT_TRANSACTION_VERSION => {
                    client_transaction_version =
                        Reader::new(raw).i16("client transaction version")?;
                }
                _ => {}
            }
        }
    }
    if r.remaining() != 0 {
        return Err(RecordError::Malformed {
            field: "TransactionLogValue",
            reason: "trailing bytes",
        });
    }
    Ok(Transit {
        producer_id,
        last_producer_id,
        producer_epoch,
        // Not in the log: a retry of InitProducerId across a coordinator move is fenced,
        // as in Kafka.
        last_producer_epoch: NO_PRODUCER_EPOCH,
        timeout_ms,
        state,
        partitions,
        start_ms,
        last_update_ms,
        next_producer_id,
        client_transaction_version,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ongoing() -> Transit {
        Transit {
            producer_id: 4000,
            last_producer_id: NO_PRODUCER_ID,
            producer_epoch: 3,
            last_producer_epoch: NO_PRODUCER_EPOCH,
            timeout_ms: 60_000,
            state: TxnState::Ongoing,
            partitions: BTreeSet::from([
                ("a".to_string(), 1),
                ("a".to_string(), 0),
                ("b".to_string(), 7),
            ]),
            start_ms: 1_000,
            last_update_ms: 2_000,
            next_producer_id: NO_PRODUCER_ID,
            client_transaction_version: 0,
        }
    }

    #[test]
    fn key_and_value_are_kafkas_bytes() {
        assert_eq!(&encode_key("tx")[..], &[0, 0, 0, 2, b't', b'x']);
        let value = encode_value(&ongoing());
        let mut want = vec![0, 0]; // version 0
        want.extend_from_slice(&4000i64.to_be_bytes());
        want.extend_from_slice(&3i16.to_be_bytes());
        want.extend_from_slice(&60_000i32.to_be_bytes());
        want.push(1); // Ongoing
        want.extend_from_slice(&2i32.to_be_bytes()); // two topics
        want.extend_from_slice(&[0, 1, b'a']);
        want.extend_from_slice(&2i32.to_be_bytes());
        want.extend_from_slice(&0i32.to_be_bytes());
        want.extend_from_slice(&1i32.to_be_bytes());
        want.extend_from_slice(&[0, 1, b'b']);
        want.extend_from_slice(&1i32.to_be_bytes());
        want.extend_from_slice(&7i32.to_be_bytes());
        want.extend_from_slice(&2_000i64.to_be_bytes());
        want.extend_from_slice(&1_000i64.to_be_bytes());
        assert_eq!(&value[..], &want[..]);
        assert_eq!(decode_value(value).unwrap(), ongoing());
        assert_eq!(decode_key(encode_key("tx")).unwrap(), "tx");
    }

    #[test]
    fn an_empty_transaction_has_null_partitions() {
        let empty = Transit {
            state: TxnState::Empty,
            partitions: BTreeSet::new(),
            start_ms: -1,
            ..ongoing()
        };
        let value = encode_value(&empty);
        // version, pid, epoch, timeout, status, then a null array (-1).
        assert_eq!(&value[17..21], &(-1i32).to_be_bytes());
        assert_eq!(decode_value(value).unwrap(), empty);
    }

    #[test]
    fn the_flexible_version_is_read_with_its_previous_producer_id() {
        let mut v = vec![0, 1];
        v.extend_from_slice(&4000i64.to_be_bytes());
        v.extend_from_slice(&3i16.to_be_bytes());
        v.extend_from_slice(&60_000i32.to_be_bytes());
        v.push(4); // CompleteCommit
        v.push(2); // compact array of one topic
        v.extend_from_slice(&[2, b'a']); // compact string "a"
        v.push(2); // one partition
        v.extend_from_slice(&5i32.to_be_bytes());
        v.push(0); // the topic entry's tagged fields
        v.extend_from_slice(&2_000i64.to_be_bytes());
        v.extend_from_slice(&1_000i64.to_be_bytes());
        // Tagged fields: previous producer id 3999, and client transaction version 2.
        v.push(2);
        v.extend_from_slice(&[0, 8]);
        v.extend_from_slice(&3999i64.to_be_bytes());
        v.extend_from_slice(&[2, 2, 0, 2]);
        let t = decode_value(Bytes::from(v)).unwrap();
        assert_eq!(t.state, TxnState::CompleteCommit);
        assert_eq!(t.last_producer_id, 3999);
        assert_eq!(t.client_transaction_version, 2);
        assert_eq!(t.next_producer_id, NO_PRODUCER_ID);
        assert_eq!(t.partitions, BTreeSet::from([("a".to_string(), 5)]));
    }

    #[test]
    fn a_transaction_version_2_end_is_written_flexible_and_read_back() {
        let rotating = Transit {
            state: TxnState::PrepareCommit,
            last_producer_id: 4000,
            producer_epoch: i16::MAX,
            next_producer_id: 4001,
            client_transaction_version: 2,
            ..ongoing()
        };
        let value = encode_value(&rotating);
        assert_eq!(&value[..2], &[0, 1], "version 1");
        // previous id (0), next id (1) and client version (2): 3 tags after the fields.
        let tags_at = value.len() - (1 + 2 * (2 + 8) + (2 + 2));
        assert_eq!(value[tags_at], 3);
        // The read-back keeps everything but the epoch before the last bump.
        assert_eq!(decode_value(value).unwrap(), rotating);
        let plain = encode_value(&ongoing());
        assert_eq!(
            &plain[..2],
            &[0, 0],
            "a version 0/1 client's end stays version 0"
        );
    }

    #[test]
    fn damaged_records_are_refused() {
        assert!(matches!(
            decode_key(Bytes::from_static(&[0, 1, 0, 0])),
            Err(RecordError::UnsupportedVersion { .. })
        ));
        let value = encode_value(&ongoing());
        for cut in [1, 10, value.len() - 1] {
            assert!(decode_value(value.slice(..cut)).is_err(), "cut at {cut}");
        }
        let mut bad_state = value.to_vec();
        bad_state[16] = 9;
        assert!(decode_value(Bytes::from(bad_state)).is_err());
        let mut trailing = value.to_vec();
        trailing.push(0);
        assert!(decode_value(Bytes::from(trailing)).is_err());
    }
}
