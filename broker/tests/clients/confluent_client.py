#!/usr/bin/env python3
"""confluent-kafka (librdkafka) scenarios against a Tidewater broker.

Each subcommand runs one scenario and exits 0 only when every check holds; on any
mismatch it prints what differed to stderr and exits 1. A final JSON line on
stdout carries figures the Rust test can check further.
"""
import argparse
import json
import sys
import time

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

from checks import check, deadline_loop, fail, poll_record


def read_all(bootstrap, topic, timeout=30):
    """Every record of `topic`, read by assignment from the beginning up to the high
    watermarks taken now: {partition: [(offset, key, value)]}."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "reader-unused",
                  "enable.auto.commit": False, "enable.partition.eof": False})
    md = c.list_topics(topic, timeout=timeout)
    t = md.topics.get(topic)
    check(t is not None and t.error is None, f"topic {topic} metadata: {t and t.error}")
    ends = {}
    for p in t.partitions:
        lo, hi = c.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout)
        ends[p] = hi
    c.assign([TopicPartition(topic, p, 0) for p in ends])
    got = {p: [] for p in ends}
    for _ in deadline_loop(timeout, f"reading {ends} of {topic}"):
        if all((got[p][-1][0] + 1 if got[p] else 0) >= ends[p] for p in ends):
            break
        m = poll_record(c)
        if m is None:
            continue
        got[m.partition()].append((m.offset(), m.key(), m.value()))
    c.close()
    return got, ends


def cmd_idempotent_produce(a):
    """acks=all + idempotence: every record delivered once, per-partition order kept."""
    p = Producer({"bootstrap.servers": a.bootstrap, "enable.idempotence": True, "acks": "all",
                  "linger.ms": 5})
    acked = {}
    errors = []

    def on_delivery(err, msg):
        if err is not None:
            errors.append(str(err))
        else:
            acked[int(msg.value())] = (msg.partition(), msg.offset())

    for i in range(a.count):
        p.produce(a.topic, key=f"k{i % 13}".encode(), value=str(i).encode(), on_delivery=on_delivery)
        p.poll(0)
    left = p.flush(60)
    check(left == 0, f"{left} records still undelivered after flush")
    check(not errors, f"{len(errors)} delivery errors, first: {errors[:1]}")
    check(len(acked) == a.count, f"acked {len(acked)} of {a.count}")
    got, _ = read_all(a.bootstrap, a.topic)
    seen = {}
    for part, recs in got.items():
        ids = [int(v) for _, _, v in recs]
        check(ids == sorted(ids), f"partition {part} out of order: {ids[:20]}...")
        for off, _, v in recs:
            i = int(v)
            check(i not in seen, f"record {i} read twice")
            seen[i] = (part, off)
    check(seen == acked, f"read-back differs from acks: {len(seen)} read vs {len(acked)} acked")
    print(json.dumps({"acked": len(acked), "partitions": len(got)}))


def cmd_acked_producer(a):
    """Produces ids 0.. and appends 'partition offset id' for each acknowledged one to
    a file, flushed per line, until `count` or until the broker dies (deliveries fail)."""
    p = Producer({"bootstrap.servers": a.bootstrap, "enable.idempotence": True, "acks": "all",
                  "linger.ms": 2, "message.timeout.ms": a.message_timeout_ms,
                  # Java's default; batches stay below small test segments
                  # (a batch over log.segment.bytes is RECORD_LIST_TOO_LARGE).
                  "batch.size": 16384,
                  "reconnect.backoff.max.ms": 500})
    out = open(a.acked_file, "a", buffering=1)
    stats = {"acked": 0, "failed": 0, "first_error": None}

    def on_delivery(err, msg):
        if err is None:
            out.write(f"{msg.partition()} {msg.offset()} {int(msg.value())}\n")
            stats["acked"] += 1
        else:
            stats["failed"] += 1
            if stats["first_error"] is None:
                stats["first_error"] = f"{err} after {stats['acked']} acked"
                print(f"first delivery error: {err}", file=sys.stderr, flush=True)

    for i in range(a.count):
        while True:
            try:
                p.produce(a.topic, key=str(i).encode(), value=str(i).encode(), on_delivery=on_delivery)
                break
            except BufferError:
                p.poll(0.05)
        p.poll(0)
        if a.rate > 0:
            time.sleep(1.0 / a.rate)
        if stats["failed"]:
            break
    p.flush(a.message_timeout_ms / 1000 + 10)
    out.close()
    print(json.dumps(stats))


def cmd_verify_acked(a):
    """After a crash and restart: every acknowledged id is read back exactly once, at
    the offset it was acknowledged at, and ids ascend within each partition."""
    acked = {}
    with open(a.acked_file) as f:
        for line in f:
            part, off, i = map(int, line.split())
            acked[i] = (part, off)
    check(len(acked) >= a.min_acked, f"only {len(acked)} acknowledged before the crash")
    got, ends = read_all(a.bootstrap, a.topic)
    seen = {}
    for part, recs in got.items():
        ids = [int(v) for _, _, v in recs]
        for x, y in zip(ids, ids[1:]):
            check(x < y, f"partition {part}: id {y} after {x} (duplicate or reorder)")
        for off, _, v in recs:
            seen[int(v)] = (part, off)
    missing = [i for i in acked if i not in seen]
    check(not missing, f"{len(missing)} acknowledged ids lost, e.g. {sorted(missing)[:10]}")
    moved = [i for i in acked if seen[i] != acked[i]]
    check(not moved, f"ids at other offsets than acknowledged, e.g. "
                     f"{[(i, acked[i], seen[i]) for i in moved[:5]]}")
    print(json.dumps({"acked": len(acked), "read": len(seen), "ends": ends}))


def cmd_group_rebalance(a):
    """3 consumers in one group on a 6-partition topic: assignments rebalance as
    members join (6 / 3+3 / 2+2+2) and leave (3+3); every record is consumed."""
    ids = set(range(a.count))
    p = Producer({"bootstrap.servers": a.bootstrap, "acks": "all"})
    for i in ids:
        p.produce(a.topic, key=str(i).encode(), value=str(i).encode())
    check(p.flush(30) == 0, "producer flush")
    consumers, assigned, seen = [], [], set()

    def add_member(n):
        conf = {"bootstrap.servers": a.bootstrap, "group.id": a.group,
                "auto.offset.reset": "earliest", "enable.auto.commit": True,
                "auto.commit.interval.ms": 200, "session.timeout.ms": 10000,
                "heartbeat.interval.ms": 500, "client.id": f"member-{n}"}
        c = Consumer(conf)
        mine = set()

        def on_assign(cons, parts):
            mine.clear()
            mine.update(tp.partition for tp in parts)

        def on_revoke(cons, parts):
            mine.clear()

        c.subscribe([a.topic], on_assign=on_assign, on_revoke=on_revoke)
        consumers.append(c)
        assigned.append(mine)

    def poll_all():
        for c in consumers:
            m = c.poll(0.05)
            if m is not None:
                if m.error():
                    fail(f"consume error: {m.error()}")
                seen.add(int(m.value()))

    def wait_for(sizes):
        for _ in deadline_loop(a.step_timeout, f"assignment sizes {sizes}, have "
                               f"{[sorted(s) for s in assigned]}"):
            poll_all()
            now = sorted(len(s) for s in assigned)
            union = set().union(*assigned)
            if now == sorted(sizes) and union == set(range(6)) and sum(now) == 6:
                return [sorted(s) for s in assigned]

    steps = []
    add_member(1)
    steps.append(wait_for([6]))
    add_member(2)
    steps.append(wait_for([3, 3]))
    add_member(3)
    steps.append(wait_for([2, 2, 2]))
    leaving = consumers.pop()
    assigned.pop()
    leaving.close()
    steps.append(wait_for([3, 3]))
    for _ in deadline_loop(a.step_timeout, f"all {a.count} records, missing "
                           f"{len(ids - seen)}"):
        if seen >= ids:
            break
        poll_all()
    for c in consumers:
        c.close()
    print(json.dumps({"steps": steps, "consumed": len(seen)}))


def cmd_resume_offsets(a):
    """phase 1: consume `take` records in a group and commit synchronously; phase 2
    (after a broker restart): the group's committed offsets are the same and a new
    member reads exactly the records phase 1 did not."""
    c = Consumer({"bootstrap.servers": a.bootstrap, "group.id": a.group,
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    if a.phase == 1:
        p = Producer({"bootstrap.servers": a.bootstrap, "acks": "all"})
        for i in range(a.count):
            p.produce(a.topic, key=str(i).encode(), value=str(i).encode())
        check(p.flush(30) == 0, "producer flush")
    c.subscribe([a.topic])
    taken = []
    want = a.take if a.phase == 1 else None
    state = json.load(open(a.state)) if a.phase == 2 else None
    if a.phase == 2:
        tps = [TopicPartition(a.topic, int(part)) for part in state["committed"]]
        for _ in deadline_loop(30, "committed offsets"):
            try:
                committed = c.committed(tps, timeout=5)
                break
            except KafkaException as e:
                print(f"committed(): {e}, retrying", file=sys.stderr)
        now = {str(tp.partition): tp.offset for tp in committed}
        check(now == state["committed"], f"committed offsets after restart {now} != before {state['committed']}")
        want = a.count - len(state["taken"])
    for _ in deadline_loop(60, f"{want} records, have {len(taken)}"):
        if len(taken) >= want:
            break
        m = poll_record(c)
        if m is not None:
            taken.append(int(m.value()))
    if a.phase == 1:
        c.commit(asynchronous=False)
        tps = c.assignment()
        committed = c.committed(tps, timeout=10)
        state = {"taken": taken, "committed": {str(tp.partition): tp.offset for tp in committed}}
        check(sum(max(o, 0) for o in state["committed"].values()) == len(taken),
              f"committed offsets {state['committed']} do not add up to {len(taken)} consumed")
        json.dump(state, open(a.state, "w"))
    else:
        # Nothing more may arrive: drain briefly to catch re-delivered records.
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            m = c.poll(0.1)
            if m is not None and not m.error():
                taken.append(int(m.value()))
        before = set(state["taken"])
        overlap = before & set(taken)
        check(not overlap, f"{len(overlap)} records re-delivered after restart, e.g. {sorted(overlap)[:10]}")
        check(len(taken) == len(set(taken)), "duplicates in phase 2")
        check(before | set(taken) == set(range(a.count)),
              f"missing records: {sorted(set(range(a.count)) - before - set(taken))[:10]}")
    c.close()
    print(json.dumps({"phase": a.phase, "taken": len(taken)}))


def cmd_steady_produce(a):
    """Produces `count` records at about `rate`/s with acks=all; every one must be
    acknowledged (used while garbage frames hit the broker)."""
    p = Producer({"bootstrap.servers": a.bootstrap, "acks": "all", "enable.idempotence": True,
                  "linger.ms": 1, "message.timeout.ms": 30000})
    stats = {"acked": 0, "errors": []}

    def on_delivery(err, msg):
        if err is None:
            stats["acked"] += 1
        else:
            stats["errors"].append(str(err))

    start = time.monotonic()
    for i in range(a.count):
        p.produce(a.topic, value=str(i).encode(), on_delivery=on_delivery)
        p.poll(0)
        due = start + (i + 1) / a.rate
        while time.monotonic() < due:
            p.poll(max(0.0, min(0.01, due - time.monotonic())))
    check(p.flush(60) == 0, "records undelivered after flush")
    check(not stats["errors"], f"{len(stats['errors'])} delivery errors: {stats['errors'][:3]}")
    check(stats["acked"] == a.count, f"acked {stats['acked']} of {a.count}")
    print(json.dumps({"acked": stats["acked"]}))


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("idempotent-produce"); s.add_argument("--count", type=int, default=1000)
    s = sub.add_parser("acked-producer")
    s.add_argument("--acked-file", required=True); s.add_argument("--count", type=int, default=10**9)
    s.add_argument("--rate", type=float, default=0); s.add_argument("--message-timeout-ms", type=int, default=5000)
    s = sub.add_parser("verify-acked")
    s.add_argument("--acked-file", required=True); s.add_argument("--min-acked", type=int, default=1)
    s = sub.add_parser("group-rebalance")
    s.add_argument("--group", required=True); s.add_argument("--count", type=int, default=600)
    s.add_argument("--step-timeout", type=float, default=30)
    s = sub.add_parser("resume-offsets")
    s.add_argument("--group", required=True); s.add_argument("--phase", type=int, choices=[1, 2], required=True)
    s.add_argument("--state", required=True); s.add_argument("--count", type=int, default=200)
    s.add_argument("--take", type=int, default=80)
    s = sub.add_parser("steady-produce")
    s.add_argument("--count", type=int, default=2000); s.add_argument("--rate", type=float, default=500)
    a = ap.parse_args()
    {"idempotent-produce": cmd_idempotent_produce, "acked-producer": cmd_acked_producer,
     "verify-acked": cmd_verify_acked, "group-rebalance": cmd_group_rebalance,
     "resume-offsets": cmd_resume_offsets,
     "steady-produce": cmd_steady_produce}[a.cmd](a)


if __name__ == "__main__":
    main()
