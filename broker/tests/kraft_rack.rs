//! Issue 4, KIP-392 fetch from the closest replica: with
//! `replica.selector.class=org.apache.kafka.common.replica.RackAwareReplicaSelector`, a
//! confluent-kafka consumer whose `client.rack` is a follower's rack reads every record
//! from that follower (its consumer bytes-out grows, the leader's does not).

mod common;

use std::time::Duration;

use common::cluster::Cluster;
use common::python_client;
use serde_json::Value;

fn bytes_out(cluster: &mut Cluster, id: i32, topic: &str) -> f64 {
    let text = cluster
        .node(id)
        .http_get("/metrics")
        .map(|r| r.body)
        .unwrap_or_default();
    let needle = format!("kafka_server_brokertopicmetrics_bytesout_total{{topic=\"{topic}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&needle))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

#[test]
fn a_consumer_reads_from_the_replica_in_its_rack() {
    let mut cluster = Cluster::combined(
        3,
        &[(
            "replica.selector.class",
            "org.apache.kafka.common.replica.RackAwareReplicaSelector",
        )],
    );
    let bs = cluster.bootstrap();
    let out = common::clients::kraft_client(
        "create-topic",
        &bs,
        "near",
        &["--partitions", "1", "--rf", "3"],
        Duration::from_secs(60),
    );
    assert!(out.contains("created"), "{out}");
    cluster.wait_isr_full("near", 1, 3, Duration::from_secs(60));
    let args: Vec<String> = ["--bootstrap", &bs, "--topic", "near", "--records", "1000"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let out = python_client("kraft_rack.py", &args, Duration::from_secs(120)).ok();
    let line = out.stdout.lines().last().unwrap_or("");
    let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}\n{out}"));
    let leader = v["leader"].as_i64().expect("leader") as i32;
    let follower = v["follower"].as_i64().expect("follower") as i32;
    let from_follower = bytes_out(&mut cluster, follower, "near");
    let from_leader = bytes_out(&mut cluster, leader, "near");
    eprintln!(
        "consumer bytes out: follower {follower} {from_follower}, leader {leader} {from_leader}"
    );
    assert!(
        from_follower > 1000.0,
        "the follower in the consumer's rack served {from_follower} bytes"
    );
    assert!(
        from_leader < from_follower,
        "the leader served {from_leader} bytes, the follower {from_follower}"
    );
}
