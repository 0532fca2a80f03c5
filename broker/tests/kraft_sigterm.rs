//! Issue 4: SIGTERM of a partition leader under acks=all load. Controlled shutdown
//! must move leadership off the node before it exits (exit status 0), the producer
//! must see no errors and lose nothing, and the per-partition unavailability (the
//! longest time between two acks of a partition) is measured and printed.

mod common;

use std::time::{Duration, Instant};

use common::clients::create_topic_rf3_min_isr2;
use common::cluster::Cluster;
use common::load::{BackgroundProducer, ProduceSummary, ack_gaps, verify_no_loss};
use common::stats::percentiles;

const TOPIC: &str = "sigterm";
const PARTITIONS: usize = 3;
/// The harness's `broker.session.timeout.ms`.
const SESSION_TIMEOUT_MS: u128 = 3000;

/// Three combined nodes and `topic`: 3 partitions, RF 3, min.insync.replicas 2.
fn cluster_with_topic(topic: &str) -> Cluster {
    let cluster = Cluster::combined(3, &[]);
    create_topic_rf3_min_isr2(&cluster.bootstrap(), topic, 3);
    cluster
}

/// Restarts `victim` under the producer of `topic`: every ISR full again and 600 more
/// records acknowledged; then the producer stops and `topic` is checked against its
/// ledger.
fn restart_then_stop(
    cluster: &mut Cluster,
    victim: i32,
    topic: &str,
    producer: &mut BackgroundProducer,
) -> (ProduceSummary, String) {
    cluster.node(victim).restart();
    cluster.wait_isr_full(topic, PARTITIONS, 3, Duration::from_secs(60));
    producer.wait_progress(600, Duration::from_secs(60));
    let summary = producer.stop();
    let verdict = verify_no_loss(&cluster.bootstrap(), topic, &producer.acked_path());
    (summary, verdict)
}

#[test]
fn kraft_sigterm_leader_under_load() {
    let mut cluster = cluster_with_topic(TOPIC);
    let meta = cluster.wait_isr_full(TOPIC, PARTITIONS, 3, Duration::from_secs(30));
    // A leader that is not also the active controller: losing the controller of a
    // combined quorum adds a raft re-election (~3.6 s, openraft's lease plus election
    // timeout; kraft_failover covers it), which would be measured here as the
    // controlled shutdown's unavailability.
    let controller = cluster.active_controller().unwrap_or(-1);
    let victim = meta
        .values()
        .map(|p| p.leader)
        .find(|l| *l != controller)
        .unwrap_or(meta[&0].leader);
    let led: Vec<i32> = meta
        .values()
        .filter(|p| p.leader == victim)
        .map(|p| p.partition)
        .collect();

    let mut producer = BackgroundProducer::start(&cluster.bootstrap(), TOPIC, 300);
    producer.wait_progress(300, Duration::from_secs(30));
    let term_at = Instant::now();
    let status = cluster.node(victim).sigterm();
    let shutdown_ms = term_at.elapsed().as_millis();
    assert!(
        status.success(),
        "node {victim} exited {status} on SIGTERM\n{}",
        cluster.node(victim).log_tail()
    );
    let after = cluster.wait_metadata(
        &format!("every partition led by a node other than {victim}"),
        TOPIC,
        Duration::from_secs(30),
        |m| {
            if m.len() == PARTITIONS && m.values().all(|p| p.leader > 0 && p.leader != victim) {
                Ok(())
            } else {
                Err("not yet".into())
            }
        },
    );
    let moved_ms = term_at.elapsed().as_millis();
    producer.wait_progress(300, Duration::from_secs(30));
    // The node comes back (as a deleted pod does) while the idempotent producer runs: it
    // catches up, rejoins every ISR, and the producer goes on without an error.
    let (summary, verdict) = restart_then_stop(&mut cluster, victim, TOPIC, &mut producer);

    let gaps = ack_gaps(&producer.acks());
    let all: Vec<u128> = gaps.values().flatten().copied().collect();
    let (p50, p99, max) = percentiles(&all);
    let per_partition: Vec<(i32, u128)> = gaps
        .iter()
        .map(|(p, g)| (*p, g.iter().copied().max().unwrap_or(0)))
        .collect();
    eprintln!(
        "kraft_sigterm: FIGURES node {victim} (led {led:?}; active controller {controller}) \
         exited 0 after {shutdown_ms} ms; \
         leaders moved within {moved_ms} ms ({:?}); max gap between acks per partition \
         {per_partition:?} ms; inter-ack gap p50 {p50} p99 {p99} max {max} ms; producer sent \
         {} acked {} errors {}; verify {}",
        after.values().map(|p| p.leader).collect::<Vec<_>>(),
        summary.sent,
        summary.acked,
        summary.errors,
        verdict.trim()
    );
    assert_eq!(
        summary.errors, 0,
        "a controlled shutdown must not fail produce requests: {:?}",
        summary.first_errors
    );
    assert_eq!(summary.acked, summary.sent);
    // A controlled shutdown takes the broker out of every ISR and leadership before it
    // exits (Kafka's KRaft controller does both at once), so no partition may stall as
    // long as crash detection would take (broker.session.timeout.ms).
    assert!(
        max < SESSION_TIMEOUT_MS,
        "a partition had no acks for {max} ms around the SIGTERM, not less than \
         broker.session.timeout.ms {SESSION_TIMEOUT_MS}: {per_partition:?}"
    );
}

/// The e2e step that deletes a broker pod under load hit the active controller of a
/// combined quorum: SIGTERM that node while an idempotent acks=all producer runs, let
/// the quorum elect another controller, start the node again and let it rejoin every
/// ISR. The producer must see no error at all (a fatal idempotence error would end
/// kcat in the pod) and nothing acknowledged may be lost.
#[test]
fn kraft_sigterm_active_controller_then_restart_under_load() {
    const TOPIC: &str = "sigterm-controller";
    let mut cluster = cluster_with_topic(TOPIC);
    cluster.wait_isr_full(TOPIC, PARTITIONS, 3, Duration::from_secs(30));
    let victim = cluster.active_controller().expect("an active controller");
    let mut producer = BackgroundProducer::start(&cluster.bootstrap(), TOPIC, 300);
    producer.wait_progress(300, Duration::from_secs(30));
    let status = cluster.node(victim).sigterm();
    assert!(
        status.success(),
        "node {victim} exited {status} on SIGTERM\n{}",
        cluster.node(victim).log_tail()
    );
    producer.wait_progress(300, Duration::from_secs(30));
    let (summary, verdict) = restart_then_stop(&mut cluster, victim, TOPIC, &mut producer);
    eprintln!(
        "kraft_sigterm (active controller {victim}): producer sent {} acked {} errors {}; verify {}",
        summary.sent,
        summary.acked,
        summary.errors,
        verdict.trim()
    );
    assert_eq!(
        summary.errors, 0,
        "stopping and restarting the active controller must not fail produce requests: {:?}",
        summary.first_errors
    );
    assert_eq!(summary.acked, summary.sent);
}
