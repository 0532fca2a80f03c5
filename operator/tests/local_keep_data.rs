//! The local runtime's answer to issue 21: `local down` stops the brokers and keeps
//! their data dirs and the cluster id (`state.json`), so the next `local up` on the same
//! state dir starts on the same logs with the same `status.clusterId`. Real processes,
//! real kcat.

// Test helpers outside #[test] fns: a failed unwrap is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod local_cluster;

use std::collections::BTreeSet;

use local_cluster::*;

const RECORDS: usize = 200;

fn kcat(args: &[&str], input: &str) -> String {
    let out = kcat_output(args, input);
    assert!(
        out.status.success(),
        "kcat {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn down_then_up_again_keeps_every_record_and_the_cluster_id() {
    let file = example("single-broker.yaml");
    let mut first = LocalCluster::up(&file);
    first.wait("Ready", 60);
    let s = first.status();
    let id = s["clusterId"].as_str().unwrap().to_owned();
    let bootstrap = s["bootstrapServers"].as_str().unwrap().to_owned();
    let produced: String = (0..RECORDS).map(|i| format!("kept-{i}\n")).collect();
    kcat(
        &["-b", &bootstrap, "-P", "-t", "kept", "-X", "acks=all"],
        &produced,
    );
    first.down();
    let meta = std::fs::read_to_string(
        first
            .state
            .path()
            .join("single/broker-0/data/meta.properties"),
    )
    .unwrap();
    assert!(meta.contains(&format!("cluster.id={id}")), "{meta}");

    // The same state dir, a new `up`.
    let state = std::mem::replace(&mut first.state, tempfile::tempdir().unwrap());
    let mut second = LocalCluster::up_in(state, &file, &[]);
    second.wait("Ready", 60);
    let s = second.status();
    assert_eq!(
        s["clusterId"],
        id.as_str(),
        "the cluster id changed across down/up"
    );
    let bootstrap = s["bootstrapServers"].as_str().unwrap().to_owned();
    let out = kcat(
        &[
            "-b",
            &bootstrap,
            "-C",
            "-t",
            "kept",
            "-o",
            "beginning",
            "-c",
            &RECORDS.to_string(),
            "-e",
            "-q",
        ],
        "",
    );
    let got: BTreeSet<&str> = out.lines().collect();
    let want: BTreeSet<String> = (0..RECORDS).map(|i| format!("kept-{i}")).collect();
    assert_eq!(
        got,
        want.iter().map(String::as_str).collect(),
        "records after down/up"
    );
    second.down();
}
