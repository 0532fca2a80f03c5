//! Produce: appends each partition's record batches on its leader replica (offsets,
//! leader epoch, LogAppendTime, idempotent producer checks in the log layer), answers
//! acks=1 once the leader has them and acks=all once the ISR has (the high watermark
//! passed them), and wakes long-polling fetches. acks=0 gets no response. A
//! transactional producer's first batch on a partition is verified with its
//! transaction coordinator first ([`super::produce_verify`], KIP-890).

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};
use std::time::Duration;

use tidewater_quorum::acl::{AclOperation, ResourceType};
use tidewater_storage::producer_state::TxnVerification;
use tidewater_storage::{LogAppendInfo, TimestampType};
use tokio::sync::oneshot;
use tracing::{debug, warn};

use super::authz::allowed;
use super::record_errors::{keyless_records, out_of_range_timestamps};
use super::{RequestContext, msg};
use crate::broker_server::topic_names::is_internal;
use crate::broker_server::{Broker, now_ms};
use crate::replica_manager::{AckResult, Partition};

fn error_partition(
    index: i32,
    code: i16,
    message: Option<String>,
    version: i16,
) -> PartitionProduceResponse {
    let mut p = PartitionProduceResponse::default();
    p.index = index;
    p.error_code = code;
    p.base_offset = -1;
    p.log_append_time_ms = -1;
    p.log_start_offset = -1;
    if version >= 8 {
        p.error_message = message.and_then(msg);
    }
    p
}

/// Whether any partition failed (acks=0 then closes the connection).
pub fn any_error(resp: &ProduceResponse) -> bool {
    resp.responses
        .iter()
        .flat_map(|t| &t.partition_responses)
        .any(|p| p.error_code != 0)
}

pub async fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    req: ProduceRequest,
    version: i16,
) -> ProduceResponse {
    let acks = req.acks;
    let req_timeout = req.timeout_ms;
    // Transactional batches are checked by the log's producer state (epoch, sequence);
    // their transaction ends with the coordinator's marker.
    let transactional_id = req.transactional_id.as_ref().map(|t| t.0.to_string());
    let refuse: Option<(E, &str)> = if !matches!(acks, -1..=1) {
        Some((E::InvalidRequiredAcks, "acks must be -1, 0 or 1"))
    } else if transactional_id.as_deref().is_some_and(|id| {
        !allowed(
            broker,
            ctx,
            AclOperation::Write,
            ResourceType::TransactionalId,
            id,
        )
    }) {
        Some((
            E::TransactionalIdAuthorizationFailed,
            "Transactional Id authorization failed.",
        ))
    } else {
        None
    };
    let verified = match (&transactional_id, refuse) {
        (Some(id), None) => super::produce_verify::verify(broker, ctx, &req, id, version).await,
        _ => super::produce_verify::Verified::off(),
    };
    let mut resp = ProduceResponse::default();
    let mut appended = false;
    // acks=all answers parked until the ISR has the records: (topic slot, partition slot, wait).
    let mut waits: Vec<(usize, usize, oneshot::Receiver<AckResult>)> = Vec::new();
    for topic in req.topic_data {
        let name = topic.name.0.to_string();
        let mut tr = TopicProduceResponse::default();
        tr.name = topic.name.clone();
        // As Kafka, before anything else about the topic (even whether it exists).
        let authorized = allowed(broker, ctx, AclOperation::Write, ResourceType::Topic, &name);
        for pd in topic.partition_data {
            let index = pd.index;
            let fail =
                |code: i16, m: &str| error_partition(index, code, Some(m.to_string()), version);
            if let Some((error, m)) = refuse {
                tr.partition_responses.push(fail(error.code(), m));
                continue;
            }
            if !authorized {
                tr.partition_responses.push(fail(
                    E::TopicAuthorizationFailed.code(),
                    "Topic authorization failed.",
                ));
                continue;
            }
            if is_internal(&name) {
                tr.partition_responses.push(fail(
                    E::InvalidTopicException.code(),
                    "cannot produce to an internal topic",
                ));
                continue;
            }
            let Some(records) = pd.records else {
                tr.partition_responses
                    .push(fail(E::CorruptMessage.code(), "no records"));
                continue;
            };
            let verification = match verified.for_partition(&name, index) {
                Ok(v) => v,
                Err(error) => {
                    broker.metrics().produce_failed(&name);
                    tr.partition_responses.push(fail(
                        error.code(),
                        "Unable to verify the partition has been added to the transaction.",
                    ));
                    continue;
                }
            };
            match broker.replicas().leader_replica(&name, index) {
                Ok(replica) => {
                    let (answer, wrote, wait) = replicated_append(
                        broker,
                        ctx,
                        &replica,
                        &name,
                        index,
                        &records,
                        acks,
                        req_timeout,
                        version,
                        verification,
                    );
                    if let Some(rx) = wait {
                        waits.push((resp.responses.len(), tr.partition_responses.len(), rx));
                    }
                    tr.partition_responses.push(answer);
                    appended |= wrote;
                }
                Err(error) => {
                    broker.metrics().produce_failed(&name);
                    let message = if error == E::UnknownTopicOrPartition {
                        "This server does not host this topic-partition."
                    } else {
                        "This server is not the leader for that topic-partition."
                    };
                    tr.partition_responses.push(fail(error.code(), message));
                }
            }
        }
        resp.responses.push(tr);
    }
    if appended {
        broker.replicas().notifier().notify();
    }
    // The request timeout bounds the wait; the leader tick also expires waits.
    let deadline = Duration::from_millis(u64::try_from(req_timeout.max(0)).unwrap_or(0))
        + Duration::from_millis(500);
    for (t, p, rx) in waits {
        let result = match tokio::time::timeout(deadline, rx).await {
            Ok(Ok(r)) => r.map_err(|e| (e.code(), e.to_string())),
            Ok(Err(_)) => Err((
                E::NotLeaderOrFollower.code(),
                "leadership moved".to_string(),
            )),
            Err(_) => Err((
                E::RequestTimedOut.code(),
                "replication timed out".to_string(),
            )),
        };
        if let Err((code, message)) = result {
            let topic = resp.responses[t].name.0.to_string();
            let slot = &mut resp.responses[t].partition_responses[p];
            let index = slot.index;
            if code == E::RequestTimedOut.code() {
                // The ISR did not reach the records within the request timeout: say
                // which follower held the high watermark back.
                let state = broker
                    .replicas()
                    .get_by_name(&topic, index)
                    .map_or_else(|| "no local replica".into(), |r| r.describe_leader());
                warn!(%topic, partition = index, client_id = %ctx.client_id, %state, "acks=all produce timed out waiting for the ISR");
            }
            *slot = error_partition(index, code, Some(message), version);
        }
    }
    super::produce_leader_hint::await_next_leaders(broker, &resp, version, req_timeout).await;
    super::produce_leader_hint::add_leader_hints(broker, ctx, &mut resp, version);
    resp
}

/// An INVALID_RECORD or INVALID_TIMESTAMP refusal gets Kafka's per-record errors
/// (KIP-467) when they can be named: keyless records sent to a compacted topic,
/// CreateTimes outside the topic's `message.timestamp.{before,after}.max.ms`.
fn explain_invalid_records(
    broker: &Broker,
    topic: &str,
    partition: i32,
    records: &[u8],
    answer: &mut PartitionProduceResponse,
    version: i16,
) {
    let code = answer.error_code;
    if code != E::InvalidRecord.code() && code != E::InvalidTimestamp.code() {
        return;
    }
    let Some(t) = broker.metadata().topic(topic) else {
        return;
    };
    let config = broker.admin().topic_log_config(&t.configs);
    let errors = if code == E::InvalidRecord.code() {
        config
            .cleanup_policy
            .compacts()
            .then(|| keyless_records(records, topic, partition))
            .flatten()
    } else if config.message_timestamp_type == TimestampType::CreateTime {
        out_of_range_timestamps(
            records,
            now_ms(),
            config.message_timestamp_before_max_ms,
            config.message_timestamp_after_max_ms,
        )
    } else {
        None
    };
    if let Some(errors) = errors {
        errors.fill(answer, version);
    }
}

fn success(index: i32, info: &LogAppendInfo, version: i16) -> PartitionProduceResponse {
    let mut p = PartitionProduceResponse::default();
    p.index = index;
    p.base_offset = info.first_offset;
    p.log_append_time_ms = info.log_append_time;
    p.log_start_offset = if version >= 5 {
        info.log_start_offset
    } else {
        -1
    };
    p
}

/// Produce to a replicated partition this broker leads; returns the partition's
/// answer (final unless an acks=all wait was queued) and whether data was appended.
#[allow(clippy::too_many_arguments)]
fn replicated_append(
    broker: &Broker,
    ctx: &RequestContext,
    replica: &Partition,
    name: &str,
    index: i32,
    records: &[u8],
    acks: i16,
    timeout_ms: i32,
    version: i16,
    verification: TxnVerification,
) -> (
    PartitionProduceResponse,
    bool,
    Option<oneshot::Receiver<AckResult>>,
) {
    match replica.append_verified_as_leader_replica(
        broker.config().node_id,
        records,
        acks == -1,
        timeout_ms,
        verification,
    ) {
        Ok((info, wait)) => {
            if !info.duplicate {
                broker
                    .metrics()
                    .produced(name, info.record_count, records.len() as u64);
            }
            (success(index, &info, version), true, wait)
        }
        Err(e) => {
            debug!(topic = %name, partition = index, client_id = %ctx.client_id, code = e.error_code(), error = %e.message(), "produce rejected");
            broker.metrics().produce_failed(name);
            broker.metrics().request_error("Produce", e.error_code());
            let mut answer = error_partition(index, e.error_code(), Some(e.message()), version);
            explain_invalid_records(broker, name, index, records, &mut answer, version);
            (answer, false, None)
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::broker_server::offsets_backend::encode_batch;
    use crate::handlers::test_support::{broker, ctx, encodes};
    use bytes::Bytes;
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use kafka_protocol::messages::{ApiKey, ResponseKind, TopicName};
    use kafka_protocol::protocol::StrBytes;

    pub(crate) fn produce_request(
        topic: &str,
        partition: i32,
        records: Option<Bytes>,
        acks: i16,
    ) -> ProduceRequest {
        let mut pd = PartitionProduceData::default();
        pd.index = partition;
        pd.records = records;
        let mut td = TopicProduceData::default();
        td.name = TopicName(StrBytes::from_string(topic.into()));
        td.partition_data = vec![pd];
        let mut r = ProduceRequest::default();
        r.acks = acks;
        r.timeout_ms = 1000;
        r.topic_data = vec![td];
        r
    }

    fn batch(n: usize) -> Bytes {
        let recs: Vec<_> = (0..n)
            .map(|i| (Bytes::from(format!("k{i}")), Some(Bytes::from_static(b"v"))))
            .collect();
        encode_batch(&recs, now_ms()).unwrap()
    }

    #[tokio::test]
    async fn appends_assign_offsets_and_move_the_high_watermark() {
        let tb = broker(&[]);
        let b = &tb.broker;
        b.auto_create_topic("t").unwrap();
        let r = handle(b, &ctx(), produce_request("t", 0, Some(batch(3)), 1), 9).await;
        assert_eq!(r.responses[0].partition_responses[0].error_code, 0);
        assert_eq!(r.responses[0].partition_responses[0].base_offset, 0);
        let r = handle(b, &ctx(), produce_request("t", 0, Some(batch(2)), -1), 9).await;
        assert_eq!(r.responses[0].partition_responses[0].base_offset, 3);
        assert_eq!(b.log("t", 0).unwrap().high_watermark(), 5);
        handle(b, &ctx(), produce_request("t", 0, Some(batch(1)), 0), 9).await;
        assert_eq!(b.log("t", 0).unwrap().high_watermark(), 6);
        for v in [3, 5, 8, 12] {
            let r = handle(b, &ctx(), produce_request("t", 0, Some(batch(1)), 1), v).await;
            encodes(ApiKey::Produce, v, ResponseKind::Produce(r));
        }
    }

    #[tokio::test]
    async fn errors_map_to_kafka_codes() {
        let tb = broker(&[]);
        let b = &tb.broker;
        b.auto_create_topic("t").unwrap();
        let code = |r: ProduceResponse| r.responses[0].partition_responses[0].error_code;
        let r = handle(
            b,
            &ctx(),
            produce_request("missing", 0, Some(batch(1)), 1),
            9,
        )
        .await;
        assert_eq!(code(r), E::UnknownTopicOrPartition.code());
        let r = handle(b, &ctx(), produce_request("t", 7, Some(batch(1)), 1), 9).await;
        assert_eq!(code(r), E::UnknownTopicOrPartition.code());
        let r = handle(b, &ctx(), produce_request("t", 0, Some(batch(1)), 2), 9).await;
        assert_eq!(code(r), E::InvalidRequiredAcks.code());
        let r = handle(
            b,
            &ctx(),
            produce_request("__consumer_offsets", 0, Some(batch(1)), 1),
            9,
        )
        .await;
        assert_eq!(code(r), E::InvalidTopicException.code());
        let mut corrupt = batch(1).to_vec();
        let last = corrupt.len() - 1;
        corrupt[last] ^= 0xff;
        let r = handle(
            b,
            &ctx(),
            produce_request("t", 0, Some(Bytes::from(corrupt)), 1),
            9,
        )
        .await;
        assert_eq!(code(r), E::CorruptMessage.code());
    }

    #[tokio::test]
    async fn acks_zero_is_silent_on_success_and_closes_on_error() {
        use crate::handlers::{Reply, dispatch};
        use crate::protocol::DecodedRequest;
        use kafka_protocol::messages::{RequestHeader, RequestKind};
        let tb = broker(&[]);
        let b = &tb.broker;
        b.auto_create_topic("t").unwrap();
        let req = |topic: &str| DecodedRequest {
            header: RequestHeader::default(),
            api_key: ApiKey::Produce,
            version: 9,
            body: RequestKind::Produce(produce_request(topic, 0, Some(batch(1)), 0)),
        };
        assert!(matches!(dispatch(b, &ctx(), req("t")).await, Reply::Silent));
        assert!(matches!(
            dispatch(b, &ctx(), req("missing")).await,
            Reply::Close
        ));
    }
}
