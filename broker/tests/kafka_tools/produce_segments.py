#!/usr/bin/env python3
"""Writes the segments that Apache Kafka's DumpLogSegments then reads: one topic per
shape of data (plain, each compression codec, an idempotent producer, a compacted
topic), produced with confluent-kafka (librdkafka). Debian's kcat cannot do this:
its librdkafka 2.0.2 silently skips gzip/snappy/lz4 against any broker whose
Produce starts at v3, as Kafka 4's does (confluentinc/librdkafka#4956).

Waits until the broker's cleaner has compacted the compacted topic, then prints
one JSON line {"topic": records produced, ...} and exits 0; exits 1 on any
delivery error or if compaction does not happen in time."""
import argparse
import json
import sys
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

RECORDS = 3000
KEYS = 50


def produce(bootstrap, topic, extra):
    """RECORDS keyed records in batches of 100, every one acknowledged."""
    conf = {"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5,
            "batch.num.messages": 100, **extra}
    p = Producer(conf)
    errors = []

    def on_delivery(err, _msg):
        if err is not None:
            errors.append(str(err))

    for i in range(RECORDS):
        p.produce(topic, key=f"key-{i % KEYS}".encode(),
                  value=f"value-{i}-{'x' * (i % 40)}".encode(), on_delivery=on_delivery)
        p.poll(0)
    left = p.flush(30)
    if errors or left:
        sys.exit(f"{topic}: {left} unacknowledged, delivery errors {errors[:5]}")


def count_records(bootstrap, topic):
    """How many records partition 0 holds now, read from its start to its end."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "dump-log-reader",
                  "enable.auto.commit": False, "enable.partition.eof": True})
    c.assign([TopicPartition(topic, 0, -2)])
    n, deadline = 0, time.time() + 30
    while time.time() < deadline:
        m = c.poll(1.0)
        if m is None:
            continue
        if m.error():
            if m.error().code() == -191:  # _PARTITION_EOF
                break
            sys.exit(f"reading {topic}: {m.error()}")
        n += 1
    c.close()
    return n


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic-config", action="append", default=[], metavar="KEY=VALUE",
                    help="set on every topic (Apache Kafka rolls segments of at least "
                         "1 MiB only, so a test against it rolls them by time: segment.ms)")
    a = ap.parse_args()
    common = dict(kv.split("=", 1) for kv in a.topic_config)
    admin = AdminClient({"bootstrap.servers": a.bootstrap})
    compact = {"cleanup.policy": "compact", "min.cleanable.dirty.ratio": "0.01",
               "min.compaction.lag.ms": "0"}
    shapes = {
        "plain": ({}, {}),
        "gzip": ({}, {"compression.type": "gzip"}),
        "snappy": ({}, {"compression.type": "snappy"}),
        "lz4": ({}, {"compression.type": "lz4"}),
        "zstd": ({}, {"compression.type": "zstd"}),
        "idempotent": ({}, {"enable.idempotence": True}),
        "compacted": (compact, {}),
    }
    futures = admin.create_topics([NewTopic(t, 1, 1, config={**common, **cfg}) for t, (cfg, _) in shapes.items()])
    for f in futures.values():
        f.result(timeout=30)
    # The compacted topic first: the cleaner runs every 15 s and works meanwhile.
    for topic in ["compacted"] + [t for t in shapes if t != "compacted"]:
        produce(a.bootstrap, topic, shapes[topic][1])
    deadline = time.time() + 90
    while count_records(a.bootstrap, "compacted") >= RECORDS:
        if time.time() > deadline:
            sys.exit("the cleaner did not compact 'compacted' within 90 s")
        time.sleep(0.5)
    print(json.dumps({t: RECORDS for t in shapes}))


if __name__ == "__main__":
    main()
