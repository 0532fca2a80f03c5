//! Issue 19 item 4: Metadata (topic), DescribeCluster and DescribeGroups report
//! every operation of the resource type when a real client (confluent-kafka's
//! AdminClient) asks for authorized operations, as Kafka does without an
//! authorizer. The scenario lives in `clients/authorized_operations.py`.

mod common;

use std::time::Duration;

use common::cluster::Cluster;
use common::process::require_python_modules;
use common::{Broker, BrokerOpts, python_client};

#[test]
fn admin_client_sees_every_supported_operation() {
    require_python_modules(&["confluent_kafka"]);
    let b = Broker::start(BrokerOpts::default());
    let args = vec!["--bootstrap".to_string(), b.bootstrap()];
    let out = python_client("authorized_operations.py", &args, Duration::from_secs(120)).ok();
    assert!(out.stdout.contains("\"ok\": true"), "{out}");
}

/// The same through a KRaft leader replica (the replicated produce path / the
/// image-backed metadata), on one combined node.
#[test]
fn kraft_cluster_reports_the_same_operations() {
    require_python_modules(&["confluent_kafka"]);
    // One node: the offsets topic must fit on it for the group part, and its writes
    // need acks=all with min.insync.replicas (as Kafka's): one in-sync replica is enough.
    let cluster = Cluster::combined(
        1,
        &[
            ("offsets.topic.replication.factor", "1"),
            ("min.insync.replicas", "1"),
        ],
    );
    let args = vec!["--bootstrap".to_string(), cluster.bootstrap()];
    let out = python_client("authorized_operations.py", &args, Duration::from_secs(120)).ok();
    assert!(out.stdout.contains("\"ok\": true"), "{out}");
}
