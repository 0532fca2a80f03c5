//! ListGroups, DescribeGroups, DeleteGroups and OffsetDelete: the admin view of
//! groups, as `kafka-consumer-groups.sh` and AdminClient use it.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::{
    DeleteGroupsResponse, DescribeGroupsResponse, GroupId, ListGroupsResponse, OffsetDeleteRequest,
    OffsetDeleteResponse,
};

use super::responses::{error_code, str_bytes};
use super::{AfterPersist, Core};
use crate::backend::OffsetsRecord;
use crate::group::{CONSUMER_PROTOCOL_TYPE, GroupState};
use crate::records::RecordKey;

/// The group type every classic group reports (KIP-848's `GroupType.CLASSIC`).
const CLASSIC_GROUP_TYPE: &str = "classic";
/// The group type of a KIP-848 consumer group.
const CONSUMER_GROUP_TYPE: &str = "consumer";

impl Core {
    /// ListGroups: the groups of owned partitions only (each broker lists its own,
    /// AdminClient asks every broker); COORDINATOR_LOAD_IN_PROGRESS while any
    /// partition is being replayed, as Kafka answers.
    pub fn list_groups(
        &self,
        states_filter: &[String],
        types_filter: &[String],
    ) -> ListGroupsResponse {
        if !self.loading.is_empty() {
            return ListGroupsResponse::default()
                .with_error_code(ResponseError::CoordinatorLoadInProgress.code());
        }
        let states: Vec<Option<GroupState>> =
            states_filter.iter().map(|s| GroupState::parse(s)).collect();
        let type_ok = |group_type: &str| {
            types_filter.is_empty()
                || types_filter
                    .iter()
                    .any(|t| t.eq_ignore_ascii_case(group_type))
        };
        let state_ok = |g: &crate::group::Group, state: &str| match &g.consumer {
            None => states.is_empty() || states.contains(&Some(g.state)),
            Some(_) => {
                states_filter.is_empty()
                    || states_filter.iter().any(|s| s.eq_ignore_ascii_case(state))
            }
        };
        let mut groups: Vec<ListedGroup> = self
            .groups
            .values()
            .filter(|g| !g.is(GroupState::Dead))
            // Only groups this coordinator leads: another broker lists the rest.
            .filter(|g| self.owns_partition(self.partition_for(&g.group_id)))
            .filter_map(|g| {
                let (group_type, state) = match &g.consumer {
                    Some(c) => (CONSUMER_GROUP_TYPE, c.state_name()),
                    None => (CLASSIC_GROUP_TYPE, g.state.as_str()),
                };
                (type_ok(group_type) && state_ok(g, state)).then(|| {
                    ListedGroup::default()
                        .with_group_id(GroupId(str_bytes(&g.group_id)))
                        .with_protocol_type(str_bytes(
                            g.protocol_type.as_deref().unwrap_or_default(),
                        ))
                        .with_group_state(str_bytes(state))
                        .with_group_type(str_bytes(group_type))
                })
            })
            .collect();
        groups.sort_by(|a, b| a.group_id.as_str().cmp(b.group_id.as_str()));
        ListGroupsResponse::default().with_groups(groups)
    }

    /// DescribeGroups. `authorized_operations` stays Kafka's "not requested" value:
    /// the broker's API layer fills it in, as Kafka's does.
    pub fn describe_groups(&self, group_ids: &[GroupId], version: i16) -> DescribeGroupsResponse {
        let groups = group_ids
            .iter()
            .map(|id| self.describe_group(id, version))
            .collect();
        DescribeGroupsResponse::default().with_groups(groups)
    }

    fn describe_group(&self, id: &GroupId, version: i16) -> DescribedGroup {
        let base = DescribedGroup::default().with_group_id(id.clone());
        if let Err(error) = self.check_coordinator(id.as_str()) {
            return base.with_error_code(error.code());
        }
        let Some(group) = self
            .groups
            .get(id.as_str())
            .filter(|g| !g.is(GroupState::Dead) && g.consumer.is_none())
        else {
            if version >= 6 {
                // KIP-1043: v6 reports a missing group as an error.
                return base
                    .with_error_code(ResponseError::GroupIdNotFound.code())
                    .with_error_message(Some(str_bytes(&format!(
                        "Group {} not found.",
                        id.as_str()
                    ))))
                    .with_group_state(str_bytes(GroupState::Dead.as_str()));
            }
            return base.with_group_state(str_bytes(GroupState::Dead.as_str()));
        };
        // Kafka's `summary`: metadata and assignments only once the group is Stable.
        let stable = group.is(GroupState::Stable);
        let protocol = group.protocol_name.clone().unwrap_or_default();
        let members = group
            .members
            .values()
            .map(|m| {
                DescribedGroupMember::default()
                    .with_member_id(str_bytes(&m.member_id))
                    .with_group_instance_id(if version >= 4 {
                        m.group_instance_id.as_deref().map(str_bytes)
                    } else {
                        None
                    })
                    .with_client_id(str_bytes(&m.client_id))
                    .with_client_host(str_bytes(&m.client_host))
                    .with_member_metadata(if stable {
                        m.metadata(&protocol).cloned().unwrap_or_default()
                    } else {
                        Default::default()
                    })
                    .with_member_assignment(if stable {
                        m.assignment.clone()
                    } else {
                        Default::default()
                    })
            })
            .collect();
        base.with_group_state(str_bytes(group.state.as_str()))
            .with_protocol_type(str_bytes(
                group.protocol_type.as_deref().unwrap_or_default(),
            ))
            .with_protocol_data(str_bytes(if stable { &protocol } else { "" }))
            .with_members(members)
    }

    /// DeleteGroups: only Empty groups; their offsets and metadata get tombstones.
    pub fn delete_groups(&mut self, group_ids: &[GroupId]) -> DeleteGroupsResponse {
        let results = group_ids
            .iter()
            .map(|id| {
                let error = error_code(self.delete_group(id.as_str()));
                DeletableGroupResult::default()
                    .with_group_id(id.clone())
                    .with_error_code(error)
            })
            .collect();
        DeleteGroupsResponse::default().with_results(results)
    }

    fn delete_group(&mut self, group_id: &str) -> Result<(), ResponseError> {
        self.check_coordinator(group_id)?;
        let Some(group) = self.groups.get(group_id) else {
            return Err(ResponseError::GroupIdNotFound);
        };
        if group.has_consumer_members() {
            return Err(ResponseError::NonEmptyGroup);
        }
        match group.state {
            GroupState::Dead => return Err(ResponseError::GroupIdNotFound),
            GroupState::Empty => {}
            _ => return Err(ResponseError::NonEmptyGroup),
        }
        let mut records: Vec<OffsetsRecord> = group
            .offsets
            .keys()
            .map(|(topic, p)| (RecordKey::offset_commit(group_id, topic, *p).encode(), None))
            .collect();
        records.push((RecordKey::group_metadata(group_id).encode(), None));
        if let Some(consumer) = &group.consumer {
            records.extend(super::consumer_store::tombstones(group_id, consumer));
        }
        self.groups.remove(group_id);
        tracing::info!(group = group_id, "group deleted");
        self.persist(group_id, records, AfterPersist::Nothing);
        Ok(())
    }

    /// OffsetDelete: an Empty group's offsets, or a consumer group's offsets for
    /// topics it does not subscribe to (GROUP_SUBSCRIBED_TO_TOPIC otherwise).
    pub fn offset_delete(
        &mut self,
        req: &OffsetDeleteRequest,
        exists: &dyn Fn(&str, i32) -> bool,
    ) -> OffsetDeleteResponse {
        let group_id = req.group_id.as_str();
        let top =
            |error: ResponseError| OffsetDeleteResponse::default().with_error_code(error.code());
        if group_id.is_empty() {
            return top(ResponseError::InvalidGroupId);
        }
        if let Err(error) = self.check_coordinator(group_id) {
            return top(error);
        }
        let Some(group) = self.groups.get_mut(group_id) else {
            return top(ResponseError::GroupIdNotFound);
        };
        let subscribed = match group.state {
            GroupState::Dead => return top(ResponseError::GroupIdNotFound),
            GroupState::Empty => None,
            _ if group.protocol_type.as_deref() == Some(CONSUMER_PROTOCOL_TYPE) => {
                Some(group.subscribed_topics())
            }
            _ => return top(ResponseError::NonEmptyGroup),
        };
        let mut records: Vec<OffsetsRecord> = Vec::new();
        let mut topics = Vec::with_capacity(req.topics.len());
        for topic in &req.topics {
            let name = topic.name.as_str();
            let protected = subscribed
                .as_ref()
                .is_some_and(|s| s.as_ref().is_some_and(|s| s.contains(name)));
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    let checked = if !exists(name, p.partition_index) {
                        Err(ResponseError::UnknownTopicOrPartition)
                    } else if protected {
                        Err(ResponseError::GroupSubscribedToTopic)
                    } else {
                        if group
                            .offsets
                            .remove(&(name.to_owned(), p.partition_index))
                            .is_some()
                        {
                            records.push((
                                RecordKey::offset_commit(group_id, name, p.partition_index)
                                    .encode(),
                                None,
                            ));
                        }
                        Ok(())
                    };
                    OffsetDeleteResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(error_code(checked))
                })
                .collect();
            topics.push(
                OffsetDeleteResponseTopic::default()
                    .with_name(topic.name.clone())
                    .with_partitions(partitions),
            );
        }
        let group_id = group_id.to_owned();
        if self.drop_if_unused(&group_id) {
            records.push((RecordKey::group_metadata(&group_id).encode(), None));
        }
        self.persist(&group_id, records, AfterPersist::Nothing);
        OffsetDeleteResponse::default().with_topics(topics)
    }
}
