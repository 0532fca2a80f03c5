//! JoinGroup/SyncGroup response building, shaped for the request version the way
//! Kafka's response constructors do (e.g. `""` instead of a null protocol name
//! before JoinGroup v7, no `group_instance_id` before v5).

use kafka_protocol::ResponseError;
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{JoinGroupResponse, SyncGroupResponse};
use kafka_protocol::protocol::StrBytes;

use crate::group::Group;

/// Kafka's NONE, the `error_code` of an answer without error.
pub(crate) const NO_ERROR: i16 = 0;

/// The `error_code` field for a check's outcome: NONE when it passed.
pub(crate) fn error_code(checked: Result<(), ResponseError>) -> i16 {
    checked.err().map_or(NO_ERROR, |error| error.code())
}

pub(crate) fn str_bytes(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_owned())
}

/// A JoinGroup error: generation -1, no protocol, no leader.
pub(crate) fn join_error(error: ResponseError, member_id: &str, version: i16) -> JoinGroupResponse {
    JoinGroupResponse::default()
        .with_error_code(error.code())
        .with_generation_id(-1)
        .with_protocol_name(if version < 7 {
            Some(StrBytes::new())
        } else {
            None
        })
        .with_member_id(str_bytes(member_id))
}

/// The JoinGroup answer for `member_id` in the group's current generation; the
/// leader gets every member's metadata for the selected protocol.
pub(crate) fn join_success(
    group: &Group,
    member_id: &str,
    version: i16,
    skip_assignment: bool,
) -> JoinGroupResponse {
    let protocol = group.protocol_name.clone().unwrap_or_default();
    let members = if group.is_leader(member_id) {
        group
            .members
            .values()
            .map(|m| {
                JoinGroupResponseMember::default()
                    .with_member_id(str_bytes(&m.member_id))
                    .with_group_instance_id(if version >= 5 {
                        m.group_instance_id.as_deref().map(str_bytes)
                    } else {
                        None
                    })
                    .with_metadata(m.metadata(&protocol).cloned().unwrap_or_default())
            })
            .collect()
    } else {
        Vec::new()
    };
    JoinGroupResponse::default()
        .with_generation_id(group.generation_id)
        .with_protocol_type(group.protocol_type.as_deref().map(str_bytes))
        .with_protocol_name(Some(str_bytes(&protocol)))
        .with_leader(str_bytes(group.leader_id.as_deref().unwrap_or_default()))
        .with_skip_assignment(skip_assignment && version >= 9)
        .with_member_id(str_bytes(member_id))
        .with_members(members)
}

pub(crate) fn sync_error(error: ResponseError) -> SyncGroupResponse {
    SyncGroupResponse::default().with_error_code(error.code())
}

pub(crate) fn sync_success(group: &Group, assignment: bytes::Bytes) -> SyncGroupResponse {
    SyncGroupResponse::default()
        .with_protocol_type(group.protocol_type.as_deref().map(str_bytes))
        .with_protocol_name(group.protocol_name.as_deref().map(str_bytes))
        .with_assignment(assignment)
}
