//! `GroupMetadataValue` (versions 0-4): a group's generation, protocol, leader and
//! members with their subscriptions and assignments.

use bytes::Bytes;

use super::RecordError;
use super::wire::{Reader, Writer};

/// Kafka's `GroupMetadataValue`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMetadataValue {
    pub protocol_type: String,
    pub generation: i32,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    /// Versions 2+; -1 when unknown. Drives offset expiry of Empty groups (KIP-211).
    pub current_state_timestamp: i64,
    pub members: Vec<MemberMetadataValue>,
}

/// Kafka's `GroupMetadataValue.MemberMetadata`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberMetadataValue {
    pub member_id: String,
    /// Versions 3+ (KIP-345 static membership).
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    /// Versions 1+; version 0 readers take the session timeout, as Kafka does.
    pub rebalance_timeout: i32,
    pub session_timeout: i32,
    /// The member's metadata for the group's selected protocol.
    pub subscription: Bytes,
    pub assignment: Bytes,
}

impl GroupMetadataValue {
    /// The version Kafka 2.3+ writes.
    pub const WRITE_VERSION: i16 = 3;

    pub fn encode(&self) -> Bytes {
        self.encode_version(Self::WRITE_VERSION)
    }

    /// Encodes at `version` (0-4); fields the version lacks are dropped.
    pub fn encode_version(&self, version: i16) -> Bytes {
        let flexible = version >= 4;
        let mut w = Writer::new(version, flexible);
        w.string(&self.protocol_type);
        w.i32(self.generation);
        w.nullable_string(self.protocol.as_deref());
        w.nullable_string(self.leader.as_deref());
        if version >= 2 {
            w.i64(self.current_state_timestamp);
        }
        w.array_len(self.members.len());
        for m in &self.members {
            w.string(&m.member_id);
            if version >= 3 {
                w.nullable_string(m.group_instance_id.as_deref());
            }
            w.string(&m.client_id);
            w.string(&m.client_host);
            if version >= 1 {
                w.i32(m.rebalance_timeout);
            }
            w.i32(m.session_timeout);
            w.bytes(&m.subscription);
            w.bytes(&m.assignment);
            w.no_tagged_fields();
        }
        w.no_tagged_fields();
        w.finish()
    }

    pub fn decode(buf: Bytes) -> Result<Self, RecordError> {
        let mut r = Reader::new(buf);
        let version = r.i16("GroupMetadataValue version")?;
        if !(0..=4).contains(&version) {
            return Err(RecordError::UnsupportedVersion {
                schema: "GroupMetadataValue",
                version,
            });
        }
        let flex = version >= 4;
        let protocol_type = r.string(flex, "GroupMetadataValue.protocolType")?;
        let generation = r.i32("GroupMetadataValue.generation")?;
        let protocol = r.nullable_string(flex, "GroupMetadataValue.protocol")?;
        let leader = r.nullable_string(flex, "GroupMetadataValue.leader")?;
        let current_state_timestamp = if version >= 2 {
            r.i64("GroupMetadataValue.currentStateTimestamp")?
        } else {
            -1
        };
        let count = r.array_len(flex, "GroupMetadataValue.members")?;
        let mut members = Vec::with_capacity(count);
        for _ in 0..count {
            let member_id = r.string(flex, "MemberMetadata.memberId")?;
            let group_instance_id = if version >= 3 {
                r.nullable_string(flex, "MemberMetadata.groupInstanceId")?
            } else {
                None
            };
            let client_id = r.string(flex, "MemberMetadata.clientId")?;
            let client_host = r.string(flex, "MemberMetadata.clientHost")?;
            let rebalance_timeout = if version >= 1 {
                Some(r.i32("MemberMetadata.rebalanceTimeout")?)
            } else {
                None
            };
            let session_timeout = r.i32("MemberMetadata.sessionTimeout")?;
            let subscription = r.bytes(flex, "MemberMetadata.subscription")?;
            let assignment = r.bytes(flex, "MemberMetadata.assignment")?;
            if flex {
                r.skip_tagged_fields("MemberMetadata tagged fields")?;
            }
            members.push(MemberMetadataValue {
                member_id,
                group_instance_id,
                client_id,
                client_host,
                rebalance_timeout: rebalance_timeout.unwrap_or(session_timeout),
                session_timeout,
                subscription,
                assignment,
            });
        }
        if flex {
            r.skip_tagged_fields("GroupMetadataValue tagged fields")?;
        }
        Ok(Self {
            protocol_type,
            generation,
            protocol,
            leader,
            current_state_timestamp,
            members,
        })
    }
}
