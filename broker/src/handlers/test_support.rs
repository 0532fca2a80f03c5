//! In-process brokers for handler tests: a formatted temp dir, small defaults, and the
//! node the operator deploys — a KRaft broker with its own one-voter controller quorum
//! (no `process.roles`, as `tidewater-broker start` runs it).
//!
//! The broker runs on a runtime of its own, so a test can stay a plain `#[test]` or
//! an `#[tokio::test]` on the default single-threaded runtime and still block on a
//! setup step ([`Broker::auto_create_topic`]) while the quorum keeps running.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::broker_server::Broker;
use crate::config::BrokerConfig;
use crate::kafka_error::KafkaError;
use crate::metadata::{TopicMetadata, format_log_dirs};

/// How long setup may wait for the quorum (a one-voter election, registration, unfencing).
const SETUP_TIMEOUT: Duration = Duration::from_secs(20);

pub struct TestBroker {
    pub broker: Arc<Broker>,
    /// The runtime the broker's quorum, heartbeats and replicas run on.
    runtime: Option<tokio::runtime::Runtime>,
    /// Keeps the log dir alive for the test's duration.
    pub _dir: tempfile::TempDir,
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        // Allowed inside another runtime, unlike a blocking drop.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// Runs `fut` to completion on a fresh thread and runtime, so it works from sync code
/// and from inside a test's own runtime alike.
fn block_on<T: Send>(fut: impl std::future::Future<Output = T> + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("test runtime")
                .block_on(fut)
        })
        .join()
        .expect("setup thread panicked")
    })
}

/// Polls `done` until it holds; panics after [`SETUP_TIMEOUT`] naming `what`.
fn wait_for(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + SETUP_TIMEOUT;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Awaits `done` (yielding, so tasks on the test's own runtime run meanwhile); panics
/// after [`SETUP_TIMEOUT`] naming `what`.
pub async fn eventually(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + SETUP_TIMEOUT;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A broker on a fresh temp dir with `extra` config on top of test defaults; returns
/// once it is registered, unfenced and ready.
pub fn broker(extra: &[(&str, &str)]) -> TestBroker {
    let dir = tempfile::tempdir().unwrap();
    let mut props: BTreeMap<String, String> = [
        ("node.id", "1"),
        ("listeners", "PLAINTEXT://127.0.0.1:9092"),
        ("group.initial.rebalance.delay.ms", "0"),
        ("offsets.topic.num.partitions", "3"),
        ("tidewater.http.listener", "127.0.0.1:0"),
        // A one-voter quorum elects itself after one timeout: keep it short.
        ("controller.quorum.election.timeout.ms", "50"),
        ("broker.heartbeat.interval.ms", "50"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    props.insert("log.dirs".into(), dir.path().display().to_string());
    for (k, v) in extra {
        props.insert(k.to_string(), v.to_string());
    }
    let config = BrokerConfig::from_props(props).unwrap();
    format_log_dirs(&config.log_dirs, "test-cluster", 1).unwrap();
    // Built and entered on a thread of its own: `block_on` panics inside a runtime.
    let (runtime, broker) = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("broker runtime");
        let broker = runtime
            .block_on(crate::broker_server::start_broker(config))
            .expect("start the test broker");
        (runtime, broker)
    })
    .join()
    .expect("broker startup thread panicked");
    broker.set_ready(true);
    wait_for("the broker to be unfenced", || broker.is_ready());
    TestBroker {
        broker,
        runtime: Some(runtime),
        _dir: dir,
    }
}

impl Broker {
    /// Test setup: creates `name` with `partitions` (one replica each, this node) and
    /// `configs` through the controller, as CreateTopics does; returns once this broker
    /// leads every partition.
    pub fn create_topic(
        &self,
        name: &str,
        partitions: BTreeMap<i32, Vec<i32>>,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<TopicMetadata, KafkaError> {
        let cluster = self.cluster().clone();
        let created = block_on(async move {
            cluster
                .create_topic(name, -1, -1, partitions, configs, validate_only)
                .await
        })?;
        if !validate_only {
            wait_for("leadership of the new topic", || {
                created
                    .partitions
                    .keys()
                    .all(|&p| self.replicas().leader_replica(name, p).is_ok())
            });
        }
        Ok(created)
    }

    /// Test setup: `name` with `num.partitions` partitions and no overrides.
    pub fn auto_create_topic(&self, name: &str) -> Result<TopicMetadata, KafkaError> {
        let partitions = (0..self.config().num_partitions)
            .map(|p| (p, vec![self.config().node_id]))
            .collect();
        self.create_topic(name, partitions, BTreeMap::new(), false)
    }

    /// Test setup: sets dynamic configs through the controller and waits until this
    /// broker applied them.
    pub fn set_dynamic_configs_for_test(
        &self,
        resource: &crate::metadata::DynamicResource,
        configs: BTreeMap<String, String>,
    ) {
        let (rtype, name) = crate::metadata::image_store::image_resource(resource);
        let ops = configs.into_iter().map(|(k, v)| (k, Some(v))).collect();
        let cluster = self.cluster().clone();
        block_on(async move { cluster.alter_configs(rtype, &name, ops, false).await }).unwrap();
    }
}

/// A context as the server would build it.
pub fn ctx() -> super::RequestContext {
    super::RequestContext {
        client_id: "test".into(),
        client_host: "127.0.0.1".into(),
        listener: "PLAINTEXT".into(),
        correlation_id: 1,
        principal: crate::security::principal::ANONYMOUS.into(),
    }
}

/// Encodes a response at `version` (catches fields set where the version has none).
pub fn encodes(
    api: kafka_protocol::messages::ApiKey,
    version: i16,
    body: kafka_protocol::messages::ResponseKind,
) {
    crate::protocol::encode_response(api, version, 1, &body)
        .unwrap_or_else(|e| panic!("{api:?} v{version} does not encode: {e}"));
}
