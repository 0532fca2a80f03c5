//! Issue 11 item 4: a planned restart loses no acknowledged record, acks=1 included.
//! Three combined nodes, RF 3, min.insync.replicas 2; an acks=1 producer and an
//! idempotent acks=all producer run while every node in turn (the active controller
//! last, as a roll does it) gets SIGTERM and is started again. On SIGTERM a broker
//! refuses produce on the partitions it leads (NOT_LEADER_OR_FOLLOWER, retried by the
//! client), waits until its in-sync followers hold its log end, and only then lets the
//! controlled shutdown move its leaderships — so the new leader holds every record the
//! old one acknowledged and nothing is truncated when it comes back.
//!
//! The longest gap between two acks=all acks of one partition is printed and bounded
//! loosely (the operator's roll benchmark gives the real figure): a gap as long as
//! `replica.lag.time.max.ms` or the client's request timeout means a produce request
//! was parked on a leader for an ISR member that was not fetching.

mod common;

use std::time::{Duration, Instant};

use common::cluster::{BackgroundProducer, Cluster, ack_gaps, kraft_client, verify_no_loss};

const TOPIC: &str = "drain";
const PARTITIONS: usize = 12;
/// acks=1 ids start here so both producers' ids stay apart in the one topic.
const ACKS_ONE_FIRST_ID: u64 = 100_000_000;
/// A loose bound on the longest acks=all gap: far below the 30 s of
/// `replica.lag.time.max.ms` and librdkafka's request timeout, far above the few
/// hundred ms a controlled shutdown takes (the active controller's stop adds a quorum
/// election).
const MAX_ACK_GAP_MS: u128 = 5_000;

#[test]
fn sigterm_and_restart_of_every_leader_loses_no_acks_1_record() {
    let mut cluster = Cluster::combined(3, &[]);
    kraft_client(
        "create-topic",
        &cluster.bootstrap(),
        TOPIC,
        &[
            "--partitions",
            &PARTITIONS.to_string(),
            "--rf",
            "3",
            "--config",
            "min.insync.replicas=2",
        ],
        Duration::from_secs(60),
    );
    cluster.wait_isr_full(TOPIC, PARTITIONS, 3, Duration::from_secs(60));
    let bootstrap = cluster.bootstrap();
    let mut all = BackgroundProducer::start_with_acks(&bootstrap, TOPIC, 400, 0, "all");
    let mut one =
        BackgroundProducer::start_with_acks(&bootstrap, TOPIC, 400, ACKS_ONE_FIRST_ID, "1");
    all.wait_progress(400, Duration::from_secs(30));
    one.wait_progress(400, Duration::from_secs(30));

    // The active controller last, as the operator's roll orders combined nodes.
    let controller = cluster.active_controller().unwrap_or(-1);
    let mut order: Vec<i32> = cluster
        .broker_ids()
        .into_iter()
        .filter(|id| *id != controller)
        .collect();
    order.extend(
        cluster
            .broker_ids()
            .into_iter()
            .filter(|id| *id == controller),
    );
    let mut stops = Vec::new();
    for victim in order {
        let led = cluster
            .metadata(TOPIC)
            .map(|m| m.values().filter(|p| p.leader == victim).count())
            .unwrap_or(0);
        let term_at = Instant::now();
        let status = cluster.node(victim).sigterm();
        let stop_ms = term_at.elapsed().as_millis();
        assert!(
            status.success(),
            "node {victim} exited {status} on SIGTERM\n{}",
            cluster.node(victim).log_tail()
        );
        let drained = cluster
            .node(victim)
            .log_lines("drained: every in-sync follower");
        assert!(
            !drained.is_empty(),
            "node {victim} stopped without draining its leaderships\n{}",
            cluster.node(victim).log_tail()
        );
        stops.push(format!(
            "node {victim} led {led} partitions, stopped in {stop_ms} ms"
        ));
        all.wait_progress(200, Duration::from_secs(30));
        one.wait_progress(200, Duration::from_secs(30));
        cluster.node(victim).restart();
        cluster.wait_isr_full(TOPIC, PARTITIONS, 3, Duration::from_secs(60));
        all.wait_progress(200, Duration::from_secs(30));
        one.wait_progress(200, Duration::from_secs(30));
    }

    let summary_all = all.stop();
    let summary_one = one.stop();
    let verdict_all = verify_no_loss(&bootstrap, TOPIC, &all.acked_path());
    let verdict_one = verify_no_loss(&bootstrap, TOPIC, &one.acked_path());
    let gaps = ack_gaps(&all.acks());
    let (worst_partition, worst_gap) = gaps
        .iter()
        .map(|(p, g)| (*p, g.iter().copied().max().unwrap_or(0)))
        .max_by_key(|(_, g)| *g)
        .unwrap_or((-1, 0));
    let gaps_one = ack_gaps(&one.acks());
    let worst_gap_one = gaps_one.values().flatten().copied().max().unwrap_or(0);
    eprintln!(
        "kraft_drain: FIGURES {}; acks=all sent {} acked {} errors {}, longest gap between \
         acks of one partition {worst_gap} ms (partition {worst_partition}); acks=1 sent {} \
         acked {} errors {}, longest gap {worst_gap_one} ms; verify acks=all {}; verify \
         acks=1 {}",
        stops.join("; "),
        summary_all.sent,
        summary_all.acked,
        summary_all.errors,
        summary_one.sent,
        summary_one.acked,
        summary_one.errors,
        verdict_all.trim(),
        verdict_one.trim()
    );
    // verify_no_loss already failed the test if any acknowledged id is missing.
    assert_eq!(summary_all.errors, 0, "{:?}", summary_all.first_errors);
    assert_eq!(summary_one.errors, 0, "{:?}", summary_one.first_errors);
    assert!(
        worst_gap < MAX_ACK_GAP_MS,
        "partition {worst_partition} had no acks=all ack for {worst_gap} ms during the roll \
         (bound {MAX_ACK_GAP_MS} ms)\n{}",
        cluster.logs()
    );
}
