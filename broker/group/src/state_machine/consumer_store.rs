//! A consumer group's state in `__consumer_offsets` (Kafka's KIP-848 records):
//! written after every change, as the difference between the group before and
//! after (tombstones for members gone), and replayed when a coordinator loads the
//! partition, so a coordinator move keeps members, epochs and assignments.

use bytes::Bytes;

use super::{AfterPersist, Core, Timer};
use crate::backend::OffsetsRecord;
use crate::consumer::{ConsumerGroup, ConsumerMember};
use crate::records::RecordKey;
use crate::records::consumer_group::{
    ConsumerKey, decode_current, decode_epoch, decode_member_metadata, decode_target,
    encode_current, encode_epoch, encode_member_metadata, encode_target,
};

fn key(k: ConsumerKey) -> Bytes {
    RecordKey::Consumer(k).encode()
}

/// The records that take the stored group from `before` to `after`.
pub(super) fn changes(
    group_id: &str,
    before: &ConsumerGroup,
    after: &ConsumerGroup,
) -> Vec<OffsetsRecord> {
    let g = || group_id.to_owned();
    let mut records = Vec::new();
    for (id, m) in &after.members {
        let old = before.members.get(id);
        let member = || id.clone();
        let metadata_changed = old.is_none_or(|o| {
            (
                &o.instance_id,
                &o.rack_id,
                &o.client_id,
                &o.client_host,
                &o.subscribed_topic_names,
                o.rebalance_timeout_ms,
                &o.server_assignor,
            ) != (
                &m.instance_id,
                &m.rack_id,
                &m.client_id,
                &m.client_host,
                &m.subscribed_topic_names,
                m.rebalance_timeout_ms,
                &m.server_assignor,
            )
        });
        if metadata_changed {
            records.push((
                key(ConsumerKey::MemberMetadata {
                    group: g(),
                    member: member(),
                }),
                Some(encode_member_metadata(m)),
            ));
        }
        let current_changed = old.is_none_or(|o| {
            (
                o.member_epoch,
                o.previous_member_epoch,
                o.state,
                &o.assigned,
                &o.pending_revocation,
            ) != (
                m.member_epoch,
                m.previous_member_epoch,
                m.state,
                &m.assigned,
                &m.pending_revocation,
            )
        });
        if current_changed {
            records.push((
                key(ConsumerKey::CurrentAssignment {
                    group: g(),
                    member: member(),
                }),
                Some(encode_current(m)),
            ));
        }
    }
    for id in before
        .members
        .keys()
        .filter(|id| !after.members.contains_key(*id))
    {
        for k in [
            ConsumerKey::CurrentAssignment {
                group: g(),
                member: id.clone(),
            },
            ConsumerKey::TargetMember {
                group: g(),
                member: id.clone(),
            },
            ConsumerKey::MemberMetadata {
                group: g(),
                member: id.clone(),
            },
        ] {
            records.push((key(k), None));
        }
    }
    for (id, target) in &after.target {
        if before.target.get(id) != Some(target) {
            records.push((
                key(ConsumerKey::TargetMember {
                    group: g(),
                    member: id.clone(),
                }),
                Some(encode_target(target)),
            ));
        }
    }
    if before.assignment_epoch != after.assignment_epoch {
        records.push((
            key(ConsumerKey::TargetMetadata { group: g() }),
            Some(encode_epoch(after.assignment_epoch)),
        ));
    }
    if before.group_epoch != after.group_epoch {
        records.push((
            key(ConsumerKey::GroupMetadata { group: g() }),
            Some(encode_epoch(after.group_epoch)),
        ));
    }
    records
}

/// Tombstones of a consumer group's own keys (its offsets are the caller's).
pub(super) fn tombstones(group_id: &str, group: &ConsumerGroup) -> Vec<OffsetsRecord> {
    let mut records = changes(group_id, group, &ConsumerGroup::default());
    for k in [
        ConsumerKey::TargetMetadata {
            group: group_id.to_owned(),
        },
        ConsumerKey::GroupMetadata {
            group: group_id.to_owned(),
        },
    ] {
        records.push((key(k), None));
    }
    records
}

impl Core {
    /// The consumer group as it is now, to store what a change does to it.
    pub(super) fn consumer_snapshot(&self, group_id: &str) -> ConsumerGroup {
        self.groups
            .get(group_id)
            .and_then(|g| g.consumer.clone())
            .unwrap_or_default()
    }

    /// Persists what changed in `group_id`'s consumer group since `before`.
    pub(super) fn store_consumer_group(&mut self, group_id: &str, before: &ConsumerGroup) {
        let Some(after) = self.groups.get(group_id).and_then(|g| g.consumer.as_ref()) else {
            return;
        };
        let records = changes(group_id, before, after);
        self.persist(group_id, records, AfterPersist::Nothing);
    }

    /// Rebuilds a consumer group from its records in log order (`None` if its
    /// metadata was deleted or never written); members' sessions restart from now.
    pub(super) fn replay_consumer_group(
        &mut self,
        group_id: &str,
        records: Vec<(ConsumerKey, Option<Bytes>)>,
        now_ms: u64,
    ) -> Option<ConsumerGroup> {
        let mut group = ConsumerGroup::default();
        let mut exists = false;
        for (k, value) in records {
            if let Err(error) = apply(&mut group, &mut exists, k, value) {
                tracing::warn!(group = group_id, %error, "skipping undecodable consumer group record");
            }
        }
        if !exists {
            return None;
        }
        // Members with a current assignment but no metadata were removed.
        group
            .members
            .retain(|_, m| !m.client_id.is_empty() || !m.subscribed_topic_names.is_empty());
        let session = self.config.consumer_session_timeout_ms.max(0) as u64;
        let ids: Vec<String> = group.members.keys().cloned().collect();
        for id in ids {
            let token = self.token();
            if let Some(m) = group.members.get_mut(&id) {
                m.timer_token = token;
                m.session_deadline_ms = now_ms + session;
                if let Some(instance) = &m.instance_id {
                    group.static_members.insert(instance.clone(), id.clone());
                }
            }
            // A revocation in progress gets its rebalance timeout again from now.
            if let Some(m) = group.members.get(&id)
                && m.state == crate::consumer::MemberState::UnrevokedPartitions
            {
                let timeout = m.rebalance_timeout_ms;
                let revocation = self.arm_revocation(group_id, &id, timeout, now_ms);
                if let Some(m) = group.members.get_mut(&id) {
                    m.revocation_token = revocation;
                }
            }
            self.arm(
                group_id,
                Timer::ConsumerSession {
                    member_id: id,
                    token,
                },
                now_ms + session,
            );
        }
        Some(group)
    }
}

fn apply(
    group: &mut ConsumerGroup,
    exists: &mut bool,
    k: ConsumerKey,
    value: Option<Bytes>,
) -> Result<(), crate::records::RecordError> {
    match (k, value) {
        (ConsumerKey::GroupMetadata { .. }, Some(v)) => {
            group.group_epoch = decode_epoch(v)?;
            *exists = true;
        }
        (ConsumerKey::GroupMetadata { .. }, None) => {
            *group = ConsumerGroup::default();
            *exists = false;
        }
        (ConsumerKey::TargetMetadata { .. }, v) => {
            group.assignment_epoch = v.map(decode_epoch).transpose()?.unwrap_or(0);
        }
        (ConsumerKey::MemberMetadata { member, .. }, Some(v)) => {
            let m = group
                .members
                .entry(member.clone())
                .or_insert_with(|| ConsumerMember::new(member));
            decode_member_metadata(v, m)?;
        }
        (ConsumerKey::MemberMetadata { member, .. }, None) => {
            group.members.remove(&member);
        }
        (ConsumerKey::TargetMember { member, .. }, Some(v)) => {
            group.target.insert(member, decode_target(v)?);
        }
        (ConsumerKey::TargetMember { member, .. }, None) => {
            group.target.remove(&member);
        }
        (ConsumerKey::CurrentAssignment { member, .. }, Some(v)) => {
            let m = group
                .members
                .entry(member.clone())
                .or_insert_with(|| ConsumerMember::new(member));
            decode_current(v, m)?;
        }
        (ConsumerKey::CurrentAssignment { .. }, None) => {}
    }
    Ok(())
}
