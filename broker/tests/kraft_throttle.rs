//! Issue 4, throttled reassignment: a partition holding 1 GiB (override with
//! `TIDEWATER_THROTTLE_MIB`) moves from broker 1 to broker 3 under Kafka's replication
//! throttle (`leader/follower.replication.throttled.rate` = 10 MiB/s on the brokers,
//! `leader/follower.replication.throttled.replicas` on the topic). The copy rate,
//! measured from the new replica's bytes on disk between 10% and 90% of the copy, must
//! be within 10% of the setting, while an unthrottled topic replicated between the same
//! brokers keeps producing with acks=all far above the throttle.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::cluster::Cluster;
use common::{python_client, wait_until};
use serde_json::Value;

const RATE: u64 = 10 * 1024 * 1024;

fn client(script: &str, args: &[&str], timeout: Duration) -> Value {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let out = python_client(script, &args, timeout).ok();
    let line = out.stdout.lines().last().unwrap_or("");
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{script} {args:?}: {e}\n{out}"))
}

/// The log dir of a node.
/// `python3 kraft_admin.py args...` -> its JSON line.
fn admin(args: &[&str]) -> Value {
    client("kraft_admin.py", args, Duration::from_secs(90))
}

fn log_dir(cluster: &mut Cluster, id: i32) -> PathBuf {
    cluster.node(id).log_dir()
}

/// Bytes of `.log` segments in a partition directory (0 when it does not exist yet).
fn log_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.path().extension().is_some_and(|x| x == "log"))
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

#[test]
fn throttled_reassignment_holds_the_rate_and_spares_other_topics() {
    let mib: u64 = std::env::var("TIDEWATER_THROTTLE_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    let mut cluster = Cluster::combined(3, &[("replica.fetch.max.bytes", "1048576")]);
    let bs = cluster.bootstrap();
    let total = create_and_fill(&mut cluster, &bs, mib);
    throttle_moving_between_brokers_1_and_3(&bs);
    let target = log_dir(&mut cluster, 3).join("moving-0");
    let started = Instant::now();
    start_the_move(&bs);
    let steady_mbs = unthrottled_topic_rate(&bs);
    copy_holds_the_throttled_rate(&target, total, started, mib, steady_mbs);
    the_move_completes_and_the_old_replica_goes(&mut cluster);
}

/// Creates `moving` (on broker 1) and `steady` (on 1 and 3) and fills `moving` with
/// `mib` MiB; returns the bytes written.
fn create_and_fill(cluster: &mut Cluster, bs: &str, mib: u64) -> u64 {
    admin(&[
        "create",
        "--bootstrap",
        bs,
        "--topic",
        "moving",
        "--assignment",
        "1",
    ]);
    admin(&[
        "create",
        "--bootstrap",
        bs,
        "--topic",
        "steady",
        "--assignment",
        "1,3",
    ]);
    cluster.wait_isr_full("moving", 1, 1, Duration::from_secs(60));
    cluster.wait_isr_full("steady", 1, 2, Duration::from_secs(60));

    let fill = client(
        "kraft_throttle.py",
        &[
            "fill",
            "--bootstrap",
            bs,
            "--topic",
            "moving",
            "--mib",
            &mib.to_string(),
        ],
        Duration::from_secs(600),
    );
    fill["bytes"].as_u64().expect("bytes")
}

/// Throttles `moving`'s leader on broker 1 and its new follower on broker 3 to RATE.
fn throttle_moving_between_brokers_1_and_3(bs: &str) {
    let rate = RATE.to_string();
    for (broker, key) in [
        ("1", "leader.replication.throttled.rate"),
        ("3", "follower.replication.throttled.rate"),
    ] {
        let kv = format!("{key}={rate}");
        client(
            "kraft_throttle.py",
            &[
                "set-broker",
                "--bootstrap",
                bs,
                "--broker",
                broker,
                "--set",
                &kv,
            ],
            Duration::from_secs(60),
        );
    }
    let out = common::clients::kraft_client(
        "alter-topic",
        bs,
        "moving",
        &[
            "--set",
            "leader.replication.throttled.replicas=0:1",
            "--set",
            "follower.replication.throttled.replicas=0:3",
        ],
        Duration::from_secs(60),
    );
    assert!(out.contains("altered"), "{out}");
}

/// Reassigns `moving` from broker 1 to broker 3.
fn start_the_move(bs: &str) {
    let moved = admin(&[
        "reassign",
        "--bootstrap",
        bs,
        "--topic",
        "moving",
        "--replicas",
        "3",
    ]);
    assert_eq!(
        moved,
        serde_json::json!({"moving-0": null}),
        "start the move"
    );
}

/// Beside the move, an unthrottled topic between the same two brokers: its MB/s.
fn unthrottled_topic_rate(bs: &str) -> f64 {
    let steady = client(
        "kraft_throttle.py",
        &[
            "produce",
            "--bootstrap",
            bs,
            "--topic",
            "steady",
            "--mib",
            "100",
        ],
        Duration::from_secs(300),
    );
    steady["mb_per_sec"].as_f64().expect("mb_per_sec")
}

/// The copy: samples of the new replica's size until it holds everything; the rate
/// between 10% and 90% is within 10% of the throttle.
fn copy_holds_the_throttled_rate(
    target: &Path,
    total: u64,
    started: Instant,
    mib: u64,
    steady_mbs: f64,
) {
    let mut samples: Vec<(Duration, u64)> = Vec::new();
    let copy_timeout = Duration::from_secs(mib * 1024 * 1024 / RATE * 2 + 120);
    wait_until("the new replica holds every byte", copy_timeout, || {
        let bytes = log_bytes(target);
        samples.push((started.elapsed(), bytes));
        if bytes >= total {
            Ok(())
        } else {
            std::thread::sleep(Duration::from_millis(250));
            Err(format!("{bytes} of {total} bytes"))
        }
    });
    let at = |fraction: f64| {
        samples
            .iter()
            .find(|(_, b)| *b as f64 >= total as f64 * fraction)
            .map(|(t, b)| (*t, *b))
            .expect("sample")
    };
    eprintln!(
        "copy samples (s, bytes): {:?}",
        samples
            .iter()
            .step_by((samples.len() / 20).max(1))
            .map(|(t, b)| (t.as_secs_f64(), *b))
            .collect::<Vec<_>>()
    );
    let (t10, b10) = at(0.1);
    let (t90, b90) = at(0.9);
    let measured = (b90 - b10) as f64 / (t90 - t10).as_secs_f64();
    let ratio = measured / RATE as f64;
    eprintln!(
        "throttled reassignment of {mib} MiB: {:.2} MiB/s for a {:.2} MiB/s throttle (ratio {ratio:.3}); \
         unthrottled topic beside it: {steady_mbs:.1} MB/s acks=all",
        measured / 1048576.0,
        RATE as f64 / 1048576.0
    );
    assert!(
        (0.9..=1.1).contains(&ratio),
        "copy rate {measured:.0} B/s is not within 10% of {RATE} B/s"
    );
    assert!(
        steady_mbs > 3.0 * RATE as f64 / 1e6,
        "the unthrottled topic only reached {steady_mbs:.1} MB/s"
    );
}

/// The move completes: broker 1's replica goes, only broker 3 remains.
fn the_move_completes_and_the_old_replica_goes(cluster: &mut Cluster) {
    cluster.wait_metadata(
        "moving-0 on broker 3 only",
        "moving",
        Duration::from_secs(60),
        |m| match m.get(&0) {
            Some(p) if p.replicas == [3] && p.leader == 3 => Ok(()),
            other => Err(format!("{other:?}")),
        },
    );
    let old = log_dir(cluster, 1).join("moving-0");
    wait_until(
        "broker 1's old replica is deleted",
        Duration::from_secs(60),
        || {
            if old.exists() {
                Err(format!("{} still exists", old.display()))
            } else {
                Ok(())
            }
        },
    );
}
