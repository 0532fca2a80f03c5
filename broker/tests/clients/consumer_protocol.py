#!/usr/bin/env python3
"""KIP-848 consumer group (group.protocol=consumer) scenario for
broker/tests/kraft_consumer_protocol.rs, with confluent-kafka (librdkafka 2.x).

Every record a consumer gets is logged, then its offset is committed synchronously
before the next poll, so a partition handed to another member resumes right after
the last processed record: no record may be consumed twice while members join and
leave. Steps: c1 and c2 split the partitions; c3 joins and takes its share; c2
leaves and its partitions go to the others; the test then kills the group's
coordinator (handshake through --coordinator-file / --killed-file) and the group
consumes the rest on the new one. Prints one JSON summary line; exits 1 on FAIL.
"""
import argparse
import json
import os
import time

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from checks import check, fail


# Commit errors after which a member must rejoin the group before committing again.
REJOIN = (KafkaError.UNKNOWN_MEMBER_ID, KafkaError.FENCED_MEMBER_EPOCH)


def write_atomic(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


class Group:
    def __init__(self, a):
        self.a = a
        self.conf = {"bootstrap.servers": a.bootstrap, "group.id": a.group,
                     "group.protocol": "consumer", "enable.auto.commit": False,
                     "auto.offset.reset": "earliest"}
        self.consumers = {}
        self.seen = []
        self.commit_errors = []
        self.abandoned = 0

    def join(self, name):
        c = Consumer(dict(self.conf, **{"client.id": name}))
        c.subscribe([self.a.topic])
        self.consumers[name] = c

    def leave(self, name):
        self.consumers.pop(name).close()

    def poll_all(self):
        for c in self.consumers.values():
            m = c.poll(0.05)
            if m is None:
                continue
            if m.error():
                fail(f"consume error: {m.error()}")
            self.seen.append(int(m.value()))
            for _ in range(40):
                try:
                    c.commit(message=m, asynchronous=False)
                    break
                except KafkaException as e:
                    # STALE_MEMBER_EPOCH right after an epoch bump, NOT_COORDINATOR
                    # while the group moves: retried as Kafka's clients do.
                    self.commit_errors.append(str(e.args[0]))
                    if e.args[0].code() in REJOIN:
                        # The member must rejoin (inside poll) before it can commit:
                        # the record is consumed again by whoever owns it next.
                        self.abandoned += 1
                        break
                    time.sleep(0.25)
            else:
                fail(f"could not commit {m.partition()}@{m.offset()}: {self.commit_errors[-3:]}")

    def assignments(self):
        return {n: sorted(tp.partition for tp in c.assignment())
                for n, c in self.consumers.items()}

    def split(self):
        """True once every member has partitions and they split all of them."""
        a = self.assignments()
        parts = [p for ps in a.values() for p in ps]
        return all(a.values()) and sorted(parts) == list(range(self.a.partitions))

    def consume_until(self, what, cond, timeout=60):
        end = time.monotonic() + timeout
        while not cond():
            if time.monotonic() > end:
                fail(f"timed out waiting for {what}: assignments {self.assignments()}, "
                     f"consumed {len(set(self.seen))}")
            self.poll_all()


def describe(bootstrap, group):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    deadline = time.monotonic() + 60
    while True:
        try:
            return admin.describe_consumer_groups([group])[group].result(timeout=10)
        except (KafkaException, TimeoutError) as e:
            if time.monotonic() > deadline:
                fail(f"no description of {group}: {e!r}")
            time.sleep(0.2)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    for flag in ["--bootstrap", "--topic", "--group", "--coordinator-file", "--killed-file"]:
        ap.add_argument(flag, required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--partitions", type=int, required=True)
    a = ap.parse_args()
    g = Group(a)
    steps = {}
    g.join("c1")
    g.join("c2")
    g.consume_until("c1 and c2 to split the partitions", lambda: g.split() and len(g.seen) >= a.count // 6)
    steps["two"] = g.assignments()
    g.join("c3")
    g.consume_until("c3 to take its share", lambda: g.split() and len(g.seen) >= a.count // 3)
    steps["three"] = g.assignments()
    g.leave("c2")
    g.consume_until("c1 and c3 to take c2's partitions", lambda: g.split() and len(g.seen) >= a.count // 2)
    steps["after_leave"] = g.assignments()
    duplicates = len(g.seen) - len(set(g.seen))
    check(duplicates == 0, f"{duplicates} records consumed twice while members came and went")
    desc = describe(a.bootstrap, a.group)
    members = sorted(m.client_id for m in desc.members)
    check(members == ["c1", "c3"], f"described members {members}")
    check(str(desc.type).endswith("CONSUMER"), f"described group type {desc.type}")
    before_kill = len(set(g.seen))
    write_atomic(a.coordinator_file, str(desc.coordinator.id))
    while not os.path.exists(a.killed_file):
        # Not polling: nothing is consumed while the test kills the coordinator.
        time.sleep(0.05)
    g.consume_until("every record after the coordinator kill", lambda: len(set(g.seen)) >= a.count, 90)
    new_coordinator = describe(a.bootstrap, a.group).coordinator.id
    # The committed offsets survived: a fresh look at the group's commits.
    probe = Consumer(dict(g.conf, **{"client.id": "probe"}))
    committed = probe.committed([TopicPartition(a.topic, p) for p in range(a.partitions)], timeout=30)
    probe.close()
    for c in list(g.consumers):
        g.leave(c)
    missing = sorted(set(range(a.count)) - set(g.seen))
    print(json.dumps({"consumed": len(g.seen), "distinct": len(set(g.seen)),
                      "before_kill": before_kill, "new_coordinator": new_coordinator,
                      "steps": steps, "committed": sum(tp.offset for tp in committed),
                      "commit_retries": len(g.commit_errors),
                      "abandoned_commits": g.abandoned,
                      "first_commit_errors": g.commit_errors[:5]}))
    check(not missing, f"{len(missing)} ids never consumed, first {missing[:20]}")
    check(sum(tp.offset for tp in committed) == a.count,
          f"committed offsets {[(tp.partition, tp.offset) for tp in committed]} do not cover {a.count}")


if __name__ == "__main__":
    main()
