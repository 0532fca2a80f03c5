//! Issue 15: KIP-848 consumer groups (`group.protocol=consumer`, librdkafka through
//! confluent-kafka) on a 3-node cluster. Two consumers split a 6-partition RF 3
//! topic, a third joins and partitions move without any record consumed twice (each
//! offset is committed before the next poll, and a partition reaches its new owner
//! only after the old one revoked it), one leaves, then the group coordinator's
//! broker is killed -9: the new coordinator replays the group (members, epochs,
//! assignments) from `__consumer_offsets`, so the members go on without rejoining,
//! nothing is consumed twice, and the committed offsets cover every record.

mod common;

use std::time::Duration;

use common::clients::kraft_client;
use common::cluster::{Cluster, kill_group_coordinator};

const TOPIC: &str = "kip848";
const COUNT: usize = 3000;
const PARTITIONS: &str = "6";

#[test]
fn consumer_protocol_group_rebalances_and_survives_coordinator_kill() {
    // Short heartbeats keep each reconciliation step under a second.
    let mut cluster = Cluster::combined(3, &[("group.consumer.heartbeat.interval.ms", "500")]);
    let bootstrap = cluster.bootstrap();
    let create = ["--partitions", PARTITIONS, "--rf", "3"];
    kraft_client(
        "create-topic",
        &bootstrap,
        TOPIC,
        &create,
        Duration::from_secs(60),
    );
    cluster.wait_isr_full(TOPIC, 6, 3, Duration::from_secs(30));
    let count = COUNT.to_string();
    let produce = ["--count", &count, "--partitions", PARTITIONS];
    kraft_client(
        "produce-ids",
        &bootstrap,
        TOPIC,
        &produce,
        Duration::from_secs(60),
    );

    let args = [
        "--bootstrap",
        &bootstrap,
        "--topic",
        TOPIC,
        "--group",
        "kip848-group",
        "--count",
        &count,
        "--partitions",
        PARTITIONS,
    ];
    let killed = kill_group_coordinator(
        &mut cluster,
        "consumer_protocol.py",
        &args,
        Duration::from_secs(150),
    );
    let (coordinator, v, line) = (killed.coordinator, &killed.summary, &killed.line);
    eprintln!(
        "kraft_consumer_protocol: FIGURES coordinator {coordinator} killed, group done {:?} later; {line}",
        killed.recovered
    );
    let new_coordinator = v["new_coordinator"].as_i64().unwrap_or(-1) as i32;
    assert!(
        new_coordinator > 0 && new_coordinator != coordinator,
        "the group must move to a live coordinator, got {new_coordinator}"
    );
    assert_eq!(v["distinct"].as_u64(), Some(COUNT as u64), "{line}");
    // The group's members, epochs and assignments were replayed from
    // __consumer_offsets: nobody had to rejoin, so no commit was refused as from an
    // unknown member and no record was consumed twice, even across the kill.
    assert_eq!(v["abandoned_commits"].as_u64(), Some(0), "{line}");
    assert_eq!(v["consumed"], v["distinct"], "{line}");
}
