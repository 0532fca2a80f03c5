//! Figures of a perf run: rates, latency percentiles and their two renderings (the
//! kafka-producer-perf-test style human line and one machine-readable JSON line).
//!
//! Pure computation on counts, byte totals, durations and a latency histogram; no
//! client or clock lives here.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::{Value, json};

/// Lowest and highest latency the histogram tracks, in microseconds (1 µs .. 10 min).
const LATENCY_MIN_US: u64 = 1;
const LATENCY_MAX_US: u64 = 600_000_000;

/// A histogram of produce latencies in microseconds, with 3 significant digits.
pub fn latency_histogram() -> Result<Histogram<u64>, hdrhistogram::CreationError> {
    Histogram::new_with_bounds(LATENCY_MIN_US, LATENCY_MAX_US, 3)
}

/// Throughput of a run: how many records and bytes moved in how long.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Throughput {
    pub records: u64,
    pub bytes: u64,
    pub elapsed: Duration,
}

impl Throughput {
    pub fn records_per_sec(&self) -> f64 {
        per_sec(self.records as f64, self.elapsed)
    }

    /// Megabytes (2^20 bytes, as kafka-producer-perf-test counts them) per second.
    pub fn mb_per_sec(&self) -> f64 {
        per_sec(self.bytes as f64 / (1024.0 * 1024.0), self.elapsed)
    }
}

fn per_sec(amount: f64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 { amount / secs } else { 0.0 }
}

/// Produce latencies in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Latency {
    pub avg_ms: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    pub fn from_histogram(h: &Histogram<u64>) -> Self {
        let ms = |us: u64| us as f64 / 1000.0;
        Self {
            avg_ms: h.mean() / 1000.0,
            p50_ms: ms(h.value_at_quantile(0.50)),
            p95_ms: ms(h.value_at_quantile(0.95)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            p999_ms: ms(h.value_at_quantile(0.999)),
            max_ms: ms(h.max()),
        }
    }
}

/// The human summary line of a produce run, worded like kafka-producer-perf-test.
pub fn produce_line(t: &Throughput, l: &Latency) -> String {
    format!(
        "{} records sent, {:.1} records/sec ({:.2} MB/sec), {:.3} ms avg latency, \
         {:.3} ms max latency, {:.3} ms 50th, {:.3} ms 95th, {:.3} ms 99th, {:.3} ms 99.9th.",
        t.records,
        t.records_per_sec(),
        t.mb_per_sec(),
        l.avg_ms,
        l.max_ms,
        l.p50_ms,
        l.p95_ms,
        l.p99_ms,
        l.p999_ms
    )
}

/// The human summary line of a consume run.
pub fn consume_line(t: &Throughput) -> String {
    format!(
        "{} records consumed, {:.1} records/sec ({:.2} MB/sec) in {:.3} s.",
        t.records,
        t.records_per_sec(),
        t.mb_per_sec(),
        t.elapsed.as_secs_f64()
    )
}

/// The machine-readable summary of a produce run (one JSON object).
pub fn produce_json(t: &Throughput, l: &Latency, errors: u64) -> Value {
    json!({
        "mode": "produce",
        "records": t.records,
        "bytes": t.bytes,
        "errors": errors,
        "elapsed_s": t.elapsed.as_secs_f64(),
        "records_per_sec": t.records_per_sec(),
        "mb_per_sec": t.mb_per_sec(),
        "latency_ms": {
            "avg": l.avg_ms, "p50": l.p50_ms, "p95": l.p95_ms,
            "p99": l.p99_ms, "p99_9": l.p999_ms, "max": l.max_ms,
        },
    })
}

/// The machine-readable summary of a consume run (one JSON object).
pub fn consume_json(t: &Throughput) -> Value {
    json!({
        "mode": "consume",
        "records": t.records,
        "bytes": t.bytes,
        "elapsed_s": t.elapsed.as_secs_f64(),
        "records_per_sec": t.records_per_sec(),
        "mb_per_sec": t.mb_per_sec(),
    })
}

/// CPU time (user + system, all threads) this process used so far, from
/// `/proc/self/stat`; `None` off Linux or if the file is unreadable. Tells whether
/// the client or the broker, sharing one machine, was the bottleneck of a run.
pub fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    cpu_seconds_from_stat(&stat)
}

/// Parses utime + stime (fields 14 and 15) of a `/proc/PID/stat` line. Linux reports
/// them in USER_HZ ticks, which is 100 on every architecture it exposes to users.
fn cpu_seconds_from_stat(stat: &str) -> Option<f64> {
    const USER_HZ: f64 = 100.0;
    // The command name (field 2) may hold spaces; fields after it follow the last ')'.
    let after_comm = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    // after_comm starts at field 3, so fields 14 and 15 are at 11 and 12.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / USER_HZ)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_comes_from_utime_and_stime() {
        let line = "4242 (tide water) S 1 2 3 4 5 6 7 8 9 10 150 50 0 0 20 0 3 0";
        assert_eq!(cpu_seconds_from_stat(line), Some(2.0));
        assert_eq!(cpu_seconds_from_stat("garbage"), None);
        assert!(process_cpu_seconds().is_some());
    }

    #[test]
    fn rates_follow_counts_and_time() {
        let t = Throughput {
            records: 2048,
            bytes: 2 * 1024 * 1024,
            elapsed: Duration::from_millis(500),
        };
        assert!((t.records_per_sec() - 4096.0).abs() < 1e-9);
        assert!((t.mb_per_sec() - 4.0).abs() < 1e-9);
        let zero = Throughput {
            elapsed: Duration::ZERO,
            ..t
        };
        assert_eq!(zero.records_per_sec(), 0.0);
    }

    #[test]
    fn percentiles_come_from_the_histogram() {
        let mut h = latency_histogram().unwrap();
        for us in 1..=1000u64 {
            h.record(us * 10).unwrap();
        }
        let l = Latency::from_histogram(&h);
        // Values 10 µs .. 10 ms evenly: p50 about 5 ms, p99 about 9.9 ms, max 10 ms.
        assert!((l.p50_ms - 5.0).abs() < 0.02, "{l:?}");
        assert!((l.p99_ms - 9.9).abs() < 0.02, "{l:?}");
        assert!((l.max_ms - 10.0).abs() < 0.02, "{l:?}");
        assert!((l.avg_ms - 5.005).abs() < 0.02, "{l:?}");
    }

    #[test]
    fn json_lines_carry_the_figures() {
        let t = Throughput {
            records: 10,
            bytes: 1000,
            elapsed: Duration::from_secs(1),
        };
        let mut h = latency_histogram().unwrap();
        h.record(2000).unwrap();
        let v = produce_json(&t, &Latency::from_histogram(&h), 1);
        assert_eq!(v["records"], 10);
        assert_eq!(v["errors"], 1);
        assert!((v["latency_ms"]["p99"].as_f64().unwrap() - 2.0).abs() < 0.01);
        assert_eq!(consume_json(&t)["mode"], "consume");
        assert!(produce_line(&t, &Latency::from_histogram(&h)).starts_with("10 records sent"));
    }
}
