#!/usr/bin/env python3
"""kafka-python (pure-Python client) against a Tidewater broker: admin creates a
topic and describes its configs, a producer with acks=all sends keyed records, a
group consumer reads every one back and commits. Exits 1 on any mismatch."""
import argparse
import json
import sys
import time

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType, NewTopic
from kafka.errors import TopicAlreadyExistsError

from checks import check, fail


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--count", type=int, default=500)
    a = ap.parse_args()

    admin = KafkaAdminClient(bootstrap_servers=a.bootstrap, client_id="kp-admin",
                             request_timeout_ms=30000)
    admin.create_topics([NewTopic(a.topic, num_partitions=3, replication_factor=1,
                                  topic_configs={"retention.ms": "86400000"})])
    check(a.topic in admin.list_topics(), f"{a.topic} not listed by list_topics")
    try:
        admin.create_topics([NewTopic(a.topic, num_partitions=3, replication_factor=1)])
        fail("creating an existing topic succeeded")
    except TopicAlreadyExistsError:
        pass
    resp = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, a.topic)])
    text = repr(resp)
    check("retention.ms" in text and "86400000" in text,
          f"describe_configs lacks retention.ms=86400000: {text[:2000]}")
    admin.close()

    producer = KafkaProducer(bootstrap_servers=a.bootstrap, acks="all", linger_ms=5)
    futures = [producer.send(a.topic, key=f"k{i % 7}".encode(), value=str(i).encode())
               for i in range(a.count)]
    producer.flush(timeout=60)
    acked = {}
    for i, f in enumerate(futures):
        md = f.get(timeout=30)
        acked[i] = (md.partition, md.offset)
    producer.close()
    check(len(set(acked.values())) == a.count, "two records acknowledged at the same offset")

    consumer = KafkaConsumer(a.topic, bootstrap_servers=a.bootstrap, group_id="kp-group",
                             auto_offset_reset="earliest", enable_auto_commit=False,
                             consumer_timeout_ms=1000)
    seen = {}
    end = time.monotonic() + 60
    while len(seen) < a.count and time.monotonic() < end:
        for m in consumer:
            i = int(m.value)
            check(i not in seen, f"record {i} consumed twice")
            seen[i] = (m.partition, m.offset)
    check(seen == acked, f"consumed {len(seen)} records, acknowledged {len(acked)}; differ")
    consumer.commit()
    committed = {p: consumer.committed(TopicPartition(a.topic, p)) for p in range(3)}
    ends = consumer.end_offsets([TopicPartition(a.topic, p) for p in range(3)])
    check(all(committed[tp.partition] == off for tp, off in ends.items()),
          f"committed {committed} != end offsets {ends}")
    consumer.close()
    print(json.dumps({"acked": len(acked), "committed": committed}))


if __name__ == "__main__":
    main()
