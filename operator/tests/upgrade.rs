//! Rolling upgrades on the local runtime with real broker processes (issue 11): the
//! previous release 0.2.0, built from its catalog commit by `release-bin.sh`, rolled
//! onto this build (0.3.0) under an idempotent acks=all producer, an acks=1 producer
//! and a consumer group; then the finalize, and the refusals after it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod local_cluster;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use local_cluster::*;
use serde_json::Value;

/// The binary of a past release, built (once per machine) by `release-bin.sh`. A build
/// failure fails the test: an upgrade test that skips proves nothing.
fn release_bin(version: &str) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/release-bin.sh");
    let out = Command::new(&script).arg(version).output().unwrap();
    assert!(
        out.status.success(),
        "release-bin.sh {version} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// This build's broker, rebuilt when stale (`ensure_broker` only builds a missing one).
fn current_bin() -> PathBuf {
    build_broker()
}

fn spec(version: &str, controllers: i32) -> String {
    format!(
        "apiVersion: tidewater.io/v1alpha1\nkind: KafkaCluster\nmetadata:\n  name: up\nspec:\n  version: {version}\n  brokers: 3\n  controllers: {controllers}\n  rollout:\n    soakSeconds: 3\n"
    )
}

fn clients_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/roll_clients.py")
}

/// Runs `roll_clients.py` and returns what it printed, whether or not it succeeded.
fn py_report(args: &[&str]) -> String {
    let out = Command::new("python3")
        .arg(clients_script())
        .args(args)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn py(args: &[&str]) -> String {
    output_text(
        Command::new("python3").arg(clients_script()).args(args),
        &format!("roll_clients {args:?}"),
    )
}

/// A client process, killed when dropped unfinished (a failed assertion must not leave
/// producers running).
struct Client(Option<Child>);

impl Drop for Client {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn spawn_py(args: &[&str]) -> Client {
    Client(Some(
        Command::new("python3")
            .arg(clients_script())
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    ))
}

fn finish(mut client: Client, what: &str) -> Value {
    let child = client.0.take().unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{what}: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(text.lines().last().unwrap_or("{}")).unwrap()
}

/// Node id -> pid of the broker process, from the status.
fn pids(s: &Value) -> Vec<(i64, String)> {
    s["brokers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["id"].as_i64().unwrap(),
                b["pod"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

/// The binary a running process executes.
fn exe_of(pod: &str) -> PathBuf {
    let pid = pod.strip_prefix("pid ").unwrap();
    std::fs::read_link(format!("/proc/{pid}/exe")).unwrap()
}

fn step(name: &str, started: Instant) {
    eprintln!("[{:>6.1}s] {name}", started.elapsed().as_secs_f64());
}

fn upgrade_under_load(controllers: i32, rate: &str) {
    let _slot = multi_node_slot();
    let t0 = Instant::now();
    let old = release_bin("0.2.0");
    let new = current_bin();
    step("binaries ready", t0);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cluster.yaml");
    std::fs::write(&file, spec("0.2.0", controllers)).unwrap();
    let c = LocalCluster::up_with(&file, &["--broker-bin", &format!("0.2.0={old}")]);
    c.wait("Ready", 240);
    let s = c.status();
    assert_eq!(s["version"], "0.2.0", "{s}");
    assert_eq!(s["metadataVersion"], "4.0-IV3", "{s}");
    step("0.2.0 cluster ready", t0);

    let bootstrap = s["bootstrapServers"].as_str().unwrap().to_owned();
    let base = ["--bootstrap", &bootstrap, "--topic", "roll"];
    create_topic(&base);
    let load = Load::start(dir.path(), &base, rate);
    step("clients running", t0);

    let before = pids(&c.status());
    let roll_started = Instant::now();
    let out = c.apply(&spec("0.3.0", controllers));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = c.wait_until("every node on 0.3.0", Duration::from_secs(600), |s| {
        s["version"] == "0.3.0"
    });
    assert_eq!(s["upgrade"]["from"], "0.2.0", "{s}");
    let roll_time = roll_started.elapsed();
    step("every node runs 0.3.0", t0);
    let s = c.wait_until(
        "metadata.version finalized",
        Duration::from_secs(120),
        |s| s["upgrade"]["phase"] == "Done" && s["metadataVersion"] == "4.1-IV0",
    );
    step("metadata.version finalized at 4.1-IV0", t0);
    let after = pids(&s);
    for ((id, b), (_, a)) in before.iter().zip(&after) {
        assert_ne!(a, b, "node {id} was not restarted");
        assert_eq!(
            exe_of(a),
            new.canonicalize().unwrap(),
            "node {id} runs another binary"
        );
    }
    let events = c.events();
    let restarts = events.matches("NodeRestarting").count();
    assert_eq!(restarts, after.len(), "each node restarted once:\n{events}");

    let lost_one = load.finish(&base, &c, after.len(), roll_time, rate);
    assert_eq!(lost_one, 0, "acks=1 records lost (see above)");
    step("0 acks=all and 0 acks=1 records lost", t0);

    // After the finalize the old build cannot run the cluster: refused, nothing restarts.
    for (version, reason) in [("0.2.0", "DowngradeBlocked"), ("9.9.9", "UnknownVersion")] {
        c.apply(&spec(version, controllers));
        let s = c.wait_until(reason, Duration::from_secs(60), |s| {
            cond(s, "Degraded") == ("True", reason)
        });
        assert_eq!(pids(&s), after, "{reason}: a node was restarted");
        step(reason, t0);
    }
}

#[test]
fn combined_nodes_roll_from_0_2_0_to_0_3_0_under_load() {
    upgrade_under_load(0, "200");
}

#[test]
fn dedicated_controllers_roll_from_0_2_0_to_0_3_0_under_load() {
    upgrade_under_load(3, "200");
}

/// The benchmark (not a timed test; `cargo test -p tidewater-operator --test upgrade --
/// --ignored --nocapture benchmark`): the combined roll at a higher produce rate, printing
/// the FIGURES line (roll time per broker, longest gap between acks=all acks on one
/// partition, p99 produce latency per acks mode, records lost).
#[test]
#[ignore = "benchmark: run by hand and read its FIGURES line"]
fn benchmark_roll_3_brokers_100_partitions() {
    upgrade_under_load(0, "1000");
}

/// The clients of a roll under load: an idempotent acks=all producer and an acks=1
/// producer at `rate` records/s each, round-robin over the partitions, and a consumer
/// group, writing what was acknowledged under `work`.
struct Load {
    stop: String,
    acked_all: String,
    acked_one: String,
    producers: [Client; 2],
    consumer: Client,
}

impl Load {
    /// Starts the clients; returns once both producers are past their start (two
    /// seconds of records acknowledged each), from when their figures count.
    fn start(work: &Path, base: &[&str], rate: &str) -> Load {
        let path = |name: &str| work.join(name).to_str().unwrap().to_owned();
        let (stop, acked_all, acked_one) = (path("stop"), path("acked-all"), path("acked-1"));
        let measure = path("measure");
        let produce = |acks: &str, acked: &str| {
            let args = [
                "produce",
                "--acks",
                acks,
                "--acked",
                acked,
                "--stop",
                &stop,
                "--rate",
                rate,
                "--measure",
                &measure,
            ];
            spawn_py(&[&args[..], base].concat())
        };
        let producers = [produce("all", &acked_all), produce("1", &acked_one)];
        let consumer =
            spawn_py(&[&["consume", "--group", "roll-g", "--stop", &stop][..], base].concat());
        let started = Instant::now();
        let steady = 2 * rate.parse::<usize>().unwrap_or(100);
        let acked = |f: &str| std::fs::read_to_string(f).map_or(0, |s| s.lines().count());
        while acked(&acked_all) < steady || acked(&acked_one) < steady {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the producers did not get {steady} records acknowledged each in 60 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        std::fs::write(&measure, "").unwrap();
        Load {
            stop,
            acked_all,
            acked_one,
            producers,
            consumer,
        }
    }

    /// Stops the clients, verifies every acknowledged record reads back and prints the
    /// FIGURES line; returns how many acks=1 records were lost (acks=all losses fail
    /// here). `c`'s kept logs get the ack files.
    fn finish(
        self,
        base: &[&str],
        c: &LocalCluster,
        nodes: usize,
        roll: Duration,
        rate: &str,
    ) -> i64 {
        std::fs::write(&self.stop, "").unwrap();
        let [all, one] = self.producers;
        let all = finish(all, "acks=all producer");
        let one = finish(one, "acks=1 producer");
        let group = finish(self.consumer, "consumer group");
        eprintln!("acks=all {all}\nacks=1 {one}\ngroup {group}");
        let verified = py(&[&["verify", "--acked", &self.acked_all][..], base].concat());
        eprintln!("acks=all: {verified}");
        // acks=1 records are required too: every node the roll stops drains on SIGTERM
        // (broker/src/replica_manager/drain.rs) — a stopping leader refuses appends and
        // waits until its in-sync followers hold its whole log before the controller
        // moves its leaderships, so the new leader has every acks=1 record. Checked
        // after the figures and the kept logs, which a failure needs most.
        let one_verified = py_report(&[&["verify", "--acked", &self.acked_one][..], base].concat());
        eprintln!("acks=1: {one_verified}");
        let lost_one: Value = serde_json::from_str(one_verified.lines().next().unwrap_or("{}"))
            .unwrap_or(Value::Null);
        // The brokers' side of the gap: resign of the old leader to the new leader's
        // start, per partition, from the nodes' logs (the client's figures add the time it
        // takes librdkafka to learn the new leader and its retry backoff).
        let topic = base[base.iter().position(|a| *a == "--topic").unwrap() + 1];
        let logs: Vec<String> = c
            .broker_logs()
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        let logs: Vec<&str> = logs.iter().map(String::as_str).collect();
        let brokers: Value = serde_json::from_str(
            py_report(&[&["gaps", "--topic", topic][..], &logs].concat()).trim(),
        )
        .unwrap_or(Value::Null);
        eprintln!(
            "FIGURES nodes={nodes} partitions=100 rate={rate}/s per producer (reached {}/s and {}/s): \
             roll {:.1}s ({:.1}s per node); longest wait for an acks=all ack {} ms (acks=1 {} ms); \
             longest acks=all ack gap on a partition {} ms; brokers' own longest acks=all gap \
             (old leader resigned -> new leader started) {} ms over {} leader changes; p99 produce latency acks=all {} ms, \
             acks=1 {} ms; acks=all records lost 0, acks=1 records lost {}; not counted: \
             the clients' start (longest wait acks=all {} ms, acks=1 {} ms)",
            all["rate"],
            one["rate"],
            roll.as_secs_f64(),
            roll.as_secs_f64() / nodes as f64,
            all["max_ms"],
            one["max_ms"],
            all["max_ack_gap_ms"],
            brokers["max_ms"],
            brokers["changes"],
            all["p99_ms"],
            one["p99_ms"],
            lost_one["lost"],
            all["warmup_max_ms"],
            one["warmup_max_ms"]
        );
        if let Some(kept) = c.kept_logs_dir() {
            // Next to the broker logs: which id each ack put at which partition and offset.
            std::fs::create_dir_all(&kept).unwrap();
            for f in [&self.acked_all, &self.acked_one] {
                // `.debug`: the client's own log, with ROLL_CLIENT_DEBUG set.
                for f in [f.to_owned(), format!("{f}.where"), format!("{f}.debug")] {
                    let name = Path::new(&f).file_name().unwrap();
                    if Path::new(&f).exists() {
                        std::fs::copy(&f, kept.join(name)).unwrap();
                    }
                }
            }
        }
        lost_one["lost"].as_i64().unwrap_or(-1)
    }
}

/// The roll of this build onto itself (a static key changes: every node restarts
/// through the same gate, drain and handoff as an upgrade), at the benchmark's rate:
/// what an upgrade from this release onwards costs, where the upgrade benchmark's
/// stopping nodes still run 0.2.0's drain. `cargo test -p tidewater-operator --test
/// upgrade -- --ignored --nocapture benchmark_config`.
#[test]
#[ignore = "benchmark: run by hand and read its FIGURES line"]
fn benchmark_config_roll_3_brokers_100_partitions() {
    let _slot = multi_node_slot();
    let t0 = Instant::now();
    current_bin();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cluster.yaml");
    let with = |config: &str| format!("{}  config:\n    {config}\n", spec("0.3.0", 0));
    std::fs::write(&file, with("num.partitions: 1")).unwrap();
    let c = LocalCluster::up_with(&file, &[]);
    c.wait("Ready", 240);
    let s = c.status();
    let bootstrap = s["bootstrapServers"].as_str().unwrap().to_owned();
    let base = ["--bootstrap", &bootstrap, "--topic", "roll"];
    create_topic(&base);
    c.wait("Ready", 60);
    let load = Load::start(dir.path(), &base, "1000");
    step("0.3.0 cluster ready, clients running", t0);
    let before = pids(&c.status());
    let roll_started = Instant::now();
    c.apply(&with("num.partitions: 2"));
    let s = c.wait_until("every node restarted", Duration::from_secs(600), |s| {
        let now = pids(s);
        now.iter()
            .zip(&before)
            .all(|((_, a), (_, b))| a != b && !a.is_empty())
            && cond(s, "Ready") == ("True", "Ready")
    });
    let roll_time = roll_started.elapsed();
    step("every node restarted", t0);
    let lost_one = load.finish(&base, &c, pids(&s).len(), roll_time, "1000");
    assert_eq!(lost_one, 0, "acks=1 records lost (see above)");
}

/// The test topic: 100 partitions, RF 3, min.insync.replicas 2.
fn create_topic(base: &[&str]) {
    let create = [
        "create",
        "--partitions",
        "100",
        "--rf",
        "3",
        "--min-isr",
        "2",
    ];
    py(&[&create[..], base].concat());
}

fn signal(pod: &str, sig: &str) {
    let pid = pod.strip_prefix("pid ").unwrap();
    let status = Command::new("kill").args([sig, pid]).status().unwrap();
    assert!(status.success());
}

/// A pinned upgrade: a stopped follower blocks the roll (RollBlocked naming its
/// partitions) until it runs again; every node then runs 0.3.0 with metadata.version
/// still 4.0-IV3 (the pin), so rolling back to 0.2.0 is allowed and works.
#[test]
fn a_stopped_follower_blocks_the_roll_and_a_pinned_upgrade_rolls_back() {
    let _slot = multi_node_slot();
    let t0 = Instant::now();
    let old = release_bin("0.2.0");
    current_bin();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cluster.yaml");
    let pinned = |version: &str| {
        format!(
            "{}  metadataVersion: 4.0-IV3\n  config:\n    replica.lag.time.max.ms: 3000\n",
            spec(version, 0)
        )
    };
    std::fs::write(&file, pinned("0.2.0")).unwrap();
    let c = LocalCluster::up_with(&file, &["--broker-bin", &format!("0.2.0={old}")]);
    c.wait("Ready", 240);
    let bootstrap = c.status()["bootstrapServers"].as_str().unwrap().to_owned();
    let base = ["--bootstrap", &bootstrap, "--topic", "held"];
    create_topic(&base);
    c.wait("Ready", 60);
    step("0.2.0 cluster ready with 100 partitions", t0);

    c.apply(&pinned("0.3.0"));
    let s = c.wait_until("a first node on 0.3.0", Duration::from_secs(240), |s| {
        s["upgrade"]["nodesDone"].as_i64() >= Some(1)
    });
    let first = s["brokers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["version"] == "0.3.0" && b["ready"] == true)
        .map(|b| b["pod"].as_str().unwrap().to_owned())
        .unwrap();
    signal(&first, "-STOP");
    step("stopped the upgraded node (SIGSTOP)", t0);
    let s = c.wait_until(
        "RollBlocked by the stopped node",
        Duration::from_secs(120),
        |s| {
            cond(s, "Progressing") == ("False", "RollBlocked")
                && s["brokers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|b| b["pod"] == first.as_str() && b["ready"] == false)
        },
    );
    let message = s["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Progressing")
        .and_then(|c| c["message"].as_str())
        .unwrap()
        .to_owned();
    assert!(
        message.contains("held-") && message.contains("min.insync.replicas"),
        "{message}"
    );
    assert!(c.events().contains("RollBlocked"), "{}", c.events());
    let done_while_blocked = s["upgrade"]["nodesDone"].as_i64();
    step("roll blocked, naming the partitions", t0);
    signal(&first, "-CONT");
    let s = c.wait_until("every node on 0.3.0", Duration::from_secs(300), |s| {
        s["version"] == "0.3.0" && s["upgrade"]["phase"] == "Done"
    });
    assert!(done_while_blocked < Some(3));
    assert_eq!(s["metadataVersion"], "4.0-IV3", "the pin holds: {s}");
    step(
        "resumed; every node on 0.3.0, metadata.version still 4.0-IV3",
        t0,
    );

    c.apply(&pinned("0.2.0"));
    let s = c.wait_until("rolled back to 0.2.0", Duration::from_secs(300), |s| {
        s["version"] == "0.2.0" && cond(s, "Ready").0 == "True"
    });
    for b in s["brokers"].as_array().unwrap() {
        assert_eq!(b["version"], "0.2.0", "{s}");
        let exe = exe_of(b["pod"].as_str().unwrap());
        assert_eq!(exe, Path::new(&old).canonicalize().unwrap());
    }
    step("rolled back to 0.2.0 before the finalize", t0);
}

/// A new version that never gets ready (here a "build" that exits at once) stops the
/// roll after its first node: Degraded UpgradeStalled, no other node restarted; setting
/// spec.version back rolls that node back and the cluster is Ready again.
#[test]
fn a_crashing_new_version_stalls_and_rolls_back() {
    let _slot = multi_node_slot();
    let old = release_bin("0.2.0");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cluster.yaml");
    std::fs::write(&file, spec("0.2.0", 0)).unwrap();
    let c = LocalCluster::up_with(
        &file,
        &[
            "--broker-bin",
            &format!("0.2.0={old}"),
            "--broker-bin",
            "0.3.0=/bin/false",
        ],
    );
    c.wait("Ready", 240);
    let before = pids(&c.status());
    c.apply(&spec("0.3.0", 0));
    let s = c.wait_until("UpgradeStalled", Duration::from_secs(120), |s| {
        cond(s, "Degraded") == ("True", "UpgradeStalled")
    });
    let after = pids(&s);
    let changed = before.iter().zip(&after).filter(|(b, a)| b != a).count();
    assert_eq!(changed, 1, "only the first node was restarted: {s}");
    assert_eq!(s["upgrade"]["nodesDone"], 0, "{s}");
    c.apply(&spec("0.2.0", 0));
    let s = c.wait_until("rolled back", Duration::from_secs(180), |s| {
        cond(s, "Ready").0 == "True" && cond(s, "Degraded").0 == "False"
    });
    for b in s["brokers"].as_array().unwrap() {
        assert_eq!(b["version"], "0.2.0", "{s}");
    }
}

/// A new version that runs but never gets ready (here a wrapper that SIGSTOPs itself
/// before it execs the real 0.3.0 broker, so it never registers; `format`, which the
/// runtime runs first, passes through: a stop sent from the
/// test after the node shows up raced the node's own start, and once it was ready the
/// roll went on to the next node) stops the roll after that node once
/// `spec.rollout.readyTimeoutSeconds` pass: Degraded UpgradeStalled naming the node,
/// no other node restarted; setting spec.version back rolls that node back onto 0.2.0.
#[test]
fn a_new_version_that_never_gets_ready_stalls_and_rolls_back() {
    let _slot = multi_node_slot();
    let t0 = Instant::now();
    let old = release_bin("0.2.0");
    let dir = tempfile::tempdir().unwrap();
    let stalled = dir.path().join("stalled-broker");
    std::fs::write(
        &stalled,
        format!(
            "#!/bin/sh\nbin='{}'\n[ \"$1\" = start ] && kill -STOP $$\nexec \"$bin\" \"$@\"\n",
            current_bin().display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &stalled,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let file = dir.path().join("cluster.yaml");
    let timed = |version: &str| format!("{}    readyTimeoutSeconds: 10\n", spec(version, 0));
    std::fs::write(&file, timed("0.2.0")).unwrap();
    let c = LocalCluster::up_with(
        &file,
        &[
            "--broker-bin",
            &format!("0.2.0={old}"),
            "--broker-bin",
            &format!("0.3.0={}", stalled.display()),
        ],
    );
    c.wait("Ready", 240);
    let before = pids(&c.status());
    step("0.2.0 cluster ready", t0);
    c.apply(&timed("0.3.0"));
    let s = c.wait_until("a node on 0.3.0", Duration::from_secs(120), |s| {
        s["brokers"].as_array().unwrap().iter().any(|b| {
            b["version"] == "0.3.0" && b["pod"].as_str().is_some_and(|p| p.starts_with("pid "))
        })
    });
    let id = s["brokers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["version"] == "0.3.0")
        .map(|b| b["id"].as_i64().unwrap())
        .unwrap();
    step("the first 0.3.0 node runs, stopped before it starts", t0);
    let s = c.wait_until("UpgradeStalled", Duration::from_secs(120), |s| {
        cond(s, "Degraded") == ("True", "UpgradeStalled")
    });
    let message = s["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Degraded")
        .and_then(|c| c["message"].as_str())
        .unwrap()
        .to_owned();
    assert!(
        message.contains(&format!("node {id}")) && message.contains("NotReady"),
        "{message}"
    );
    let after = pids(&s);
    let changed: Vec<i64> = before
        .iter()
        .zip(&after)
        .filter(|(b, a)| b != a)
        .map(|(b, _)| b.0)
        .collect();
    assert_eq!(changed, [id], "only the stalled node was restarted: {s}");
    step("UpgradeStalled; no other node restarted", t0);

    c.apply(&timed("0.2.0"));
    let s = c.wait_until("rolled back", Duration::from_secs(180), |s| {
        cond(s, "Ready").0 == "True" && cond(s, "Degraded").0 == "False"
    });
    for (b, (bid, pod)) in s["brokers"].as_array().unwrap().iter().zip(pids(&s)) {
        assert_eq!(b["version"], "0.2.0", "{s}");
        assert_eq!(exe_of(&pod), Path::new(&old).canonicalize().unwrap());
        if bid != id {
            assert!(
                before.contains(&(bid, pod.clone())),
                "node {bid} was restarted"
            );
        }
    }
    step("rolled back onto 0.2.0", t0);
}
