//! What the cleaner knows about transactions while it walks the log in offset order
//! (Kafka's `CleanedTransactionMetadata`): which data batches belong to an aborted
//! transaction (they are removed), and whether a marker may go because nothing of its
//! transaction is left before it. Sans-IO: fed the aborted transactions of the range
//! (from the `.txnindex` entries) and the batch headers, it answers per batch; the
//! aborted transactions whose ABORT marker stays are collected for the cleaned
//! segment's `.txnindex`. It must not decide by itself that a marker is removed: that
//! also waits for `delete.retention.ms` (the batch's delete horizon), decided by the
//! caller.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};

use crate::batch::BatchHeader;
use crate::txn_index::AbortedTxn;

/// The type of a control record (the key's second int16, Kafka's `ControlRecordType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ControlType {
    Abort,
    Commit,
    /// Another type, or a control batch that holds no record any more.
    Other,
    Empty,
}

impl ControlType {
    /// From a control record's key: version (int16) then type (int16).
    pub(crate) fn from_key(key: Option<&[u8]>) -> ControlType {
        match key {
            Some([_, _, 0, 0, ..]) => ControlType::Abort,
            Some([_, _, 0, 1, ..]) => ControlType::Commit,
            _ => ControlType::Other,
        }
    }
}

/// An aborted transaction the walk has reached (its first offset is behind it).
#[derive(Debug)]
struct OngoingAbort {
    txn: AbortedTxn,
    /// A batch of it was seen in this cleaning: its marker must stay (the batch is
    /// removed now, or kept empty for producer state, and the marker goes next time).
    seen_data: bool,
}

#[derive(Debug, Default)]
pub(crate) struct CleanedTxns {
    /// Aborted transactions not reached yet, by first offset.
    pending: BinaryHeap<Reverse<(i64, i64, i64)>>,
    by_key: HashMap<(i64, i64, i64), AbortedTxn>,
    ongoing_aborted: HashMap<i64, OngoingAbort>,
    /// Producers with a committed (not aborted) transactional batch seen since their
    /// last marker: that marker must stay.
    ongoing_committed: HashSet<i64>,
    /// The aborted transactions whose ABORT marker was kept, in marker order: the
    /// cleaned segment's `.txnindex`.
    kept_aborts: Vec<AbortedTxn>,
}

impl CleanedTxns {
    /// Adds aborted transactions the walk will meet (an entry already known is ignored).
    pub(crate) fn add_aborted(&mut self, txns: impl IntoIterator<Item = AbortedTxn>) {
        for t in txns {
            let key = (t.first_offset, t.last_offset, t.producer_id);
            if self.by_key.insert(key, t).is_none() {
                self.pending.push(Reverse(key));
            }
        }
    }

    /// Aborted transactions starting at or before `offset` become ongoing.
    fn reach(&mut self, offset: i64) {
        while let Some(Reverse(key)) = self.pending.peek().copied()
            && key.0 <= offset
        {
            self.pending.pop();
            if let Some(txn) = self.by_key.get(&key).copied() {
                self.ongoing_aborted
                    .entry(txn.producer_id)
                    .or_insert(OngoingAbort {
                        txn,
                        seen_data: false,
                    });
            }
        }
    }

    /// A data batch: whether it belongs to an aborted transaction (its records go).
    pub(crate) fn on_data_batch(&mut self, h: &BatchHeader) -> bool {
        self.reach(h.last_offset());
        if !h.is_transactional() {
            return false;
        }
        match self.ongoing_aborted.get_mut(&h.producer_id) {
            Some(abort) => {
                abort.seen_data = true;
                true
            }
            None => {
                self.ongoing_committed.insert(h.producer_id);
                false
            }
        }
    }

    /// A control batch of type `kind`: whether it may be discarded, i.e. no data of
    /// its transaction was seen in this cleaning (Kafka keeps an ABORT marker while its
    /// data is being removed, and a COMMIT marker while its data remains).
    pub(crate) fn on_control_batch(&mut self, h: &BatchHeader, kind: ControlType) -> bool {
        self.reach(h.last_offset());
        match kind {
            ControlType::Abort => match self.ongoing_aborted.remove(&h.producer_id) {
                Some(abort) if abort.seen_data => {
                    self.kept_aborts.push(abort.txn);
                    false
                }
                _ => true,
            },
            ControlType::Commit => !self.ongoing_committed.remove(&h.producer_id),
            ControlType::Other => false,
            // Cleaned before: nothing in it to keep.
            ControlType::Empty => true,
        }
    }

    /// The kept aborted transactions collected since the last call (one cleaned
    /// segment's `.txnindex`).
    pub(crate) fn take_kept_aborts(&mut self) -> Vec<AbortedTxn> {
        std::mem::take(&mut self.kept_aborts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{ATTR_CONTROL, ATTR_TRANSACTIONAL, HEADER_SIZE};

    fn header(pid: i64, base: i64, count: i32, txn: bool, control: bool) -> BatchHeader {
        let mut h = BatchHeader::parse(&[0u8; HEADER_SIZE]).unwrap();
        h.producer_id = pid;
        h.base_offset = base;
        h.last_offset_delta = count - 1;
        h.records_count = count;
        if txn {
            h.attributes |= ATTR_TRANSACTIONAL;
        }
        if control {
            h.attributes |= ATTR_TRANSACTIONAL | ATTR_CONTROL;
        }
        h
    }

    fn aborted(pid: i64, first: i64, last: i64) -> AbortedTxn {
        AbortedTxn {
            producer_id: pid,
            first_offset: first,
            last_offset: last,
            last_stable_offset: first,
        }
    }

    #[test]
    fn aborted_data_goes_and_its_marker_stays_until_a_cleaning_finds_no_data() {
        // Producer 1 aborts 0..=1 (marker 4); producer 2 commits 2..=3 (marker 5);
        // producer 3 writes plainly at 6.
        let walk = |txns: &mut CleanedTxns, with_data: bool| {
            let mut out = Vec::new();
            if with_data {
                out.push(txns.on_data_batch(&header(1, 0, 2, true, false)));
                out.push(txns.on_data_batch(&header(2, 2, 2, true, false)));
            }
            out.push(txns.on_control_batch(&header(1, 4, 1, true, true), ControlType::Abort));
            out.push(txns.on_control_batch(&header(2, 5, 1, true, true), ControlType::Commit));
            out.push(txns.on_data_batch(&header(3, 6, 1, false, false)));
            out
        };
        let mut first = CleanedTxns::default();
        first.add_aborted([aborted(1, 0, 4)]);
        // Aborted data: discard; both markers stay (their data was seen); plain: keep.
        assert_eq!(walk(&mut first, true), [true, false, false, false, false]);
        assert_eq!(first.take_kept_aborts(), [aborted(1, 0, 4)]);
        // Next cleaning, the aborted batch and the committed data gone: both markers
        // may go, and the aborted transaction leaves the index.
        let mut second = CleanedTxns::default();
        second.add_aborted([aborted(1, 0, 4), aborted(1, 0, 4)]);
        assert_eq!(walk(&mut second, false), [true, true, false]);
        assert!(second.take_kept_aborts().is_empty());
    }

    #[test]
    fn a_producers_next_transaction_after_an_abort_is_not_aborted() {
        let mut txns = CleanedTxns::default();
        txns.add_aborted([aborted(1, 0, 1)]);
        assert!(txns.on_data_batch(&header(1, 0, 1, true, false)));
        assert!(!txns.on_control_batch(&header(1, 1, 1, true, true), ControlType::Abort));
        // Its next transaction (2..) commits: kept, and so is that marker.
        assert!(!txns.on_data_batch(&header(1, 2, 1, true, false)));
        assert!(!txns.on_control_batch(&header(1, 3, 1, true, true), ControlType::Commit));
        // An empty control batch (cleaned before) may go.
        assert!(txns.on_control_batch(&header(1, 4, 0, true, true), ControlType::Empty));
    }
}
