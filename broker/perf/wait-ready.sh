# Sourced by the perf scripts that start brokers themselves:
#   wait_ready HTTP_PORT [SECONDS]
# returns once the broker's /readyz on 127.0.0.1:HTTP_PORT answers 200, or exits the
# script after SECONDS (default 60).
wait_ready() {
  python3 - "$1" "${2:-60}" <<'PY'
import sys, time, urllib.request
end = time.time() + float(sys.argv[2])
while True:
    try:
        if urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/readyz", timeout=1).status == 200:
            break
    except Exception:
        if time.time() > end:
            sys.exit(f"broker not ready after {sys.argv[2]} s")
        time.sleep(0.1)
PY
}
