"""The table kafka-vs-tidewater.sh prints: each figure for Apache Kafka and Tidewater,
their ratio (Tidewater / Kafka) and whether it meets the goal of issue 15:
throughput >= 1.5x Kafka's, p99 latency <= 0.5x Kafka's, RSS <= 1/10 of Kafka's.

Pure formatting of the figures the driver collected; runs nothing.
"""

import json
import os


class Figures:
    """What one cluster (one implementation, n nodes) measured."""

    def __init__(self):
        self.startup_s = None
        self.idle_rss = None  # MB, summed over the nodes, after start-up settled
        self.load_rss = 0.0  # MB, peak sum while the clients ran
        self.lat_rate = {}  # client -> records/s of its latency run
        self.runs = {}  # step name -> dict of figures, or {"error": ...}

    def as_json(self):
        return dict(vars(self))


# Goal kinds: "up" = Tidewater should be >= 1.5x, "down" = p99 <= 0.5x, "rss" <= 0.1x.
GOALS = {"up": (">= 1.5", lambda r: r >= 1.5), "down": ("<= 0.5", lambda r: r <= 0.5),
         "rss": ("<= 0.1", lambda r: r <= 0.1), None: ("-", None)}


def rows(k, t, s=None):
    """(label, kafka value, tidewater value, goal kind, value format, sink value) for one
    topology; the sink value (the same client against `tidewater-perf sink`) only on
    the throughput rows it was measured for."""
    def run(fig, step, field):
        r = fig.runs.get(step, {}) if fig else {}
        return r.get(field) if "error" not in r else "error"

    out = [("start-up to first produce (acks=all), s", k and k.startup_s, t and t.startup_s, None, "{:.2f}", None),
           ("RSS idle, sum of nodes, MB", k and k.idle_rss, t and t.idle_rss, "rss", "{:.1f}", None),
           ("RSS under load (peak), sum of nodes, MB", k and k.load_rss, t and t.load_rss, "rss", "{:.1f}", None)]
    for size, label in ((100, "100 B"), (1024, "1 KiB")):
        for acks in ("1", "all"):
            for client in ("rdkafka", "java"):
                step = f"produce {size} {acks} {client}"
                out.append((f"produce {label} acks={acks} [{client}], MB/s", run(k, step, "mb_per_sec"),
                            run(t, step, "mb_per_sec"), "up", "{:.1f}", run(s, step, "mb_per_sec")))
    for client in ("rdkafka", "java"):
        step = f"consume {client}"
        out.append((f"consume 1 KiB [{client}], MB/s", run(k, step, "mb_per_sec"),
                    run(t, step, "mb_per_sec"), "up", "{:.1f}", run(s, step, "mb_per_sec")))
    rates = (k or t).lat_rate if (k or t) else {}
    for step, what, client in (("e2e rdkafka", "end-to-end (send->consumed) [rdkafka]", "rdkafka"),
                               ("latency java", "produce->ack [java]", "java")):
        rate = rates.get(client, 0)
        out.append((f"{what} @ {rate} rec/s p50, ms", run(k, step, "p50"), run(t, step, "p50"), None, "{:.2f}", None))
        out.append((f"{what} @ {rate} rec/s p99, ms", run(k, step, "p99"), run(t, step, "p99"), "down", "{:.2f}",
                    None))
    return out


def fmt(v, f):
    if v is None:
        return "-"
    return v if isinstance(v, str) else f.format(v)


def print_table(results, nodes, meta):
    print()
    print("Apache Kafka 4.4.0 vs Tidewater on this machine "
          f"({os.cpu_count()} cores; load average before {meta['load_before'][0]:.2f}, "
          f"after {meta['load_after'][0]:.2f}; {meta['minutes']:.1f} min)")
    print(f"Kafka JVM: {meta['kafka_heap']} {meta['kafka_jvm_opts']}")
    print(f"records: 1 KiB {meta['records_1k']}, 100 B {meta['records_100b']}; latency runs "
          f"{meta['lat_seconds']} s at half Kafka's peak with the same client (1 KiB, acks=all), acks=all, linger.ms=1; "
          f"java producer: {' '.join(meta['java_producer_props'])}; 6 partitions per topic; "
          f"consume: median of {meta.get('consume_runs', 1)} reads"
          + ("; QUICK=1 (figures only show the script works)" if meta["quick"] else ""))
    w = 56
    s = results.get(("sink", 0))
    bounded = False
    for n in nodes:
        k, t = results.get(("kafka", n)), results.get(("tidewater", n))
        print(f"\n{n} node(s){', RF 3, min.insync.replicas 2' if n == 3 else ', RF 1'}")
        print(f"{'figure':<{w}} {'Kafka':>10} {'Tidewater':>10} {'T/K':>7} {'goal':>7} {'meets':>6}"
              + (f" {'sink':>8} {'sink/K':>7}" if s else ""))
        for label, kv, tv, goal, f, sv in rows(k, t, s):
            ratio, ok = "-", "-"
            if isinstance(kv, (int, float)) and isinstance(tv, (int, float)) and kv > 0:
                r = tv / kv
                ratio = f"{r:.2f}"
                if GOALS[goal][1]:
                    ok = "yes" if GOALS[goal][1](r) else "NO"
            elif goal and "error" in (kv, tv):
                ok = "NO" if tv == "error" else "-"
            bound = "-"
            if isinstance(sv, (int, float)) and isinstance(kv, (int, float)) and kv > 0:
                bound = f"{sv / kv:.2f}"
                if ok == "NO" and not GOALS[goal][1](sv / kv):
                    ok, bounded = "NO*", True
            extra = f" {fmt(sv, f):>8} {bound:>7}" if s else ""
            print(f"{label:<{w}} {fmt(kv, f):>10} {fmt(tv, f):>10} {ratio:>7} {GOALS[goal][0]:>7} {ok:>6}{extra}")
        print(f"{'  broker CPU s per step (Kafka / Tidewater, K/T):':<{w}}")
        for step in (k or t).runs if (k or t) else []:
            kc = k.runs.get(step, {}).get("broker_cpu_s") if k else None
            tc = t.runs.get(step, {}).get("broker_cpu_s") if t else None
            times = f"{kc / tc:.1f}x" if kc and tc else "-"
            print(f"    {step:<{w - 4}} {fmt(kc, '{:.1f}'):>10} {fmt(tc, '{:.1f}'):>10} {times:>7}")
    if s:
        print("\nsink: the same client and settings against `tidewater-perf sink`, which stores nothing and answers "
              "at once (one node; acks are moot):\nthe fastest any broker could be served by that client on this "
              "machine. sink/K is that ceiling over Kafka's figure.")
    if bounded:
        print("NO*: short of the goal where no broker could meet it here: even the sink reaches less than the "
              "goal times Kafka's figure.")
    errors = [(key, step, r["error"]) for key, fig in results.items() for step, r in fig.runs.items() if "error" in r]
    for (kind, n), step, err in errors:
        print(f"\nERROR {kind} {n} node(s), {step}:\n{err}")
    print("\nJSON: " + json.dumps({f"{kind}-{n}": fig.as_json() for (kind, n), fig in results.items()} | {"meta": meta}))
