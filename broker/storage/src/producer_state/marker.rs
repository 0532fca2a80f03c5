//! The transaction marker a control batch holds (Kafka's `EndTransactionMarker`): its
//! one control record's key says COMMIT or ABORT, its value the epoch of the
//! transaction coordinator that wrote it. The leader refuses a marker from an older
//! coordinator epoch than the producer's last one, so a zombie coordinator cannot end a
//! transaction the new coordinator already ended.

use crate::batch;

/// A COMMIT or ABORT marker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EndTransactionMarker {
    pub commit: bool,
    /// The leader epoch of the `__transaction_state` partition whose coordinator
    /// wrote it.
    pub coordinator_epoch: i32,
}

impl EndTransactionMarker {
    /// The marker of a whole control batch (header and body, compressed or not), or
    /// `None` when it holds no readable marker: key (version i16, type i16: 0 ABORT,
    /// 1 COMMIT) and value (version i16, coordinator epoch i32, then fields of later
    /// versions), as Kafka's `EndTransactionMarker.deserialize` reads them.
    pub fn parse(control_batch: &[u8]) -> Option<EndTransactionMarker> {
        let set = batch::decode_records(control_batch).ok()?;
        let record = set.records.first()?;
        let key = record.key.as_deref()?;
        let value = record.value.as_deref()?;
        let commit = match key.get(2..4)? {
            [0, 0] => false,
            [0, 1] => true,
            _ => return None,
        };
        let epoch = value.get(2..6)?;
        Some(EndTransactionMarker {
            commit,
            coordinator_epoch: i32::from_be_bytes([epoch[0], epoch[1], epoch[2], epoch[3]]),
        })
    }
}
