//! Seeded property test of metadata following, without IO: a voter applies a random
//! log (with random window sizes and snapshot resets), observers that start at random
//! points fetch until caught up, and must end with an image equal to the voter's —
//! getting the whole image exactly when the window cannot serve them. Set
//! `QUORUM_FETCH_SEED` (64 hex digits) to replay; the seed is printed on failure.

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

use super::*;
use crate::records::{ConfigResourceType, MetadataRecord};

fn record() -> impl Strategy<Value = MetadataRecord> {
    prop_oneof![
        (0..6u128).prop_map(|id| MetadataRecord::Topic {
            name: format!("t{id}"),
            topic_id: id + 1,
        }),
        (0..6u128).prop_map(|id| MetadataRecord::RemoveTopic { topic_id: id + 1 }),
        (0..4u8, proptest::option::of(0..3u8)).prop_map(|(k, v)| MetadataRecord::Config {
            resource_type: ConfigResourceType::Broker,
            resource_name: String::new(),
            key: format!("k{k}"),
            value: v.map(|v| v.to_string()),
        }),
        (0..3u16).prop_map(|level| MetadataRecord::FeatureLevel {
            name: "metadata.version".into(),
            level,
        }),
    ]
}

/// One applied entry (records may be empty: a leader-change or membership entry), or
/// a snapshot install resetting the window.
#[derive(Debug, Clone)]
enum Step {
    Entry(Vec<MetadataRecord>),
    Snapshot,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        30 => proptest::collection::vec(record(), 0..4).prop_map(Step::Entry),
        1 => Just(Step::Snapshot),
    ]
}

fn seed() -> [u8; 32] {
    match std::env::var("QUORUM_FETCH_SEED") {
        Ok(hex) => {
            let bytes: Vec<u8> = (0..hex.len())
                .step_by(2)
                .filter_map(|i| hex.get(i..i + 2))
                .map(|b| u8::from_str_radix(b, 16).unwrap())
                .collect();
            bytes
                .try_into()
                .expect("QUORUM_FETCH_SEED must be 64 hex digits")
        }
        Err(_) => *b"tidewater-quorum-metadata-fetch!",
    }
}

#[test]
fn observers_converge_on_the_voters_image() {
    let seed = seed();
    let hex: String = seed.iter().map(|b| format!("{b:02x}")).collect();
    let mut runner = TestRunner::new_with_rng(
        Config {
            cases: 300,
            failure_persistence: None,
            ..Config::default()
        },
        TestRng::from_seed(RngAlgorithm::ChaCha, &seed),
    );
    let images_served = std::cell::Cell::new(0u32);
    let entries_served = std::cell::Cell::new(0u32);
    let strategy = (
        1..48usize,
        proptest::collection::vec(step(), 1..80),
        proptest::collection::vec(any::<prop::sample::Index>(), 1..4),
    );
    let result = runner.run(&strategy, |(capacity, steps, starts)| {
        let recent = RecentEntries::new(capacity, 0);
        let mut voter = MetadataImage::default();
        // The voter's image after each index, so observers can start anywhere.
        let mut history = vec![voter.clone()];
        for step in &steps {
            match step {
                Step::Entry(records) => {
                    let index = voter.offset + 1;
                    voter.apply_entry(index, records);
                    recent.push(index, records.clone());
                    history.push(voter.clone());
                }
                Step::Snapshot => recent.reset(voter.offset),
            }
        }
        for start in starts {
            let mut observer = start.get(&history).clone();
            for _ in 0..=history.len() {
                if observer == voter {
                    break;
                }
                let servable =
                    observer.offset > 0 && recent.entries_after(observer.offset).is_some();
                let delta = answer_fetch(&recent, &voter, observer.offset);
                match &delta {
                    MetadataDelta::Image(_) => {
                        prop_assert!(!servable, "image sent although entries were servable");
                        images_served.set(images_served.get() + 1);
                    }
                    MetadataDelta::Entries(e) => {
                        prop_assert!(servable, "entries sent from outside the window");
                        let want: Vec<u64> = (observer.offset + 1..).take(e.len()).collect();
                        let got: Vec<u64> = e.iter().map(|(i, _)| *i).collect();
                        prop_assert_eq!(got, want, "entries must be contiguous");
                        entries_served.set(entries_served.get() + 1);
                    }
                }
                delta.apply_to(&mut observer);
            }
            prop_assert_eq!(&observer, &voter);
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}\nreplay with QUORUM_FETCH_SEED={hex}");
    }
    // Both paths must have been exercised, or the test proves little.
    let (images, entries) = (images_served.get(), entries_served.get());
    println!("images served: {images}, entry batches served: {entries}");
    assert!(
        images > 100 && entries > 100,
        "{images} images, {entries} entry batches"
    );
}
