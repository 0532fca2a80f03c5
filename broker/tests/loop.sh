#!/usr/bin/env bash
# Runs cluster test files N times each and reports every failure (issue 17 item 7:
# "every cluster test passes 20 runs in a row"). Builds the test binaries once, then
# runs each binary directly, so a loop measures the tests, not cargo.
#
#   broker/tests/loop.sh [-n RUNS] [-o DIR] [TEST_FILE...]
#
# TEST_FILE is a file name under broker/tests without .rs (default: every test file
# that starts a cluster: kraft_*, crash_recovery, epoch_truncation, exactly_once,
# transactions_cluster). Each failed run's output is kept under DIR (default: a new
# temporary directory); the summary lists, per file, its passes and the failed tests.
set -euo pipefail
runs=20
out=""
while getopts "n:o:" opt; do
  case "$opt" in
    n) runs="$OPTARG" ;;
    o) out="$OPTARG" ;;
    *) echo "usage: $0 [-n RUNS] [-o DIR] [TEST_FILE...]" >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
if [ "$#" -gt 0 ]; then
  files=("$@")
else
  mapfile -t files < <(cd broker/tests && ls kraft_*.rs crash_recovery.rs epoch_truncation.rs \
    exactly_once.rs transactions_cluster.rs 2>/dev/null | sed 's/\.rs$//')
fi
out="${out:-$(mktemp -d -t tidewater-loop-XXXXXX)}"
mkdir -p "$out"
# The broker binary the cluster tests start, and each test file's binary.
cargo build -q -p tidewater-broker --bin tidewater-broker
declare -A bin
for f in "${files[@]}"; do
  bin[$f]="$(cargo test -q -p tidewater-broker --test "$f" --no-run --message-format=json 2>/dev/null \
    | python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and "test" in m["target"]["kind"]:
        print(m["executable"])' | tail -1)"
  [ -n "${bin[$f]}" ] || { echo "no test binary for $f" >&2; exit 2; }
done
failed_any=0
summary="$out/summary.txt"
: > "$summary"
for f in "${files[@]}"; do
  pass=0
  failures=""
  for i in $(seq 1 "$runs"); do
    log="$out/$f-$i.log"
    if (cd broker && "${bin[$f]}" > "$log" 2>&1); then
      pass=$((pass + 1))
      rm -f "$log"
    else
      failed_any=1
      names="$(grep -E '^test .* FAILED$' "$log" | sed -E 's/^test (.*) \.\.\. FAILED$/\1/' | tr '\n' ' ')"
      failures+="    run $i: ${names:-the binary failed} ($log)"$'\n'
    fi
  done
  printf '%s: %d/%d passed\n%s' "$f" "$pass" "$runs" "$failures" | tee -a "$summary"
done
echo "summary: $summary"
exit "$failed_any"
