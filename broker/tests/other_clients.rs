//! The pure-Python clients against the real broker: kafka-python (admin, producer,
//! group consumer) and aiokafka (asyncio producer and group consumer). The
//! scenarios live in `clients/`; each exits non-zero on any mismatch.

mod common;

use std::time::Duration;

use common::process::require_python_modules;
use common::{Broker, BrokerOpts, python_client};

const T: Duration = Duration::from_secs(120);

fn args(b: &Broker, topic: &str, count: u32) -> Vec<String> {
    vec![
        "--bootstrap".into(),
        b.bootstrap(),
        "--topic".into(),
        topic.into(),
        "--count".into(),
        count.to_string(),
    ]
}

#[test]
fn kafka_python_admin_producer_and_group_consumer() {
    require_python_modules(&["kafka"]);
    let b = Broker::start(BrokerOpts::default());
    let out = python_client("kafka_python_client.py", &args(&b, "kp-topic", 500), T).ok();
    assert!(out.stdout.contains("\"acked\": 500"), "{out}");
}

#[test]
fn aiokafka_idempotent_producer_and_group_consumer() {
    require_python_modules(&["aiokafka"]);
    let b = Broker::start(BrokerOpts {
        num_partitions: 3,
        ..Default::default()
    });
    let out = python_client("aiokafka_client.py", &args(&b, "aio-topic", 500), T).ok();
    assert!(out.stdout.contains("\"acked\": 500"), "{out}");
}
