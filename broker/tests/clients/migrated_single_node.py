"""Checks a broker started on the single-node fixture dir (broker/tests/fixtures/
single-node-file-metadata) with confluent-kafka: every topic, record, config and the
group's committed offset the old single-node mode stored is still there after the
migration into the metadata log, and the broker takes new writes.

Usage: migrated_single_node.py BOOTSTRAP PHASE   (PHASE: first | again)
Exits non-zero with the first difference it finds.
"""
import sys

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, ResourceType

bootstrap, phase = sys.argv[1], sys.argv[2]
admin = AdminClient({"bootstrap.servers": bootstrap})


def check(ok, what):
    if not ok:
        print(f"FAIL: {what}")
        sys.exit(1)
    print(f"ok: {what}")


md = admin.list_topics(timeout=30)
parts = {name: len(t.partitions) for name, t in md.topics.items()}
check(parts.get("orders") == 3 and parts.get("events") == 1, f"topics and partitions {parts}")

topic_cfg = admin.describe_configs([ConfigResource(ResourceType.TOPIC, "orders")])
entries = list(topic_cfg.values())[0].result(timeout=30)
check(entries["retention.ms"].value == "86400000", "orders keeps retention.ms=86400000")
check(entries["cleanup.policy"].value == "delete", "orders keeps cleanup.policy=delete")
broker_cfg = admin.describe_configs([ConfigResource(ResourceType.BROKER, "1")])
entries = list(broker_cfg.values())[0].result(timeout=30)
check(entries["log.retention.ms"].value == "604800000", "broker 1 keeps its dynamic log.retention.ms")


def read_all(topic, partition, expected):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"reader-{phase}-{topic}-{partition}",
                  "enable.auto.commit": False})
    c.assign([TopicPartition(topic, partition, 0)])
    out = []
    while len(out) < expected:
        m = c.poll(10)
        if m is None:
            break
        if m.error():
            continue
        out.append((m.key().decode() if m.key() else None, m.value().decode()))
    c.close()
    return out


for p in range(3):
    got = read_all("orders", p, 10)
    want = [(f"k{i}", f"order-{i}") for i in range(30) if i % 3 == p]
    check(got == want, f"orders-{p} holds its 10 records in order")
events = [v for _, v in read_all("events", 0, 8)]
check(events[:8] == [f"event-{i}" for i in range(5)] + [f"idem-{i}" for i in range(3)],
      f"events holds its 8 records ({len(events)} read)")

c = Consumer({"bootstrap.servers": bootstrap, "group.id": "fixture-group", "enable.auto.commit": False})
committed = c.committed([TopicPartition("events", 0)], timeout=30)
c.close()
check(committed[0].offset == 5, f"fixture-group's committed offset is 5 ({committed[0].offset})")

p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
p.produce("events", value=f"after-{phase}")
check(p.flush(30) == 0, "an idempotent producer appends to a migrated topic")
print("all checks passed")
