//! The byte reader both producer snapshot formats (Tidewater's and Kafka's) decode
//! with, and why a snapshot cannot be read.

use std::collections::VecDeque;

use super::ProducerEntry;

/// Why a producer snapshot file cannot be read (it is then ignored and rebuilt from
/// the log, as Kafka does with a corrupt snapshot).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    #[error("snapshot too short")]
    TooShort,
    #[error("snapshot CRC mismatch")]
    Crc,
    #[error("not a producer snapshot")]
    Magic,
    #[error("unknown snapshot version")]
    Version,
    #[error("truncated snapshot")]
    Truncated,
    #[error("trailing bytes in snapshot")]
    TrailingBytes,
}

/// Big-endian fields read in order, `Truncated` past the end.
pub(super) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(super) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }
    pub(super) fn at_end(&self) -> bool {
        self.pos == self.buf.len()
    }
    /// The fields every producer entry begins with, in Tidewater's format and in
    /// Kafka's: producer id, epoch, last sequence, last offset (no timestamp or
    /// batches yet).
    pub(super) fn entry_head(&mut self) -> Result<ProducerEntry, SnapshotError> {
        Ok(ProducerEntry {
            producer_id: self.i64()?,
            producer_epoch: self.u16()? as i16,
            last_sequence: self.u32()? as i32,
            last_offset: self.i64()?,
            last_timestamp: -1,
            batches: VecDeque::new(),
            current_txn_first_offset: -1,
            coordinator_epoch: -1,
        })
    }
    pub(super) fn take(&mut self, n: usize) -> Result<&'a [u8], SnapshotError> {
        let s = self
            .buf
            .get(self.pos..self.pos + n)
            .ok_or(SnapshotError::Truncated)?;
        self.pos += n;
        Ok(s)
    }
    pub(super) fn u16(&mut self) -> Result<u16, SnapshotError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    pub(super) fn u32(&mut self) -> Result<u32, SnapshotError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    pub(super) fn i64(&mut self) -> Result<i64, SnapshotError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(i64::from_be_bytes(a))
    }
}
