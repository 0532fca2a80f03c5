//! Exactly-once across kill -9 (issue 16's headline test): on 3 nodes (RF 3,
//! min.insync.replicas 2), confluent-kafka's consume-transform-produce loop
//! (`clients/exactly_once.py`: read_committed consumer in a group, transactional
//! producer, send_offsets_to_transaction every ~50 records, abort and rewind on
//! errors, every fifth transaction aborted on purpose) copies 2,000 numbered records
//! while the test kills -9 the transaction
//! coordinator of its transactional id and restarts it, then the leader of an output
//! partition and restarts it. A read_committed consumer then sees every input record
//! in the output exactly once, and a read_uncommitted one the aborted copies too.

mod common;

use std::time::Duration;

use common::clients::create_topic_rf3_min_isr2;
use common::cluster::Cluster;
use common::process::{require_python_modules, spawn_python};
use common::python_client;
use common::wait::wait_until;

const SCRIPT: &str = "exactly_once.py";
const COUNT: usize = 2000;
const INPUT: &str = "eos-in";
const OUTPUT: &str = "eos-out";

fn args(bootstrap: &str, cmd: &str, more: &[&str]) -> Vec<String> {
    let count = COUNT.to_string();
    let mut args = vec![
        "--bootstrap",
        bootstrap,
        "--input",
        INPUT,
        "--output",
        OUTPUT,
        "--count",
        &count,
    ];
    args.extend(more);
    args.push(cmd);
    args.into_iter().map(str::to_owned).collect()
}

/// The node coordinating transactional id `id` (FindCoordinator key_type 1).
fn transaction_coordinator(bootstrap: &str, id: &str) -> Result<i32, String> {
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let any = bootstrap.split(',').next().unwrap_or(bootstrap);
        common::txn::find_coordinator(any, id).await
    })
}

/// How many input records the loop has committed so far.
fn committed(progress: &std::path::Path) -> usize {
    std::fs::read_to_string(progress)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn exactly_once_across_kill_9_of_the_transaction_coordinator_and_an_output_leader() {
    require_python_modules(&["confluent_kafka"]);
    let mut cluster = Cluster::combined(3, &[]);
    let bootstrap = cluster.bootstrap();
    for topic in [INPUT, OUTPUT] {
        create_topic_rf3_min_isr2(&bootstrap, topic, 3);
        cluster.wait_isr_full(topic, 3, 3, Duration::from_secs(30));
    }
    python_client(
        SCRIPT,
        &args(&bootstrap, "fill", &[]),
        Duration::from_secs(120),
    )
    .ok();
    let dir = tempfile::tempdir().expect("tempdir");
    let progress = dir.path().join("progress");
    let progress_arg = progress.display().to_string();
    let mut looping = spawn_python(
        SCRIPT,
        &args(
            &bootstrap,
            "loop",
            &[
                "--progress-file",
                &progress_arg,
                "--pace-ms",
                "400",
                "--abort-every",
                "5",
            ],
        ),
    );
    let advance_past = |what: &str, n: usize, looping: &mut common::process::Running| {
        wait_until(what, Duration::from_secs(120), || {
            if !looping.is_running() {
                return Ok(());
            }
            let done = committed(&progress);
            if done >= n {
                Ok(())
            } else {
                Err(format!("{done} committed"))
            }
        });
    };
    advance_past("the loop commits a quarter", COUNT / 4, &mut looping);
    let coordinator = wait_until(
        "the transaction coordinator",
        Duration::from_secs(30),
        || transaction_coordinator(&bootstrap, "eos-loop"),
    );
    // Kills `node` -9 mid-loop, restarts it, and waits for the loop to go on.
    let mut kill_mid_loop = |cluster: &mut Cluster, node: i32, what: &str| {
        let before = committed(&progress);
        assert!(
            looping.is_running() && before < COUNT,
            "the loop ended before the kill of the {what}"
        );
        cluster.node(node).kill9();
        cluster.node(node).restart();
        let goes_on = format!("the loop goes on past the kill of the {what}");
        advance_past(&goes_on, before + 200, &mut looping);
    };
    kill_mid_loop(&mut cluster, coordinator, "transaction coordinator");
    cluster.wait_isr_full(OUTPUT, 3, 3, Duration::from_secs(60));
    let leader = cluster.metadata(OUTPUT).expect("metadata")[&0].leader;
    kill_mid_loop(&mut cluster, leader, "output leader");
    let out = looping.wait(Duration::from_secs(300)).ok();
    let stats = out.stdout.lines().last().unwrap_or("").to_owned();
    let loop_stats: serde_json::Value = serde_json::from_str(&stats).expect("loop stats");
    let aborted = loop_stats["aborted_records"]
        .as_u64()
        .expect("aborted records");
    assert!(aborted > 0, "no transaction aborted: {stats}");
    let verified = python_client(
        SCRIPT,
        &args(&bootstrap, "verify", &[]),
        Duration::from_secs(300),
    )
    .ok();
    let summary = verified.stdout.lines().last().unwrap_or("").to_owned();
    eprintln!(
        "coordinator {coordinator} and output leader {leader} killed: loop {stats}, output {summary}"
    );
    let summary: serde_json::Value = serde_json::from_str(&summary).expect("verify summary");
    assert_eq!(summary["read_committed"], COUNT, "{summary}");
    assert_eq!(summary["distinct"], COUNT, "{summary}");
    // The aborted transactions' output stays in the log for read_uncommitted.
    let uncommitted = summary["read_uncommitted"]
        .as_u64()
        .expect("read_uncommitted");
    assert!(uncommitted >= COUNT as u64 + aborted, "{summary}");
}
