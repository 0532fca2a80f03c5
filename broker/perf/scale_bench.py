#!/usr/bin/env python3
"""Driver of broker/perf/scale-bench.sh: 3 combined KRaft nodes, TOPICS x PARTITIONS
at RF 3, and the figures of issue 17 item 5 (creation, metadata propagation, idle CPU,
RSS per replica, leader failover after kill -9).

Run it through the shell script (which builds the broker, raises `ulimit -n` and
cleans up); it reads SCALE_BROKER (binary) and SCALE_WORK (scratch dir) and the knobs
documented in the script's header from the environment.
"""

import json
import os
import signal
import statistics
import sys
import threading
import time
import urllib.request

from confluent_kafka import ElectionType
from confluent_kafka.admin import AdminClient, NewTopic

from bench_procs import children, cpu_s, free_port, init, kill9, log, rss_kib, spawn, stop
from scale_meta import MetadataConn

BROKER, WORK = os.environ["SCALE_BROKER"], os.environ["SCALE_WORK"]
TOPICS = int(os.environ.get("TOPICS", 1000))
PARTITIONS = int(os.environ.get("PARTITIONS", 10))
BATCH = int(os.environ.get("BATCH", 100))
FAILOVERS = int(os.environ.get("FAILOVERS", 3))
SETTLE_S = float(os.environ.get("SETTLE_S", 10))
IDLE_S = float(os.environ.get("IDLE_S", 30))
EXTRA_PROPS = os.environ.get("BROKER_PROPS", "").split()
NODES = 3
EXPECTED = TOPICS * PARTITIONS
init(WORK)


class Node:
    def __init__(self, i, voters_fn):
        self.id = i + 1
        self.kafka, self.controller, self.http = free_port(), free_port(), free_port()
        self.voters_fn = voters_fn
        self.config = f"{WORK}/n{self.id}.properties"
        self.proc = None
        self.meta = MetadataConn(self.kafka)

    def write_config(self):
        props = [
            "process.roles=broker,controller",
            f"node.id={self.id}",
            f"controller.quorum.voters={self.voters_fn()}",
            "controller.listener.names=CONTROLLER",
            f"listeners=PLAINTEXT://127.0.0.1:{self.kafka},CONTROLLER://127.0.0.1:{self.controller}",
            f"log.dirs={WORK}/data{self.id}",
            f"tidewater.http.listener=127.0.0.1:{self.http}",
            "min.insync.replicas=2",
            *EXTRA_PROPS,
        ]
        with open(self.config, "w") as f:
            f.write("\n".join(props) + "\n")

    def start(self):
        self.proc = spawn([BROKER, "start", "--config", self.config], f"{WORK}/n{self.id}.log")

    def wait_ready(self, timeout=120):
        end = time.time() + timeout
        while time.time() < end:
            if self.proc.poll() is not None:
                sys.exit(f"node {self.id} exited ({self.proc.returncode}); see {WORK}/n{self.id}.log")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.http}/readyz", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        sys.exit(f"node {self.id} not ready after {timeout} s")

    @property
    def pid(self):
        return self.proc.pid


def wait_all(nodes, what, check, timeout, start=None):
    """Polls each node's Metadata (one thread each) until `check(metadata, node)` holds
    on every one; returns the seconds from `start` (default now) at which each node
    first satisfied it."""
    start = start or time.time()
    done = {}

    def watch(node):
        while time.time() - start < timeout:
            try:
                if check(node.meta.fetch(), node):
                    done[node.id] = time.time() - start
                    return
            except OSError:
                pass
            time.sleep(0.05)

    threads = [threading.Thread(target=watch, args=(n,), daemon=True) for n in nodes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    missing = [n.id for n in nodes if n.id not in done]
    if missing:
        sys.exit(f"{what}: node(s) {missing} did not get there in {timeout} s; logs in {WORK}")
    return done


def all_led(md, _node=None):
    return len(md.partitions) >= EXPECTED and all(p[0] >= 0 for p in md.partitions.values())


def full_isr(md, _node=None):
    return len(md.partitions) >= EXPECTED and all(p[0] >= 0 and len(p[2]) == NODES for p in md.partitions.values())


def create_topics(admin):
    names = [f"scale-{i:05d}" for i in range(TOPICS)]
    for first in range(0, TOPICS, BATCH):
        batch = [NewTopic(n, PARTITIONS, NODES) for n in names[first:first + BATCH]]
        for name, fut in admin.create_topics(batch, request_timeout=120, operation_timeout=120).items():
            try:
                fut.result(180)
            except Exception as e:  # noqa: BLE001 - the Kafka error is the message
                sys.exit(f"CreateTopics {name} failed: {e}")


def idle_figures(nodes):
    before = {n.id: cpu_s([n.pid]) for n in nodes}
    t0 = time.time()
    time.sleep(IDLE_S)
    elapsed = time.time() - t0
    per_node = {n.id: 100 * (cpu_s([n.pid]) - before[n.id]) / elapsed for n in nodes}
    return per_node, sum(per_node.values())


def failover_round(nodes, round_no):
    md = nodes[0].meta.fetch()
    controller = md.controller_id
    led = {}
    for tp, (leader, _, _) in md.partitions.items():
        led.setdefault(leader, []).append(tp)
    candidates = [n for n in nodes if n.id != controller]
    victim = max(candidates, key=lambda n: len(led.get(n.id, [])))
    moved = set(led.get(victim.id, []))
    survivors = [n for n in nodes if n is not victim]
    log(f"failover {round_no}: kill -9 node {victim.id} (leads {len(moved)}; controller is {controller})")
    gone_at = {}
    t_kill = time.time()
    kill9(victim.proc)
    victim.meta.close()

    def moved_away(md, node):
        if victim.id not in md.brokers:
            gone_at.setdefault(node.id, time.time() - t_kill)
        return all(md.partitions.get(tp, (-1,))[0] not in (-1, victim.id) for tp in moved)

    done = wait_all(survivors, "failover", moved_away, 120, start=t_kill)
    took = max(done.values())
    fenced = max(gone_at.values()) if len(gone_at) == len(survivors) else None
    log(f"failover {round_no}: leaderships moved after {took:.2f} s on every survivor (fenced at {fenced})")
    t_restart = time.time()
    victim.start()
    victim.wait_ready()
    ready = time.time() - t_restart
    rejoin = wait_all(nodes, "rejoin", full_isr, 600, start=t_restart)
    log(f"failover {round_no}: node {victim.id} ready {ready:.1f} s after its restart, "
        f"back in every ISR after {max(rejoin.values()):.1f} s")
    # Leadership back to the preferred replicas, so each round kills a node leading a
    # third; ElectLeaders over every partition is itself a figure.
    # confluent-kafka 2.16's elect_leaders refuses its timeout keywords: the client's
    # socket timeout bounds the call instead.
    admin = AdminClient({"bootstrap.servers": bootstrap(nodes), "log_level": 0, "socket.timeout.ms": 300_000})
    t0 = time.time()
    try:
        results = admin.elect_leaders(ElectionType.PREFERRED, None).result(330)
        elected = time.time() - t0
        failed = {str(e) for e in results.values() if e is not None}
        log(f"failover {round_no}: preferred election over all partitions took {elected:.1f} s, "
            f"{len(results)} answered, {sum(e is not None for e in results.values())} refused {failed or ''}")
    except Exception as e:  # noqa: BLE001 - the Kafka error is the message
        elected = None
        log(f"preferred election: {e}")
    return {"victim": victim.id, "led": len(moved), "moved_s": took, "fenced_s": fenced,
            "per_survivor_s": done, "ready_s": ready, "rejoin_s": max(rejoin.values()),
            "preferred_election_s": elected}


def bootstrap(nodes):
    return ",".join(f"127.0.0.1:{n.kafka}" for n in nodes)


def main():
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    nodes = []
    nodes.extend(Node(i, lambda: ",".join(f"{n.id}@127.0.0.1:{n.controller}" for n in nodes)) for i in range(NODES))
    fig = {"topics": TOPICS, "partitions": EXPECTED, "replicas": EXPECTED * NODES, "batch": BATCH,
           "extra_props": EXTRA_PROPS, "load_before": os.getloadavg()}
    try:
        for n in nodes:
            n.write_config()
            os.makedirs(f"{WORK}/data{n.id}")
            fmt = spawn([BROKER, "format", "--config", n.config, "--cluster-id", "scale-bench"], f"{WORK}/format.log")
            if fmt.wait(120) != 0:
                sys.exit(f"format failed; see {WORK}/format.log")
        for n in nodes:
            n.start()
        for n in nodes:
            n.wait_ready()
        wait_all(nodes, "brokers registered", lambda md, _: len(md.brokers) == NODES, 120)
        time.sleep(SETTLE_S)
        rss_before = {n.id: rss_kib(n.pid) for n in nodes}

        admin = AdminClient({"bootstrap.servers": bootstrap(nodes), "log_level": 0})
        log(f"creating {TOPICS} topics x {PARTITIONS} partitions, RF {NODES}, {BATCH} topics per CreateTopics")
        led_at, created_at = {}, [None]
        watcher = threading.Thread(target=lambda: led_at.update(wait_all(nodes, "creation", all_led, 1800)),
                                   daemon=True)
        t0 = time.time()
        watcher.start()
        create_topics(admin)
        created_at[0] = time.time() - t0
        watcher.join()
        if not led_at:
            sys.exit("creation did not complete")
        fig["create_acked_s"] = created_at[0]
        fig["all_led_per_broker_s"] = led_at
        fig["creation_s"] = max(led_at.values())
        fig["propagation_spread_s"] = max(led_at.values()) - min(led_at.values())
        log(f"created: CreateTopics done after {created_at[0]:.1f} s, every broker lists all leaders after "
            f"{fig['creation_s']:.1f} s ({led_at})")
        isr_at = wait_all(nodes, "full ISR", full_isr, 1800)
        fig["full_isr_s"] = max(isr_at.values()) + fig["creation_s"]
        time.sleep(SETTLE_S)
        per_node, total = idle_figures(nodes)
        fig["idle_cpu_pct_per_node"], fig["idle_cpu_pct"] = per_node, total
        rss_after = {n.id: rss_kib(n.pid) for n in nodes}
        fig["rss_before_kib"], fig["rss_after_kib"] = rss_before, rss_after
        per_node_replicas = EXPECTED  # RF 3 on 3 nodes: every node holds every partition
        fig["rss_per_replica_kib"] = {i: (rss_after[i] - rss_before[i]) / per_node_replicas for i in rss_after}
        fig["fds"] = {n.id: len(os.listdir(f"/proc/{n.pid}/fd")) for n in nodes}
        fig["threads"] = {n.id: len(os.listdir(f"/proc/{n.pid}/task")) for n in nodes}
        log(f"idle CPU {total:.1f}% of one core ({per_node}); RSS per replica {fig['rss_per_replica_kib']} KiB")
        fig["failovers"] = [failover_round(nodes, r + 1) for r in range(FAILOVERS)]
    finally:
        stop(list(children), grace=10)
    fig["load_after"] = os.getloadavg()
    report(fig)


def report(fig):
    moved = [f["moved_s"] for f in fig["failovers"]]
    rss = list(fig["rss_per_replica_kib"].values())
    print(f"scale: {fig['topics']} topics, {fig['partitions']} partitions, {fig['replicas']} replicas on 3 nodes")
    print(f"  CreateTopics ({fig['batch']} topics a request) all acknowledged : {fig['create_acked_s']:8.1f} s")
    print(f"  every partition led in all 3 brokers' metadata    : {fig['creation_s']:8.1f} s")
    print(f"  per broker (propagation)                          : "
          + ", ".join(f"{k}: {v:.1f} s" for k, v in sorted(fig["all_led_per_broker_s"].items())))
    print(f"  every ISR full on all brokers                     : {fig['full_isr_s']:8.1f} s")
    print(f"  idle CPU, 3 processes (goal < 5% of one core)     : {fig['idle_cpu_pct']:8.2f} %  "
          + ", ".join(f"n{k} {v:.2f}" for k, v in sorted(fig["idle_cpu_pct_per_node"].items())))
    print(f"  RSS growth per replica (goal <= 20 KiB)           : {statistics.median(rss):8.1f} KiB  "
          + ", ".join(f"n{k} {v:.1f}" for k, v in sorted(fig["rss_per_replica_kib"].items())))
    print(f"  open fds per node                                 : {fig['fds']}")
    if moved:
        print(f"  leader failover after kill -9 (goal <= 5 s), median of {len(moved)}: {statistics.median(moved):.2f} s  "
              f"runs: {', '.join(f'{m:.2f}' for m in moved)}")
        for f in fig["failovers"]:
            print(f"    node {f['victim']} led {f['led']}: fenced after {f['fenced_s'] or float('nan'):.2f} s, moved after "
                  f"{f['moved_s']:.2f} s; restarted: ready after {f['ready_s']:.1f} s, back in every ISR "
                  f"after {f['rejoin_s']:.1f} s, "
                  f"preferred election {f['preferred_election_s'] or float('nan'):.1f} s")
    print(json.dumps(fig, default=str))


if __name__ == "__main__":
    main()
