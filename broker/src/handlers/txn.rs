//! The client's transaction requests to its transaction coordinator:
//! AddPartitionsToTxn (v0-3), AddOffsetsToTxn and EndTxn, and the brokers' batched
//! AddPartitionsToTxn v4 (KIP-890: a partition leader verifying, or adding, partitions
//! of producers' transactions). The coordinator decides and writes
//! `__transaction_state`; here are the request shapes and Kafka's per-partition
//! answers.

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::{
    AddOffsetsToTxnRequest, AddOffsetsToTxnResponse, AddPartitionsToTxnRequest,
    AddPartitionsToTxnResponse, EndTxnRequest, EndTxnResponse, ProducerId,
};

use tidewater_quorum::acl::{AclOperation, ResourceType};
use tidewater_txn::{Ending, TRANSACTION_VERSION_2};

use super::{RequestContext, authz};
use crate::broker_server::Broker;
use crate::broker_server::topic_names::OFFSETS_TOPIC;

/// Clients older than KIP-588 know no PRODUCER_FENCED: Kafka answers them
/// INVALID_PRODUCER_EPOCH (EndTxn, AddPartitionsToTxn, AddOffsetsToTxn below v2,
/// InitProducerId below v4).
pub fn fenced_code(e: E, version: i16, first_version_knowing_fenced: i16) -> i16 {
    if e == E::ProducerFenced && version < first_version_knowing_fenced {
        E::InvalidProducerEpoch.code()
    } else {
        e.code()
    }
}

/// AddPartitionsToTxn from a producer (v0-3). Every partition must exist: the unknown
/// ones get UNKNOWN_TOPIC_OR_PARTITION and the rest OPERATION_NOT_ATTEMPTED, and
/// nothing is added (Kafka's `KafkaApis.handleAddPartitionsToTxnRequest`).
pub async fn add_partitions(
    broker: &Broker,
    ctx: &RequestContext,
    req: AddPartitionsToTxnRequest,
    version: i16,
) -> AddPartitionsToTxnResponse {
    if version >= 4 {
        return add_partitions_for_brokers(broker, ctx, req).await;
    }
    let mut partitions = Vec::new();
    let mut unknown = Vec::new();
    // Kafka's handleAddPartitionsToTxnRequest: Write on the transactional id, then
    // on each topic (TOPIC_AUTHORIZATION_FAILED, the others OPERATION_NOT_ATTEMPTED).
    let txn_ok = authz::txn_write(broker, ctx, req.v3_and_below_transactional_id.0.as_str());
    let mut denied = Vec::new();
    for topic in &req.v3_and_below_topics {
        let topic_ok = authz::allowed(
            broker,
            ctx,
            AclOperation::Write,
            ResourceType::Topic,
            topic.name.0.as_str(),
        );
        for p in &topic.partitions {
            let tp = (topic.name.0.to_string(), *p);
            if !topic_ok {
                denied.push(tp);
            } else if broker.metadata().has_partition(&tp.0, tp.1) {
                partitions.push(tp);
            } else {
                unknown.push(tp);
            }
        }
    }
    // One code for every partition, unless some are unknown or denied.
    let all = if !txn_ok {
        Some(E::TransactionalIdAuthorizationFailed.code())
    } else if unknown.is_empty() && denied.is_empty() {
        match broker
            .coordinators()
            .txns()
            .add_partitions(
                req.v3_and_below_transactional_id.0.as_str(),
                req.v3_and_below_producer_id.0,
                req.v3_and_below_producer_epoch,
                partitions,
            )
            .await
        {
            Ok(()) => Some(0),
            Err(e) => Some(fenced_code(e, version, 2)),
        }
    } else {
        None
    };
    let code_of = |tp: &(String, i32)| match all {
        Some(code) => code,
        None if denied.contains(tp) => E::TopicAuthorizationFailed.code(),
        None if unknown.contains(tp) => E::UnknownTopicOrPartition.code(),
        None => E::OperationNotAttempted.code(),
    };
    let mut resp = AddPartitionsToTxnResponse::default();
    resp.results_by_topic_v3_and_below = req
        .v3_and_below_topics
        .iter()
        .map(|topic| {
            let mut tr = AddPartitionsToTxnTopicResult::default();
            tr.name = topic.name.clone();
            tr.results_by_partition = topic
                .partitions
                .iter()
                .map(|p| {
                    let mut pr = AddPartitionsToTxnPartitionResult::default();
                    pr.partition_index = *p;
                    pr.partition_error_code = code_of(&(topic.name.0.to_string(), *p));
                    pr
                })
                .collect();
            tr
        })
        .collect();
    resp
}

/// AddPartitionsToTxn v4, from partition leaders (Kafka's `KafkaApis` for v4+):
/// ClusterAction or CLUSTER_AUTHORIZATION_FAILED for the whole request; then per
/// transaction, `verify_only` asks whether each partition is in the ongoing transaction
/// (nothing written), else the partitions are added as v0-3 add them.
async fn add_partitions_for_brokers(
    broker: &Broker,
    ctx: &RequestContext,
    req: AddPartitionsToTxnRequest,
) -> AddPartitionsToTxnResponse {
    let mut resp = AddPartitionsToTxnResponse::default();
    if !authz::cluster_action(broker, ctx) {
        resp.error_code = E::ClusterAuthorizationFailed.code();
        return resp;
    }
    let txns = broker.coordinators().txns();
    for txn in req.transactions {
        let id = txn.transactional_id.0.as_str();
        let partitions: Vec<(String, i32)> = txn
            .topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| (t.name.0.to_string(), *p)))
            .collect();
        let codes: Vec<((String, i32), i16)> = if txn.verify_only {
            txns.verify_partitions(id, txn.producer_id.0, txn.producer_epoch, partitions)
                .into_iter()
                .map(|(tp, e)| (tp, e.map_or(0, |e| e.code())))
                .collect()
        } else {
            let code = match txns
                .add_partitions(
                    id,
                    txn.producer_id.0,
                    txn.producer_epoch,
                    partitions.clone(),
                )
                .await
            {
                Ok(()) => 0,
                Err(e) => e.code(),
            };
            partitions.into_iter().map(|tp| (tp, code)).collect()
        };
        let mut result = AddPartitionsToTxnResult::default();
        result.transactional_id = txn.transactional_id.clone();
        for topic in &txn.topics {
            let mut tr = AddPartitionsToTxnTopicResult::default();
            tr.name = topic.name.clone();
            for (tp, code) in codes
                .iter()
                .filter(|((t, _), _)| t == topic.name.0.as_str())
            {
                let mut pr = AddPartitionsToTxnPartitionResult::default();
                pr.partition_index = tp.1;
                pr.partition_error_code = *code;
                tr.results_by_partition.push(pr);
            }
            result.topic_results.push(tr);
        }
        resp.results_by_transaction.push(result);
    }
    resp
}

/// AddOffsetsToTxn: the group's `__consumer_offsets` partition joins the transaction,
/// so the offsets TxnOffsetCommit stages there get its marker.
pub async fn add_offsets(
    broker: &Broker,
    req: AddOffsetsToTxnRequest,
    version: i16,
) -> AddOffsetsToTxnResponse {
    let mut resp = AddOffsetsToTxnResponse::default();
    let partition = broker
        .coordinators()
        .groups()
        .partition_for(req.group_id.0.as_str());
    if let Err(e) = broker
        .coordinators()
        .txns()
        .add_partitions(
            req.transactional_id.0.as_str(),
            req.producer_id.0,
            req.producer_epoch,
            vec![(OFFSETS_TOPIC.to_string(), partition)],
        )
        .await
    {
        resp.error_code = fenced_code(e, version, 2);
    }
    resp
}

/// EndTxn: answered once PrepareCommit/PrepareAbort is durable. v5 is transaction
/// version 2 (KIP-890 part 2): the coordinator bumps the epoch and the response
/// carries the producer id and epoch the client goes on with (-1 before v5 and on
/// errors, as Kafka answers).
pub async fn end_txn(broker: &Broker, req: EndTxnRequest, version: i16) -> EndTxnResponse {
    let mut resp = EndTxnResponse::default();
    resp.producer_id = ProducerId(-1);
    resp.producer_epoch = -1;
    let ending = Ending {
        producer_id: req.producer_id.0,
        producer_epoch: req.producer_epoch,
        commit: req.committed,
        from_client: true,
        client_transaction_version: if version >= 5 {
            TRANSACTION_VERSION_2
        } else {
            0
        },
    };
    match broker
        .coordinators()
        .txns()
        .end_txn(
            broker.coordinators().producer_ids(),
            req.transactional_id.0.as_str(),
            ending,
        )
        .await
    {
        Ok((producer_id, producer_epoch)) if version >= 5 => {
            resp.producer_id = ProducerId(producer_id);
            resp.producer_epoch = producer_epoch;
        }
        Ok(_) => {}
        Err(e) => resp.error_code = fenced_code(e, version, 2),
    }
    resp
}
