//! ElectLeaders (v0-2): preferred or unclean leader election, every partition of the
//! request decided by the controller in one call (one metadata log entry), answered
//! once this broker's image shows the new leaders.
//!
//! Kafka's rules: v0 elects preferred leaders only; null `topic_partitions` means every
//! partition, and then partitions whose election is not needed are left out of the
//! answer (KRaft's `ReplicationControlManager.electLeaders`); named partitions always
//! get a result (ELECTION_NOT_NEEDED, PREFERRED_LEADER_NOT_AVAILABLE,
//! ELIGIBLE_LEADERS_NOT_AVAILABLE, UNKNOWN_TOPIC_OR_PARTITION...). When no controller
//! answers, the remaining partitions and (v1+) the top level get REQUEST_TIMED_OUT, as
//! Kafka's forwarding broker answers.

use std::time::Duration;

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::elect_leaders_response::{PartitionResult, ReplicaElectionResult};
use kafka_protocol::messages::{ElectLeadersRequest, ElectLeadersResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use tidewater_quorum::controller::{ElectionType, batched_calls};
use tidewater_quorum::image::MetadataImage;
use tidewater_quorum::records::{NO_LEADER, PartitionRecord};
use tidewater_quorum::rpc::{ControllerCall, ControllerFailure, ControllerReply};

use super::describe_quorum::forwarded;
use super::msg;
use crate::broker_server::Broker;
use crate::kafka_error::KafkaError;
use crate::kraft::Cluster;

/// One partition's election: done, or why not.
type Election = Result<(), KafkaError>;

/// Upper bound on waiting for an elected leader to show in this broker's image.
const MAX_PROPAGATION_WAIT: Duration = Duration::from_secs(10);

/// The request's election type; `None` for a code Kafka does not define.
pub fn election_type(req: &ElectLeadersRequest, version: i16) -> Option<ElectionType> {
    match (version, req.election_type) {
        (0, _) | (_, 0) => Some(ElectionType::Preferred),
        (_, 1) => Some(ElectionType::Unclean),
        _ => None,
    }
}

/// Whether `p` could get a different leader by `election` (the controller decides; this
/// only spares it calls for the null = "every partition" request).
pub fn election_needed(image: &MetadataImage, p: &PartitionRecord, election: ElectionType) -> bool {
    match election {
        ElectionType::Preferred => p.replicas.first().is_some_and(|pref| *pref != p.leader),
        ElectionType::Unclean => p.leader == NO_LEADER || !image.is_active_broker(p.leader),
    }
}

/// The partitions to elect: `(topic, partitions, omit_not_needed)` per topic.
pub fn targets(
    req: &ElectLeadersRequest,
    image: &MetadataImage,
    election: ElectionType,
) -> Vec<(String, Vec<i32>, bool)> {
    match &req.topic_partitions {
        Some(topics) => topics
            .iter()
            .map(|t| (t.topic.0.to_string(), t.partitions.clone(), false))
            .collect(),
        None => image
            .topics_by_id
            .values()
            .map(|t| {
                let partitions = t
                    .partitions
                    .values()
                    .filter(|rec| election_needed(image, rec, election))
                    .map(|rec| rec.partition)
                    .collect();
                (t.name.clone(), partitions, true)
            })
            .collect(),
    }
}

pub async fn handle(
    broker: &Broker,
    req: ElectLeadersRequest,
    version: i16,
) -> ElectLeadersResponse {
    let Some(election) = election_type(&req, version) else {
        let message = format!("Unknown election type {}", req.election_type);
        return error_response(&req, &KafkaError::new(E::InvalidRequest, message));
    };
    let wait =
        Duration::from_millis(u64::try_from(req.timeout_ms).unwrap_or(0)).min(MAX_PROPAGATION_WAIT);
    let cluster = broker.cluster();
    let targets = targets(&req, &cluster.image(), election);
    let all: Vec<(String, i32)> = targets
        .iter()
        .flat_map(|(topic, partitions, _)| partitions.iter().map(|p| (topic.clone(), *p)))
        .collect();
    let (mut results, top_level) = elect(cluster, all, election, wait).await;
    let mut resp = ElectLeadersResponse::default();
    for (topic, partitions, omit_not_needed) in targets {
        let mut result = ReplicaElectionResult::default();
        result.topic = TopicName(StrBytes::from_string(topic));
        for (partition, outcome) in partitions.into_iter().zip(results.by_ref()) {
            let mut r = PartitionResult::default();
            r.partition_id = partition;
            if let Err(e) = outcome {
                if omit_not_needed && e.error == E::ElectionNotNeeded {
                    continue;
                }
                r.error_code = e.code();
                r.error_message = Some(StrBytes::from_string(e.message));
            }
            result.partition_result.push(r);
        }
        resp.replica_election_results.push(result);
    }
    resp.error_code = top_level.map_or(0, |e| e.code());
    resp
}

/// The elections through the controller in one call: each partition's outcome, in
/// order, and the top-level error (REQUEST_TIMED_OUT when no controller answered).
async fn elect(
    cluster: &Cluster,
    partitions: Vec<(String, i32)>,
    election: ElectionType,
    wait: Duration,
) -> (std::vec::IntoIter<Election>, Option<E>) {
    if partitions.is_empty() {
        return (Vec::new().into_iter(), None);
    }
    let count = partitions.len();
    let reply = if batched_calls(&cluster.image()) {
        let call = ControllerCall::ElectLeaders {
            partitions: partitions.clone(),
            election,
        };
        cluster.call(call).await
    } else {
        one_by_one(cluster, &partitions, election).await
    };
    let replies = match reply {
        Ok(ControllerReply::Elections(replies)) if replies.len() == count => replies,
        Ok(other) => {
            let message = format!("unexpected controller reply {other:?}");
            let error = KafkaError::new(E::UnknownServerError, message);
            return (vec![Err(error); count].into_iter(), None);
        }
        Err(f) => {
            let f = forwarded(&f);
            let top = f.unreachable.then_some(f.error.error);
            return (vec![Err(f.error); count].into_iter(), top);
        }
    };
    // Answer once this broker would route clients to the new leaders.
    let elected: Vec<&(String, i32)> = partitions
        .iter()
        .zip(&replies)
        .filter(|(_, r)| r.is_ok())
        .map(|(p, _)| p)
        .collect();
    cluster
        .wait_for_image(wait, |i| {
            elected.iter().all(|(topic, partition)| {
                i.topic(topic)
                    .and_then(|t| t.partitions.get(partition))
                    .is_some_and(|p| !election_needed(i, p, election))
            })
        })
        .await;
    let results: Vec<Election> = replies
        .into_iter()
        .map(|r| r.map_err(KafkaError::from))
        .collect();
    (results.into_iter(), None)
}

/// The elections as one-partition calls, for a 0.2.0 controller (mid-roll, below
/// 4.1-IV0), answered as the batched call would be; stops at a controller that does
/// not answer.
async fn one_by_one(
    cluster: &Cluster,
    partitions: &[(String, i32)],
    election: ElectionType,
) -> Result<ControllerReply, ControllerFailure> {
    let mut replies = Vec::with_capacity(partitions.len());
    for (topic, partition) in partitions {
        let call = ControllerCall::ElectLeader {
            topic: topic.clone(),
            partition: *partition,
            election,
        };
        replies.push(match cluster.call(call).await {
            Ok(ControllerReply::Done) => Ok(()),
            Ok(other) => Err(ControllerFailure::new(
                E::UnknownServerError.code(),
                format!("unexpected controller reply {other:?}"),
            )),
            Err(f) if forwarded(&f).unreachable => return Err(f),
            Err(f) => Err(f),
        });
    }
    Ok(ControllerReply::Elections(replies))
}

/// Kafka's `ElectLeadersRequest.getErrorResponse`: the error at the top level and for
/// every named partition.
fn error_response(req: &ElectLeadersRequest, error: &KafkaError) -> ElectLeadersResponse {
    let mut resp = ElectLeadersResponse::default();
    resp.error_code = error.code();
    resp.replica_election_results = req
        .topic_partitions
        .iter()
        .flatten()
        .map(|t| {
            let mut result = ReplicaElectionResult::default();
            result.topic = t.topic.clone();
            result.partition_result = t
                .partitions
                .iter()
                .map(|p| {
                    let mut r = PartitionResult::default();
                    r.partition_id = *p;
                    r.error_code = error.code();
                    r.error_message = msg(&error.message);
                    r
                })
                .collect();
            result
        })
        .collect();
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::test_support::{broker, encodes};
    use kafka_protocol::messages::elect_leaders_request::TopicPartitions;
    use kafka_protocol::messages::{ApiKey, ResponseKind};
    use tidewater_quorum::image::{BrokerRegistration, TopicImage};

    fn partition(partition: i32, replicas: &[i32], leader: i32) -> PartitionRecord {
        PartitionRecord {
            topic_id: 7,
            partition,
            replicas: replicas.to_vec(),
            isr: replicas.to_vec(),
            leader,
            leader_epoch: 0,
            partition_epoch: 0,
            adding_replicas: vec![],
            removing_replicas: vec![],
        }
    }

    fn registered(broker_id: i32, fenced: bool) -> BrokerRegistration {
        BrokerRegistration {
            broker_id,
            incarnation_id: 1,
            broker_epoch: 1,
            rack: None,
            listeners: vec![],
            features: Default::default(),
            fenced,
            in_controlled_shutdown: false,
        }
    }

    /// Topic "t": p0 led by its preferred replica, p1 not, p2 led by a fenced broker.
    fn image() -> MetadataImage {
        let mut image = MetadataImage::default();
        image.brokers.insert(1, registered(1, false));
        image.brokers.insert(2, registered(2, false));
        image.brokers.insert(3, registered(3, true));
        let partitions = [
            partition(0, &[1, 2], 1),
            partition(1, &[1, 2], 2),
            partition(2, &[3, 2], 3),
        ]
        .into_iter()
        .map(|p| (p.partition, p))
        .collect();
        image.topics_by_id.insert(
            7,
            TopicImage {
                name: "t".into(),
                topic_id: 7,
                partitions,
            },
        );
        image.topic_ids_by_name.insert("t".into(), 7);
        image
    }

    fn named(topic: &str, partitions: &[i32]) -> Option<Vec<TopicPartitions>> {
        let mut t = TopicPartitions::default();
        t.topic = TopicName(StrBytes::from_string(topic.into()));
        t.partitions = partitions.to_vec();
        Some(vec![t])
    }

    #[test]
    fn election_types_by_version() {
        let mut req = ElectLeadersRequest::default();
        req.election_type = 1;
        assert_eq!(
            election_type(&req, 0),
            Some(ElectionType::Preferred),
            "v0 has no type"
        );
        assert_eq!(election_type(&req, 1), Some(ElectionType::Unclean));
        req.election_type = 0;
        assert_eq!(election_type(&req, 2), Some(ElectionType::Preferred));
        req.election_type = 5;
        assert_eq!(election_type(&req, 2), None);
    }

    #[test]
    fn null_partitions_means_every_partition_that_needs_an_election() {
        let image = image();
        let mut req = ElectLeadersRequest::default();
        req.topic_partitions = None;
        assert_eq!(
            targets(&req, &image, ElectionType::Preferred),
            [("t".to_string(), vec![1], true)]
        );
        assert_eq!(
            targets(&req, &image, ElectionType::Unclean),
            [("t".to_string(), vec![2], true)]
        );
        let mut req = ElectLeadersRequest::default();
        req.topic_partitions = named("t", &[0, 9]);
        assert_eq!(
            targets(&req, &image, ElectionType::Preferred),
            [("t".to_string(), vec![0, 9], false)],
            "named partitions always get an answer"
        );
    }

    #[tokio::test]
    async fn single_node_needs_no_election() {
        let tb = broker(&[]);
        tb.broker.auto_create_topic("t").unwrap();
        for v in 0..=2 {
            let mut req = ElectLeadersRequest::default();
            req.topic_partitions = named("t", &[0, 5]);
            let r = handle(&tb.broker, req, v).await;
            let codes: Vec<i16> = r.replica_election_results[0]
                .partition_result
                .iter()
                .map(|p| p.error_code)
                .collect();
            assert_eq!(
                codes,
                [
                    E::ElectionNotNeeded.code(),
                    E::UnknownTopicOrPartition.code()
                ]
            );
            encodes(ApiKey::ElectLeaders, v, ResponseKind::ElectLeaders(r));
            let mut every = ElectLeadersRequest::default();
            every.topic_partitions = None;
            let all = handle(&tb.broker, every, v).await;
            assert!(
                all.replica_election_results
                    .iter()
                    .all(|t| t.partition_result.is_empty()),
                "not-needed elections are left out of an all-partitions answer: {all:?}"
            );
            assert!(
                all.replica_election_results
                    .iter()
                    .any(|t| t.topic.0.as_str() == "t")
            );
        }
        let mut req = ElectLeadersRequest::default();
        req.election_type = 7;
        req.topic_partitions = named("t", &[0]);
        let r = handle(&tb.broker, req, 1).await;
        assert_eq!(r.error_code, E::InvalidRequest.code());
        assert_eq!(
            r.replica_election_results[0].partition_result[0].error_code,
            E::InvalidRequest.code()
        );
    }
}
