//! `OffsetCommitValue` (versions 0-4): the committed position of one partition.

use bytes::Bytes;

use super::RecordError;
use super::wire::{Reader, Writer};

/// Kafka's `OffsetCommitValue`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetCommitValue {
    pub offset: i64,
    /// Versions 3+; -1 when unknown (Kafka's `NO_PARTITION_LEADER_EPOCH`).
    pub leader_epoch: i32,
    pub metadata: String,
    pub commit_timestamp: i64,
    /// Only version 1 stores it; -1 = none (retention decided by the broker).
    pub expire_timestamp: i64,
}

impl OffsetCommitValue {
    /// The version Kafka 2.1+ writes: 1 when an explicit expire timestamp exists
    /// (commit v2-v4 with a retention time), else 3.
    pub fn write_version(&self) -> i16 {
        if self.expire_timestamp >= 0 { 1 } else { 3 }
    }

    pub fn encode(&self) -> Bytes {
        self.encode_version(self.write_version())
    }

    /// Encodes at `version` (0-4); fields the version lacks are dropped.
    pub fn encode_version(&self, version: i16) -> Bytes {
        let flexible = version >= 4;
        let mut w = Writer::new(version, flexible);
        w.i64(self.offset);
        if version >= 3 {
            w.i32(self.leader_epoch);
        }
        w.string(&self.metadata);
        w.i64(self.commit_timestamp);
        if version == 1 {
            w.i64(self.expire_timestamp);
        }
        w.no_tagged_fields();
        w.finish()
    }

    pub fn decode(buf: Bytes) -> Result<Self, RecordError> {
        let mut r = Reader::new(buf);
        let version = r.i16("OffsetCommitValue version")?;
        if !(0..=4).contains(&version) {
            return Err(RecordError::UnsupportedVersion {
                schema: "OffsetCommitValue",
                version,
            });
        }
        let flexible = version >= 4;
        let offset = r.i64("OffsetCommitValue.offset")?;
        let leader_epoch = if version >= 3 {
            r.i32("OffsetCommitValue.leaderEpoch")?
        } else {
            -1
        };
        let metadata = r.string(flexible, "OffsetCommitValue.metadata")?;
        let commit_timestamp = r.i64("OffsetCommitValue.commitTimestamp")?;
        let expire_timestamp = if version == 1 {
            r.i64("OffsetCommitValue.expireTimestamp")?
        } else {
            -1
        };
        if flexible {
            r.skip_tagged_fields("OffsetCommitValue tagged fields")?;
        }
        Ok(Self {
            offset,
            leader_epoch,
            metadata,
            commit_timestamp,
            expire_timestamp,
        })
    }
}
