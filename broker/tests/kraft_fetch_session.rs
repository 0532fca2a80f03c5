//! Issue 17 item 5: replica fetch through KIP-227 fetch sessions, when the leader loses
//! the session. One controller and brokers L, F, G; one partition with replicas
//! [L, F, G] (L preferred). F is frozen (SIGSTOP) with its fetch session to L open; L
//! is killed -9, G leads while records keep coming, L restarts empty of sessions,
//! catches up and leads again (preferred election), more records come. Then F wakes up:
//! its session is gone with the old L, so its next fetch from L must be a full one that
//! starts a new session, and F must end with every record (back in the ISR, its log
//! end the leader's, and a consumer reads every id in order from the leader).

mod common;

use std::time::Duration;

use common::clients::kraft_client;
use common::cluster::Cluster;
use common::cluster_node::Node;

const TOPIC: &str = "fetch-session";
/// Records produced in each of the three phases.
const PHASE: i64 = 300;
/// The leaders drop the frozen F from the ISR after this.
const LAG_MS: &str = "3000";
/// The log line of a fetch that starts a session (`fetch_round.rs`).
const FULL_FETCH: &str = "full fetch, starting a fetch session";

fn client(cluster: &mut Cluster, cmd: &str, args: &[&str]) -> String {
    let bootstrap = cluster.live_bootstrap();
    kraft_client(cmd, &bootstrap, TOPIC, args, Duration::from_secs(120))
}

/// acks=all: the ids `first..first + PHASE`, one record per offset.
fn produce(cluster: &mut Cluster, first: i64) {
    let first = first.to_string();
    let count = PHASE.to_string();
    let args = ["--partitions", "1", "--first-id", &first, "--count", &count];
    client(cluster, "produce-ids", &args);
}

/// `kafka_log_log_logendoffset` of the partition on `node`.
fn log_end(node: &Node) -> Result<i64, String> {
    let body = node.http_get("/metrics")?.body;
    body.lines()
        .filter(|l| l.starts_with("kafka_log_log_logendoffset"))
        .filter(|l| l.contains(&format!("topic=\"{TOPIC}\"")) && l.contains("partition=\"0\""))
        .find_map(|l| l.rsplit_once(' ')?.1.trim().parse::<f64>().ok())
        .map(|v| v as i64)
        .ok_or_else(|| format!("no log end for {TOPIC}-0 on node {}", node.id))
}

/// F's fetches that started a session with `leader`.
fn sessions_started(node: &Node, leader: i32) -> usize {
    node.log_lines(FULL_FETCH)
        .iter()
        .filter(|l| l.contains(&format!("leader={leader}")))
        .count()
}

#[test]
fn kraft_follower_fetches_in_full_after_the_leader_lost_its_session() {
    let config = [
        ("replica.lag.time.max.ms", LAG_MS),
        ("min.insync.replicas", "1"),
    ];
    let mut cluster = Cluster::split(1, 3, &config);
    let ids = cluster.broker_ids();
    let (l, f, g) = (ids[0], ids[1], ids[2]);
    let replicas = format!("{l},{f},{g}");
    client(&mut cluster, "create-topic", &["--replicas", &replicas]);
    cluster.wait_isr_full(TOPIC, 1, 3, Duration::from_secs(30));
    produce(&mut cluster, 0);
    common::wait_until(
        "F holds the first phase",
        Duration::from_secs(30),
        || match log_end(cluster.node(f))? {
            PHASE => Ok(()),
            leo => Err(format!("F's log end {leo}")),
        },
    );
    let started_before = sessions_started(cluster.node(f), l);
    assert!(started_before >= 1, "F fetched from L through a session");

    cluster.node(f).sigstop();
    cluster.node(l).kill9();
    cluster.wait_metadata(
        "G leads without L",
        TOPIC,
        Duration::from_secs(30),
        |m| match m.get(&0) {
            Some(p) if p.leader == g => Ok(()),
            other => Err(format!("{other:?}")),
        },
    );
    produce(&mut cluster, PHASE);
    cluster.node(l).restart();
    cluster.wait_metadata(
        "L back in the ISR",
        TOPIC,
        Duration::from_secs(60),
        |m| match m.get(&0) {
            Some(p) if p.isr.contains(&l) => Ok(()),
            other => Err(format!("{other:?}")),
        },
    );
    client(&mut cluster, "elect-preferred", &["--partitions", "1"]);
    cluster.wait_metadata(
        "L leads again",
        TOPIC,
        Duration::from_secs(30),
        |m| match m.get(&0) {
            Some(p) if p.leader == l => Ok(()),
            other => Err(format!("{other:?}")),
        },
    );
    produce(&mut cluster, 2 * PHASE);

    cluster.node(f).sigcont();
    cluster.wait_isr_full(TOPIC, 1, 3, Duration::from_secs(60));
    common::wait_until(
        "F fetched from the restarted L in full",
        Duration::from_secs(30),
        || {
            let started = sessions_started(cluster.node(f), l);
            (started > started_before)
                .then_some(started)
                .ok_or_else(|| format!("{started} sessions started with L"))
        },
    );
    let total = 3 * PHASE;
    common::wait_until(
        "F's log end is the leader's",
        Duration::from_secs(30),
        || {
            let (leader_end, follower_end) = (log_end(cluster.node(l))?, log_end(cluster.node(f))?);
            (leader_end == total && follower_end == total)
                .then_some(())
                .ok_or_else(|| {
                    format!("log end: L {leader_end}, F {follower_end}, produced {total}")
                })
        },
    );
    let consumed = client(
        &mut cluster,
        "consume-range",
        &["--start", "0", "--first-id", "0"],
    );
    assert!(
        consumed.contains(&format!("\"consumed\": {total}")),
        "every record is read back: {consumed}"
    );
    let lost = cluster.node(f).log_lines("fetch refused by the leader");
    eprintln!(
        "kraft_fetch_session: FIGURES F={f} L={l}: sessions F started with L before {started_before}, \
         after {}; F's refused fetches: {lost:?}",
        sessions_started(cluster.node(f), l)
    );
}
