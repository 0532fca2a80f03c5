//! Issue 17 item 2 on the `local` runtime: `spec.controllers` 3 -> 5 -> 3 with real
//! broker processes under an acks=all producer and a consumer group. The operator
//! changes the KRaft quorum one voter at a time (KIP-853 AddRaftVoter/RemoveRaftVoter):
//! DescribeQuorum, read by the test itself throughout, never shows two voters joining or
//! leaving between two reads; `QuorumResizing` names each voter while it runs; no broker
//! or original controller process restarts; the removed controllers' state is deleted;
//! and no acknowledged record is lost.

// Test helpers outside #[test] fns: a failed unwrap is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod local_cluster;
mod rebalance_clients;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::Value;

use local_cluster::*;
use rebalance_clients::*;

fn spec(controllers: i32) -> String {
    format!(
        r#"apiVersion: tidewater.io/v1alpha1
kind: KafkaCluster
metadata:
  name: quorum
spec:
  version: {version}
  brokers: 3
  controllers: {controllers}
  config:
    default.replication.factor: 3
    min.insync.replicas: 2
"#,
        version = env!("CARGO_PKG_VERSION")
    )
}

/// The voters DescribeQuorum shows now, through any broker; `None` while unreadable
/// (e.g. during a leader change).
fn voters(bootstrap: &str) -> Option<BTreeSet<i32>> {
    with_admin(bootstrap, |admin| async move {
        let q = admin.describe_quorum().await.ok()?;
        Some(q.voters.iter().map(|v| v.replica_id).collect())
    })
}

/// Asserts a `QuorumResizing` condition with `reason` named controllers 1003 and 1004.
fn named_each_voter(conditions: &BTreeSet<(String, String)>, reason: &str) {
    for id in [1003, 1004] {
        let named = format!("controller {id}");
        assert!(
            conditions
                .iter()
                .any(|(r, m)| r == reason && m.contains(&named)),
            "no QuorumResizing {reason} for {id}: {conditions:?}"
        );
    }
}

fn quorum_condition(s: &Value) -> Option<(String, String, String)> {
    let c = s["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "QuorumResizing")?;
    let field = |k: &str| c[k].as_str().unwrap_or("").to_owned();
    Some((field("status"), field("reason"), field("message")))
}

/// Applies `controllers` and follows the change until DescribeQuorum shows `target`
/// and the cluster is Ready again: every voter set seen differs from the one before by
/// one voter. Returns the sets seen and the `QuorumResizing` (reason, message) pairs.
fn resize(
    c: &LocalCluster,
    bootstrap: &str,
    controllers: i32,
    target: &BTreeSet<i32>,
) -> (Vec<BTreeSet<i32>>, BTreeSet<(String, String)>) {
    let out = c.apply(&spec(controllers));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    follow(c, bootstrap, target)
}

/// Follows a voter change until DescribeQuorum shows `target` and the cluster is Ready
/// again, as [`resize`] does.
fn follow(
    c: &LocalCluster,
    bootstrap: &str,
    target: &BTreeSet<i32>,
) -> (Vec<BTreeSet<i32>>, BTreeSet<(String, String)>) {
    let mut seen: Vec<BTreeSet<i32>> = Vec::new();
    let mut conditions = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        if let Some(v) = voters(bootstrap)
            && seen.last() != Some(&v)
        {
            if let Some(before) = seen.last() {
                assert_eq!(
                    before.symmetric_difference(&v).count(),
                    1,
                    "two voters changed at once: {before:?} -> {v:?}"
                );
            }
            seen.push(v);
        }
        if let Some(s) = c.status_opt() {
            if let Some((status, reason, message)) = quorum_condition(&s)
                && status == "True"
            {
                conditions.insert((reason, message));
            }
            let done = seen.last() == Some(target)
                && cond(&s, "Ready").0 == "True"
                && quorum_condition(&s).is_some_and(|q| q.0 == "False")
                && s["controller"]["voters"]
                    .as_array()
                    .is_some_and(|v| v.len() == target.len());
            if done {
                return (seen, conditions);
            }
            assert!(
                Instant::now() < deadline,
                "timed out resizing to {target:?}: seen {seen:?}\n{s:#}\n{}",
                c.events()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A Ready cluster of 3 brokers and 3 controllers, its work dir and spec file.
fn three_controllers() -> (tempfile::TempDir, std::path::PathBuf, LocalCluster) {
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("quorum.yaml");
    std::fs::write(&file, spec(3)).unwrap();
    let c = LocalCluster::up(&file);
    c.wait("Ready", 180);
    (work, file, c)
}

#[test]
fn controllers_three_to_five_to_three_one_voter_at_a_time_under_load() {
    let _slot = multi_node_slot();
    let (work, _file, mut c) = three_controllers();
    let before = c.status();
    let bootstrap = before["bootstrapServers"].as_str().unwrap().to_owned();
    let three: BTreeSet<i32> = (1000..1003).collect();
    let five: BTreeSet<i32> = (1000..1005).collect();
    assert_eq!(voters(&bootstrap), Some(three.clone()));
    load(&bootstrap, "fill", 3, 1024, 1024);
    let live = Live::start(&bootstrap, work.path());
    wait_for(|| live.acked() > 100, "the producer's first acks");

    let (up, conditions) = resize(&c, &bootstrap, 5, &five);
    assert_eq!(up.first(), Some(&three), "{up:?}");
    assert_eq!(up.len(), 3, "3 -> 4 -> 5 voters: {up:?}");
    named_each_voter(&conditions, "AddingVoter");
    let acked_after_add = live.acked();

    let (down, conditions) = resize(&c, &bootstrap, 3, &three);
    assert_eq!(down.first(), Some(&five), "{down:?}");
    assert_eq!(down.len(), 3, "5 -> 4 -> 3 voters: {down:?}");
    named_each_voter(&conditions, "RemovingVoter");
    let dirs: Vec<_> = [1003, 1004]
        .iter()
        .map(|id| c.state.path().join(format!("quorum/broker-{id}")))
        .collect();
    wait_for(
        || dirs.iter().all(|d| !d.exists()),
        "the removed controllers' state deleted",
    );
    let after = c.status();
    // No broker and no original controller was restarted.
    assert_eq!(
        broker_pids(&after),
        broker_pids(&before),
        "a node restarted"
    );
    assert!(
        !c.events().contains("node 1003 unregistered"),
        "a controller is no registered broker"
    );
    wait_for(
        || live.acked() > acked_after_add + 100,
        "acks after the removals",
    );
    let acked = live.finish();
    eprintln!(
        "voters up {up:?} down {down:?}; {acked} records acked, all consumed; events:\n{}",
        c.events()
    );
    c.down();
}

/// An operator killed (-9) right after it created the first new controller resumes
/// from what DescribeQuorum shows: the next `local up` adopts the running nodes and
/// adds the remaining voters one at a time, restarting nothing.
#[test]
fn an_operator_killed_mid_change_resumes_from_the_quorum() {
    let _slot = multi_node_slot();
    let (_work, file, mut c) = three_controllers();
    let before = c.status();
    let bootstrap = before["bootstrapServers"].as_str().unwrap().to_owned();
    let out = c.apply(&spec(5));
    assert!(out.status.success());
    wait_for(
        || c.events().contains("created node 1003"),
        "controller 1003 created",
    );
    c.up.kill().unwrap();
    c.up.wait().unwrap();
    let state = std::mem::replace(&mut c.state, tempfile::tempdir().unwrap());
    drop(c);
    // `local up -f` starts from the file: it holds the spec being carried out.
    std::fs::write(&file, spec(5)).unwrap();
    let mut c = LocalCluster::up_in(state, &file, &[]);
    let five: BTreeSet<i32> = (1000..1005).collect();
    let (seen, conditions) = follow(&c, &bootstrap, &five);
    assert!(
        conditions
            .iter()
            .any(|(r, m)| r == "AddingVoter" && m.contains("controller 1004")),
        "{conditions:?}"
    );
    let after = c.status();
    let pids = broker_pids(&after);
    assert_eq!(
        pids[..6],
        broker_pids(&before)[..],
        "a node restarted (seen {seen:?})"
    );
    eprintln!("resumed: voters seen {seen:?}; events:\n{}", c.events());
    c.down();
}
