//! Three in-process quorum nodes over real TCP on 127.0.0.1 free ports: election,
//! ordered replication, leader failover, restart with catch-up (by log and by
//! snapshot after purge), full-cluster restart from disk, and loss of the majority.
//! Every wait is on a condition with a deadline; nothing sleeps to synchronise.

// Test helpers outside `#[test]` fns: a failed setup step should panic the test.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tempfile::TempDir;
use tidewater_quorum::image::MetadataImage;
use tidewater_quorum::raft::{QuorumConfig, QuorumError, QuorumNode};
use tidewater_quorum::records::{ConfigResourceType, MetadataRecord};
use tokio::net::TcpListener;

const DEADLINE: Duration = Duration::from_secs(20);

struct Cluster {
    voters: BTreeMap<u64, SocketAddr>,
    dirs: BTreeMap<u64, TempDir>,
    nodes: BTreeMap<u64, QuorumNode>,
    snapshot_after_entries: u64,
    propose_timeout: Duration,
    /// Per-node `cluster.id` overrides (to start a node of another cluster).
    cluster_ids: BTreeMap<u64, String>,
}

impl Cluster {
    async fn start(snapshot_after_entries: u64, propose_timeout: Duration) -> Self {
        Self::start_with_cluster_ids(snapshot_after_entries, propose_timeout, BTreeMap::new()).await
    }

    async fn start_with_cluster_ids(
        snapshot_after_entries: u64,
        propose_timeout: Duration,
        cluster_ids: BTreeMap<u64, String>,
    ) -> Self {
        let mut listeners = BTreeMap::new();
        for id in 1..=3u64 {
            listeners.insert(id, TcpListener::bind("127.0.0.1:0").await.unwrap());
        }
        let voters: BTreeMap<u64, SocketAddr> = listeners
            .iter()
            .map(|(id, l)| (*id, l.local_addr().unwrap()))
            .collect();
        let mut cluster = Cluster {
            voters,
            dirs: (1..=3)
                .map(|id| (id, tempfile::tempdir().unwrap()))
                .collect(),
            nodes: BTreeMap::new(),
            snapshot_after_entries,
            propose_timeout,
            cluster_ids,
        };
        for (id, listener) in listeners {
            let node = QuorumNode::start_with_listener(cluster.config(id), listener)
                .await
                .unwrap();
            cluster.nodes.insert(id, node);
        }
        cluster
    }

    fn config(&self, id: u64) -> QuorumConfig {
        QuorumConfig {
            election_timeout_min_ms: 500,
            election_timeout_max_ms: 1_000,
            heartbeat_interval_ms: 100,
            snapshot_after_entries: self.snapshot_after_entries,
            logs_to_keep_after_snapshot: 0,
            propose_timeout: self.propose_timeout,
            ..QuorumConfig::new(
                self.cluster_ids
                    .get(&id)
                    .map_or("quorum-test", |c| c.as_str()),
                id,
                self.voters.clone(),
                self.dirs[&id].path().to_path_buf(),
            )
        }
    }

    /// Restarts a stopped node from its data dir on its old address.
    async fn restart(&mut self, id: u64) {
        let node = QuorumNode::start(self.config(id)).await.unwrap();
        self.nodes.insert(id, node);
    }

    async fn stop(&mut self, id: u64) {
        self.nodes.remove(&id).unwrap().shutdown().await.unwrap();
    }

    /// Waits until every running node sees the same leader, which is one of them.
    async fn wait_for_leader(&self) -> u64 {
        let start = Instant::now();
        loop {
            let mut seen = Vec::new();
            for node in self.nodes.values() {
                let mut metrics = node.metrics();
                let wait = metrics.wait_for(|m| {
                    m.current_leader
                        .is_some_and(|l| self.nodes.contains_key(&l))
                });
                let remaining = DEADLINE.saturating_sub(start.elapsed());
                let m = tokio::time::timeout(remaining, wait)
                    .await
                    .expect("no live leader within the deadline")
                    .unwrap()
                    .clone();
                seen.push(m.current_leader);
            }
            if seen.windows(2).all(|w| w[0] == w[1]) {
                return seen[0].unwrap();
            }
            // Nodes disagree during an election: wait for the next metrics change.
            let first = self.nodes.values().next().unwrap();
            let mut metrics = first.metrics();
            metrics.borrow_and_update();
            let remaining = DEADLINE.saturating_sub(start.elapsed());
            assert!(
                !remaining.is_zero(),
                "nodes never agreed on a leader: {seen:?}"
            );
            let _ =
                tokio::time::timeout(remaining.min(Duration::from_millis(500)), metrics.changed())
                    .await;
        }
    }

    /// Waits until every running node applied `offset`, returning their images.
    async fn wait_applied(&self, offset: u64) -> Vec<Arc<MetadataImage>> {
        let mut images = Vec::new();
        for node in self.nodes.values() {
            images.push(node.wait_for_offset(offset, DEADLINE).await.unwrap());
        }
        images
    }
}

/// Proposes through `node`, retrying while leadership moves (a loaded CI machine can
/// trigger an election at any time). Records used here are idempotent, so a retry of
/// a proposal that did commit is harmless.
async fn propose(node: &QuorumNode, records: Vec<MetadataRecord>) -> u64 {
    let start = Instant::now();
    loop {
        match node.propose(records.clone()).await {
            Ok(index) => return index,
            Err(e @ (QuorumError::NotLeader { .. } | QuorumError::Timeout(_)))
                if start.elapsed() < DEADLINE =>
            {
                println!("retrying proposal: {e}");
                let mut metrics = node.metrics();
                metrics.borrow_and_update();
                let _ = tokio::time::timeout(Duration::from_millis(200), metrics.changed()).await;
            }
            Err(e) => panic!("proposal failed: {e}"),
        }
    }
}

fn topic(i: u32) -> Vec<MetadataRecord> {
    vec![MetadataRecord::Topic {
        name: format!("topic-{i}"),
        topic_id: u128::from(i) + 1,
    }]
}

fn counter(value: u32) -> Vec<MetadataRecord> {
    vec![MetadataRecord::Config {
        resource_type: ConfigResourceType::Broker,
        resource_name: String::new(),
        key: "counter".into(),
        value: Some(value.to_string()),
    }]
}

/// Images equal in content (offsets may differ only through trailing blank entries).
fn assert_same_metadata(a: &MetadataImage, b: &MetadataImage) {
    assert_eq!(a.topics_by_id, b.topics_by_id);
    assert_eq!(a.configs, b.configs);
    assert_eq!(a.brokers, b.brokers);
    assert_eq!(a.features, b.features);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_voters_elect_a_leader_and_apply_proposals_in_order_everywhere() {
    let cluster = Cluster::start(10_000, Duration::from_secs(10)).await;
    let leader = cluster.wait_for_leader().await;
    let follower = *cluster.nodes.keys().find(|id| **id != leader).unwrap();

    // A broker follows one node's image stream: offsets only grow, the counter only grows.
    let mut follow = cluster.nodes[&follower].image();
    let watcher = tokio::spawn(async move {
        let mut seen = Vec::new();
        loop {
            let (offset, counter) = {
                let image = follow.borrow_and_update();
                let c = image
                    .config(ConfigResourceType::Broker, "", "counter")
                    .map(|v| v.parse::<u32>().unwrap());
                (image.offset, c)
            };
            seen.push((offset, counter));
            if counter == Some(39) {
                return seen;
            }
            follow.changed().await.unwrap();
        }
    });

    let mut last = 0;
    let started = Instant::now();
    for i in 0..40u32 {
        // Alternate between the leader and a follower (which forwards to the leader).
        let via = if i % 2 == 0 { leader } else { follower };
        let index = propose(&cluster.nodes[&via], counter(i)).await;
        assert!(index > last, "log indexes must grow: {index} after {last}");
        last = index;
    }
    println!(
        "40 sequential proposals (half forwarded) took {:?}",
        started.elapsed()
    );
    let images = cluster.wait_applied(last).await;
    for image in &images {
        assert_eq!(
            image.config(ConfigResourceType::Broker, "", "counter"),
            Some("39")
        );
        assert_same_metadata(image, &images[0]);
    }
    let seen = tokio::time::timeout(DEADLINE, watcher)
        .await
        .unwrap()
        .unwrap();
    assert!(
        seen.windows(2)
            .all(|w| w[0].0 <= w[1].0 && w[0].1 <= w[1].1),
        "out of order: {seen:?}"
    );

    for (_, node) in cluster.nodes {
        node.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failover_then_restart_catches_up_through_a_snapshot() {
    let mut cluster = Cluster::start(8, Duration::from_secs(10)).await;
    let old_leader = cluster.wait_for_leader().await;
    let mut last = 0;
    for i in 0..5 {
        last = propose(&cluster.nodes[&old_leader], topic(i)).await;
    }
    cluster.wait_applied(last).await;
    let stopped_at = cluster.nodes[&old_leader].image().borrow().offset;

    cluster.stop(old_leader).await;
    let stopped = Instant::now();
    let new_leader = cluster.wait_for_leader().await;
    let failover = stopped.elapsed();
    println!("failover to node {new_leader} took {failover:?}");
    assert_ne!(new_leader, old_leader);
    assert!(
        failover < Duration::from_secs(10),
        "failover took {failover:?}"
    );

    // Two of three keep committing; enough entries for snapshots and log purges.
    for i in 5..40 {
        last = propose(&cluster.nodes[&new_leader], topic(i)).await;
    }
    cluster.wait_applied(last).await;
    let mut metrics = cluster.nodes[&new_leader].metrics();
    let purged = tokio::time::timeout(
        DEADLINE,
        metrics.wait_for(|m| m.purged.is_some_and(|p| p.index > stopped_at)),
    )
    .await
    .expect("leader never purged past the stopped node's log")
    .unwrap()
    .purged;
    println!("leader purged up to {purged:?}; stopped node had applied {stopped_at}");

    // The restarted node cannot get the purged entries as log: it needs the snapshot.
    cluster.restart(old_leader).await;
    let images = cluster.wait_applied(last).await;
    for image in &images {
        assert_eq!(image.topics_by_id.len(), 40);
        assert_same_metadata(image, &images[0]);
    }
    let restarted = cluster.nodes[&old_leader].metrics().borrow().clone();
    assert!(
        restarted
            .snapshot
            .is_some_and(|s| s.index >= purged.map_or(0, |p| p.index)),
        "restarted node should hold a snapshot covering the purge point: {:?}",
        restarted.snapshot
    );

    // And it takes part in new commits.
    let index = propose(&cluster.nodes[&old_leader], topic(40)).await;
    let images = cluster.wait_applied(index).await;
    assert!(images.iter().all(|i| i.topics_by_id.len() == 41));
    for (_, node) in cluster.nodes {
        node.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn whole_cluster_restarts_from_its_data_dirs() {
    let mut cluster = Cluster::start(6, Duration::from_secs(10)).await;
    let leader = cluster.wait_for_leader().await;
    let mut last = 0;
    for i in 0..10 {
        last = propose(&cluster.nodes[&leader], topic(i)).await;
    }
    let before = cluster.wait_applied(last).await[0].clone();
    for id in 1..=3 {
        cluster.stop(id).await;
    }
    for id in 1..=3 {
        cluster.restart(id).await;
    }
    let leader = cluster.wait_for_leader().await;
    let index = propose(&cluster.nodes[&leader], topic(10)).await;
    assert!(index > last);
    for image in cluster.wait_applied(index).await {
        assert_eq!(image.topics_by_id.len(), 11);
        for (id, topic) in &before.topics_by_id {
            assert_eq!(image.topics_by_id.get(id), Some(topic));
        }
    }
    for (_, node) in cluster.nodes {
        node.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_a_majority_proposals_fail_cleanly() {
    let propose_timeout = Duration::from_millis(1_500);
    let mut cluster = Cluster::start(10_000, propose_timeout).await;
    let leader = cluster.wait_for_leader().await;
    propose(&cluster.nodes[&leader], topic(0)).await;
    let followers: Vec<u64> = cluster
        .nodes
        .keys()
        .copied()
        .filter(|id| *id != leader)
        .collect();
    for id in &followers {
        cluster.stop(*id).await;
    }
    let started = Instant::now();
    let err = cluster.nodes[&leader].propose(topic(1)).await.unwrap_err();
    let took = started.elapsed();
    assert!(
        matches!(err, QuorumError::Timeout(_) | QuorumError::NotLeader { .. }),
        "{err:?}"
    );
    assert!(
        took < propose_timeout + Duration::from_secs(2),
        "propose hung for {took:?}"
    );
    assert_eq!(
        cluster.nodes[&leader].image().borrow().topics_by_id.len(),
        1,
        "nothing uncommitted was applied"
    );
    // Once a follower is back, the quorum recovers and commits again.
    cluster.restart(followers[0]).await;
    let leader = cluster.wait_for_leader().await;
    let index = propose(&cluster.nodes[&leader], topic(2)).await;
    cluster.wait_applied(index).await;
    for (_, node) in cluster.nodes {
        node.shutdown().await.unwrap();
    }
}

#[tokio::test]
async fn start_refuses_a_node_outside_the_voter_set() {
    let dir = tempfile::tempdir().unwrap();
    let voters = BTreeMap::from([(1, "127.0.0.1:1")]);
    let err = QuorumNode::start(QuorumConfig::new("c", 2, voters, dir.path().to_path_buf()))
        .await
        .unwrap_err();
    assert!(matches!(err, QuorumError::Config(_)), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_of_another_cluster_is_refused() {
    // Node 3 was formatted for another cluster: the other two form the quorum without it.
    let foreign = BTreeMap::from([(3, "other-cluster".to_string())]);
    let mut cluster =
        Cluster::start_with_cluster_ids(10_000, Duration::from_secs(10), foreign).await;
    let outsider = cluster.nodes.remove(&3).unwrap();
    let leader = cluster.wait_for_leader().await;
    assert_ne!(leader, 3);
    let mut last = 0;
    for i in 0..5 {
        last = propose(&cluster.nodes[&leader], topic(i)).await;
    }
    cluster.wait_applied(last).await;
    // The leader sent heartbeats and entries to node 3 all along; none were accepted.
    assert_eq!(outsider.image().borrow().offset, 0);
    assert_ne!(outsider.leader(), Some(leader));
    outsider.shutdown().await.unwrap();

    // Its data dir stays bound to the cluster it was formatted for.
    let mut config = cluster.config(3);
    config.cluster_id = "quorum-test".into();
    let err = QuorumNode::start(config).await.unwrap_err();
    assert!(
        matches!(err, QuorumError::InconsistentClusterId { .. }),
        "{err:?}"
    );
    assert_eq!(err.error_code(), 104);
    for (_, node) in cluster.nodes {
        node.shutdown().await.unwrap();
    }
}
