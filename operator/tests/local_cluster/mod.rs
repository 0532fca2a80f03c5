//! Harness of the local runtime tests: runs `tidewater-operator local ...` commands and
//! real Kafka clients (confluent-kafka through `python3 -c`). Every cluster runs in its
//! own temp state dir on free ports; a Drop guard stops it (SIGTERM to `local up`,
//! SIGKILL as a last resort). Every node's broker.log is kept after a failed test, and after
//! every test when `TIDEWATER_KEEP_LOGS=<dir>` is set.

// Test helpers outside #[test] fns: a failed unwrap is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tidewater_operator::runtime::local::process::terminate;

pub fn operator() -> &'static str {
    env!("CARGO_BIN_EXE_tidewater-operator")
}

/// The broker binary next to the operator binary (where `local up` looks for it),
/// built on demand when only the operator was built.
pub fn ensure_broker() {
    if !Path::new(operator())
        .with_file_name("tidewater-broker")
        .exists()
    {
        build_broker();
    }
}

/// `cargo build` of this build's broker (a no-op when fresh); returns its path.
///
/// Skipped when `TIDEWATER_BROKER_BIN` names that same file, as `.ci/test` sets it:
/// `cargo test --workspace` has just built it (the broker's own integration tests run
/// it), and `cargo build -p tidewater-broker` resolves other features than the
/// workspace test build (tokio, serde, syn, ...), so it would compile the broker and
/// most of its dependencies a second time.
pub fn build_broker() -> PathBuf {
    let bin = Path::new(operator()).with_file_name("tidewater-broker");
    let prebuilt = std::env::var_os("TIDEWATER_BROKER_BIN").map(PathBuf::from);
    if prebuilt.is_some_and(|p| p.canonicalize().ok() == bin.canonicalize().ok() && bin.exists()) {
        return bin;
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = Command::new(cargo)
        .args([
            "build",
            "-q",
            "-p",
            "tidewater-broker",
            "--bin",
            "tidewater-broker",
        ])
        .status()
        .unwrap();
    assert!(
        status.success() && bin.exists(),
        "building tidewater-broker failed"
    );
    bin
}

/// Runs `cmd`, asserts it succeeded (naming `what`), and returns stdout then stderr.
pub fn output_text(cmd: &mut Command, what: &str) -> String {
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{what}:\n{text}");
    text
}

pub fn example(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name)
}

pub fn run(args: &[&str]) -> Output {
    Command::new(operator()).args(args).output().unwrap()
}

/// A running `local up`; stopped on drop.
pub struct LocalCluster {
    pub state: tempfile::TempDir,
    pub up: Child,
}

impl LocalCluster {
    pub fn up(file: &Path) -> Self {
        Self::up_with(file, &[])
    }

    pub fn up_with(file: &Path, extra: &[&str]) -> Self {
        Self::up_in(tempfile::tempdir().unwrap(), file, extra)
    }

    /// `local up` on a given state dir, e.g. the one a previous `up` left behind.
    pub fn up_in(state: tempfile::TempDir, file: &Path, extra: &[&str]) -> Self {
        ensure_broker();
        let up = Command::new(operator())
            .args(["local", "up", "-f"])
            .arg(file)
            .arg("--state-dir")
            .arg(state.path())
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Self { state, up }
    }

    pub fn dir(&self) -> &str {
        self.state.path().to_str().unwrap()
    }

    pub fn status(&self) -> Value {
        let out = run(&["local", "status", "--state-dir", self.dir(), "-o", "json"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    pub fn wait(&self, condition: &str, timeout: u64) {
        let out = run(&[
            "local",
            "status",
            "--state-dir",
            self.dir(),
            "--wait",
            condition,
            "--timeout",
            &timeout.to_string(),
        ]);
        assert!(
            out.status.success(),
            "{condition} not reached: {}\nevents:\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.events()
        );
    }

    /// The status, or `None` before `up` wrote the first one.
    pub fn status_opt(&self) -> Option<Value> {
        let out = run(&["local", "status", "--state-dir", self.dir(), "-o", "json"]);
        out.status
            .success()
            .then(|| serde_json::from_slice(&out.stdout).unwrap())
    }

    /// Polls the status until `pred` holds (the status file is rewritten on change).
    pub fn wait_until(
        &self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let s = self.status_opt();
            if let Some(s) = s.as_ref().filter(|s| pred(s)) {
                return s.clone();
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {s:#?}\n{}",
                self.events()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn events(&self) -> String {
        std::fs::read_to_string(self.state.path().join("events.log")).unwrap_or_default()
    }

    pub fn apply(&self, text: &str) -> Output {
        let f = self.state.path().join("applied.yaml");
        std::fs::write(&f, text).unwrap();
        run(&[
            "local",
            "apply",
            "-f",
            f.to_str().unwrap(),
            "--state-dir",
            self.dir(),
        ])
    }

    /// Every node's `broker.log` (`<state>/<cluster>/<node>/broker.log`).
    pub fn broker_logs(&self) -> Vec<PathBuf> {
        let Ok(clusters) = std::fs::read_dir(self.state.path()) else {
            return Vec::new();
        };
        clusters
            .flatten()
            .filter_map(|c| std::fs::read_dir(c.path()).ok())
            .flatten()
            .flatten()
            .map(|node| node.path().join("broker.log"))
            .filter(|log| log.exists())
            .collect()
    }

    /// The last lines of every node's `broker.log`, for a failing test's output.
    fn print_broker_logs(&self) {
        for path in self.broker_logs() {
            let log = std::fs::read_to_string(&path).unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            let tail = lines[lines.len().saturating_sub(15)..].join("\n");
            eprintln!("--- {} (last 15 lines) ---\n{tail}", path.display());
        }
    }

    /// Copies every node's `broker.log` and the `events.log` out of the state dir (which
    /// is removed on drop) into `into`, as `<cluster>-<node>.log`; returns `into`.
    pub fn keep_logs(&self, into: &Path) -> PathBuf {
        std::fs::create_dir_all(into).unwrap();
        let _ = std::fs::copy(
            self.state.path().join("events.log"),
            into.join("events.log"),
        );
        let Ok(clusters) = std::fs::read_dir(self.state.path()) else {
            return into.to_owned();
        };
        for cluster in clusters.flatten() {
            let Ok(nodes) = std::fs::read_dir(cluster.path()) else {
                continue;
            };
            for node in nodes.flatten() {
                let name = format!(
                    "{}-{}.log",
                    cluster.file_name().to_string_lossy(),
                    node.file_name().to_string_lossy()
                );
                let _ = std::fs::copy(node.path().join("broker.log"), into.join(name));
            }
        }
        into.to_owned()
    }

    /// Where a cluster's logs are kept: under `$TIDEWATER_KEEP_LOGS` when set (every run),
    /// else under the temp dir when the test failed; `None` for a passing run without it.
    pub fn kept_logs_dir(&self) -> Option<PathBuf> {
        let run = format!(
            "{}-{}",
            std::process::id(),
            self.state.path().file_name()?.to_string_lossy()
        );
        match std::env::var_os("TIDEWATER_KEEP_LOGS") {
            Some(root) => Some(PathBuf::from(root).join(run)),
            None if std::thread::panicking() => {
                Some(std::env::temp_dir().join("tidewater-test-logs").join(run))
            }
            None => None,
        }
    }

    /// `local down`, then waits for `up` to exit.
    pub fn down(&mut self) {
        let down = Command::new(operator())
            .args(["local", "down", "--state-dir", self.dir()])
            .spawn()
            .unwrap();
        let status = self.up.wait().unwrap();
        assert!(status.success(), "local up exited with {status}");
        let out = down.wait_with_output().unwrap();
        assert!(out.status.success());
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.print_broker_logs();
        }
        self.stop();
        // After the stop, so the logs hold the nodes' shutdown too.
        if let Some(dir) = self.kept_logs_dir() {
            eprintln!("broker logs kept in {}", self.keep_logs(&dir).display());
        }
    }
}

impl LocalCluster {
    /// SIGTERM to `local up` (which stops its nodes), SIGKILL after 40 s.
    fn stop(&mut self) {
        if self.up.try_wait().ok().flatten().is_some() {
            return;
        }
        terminate(i32::try_from(self.up.id()).unwrap());
        let deadline = Instant::now() + Duration::from_secs(40);
        while Instant::now() < deadline {
            if self.up.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.up.kill();
        let _ = self.up.wait();
    }
}

pub fn cond<'a>(s: &'a Value, t: &str) -> (&'a str, &'a str) {
    let c = s["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == t));
    c.map_or(("", ""), |c| {
        (
            c["status"].as_str().unwrap_or(""),
            c["reason"].as_str().unwrap_or(""),
        )
    })
}

pub fn broker_pids(s: &Value) -> Vec<i32> {
    s["brokers"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|b| b["pod"].as_str()?.strip_prefix("pid ")?.parse().ok())
        .collect()
}

pub const CLIENT: &str = r#"
import json, sys, time
from confluent_kafka import Producer, Consumer
from confluent_kafka.admin import AdminClient, NewTopic
bs, topic, n, rf = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
# Security settings (security.protocol, ssl.*, sasl.*) for every client.
extra = json.loads(sys.argv[5]) if len(sys.argv) > 5 else {}
admin = AdminClient({"bootstrap.servers": bs, **extra})
for f in admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=rf)]).values():
    f.result(30)
p = Producer({"bootstrap.servers": bs, "acks": "all", **extra})
for i in range(n):
    p.produce(topic, key=str(i), value="m%d" % i)
assert p.flush(30) == 0, "unflushed messages"
c = Consumer({"bootstrap.servers": bs, "group.id": "g-" + topic, "auto.offset.reset": "earliest", **extra})
c.subscribe([topic])
got, deadline = set(), time.time() + 60
while len(got) < n and time.time() < deadline:
    m = c.poll(1.0)
    if m is not None and m.error() is None:
        got.add(m.value().decode())
c.close()
assert got == {"m%d" % i for i in range(n)}, "consumed %d of %d" % (len(got), n)
racks = {node.id: node.rack for node in admin.describe_cluster().result(30).nodes}
md = admin.list_topics(topic, timeout=10)
for part in md.topics[topic].partitions.values():
    print("partition", part.id, "racks", sorted(str(racks.get(r)) for r in part.replicas))
print("consumed", len(got))
"#;

pub fn clients(bootstrap: &str, topic: &str, n: usize, rf: usize) -> String {
    clients_with(bootstrap, topic, n, rf, &serde_json::json!({}))
}

/// [`clients`] with librdkafka settings (`security.protocol`, `ssl.*`, `sasl.*`) added to
/// every client.
pub fn clients_with(bootstrap: &str, topic: &str, n: usize, rf: usize, extra: &Value) -> String {
    let out = Command::new("python3")
        .args([
            "-c",
            CLIENT,
            bootstrap,
            topic,
            &n.to_string(),
            &rf.to_string(),
            &extra.to_string(),
        ])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "confluent-kafka against {bootstrap}:\n{text}"
    );
    text
}

pub fn kill_9(pid: i32) {
    let status = Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Finalized features as the brokers at `bootstrap` report them (ApiVersions), read
/// independently of the operator's reconcile loop.
pub fn finalized_features(bootstrap: &str) -> std::collections::BTreeMap<String, i16> {
    with_admin(bootstrap, |admin| async move {
        admin.finalized_features().await.unwrap()
    })
}

/// Runs `f` with an admin client connected to `bootstrap`, on a runtime of its own
/// (the tests themselves are synchronous).
pub fn with_admin<T, F, Fut>(bootstrap: &str, f: F) -> T
where
    F: FnOnce(tidewater_client::AdminClient) -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let admin = tidewater_client::AdminClient::connect(bootstrap)
            .await
            .unwrap();
        f(admin).await
    })
}

/// Runs `f` with an admin client connected as the operator connects to the secured
/// cluster `tide` under `state`: to its `OPERATOR` listener, over mTLS with the
/// operator's certificate (`pki/operator.pem`), trusting the cluster CA.
pub fn with_operator_admin<T, F, Fut>(state: &Path, f: F) -> T
where
    F: FnOnce(tidewater_client::AdminClient) -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let pem = std::fs::read_to_string(state.join("tide/pki/operator.pem")).unwrap();
    let ca = std::fs::read_to_string(state.join("tide/pki/cluster-ca.crt")).unwrap();
    let tls = tidewater_client::ClientTls::from_pem(&ca, Some((&pem, &pem))).unwrap();
    let security = tidewater_client::ClientSecurity {
        tls: Some(tls),
        sasl: None,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let admin = tidewater_client::AdminClient::connect_secured(
            &operator_listener(state),
            tidewater_client::ClientConfig::default(),
            security,
        )
        .await
        .unwrap();
        f(admin).await
    })
}

/// Serialises the multi-node tests of one test binary: two clusters of 3-6 broker
/// processes each, next to the single-broker tests, overload a 2-core CI machine
/// until quorum elections and broker registrations time out.
pub fn multi_node_slot() -> std::sync::MutexGuard<'static, ()> {
    static SLOT: std::sync::Mutex<()> = std::sync::Mutex::new(());
    // A failed test poisons the lock; the next one may still run.
    SLOT.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// `kcat` with `args`, `input` on stdin, run to the end.
pub fn kcat_output(args: &[&str], input: &str) -> Output {
    use std::io::Write;
    let mut child = Command::new("kcat")
        .args(args)
        // cargo's LD_LIBRARY_PATH holds rdkafka-sys' own librdkafka, which may lack
        // OpenSSL; kcat loads Debian's.
        .env_remove("LD_LIBRARY_PATH")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// `bootstrapServers` of the listener `name` in a status.
pub fn listener(s: &Value, name: &str) -> String {
    s["listeners"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == name)
        .and_then(|l| l["bootstrapServers"].as_str())
        .unwrap()
        .to_owned()
}

/// The `OPERATOR` listener of node 0 of cluster `tide` (plaintext; where an admin
/// creates SCRAM users).
pub fn operator_listener(state: &Path) -> String {
    let props = std::fs::read_to_string(state.join("tide/broker-0/server.properties")).unwrap();
    props
        .lines()
        .find_map(|l| l.strip_prefix("advertised.listeners="))
        .unwrap()
        .split(',')
        .find_map(|l| l.strip_prefix("OPERATOR://"))
        .unwrap()
        .to_owned()
}
