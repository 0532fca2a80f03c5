//! Test helpers: building magic-v2 batches with the `kafka-protocol` encoder (an
//! implementation independent of the storage code) and decoding what the log returns.
#![allow(dead_code, clippy::unwrap_used)] // test helpers: a failure here is a test failure

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use tidewater_storage::{Log, LogConfig, LogManager, LogManagerConfig, TopicPartition};

pub struct Rec {
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub timestamp: i64,
}

pub fn rec(key: &str, value: &str, ts: i64) -> Rec {
    Rec {
        key: Some(key.as_bytes().to_vec()),
        value: Some(value.as_bytes().to_vec()),
        timestamp: ts,
    }
}

/// One producer batch (base offset 0, as clients send it).
pub fn batch_with(
    recs: &[Rec],
    compression: Compression,
    producer: Option<(i64, i16, i32)>,
) -> Vec<u8> {
    let (pid, epoch, seq) = producer.unwrap_or((-1, -1, -1));
    let records: Vec<Record> = recs
        .iter()
        .enumerate()
        .map(|(i, r)| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: pid,
            producer_epoch: epoch,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            // Kafka's encoder keeps records in one batch while offset - sequence is constant.
            sequence: seq.wrapping_add(i as i32),
            timestamp: r.timestamp,
            key: r.key.clone().map(Bytes::from),
            value: r.value.clone().map(Bytes::from),
            headers: IndexMap::new(),
        })
        .collect();
    encode(&records, compression)
}

/// One transactional batch of `count` records of producer `pid` (epoch 0) at `offset`
/// (its place in the log, as a follower appends it); `marker`: a control batch of one
/// COMMIT (true) or ABORT (false) marker instead.
pub fn txn_batch(pid: i64, offset: i64, seq: i32, count: usize, marker: Option<bool>) -> Vec<u8> {
    let control = marker.is_some();
    let records: Vec<Record> = (0..count)
        .map(|i| Record {
            transactional: true,
            control,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: pid,
            producer_epoch: 0,
            timestamp_type: TimestampType::Creation,
            offset: offset + i as i64,
            sequence: if control { -1 } else { seq + i as i32 },
            timestamp: NOW,
            // ControlRecordType COMMIT: version 0, type 1; EndTxnMarker v0, epoch 0.
            key: Some(Bytes::from_static(match marker {
                Some(true) => &[0, 0, 0, 1],
                Some(false) => &[0, 0, 0, 0],
                None => b"k",
            })),
            value: Some(Bytes::from_static(if control {
                &[0, 0, 0, 0, 0, 0]
            } else {
                b"v"
            })),
            headers: IndexMap::new(),
        })
        .collect();
    encode(&records, Compression::None)
}

/// One magic-v2 batch of `records` (their offsets and producer fields as given).
pub fn encode(records: &[Record], compression: Compression) -> Vec<u8> {
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        records.iter(),
        &RecordEncodeOptions {
            version: 2,
            compression,
        },
    )
    .unwrap();
    buf.to_vec()
}

pub fn batch(recs: &[Rec]) -> Vec<u8> {
    batch_with(recs, Compression::None, None)
}

/// Decodes every record in `bytes` with the kafka-protocol decoder:
/// (offset, key, value, timestamp).
/// A decoded record: (offset, key, value, timestamp).
pub type ReadRecord = (i64, Option<Bytes>, Option<Bytes>, i64);

pub fn decode(bytes: &[u8]) -> Vec<ReadRecord> {
    let mut b = Bytes::copy_from_slice(bytes);
    let sets = RecordBatchDecoder::decode_all(&mut b).unwrap();
    sets.into_iter()
        .flat_map(|s| {
            s.records
                .into_iter()
                .map(|r| (r.offset, r.key, r.value, r.timestamp))
        })
        .collect()
}

/// Reads the whole log from `from` through the public API.
pub fn read_all(log: &Log, from: i64) -> Vec<ReadRecord> {
    let mut out = Vec::new();
    let mut offset = from.max(log.log_start_offset());
    let end = log.log_end_offset();
    while offset < end {
        let r = log.read(offset, 1 << 20, i64::MAX, true).unwrap();
        if r.records.is_empty() {
            break;
        }
        let recs = decode(&r.records);
        let last = recs.last().map(|r| r.0).unwrap();
        out.extend(recs.into_iter().filter(|r| r.0 >= offset));
        offset = last + 1;
    }
    out
}

pub fn manager(dirs: &[&std::path::Path], cfg: LogConfig) -> Arc<LogManager> {
    LogManager::open(LogManagerConfig {
        log_dirs: dirs.iter().map(|d| d.to_path_buf()).collect(),
        default_config: cfg,
        retention_check_interval_ms: 300_000,
        flush_check_interval_ms: 1_000,
        recovery_threads: 1,
    })
    .unwrap()
}

/// Shuts the manager down cleanly, then checks every log under `root` decodes with the
/// independent decoder and holds records.
pub fn shut_down_and_verify(mgr: Arc<LogManager>, root: &std::path::Path) {
    mgr.shutdown().unwrap();
    assert!(verify_all_logs(root) > 0);
}

pub fn tp(p: i32) -> TopicPartition {
    TopicPartition::new("t", p)
}

pub const NOW: i64 = 1_700_000_000_000;

/// A 16 KiB producer batch of keyless `record_size`-byte records (for benches):
/// (bytes, record count).
pub fn sized_batch(record_size: usize) -> (Vec<u8>, usize) {
    let n = (16 << 10) / (record_size + 20);
    let recs: Vec<Rec> = (0..n)
        .map(|_| Rec {
            key: None,
            value: Some(vec![b'x'; record_size]),
            timestamp: NOW,
        })
        .collect();
    (batch(&recs), n)
}

/// The independent check: every `.log` file under `root` decodes completely with the
/// kafka-protocol crate's batch decoder (which verifies each CRC). Returns the number
/// of records seen, so callers can tell an empty pass from a real one.
pub fn verify_all_logs(root: &std::path::Path) -> usize {
    let mut records = 0;
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "log") {
                let bytes = std::fs::read(&path).unwrap();
                let mut b = Bytes::from(bytes);
                let sets = RecordBatchDecoder::decode_all(&mut b)
                    .unwrap_or_else(|e| panic!("{} does not decode: {e}", path.display()));
                records += sets.iter().map(|s| s.records.len()).sum::<usize>();
            }
        }
    }
    records
}

/// The log manager of `dir` opened again, and partition 0's log.
pub fn reopen(dir: &std::path::Path) -> (Arc<LogManager>, Arc<Log>) {
    let mgr = manager(&[dir], LogConfig::default());
    let log = mgr.get_or_create_log(&tp(0), LogConfig::default()).unwrap();
    (mgr, log)
}

/// Shuts `mgr` down cleanly and opens `dir` again twice: from the producer snapshot
/// the clean shutdown wrote, then with every snapshot removed (producer state rebuilt
/// from the log alone). `check(log, replayed)` runs on partition 0's log each time.
pub fn check_after_restarts(
    dir: &std::path::Path,
    mgr: Arc<LogManager>,
    log: Arc<Log>,
    check: impl Fn(&Log, bool),
) {
    let partition_dir = log.dir();
    drop(log);
    mgr.shutdown().unwrap();
    for replay in [false, true] {
        if replay {
            for f in std::fs::read_dir(&partition_dir).unwrap().flatten() {
                if f.path().extension().is_some_and(|e| e == "snapshot") {
                    std::fs::remove_file(f.path()).unwrap();
                }
            }
        }
        let (mgr, log) = reopen(dir);
        check(&log, replay);
        drop(log);
        mgr.shutdown().unwrap();
    }
}

/// A fresh log dir, a manager over it and its partition t-0, both with `cfg`. Keep the
/// dir alive as long as the log.
pub fn one_log(cfg: LogConfig) -> (tempfile::TempDir, Arc<LogManager>, Arc<Log>) {
    let dir = tempfile::tempdir().unwrap();
    let mgr = manager(&[dir.path()], cfg.clone());
    let log = mgr.get_or_create_log(&tp(0), cfg).unwrap();
    (dir, mgr, log)
}
