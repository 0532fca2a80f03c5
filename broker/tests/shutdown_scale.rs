//! Issue 19 items 8 and 9, as figures rather than pass/fail (timing depends on the
//! machine): a broker holding N partitions (default 2,800 and 10,000; set
//! `TIDEWATER_SCALE_PARTITIONS=500,2800`) reports its open file descriptors per
//! segment and how long SIGTERM takes to exit. Run with
//! `cargo test -p tidewater-broker --test shutdown_scale -- --ignored --nocapture`.
//! The only assertions are the ones that hold on any machine: a clean exit, and at
//! most about one handle per idle segment.

mod common;

use std::time::{Duration, Instant};

use common::process::{require_python_modules, spawn};
use common::{Broker, BrokerOpts};

/// Topics of this many partitions are created until the total is reached.
const PER_TOPIC: usize = 500;

fn create_partitions(b: &Broker, total: usize) {
    let topics = total.div_ceil(PER_TOPIC);
    let code = format!(
        r#"
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
a = AdminClient({{"bootstrap.servers": "{bootstrap}"}})
left = {total}
for i in range({topics}):
    n = min({per}, left)
    left -= n
    for t, f in a.create_topics([NewTopic(f"scale-{{i}}", n, 1)], operation_timeout=120).items():
        f.result(300)
# One record per partition: every log has data to flush and producer state to snapshot.
p = Producer({{"bootstrap.servers": "{bootstrap}", "linger.ms": 20, "queue.buffering.max.messages": 200000}})
left = {total}
for i in range({topics}):
    n = min({per}, left)
    left -= n
    for part in range(n):
        p.produce(f"scale-{{i}}", value=b"x", partition=part)
        p.poll(0)
assert p.flush(300) == 0
print("created and produced", {total})
"#,
        bootstrap = b.bootstrap(),
        per = PER_TOPIC,
    );
    let out = spawn("python3", &["-c".into(), code], None).wait(Duration::from_secs(900));
    assert!(out.status.success(), "create topics: {out}");
}

/// Whether `pid` has exited (a zombie waiting to be reaped counts as exited).
fn exited(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |s| {
        s.rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
    })
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

fn measure(partitions: usize) {
    let mut b = Broker::start(BrokerOpts {
        auto_create_topics: false,
        ..Default::default()
    });
    let base_fds = open_fds(b.pid());
    let created = Instant::now();
    create_partitions(&b, partitions);
    let create_s = created.elapsed().as_secs_f64();
    let segments = b.segment_files().len();
    let fds = open_fds(b.pid());
    println!(
        "FIGURES partitions={partitions} segments={segments} open_fds={fds} (idle broker {base_fds}) \
         fds_per_segment={:.2} create_s={create_s:.1}",
        (fds - base_fds) as f64 / segments.max(1) as f64,
    );
    // Timed here rather than by the harness, whose SIGTERM gives up after 30 s.
    let pid = b.pid();
    let term = Instant::now();
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(sent.success());
    while term.elapsed() < Duration::from_secs(600) && !exited(pid) {
        std::thread::sleep(Duration::from_millis(10));
    }
    let shutdown = term.elapsed();
    let status = b.sigterm();
    assert!(status.success(), "exit {status}\n{}", b.log());
    println!(
        "FIGURES partitions={partitions} sigterm_to_exit_ms={}",
        shutdown.as_millis()
    );
    assert!(
        fds <= base_fds + segments + segments / 10 + 64,
        "{fds} open fds for {segments} segments (idle broker: {base_fds})"
    );
}

#[test]
#[ignore = "a benchmark: prints shutdown time and open files for thousands of partitions"]
fn shutdown_time_and_open_files_with_many_partitions() {
    require_python_modules(&["confluent_kafka"]);
    let counts =
        std::env::var("TIDEWATER_SCALE_PARTITIONS").unwrap_or_else(|_| "2800,10000".into());
    for n in counts
        .split(',')
        .filter_map(|s| s.trim().parse::<usize>().ok())
    {
        measure(n);
    }
}
