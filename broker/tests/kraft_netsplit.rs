//! Issue 4, the network-partition proof: 3 combined KRaft nodes, each in its own
//! network namespace on a bridge; the leader of an RF 3 / min.insync.replicas 2
//! partition is cut off (its bridge-side veth down: inter-broker AND controller
//! traffic) while an acks=all producer in the root namespace writes unique ids and an
//! acks=1 producer inside the cut-off namespace writes to the same partition.
//!
//! Asserted: the majority elects a new leader under a higher leader epoch and the
//! acks=all producer continues there; the cut-off old leader acknowledges no acks=all
//! write (no split brain) though it takes acks=1 writes onto its disk; after healing
//! it follows the new epoch, truncates that divergent tail (log line + `dump-log`,
//! whose records then equal the leader's) and rejoins the ISR; every acknowledged id
//! is stored exactly once. Figures: time to a new leader, time to rejoin the ISR.
//!
//! Needs root (network namespaces, veth, bridge): without it the test fails saying
//! so; it never passes without having cut a node off.

mod common;
#[path = "netns/cluster.rs"]
mod ns_cluster;
#[path = "netns/topology.rs"]
mod topology;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use common::Rng;
use common::clients::{PartitionMeta, create_topic_rf3_min_isr2, topic_metadata};
use common::load::BackgroundProducer;
use common::process::{client_script, spawn};
use common::wait_until;
use ns_cluster::{NsCluster, NsNode};
use topology::Topology;

const TOPIC: &str = "netsplit";
const NODES: usize = 3;

/// The issue's node settings (listeners, ids and dirs come from `NsCluster`).
const CONFIG: &[&str] = &[
    "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
    "default.replication.factor=3",
    "offsets.topic.replication.factor=3",
    "min.insync.replicas=2",
    "broker.session.timeout.ms=3000",
    "broker.heartbeat.interval.ms=500",
    "replica.lag.time.max.ms=3000",
    "controller.quorum.election.timeout.ms=1000",
    "unclean.leader.election.enable=false",
    "auto.create.topics.enable=false",
];

/// Metadata of partition 0 through `bootstrap` once `cond` holds.
fn wait_partition(
    what: &str,
    bootstrap: &str,
    timeout: Duration,
    cond: impl Fn(&PartitionMeta) -> bool,
) -> PartitionMeta {
    wait_until(what, timeout, || {
        let meta = topic_metadata(bootstrap, TOPIC)?;
        match meta.get(&0) {
            Some(p) if cond(p) => Ok(p.clone()),
            other => Err(format!("partition 0: {other:?}")),
        }
    })
}

/// Highest epoch in the node's `leader-epoch-checkpoint` of partition 0.
fn checkpointed_epoch(node: &NsNode) -> Option<i64> {
    let path = node.partition_dir(TOPIC, 0).join("leader-epoch-checkpoint");
    std::fs::read_to_string(path)
        .ok()?
        .lines()
        .skip(2)
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .max()
}

fn json_line(stdout: &str) -> serde_json::Value {
    let line = stdout.lines().last().unwrap_or("");
    serde_json::from_str(line).unwrap_or_else(|e| panic!("client summary {line:?}: {e}"))
}

#[test]
fn isolated_leader_is_fenced_and_truncated() {
    let started = Instant::now();
    let mut rng = Rng::from_env("kraft_netsplit");
    let topo = Topology::create(NODES, &mut rng).unwrap_or_else(|e| {
        panic!(
            "kraft_netsplit must cut a broker off with network namespaces (run as root, \
             iproute2 with netns/veth/bridge support); the host refused: {e}"
        )
    });
    eprintln!("kraft_netsplit: {}", topo.describe());
    let cluster = NsCluster::start(topo, NODES, CONFIG);
    let all = cluster.bootstrap_except(None);
    let scratch = tempfile::tempdir().expect("tempdir");

    let before = create_topic_led_by_all_three(&all);
    let mut producer = BackgroundProducer::start(&all, TOPIC, 200);
    producer.wait_progress(200, Duration::from_secs(30));
    let cut = cut_the_leader_off(&cluster, &before, &producer);
    let iso = isolated_leader_takes_acks1_only(&cluster, &cut, &mut producer, scratch.path());
    let (rejoined, rejoin_ms) = heal_and_rejoin(&cluster, &cut);
    producer.wait_progress(50, Duration::from_secs(30));
    let summary = producer.stop();
    assert_eq!(
        summary.acked + summary.errors,
        summary.sent,
        "every record acked or failed"
    );
    let verdict = verify_every_ack_stored_once(&all, &producer, &cut, iso.post_count);
    let old_epoch = verdict["epoch_before_cut"]
        .as_i64()
        .expect("epoch before the cut");
    let (copy, epoch, truncations) = old_leader_truncated_its_tail(&cluster, &cut, old_epoch);
    let Cut {
        old,
        new,
        controller,
        failover_ms,
        shrink_ms,
        ..
    } = cut;
    let by_value: BTreeMap<&str, usize> = copy.iter().fold(BTreeMap::new(), |mut m, (_, v)| {
        *m.entry(v.as_str()).or_default() += 1;
        m
    });
    eprintln!(
        "kraft_netsplit: FIGURES new leader {failover_ms} ms after the cut (node {old} -> \
         node {new}, active controller before the cut: node {controller:?}, epoch {old_epoch} -> {epoch:?}, ISR without it after {shrink_ms} ms); node {old} back in the ISR \
         {rejoin_ms} ms after healing (leader then node {}); cut-off leader acked {} acks=1 writes, {} iso \
         records on its disk, all truncated ({} truncation log lines, first {:?}); \
         acks=all inside the cut: {} sent, 0 acked, errors {}; main producer sent {} \
         acked {} errors {} {:?}; verify {}; {} records on both copies ({} distinct); total {:?}",
        rejoined.leader,
        iso.acks1.len(),
        iso.divergent,
        truncations.len(),
        truncations.first(),
        iso.summary["all_sent"],
        iso.summary["all_first_errors"],
        summary.sent,
        summary.acked,
        summary.errors,
        summary.first_errors,
        verdict,
        copy.len(),
        by_value.len(),
        started.elapsed()
    );
    teardown_leaves_nothing_behind(cluster);
}

/// Creates the RF 3 topic; returns partition 0 once led with all three in the ISR.
fn create_topic_led_by_all_three(all: &str) -> PartitionMeta {
    create_topic_rf3_min_isr2(all, TOPIC, 1);
    wait_partition(
        "partition 0 led with ISR 3",
        all,
        Duration::from_secs(30),
        |p| p.leader > 0 && p.isr.len() == 3,
    )
}

/// What cutting the leader off showed, for the later steps and the figures.
struct Cut {
    /// The leader that was cut off, and the one the majority elected.
    old: usize,
    new: usize,
    /// Bootstrap of the nodes still connected.
    majority: String,
    /// The active controller before the cut.
    controller: Option<usize>,
    /// Ids acknowledged before the cut.
    pre_count: usize,
    failover_ms: u128,
    shrink_ms: u128,
}

/// Cut the leader off: the majority elects another and drops it from the ISR.
fn cut_the_leader_off(
    cluster: &NsCluster,
    before: &PartitionMeta,
    producer: &BackgroundProducer,
) -> Cut {
    let old = before.leader as usize;
    let majority = cluster.bootstrap_except(Some(old));
    let controller = cluster.active_controller();
    let pre_count = producer.acked();
    let cut_at = Instant::now();
    cluster.topo.cut(old).expect("cut the leader off");
    let failed_over = wait_partition(
        &format!("a leader other than the cut-off node {old}"),
        &majority,
        Duration::from_secs(30),
        |p| p.leader > 0 && p.leader as usize != old,
    );
    let failover_ms = cut_at.elapsed().as_millis();
    let new = failed_over.leader as usize;
    eprintln!(
        "kraft_netsplit: node {old} cut off, node {new} leads after {failover_ms} ms: {failed_over:?}"
    );
    // The majority drops the cut-off node from the ISR (so rejoining means something).
    let shrunk = wait_partition(
        &format!("node {old} out of the ISR"),
        &majority,
        Duration::from_secs(30),
        |p| !p.isr.contains(&(old as i32)) && p.isr.len() >= 2,
    );
    let shrink_ms = cut_at.elapsed().as_millis();
    eprintln!("kraft_netsplit: ISR without node {old} {shrink_ms} ms after the cut: {shrunk:?}");
    Cut {
        old,
        new,
        majority,
        controller,
        pre_count,
        failover_ms,
        shrink_ms,
    }
}

/// What the clients inside the cut-off namespace saw.
struct Isolated {
    /// The isolated client's summary line.
    summary: serde_json::Value,
    /// Ids of the acks=1 writes the cut-off leader acknowledged.
    acks1: BTreeSet<String>,
    /// Records of those writes found on the cut-off leader's disk.
    divergent: usize,
    /// Ids the main producer had acknowledged once the new leader took over.
    post_count: usize,
}

/// Inside the cut-off namespace: acks=1 writes land on the old leader's disk only;
/// acks=all writes must not be acknowledged.
fn isolated_leader_takes_acks1_only(
    cluster: &NsCluster,
    cut: &Cut,
    producer: &mut BackgroundProducer,
    scratch: &Path,
) -> Isolated {
    let Cut {
        old,
        new,
        pre_count,
        ..
    } = *cut;
    let acks1_file = scratch.join("acks1.txt");
    let script = client_script("kraft_netsplit.py").display().to_string();
    let iso_args: Vec<String> = [
        "-u",
        &script,
        "isolated",
        "--bootstrap",
        &cluster.node(old).bootstrap(),
        "--topic",
        TOPIC,
        "--acks1-file",
        &acks1_file.display().to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let isolated = spawn(
        "ip",
        &cluster.topo.exec_args(old, "python3", &iso_args),
        None,
    );
    producer.wait_progress(100, Duration::from_secs(60));
    let post_count = producer.acked();
    eprintln!(
        "kraft_netsplit: {pre_count} acks before the cut, {post_count} once node {new} took over"
    );
    let iso_out = isolated.wait(Duration::from_secs(120));
    assert!(
        iso_out.status.success(),
        "clients in the cut-off namespace: {iso_out}"
    );
    let iso = json_line(&iso_out.stdout);
    eprintln!("kraft_netsplit: inside node {old}'s namespace: {iso}");
    assert_eq!(
        iso["all_acked"], 0,
        "the cut-off leader acknowledged acks=all writes"
    );
    let iso_acked: BTreeSet<String> = std::fs::read_to_string(&acks1_file)
        .expect("acks=1 file")
        .lines()
        .filter_map(|l| l.split(' ').next().map(str::to_owned))
        .collect();
    assert!(
        !iso_acked.is_empty(),
        "the cut-off leader took no acks=1 write"
    );
    let divergent = wait_until(
        "the acks=1 writes on the old leader's disk",
        Duration::from_secs(30),
        || {
            let on_disk: BTreeSet<String> = cluster
                .node(old)
                .dump_records(TOPIC, 0)?
                .into_iter()
                .map(|(_, v)| v)
                .filter(|v| v.starts_with("iso"))
                .collect();
            if iso_acked.is_subset(&on_disk) {
                Ok(on_disk.len())
            } else {
                Err(format!(
                    "{} iso records on disk, {} acked",
                    on_disk.len(),
                    iso_acked.len()
                ))
            }
        },
    );
    Isolated {
        summary: iso,
        acks1: iso_acked,
        divergent,
        post_count,
    }
}

/// Heal: the old leader must follow the new epoch, truncate and rejoin the ISR.
/// Returns the partition then and how long the rejoin took (ms).
fn heal_and_rejoin(cluster: &NsCluster, cut: &Cut) -> (PartitionMeta, u128) {
    let (old, majority) = (cut.old, &cut.majority);
    let healed_at = Instant::now();
    cluster.topo.heal(old).expect("heal the cut");
    // Asked of the majority only: the old leader's own Metadata is stale until it
    // catches up (it still names itself leader with the ISR it had before the cut).
    let rejoined = wait_partition(
        &format!("node {old} back in the ISR"),
        majority,
        Duration::from_secs(60),
        |p| p.leader > 0 && p.isr.len() == 3 && p.isr.contains(&(old as i32)),
    );
    let rejoin_ms = healed_at.elapsed().as_millis();
    eprintln!(
        "kraft_netsplit: node {old} back in the ISR {rejoin_ms} ms after healing: {rejoined:?}"
    );
    (rejoined, rejoin_ms)
}

/// Every acknowledged id is stored exactly once; returns the verifier's verdict.
fn verify_every_ack_stored_once(
    all: &str,
    producer: &BackgroundProducer,
    cut: &Cut,
    post_count: usize,
) -> serde_json::Value {
    let script = client_script("kraft_netsplit.py").display().to_string();
    let verify = spawn(
        "python3",
        &[
            "-u".to_string(),
            script,
            "verify".into(),
            "--bootstrap".into(),
            all.to_owned(),
            "--topic".into(),
            TOPIC.into(),
            "--acked".into(),
            producer.acked_path().display().to_string(),
            "--pre-count".into(),
            cut.pre_count.to_string(),
            "--post-count".into(),
            post_count.to_string(),
        ],
        None,
    )
    .wait(Duration::from_secs(120));
    assert!(verify.status.success(), "verify: {verify}");
    json_line(&verify.stdout)
}

/// The old leader's own copy: the new epoch checkpointed, the same records as every
/// other replica's, none of its divergent tail, and log lines saying so. Returns the
/// copy, the checkpointed epoch and the truncation log lines.
fn old_leader_truncated_its_tail(
    cluster: &NsCluster,
    cut: &Cut,
    old_epoch: i64,
) -> (Vec<(i64, String)>, Option<i64>, Vec<String>) {
    let (old, new) = (cut.old, cut.new);
    let copy: Vec<(i64, String)> = wait_until(
        &format!("node {old}'s log equal to every other replica's"),
        Duration::from_secs(30),
        || {
            let mine = cluster.node(old).dump_records(TOPIC, 0)?;
            for other in (1..=NODES).filter(|&id| id != old) {
                let theirs = cluster.node(other).dump_records(TOPIC, 0)?;
                if mine != theirs {
                    return Err(format!(
                        "{} records on node {old}, {} on node {other}",
                        mine.len(),
                        theirs.len()
                    ));
                }
            }
            Ok(mine)
        },
    );
    let survivors: Vec<&(i64, String)> =
        copy.iter().filter(|(_, v)| v.starts_with("iso")).collect();
    assert!(
        survivors.is_empty(),
        "node {old} kept its divergent tail: {survivors:?}"
    );
    let epoch = checkpointed_epoch(cluster.node(old));
    assert!(
        epoch.is_some_and(|e| e > old_epoch),
        "node {old} checkpointed epoch {epoch:?}, not above its own {old_epoch}"
    );
    let tp = format!("tp={TOPIC}-0");
    for node in &cluster.nodes {
        eprintln!(
            "kraft_netsplit: node {}'s log of {TOPIC}-0:\n{}",
            node.id,
            node.log_lines(&[&tp]).join("\n")
        );
    }
    let truncations = cluster
        .node(old)
        .log_lines(&["truncated divergent tail", &tp]);
    assert!(
        !truncations.is_empty(),
        "node {old} logged no truncation of {TOPIC}-0"
    );
    let follows = format!("leader={new} epoch=");
    let followed = cluster
        .node(old)
        .log_lines(&["became follower", &tp, &follows]);
    assert!(
        !followed.is_empty(),
        "node {old} never followed node {new} in the new epoch"
    );
    (copy, epoch, truncations)
}

/// Teardown leaves nothing of this run behind: no node, namespace or link.
fn teardown_leaves_nothing_behind(cluster: NsCluster) {
    let tag = cluster.topo.tag().to_owned();
    drop(cluster);
    let links = topology::ip(&["-br", "link"]).expect("ip link");
    let namespaces = topology::ip(&["netns", "list"]).expect("ip netns list");
    let ours = |text: &str| {
        ["twb", "twv", "tw-"]
            .iter()
            .any(|prefix| text.contains(&format!("{prefix}{tag}")))
    };
    assert!(
        !ours(&links) && !ours(&namespaces),
        "run {tag} left links or namespaces behind:\n{links}\n{namespaces}"
    );
}
