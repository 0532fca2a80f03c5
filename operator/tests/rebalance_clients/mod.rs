//! Clients of the rebalance tests: real Kafka clients (confluent-kafka through
//! `python3 -c`) that fill topics, keep an acks=all producer and a consumer group
//! running, and read the layout; a DescribeLogDirs sampler of one broker; and the copy
//! rate measured over whole replication-quota spans.

// Test helpers outside #[test] fns: a failed unwrap is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::local_cluster::output_text;

pub fn python(code: &str, args: &[&str]) -> String {
    output_text(
        Command::new("python3").arg("-c").arg(code).args(args),
        "python",
    )
}

/// Creates `topic` (RF 3) and `live` (6 partitions, RF 3), then writes `per` bytes of
/// `value`-byte records into every partition of `topic` with acks=all.
const LOAD: &str = r#"
import sys
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
bs, topic, parts, per, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
a = AdminClient({"bootstrap.servers": bs})
for t in [NewTopic(topic, parts, 3), NewTopic("live", 6, 3)]:
    a.create_topics([t])[t.topic].result(60)
p = Producer({"bootstrap.servers": bs, "acks": "all", "linger.ms": 20, "compression.type": "none"})
value = b"x" * size
for part in range(parts):
    for i in range(per // size):
        while True:
            try:
                p.produce(topic, value=value, partition=part)
                break
            except BufferError:
                p.poll(0.1)
    p.poll(0)
assert p.flush(300) == 0
print("loaded")
"#;

pub fn load(bootstrap: &str, topic: &str, partitions: usize, per_partition: usize, value: usize) {
    python(
        LOAD,
        &[
            bootstrap,
            topic,
            &partitions.to_string(),
            &per_partition.to_string(),
            &value.to_string(),
        ],
    );
}

/// Runs until `stop` exists: acks=all records to `live`, each acked key appended to
/// `acked` with its produce latency (ms) and the wall-clock time of the ack; a consumer
/// group reads `live` and appends what it got to `consumed`.
const LIVE: &str = r#"
import os, sys, threading, time
from confluent_kafka import Producer, Consumer
bs, stop, acked, consumed = sys.argv[1:5]
def produce():
    p = Producer({"bootstrap.servers": bs, "acks": "all", "enable.idempotence": True})
    sent = {}
    with open(acked, "w") as out:
        def done(err, msg):
            now = time.time()
            key = msg.key().decode()
            t = sent.pop(key, now)
            if err is None:
                out.write("%s %.3f %.3f\n" % (key, (now - t) * 1000, now)); out.flush()
        i = 0
        while not os.path.exists(stop):
            sent[str(i)] = time.time()
            p.produce("live", key=str(i), value=b"v" * 100, on_delivery=done)
            p.poll(0.005)
            i += 1
        p.flush(60)
def consume():
    c = Consumer({"bootstrap.servers": bs, "group.id": "rebalance-readers",
                  "auto.offset.reset": "earliest"})
    c.subscribe(["live"])
    with open(consumed, "w") as out:
        idle = 0
        while not os.path.exists(stop) or idle < 20:
            m = c.poll(0.5)
            if m is None or m.error():
                idle += os.path.exists(stop)
                continue
            idle = 0
            out.write(m.key().decode() + "\n"); out.flush()
    c.close()
threads = [threading.Thread(target=produce), threading.Thread(target=consume)]
for t in threads: t.start()
for t in threads: t.join()
"#;

/// Replicas of `topic` and leaders of every partition per broker, the racks each
/// partition of `topic` and `live` spans, and any throttle config left.
const LAYOUT: &str = r#"
import json, sys
from confluent_kafka.admin import AdminClient, ConfigResource
a = AdminClient({"bootstrap.servers": sys.argv[1]})
topic = sys.argv[2]
racks = {n.id: n.rack for n in a.describe_cluster().result(30).nodes}
md = a.list_topics(timeout=30)
replicas, leaders, spans = {}, {}, []
for name, t in md.topics.items():
    for p in t.partitions.values():
        leaders[p.leader] = leaders.get(p.leader, 0) + 1
        if name == topic:
            for r in p.replicas: replicas[r] = replicas.get(r, 0) + 1
        if name in (topic, "live"):
            spans.append(len({racks.get(r) for r in p.replicas}))
# librdkafka takes one BROKER resource per call.
res = [[ConfigResource("broker", str(b))] for b in racks] + [[ConfigResource("topic", t)] for t in (topic, "live")]
throttles = []
for one in res:
    for r, f in a.describe_configs(one).items():
        for k, v in f.result(30).items():
            if "throttled" in k and v.value not in (None, "", "9223372036854775807"):
                throttles.append("%s %s=%s" % (r.name, k, v.value))
print(json.dumps({"racks": racks, "replicas": replicas, "leaders": leaders, "spans": spans,
                  "throttles": throttles}))
"#;

pub fn layout(bootstrap: &str, topic: &str) -> Value {
    let out = python(LAYOUT, &[bootstrap, topic]);
    serde_json::from_str(out.lines().last().unwrap()).unwrap()
}

pub fn spread(counts: &Value, ids: &[&str]) -> i64 {
    let n: Vec<i64> = ids
        .iter()
        .map(|i| counts[*i].as_i64().unwrap_or(0))
        .collect();
    n.iter().max().unwrap() - n.iter().min().unwrap()
}

pub fn wait_for(cond: impl Fn() -> bool, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Seconds since the Unix epoch (the live producer stamps its acks the same way).
pub fn wall_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// The live producer and consumer group; stopped on drop.
pub struct Live {
    child: Child,
    stop: PathBuf,
    acked: PathBuf,
    consumed: PathBuf,
}

impl Live {
    pub fn start(bootstrap: &str, dir: &Path) -> Self {
        let (stop, acked, consumed) = (dir.join("stop"), dir.join("acked"), dir.join("consumed"));
        let child = Command::new("python3")
            .arg("-c")
            .arg(LIVE)
            .args([bootstrap, stop.to_str().unwrap()])
            .args([acked.to_str().unwrap(), consumed.to_str().unwrap()])
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        Self {
            child,
            stop,
            acked,
            consumed,
        }
    }

    fn keys(path: &Path) -> BTreeSet<String> {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .map(str::to_owned)
            .collect()
    }

    pub fn acked(&self) -> usize {
        Self::keys(&self.acked).len()
    }

    /// Produce latencies (ms) of the records acked between two wall-clock times.
    pub fn latencies(&self, from: f64, to: f64) -> Vec<f64> {
        std::fs::read_to_string(&self.acked)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let mut f = l.split_whitespace().skip(1);
                let ms: f64 = f.next()?.parse().ok()?;
                let at: f64 = f.next()?.parse().ok()?;
                (from..=to).contains(&at).then_some(ms)
            })
            .collect()
    }

    /// Stops both clients; every acked key must have been consumed.
    pub fn finish(mut self) -> usize {
        std::fs::write(&self.stop, "").unwrap();
        let status = self.child.wait().unwrap();
        assert!(status.success(), "live clients exited with {status}");
        let (acked, consumed) = (Self::keys(&self.acked), Self::keys(&self.consumed));
        let lost: Vec<&String> = acked.difference(&consumed).take(10).collect();
        assert!(
            lost.is_empty(),
            "{} acked records not consumed, e.g. {lost:?}",
            acked.difference(&consumed).count()
        );
        acked.len()
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        let _ = std::fs::write(&self.stop, "");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `q`-quantile of `v` (nearest rank), 0 when empty.
pub fn quantile(mut v: Vec<f64>, q: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}

/// One DescribeLogDirs reading of a broker: (seconds since sampling began, wall-clock
/// seconds, bytes of `topic`'s replicas there).
pub type Sample = (f64, f64, u64);

/// Asks broker `id` (found through `bootstrap`'s Metadata once it registers) for its
/// log dirs every 100 ms until `stop`, summing the sizes of `topic`'s replicas.
pub fn sample_log_dirs(
    bootstrap: String,
    id: i32,
    topic: &'static str,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<Vec<Sample>> {
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let start = Instant::now();
            let mut out = Vec::new();
            let mut broker: Option<tidewater_client::AdminClient> = None;
            while !stop.load(Ordering::Relaxed) {
                if broker.is_none() {
                    broker = connect_to(&bootstrap, id).await;
                }
                if let Some(b) = &broker {
                    match b.describe_log_dirs().await {
                        Ok(dirs) => {
                            let bytes = dirs
                                .iter()
                                .filter(|d| d.topic == topic)
                                .map(|d| u64::try_from(d.size_bytes).unwrap_or(0))
                                .sum();
                            out.push((start.elapsed().as_secs_f64(), wall_now(), bytes));
                        }
                        Err(_) => broker = None,
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            out
        })
    })
}

async fn connect_to(bootstrap: &str, id: i32) -> Option<tidewater_client::AdminClient> {
    let admin = tidewater_client::AdminClient::connect(bootstrap)
        .await
        .ok()?;
    let m = admin.metadata(Some(Vec::new())).await.ok()?;
    let b = m.brokers.iter().find(|b| b.node_id == id)?;
    tidewater_client::AdminClient::connect(&format!("{}:{}", b.host, b.port))
        .await
        .ok()
}

/// Kafka's replication quota (`replication.quota.window.num` 11 x 1 s) lets a copy take
/// about ten windows' bytes at once and then wait until the oldest window expires: a
/// throttled copy advances in steps one quota span (11 s) apart, and only over whole
/// spans does it run at the set rate (as `kafka-reassign-partitions` users see it).
pub const QUOTA_SPAN_S: f64 = 11.0;

/// A copy as the samples show it.
#[derive(Debug, Clone, Copy)]
pub struct CopyRate {
    /// Bytes the broker holds at the end.
    pub copied: u64,
    /// Seconds from the first byte to the last.
    pub seconds: f64,
    /// Bytes/s over whole quota spans.
    pub spans_rate: f64,
    /// Whole spans measured.
    pub spans: u32,
    /// Bytes/s from the first byte to the last (the quota's first burst included).
    pub overall_rate: f64,
    /// Wall-clock seconds of the first and the last byte.
    pub wall: (f64, f64),
}

/// The rate over the most whole quota spans that fit in the copy, starting half a
/// span after the first byte (between two steps, so no step is counted twice or
/// missed) and ending before the last byte (when the last partitions finish one by
/// one, leaving the quota partly unused).
pub fn copy_rate(samples: &[Sample]) -> CopyRate {
    let copied = samples.iter().map(|s| s.2).max().unwrap_or(0);
    let first = samples.iter().position(|s| s.2 > 0).unwrap_or(0);
    let last = samples.iter().position(|s| s.2 >= copied).unwrap_or(0);
    let (t0, t1) = (samples[first].0, samples[last].0);
    let at = |t: f64| samples.iter().find(|s| s.0 >= t).map_or(copied, |s| s.2) as f64;
    let from = t0 + QUOTA_SPAN_S / 2.0;
    let spans = ((t1 - from) / QUOTA_SPAN_S).floor().max(0.0) as u32;
    let seconds = f64::from(spans) * QUOTA_SPAN_S;
    CopyRate {
        copied,
        seconds: t1 - t0,
        spans_rate: (at(from + seconds) - at(from)) / seconds.max(0.001),
        spans,
        overall_rate: copied as f64 / (t1 - t0).max(0.001),
        wall: (samples[first].1, samples[last].1),
    }
}
