//! Batched AlterPartition (Kafka's `AlterPartitionManager`): ISR changes the leaders
//! of this broker propose wait in one queue, and a single sender task sends everything
//! queued as one `AlterPartitions` call, so the controller decides them as one metadata
//! log entry. One call (and one log entry, one image, one connection) per partition made
//! a broker rejoining 10,000 ISRs take minutes. Each answer goes back to its partition's
//! leader state, which says whether to retry (retriable failures, same leader epoch).

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::error::ResponseError as E;
use tidewater_quorum::controller::{AlterPartition, batched_calls};
use tidewater_quorum::records::PartitionRecord;
use tidewater_quorum::rpc::{ControllerCall, ControllerReply};
use tidewater_replication::{AlterPartitionRequest, AlterPartitionResponse, CommittedPartition};
use tracing::{debug, info, warn};

use super::ReplicaManager;
use super::{Partition, Role};
use crate::clock::mono_ms;
use crate::kafka_error::KafkaError;

/// Pause before a retried change is sent again (Kafka's `retry.backoff.ms`).
const RETRY_BACKOFF: Duration = Duration::from_millis(100);

impl ReplicaManager {
    /// Queues an ISR change for the controller; the sender task feeds the answer back.
    pub(crate) fn send_alter_partition(
        &self,
        partition: Arc<Partition>,
        req: AlterPartitionRequest,
    ) {
        let new_isr: Vec<i32> = req.new_isr.iter().map(|(id, _)| *id).collect();
        debug!(tp = %partition.tp, isr = ?new_isr, "proposing ISR change");
        if new_isr.len() < partition.lock().replicas.len() {
            self.metrics.isr_shrink();
        } else {
            self.metrics.isr_expand();
        }
        self.alter_partitions.push((partition, req));
    }

    /// Starts the task that sends queued ISR changes, one batch at a time.
    pub(crate) fn start_alter_partition_sender(self: &Arc<Self>) {
        let replicas = Arc::downgrade(self);
        let wake = self.alter_partitions.wake();
        let task = tokio::spawn(async move {
            loop {
                let Some(b) = replicas.upgrade() else {
                    return;
                };
                let batch = b.alter_partitions.take();
                if batch.is_empty() {
                    drop(b);
                    // A push since `take` left a permit: this returns at once then.
                    wake.notified().await;
                    continue;
                }
                let retry = b.send_alter_partitions(batch).await;
                if retry.is_empty() || b.is_closing() {
                    continue;
                }
                drop(b);
                tokio::time::sleep(RETRY_BACKOFF).await;
                let Some(b) = replicas.upgrade() else {
                    return;
                };
                for (partition, req) in retry {
                    b.alter_partitions.push((partition, req));
                }
            }
        });
        self.add_task(task);
    }

    /// One AlterPartitions call; returns the changes to send again.
    async fn send_alter_partitions(
        &self,
        batch: Vec<(Arc<Partition>, AlterPartitionRequest)>,
    ) -> Vec<(Arc<Partition>, AlterPartitionRequest)> {
        let cluster = &self.cluster;
        let broker_epoch = cluster.broker_epoch();
        let changes: Vec<AlterPartition> = batch
            .iter()
            .map(|(partition, req)| AlterPartition {
                broker_id: self.node_id,
                broker_epoch,
                topic_id: partition.topic_id,
                partition: partition.tp.partition,
                leader_epoch: req.leader_epoch,
                partition_epoch: req.partition_epoch,
                new_isr: req.new_isr.iter().map(|(id, _)| *id).collect(),
            })
            .collect();
        info!(partitions = batch.len(), "proposing ISR changes");
        let committed = |rec: PartitionRecord| CommittedPartition {
            leader_id: rec.leader,
            leader_epoch: rec.leader_epoch,
            partition_epoch: rec.partition_epoch,
            isr: rec.isr,
        };
        if !batched_calls(&cluster.image()) {
            // A 0.2.0 controller (mid-roll, below 4.1-IV0) knows only the one-partition call.
            let mut results = Vec::with_capacity(changes.len());
            for change in changes {
                results.push(
                    match cluster.call(ControllerCall::AlterPartition(change)).await {
                        Ok(ControllerReply::Partition(rec)) => Ok(committed(rec)),
                        Ok(other) => {
                            warn!(reply = ?other, "unexpected AlterPartition reply");
                            Err(E::UnknownServerError)
                        }
                        Err(f) => Err(KafkaError::from(f).error),
                    },
                );
            }
            return self.on_alter_partition_results(batch, results);
        }
        let call = ControllerCall::AlterPartitions(changes);
        let results: Vec<Result<CommittedPartition, E>> = match cluster.call(call).await {
            Ok(ControllerReply::Partitions(replies)) if replies.len() == batch.len() => replies
                .into_iter()
                .map(|r| match r {
                    Ok(rec) => Ok(committed(rec)),
                    Err(f) => Err(KafkaError::from(f).error),
                })
                .collect(),
            Ok(other) => {
                warn!(reply = ?other, "unexpected AlterPartitions reply");
                vec![Err(E::UnknownServerError); batch.len()]
            }
            Err(f) => {
                debug!(code = f.error_code, error = %f.message, "AlterPartitions failed");
                vec![Err(KafkaError::from(f).error); batch.len()]
            }
        };
        self.on_alter_partition_results(batch, results)
    }

    /// Feeds each answer to its partition; returns the changes to send again.
    fn on_alter_partition_results(
        &self,
        batch: Vec<(Arc<Partition>, AlterPartitionRequest)>,
        results: Vec<Result<CommittedPartition, E>>,
    ) -> Vec<(Arc<Partition>, AlterPartitionRequest)> {
        let mut retry = Vec::new();
        for ((partition, req), result) in batch.into_iter().zip(results) {
            if let Err(error) = &result {
                debug!(tp = %partition.tp, code = error.code(), "AlterPartition failed");
            }
            if self.on_alter_partition_result(&partition, req.request_id, result) {
                retry.push((partition, req));
            }
        }
        retry
    }

    /// Feeds one answer to the partition's leader state; true to send it again.
    fn on_alter_partition_result(
        &self,
        partition: &Arc<Partition>,
        request_id: u64,
        result: Result<CommittedPartition, E>,
    ) -> bool {
        let mut inner = partition.lock();
        let Role::Leader(state) = &mut inner.role else {
            return false;
        };
        let retry = state
            .on_alter_partition_response(AlterPartitionResponse { request_id, result }, mono_ms());
        let done = state.take_completions();
        inner.deliver(done);
        if inner.sync_high_watermark(&partition.log) {
            self.notifier().notify();
        }
        retry
    }
}
