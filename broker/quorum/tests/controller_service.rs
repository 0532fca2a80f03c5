//! The controller running on the quorum: brokers register and heartbeat through the
//! leader, a silent broker is fenced and loses its leaderships on every node's image,
//! and after the quorum leader dies the new leader's controller carries on fencing.
//! Real TCP on free ports; waits are conditions with deadlines.

// Helpers outside `#[test]` fns: a failed setup step should panic the test.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use tempfile::TempDir;
use tidewater_quorum::controller::{
    BrokerHeartbeat, BrokerRegistrationRequest, ControllerConfig, CreateTopic,
    LATEST_METADATA_VERSION,
};
use tidewater_quorum::image::{METADATA_VERSION, MetadataImage};
use tidewater_quorum::raft::{QuorumConfig, QuorumNode};
use tidewater_quorum::records::ConfigResourceType;
use tidewater_quorum::service::{QuorumController, ServiceError, TickerConfig};
use tokio::net::TcpListener;

use support::DEADLINE;

struct Controllers {
    nodes: BTreeMap<u64, QuorumController>,
    _dirs: Vec<TempDir>,
    epochs: BTreeMap<i32, i64>,
}

impl Controllers {
    async fn start() -> Self {
        let mut listeners = BTreeMap::new();
        for id in 1..=3u64 {
            listeners.insert(id, TcpListener::bind("127.0.0.1:0").await.unwrap());
        }
        let voters: BTreeMap<_, _> = listeners
            .iter()
            .map(|(id, l)| (*id, l.local_addr().unwrap()))
            .collect();
        let mut dirs = Vec::new();
        let mut nodes = BTreeMap::new();
        for (id, listener) in listeners {
            let dir = tempfile::tempdir().unwrap();
            let config = QuorumConfig {
                election_timeout_min_ms: 500,
                election_timeout_max_ms: 1_000,
                heartbeat_interval_ms: 100,
                ..QuorumConfig::new("service-test", id, voters.clone(), dir.path().to_path_buf())
            };
            let node = QuorumNode::start_with_listener(config, listener)
                .await
                .unwrap();
            let controller_config = ControllerConfig {
                broker_session_timeout_ms: 1_500,
                ..ControllerConfig::default()
            };
            let ticker = TickerConfig {
                tick_interval: Duration::from_millis(100),
                rebalance_interval: Duration::from_secs(3600),
            };
            nodes.insert(id, QuorumController::new(node, controller_config, ticker));
            dirs.push(dir);
        }
        Self {
            nodes,
            _dirs: dirs,
            epochs: BTreeMap::new(),
        }
    }

    /// The node that all running nodes agree leads.
    async fn leader(&self) -> u64 {
        support::agreed_leader(&self.nodes).await
    }

    async fn register(&mut self, broker_id: i32) {
        let req = BrokerRegistrationRequest {
            broker_id,
            incarnation_id: broker_id as u128,
            rack: Some(format!("rack-{broker_id}")),
            listeners: vec![],
            features: BTreeMap::from([(
                METADATA_VERSION.to_string(),
                (1, LATEST_METADATA_VERSION),
            )]),
        };
        // Retry while leadership moves, as a broker does on NOT_CONTROLLER.
        let start = Instant::now();
        let epoch = loop {
            let leader = self.leader().await;
            let result = self.nodes[&leader]
                .decide(|c, image, now| c.register_broker(image, &req, now))
                .await;
            match result {
                Ok(epoch) => break epoch,
                Err(ServiceError::Quorum(e)) if start.elapsed() < DEADLINE => {
                    println!("retrying registration: {e}");
                }
                Err(e) => panic!("registration failed: {e}"),
            }
        };
        self.epochs.insert(broker_id, epoch);
    }

    async fn heartbeat(&self, broker_id: i32) -> Result<(), ServiceError> {
        let leader = self.leader().await;
        let hb = BrokerHeartbeat {
            broker_id,
            broker_epoch: self.epochs[&broker_id],
            want_fence: false,
            want_shutdown: false,
        };
        self.nodes[&leader]
            .decide(|c, image, now| c.heartbeat(image, &hb, now))
            .await
            .map(|_| ())
    }

    /// Keeps `alive` brokers heartbeating until every running node's image satisfies `done`.
    async fn heartbeat_until(&self, alive: &[i32], done: impl Fn(&MetadataImage) -> bool) {
        let start = Instant::now();
        loop {
            for broker in alive {
                if let Err(e) = self.heartbeat(*broker).await {
                    println!("heartbeat of broker {broker} failed (retrying): {e}");
                }
            }
            if self
                .nodes
                .values()
                .all(|c| done(&c.node().image().borrow()))
            {
                return;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "condition not reached within {DEADLINE:?}"
            );
            // Pace heartbeats like a broker (broker.heartbeat.interval.ms), waking early on news.
            let mut image = self.nodes.values().next().unwrap().node().image();
            image.borrow_and_update();
            let _ = tokio::time::timeout(Duration::from_millis(200), image.changed()).await;
        }
    }
}

fn fenced_and_led_by_others(broker: i32) -> impl Fn(&MetadataImage) -> bool {
    move |image| {
        image.brokers.get(&broker).is_some_and(|b| b.fenced)
            && image.partitions().count() == 3
            && image
                .partitions()
                .all(|p| p.leader != broker && p.leader >= 0 && !p.isr.contains(&broker))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn silent_brokers_are_fenced_by_whichever_controller_leads() {
    let mut cluster = Controllers::start().await;
    for broker in 1..=3 {
        cluster.register(broker).await;
    }
    cluster
        .heartbeat_until(&[1, 2, 3], |image| {
            image.brokers.values().filter(|b| b.is_active()).count() == 3
        })
        .await;

    // The first controller finalized metadata.version for the new cluster.
    let leader = cluster.leader().await;
    let level = cluster.nodes[&leader]
        .node()
        .image()
        .borrow()
        .feature_level(METADATA_VERSION);
    assert_eq!(level, LATEST_METADATA_VERSION);

    // Followers refuse controller requests with NOT_CONTROLLER.
    let follower = cluster
        .nodes
        .keys()
        .copied()
        .find(|id| *id != leader)
        .unwrap();
    let refused = cluster.nodes[&follower]
        .decide_records(|_, _, _| Ok(vec![]))
        .await
        .unwrap_err();
    assert_eq!(refused.error_code(), 41, "{refused}");

    let create = CreateTopic {
        name: "events".into(),
        topic_id: 0x5eed_0000_0000_0000_0000_0000_0000_0001,
        num_partitions: 3,
        replication_factor: 3,
        assignments: BTreeMap::new(),
        configs: BTreeMap::new(),
    };
    cluster.nodes[&leader]
        .decide_records(|c, image, _| c.create_topic(image, &create))
        .await
        .unwrap();
    let duplicate = cluster.nodes[&leader]
        .decide_records(|c, image, _| c.create_topic(image, &create))
        .await;
    assert_eq!(duplicate.unwrap_err().error_code(), 36);

    // Broker 1 goes silent: after broker.session.timeout.ms every node's image shows it
    // fenced, out of every ISR, and leading nothing.
    cluster
        .heartbeat_until(&[2, 3], fenced_and_led_by_others(1))
        .await;

    // The quorum leader dies; the new leader's controller takes over the fencing.
    let old = cluster.leader().await;
    cluster
        .nodes
        .remove(&old)
        .unwrap()
        .shutdown()
        .await
        .unwrap();
    let new = cluster.leader().await;
    assert_ne!(new, old);
    cluster
        .heartbeat_until(&[3], fenced_and_led_by_others(2))
        .await;
    let image = cluster.nodes[&new].node().image().borrow().clone();
    assert!(
        image.partitions().all(|p| p.leader == 3),
        "{:?}",
        image.topics_by_id
    );

    // The last ISR member goes silent too: partitions go offline (no unclean election).
    cluster
        .heartbeat_until(&[], |image| {
            image.partitions().all(|p| p.leader == -1 && p.isr == [3])
        })
        .await;
    // Broker 1 comes back but is out of sync: still offline...
    cluster.register(1).await;
    cluster
        .heartbeat_until(&[1], |image| {
            image.is_active_broker(1) && image.partitions().all(|p| p.leader == -1)
        })
        .await;
    // ...until unclean.leader.election.enable is set on the topic: the ticker elects it.
    let leader = cluster.leader().await;
    let enable = [(
        "unclean.leader.election.enable".to_string(),
        Some("true".to_string()),
    )];
    cluster.nodes[&leader]
        .decide_records(|c, image, _| {
            c.incremental_alter_configs(image, ConfigResourceType::Topic, "events", &enable)
        })
        .await
        .unwrap();
    cluster
        .heartbeat_until(&[1], |image| {
            image.partitions().all(|p| p.leader == 1 && p.isr == [1])
        })
        .await;

    for (_, c) in cluster.nodes {
        c.shutdown().await.unwrap();
    }
}
