//! confluent-kafka's AdminClient against the real broker: topic creation with
//! configs, describe/alter configs, partitions, deletion, consumer groups, and the
//! precise Kafka error code for each kind of bad request; and topic configs at work:
//! retention and compaction seen by a consumer. The scenarios live in
//! `clients/confluent_admin.py` and `clients/confluent_cleanup.py`, which exit
//! non-zero on any mismatch.

mod common;

use std::time::Duration;

use common::process::require_python_modules;
use common::{Broker, BrokerOpts, python_client};

const SCRIPT: &str = "confluent_admin.py";
const T: Duration = Duration::from_secs(120);

fn scenario(b: &Broker, topic: &str, name: &str) {
    require_python_modules(&["confluent_kafka"]);
    let args = vec![
        "--bootstrap".to_string(),
        b.bootstrap(),
        "--topic".into(),
        topic.into(),
        name.into(),
    ];
    let out = python_client(SCRIPT, &args, T).ok();
    assert!(out.stdout.contains("\"ok\": true"), "{out}");
}

#[test]
fn admin_creates_topic_describes_and_alters_configs() {
    let b = Broker::start(BrokerOpts::default());
    scenario(&b, "admin-topic", "admin");
}

#[test]
fn admin_bad_requests_get_precise_kafka_error_codes() {
    let b = Broker::start(BrokerOpts::default());
    scenario(&b, "errs", "errors");
}

#[test]
fn admin_lists_describes_and_deletes_consumer_groups() {
    let b = Broker::start(BrokerOpts::default());
    scenario(&b, "grouped", "groups");
}

#[test]
fn producing_to_an_unknown_topic_without_auto_create_fails_and_creates_nothing() {
    let b = Broker::start(BrokerOpts {
        auto_create_topics: false,
        ..Default::default()
    });
    scenario(&b, "never-created", "no-auto-create");
}

#[test]
fn retention_and_compaction_are_visible_to_a_real_client() {
    require_python_modules(&["confluent_kafka"]);
    let b = Broker::start(BrokerOpts {
        config: vec![("log.retention.check.interval.ms".into(), "200".into())],
        ..Default::default()
    });
    let args = vec!["--bootstrap".to_string(), b.bootstrap()];
    let out = python_client("confluent_cleanup.py", &args, Duration::from_secs(180)).ok();
    assert!(out.stdout.contains("\"ok\": true"), "{out}");
}

/// Compaction that cleans the first segments down to nothing must not move the log
/// start offset, not even across a restart (load takes the log start as at least the
/// first segment's base offset): ListOffsets earliest stays 0 and a consumer from 0 or
/// 100 gets the surviving records instead of OFFSET_OUT_OF_RANGE.
#[test]
fn compaction_keeps_the_log_start_offset_across_a_restart() {
    require_python_modules(&["confluent_kafka"]);
    let mut b = Broker::start(BrokerOpts::default());
    let phase = |b: &Broker, phase: &str, extra: &[String]| {
        let mut args = vec![
            "--bootstrap".to_string(),
            b.bootstrap(),
            "--phase".into(),
            phase.into(),
        ];
        args.extend_from_slice(extra);
        let out = python_client("confluent_cleanup.py", &args, Duration::from_secs(180)).ok();
        assert!(out.stdout.contains("\"ok\": true"), "{out}");
        out.stdout
    };
    let produced = phase(&b, "start-produce", &[]);
    let expect = produced
        .lines()
        .find(|l| l.starts_with('{'))
        .unwrap_or_default()
        .to_string();
    b.restart();
    phase(&b, "start-check", &["--expect".into(), expect]);
}
