#!/usr/bin/env python3
"""Both sides of adopting a Kafka log dir (broker/tests/kafka_tools/adopt.rs), with
confluent-kafka (librdkafka).

  write BOOTSTRAP OUT   on Apache Kafka: creates topic 'moved' (3 partitions,
                        retention.ms and max.message.bytes set, one config set
                        then deleted),
                        produces 300 keyed records with set timestamps, has group
                        'movers' commit offset 50 on every partition, and writes
                        every record (partition, offset, timestamp, key, value) to
                        OUT as JSON.
  read BOOTSTRAP OUT    on Tidewater started on that log dir: every record is
                        there with the same offsets and timestamps (and nothing
                        more), the topic has Kafka's configs, and group 'movers'
                        resumes at offset 50 on each partition. Exits 1 with the first difference."""
import json
import sys
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import (AdminClient, AlterConfigOpType, ConfigEntry,
                                  ConfigResource, NewTopic)

TOPIC, PARTITIONS, RECORDS, COMMITTED, GROUP = "moved", 3, 300, 50, "movers"
# Topic configs Kafka keeps in its metadata log; Tidewater must carry them over.
CONFIGS = {"retention.ms": "987654321", "max.message.bytes": "2000000"}
BASE_TS = 1_700_000_000_000


def read_all(bootstrap):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "adopt-reader",
                  "enable.auto.commit": False, "enable.partition.eof": True})
    c.assign([TopicPartition(TOPIC, p, -2) for p in range(PARTITIONS)])
    out, eof, deadline = [], set(), time.time() + 60
    while len(eof) < PARTITIONS and time.time() < deadline:
        m = c.poll(1.0)
        if m is None:
            continue
        if m.error():
            if m.error().code() == -191:  # _PARTITION_EOF
                eof.add(m.partition())
                continue
            sys.exit(f"reading {TOPIC}: {m.error()}")
        out.append([m.partition(), m.offset(), m.timestamp()[1], m.key().decode(), m.value().decode()])
    c.close()
    if len(eof) < PARTITIONS:
        sys.exit(f"only partitions {sorted(eof)} read to their end in 60 s")
    return sorted(out)


def group_consumer(bootstrap):
    """A member of GROUP with every partition assigned, and the first offset it
    consumed from each partition while it waited for them."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": GROUP,
                  "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    c.subscribe([TOPIC])
    first, deadline = {}, time.time() + 60
    while len(c.assignment()) < PARTITIONS:
        if time.time() > deadline:
            sys.exit(f"group {GROUP} got {c.assignment()} in 60 s")
        m = c.poll(0.2)
        if m is not None and not m.error():
            first.setdefault(m.partition(), m.offset())
    return c, first


def write(bootstrap, out):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(TOPIC, PARTITIONS, 1, config=CONFIGS)])[TOPIC].result(30)
    # Set, then deleted again: a ConfigRecord with a null value.
    resource = ConfigResource(ConfigResource.Type.TOPIC, TOPIC)
    for op in (AlterConfigOpType.SET, AlterConfigOpType.DELETE):
        resource.add_incremental_config(ConfigEntry("segment.ms", "600000",
                                                    incremental_operation=op))
        admin.incremental_alter_configs([resource])[resource].result(30)
        resource = ConfigResource(ConfigResource.Type.TOPIC, TOPIC)
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})
    errors = []
    for i in range(RECORDS):
        p.produce(TOPIC, partition=i % PARTITIONS, key=f"k{i}".encode(), value=f"v{i}".encode(),
                  timestamp=BASE_TS + i * 1000,
                  on_delivery=lambda err, _m: err and errors.append(str(err)))
    if p.flush(30) or errors:
        sys.exit(f"delivery errors: {errors[:5]}")
    c, _ = group_consumer(bootstrap)
    c.commit(offsets=[TopicPartition(TOPIC, q, COMMITTED) for q in range(PARTITIONS)], asynchronous=False)
    c.close()
    records = read_all(bootstrap)
    if len(records) != RECORDS:
        sys.exit(f"Kafka holds {len(records)} records, not {RECORDS}")
    with open(out, "w") as f:
        json.dump(records, f)


def read(bootstrap, expected_file):
    with open(expected_file) as f:
        expected = json.load(f)
    records = read_all(bootstrap)
    for want, got in zip(expected, records):
        if want != got:
            sys.exit(f"record differs: Kafka served {want}, Tidewater {got}")
    if len(records) != len(expected):
        sys.exit(f"Tidewater serves {len(records)} records, Kafka served {len(expected)}")
    resource = ConfigResource(ConfigResource.Type.TOPIC, TOPIC)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    described = admin.describe_configs([resource])[resource].result(30)
    for key, value in CONFIGS.items():
        if described[key].value != value or described[key].is_default:
            sys.exit(f"config {key} on Tidewater: {described[key]}, Kafka had {value}")
    if not described["segment.ms"].is_default:
        sys.exit(f"segment.ms was deleted on Kafka, Tidewater has {described['segment.ms']}")
    c, first = group_consumer(bootstrap)
    committed = {tp.partition: tp.offset for tp in c.committed(
        [TopicPartition(TOPIC, q) for q in range(PARTITIONS)], timeout=30)}
    if committed != {q: COMMITTED for q in range(PARTITIONS)}:
        sys.exit(f"group {GROUP} committed offsets on Tidewater: {committed}")
    deadline = time.time() + 60
    while len(first) < PARTITIONS and time.time() < deadline:
        m = c.poll(1.0)
        if m is not None and not m.error():
            first.setdefault(m.partition(), m.offset())
    c.close()
    if first != {q: COMMITTED for q in range(PARTITIONS)}:
        sys.exit(f"group {GROUP} resumed at {first}, not at {COMMITTED}")
    print(json.dumps({"records": len(records), "resumed_at": first}))


if __name__ == "__main__":
    mode, bootstrap, path = sys.argv[1:4]
    write(bootstrap, path) if mode == "write" else read(bootstrap, path)
