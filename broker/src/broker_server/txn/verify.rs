//! KIP-890 transaction verification, both ends (Kafka's `AddPartitionsToTxnManager`
//! and `TransactionCoordinator.handleVerifyPartitionsInTransaction`): a partition
//! leader about to append a producer's first transactional batch asks the producer's
//! transaction coordinator, with an AddPartitionsToTxn v4 `verify_only` request,
//! whether the partition is in the ongoing transaction; the coordinator answers from
//! its metadata and writes nothing. The leader's refusal codes are Kafka's, by the
//! Produce version the client speaks.
//!
//! With transaction version 2 (Produce v12, TxnOffsetCommit v5; KIP-890 part 2) the
//! client sends no AddPartitionsToTxn: the leader's request has `verify_only` false
//! and the coordinator adds the partitions (written to `__transaction_state`) before
//! it answers.
//!
//! One request per Produce request (its partitions that need asking, one
//! transaction), on one kept connection per coordinator ([`super::peers`]); Kafka also
//! batches concurrent Produce requests per coordinator.

use std::collections::{BTreeMap, BTreeSet};

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::add_partitions_to_txn_request::{
    AddPartitionsToTxnTopic, AddPartitionsToTxnTransaction,
};
use kafka_protocol::messages::{
    AddPartitionsToTxnRequest, AddPartitionsToTxnResponse, ProducerId, TopicName, TransactionalId,
};
use kafka_protocol::protocol::StrBytes;
use tracing::debug;

use super::{TXN_TOPIC, TxnHost, refused};

/// A partition of a transaction, as the coordinator keys it.
type Tp = (String, i32);

/// The Produce error for a partition the coordinator did not verify (Kafka's
/// `AddPartitionsToTxnManager` and `ReplicaManager` mappings): clients before Produce
/// v11 know no TRANSACTION_ABORTABLE and get INVALID_TXN_STATE; a fenced producer
/// gets INVALID_PRODUCER_EPOCH; an unreachable or busy coordinator NOT_ENOUGH_REPLICAS,
/// which every client retries without a metadata refresh.
pub fn produce_error(coordinator_error: E, produce_version: i16) -> E {
    verification_error(coordinator_error, produce_version >= 11)
}

/// A coordinator's refusal as the append's error (Kafka's `AddPartitionsToTxnManager`
/// mapping); `abortable_known`: the client's request version knows
/// TRANSACTION_ABORTABLE (Produce v11+, TxnOffsetCommit v4+).
pub fn verification_error(coordinator_error: E, abortable_known: bool) -> E {
    match coordinator_error {
        E::ProducerFenced => E::InvalidProducerEpoch,
        E::TransactionAbortable if !abortable_known => E::InvalidTxnState,
        E::ClusterAuthorizationFailed => E::InvalidTxnState,
        E::NetworkException
        | E::CoordinatorLoadInProgress
        | E::CoordinatorNotAvailable
        | E::NotCoordinator
        | E::ConcurrentTransactions => E::NotEnoughReplicas,
        other => other,
    }
}

/// The v4 request verifying (or, `verify_only` false, adding) `partitions` of one
/// transaction.
fn verify_request(
    transactional_id: &str,
    producer_id: i64,
    producer_epoch: i16,
    partitions: &BTreeSet<Tp>,
    verify_only: bool,
) -> AddPartitionsToTxnRequest {
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (topic, p) in partitions {
        by_topic.entry(topic).or_default().push(*p);
    }
    let mut txn = AddPartitionsToTxnTransaction::default();
    txn.transactional_id = TransactionalId(StrBytes::from_string(transactional_id.into()));
    txn.producer_id = ProducerId(producer_id);
    txn.producer_epoch = producer_epoch;
    txn.verify_only = verify_only;
    txn.topics = by_topic
        .into_iter()
        .map(|(name, partitions)| {
            let mut t = AddPartitionsToTxnTopic::default();
            t.name = TopicName(StrBytes::from_string(name.into()));
            t.partitions = partitions;
            t
        })
        .collect();
    let mut req = AddPartitionsToTxnRequest::default();
    req.transactions = vec![txn];
    req
}

/// The coordinator's refusals in a v4 answer, by partition (a partition it does not
/// name is verified, as Kafka reads it).
fn refusals(resp: &AddPartitionsToTxnResponse, asked: &BTreeSet<Tp>) -> BTreeMap<Tp, E> {
    if resp.error_code != 0 {
        let e = E::try_from_code(resp.error_code).unwrap_or(E::UnknownServerError);
        return asked.iter().map(|tp| (tp.clone(), e)).collect();
    }
    resp.results_by_transaction
        .iter()
        .flat_map(|r| &r.topic_results)
        .flat_map(|t| {
            t.results_by_partition.iter().map(move |p| {
                (
                    (t.name.0.to_string(), p.partition_index),
                    p.partition_error_code,
                )
            })
        })
        .filter(|(_, code)| *code != 0)
        .map(|(tp, code)| (tp, E::try_from_code(code).unwrap_or(E::UnknownServerError)))
        .collect()
}

impl TxnHost {
    /// Coordinator side: each partition's error (`None`: in the ongoing transaction).
    pub fn verify_partitions(
        &self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        partitions: Vec<Tp>,
    ) -> BTreeMap<Tp, Option<E>> {
        let asked = partitions.clone();
        self.lock()
            .verify_partitions(transactional_id, producer_id, producer_epoch, partitions)
            .unwrap_or_else(|e| {
                let e = refused(e);
                asked.into_iter().map(|tp| (tp, Some(e))).collect()
            })
    }

    /// Leader side of a Produce: the Produce error of each partition the coordinator
    /// did not verify (or, from Produce v12, add).
    pub async fn verify_for_produce(
        &self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        partitions: BTreeSet<Tp>,
        produce_version: i16,
    ) -> BTreeMap<Tp, E> {
        let add = produce_version >= 12;
        self.ask_coordinator(
            transactional_id,
            producer_id,
            producer_epoch,
            partitions,
            add,
        )
        .await
        .into_iter()
        .map(|(tp, e)| (tp, produce_error(e, produce_version)))
        .collect()
    }

    /// Asks the producer's coordinator (here, or over the inter-broker listener) to
    /// verify `partitions`, or with `add` to add them to the transaction; the
    /// coordinator's error of each partition it refused.
    pub async fn ask_coordinator(
        &self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        partitions: BTreeSet<Tp>,
        add: bool,
    ) -> BTreeMap<Tp, E> {
        let coordinator = self
            .cluster
            .image()
            .topic(TXN_TOPIC)
            .and_then(|t| {
                t.partitions
                    .get(&self.partition_for(transactional_id))
                    .map(|p| p.leader)
            })
            .filter(|leader| *leader >= 0);
        let all = |e: E| partitions.iter().map(|tp| (tp.clone(), e)).collect();
        match coordinator {
            None => all(E::CoordinatorNotAvailable),
            Some(leader) if leader == self.node_id && add => {
                let asked = partitions.iter().cloned().collect();
                match self
                    .add_partitions(transactional_id, producer_id, producer_epoch, asked)
                    .await
                {
                    Ok(()) => BTreeMap::new(),
                    Err(e) => all(e),
                }
            }
            Some(leader) if leader == self.node_id => self
                .verify_partitions(
                    transactional_id,
                    producer_id,
                    producer_epoch,
                    partitions.iter().cloned().collect(),
                )
                .into_iter()
                .filter_map(|(tp, e)| e.map(|e| (tp, e)))
                .collect(),
            Some(leader) => {
                let req = verify_request(
                    transactional_id,
                    producer_id,
                    producer_epoch,
                    &partitions,
                    !add,
                );
                match self
                    .verifications
                    .send(&self.replicas, leader, req, Some(4))
                    .await
                {
                    Ok(resp) => refusals(&resp, &partitions),
                    Err(error) => {
                        debug!(leader, %error, "transaction verification failed");
                        all(E::NetworkException)
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_map_to_what_each_produce_version_knows() {
        // (coordinator's error, Produce version, the client's error)
        let cases = [
            (E::TransactionAbortable, 9, E::InvalidTxnState),
            (E::TransactionAbortable, 10, E::InvalidTxnState),
            (E::TransactionAbortable, 11, E::TransactionAbortable),
            (E::ProducerFenced, 11, E::InvalidProducerEpoch),
            (E::ConcurrentTransactions, 9, E::NotEnoughReplicas),
            (E::NotCoordinator, 9, E::NotEnoughReplicas),
            (E::ClusterAuthorizationFailed, 9, E::InvalidTxnState),
            (E::InvalidProducerIdMapping, 9, E::InvalidProducerIdMapping),
        ];
        for (coordinator, version, client) in cases {
            assert_eq!(
                produce_error(coordinator, version),
                client,
                "{coordinator:?} v{version}"
            );
        }
    }

    #[test]
    fn a_v4_answer_names_the_refused_partitions_only() {
        let asked: BTreeSet<Tp> = [("a".into(), 0), ("a".into(), 1)].into();
        let req = verify_request("id", 7, 2, &asked, true);
        assert!(req.transactions[0].verify_only);
        assert!(!verify_request("id", 7, 2, &asked, false).transactions[0].verify_only);
        assert_eq!(req.transactions[0].topics[0].partitions, vec![0, 1]);
        let mut resp = AddPartitionsToTxnResponse::default();
        let mut result =
            kafka_protocol::messages::add_partitions_to_txn_response::AddPartitionsToTxnResult::default();
        let mut topic = kafka_protocol::messages::add_partitions_to_txn_response::AddPartitionsToTxnTopicResult::default();
        topic.name = TopicName(StrBytes::from_static_str("a"));
        for (p, code) in [(0, 0), (1, E::TransactionAbortable.code())] {
            let mut pr = kafka_protocol::messages::add_partitions_to_txn_response::AddPartitionsToTxnPartitionResult::default();
            pr.partition_index = p;
            pr.partition_error_code = code;
            topic.results_by_partition.push(pr);
        }
        result.topic_results.push(topic);
        resp.results_by_transaction.push(result);
        assert_eq!(
            refusals(&resp, &asked),
            BTreeMap::from([(("a".to_string(), 1), E::TransactionAbortable)])
        );
        resp.error_code = E::ClusterAuthorizationFailed.code();
        assert_eq!(refusals(&resp, &asked).len(), 2);
    }
}
