//! Issue 19 items 5, 6 and 7: config semantics as real admin clients see them —
//! APPEND/SUBTRACT from the effective value and the empty `cleanup.policy`
//! (item 7), sources and synonyms of inherited values (item 7), Kafka's dynamic
//! broker key set per broker and cluster-wide (item 5), and the GROUP config
//! resource (item 6). The scenarios live in `clients/config_semantics.py`
//! (confluent-kafka; kafka-python for GROUP, whose wire type 32 it speaks).

mod common;

use std::time::Duration;

use common::cluster::Cluster;
use common::process::require_python_modules;
use common::{Broker, BrokerOpts, python_client};

fn scenario(b: &Broker, name: &str) {
    run(&b.bootstrap(), name);
}

fn run(bootstrap: &str, name: &str) {
    require_python_modules(&["confluent_kafka", "kafka"]);
    let args = vec![
        "--bootstrap".to_string(),
        bootstrap.to_string(),
        name.to_string(),
    ];
    let out = python_client("config_semantics.py", &args, Duration::from_secs(120)).ok();
    assert!(out.stdout.contains("\"ok\": true"), "{name}: {out}");
}

#[test]
fn append_and_subtract_start_from_the_effective_cleanup_policy() {
    let b = Broker::start(BrokerOpts::default());
    scenario(&b, "cleanup-policy");
}

#[test]
fn inherited_min_insync_replicas_is_a_static_broker_config() {
    let b = Broker::start(BrokerOpts {
        config: vec![("min.insync.replicas".into(), "1".into())],
        ..Default::default()
    });
    scenario(&b, "sources");
}

#[test]
fn dynamic_broker_configs_follow_kafkas_key_set_and_levels() {
    let mut b = Broker::start(BrokerOpts::default());
    scenario(&b, "dynamic-broker");
    // Stored, so a restart keeps both levels.
    b.restart();
    scenario(&b, "dynamic-broker-persisted");
}

#[test]
fn dynamic_max_connections_applies_to_the_running_broker() {
    let b = Broker::start(BrokerOpts::default());
    scenario(&b, "max-connections");
}

#[test]
fn group_configs_are_set_described_and_bounded() {
    let b = Broker::start(BrokerOpts::default());
    scenario(&b, "group-configs");
}

/// The same semantics when changes go through the KRaft controller (a single
/// combined node, so "this broker's" per-broker configs are the only ones a
/// topic can inherit whichever broker answers).
#[test]
fn kraft_config_changes_keep_the_same_semantics() {
    let mut cluster = Cluster::combined(1, &[("min.insync.replicas", "1")]);
    let bootstrap = cluster.bootstrap();
    for name in [
        "cleanup-policy",
        "sources",
        "dynamic-broker",
        "group-configs",
        "max-connections",
    ] {
        run(&bootstrap, name);
    }
    let status = cluster.node(1).sigterm();
    assert!(status.success(), "SIGTERM exit {status}");
    cluster.node(1).restart();
    run(&cluster.live_bootstrap(), "dynamic-broker-persisted");
}
