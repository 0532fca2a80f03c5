//! confluent-kafka (librdkafka via pip) against the real broker: idempotent
//! producer with acks=all, a 3-member group rebalancing on 6 partitions, committed
//! offsets surviving a broker restart. (AdminClient scenarios: `confluent_admin.rs`.)
//! The scenarios live in `clients/confluent_client.py`, which exits non-zero on any
//! mismatch.

mod common;

use std::time::Duration;

use common::process::require_python_modules;
use common::{Broker, BrokerOpts, python_client};

const SCRIPT: &str = "confluent_client.py";
const T: Duration = Duration::from_secs(120);

fn args(b: &Broker, topic: &str, rest: &[&str]) -> Vec<String> {
    let mut v = vec![
        "--bootstrap".to_string(),
        b.bootstrap(),
        "--topic".to_string(),
        topic.to_string(),
    ];
    v.extend(rest.iter().map(|s| s.to_string()));
    v
}

fn six_partitions() -> BrokerOpts {
    BrokerOpts {
        num_partitions: 6,
        ..Default::default()
    }
}

#[test]
fn confluent_idempotent_producer_acks_all_delivers_each_record_once_in_order() {
    require_python_modules(&["confluent_kafka"]);
    let b = Broker::start(six_partitions());
    let out = python_client(
        SCRIPT,
        &args(&b, "idem", &["idempotent-produce", "--count", "3000"]),
        T,
    )
    .ok();
    assert!(out.stdout.contains("\"acked\": 3000"), "{out}");
}

#[test]
fn confluent_three_consumers_rebalance_over_six_partitions_as_members_join_and_leave() {
    require_python_modules(&["confluent_kafka"]);
    let b = Broker::start(six_partitions());
    let out = python_client(
        SCRIPT,
        &args(
            &b,
            "rebalance",
            &[
                "group-rebalance",
                "--group",
                "g-rebalance",
                "--count",
                "600",
            ],
        ),
        T,
    )
    .ok();
    assert!(out.stdout.contains("\"consumed\": 600"), "{out}");
}

#[test]
fn confluent_committed_offsets_resume_after_broker_restart() {
    require_python_modules(&["confluent_kafka"]);
    let mut b = Broker::start(six_partitions());
    let state = b.dir().join("resume-state.json").display().to_string();
    let phase = |b: &Broker, n: &str| {
        python_client(
            SCRIPT,
            &args(
                b,
                "resume",
                &[
                    "resume-offsets",
                    "--group",
                    "g-resume",
                    "--phase",
                    n,
                    "--state",
                    &state,
                ],
            ),
            T,
        )
        .ok()
    };
    phase(&b, "1");
    b.restart();
    let out = phase(&b, "2");
    assert!(out.stdout.contains("\"phase\": 2"), "{out}");
}

#[test]
fn confluent_records_keep_headers_keys_timestamps_and_offset_apis_work() {
    require_python_modules(&["confluent_kafka"]);
    let b = Broker::start(BrokerOpts::default());
    let args = vec![
        "--bootstrap".to_string(),
        b.bootstrap(),
        "--topic".into(),
        "records".into(),
    ];
    let out = python_client("confluent_records.py", &args, T).ok();
    assert!(out.stdout.contains("\"ok\": true"), "{out}");
}
