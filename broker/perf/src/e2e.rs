//! The end-to-end scenario: produce at a fixed rate while a consumer in the same
//! process reads the topic, and record, per record, the time from handing it to the
//! producer to the consumer receiving it (what `kafka-e2e-latency` measures one record
//! at a time, here under a steady load).
//!
//! Both ends share one `Instant` origin, so no clock skew enters the figure: each value
//! starts with the send time in microseconds after the origin (8 bytes, big-endian) and
//! a flag byte. Warm-up records (flag 0) go to each partition in turn until the consumer
//! has received one from every partition, so its start-up (metadata, offset lookups,
//! first fetches) is not counted; the measured records carry flag 1. The topic is read from the beginning of every
//! partition, so it should be new (or hold only earlier warm-up records).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use rdkafka::Message;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};

use crate::consume::{ConsumeSpec, assign_all, consumer_config};
use crate::produce::{ProduceSpec, producer_config};
use crate::stats::{Latency, Throughput, latency_histogram};
use crate::throttle::Throttle;
use crate::{Payload, PerfError};

/// Bytes at the start of each value: send time (u64 µs) and the measured flag.
const HEADER: usize = 9;
/// Pause between warm-up records while the consumer is not yet reading.
const WARMUP_EVERY: Duration = Duration::from_millis(10);

/// What to send and how to read it back.
#[derive(Debug, Clone)]
pub struct E2eSpec {
    /// The producer side; `record_size` is raised to the 9-byte header if smaller.
    pub produce: ProduceSpec,
    /// The consumer side: the same topic and record count; `group` is unused.
    pub consume: ConsumeSpec,
}

/// Figures of an end-to-end run: the send rate achieved and the latency of every
/// measured record.
#[derive(Debug)]
pub struct E2eResult {
    pub throughput: Throughput,
    pub latency: Latency,
}

/// The encoded header of a value: send time and whether the record is measured.
fn header(sent_us: u64, measured: bool) -> [u8; HEADER] {
    let mut h = [0u8; HEADER];
    h[..8].copy_from_slice(&sent_us.to_be_bytes());
    h[8] = u8::from(measured);
    h
}

/// Send time and measured flag of a value; `None` for a value too short to be ours.
fn parse_header(value: &[u8]) -> Option<(u64, bool)> {
    let sent = u64::from_be_bytes(value.get(..8)?.try_into().ok()?);
    Some((sent, *value.get(8)? == 1))
}

/// Runs the scenario: the consumer on a thread of its own, the producer here.
pub fn run(spec: &E2eSpec) -> Result<E2eResult, PerfError> {
    let (produce, consume) = (&spec.produce, &spec.consume);
    let record_size = produce.record_size.max(HEADER);
    let origin = Instant::now();
    // Bit p set: a warm-up record of partition p arrived (partitions past 63 share bits).
    let warm = Arc::new(AtomicU64::new(0));
    let consumer: BaseConsumer = consumer_config(consume).create()?;
    assign_all(&consumer, &consume.topic)?;
    let partitions = consumer.assignment()?.count().clamp(1, 64) as i32;
    let reader = {
        let (warm, wanted, idle) = (Arc::clone(&warm), consume.num_records, consume.idle_timeout);
        thread::spawn(move || read(&consumer, origin, &warm, wanted, idle))
    };
    let producer: ThreadedProducer<DefaultProducerContext> = producer_config(produce).create()?;
    let payload = Payload::new(record_size, produce.seed);
    let mut value = vec![0u8; record_size];
    let mut next = 0;
    while warm.load(Ordering::Acquire).count_ones() < partitions as u32 && !reader.is_finished() {
        value.copy_from_slice(payload.for_record(0));
        value[..HEADER].copy_from_slice(&header(origin.elapsed().as_micros() as u64, false));
        send(&producer, &produce.topic, Some(next), &value)?;
        next = (next + 1) % partitions;
        thread::sleep(WARMUP_EVERY);
    }
    let throttle = Throttle::new(produce.throughput);
    let start = Instant::now();
    for i in 0..produce.num_records {
        if reader.is_finished() {
            break; // the reader gave up; its error is reported below
        }
        if let Some(wait) = throttle.delay(i, start.elapsed()) {
            thread::sleep(wait);
        }
        value.copy_from_slice(payload.for_record(i));
        value[..HEADER].copy_from_slice(&header(origin.elapsed().as_micros() as u64, true));
        send(&producer, &produce.topic, None, &value)?;
    }
    let sent_for = start.elapsed();
    producer.flush(Duration::from_secs(120))?;
    let histogram = reader.join().map_err(|_| PerfError::Poisoned)??;
    Ok(E2eResult {
        throughput: Throughput {
            records: produce.num_records,
            bytes: produce.num_records * record_size as u64,
            elapsed: sent_for,
        },
        latency: Latency::from_histogram(&histogram),
    })
}

/// Reads until `wanted` measured records arrived, recording each one's latency.
fn read(
    consumer: &BaseConsumer,
    origin: Instant,
    warm: &AtomicU64,
    wanted: u64,
    idle: Duration,
) -> Result<Histogram<u64>, PerfError> {
    let mut h = latency_histogram()?;
    let mut got = 0u64;
    let mut last_progress = Instant::now();
    while got < wanted {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(msg)) => {
                let now_us = origin.elapsed().as_micros() as u64;
                match msg.payload().and_then(parse_header) {
                    Some((sent_us, true)) => {
                        h.saturating_record(now_us.saturating_sub(sent_us).max(1));
                        got += 1;
                        last_progress = Instant::now();
                    }
                    _ => {
                        warm.fetch_or(1 << (msg.partition().rem_euclid(64)), Ordering::AcqRel);
                    }
                }
            }
            Some(Err(e)) => return Err(e.into()),
            None if last_progress.elapsed() >= idle => {
                return Err(PerfError::Stalled { got, wanted, idle });
            }
            None => {}
        }
    }
    Ok(h)
}

/// Hands one record to librdkafka (which copies it), to `partition` or the
/// partitioner's choice, waiting out a full local queue.
fn send(
    producer: &ThreadedProducer<DefaultProducerContext>,
    topic: &str,
    partition: Option<i32>,
    value: &[u8],
) -> Result<(), PerfError> {
    loop {
        let mut record = BaseRecord::<[u8], [u8]>::to(topic).payload(value);
        record.partition = partition;
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                thread::sleep(Duration::from_millis(1));
            }
            Err((e, _)) => return Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_and_rejects_short_values() {
        let h = header(123_456_789, true);
        assert_eq!(parse_header(&h), Some((123_456_789, true)));
        let mut v = h.to_vec();
        v.extend_from_slice(b"payload");
        assert_eq!(parse_header(&v), Some((123_456_789, true)));
        assert_eq!(parse_header(&header(7, false)), Some((7, false)));
        assert_eq!(parse_header(&h[..8]), None);
        assert_eq!(parse_header(b""), None);
    }
}
