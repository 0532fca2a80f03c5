//! kafka-reassign-partitions (execute with --throttle, then verify until done) and
//! preferred kafka-leader-election on a three-node KRaft Tidewater cluster: a
//! topic grows from one replica per partition to three (and two), its leaders move
//! to the preferred replicas, and every record is still there.

use std::time::Duration;

use super::common::cluster::Cluster;
use super::common::{kcat, wait_until};
use super::jvm::KafkaTools;

const TOPICS: &str = "org.apache.kafka.tools.TopicCommand";
const REASSIGN: &str = "org.apache.kafka.tools.reassign.ReassignPartitionsCommand";
const LEADER_ELECTION: &str = "org.apache.kafka.tools.LeaderElectionCommand";

const T: Duration = Duration::from_secs(60);

/// `(partition, leader, replicas, isr)` of each row of `kafka-topics --describe`.
fn partitions(stdout: &str) -> Vec<(String, String, String, String)> {
    let field = |line: &str, name: &str| -> String {
        line.split('\t')
            .find_map(|f| f.trim().strip_prefix(name))
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    stdout
        .lines()
        .filter(|l| l.contains("Partition: "))
        .map(|l| {
            (
                field(l, "Partition:"),
                field(l, "Leader:"),
                field(l, "Replicas:"),
                field(l, "Isr:"),
            )
        })
        .collect()
}

#[test]
fn kafka_reassign_partitions_with_throttle_then_preferred_election() {
    let Some(kafka) = KafkaTools::find("kafka_reassign_partitions_with_throttle") else {
        return;
    };
    let mut cluster = Cluster::combined(3, &[("min.insync.replicas", "1")]);
    let bs = cluster.node(1).bootstrap();
    let dir = tempfile::tempdir().expect("tempdir");
    let plan = dir.path().join("plan.json").display().to_string();
    create_one_replica_topic_with_records(&kafka, &bs);
    reassign_with_throttle_until_verified(&kafka, &bs, &plan);
    preferred_election_moves_the_leaders(&kafka, &bs);
    let read = kcat(&["-b", &bs, "-C", "-t", "moving", "-e", "-q"], None, T).ok();
    assert_eq!(read.lines().len(), 2000, "records after the move:\n{read}");
}

/// Runs a Kafka tool class against `bs`; it must succeed cleanly.
/// Topic `moving`, one replica per partition, holding 2000 records.
fn create_one_replica_topic_with_records(kafka: &KafkaTools, bs: &str) {
    kafka.ok_at(
        TOPICS,
        bs,
        &[
            "--create",
            "--topic",
            "moving",
            "--replica-assignment",
            "1,2,3",
        ],
    );
    let input: String = (0..2000).map(|i| format!("k{i}:v{i}\n")).collect();
    kcat(
        &["-b", bs, "-P", "-t", "moving", "-K:", "-X", "acks=all"],
        Some(input.as_bytes()),
        T,
    )
    .ok();
}

/// kafka-reassign-partitions --execute --throttle, then --verify until every partition
/// is done (the completing run clears the throttles); the replicas are the plan's.
fn reassign_with_throttle_until_verified(kafka: &KafkaTools, bs: &str, plan: &str) {
    std::fs::write(
        plan,
        r#"{"version":1,"partitions":[
            {"topic":"moving","partition":0,"replicas":[1,2,3]},
            {"topic":"moving","partition":1,"replicas":[3,1,2]},
            {"topic":"moving","partition":2,"replicas":[2,3]}]}"#,
    )
    .expect("write plan.json");
    let out = kafka.ok_at(
        REASSIGN,
        bs,
        &[
            "--reassignment-json-file",
            plan,
            "--execute",
            "--throttle",
            "10000000",
        ],
    );
    assert!(
        out.stdout
            .contains("The inter-broker throttle limit was set to 10000000 B/s"),
        "{out}"
    );
    assert!(
        out.stdout.contains(
            "Successfully started partition reassignments for moving-0,moving-1,moving-2"
        ),
        "{out}"
    );
    // --verify until every partition is done; the completing run clears the throttles.
    let done = wait_until("reassignment of 'moving' to complete", T, || {
        let out = kafka.ok_at(
            REASSIGN,
            bs,
            &["--reassignment-json-file", plan, "--verify"],
        );
        if (0..3).all(|p| {
            out.stdout.contains(&format!(
                "Reassignment of partition moving-{p} is completed."
            ))
        }) {
            Ok(out)
        } else {
            Err(out.to_string())
        }
    });
    assert!(
        done.stdout
            .contains("Clearing broker-level throttles on brokers 1,2,3")
            && done
                .stdout
                .contains("Clearing topic-level throttles on topic moving"),
        "{done}"
    );
    let out = kafka.ok_at(TOPICS, bs, &["--describe", "--topic", "moving"]);
    let got: Vec<(String, String)> = partitions(&out.stdout)
        .into_iter()
        .map(|(p, _, replicas, _)| (p, replicas))
        .collect();
    let want: Vec<(String, String)> = [("0", "1,2,3"), ("1", "3,1,2"), ("2", "2,3")]
        .iter()
        .map(|(p, r)| (p.to_string(), r.to_string()))
        .collect();
    assert_eq!(got, want, "{out}");
}

/// The old leaders of partitions 1 and 2 are not their preferred replicas: an
/// election moves both (and nothing else), once each ISR holds its preferred one.
fn preferred_election_moves_the_leaders(kafka: &KafkaTools, bs: &str) {
    wait_until("every replica in sync", T, || {
        let out = kafka.ok_at(TOPICS, bs, &["--describe", "--topic", "moving"]);
        let parts = partitions(&out.stdout);
        let full = parts.iter().all(|(_, _, replicas, isr)| {
            let mut r: Vec<&str> = replicas.split(',').collect();
            let mut i: Vec<&str> = isr.split(',').collect();
            r.sort();
            i.sort();
            r == i
        });
        if full { Ok(()) } else { Err(out.to_string()) }
    });
    let out = kafka.ok_at(
        LEADER_ELECTION,
        bs,
        &["--election-type", "preferred", "--all-topic-partitions"],
    );
    assert!(
        out.stdout
            .contains("Successfully completed leader election (PREFERRED) for partitions"),
        "{out}"
    );
    for p in ["moving-1", "moving-2"] {
        assert!(out.stdout.contains(p), "{p} not elected:\n{out}");
    }
    assert!(!out.stdout.contains("moving-0"), "{out}");
    let out = kafka.ok_at(TOPICS, bs, &["--describe", "--topic", "moving"]);
    let leaders: Vec<String> = partitions(&out.stdout)
        .into_iter()
        .map(|(_, leader, _, _)| leader)
        .collect();
    assert_eq!(leaders, ["1", "3", "2"], "{out}");
}
