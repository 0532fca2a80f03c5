//! The leader-epoch cache (Kafka's LeaderEpochFileCache): for each leader epoch the first
//! offset written in it. Answers OffsetForLeaderEpoch and follows truncation. Pure data;
//! the log persists it to `leader-epoch-checkpoint`.

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct EpochCache {
    /// (epoch, start offset), both strictly increasing.
    entries: Vec<(i32, i64)>,
}

impl EpochCache {
    pub fn from_entries(mut entries: Vec<(i32, i64)>) -> Self {
        entries.sort();
        let mut cache = EpochCache::default();
        for (e, o) in entries {
            cache.assign(e, o);
        }
        cache
    }

    pub fn entries(&self) -> &[(i32, i64)] {
        &self.entries
    }

    /// Records that `epoch` starts at `start_offset` (ignored unless it is a newer epoch).
    /// Returns whether the cache changed.
    pub fn assign(&mut self, epoch: i32, start_offset: i64) -> bool {
        if epoch < 0 {
            return false;
        }
        match self.entries.last() {
            Some((e, _)) if *e >= epoch => false,
            _ => {
                // An entry whose start is not below the new one is superseded.
                while self.entries.last().is_some_and(|(_, o)| *o >= start_offset) {
                    self.entries.pop();
                }
                self.entries.push((epoch, start_offset));
                true
            }
        }
    }

    pub fn latest_epoch(&self) -> Option<i32> {
        self.entries.last().map(|(e, _)| *e)
    }

    /// (largest epoch <= requested, its end offset): the next epoch's start, or the log
    /// end for the latest epoch. None when the requested epoch predates every entry.
    pub fn end_offset_for(&self, epoch: i32, log_end: i64) -> Option<(i32, i64)> {
        let i = self.entries.partition_point(|(e, _)| *e <= epoch);
        if i == 0 {
            return None;
        }
        let (found, _) = self.entries[i - 1];
        let end = self.entries.get(i).map_or(log_end, |(_, o)| *o);
        Some((found, end))
    }

    /// Drops entries starting at or after `offset` (log truncated to `offset`).
    pub fn truncate_from_end(&mut self, offset: i64) {
        self.entries.retain(|(_, o)| *o < offset);
    }

    /// The log start moved to `offset`: entries wholly before it go, the one spanning it
    /// is moved to start there.
    pub fn truncate_from_start(&mut self, offset: i64) {
        let i = self.entries.partition_point(|(_, o)| *o <= offset);
        if i > 1 {
            self.entries.drain(..i - 1);
        }
        if let Some(first) = self.entries.first_mut()
            && first.1 < offset
        {
            first.1 = offset;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn end_offsets_follow_kafka_semantics() {
        let mut c = EpochCache::default();
        assert!(c.assign(0, 0));
        assert!(!c.assign(0, 5));
        assert!(c.assign(2, 10));
        assert!(c.assign(5, 30));
        assert_eq!(c.end_offset_for(0, 50), Some((0, 10)));
        assert_eq!(c.end_offset_for(1, 50), Some((0, 10)));
        assert_eq!(c.end_offset_for(2, 50), Some((2, 30)));
        assert_eq!(c.end_offset_for(9, 50), Some((5, 50)));
        c.truncate_from_end(30);
        assert_eq!(c.latest_epoch(), Some(2));
        c.truncate_from_start(12);
        assert_eq!(c.entries(), &[(2, 12)]);
        let mut d = EpochCache::from_entries(vec![(3, 10), (1, 0)]);
        assert_eq!(d.end_offset_for(0, 20), None);
        d.truncate_from_start(5);
        assert_eq!(d.entries(), &[(1, 5), (3, 10)]);
    }
}
