//! `tidewater-perf`: produce and consume load against any Kafka-compatible broker.

fn main() {
    println!("tidewater-perf {}", env!("CARGO_PKG_VERSION"));
}
