use proptest::prelude::*;

use super::*;

fn cache(entries: &[(i32, i64)]) -> LeaderEpochCache {
    let mut c = LeaderEpochCache::new();
    for &(e, s) in entries {
        c.assign(e, s).unwrap();
    }
    c
}

fn eo(epoch: i32, end_offset: i64) -> EpochEndOffset {
    EpochEndOffset { epoch, end_offset }
}

#[test]
fn end_offset_for_follows_kafka_cases() {
    let c = cache(&[(1, 0), (3, 10), (5, 20)]);
    // Undefined epoch requested.
    assert_eq!(
        c.end_offset_for(UNDEFINED_EPOCH, 30),
        EpochEndOffset::UNDEFINED
    );
    // Latest epoch: still being written, so the log end offset.
    assert_eq!(c.end_offset_for(5, 30), eo(5, 30));
    // Above every known epoch.
    assert_eq!(c.end_offset_for(6, 30), EpochEndOffset::UNDEFINED);
    // Known intermediate epoch: ends where the next starts.
    assert_eq!(c.end_offset_for(1, 30), eo(1, 10));
    assert_eq!(c.end_offset_for(3, 30), eo(3, 20));
    // Unknown epoch between known ones: the floor epoch and the next start.
    assert_eq!(c.end_offset_for(2, 30), eo(1, 10));
    assert_eq!(c.end_offset_for(4, 30), eo(3, 20));
    // Below every known epoch: the requested epoch and the first start offset.
    assert_eq!(c.end_offset_for(0, 30), eo(0, 0));
    // Empty cache knows nothing.
    assert_eq!(
        LeaderEpochCache::new().end_offset_for(0, 0),
        EpochEndOffset::UNDEFINED
    );
}

#[test]
fn assign_keeps_the_map_monotonic() {
    let mut c = cache(&[(1, 0), (3, 10), (5, 20)]);
    // Same epoch, later start: ignored.
    assert!(!c.assign(5, 25).unwrap());
    // Same epoch, earlier start: replaces.
    assert!(c.assign(5, 15).unwrap());
    assert_eq!(
        c.latest_entry(),
        Some(EpochEntry {
            epoch: 5,
            start_offset: 15
        })
    );
    // A lower epoch removes every entry with a larger epoch or start.
    assert!(c.assign(2, 5).unwrap());
    let entries: Vec<_> = c.entries().map(|e| (e.epoch, e.start_offset)).collect();
    assert_eq!(entries, vec![(1, 0), (2, 5)]);
    assert!(c.assign(-1, 0).is_err());
    assert!(c.assign(1, -5).is_err());
}

#[test]
fn truncation_from_both_ends() {
    let mut c = cache(&[(1, 0), (3, 10), (5, 20)]);
    c.truncate_from_end(20);
    assert_eq!(c.latest_epoch(), Some(3));
    c.truncate_from_end(11);
    assert_eq!(c.latest_epoch(), Some(3));
    let mut c = cache(&[(1, 0), (3, 10), (5, 20)]);
    c.truncate_from_start(15);
    let entries: Vec<_> = c.entries().map(|e| (e.epoch, e.start_offset)).collect();
    assert_eq!(entries, vec![(3, 15), (5, 20)]);
    c.truncate_from_start(20);
    let entries: Vec<_> = c.entries().map(|e| (e.epoch, e.start_offset)).collect();
    assert_eq!(entries, vec![(5, 20)]);
}

#[test]
fn epoch_for_offset_and_previous_epoch() {
    let c = cache(&[(1, 0), (3, 10), (5, 20)]);
    assert_eq!(c.epoch_for_offset(0), Some(1));
    assert_eq!(c.epoch_for_offset(9), Some(1));
    assert_eq!(c.epoch_for_offset(10), Some(3));
    assert_eq!(c.epoch_for_offset(99), Some(5));
    assert_eq!(c.previous_epoch(), Some(3));
    let late = cache(&[(2, 5)]);
    assert_eq!(late.epoch_for_offset(4), None);
}

#[test]
fn from_entries_rejects_corrupt_checkpoints() {
    let ok = [
        EpochEntry {
            epoch: 1,
            start_offset: 0,
        },
        EpochEntry {
            epoch: 2,
            start_offset: 0,
        },
    ];
    assert!(LeaderEpochCache::from_entries(ok).is_ok());
    let bad = [
        EpochEntry {
            epoch: 2,
            start_offset: 5,
        },
        EpochEntry {
            epoch: 1,
            start_offset: 9,
        },
    ];
    assert!(matches!(
        LeaderEpochCache::from_entries(bad),
        Err(EpochCacheError::NotMonotonic { .. })
    ));
}

/// A log as (epoch per offset), epochs non-decreasing, built from run lengths.
fn log_strategy() -> impl Strategy<Value = Vec<i32>> {
    prop::collection::vec((1i32..4, 0usize..6), 1..8).prop_map(|runs| {
        let mut epoch = 0;
        let mut log = Vec::new();
        for (step, len) in runs {
            epoch += step;
            log.extend(std::iter::repeat_n(epoch, len));
        }
        log
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// `end_offset_for` agrees with a brute-force scan of the log it describes.
    #[test]
    fn end_offset_matches_brute_force(log in log_strategy(), requested in 0i32..40) {
        let mut c = LeaderEpochCache::new();
        for (offset, &epoch) in log.iter().enumerate() {
            c.assign(epoch, offset as i64).unwrap();
        }
        let leo = log.len() as i64;
        let got = c.end_offset_for(requested, leo);
        match c.latest_epoch() {
            None => prop_assert_eq!(got, EpochEndOffset::UNDEFINED),
            Some(latest) if requested > latest => prop_assert_eq!(got, EpochEndOffset::UNDEFINED),
            Some(latest) if requested == latest => prop_assert_eq!(got, eo(latest, leo)),
            Some(_) => {
                let end = log.iter().position(|&e| e > requested).unwrap() as i64;
                let floor = log.iter().copied().filter(|&e| e <= requested).max().unwrap_or(requested);
                prop_assert_eq!(got, eo(floor, end));
            }
        }
        // Truncating the cache with the log keeps it describing the shorter log.
        let cut = (requested as usize).min(log.len());
        c.truncate_from_end(cut as i64);
        prop_assert_eq!(c.latest_epoch(), log[..cut].last().copied());
        for (offset, &epoch) in log[..cut].iter().enumerate() {
            prop_assert_eq!(c.epoch_for_offset(offset as i64), Some(epoch));
        }
    }
}
