//! A three-voter quorum of `QuorumController`s on 127.0.0.1 free ports, for the RPC
//! and metadata-following tests. Voter 1 has a long election timeout, so once it is a
//! follower it stays one: a client trying voters in id order then meets a follower first.

// Test helpers outside `#[test]` fns: a failed setup step should panic the test.
#![allow(clippy::unwrap_used, dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tempfile::TempDir;
use tidewater_quorum::controller::{
    BrokerHeartbeat, BrokerRegistrationRequest, ControllerConfig, LATEST_METADATA_VERSION,
};
use tidewater_quorum::controller_client::ControllerClient;
use tidewater_quorum::image::{METADATA_VERSION, MetadataImage};
use tidewater_quorum::raft::{QuorumConfig, QuorumNode};
use tidewater_quorum::rpc::{ControllerCall, ControllerReply};
use tidewater_quorum::service::{QuorumController, TickerConfig};
use tokio::net::TcpListener;
use tokio::sync::watch;

pub const CLUSTER_ID: &str = "rpc-test";
pub const DEADLINE: Duration = Duration::from_secs(30);

pub struct Quorum {
    pub voters: BTreeMap<u64, SocketAddr>,
    pub nodes: BTreeMap<u64, QuorumController>,
    dirs: BTreeMap<u64, TempDir>,
    snapshot_after_entries: u64,
}

impl Quorum {
    pub async fn start(snapshot_after_entries: u64) -> Self {
        let mut listeners = BTreeMap::new();
        for id in 1..=3u64 {
            listeners.insert(id, TcpListener::bind("127.0.0.1:0").await.unwrap());
        }
        let voters = listeners
            .iter()
            .map(|(id, l)| (*id, l.local_addr().unwrap()))
            .collect();
        let mut quorum = Self {
            voters,
            nodes: BTreeMap::new(),
            dirs: (1..=3)
                .map(|id| (id, tempfile::tempdir().unwrap()))
                .collect(),
            snapshot_after_entries,
        };
        for (id, listener) in listeners {
            let node = QuorumNode::start_with_listener(quorum.config(id), listener)
                .await
                .unwrap();
            quorum.nodes.insert(id, controller(node));
        }
        quorum
    }

    fn config(&self, id: u64) -> QuorumConfig {
        let (min, max) = if id == 1 {
            (5_000, 6_000)
        } else {
            (500, 1_000)
        };
        QuorumConfig {
            election_timeout_min_ms: min,
            election_timeout_max_ms: max,
            heartbeat_interval_ms: 100,
            snapshot_after_entries: self.snapshot_after_entries,
            logs_to_keep_after_snapshot: 0,
            ..QuorumConfig::new(
                CLUSTER_ID,
                id,
                self.voters.clone(),
                self.dirs[&id].path().to_path_buf(),
            )
        }
    }

    pub async fn stop(&mut self, id: u64) {
        self.nodes.remove(&id).unwrap().shutdown().await.unwrap();
    }

    /// Restarts a stopped voter from its data dir on its old address.
    pub async fn restart(&mut self, id: u64) {
        let node = QuorumNode::start(self.config(id)).await.unwrap();
        self.nodes.insert(id, controller(node));
    }

    /// The leader every running voter agrees on.
    pub async fn leader(&self) -> u64 {
        agreed_leader(&self.nodes).await
    }

    pub fn image(&self, id: u64) -> Arc<MetadataImage> {
        self.nodes[&id].node().image().borrow().clone()
    }

    pub fn client(&self, request_timeout: Duration) -> ControllerClient {
        ControllerClient::new(CLUSTER_ID, self.voters.clone(), request_timeout)
    }
}

fn controller(node: QuorumNode) -> QuorumController {
    let config = ControllerConfig {
        // Long enough that no test broker is fenced for silence mid-test.
        broker_session_timeout_ms: 120_000,
        ..ControllerConfig::default()
    };
    let ticker = TickerConfig {
        tick_interval: Duration::from_millis(100),
        rebalance_interval: Duration::from_secs(3600),
    };
    QuorumController::new(node, config, ticker)
}

pub fn registration(broker_id: i32) -> BrokerRegistrationRequest {
    BrokerRegistrationRequest {
        broker_id,
        incarnation_id: 1000 + broker_id as u128,
        rack: None,
        listeners: vec![],
        features: BTreeMap::from([(METADATA_VERSION.to_string(), (1, LATEST_METADATA_VERSION))]),
    }
}

/// Registers `broker_id` through `client`, returning its broker epoch.
pub async fn register(client: &ControllerClient, broker_id: i32) -> i64 {
    match client
        .call(ControllerCall::RegisterBroker(registration(broker_id)))
        .await
    {
        Ok(ControllerReply::BrokerEpoch(epoch)) => epoch,
        other => panic!("registering broker {broker_id}: {other:?}"),
    }
}

/// Registers `broker_id` and heartbeats it unfenced, returning its broker epoch.
pub async fn register_active(client: &ControllerClient, broker_id: i32) -> i64 {
    let epoch = register(client, broker_id).await;
    let heartbeat = ControllerCall::Heartbeat(BrokerHeartbeat {
        broker_id,
        broker_epoch: epoch,
        want_fence: false,
        want_shutdown: false,
    });
    match client.call(heartbeat).await {
        Ok(ControllerReply::Heartbeat(r)) if !r.is_fenced => epoch,
        other => panic!("heartbeat of broker {broker_id}: {other:?}"),
    }
}

/// Waits until `rx`'s image satisfies `done`, or fails after [`DEADLINE`].
pub async fn wait_image(
    rx: &mut watch::Receiver<Arc<MetadataImage>>,
    what: &str,
    done: impl Fn(&MetadataImage) -> bool,
) -> Arc<MetadataImage> {
    let result = tokio::time::timeout(DEADLINE, rx.wait_for(|i| done(i)))
        .await
        .map(|r| r.map(|image| image.clone()));
    match result {
        Ok(Ok(image)) => image,
        Ok(Err(_)) => panic!("image channel closed while waiting for {what}"),
        Err(_) => panic!(
            "{what}: not reached within {DEADLINE:?}; last image {:?}",
            rx.borrow()
        ),
    }
}

/// The leader every running controller in `nodes` agrees on (waits up to `DEADLINE`).
pub async fn agreed_leader(nodes: &BTreeMap<u64, QuorumController>) -> u64 {
    let start = Instant::now();
    loop {
        let leaders: Vec<_> = nodes.values().map(|c| c.node().leader()).collect();
        if let Some(Some(l)) = leaders.first()
            && leaders.iter().all(|x| *x == Some(*l))
            && nodes.contains_key(l)
        {
            return *l;
        }
        assert!(start.elapsed() < DEADLINE, "no agreed leader: {leaders:?}");
        let mut metrics = nodes.values().next().unwrap().node().metrics();
        metrics.borrow_and_update();
        let _ = tokio::time::timeout(Duration::from_millis(200), metrics.changed()).await;
    }
}
