//! Issue 17 item 3: committed offsets are as durable as data. The group coordinator
//! appends to `__consumer_offsets` with acks=all semantics (the topic's
//! `min.insync.replicas`) and answers an OffsetCommit only once the high watermark
//! covers it, so a commit that returned survives the coordinator's kill -9 at once
//! after, and a commit without enough in-sync replicas fails with the error a Java
//! client acts on (COORDINATOR_NOT_AVAILABLE / NOT_COORDINATOR) instead of succeeding.
//! Real broker processes (3 combined nodes, `__consumer_offsets` RF 3) and
//! confluent-kafka clients (`clients/kraft_offsets.py`).

mod common;

use std::time::Duration;

use common::clients::kraft_client;
use common::cluster::Cluster;
use common::process::python_client;

const TOPIC: &str = "committed";
const OFFSETS_TOPIC: &str = "__consumer_offsets";
/// Few `__consumer_offsets` partitions keep the cluster light; every group still
/// maps to one of them the way Kafka maps it.
const OFFSETS_PARTITIONS: usize = 5;

fn cluster(extra: &[(&str, &str)]) -> Cluster {
    let mut config = vec![("offsets.topic.num.partitions", "5")];
    config.extend_from_slice(extra);
    let mut cluster = Cluster::combined(3, &config);
    kraft_client(
        "create-topic",
        &cluster.bootstrap(),
        TOPIC,
        &["--partitions", "1", "--rf", "3"],
        Duration::from_secs(60),
    );
    cluster.wait_isr_full(TOPIC, 1, 3, Duration::from_secs(30));
    cluster
}

fn offsets_client(
    cmd: &str,
    bootstrap: &str,
    group: &str,
    offset: i64,
    extra: &[String],
) -> String {
    let mut args: Vec<String> = [
        cmd,
        "--bootstrap",
        bootstrap,
        "--group",
        group,
        "--topic",
        TOPIC,
        "--offset",
        &offset.to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend_from_slice(extra);
    python_client("kraft_offsets.py", &args, Duration::from_secs(120))
        .ok()
        .stdout
}

fn summary(out: &str) -> serde_json::Value {
    let line = out.lines().last().unwrap_or("");
    serde_json::from_str(line).unwrap_or_else(|e| panic!("client summary {line:?}: {e}"))
}

fn node_id(v: &serde_json::Value, key: &str) -> i32 {
    v[key]
        .as_i64()
        .and_then(|id| i32::try_from(id).ok())
        .unwrap_or_else(|| panic!("{key} in {v}"))
}

#[test]
fn kraft_committed_offset_survives_coordinator_kill() {
    // Followers get new records only when their fetch's wait ends (min bytes never
    // reached), so a commit acknowledged before its replication would be lost by
    // the kill: with acks=1 this test fails.
    let mut cluster = cluster(&[
        ("replica.fetch.min.bytes", "1048576"),
        ("replica.fetch.wait.max.ms", "1000"),
    ]);
    let group = "durable-offsets";
    for round in 1..=4_i64 {
        // Every `__consumer_offsets` replica back in sync after the last round's
        // kill. (The first commit creates the topic, with a full ISR.)
        if round > 1 {
            cluster.wait_isr_full(
                OFFSETS_TOPIC,
                OFFSETS_PARTITIONS,
                3,
                Duration::from_secs(60),
            );
        }
        let pids = cluster
            .nodes
            .iter()
            .map(|n| format!("{}:{}", n.id, n.pid()))
            .collect::<Vec<_>>()
            .join(",");
        let offset = round * 1000 + 7;
        // The client SIGKILLs the coordinator the instant its commit returns, then
        // reads the offset back from the new coordinator.
        let out = offsets_client(
            "commit",
            &cluster.bootstrap(),
            group,
            offset,
            &["--kill-pids".into(), pids],
        );
        let v = summary(&out);
        let killed = node_id(&v, "coordinator");
        let new_coordinator = node_id(&v, "new_coordinator");
        eprintln!("kraft_offsets: FIGURES round {round}: {v}");
        assert_eq!(v["committed"].as_i64(), Some(offset), "{v}");
        assert_ne!(killed, new_coordinator, "the group moved: {v}");
        // Reap the killed node, then bring it back for the next round.
        let node = cluster.node(killed);
        node.kill9();
        node.restart();
    }
}

#[test]
fn kraft_commit_fails_without_min_insync_replicas() {
    let mut cluster = cluster(&[
        ("min.insync.replicas", "2"),
        // Bounds each refused attempt (Kafka's default is 5 s).
        ("offsets.commit.timeout.ms", "2000"),
    ]);
    let group = "too-few-replicas";
    let out = offsets_client("commit", &cluster.bootstrap(), group, 41, &[]);
    let v = summary(&out);
    let coordinator = node_id(&v, "coordinator");
    cluster.wait_isr_full(
        OFFSETS_TOPIC,
        OFFSETS_PARTITIONS,
        3,
        Duration::from_secs(60),
    );
    for id in cluster.broker_ids() {
        if id != coordinator {
            cluster.node(id).kill9();
        }
    }
    let bootstrap = cluster.node(coordinator).bootstrap();
    let out = offsets_client(
        "commit-refused",
        &bootstrap,
        group,
        42,
        &["--kept-offset".into(), "41".into()],
    );
    eprintln!(
        "kraft_offsets: FIGURES refused commit on node {coordinator}: {}",
        summary(&out)
    );
}
