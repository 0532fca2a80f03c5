//! Issue 17 item 4: a follower below the leader's log start offset. One RF 3 partition
//! with small segments; node F (its preferred leader) is killed with SIGKILL, the others
//! take more records and DeleteRecords moves the log start past everything F has. When
//! F returns, its fetch is OFFSET_OUT_OF_RANGE: it asks the leader for its offsets
//! (ListOffsets as a replica), deletes its whole log, restarts it at the leader's log
//! start and fetches on. Checked: F rejoins the ISR within a bounded wait, F's own log
//! starts at the leader's log start (its /metrics and its data dir), and after a
//! preferred election makes F the leader a consumer reads every record from that log
//! start on, in order, nothing missing.

mod common;

use std::time::{Duration, Instant};

use common::clients::kraft_client;
use common::cluster::Cluster;
use common::cluster_node::Node;

const TOPIC: &str = "below-log-start";
/// Records every node has before F stops.
const BEFORE: i64 = 200;
/// Records produced while F is down.
const WHILE_DOWN: i64 = 400;
/// The leader's new log start offset: far past F's log end (BEFORE).
const NEW_START: i64 = 500;
/// The topic's segment.bytes, and the producer's batch.size under it: many segments.
const SEGMENT_BYTES: &str = "segment.bytes=2048";
const BATCH_BYTES: &str = "512";

fn client(cluster: &Cluster, cmd: &str, args: &[&str]) -> String {
    kraft_client(
        cmd,
        &cluster.bootstrap(),
        TOPIC,
        args,
        Duration::from_secs(120),
    )
}

/// acks=all: the ids `first..first + count`, one record per offset.
fn produce(cluster: &Cluster, first: i64, count: i64) {
    client(
        cluster,
        "produce-ids",
        &[
            "--partitions",
            "1",
            "--batch-size",
            BATCH_BYTES,
            "--first-id",
            &first.to_string(),
            "--count",
            &count.to_string(),
        ],
    );
}

/// A labelled `kafka_log_log_*` gauge of partition 0 of TOPIC on `node`'s /metrics.
fn partition_gauge(node: &Node, name: &str) -> Result<i64, String> {
    node.partition_gauge(name, TOPIC, 0)
}

/// Base offsets of the live `.log` segment files of TOPIC-0 in `node`'s data dir
/// (segments being deleted are renamed `.log.deleted`).
fn segment_bases(node: &Node) -> Vec<i64> {
    let dir = node.log_dir().join(format!("{TOPIC}-0"));
    let mut bases: Vec<i64> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".log")?.parse().ok()
        })
        .collect();
    bases.sort_unstable();
    bases
}

#[test]
fn kraft_follower_below_leader_log_start_restarts_there() {
    let mut cluster = Cluster::combined(3, &[("broker.session.timeout.ms", "3000")]);
    // F: a node that is not the active controller, so killing it only moves the
    // partition's leadership, not the quorum's.
    let controller = common::wait_until("an active controller", Duration::from_secs(30), || {
        cluster.active_controller()
    });
    let ids = cluster.broker_ids();
    let f = *ids.iter().find(|&&id| id != controller).expect("3 nodes");
    let replicas: Vec<String> = std::iter::once(f)
        .chain(ids.iter().copied().filter(|&id| id != f))
        .map(|id| id.to_string())
        .collect();
    client(
        &cluster,
        "create-topic",
        &[
            "--replicas",
            &replicas.join(","),
            "--config",
            SEGMENT_BYTES,
            "--config",
            "min.insync.replicas=2",
        ],
    );
    cluster.wait_isr_full(TOPIC, 1, 3, Duration::from_secs(30));
    produce(&cluster, 0, BEFORE);
    common::wait_until(
        "F holds every record before it stops",
        Duration::from_secs(30),
        || match partition_gauge(cluster.node(f), "kafka_log_log_logendoffset")? {
            BEFORE => Ok(()),
            leo => Err(format!("F's log end {leo}")),
        },
    );

    cluster.node(f).kill9();
    let meta = cluster.wait_metadata(
        &format!("node {f} fenced out of the ISR, another leader"),
        TOPIC,
        Duration::from_secs(30),
        |m| match m.get(&0) {
            Some(p) if p.leader >= 0 && p.leader != f && !p.isr.contains(&f) => Ok(()),
            other => Err(format!("{other:?}")),
        },
    );
    let leader = meta[&0].leader;
    produce(&cluster, BEFORE, WHILE_DOWN);
    client(
        &cluster,
        "delete-records",
        &["--offset", &NEW_START.to_string()],
    );
    let leader_start = partition_gauge(cluster.node(leader), "kafka_log_log_logstartoffset")
        .expect("leader's log start");
    assert_eq!(leader_start, NEW_START, "the leader's log start moved");

    let restarted_at = Instant::now();
    cluster.node(f).restart();
    cluster.wait_isr_full(TOPIC, 1, 3, Duration::from_secs(60));
    let rejoin_ms = restarted_at.elapsed().as_millis();
    let node = cluster.node(f);
    let start = partition_gauge(node, "kafka_log_log_logstartoffset").expect("F's log start");
    assert_eq!(
        start, NEW_START,
        "F's log restarts at the leader's log start"
    );
    let bases = segment_bases(node);
    // The oldest segment starts at the leader's batch that holds its log start: nothing
    // F had before is left.
    assert!(
        bases.first().is_some_and(|&b| b > BEFORE && b <= NEW_START),
        "F's oldest segment starts at the leader's log start's batch: {bases:?}"
    );
    let restarts = node.log_lines("restarted the log empty there");
    assert_eq!(restarts.len(), 1, "one full truncation: {restarts:?}");
    // Info, not a warning loop (storage may still warn about recovering from SIGKILL).
    let warnings: Vec<String> = node
        .log_lines("WARN")
        .into_iter()
        .filter(|l| l.contains("tidewater_broker::replica") && l.contains(TOPIC))
        .collect();
    assert!(warnings.is_empty(), "F's replica warned: {warnings:?}");

    // F leads again (it is the preferred replica): a consumer reads F's log.
    client(&cluster, "elect-preferred", &["--partitions", "1"]);
    cluster.wait_metadata(
        &format!("node {f} leads again"),
        TOPIC,
        Duration::from_secs(30),
        |m| match m.get(&0) {
            Some(p) if p.leader == f && p.isr.len() == 3 => Ok(()),
            other => Err(format!("{other:?}")),
        },
    );
    let consumed = client(
        &cluster,
        "consume-range",
        &[
            "--start",
            &NEW_START.to_string(),
            "--first-id",
            &NEW_START.to_string(),
        ],
    );
    eprintln!(
        "kraft_log_start: FIGURES node {f} (log end {BEFORE}) restarted below the leader's \
         log start {NEW_START}: back in the ISR {rejoin_ms} ms after the restart began; \
         segments {bases:?}; consumer from F as leader: {}",
        consumed.trim()
    );
}
