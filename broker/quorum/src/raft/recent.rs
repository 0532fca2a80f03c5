//! The last applied metadata-log entries, kept in memory so observers (brokers
//! following the log) get small deltas instead of the whole image on every fetch.
//!
//! Fed by the state machine as it applies committed entries, and reset when a snapshot
//! replaces the image (entries before it are gone). Holds only a bounded window: an
//! observer further behind than the window gets the full image instead.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use crate::records::MetadataRecord;

/// Entries kept by default (Kafka keeps far more on disk; this is only the fast path).
pub const DEFAULT_RECENT_ENTRIES: usize = 4096;

/// Most entries returned by one fetch, so one answer stays a small frame.
const MAX_ENTRIES_PER_FETCH: usize = 1024;

#[derive(Debug)]
struct Window {
    /// (log index, records), contiguous and ascending.
    entries: VecDeque<(u64, Vec<MetadataRecord>)>,
    /// The index of the last applied entry (also when the window is empty).
    last_index: u64,
    capacity: usize,
}

/// A shared handle on the window (the state machine writes, the listener reads).
#[derive(Debug, Clone)]
pub struct RecentEntries(Arc<Mutex<Window>>);

impl RecentEntries {
    /// An empty window whose next entry follows `last_index` (0 = an empty log, or the
    /// index a restored snapshot covers).
    pub fn new(capacity: usize, last_index: u64) -> Self {
        Self(Arc::new(Mutex::new(Window {
            entries: VecDeque::with_capacity(capacity.min(DEFAULT_RECENT_ENTRIES)),
            last_index,
            capacity: capacity.max(1),
        })))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Window> {
        // The window is updated by whole-entry pushes only, so it is consistent even if
        // a holder panicked.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records an applied entry; an entry that does not follow the last one (a gap can
    /// only follow a snapshot install) restarts the window at it.
    pub fn push(&self, index: u64, records: Vec<MetadataRecord>) {
        let mut w = self.lock();
        if index <= w.last_index {
            return;
        }
        if index != w.last_index + 1 {
            w.entries.clear();
        }
        if w.entries.len() == w.capacity {
            w.entries.pop_front();
        }
        w.entries.push_back((index, records));
        w.last_index = index;
    }

    /// A snapshot now covers everything up to `last_index`: older entries cannot be
    /// served as deltas any more.
    pub fn reset(&self, last_index: u64) {
        let mut w = self.lock();
        w.entries.clear();
        w.last_index = last_index;
    }

    /// The index of the last applied entry.
    pub fn last_index(&self) -> u64 {
        self.lock().last_index
    }

    /// The entries after `after`, in order (at most a bounded batch; empty when nothing
    /// is newer), or `None` when the window no longer reaches back to `after + 1`.
    /// `after == 0` always gets `None`: a new observer starts from the whole image.
    pub fn entries_after(&self, after: u64) -> Option<Vec<(u64, Vec<MetadataRecord>)>> {
        let w = self.lock();
        if after >= w.last_index {
            return Some(Vec::new());
        }
        if after == 0 {
            return None;
        }
        let first = w.entries.front()?.0;
        if first > after + 1 {
            return None;
        }
        let skip = usize::try_from(after + 1 - first).ok()?;
        Some(
            w.entries
                .iter()
                .skip(skip)
                .take(MAX_ENTRIES_PER_FETCH)
                .cloned()
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: u128) -> Vec<MetadataRecord> {
        vec![MetadataRecord::RemoveTopic { topic_id: id }]
    }

    #[test]
    fn serves_contiguous_entries_within_the_window() {
        let recent = RecentEntries::new(3, 0);
        assert_eq!(recent.entries_after(0), Some(vec![]), "nothing applied yet");
        for i in 1..=5 {
            recent.push(i, rec(i.into()));
        }
        assert_eq!(recent.last_index(), 5);
        // Window holds 3..=5: after 2 is servable, after 1 is not.
        let got = recent.entries_after(2).unwrap();
        assert_eq!(got.iter().map(|e| e.0).collect::<Vec<_>>(), vec![3, 4, 5]);
        assert_eq!(recent.entries_after(4).unwrap(), vec![(5, rec(5))]);
        assert_eq!(recent.entries_after(1), None);
        assert_eq!(
            recent.entries_after(0),
            None,
            "a new observer gets the image"
        );
        assert_eq!(recent.entries_after(5), Some(vec![]));
        assert_eq!(recent.entries_after(9), Some(vec![]));
        // A replayed entry is ignored.
        recent.push(4, rec(99));
        assert_eq!(recent.entries_after(3).unwrap()[0], (4, rec(4)));
    }

    #[test]
    fn snapshot_and_gaps_restart_the_window() {
        let recent = RecentEntries::new(10, 0);
        recent.push(1, rec(1));
        recent.push(2, rec(2));
        recent.reset(50);
        assert_eq!(recent.entries_after(1), None);
        assert_eq!(recent.entries_after(50), Some(vec![]));
        recent.push(51, rec(51));
        assert_eq!(recent.entries_after(50).unwrap(), vec![(51, rec(51))]);
        recent.push(60, rec(60));
        assert_eq!(recent.entries_after(51), None, "59 is missing");
        assert_eq!(recent.entries_after(59).unwrap(), vec![(60, rec(60))]);
    }

    #[test]
    fn one_fetch_is_bounded() {
        let recent = RecentEntries::new(DEFAULT_RECENT_ENTRIES, 0);
        for i in 1..=3000 {
            recent.push(i, vec![]);
        }
        let got = recent.entries_after(1).unwrap();
        assert_eq!(got.len(), MAX_ENTRIES_PER_FETCH);
        assert_eq!(got[0].0, 2);
    }
}
