//! Issue 19 item 1: after rolling restarts of a low-traffic cluster, followers got stuck
//! truncating the same divergent tail forever. A replica that led an epoch without
//! writing in it kept a leader-epoch entry at its log end that the next leader never
//! had; `truncate_to(log end)` returned early without cutting the epoch cache, so every
//! fetch reported the same divergence. Here a 3-node cluster is rolled three times
//! (each SIGTERM moves leaderships with no record written in the new epochs) and every
//! partition must be back in full ISR within seconds after each restart, with the
//! followers' "no progress" lines bounded.

mod common;

use std::time::Duration;

use common::cluster::{Cluster, kraft_client};

const TOPIC: &str = "roll";
const PARTITIONS: usize = 6;
/// Kafka rejoins a caught-up follower on its next fetch; well under the 30 s lag time.
const REJOIN: Duration = Duration::from_secs(20);

#[test]
fn rolling_restarts_of_an_idle_cluster_leave_every_partition_in_full_isr() {
    let mut cluster = Cluster::combined(3, &[]);
    kraft_client(
        "create-topic",
        &cluster.bootstrap(),
        TOPIC,
        &["--partitions", "6", "--rf", "3"],
        Duration::from_secs(60),
    );
    cluster.wait_isr_full(TOPIC, PARTITIONS, 3, Duration::from_secs(30));
    // Low traffic: a few records, then none while leaderships move.
    kraft_client(
        "produce-ids",
        &cluster.bootstrap(),
        TOPIC,
        &["--count", "60", "--partitions", "6"],
        Duration::from_secs(60),
    );
    cluster.wait_isr_full(TOPIC, PARTITIONS, 3, REJOIN);
    let mut leaders_seen = std::collections::BTreeSet::new();
    for round in 0..3 {
        for id in cluster.broker_ids() {
            let status = cluster.node(id).sigterm();
            assert!(status.success(), "round {round}: node {id} exited {status}");
            cluster.node(id).restart();
            let meta = cluster.wait_isr_full(TOPIC, PARTITIONS, 3, REJOIN);
            leaders_seen.extend(meta.values().map(|p| (p.partition, p.leader)));
        }
    }
    assert!(
        leaders_seen.len() > PARTITIONS,
        "leadership never moved: {leaders_seen:?}"
    );
    // Data is intact and the followers did not spin: a stuck replica logs at most one
    // "no progress" line per 10 s.
    kraft_client(
        "produce-ids",
        &cluster.bootstrap(),
        TOPIC,
        &["--count", "6", "--partitions", "6"],
        Duration::from_secs(60),
    );
    cluster.wait_isr_full(TOPIC, PARTITIONS, 3, REJOIN);
    for node in &cluster.nodes {
        let stuck = node.log_lines("made no progress").len();
        let truncations = node.log_lines("divergent tail").len();
        assert!(
            stuck <= 20 && truncations <= 200,
            "node {}: {stuck} no-progress lines, {truncations} truncation lines\n{}",
            node.id,
            node.log_tail()
        );
    }
}
