//! Issue 4: a consumer group across brokers survives its coordinator's crash. Three
//! consumers share a group on a 6-partition RF 3 topic, committing each record's
//! offset after processing it; halfway through, the group coordinator's broker is
//! killed -9. The group must find its new coordinator, keep its committed offsets
//! (the replicated `__consumer_offsets`), and consume the rest: no id is skipped.

mod common;

use std::time::{Duration, Instant};

use common::clients::kraft_client;
use common::cluster::Cluster;
use common::process::spawn_python;

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

    let dir = tempfile::tempdir().expect("tempdir");
    let coordinator_file = dir.path().join("coordinator");
    let killed_file = dir.path().join("killed");
    let args: Vec<String> = [
        "group",
        "--bootstrap",
        &bootstrap,
        "--topic",
        TOPIC,
        "--group",
        "kraft-group",
        "--count",
        &count,
        "--coordinator-file",
        &coordinator_file.display().to_string(),
        "--killed-file",
        &killed_file.display().to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut group = spawn_python("kraft_clients.py", &args);
    let coordinator: i32 = common::wait_until(
        "the group script names its coordinator",
        Duration::from_secs(60),
        || {
            if !group.is_running() {
                return Ok(-1);
            }
            std::fs::read_to_string(&coordinator_file)
                .map_err(|e| e.to_string())?
                .trim()
                .parse()
                .map_err(|e| format!("{e}"))
        },
    );
    if coordinator <= 0 {
        panic!(
            "group script exited early: {}",
            group.wait(Duration::from_secs(5))
        );
    }
    let killed_at = Instant::now();
    cluster.node(coordinator).kill9();
    std::fs::write(&killed_file, "1").expect("write killed file");
    let out = group.wait(Duration::from_secs(90)).ok();
    let recovered = killed_at.elapsed();
    let line = out.stdout.lines().last().unwrap_or("");
    let v: serde_json::Value =
        serde_json::from_str(line).unwrap_or_else(|e| panic!("group summary {line:?}: {e}"));
    let new_coordinator = v["new_coordinator"].as_i64().unwrap_or(-1) as i32;
    eprintln!(
        "kraft_groups: FIGURES coordinator {coordinator} killed; group done on coordinator \
         {new_coordinator} {recovered:?} later; {line}"
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
