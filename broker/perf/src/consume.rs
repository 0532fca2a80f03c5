//! The consume scenario: read N records of a topic from the beginning of every
//! partition through librdkafka and measure records/s and MB/s.
//!
//! Partitions are assigned directly (no group) so the figure measures fetching, not
//! group rebalancing; `--group` switches to subscribing like kafka-consumer-perf-test.

use std::time::{Duration, Instant};

use rdkafka::Message;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

use crate::PerfError;
use crate::stats::Throughput;

/// What to consume and how.
#[derive(Debug, Clone)]
pub struct ConsumeSpec {
    pub bootstrap: String,
    pub topic: String,
    pub num_records: u64,
    /// Subscribe with this group instead of assigning every partition.
    pub group: Option<String>,
    /// Give up when no record arrives for this long.
    pub idle_timeout: Duration,
    /// Extra librdkafka properties (`key=value`), applied last.
    pub props: Vec<(String, String)>,
}

/// Figures of a consume run. `elapsed` runs from the first record received to the
/// last, so connection and metadata set-up are not counted; `total` includes them.
#[derive(Debug)]
pub struct ConsumeResult {
    pub throughput: Throughput,
    pub total: Duration,
}

pub(crate) fn consumer_config(spec: &ConsumeSpec) -> ClientConfig {
    let mut cfg = ClientConfig::new();
    let group = spec
        .group
        .clone()
        .unwrap_or_else(|| format!("tidewater-perf-{}", std::process::id()));
    cfg.set("bootstrap.servers", &spec.bootstrap)
        .set("group.id", group)
        .set("client.id", "tidewater-perf")
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false");
    for (k, v) in &spec.props {
        cfg.set(k, v);
    }
    cfg
}

/// Runs the consume scenario; fails when fewer than `num_records` arrive before the
/// idle timeout.
pub fn run(spec: &ConsumeSpec) -> Result<ConsumeResult, PerfError> {
    let consumer: BaseConsumer = consumer_config(spec).create()?;
    let start = Instant::now();
    if let Some(_group) = &spec.group {
        consumer.subscribe(&[&spec.topic])?;
    } else {
        assign_all(&consumer, &spec.topic)?;
    }
    let mut records = 0u64;
    let mut bytes = 0u64;
    let mut first: Option<Instant> = None;
    let mut last_progress = Instant::now();
    while records < spec.num_records {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(msg)) => {
                first.get_or_insert_with(Instant::now);
                records += 1;
                bytes += msg.payload_len() as u64 + msg.key().map_or(0, |k| k.len() as u64);
                last_progress = Instant::now();
            }
            Some(Err(e)) => return Err(e.into()),
            None if last_progress.elapsed() >= spec.idle_timeout => {
                return Err(PerfError::Stalled {
                    got: records,
                    wanted: spec.num_records,
                    idle: spec.idle_timeout,
                });
            }
            None => {}
        }
    }
    let end = Instant::now();
    let from = first.unwrap_or(start);
    Ok(ConsumeResult {
        throughput: Throughput {
            records,
            bytes,
            elapsed: end.duration_since(from),
        },
        total: end.duration_since(start),
    })
}

/// Assigns every partition of `topic` from its earliest offset.
pub(crate) fn assign_all(consumer: &BaseConsumer, topic: &str) -> Result<(), PerfError> {
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(30))?;
    let topic_md = metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .ok_or_else(|| PerfError::NoTopic(topic.to_owned()))?;
    if let Some(err) = topic_md.error() {
        return Err(PerfError::TopicError(topic.to_owned(), format!("{err:?}")));
    }
    if topic_md.partitions().is_empty() {
        return Err(PerfError::NoTopic(topic.to_owned()));
    }
    let mut tpl = TopicPartitionList::new();
    for p in topic_md.partitions() {
        tpl.add_partition_offset(topic, p.id(), Offset::Beginning)?;
    }
    consumer.assign(&tpl)?;
    Ok(())
}
