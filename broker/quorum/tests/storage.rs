//! The durable stores on their own: openraft's storage conformance suite, then
//! reopen-after-crash tests (torn tail cut at every kind of byte, truncate, purge,
//! vote) and snapshot persistence across a restart.

// Helpers outside `#[test]` fns: a failed setup step should panic the test.
#![allow(clippy::unwrap_used)]

use openraft::storage::{RaftLogStorage, RaftLogStorageExt, RaftStateMachine};
use openraft::testing::{StoreBuilder, Suite};
use openraft::{
    CommittedLeaderId, Entry, EntryPayload, LogId, RaftLogReader, RaftSnapshotBuilder,
    StorageError, Vote,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use tempfile::TempDir;
use tidewater_quorum::raft::{LogStore, StateMachine, TypeConfig};
use tidewater_quorum::records::MetadataRecord;

struct Builder;

impl StoreBuilder<TypeConfig, LogStore, StateMachine, TempDir> for Builder {
    async fn build(&self) -> Result<(TempDir, LogStore, StateMachine), StorageError<u64>> {
        let dir = tempfile::tempdir().unwrap();
        let log = LogStore::open(dir.path()).unwrap();
        let (sm, _image) = StateMachine::open(dir.path()).unwrap();
        Ok((dir, log, sm))
    }
}

#[test]
fn openraft_storage_suite_passes() {
    Suite::test_all(Builder).unwrap();
}

fn entry(term: u64, index: u64) -> Entry<TypeConfig> {
    Entry {
        log_id: LogId::new(CommittedLeaderId::new(term, 1), index),
        payload: EntryPayload::Normal(vec![MetadataRecord::RemoveTopic {
            topic_id: u128::from(index),
        }]),
    }
}

async fn indexes(store: &mut LogStore) -> Vec<u64> {
    store
        .try_get_log_entries(0..)
        .await
        .unwrap()
        .iter()
        .map(|e| e.log_id.index)
        .collect()
}

#[tokio::test]
async fn log_store_reopens_after_truncate_purge_and_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = LogStore::open(dir.path()).unwrap();
    store
        .blocking_append((1..=6).map(|i| entry(1, i)))
        .await
        .unwrap();
    store.save_vote(&Vote::new(3, 2)).await.unwrap();
    store
        .truncate(LogId::new(CommittedLeaderId::new(1, 1), 5))
        .await
        .unwrap();
    store
        .purge(LogId::new(CommittedLeaderId::new(1, 1), 2))
        .await
        .unwrap();
    store
        .blocking_append([entry(2, 5), entry(2, 6)])
        .await
        .unwrap();
    drop(store);

    // A crash mid-append leaves half an entry at the end of the log.
    let log_path = dir.path().join("log");
    let mut bytes = std::fs::read(&log_path).unwrap();
    let good = bytes.len();
    bytes.extend_from_slice(&[42, 0, 0, 0, 1, 2, 3]);
    std::fs::write(&log_path, &bytes).unwrap();

    let mut store = LogStore::open(dir.path()).unwrap();
    assert_eq!(
        std::fs::metadata(&log_path).unwrap().len() as usize,
        good,
        "torn tail cut"
    );
    assert_eq!(indexes(&mut store).await, vec![3, 4, 5, 6]);
    let state = store.get_log_state().await.unwrap();
    assert_eq!(state.last_purged_log_id.map(|l| l.index), Some(2));
    assert_eq!(
        state.last_log_id,
        Some(LogId::new(CommittedLeaderId::new(2, 1), 6))
    );
    assert_eq!(store.read_vote().await.unwrap(), Some(Vote::new(3, 2)));
    let entries = store.try_get_log_entries(5..=6).await.unwrap();
    assert_eq!(entries, vec![entry(2, 5), entry(2, 6)]);

    // Purging everything keeps the purge point as the last log id.
    store
        .purge(LogId::new(CommittedLeaderId::new(2, 1), 6))
        .await
        .unwrap();
    drop(store);
    let mut store = LogStore::open(dir.path()).unwrap();
    assert!(indexes(&mut store).await.is_empty());
    let state = store.get_log_state().await.unwrap();
    assert_eq!(state.last_log_id.map(|l| l.index), Some(6));
}

/// Cut the log file at random lengths (a crash at any byte): reopening recovers exactly
/// the whole entries before the cut, and appending continues cleanly after them.
#[test]
fn log_store_recovers_a_prefix_from_any_crash_point() {
    let seed = *b"tidewater-quorum-log-store-cuts!";
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let full = {
        let path = dir.path().join("full");
        rt.block_on(async {
            let mut store = LogStore::open(&path).unwrap();
            for i in 1..=12 {
                store.blocking_append([entry(1, i)]).await.unwrap();
            }
        });
        std::fs::read(path.join("log")).unwrap()
    };
    // Frame boundaries: where each whole entry ends.
    let ends: Vec<usize> = {
        let mut ends = Vec::new();
        let mut pos = 0;
        while pos < full.len() {
            let len = u32::from_le_bytes(full[pos..pos + 4].try_into().unwrap()) as usize;
            pos += 8 + len;
            ends.push(pos);
        }
        ends
    };
    assert_eq!(ends.len(), 12);
    let mut runner = TestRunner::new_with_rng(
        Config {
            cases: 64,
            failure_persistence: None,
            ..Config::default()
        },
        TestRng::from_seed(RngAlgorithm::ChaCha, &seed),
    );
    let result = runner.run(&(0..=full.len()), |cut| {
        let case = tempfile::tempdir().unwrap();
        std::fs::write(case.path().join("log"), &full[..cut]).unwrap();
        let whole = ends.iter().filter(|e| **e <= cut).count() as u64;
        rt.block_on(async {
            let mut store = LogStore::open(case.path()).unwrap();
            let got = indexes(&mut store).await;
            prop_assert_eq!(got, (1..=whole).collect::<Vec<_>>());
            store.blocking_append([entry(1, whole + 1)]).await.unwrap();
            drop(store);
            let mut store = LogStore::open(case.path()).unwrap();
            prop_assert_eq!(
                indexes(&mut store).await,
                (1..=whole + 1).collect::<Vec<_>>()
            );
            Ok(())
        })
    });
    if let Err(e) = result {
        panic!("{e} (seed {})", String::from_utf8_lossy(&seed));
    }
}

#[tokio::test]
async fn state_machine_restores_its_last_snapshot_on_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (mut sm, image) = StateMachine::open(dir.path()).unwrap();
    let topic = Entry::<TypeConfig> {
        log_id: LogId::new(CommittedLeaderId::new(1, 1), 1),
        payload: EntryPayload::Normal(vec![MetadataRecord::Topic {
            name: "t".into(),
            topic_id: 2,
        }]),
    };
    sm.apply([topic, entry(1, 2)]).await.unwrap();
    assert_eq!(image.borrow().offset, 2);
    let snapshot = sm
        .get_snapshot_builder()
        .await
        .build_snapshot()
        .await
        .unwrap();
    assert_eq!(snapshot.meta.last_log_id.map(|l| l.index), Some(2));
    // Applied after the snapshot: not durable in the state machine (the log has it).
    sm.apply([entry(1, 3)]).await.unwrap();
    drop(sm);

    let (mut sm, image) = StateMachine::open(dir.path()).unwrap();
    let (applied, _) = sm.applied_state().await.unwrap();
    assert_eq!(applied.map(|l| l.index), Some(2));
    assert_eq!(image.borrow().offset, 2);
    assert!(
        image.borrow().topic("t").is_none(),
        "entry 2 removed topic 2"
    );
    let current = sm.get_current_snapshot().await.unwrap().unwrap();
    assert_eq!(current.meta, snapshot.meta);

    // A corrupt snapshot file is an error at open, never a silently empty image.
    let path = dir.path().join("snapshot");
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    assert!(StateMachine::open(dir.path()).is_err());
}
