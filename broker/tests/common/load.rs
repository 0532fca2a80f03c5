//! Load generation and the ack ledger: a `BackgroundProducer` (a real confluent-kafka
//! producer of unique ids) that logs every acknowledgement as it arrives, the ledger
//! read back (`Ack`, `ack_gaps`), and `verify_no_loss`, which reads a topic end to end
//! against that ledger.
//!
//! Owns the producer process: dropping a `BackgroundProducer` kills a producer still
//! running.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tempfile::TempDir;

use super::clients::kraft_client;
use super::cluster_node::keep_logs_dir;
use super::process::{Running, require_python_modules, spawn_python};
use super::wait::wait_until;

/// What the background producer reported when it stopped.
#[derive(Debug, Clone)]
pub struct ProduceSummary {
    pub sent: u64,
    pub acked: u64,
    pub errors: u64,
    pub first_errors: Vec<String>,
    /// Per partition, the longest time between two consecutive acks (ms).
    pub max_gap_ms: BTreeMap<i32, u128>,
}

/// A confluent-kafka producer (acks=all, idempotent) of unique ids running in the
/// background; every acknowledged id lands in `acked_path` as it is acked.
pub struct BackgroundProducer {
    /// `None` once stopped; the acked file stays readable until drop.
    run: Option<Running>,
    dir: TempDir,
}

impl BackgroundProducer {
    /// Starts producing `rate` records/s to `topic`; returns once the first record
    /// was handed to the client.
    pub fn start(bootstrap: &str, topic: &str, rate: u32) -> BackgroundProducer {
        Self::start_from(bootstrap, topic, rate, 0)
    }

    /// Like [`BackgroundProducer::start`], numbering the ids from `first_id` (so a
    /// second producer on the same topic cannot mask the loss of the first's ids).
    pub fn start_from(
        bootstrap: &str,
        topic: &str,
        rate: u32,
        first_id: u64,
    ) -> BackgroundProducer {
        Self::start_with_acks(bootstrap, topic, rate, first_id, "all")
    }

    /// Like [`BackgroundProducer::start_from`] with `acks` "all" (idempotent) or "1"
    /// (not idempotent: librdkafka's idempotence needs acks=all).
    pub fn start_with_acks(
        bootstrap: &str,
        topic: &str,
        rate: u32,
        first_id: u64,
        acks: &str,
    ) -> BackgroundProducer {
        Self::start_partitioned(bootstrap, topic, rate, first_id, acks, 0)
    }

    /// Like [`BackgroundProducer::start_with_acks`], sending id N to partition
    /// N % `round_robin` (0: librdkafka's sticky partitioner), so every partition gets
    /// a record every `round_robin / rate` s and the gap between two acks of a
    /// partition measures how long it had no leader taking writes.
    pub fn start_partitioned(
        bootstrap: &str,
        topic: &str,
        rate: u32,
        first_id: u64,
        acks: &str,
        round_robin: usize,
    ) -> BackgroundProducer {
        Self::start_with_args(bootstrap, topic, rate, first_id, acks, round_robin, &[])
    }

    /// Like [`BackgroundProducer::start`] on a secured listener: `client_config` is a
    /// JSON object of librdkafka settings (`security.protocol`, `sasl.*`, `ssl.*`).
    pub fn start_secured(
        bootstrap: &str,
        topic: &str,
        rate: u32,
        client_config: &str,
    ) -> BackgroundProducer {
        let extra = ["--client-config".to_string(), client_config.to_string()];
        Self::start_with_args(bootstrap, topic, rate, 0, "all", 0, &extra)
    }

    fn start_with_args(
        bootstrap: &str,
        topic: &str,
        rate: u32,
        first_id: u64,
        acks: &str,
        round_robin: usize,
        extra: &[String],
    ) -> BackgroundProducer {
        require_python_modules(&["confluent_kafka"]);
        let dir = tempfile::tempdir().expect("tempdir");
        let acked = dir.path().join("acked.txt");
        let stop = dir.path().join("stop");
        let args: Vec<String> = [
            "produce",
            "--bootstrap",
            bootstrap,
            "--topic",
            topic,
            "--rate",
            &rate.to_string(),
            "--acked",
            &acked.display().to_string(),
            "--stop",
            &stop.display().to_string(),
            "--first-id",
            &first_id.to_string(),
            "--acks",
            acks,
            "--round-robin",
            &round_robin.to_string(),
        ]
        .iter()
        .map(|s| s.to_string())
        .chain(extra.iter().cloned())
        .collect();
        let mut run = spawn_python("kraft_clients.py", &args);
        let started = dir.path().join("stop.started");
        wait_until("producer started", Duration::from_secs(30), || {
            if !run.is_running() {
                return Ok(());
            }
            started
                .exists()
                .then_some(())
                .ok_or_else(|| "not yet".into())
        });
        assert!(run.is_running(), "producer exited at once");
        BackgroundProducer {
            run: Some(run),
            dir,
        }
    }

    pub fn acked_path(&self) -> PathBuf {
        self.dir.path().join("acked.txt")
    }

    /// Every acknowledgement so far, in ack order.
    pub fn acks(&self) -> Vec<Ack> {
        read_acks(&self.acked_path())
    }

    /// Number of ids acknowledged so far.
    pub fn acked(&self) -> usize {
        self.acks().len()
    }

    /// Waits until `more` further ids are acknowledged (progress after a fault).
    pub fn wait_progress(&mut self, more: usize, timeout: Duration) {
        let target = self.acked() + more;
        let run = self.run.as_mut().expect("producer is running");
        let path = self.dir.path().join("acked.txt");
        wait_until(&format!("{more} more acks"), timeout, || {
            if !run.is_running() {
                return Err("producer exited".into());
            }
            let n = read_acks(&path).len();
            if n >= target {
                Ok(())
            } else {
                Err(format!("{n} acked, want {target}"))
            }
        });
    }

    /// Stops producing, flushes (every record acked or failed) and returns the summary.
    pub fn stop(&mut self) -> ProduceSummary {
        std::fs::write(self.dir.path().join("stop"), "1").expect("write stop file");
        let run = self.run.take().expect("producer is running");
        let out = run.wait(Duration::from_secs(90));
        if let Some(keep) = keep_logs_dir() {
            let name = self
                .dir
                .path()
                .file_name()
                .unwrap_or_default()
                .to_string_lossy();
            let _ = std::fs::copy(self.acked_path(), keep.join(format!("acked-{name}.txt")));
        }
        assert!(out.status.success(), "producer failed: {out}");
        let line = out.stdout.lines().last().unwrap_or("");
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("producer summary {line:?}: {e}\n{out}"));
        ProduceSummary {
            sent: v["sent"].as_u64().unwrap_or(0),
            acked: v["acked"].as_u64().unwrap_or(0),
            errors: v["errors"].as_u64().unwrap_or(0),
            first_errors: v["first_errors"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|e| e.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
            max_gap_ms: v["max_gap_ms"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, g)| Some((k.parse().ok()?, g.as_u64()? as u128)))
                        .collect()
                })
                .unwrap_or_default(),
        }
    }
}

/// Reads `topic` end to end and panics unless every id in `acked_path` is there.
/// Returns the verifier's JSON line.
/// Kills -9 the leader of `topic`-0 while `producer` runs, waits for a new leader and
/// for the producer to go on, restarts the node and waits until it is back in every
/// ISR (so it caught up by fetching) and the producer went on again. Returns the node.
pub fn kill9_leader_and_restart(
    cluster: &mut super::cluster::Cluster,
    topic: &str,
    partitions: usize,
    producer: &mut BackgroundProducer,
) -> i32 {
    let meta = cluster.metadata(topic).expect("metadata");
    let victim = meta[&0].leader;
    assert!(victim > 0, "partition 0 has no leader: {meta:?}");
    cluster.node(victim).kill9();
    cluster.wait_metadata(
        "a new leader of partition 0",
        topic,
        Duration::from_secs(30),
        |m| match m.get(&0) {
            Some(p) if p.leader > 0 && p.leader != victim => Ok(()),
            other => Err(format!("{other:?}")),
        },
    );
    producer.wait_progress(300, Duration::from_secs(30));
    cluster.node(victim).restart();
    cluster.wait_isr_full(topic, partitions, 3, Duration::from_secs(60));
    producer.wait_progress(300, Duration::from_secs(30));
    victim
}

pub fn verify_no_loss(bootstrap: &str, topic: &str, acked_path: &Path) -> String {
    verify_no_loss_secured(bootstrap, topic, acked_path, "{}")
}

/// [`verify_no_loss`] on a secured listener (`client_config` as in
/// [`BackgroundProducer::start_secured`]).
pub fn verify_no_loss_secured(
    bootstrap: &str,
    topic: &str,
    acked_path: &Path,
    client_config: &str,
) -> String {
    kraft_client(
        "verify",
        bootstrap,
        topic,
        &[
            "--acked",
            &acked_path.display().to_string(),
            "--client-config",
            client_config,
        ],
        Duration::from_secs(90),
    )
}

/// One acknowledged record, as the background producer logged it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ack {
    pub id: u64,
    pub partition: i32,
    pub offset: i64,
    /// When the ack arrived, in ms since the producer started.
    pub at_ms: u64,
}

fn read_acks(path: &Path) -> Vec<Ack> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut f = l.split(' ');
            Some(Ack {
                id: f.next()?.parse().ok()?,
                partition: f.next()?.parse().ok()?,
                offset: f.next()?.parse().ok()?,
                at_ms: f.next()?.parse().ok()?,
            })
        })
        .collect()
}

/// Every gap (ms) between consecutive acks of the same partition.
pub fn ack_gaps(acks: &[Ack]) -> BTreeMap<i32, Vec<u128>> {
    let mut last: BTreeMap<i32, u64> = BTreeMap::new();
    let mut gaps: BTreeMap<i32, Vec<u128>> = BTreeMap::new();
    for a in acks {
        if let Some(prev) = last.insert(a.partition, a.at_ms) {
            gaps.entry(a.partition)
                .or_default()
                .push(u128::from(a.at_ms.saturating_sub(prev)));
        }
    }
    gaps
}

/// A confluent-kafka producer (`confluent_client.py steady-produce`) of `count`
/// records at 500/s into one topic, for tests that disturb a broker while a real
/// client keeps working.
pub struct SteadyProducer {
    running: Running,
    topic: String,
    count: usize,
}

impl SteadyProducer {
    pub fn start(bootstrap: &str, topic: &str, count: usize) -> Self {
        require_python_modules(&["confluent_kafka"]);
        let running = spawn_python(
            "confluent_client.py",
            &[
                "--bootstrap".into(),
                bootstrap.to_owned(),
                "--topic".into(),
                topic.to_owned(),
                "steady-produce".into(),
                "--count".into(),
                count.to_string(),
                "--rate".into(),
                "500".into(),
            ],
        );
        SteadyProducer {
            running,
            topic: topic.to_owned(),
            count,
        }
    }

    pub fn is_running(&mut self) -> bool {
        self.running.is_running()
    }

    /// Waits for the producer: every record acknowledged, then all of them read back.
    pub fn expect_all_acked_and_readable(self, bootstrap: &str) {
        let count = self.count;
        let out = self.running.wait(Duration::from_secs(60)).ok();
        assert!(out.stdout.contains(&format!("\"acked\": {count}")), "{out}");
        let read = super::process::kcat_read(
            bootstrap,
            &self.topic,
            &["-f", "%s\\n"],
            Duration::from_secs(60),
        );
        assert_eq!(read.lines().len(), count, "records readable afterwards");
    }
}
