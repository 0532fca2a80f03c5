#!/usr/bin/env python3
"""Log cleanup seen through a real client: time-based retention advances the log
start offset, and compaction keeps each key's latest value at its original offset.
The broker runs with a short log.retention.check.interval.ms; the cleaner's own
backoff (15 s, Kafka's default) bounds how long compaction takes. Exits 1 on any
mismatch."""
import argparse
import json

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic, OffsetSpec

from checks import check, deadline_loop, poll_record


def earliest(admin, topic):
    tp = TopicPartition(topic, 0)
    return admin.list_offsets({tp: OffsetSpec.earliest()})[tp].result(timeout=30).offset


def read_all(bootstrap, topic):
    """(offset, key, value) of partition 0 from its start to the current end."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "cleanup-reader",
                  "enable.auto.commit": False})
    _, hi = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=30)
    c.assign([TopicPartition(topic, 0, -2)])
    got = []
    for _ in deadline_loop(30, f"reading {topic} up to {hi}"):
        if got and got[-1][0] + 1 >= hi:
            break
        m = poll_record(c)
        if m is not None:
            got.append((m.offset(), m.key(), m.value()))
    c.close()
    return got


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--bootstrap", required=True)
    a = ap.parse_args()
    admin = AdminClient({"bootstrap.servers": a.bootstrap})
    roll = {"segment.ms": "100", "min.compaction.lag.ms": "0"}
    topics = [NewTopic("ret", 1, 1, config={"retention.ms": "1000", **roll}),
              NewTopic("cmp", 1, 1, config={"cleanup.policy": "compact",
                                            "min.cleanable.dirty.ratio": "0.01", **roll})]
    for f in admin.create_topics(topics).values():
        f.result(timeout=30)
    p = Producer({"bootstrap.servers": a.bootstrap, "acks": "all", "linger.ms": 0})
    acked = {}

    def on_delivery(err, msg):
        check(err is None, f"delivery failed: {err}")
        acked[(msg.topic(), msg.key(), msg.value())] = msg.offset()

    for i in range(10):
        p.produce("ret", key=b"r", value=str(i).encode(), on_delivery=on_delivery)
    for v in range(10):
        for k in range(10):
            p.produce("cmp", key=f"k{k}".encode(), value=f"k{k}-v{v}".encode(), on_delivery=on_delivery)
    check(p.flush(30) == 0, "flush")

    # Each poke appends a record, which rolls the aged active segment so retention
    # and the cleaner have closed segments to work on.
    for _ in deadline_loop(60, "retention to delete the first segments of 'ret'"):
        p.produce("ret", key=b"poke", value=b"poke")
        p.flush(10)
        if earliest(admin, "ret") >= 10:
            break
        p.poll(0.25)
    compacted = None
    for _ in deadline_loop(90, "compaction of 'cmp'"):
        p.produce("cmp", key=b"poke", value=b"poke")
        p.flush(10)
        recs = [r for r in read_all(a.bootstrap, "cmp") if r[1] != b"poke"]
        if len(recs) == 10:
            compacted = recs
            break
        p.poll(0.5)
    for off, key, value in compacted:
        k = key.decode()
        check(value == f"{k}-v9".encode(), f"{k} kept {value!r}, expected its latest value")
        check(acked[("cmp", key, value)] == off, f"{k} moved from offset {acked[('cmp', key, value)]} to {off}")
    print(json.dumps({"ok": True, "ret_earliest": earliest(admin, "ret")}))


if __name__ == "__main__":
    main()
