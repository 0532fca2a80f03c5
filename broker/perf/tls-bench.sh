#!/usr/bin/env bash
# TLS against plaintext on one broker (issue 14): the same release broker serves a
# PLAINTEXT and an SSL listener; tidewater-perf (librdkafka) produces 1 KiB records
# (acks=1) and consumes them back through each, alternating, for ROUNDS rounds. Prints
# each run, the median per listener and the SSL/plaintext ratios of throughput and of
# the broker's CPU seconds per GB moved. Not part of the test suite.
#
# What TLS costs here: encryption on both sides of loopback (rustls in the broker,
# OpenSSL in librdkafka), and the consumer side loses zero-copy: a plaintext fetch
# sends large record sets straight from the segment file (sendfile), an SSL fetch
# must read them into memory and encrypt them, as Kafka does without kTLS.
#
# Usage: broker/perf/tls-bench.sh
#   env: RECORDS (default 500000), ROUNDS (default 3); BROKER / PERF: binaries to use
#   instead of building them (release; PERF built with `--features tls`);
#   CARGO_TARGET_DIR is honoured. Needs libssl-dev for librdkafka's OpenSSL.
set -euo pipefail
cd "$(dirname "$0")/../.."
. broker/perf/wait-ready.sh
. broker/perf/bench-lib.sh

RECORDS=${RECORDS:-500000}
ROUNDS=${ROUNDS:-3}
for tool in openssl python3; do
  command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 1; }
done

TARGET=${CARGO_TARGET_DIR:-target}
if [ -z "${BROKER:-}" ]; then
  cargo build --release -q -p tidewater-broker
  BROKER=$TARGET/release/tidewater-broker
fi
if [ -z "${PERF:-}" ]; then
  # librdkafka with OpenSSL: the `tls` feature (needs libssl-dev).
  cargo build --release -q -p tidewater-perf --features tls
  PERF=$TARGET/release/tidewater-perf
fi

WORK=$(mktemp -d /tmp/tidewater-tls-bench.XXXXXX)
BROKER_PID=""
cleanup() {
  [ -n "$BROKER_PID" ] && kill -TERM "$BROKER_PID" 2>/dev/null && wait "$BROKER_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT


# --- a CA and the broker's certificate (P-256, as a client CA would issue) ----------
PKI=$WORK/pki
mkdir -p "$PKI"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj "/CN=Tidewater bench CA" -keyout "$PKI/ca.key" -out "$PKI/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -subj "/CN=localhost" -keyout "$PKI/broker.key" -out "$PKI/broker.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$PKI/san.ext"
openssl x509 -req -in "$PKI/broker.csr" -CA "$PKI/ca.pem" -CAkey "$PKI/ca.key" \
  -CAcreateserial -days 2 -extfile "$PKI/san.ext" -out "$PKI/broker.crt" 2>/dev/null
cat "$PKI/broker.crt" "$PKI/broker.key" >"$PKI/broker.pem"

# --- one broker, two listeners ------------------------------------------------------
PPORT=$(free_port); SPORT=$(free_port); HPORT=$(free_port)
cat >"$WORK/broker.properties" <<CFG
node.id=1
listeners=PLAINTEXT://127.0.0.1:$PPORT,SSL://127.0.0.1:$SPORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PPORT,SSL://127.0.0.1:$SPORT
ssl.keystore.type=PEM
ssl.keystore.location=$PKI/broker.pem
log.dirs=$WORK/data
tidewater.http.listener=127.0.0.1:$HPORT
group.initial.rebalance.delay.ms=0
offsets.topic.num.partitions=5
auto.create.topics.enable=false
CFG
"$BROKER" format --config "$WORK/broker.properties" --cluster-id tls-bench >/dev/null
"$BROKER" start --config "$WORK/broker.properties" 2>"$WORK/broker.log" &
BROKER_PID=$!
wait_ready "$HPORT" 30


broker_cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{print ($14+$15)/hz}' "/proc/$BROKER_PID/stat"; }

# run LISTENER KIND TOPIC: one tidewater-perf run; prints "LISTENER KIND MB/s CPU-s".
run() {
  local listener=$1 kind=$2 topic=$3 bs props=() flag before line
  if [ "$listener" = ssl ]; then
    bs=127.0.0.1:$SPORT
    [ "$kind" = produce ] && flag=--producer-prop || flag=--consumer-prop
    props=("$flag" security.protocol=SSL "$flag" "ssl.ca.location=$PKI/ca.pem")
  else
    bs=127.0.0.1:$PPORT
  fi
  before=$(broker_cpu_s)
  if [ "$kind" = produce ]; then
    line=$("$PERF" produce --bootstrap "$bs" --topic "$topic" --num-records "$RECORDS" \
      --record-size 1024 --acks 1 "${props[@]}" | tail -1)
  else
    line=$("$PERF" consume --bootstrap "$bs" --topic "$topic" --num-records "$RECORDS" \
      "${props[@]}" | tail -1)
  fi
  python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(sys.argv[2], sys.argv[3], round(d["mb_per_sec"], 1), round(float(sys.argv[5])-float(sys.argv[4]), 2))' \
    "$line" "$listener" "$kind" "$before" "$(broker_cpu_s)"
}

: >"$WORK/runs"
for round in $(seq "$ROUNDS"); do
  # Alternate which listener goes first, so a trend on the machine hits both alike.
  order=(plaintext ssl)
  [ $((round % 2)) = 0 ] && order=(ssl plaintext)
  for listener in "${order[@]}"; do
    topic=tls-bench-$listener-$round
    create_topic "127.0.0.1:$PPORT" "$topic"
    run "$listener" produce "$topic" | tee -a "$WORK/runs"
    run "$listener" consume "$topic" | tee -a "$WORK/runs"
  done
done

python3 - "$WORK/runs" "$RECORDS" <<'PY'
import statistics, sys
runs = [l.split() for l in open(sys.argv[1]) if l.strip()]
gb = int(sys.argv[2]) * 1024 / 1e9
med = {}
for listener in ("plaintext", "ssl"):
    for kind in ("produce", "consume"):
        rows = [r for r in runs if r[0] == listener and r[1] == kind]
        med[listener, kind] = (
            statistics.median(float(r[2]) for r in rows),
            statistics.median(float(r[3]) for r in rows) / gb,
        )
print(f"\n{'1 KiB records, acks=1, one broker':<36} {'plaintext':>10} {'ssl':>10} {'ssl/plain':>10}")
for kind in ("produce", "consume"):
    (p, pc), (s, sc) = med["plaintext", kind], med["ssl", kind]
    print(f"{kind + ' MB/s (median)':<36} {p:>10.1f} {s:>10.1f} {s / p:>10.2f}")
    print(f"{kind + ' broker CPU s per GB':<36} {pc:>10.2f} {sc:>10.2f} {sc / pc:>10.2f}")
PY
