#!/usr/bin/env python3
"""confluent-kafka clients that run during a rolling upgrade (operator/tests/upgrade.rs).

  create   the topic: partitions, replication factor, min.insync.replicas.
  produce  --acks all|1: produces unique ids until the stop file appears, id N to
           partition N % partitions; appends every acknowledged id to --acked as it is
           acked (acks=all is idempotent); prints a JSON summary (acked, errors, p99 ack
           latency ms, the longest gap between two acks of one partition and when).
  consume  one member of a consumer group; until the stop file appears, counts records
           and prints a JSON summary (consumed, longest stretch in s without a record).
  verify   reads every partition from the start to its high watermark and fails unless
           every acknowledged id of every --acked file is there (0 records lost).
  gaps     --topic T LOG...: the brokers' side of the acks=all gap, from their logs.
Exit 0 only when the checks hold; FAIL and the reason on stderr otherwise.
"""
import argparse
import datetime
import json
import os
import re
import sys
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def create(a):
    admin = AdminClient({"bootstrap.servers": a.bootstrap})
    topic = NewTopic(a.topic, num_partitions=a.partitions, replication_factor=a.rf,
                     config={"min.insync.replicas": str(a.min_isr)})
    admin.create_topics([topic], operation_timeout=30)[a.topic].result(timeout=60)
    print(json.dumps({"created": a.topic}))


def client_debug(conf, path):
    """With ROLL_CLIENT_DEBUG=<librdkafka debug contexts> (e.g. msg,broker), the
    client's debug log goes to `path`, to line a long wait up with the broker logs.
    librdkafka writes it to stderr itself, each line stamped when it happened (a Python
    logger would stamp lines when poll() hands them over), so stderr goes to `path`."""
    contexts = os.environ.get("ROLL_CLIENT_DEBUG")
    if contexts:
        conf["debug"] = contexts
        os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644), 2)


def produce(a):
    conf = {"bootstrap.servers": a.bootstrap, "acks": a.acks, "linger.ms": 5,
            "message.timeout.ms": 120000, "retries": 1000000}
    if a.acks == "all":
        conf["enable.idempotence"] = True
    client_debug(conf, a.acked + ".debug")
    p = Producer(conf)
    # Round-robin over the partitions, so each one gets a record every `partitions`
    # records and the longest gap between two of its acks is how long it had no leader
    # taking writes. (Keyed records leave random gaps of ~1 s per partition at 1000/s
    # over 100 partitions, whatever the brokers do: that was most of the benchmark's
    # "acks=all gap" until session 9.)
    topic = p.list_topics(a.topic, timeout=30).topics[a.topic]
    if topic.error is not None or not topic.partitions:
        print("FAIL: topic %s has no partitions: %s" % (a.topic, topic.error), file=sys.stderr)
        sys.exit(1)
    partitions = len(topic.partitions)
    acked, errors, lat = [0], [], []
    # Per partition: last ack time and the longest stretch between two acks (how long
    # the partition had no leader accepting this producer's writes), with its end.
    last_ack, max_gap, gap_end = {}, {}, {}
    out = open(a.acked, "a", buffering=1)
    # Where each ack landed (id, partition, offset, ack time, send time), to find a lost
    # record, or a long wait in the broker logs.
    where = open(a.acked + ".where", "a", buffering=1)

    # The figures count records sent once `--measure` exists (the caller creates it when
    # the clients are past their start: connections, metadata, the producer id): the
    # longest waits of a client's first second are its own start, not the brokers'.
    measure_from = [None]
    warmup_max = [0.0]

    def done(err, msg, sent):
        if err is not None:
            errors.append(str(err))
        else:
            now = time.time()
            acked[0] += 1
            p = msg.partition()
            if measure_from[0] is None or sent < measure_from[0]:
                warmup_max[0] = max(warmup_max[0], now - sent)
            else:
                lat.append(now - sent)
                if p in last_ack and now - last_ack[p] > max_gap.get(p, 0.0):
                    max_gap[p] = now - last_ack[p]
                    gap_end[p] = now
                last_ack[p] = now
            out.write(msg.value().decode() + "\n")
            where.write("%s %d %d %.3f %.3f\n" % (msg.value().decode(), p, msg.offset(), now, sent))

    i = 0
    started = time.time()
    while not os.path.exists(a.stop):
        # On a schedule (not a sleep after each record), so a slow moment is caught up
        # and the producer holds its rate: at a lower one every partition's own gap
        # between two records, and so between two acks, grows.
        if measure_from[0] is None and (a.measure is None or os.path.exists(a.measure)):
            measure_from[0] = time.time()
        ahead = started + i / a.rate - time.time()
        if ahead > 0:
            p.poll(ahead)
            continue
        value = "%s-%d" % (a.acks, i)
        sent = time.time()
        while True:
            try:
                p.produce(a.topic, value=value, key=str(i), partition=i % partitions,
                          on_delivery=lambda e, m, s=sent: done(e, m, s))
                break
            except BufferError:
                p.poll(0.05)
        i += 1
        p.poll(0)
    elapsed = time.time() - started
    left = p.flush(120)
    lat.sort()
    p99 = lat[int(len(lat) * 0.99)] * 1000 if lat else 0
    worst = max(max_gap.items(), key=lambda kv: kv[1], default=(None, 0.0))
    print(json.dumps({"acks": a.acks, "sent": i, "acked": acked[0], "errors": errors[:5],
                      "unflushed": left, "p99_ms": round(p99, 1),
                      # The longest any record waited for its ack: how long a partition
                      # had no leader taking this producer's writes, as the client saw
                      # it (retries and backoff included), free of the partition's own
                      # gap between two records that the ack gap below also holds.
                      "max_ms": round(lat[-1] * 1000, 1) if lat else 0,
                      "measured": len(lat),
                      "warmup_max_ms": round(warmup_max[0] * 1000, 1),
                      "rate": round(i / elapsed) if elapsed > 0 else 0,
                      "max_ack_gap_ms": round(worst[1] * 1000), "max_gap_partition": worst[0],
                      "max_gap_end": round(gap_end.get(worst[0], 0.0), 3),
                      "gaps_over_250ms": sum(1 for g in max_gap.values() if g > 0.25)}))
    if left or errors:
        print("FAIL: %d unflushed, errors %s" % (left, errors[:5]), file=sys.stderr)
        sys.exit(1)


def consume(a):
    c = Consumer({"bootstrap.servers": a.bootstrap, "group.id": a.group,
                  "auto.offset.reset": "earliest", "enable.auto.commit": True})
    c.subscribe([a.topic])
    n, last, gap = 0, None, 0.0
    # Until the test stops the clients; a roll can now end before the group's first
    # join does, so a group that has consumed nothing yet goes on (up to 60 s) until it
    # has: the group must work during or after the roll.
    stopped_at = None
    while True:
        if stopped_at is None and os.path.exists(a.stop):
            stopped_at = time.time()
        if stopped_at is not None and (n > 0 or time.time() - stopped_at > 60):
            break
        m = c.poll(0.5)
        now = time.time()
        if m is not None and m.error() is None:
            if last is not None:
                gap = max(gap, now - last)
            n, last = n + 1, now
    c.close()
    print(json.dumps({"consumed": n, "max_gap_s": round(gap, 2)}))
    if n == 0:
        print("FAIL: the group consumed nothing", file=sys.stderr)
        sys.exit(1)


def verify(a):
    want = set()
    for f in a.acked:
        with open(f) as fh:
            want.update(line.strip() for line in fh if line.strip())
    c = Consumer({"bootstrap.servers": a.bootstrap, "group.id": "verify-%d" % os.getpid(),
                  "enable.auto.commit": False})
    md = c.list_topics(a.topic, timeout=30)
    parts = []
    for p in md.topics[a.topic].partitions:
        _, high = c.get_watermark_offsets(TopicPartition(a.topic, p), timeout=30)
        parts.append((p, high))
    c.assign([TopicPartition(a.topic, p, 0) for p, _ in parts])
    ends = {p: h for p, h in parts}
    got, done, deadline = set(), set(p for p, h in parts if h == 0), time.time() + a.timeout
    while len(done) < len(parts) and time.time() < deadline:
        m = c.poll(1.0)
        if m is None or m.error() is not None:
            continue
        got.add(m.value().decode())
        if m.offset() + 1 >= ends[m.partition()]:
            done.add(m.partition())
    c.close()
    lost = want - got
    print(json.dumps({"acked": len(want), "read": len(got), "lost": len(lost),
                      "lost_sample": sorted(lost)[:10]}))
    if lost or len(done) < len(parts):
        print("FAIL: %d acknowledged records lost" % len(lost), file=sys.stderr)
        sys.exit(1)


LOG_LINE = re.compile(r"^(\S+Z)\s+\w+\s+\S+ (became leader|became follower|partition has no leader) tp=(\S+)")


def gaps(a):
    """The brokers' own side of a roll's acks=all gap, from their broker.log files: per
    partition of the topic, from the moment its leader resigned (applied an image naming
    another leader, or none; it takes acks=all writes until then) to the moment a node
    applied the image making it leader. A client sees more: the time to learn the new
    leader (a NOT_LEADER answer with the KIP-951 hint, or a metadata refresh) and its
    retry backoff."""
    events = {}
    for path in a.logs:
        with open(path, errors="replace") as fh:
            for line in fh:
                m = LOG_LINE.match(line)
                if not m:
                    continue
                stamp, what, tp = m.groups()
                if tp.rsplit("-", 1)[0] != a.topic:
                    continue
                t = datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
                events.setdefault(tp, []).append((t, path, what == "became leader"))
    worst, worst_tp, changes, over = 0.0, None, 0, 0
    for tp, evs in events.items():
        evs.sort()
        leader, since = None, None
        for t, node, leads in evs:
            if leads:
                if since is not None:
                    gap = t - since
                    changes += 1
                    over += gap > 0.25
                    if gap > worst:
                        worst, worst_tp = gap, tp
                leader, since = node, None
            elif node == leader:
                leader, since = None, t
    print(json.dumps({"max_ms": round(worst * 1000), "partition": worst_tp,
                      "changes": changes, "over_250ms": over}))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("create")
    s.add_argument("--partitions", type=int, required=True)
    s.add_argument("--rf", type=int, required=True)
    s.add_argument("--min-isr", type=int, required=True)
    s = sub.add_parser("produce")
    s.add_argument("--acks", choices=["all", "1"], required=True)
    s.add_argument("--acked", required=True)
    s.add_argument("--stop", required=True)
    s.add_argument("--rate", type=float, default=200.0)
    s.add_argument("--measure", help="count figures for records sent once this file exists")
    s = sub.add_parser("consume")
    s.add_argument("--group", required=True)
    s.add_argument("--stop", required=True)
    s = sub.add_parser("verify")
    s.add_argument("--acked", action="append", required=True)
    s.add_argument("--timeout", type=float, default=120.0)
    for s in sub.choices.values():
        s.add_argument("--bootstrap", required=True)
        s.add_argument("--topic", required=True)
    s = sub.add_parser("gaps")
    s.add_argument("--topic", required=True)
    s.add_argument("logs", nargs="+", help="every node's broker.log")
    a = ap.parse_args()
    {"create": create, "produce": produce, "consume": consume, "verify": verify,
     "gaps": gaps}[a.cmd](a)


if __name__ == "__main__":
    main()
