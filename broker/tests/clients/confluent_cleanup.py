#!/usr/bin/env python3
"""Log cleanup seen through a real client: time-based retention advances the log
start offset, and compaction keeps each key's latest value at its original offset.
The broker runs with a short log.retention.check.interval.ms; the cleaner's own
backoff (15 s, Kafka's default) bounds how long compaction takes. With --phase
start-produce / start-check (a broker restart between them): compaction never moves
the log start offset, so consumers from offset 0 or 100 still get every surviving
record. Exits 1 on any mismatch."""
import argparse
import json
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic, OffsetSpec

from checks import check, deadline_loop, poll_record


def earliest(admin, topic):
    tp = TopicPartition(topic, 0)
    return admin.list_offsets({tp: OffsetSpec.earliest()})[tp].result(timeout=30).offset


def read_all(bootstrap, topic):
    """(offset, key, value) of partition 0 from its start to the current end."""
    return _read(bootstrap, topic, -2, {"group.id": "cleanup-reader"},
                 f"reading {topic}")


def read_from(bootstrap, topic, offset):
    """(offset, key, value) of partition 0 from `offset` to the current end. An offset
    the broker calls out of range is an error (auto.offset.reset=error), not a silent
    jump to the end that would skip the records compaction kept."""
    return _read(bootstrap, topic, offset,
                 {"group.id": "start-reader", "auto.offset.reset": "error"},
                 f"reading {topic} from {offset}")


def _read(bootstrap, topic, start, conf, what):
    c = Consumer({"bootstrap.servers": bootstrap, "enable.auto.commit": False, **conf})
    _, hi = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=30)
    c.assign([TopicPartition(topic, 0, start)])
    got = []
    for _ in deadline_loop(30, f"{what} up to {hi}"):
        if got and got[-1][0] + 1 >= hi:
            break
        m = poll_record(c)
        if m is not None:
            got.append((m.offset(), m.key(), m.value()))
    c.close()
    return got


START_TOPIC = "cmp-start"


def start_produce(a):
    """Many small segments of five keys rewritten over and over, so compaction cleans
    the first segments down to nothing. Waits until the cleaner did; prints each key's
    latest acknowledged offset for `start_check`, which runs after a broker restart."""
    admin = AdminClient({"bootstrap.servers": a.bootstrap})
    cfg = {"cleanup.policy": "compact", "min.cleanable.dirty.ratio": "0.01",
           "min.compaction.lag.ms": "0", "segment.bytes": "1024"}
    for f in admin.create_topics([NewTopic(START_TOPIC, 1, 1, config=cfg)]).values():
        f.result(timeout=30)
    p = Producer({"bootstrap.servers": a.bootstrap, "acks": "all", "linger.ms": 0})
    latest = {}

    def on_delivery(err, msg):
        check(err is None, f"delivery failed: {err}")
        latest[msg.key().decode()] = [msg.offset(), msg.value().decode()]

    for i in range(300):
        # One record per batch (flush each): many segments, each a few batches.
        p.produce(START_TOPIC, key=f"k{i % 5}".encode(), value=f"v{i:04}-{'x' * 40}".encode(),
                  on_delivery=on_delivery)
        p.flush(10)
    for _ in deadline_loop(90, f"compaction of '{START_TOPIC}'"):
        recs = read_from(a.bootstrap, START_TOPIC, 0)
        if recs and recs[0][0] >= 100:
            break
        time.sleep(1)
    check(earliest(admin, START_TOPIC) == 0, "compaction moved the log start offset")
    print(json.dumps({"ok": True, "latest": latest}))


def start_check(a):
    """After a restart: ListOffsets earliest is still 0, and consuming from 0 or 100 gets
    the records that survived compaction, each key's latest value at its offset."""
    admin = AdminClient({"bootstrap.servers": a.bootstrap})
    latest = json.loads(a.expect)["latest"]
    got = earliest(admin, START_TOPIC)
    check(got == 0, f"ListOffsets earliest is {got} after compaction and a restart, not 0")
    recs = read_from(a.bootstrap, START_TOPIC, 0)
    for k, (off, value) in latest.items():
        # The newest value is last; an older one may remain only in the segments the
        # cleaner has not reached (the active one and the last it cleaned against).
        found = [r for r in recs if r[1] == k.encode()]
        check(found and found[-1] == (off, k.encode(), value.encode()),
              f"{k}: {found} does not end with its latest value at offset {off}")
        check(all(r[0] >= 100 for r in found), f"{k}: superseded values survived: {found}")
    from_100 = read_from(a.bootstrap, START_TOPIC, 100)
    want = [r for r in recs if r[0] >= 100]
    check(from_100 == want, f"from offset 100: {from_100[:3]}... expected {want[:3]}...")
    print(json.dumps({"ok": True, "first_surviving": recs[0][0]}))


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--phase", choices=["cleanup", "start-produce", "start-check"],
                    default="cleanup")
    ap.add_argument("--expect", help="start-produce's output, for start-check")
    a = ap.parse_args()
    if a.phase == "start-produce":
        return start_produce(a)
    if a.phase == "start-check":
        return start_check(a)
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
