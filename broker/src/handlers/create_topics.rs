//! CreateTopics: Kafka's validation order (duplicates, name, partitions,
//! replication factor or explicit assignment, configs), `validate_only`, and
//! the v5+ echo of the topic's effective configs.

use std::collections::{BTreeMap, HashMap};

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};
use kafka_protocol::protocol::StrBytes;

use super::describe_configs::topic_config_entries;
use tidewater_quorum::acl::{AclOperation, CLUSTER_NAME, ResourceType};

use super::{RequestContext, authz, msg};
use crate::broker_server::Broker;
use crate::kafka_error::KafkaError;
use crate::metadata::TopicMetadata;

/// The broker checks names and config values, the controller the rest (partitions,
/// replication factor against registered brokers, rack-aware placement).
async fn create(
    broker: &Broker,
    t: &CreatableTopic,
    validate_only: bool,
) -> Result<TopicMetadata, KafkaError> {
    let name = t.name.0.to_string();
    broker.check_new_topic_name(&name)?;
    let configs = configs_of(t)?;
    broker
        .admin()
        .log_defaults()
        .with_topic_overrides(&configs)
        .map_err(|e| KafkaError::new(E::InvalidConfig, e.to_string()))?;
    if !t.assignments.is_empty() && (t.num_partitions != -1 || t.replication_factor != -1) {
        return Err(KafkaError::new(
            E::InvalidRequest,
            "Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time.".into(),
        ));
    }
    let assignments = t
        .assignments
        .iter()
        .map(|a| {
            (
                a.partition_index,
                a.broker_ids.iter().map(|b| b.0).collect(),
            )
        })
        .collect();
    broker
        .cluster()
        .create_topic(
            &name,
            t.num_partitions,
            t.replication_factor,
            assignments,
            configs,
            validate_only,
        )
        .await
}

fn configs_of(t: &CreatableTopic) -> Result<BTreeMap<String, String>, KafkaError> {
    let mut configs = BTreeMap::new();
    for c in &t.configs {
        let Some(value) = &c.value else {
            return Err(KafkaError::new(
                E::InvalidConfig,
                format!(
                    "Null value not supported for topic config {}",
                    c.name.as_str()
                ),
            ));
        };
        configs.insert(c.name.to_string(), value.to_string());
    }
    Ok(configs)
}

pub async fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    req: CreateTopicsRequest,
    version: i16,
) -> CreateTopicsResponse {
    let mut resp = CreateTopicsResponse::default();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for t in &req.topics {
        *seen.entry(t.name.0.to_string()).or_default() += 1;
    }
    // Kafka's handleCreateTopicsRequest: Create on the cluster, else on each topic.
    let cluster_create = authz::allowed(
        broker,
        ctx,
        AclOperation::Create,
        ResourceType::Cluster,
        CLUSTER_NAME,
    );
    let _guard = broker.admin().lock().await;
    for t in req.topics {
        let name = t.name.0.to_string();
        let mut r = CreatableTopicResult::default();
        r.name = t.name.clone();
        let outcome = if seen.get(&name).copied().unwrap_or(0) > 1 {
            Err(KafkaError::new(
                E::InvalidRequest,
                format!("Create topics request from client contains a duplicate topic {name}"),
            ))
        } else if !cluster_create
            && let Err(e) = authz::topic(broker, ctx, AclOperation::Create, &name)
        {
            Err(e)
        } else {
            create(broker, &t, req.validate_only).await
        };
        match outcome {
            Ok(created) => {
                if version >= 7 && !req.validate_only {
                    r.topic_id = created.id;
                }
                if version >= 5 {
                    r.num_partitions = i32::try_from(created.partitions.len()).unwrap_or(i32::MAX);
                    r.replication_factor = created
                        .partitions
                        .values()
                        .next()
                        .map_or(1, |r| i16::try_from(r.len()).unwrap_or(i16::MAX));
                    r.configs = Some(
                        topic_config_entries(broker, &created.configs)
                            .into_iter()
                            .map(|e| {
                                let mut c = CreatableTopicConfigs::default();
                                c.name = StrBytes::from_string(e.name);
                                c.value = Some(StrBytes::from_string(e.value));
                                c.read_only = false;
                                c.config_source = e.source;
                                c
                            })
                            .collect(),
                    );
                }
            }
            Err(e) => {
                r.error_code = e.code();
                if version >= 1 {
                    r.error_message = msg(e.message);
                }
                if version >= 5 {
                    r.num_partitions = -1;
                    r.replication_factor = -1;
                }
            }
        }
        resp.topics.push(r);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::test_support::{broker, encodes, eventually};
    use kafka_protocol::messages::create_topics_request::{
        CreatableReplicaAssignment, CreatableTopicConfig,
    };
    use kafka_protocol::messages::{ApiKey, BrokerId, ResponseKind, TopicName};

    fn topic(name: &str, partitions: i32, rf: i16, configs: &[(&str, &str)]) -> CreatableTopic {
        let mut t = CreatableTopic::default();
        t.name = TopicName(StrBytes::from_string(name.into()));
        t.num_partitions = partitions;
        t.replication_factor = rf;
        t.configs = configs
            .iter()
            .map(|(k, v)| {
                let mut c = CreatableTopicConfig::default();
                c.name = StrBytes::from_string(k.to_string());
                c.value = Some(StrBytes::from_string(v.to_string()));
                c
            })
            .collect();
        t
    }

    fn req(topics: Vec<CreatableTopic>, validate_only: bool) -> CreateTopicsRequest {
        let mut r = CreateTopicsRequest::default();
        r.topics = topics;
        r.validate_only = validate_only;
        r
    }

    #[tokio::test]
    async fn creates_validates_and_refuses_with_kafka_codes() {
        let tb = broker(&[("tidewater.topic.naming.policy.enable", "true")]);
        let b = &tb.broker;
        let r = handle(
            b,
            &Default::default(),
            req(vec![topic("dry", 2, 1, &[])], true),
            7,
        )
        .await;
        assert_eq!(r.topics[0].error_code, 0);
        assert!(
            b.metadata().topic("dry").is_none(),
            "validate_only must not create"
        );

        let r = handle(
            b,
            &Default::default(),
            req(
                vec![
                    topic("ok", 3, -1, &[("retention.ms", "1000")]),
                    topic("bad-rf", 1, 3, &[]),
                    topic("bad-parts", 0, 1, &[]),
                    topic("bad-config", 1, 1, &[("retention.ms", "soon")]),
                    topic("unknown-config", 1, 1, &[("no.such.config", "1")]),
                    topic("has.dot", 1, 1, &[]),
                    topic("bad name", 1, 1, &[]),
                ],
                false,
            ),
            7,
        )
        .await;
        let codes: Vec<i16> = r.topics.iter().map(|t| t.error_code).collect();
        assert_eq!(
            codes,
            vec![
                0,
                E::InvalidReplicationFactor.code(),
                E::InvalidPartitions.code(),
                E::InvalidConfig.code(),
                E::InvalidConfig.code(),
                E::InvalidTopicException.code(),
                E::InvalidTopicException.code(),
            ]
        );
        assert!(
            r.topics[5]
                .error_message
                .as_ref()
                .unwrap()
                .contains("naming policy")
        );
        assert_eq!(r.topics[0].num_partitions, 3);
        let retention = r.topics[0]
            .configs
            .as_ref()
            .unwrap()
            .iter()
            .find(|c| c.name.as_str() == "retention.ms")
            .unwrap();
        assert_eq!(retention.value.as_deref(), Some("1000"));
        assert_eq!(retention.config_source, 1, "DYNAMIC_TOPIC_CONFIG");
        assert_eq!(b.metadata().topic("ok").unwrap().partitions.len(), 3);
        eventually("log ok-2", || b.log("ok", 2).is_some()).await;
        encodes(
            ApiKey::CreateTopics,
            7,
            ResponseKind::CreateTopics(r.clone()),
        );
        encodes(
            ApiKey::CreateTopics,
            2,
            ResponseKind::CreateTopics(
                handle(
                    b,
                    &Default::default(),
                    req(vec![topic("ok", 1, 1, &[])], false),
                    2,
                )
                .await,
            ),
        );

        let r = handle(
            b,
            &Default::default(),
            req(vec![topic("ok", 1, 1, &[])], false),
            7,
        )
        .await;
        assert_eq!(r.topics[0].error_code, E::TopicAlreadyExists.code());
        let r = handle(
            b,
            &Default::default(),
            req(
                vec![topic("dup", 1, 1, &[]), topic("dup", 1, 1, &[])],
                false,
            ),
            7,
        )
        .await;
        assert_eq!(r.topics[0].error_code, E::InvalidRequest.code());
        assert_eq!(r.topics[1].error_code, E::InvalidRequest.code());
    }

    #[tokio::test]
    async fn dot_and_underscore_collide() {
        let tb = broker(&[]);
        let r = handle(
            &tb.broker,
            &Default::default(),
            req(
                vec![topic("a.b", 1, 1, &[]), topic("a_b", 1, 1, &[])],
                false,
            ),
            7,
        )
        .await;
        assert_eq!(r.topics[0].error_code, 0);
        assert_eq!(r.topics[1].error_code, E::InvalidTopicException.code());
        assert!(
            r.topics[1]
                .error_message
                .as_ref()
                .unwrap()
                .contains("collides")
        );
    }

    #[tokio::test]
    async fn explicit_assignments() {
        let tb = broker(&[]);
        let b = &tb.broker;
        let assign = |p: i32, brokers: &[i32]| {
            let mut a = CreatableReplicaAssignment::default();
            a.partition_index = p;
            a.broker_ids = brokers.iter().map(|x| BrokerId(*x)).collect();
            a
        };
        let mut good = topic("assigned", -1, -1, &[]);
        good.assignments = vec![assign(0, &[1]), assign(1, &[1])];
        let mut bad = topic("elsewhere", -1, -1, &[]);
        bad.assignments = vec![assign(0, &[2])];
        let mut gap = topic("gap", -1, -1, &[]);
        gap.assignments = vec![assign(1, &[1])];
        let r = handle(b, &Default::default(), req(vec![good, bad, gap], false), 7).await;
        assert_eq!(r.topics[0].error_code, 0);
        assert_eq!(r.topics[1].error_code, E::InvalidReplicaAssignment.code());
        assert_eq!(r.topics[2].error_code, E::InvalidReplicaAssignment.code());
        assert_eq!(b.metadata().topic("assigned").unwrap().partitions.len(), 2);
    }
}
