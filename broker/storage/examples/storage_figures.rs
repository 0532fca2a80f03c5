//! Prints the storage figures in one run: append MB/s and records/s (1 KiB and 100 B
//! records in 16 KiB batches) beside a raw buffered write of the same bytes, sequential
//! read beside a raw positional read, and recovery time of a 1 GiB unflushed tail after
//! an unclean stop. `cargo run --release -p tidewater-storage --example storage_figures`
#![allow(clippy::unwrap_used)] // a measurement program that cannot set up should stop loudly

use std::io::Write;
use std::os::unix::fs::FileExt;
use std::time::Instant;

#[path = "../tests/common/mod.rs"]
mod common;

use common::{NOW, sized_batch};
use tidewater_storage::{LogConfig, LogManager, LogManagerConfig, TopicPartition};

fn open(dir: &std::path::Path) -> std::sync::Arc<LogManager> {
    LogManager::open(LogManagerConfig {
        log_dirs: vec![dir.to_path_buf()],
        ..LogManagerConfig::default()
    })
    .unwrap()
}

fn mbps(bytes: usize, secs: f64) -> f64 {
    bytes as f64 / secs / 1e6
}

/// Best of `ROUNDS` alternating runs, so a noisy neighbour on a 2-core box skews less.
const ROUNDS: usize = 5;

fn raw_write(dir: &std::path::Path, b: &[u8], count: usize) -> f64 {
    let t = Instant::now();
    let mut f = std::io::BufWriter::new(std::fs::File::create(dir.join("raw")).unwrap());
    for _ in 0..count {
        f.write_all(b).unwrap();
    }
    f.flush().unwrap();
    t.elapsed().as_secs_f64()
}

fn log_append(dir: &std::path::Path, b: &[u8], count: usize) -> (f64, std::sync::Arc<LogManager>) {
    let mgr = open(dir);
    let log = mgr
        .get_or_create_log(&TopicPartition::new("b", 0), LogConfig::default())
        .unwrap();
    let t = Instant::now();
    for _ in 0..count {
        log.append_as_leader(b, 0, NOW).unwrap();
    }
    (t.elapsed().as_secs_f64(), mgr)
}

fn log_read(mgr: &LogManager) -> (f64, usize) {
    let log = mgr.get_log(&TopicPartition::new("b", 0)).unwrap();
    let t = Instant::now();
    let mut offset = 0;
    let mut read = 0usize;
    while offset < log.log_end_offset() {
        let r = log.read(offset, 1 << 20, i64::MAX, true).unwrap();
        for (_, h) in tidewater_storage::batch::BatchIter::new(&r.records) {
            offset = h.next_offset();
        }
        read += r.records.len();
    }
    (t.elapsed().as_secs_f64(), read)
}

fn raw_read(path: &std::path::Path) -> (f64, usize) {
    let f = std::fs::File::open(path).unwrap();
    let len = f.metadata().unwrap().len();
    let t = Instant::now();
    let mut pos = 0u64;
    while pos < len {
        let mut buf = vec![0u8; (1 << 20).min((len - pos) as usize)];
        f.read_exact_at(&mut buf, pos).unwrap();
        pos += buf.len() as u64;
    }
    (t.elapsed().as_secs_f64(), pos as usize)
}

/// Writes back dirty pages so the next timed run does not pay for the previous one.
fn settle() {
    let _ = std::process::Command::new("sync").status();
}

fn main() {
    let total: usize = std::env::var("FIGURES_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
        << 20;
    for record_size in [1024usize, 100] {
        let (b, n) = sized_batch(record_size);
        let count = total / b.len();
        let bytes = count * b.len();
        let (mut raw, mut app, mut lr, mut rr) = (f64::MAX, f64::MAX, f64::MAX, f64::MAX);
        for round in 0..ROUNDS {
            // Each timed run starts without the previous run's dirty pages (whose writeback
            // would otherwise slow whichever run comes second), and the order alternates.
            let raw_dir = tempfile::tempdir().unwrap();
            let log_dir = tempfile::tempdir().unwrap();
            let mut mgr = None;
            for which in [round % 2, 1 - round % 2] {
                settle();
                if which == 0 {
                    raw = raw.min(raw_write(raw_dir.path(), &b, count));
                } else {
                    let (t, m) = log_append(log_dir.path(), &b, count);
                    app = app.min(t);
                    mgr = Some(m);
                }
            }
            let mgr = mgr.unwrap();
            if record_size == 1024 {
                settle();
                for _ in 0..3 {
                    lr = lr.min(log_read(&mgr).0);
                    rr = rr.min(raw_read(&raw_dir.path().join("raw")).0);
                }
            }
            mgr.shutdown().unwrap();
        }
        println!(
            "append {record_size:>4} B records in 16 KiB batches: log {:.0} MB/s {:.0} records/s | raw buffered write {:.0} MB/s | ratio {:.2}",
            mbps(bytes, app),
            (count * n) as f64 / app,
            mbps(bytes, raw),
            raw / app
        );
        if record_size == 1024 {
            println!(
                "sequential read: log {:.0} MB/s | raw read {:.0} MB/s | ratio {:.2}",
                mbps(bytes, lr),
                mbps(bytes, rr),
                rr / lr
            );
        }
    }
    // 1 GiB unflushed tail, unclean stop, timed reopen.
    let (b, _) = sized_batch(1024);
    let dir = tempfile::tempdir().unwrap();
    {
        let mgr = open(dir.path());
        let log = mgr
            .get_or_create_log(&TopicPartition::new("r", 0), LogConfig::default())
            .unwrap();
        let count = (1usize << 30) / b.len();
        for _ in 0..count {
            log.append_as_leader(&b, 0, NOW).unwrap();
        }
        println!("wrote {} MiB unflushed", log.size_in_bytes() >> 20);
        // dropped without shutdown(): no clean-shutdown marker, recovery point 0
    }
    let t = Instant::now();
    let mgr = open(dir.path());
    let secs = t.elapsed().as_secs_f64();
    let log = mgr.get_log(&TopicPartition::new("r", 0)).unwrap();
    println!(
        "recovery of {} MiB unflushed tail: {secs:.2} s (log end offset {})",
        log.size_in_bytes() >> 20,
        log.log_end_offset()
    );
}
