//! The produce scenario: send N records of S bytes as fast as allowed (or at a target
//! rate) through librdkafka, recording the send-to-acknowledgement latency of each.
//!
//! A `ThreadedProducer` polls delivery reports on its own thread, so a latency is
//! recorded the moment its acknowledgement arrives rather than whenever the sending
//! loop happens to poll.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use rdkafka::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};

use crate::stats::{Latency, Throughput, latency_histogram};
use crate::throttle::Throttle;
use crate::{Payload, PerfError};

/// What to produce and how.
#[derive(Debug, Clone)]
pub struct ProduceSpec {
    pub bootstrap: String,
    pub topic: String,
    pub num_records: u64,
    pub record_size: usize,
    pub acks: String,
    /// Target records/s; zero or negative for unlimited.
    pub throughput: f64,
    /// Extra librdkafka properties (`key=value`), applied last.
    pub props: Vec<(String, String)>,
    /// Print a progress line this often.
    pub report_every: Duration,
    pub seed: u64,
}

/// The outcome of a produce run.
#[derive(Debug)]
pub struct ProduceResult {
    pub throughput: Throughput,
    pub latency: Latency,
    /// Records whose delivery failed.
    pub errors: u64,
    pub first_error: Option<String>,
}

/// Receives delivery reports on the producer's polling thread.
struct DeliveryTracker {
    /// Origin of the send timestamps carried in each record's delivery opaque.
    start: Instant,
    latencies: Mutex<Histogram<u64>>,
    acked: AtomicU64,
    failed: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl ClientContext for DeliveryTracker {}

impl ProducerContext for DeliveryTracker {
    /// Microseconds after `start` at which the record was handed to the client.
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, sent_at_us: usize) {
        match result {
            Ok(_) => {
                let now_us = self.start.elapsed().as_micros() as u64;
                let latency = now_us.saturating_sub(sent_at_us as u64).max(1);
                if let Ok(mut h) = self.latencies.lock() {
                    h.saturating_record(latency);
                }
                self.acked.fetch_add(1, Ordering::Relaxed);
            }
            Err((e, _)) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut first) = self.first_error.lock() {
                    first.get_or_insert_with(|| e.to_string());
                }
            }
        }
    }
}

pub(crate) fn producer_config(spec: &ProduceSpec) -> ClientConfig {
    let mut cfg = ClientConfig::new();
    cfg.set("bootstrap.servers", &spec.bootstrap)
        .set("acks", &spec.acks)
        .set("client.id", "tidewater-perf")
        // Throughput runs want full batches; a perf run can override any of these.
        .set("linger.ms", "5")
        .set("batch.num.messages", "10000")
        .set("batch.size", "1000000")
        .set("queue.buffering.max.messages", "1000000")
        .set("queue.buffering.max.kbytes", "1048576");
    for (k, v) in &spec.props {
        cfg.set(k, v);
    }
    cfg
}

/// Records sent between two looks at the progress-report timer.
const REPORT_CHECK_EVERY: u64 = 1024;

/// Runs the produce scenario and returns its figures.
pub fn run(spec: &ProduceSpec) -> Result<ProduceResult, PerfError> {
    let tracker = DeliveryTracker {
        start: Instant::now(),
        latencies: Mutex::new(latency_histogram()?),
        acked: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        first_error: Mutex::new(None),
    };
    let producer: ThreadedProducer<DeliveryTracker> =
        producer_config(spec).create_with_context(tracker)?;
    let payload = Payload::new(spec.record_size, spec.seed);
    let throttle = Throttle::new(spec.throughput);
    let start = Instant::now();
    let mut last_report = start;
    let mut last_acked = 0u64;
    for i in 0..spec.num_records {
        // Unthrottled, the loop reads the clock once per record (the send time): at
        // a million small records a second, each extra read costs the client ~3 %.
        if throttle.is_limited()
            && let Some(wait) = throttle.delay(i, start.elapsed())
        {
            thread::sleep(wait);
        }
        send_one(&producer, spec, payload.for_record(i))?;
        if i % REPORT_CHECK_EVERY == 0 && last_report.elapsed() >= spec.report_every {
            let acked = producer.context().acked.load(Ordering::Relaxed);
            let window = Throughput {
                records: acked - last_acked,
                bytes: (acked - last_acked) * spec.record_size as u64,
                elapsed: last_report.elapsed(),
            };
            eprintln!(
                "{} records acknowledged, {:.1} records/sec ({:.2} MB/sec).",
                window.records,
                window.records_per_sec(),
                window.mb_per_sec()
            );
            last_report = Instant::now();
            last_acked = acked;
        }
    }
    // Every record is either acknowledged or failed once flush returns.
    producer.flush(Duration::from_secs(120))?;
    let elapsed = start.elapsed();
    let ctx = producer.context();
    let acked = ctx.acked.load(Ordering::Relaxed);
    let latency = ctx
        .latencies
        .lock()
        .map(|h| Latency::from_histogram(&h))
        .map_err(|_| PerfError::Poisoned)?;
    let first_error = ctx
        .first_error
        .lock()
        .map_err(|_| PerfError::Poisoned)?
        .clone();
    Ok(ProduceResult {
        throughput: Throughput {
            records: acked,
            bytes: acked * spec.record_size as u64,
            elapsed,
        },
        latency,
        errors: ctx.failed.load(Ordering::Relaxed),
        first_error,
    })
}

/// Hands one record to librdkafka, waiting out a full local queue (backpressure)
/// instead of dropping the record.
fn send_one(
    producer: &ThreadedProducer<DeliveryTracker>,
    spec: &ProduceSpec,
    payload: &[u8],
) -> Result<(), PerfError> {
    let start = producer.context().start;
    loop {
        let sent_at = start.elapsed().as_micros() as usize;
        let record =
            BaseRecord::<[u8], [u8], usize>::with_opaque_to(&spec.topic, sent_at).payload(payload);
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                // The polling thread drains acknowledgements; give it a moment.
                producer.poll(Duration::from_millis(1));
            }
            Err((e, _)) => return Err(e.into()),
        }
    }
}
