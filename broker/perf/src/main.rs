//! `tidewater-perf`: produce and consume load against any Kafka-compatible broker,
//! in the manner of `kafka-producer-perf-test` / `kafka-consumer-perf-test`, on
//! librdkafka (the `rdkafka` crate) so the figures come from a real client.
//!
//! Prints progress to stderr, a human summary line and then one JSON line to stdout.
//! Exits non-zero when any record failed or the run could not complete.

mod consume;
mod e2e;
mod produce;
mod sink;
mod stats;
mod throttle;

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

/// Why a perf run could not complete.
#[derive(Debug, thiserror::Error)]
pub enum PerfError {
    #[error("kafka client: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error("latency histogram: {0}")]
    Histogram(#[from] hdrhistogram::CreationError),
    #[error("topic {0} not found in metadata")]
    NoTopic(String),
    #[error("topic {0}: {1}")]
    TopicError(String, String),
    #[error("only {got} of {wanted} records arrived; nothing new for {idle:?}")]
    Stalled {
        got: u64,
        wanted: u64,
        idle: Duration,
    },
    #[error("a delivery-report thread panicked")]
    Poisoned,
    #[error("{failed} of {total} records failed; first error: {first}")]
    DeliveryFailed {
        failed: u64,
        total: u64,
        first: String,
    },
    #[error("sink: {0}")]
    Sink(#[from] sink::SinkError),
    #[error("sink: {0}")]
    Io(#[from] std::io::Error),
    #[error("bad --producer-prop/--consumer-prop {0:?}: expected key=value")]
    BadProp(String),
}

#[derive(Debug, Parser)]
#[command(name = "tidewater-perf", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Produce records and report throughput and latency percentiles.
    Produce(ProduceArgs),
    /// A Kafka endpoint that acknowledges produces and serves fetches from memory,
    /// storing nothing: run produce/consume against it to measure the client's
    /// own ceiling on this machine (a measurement aid, not a broker).
    Sink {
        /// Address to listen on; port 0 picks a free one (printed on stdout).
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: String,
        /// Partitions every topic is said to have.
        #[arg(long, default_value_t = 6)]
        partitions: i32,
        /// Value bytes per record of the fetched template batch.
        #[arg(long, default_value_t = 1024)]
        record_size: usize,
        /// Records per fetched template batch.
        #[arg(long, default_value_t = 64)]
        batch_records: usize,
    },
    /// Produce at a fixed rate while consuming the same topic in this process, and
    /// report the send-to-receive (end-to-end) latency percentiles. The topic should
    /// be new: it is read from the beginning.
    E2e {
        /// What to produce; the value of each record starts with its send time.
        #[command(flatten)]
        produce: ProduceArgs,
        /// Extra librdkafka consumer property, repeatable.
        #[arg(long = "consumer-prop", value_name = "KEY=VALUE")]
        consumer_props: Vec<String>,
        /// Fail when no record arrives for this many milliseconds.
        #[arg(long, default_value_t = 30_000)]
        timeout_ms: u64,
    },
    /// Consume records from the beginning of a topic and report throughput.
    Consume {
        #[arg(long)]
        bootstrap: String,
        #[arg(long)]
        topic: String,
        #[arg(long)]
        num_records: u64,
        /// Subscribe as this consumer group instead of assigning all partitions.
        #[arg(long)]
        group: Option<String>,
        /// Fail when no record arrives for this many milliseconds.
        #[arg(long, default_value_t = 30_000)]
        timeout_ms: u64,
        /// Extra librdkafka consumer property, repeatable.
        #[arg(long = "consumer-prop", value_name = "KEY=VALUE")]
        props: Vec<String>,
    },
}

/// The producer side of `produce` and `e2e`.
#[derive(Debug, Args)]
struct ProduceArgs {
    #[arg(long)]
    bootstrap: String,
    #[arg(long)]
    topic: String,
    #[arg(long)]
    num_records: u64,
    /// Bytes of value per record (`e2e`: at least 9, the send time and a flag).
    #[arg(long)]
    record_size: usize,
    /// `acks`: 0, 1 or all (-1).
    #[arg(long, default_value = "1", allow_hyphen_values = true)]
    acks: String,
    /// Target records/s; -1 (default) for unlimited.
    #[arg(long, default_value_t = -1.0, allow_hyphen_values = true)]
    throughput: f64,
    /// Extra librdkafka producer property, repeatable.
    #[arg(long = "producer-prop", value_name = "KEY=VALUE")]
    props: Vec<String>,
    /// Seed of the payload bytes.
    #[arg(long, default_value_t = 0x7469_6465)]
    seed: u64,
}

impl ProduceArgs {
    fn spec(self) -> Result<produce::ProduceSpec, PerfError> {
        Ok(produce::ProduceSpec {
            bootstrap: self.bootstrap,
            topic: self.topic,
            num_records: self.num_records,
            record_size: self.record_size,
            acks: self.acks,
            throughput: self.throughput,
            props: parse_props(&self.props)?,
            report_every: Duration::from_secs(5),
            seed: self.seed,
        })
    }
}

/// Record values: a seeded pseudo-random buffer longer than one record, so records
/// differ (slices at different offsets) without generating bytes per record.
pub struct Payload {
    buf: Vec<u8>,
    size: usize,
}

impl Payload {
    const SPREAD: usize = 251;

    pub fn new(size: usize, seed: u64) -> Self {
        // xorshift64*: enough to defeat trivially compressible payloads.
        let mut x = seed.max(1);
        let buf = (0..size + Self::SPREAD)
            .map(|_| {
                x ^= x >> 12;
                x ^= x << 25;
                x ^= x >> 27;
                (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
            })
            .collect();
        Self { buf, size }
    }

    pub fn for_record(&self, i: u64) -> &[u8] {
        let off = (i % Self::SPREAD as u64) as usize;
        &self.buf[off..off + self.size]
    }
}

fn parse_props(raw: &[String]) -> Result<Vec<(String, String)>, PerfError> {
    raw.iter()
        .map(|p| match p.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
            _ => Err(PerfError::BadProp(p.clone())),
        })
        .collect()
}

fn run(cli: Cli) -> Result<(), PerfError> {
    match cli.command {
        Command::Sink {
            listen,
            partitions,
            record_size,
            batch_records,
        } => {
            let listener = std::net::TcpListener::bind(&listen)?;
            let local = listener.local_addr()?;
            let model = sink::SinkModel::new(
                local.ip().to_string(),
                i32::from(local.port()),
                partitions,
                record_size,
                batch_records,
            )?;
            sink::serve(listener, model)?;
            Ok(())
        }
        Command::Produce(args) => {
            let spec = args.spec()?;
            let num_records = spec.num_records;
            let r = produce::run(&spec)?;
            println!("{}", stats::produce_line(&r.throughput, &r.latency));
            let mut json = stats::produce_json(&r.throughput, &r.latency, r.errors);
            json["client_cpu_s"] = stats::process_cpu_seconds().into();
            println!("{json}");
            if r.errors > 0 {
                return Err(PerfError::DeliveryFailed {
                    failed: r.errors,
                    total: num_records,
                    first: r.first_error.unwrap_or_default(),
                });
            }
            Ok(())
        }
        Command::E2e {
            produce,
            consumer_props,
            timeout_ms,
        } => {
            let produce = produce.spec()?;
            let spec = e2e::E2eSpec {
                consume: consume::ConsumeSpec {
                    bootstrap: produce.bootstrap.clone(),
                    topic: produce.topic.clone(),
                    num_records: produce.num_records,
                    group: None,
                    idle_timeout: Duration::from_millis(timeout_ms),
                    props: parse_props(&consumer_props)?,
                },
                produce,
            };
            let r = e2e::run(&spec)?;
            println!("{}", stats::produce_line(&r.throughput, &r.latency));
            let mut json = stats::produce_json(&r.throughput, &r.latency, 0);
            json["mode"] = "e2e".into();
            json["client_cpu_s"] = stats::process_cpu_seconds().into();
            println!("{json}");
            Ok(())
        }
        Command::Consume {
            bootstrap,
            topic,
            num_records,
            group,
            timeout_ms,
            props,
        } => {
            let spec = consume::ConsumeSpec {
                bootstrap,
                topic,
                num_records,
                group,
                idle_timeout: Duration::from_millis(timeout_ms),
                props: parse_props(&props)?,
            };
            let r = consume::run(&spec)?;
            println!("{}", stats::consume_line(&r.throughput));
            let mut json = stats::consume_json(&r.throughput);
            json["total_s"] = r.total.as_secs_f64().into();
            json["client_cpu_s"] = stats::process_cpu_seconds().into();
            println!("{json}");
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tidewater-perf: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_definition_is_consistent_and_parses_the_documented_forms() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from([
            "tidewater-perf",
            "produce",
            "--bootstrap",
            "h:9092",
            "--topic",
            "t",
            "--num-records",
            "10",
            "--record-size",
            "100",
            "--acks",
            "-1",
            "--throughput",
            "-1",
            "--producer-prop",
            "linger.ms=0",
        ])
        .unwrap();
        assert!(matches!(cli.command, Command::Produce(ref a) if a.acks == "-1"));
        assert!(Cli::try_parse_from(["tidewater-perf", "consume", "--topic", "t"]).is_err());
    }

    #[test]
    fn props_parse_and_reject_garbage() {
        let ok = parse_props(&["linger.ms=0".into(), "a=b=c".into()]).unwrap();
        assert_eq!(ok[0], ("linger.ms".into(), "0".into()));
        assert_eq!(ok[1], ("a".into(), "b=c".into()));
        assert!(parse_props(&["novalue".into()]).is_err());
        assert!(parse_props(&["=x".into()]).is_err());
    }

    #[test]
    fn payloads_have_the_size_asked_and_vary() {
        let p = Payload::new(100, 42);
        assert_eq!(p.for_record(0).len(), 100);
        assert_eq!(p.for_record(1_000_003).len(), 100);
        assert_ne!(p.for_record(0), p.for_record(1));
        assert_eq!(Payload::new(100, 42).for_record(7), p.for_record(7));
    }
}
