#!/usr/bin/env python3
"""confluent-kafka clients for broker/tests/kraft_offsets.rs: committed offsets are as
durable as data (acks=all on __consumer_offsets).

Subcommands:
  commit          commits one offset of a group (simple consumer, partition 0) and, with
                  --kill-pids, SIGKILLs the group coordinator's process the instant the
                  commit returns; then reads the offset back with a fresh client (so from
                  the new coordinator) and fails unless it is the committed one. Prints a
                  JSON line: coordinator, new coordinator, commit and recovery times.
  commit-refused  a commit that must fail (too few in-sync replicas): fails unless the
                  client gets COORDINATOR_NOT_AVAILABLE or NOT_COORDINATOR, and unless a
                  fetch that is answered still returns the last durable offset.

Each subcommand exits 0 only when its checks hold; otherwise prints FAIL to stderr.
"""
import argparse
import json
import os
import signal
import time

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from checks import check, fail

# Kafka error codes the Java client handles by finding the coordinator again.
COORDINATOR_ERRORS = {KafkaError.COORDINATOR_NOT_AVAILABLE, KafkaError.NOT_COORDINATOR}


def consumer(bootstrap, group):
    return Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                     "enable.auto.commit": False, "socket.timeout.ms": 20000})


def coordinator_of(admin, group, not_id=None, timeout=60):
    """The group's coordinator as FindCoordinator names it (one other than `not_id`)."""
    end = time.monotonic() + timeout
    last = None
    while time.monotonic() < end:
        try:
            desc = admin.describe_consumer_groups([group])[group].result(timeout=10)
            if desc.coordinator is not None and desc.coordinator.id != not_id:
                return desc.coordinator.id
            last = f"coordinator {desc.coordinator}"
        except KafkaException as e:
            last = str(e.args[0])
        except TimeoutError:
            # The request waited on a broker that has just died (this client's metadata
            # still lists it): ask again.
            last = "describe timed out"
        time.sleep(0.1)
    fail(f"no coordinator for {group} (other than {not_id}) within {timeout}s: {last}")


def committed(bootstrap, group, topic, timeout):
    """Reads the committed offset with a fresh client, retrying while the group moves."""
    end = time.monotonic() + timeout
    last = None
    while time.monotonic() < end:
        c = consumer(bootstrap, group)
        try:
            tp = c.committed([TopicPartition(topic, 0)], timeout=10)[0]
            if tp.error is None:
                return tp.offset
            last = str(tp.error)
        except KafkaException as e:
            last = str(e.args[0])
        finally:
            c.close()
        time.sleep(0.1)
    fail(f"no committed offset of {group} within {timeout}s: {last}")


def commit_one(c, topic, offset):
    result = c.commit(offsets=[TopicPartition(topic, 0, offset)], asynchronous=False)
    errors = [tp.error for tp in result if tp.error is not None]
    if errors:
        raise KafkaException(errors[0])


def cmd_commit(a):
    admin = AdminClient({"bootstrap.servers": a.bootstrap})
    pids = {int(k): int(v) for k, v in (p.split(":") for p in a.kill_pids.split(","))} \
        if a.kill_pids else {}
    coordinator = coordinator_of(admin, a.group)
    c = consumer(a.bootstrap, a.group)
    # Let the client find the coordinator first (once it answers at all), so the
    # timed commit is one request.
    committed(a.bootstrap, a.group, a.topic, a.timeout)
    c.committed([TopicPartition(a.topic, 0)], timeout=30)
    start = time.monotonic()
    commit_one(c, a.topic, a.offset)
    commit_ms = (time.monotonic() - start) * 1000
    if pids:
        check(coordinator in pids, f"coordinator {coordinator} not in {pids}")
        os.kill(pids[coordinator], signal.SIGKILL)
    killed_at = time.monotonic()
    got = committed(a.bootstrap, a.group, a.topic, a.timeout)
    recovered_ms = (time.monotonic() - killed_at) * 1000
    # A fresh client, as for the offset: the old one's metadata still lists the dead
    # coordinator for a moment after the kill (failover now takes milliseconds).
    fresh = AdminClient({"bootstrap.servers": a.bootstrap})
    new_coordinator = coordinator_of(fresh, a.group, not_id=coordinator if pids else None)
    print(json.dumps({"coordinator": coordinator, "new_coordinator": new_coordinator,
                      "offset": a.offset, "committed": got,
                      "commit_ms": round(commit_ms, 1), "recovered_ms": round(recovered_ms)}))
    check(got == a.offset, f"committed offset {got} after the coordinator's crash, "
                           f"the acknowledged commit was {a.offset}")


def cmd_commit_refused(a):
    c = consumer(a.bootstrap, a.group)
    start = time.monotonic()
    try:
        commit_one(c, a.topic, a.offset)
        error = None
    except KafkaException as e:
        error = e.args[0]
    took_ms = (time.monotonic() - start) * 1000
    if error is None:
        fail(f"commit of {a.offset} succeeded without enough in-sync replicas")
    try:
        tp = c.committed([TopicPartition(a.topic, 0)], timeout=10)[0]
        fetched = tp.offset if tp.error is None else str(tp.error)
    except KafkaException as e:
        fetched = str(e.args[0])
    print(json.dumps({"error": error.name(), "code": error.code(),
                      "took_ms": round(took_ms), "fetched": fetched}))
    check(error.code() in COORDINATOR_ERRORS,
          f"expected COORDINATOR_NOT_AVAILABLE or NOT_COORDINATOR, got {error}")
    if isinstance(fetched, int):
        check(fetched == a.kept_offset,
              f"a refused commit became visible: fetched {fetched}, durable {a.kept_offset}")


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("commit")
    s.add_argument("--kill-pids", default="", help="node:pid,... of the cluster's nodes")
    s.add_argument("--timeout", type=float, default=60)
    s.set_defaults(func=cmd_commit)
    r = sub.add_parser("commit-refused")
    r.add_argument("--kept-offset", type=int, required=True)
    r.set_defaults(func=cmd_commit_refused)
    for q in (s, r):
        q.add_argument("--bootstrap", required=True)
        q.add_argument("--group", required=True)
        q.add_argument("--topic", required=True)
        q.add_argument("--offset", type=int, required=True)
    a = p.parse_args()
    a.func(a)


if __name__ == "__main__":
    main()
