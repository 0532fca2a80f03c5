//! The shell's machinery: the lock around the sans-IO [`Core`], parked JoinGroup /
//! SyncGroup responses, the timer wheel and the clock, and the one background task
//! that fires timers and sweeps expired offsets.

use std::collections::{BTreeMap, HashMap};
use std::sync::Weak;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{JoinGroupResponse, SyncGroupResponse};
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::GroupCoordinator;
use crate::backend::{OffsetsBackend, Replicated, settled_now};
use crate::config::OFFSETS_RETENTION_CHECK_INTERVAL_MS;

use crate::state_machine::{AfterPersist, Core, Effect, Timer};

/// Wall-clock milliseconds that advance with tokio's clock, so record timestamps are
/// real epoch times while tests can pause and advance time deterministically.
#[derive(Debug, Clone, Copy)]
pub(super) struct Clock {
    wall_base_ms: u64,
    base: Instant,
}

impl Clock {
    pub(super) fn new() -> Self {
        let wall_base_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        Self {
            wall_base_ms,
            base: Instant::now(),
        }
    }

    pub(super) fn now_ms(&self) -> u64 {
        self.wall_base_ms + self.base.elapsed().as_millis() as u64
    }

    fn instant_at(&self, ms: u64) -> Instant {
        self.base + Duration::from_millis(ms.saturating_sub(self.wall_base_ms))
    }
}

/// Everything behind the coordinator's lock.
pub(super) struct Inner {
    pub(super) core: Core,
    /// Parked JoinGroup calls by (group, member id), with the request version an
    /// error answer from the shell itself must be shaped for.
    pub(super) joins: HashMap<(String, String), (oneshot::Sender<JoinGroupResponse>, i16)>,
    /// Parked SyncGroup calls by (group, member id).
    pub(super) syncs: HashMap<(String, String), oneshot::Sender<SyncGroupResponse>>,
    /// Armed timers by (deadline ms, arm order).
    timers: BTreeMap<(u64, u64), (String, Timer)>,
    armed: u64,
    next_retention_check_ms: u64,
    /// Group writes appended but not replicated yet, with what to do once they
    /// are: the shell waits for each on a task (never under the lock), then feeds
    /// the result back to the core, as Kafka's `storeGroup` callback does.
    pub(super) replicating: Vec<(AfterPersist, Replicated)>,
}

impl Inner {
    pub(super) fn new(core: Core, now_ms: u64) -> Self {
        Self {
            core,
            joins: HashMap::new(),
            syncs: HashMap::new(),
            timers: BTreeMap::new(),
            armed: 0,
            next_retention_check_ms: now_ms + OFFSETS_RETENTION_CHECK_INTERVAL_MS,
            replicating: Vec::new(),
        }
    }

    /// Carries out queued effects until none are left: completes parked calls,
    /// appends records (feeding results back), and arms timers. Returns whether a
    /// timer was armed, so the driver re-plans its sleep.
    pub(super) fn run_effects(&mut self, backend: &dyn OffsetsBackend, clock: &Clock) -> bool {
        let mut armed = false;
        loop {
            let effects = self.core.take_effects();
            if effects.is_empty() {
                return armed;
            }
            for effect in effects {
                match effect {
                    Effect::Join {
                        group,
                        member_id,
                        response,
                    } => {
                        if let Some((tx, _)) = self.joins.remove(&(group, member_id)) {
                            let _ = tx.send(response);
                        }
                    }
                    Effect::Sync {
                        group,
                        member_id,
                        response,
                    } => {
                        if let Some(tx) = self.syncs.remove(&(group, member_id)) {
                            let _ = tx.send(response);
                        }
                    }
                    Effect::Persist {
                        partition,
                        records,
                        then,
                    } => {
                        let mut replicated = backend.append(partition, records);
                        match settled_now(&mut replicated) {
                            Some(result) => self.core.on_persisted(then, result, clock.now_ms()),
                            None => self.replicating.push((then, replicated)),
                        }
                    }
                    Effect::Arm {
                        group,
                        timer,
                        deadline_ms,
                    } => {
                        self.armed += 1;
                        self.timers
                            .insert((deadline_ms, self.armed), (group, timer));
                        armed = true;
                    }
                }
            }
        }
    }

    /// Fires every due timer and the offsets sweep; returns the next deadline.
    fn fire_due(&mut self, backend: &dyn OffsetsBackend, clock: &Clock) -> u64 {
        loop {
            let now = clock.now_ms();
            if now >= self.next_retention_check_ms {
                self.next_retention_check_ms = now + OFFSETS_RETENTION_CHECK_INTERVAL_MS;
                self.core.expire_offsets(now);
                self.run_effects(backend, clock);
                continue;
            }
            let due = self
                .timers
                .first_key_value()
                .is_some_and(|((deadline, _), _)| *deadline <= now);
            if !due {
                break;
            }
            if let Some((_, (group, timer))) = self.timers.pop_first() {
                self.core.on_timer(&group, timer, now);
                self.run_effects(backend, clock);
            }
        }
        let next_timer = self
            .timers
            .first_key_value()
            .map_or(u64::MAX, |((d, _), _)| *d);
        next_timer.min(self.next_retention_check_ms)
    }

    pub(super) fn clear_timers(&mut self) {
        self.timers.clear();
    }

    /// After a partition's groups left the core: cancels their timers and answers
    /// any call still parked for them with ResponseError::NotCoordinator. The core already queued
    /// those answers for members it knew were waiting; this catches the rest, since
    /// nothing would ever complete a call parked for a group that no longer exists.
    pub(super) fn forget_groups(&mut self, groups: &[String]) {
        if groups.is_empty() {
            return;
        }
        let gone = |group: &String| groups.binary_search(group).is_ok();
        self.timers.retain(|_, (group, _)| !gone(group));
        for ((_, member_id), (tx, version)) in self.joins.extract_if(|(g, _), _| gone(g)) {
            let _ = tx.send(crate::state_machine::join_error_response(
                ResponseError::NotCoordinator,
                &member_id,
                version,
            ));
        }
        for (_, tx) in self.syncs.extract_if(|(g, _), _| gone(g)) {
            let _ = tx.send(
                SyncGroupResponse::default().with_error_code(ResponseError::NotCoordinator.code()),
            );
        }
    }
}

/// The background task: sleeps until the earliest deadline or until woken because
/// a timer was armed, fires what is due, and stops when the coordinator is shut
/// down or dropped.
pub(super) async fn drive(
    coordinator: Weak<GroupCoordinator>,
    wake: std::sync::Arc<tokio::sync::Notify>,
) {
    loop {
        let (next, clock) = {
            let Some(this) = coordinator.upgrade() else {
                return;
            };
            if this.is_stopped() {
                return;
            }
            let mut inner = this.lock();
            let next = inner.fire_due(this.backend.as_ref(), &this.clock);
            this.await_replication(&mut inner);
            (next, this.clock)
        };
        tokio::select! {
            () = tokio::time::sleep_until(clock.instant_at(next)) => {}
            () = wake.notified() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::OffsetsRecord;
    use crate::config::GroupConfig;
    use crate::state_machine::{JoinArgs, Reply};

    struct NoLog;

    impl OffsetsBackend for NoLog {
        fn append(&self, _: i32, _: Vec<OffsetsRecord>) -> Replicated {
            crate::backend::settled(Ok(()))
        }

        fn append_transactional(
            &self,
            partition: i32,
            _: (i64, i16),
            records: Vec<OffsetsRecord>,
        ) -> Replicated {
            self.append(partition, records)
        }

        fn topic_partition_exists(&self, _: &str, _: i32) -> bool {
            true
        }
        fn topic_info(&self, _: &str) -> Option<crate::consumer::TopicInfo> {
            None
        }
    }

    fn join_args(group: &str, member_id: &str, version: i16) -> JoinArgs {
        JoinArgs {
            group_id: group.into(),
            member_id: member_id.into(),
            group_instance_id: None,
            protocol_type: "consumer".into(),
            protocols: vec![("range".into(), bytes::Bytes::new())],
            session_timeout_ms: 10_000,
            rebalance_timeout_ms: 30_000,
            client_id: "c".into(),
            client_host: "/127.0.0.1".into(),
            version,
        }
    }

    /// Parks a v3 join (no MEMBER_ID_REQUIRED round trip) of a new member in `group`.
    fn park(inner: &mut Inner, group: &str, clock: &Clock) -> oneshot::Receiver<JoinGroupResponse> {
        let Reply::Parked { member_id } = inner.core.join(join_args(group, "", 3), clock.now_ms())
        else {
            panic!("a first v3 join parks in the initial delay");
        };
        inner.run_effects(&NoLog, clock);
        let (tx, rx) = oneshot::channel();
        inner.joins.insert((group.to_owned(), member_id), (tx, 3));
        rx
    }

    #[test]
    fn forgetting_groups_cancels_their_timers_and_answers_their_parked_calls() {
        let clock = Clock::new();
        let mut inner = Inner::new(Core::new(GroupConfig::default()), clock.now_ms());
        let mut gone = park(&mut inner, "gone", &clock);
        let mut kept = park(&mut inner, "kept", &clock);
        let timers_of =
            |inner: &Inner, group: &str| inner.timers.values().filter(|(g, _)| g == group).count();
        assert!(timers_of(&inner, "gone") > 0);
        assert!(timers_of(&inner, "kept") > 0);

        inner.forget_groups(&["gone".to_owned()]);
        assert_eq!(timers_of(&inner, "gone"), 0);
        assert!(
            timers_of(&inner, "kept") > 0,
            "other groups keep their timers"
        );
        let answer = gone.try_recv().expect("answered at once");
        assert_eq!(answer.error_code, ResponseError::NotCoordinator.code());
        // Shaped for the parked request's version: v3 has a non-null protocol name.
        assert_eq!(answer.protocol_name.as_ref().map(|n| n.as_str()), Some(""));
        assert!(kept.try_recv().is_err(), "other groups stay parked");
        assert_eq!(inner.joins.len(), 1);
    }
}
