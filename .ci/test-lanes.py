#!/usr/bin/env python3
"""Runs the workspace's test binaries in parallel lanes (.ci/test calls it).

`cargo test` runs one test binary after another. Most of ours start broker clusters and
spend their time waiting on them (elections, throttled copies, soak times), so two
binaries at once on two cores take far less wall time than one after the other. This
builds every test binary with the arguments given (as `cargo test ARGS --no-run`), then
runs them LANES at a time (default 2), the longest known first, each from its package's
directory as cargo does. Each binary's output is printed whole when it ends; the summary
names every failed binary, and the exit status is non-zero if any failed (every binary
runs, as with `--no-fail-fast`).

    .ci/test-lanes.py [--lanes N] [--] CARGO_TEST_ARGS...
"""

import json
import os
import subprocess
import sys
import tempfile
import threading
import time

# Binaries measured longest (seconds on a loaded 2-core machine), started first so the
# lanes end together. Unlisted ones follow in cargo's order.
LONGEST = [
    "local_rebalance", "kafka_tools", "upgrade", "kraft_throttle", "kraft_netsplit",
    "exactly_once", "local_tls", "local_roll", "sasl_listeners", "local",
    "kraft_admin", "kraft_drain", "tls_listeners", "kraft_consumer_protocol",
    "local_quorum", "confluent_admin", "crash_recovery",
]


def build(cargo_args):
    """Builds the test binaries; returns [(name, executable, package dir)]."""
    cmd = ["cargo", "test", *cargo_args, "--no-run", "--message-format=json-render-diagnostics"]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        sys.exit(f"test-lanes: `{' '.join(cmd)}` failed ({proc.returncode})")
    binaries = []
    for line in proc.stdout.splitlines():
        msg = json.loads(line)
        if msg.get("reason") != "compiler-artifact" or not msg.get("executable"):
            continue
        if not msg["profile"]["test"]:
            continue
        target = msg["target"]
        name = target["name"]
        # package_id: "path+file:///work/main/broker#tidewater-broker@0.3.0"
        package = msg["package_id"].rsplit("#", 1)[-1].split("@")[0]
        label = f"{package} {target['kind'][0]} {name}"
        binaries.append((name, label, msg["executable"], os.path.dirname(msg["manifest_path"])))
    return binaries


def order(binaries):
    rank = {name: i for i, name in enumerate(LONGEST)}
    return sorted(binaries, key=lambda b: rank.get(b[0], len(LONGEST)))


def main():
    args = sys.argv[1:]
    lanes = 2
    if args[:1] == ["--lanes"]:
        lanes = int(args[1])
        args = args[2:]
    if args[:1] == ["--"]:
        args = args[1:]
    queue = order(build(args))
    print(f"test-lanes: {len(queue)} test binaries, {lanes} at a time", flush=True)
    lock = threading.Lock()
    failed = []
    times = []

    def lane():
        while True:
            with lock:
                if not queue:
                    return
                name, label, exe, pkg_dir = queue.pop(0)
            started = time.monotonic()
            with tempfile.TemporaryFile(mode="w+") as out:
                env = dict(os.environ, CARGO_MANIFEST_DIR=pkg_dir)
                rc = subprocess.run([exe], cwd=pkg_dir, env=env, stdout=out,
                                    stderr=subprocess.STDOUT).returncode
                took = time.monotonic() - started
                out.seek(0)
                text = out.read()
            with lock:
                print(f"\n     Running {label} ({exe}) took {took:.1f} s, exit {rc}", flush=True)
                sys.stdout.write(text)
                sys.stdout.flush()
                times.append((took, label))
                if rc != 0:
                    failed.append(label)

    started = time.monotonic()
    threads = [threading.Thread(target=lane) for _ in range(lanes)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(f"\ntest-lanes: {len(times)} binaries in {time.monotonic() - started:.0f} s; longest:")
    for took, label in sorted(times, reverse=True)[:8]:
        print(f"  {took:7.1f} s  {label}")
    if failed:
        print(f"test-lanes: {len(failed)} failed:")
        for label in failed:
            print(f"  {label}")
        sys.exit(101)
    print("test-lanes: all passed")


if __name__ == "__main__":
    main()
