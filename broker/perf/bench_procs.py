"""Process and /proc helpers shared by the perf drivers (kafka_vs_tidewater.py,
scale_bench.py): child processes in sessions of their own whose pids are kept in
$WORK/pids (what the shell script's trap ends if a driver dies), free ports below the
ephemeral range, and the nodes' RSS and CPU time read from /proc.

Call `init(work_dir)` once before `spawn`.
"""

import os
import signal
import socket
import subprocess
import sys
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")

children = []
_pid_dir = [None]


def init(work):
    _pid_dir[0] = work


def track(p=None, gone=None):
    """Keeps `children` and $WORK/pids (what the shell's trap would end) in step:
    only processes of ours that are still running are listed."""
    if p is not None:
        children.append(p)
    if gone is not None and gone in children:
        children.remove(gone)
    work = _pid_dir[0]
    with open(os.path.join(work, "pids.tmp"), "w") as f:
        f.writelines(f"{c.pid}\n" for c in children)
    os.replace(os.path.join(work, "pids.tmp"), os.path.join(work, "pids"))


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def spawn(args, out_path):
    """Starts a process in a session of its own, output to a file; remembers its pid."""
    out = open(out_path, "ab")
    p = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    out.close()
    track(p)
    return p


def stop(procs, grace=15.0):
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
    end = time.time() + grace
    for p in procs:
        try:
            p.wait(max(0.1, end - time.time()))
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
        track(gone=p)


def kill9(p):
    """kill -9 of one child (its whole session), reaped."""
    if p.poll() is None:
        os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    track(gone=p)


EPHEMERAL_START = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
_next_port = [10_000 + (os.getpid() * 2_654_435_761) % (EPHEMERAL_START - 10_000)]


def free_port():
    """A free port below the ephemeral range (see broker/tests/common/ports.rs: a port
    the kernel hands out for bind(0) may be taken as a client's source port meanwhile)."""
    span = EPHEMERAL_START - 10_000
    for _ in range(span):
        port = 10_000 + (_next_port[0] - 10_000) % span
        _next_port[0] += 1
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    sys.exit("no free port below the ephemeral range")


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def rss_mb(pids):
    return sum(rss_kib(pid) for pid in pids) / 1024


def cpu_s(pids):
    total = 0.0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / CLK_TCK
    return total
