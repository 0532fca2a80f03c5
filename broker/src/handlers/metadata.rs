//! Metadata: brokers (the advertised address of the listener the client used),
//! topics with partitions led by this node (epoch 0, ISR = {node}), and
//! auto-creation when `auto.create.topics.enable` and the request allow it.

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use tidewater_quorum::acl::{AclOperation, CLUSTER_NAME, ResourceType};
use uuid::Uuid;

use super::RequestContext;
use super::authorized_operations::{Resource, cluster_for_caller, for_caller};
use super::authz::allowed;
use crate::broker_server::Broker;
use crate::broker_server::topic_names::{self, is_internal};
use crate::metadata::TopicMetadata;

const TOPIC_AUTHORIZATION_FAILED: i16 = 29;

/// What the client asked for besides topics (Metadata v8+ flags).
#[derive(Clone, Copy)]
struct Include {
    topic_operations: bool,
}

fn topic_response(
    broker: &Broker,
    ctx: &RequestContext,
    t: &TopicMetadata,
    version: i16,
    include: Include,
) -> MetadataResponseTopic {
    let mut out = MetadataResponseTopic::default();
    out.name = Some(TopicName(StrBytes::from_string(t.name.clone())));
    if version >= 8 {
        out.topic_authorized_operations = for_caller(
            broker,
            ctx,
            Resource::Topic,
            &t.name,
            include.topic_operations,
        );
    }
    if version >= 10 {
        out.topic_id = t.id;
    }
    out.is_internal = is_internal(&t.name);
    out.partitions = t
        .partitions
        .iter()
        .map(|(&p, replicas)| {
            let view = broker.metadata().partition_view(&t.name, p, replicas);
            let mut mp = MetadataResponsePartition::default();
            mp.partition_index = p;
            mp.leader_id = BrokerId(view.leader);
            mp.leader_epoch = view.leader_epoch;
            if view.leader < 0 {
                mp.error_code = E::LeaderNotAvailable.code();
            }
            mp.replica_nodes = view.replicas.iter().map(|r| BrokerId(*r)).collect();
            mp.isr_nodes = view.isr.iter().map(|r| BrokerId(*r)).collect();
            if version >= 5 {
                mp.offline_replicas = view.offline.iter().map(|r| BrokerId(*r)).collect();
            }
            mp
        })
        .collect();
    out
}

fn error_topic(name: Option<String>, id: Uuid, code: i16) -> MetadataResponseTopic {
    let mut out = MetadataResponseTopic::default();
    out.name = name.map(|n| TopicName(StrBytes::from_string(n)));
    out.topic_id = id;
    out.error_code = code;
    out
}

pub async fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    req: MetadataRequest,
    version: i16,
) -> MetadataResponse {
    let may = |ctx, op, topic: &str| allowed(broker, ctx, op, ResourceType::Topic, topic);
    let mut resp = MetadataResponse::default();
    resp.brokers = broker
        .metadata()
        .live_brokers(&ctx.listener)
        .into_iter()
        .map(|v| {
            let mut b = MetadataResponseBroker::default();
            b.node_id = BrokerId(v.id);
            b.host = StrBytes::from_string(v.host);
            b.port = i32::from(v.port);
            b.rack = v.rack.map(StrBytes::from_string);
            b
        })
        .collect();
    resp.cluster_id = Some(StrBytes::from_string(
        broker.metadata().cluster_id().to_string(),
    ));
    resp.controller_id = BrokerId(broker.metadata().controller_id());
    // Kafka 4 dropped the cluster flag from v11 on (DescribeCluster carries it).
    if (8..=10).contains(&version) {
        resp.cluster_authorized_operations =
            cluster_for_caller(broker, ctx, req.include_cluster_authorized_operations);
    }
    let include = Include {
        topic_operations: version >= 8 && req.include_topic_authorized_operations,
    };

    // v0: an empty list means all topics; v1+: null means all.
    let requested = match req.topics {
        None => None,
        Some(t) if t.is_empty() && version == 0 => None,
        Some(t) => Some(t),
    };
    let Some(requested) = requested else {
        resp.topics = broker
            .metadata()
            .topics()
            .iter()
            // As Kafka, topics the caller may not describe are left out.
            .filter(|t| may(ctx, AclOperation::Describe, &t.name))
            .map(|t| topic_response(broker, ctx, t, version, include))
            .collect();
        return resp;
    };
    // Before v4 there is no flag and the broker setting alone decides.
    let allow_auto_create =
        broker.config().auto_create_topics_enable && (version < 4 || req.allow_auto_topic_creation);
    for rt in requested {
        let name = match rt.name {
            Some(n) => n.0.to_string(),
            None => match broker.metadata().topic_by_id(rt.topic_id) {
                Some(t) if !may(ctx, AclOperation::Describe, &t.name) => {
                    resp.topics
                        .push(error_topic(None, rt.topic_id, TOPIC_AUTHORIZATION_FAILED));
                    continue;
                }
                Some(t) => {
                    resp.topics
                        .push(topic_response(broker, ctx, &t, version, include));
                    continue;
                }
                None => {
                    resp.topics
                        .push(error_topic(None, rt.topic_id, E::UnknownTopicId.code()));
                    continue;
                }
            },
        };
        // Before existence, so an unauthorized caller learns nothing about the topic.
        if !may(ctx, AclOperation::Describe, &name) {
            resp.topics.push(error_topic(
                Some(name),
                Uuid::nil(),
                TOPIC_AUTHORIZATION_FAILED,
            ));
            continue;
        }
        if let Some(t) = broker.metadata().topic(&name) {
            resp.topics
                .push(topic_response(broker, ctx, &t, version, include));
            continue;
        }
        if topic_names::validate(&name).is_err() {
            resp.topics.push(error_topic(
                Some(name),
                Uuid::nil(),
                E::InvalidTopicException.code(),
            ));
            continue;
        }
        if !allow_auto_create || is_internal(&name) {
            resp.topics.push(error_topic(
                Some(name),
                Uuid::nil(),
                E::UnknownTopicOrPartition.code(),
            ));
            continue;
        }
        // Auto-creation needs Create on the cluster or on the topic.
        let create = |rt, n| allowed(broker, ctx, AclOperation::Create, rt, n);
        if !create(ResourceType::Cluster, CLUSTER_NAME) && !create(ResourceType::Topic, &name) {
            resp.topics.push(error_topic(
                Some(name),
                Uuid::nil(),
                TOPIC_AUTHORIZATION_FAILED,
            ));
            continue;
        }
        let _guard = broker.admin().lock().await;
        let created = match broker.metadata().topic(&name) {
            Some(t) => Ok(t),
            None => {
                broker
                    .cluster()
                    .create_topic(&name, -1, -1, Default::default(), Default::default(), false)
                    .await
            }
        };
        match created {
            Ok(t) => resp
                .topics
                .push(topic_response(broker, ctx, &t, version, include)),
            Err(e) => {
                tracing::info!(topic = %name, client_id = %ctx.client_id, message = %e, "auto-creation refused");
                resp.topics
                    .push(error_topic(Some(name), Uuid::nil(), e.code()));
            }
        }
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::test_support::{broker, ctx, encodes, eventually};
    use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
    use kafka_protocol::messages::{ApiKey, ResponseKind};

    fn request(topics: Option<&[&str]>, auto: bool) -> MetadataRequest {
        let mut r = MetadataRequest::default();
        r.allow_auto_topic_creation = auto;
        r.topics = topics.map(|ts| {
            ts.iter()
                .map(|t| {
                    let mut rt = MetadataRequestTopic::default();
                    rt.name = Some(TopicName(StrBytes::from_string(t.to_string())));
                    rt
                })
                .collect()
        });
        r
    }

    #[tokio::test]
    async fn auto_creates_when_allowed_and_reports_unknown_otherwise() {
        let tb = broker(&[("num.partitions", "3")]);
        let b = &tb.broker;
        let resp = handle(b, &ctx(), request(Some(&["fresh"]), false), 12).await;
        assert_eq!(resp.topics[0].error_code, E::UnknownTopicOrPartition.code());
        let resp = handle(b, &ctx(), request(Some(&["fresh", "bad name"]), true), 12).await;
        assert_eq!(resp.topics[0].error_code, 0);
        assert_eq!(resp.topics[0].partitions.len(), 3);
        assert_ne!(resp.topics[0].topic_id, Uuid::nil());
        assert_eq!(resp.topics[1].error_code, E::InvalidTopicException.code());
        assert_eq!(resp.brokers[0].port, 9092);
        assert_eq!(resp.brokers[0].host.as_str(), "127.0.0.1");
        assert_eq!(resp.cluster_id.as_deref(), Some("test-cluster"));
        b.ensure_offsets_topic();
        eventually("__consumer_offsets", || {
            b.metadata().topic("__consumer_offsets").is_some()
        })
        .await;
        for v in [0, 1, 4, 9, 10, 12] {
            let r = handle(b, &ctx(), request(None, false), v).await;
            assert!(
                r.topics
                    .iter()
                    .any(|t| t.name.as_ref().is_some_and(|n| n.0.as_str() == "fresh"))
            );
            let offsets = r.topics.iter().find(|t| {
                t.name
                    .as_ref()
                    .is_some_and(|n| n.0.as_str() == "__consumer_offsets")
            });
            assert!(offsets.is_some_and(|t| t.is_internal), "v{v}");
            encodes(ApiKey::Metadata, v, ResponseKind::Metadata(r));
        }
    }

    #[tokio::test]
    async fn broker_setting_disables_auto_creation() {
        let tb = broker(&[("auto.create.topics.enable", "false")]);
        let resp = handle(&tb.broker, &ctx(), request(Some(&["x"]), true), 12).await;
        assert_eq!(resp.topics[0].error_code, E::UnknownTopicOrPartition.code());
    }

    #[tokio::test]
    async fn an_unauthorized_caller_sees_no_topic_and_creates_none() {
        let tb = broker(&[
            (
                "authorizer.class.name",
                "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            ),
            ("super.users", "User:admin"),
        ]);
        let b = &tb.broker;
        let admin = RequestContext {
            principal: "User:admin".into(),
            ..ctx()
        };
        let resp = handle(b, &admin, request(Some(&["made"]), true), 12).await;
        assert_eq!(resp.topics[0].error_code, 0, "the super user auto-creates");
        // ctx() is User:ANONYMOUS, with no ACL at all.
        let resp = handle(b, &ctx(), request(None, false), 12).await;
        assert!(resp.topics.is_empty(), "{:?}", resp.topics);
        let resp = handle(b, &ctx(), request(Some(&["made", "new"]), true), 12).await;
        let codes: Vec<i16> = resp.topics.iter().map(|t| t.error_code).collect();
        assert_eq!(codes, [TOPIC_AUTHORIZATION_FAILED; 2]);
        assert!(b.metadata().topic("new").is_none(), "not auto-created");
        let resp = handle(b, &admin, request(None, false), 12).await;
        assert_eq!(resp.topics.len(), 1);
    }
}
