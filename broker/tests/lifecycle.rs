//! The broker process's life: format idempotence, clear errors on bad config,
//! SIGTERM (finish in-flight work, flush, checkpoint, exit 0), `/metrics` with
//! Kafka's JMX names as the Prometheus JMX exporter renders them, `/healthz`,
//! `/readyz`, and `dump-log` telling a valid segment from a corrupted one.

mod common;

use std::net::TcpStream;
use std::time::Duration;

use common::broker::BROKER_BIN;
use common::process::{require_python_modules, spawn, spawn_python};
use common::{Broker, BrokerOpts, kcat, kcat_read, python_client, wait_until};

const T: Duration = Duration::from_secs(60);

fn produce_lines(b: &Broker, topic: &str, n: usize) {
    let input: String = (0..n).map(|i| format!("record-{i}\n")).collect();
    kcat(
        &["-b", &b.bootstrap(), "-P", "-t", topic, "-X", "acks=all"],
        Some(input.as_bytes()),
        T,
    )
    .ok();
}

/// The sum of the Prometheus samples named exactly `name`: with `labels: None` only
/// the unlabelled sample; with `Some(ls)` the labelled samples containing every
/// label of `ls`. `None` when no sample matches.
fn sample(metrics: &str, name: &str, labels: Option<&[&str]>) -> Option<f64> {
    let mut found = None;
    for line in metrics.lines().filter(|l| !l.starts_with('#')) {
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        let (label_part, value) = match rest.strip_prefix('{') {
            Some(r) => match r.split_once('}') {
                Some((l, v)) => (Some(l), v),
                None => continue,
            },
            None if rest.starts_with(' ') => (None, rest),
            None => continue,
        };
        let matches = match (labels, label_part) {
            (None, None) => true,
            (Some(want), Some(have)) => want.iter().all(|w| have.contains(w)),
            _ => false,
        };
        if matches {
            let v: f64 = value.split_whitespace().next()?.parse().ok()?;
            found = Some(found.unwrap_or(0.0) + v);
        }
    }
    found
}

#[test]
fn format_is_idempotent_and_refuses_another_cluster_id() {
    let mut b = Broker::start(BrokerOpts::default());
    assert!(b.sigterm().success());
    b.format("tidewater-it-cluster").ok();
    let other = b.format("a-different-cluster-id");
    assert!(
        !other.status.success(),
        "re-format with another cluster id must fail:\n{other}"
    );
    b.start_process();
}

#[test]
fn start_with_a_bad_config_value_fails_naming_the_key() {
    let mut b = Broker::start(BrokerOpts::default());
    // Stopped, so a failure can only come from the bad value, not a busy port.
    assert!(b.sigterm().success());
    let config = b.dir().join("broker.properties").display().to_string();
    let out = spawn(
        BROKER_BIN,
        &[
            "start".into(),
            "--config".into(),
            config,
            "--override".into(),
            "num.partitions=many".into(),
        ],
        None,
    )
    .wait(T);
    assert!(
        !out.status.success(),
        "start accepted num.partitions=many:\n{out}"
    );
    assert!(
        out.stderr.contains("num.partitions"),
        "error does not name the key:\n{out}"
    );
}

#[test]
fn health_ready_and_kafka_named_metrics() {
    let b = Broker::start(BrokerOpts::default());
    for path in ["/healthz", "/readyz"] {
        let r = b.http_get(path).expect(path);
        assert_eq!(r.status, 200, "{path}: {r:?}");
    }
    let n = 250;
    produce_lines(&b, "metered", n);
    let read = kcat_read(&b.bootstrap(), "metered", &[], T);
    assert_eq!(read.lines().len(), n);
    let r = b.http_get("/metrics").expect("/metrics");
    assert_eq!(r.status, 200, "{r:?}");
    let m = &r.body;
    let messages_in = "kafka_server_brokertopicmetrics_messagesin_total";
    let per_topic = sample(m, messages_in, Some(&["topic=\"metered\""]))
        .unwrap_or_else(|| panic!("{messages_in}{{topic=\"metered\"}} missing:\n{m}"));
    assert_eq!(per_topic, n as f64, "per-topic {messages_in}");
    let bytes_in = sample(
        m,
        "kafka_server_brokertopicmetrics_bytesin_total",
        Some(&["topic=\"metered\""]),
    );
    assert!(
        bytes_in.is_some_and(|v| v > (n * "record-0".len()) as f64),
        "bytesin for topic metered: {bytes_in:?}\n{m}"
    );
    let bytes_out = sample(
        m,
        "kafka_server_brokertopicmetrics_bytesout_total",
        Some(&["topic=\"metered\""]),
    );
    assert!(
        bytes_out.is_some_and(|v| v > 0.0),
        "bytesout for topic metered after a consume: {bytes_out:?}\n{m}"
    );
    for name in [
        "kafka_server_replicamanager_partitioncount",
        "kafka_server_replicamanager_underreplicatedpartitions",
    ] {
        assert!(
            sample(m, name, None).is_some(),
            "{name} missing from /metrics:\n{m}"
        );
    }
}

/// Kafka registers BrokerTopicMetrics twice: per topic and once for all topics (an
/// MBean without a `topic` key), which the JMX exporter renders unlabelled. Broker-wide
/// dashboards and alerts read the unlabelled series.
#[test]
fn metrics_include_the_all_topics_aggregate_like_kafka() {
    let b = Broker::start(BrokerOpts::default());
    produce_lines(&b, "agg-a", 40);
    produce_lines(&b, "agg-b", 60);
    let r = b.http_get("/metrics").expect("/metrics");
    assert_eq!(r.status, 200, "{r:?}");
    let name = "kafka_server_brokertopicmetrics_messagesin_total";
    let total = sample(&r.body, name, None);
    assert_eq!(
        total,
        Some(100.0),
        "unlabelled (all-topics) {name}:\n{}",
        r.body
    );
}

#[test]
fn sigterm_finishes_in_flight_work_checkpoints_and_exits_zero() {
    require_python_modules(&["confluent_kafka"]);
    let mut b = Broker::start(BrokerOpts {
        num_partitions: 2,
        ..Default::default()
    });
    let acked = b.dir().join("acked.txt");
    let base = vec![
        "--bootstrap".to_string(),
        b.bootstrap(),
        "--topic".into(),
        "term".into(),
    ];
    let mut args = base.clone();
    args.extend([
        "acked-producer".into(),
        "--acked-file".into(),
        acked.display().to_string(),
    ]);
    let mut producer = spawn_python("confluent_client.py", &args);
    wait_until("records acknowledged", T, || {
        assert!(producer.is_running(), "the producer stopped before SIGTERM");
        let n = std::fs::read_to_string(&acked)
            .map(|s| s.lines().count())
            .unwrap_or(0);
        if n >= 1000 {
            Ok(())
        } else {
            Err(format!("{n} acknowledged"))
        }
    });
    // SIGTERM while the producer is mid-stream.
    let status = b.sigterm();
    assert!(
        status.success(),
        "broker exited {status} on SIGTERM\n{}",
        b.log()
    );
    assert!(
        TcpStream::connect_timeout(&b.kafka_addr, Duration::from_secs(1)).is_err(),
        "port still accepting after exit"
    );
    producer.wait(T).ok();

    // Flushed and checkpointed: the recovery point of each partition is its end.
    let checkpoint = std::fs::read_to_string(b.log_dir().join("recovery-point-offset-checkpoint"))
        .expect("recovery-point-offset-checkpoint written at shutdown");
    let ends = |p: u32| -> i64 {
        let acked_text = std::fs::read_to_string(&acked).unwrap_or_default();
        acked_text
            .lines()
            .filter_map(|l| {
                let f: Vec<i64> = l
                    .split_whitespace()
                    .filter_map(|x| x.parse().ok())
                    .collect();
                (f.len() == 3 && f[0] == p as i64).then_some(f[1] + 1)
            })
            .max()
            .unwrap_or(0)
    };
    for p in 0..2 {
        let line = checkpoint
            .lines()
            .find(|l| l.starts_with(&format!("term {p} ")))
            .unwrap_or_else(|| panic!("no checkpoint entry for term-{p}:\n{checkpoint}"));
        let offset: i64 = line
            .rsplit(' ')
            .next()
            .and_then(|o| o.parse().ok())
            .expect("offset");
        assert!(
            offset >= ends(p),
            "term-{p} recovery point {offset} < acknowledged end {}",
            ends(p)
        );
    }
    // And everything acknowledged is there after the restart.
    b.start_process();
    let mut verify = base;
    verify.extend([
        "verify-acked".into(),
        "--acked-file".into(),
        acked.display().to_string(),
        "--min-acked".into(),
        "1000".into(),
    ]);
    python_client("confluent_client.py", &verify, Duration::from_secs(120)).ok();
}

#[test]
fn dump_log_accepts_valid_segments_and_rejects_a_corrupted_one() {
    let mut b = Broker::start(BrokerOpts::default());
    produce_lines(&b, "dumped", 500);
    assert!(b.sigterm().success());
    let segments = b.segment_files();
    let seg = segments
        .iter()
        .find(|p| p.parent().is_some_and(|d| d.ends_with("dumped-0")))
        .unwrap_or_else(|| panic!("no dumped-0 segment in {segments:?}"))
        .clone();
    let ok = b.dump_log(std::slice::from_ref(&seg));
    assert!(ok.status.success(), "{ok}");
    assert!(
        ok.stdout.contains("baseOffset"),
        "dump-log printed no batches:\n{ok}"
    );
    let printed = b.dump_log_with(&["--print-data"], std::slice::from_ref(&seg));
    assert!(printed.status.success(), "{printed}");
    for i in [0, 499] {
        assert!(
            printed.stdout.contains(&format!("record-{i}")),
            "--print-data lacks record-{i}:\n{printed}"
        );
    }

    // Flip one byte in the middle of the segment (inside a batch): CRC must catch it.
    let mut bytes = std::fs::read(&seg).expect("read segment");
    assert!(
        bytes.len() > 200,
        "segment too small: {} bytes",
        bytes.len()
    );
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x5a;
    let bad_dir = b.dir().join("corrupt/dumped-0");
    std::fs::create_dir_all(&bad_dir).expect("mkdir");
    let bad = bad_dir.join(seg.file_name().expect("file name"));
    std::fs::write(&bad, bytes).expect("write corrupt copy");
    let out = b.dump_log(&[bad]);
    assert!(
        !out.status.success(),
        "dump-log accepted a corrupted segment:\n{out}"
    );
}
