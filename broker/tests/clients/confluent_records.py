#!/usr/bin/env python3
"""Record-level fidelity and offset APIs through confluent-kafka: headers, null
keys, CreateTime timestamps and a near-1 MiB value round trip unchanged; ListOffsets
(earliest, latest, by timestamp) and DeleteRecords move the log start as Kafka does.
Exits 1 on any mismatch."""
import argparse
import json

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic, OffsetSpec

from checks import check, deadline_loop, poll_record


def read_partition(bootstrap, topic, partition, start, count):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "records-reader",
                  "enable.auto.commit": False, "fetch.message.max.bytes": 2_000_000})
    c.assign([TopicPartition(topic, partition, start)])
    got = []
    for _ in deadline_loop(30, f"{count} records of {topic}-{partition} from {start}"):
        if len(got) >= count:
            break
        m = poll_record(c)
        if m is not None:
            got.append(m)
    c.close()
    return got


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    a = ap.parse_args()
    t = a.topic
    admin = AdminClient({"bootstrap.servers": a.bootstrap})
    admin.create_topics([NewTopic(t, num_partitions=1, replication_factor=1)])[t].result(timeout=30)

    p = Producer({"bootstrap.servers": a.bootstrap, "acks": "all", "linger.ms": 0})
    base_ts = 1_700_000_000_000
    big = bytes(range(256)) * (900 * 1024 // 256)
    sent = []
    for i in range(100):
        key = None if i % 3 == 0 else f"key-{i}".encode()
        value = big if i == 50 else f"value-{i}".encode()
        headers = [("idx", str(i).encode()), ("dup", b"a"), ("dup", b"b"), ("empty", b"")]
        p.produce(t, key=key, value=value, headers=headers, partition=0, timestamp=base_ts + i * 1000)
        sent.append((key, value, headers, base_ts + i * 1000))
        p.flush(30)  # one batch per record, so offsets map to distinct timestamps
    check(p.flush(30) == 0, "flush")

    got = read_partition(a.bootstrap, t, 0, 0, 100)
    for i, (m, (key, value, headers, ts)) in enumerate(zip(got, sent)):
        check(m.offset() == i, f"record {i} at offset {m.offset()}")
        check(m.key() == key, f"record {i} key {m.key()!r} != {key!r}")
        check(m.value() == value, f"record {i} value differs (len {len(m.value() or b'')} vs {len(value)})")
        check(m.headers() == headers, f"record {i} headers {m.headers()} != {headers}")
        check(m.timestamp() == (1, ts), f"record {i} timestamp {m.timestamp()} != CreateTime {ts}")

    tp = TopicPartition(t, 0)
    def offset(spec):
        return admin.list_offsets({tp: spec})[tp].result(timeout=30).offset
    check(offset(OffsetSpec.earliest()) == 0, "earliest before delete")
    check(offset(OffsetSpec.latest()) == 100, "latest")
    check(offset(OffsetSpec.for_timestamp(base_ts + 42 * 1000)) == 42, "offset for record 42's timestamp")
    check(offset(OffsetSpec.for_timestamp(base_ts + 42 * 1000 - 1)) == 42, "first offset at or after ts")

    res = admin.delete_records([TopicPartition(t, 0, 40)])[TopicPartition(t, 0, 40)].result(timeout=30)
    check(res.low_watermark == 40, f"DeleteRecords low watermark {res.low_watermark}")
    check(offset(OffsetSpec.earliest()) == 40, "earliest after delete")
    first = read_partition(a.bootstrap, t, 0, -2, 1)  # -2: OFFSET_BEGINNING
    check(first[0].offset() == 40, f"reading from the beginning starts at {first[0].offset()}")
    print(json.dumps({"ok": True}))


if __name__ == "__main__":
    main()
