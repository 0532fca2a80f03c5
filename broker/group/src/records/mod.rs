//! The `__consumer_offsets` record format, byte-exact with Kafka's
//! `group-coordinator` schemas so tools that read the topic (Burrow, kcat -D) work.
//!
//! Keys start with an int16 version: 0 and 1 are `OffsetCommitKey` {group, topic,
//! partition}, 2 is `GroupMetadataKey` {group}; higher versions are records of newer
//! group types (KIP-848, share groups) that this classic coordinator skips on replay.
//! Values start with their own int16 version. We write what Kafka 3.x/4.x writes
//! (OffsetCommitKey v1, OffsetCommitValue v3 or v1 when an expire timestamp is set,
//! GroupMetadataValue v3) and read every version, including flexible v4.

pub mod consumer_group;
mod group_metadata;
mod offset_commit;
pub mod wire;

pub use group_metadata::{GroupMetadataValue, MemberMetadataValue};
pub use offset_commit::OffsetCommitValue;

use bytes::Bytes;
use wire::{Reader, Writer};

/// Why a `__consumer_offsets` key or value could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("record truncated while reading {field}")]
    Truncated { field: &'static str },
    #[error("malformed {field}: {reason}")]
    Malformed {
        field: &'static str,
        reason: &'static str,
    },
    #[error("unsupported {schema} version {version}")]
    UnsupportedVersion { schema: &'static str, version: i16 },
}

/// A decoded `__consumer_offsets` record key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordKey {
    /// Key version 0/1: a committed offset of one partition for one group.
    OffsetCommit {
        group: String,
        topic: String,
        partition: i32,
    },
    /// Key version 2: the membership/generation metadata of one group.
    GroupMetadata { group: String },
    /// Key versions 3 and 5-8: a KIP-848 consumer group's records.
    Consumer(consumer_group::ConsumerKey),
    /// Any other key version: a record type this coordinator does not own.
    Other { version: i16 },
}

/// Key version Kafka writes for offset commits.
const OFFSET_COMMIT_KEY_VERSION: i16 = 1;
/// Key version of group metadata.
const GROUP_METADATA_KEY_VERSION: i16 = 2;

impl RecordKey {
    pub fn decode(buf: Bytes) -> Result<Self, RecordError> {
        let mut r = Reader::new(buf);
        let version = r.i16("key version")?;
        match version {
            0 | 1 => Ok(Self::OffsetCommit {
                group: r.string(false, "OffsetCommitKey.group")?,
                topic: r.string(false, "OffsetCommitKey.topic")?,
                partition: r.i32("OffsetCommitKey.partition")?,
            }),
            2 => Ok(Self::GroupMetadata {
                group: r.string(false, "GroupMetadataKey.group")?,
            }),
            version if version > 2 => Ok(
                match consumer_group::ConsumerKey::decode(version, &mut r)? {
                    Some(key) => Self::Consumer(key),
                    None => Self::Other { version },
                },
            ),
            version => Err(RecordError::UnsupportedVersion {
                schema: "record key",
                version,
            }),
        }
    }

    /// The key bytes; `Other` keys are never written by this coordinator.
    pub fn encode(&self) -> Bytes {
        match self {
            Self::OffsetCommit {
                group,
                topic,
                partition,
            } => {
                let mut w = Writer::new(OFFSET_COMMIT_KEY_VERSION, false);
                w.string(group);
                w.string(topic);
                w.i32(*partition);
                w.finish()
            }
            Self::GroupMetadata { group } => {
                let mut w = Writer::new(GROUP_METADATA_KEY_VERSION, false);
                w.string(group);
                w.finish()
            }
            Self::Consumer(key) => key.encode(),
            Self::Other { version } => Writer::new(*version, false).finish(),
        }
    }

    pub fn offset_commit(group: &str, topic: &str, partition: i32) -> Self {
        Self::OffsetCommit {
            group: group.to_owned(),
            topic: topic.to_owned(),
            partition,
        }
    }

    pub fn group_metadata(group: &str) -> Self {
        Self::GroupMetadata {
            group: group.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests;
