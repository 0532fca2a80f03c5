//! The client against the real `tidewater-broker` binary: version negotiation, Metadata,
//! DescribeCluster and CreateTopics, with kcat (librdkafka) as an independent second
//! reader of the same metadata.

mod common;

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::Arc;

use common::broker::{Broker, CLUSTER_ID};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::{ApiKey, MetadataRequest};
use tidewater_client::{ClientError, Connection};

#[tokio::test]
async fn negotiates_versions_with_the_broker() {
    let broker = Broker::start().await;
    let conn = Connection::connect(&broker.bootstrap, "it-versions")
        .await
        .unwrap();
    let table = conn.api_versions();
    for api in [
        ApiKey::ApiVersions,
        ApiKey::Metadata,
        ApiKey::Produce,
        ApiKey::Fetch,
    ] {
        assert!(
            table.broker_range(api).is_some(),
            "broker does not advertise {api:?}"
        );
    }
    let version = conn.version_for::<MetadataRequest>().unwrap();
    assert!(version >= 1, "Metadata negotiated at v{version}");
    let md = conn.send(MetadataRequest::default()).await.unwrap();
    assert_eq!(md.brokers.len(), 1);
    // A fresh ApiVersions through the admin client sees the same table.
    let admin = broker.admin().await.unwrap();
    assert_eq!(&admin.api_versions().await.unwrap(), table);
    // Any request passes through the admin connection.
    let md = admin.send(MetadataRequest::default()).await.unwrap();
    assert_eq!(md.brokers[0].node_id.0, 1);
}

#[tokio::test]
async fn metadata_matches_the_broker_config_and_kcat() {
    let broker = Broker::start().await;
    let admin = broker.admin().await.unwrap();
    let configs = BTreeMap::from([("retention.ms".to_owned(), "3600000".to_owned())]);
    let created = admin.create_topic("orders", 3, 1, &configs).await.unwrap();
    assert_eq!(created.name, "orders");

    let md = admin.metadata(None).await.unwrap();
    assert_eq!(md.cluster_id.as_deref(), Some(CLUSTER_ID));
    assert_eq!(md.controller_id, 1);
    assert_eq!(md.brokers.len(), 1);
    let (host, port) = broker.bootstrap.rsplit_once(':').unwrap();
    assert_eq!(md.brokers[0].node_id, 1);
    assert_eq!(md.brokers[0].host, host);
    assert_eq!(md.brokers[0].port.to_string(), port);

    let orders = md.topic("orders").expect("orders in metadata");
    assert_eq!(orders.error_code, 0);
    let ids: Vec<i32> = orders.partitions.iter().map(|p| p.partition).collect();
    assert_eq!(ids, [0, 1, 2]);
    for p in &orders.partitions {
        assert_eq!(
            (p.leader, &p.replicas, &p.isr),
            (1, &vec![1], &vec![1]),
            "{p:?}"
        );
    }
    assert!(md.under_replicated().is_empty());
    assert!(md.offline().is_empty());
    if created.topic_id != tidewater_client::Uuid::nil() {
        assert_eq!(orders.topic_id, created.topic_id);
    }

    // librdkafka must see the same cluster.
    let kcat = Command::new("kcat")
        // cargo's LD_LIBRARY_PATH holds rdkafka-sys' own librdkafka; kcat loads Debian's.
        .env_remove("LD_LIBRARY_PATH")
        .args([
            "-b",
            &broker.bootstrap,
            "-L",
            "-J",
            "-t",
            "orders",
            "-m",
            "10",
        ])
        .output()
        .expect("run kcat (apt install kcat)");
    assert!(
        kcat.status.success(),
        "kcat: {}",
        String::from_utf8_lossy(&kcat.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&kcat.stdout).unwrap();
    assert_eq!(json["controllerid"], 1, "{json}");
    assert_eq!(json["brokers"][0]["id"], 1, "{json}");
    let partitions = json["topics"][0]["partitions"]
        .as_array()
        .expect("kcat partitions");
    assert_eq!(partitions.len(), orders.partitions.len(), "{json}");
    for (k, ours) in partitions.iter().zip(&orders.partitions) {
        assert_eq!(k["partition"], ours.partition, "{json}");
        assert_eq!(k["leader"], ours.leader, "{json}");
    }
}

#[tokio::test]
async fn unknown_topics_are_reported_not_created() {
    let broker = Broker::start().await;
    let admin = broker.admin().await.unwrap();
    let md = admin.metadata(Some(vec!["nope".to_owned()])).await.unwrap();
    let nope = md
        .topic("nope")
        .expect("the broker answers for the requested topic");
    assert_eq!(
        ResponseError::try_from_code(nope.error_code),
        Some(ResponseError::UnknownTopicOrPartition)
    );
    let again = admin.metadata(None).await.unwrap();
    assert!(
        again.topic("nope").is_none(),
        "metadata must not auto-create"
    );
}

#[tokio::test]
async fn create_topic_errors_carry_kafka_codes() {
    let broker = Broker::start().await;
    let admin = broker.admin().await.unwrap();
    admin
        .create_topic("dup", 1, 1, &BTreeMap::new())
        .await
        .unwrap();
    let code = |err: ClientError| err.kafka_error();
    let err = admin
        .create_topic("dup", 1, 1, &BTreeMap::new())
        .await
        .unwrap_err();
    assert_eq!(code(err), Some(ResponseError::TopicAlreadyExists));
    let err = admin
        .create_topic("wide", 1, 3, &BTreeMap::new())
        .await
        .unwrap_err();
    assert_eq!(code(err), Some(ResponseError::InvalidReplicationFactor));
    let err = admin
        .create_topic("none", 0, 1, &BTreeMap::new())
        .await
        .unwrap_err();
    assert_eq!(code(err), Some(ResponseError::InvalidPartitions));
    let err = admin
        .create_topic("bad/name", 1, 1, &BTreeMap::new())
        .await
        .unwrap_err();
    assert_eq!(code(err), Some(ResponseError::InvalidTopicException));
}

#[tokio::test]
async fn describe_cluster_lists_the_broker() {
    let broker = Broker::start().await;
    let admin = broker.admin().await.unwrap();
    let desc = admin.describe_cluster().await.unwrap();
    assert_eq!(desc.cluster_id, CLUSTER_ID);
    assert_eq!(desc.controller_id, 1);
    let ids: Vec<i32> = desc.brokers.iter().map(|b| b.node_id).collect();
    assert_eq!(ids, [1]);
    assert!(desc.fenced_brokers.is_empty());
}

#[tokio::test]
async fn concurrent_requests_on_one_connection_each_get_their_own_answer() {
    let broker = Broker::start().await;
    let admin = broker.admin().await.unwrap();
    for i in 0..8 {
        admin
            .create_topic(&format!("t{i}"), i + 1, 1, &BTreeMap::new())
            .await
            .unwrap();
    }
    let conn = Arc::new(
        Connection::connect(&broker.bootstrap, "it-concurrent")
            .await
            .unwrap(),
    );
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let conn = Arc::clone(&conn);
            tokio::spawn(async move {
                let topic =
                    kafka_protocol::messages::metadata_request::MetadataRequestTopic::default()
                        .with_name(Some(kafka_protocol::messages::TopicName(
                            format!("t{i}").into(),
                        )));
                let req = MetadataRequest::default().with_topics(Some(vec![topic]));
                (i, conn.send(req).await)
            })
        })
        .collect();
    for task in tasks {
        let (i, resp) = task.await.unwrap();
        let resp = resp.unwrap();
        assert_eq!(resp.topics.len(), 1);
        // Topic t{i} has i+1 partitions: a mixed-up response would show another count.
        assert_eq!(
            resp.topics[0].partitions.len(),
            i as usize + 1,
            "answer for t{i}"
        );
    }
}

#[tokio::test]
async fn large_metadata_responses_span_many_reads() {
    let broker = Broker::start().await;
    let admin = broker.admin().await.unwrap();
    let long = "x".repeat(200);
    for i in 0..60 {
        admin
            .create_topic(&format!("{long}-{i:02}"), 4, 1, &BTreeMap::new())
            .await
            .unwrap();
    }
    let md = admin.metadata(None).await.unwrap();
    let ours: Vec<_> = md
        .topics
        .iter()
        .filter(|t| t.name.starts_with(&long))
        .collect();
    assert_eq!(ours.len(), 60);
    assert!(
        ours.iter()
            .all(|t| t.partitions.len() == 4 && t.error_code == 0)
    );
    assert_eq!(
        ours[59].name,
        format!("{long}-59"),
        "topics are sorted by name"
    );
}

#[tokio::test]
async fn describe_quorum_and_features_of_a_kraft_broker() {
    let broker = Broker::start_kraft().await;
    let admin = broker.admin().await.unwrap();
    // The quorum forms just after the listener opens: poll for its leader.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let quorum = loop {
        match admin.describe_quorum().await {
            Ok(q) if q.leader_id.is_some() => break q,
            other if std::time::Instant::now() > deadline => {
                panic!("no quorum leader: {other:?}")
            }
            // Poll interval while the quorum elects, not a synchronisation.
            _ => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
        }
    };
    assert_eq!(quorum.leader_id, Some(1));
    let voters: Vec<i32> = quorum.voters.iter().map(|v| v.replica_id).collect();
    assert_eq!(voters, [1]);
    assert!(quorum.leader_epoch >= 1, "{quorum:?}");
    let features = admin.finalized_features().await.unwrap();
    let level = features[tidewater_client::METADATA_VERSION_FEATURE];
    assert!(
        tidewater_client::metadata_version_name(level).is_some(),
        "metadata.version {level} has no Kafka name"
    );
}

/// A node started without `process.roles` is a one-voter KRaft node (as in Kafka 4):
/// DescribeQuorum names it the leader and only voter, and metadata.version is finalized.
#[tokio::test]
async fn a_node_without_process_roles_is_a_one_voter_quorum() {
    let broker = Broker::start().await;
    let admin = broker.admin().await.unwrap();
    let quorum = admin.describe_quorum().await.unwrap();
    assert_eq!(quorum.leader_id, Some(1), "{quorum:?}");
    let voters: Vec<i32> = quorum.voters.iter().map(|v| v.replica_id).collect();
    assert_eq!(voters, [1]);
    let features = admin.finalized_features().await.unwrap();
    assert!(
        features.contains_key(tidewater_client::METADATA_VERSION_FEATURE),
        "{features:?}"
    );
}
