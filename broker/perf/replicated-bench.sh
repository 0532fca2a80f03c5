#!/usr/bin/env bash
# Replication cost on this machine: 1 KiB records, acks=all, through tidewater-perf
# (librdkafka), first against one broker (6 partitions, RF 1), then against 3 combined
# KRaft nodes on loopback (6 partitions, RF 3, min.insync.replicas 2), in the same run.
# Prints MB/s and p99 of each and their ratio (the issue's target: 3-broker >= 0.4 of
# the single broker). Not part of the test suite.
#
# Usage: broker/perf/replicated-bench.sh   (env: RECORDS, default 300000; CARGO_TARGET_DIR
# is honoured)
set -euo pipefail
cd "$(dirname "$0")/../.."
. broker/perf/wait-ready.sh
. broker/perf/bench-lib.sh

RECORDS=${RECORDS:-300000}
cargo build --release -q -p tidewater-broker -p tidewater-perf
TARGET=${CARGO_TARGET_DIR:-target}
BROKER=$TARGET/release/tidewater-broker
PERF=$TARGET/release/tidewater-perf

WORK=$(mktemp -d /tmp/tidewater-rbench.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

json_field() { python3 -c 'import json,sys; d=json.loads(sys.stdin.read().strip().splitlines()[-1])
for k in sys.argv[1].split("."): d=d[k]
print(d)' "$1"; }



# --- one broker --------------------------------------------------------------------
KP=$(free_port); HP=$(free_port)
cat >"$WORK/single.properties" <<CFG
node.id=1
listeners=PLAINTEXT://127.0.0.1:$KP
log.dirs=$WORK/single
tidewater.http.listener=127.0.0.1:$HP
CFG
"$BROKER" format --config "$WORK/single.properties" --cluster-id rbench-single >/dev/null
"$BROKER" start --config "$WORK/single.properties" 2>"$WORK/single.log" &
PIDS+=($!)
wait_ready "$HP"
create_topic "127.0.0.1:$KP" bench 1
SINGLE=$("$PERF" produce --bootstrap "127.0.0.1:$KP" --topic bench --num-records "$RECORDS" --record-size 1024 --acks all | tail -1)
# Latency at a fixed rate (a quarter of the single broker's peak, linger.ms=1), where
# p99 shows replication's cost rather than queueing behind a saturated machine.
RATE=${RATE:-$(echo "$SINGLE" | json_field records_per_sec | python3 -c "import sys; print(int(float(sys.stdin.read())/4))")}
RATED_N=$((RATE * 10))
create_topic "127.0.0.1:$KP" rated 1
SINGLE_RATED=$("$PERF" produce --bootstrap "127.0.0.1:$KP" --topic rated --num-records "$RATED_N" --record-size 1024 --acks all --throughput "$RATE" --producer-prop linger.ms=1 | tail -1)
kill -9 "${PIDS[0]}"; wait "${PIDS[0]}" 2>/dev/null || true; PIDS=()

# --- three combined KRaft nodes ------------------------------------------------------
declare -a K C H
for i in 1 2 3; do K[$i]=$(free_port); C[$i]=$(free_port); H[$i]=$(free_port); done
VOTERS="1@127.0.0.1:${C[1]},2@127.0.0.1:${C[2]},3@127.0.0.1:${C[3]}"
for i in 1 2 3; do
  cat >"$WORK/n$i.properties" <<CFG
node.id=$i
process.roles=broker,controller
controller.quorum.voters=$VOTERS
controller.listener.names=CONTROLLER
listeners=PLAINTEXT://127.0.0.1:${K[$i]},CONTROLLER://127.0.0.1:${C[$i]}
log.dirs=$WORK/n$i
tidewater.http.listener=127.0.0.1:${H[$i]}
broker.rack=r$i
CFG
  "$BROKER" format --config "$WORK/n$i.properties" --cluster-id rbench-cluster >/dev/null
done
for i in 1 2 3; do
  "$BROKER" start --config "$WORK/n$i.properties" 2>"$WORK/n$i.log" &
  PIDS+=($!)
done
for i in 1 2 3; do wait_ready "${H[$i]}"; done
BS="127.0.0.1:${K[1]},127.0.0.1:${K[2]},127.0.0.1:${K[3]}"
create_topic "$BS" bench 3
CLUSTER=$("$PERF" produce --bootstrap "$BS" --topic bench --num-records "$RECORDS" --record-size 1024 --acks all | tail -1)
create_topic "$BS" rated 3
CLUSTER_RATED=$("$PERF" produce --bootstrap "$BS" --topic rated --num-records "$RATED_N" --record-size 1024 --acks all --throughput "$RATE" --producer-prop linger.ms=1 | tail -1)

S_MBS=$(echo "$SINGLE" | json_field mb_per_sec); S_P99=$(echo "$SINGLE" | json_field latency_ms.p99)
C_MBS=$(echo "$CLUSTER" | json_field mb_per_sec); C_P99=$(echo "$CLUSTER" | json_field latency_ms.p99)
SR_P99=$(echo "$SINGLE_RATED" | json_field latency_ms.p99); CR_P99=$(echo "$CLUSTER_RATED" | json_field latency_ms.p99)
python3 - "$S_MBS" "$S_P99" "$C_MBS" "$C_P99" "$RATE" "$SR_P99" "$CR_P99" <<'PY'
import sys
s_mbs, s_p99, c_mbs, c_p99, rate, sr_p99, cr_p99 = map(float, sys.argv[1:])
print(f"single broker, RF 1, acks=all : {s_mbs:8.1f} MB/s  p99 {s_p99:7.1f} ms")
print(f"3 brokers, RF 3, acks=all     : {c_mbs:8.1f} MB/s  p99 {c_p99:7.1f} ms")
print(f"throughput ratio (target >= 0.4): {c_mbs / s_mbs:.2f}")
print(f"p99 ratio (single / cluster)    : {s_p99 / c_p99:.2f}  (both saturated)")
print(f"at {int(rate)} records/s, linger.ms=1: single p99 {sr_p99:.1f} ms, 3 brokers p99 {cr_p99:.1f} ms, ratio {sr_p99 / cr_p99:.2f}")
PY
