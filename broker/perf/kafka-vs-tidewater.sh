#!/usr/bin/env bash
# Head-to-head benchmark (issue 15, part 3): Apache Kafka 4.4.0 and Tidewater, in turn,
# on this machine, driven by the same clients with the same settings.
#
# What it measures, for 1 node (RF 1) and then 3 nodes (RF 3, min.insync.replicas 2),
# all nodes combined broker+controller KRaft nodes on loopback, every log dir on the
# same disk (a scratch dir under $TMPDIR, default /tmp):
#   - start-up time: from launching the nodes to the first record acknowledged with
#     acks=all on an auto-created topic (kvt_probe.py, librdkafka);
#   - RSS summed over the nodes' processes (the JVMs', Tidewater's): idle after
#     start-up, and the peak while the clients below run;
#   - produce 100 B and 1 KiB records, acks=1 and acks=all, 6-partition topics, with
#     two clients: tidewater-perf (librdkafka; its defaults: linger.ms=5, 1 MB batches)
#     and Kafka's own kafka-producer-perf-test (org.apache.kafka.tools.ProducerPerformance,
#     linger.ms=5 batch.size=262144: JAVA_PRODUCER_PROPS);
#   - consume the 1 KiB records with tidewater-perf consume and kafka-consumer-perf-test
#     (ConsumerPerformance; its fetch.* figures, which leave the group join out), the
#     median of CONSUME_RUNS reads (3);
#   - each client's own ceiling (CEILING=1, the default): the throughput steps again
#     against `tidewater-perf sink`, which stores nothing and answers at once;
#   - latency at half the peak Kafka reached with the same client (1 KiB, acks=all),
#     the same rate for both, acks=all, linger.ms=1: end to end with tidewater-perf
#     (send -> consumed, `tidewater-perf e2e`, producer and consumer in one process) and
#     produce -> ack with kafka-producer-perf-test (--throughput), p50 and p99;
#   - the nodes' CPU seconds per step (which side the 2 cores went to).
# Kafka runs with the JVM options kafka-run-class.sh sets (G1, MaxGCPauseMillis=20, ...)
# and a heap of -Xmx1g -Xms1g (KAFKA_HEAP), as kafka-server-start.sh does; its jars come
# from broker/tests/kafka_tools/fetch-jars.sh (Maven, cached, never committed). Kafka's
# own logging is off (no SLF4J binding on that classpath), Tidewater logs to a file.
# It prints each figure for both, the ratio Tidewater/Kafka, and whether it meets the
# issue's goal: throughput >= 1.5x Kafka's, p99 <= 0.5x Kafka's, RSS <= 1/10 of Kafka's.
# Ratios from one run on one machine: a shared or busy machine moves both columns.
#
# Usage: broker/perf/kafka-vs-tidewater.sh          (full run, about 10-15 minutes)
#        QUICK=1 broker/perf/kafka-vs-tidewater.sh  (a minute or two: checks the script)
#   env: RECORDS_1K (800000), RECORDS_100B (4000000), LAT_SECONDS (20), LAT_RATE
#        (records/s of the latency runs; default half of Kafka's peak), CONSUME_RUNS (3),
#        CEILING (1), NODES ("1 3"),
#        BROKERS ("kafka tidewater"), KAFKA_HEAP, TOOL_HEAP (-Xmx512m for the Java
#        clients), JAVA_PRODUCER_PROPS, KEEP_WORK=1 (keep logs and configs), BROKER /
#        PERF (use these binaries instead of building them: the build compiles the
#        working tree), CARGO_TARGET_DIR. Needs java 17, mvn, python3 + confluent-kafka.
# Not part of the test suite: nothing calls it; it starts processes only under a
# scratch dir and ends every one of them on exit (trap), and removes the dir.
set -euo pipefail
cd "$(dirname "$0")/../.."

for tool in java mvn python3; do
  command -v "$tool" >/dev/null || { echo "missing $tool: run .ci/test to install it" >&2; exit 1; }
done
python3 -c 'import confluent_kafka' || { echo "missing python confluent-kafka" >&2; exit 1; }

TARGET=${CARGO_TARGET_DIR:-target}
if [ -n "${BROKER:-}" ]; then
  [ -x "$BROKER" ] || { echo "BROKER=$BROKER is not an executable" >&2; exit 1; }
  [ -n "${PERF:-}" ] || cargo build --release -q -p tidewater-perf
else
  cargo build --release -q -p tidewater-broker -p tidewater-perf
  BROKER=$TARGET/release/tidewater-broker
fi
PERF=${PERF:-$TARGET/release/tidewater-perf}
JARS=$(broker/tests/kafka_tools/fetch-jars.sh)

. broker/perf/run-driver.sh
KVT_JARS=$JARS KVT_BROKER=$BROKER KVT_PERF=$PERF \
  run_driver kafka-vs-tidewater sh -c 'KVT_WORK=$DRIVER_WORK exec python3 broker/perf/kafka_vs_tidewater.py'
