//! Runs each broker [`ControllerCall`] as ONE serialized controller decision (read
//! barrier first, so the reply reflects committed state) and maps every failure to the
//! Kafka error code a Java client would get. `validate_only` calls decide, and so
//! validate, but write nothing.

use std::collections::BTreeMap;

use super::{ControllerShared, ServiceError, records_only};
use crate::controller::{Controller, ControllerError, Decision, list_partition_reassignments};
use crate::image::{MetadataImage, TopicImage};
use crate::raft::{MembershipError, QuorumError};
use crate::records::{MetadataRecord, PartitionRecord, TopicId};
use crate::rpc::{ControllerCall, ControllerFailure, ControllerReply, codes};

/// A decision's records, dropped when the call only validates.
fn unless_validating(records: Vec<MetadataRecord>, validate_only: bool) -> Vec<MetadataRecord> {
    if validate_only { Vec::new() } else { records }
}

impl ControllerShared {
    pub(crate) async fn handle(
        &self,
        call: ControllerCall,
    ) -> Result<ControllerReply, ControllerFailure> {
        self.refuse_unless_leader()?;
        match call {
            ControllerCall::AddVoter { voter_id, endpoint } => {
                self.change_voters(voter_id, Some(endpoint)).await
            }
            ControllerCall::RemoveVoter { voter_id } => self.change_voters(voter_id, None).await,
            call => self.run(call).await.map_err(|e| self.failure(e)),
        }
    }

    /// NOT_CONTROLLER (naming the leader this node knows of) unless this node leads.
    pub(super) fn refuse_unless_leader(&self) -> Result<(), ControllerFailure> {
        let node = &self.node;
        if node.leader() == Some(node.node_id()) {
            Ok(())
        } else {
            let leader = node.leader();
            let endpoint = leader.and_then(|l| node.peer_addr(l));
            Err(ControllerFailure::not_controller_at(
                node.node_id(),
                leader,
                endpoint.as_deref(),
            ))
        }
    }

    /// AddRaftVoter (with the new voter's endpoint) or RemoveRaftVoter. Not a
    /// controller decision: it changes the raft membership, not the metadata image, and
    /// must not hold up other decisions while a new voter catches up.
    async fn change_voters(
        &self,
        voter_id: i32,
        endpoint: Option<String>,
    ) -> Result<ControllerReply, ControllerFailure> {
        let node = &self.node;
        let Ok(id) = u64::try_from(voter_id) else {
            // INVALID_REQUEST, as Kafka answers a malformed voter.
            return Err(ControllerFailure::new(
                42,
                format!("voter id {voter_id} must not be negative"),
            ));
        };
        let timeout = node.request_timeout();
        let result = match endpoint {
            Some(endpoint) => node.add_voter(id, endpoint, timeout).await,
            None => node.remove_voter(id, timeout).await,
        };
        match result {
            Ok(()) => Ok(ControllerReply::Done),
            Err(MembershipError::NotLeader { leader }) => {
                let endpoint = leader.and_then(|l| node.peer_addr(l));
                Err(ControllerFailure::not_controller_at(
                    node.node_id(),
                    leader,
                    endpoint.as_deref(),
                ))
            }
            Err(e) => Err(ControllerFailure::new(e.error_code(), e.to_string())),
        }
    }

    async fn run(&self, call: ControllerCall) -> Result<ControllerReply, ServiceError> {
        use ControllerReply as R;
        match call {
            ControllerCall::RegisterBroker(req) => self
                .decide(|c, image, now| c.register_broker(image, &req, now))
                .await
                .map(R::BrokerEpoch),
            ControllerCall::Heartbeat(hb) => self
                .decide(|c, image, now| c.heartbeat(image, &hb, now))
                .await
                .map(R::Heartbeat),
            ControllerCall::UnregisterBroker { broker_id } => {
                let decide = records_only(|c, image, _| c.unregister_broker(image, broker_id));
                self.decide(decide).await.map(|()| R::Done)
            }
            ControllerCall::AlterPartition(req) => self
                .decide(|c, image, _| {
                    let records = c.alter_partition(image, &req)?;
                    let after = partition_after(image, req.topic_id, req.partition, &records)?;
                    Ok(Decision {
                        records,
                        reply: after,
                    })
                })
                .await
                .map(R::Partition),
            ControllerCall::AlterPartitions(reqs) => self
                .decide(|c, image, _| Ok(each_failure(c.alter_partitions(image, &reqs))))
                .await
                .map(R::Partitions),
            ControllerCall::CreateTopic {
                topic,
                validate_only,
            } => self
                .decide(|c, image, _| {
                    let records = c.create_topic(image, &topic)?;
                    let reply = created_topic(&topic.name, topic.topic_id, &records);
                    Ok(Decision {
                        records: unless_validating(records, validate_only),
                        reply,
                    })
                })
                .await
                .map(R::Topic),
            ControllerCall::DeleteTopic { name } => self
                .decide(|c, image, _| {
                    let records = c.delete_topic(image, &name)?;
                    let reply = image.topic(&name).map_or(0, |t| t.topic_id);
                    Ok(Decision { records, reply })
                })
                .await
                .map(R::TopicId),
            ControllerCall::DeleteTopicById { topic_id } => {
                let decide = records_only(|c, image, _| c.delete_topic_by_id(image, topic_id));
                self.decide(decide).await.map(|()| R::TopicId(topic_id))
            }
            ControllerCall::CreatePartitions {
                topic,
                count,
                assignments,
                validate_only,
            } => {
                let decide = records_only(|c, image, _| {
                    let records =
                        c.create_partitions(image, &topic, count, assignments.as_deref())?;
                    Ok(unless_validating(records, validate_only))
                });
                self.decide(decide).await.map(|()| R::Done)
            }
            ControllerCall::IncrementalAlterConfigs {
                resource_type,
                resource_name,
                ops,
                validate_only,
            } => {
                let decide = records_only(|c, image, _| {
                    let records =
                        c.incremental_alter_configs(image, resource_type, &resource_name, &ops)?;
                    Ok(unless_validating(records, validate_only))
                });
                self.decide(decide).await.map(|()| R::Done)
            }
            ControllerCall::AlterPartitionReassignment {
                topic,
                partition,
                target,
            } => {
                let decide = records_only(|c, image, _| {
                    c.alter_partition_reassignment(image, &topic, partition, target.as_deref())
                });
                self.decide(decide).await.map(|()| R::Done)
            }
            ControllerCall::ListPartitionReassignments => self
                .decide(|_, image, _| Ok(read_only(list_partition_reassignments(image))))
                .await
                .map(R::Reassignments),
            ControllerCall::ElectLeader {
                topic,
                partition,
                election,
            } => {
                let decide =
                    records_only(|c, image, _| c.elect_leader(image, &topic, partition, election));
                self.decide(decide).await.map(|()| R::Done)
            }
            ControllerCall::CompleteLeaderHandoffs { partitions } => {
                let decide =
                    records_only(|c, image, _| Ok(c.complete_leader_handoffs(image, &partitions)));
                self.decide(decide).await.map(|()| R::Done)
            }
            ControllerCall::ElectLeaders {
                partitions,
                election,
            } => self
                .decide(|c, image, _| {
                    Ok(each_failure(c.elect_leaders(image, &partitions, election)))
                })
                .await
                .map(R::Elections),
            ControllerCall::UpdateFeatures {
                updates,
                validate_only,
            } => {
                let decide = records_only(|c: &mut Controller, image, _| {
                    let records = c.update_features(image, &updates)?;
                    Ok(unless_validating(records, validate_only))
                });
                self.decide(decide).await.map(|()| R::Done)
            }
            ControllerCall::AddVoter { .. } | ControllerCall::RemoveVoter { .. } => {
                Err(QuorumError::Config("voter changes are not controller decisions".into()).into())
            }
            ControllerCall::AlterUserScramCredentials {
                deletions,
                upsertions,
            } => self
                .decide(|c, image, _| {
                    c.alter_user_scram_credentials(image, &deletions, &upsertions)
                })
                .await
                .map(R::ScramResults),
            ControllerCall::CreateAcls { creations } => self
                .decide(|c, image, _| c.create_acls(image, &creations))
                .await
                .map(R::AclResults),
            ControllerCall::DeleteAcls { filters } => self
                .decide(|c, image, _| c.delete_acls(image, &filters))
                .await
                .map(R::AclDeleteResults),
            ControllerCall::DescribeQuorum => {
                // The barrier confirms leadership, so the metrics are a leader's.
                self.decide(|_, _, _| Ok(read_only(()))).await?;
                Ok(R::Quorum(self.node.listener_state().quorum_info()))
            }
        }
    }

    /// The Kafka error a client gets for `e`.
    pub(super) fn failure(&self, e: ServiceError) -> ControllerFailure {
        let node = &self.node;
        match e {
            ServiceError::Refused(e) => ControllerFailure::from(&e),
            ServiceError::Quorum(QuorumError::NotLeader { leader }) => {
                ControllerFailure::not_controller(node.node_id(), leader)
            }
            ServiceError::Quorum(e @ QuorumError::Timeout(_)) => {
                ControllerFailure::new(codes::REQUEST_TIMED_OUT, e.to_string())
            }
            ServiceError::Quorum(e) => {
                // A node losing leadership or stopping fails raft writes; the client
                // should go to the next controller rather than give up.
                let metrics = node.metrics().borrow().clone();
                if metrics.running_state.is_err() || metrics.current_leader != Some(node.node_id())
                {
                    let leader = metrics.current_leader.filter(|l| *l != node.node_id());
                    ControllerFailure::not_controller(node.node_id(), leader)
                } else {
                    let code = match e.error_code() {
                        -1 => codes::UNKNOWN_SERVER_ERROR,
                        code => code,
                    };
                    ControllerFailure::new(code, e.to_string())
                }
            }
        }
    }
}

/// A batched decision's per-item refusals as the failures a broker gets.
fn each_failure<T>(
    d: Decision<Vec<Result<T, ControllerError>>>,
) -> Decision<Vec<Result<T, ControllerFailure>>> {
    Decision {
        records: d.records,
        reply: d
            .reply
            .into_iter()
            .map(|r| r.map_err(|e| ControllerFailure::from(&e)))
            .collect(),
    }
}

fn read_only<R>(reply: R) -> Decision<R> {
    Decision {
        records: Vec::new(),
        reply,
    }
}

/// The topic `records` create (what CreateTopics reports), built from the records.
fn created_topic(name: &str, topic_id: TopicId, records: &[MetadataRecord]) -> TopicImage {
    let partitions: BTreeMap<i32, PartitionRecord> = records
        .iter()
        .filter_map(|r| match r {
            MetadataRecord::Partition(p) if p.topic_id == topic_id => {
                Some((p.partition, p.clone()))
            }
            _ => None,
        })
        .collect();
    TopicImage {
        name: name.to_string(),
        topic_id,
        partitions,
    }
}

/// The partition's state once `records` are applied, by the image's own apply rules.
fn partition_after(
    image: &MetadataImage,
    topic_id: TopicId,
    partition: i32,
    records: &[MetadataRecord],
) -> Result<PartitionRecord, ControllerError> {
    let unknown = || ControllerError::UnknownTopicOrPartition(format!("partition {partition}"));
    let topic = image.topics_by_id.get(&topic_id).ok_or_else(unknown)?;
    let current = topic.partitions.get(&partition).ok_or_else(unknown)?;
    let mut scratch = MetadataImage::default();
    scratch.apply(&MetadataRecord::Topic {
        name: topic.name.clone(),
        topic_id,
    });
    scratch.apply(&MetadataRecord::Partition(current.clone()));
    for record in records {
        scratch.apply(record);
    }
    scratch
        .partition(topic_id, partition)
        .cloned()
        .ok_or_else(unknown)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::PartitionChange;

    #[test]
    fn partition_after_applies_the_decided_change() {
        let p = PartitionRecord {
            topic_id: 5,
            partition: 0,
            replicas: vec![1, 2, 3],
            isr: vec![1, 2, 3],
            leader: 1,
            leader_epoch: 0,
            partition_epoch: 0,
            adding_replicas: vec![],
            removing_replicas: vec![],
        };
        let mut image = MetadataImage::default();
        image.apply(&MetadataRecord::Topic {
            name: "t".into(),
            topic_id: 5,
        });
        image.apply(&MetadataRecord::Partition(p.clone()));
        let change = MetadataRecord::PartitionChange(PartitionChange {
            isr: Some(vec![1, 2]),
            ..PartitionChange::new(5, 0)
        });
        let after = partition_after(&image, 5, 0, &[change]).unwrap();
        assert_eq!(after.isr, vec![1, 2]);
        assert_eq!(after.partition_epoch, 1);
        assert_eq!(partition_after(&image, 5, 0, &[]).unwrap(), p);
        let err = partition_after(&image, 5, 9, &[]).unwrap_err();
        assert_eq!(err.error_code(), 3);
    }

    #[test]
    fn created_topic_collects_its_partitions() {
        let records = vec![
            MetadataRecord::Topic {
                name: "t".into(),
                topic_id: 7,
            },
            MetadataRecord::Partition(PartitionRecord {
                topic_id: 7,
                partition: 1,
                replicas: vec![2],
                isr: vec![2],
                leader: 2,
                leader_epoch: 0,
                partition_epoch: 0,
                adding_replicas: vec![],
                removing_replicas: vec![],
            }),
        ];
        let topic = created_topic("t", 7, &records);
        assert_eq!(topic.partitions.len(), 1);
        assert_eq!(topic.partitions[&1].replicas, vec![2]);
    }
}
