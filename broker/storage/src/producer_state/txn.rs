//! The transactions open on one partition (Kafka's `ProducerStateManager` ongoing and
//! unreplicated transactions), which hold the last stable offset back: a
//! `read_committed` consumer may read only below the first offset of a transaction
//! whose outcome is not yet known on every in-sync replica.
//!
//! A transactional data batch opens its producer's transaction here (at the batch's
//! first offset) unless one is open; a control batch (the COMMIT or ABORT marker the
//! transaction coordinator writes) ends it. An ended transaction still holds the
//! last stable offset until its marker is below the high watermark, so a consumer
//! never reads a transaction's records before its fate is replicated.

use std::collections::BTreeMap;

/// A transaction whose marker was appended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CompletedTxn {
    pub producer_id: i64,
    /// The offset of its first record on this partition.
    pub first_offset: i64,
    /// The offset of its marker.
    pub last_offset: i64,
}

/// The transactions that hold the last stable offset of a partition.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct OpenTransactions {
    /// First offset -> producer id of each transaction without its marker.
    ongoing: BTreeMap<i64, i64>,
    /// First offset -> transactions with a marker not yet below the high watermark.
    unreplicated: BTreeMap<i64, CompletedTxn>,
}

impl OpenTransactions {
    pub(super) fn begin(&mut self, producer_id: i64, first_offset: i64) {
        self.ongoing.insert(first_offset, producer_id);
    }

    /// The marker of `producer_id`'s transaction (first record at `first_offset`, or
    /// none: a marker with no data here) was appended at `marker_offset`.
    pub(super) fn end(
        &mut self,
        producer_id: i64,
        first_offset: Option<i64>,
        marker_offset: i64,
    ) -> CompletedTxn {
        let first = first_offset.unwrap_or(marker_offset);
        if self.ongoing.get(&first) == Some(&producer_id) {
            self.ongoing.remove(&first);
        }
        let done = CompletedTxn {
            producer_id,
            first_offset: first,
            last_offset: marker_offset,
        };
        self.unreplicated.insert(first, done);
        done
    }

    /// The first offset a `read_committed` reader may not pass, given the high
    /// watermark (markers below it are replicated: their transactions are forgotten).
    pub(super) fn first_unstable_offset(&mut self, high_watermark: i64) -> Option<i64> {
        self.unreplicated
            .retain(|_, t| t.last_offset >= high_watermark);
        let ongoing = self.ongoing.keys().next().copied();
        let unreplicated = self.unreplicated.keys().next().copied();
        match (ongoing, unreplicated) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}
