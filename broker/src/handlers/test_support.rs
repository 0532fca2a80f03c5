//! In-process brokers for handler tests: a formatted temp dir, small defaults.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::config::BrokerConfig;
use crate::metadata::format_log_dirs;
use crate::state::Broker;

pub struct TestBroker {
    pub broker: Arc<Broker>,
    /// Keeps the log dir alive for the test's duration.
    pub _dir: tempfile::TempDir,
}

/// A broker on a fresh temp dir with `extra` config on top of test defaults.
pub fn broker(extra: &[(&str, &str)]) -> TestBroker {
    let dir = tempfile::tempdir().unwrap();
    let mut props: BTreeMap<String, String> = [
        ("node.id", "1"),
        ("listeners", "PLAINTEXT://127.0.0.1:9092"),
        ("group.initial.rebalance.delay.ms", "0"),
        ("offsets.topic.num.partitions", "3"),
        ("tidewater.http.listener", "127.0.0.1:0"),
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
    let broker = Broker::open(config).unwrap();
    TestBroker { broker, _dir: dir }
}

/// A context as the server would build it.
pub fn ctx() -> super::RequestContext {
    super::RequestContext {
        client_id: "test".into(),
        client_host: "127.0.0.1".into(),
        listener: "PLAINTEXT".into(),
        correlation_id: 1,
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
