#!/usr/bin/env python3
"""Log compaction of a topic written by transactions, seen through confluent-kafka.

A transactional producer writes ten keys in a committed transaction, all ten again in
an aborted one, the first five in a second committed one and the last five in a second
aborted one, to a `cleanup.policy=compact` topic whose segments roll every 100 ms. A
plain producer then appends a "poke" record each round (rolling the segment so the
transactions are cleanable) until a read_uncommitted consumer no longer sees any
aborted record: the cleaner ran and removed them. A read_committed consumer must then
get each key's latest committed value, at the offset it was acknowledged at, once,
and nothing aborted. Exits 1 on any mismatch; prints a JSON line on success.
"""
import argparse
import json

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from checks import check, deadline_loop, poll_record

KEYS = [f"k{i}" for i in range(10)]


def read(bootstrap, topic, isolation, sentinel):
    """(offset, key, value) of every data record of partition 0 from offset 0 up to
    the record whose value is `sentinel` (the last one written)."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"txn-cmp-{isolation}",
                  "enable.auto.commit": False, "isolation.level": isolation,
                  "auto.offset.reset": "error"})
    c.assign([TopicPartition(topic, 0, 0)])
    got = []
    for _ in deadline_loop(30, f"{sentinel} as {isolation}"):
        m = poll_record(c)
        if m is None:
            continue
        if m.value().decode() == sentinel:
            break
        got.append((m.offset(), m.key().decode(), m.value().decode()))
    c.close()
    return got


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    a = ap.parse_args()
    admin = AdminClient({"bootstrap.servers": a.bootstrap})
    cfg = {"cleanup.policy": "compact", "min.cleanable.dirty.ratio": "0.01",
           "min.compaction.lag.ms": "0", "segment.ms": "100"}
    for f in admin.create_topics([NewTopic(a.topic, 1, 1, config=cfg)]).values():
        f.result(timeout=30)

    txp = Producer({"bootstrap.servers": a.bootstrap, "transactional.id": "tx-compact",
                    "transaction.timeout.ms": 60000, "linger.ms": 5})
    txp.init_transactions(30)
    acked = {}

    def on_delivery(err, msg):
        check(err is None, f"delivery failed: {err}")
        acked[msg.value().decode()] = msg.offset()

    def transaction(name, keys, commit):
        txp.begin_transaction()
        for k in keys:
            txp.produce(a.topic, key=k.encode(), value=f"{name}-{k}".encode(),
                        on_delivery=on_delivery)
        check(txp.flush(30) == 0, f"{name}: records undelivered")
        if commit:
            txp.commit_transaction(30)
        else:
            txp.abort_transaction(30)

    transaction("c1", KEYS, True)
    transaction("a2", KEYS, False)
    transaction("c3", KEYS[:5], True)
    transaction("a4", KEYS[5:], False)
    expected = {k: f"c3-{k}" for k in KEYS[:5]}
    expected.update({k: f"c1-{k}" for k in KEYS[5:]})

    plain = Producer({"bootstrap.servers": a.bootstrap, "acks": "all", "linger.ms": 0})
    rounds = 0
    for _ in deadline_loop(150, "the cleaner to remove the aborted records"):
        rounds += 1
        sentinel = f"poke-{rounds}"
        plain.produce(a.topic, key=b"poke", value=sentinel.encode())
        check(plain.flush(10) == 0, "poke undelivered")
        uncommitted = read(a.bootstrap, a.topic, "read_uncommitted", sentinel)
        if not any(v.startswith(("a2-", "a4-")) for _, _, v in uncommitted):
            break
        plain.poll(0.5)

    committed = [r for r in read(a.bootstrap, a.topic, "read_committed", sentinel)
                 if r[1] != "poke"]
    check(not any(v.startswith(("a2-", "a4-")) for _, _, v in committed),
          f"read_committed saw aborted records: {committed}")
    latest = {}
    for _, k, v in committed:
        latest[k] = v
    check(latest == expected, f"read_committed's latest values {latest}, expected {expected}")
    # Compacted: each key once (its superseded and aborted values are gone), at the
    # offset the broker acknowledged it at.
    check(len(committed) == len(KEYS), f"{len(committed)} records left: {committed}")
    for off, k, v in committed:
        check(acked[v] == off, f"{k}={v} moved from offset {acked[v]} to {off}")
    print(json.dumps({"ok": True, "rounds": rounds, "uncommitted": len(uncommitted),
                      "committed": len(committed)}))


if __name__ == "__main__":
    main()
