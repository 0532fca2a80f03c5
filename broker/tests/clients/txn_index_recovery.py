#!/usr/bin/env python3
"""Aborted transactions across a crash, seen through confluent-kafka.

`write`: a transactional producer commits, aborts, commits and aborts five records
each on partition 0 of a new topic, then a plain producer appends an "end" record.
`verify` (after the broker was killed and restarted): a read_uncommitted consumer
still gets the aborted records (they are in the log), and a read_committed consumer
gets exactly the committed ones, in order, and nothing aborted. Exits 1 on any
mismatch; prints a JSON line on success.
"""
import argparse
import json

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from checks import check, deadline_loop, poll_record

TRANSACTIONS = [("c1", True), ("a1", False), ("c2", True), ("a2", False)]
COMMITTED = [f"{name}-{i}" for name, commit in TRANSACTIONS if commit for i in range(5)]
ABORTED = [f"{name}-{i}" for name, commit in TRANSACTIONS if not commit for i in range(5)]


def write(a):
    admin = AdminClient({"bootstrap.servers": a.bootstrap})
    for f in admin.create_topics([NewTopic(a.topic, 1, 1)]).values():
        f.result(timeout=30)
    txp = Producer({"bootstrap.servers": a.bootstrap, "transactional.id": "tx-crash",
                    "linger.ms": 5})
    txp.init_transactions(30)
    for name, commit in TRANSACTIONS:
        txp.begin_transaction()
        for i in range(5):
            txp.produce(a.topic, partition=0, value=f"{name}-{i}".encode())
        check(txp.flush(30) == 0, f"{name}: records undelivered")
        if commit:
            txp.commit_transaction(30)
        else:
            txp.abort_transaction(30)
    plain = Producer({"bootstrap.servers": a.bootstrap, "acks": "all"})
    plain.produce(a.topic, partition=0, value=b"end")
    check(plain.flush(30) == 0, "end record undelivered")
    print(json.dumps({"ok": True, "written": len(COMMITTED) + len(ABORTED)}))


def read(a, isolation):
    """The values of partition 0 from offset 0 up to the "end" record."""
    c = Consumer({"bootstrap.servers": a.bootstrap, "group.id": f"crash-{isolation}",
                  "enable.auto.commit": False, "isolation.level": isolation,
                  "auto.offset.reset": "error"})
    c.assign([TopicPartition(a.topic, 0, 0)])
    got = []
    for _ in deadline_loop(60, f"the end record as {isolation}"):
        m = poll_record(c)
        if m is None:
            continue
        if m.value() == b"end":
            break
        got.append(m.value().decode())
    c.close()
    return got


def verify(a):
    uncommitted = read(a, "read_uncommitted")
    check(sorted(uncommitted) == sorted(COMMITTED + ABORTED),
          f"read_uncommitted got {uncommitted}")
    committed = read(a, "read_committed")
    check(committed == COMMITTED,
          f"read_committed got {committed}, expected {COMMITTED}")
    print(json.dumps({"ok": True, "uncommitted": len(uncommitted),
                      "committed": len(committed)}))


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("cmd", choices=["write", "verify"])
    a = ap.parse_args()
    {"write": write, "verify": verify}[a.cmd](a)


if __name__ == "__main__":
    main()
