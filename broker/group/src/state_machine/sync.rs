//! SyncGroup (Kafka's `classicGroupSync`): members collect their assignment; the
//! leader's assignment is persisted before anyone is answered, and the group turns
//! Stable once it is stored.

use std::collections::HashMap;

use bytes::Bytes;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::SyncGroupResponse;

use super::join::validate_member;
use super::responses::{sync_error, sync_success};
use super::{AfterPersist, Core, Effect, Reply, store_group_error};
use crate::group::GroupState;
use crate::records::RecordKey;

/// A SyncGroup request, flattened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncArgs {
    pub group_id: String,
    pub generation_id: i32,
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignments: Vec<(String, Bytes)>,
}

impl Core {
    pub fn sync(&mut self, args: SyncArgs, now_ms: u64) -> Reply<SyncGroupResponse> {
        let fail = |error: ResponseError| Reply::Now(sync_error(error));
        if args.group_id.is_empty() {
            return fail(ResponseError::InvalidGroupId);
        }
        if let Err(error) = self.check_coordinator(&args.group_id) {
            return fail(error);
        }
        let Some(group) = self.groups.get_mut(&args.group_id) else {
            return fail(ResponseError::UnknownMemberId);
        };
        if group.is(GroupState::Dead) {
            return fail(ResponseError::CoordinatorNotAvailable);
        }
        if let Err(error) =
            validate_member(group, &args.member_id, args.group_instance_id.as_deref())
        {
            return fail(error);
        }
        if args.generation_id != group.generation_id {
            return fail(ResponseError::IllegalGeneration);
        }
        let type_mismatch = args
            .protocol_type
            .as_ref()
            .is_some_and(|t| group.protocol_type.as_ref() != Some(t));
        let name_mismatch = args
            .protocol_name
            .as_ref()
            .is_some_and(|n| group.protocol_name.as_ref() != Some(n));
        if type_mismatch || name_mismatch {
            return fail(ResponseError::InconsistentGroupProtocol);
        }
        match group.state {
            GroupState::Empty | GroupState::Dead => fail(ResponseError::UnknownMemberId),
            GroupState::PreparingRebalance => fail(ResponseError::RebalanceInProgress),
            GroupState::Stable => {
                group.pending_sync.remove(&args.member_id);
                let Some(member) = group.members.get_mut(&args.member_id) else {
                    return fail(ResponseError::UnknownMemberId);
                };
                member.session_deadline_ms = now_ms + member.session_timeout_ms.max(0) as u64;
                let assignment = member.assignment.clone();
                Reply::Now(sync_success(group, assignment))
            }
            GroupState::CompletingRebalance => {
                group.pending_sync.remove(&args.member_id);
                let Some(member) = group.members.get_mut(&args.member_id) else {
                    return fail(ResponseError::UnknownMemberId);
                };
                member.awaiting_sync = true;
                member.session_deadline_ms = now_ms + member.session_timeout_ms.max(0) as u64;
                if group.is_leader(&args.member_id) {
                    // Members the leader left out get an empty assignment, as in Kafka.
                    let mut assignment: HashMap<String, Bytes> = group
                        .members
                        .keys()
                        .map(|id| (id.clone(), Bytes::new()))
                        .collect();
                    for (member_id, bytes) in args.assignments {
                        if let Some(slot) = assignment.get_mut(&member_id) {
                            *slot = bytes;
                        }
                    }
                    let mut value = group.metadata_value();
                    for m in &mut value.members {
                        m.assignment = assignment.get(&m.member_id).cloned().unwrap_or_default();
                    }
                    let record = (
                        RecordKey::group_metadata(&args.group_id).encode(),
                        Some(value.encode()),
                    );
                    let then = AfterPersist::Assignment {
                        group: args.group_id.clone(),
                        generation: group.generation_id,
                        assignment,
                    };
                    self.persist(&args.group_id, vec![record], then);
                }
                Reply::Parked {
                    member_id: args.member_id,
                }
            }
        }
    }

    /// The result of an [`super::Effect::Persist`]. `result` is the backend's answer.
    pub fn on_persisted(
        &mut self,
        then: AfterPersist,
        result: Result<(), ResponseError>,
        now_ms: u64,
    ) {
        match then {
            AfterPersist::Nothing => {
                if let Err(error) = result {
                    tracing::warn!(error = %error, "writing to __consumer_offsets failed");
                }
            }
            AfterPersist::Assignment {
                group,
                generation,
                assignment,
            } => {
                self.on_assignment_stored(&group, generation, assignment, result, now_ms);
            }
            AfterPersist::StaticMemberReplaced(replacement) => {
                self.on_static_member_stored(*replacement, result);
            }
        }
    }

    fn on_assignment_stored(
        &mut self,
        group_id: &str,
        generation: i32,
        assignment: HashMap<String, Bytes>,
        result: Result<(), ResponseError>,
        now_ms: u64,
    ) {
        let Some(group) = self.groups.get_mut(group_id) else {
            return;
        };
        if group.generation_id != generation || !group.is(GroupState::CompletingRebalance) {
            return;
        }
        match result {
            Ok(()) => {
                for (member_id, bytes) in assignment {
                    if let Some(member) = group.members.get_mut(&member_id) {
                        member.assignment = bytes;
                    }
                }
                group.transition(GroupState::Stable, now_ms as i64);
                tracing::info!(group = group_id, generation, "group is stable");
                let snapshot = group.clone();
                for member in group.members.values_mut().filter(|m| m.awaiting_sync) {
                    member.awaiting_sync = false;
                    self.effects.push(Effect::Sync {
                        group: group_id.to_owned(),
                        member_id: member.member_id.clone(),
                        response: sync_success(&snapshot, member.assignment.clone()),
                    });
                }
            }
            Err(append_error) => {
                let error = store_group_error(append_error);
                tracing::warn!(
                    group = group_id,
                    append_error = %append_error,
                    "storing the assignment failed"
                );
                for member in group.members.values_mut() {
                    member.assignment = Bytes::new();
                    if member.awaiting_sync {
                        member.awaiting_sync = false;
                        self.effects.push(Effect::Sync {
                            group: group_id.to_owned(),
                            member_id: member.member_id.clone(),
                            response: sync_error(error),
                        });
                    }
                }
                self.maybe_prepare_rebalance(group_id, now_ms);
            }
        }
    }
}
