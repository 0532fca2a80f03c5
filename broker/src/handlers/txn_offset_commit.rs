//! TxnOffsetCommit's transaction check on the group coordinator (Kafka 3.6+, KIP-890):
//! before the group's offsets are staged in its `__consumer_offsets` partition, the
//! producer's transaction coordinator is asked whether that partition is in the
//! ongoing transaction (v0-4, with `transaction.partition.verification.enable`), or
//! (v5, transaction version 2, which sends no AddOffsetsToTxn) asked to add it. A
//! late commit of an ended transaction is refused instead of opening a transaction
//! on the offsets partition that no marker will end.
//!
//! The check holds no guard in the offsets partition's producer state (as Produce's
//! does): a transaction that ends between the answer and the append is not caught.

use std::collections::BTreeSet;

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::{TxnOffsetCommitRequest, TxnOffsetCommitResponse};
use tidewater_group::GroupCoordinator;

use crate::broker_server::Broker;
use crate::broker_server::topic_names::OFFSETS_TOPIC;
use crate::broker_server::txn::verification_error;

/// The first TxnOffsetCommit version of transaction version 2 (implicit add).
const IMPLICIT_ADD_VERSION: i16 = 5;

/// Checks the transaction, then stages the offsets with the group coordinator.
pub async fn commit(
    broker: &Broker,
    groups: &GroupCoordinator,
    req: TxnOffsetCommitRequest,
    version: i16,
) -> TxnOffsetCommitResponse {
    let add = version >= IMPLICIT_ADD_VERSION;
    let offsets_partition = groups.partition_for(req.group_id.0.as_str());
    // A group coordinated elsewhere (or still loading) is answered by the group
    // coordinator, before any transaction is asked about or joined.
    if groups.owns_partition(offsets_partition) && (add || super::produce_verify::enabled(broker)) {
        let partition = (OFFSETS_TOPIC.to_string(), offsets_partition);
        let refused = broker
            .coordinators()
            .txns()
            .ask_coordinator(
                req.transactional_id.0.as_str(),
                req.producer_id.0,
                req.producer_epoch,
                BTreeSet::from([partition]),
                add,
            )
            .await;
        if let Some(e) = refused.into_values().next() {
            return refuse(&req, commit_error(e, version));
        }
    }
    groups.txn_offset_commit(req, version).await
}

/// A coordinator's refusal as TxnOffsetCommit's error: the verification mapping
/// (TRANSACTION_ABORTABLE from v4), then the group coordinator's own for what the
/// client should retry after finding the coordinator again (Kafka's
/// `GroupCoordinatorService` normalizes a busy or unreachable one the same way).
fn commit_error(coordinator_error: E, version: i16) -> E {
    match verification_error(coordinator_error, version >= 4) {
        E::NotEnoughReplicas | E::NotEnoughReplicasAfterAppend | E::RequestTimedOut => {
            E::CoordinatorNotAvailable
        }
        other => other,
    }
}

/// Every partition of the request answered `error`.
fn refuse(req: &TxnOffsetCommitRequest, error: E) -> TxnOffsetCommitResponse {
    let mut resp = TxnOffsetCommitResponse::default();
    resp.topics = req
        .topics
        .iter()
        .map(|t| {
            let mut rt = TxnOffsetCommitResponseTopic::default();
            rt.name = t.name.clone();
            rt.partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let mut rp = TxnOffsetCommitResponsePartition::default();
                    rp.partition_index = p.partition_index;
                    rp.error_code = error.code();
                    rp
                })
                .collect();
            rt
        })
        .collect();
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_what_each_txn_offset_commit_version_knows() {
        // (coordinator's error, TxnOffsetCommit version, the client's error)
        let cases = [
            (E::TransactionAbortable, 3, E::InvalidTxnState),
            (E::TransactionAbortable, 4, E::TransactionAbortable),
            (E::ProducerFenced, 5, E::InvalidProducerEpoch),
            (E::ConcurrentTransactions, 5, E::CoordinatorNotAvailable),
            (E::NotCoordinator, 2, E::CoordinatorNotAvailable),
            (E::InvalidProducerIdMapping, 5, E::InvalidProducerIdMapping),
        ];
        for (coordinator, version, client) in cases {
            assert_eq!(
                commit_error(coordinator, version),
                client,
                "{coordinator:?} v{version}"
            );
        }
    }
}
