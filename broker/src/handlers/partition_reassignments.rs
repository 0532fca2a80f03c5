//! AlterPartitionReassignments (v0-1) and ListPartitionReassignments (v0): move a
//! partition's replicas to a target set (or cancel an ongoing move) through the
//! controller, and list the moves in progress with their adding/removing replicas.
//!
//! The controller decides each partition (KRaft's `ReplicationControlManager` rules
//! and error codes); the replica manager then adds the new replicas, and the
//! controller completes the move (dropping the removed replicas, whose logs are then
//! deleted) once the target replicas are all in sync. Unreachable controllers give
//! REQUEST_TIMED_OUT, as Kafka's forwarding broker answers.

use std::collections::HashSet;
use std::time::Duration;

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::alter_partition_reassignments_response::{
    ReassignablePartitionResponse, ReassignableTopicResponse,
};
use kafka_protocol::messages::list_partition_reassignments_response::{
    OngoingPartitionReassignment, OngoingTopicReassignment,
};
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse, BrokerId,
    ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use tidewater_quorum::controller::OngoingReassignment;
use tidewater_quorum::rpc::{ControllerCall, ControllerReply};

use super::describe_quorum::{Forwarded, forward_done, forwarded};
use super::msg;
use crate::broker_server::Broker;
use crate::kafka_error::KafkaError;
use crate::kraft::Cluster;

/// Upper bound on waiting for a started move to show in this broker's image.
const MAX_PROPAGATION_WAIT: Duration = Duration::from_secs(10);

/// Kafka's checks of a manual assignment that need no cluster state.
pub fn check_target(target: &[i32]) -> Result<(), KafkaError> {
    let invalid = |m: String| Err(KafkaError::new(E::InvalidReplicaAssignment, m));
    if target.is_empty() {
        return invalid("The manual partition assignment includes an empty replica list.".into());
    }
    let mut seen = HashSet::new();
    if let Some(dup) = target.iter().find(|b| !seen.insert(**b)) {
        return invalid(format!(
            "The manual partition assignment includes the broker {dup} more than once."
        ));
    }
    if let Some(neg) = target.iter().find(|b| **b < 0) {
        return invalid(format!(
            "The manual partition assignment includes broker {neg}, but no such broker is registered."
        ));
    }
    Ok(())
}

/// KIP-860 (v1 with `allow_replication_factor_change = false`): the target must keep
/// the replication factor of the replicas before any ongoing move.
pub fn check_replication_factor(original: usize, target: usize) -> Result<(), KafkaError> {
    if original == target {
        Ok(())
    } else {
        Err(KafkaError::new(
            E::InvalidReplicationFactor,
            format!("The replication factor is changed from {original} to {target}"),
        ))
    }
}

pub async fn alter(
    broker: &Broker,
    req: AlterPartitionReassignmentsRequest,
    version: i16,
) -> AlterPartitionReassignmentsResponse {
    let wait =
        Duration::from_millis(u64::try_from(req.timeout_ms).unwrap_or(0)).min(MAX_PROPAGATION_WAIT);
    let keep_rf = version >= 1 && !req.allow_replication_factor_change;
    let mut resp = AlterPartitionReassignmentsResponse::default();
    resp.allow_replication_factor_change = req.allow_replication_factor_change;
    let mut unreachable: Option<KafkaError> = None;
    for t in req.topics {
        let topic = t.name.0.to_string();
        let mut tr = ReassignableTopicResponse::default();
        tr.name = t.name;
        for p in t.partitions {
            let target: Option<Vec<i32>> = p.replicas.map(|r| r.into_iter().map(|b| b.0).collect());
            let outcome = match &unreachable {
                Some(err) => Err(err.clone()),
                None => {
                    let r = reassign(
                        broker.cluster(),
                        &topic,
                        p.partition_index,
                        target,
                        keep_rf,
                        wait,
                    )
                    .await;
                    if let Err(Forwarded {
                        error,
                        unreachable: true,
                    }) = &r
                    {
                        unreachable = Some(error.clone());
                    }
                    r.map_err(|f| f.error)
                }
            };
            let mut pr = ReassignablePartitionResponse::default();
            pr.partition_index = p.partition_index;
            if let Err(e) = outcome {
                pr.error_code = e.code();
                pr.error_message = msg(e.message);
            }
            tr.partitions.push(pr);
        }
        resp.responses.push(tr);
    }
    if let Some(e) = unreachable {
        resp.error_code = e.code();
        resp.error_message = msg(e.message);
    }
    resp
}

/// One partition through the controller.
async fn reassign(
    cluster: &Cluster,
    topic: &str,
    partition: i32,
    target: Option<Vec<i32>>,
    keep_rf: bool,
    wait: Duration,
) -> Result<(), Forwarded> {
    let local = |error: KafkaError| Forwarded {
        error,
        unreachable: false,
    };
    if let Some(target) = &target {
        check_target(target).map_err(local)?;
        if keep_rf {
            let image = cluster.image();
            if let Some(p) = image
                .topic(topic)
                .and_then(|t| t.partitions.get(&partition))
            {
                let original = p.replicas.len() - p.adding_replicas.len().min(p.replicas.len());
                check_replication_factor(original, target.len()).map_err(local)?;
            }
        }
    }
    forward_done(
        cluster,
        ControllerCall::AlterPartitionReassignment {
            topic: topic.to_string(),
            partition,
            target: target.clone(),
        },
    )
    .await?;
    // So a ListPartitionReassignments or Metadata to this broker sees the move.
    cluster
        .wait_for_image(wait, |i| {
            i.topic(topic)
                .and_then(|t| t.partitions.get(&partition))
                .is_some_and(|p| match &target {
                    Some(target) => target.iter().all(|b| p.replicas.contains(b)),
                    None => p.adding_replicas.is_empty() && p.removing_replicas.is_empty(),
                })
        })
        .await;
    Ok(())
}

pub async fn list(
    broker: &Broker,
    req: ListPartitionReassignmentsRequest,
    _version: i16,
) -> ListPartitionReassignmentsResponse {
    let mut resp = ListPartitionReassignmentsResponse::default();
    match broker
        .cluster()
        .call(ControllerCall::ListPartitionReassignments)
        .await
    {
        Ok(ControllerReply::Reassignments(ongoing)) => {
            let wanted: Option<Vec<(String, Vec<i32>)>> = req.topics.map(|ts| {
                ts.into_iter()
                    .map(|t| (t.name.0.to_string(), t.partition_indexes))
                    .collect()
            });
            resp.topics = listing(&ongoing, wanted.as_deref());
        }
        Ok(other) => {
            resp.error_code = E::UnknownServerError.code();
            resp.error_message = msg(format!("unexpected controller reply {other:?}"));
        }
        Err(f) => {
            let f = forwarded(&f);
            resp.error_code = f.error.code();
            resp.error_message = msg(f.error.message);
        }
    }
    resp
}

/// The ongoing moves, all (`wanted = None`) or only the named partitions that are
/// moving (unknown or settled ones are left out, as in Kafka), grouped by topic.
pub fn listing(
    ongoing: &[OngoingReassignment],
    wanted: Option<&[(String, Vec<i32>)]>,
) -> Vec<OngoingTopicReassignment> {
    let ids = |v: &[i32]| v.iter().map(|b| BrokerId(*b)).collect::<Vec<_>>();
    let entry = |o: &OngoingReassignment| {
        let mut p = OngoingPartitionReassignment::default();
        p.partition_index = o.partition;
        p.replicas = ids(&o.replicas);
        p.adding_replicas = ids(&o.adding_replicas);
        p.removing_replicas = ids(&o.removing_replicas);
        p
    };
    let topic = |name: &str, partitions: Vec<OngoingPartitionReassignment>| {
        let mut t = OngoingTopicReassignment::default();
        t.name = TopicName(StrBytes::from_string(name.to_string()));
        t.partitions = partitions;
        t
    };
    match wanted {
        None => {
            let mut out: Vec<OngoingTopicReassignment> = Vec::new();
            for o in ongoing {
                match out.last_mut() {
                    Some(t) if t.name.0.as_str() == o.topic => t.partitions.push(entry(o)),
                    _ => out.push(topic(&o.topic, vec![entry(o)])),
                }
            }
            out
        }
        Some(wanted) => wanted
            .iter()
            .map(|(name, partitions)| {
                let found = partitions
                    .iter()
                    .filter_map(|p| {
                        ongoing
                            .iter()
                            .find(|o| o.topic == *name && o.partition == *p)
                    })
                    .map(entry)
                    .collect();
                topic(name, found)
            })
            .filter(|t| !t.partitions.is_empty())
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::test_support::{broker, encodes};
    use kafka_protocol::messages::alter_partition_reassignments_request::{
        ReassignablePartition, ReassignableTopic,
    };
    use kafka_protocol::messages::{ApiKey, ResponseKind};

    fn moving(topic: &str, partition: i32) -> OngoingReassignment {
        OngoingReassignment {
            topic: topic.into(),
            partition,
            replicas: vec![2, 3, 1],
            adding_replicas: vec![3],
            removing_replicas: vec![1],
        }
    }

    #[test]
    fn manual_assignments_are_checked_like_kafka() {
        assert!(check_target(&[1, 2]).is_ok());
        let e = check_target(&[]).unwrap_err();
        assert_eq!(e.error, E::InvalidReplicaAssignment);
        assert!(e.message.contains("empty replica list"), "{e}");
        let e = check_target(&[1, 2, 1]).unwrap_err();
        assert!(e.message.contains("broker 1 more than once"), "{e}");
        assert!(check_target(&[-1]).is_err());
        assert!(check_replication_factor(2, 2).is_ok());
        let e = check_replication_factor(2, 3).unwrap_err();
        assert_eq!(e.error, E::InvalidReplicationFactor);
        assert_eq!(e.message, "The replication factor is changed from 2 to 3");
    }

    #[test]
    fn lists_all_or_the_named_moving_partitions() {
        let ongoing = vec![moving("a", 0), moving("a", 2), moving("b", 1)];
        let all = listing(&ongoing, None);
        let shape: Vec<(String, Vec<i32>)> = all
            .iter()
            .map(|t| {
                let ps = t.partitions.iter().map(|p| p.partition_index).collect();
                (t.name.0.to_string(), ps)
            })
            .collect();
        assert_eq!(shape, [("a".into(), vec![0, 2]), ("b".into(), vec![1])]);
        let p = &all[0].partitions[0];
        assert_eq!(p.adding_replicas, [BrokerId(3)]);
        assert_eq!(p.removing_replicas, [BrokerId(1)]);
        assert_eq!(p.replicas, [BrokerId(2), BrokerId(3), BrokerId(1)]);
        let wanted = [("a".to_string(), vec![1, 2]), ("nope".to_string(), vec![0])];
        let some = listing(&ongoing, Some(&wanted));
        assert_eq!(some.len(), 1, "settled and unknown partitions are left out");
        assert_eq!(some[0].partitions.len(), 1);
        assert_eq!(some[0].partitions[0].partition_index, 2);
        assert!(listing(&[], None).is_empty());
    }

    fn alter_req(
        topic: &str,
        moves: &[(i32, Option<Vec<i32>>)],
    ) -> AlterPartitionReassignmentsRequest {
        let mut t = ReassignableTopic::default();
        t.name = TopicName(StrBytes::from_string(topic.into()));
        t.partitions = moves
            .iter()
            .map(|(p, r)| {
                let mut rp = ReassignablePartition::default();
                rp.partition_index = *p;
                rp.replicas = r.as_ref().map(|r| r.iter().map(|b| BrokerId(*b)).collect());
                rp
            })
            .collect();
        let mut req = AlterPartitionReassignmentsRequest::default();
        req.topics = vec![t];
        req
    }

    #[tokio::test]
    async fn single_node_has_nowhere_to_move() {
        let tb = broker(&[]);
        tb.broker.auto_create_topic("t").unwrap();
        let req = alter_req(
            "t",
            &[
                (0, Some(vec![1])),
                (0, Some(vec![1, 2])),
                (0, None),
                (4, Some(vec![1])),
            ],
        );
        for v in 0..=1 {
            let r = alter(&tb.broker, req.clone(), v).await;
            assert_eq!(r.error_code, 0);
            let codes: Vec<i16> = r.responses[0]
                .partitions
                .iter()
                .map(|p| p.error_code)
                .collect();
            assert_eq!(
                codes,
                [
                    0,
                    E::InvalidReplicaAssignment.code(),
                    E::NoReassignmentInProgress.code(),
                    E::UnknownTopicOrPartition.code()
                ]
            );
            encodes(
                ApiKey::AlterPartitionReassignments,
                v,
                ResponseKind::AlterPartitionReassignments(r),
            );
        }
        let l = list(&tb.broker, ListPartitionReassignmentsRequest::default(), 0).await;
        assert_eq!(l.error_code, 0);
        assert!(l.topics.is_empty());
        encodes(
            ApiKey::ListPartitionReassignments,
            0,
            ResponseKind::ListPartitionReassignments(l),
        );
    }
}
