#!/usr/bin/env bash
# Transactional produce throughput (issue 16): one broker, 1 KiB records, acks=all,
# transactions of 1, 10 and 100 records against idempotent produce in the same run
# (txn_bench.py, confluent-kafka). Not part of the test suite.
#
# Usage: broker/perf/txn-bench.sh   (env: RECORDS, default 20000; BROKER, default the
# release build)
set -euo pipefail
cd "$(dirname "$0")/../.."
. broker/perf/wait-ready.sh

RECORDS=${RECORDS:-20000}
if [ -z "${BROKER:-}" ]; then
  cargo build --release -q -p tidewater-broker
  BROKER=${CARGO_TARGET_DIR:-target}/release/tidewater-broker
fi

WORK=$(mktemp -d /tmp/tidewater-txnbench.XXXXXX)
PID=
cleanup() {
  if [ -n "$PID" ]; then kill -9 "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
KAFKA=$(free_port)
HTTP=$(free_port)
cat > "$WORK/broker.properties" <<CFG
node.id=1
listeners=PLAINTEXT://127.0.0.1:$KAFKA
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA
log.dirs=$WORK/data
tidewater.http.listener=127.0.0.1:$HTTP
num.partitions=1
CFG
"$BROKER" format --config "$WORK/broker.properties" --cluster-id txn-bench >/dev/null
"$BROKER" start --config "$WORK/broker.properties" 2>"$WORK/broker.log" &
PID=$!
wait_ready "$HTTP"
python3 broker/perf/txn_bench.py --bootstrap "127.0.0.1:$KAFKA" --records "$RECORDS"
