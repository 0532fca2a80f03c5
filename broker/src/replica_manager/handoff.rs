//! The old leader's half of a preferred-leader handoff (metadata.version 4.1-IV0): when
//! the image says this broker's partition is being handed to its preferred replica, the
//! partition refuses appends not made with acks=all (NOT_LEADER_OR_FOLLOWER, clients
//! retry after a metadata refresh) until the target has fetched up to the end of the
//! last of them (`PartitionInner::handover_end`), then asks the controller to elect
//! it. The target thus holds every record this leader acknowledged — acks=1 included —
//! which a plain preferred election (Kafka's, and below 4.1-IV0 ours) cannot promise;
//! acks=all writes go on being taken and acknowledged meanwhile.
//!
//! The wait is bounded like the shutdown drain
//! (`tidewater.controlled.shutdown.drain.timeout.ms`): a target that does not catch up
//! in time is elected anyway (a lagging one leaves the ISR, and the controller then
//! cancels the handoff), so a partition never stays unwritable. This module never
//! decides the election itself.

use std::sync::Arc;
use std::time::Duration;

use tidewater_quorum::image::MetadataImage;
use tidewater_quorum::records::PartitionRecord;
use tidewater_quorum::rpc::ControllerCall;
use tracing::{info, warn};

use super::ReplicaManager;
use super::{Partition, PartitionInner, Role};

/// How often the handoff looks at the target's progress again.
const POLL: Duration = Duration::from_millis(5);

/// Least time between two completion calls while the image has not ended the handoff.
const RETRY: Duration = Duration::from_millis(200);

impl ReplicaManager {
    /// Starts the task that sends ready handoffs to the controller, a batch at a time.
    /// A failed call is not retried here: each partition's handoff asks again after
    /// `RETRY` while the image has not ended it.
    pub(crate) fn start_handoff_sender(self: &Arc<Self>) {
        let replicas = Arc::downgrade(self);
        let wake = self.handoffs.wake();
        let task = tokio::spawn(async move {
            loop {
                let Some(b) = replicas.upgrade() else {
                    return;
                };
                let partitions = b.handoffs.take();
                if partitions.is_empty() {
                    drop(b);
                    // A push since `take` left a permit: this returns at once then.
                    wake.notified().await;
                    continue;
                }
                let count = partitions.len();
                let call = ControllerCall::CompleteLeaderHandoffs { partitions };
                if let Err(e) = b.cluster.call(call).await {
                    warn!(partitions = count, error = ?e, "cannot complete the leader handoffs; retrying");
                }
            }
        });
        self.add_task(task);
    }

    /// Sets (or clears) the partition's handoff from `image`; `Some(target)` when a
    /// handoff starts here, for [`ReplicaManager::start_leader_handoff`] once the lock is gone.
    pub(super) fn sync_leader_handoff(
        &self,
        inner: &mut PartitionInner,
        record: &PartitionRecord,
        image: &MetadataImage,
    ) -> Option<i32> {
        let leading =
            matches!(&inner.role, Role::Leader(l) if l.leader_epoch() == record.leader_epoch);
        let wanted = image
            .leader_handoff(record.topic_id, record.partition)
            .filter(|_| leading && record.leader == self.node_id);
        let started = wanted.filter(|to| inner.handoff_to != Some(*to));
        inner.handoff_to = wanted;
        started
    }

    /// Waits (in a task) for `to` to reach the log end, then asks for its election.
    pub(super) fn start_leader_handoff(
        self: &Arc<Self>,
        partition: &Arc<Partition>,
        leader_epoch: i32,
        to: i32,
    ) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            warn!(tp = %partition.tp, "no runtime to hand the leadership over");
            return;
        };
        let (replicas, partition) = (self.clone(), partition.clone());
        runtime.spawn(async move { replicas.hand_off(&partition, leader_epoch, to).await });
    }

    async fn hand_off(&self, partition: &Partition, leader_epoch: i32, to: i32) {
        let started = tokio::time::Instant::now();
        let timeout = Duration::from_millis(self.settings.controlled_shutdown_drain_timeout_ms);
        let mut last_call: Option<tokio::time::Instant> = None;
        loop {
            let caught_up = {
                let inner = partition.lock();
                let Role::Leader(state) = &inner.role else {
                    return;
                };
                if state.leader_epoch() != leader_epoch || inner.handoff_to != Some(to) {
                    return;
                }
                state.isr().contains(&to) && state.high_watermark() >= inner.handover_end
            };
            let due = last_call.is_none_or(|t| t.elapsed() >= RETRY);
            if due && (caught_up || started.elapsed() >= timeout) {
                if caught_up {
                    info!(tp = %partition.tp, to, waited_ms = started.elapsed().as_millis() as u64,
                        "handing leadership over: the target holds the log end");
                } else {
                    warn!(tp = %partition.tp, to, "handoff timed out: the target has not reached the log end; \
                        asking for its election anyway (records above the high watermark may be lost)");
                }
                self.handoffs
                    .push((partition.topic_id, partition.tp.partition, leader_epoch));
                last_call = Some(tokio::time::Instant::now());
            }
            tokio::time::sleep(POLL).await;
        }
    }
}
