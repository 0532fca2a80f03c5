//! Issue 4: a frozen follower leaves the ISR and rejoins it. SIGSTOP one follower of
//! an RF 3 partition under acks=all load: within `replica.lag.time.max.ms` (+ slack)
//! the leader shrinks the ISR (Metadata and `kafka_server_replicamanager_isrshrinks_total`
//! on the leader's /metrics), producing goes on with ISR 2 = min.insync.replicas;
//! after SIGCONT the follower catches up and the ISR is full again; nothing acked is lost.

mod common;

use std::time::{Duration, Instant};

use common::clients::create_topic_rf3_min_isr2;
use common::cluster::Cluster;
use common::load::{BackgroundProducer, verify_no_loss};

const TOPIC: &str = "isr";
const LAG_MS: u64 = 3000;
const SHRINKS: &str = "kafka_server_replicamanager_isrshrinks_total";
const EXPANDS: &str = "kafka_server_replicamanager_isrexpands_total";

#[test]
fn kraft_isr_shrink_and_rejoin() {
    // A session timeout far above the lag time: the stopped follower must leave the
    // ISR because the leader sees it lag, not because the controller fenced it.
    let lag = LAG_MS.to_string();
    let mut cluster = Cluster::combined(
        3,
        &[
            ("replica.lag.time.max.ms", &lag),
            ("broker.session.timeout.ms", "60000"),
        ],
    );
    create_topic_rf3_min_isr2(&cluster.bootstrap(), TOPIC, 1);
    let meta = cluster.wait_isr_full(TOPIC, 1, 3, Duration::from_secs(30));
    let leader = meta[&0].leader;
    // Freeze a follower that is not the active controller, so the quorum keeps its
    // leader and the only effect is the lagging replica.
    let controller = cluster.active_controller().unwrap_or(-1);
    let follower = *meta[&0]
        .replicas
        .iter()
        .find(|&&r| r != leader && r != controller)
        .expect("a follower that is not the active controller");

    let mut producer = BackgroundProducer::start(&cluster.bootstrap(), TOPIC, 200);
    producer.wait_progress(200, Duration::from_secs(30));
    let shrinks_before = cluster
        .node(leader)
        .metric(SHRINKS)
        .expect("shrinks metric");
    let expands_before = cluster
        .node(leader)
        .metric(EXPANDS)
        .expect("expands metric");

    cluster.node(follower).sigstop();
    let stopped_at = Instant::now();
    cluster.wait_metadata(
        &format!("node {follower} out of the ISR"),
        TOPIC,
        Duration::from_millis(LAG_MS + 10_000),
        |m| match m.get(&0) {
            Some(p) if p.leader == leader && !p.isr.contains(&follower) && p.isr.len() == 2 => {
                Ok(())
            }
            other => Err(format!("{other:?}")),
        },
    );
    let shrink_ms = stopped_at.elapsed().as_millis();
    assert!(
        shrink_ms >= u128::from(LAG_MS) / 2,
        "ISR shrank after {shrink_ms} ms, well before replica.lag.time.max.ms {LAG_MS}"
    );
    let leader_node = cluster.node(leader);
    common::wait_until(
        "isrshrinks_total grows on the leader",
        Duration::from_secs(10),
        || {
            let now = leader_node.metric(SHRINKS)?;
            (now > shrinks_before)
                .then_some(())
                .ok_or_else(|| format!("{SHRINKS} still {now}"))
        },
    );
    // acks=all goes on with ISR {leader, other follower} = min.insync.replicas.
    producer.wait_progress(200, Duration::from_secs(30));

    cluster.node(follower).sigcont();
    let continued_at = Instant::now();
    cluster.wait_isr_full(TOPIC, 1, 3, Duration::from_secs(30));
    let rejoin_ms = continued_at.elapsed().as_millis();
    let leader_node = cluster.node(leader);
    common::wait_until(
        "isrexpands_total grows on the leader",
        Duration::from_secs(10),
        || {
            let now = leader_node.metric(EXPANDS)?;
            (now > expands_before)
                .then_some(())
                .ok_or_else(|| format!("{EXPANDS} still {now}"))
        },
    );
    producer.wait_progress(100, Duration::from_secs(30));
    let summary = producer.stop();
    let verdict = verify_no_loss(&cluster.bootstrap(), TOPIC, &producer.acked_path());
    eprintln!(
        "kraft_isr: FIGURES node {follower} stopped: ISR shrink visible after {shrink_ms} ms \
         (lag time {LAG_MS} ms); rejoined {rejoin_ms} ms after SIGCONT; producer {summary:?}; \
         verify {}",
        verdict.trim()
    );
    assert_eq!(
        summary.errors, 0,
        "producer errors: {:?}",
        summary.first_errors
    );
}
