#!/usr/bin/env python3
"""confluent-kafka's transactional producer against a Tidewater broker.

Each subcommand runs one scenario and exits 0 only when every check holds; on any
mismatch it prints what differed to stderr and exits 1. A final JSON line on stdout
carries what the consumers saw, for the Rust test to check further.
"""
import argparse
import json

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from checks import check, deadline_loop, fail, poll_record


def producer(a, txn_id):
    return Producer({"bootstrap.servers": a.bootstrap, "transactional.id": txn_id,
                     "transaction.timeout.ms": 60000, "linger.ms": 5})


def transaction(p, topic, values, commit):
    p.begin_transaction()
    for v in values:
        p.produce(topic, key=v.encode(), value=v.encode())
    # Delivered before the end: an abort would otherwise purge them unsent.
    check(p.flush(30) == 0, "records undelivered")
    if commit:
        p.commit_transaction(30)
    else:
        p.abort_transaction(30)


def read(a, isolation, expect):
    """The values of every data record of the topic, read from the beginning by a
    consumer of `isolation` until `expect` records were read (then a further second,
    to catch any extra one)."""
    c = Consumer({"bootstrap.servers": a.bootstrap, "group.id": f"reader-{isolation}",
                  "enable.auto.commit": False, "isolation.level": isolation,
                  "auto.offset.reset": "earliest"})
    md = c.list_topics(a.topic, timeout=30)
    parts = md.topics[a.topic].partitions
    c.assign([TopicPartition(a.topic, p, 0) for p in parts])
    got = []
    for _ in deadline_loop(30, f"{expect} records as {isolation}"):
        if len(got) >= expect:
            break
        m = poll_record(c)
        if m is not None:
            got.append(m.value().decode())
    for _ in range(5):
        m = poll_record(c)
        if m is not None:
            got.append(m.value().decode())
    c.close()
    check(len(got) == expect, f"{isolation} saw {len(got)} records, not {expect}: {got}")
    return got


def cmd_commit_abort(a):
    """A committed, an aborted and a second committed transaction."""
    p = producer(a, "tx-commit-abort")
    p.init_transactions(30)
    committed = [f"c{i}" for i in range(10)]
    aborted = [f"a{i}" for i in range(10)]
    committed2 = [f"d{i}" for i in range(5)]
    transaction(p, a.topic, committed, True)
    transaction(p, a.topic, aborted, False)
    transaction(p, a.topic, committed2, True)
    uncommitted = read(a, "read_uncommitted", 25)
    check(sorted(uncommitted) == sorted(committed + aborted + committed2),
          f"read_uncommitted saw {uncommitted}")
    print(json.dumps({"read_uncommitted": len(uncommitted)}))


def cmd_fencing(a):
    """Two producers with one transactional id: the second fences the first, whose
    commit then fails with a fenced error; the second commits."""
    old = producer(a, "tx-zombie")
    old.init_transactions(30)
    old.begin_transaction()
    old.produce(a.topic, value=b"zombie")
    old.flush(30)
    new = producer(a, "tx-zombie")
    new.init_transactions(60)
    try:
        old.commit_transaction(30)
        fail("the fenced producer committed")
    except KafkaException as e:
        err = e.args[0]
        check(err.code() in (KafkaError._FENCED, KafkaError.PRODUCER_FENCED,
                             KafkaError.INVALID_PRODUCER_EPOCH),
              f"the zombie got {err.name()} ({err}), not a fence")
        fenced = err.name()
    transaction(new, a.topic, ["fresh"], True)
    seen = read(a, "read_uncommitted", 2)
    check(sorted(seen) == ["fresh", "zombie"], f"read_uncommitted saw {seen}")
    print(json.dumps({"fenced": fenced}))


def read_partition(a, isolation, expect):
    """Partition 0's data records from the start, as a consumer of `isolation`, until
    `expect` were read: [(offset, value)]."""
    c = Consumer({"bootstrap.servers": a.bootstrap, "group.id": f"p0-{isolation}",
                  "enable.auto.commit": False, "isolation.level": isolation})
    c.assign([TopicPartition(a.topic, 0, 0)])
    got = []
    for _ in deadline_loop(30, f"{expect} records of partition 0 as {isolation}"):
        if len(got) >= expect:
            break
        m = poll_record(c)
        if m is not None:
            got.append((m.offset(), m.value().decode()))
    c.close()
    return got


def committed_end(a):
    """Partition 0's end as ListOffsets answers a read_committed consumer (its LSO)."""
    c = Consumer({"bootstrap.servers": a.bootstrap, "group.id": "lso",
                  "isolation.level": "read_committed"})
    _, high = c.get_watermark_offsets(TopicPartition(a.topic, 0), timeout=10, cached=False)
    c.close()
    return high


def cmd_read_committed(a):
    """On partition 0: committed c0..c9, aborted a0..a9, committed d0..d4. Before its
    commit, no record of the first transaction is stable; read_committed then sees c
    and d only, read_uncommitted all three."""
    p = producer(a, "tx-read-committed")
    p.init_transactions(30)
    p.begin_transaction()
    for i in range(10):
        p.produce(a.topic, value=f"c{i}".encode(), partition=0)
    check(p.flush(30) == 0, "records undelivered")
    check(committed_end(a) == 0, f"an open transaction is stable up to {committed_end(a)}")
    p.commit_transaction(30)
    for values, commit in ([f"a{i}" for i in range(10)], False), ([f"d{i}" for i in range(5)], True):
        p.begin_transaction()
        for v in values:
            p.produce(a.topic, value=v.encode(), partition=0)
        check(p.flush(30) == 0, "records undelivered")
        if commit:
            p.commit_transaction(30)
        else:
            p.abort_transaction(30)
    cmd_verify_committed(a)


def cmd_verify_committed(a):
    """What cmd_read_committed wrote, as each isolation level reads it."""
    committed = [v for _, v in read_partition(a, "read_committed", 15)]
    want = [f"c{i}" for i in range(10)] + [f"d{i}" for i in range(5)]
    check(committed == want, f"read_committed saw {committed}")
    uncommitted = [v for _, v in read_partition(a, "read_uncommitted", 25)]
    check(uncommitted == want[:10] + [f"a{i}" for i in range(10)] + want[10:],
          f"read_uncommitted saw {uncommitted}")
    end = committed_end(a)
    print(json.dumps({"read_committed": len(committed), "read_uncommitted": len(uncommitted),
                      "lso": end}))


def committed_offset(a, group, isolation):
    """Partition 0's committed offset of `group`, as a consumer of `isolation` fetches
    it (read_committed asks for stable offsets only, KIP-447)."""
    c = Consumer({"bootstrap.servers": a.bootstrap, "group.id": group,
                  "enable.auto.commit": False, "isolation.level": isolation})
    tp = c.committed([TopicPartition(a.topic, 0)], timeout=30)[0]
    c.close()
    check(tp.error is None, f"committed() of {group}: {tp.error}")
    return tp.offset


def cmd_send_offsets(a):
    """A consume-transform-produce step's offsets: send_offsets_to_transaction by a
    member of a subscribed group, then commit (the offset becomes the group's) or
    abort (it never does). While the transaction is open a fetch sees the previous
    committed offset."""
    group = "eos-offsets"
    p = producer(a, "tx-send-offsets")
    p.init_transactions(30)
    # Creates the topic, which a subscription alone does not.
    transaction(p, a.topic, ["seed"], True)
    c = Consumer({"bootstrap.servers": a.bootstrap, "group.id": group,
                  "enable.auto.commit": False, "isolation.level": "read_committed",
                  "auto.offset.reset": "earliest"})
    c.subscribe([a.topic])
    for _ in deadline_loop(60, "a partition assignment"):
        c.poll(0.2)
        if c.assignment():
            break
    seen = {}
    for offset, commit in ((5, True), (9, False), (12, True)):
        p.begin_transaction()
        p.produce(a.topic, value=f"out{offset}".encode(), partition=1)
        p.send_offsets_to_transaction([TopicPartition(a.topic, 0, offset)],
                                      c.consumer_group_metadata(), 30)
        check(p.flush(30) == 0, "records undelivered")
        seen[f"open{offset}"] = committed_offset(a, group, "read_uncommitted")
        if commit:
            p.commit_transaction(30)
        else:
            p.abort_transaction(30)
        seen[f"ended{offset}"] = committed_offset(a, group, "read_committed")
    c.close()
    want = {"open5": -1001, "ended5": 5, "open9": 5, "ended9": 5, "open12": 5, "ended12": 12}
    check(seen == want, f"committed offsets {seen}, not {want}")
    print(json.dumps(seen))


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("commit-abort")
    sub.add_parser("fencing")
    sub.add_parser("read-committed")
    sub.add_parser("verify-committed")
    sub.add_parser("send-offsets")
    a = ap.parse_args()
    try:
        {"commit-abort": cmd_commit_abort, "fencing": cmd_fencing,
         "read-committed": cmd_read_committed,
         "verify-committed": cmd_verify_committed,
         "send-offsets": cmd_send_offsets}[a.cmd](a)
    except KafkaException as e:
        fail(f"{a.cmd}: {e}")


if __name__ == "__main__":
    main()
