//! OffsetCommit and TxnOffsetCommit on the shell: planned and appended under the
//! coordinator's lock (so the log order is the planning order), answered once the
//! append is replicated; and the end of a transaction's pending offsets.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{
    OffsetCommitRequest, OffsetCommitResponse, TxnOffsetCommitRequest, TxnOffsetCommitResponse,
};

use super::GroupCoordinator;
use crate::backend::{OffsetsBackend, Replicated, settled_now};
use crate::state_machine::{CommitPlan, Core, TxnCommitPlan};

/// An (Txn)OffsetCommit after its append: answered, or waiting for replication.
enum Committed<R, P> {
    Answered(R),
    Replicating(P, Replicated),
}

impl GroupCoordinator {
    pub async fn offset_commit(
        &self,
        req: OffsetCommitRequest,
        version: i16,
    ) -> OffsetCommitResponse {
        self.commit(
            |core, now, backend| match core.offset_commit(&req, version, now, &exists(backend)) {
                CommitPlan::Done(response) => Err(response),
                CommitPlan::Persist {
                    partition,
                    records,
                    pending,
                } => Ok((backend.append(partition, records), pending)),
            },
            Core::complete_commit,
        )
        .await
    }

    /// TxnOffsetCommit: the offsets are written as a transactional batch of the
    /// producer and stay pending until its marker ([`GroupCoordinator::complete_transaction`]).
    pub async fn txn_offset_commit(
        &self,
        req: TxnOffsetCommitRequest,
        version: i16,
    ) -> TxnOffsetCommitResponse {
        self.commit(
            |core, now, backend| match core.txn_offset_commit(&req, version, now, &exists(backend))
            {
                TxnCommitPlan::Done(response) => Err(response),
                TxnCommitPlan::Persist {
                    partition,
                    producer,
                    records,
                    pending,
                } => Ok((
                    backend.append_transactional(partition, producer, records),
                    pending,
                )),
            },
            Core::complete_txn_offset_commit,
        )
        .await
    }

    /// A transaction marker of `producer_id` is replicated on `__consumer_offsets`
    /// partition `partition` (Kafka's `onTransactionCompleted`): the producer's
    /// pending offsets there become committed, or are dropped on abort.
    pub fn complete_transaction(&self, partition: i32, producer_id: i64, commit: bool) {
        self.with_core(|inner, _| {
            inner
                .core
                .complete_transaction(partition, producer_id, commit)
        });
    }

    /// A commit: `plan` validates and appends (under the lock, so the log order is
    /// the planning order) or answers at once; `complete` caches the offsets once
    /// replicated, or reports the append's failure.
    async fn commit<R, P>(
        &self,
        plan: impl FnOnce(&mut Core, u64, &dyn OffsetsBackend) -> Result<(Replicated, P), R>,
        complete: fn(&mut Core, P, Result<(), ResponseError>) -> R,
    ) -> R {
        let backend = self.backend.clone();
        let answer =
            self.with_core(
                |inner, now| match plan(&mut inner.core, now, backend.as_ref()) {
                    Err(response) => Committed::Answered(response),
                    Ok((mut replicated, pending)) => match settled_now(&mut replicated) {
                        Some(result) => {
                            Committed::Answered(complete(&mut inner.core, pending, result))
                        }
                        None => Committed::Replicating(pending, replicated),
                    },
                },
            );
        match answer {
            Committed::Answered(response) => response,
            // Kafka's pending offset commit: the offsets enter the cache (and
            // OffsetFetch) only once the high watermark covers their records.
            Committed::Replicating(pending, replicated) => {
                let result = replicated.await;
                self.with_core(|inner, _| complete(&mut inner.core, pending, result))
            }
        }
    }
}

/// Whether a topic partition exists, as the backend knows.
fn exists(backend: &dyn OffsetsBackend) -> impl Fn(&str, i32) -> bool + '_ {
    |topic, partition| backend.topic_partition_exists(topic, partition)
}
