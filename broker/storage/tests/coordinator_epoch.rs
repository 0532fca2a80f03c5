//! The leader's coordinator-epoch fence on transaction markers (Kafka's
//! `ProducerAppendInfo.checkCoordinatorEpoch`): a marker from an older transaction
//! coordinator epoch than the producer's last marker is refused with
//! TRANSACTION_COORDINATOR_FENCED, across a restart too (from the producer snapshot,
//! and rebuilt from the log without one).

#![allow(clippy::unwrap_used)] // a failure here is a test failure

mod common;

use bytes::Bytes;
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::records::{Compression, Record, TimestampType};
use tidewater_storage::producer_state::EndTransactionMarker;
use tidewater_storage::{AppendError, LogConfig};

const NOW: i64 = 1_700_000_000_000;
const PID: i64 = 7;

/// One record of producer 7's transaction (sequence `seq`), or its marker: COMMIT from
/// coordinator epoch `coordinator_epoch` (Kafka's EndTxnMarker value v0).
fn batch(seq: i32, marker: Option<i32>) -> Vec<u8> {
    let control = marker.is_some();
    let value = match marker {
        Some(epoch) => {
            let mut v = vec![0, 0];
            v.extend_from_slice(&epoch.to_be_bytes());
            Bytes::from(v)
        }
        None => Bytes::from_static(b"v"),
    };
    let record = Record {
        transactional: true,
        control,
        delete_horizon: false,
        partition_leader_epoch: 0,
        producer_id: PID,
        producer_epoch: 0,
        timestamp_type: TimestampType::Creation,
        offset: 0,
        sequence: if control { -1 } else { seq },
        timestamp: NOW,
        key: Some(Bytes::from_static(if control {
            &[0, 0, 0, 1]
        } else {
            b"k"
        })),
        value: Some(value),
        headers: IndexMap::new(),
    };
    common::encode(&[record], Compression::None)
}

/// A control batch of one record with this key and value.
fn control_batch(key: &[u8], value: Option<&[u8]>, compression: Compression) -> Vec<u8> {
    let mut records =
        kafka_protocol::records::RecordBatchDecoder::decode(&mut Bytes::from(batch(0, Some(0))))
            .unwrap()
            .records;
    records[0].key = Some(Bytes::copy_from_slice(key));
    records[0].value = value.map(Bytes::copy_from_slice);
    common::encode(&records, compression)
}

#[test]
fn a_control_batch_holds_kafkas_marker_type_and_coordinator_epoch() {
    let commit = control_batch(&[0, 0, 0, 1], Some(&[0, 0, 0, 0, 1, 2]), Compression::None);
    assert_eq!(
        EndTransactionMarker::parse(&commit),
        Some(EndTransactionMarker {
            commit: true,
            coordinator_epoch: 258
        })
    );
    // A later value version with more fields, in a compressed batch.
    let abort = control_batch(
        &[0, 0, 0, 0],
        Some(&[0, 1, 0, 0, 0, 9, 0]),
        Compression::Gzip,
    );
    assert_eq!(
        EndTransactionMarker::parse(&abort),
        Some(EndTransactionMarker {
            commit: false,
            coordinator_epoch: 9
        })
    );
    for (key, value) in [
        (&[0u8, 0, 0, 2][..], Some(&[0u8, 0, 0, 0, 0, 0][..])),
        (&[0, 0, 0, 1], None),
        (&[0, 0, 0, 1], Some(&[0, 0, 0][..])),
        (&[0, 0], Some(&[0, 0, 0, 0, 0, 0][..])),
    ] {
        let b = control_batch(key, value, Compression::None);
        assert_eq!(EndTransactionMarker::parse(&b), None, "{key:?} {value:?}");
    }
    assert_eq!(EndTransactionMarker::parse(&commit[..20]), None);
}

fn fenced(result: Result<tidewater_storage::LogAppendInfo, AppendError>) -> bool {
    match result {
        Err(e @ AppendError::TransactionCoordinatorFenced { .. }) => e.error_code() == 52,
        _ => false,
    }
}

#[test]
fn a_marker_from_an_older_coordinator_epoch_is_fenced_across_restarts() {
    let (dir, mgr, log) = common::one_log(LogConfig::default());
    log.append_as_leader(&batch(0, None), 0, NOW).unwrap();
    log.append_markers_as_leader(&batch(0, Some(3)), 0, NOW)
        .unwrap();
    assert_eq!(log.producer_state(PID).unwrap().coordinator_epoch, 3);
    // A zombie coordinator (epoch 2) is refused and nothing is written; the same
    // coordinator's retry (3) and a newer one (4) are accepted.
    assert!(fenced(log.append_markers_as_leader(
        &batch(0, Some(2)),
        0,
        NOW
    )));
    assert_eq!(log.log_end_offset(), 2);
    log.append_markers_as_leader(&batch(0, Some(3)), 0, NOW)
        .unwrap();
    log.append_as_leader(&batch(1, None), 0, NOW).unwrap();
    log.append_markers_as_leader(&batch(0, Some(4)), 0, NOW)
        .unwrap();
    assert_eq!(log.log_end_offset(), 5);
    // A control batch that holds no marker is no marker (Kafka: InvalidRecordException).
    let not_a_marker = control_batch(&[0, 0, 0, 1], None, Compression::None);
    let refused = log.append_markers_as_leader(&not_a_marker, 0, NOW);
    assert_eq!(refused.unwrap_err().error_code(), 87, "INVALID_RECORD");

    // Restarted from the snapshot a clean shutdown writes, then (snapshots removed)
    // rebuilt from the markers in the log: epoch 3 is now the zombie.
    common::check_after_restarts(dir.path(), mgr, log, |log, replay| {
        assert_eq!(
            log.producer_state(PID).unwrap().coordinator_epoch,
            4,
            "replayed: {replay}"
        );
        assert!(
            fenced(log.append_markers_as_leader(&batch(0, Some(3)), 0, NOW)),
            "replayed: {replay}"
        );
    });
    // A follower copies what its leader wrote, whatever the epoch.
    let (mgr, log) = common::reopen(dir.path());
    let mut stale = batch(0, Some(1));
    stale[..8].copy_from_slice(&5i64.to_be_bytes());
    // The base offset is outside the CRC (which covers attributes onward).
    log.append_as_follower(&stale).unwrap();
    assert_eq!(log.producer_state(PID).unwrap().coordinator_epoch, 1);
    common::shut_down_and_verify(mgr, dir.path());
}
