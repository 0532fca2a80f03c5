//! kill -9 of the broker while a real idempotent producer (acks=all) is writing:
//! after a restart every acknowledged record is read back exactly once, at the
//! offset it was acknowledged at, in order; after a clean stop `dump-log` finds
//! every segment valid.

mod common;

use std::time::Duration;

use common::process::{require_python_modules, spawn_python};
use common::{Broker, BrokerOpts, python_client, wait_until};

/// Acknowledged records to wait for before pulling the plug.
const ACKED_BEFORE_CRASH: usize = 3000;

fn acked_lines(path: &std::path::Path) -> usize {
    std::fs::read_to_string(path)
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

#[test]
fn kill9_during_production_loses_no_acknowledged_record() {
    require_python_modules(&["confluent_kafka"]);
    let mut b = Broker::start(BrokerOpts {
        num_partitions: 3,
        // Small segments so the crash lands after several rolls, not only in the first.
        config: vec![("log.segment.bytes".into(), "65536".into())],
        ..Default::default()
    });
    let acked = b.dir().join("acked.txt");
    let common_args = |b: &Broker| {
        vec![
            "--bootstrap".to_string(),
            b.bootstrap(),
            "--topic".into(),
            "crash".into(),
        ]
    };
    let mut producer_args = common_args(&b);
    producer_args.extend([
        "acked-producer".into(),
        "--acked-file".into(),
        acked.display().to_string(),
    ]);
    let mut producer = spawn_python("confluent_client.py", &producer_args);

    wait_until(
        "acknowledged records before the crash",
        Duration::from_secs(60),
        || {
            // A producer that stopped before the crash can never get there.
            assert!(
                producer.is_running(),
                "the producer stopped before the crash"
            );
            let n = acked_lines(&acked);
            if n >= ACKED_BEFORE_CRASH {
                Ok(n)
            } else {
                Err(format!("{n} acknowledged"))
            }
        },
    );
    let status = b.kill9();
    assert!(
        !status.success(),
        "kill -9 should not look like a clean exit: {status}"
    );
    // With the broker gone the producer's deliveries time out and it stops.
    let out = producer.wait(Duration::from_secs(60)).ok();
    eprintln!("producer: {}", out.stdout.trim());

    b.start_process();
    let mut verify = common_args(&b);
    verify.extend([
        "verify-acked".into(),
        "--acked-file".into(),
        acked.display().to_string(),
        "--min-acked".into(),
        ACKED_BEFORE_CRASH.to_string(),
    ]);
    let out = python_client("confluent_client.py", &verify, Duration::from_secs(120)).ok();
    eprintln!("verify: {}", out.stdout.trim());

    let status = b.sigterm();
    assert!(status.success(), "SIGTERM after recovery exited {status}");
    let segments = b.segment_files();
    assert!(
        segments.len() >= 3,
        "expected a segment per partition at least, got {segments:?}"
    );
    let dump = b.dump_log(&segments);
    assert!(
        dump.status.success(),
        "dump-log reports an invalid segment:\n{dump}"
    );
}
