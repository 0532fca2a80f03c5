//! The two rebalance phases (Kafka's `prepareRebalance`, `InitialDelayedJoin`,
//! `DelayedJoin`/`onCompleteJoin` and the pending-sync expiry): when the join phase
//! starts, when it completes, and what a generation change does to members.

use super::responses::{join_success, sync_error};
use super::{Core, Effect, Timer};
use crate::group::GroupState;
use kafka_protocol::ResponseError;

impl Core {
    /// Starts a rebalance unless one is already preparing.
    pub(crate) fn maybe_prepare_rebalance(&mut self, group_id: &str, now_ms: u64) {
        let can = self.groups.get(group_id).is_some_and(|g| {
            matches!(
                g.state,
                GroupState::Stable | GroupState::CompletingRebalance | GroupState::Empty
            )
        });
        if can {
            self.prepare_rebalance(group_id, now_ms);
        }
    }

    fn prepare_rebalance(&mut self, group_id: &str, now_ms: u64) {
        let token = self.token();
        let initial_delay = self.config.initial_rebalance_delay_ms;
        let Some(group) = self.groups.get_mut(group_id) else {
            return;
        };
        if group.is(GroupState::CompletingRebalance) {
            // Parked SyncGroups belong to a generation that will never be assigned.
            for member in group.members.values_mut() {
                member.assignment = bytes::Bytes::new();
                if member.awaiting_sync {
                    member.awaiting_sync = false;
                    self.effects.push(Effect::Sync {
                        group: group_id.to_owned(),
                        member_id: member.member_id.clone(),
                        response: sync_error(ResponseError::RebalanceInProgress),
                    });
                }
            }
        }
        group.sync_timer = None;
        group.pending_sync.clear();
        let delay = if group.is(GroupState::Empty) {
            // A new group waits for more members, extending while they keep coming,
            // but never beyond the largest rebalance timeout.
            group.initial_delay_remaining_ms = Some(
                group
                    .max_rebalance_timeout_ms()
                    .saturating_sub(initial_delay),
            );
            group.new_member_added = false;
            initial_delay
        } else {
            group.initial_delay_remaining_ms = None;
            group.max_rebalance_timeout_ms()
        };
        group.join_timer = Some(token);
        group.transition(GroupState::PreparingRebalance, now_ms as i64);
        tracing::info!(
            group = group_id,
            generation = group.generation_id,
            "preparing to rebalance"
        );
        self.arm(group_id, Timer::Join { token }, now_ms + delay);
        // Kafka's tryCompleteElseWatch: with every member already joined (or none
        // left) the join phase completes at once.
        self.maybe_complete_join(group_id, now_ms);
    }

    /// Completes the join phase early once every member has rejoined (not while an
    /// initial delay is running: that delay exists to wait for more members).
    pub(crate) fn maybe_complete_join(&mut self, group_id: &str, now_ms: u64) {
        let ready = self.groups.get(group_id).is_some_and(|g| {
            g.is(GroupState::PreparingRebalance)
                && g.initial_delay_remaining_ms.is_none()
                && g.all_members_joined()
        });
        if ready {
            self.complete_join(group_id, now_ms);
        }
    }

    /// The join timer fired: extend an initial delay, or complete the join phase.
    pub(crate) fn on_join_timer(&mut self, group_id: &str, token: u64, now_ms: u64) {
        let initial_delay = self.config.initial_rebalance_delay_ms;
        let next_token = self.next_token + 1;
        let Some(group) = self.groups.get_mut(group_id) else {
            return;
        };
        if group.join_timer != Some(token) || !group.is(GroupState::PreparingRebalance) {
            return;
        }
        if let Some(remaining) = group.initial_delay_remaining_ms
            && group.new_member_added
            && remaining > 0
        {
            let delay = initial_delay.min(remaining);
            group.initial_delay_remaining_ms = Some(remaining - delay);
            group.new_member_added = false;
            group.join_timer = Some(next_token);
            self.next_token = next_token;
            self.arm(group_id, Timer::Join { token: next_token }, now_ms + delay);
            return;
        }
        group.initial_delay_remaining_ms = None;
        self.complete_join(group_id, now_ms);
    }

    /// Kafka's `onCompleteJoin`: drop dynamic members that did not rejoin, make sure
    /// the leader is a joined member, start the next generation and answer the
    /// parked joins.
    fn complete_join(&mut self, group_id: &str, now_ms: u64) {
        let Some(group) = self.groups.get_mut(group_id) else {
            return;
        };
        group.join_timer = None;
        let gone: Vec<String> = group
            .members
            .values()
            .filter(|m| !m.awaiting_join && m.group_instance_id.is_none())
            .map(|m| m.member_id.clone())
            .collect();
        for member_id in &gone {
            group.remove_member(member_id);
        }
        // Kafka's maybeElectNewJoinedLeader.
        let leader_joined = group
            .leader_id
            .as_ref()
            .and_then(|l| group.members.get(l))
            .is_some_and(|m| m.awaiting_join);
        if !leader_joined {
            let joined = group
                .members
                .values()
                .find(|m| m.awaiting_join)
                .map(|m| m.member_id.clone());
            match joined {
                Some(id) => group.leader_id = Some(id),
                None if !group.members.is_empty() => {
                    // Only static members that have not rejoined are left: wait another
                    // rebalance timeout for them (or for their sessions to expire). At
                    // least the minimum session timeout, so a zero rebalance timeout
                    // cannot make the timer task spin.
                    let token = self.next_token + 1;
                    self.next_token = token;
                    group.join_timer = Some(token);
                    let floor = u64::try_from(self.config.min_session_timeout_ms)
                        .unwrap_or(0)
                        .max(1);
                    let deadline = now_ms + group.max_rebalance_timeout_ms().max(floor);
                    self.arm(group_id, Timer::Join { token }, deadline);
                    return;
                }
                None => {}
            }
        }
        group.generation_id += 1;
        if group.members.is_empty() {
            group.protocol_name = None;
            group.leader_id = None;
            group.transition(GroupState::Empty, now_ms as i64);
            tracing::info!(
                group = group_id,
                generation = group.generation_id,
                "group is empty"
            );
            self.store_group(group_id);
            return;
        }
        group.protocol_name = group.select_protocol();
        group.transition(GroupState::CompletingRebalance, now_ms as i64);
        tracing::info!(
            group = group_id,
            generation = group.generation_id,
            members = group.members.len(),
            "join phase complete"
        );
        let mut effects = Vec::new();
        let mut timers = Vec::new();
        let mut token = self.next_token;
        let snapshot = group.clone();
        group.pending_sync = group.members.keys().cloned().collect();
        for member in group.members.values_mut() {
            if member.awaiting_join {
                effects.push(Effect::Join {
                    group: group_id.to_owned(),
                    member_id: member.member_id.clone(),
                    response: join_success(
                        &snapshot,
                        &member.member_id,
                        member.join_version,
                        false,
                    ),
                });
                member.awaiting_join = false;
            }
            member.is_new = false;
            token += 1;
            member.timer_token = token;
            member.session_deadline_ms = now_ms + member.session_timeout_ms.max(0) as u64;
            timers.push((
                Timer::Session {
                    member_id: member.member_id.clone(),
                    token,
                },
                member.session_deadline_ms,
            ));
        }
        token += 1;
        group.sync_timer = Some(token);
        timers.push((
            Timer::Sync { token },
            now_ms + group.max_rebalance_timeout_ms(),
        ));
        self.next_token = token;
        self.effects.extend(effects);
        for (timer, deadline) in timers {
            self.arm(group_id, timer, deadline);
        }
    }

    /// The sync timer fired: members of this generation that never sent SyncGroup
    /// are removed and the group rebalances without them.
    pub(crate) fn on_sync_timer(&mut self, group_id: &str, token: u64, now_ms: u64) {
        let Some(group) = self.groups.get_mut(group_id) else {
            return;
        };
        if group.sync_timer != Some(token) {
            return;
        }
        group.sync_timer = None;
        if !matches!(
            group.state,
            GroupState::CompletingRebalance | GroupState::Stable
        ) || group.pending_sync.is_empty()
        {
            return;
        }
        let late: Vec<String> = group.pending_sync.drain().collect();
        tracing::info!(group = group_id, members = ?late, "removing members that never sent SyncGroup");
        for member_id in &late {
            self.remove_member_and_update(group_id, member_id, now_ms);
        }
    }
}
