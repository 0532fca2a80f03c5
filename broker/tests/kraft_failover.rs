//! Issue 4, process-level proofs of leader failover: a replicated topic (RF 3,
//! min.insync.replicas 2, 3 partitions) under a background acks=all idempotent
//! producer, the leader of each partition killed -9 in turn; no acknowledged record
//! may be lost, and the time until Metadata names a new leader is measured.
//!
//! `kraft_combined` runs 3 combined nodes, `kraft_split` 3 controllers + 3 brokers.
//! The two share this binary and take turns (a lock), so the 2-core machine never
//! runs two clusters of this test at once.

mod common;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::clients::create_topic_rf3_min_isr2;
use common::cluster::Cluster;
use common::load::{BackgroundProducer, verify_no_loss};
use common::stats::percentiles;

/// One cluster at a time in this binary.
static SERIAL: Mutex<()> = Mutex::new(());

const TOPIC: &str = "failover";
const PARTITIONS: i32 = 3;

#[test]
fn kraft_combined() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut cluster = Cluster::combined(3, &[]);
    failover_each_leader(&mut cluster, "kraft_combined");
}

#[test]
fn kraft_split() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut cluster = Cluster::split(3, 3, &[]);
    failover_each_leader(&mut cluster, "kraft_split");
}

fn failover_each_leader(cluster: &mut Cluster, name: &str) {
    let started = Instant::now();
    create_topic_rf3_min_isr2(&cluster.bootstrap(), TOPIC, 3);
    cluster.wait_isr_full(TOPIC, PARTITIONS as usize, 3, Duration::from_secs(30));
    let mut producer = BackgroundProducer::start(&cluster.bootstrap(), TOPIC, 300);
    producer.wait_progress(200, Duration::from_secs(30));

    let mut failover_ms = Vec::new();
    let mut previous: Option<i32> = None;
    for partition in 0..PARTITIONS {
        if let Some(victim) = previous {
            cluster.node(victim).restart();
            cluster.wait_isr_full(TOPIC, PARTITIONS as usize, 3, Duration::from_secs(60));
        }
        let meta = cluster.metadata(TOPIC).expect("metadata before the kill");
        let victim = meta[&partition].leader;
        assert!(victim > 0, "partition {partition} has no leader: {meta:?}");
        let killed_at = Instant::now();
        cluster.node(victim).kill9();
        let after = cluster.wait_metadata(
            &format!("a new leader of partition {partition} after killing node {victim}"),
            TOPIC,
            Duration::from_secs(30),
            |m| match m.get(&partition) {
                Some(p) if p.leader > 0 && p.leader != victim => Ok(()),
                other => Err(format!("partition {partition}: {other:?}")),
            },
        );
        let ms = killed_at.elapsed().as_millis();
        eprintln!(
            "{name}: partition {partition}: node {victim} killed, node {} leads after {ms} ms",
            after[&partition].leader
        );
        failover_ms.push(ms);
        // The producer keeps being acknowledged with the victim down (ISR 2 >= min 2).
        producer.wait_progress(100, Duration::from_secs(30));
        previous = Some(victim);
    }
    if let Some(victim) = previous {
        cluster.node(victim).restart();
        cluster.wait_isr_full(TOPIC, PARTITIONS as usize, 3, Duration::from_secs(60));
    }
    producer.wait_progress(100, Duration::from_secs(30));
    let summary = producer.stop();
    let verdict = verify_no_loss(&cluster.bootstrap(), TOPIC, &producer.acked_path());
    let (p50, _, max) = percentiles(&failover_ms);
    eprintln!(
        "{name}: FIGURES failover p50 {p50} ms, max {max} ms over {} kills; \
         producer sent {} acked {} errors {} {:?}; verify {}; total {:?}",
        failover_ms.len(),
        summary.sent,
        summary.acked,
        summary.errors,
        summary.first_errors,
        verdict.trim(),
        started.elapsed()
    );
    assert_eq!(
        summary.acked + summary.errors,
        summary.sent,
        "every record is either acknowledged or failed after flush"
    );
}
