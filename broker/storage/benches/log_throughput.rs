//! Append and sequential-read throughput of the log beside a raw buffered write / raw
//! positional read of the same bytes in the same run. 16 KiB batches of 1 KiB or 100 B
//! records. Figures (with the 1 GiB recovery) come from `examples/storage_figures.rs`.
#![allow(clippy::unwrap_used)] // a bench that cannot set up should stop loudly

use std::io::Write;
use std::os::unix::fs::FileExt;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
#[path = "../tests/common/mod.rs"]
mod common;

use common::{NOW, sized_batch};
use tidewater_storage::{LogConfig, LogManager, LogManagerConfig, TopicPartition};

const TOTAL: usize = 32 << 20;

fn open(dir: &std::path::Path) -> std::sync::Arc<LogManager> {
    LogManager::open(LogManagerConfig {
        log_dirs: vec![dir.to_path_buf()],
        ..LogManagerConfig::default()
    })
    .unwrap()
}

fn append(c: &mut Criterion) {
    for record_size in [1024usize, 100] {
        let (b, _) = sized_batch(record_size);
        let count = TOTAL / b.len();
        let mut g = c.benchmark_group(format!("append_{record_size}B_records"));
        g.sample_size(10)
            .throughput(Throughput::Bytes((count * b.len()) as u64));
        // Setup (directories, checkpoint files, empty segment files) is not timed: only
        // the appends / the writes of the same bytes are.
        g.bench_function("log", |bench| {
            bench.iter_batched(
                || {
                    let dir = tempfile::tempdir().unwrap();
                    let mgr = open(dir.path());
                    let log = mgr
                        .get_or_create_log(&TopicPartition::new("b", 0), LogConfig::default())
                        .unwrap();
                    (dir, mgr, log)
                },
                |(dir, mgr, log)| {
                    for _ in 0..count {
                        log.append_as_leader(&b, 0, NOW).unwrap();
                    }
                    (dir, mgr, log)
                },
                BatchSize::PerIteration,
            )
        });
        g.bench_function("raw_buffered_write", |bench| {
            bench.iter_batched(
                || {
                    let dir = tempfile::tempdir().unwrap();
                    let f = std::fs::File::create(dir.path().join("raw")).unwrap();
                    (dir, std::io::BufWriter::new(f))
                },
                |(dir, mut f)| {
                    for _ in 0..count {
                        f.write_all(&b).unwrap();
                    }
                    f.flush().unwrap();
                    (dir, f)
                },
                BatchSize::PerIteration,
            )
        });
        g.finish();
    }
}

fn read(c: &mut Criterion) {
    let (b, _) = sized_batch(1024);
    let count = TOTAL / b.len();
    let dir = tempfile::tempdir().unwrap();
    let mgr = open(dir.path());
    let log = mgr
        .get_or_create_log(&TopicPartition::new("b", 0), LogConfig::default())
        .unwrap();
    for _ in 0..count {
        log.append_as_leader(&b, 0, NOW).unwrap();
    }
    let raw_path = dir.path().join("raw");
    // Written the way the log is (16 KiB writes): one large write gets large page-cache
    // folios that read back faster, which would measure the kernel, not the log.
    let mut raw = std::io::BufWriter::new(std::fs::File::create(&raw_path).unwrap());
    for _ in 0..count {
        raw.write_all(&b).unwrap();
    }
    raw.flush().unwrap();
    drop(raw);
    let mut g = c.benchmark_group("sequential_read");
    g.sample_size(10)
        .throughput(Throughput::Bytes((count * b.len()) as u64));
    g.bench_function("log", |bench| {
        bench.iter(|| {
            let mut offset = 0;
            let mut bytes = 0usize;
            while offset < log.log_end_offset() {
                let r = log.read(offset, 1 << 20, i64::MAX, true).unwrap();
                let mut last = offset;
                for (_, h) in tidewater_storage::batch::BatchIter::new(&r.records) {
                    last = h.next_offset();
                }
                bytes += r.records.len();
                offset = last;
            }
            bytes
        })
    });
    g.bench_function("raw_read", |bench| {
        let f = std::fs::File::open(&raw_path).unwrap();
        let len = f.metadata().unwrap().len();
        bench.iter(|| {
            let mut pos = 0u64;
            while pos < len {
                let mut buf = vec![0u8; (1 << 20).min((len - pos) as usize)];
                f.read_exact_at(&mut buf, pos).unwrap();
                pos += buf.len() as u64;
            }
            pos
        })
    });
    g.finish();
}

criterion_group!(benches, append, read);
criterion_main!(benches);
