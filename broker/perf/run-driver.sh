# Sourced by the perf scripts whose Python driver starts the processes:
#   run_driver PREFIX COMMAND...
# makes a scratch dir ${TMPDIR:-/tmp}/PREFIX.XXXXXX, exports it as DRIVER_WORK, runs
# COMMAND (the driver) and, on any exit, ends the driver, then every process it left
# (its pids are listed in $DRIVER_WORK/pids, each the leader of its own session) and
# removes the dir unless KEEP_WORK=1.
run_driver() {
  DRIVER_WORK=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
  export DRIVER_WORK
  shift
  DRIVER_PID=""
  trap driver_cleanup EXIT
  trap 'exit 130' INT TERM
  "$@" &
  DRIVER_PID=$!
  wait "$DRIVER_PID"
  DRIVER_PID=""
}

driver_cleanup() {
  # The driver ends its own children; this catches what it left if it was killed.
  [ -n "$DRIVER_PID" ] && kill -TERM "$DRIVER_PID" 2>/dev/null && wait "$DRIVER_PID" 2>/dev/null || true
  if [ -f "$DRIVER_WORK/pids" ]; then
    while read -r pid; do kill -KILL -- "-$pid" 2>/dev/null || true; done <"$DRIVER_WORK/pids"
  fi
  if [ "${KEEP_WORK:-}" = 1 ]; then echo "kept $DRIVER_WORK" >&2; else rm -rf "$DRIVER_WORK"; fi
}
