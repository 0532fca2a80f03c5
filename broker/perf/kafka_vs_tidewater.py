#!/usr/bin/env python3
"""Driver of broker/perf/kafka-vs-tidewater.sh: Apache Kafka and Tidewater in turn,
the same clients and settings against each, one table of figures and ratios.

Run it through the shell script (which builds Tidewater, fetches Kafka's jars and
cleans up); it reads its paths from the environment:
  KVT_JARS  dir of Kafka's jars        KVT_BROKER  tidewater-broker binary
  KVT_PERF  tidewater-perf binary      KVT_WORK    scratch dir (log dirs, logs, pids)
and the knobs documented in the script's header.

Every process it starts runs in a session of its own, its pid is appended to
$KVT_WORK/pids (so the shell's trap can end it if this driver dies), and it is ended
(TERM, then KILL) when its cluster stops or the driver exits.
"""

import base64
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid

from confluent_kafka.admin import AdminClient, NewTopic

import bench_procs
from bench_procs import children, cpu_s, free_port, log, rss_mb, spawn, stop, track
from kvt_report import Figures, print_table

QUICK = os.environ.get("QUICK") == "1"
RECORDS_1K = int(os.environ.get("RECORDS_1K", 30_000 if QUICK else 800_000))
RECORDS_100B = int(os.environ.get("RECORDS_100B", 200_000 if QUICK else 4_000_000))
LAT_SECONDS = float(os.environ.get("LAT_SECONDS", 3 if QUICK else 20))
LAT_RATE = int(os.environ.get("LAT_RATE", 0))  # 0: half of Kafka's peak, per client
NODES = [int(n) for n in os.environ.get("NODES", "1 3").split()]
BROKERS = os.environ.get("BROKERS", "kafka tidewater").split()
KAFKA_HEAP = os.environ.get("KAFKA_HEAP", "-Xmx1g -Xms1g")
# What kafka-run-class.sh adds to every Kafka JVM (KAFKA_JVM_PERFORMANCE_OPTS).
KAFKA_JVM_OPTS = ("-server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 "
                  "-XX:+ExplicitGCInvokesConcurrent -XX:MaxInlineLevel=15 -Djava.awt.headless=true")
TOOL_HEAP = os.environ.get("TOOL_HEAP", "-Xmx512m")
# Java producer settings for the throughput runs: Kafka 4's defaults except a batch
# (256 KiB) big enough not to be the limit, as tidewater-perf's 1 MB batches are not.
JAVA_PRODUCER_PROPS = os.environ.get("JAVA_PRODUCER_PROPS", "linger.ms=5 batch.size=262144").split()
PARTITIONS = 6
# CEILING=1 (the default) also runs the same clients against `tidewater-perf sink`, a
# Kafka endpoint that stores nothing and answers at once: the fastest any broker could
# be served by these clients on this machine, so a row whose sink/Kafka ratio is under
# the goal cannot meet it with any broker here.
CEILING = os.environ.get("CEILING", "1") == "1"
# Records per batch the sink serves to consumers: about the 1 MB batches tidewater-perf
# writes (linger.ms=5, batch.size 1000000), as the brokers serve them.
SINK_BATCH_RECORDS = 960
# Reads of the consumed topic per client; the median is the figure.
CONSUME_RUNS = int(os.environ.get("CONSUME_RUNS", 1 if QUICK else 3))
# The topic both consumers read: the 1 KiB records tidewater-perf produced with acks=1.
CONSUMED = "p1024-acks1-rdkafka"

JARS, BROKER, PERF, WORK = (os.environ[k] for k in ("KVT_JARS", "KVT_BROKER", "KVT_PERF", "KVT_WORK"))
CLASSPATH = f"{JARS}/*"
bench_procs.init(WORK)


def run_tool(args, timeout=900):
    """Runs a client to completion; returns (ok, stdout, stderr tail)."""
    log("+ " + " ".join(a if len(a) < 80 else a[:77] + "..." for a in args))
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    track(p)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        err += f"\ntimed out after {timeout} s"
    track(gone=p)
    return p.returncode == 0, out, err[-2000:]


class RssSampler:
    """Peak summed RSS of the nodes while load runs, sampled every 200 ms."""

    def __init__(self, pids):
        self.pids, self.peak, self._stop = pids, 0.0, threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self):
        while not self._stop.wait(0.2):
            try:
                self.peak = max(self.peak, rss_mb(self.pids))
            except (OSError, StopIteration):
                return

    def finish(self):
        self._stop.set()
        self._thread.join()
        return self.peak


class Cluster:
    """n combined (broker + controller) KRaft nodes of one implementation."""

    def __init__(self, kind, n):
        self.kind, self.n = kind, n
        self.dir = os.path.join(WORK, f"{kind}-{n}")
        os.makedirs(self.dir)
        self.ports = [(free_port(), free_port(), free_port()) for _ in range(n)]
        self.bootstrap = ",".join(f"127.0.0.1:{k}" for k, _, _ in self.ports)
        self.procs = []
        self.cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()

    def common_props(self):
        rf = self.n
        return [
            f"num.partitions={PARTITIONS}",
            f"default.replication.factor={rf}",
            f"min.insync.replicas={2 if rf == 3 else 1}",
            f"offsets.topic.replication.factor={rf}",
            "offsets.topic.num.partitions=5",
            f"transaction.state.log.replication.factor={rf}",
            f"transaction.state.log.min.isr={2 if rf == 3 else 1}",
            "group.initial.rebalance.delay.ms=0",
            "auto.create.topics.enable=true",
        ]

    def node_props(self, i):
        k, c, h = self.ports[i]
        voters = ",".join(f"{j + 1}@127.0.0.1:{cp}" for j, (_, cp, _) in enumerate(self.ports))
        props = [
            "process.roles=broker,controller",
            f"node.id={i + 1}",
            "controller.listener.names=CONTROLLER",
            f"listeners=PLAINTEXT://127.0.0.1:{k},CONTROLLER://127.0.0.1:{c}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{k}",
            f"log.dirs={self.dir}/data{i + 1}",
        ]
        if self.kind == "kafka":
            props += ["inter.broker.listener.name=PLAINTEXT",
                      "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"]
            # One node formats itself as a dynamic quorum of one (--standalone); three
            # use a static voter set, which Kafka 4 formats without either flag.
            props.append(f"controller.quorum.bootstrap.servers=127.0.0.1:{c}" if self.n == 1
                         else f"controller.quorum.voters={voters}")
        else:
            props += [f"controller.quorum.voters={voters}", f"tidewater.http.listener=127.0.0.1:{h}"]
        return props + self.common_props()

    def format(self):
        formats = []
        for i in range(self.n):
            path = f"{self.dir}/n{i + 1}.properties"
            with open(path, "w") as f:
                f.write("\n".join(self.node_props(i)) + "\n")
            if self.kind == "kafka":
                args = ["java", "-cp", CLASSPATH, "kafka.tools.StorageTool", "format", "-t", self.cluster_id, "-c", path]
                if self.n == 1:
                    args.append("--standalone")
            else:
                args = [BROKER, "format", "--config", path, "--cluster-id", self.cluster_id]
            formats.append(spawn(args, f"{self.dir}/format{i + 1}.log"))
        for p in formats:
            if p.wait(120) != 0:
                sys.exit(f"{self.kind}: format failed, see {self.dir}/format*.log")
            track(gone=p)

    def start(self):
        """Starts every node; returns seconds from the first launch to the first record
        acknowledged with acks=all on an auto-created topic."""
        t0 = time.time()
        for i in range(self.n):
            path = f"{self.dir}/n{i + 1}.properties"
            if self.kind == "kafka":
                args = ["java", *KAFKA_HEAP.split(), *KAFKA_JVM_OPTS.split(), "-cp", CLASSPATH, "kafka.Kafka", path]
            else:
                args = [BROKER, "start", "--config", path]
            self.procs.append(spawn(args, f"{self.dir}/n{i + 1}.log"))
        ok, out, err = run_tool([sys.executable, os.path.join(os.path.dirname(__file__), "kvt_probe.py"),
                                 self.bootstrap, str(t0)], timeout=180)
        if not ok:
            sys.exit(f"{self.kind}: no produce succeeded: {err}")
        return float(out.strip().splitlines()[-1])

    @property
    def pids(self):
        return [p.pid for p in self.procs]

    def check_alive(self):
        dead = [i + 1 for i, p in enumerate(self.procs) if p.poll() is not None]
        if dead:
            sys.exit(f"{self.kind} node(s) {dead} exited; logs in {self.dir}")

    def create_topic(self, name):
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        config = {"min.insync.replicas": "2" if self.n == 3 else "1"}
        admin.create_topics([NewTopic(name, PARTITIONS, self.n, config=config)])[name].result(60)
        end = time.time() + 60
        while time.time() < end:
            t = admin.list_topics(name, timeout=10).topics[name]
            if t.partitions and len(t.partitions) == PARTITIONS and all(
                    p.leader >= 0 and len(p.isrs) == self.n for p in t.partitions.values()):
                return
            time.sleep(0.1)
        sys.exit(f"{self.kind}: topic {name} has no full ISR after 60 s")

    def delete_topic(self, name):
        """Frees a topic's disk (Kafka deletes the files a minute later, Tidewater at
        once): a full run writes several GB per cluster otherwise."""
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        admin.delete_topics([name])[name].result(60)

    def stop(self):
        stop(self.procs)
        self.procs = []


class Sink:
    """`tidewater-perf sink` on a free port, shaped like a Cluster for `measured`."""

    def __init__(self):
        port = free_port()
        self.bootstrap = f"127.0.0.1:{port}"
        self.procs = [spawn([PERF, "sink", "--listen", self.bootstrap, "--partitions", str(PARTITIONS),
                             "--record-size", "1024", "--batch-records", str(SINK_BATCH_RECORDS)],
                            os.path.join(WORK, "sink.log"))]
        end = time.time() + 30
        while True:
            self.check_alive()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                if time.time() > end:
                    sys.exit(f"sink did not listen on {self.bootstrap}; see {WORK}/sink.log")
                time.sleep(0.05)

    @property
    def pids(self):
        return [p.pid for p in self.procs]

    def check_alive(self):
        if any(p.poll() is not None for p in self.procs):
            sys.exit(f"sink exited; see {WORK}/sink.log")

    def stop(self):
        stop(self.procs)


def ceiling():
    """The throughput steps of `bench` against the sink: each client's own ceiling."""
    log("=== client ceiling: tidewater-perf sink ===")
    sink, fig = Sink(), Figures()
    try:
        for size, records in ((100, RECORDS_100B), (1024, RECORDS_1K)):
            for acks in ("1", "all"):
                for client in ("rdkafka", "java"):
                    measured(sink, fig, f"produce {size} {acks} {client}", produce,
                             sink, client, f"p{size}-acks{acks}-{client}", records, size, acks)
        # Java's ConsumerPerformance joins a group, which the sink does not serve.
        measured(sink, fig, "consume rdkafka", consume_median, sink, "rdkafka", CONSUMED, RECORDS_1K)
    finally:
        sink.stop()
    return fig


def java(cls, *args):
    return ["java", *TOOL_HEAP.split(), *KAFKA_JVM_OPTS.split(), "-cp", CLASSPATH, f"org.apache.kafka.tools.{cls}", *args]


JAVA_PRODUCE = re.compile(r"(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\), ([\d.]+) ms avg latency, "
                          r"([\d.]+) ms max latency, ([\d.]+) ms 50th, ([\d.]+) ms 95th, ([\d.]+) ms 99th")


def produce(cluster, client, topic, records, size, acks, rate=-1, extra=()):
    """One produce run; returns a dict with records_per_sec, mb_per_sec, p50, p99."""
    if client == "rdkafka":
        args = [PERF, "produce", "--bootstrap", cluster.bootstrap, "--topic", topic, "--num-records", str(records),
                "--record-size", str(size), "--acks", acks, "--throughput", str(rate)]
        for prop in extra:
            args += ["--producer-prop", prop]
        ok, out, err = run_tool(args)
        if not ok:
            return {"error": err}
        d = json.loads(out.strip().splitlines()[-1])
        return {"records_per_sec": d["records_per_sec"], "mb_per_sec": d["mb_per_sec"],
                "p50": d["latency_ms"]["p50"], "p99": d["latency_ms"]["p99"]}
    overridden = {e.split("=", 1)[0] for e in extra}
    props = [f"bootstrap.servers={cluster.bootstrap}", f"acks={acks}",
             *(p for p in JAVA_PRODUCER_PROPS if p.split("=", 1)[0] not in overridden), *extra]
    ok, out, err = run_tool(java("ProducerPerformance", "--topic", topic, "--num-records", str(records),
                                 "--record-size", str(size), "--throughput", str(rate), "--producer-props", *props))
    m = JAVA_PRODUCE.search(out.strip().splitlines()[-1] if out.strip() else "")
    if not ok or not m:
        return {"error": err or out[-2000:]}
    return {"records_per_sec": float(m[2]), "mb_per_sec": float(m[3]), "p50": float(m[6]), "p99": float(m[8])}


def consume_median(cluster, client, topic, records):
    """CONSUME_RUNS reads of the topic (each in a group of its own); the run with the
    median MB/s, with every run's MB/s beside it. One read of 800 MB takes about a
    second, and single reads of the same data varied by 2x here."""
    runs = [consume(cluster, client, topic, records, i) for i in range(CONSUME_RUNS)]
    failed = [r for r in runs if "error" in r]
    if failed:
        return failed[0]
    runs.sort(key=lambda r: r["mb_per_sec"])
    return runs[len(runs) // 2] | {"runs_mb_per_sec": [round(r["mb_per_sec"], 1) for r in runs]}


def consume(cluster, client, topic, records, run=0):
    if client == "rdkafka":
        ok, out, err = run_tool([PERF, "consume", "--bootstrap", cluster.bootstrap, "--topic", topic,
                                 "--num-records", str(records)])
        if not ok:
            return {"error": err}
        d = json.loads(out.strip().splitlines()[-1])
        return {"records_per_sec": d["records_per_sec"], "mb_per_sec": d["mb_per_sec"]}
    ok, out, err = run_tool(java("ConsumerPerformance", "--bootstrap-server", cluster.bootstrap, "--topic", topic,
                                 "--messages", str(records), "--group", f"kvt-java-{topic}-{run}", "--timeout", "60000"))
    # Header: start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg,
    # nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec; the
    # fetch.* figures leave the group join out, as tidewater-perf's figures do.
    rows = [line.split(",") for line in out.splitlines() if line.count(",") >= 9]
    if not ok or len(rows) < 2:
        return {"error": err or out[-2000:]}
    head, row = [h.strip() for h in rows[0]], [v.strip() for v in rows[-1]]
    d = dict(zip(head, row))
    if int(d["data.consumed.in.nMsg"]) < records:
        return {"error": f"only {d['data.consumed.in.nMsg']} of {records} records read"}
    return {"records_per_sec": float(d["fetch.nMsg.sec"]), "mb_per_sec": float(d["fetch.MB.sec"])}


def e2e(cluster, topic, records, rate):
    ok, out, err = run_tool([PERF, "e2e", "--bootstrap", cluster.bootstrap, "--topic", topic, "--num-records",
                             str(records), "--record-size", "1024", "--acks", "all", "--throughput", str(rate),
                             "--producer-prop", "linger.ms=1"])
    if not ok:
        return {"error": err}
    d = json.loads(out.strip().splitlines()[-1])
    return {"records_per_sec": d["records_per_sec"], "p50": d["latency_ms"]["p50"], "p99": d["latency_ms"]["p99"]}


def measured(cluster, fig, key, fn, *args):
    """Runs one load step with the nodes' CPU time and peak RSS recorded beside it."""
    cluster.check_alive()
    before, sampler = cpu_s(cluster.pids), RssSampler(cluster.pids)
    result = fn(*args)
    fig.load_rss = max(fig.load_rss, sampler.finish())
    result["broker_cpu_s"] = cpu_s(cluster.pids) - before
    if "error" in result:
        log(f"{key} FAILED: {result['error']}")
    fig.runs[key] = result
    return result


def bench(kind, n, peaks):
    log(f"=== {kind}, {n} node(s) ===")
    cluster = Cluster(kind, n)
    fig = Figures()
    try:
        cluster.format()
        fig.startup_s = cluster.start()
        log(f"first produce after {fig.startup_s:.2f} s")
        time.sleep(3)  # let start-up work (metadata log, group coordinator load) settle
        fig.idle_rss = rss_mb(cluster.pids)
        for size, records in ((100, RECORDS_100B), (1024, RECORDS_1K)):
            for acks in ("1", "all"):
                for client in ("rdkafka", "java"):
                    topic = f"p{size}-acks{acks}-{client}"
                    cluster.create_topic(topic)
                    measured(cluster, fig, f"produce {size} {acks} {client}", produce,
                             cluster, client, topic, records, size, acks)
                    if topic != CONSUMED:
                        cluster.delete_topic(topic)
        for client in ("rdkafka", "java"):
            measured(cluster, fig, f"consume {client}", consume_median, cluster, client, CONSUMED, RECORDS_1K)
        # Each client's latency run goes at half the peak that client reached on the
        # first implementation measured (Kafka), 1 KiB acks=all: the same rate for both.
        for client in ("rdkafka", "java"):
            peak = fig.runs[f"produce 1024 all {client}"].get("records_per_sec", 0)
            rate = LAT_RATE or int(peaks.setdefault((n, client), peak) / 2)
            fig.lat_rate[client] = rate
            if rate <= 0:
                continue
            topic = f"latency-{client}"
            cluster.create_topic(topic)
            # The throughput runs leave GBs dirty in the page cache; their writeback
            # (kernel threads on the same 2 cores) would be measured as queueing.
            subprocess.run(["sync"], check=False)
            if client == "rdkafka":
                measured(cluster, fig, "e2e rdkafka", e2e, cluster, topic, int(rate * LAT_SECONDS), rate)
            else:
                measured(cluster, fig, "latency java", produce, cluster, "java", topic,
                         int(rate * LAT_SECONDS), 1024, "all", rate, ("linger.ms=1",))
        cluster.check_alive()
    finally:
        cluster.stop()
        subprocess.run(["rm", "-rf", cluster.dir + "/data1", cluster.dir + "/data2", cluster.dir + "/data3"])
    return fig


def main():
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.time()
    load = os.getloadavg()
    results, peaks = {}, {}
    try:
        for n in NODES:
            for kind in BROKERS:
                results[(kind, n)] = bench(kind, n, peaks)
                subprocess.run(["sync"])
        if CEILING:
            results[("sink", 0)] = ceiling()
    finally:
        stop(list(children), grace=10)
    print_table(results, NODES, {
        "quick": QUICK, "records_1k": RECORDS_1K, "records_100b": RECORDS_100B, "lat_seconds": LAT_SECONDS,
        "kafka_heap": KAFKA_HEAP, "sink_batch_records": SINK_BATCH_RECORDS, "consume_runs": CONSUME_RUNS, "kafka_jvm_opts": KAFKA_JVM_OPTS, "java_producer_props": JAVA_PRODUCER_PROPS,
        "load_before": load, "load_after": os.getloadavg(), "minutes": (time.time() - started) / 60,
        "work": WORK,
    })


if __name__ == "__main__":
    main()
