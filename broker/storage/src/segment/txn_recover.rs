//! Rebuilding a segment's `.txnindex` from its batches, as Kafka's `LogSegment.recover`
//! does: the batches are replayed through the producer state as of the segment's base
//! offset, and each ABORT marker, which ends its producer's ongoing transaction, gives
//! that transaction's entry. Which segments need it (recovered ones, an unreadable
//! index) and where the producer state comes from is the log loader's business.

use super::Segment;
use crate::batch::BatchHeader;
use crate::error::StorageError;
use crate::producer_state::{CompletedTxn, EndTransactionMarker, ProducerStateManager};
use crate::txn_index::{AbortedTxn, TxnIndex};

impl Segment {
    /// Replays every batch through `producers` (the state at this segment's base
    /// offset, left at its end) and rewrites the `.txnindex` with the transactions its
    /// ABORT markers end. Returns the entries, in marker order.
    pub fn rebuild_txn_index(
        &self,
        producers: &mut ProducerStateManager,
    ) -> Result<Vec<AbortedTxn>, StorageError> {
        // A marker's body (COMMIT or ABORT) is read after the scan: its callback
        // cannot fail. Control batches are never compressed (appends refuse them).
        let mut ended: Vec<(u64, BatchHeader, CompletedTxn)> = Vec::new();
        self.scan_headers(0, &mut |pos, h| {
            if let Some(done) = producers.update(h)
                && h.compression() == 0
            {
                ended.push((pos, *h, done));
            }
            true
        })?;
        let mut entries = Vec::new();
        for (pos, h, done) in ended {
            let whole = self.read(pos, h.total_size())?;
            if EndTransactionMarker::parse(&whole).is_some_and(|m| !m.commit) {
                entries.push(AbortedTxn {
                    producer_id: done.producer_id,
                    first_offset: done.first_offset,
                    last_offset: done.last_offset,
                    // What the append path writes: at most the LSO right after the
                    // marker (a lower value only makes a fetch look further).
                    last_stable_offset: done.first_offset,
                });
            }
        }
        let index = TxnIndex::rewrite(&self.path("txnindex"), entries)?;
        Ok(index.entries().to_vec())
    }
}
