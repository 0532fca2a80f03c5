//! The IO shell: the public [`GroupCoordinator`] the protocol server calls. It turns
//! requests into calls on the sans-IO [`Core`] under one lock, parks JoinGroup /
//! SyncGroup responses on oneshot channels until an effect completes them, performs
//! `__consumer_offsets` appends through the [`OffsetsBackend`], and runs the timers
//! on one tokio task. No group logic lives here.

mod commits;
mod consumer;
mod driver;
mod ownership;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{
    DeleteGroupsRequest, DeleteGroupsResponse, DescribeGroupsRequest, DescribeGroupsResponse,
    HeartbeatRequest, HeartbeatResponse, JoinGroupRequest, JoinGroupResponse, LeaveGroupRequest,
    LeaveGroupResponse, ListGroupsRequest, ListGroupsResponse, OffsetDeleteRequest,
    OffsetDeleteResponse, OffsetFetchRequest, OffsetFetchResponse, SyncGroupRequest,
    SyncGroupResponse,
};
use tokio::sync::{Notify, oneshot};

use crate::backend::OffsetsBackend;
use crate::config::GroupConfig;
use crate::group::GroupState;
use crate::state_machine::{Core, JoinArgs, LeavingMember, Reply, SyncArgs};
use driver::{Clock, Inner};

/// Group counts per state, for metrics (Kafka's `NumGroupsStable`, ...).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GroupCounts {
    pub preparing_rebalance: usize,
    pub completing_rebalance: usize,
    pub stable: usize,
    pub dead: usize,
    pub empty: usize,
}

/// A response available now, or one to wait for.
enum Answer<R> {
    Ready(R),
    Wait(oneshot::Receiver<R>),
}

/// The group coordinator, used as `Arc<GroupCoordinator>`; runs its timers on tokio.
pub struct GroupCoordinator {
    backend: Arc<dyn OffsetsBackend>,
    /// Kept outside the lock so `partition_for` never waits (or deadlocks when
    /// called from inside a backend append).
    offsets_topic_partitions: i32,
    /// Which partitions are owned or loading, readable without the lock for the
    /// same reasons.
    ownership: ownership::OwnershipView,
    inner: Mutex<Inner>,
    clock: Clock,
    /// Wakes the timer task when a timer is armed (it may need to fire sooner).
    wake: Arc<Notify>,
    driver_started: AtomicBool,
    stopped: AtomicBool,
    this: Weak<GroupCoordinator>,
}

impl GroupCoordinator {
    /// A single-node coordinator: it leads every `__consumer_offsets` partition, as
    /// one broker does. [`GroupCoordinator::load_partition`] still replays each
    /// partition at startup; [`GroupCoordinator::unload_partition`] still resigns one.
    pub fn new(config: GroupConfig, backend: Arc<dyn OffsetsBackend>) -> Arc<Self> {
        Self::build(Core::new(config), backend)
    }

    /// A coordinator of a multi-node cluster: it leads no partition, so every group
    /// answers NOT_COORDINATOR, until the broker becomes leader of a partition and
    /// calls [`GroupCoordinator::load_partition`] (Kafka's `onElection`); losing the
    /// leadership is [`GroupCoordinator::unload_partition`] (`onResignation`).
    pub fn new_unowned(config: GroupConfig, backend: Arc<dyn OffsetsBackend>) -> Arc<Self> {
        Self::build(Core::new_unowned(config), backend)
    }

    fn build(core: Core, backend: Arc<dyn OffsetsBackend>) -> Arc<Self> {
        let clock = Clock::new();
        let offsets_topic_partitions = core.config().offsets_topic_partitions;
        let ownership = ownership::OwnershipView::of(&core);
        let coordinator = Arc::new_cyclic(|this| Self {
            backend,
            offsets_topic_partitions,
            ownership,
            inner: Mutex::new(Inner::new(core, clock.now_ms())),
            clock,
            wake: Arc::new(Notify::new()),
            driver_started: AtomicBool::new(false),
            stopped: AtomicBool::new(false),
            this: this.clone(),
        });
        coordinator.ensure_driver();
        coordinator
    }

    /// Starts the timer task once a tokio runtime is at hand (the coordinator may be
    /// built, and replayed into, before the runtime starts).
    fn ensure_driver(&self) {
        if self.driver_started.load(Ordering::Acquire) {
            return;
        }
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if !self.driver_started.swap(true, Ordering::AcqRel) {
            handle.spawn(driver::drive(self.this.clone(), self.wake.clone()));
        }
    }

    fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }

    /// The lock is never held across an await; a panic while holding it cannot
    /// leave the core half-updated in a way later calls could not cope with, so a
    /// poisoned lock is taken over rather than propagated.
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `f` on the core, then carries out the effects it queued.
    fn with_core<R>(&self, f: impl FnOnce(&mut Inner, u64) -> R) -> R {
        self.ensure_driver();
        let now = self.clock.now_ms();
        let mut inner = self.lock();
        let out = f(&mut inner, now);
        if inner.run_effects(self.backend.as_ref(), &self.clock) {
            self.wake.notify_one();
        }
        self.await_replication(&mut inner);
        out
    }

    /// Waits, each on its own task, for the group writes the last effects appended
    /// and that are not replicated yet, then feeds each result back to the core
    /// (which checks that the group is still in the generation the write was for).
    fn await_replication(&self, inner: &mut Inner) {
        if inner.replicating.is_empty() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            // Unreachable in the broker (appends happen inside tokio); answer
            // rather than strand the members parked on these writes.
            for (then, _) in inner.replicating.drain(..) {
                inner.core.on_persisted(
                    then,
                    Err(kafka_protocol::ResponseError::CoordinatorNotAvailable),
                    self.clock.now_ms(),
                );
            }
            return;
        };
        for (then, replicated) in inner.replicating.drain(..) {
            let this = self.this.clone();
            runtime.spawn(async move {
                let result = replicated.await;
                if let Some(this) = this.upgrade() {
                    this.with_core(|inner, now| inner.core.on_persisted(then, result, now));
                }
            });
        }
    }

    /// Kafka's `Utils.abs(groupId.hashCode()) % offsets.topic.num.partitions` (Java String.hashCode).
    pub fn partition_for(&self, group_id: &str) -> i32 {
        crate::partition::partition_for(group_id, self.offsets_topic_partitions)
    }

    pub async fn join_group(
        &self,
        req: JoinGroupRequest,
        version: i16,
        client_id: &str,
        client_host: &str,
    ) -> JoinGroupResponse {
        let member_id = req.member_id.as_str().to_owned();
        let args = JoinArgs {
            group_id: req.group_id.as_str().to_owned(),
            member_id: member_id.clone(),
            group_instance_id: req
                .group_instance_id
                .as_ref()
                .map(|i| i.as_str().to_owned()),
            protocol_type: req.protocol_type.as_str().to_owned(),
            protocols: req
                .protocols
                .iter()
                .map(|p| (p.name.as_str().to_owned(), p.metadata.clone()))
                .collect(),
            session_timeout_ms: req.session_timeout_ms,
            // v0 has no rebalance timeout: Kafka uses the session timeout.
            rebalance_timeout_ms: if version == 0 || req.rebalance_timeout_ms < 0 {
                req.session_timeout_ms
            } else {
                req.rebalance_timeout_ms
            },
            client_id: client_id.to_owned(),
            client_host: client_host.to_owned(),
            version,
        };
        let group_id = args.group_id.clone();
        let answer = self.with_core(|inner, now| {
            // Checked under the lock shutdown drains parked calls with: after
            // shutdown no timer would complete a parked call, so refuse it.
            if self.is_stopped() {
                return Answer::Ready(crate::state_machine::join_error_response(
                    ResponseError::NotCoordinator,
                    &member_id,
                    version,
                ));
            }
            match inner.core.join(args, now) {
                Reply::Now(response) => Answer::Ready(response),
                Reply::Parked { member_id } => {
                    let (tx, rx) = oneshot::channel();
                    inner.joins.insert((group_id, member_id), (tx, version));
                    Answer::Wait(rx)
                }
            }
        });
        match answer {
            Answer::Ready(response) => response,
            // The parked call was superseded by a newer join of the same member.
            Answer::Wait(rx) => rx.await.unwrap_or_else(|_| {
                crate::state_machine::join_error_response(
                    ResponseError::CoordinatorNotAvailable,
                    &member_id,
                    version,
                )
            }),
        }
    }

    pub async fn sync_group(&self, req: SyncGroupRequest, _version: i16) -> SyncGroupResponse {
        let args = SyncArgs {
            group_id: req.group_id.as_str().to_owned(),
            generation_id: req.generation_id,
            member_id: req.member_id.as_str().to_owned(),
            group_instance_id: req
                .group_instance_id
                .as_ref()
                .map(|i| i.as_str().to_owned()),
            protocol_type: req.protocol_type.as_ref().map(|t| t.as_str().to_owned()),
            protocol_name: req.protocol_name.as_ref().map(|n| n.as_str().to_owned()),
            assignments: req
                .assignments
                .iter()
                .map(|a| (a.member_id.as_str().to_owned(), a.assignment.clone()))
                .collect(),
        };
        let group_id = args.group_id.clone();
        let answer = self.with_core(|inner, now| {
            if self.is_stopped() {
                return Answer::Ready(
                    SyncGroupResponse::default()
                        .with_error_code(ResponseError::NotCoordinator.code()),
                );
            }
            match inner.core.sync(args, now) {
                Reply::Now(response) => Answer::Ready(response),
                Reply::Parked { member_id } => {
                    let (tx, rx) = oneshot::channel();
                    inner.syncs.insert((group_id, member_id), tx);
                    Answer::Wait(rx)
                }
            }
        });
        match answer {
            Answer::Ready(response) => response,
            Answer::Wait(rx) => rx.await.unwrap_or_else(|_| {
                SyncGroupResponse::default()
                    .with_error_code(ResponseError::CoordinatorNotAvailable.code())
            }),
        }
    }

    pub async fn heartbeat(&self, req: HeartbeatRequest, _version: i16) -> HeartbeatResponse {
        let instance = req.group_instance_id.as_ref().map(|i| i.as_str());
        self.with_core(|inner, now| {
            inner.core.heartbeat(
                req.group_id.as_str(),
                req.member_id.as_str(),
                instance,
                req.generation_id,
                now,
            )
        })
    }

    pub async fn leave_group(&self, req: LeaveGroupRequest, version: i16) -> LeaveGroupResponse {
        let leaving = if version < 3 {
            vec![LeavingMember {
                member_id: req.member_id.as_str().to_owned(),
                group_instance_id: None,
            }]
        } else {
            req.members
                .iter()
                .map(|m| LeavingMember {
                    member_id: m.member_id.as_str().to_owned(),
                    group_instance_id: m.group_instance_id.as_ref().map(|i| i.as_str().to_owned()),
                })
                .collect()
        };
        self.with_core(|inner, now| {
            inner
                .core
                .leave(req.group_id.as_str(), leaving, version, now)
        })
    }

    pub async fn offset_fetch(&self, req: OffsetFetchRequest, version: i16) -> OffsetFetchResponse {
        self.with_core(|inner, _| inner.core.offset_fetch(&req, version))
    }

    pub async fn list_groups(&self, req: ListGroupsRequest, _version: i16) -> ListGroupsResponse {
        let states: Vec<String> = req
            .states_filter
            .iter()
            .map(|s| s.as_str().to_owned())
            .collect();
        let types: Vec<String> = req
            .types_filter
            .iter()
            .map(|s| s.as_str().to_owned())
            .collect();
        self.with_core(|inner, _| inner.core.list_groups(&states, &types))
    }

    pub async fn describe_groups(
        &self,
        req: DescribeGroupsRequest,
        version: i16,
    ) -> DescribeGroupsResponse {
        self.with_core(|inner, _| inner.core.describe_groups(&req.groups, version))
    }

    pub async fn delete_groups(
        &self,
        req: DeleteGroupsRequest,
        _version: i16,
    ) -> DeleteGroupsResponse {
        self.with_core(|inner, _| inner.core.delete_groups(&req.groups_names))
    }

    pub async fn offset_delete(
        &self,
        req: OffsetDeleteRequest,
        _version: i16,
    ) -> OffsetDeleteResponse {
        let backend = self.backend.clone();
        self.with_core(|inner, _| {
            let exists =
                |topic: &str, partition: i32| backend.topic_partition_exists(topic, partition);
            inner.core.offset_delete(&req, &exists)
        })
    }

    /// JoinGroup and SyncGroup calls parked until their rebalance phase completes
    /// (the size of Kafka's rebalance purgatory, `NumDelayedOperations`), for metrics.
    pub fn parked_calls(&self) -> usize {
        let inner = self.lock();
        inner.joins.len() + inner.syncs.len()
    }

    /// Group counts per state, for metrics (Kafka's NumGroupsStable, ...PreparingRebalance, ...).
    pub fn group_counts(&self) -> GroupCounts {
        let counts: HashMap<GroupState, usize> = self.lock().core.counts().into_iter().collect();
        let get = |s| counts.get(&s).copied().unwrap_or(0);
        GroupCounts {
            preparing_rebalance: get(GroupState::PreparingRebalance),
            completing_rebalance: get(GroupState::CompletingRebalance),
            stable: get(GroupState::Stable),
            dead: get(GroupState::Dead),
            empty: get(GroupState::Empty),
        }
    }

    /// Stops the timers and answers every parked JoinGroup/SyncGroup with
    /// NOT_COORDINATOR, as Kafka does when it resigns a partition, so clients go
    /// find the coordinator again.
    pub fn shutdown(&self) {
        self.stopped.store(true, Ordering::Release);
        let mut inner = self.lock();
        inner.clear_timers();
        let joins: Vec<_> = inner.joins.drain().collect();
        for ((_, member_id), (tx, version)) in joins {
            let _ = tx.send(crate::state_machine::join_error_response(
                ResponseError::NotCoordinator,
                &member_id,
                version,
            ));
        }
        for (_, tx) in inner.syncs.drain() {
            let _ = tx.send(
                SyncGroupResponse::default().with_error_code(ResponseError::NotCoordinator.code()),
            );
        }
        drop(inner);
        self.wake.notify_one();
    }
}

impl Drop for GroupCoordinator {
    fn drop(&mut self) {
        // Lets the timer task notice the coordinator is gone.
        self.wake.notify_one();
    }
}
