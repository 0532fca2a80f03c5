//! A consumer-protocol member's two deadlines: its session (no heartbeat for
//! `group.consumer.session.timeout.ms` removes it) and, while it holds partitions
//! it was told to revoke, its rebalance timeout (Kafka fences a member that does
//! not revoke in time, so the partitions' new owners are not blocked forever).

use super::{Core, Timer};
use crate::consumer::MemberState;

impl Core {
    pub(super) fn on_consumer_session_timer(
        &mut self,
        group_id: &str,
        member_id: &str,
        token: u64,
        now_ms: u64,
    ) {
        let expired = self
            .groups
            .get(group_id)
            .and_then(|g| g.consumer.as_ref())
            .and_then(|c| c.members.get(member_id))
            .is_some_and(|m| m.timer_token == token && m.session_deadline_ms <= now_ms);
        if expired {
            self.fence_consumer_member(group_id, member_id, "consumer session expired", now_ms);
        }
    }

    pub(super) fn on_consumer_revocation_timer(
        &mut self,
        group_id: &str,
        member_id: &str,
        token: u64,
        now_ms: u64,
    ) {
        let overdue = self
            .groups
            .get(group_id)
            .and_then(|g| g.consumer.as_ref())
            .and_then(|c| c.members.get(member_id))
            .is_some_and(|m| {
                m.revocation_token == token && m.state == MemberState::UnrevokedPartitions
            });
        if overdue {
            let why = "consumer member did not revoke its partitions within its rebalance timeout";
            self.fence_consumer_member(group_id, member_id, why, now_ms);
        }
    }

    fn fence_consumer_member(&mut self, group_id: &str, member_id: &str, why: &str, now_ms: u64) {
        tracing::info!(group = group_id, member = member_id, "{why}");
        let before = self.consumer_snapshot(group_id);
        self.remove_consumer_member(group_id, member_id, now_ms);
        self.store_consumer_group(group_id, &before);
    }

    /// Arms the rebalance timeout of a member that has just been asked to revoke.
    pub(super) fn arm_revocation(
        &mut self,
        group_id: &str,
        member_id: &str,
        timeout_ms: i32,
        now_ms: u64,
    ) -> u64 {
        let token = self.token();
        self.arm(
            group_id,
            Timer::ConsumerRevocation {
                member_id: member_id.to_owned(),
                token,
            },
            now_ms + timeout_ms.max(0) as u64,
        );
        token
    }
}
