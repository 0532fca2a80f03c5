//! Config rolls and restart safety on the local runtime with real broker processes
//! (issue 11 items 5 and 8): a dynamic `spec.config` key is applied cluster-wide with
//! IncrementalAlterConfigs and no restart, a static one rolls the nodes one at a time;
//! `kill -9` of `local up` mid-roll, then a new `local up`, resumes the roll with no
//! node restarted twice and none skipped (the new `up` adopts the running brokers).
//! Broker restarts are counted by pid (and `/proc/<pid>/exe`) and by the start line
//! each broker process writes to its `broker.log`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod local_cluster;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use local_cluster::*;
use serde_json::Value;

/// 3 combined nodes on this build; `config` is appended under `spec.config`.
fn spec(config: &[(&str, &str)]) -> String {
    let mut s = "apiVersion: tidewater.io/v1alpha1\nkind: KafkaCluster\nmetadata:\n  name: roll\nspec:\n  version: 0.3.0\n  brokers: 3\n".to_owned();
    if !config.is_empty() {
        s.push_str("  config:\n");
        for (k, v) in config {
            s.push_str(&format!("    {k}: \"{v}\"\n"));
        }
    }
    s
}

fn clients_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/roll_clients.py")
}

/// A topic whose partitions the roll gate must keep writable: 30 partitions, RF 3,
/// min.insync.replicas 2.
fn create_topic(bootstrap: &str, topic: &str) {
    output_text(
        Command::new("python3").arg(clients_script()).args([
            "create",
            "--bootstrap",
            bootstrap,
            "--topic",
            topic,
            "--partitions",
            "30",
            "--rf",
            "3",
            "--min-isr",
            "2",
        ]),
        "create topic",
    );
}

/// `key`'s value and source as confluent-kafka's DescribeConfigs reports it, for
/// broker `broker` and for `topic` (whose value follows the cluster default).
const DESCRIBE: &str = r#"
import sys
from confluent_kafka.admin import AdminClient, ConfigResource, ConfigSource
bs, broker, topic, bkey, tkey = sys.argv[1:6]
admin = AdminClient({"bootstrap.servers": bs})
for res, key in ((ConfigResource("broker", broker), bkey), (ConfigResource("topic", topic), tkey)):
    entries = list(admin.describe_configs([res]).values())[0].result(30)
    e = entries[key]
    print(key, e.value, ConfigSource(e.source).name)
"#;

fn describe(bootstrap: &str, broker: i64, topic: &str, bkey: &str, tkey: &str) -> String {
    output_text(
        Command::new("python3").args([
            "-c",
            DESCRIBE,
            bootstrap,
            &broker.to_string(),
            topic,
            bkey,
            tkey,
        ]),
        "describe configs",
    )
}

/// Node id -> pid from the status.
fn pids(s: &Value) -> BTreeMap<i64, u32> {
    s["brokers"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|b| {
            Some((
                b["id"].as_i64()?,
                b["pod"].as_str()?.strip_prefix("pid ")?.parse().ok()?,
            ))
        })
        .collect()
}

/// Node id -> pid of the live broker process of each node dir, found in /proc by its
/// command line (independent of the operator's own bookkeeping).
fn live_pids(state: &Path) -> BTreeMap<i64, u32> {
    let mut out = BTreeMap::new();
    for id in 0..3 {
        let config = state.join(format!("roll/broker-{id}/server.properties"));
        let config = config.to_str().unwrap().as_bytes();
        for e in std::fs::read_dir("/proc").unwrap().flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|p| p.parse::<u32>().ok()) else {
                continue;
            };
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            if cmdline.split(|b| *b == 0).any(|a| a == config) {
                out.insert(id, pid);
            }
        }
    }
    out
}

/// How many times node `id`'s broker process started: each start logs its HTTP
/// endpoint once to the node's `broker.log`.
fn starts(state: &Path, id: i64) -> usize {
    std::fs::read_to_string(state.join(format!("roll/broker-{id}/broker.log")))
        .unwrap_or_default()
        .matches("http endpoint (/metrics, /healthz, /readyz) listening")
        .count()
}

fn exe(pid: u32) -> PathBuf {
    std::fs::read_link(format!("/proc/{pid}/exe")).unwrap()
}

fn reconciled(s: &Value) -> bool {
    cond(s, "Ready").0 == "True" && cond(s, "Progressing") == ("False", "Reconciled")
}

#[test]
fn a_dynamic_config_change_applies_without_a_restart_and_a_static_one_rolls() {
    let _slot = multi_node_slot();
    let t0 = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cluster.yaml");
    std::fs::write(&file, spec(&[])).unwrap();
    let c = LocalCluster::up(&file);
    c.wait("Ready", 180);
    let s = c.status();
    let bootstrap = s["bootstrapServers"].as_str().unwrap().to_owned();
    create_topic(&bootstrap, "cfg");
    let s = c.wait_until("reconciled", Duration::from_secs(60), reconciled);
    let before = pids(&s);
    assert_eq!(before.len(), 3, "{s}");
    eprintln!("[{:>5.1}s] cluster ready", t0.elapsed().as_secs_f64());

    // Dynamic: IncrementalAlterConfigs on the cluster default, every pid unchanged.
    let applied = Instant::now();
    c.apply(&spec(&[("log.retention.ms", "7777777")]));
    let deadline = Instant::now() + Duration::from_secs(60);
    let described = loop {
        let text = describe(&bootstrap, 1, "cfg", "log.retention.ms", "retention.ms");
        if text.contains("log.retention.ms 7777777") && text.contains("retention.ms 7777777") {
            break text;
        }
        assert!(
            Instant::now() < deadline,
            "never applied: {text}\n{}",
            c.events()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    eprintln!(
        "[{:>5.1}s] dynamic change honoured {:.1}s after apply:\n{described}",
        t0.elapsed().as_secs_f64(),
        applied.elapsed().as_secs_f64()
    );
    assert!(
        described.contains("log.retention.ms 7777777 DYNAMIC_DEFAULT_BROKER_CONFIG"),
        "the broker reports the cluster default: {described}"
    );
    let s = c.wait_until("reconciled", Duration::from_secs(30), reconciled);
    assert_eq!(pids(&s), before, "a dynamic change restarted a node");
    assert_eq!(live_pids(c.state.path()), before);
    let events = c.events();
    assert!(events.contains("ConfigApplied"), "{events}");
    assert!(!events.contains("NodeRestarting"), "{events}");

    // Static: every node restarts once, one at a time, through the roll gate.
    c.apply(&spec(&[
        ("log.retention.ms", "7777777"),
        ("replica.lag.time.max.ms", "12345"),
    ]));
    let mut max_unready = 0;
    let mut seen: BTreeMap<i64, Vec<u32>> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(300);
    let s = loop {
        let s = c.status_opt();
        if let Some(s) = s.as_ref() {
            let unready = s["brokers"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|b| b["ready"] != true)
                .count();
            max_unready = max_unready.max(unready);
            for (id, pid) in pids(s) {
                let v = seen.entry(id).or_default();
                if v.last() != Some(&pid) {
                    v.push(pid);
                }
            }
            let now = pids(s);
            if reconciled(s) && now.iter().all(|(id, p)| before.get(id) != Some(p)) {
                break s.clone();
            }
        }
        assert!(
            Instant::now() < deadline,
            "roll not done: {s:#?}\n{}",
            c.events()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    eprintln!(
        "[{:>5.1}s] static change rolled; pids per node {seen:?}",
        t0.elapsed().as_secs_f64()
    );
    assert!(max_unready <= 1, "two nodes were down at once");
    for id in 0..3 {
        assert_eq!(
            starts(c.state.path(), id),
            2,
            "node {id} started twice, once"
        );
    }
    assert_eq!(c.events().matches("NodeRestarting").count(), 3);
    for id in 0..3 {
        let props = std::fs::read_to_string(
            c.state
                .path()
                .join(format!("roll/broker-{id}/server.properties")),
        )
        .unwrap();
        assert!(props.contains("replica.lag.time.max.ms=12345"), "node {id}");
    }
    assert_eq!(live_pids(c.state.path()), pids(&s));
}

#[test]
fn kill_9_of_local_up_mid_roll_resumes_with_no_node_restarted_twice_or_skipped() {
    let _slot = multi_node_slot();
    // Built (when stale) before any broker runs, so `/proc/<pid>/exe` stays this file.
    let current = build_broker().canonicalize().unwrap();
    let t0 = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cluster.yaml");
    std::fs::write(&file, spec(&[])).unwrap();
    let mut first = LocalCluster::up(&file);
    first.wait("Ready", 180);
    let bootstrap = first.status()["bootstrapServers"]
        .as_str()
        .unwrap()
        .to_owned();
    create_topic(&bootstrap, "resume");
    let s = first.wait_until("reconciled", Duration::from_secs(60), reconciled);
    let before = pids(&s);
    let state = first.state.path().to_path_buf();
    assert_eq!(live_pids(&state), before);

    let rolled = spec(&[("replica.lag.time.max.ms", "12345")]);
    first.apply(&rolled);
    // Kill `up` as soon as the first node runs its new process: mid-roll.
    first.wait_until("a first node restarted", Duration::from_secs(120), |s| {
        pids(s).iter().any(|(id, p)| before.get(id) != Some(p))
    });
    first.up.kill().unwrap();
    first.up.wait().unwrap();
    let at_kill = live_pids(&state);
    let done_at_kill: Vec<i64> = at_kill
        .iter()
        .filter(|(id, p)| before.get(id) != Some(p))
        .map(|(id, _)| *id)
        .collect();
    eprintln!(
        "[{:>5.1}s] killed `local up` (SIGKILL) with node(s) {done_at_kill:?} rolled; live pids {at_kill:?}",
        t0.elapsed().as_secs_f64()
    );
    assert!(!done_at_kill.is_empty() && done_at_kill.len() < 3);

    // The user starts `local up` again with the spec they applied.
    std::fs::write(&file, &rolled).unwrap();
    let taken = std::mem::replace(&mut first.state, tempfile::tempdir().unwrap());
    let second = LocalCluster::up_in(taken, &file, &[]);
    let s = second.wait_until("roll resumed and done", Duration::from_secs(300), |s| {
        reconciled(s) && pids(s).iter().all(|(id, p)| before.get(id) != Some(p))
    });
    let after = pids(&s);
    eprintln!(
        "[{:>5.1}s] roll done after the restart of `local up`: {before:?} -> {after:?}",
        t0.elapsed().as_secs_f64()
    );
    let events = second.events();
    for (id, pid) in &at_kill {
        assert!(
            events.contains(&format!("node {id}: adopted running broker pid {pid}")),
            "node {id} not adopted:\n{events}"
        );
        if done_at_kill.contains(id) {
            assert_eq!(after[id], *pid, "node {id} was restarted twice");
        } else {
            assert_ne!(after[id], *pid, "node {id} was skipped");
        }
    }
    for (id, pid) in &after {
        assert_eq!(exe(*pid), current, "node {id}");
        assert_eq!(
            starts(second.state.path(), *id),
            2,
            "node {id}: one start for the cluster, one for the roll"
        );
        let props = std::fs::read_to_string(
            second
                .state
                .path()
                .join(format!("roll/broker-{id}/server.properties")),
        )
        .unwrap();
        assert!(props.contains("replica.lag.time.max.ms=12345"), "node {id}");
    }
    assert_eq!(live_pids(second.state.path()), after);
}

/// Creates `topic` with one partition whose replicas are `replicas` (min.insync.replicas 2).
const CREATE_ASSIGNED: &str = r#"
import sys
from kafka.admin import KafkaAdminClient, NewTopic
bs, topic, replicas = sys.argv[1], sys.argv[2], [int(r) for r in sys.argv[3].split(",")]
# kafka-python: confluent-kafka 2.16 refuses any replica assignment client-side.
admin = KafkaAdminClient(bootstrap_servers=bs)
admin.create_topics([NewTopic(topic, replica_assignments={0: replicas},
                              topic_configs={"min.insync.replicas": "2"})], timeout_ms=30000)
print("created", topic, replicas)
"#;

/// 3 racks × 2 brokers and 3 controllers with `spec.rollout.parallelRacks`: a static
/// change restarts racks b and c two brokers at a time (every partition keeps 2 in-sync
/// replicas in the other racks), while rack a, which holds two replicas of `skewed-0`,
/// goes one broker at a time and says why. Every node starts exactly once more.
#[test]
fn parallel_racks_roll_a_rack_together_only_when_every_partition_keeps_min_isr() {
    let _slot = multi_node_slot();
    let t0 = Instant::now();
    let racked = |config: &str| {
        format!(
            "apiVersion: tidewater.io/v1alpha1\nkind: KafkaCluster\nmetadata:\n  name: roll\nspec:\n  version: 0.3.0\n  brokers: 6\n  controllers: 3\n  rack:\n    zones: [a, b, c]\n  rollout:\n    parallelRacks: true\n{config}"
        )
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cluster.yaml");
    std::fs::write(&file, racked("")).unwrap();
    let c = LocalCluster::up(&file);
    c.wait("Ready", 240);
    let bootstrap = c.status()["bootstrapServers"].as_str().unwrap().to_owned();
    create_topic(&bootstrap, "spread");
    output_text(
        Command::new("python3").args(["-c", CREATE_ASSIGNED, &bootstrap, "skewed", "0,3,1"]),
        "create skewed",
    );
    c.wait_until("reconciled", Duration::from_secs(120), reconciled);
    eprintln!(
        "[{:>5.1}s] 6 brokers over 3 racks ready",
        t0.elapsed().as_secs_f64()
    );

    let roll_started = Instant::now();
    c.apply(&racked(
        "  config:\n    replica.lag.time.max.ms: \"12345\"\n",
    ));
    let ids = [0, 1, 2, 3, 4, 5, 1000, 1001, 1002];
    c.wait_until("every node restarted", Duration::from_secs(600), |s| {
        reconciled(s) && ids.iter().all(|id| starts(c.state.path(), *id) == 2)
    });
    let events = c.events();
    eprintln!(
        "[{:>5.1}s] rolled 9 nodes in {:.1}s:\n{}",
        t0.elapsed().as_secs_f64(),
        roll_started.elapsed().as_secs_f64(),
        events
            .lines()
            .filter(|l| ["RackRoll", "OneAtATime", "NodeRestarting"]
                .iter()
                .any(|k| l.contains(k)))
            .collect::<Vec<_>>()
            .join("\n")
    );
    for rack in ["rack b together: 1, 4", "rack c together: 2, 5"] {
        assert!(events.contains(rack), "{rack}:\n{events}");
    }
    assert!(
        !events.contains("rack a together"),
        "rack a holds two replicas of skewed-0:\n{events}"
    );
    let fallback = events
        .lines()
        .find(|l| l.contains("OneAtATime"))
        .unwrap_or_else(|| panic!("no OneAtATime event:\n{events}"));
    assert!(
        fallback.contains("skewed-0") && fallback.contains("min.insync.replicas"),
        "{fallback}"
    );
    for id in ids {
        assert_eq!(starts(c.state.path(), id), 2, "node {id}");
    }
}
