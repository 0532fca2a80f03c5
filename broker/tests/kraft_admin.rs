//! Issue 4, the admin APIs of the replicated cluster driven by real clients against 3
//! combined KRaft nodes: DescribeQuorum and the features of ApiVersions /
//! UpdateFeatures (kafka-python), ElectLeaders and DescribeCluster (confluent-kafka),
//! Alter/ListPartitionReassignments (kafka-python) — including a move of a partition
//! from brokers {1,2} to {2,3} that deletes broker 1's replica directory and keeps
//! every record — and Debian's kcat (librdkafka 2.0.2) reading ApiVersions v3 with
//! the feature tags present.
//!
//! The cluster tests take turns (a lock): one 3-node cluster at a time on 2 cores.

mod common;

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use common::cluster::Cluster;
use common::{Broker, BrokerOpts, kcat, kcat_read, python_client, wait_until};
use serde_json::{Value, json};

/// One cluster at a time in this binary.
static SERIAL: Mutex<()> = Mutex::new(());

const CLIENT_TIMEOUT: Duration = Duration::from_secs(90);
const CONVERGE: Duration = Duration::from_secs(60);

/// `python3 kraft_admin.py CMD --bootstrap B args...` -> its JSON line.
fn admin(cmd: &str, bootstrap: &str, args: &[&str]) -> Value {
    let mut all = vec![cmd.to_string(), "--bootstrap".into(), bootstrap.into()];
    all.extend(args.iter().map(|s| s.to_string()));
    let out = python_client("kraft_admin.py", &all, CLIENT_TIMEOUT).ok();
    let line = out.stdout.lines().last().unwrap_or("");
    serde_json::from_str(line).unwrap_or_else(|e| panic!("kraft_admin.py {cmd}: {e}\n{out}"))
}

/// The log dir of a node.
fn log_dir(cluster: &mut Cluster, id: i32) -> PathBuf {
    cluster.node(id).log_dir()
}

/// Replicas of `topic`-`partition` as Metadata shows them.
fn replicas(cluster: &mut Cluster, topic: &str, partition: i32) -> Result<Vec<i32>, String> {
    let meta = cluster.metadata(topic)?;
    meta.get(&partition)
        .map(|p| p.replicas.clone())
        .ok_or_else(|| format!("no partition {partition} in {meta:?}"))
}

#[test]
fn reassignment_moves_a_partition_and_deletes_the_old_replica() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut cluster = Cluster::combined(3, &[]);
    let bootstrap = cluster.bootstrap();
    let controller = wait_until("an active controller", CONVERGE, || {
        cluster.active_controller()
    });
    ongoing_move_is_listed_then_cancelled(&mut cluster, &bootstrap, controller);
    bad_targets_get_kafka_codes(&bootstrap);
    move_with_data_deletes_the_old_replica(&mut cluster, &bootstrap);
}

/// An ongoing move, held open by a frozen target broker: listed, then cancelled.
fn ongoing_move_is_listed_then_cancelled(cluster: &mut Cluster, bootstrap: &str, controller: i32) {
    let frozen = (1..=3)
        .rev()
        .find(|id| *id != controller)
        .expect("a follower");
    let others: Vec<i32> = (1..=3).filter(|id| *id != frozen).collect();
    let stay = others[0].to_string();
    let csv = |ids: &[i32]| ids.iter().map(i32::to_string).collect::<Vec<_>>().join(",");
    admin(
        "create",
        bootstrap,
        &["--topic", "stuck", "--assignment", &csv(&others)],
    );
    cluster.wait_isr_full("stuck", 1, 2, CONVERGE);
    cluster.node(frozen).sigstop();
    let live = cluster.live_bootstrap();
    // Until its session times out the frozen broker is still in Metadata, and a
    // client that picks it for a request waits on it forever.
    wait_until("the frozen broker fenced", CONVERGE, || {
        let c = admin("cluster", &live, &[]);
        let nodes = c["nodes"].as_array().map_or(0, Vec::len);
        (nodes == 2).then_some(()).ok_or(format!("{c}"))
    });
    let target = format!("{stay},{frozen}");
    let r = admin(
        "reassign",
        &live,
        &["--topic", "stuck", "--replicas", &target],
    );
    assert_eq!(r, json!({"stuck-0": null}), "start the move");
    let expected = json!({"stuck-0": {
        "replicas": [others[0], frozen, others[1]],
        "adding_replicas": [frozen],
        "removing_replicas": [others[1]],
    }});
    assert_eq!(
        admin("list-reassignments", &live, &[]),
        expected,
        "list all"
    );
    let named = admin(
        "list-reassignments",
        &live,
        &["--topic", "stuck", "--partitions", "0,7"],
    );
    assert_eq!(
        named, expected,
        "list the named partitions (7 does not exist)"
    );
    let cancel = admin(
        "reassign",
        &live,
        &["--topic", "stuck", "--replicas", "none"],
    );
    assert_eq!(cancel, json!({"stuck-0": null}), "cancel the move");
    assert_eq!(admin("list-reassignments", &live, &[]), json!({}));
    assert_eq!(replicas(cluster, "stuck", 0), Ok(others.clone()));
    let again = admin(
        "reassign",
        &live,
        &["--topic", "stuck", "--replicas", "none"],
    );
    assert_eq!(again, json!({"stuck-0": "NO_REASSIGNMENT_IN_PROGRESS"}));
    cluster.node(frozen).sigcont();
}

/// Bad targets get Kafka's codes (kafka-python names 39 INVALID_REPLICATION_ASSIGNMENT).
fn bad_targets_get_kafka_codes(bootstrap: &str) {
    for (topic, target, code) in [
        ("stuck", "1,1", "INVALID_REPLICATION_ASSIGNMENT"),
        ("stuck", "9", "INVALID_REPLICATION_ASSIGNMENT"),
        ("nope", "1", "UNKNOWN_TOPIC_OR_PARTITION"),
    ] {
        // A loaded machine can make the controller call time out; that is retriable.
        let r = wait_until("a controller answer", CONVERGE, || {
            let r = admin(
                "reassign",
                bootstrap,
                &["--topic", topic, "--replicas", target],
            );
            let text = r.to_string();
            if text.contains("REQUEST_TIMED_OUT") || text.contains("NOT_CONTROLLER") {
                Err(text)
            } else {
                Ok(r)
            }
        });
        assert_eq!(
            r,
            json!({format!("{topic}-0"): code}),
            "{topic} -> {target}"
        );
    }
}

/// The move {1,2} -> {2,3} with data: broker 3 copies it, broker 1 deletes its copy.
fn move_with_data_deletes_the_old_replica(cluster: &mut Cluster, bootstrap: &str) {
    admin(
        "create",
        bootstrap,
        &["--topic", "moving", "--assignment", "1,2"],
    );
    cluster.wait_isr_full("moving", 1, 2, CONVERGE);
    let records: String = (0..500).map(|i| format!("record-{i}\n")).collect();
    kcat(
        &[
            "-P", "-b", bootstrap, "-t", "moving", "-p", "0", "-X", "acks=all",
        ],
        Some(records.as_bytes()),
        CLIENT_TIMEOUT,
    )
    .ok();
    let old_replica = log_dir(cluster, 1).join("moving-0");
    assert!(
        old_replica.is_dir(),
        "{} before the move",
        old_replica.display()
    );
    let r = admin(
        "reassign",
        bootstrap,
        &["--topic", "moving", "--replicas", "2,3"],
    );
    assert_eq!(r, json!({"moving-0": null}));
    cluster.wait_metadata("moving-0 on {2,3}, both in sync", "moving", CONVERGE, |m| {
        let p = &m[&0];
        let mut isr = p.isr.clone();
        isr.sort_unstable();
        if p.replicas == [2, 3] && isr == [2, 3] && p.leader >= 2 {
            Ok(())
        } else {
            Err("moving".into())
        }
    });
    wait_until("broker 1 deletes its replica of moving-0", CONVERGE, || {
        if old_replica.exists() {
            Err(format!("{} still exists", old_replica.display()))
        } else {
            Ok(())
        }
    });
    assert!(log_dir(cluster, 3).join("moving-0").is_dir());
    assert_eq!(admin("list-reassignments", bootstrap, &[]), json!({}));
    // A leader that just took over learns its followers' positions on their next
    // fetch, so its high watermark (what a consumer may read up to) can trail for a
    // moment after the move: read until everything is visible.
    wait_until("every record survives the move", CONVERGE, || {
        let read = kcat_read(bootstrap, "moving", &["-p", "0", "-q"], CLIENT_TIMEOUT);
        if read.stdout == records {
            Ok(())
        } else {
            Err(format!(
                "read {} of 500 records",
                read.stdout.lines().count()
            ))
        }
    });
}

#[test]
fn quorum_features_elections_and_kcat() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut cluster = Cluster::combined(3, &[]);
    let bootstrap = cluster.bootstrap();
    let controller = wait_until("an active controller", CONVERGE, || {
        cluster.active_controller()
    });
    kcat_parses_api_versions_v3(&bootstrap);
    describe_quorum_names_the_controller_and_voters(&cluster, &bootstrap, controller);
    describe_cluster_names_the_controller(&bootstrap, controller);
    update_features_checks_levels_and_downgrades(&bootstrap);
    elect_leaders_moves_only_what_needs_it(&mut cluster, &bootstrap);
    elect_leaders_without_a_quorum_times_out(&mut cluster, controller);
}

fn kcat_parses_api_versions_v3(bootstrap: &str) {
    // librdkafka 2.0.2 parses ApiVersions v3 with the feature tags and goes on.
    let out = kcat(
        &["-L", "-b", bootstrap, "-X", "debug=protocol,feature"],
        None,
        CLIENT_TIMEOUT,
    )
    .ok();
    assert!(out.stdout.contains(" 3 brokers:"), "{out}");
    assert!(
        out.stderr.contains("Received ApiVersionResponse (v3")
            && out.stderr.contains("Broker API support"),
        "kcat must use and parse ApiVersions v3\n{out}"
    );
    assert!(!out.stderr.contains("ApiVersionRequest failed"), "{out}");
}

fn describe_quorum_names_the_controller_and_voters(
    cluster: &Cluster,
    bootstrap: &str,
    controller: i32,
) {
    // DescribeQuorum (v2): leader = the active controller, 3 voters with endpoints.
    let q = admin("quorum", bootstrap, &[]);
    let p = &q["topics"][0]["partitions"][0];
    assert_eq!(q["topics"][0]["topic_name"], "__cluster_metadata");
    assert_eq!(p["error"], Value::Null, "{q}");
    assert_eq!(p["leader_id"], controller, "{q}");
    assert!(p["leader_epoch"].as_i64() >= Some(1), "{q}");
    let hw = p["high_watermark"].as_i64().expect("high watermark");
    assert!(hw > 0, "{q}");
    let mut voters: Vec<(i64, i64)> = p["current_voters"]
        .as_array()
        .expect("voters")
        .iter()
        .map(|v| {
            (
                v["replica_id"].as_i64().unwrap_or(-1),
                v["log_end_offset"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    voters.sort_unstable();
    assert_eq!(
        voters.iter().map(|v| v.0).collect::<Vec<_>>(),
        [1, 2, 3],
        "{q}"
    );
    let leader_leo = voters[(controller - 1) as usize].1;
    assert!(
        leader_leo >= hw,
        "the leader's log end is at least the hw: {q}"
    );
    let mut nodes: Vec<(i64, String, u16)> = q["nodes"]
        .as_array()
        .expect("v2 nodes")
        .iter()
        .map(|n| {
            let l = &n["listeners"][0];
            assert_eq!(l["name"], "CONTROLLER", "{q}");
            let port = l["port"].as_u64().unwrap_or(0) as u16;
            (
                n["node_id"].as_i64().unwrap_or(-1),
                l["host"].to_string(),
                port,
            )
        })
        .collect();
    nodes.sort();
    let expected: Vec<(i64, String, u16)> = cluster
        .nodes
        .iter()
        .map(|n| {
            let a = n
                .controller_addr
                .expect("combined nodes have a controller listener");
            (i64::from(n.id), format!("\"{}\"", a.ip()), a.port())
        })
        .collect();
    assert_eq!(nodes, expected, "{q}");
}

fn describe_cluster_names_the_controller(bootstrap: &str, controller: i32) {
    // DescribeCluster (confluent-kafka).
    let c = admin("cluster", bootstrap, &[]);
    assert_eq!(c["nodes"], json!([1, 2, 3]), "{c}");
    assert_eq!(c["controller"], controller, "{c}");
}

fn update_features_checks_levels_and_downgrades(bootstrap: &str) {
    // Features: ApiVersions v3+ and UpdateFeatures.
    let f = admin("features", bootstrap, &[]);
    let mv = &f["metadata.version"];
    let max = mv["supported"][1].as_i64().expect("supported max");
    // From Kafka 4's lowest level, 3.3-IV3.
    assert_eq!(mv["supported"][0], 7, "{f}");
    assert_eq!(
        mv["finalized"],
        json!([max, max]),
        "bootstrapped at the newest level: {f}"
    );
    let epoch = mv["finalized_epoch"].as_i64().expect("epoch");
    let below = (max - 1).to_string();
    let above = (max + 1).to_string();
    for (level, kind, code) in [
        (below.as_str(), "UPGRADE", "INVALID_UPDATE_VERSION"),
        (below.as_str(), "UNSAFE_DOWNGRADE", "INVALID_UPDATE_VERSION"),
        (above.as_str(), "UPGRADE", "INVALID_UPDATE_VERSION"),
    ] {
        let r = admin(
            "update-features",
            bootstrap,
            &["--level", level, "--type", kind],
        );
        assert_eq!(r["error"], code, "{level} {kind}: {r}");
    }
    // The newest level (4.1-IV0) changed the metadata format (leader handoff records):
    // a safe downgrade below it might delete metadata, so it is refused as Kafka
    // refuses one across a format change, validate-only or not, and nothing changes.
    for validate_only in [true, false] {
        let mut args = vec!["--level", below.as_str(), "--type", "SAFE_DOWNGRADE"];
        if validate_only {
            args.push("--validate-only");
        }
        let r = admin("update-features", bootstrap, &args);
        assert_eq!(r["error"], "INVALID_UPDATE_VERSION", "{r}");
        assert!(
            r["message"]
                .as_str()
                .is_some_and(|m| m.contains("might delete metadata")),
            "{r}"
        );
    }
    let f = admin("features", bootstrap, &[]);
    assert_eq!(f["metadata.version"]["finalized"], json!([max, max]), "{f}");
    assert_eq!(
        f["metadata.version"]["finalized_epoch"].as_i64(),
        Some(epoch),
        "{f}"
    );
    let r = admin("update-features", bootstrap, &["--level", &max.to_string()]);
    assert_eq!(r["error"], Value::Null, "{r}");
}

fn elect_leaders_moves_only_what_needs_it(cluster: &mut Cluster, bootstrap: &str) {
    // ElectLeaders (confluent-kafka): reorder lead-0's replicas so that its preferred
    // replica (2) is not its leader (1).
    admin(
        "create",
        bootstrap,
        &["--topic", "lead", "--assignment", "1,2/2,3"],
    );
    cluster.wait_isr_full("lead", 2, 2, CONVERGE);
    let r = admin(
        "reassign",
        bootstrap,
        &["--topic", "lead", "--replicas", "2,1"],
    );
    assert_eq!(r, json!({"lead-0": null}));
    cluster.wait_metadata("lead-0 replicas [2,1] led by 1", "lead", CONVERGE, |m| {
        (m[&0].replicas == [2, 1] && m[&0].leader == 1)
            .then_some(())
            .ok_or_else(|| "not yet".into())
    });
    let all = admin("elect", bootstrap, &[]);
    assert_eq!(
        all,
        json!({"lead-0": null}),
        "null partitions: only what needed an election"
    );
    cluster.wait_metadata(
        "lead-0 led by its preferred replica",
        "lead",
        CONVERGE,
        |m| {
            (m[&0].leader == 2)
                .then_some(())
                .ok_or_else(|| "not yet".into())
        },
    );
    let r = admin(
        "elect",
        bootstrap,
        &["--topic", "lead", "--partitions", "0,1,9"],
    );
    assert_eq!(
        r,
        json!({"lead-0": "ELECTION_NOT_NEEDED", "lead-1": "ELECTION_NOT_NEEDED",
               "lead-9": "UNKNOWN_TOPIC_OR_PART"}),
    );
    let r = admin(
        "elect",
        bootstrap,
        &["--type", "unclean", "--topic", "lead", "--partitions", "1"],
    );
    assert_eq!(
        r,
        json!({"lead-1": "ELECTION_NOT_NEEDED"}),
        "its leader is alive"
    );
    assert_eq!(admin("elect", bootstrap, &[]), json!({}));
}

fn elect_leaders_without_a_quorum_times_out(cluster: &mut Cluster, controller: i32) {
    // No quorum: a broker cannot reach any controller and answers REQUEST_TIMED_OUT
    // (top level and per partition), as Kafka's forwarding broker does, in bounded
    // time — never NOT_CONTROLLER and never a hang.
    let survivor = (1..=3).find(|id| *id != controller).expect("a follower");
    for id in (1..=3).filter(|id| *id != survivor) {
        cluster.node(id).sigstop();
    }
    let alone = cluster.node(survivor).bootstrap();
    let node = survivor.to_string();
    let r = admin(
        "elect-at",
        &alone,
        &["--node", &node, "--topic", "lead", "--partitions", "0,1"],
    );
    eprintln!("ElectLeaders without a quorum: {r}");
    assert_eq!(r["error_code"], 7, "{r}");
    assert_eq!(r["partitions"], json!({"lead-0": 7, "lead-1": 7}), "{r}");
    assert!(r["seconds"].as_f64() < Some(20.0), "{r}");
    for id in (1..=3).filter(|id| *id != survivor) {
        cluster.node(id).sigcont();
    }
}

#[test]
fn without_process_roles_the_node_is_a_one_voter_quorum() {
    let broker = Broker::start(BrokerOpts::default());
    let q = admin("quorum", &broker.bootstrap(), &[]);
    let p = &q["topics"][0]["partitions"][0];
    assert_eq!(q["topics"][0]["topic_name"], "__cluster_metadata", "{q}");
    assert_eq!(p["error"], Value::Null, "{q}");
    assert_eq!(p["leader_id"], 1, "{q}");
    let voters: Vec<i64> = p["current_voters"]
        .as_array()
        .expect("voters")
        .iter()
        .filter_map(|v| v["replica_id"].as_i64())
        .collect();
    assert_eq!(voters, [1], "{q}");
    let f = admin("features", &broker.bootstrap(), &[]);
    let mv = &f["metadata.version"];
    let max = mv["supported"][1].as_i64().expect("supported max");
    assert_eq!(mv["finalized"], json!([max, max]), "{f}");
}
