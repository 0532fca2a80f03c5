//! Kafka's KIP-848 consumer group records in `__consumer_offsets` (the
//! group-coordinator module's `ConsumerGroup*Key/Value` schemas): key versions 3
//! (group metadata: the group epoch), 5 (member metadata), 6 (target assignment
//! metadata: its epoch), 7 (one member's target assignment) and 8 (one member's
//! current assignment). Keys are non-flexible; values are version 0, flexible.
//! Key 4 (subscribed topic metadata) is not written: the coordinator reads topic
//! metadata afresh after a load (which bumps the group epoch once).

use std::collections::BTreeSet;

use bytes::Bytes;

use super::RecordError;
use super::wire::{Reader, Writer};
use crate::consumer::{Assignment, ConsumerMember, MemberState};

const GROUP_METADATA: i16 = 3;
const MEMBER_METADATA: i16 = 5;
const TARGET_METADATA: i16 = 6;
const TARGET_MEMBER: i16 = 7;
const CURRENT_ASSIGNMENT: i16 = 8;

/// A consumer group record key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ConsumerKey {
    GroupMetadata { group: String },
    MemberMetadata { group: String, member: String },
    TargetMetadata { group: String },
    TargetMember { group: String, member: String },
    CurrentAssignment { group: String, member: String },
}

impl ConsumerKey {
    /// The key after its version; `None` for a version that is not a consumer group's.
    pub(super) fn decode(version: i16, r: &mut Reader) -> Result<Option<Self>, RecordError> {
        let group = |r: &mut Reader| r.string(false, "ConsumerGroupKey.GroupId");
        let member = |r: &mut Reader| r.string(false, "ConsumerGroupKey.MemberId");
        Ok(Some(match version {
            GROUP_METADATA => Self::GroupMetadata { group: group(r)? },
            MEMBER_METADATA => Self::MemberMetadata {
                group: group(r)?,
                member: member(r)?,
            },
            TARGET_METADATA => Self::TargetMetadata { group: group(r)? },
            TARGET_MEMBER => Self::TargetMember {
                group: group(r)?,
                member: member(r)?,
            },
            CURRENT_ASSIGNMENT => Self::CurrentAssignment {
                group: group(r)?,
                member: member(r)?,
            },
            _ => return Ok(None),
        }))
    }

    pub fn group(&self) -> &str {
        match self {
            Self::GroupMetadata { group }
            | Self::MemberMetadata { group, .. }
            | Self::TargetMetadata { group }
            | Self::TargetMember { group, .. }
            | Self::CurrentAssignment { group, .. } => group,
        }
    }

    pub(super) fn encode(&self) -> Bytes {
        let (version, member) = match self {
            Self::GroupMetadata { .. } => (GROUP_METADATA, None),
            Self::MemberMetadata { member, .. } => (MEMBER_METADATA, Some(member)),
            Self::TargetMetadata { .. } => (TARGET_METADATA, None),
            Self::TargetMember { member, .. } => (TARGET_MEMBER, Some(member)),
            Self::CurrentAssignment { member, .. } => (CURRENT_ASSIGNMENT, Some(member)),
        };
        let mut w = Writer::new(version, false);
        w.string(self.group());
        if let Some(member) = member {
            w.string(member);
        }
        w.finish()
    }
}

/// Value of key 3 (`ConsumerGroupMetadataValue`) or 6
/// (`ConsumerGroupTargetAssignmentMetadataValue`): one epoch.
pub fn encode_epoch(epoch: i32) -> Bytes {
    let mut w = Writer::new(0, true);
    w.i32(epoch);
    w.no_tagged_fields();
    w.finish()
}

pub fn decode_epoch(buf: Bytes) -> Result<i32, RecordError> {
    let mut r = Reader::new(buf);
    r.i16("epoch value version")?;
    let epoch = r.i32("Epoch")?;
    r.skip_tagged_fields("epoch value tags")?;
    Ok(epoch)
}

/// `ConsumerGroupMemberMetadataValue`.
pub fn encode_member_metadata(m: &ConsumerMember) -> Bytes {
    let mut w = Writer::new(0, true);
    w.nullable_string(m.instance_id.as_deref());
    w.nullable_string(m.rack_id.as_deref());
    w.string(&m.client_id);
    w.string(&m.client_host);
    w.array_len(m.subscribed_topic_names.len());
    for t in &m.subscribed_topic_names {
        w.string(t);
    }
    w.nullable_string(None);
    w.i32(m.rebalance_timeout_ms);
    w.nullable_string(m.server_assignor.as_deref());
    w.no_tagged_fields();
    w.finish()
}

/// Fills `m`'s metadata fields from a `ConsumerGroupMemberMetadataValue`.
pub fn decode_member_metadata(buf: Bytes, m: &mut ConsumerMember) -> Result<(), RecordError> {
    let mut r = Reader::new(buf);
    r.i16("MemberMetadataValue version")?;
    m.instance_id = r.nullable_string(true, "InstanceId")?;
    m.rack_id = r.nullable_string(true, "RackId")?;
    m.client_id = r.string(true, "ClientId")?;
    m.client_host = r.string(true, "ClientHost")?;
    let n = r.array_len(true, "SubscribedTopicNames")?;
    m.subscribed_topic_names = (0..n)
        .map(|_| r.string(true, "SubscribedTopicNames"))
        .collect::<Result<_, _>>()?;
    r.nullable_string(true, "SubscribedTopicRegex")?;
    m.rebalance_timeout_ms = r.i32("RebalanceTimeoutMs")?;
    m.server_assignor = r.nullable_string(true, "ServerAssignor")?;
    r.skip_tagged_fields("MemberMetadataValue tags")
}

fn write_partitions(w: &mut Writer, a: &Assignment) {
    let topics: Vec<_> = crate::consumer::topic_partitions(a).collect();
    w.array_len(topics.len());
    for (id, partitions) in topics {
        w.uuid(id);
        w.array_len(partitions.len());
        for p in partitions {
            w.i32(p);
        }
        w.no_tagged_fields();
    }
}

fn read_partitions(r: &mut Reader, what: &'static str) -> Result<Assignment, RecordError> {
    let n = r.array_len(true, what)?;
    let mut out = Assignment::new();
    for _ in 0..n {
        let id = r.uuid("TopicId")?;
        let count = r.array_len(true, "Partitions")?;
        let partitions: BTreeSet<i32> = (0..count)
            .map(|_| r.i32("Partitions"))
            .collect::<Result<_, _>>()?;
        r.skip_tagged_fields("TopicPartitions tags")?;
        out.entry(id).or_default().extend(partitions);
    }
    Ok(out)
}

/// `ConsumerGroupTargetAssignmentMemberValue`.
pub fn encode_target(a: &Assignment) -> Bytes {
    let mut w = Writer::new(0, true);
    write_partitions(&mut w, a);
    w.no_tagged_fields();
    w.finish()
}

pub fn decode_target(buf: Bytes) -> Result<Assignment, RecordError> {
    let mut r = Reader::new(buf);
    r.i16("TargetAssignmentMemberValue version")?;
    let a = read_partitions(&mut r, "TopicPartitions")?;
    r.skip_tagged_fields("TargetAssignmentMemberValue tags")?;
    Ok(a)
}

fn state_code(s: MemberState) -> i8 {
    match s {
        MemberState::Stable => 1,
        MemberState::UnrevokedPartitions => 2,
        MemberState::UnreleasedPartitions => 3,
    }
}

/// `ConsumerGroupCurrentMemberAssignmentValue`; Kafka's `MemberState` values
/// (1 stable, 2 unrevoked partitions, 3 unreleased partitions).
pub fn encode_current(m: &ConsumerMember) -> Bytes {
    let mut w = Writer::new(0, true);
    w.i32(m.member_epoch);
    w.i32(m.previous_member_epoch);
    w.i8(state_code(m.state));
    write_partitions(&mut w, &m.assigned);
    write_partitions(&mut w, &m.pending_revocation);
    w.no_tagged_fields();
    w.finish()
}

/// Fills `m`'s epochs, state and assignment from a `ConsumerGroupCurrentMemberAssignmentValue`.
pub fn decode_current(buf: Bytes, m: &mut ConsumerMember) -> Result<(), RecordError> {
    let mut r = Reader::new(buf);
    r.i16("CurrentMemberAssignmentValue version")?;
    m.member_epoch = r.i32("MemberEpoch")?;
    m.previous_member_epoch = r.i32("PreviousMemberEpoch")?;
    m.state = match r.i8("State")? {
        2 => MemberState::UnrevokedPartitions,
        3 => MemberState::UnreleasedPartitions,
        _ => MemberState::Stable,
    };
    m.assigned = read_partitions(&mut r, "AssignedPartitions")?;
    m.pending_revocation = read_partitions(&mut r, "PartitionsPendingRevocation")?;
    r.skip_tagged_fields("CurrentMemberAssignmentValue tags")
}
