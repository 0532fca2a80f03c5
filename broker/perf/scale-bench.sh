#!/usr/bin/env bash
# Scale benchmark (issue 17 item 5): 3 combined broker+controller KRaft nodes on this
# machine (loopback, free ports, own data dirs under a scratch dir) with TOPICS topics x
# PARTITIONS partitions at RF 3 (default 1,000 x 10: 10,000 partitions, 30,000
# replicas, every node holding 10,000). Driver: scale_bench.py (confluent-kafka for
# CreateTopics and ElectLeaders, a plain-socket Metadata v1 request to each broker in
# turn, scale_meta.py, so each broker's own view is measured). Figures:
#   - creation: CreateTopics in batches of BATCH topics (as an admin client sends them),
#     until every partition has a leader in all 3 brokers' Metadata, and per broker
#     (metadata propagation); then until every ISR is full;
#   - idle CPU of the 3 processes over IDLE_S seconds after SETTLE_S seconds of rest
#     (utime+stime from /proc/<pid>/stat), goal < 5% of one core;
#   - RSS growth per replica: (VmRSS after creation and rest - VmRSS before) / replicas
#     on the node, goal <= 20 KiB;
#   - leader failover, FAILOVERS times: kill -9 of the non-controller node leading the
#     most partitions, until every partition it led has another leader in both
#     survivors' Metadata, goal <= 5 s; the node is restarted, rejoins every ISR and a
#     preferred election restores leadership before the next round. Median printed.
# Each node holds one open file per partition (its active segment's .log), so the
# script raises `ulimit -n` to the hard limit and refuses to start below what that needs.
#
# Usage: broker/perf/scale-bench.sh   (about 5-10 minutes with the defaults)
#   env: TOPICS (1000), PARTITIONS (10), BATCH (100), FAILOVERS (3), SETTLE_S (10),
#        IDLE_S (30), BROKER_PROPS ("key=value ..." added to every node's config, e.g.
#        broker.session.timeout.ms=3000), BROKER (use this binary instead of building
#        the working tree in release mode), KEEP_WORK=1 (keep logs and data).
# Not part of the test suite: nothing calls it; every process it starts is ended on
# exit, also on failure (trap), and its scratch dir removed.
set -euo pipefail
cd "$(dirname "$0")/../.."

python3 -c 'import confluent_kafka' || { echo "missing python confluent-kafka" >&2; exit 1; }
if [ -n "${BROKER:-}" ]; then
  [ -x "$BROKER" ] || { echo "BROKER=$BROKER is not an executable" >&2; exit 1; }
else
  cargo build --release -q -p tidewater-broker
  BROKER=${CARGO_TARGET_DIR:-target}/release/tidewater-broker
fi

TOPICS=${TOPICS:-1000} PARTITIONS=${PARTITIONS:-10}
NEED=$((TOPICS * PARTITIONS + 1000))
ulimit -n "$(ulimit -Hn)"
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$NEED" ]; then
  echo "ulimit -n is $(ulimit -n) (hard limit): each node needs about $NEED open files" >&2
  exit 1
fi

. broker/perf/run-driver.sh
SCALE_BROKER=$BROKER TOPICS=$TOPICS PARTITIONS=$PARTITIONS \
  run_driver scale-bench sh -c 'SCALE_WORK=$DRIVER_WORK exec python3 broker/perf/scale_bench.py'
