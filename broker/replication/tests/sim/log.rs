//! An in-memory partition log of (leader epoch, payload id) records with a flushed
//! prefix, and the leader-epoch cache kept alongside it as the storage layer would.

use tidewater_replication::LeaderEpochCache;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rec {
    pub epoch: i32,
    pub payload: u64,
}

#[derive(Debug, Clone, Default)]
pub struct MemLog {
    pub records: Vec<Rec>,
    /// Records below this survive a crash that loses unflushed data.
    pub flushed: usize,
    pub epochs: LeaderEpochCache,
}

impl MemLog {
    pub fn end_offset(&self) -> i64 {
        self.records.len() as i64
    }

    /// Appends as a follower or leader does: a batch with a newer epoch starts it in the
    /// epoch cache (Kafka's `maybeAssignEpochStartOffset`).
    pub fn append(&mut self, rec: Rec) {
        let offset = self.end_offset();
        if self.epochs.latest_epoch().is_none_or(|e| rec.epoch > e) {
            self.epochs
                .assign(rec.epoch, offset)
                .expect("epochs are non-negative");
        }
        self.records.push(rec);
    }

    pub fn truncate(&mut self, offset: i64) {
        let keep = usize::try_from(offset.max(0))
            .expect("non-negative")
            .min(self.records.len());
        self.records.truncate(keep);
        self.flushed = self.flushed.min(keep);
        self.epochs.truncate_from_end(offset.max(0));
    }

    pub fn flush(&mut self) {
        self.flushed = self.records.len();
    }

    /// A crash: unflushed records are gone when `lose_tail`; recovery rebuilds the epoch
    /// cache from the surviving records.
    pub fn crash(&mut self, lose_tail: bool) {
        if lose_tail {
            self.records.truncate(self.flushed);
        }
        self.flushed = self.records.len();
        let mut epochs = LeaderEpochCache::new();
        for (offset, rec) in self.records.iter().enumerate() {
            if epochs.latest_epoch().is_none_or(|e| rec.epoch > e) {
                epochs
                    .assign(rec.epoch, offset as i64)
                    .expect("epochs are non-negative");
            }
        }
        self.epochs = epochs;
    }
}
