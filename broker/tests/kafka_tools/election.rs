//! kafka-leader-election `--election-type unclean` (`LeaderElectionCommand`) on three
//! brokers with a dedicated controller, so the quorum outlives every replica of a
//! partition (as in `kraft_unclean.rs`): a healthy partition needs no election, as
//! Kafka answers (ELECTION_NOT_NEEDED); a partition whose whole ISR is gone is
//! elected uncleanly by the tool onto an out-of-sync replica, and takes and serves
//! records again.

use std::time::Duration;

use super::common::Output;
use super::common::cluster::Cluster;
use super::common::{kcat, kcat_read};
use super::jvm::KafkaTools;

const TOPICS: &str = "org.apache.kafka.tools.TopicCommand";
const LEADER_ELECTION: &str = "org.apache.kafka.tools.LeaderElectionCommand";

const T: Duration = Duration::from_secs(30);
/// Records written before the ISR is lost, and after the unclean election (acks=all,
/// and the cluster harness's `min.insync.replicas` is 2).
const BEFORE: usize = 200;
const AFTER: usize = 50;

#[test]
fn kafka_unclean_leader_election_revives_a_partition_without_isr() {
    let Some(kafka) = KafkaTools::find("kafka_unclean_leader_election") else {
        return;
    };
    // Unclean election stays off: only the tool's request may elect uncleanly.
    let mut cluster = Cluster::split(1, 3, &[("unclean.leader.election.enable", "false")]);
    let bs = cluster.bootstrap();
    for topic in ["healthy", "lost"] {
        kafka.ok_at(
            TOPICS,
            &bs,
            &[
                "--create",
                "--topic",
                topic,
                "--partitions",
                "1",
                "--replication-factor",
                "3",
            ],
        );
    }
    produce(&bs, "lost", 0..BEFORE);
    healthy_partition_needs_no_election(&kafka, &bs);

    let (_, followers) = cluster.stop_all_leader_last("lost", 3);
    let stale = followers[0];
    cluster.node(stale).restart();
    cluster.wait_metadata("lost-0 offline", "lost", T, |m| match m.get(&0) {
        Some(p) if p.leader == -1 => Ok(()),
        other => Err(format!("still led: {other:?}")),
    });
    let live = cluster.live_bootstrap();
    let out = unclean(&kafka, &live, "lost");
    assert!(
        out.stdout
            .contains("Successfully completed leader election (UNCLEAN) for partitions lost-0"),
        "{out}"
    );
    cluster.wait_metadata(
        &format!("node {stale} leads lost-0"),
        "lost",
        T,
        |m| match m.get(&0) {
            Some(p) if p.leader == stale => Ok(()),
            other => Err(format!("{other:?}")),
        },
    );
    // min.insync.replicas is 2: acks=all waits for a second replica, the other
    // stale follower, to catch up with the new leader and join its ISR.
    let other = followers[1];
    cluster.node(other).restart();
    cluster.wait_metadata("lost-0 ISR of 2", "lost", T, |m| match m.get(&0) {
        Some(p) if p.leader == stale && p.isr.len() == 2 => Ok(()),
        other => Err(format!("{other:?}")),
    });
    let live = cluster.live_bootstrap();
    // The stale replica had every acknowledged record (it was in the ISR when they
    // were acknowledged): nothing is lost, and the partition takes new ones.
    produce(&live, "lost", BEFORE..BEFORE + AFTER);
    let read = kcat_read(&live, "lost", &["-q"], T);
    let want: Vec<String> = (0..BEFORE + AFTER).map(|i| format!("r{i}")).collect();
    assert_eq!(read.lines(), want, "records after the unclean election");
}

/// Runs a Kafka tool class against `bs`; it must succeed cleanly.
fn unclean(kafka: &KafkaTools, bs: &str, topic: &str) -> Output {
    kafka.ok_at(
        LEADER_ELECTION,
        bs,
        &[
            "--election-type",
            "unclean",
            "--topic",
            topic,
            "--partition",
            "0",
        ],
    )
}

/// Records `r{i}` for `ids`, acknowledged by every in-sync replica.
fn produce(bs: &str, topic: &str, ids: std::ops::Range<usize>) {
    let input: String = ids.map(|i| format!("r{i}\n")).collect();
    kcat(
        &["-b", bs, "-P", "-t", topic, "-X", "acks=all"],
        Some(input.as_bytes()),
        T,
    )
    .ok();
}

/// A led partition with its whole ISR: Kafka answers ELECTION_NOT_NEEDED, which the
/// tool prints as a valid replica already elected.
fn healthy_partition_needs_no_election(kafka: &KafkaTools, bs: &str) {
    let out = unclean(kafka, bs, "healthy");
    assert!(
        out.stdout
            .contains("Valid replica already elected for partitions healthy-0"),
        "{out}"
    );
}
