//! The leader-epoch cache of one replica's log: which leader epoch started at which
//! offset (Kafka's `LeaderEpochFileCache`, KIP-101/KIP-279).
//!
//! It owns only the epoch -> start offset map and Kafka's lookup rules. There is one
//! per partition: the log (`tidewater-storage`'s `Log`) holds it, changes it on append,
//! truncation and retention, and checkpoints every change to `leader-epoch-checkpoint`;
//! the replica state machines read copies of it.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::error::EpochCacheError;
use crate::{UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET};

/// One epoch and the first offset written in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochEntry {
    pub epoch: i32,
    pub start_offset: i64,
}

/// The answer to OffsetForLeaderEpoch (and the fetch response `diverging_epoch`): the
/// largest epoch <= the requested one and the offset where the next epoch starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochEndOffset {
    pub epoch: i32,
    pub end_offset: i64,
}

impl EpochEndOffset {
    /// `(UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET)`.
    pub const UNDEFINED: Self = Self {
        epoch: UNDEFINED_EPOCH,
        end_offset: UNDEFINED_EPOCH_OFFSET,
    };

    /// Kafka treats an undefined offset as "no answer" (`UnifiedLog.endOffsetForEpoch`).
    pub fn is_undefined(&self) -> bool {
        self.end_offset == UNDEFINED_EPOCH_OFFSET
    }
}

/// Epoch -> start offset, strictly increasing in both (Kafka keeps it that way by
/// dropping non-monotonic entries on assign). A clone shares the entries until one side
/// changes them: every follower fetch at the leader and every fetch answer at the
/// follower reads a copy taken under the log's append lock, and at 10,000 partitions
/// copying the map on each of those was a tenth of an idle broker's CPU.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeaderEpochCache {
    epochs: Arc<BTreeMap<i32, i64>>,
}

impl LeaderEpochCache {
    pub fn new() -> Self {
        Self::default()
    }

    /// The entries to change (copied first only while a clone still shares them).
    fn entries_mut(&mut self) -> &mut BTreeMap<i32, i64> {
        Arc::make_mut(&mut self.epochs)
    }

    /// Rebuilds a cache from checkpointed entries, rejecting a non-monotonic file rather
    /// than silently answering OffsetForLeaderEpoch wrongly.
    pub fn from_entries(
        entries: impl IntoIterator<Item = EpochEntry>,
    ) -> Result<Self, EpochCacheError> {
        let mut cache = Self::new();
        let mut previous: Option<EpochEntry> = None;
        for entry in entries {
            check_non_negative(entry.epoch, entry.start_offset)?;
            if let Some(p) = previous
                && (entry.epoch <= p.epoch || entry.start_offset < p.start_offset)
            {
                return Err(EpochCacheError::NotMonotonic {
                    previous: (p.epoch, p.start_offset),
                    next: (entry.epoch, entry.start_offset),
                });
            }
            cache.entries_mut().insert(entry.epoch, entry.start_offset);
            previous = Some(entry);
        }
        Ok(cache)
    }

    /// Records that `epoch` starts at `start_offset`. Like Kafka, an entry equal to the
    /// latest epoch with a start offset not below it is a no-op, and entries with an
    /// epoch >= `epoch` or a start offset >= `start_offset` are removed first so the map
    /// stays monotonic. Returns whether the cache changed.
    pub fn assign(&mut self, epoch: i32, start_offset: i64) -> Result<bool, EpochCacheError> {
        check_non_negative(epoch, start_offset)?;
        if let Some(latest) = self.latest_entry()
            && latest.epoch == epoch
            && start_offset >= latest.start_offset
        {
            return Ok(false);
        }
        let entries = self.entries_mut();
        entries.retain(|&e, &mut s| e < epoch && s < start_offset);
        entries.insert(epoch, start_offset);
        Ok(true)
    }

    pub fn is_empty(&self) -> bool {
        self.epochs.is_empty()
    }

    pub fn entries(&self) -> impl Iterator<Item = EpochEntry> + '_ {
        self.epochs
            .iter()
            .map(|(&epoch, &start_offset)| EpochEntry {
                epoch,
                start_offset,
            })
    }

    pub fn latest_entry(&self) -> Option<EpochEntry> {
        self.epochs
            .last_key_value()
            .map(|(&epoch, &start_offset)| EpochEntry {
                epoch,
                start_offset,
            })
    }

    pub fn earliest_entry(&self) -> Option<EpochEntry> {
        self.epochs
            .first_key_value()
            .map(|(&epoch, &start_offset)| EpochEntry {
                epoch,
                start_offset,
            })
    }

    pub fn latest_epoch(&self) -> Option<i32> {
        self.latest_entry().map(|e| e.epoch)
    }

    /// The epoch before the latest one (Kafka's `previousEpoch`).
    pub fn previous_epoch(&self) -> Option<i32> {
        self.epochs.keys().rev().nth(1).copied()
    }

    /// The epoch of the record at `offset` (Kafka's `epochForOffset`).
    pub fn epoch_for_offset(&self, offset: i64) -> Option<i32> {
        let mut previous = None;
        for (&epoch, &start) in self.epochs.iter() {
            if start == offset {
                return Some(epoch);
            }
            if start > offset {
                return previous;
            }
            previous = Some(epoch);
        }
        previous
    }

    /// Kafka's `endOffsetFor(requestedEpoch, logEndOffset)`:
    /// - `UNDEFINED_EPOCH` requested, or an epoch above every known epoch (only possible
    ///   when the requester is ahead of this log) => `UNDEFINED`;
    /// - the latest epoch => `(latest, log_end_offset)`: it is still being written;
    /// - an epoch below every known epoch => `(requested, first start offset)`;
    /// - otherwise `(largest epoch <= requested, start offset of the next epoch)`.
    pub fn end_offset_for(&self, requested_epoch: i32, log_end_offset: i64) -> EpochEndOffset {
        if requested_epoch == UNDEFINED_EPOCH {
            return EpochEndOffset::UNDEFINED;
        }
        if self.latest_epoch() == Some(requested_epoch) {
            return EpochEndOffset {
                epoch: requested_epoch,
                end_offset: log_end_offset,
            };
        }
        let Some((_, &higher_start)) = self
            .epochs
            .range(requested_epoch.saturating_add(1)..)
            .next()
        else {
            return EpochEndOffset::UNDEFINED;
        };
        match self.epochs.range(..=requested_epoch).next_back() {
            None => EpochEndOffset {
                epoch: requested_epoch,
                end_offset: higher_start,
            },
            Some((&floor_epoch, _)) => EpochEndOffset {
                epoch: floor_epoch,
                end_offset: higher_start,
            },
        }
    }

    /// Removes entries starting at or after `end_offset` (log truncated to `end_offset`).
    pub fn truncate_from_end(&mut self, end_offset: i64) {
        if end_offset >= 0 && self.epochs.values().any(|&start| start >= end_offset) {
            self.entries_mut()
                .retain(|_, &mut start| start < end_offset);
        }
    }

    /// Drops epochs wholly below the new log start offset; the last epoch starting at or
    /// before it is kept, moved to start at `start_offset` (Kafka's `truncateFromStart`).
    pub fn truncate_from_start(&mut self, start_offset: i64) {
        let covering: Vec<i32> = self
            .epochs
            .iter()
            .filter(|&(_, &start)| start <= start_offset)
            .map(|(&e, _)| e)
            .collect();
        if let Some((&last, rest)) = covering.split_last() {
            if rest.is_empty() && self.epochs.get(&last) == Some(&start_offset) {
                return;
            }
            let entries = self.entries_mut();
            for epoch in rest {
                entries.remove(epoch);
            }
            entries.insert(last, start_offset);
        }
    }

    pub fn clear(&mut self) {
        if !self.epochs.is_empty() {
            self.entries_mut().clear();
        }
    }
}

fn check_non_negative(epoch: i32, start_offset: i64) -> Result<(), EpochCacheError> {
    if epoch < 0 || start_offset < 0 {
        return Err(EpochCacheError::Negative {
            epoch,
            start_offset,
        });
    }
    Ok(())
}

#[cfg(test)]
#[path = "epoch_cache_tests.rs"]
mod tests;
