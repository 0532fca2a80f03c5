//! A deleted topic leaves no follower spinning. Three combined nodes follow each
//! other's partitions of two RF 3 topics over KIP-227 fetch sessions (Fetch v13+, which
//! names topics by id); one topic is deleted. Each follower's next request forgets the
//! deleted partitions by the topic id its session holds them under, and the leader
//! drops them from the session though the id no longer resolves. Before that fix both
//! sides lost the id (the follower looked it up in its metadata, the leader skipped
//! ids it did not know), the session kept the partitions, and their
//! NOT_LEADER_OR_FOLLOWER ended every long poll at once: each node answered ~12,000 fetches a second and
//! burned 0.6 of a core for good. Checked: the fetches the nodes answer while idle
//! stay at long-poll pace, and the kept topic still replicates.

mod common;

use std::time::Duration;

use common::clients::kraft_client;
use common::cluster::Cluster;
use common::cluster_node::Node;

const KEPT: &str = "kept";
const GONE: &str = "gone";
const PARTITIONS: usize = 3;
/// An idle follower fetches from each of the two other leaders about twice a second
/// (`replica.fetch.wait.max.ms`, 500 ms): ~8 requests per node in IDLE. The spinning
/// sessions answered 24,000-32,000.
const IDLE: Duration = Duration::from_secs(2);
const MAX_IDLE_FETCHES: f64 = 200.0;

fn client(cluster: &Cluster, cmd: &str, topic: &str, args: &[&str]) -> String {
    kraft_client(
        cmd,
        &cluster.bootstrap(),
        topic,
        args,
        Duration::from_secs(90),
    )
}

/// Fetch requests (every version: consumers' and followers') `node` answered so far.
fn fetches(node: &Node) -> f64 {
    node.metric_sum("kafka_network_requestmetrics_requests_total{request=\"Fetch\"")
        .expect("metrics")
}

/// Partition directories of `topic` still in `node`'s data dir.
fn topic_dirs(node: &Node, topic: &str) -> Vec<String> {
    std::fs::read_dir(node.log_dir())
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| n.starts_with(&format!("{topic}-")))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn deleting_a_topic_leaves_the_followers_long_polling() {
    let mut cluster = Cluster::combined(3, &[]);
    for topic in [KEPT, GONE] {
        client(
            &cluster,
            "create-topic",
            topic,
            &["--partitions", &PARTITIONS.to_string(), "--rf", "3"],
        );
        cluster.wait_isr_full(topic, PARTITIONS, 3, Duration::from_secs(30));
        client(
            &cluster,
            "produce-ids",
            topic,
            &["--count", "300", "--partitions", &PARTITIONS.to_string()],
        );
    }
    client(&cluster, "delete-topic", GONE, &[]);
    let ids = cluster.broker_ids();
    common::wait_until(
        "the deleted topic's replicas removed",
        Duration::from_secs(30),
        || {
            let left: Vec<String> = ids
                .iter()
                .flat_map(|&id| topic_dirs(cluster.node(id), GONE))
                .collect();
            if left.is_empty() {
                Ok(())
            } else {
                Err(format!("{left:?}"))
            }
        },
    );

    let before: Vec<f64> = ids.iter().map(|&id| fetches(cluster.node(id))).collect();
    std::thread::sleep(IDLE);
    for (&id, before) in ids.iter().zip(before) {
        let answered = fetches(cluster.node(id)) - before;
        assert!(
            answered <= MAX_IDLE_FETCHES,
            "node {id} answered {answered} fetches in {IDLE:?} with nothing to replicate: \
             a fetch session still holds the deleted topic"
        );
    }

    // The kept topic's sessions carry on: new records reach every replica.
    client(
        &cluster,
        "produce-ids",
        KEPT,
        &[
            "--count",
            "300",
            "--first-id",
            "300",
            "--partitions",
            &PARTITIONS.to_string(),
        ],
    );
    common::wait_until(
        "every replica of the kept topic holds all 600 records",
        Duration::from_secs(30),
        || {
            for &id in &ids {
                for p in 0..PARTITIONS as i32 {
                    match cluster
                        .node(id)
                        .partition_gauge("kafka_log_log_logendoffset", KEPT, p)?
                    {
                        200 => {}
                        leo => return Err(format!("node {id}: {KEPT}-{p} ends at {leo}")),
                    }
                }
            }
            Ok(())
        },
    );
}
