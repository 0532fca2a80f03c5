//! Issue 4: a consumer group across brokers survives its coordinator's crash. Three
//! consumers share a group on a 6-partition RF 3 topic, committing each record's
//! offset after processing it; halfway through, the group coordinator's broker is
//! killed -9. The group must find its new coordinator, keep its committed offsets
//! (the replicated `__consumer_offsets`), and consume the rest: no id is skipped.

mod common;

use std::time::Duration;

use common::clients::kraft_client;
use common::cluster::{Cluster, kill_group_coordinator};

const TOPIC: &str = "grouped";
const COUNT: usize = 3000;

#[test]
fn kraft_group_survives_coordinator_kill() {
    let mut cluster = Cluster::combined(3, &[]);
    let bootstrap = cluster.bootstrap();
    kraft_client(
        "create-topic",
        &bootstrap,
        TOPIC,
        &["--partitions", "6", "--rf", "3"],
        Duration::from_secs(60),
    );
    cluster.wait_isr_full(TOPIC, 6, 3, Duration::from_secs(30));
    let count = COUNT.to_string();
    kraft_client(
        "produce-ids",
        &bootstrap,
        TOPIC,
        &["--count", &count, "--partitions", "6"],
        Duration::from_secs(60),
    );

    let args = [
        "group",
        "--bootstrap",
        &bootstrap,
        "--topic",
        TOPIC,
        "--group",
        "kraft-group",
        "--count",
        &count,
    ];
    let killed = kill_group_coordinator(
        &mut cluster,
        "kraft_clients.py",
        &args,
        Duration::from_secs(90),
    );
    let (coordinator, v, line) = (killed.coordinator, &killed.summary, &killed.line);
    let new_coordinator = v["new_coordinator"].as_i64().unwrap_or(-1) as i32;
    eprintln!(
        "kraft_groups: FIGURES coordinator {coordinator} killed; group done on coordinator \
         {new_coordinator} {:?} later; {line}",
        killed.recovered
    );
    assert!(
        new_coordinator > 0 && new_coordinator != coordinator,
        "the group must move to a live coordinator, got {new_coordinator}"
    );
    assert!(
        v["distinct"].as_u64() == Some(COUNT as u64),
        "every id consumed exactly: {line}"
    );
}
