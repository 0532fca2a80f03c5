//! Issue 17 item 2 with Apache Kafka's own tool: `kafka-metadata-quorum add-controller`
//! and `remove-controller` (KIP-853) against Tidewater brokers, and `describe
//! --replication` / `--status` showing the voters after each change. The tool sends
//! AddRaftVoter with the new controller's id, directory id and CONTROLLER endpoint
//! read from its config and `meta.properties`.

mod common;
#[path = "kafka_tools/jvm.rs"]
mod jvm;

use common::cluster::Cluster;
use common::cluster_node::Role;
use common::process::Output;
use jvm::KafkaTools;

const QUORUM: &str = "org.apache.kafka.tools.MetadataQuorumCommand";

/// Node ids of `describe --replication` rows with `status` (Leader, Follower, Observer).
fn replication_rows(out: &Output, status: &str) -> Vec<i32> {
    out.stdout
        .lines()
        .filter(|l| l.split_whitespace().any(|w| w == status))
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect()
}

fn voters(kafka: &KafkaTools, bs: &str) -> Vec<i32> {
    let out = kafka.ok(
        QUORUM,
        &["--bootstrap-server", bs, "describe", "--replication"],
    );
    let mut ids = replication_rows(&out, "Leader");
    ids.extend(replication_rows(&out, "Follower"));
    ids.sort_unstable();
    ids
}

fn directory_id(cluster: &mut Cluster, id: i32) -> String {
    let meta = cluster.node(id).log_dir().join("meta.properties");
    let text = std::fs::read_to_string(&meta).expect("meta.properties");
    text.lines()
        .find_map(|l| l.strip_prefix("directory.id="))
        .expect("directory.id in meta.properties")
        .trim()
        .to_string()
}

#[test]
fn kafka_metadata_quorum_adds_and_removes_a_controller() {
    let Some(kafka) = KafkaTools::find("kafka_metadata_quorum_adds_and_removes_a_controller")
    else {
        return;
    };
    let mut cluster = Cluster::split(
        3,
        1,
        &[
            ("default.replication.factor", "1"),
            ("offsets.topic.replication.factor", "1"),
            ("min.insync.replicas", "1"),
        ],
    );
    let bs = cluster.node(4).bootstrap();
    assert_eq!(voters(&kafka, &bs), [1, 2, 3]);

    let bootstrap_servers = cluster.controller_endpoints(false);
    let joining = cluster.add_node(
        7,
        Role::Controller,
        &[("controller.quorum.bootstrap.servers", &bootstrap_servers)],
    );
    joining.spawn();
    joining.wait_ready();
    let config = joining.config_path().display().to_string();
    let out = kafka.ok(
        QUORUM,
        &[
            "--bootstrap-server",
            &bs,
            "--command-config",
            &config,
            "add-controller",
        ],
    );
    eprintln!("add-controller: {}", out.stdout.trim());
    assert_eq!(voters(&kafka, &bs), [1, 2, 3, 7]);
    let status = kafka.ok(QUORUM, &["--bootstrap-server", &bs, "describe", "--status"]);
    assert!(
        status
            .stdout
            .lines()
            .any(|l| l.starts_with("CurrentVoters:") && l.contains("\"id\": 7")),
        "{status}"
    );

    let dir = directory_id(&mut cluster, 1);
    let out = kafka.ok(
        QUORUM,
        &[
            "--bootstrap-server",
            &bs,
            "remove-controller",
            "--controller-id",
            "1",
            "--controller-directory-id",
            &dir,
        ],
    );
    eprintln!("remove-controller: {}", out.stdout.trim());
    assert_eq!(voters(&kafka, &bs), [2, 3, 7]);
    cluster.node(1).sigterm();
    assert_eq!(voters(&kafka, &bs), [2, 3, 7]);
}
