//! Client tooling against a running cluster: Metadata through `kcat -L -J` parsed by
//! partition, and the `kraft_clients.py` subcommands (produce, consume, verify, ...)
//! run with a deadline. Starts no broker; each call's client process is reaped.

use std::collections::BTreeMap;
use std::time::Duration;

use super::process::{kcat, python_client};

/// One partition as Metadata shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionMeta {
    pub partition: i32,
    /// -1 when the partition has no leader.
    pub leader: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    /// The partition error kcat reports (e.g. `Broker: Leader not available`), if any.
    pub error: Option<String>,
}

/// `kcat -L -J -t topic` against `bootstrap`, parsed by partition.
pub fn topic_metadata(
    bootstrap: &str,
    topic: &str,
) -> Result<BTreeMap<i32, PartitionMeta>, String> {
    let out = kcat(
        &["-L", "-J", "-b", bootstrap, "-t", topic, "-m", "3"],
        None,
        Duration::from_secs(15),
    );
    if !out.status.success() {
        return Err(format!("kcat -L failed: {}", out.stderr.trim()));
    }
    let json: serde_json::Value =
        serde_json::from_str(&out.stdout).map_err(|e| format!("kcat -L -J output: {e}"))?;
    let topics = json["topics"].as_array().ok_or("no topics in metadata")?;
    let t = topics
        .iter()
        .find(|t| t["topic"] == topic)
        .ok_or_else(|| format!("topic {topic} not in metadata"))?;
    if let Some(err) = t["error"].as_str() {
        return Err(format!("topic {topic}: {err}"));
    }
    let ids = |v: &serde_json::Value| -> Vec<i32> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|r| r["id"].as_i64())
                    .map(|i| i as i32)
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut parts = BTreeMap::new();
    for p in t["partitions"].as_array().ok_or("no partitions")? {
        let partition = p["partition"].as_i64().ok_or("partition id")? as i32;
        parts.insert(
            partition,
            PartitionMeta {
                partition,
                leader: p["leader"].as_i64().unwrap_or(-1) as i32,
                replicas: ids(&p["replicas"]),
                isr: ids(&p["isrs"]),
                error: p["error"].as_str().map(str::to_owned),
            },
        );
    }
    Ok(parts)
}

/// `python3 kraft_clients.py SUBCOMMAND --bootstrap B --topic T args...`, with a
/// deadline; panics with the script's output unless it exits 0. Returns its stdout.
pub fn kraft_client(
    cmd: &str,
    bootstrap: &str,
    topic: &str,
    args: &[&str],
    timeout: Duration,
) -> String {
    let mut all: Vec<String> = vec![
        cmd.into(),
        "--bootstrap".into(),
        bootstrap.into(),
        "--topic".into(),
        topic.into(),
    ];
    all.extend(args.iter().map(|s| s.to_string()));
    python_client("kraft_clients.py", &all, timeout).ok().stdout
}

/// Creates `topic` with `partitions` partitions of 3 replicas and
/// `min.insync.replicas=2`, the shape of every no-loss test (acks=all survives one
/// replica down).
pub fn create_topic_rf3_min_isr2(bootstrap: &str, topic: &str, partitions: usize) {
    let partitions = partitions.to_string();
    kraft_client(
        "create-topic",
        bootstrap,
        topic,
        &[
            "--partitions",
            &partitions,
            "--rf",
            "3",
            "--config",
            "min.insync.replicas=2",
        ],
        Duration::from_secs(60),
    );
}

/// A SASL listener's PLAIN users (`admin` and `alice`, password `<user>-secret`), as
/// the `plain.sasl.jaas.config` of a listener.
pub const PLAIN_JAAS: &str = r#"org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="admin-secret" user_admin="admin-secret" user_alice="alice-secret";"#;
