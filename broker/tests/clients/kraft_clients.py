#!/usr/bin/env python3
"""confluent-kafka clients for the KRaft cluster tests (broker/tests/kraft_*.rs).

Subcommands:
  create-topic  CreateTopics with a replication factor (or one partition's explicit
                --replicas list, the first preferred) and topic configs.
  alter-topic   IncrementalAlterConfigs (SET) on a topic.
  produce       acks=all idempotent (or --acks 1) producer of unique ids, running until a stop file
                appears; appends every acknowledged id to a file as it is acked and
                prints a JSON summary (acks, errors, per-partition max gap between acks).
  elect-preferred  preferred-leader election for every partition of the topic.
  verify        reads every partition from the beginning to its high watermark and
                fails unless every acknowledged id is there (no loss).
  group         3 consumers in one group; handshakes with the test through files
                around a coordinator kill; fails unless every produced id is consumed.
  produce-ids   acks=all idempotent producer of the ids --first-id.. (--count of them).
  delete-records  DeleteRecords of partition 0 before --offset; fails unless the low
                watermark is there.
  consume-range reads partition 0 from its log start to its high watermark; fails
                unless the log starts at --start and holds the ids --first-id.. in order,
                one per offset (nothing lost, nothing extra).

Each subcommand exits 0 only when its checks hold; otherwise prints FAIL to stderr.
"""
import argparse
import json
import logging
import os
import sys
import time

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import (AdminClient, AlterConfigOpType, ConfigEntry,
                                   ConfigResource, NewTopic)

from checks import check, fail, run_subcommand


def parse_kv(items):
    out = {}
    for item in items or []:
        k, _, v = item.partition("=")
        out[k] = v
    return out


def write_atomic(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def cmd_create_topic(a):
    admin = AdminClient({"bootstrap.servers": a.bootstrap})
    if a.replicas:
        replicas = [int(r) for r in a.replicas.split(",")]
        topic = NewTopic(a.topic, num_partitions=1, replication_factor=-1,
                         replica_assignment=[replicas], config=parse_kv(a.config))
    else:
        check(a.partitions and a.rf, "create-topic needs --partitions and --rf, or --replicas")
        topic = NewTopic(a.topic, num_partitions=a.partitions, replication_factor=a.rf,
                         config=parse_kv(a.config))
    admin.create_topics([topic], operation_timeout=30)[a.topic].result(timeout=60)
    print(json.dumps({"created": a.topic}))


def cmd_delete_topic(a):
    admin = AdminClient({"bootstrap.servers": a.bootstrap})
    admin.delete_topics([a.topic], operation_timeout=30)[a.topic].result(timeout=60)
    print(json.dumps({"deleted": a.topic}))


def cmd_alter_topic(a):
    admin = AdminClient({"bootstrap.servers": a.bootstrap})
    entries = [ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET)
               for k, v in parse_kv(a.set).items()]
    res = ConfigResource(ConfigResource.Type.TOPIC, a.topic, incremental_configs=entries)
    admin.incremental_alter_configs([res])[res].result(timeout=60)
    print(json.dumps({"altered": a.topic}))


def cmd_elect_preferred(a):
    """Preferred-leader election for every partition of the topic (as the operator
    restores leaderships after a restart); ELECTION_NOT_NEEDED is no error."""
    from confluent_kafka import ElectionType, KafkaError
    admin = AdminClient({"bootstrap.servers": a.bootstrap})
    parts = [TopicPartition(a.topic, p) for p in range(a.partitions)]
    result = admin.elect_leaders(ElectionType.PREFERRED, parts).result(timeout=60)
    failed = {f"{tp.partition}": str(e) for tp, e in result.items()
              if e is not None and e.code() != KafkaError.ELECTION_NOT_NEEDED}
    print(json.dumps({"elected": len(parts) - len(failed), "failed": failed}))
    check(not failed, f"preferred-leader election failed: {failed}")


def cmd_produce(a):
    acked_file = open(a.acked, "a", buffering=1)
    errors = []
    last_ack = {}
    max_gap = {}
    acks = [0]
    started = time.monotonic()

    def on_delivery(err, msg):
        now = time.monotonic()
        if err is not None:
            errors.append(f"{msg.value().decode()}: {err}")
            return
        p = msg.partition()
        if p in last_ack:
            max_gap[p] = max(max_gap.get(p, 0.0), now - last_ack[p])
        last_ack[p] = now
        acks[0] += 1
        # id partition offset ack-time (ms since the producer started)
        # ... and the wall clock (ms), to line an ack up with the brokers' logs.
        acked_file.write(f"{msg.value().decode()} {p} {msg.offset()} "
                         f"{int((now - started) * 1000)} {int(time.time() * 1000)}\n")

    config = {
        "bootstrap.servers": a.bootstrap,
        "acks": a.acks,
        # librdkafka's idempotence needs acks=all; acks=1 retries without it.
        "enable.idempotence": a.acks == "all",
        "linger.ms": 5,
        "message.timeout.ms": 60000,
        "request.timeout.ms": 10000,
        "topic.metadata.refresh.interval.ms": 1000,
        "retry.backoff.ms": 50,
        "retry.backoff.max.ms": 200,
    }
    config.update(json.loads(a.client_config or "{}"))
    debug = os.environ.get("TIDEWATER_RDKAFKA_DEBUG")
    if debug:
        # TIDEWATER_RDKAFKA_DEBUG=<contexts>:<file>: librdkafka's own log of a run.
        contexts, _, path = debug.partition(":")
        log = logging.getLogger(f"rdkafka-{os.getpid()}")
        handler = logging.FileHandler(f"{path}.{a.acks}.{os.getpid()}")
        handler.setFormatter(logging.Formatter("%(created).3f %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.DEBUG)
        config["debug"] = contexts
        producer = Producer(config, logger=log)
    else:
        producer = Producer(config)
    next_id = a.first_id
    interval = 1.0 / a.rate
    while not os.path.exists(a.stop):
        target = started + (next_id - a.first_id) * interval
        now = time.monotonic()
        if now < target:
            producer.poll(target - now)
            continue
        try:
            value = str(next_id).encode()
            if a.round_robin:
                # Every partition gets a record every partitions/rate s, so a gap
                # between two acks of one partition is time without a leader taking
                # writes, not the sticky partitioner looking elsewhere (~1 s at most
                # over a minute at these rates).
                producer.produce(a.topic, value=value, partition=next_id % a.round_robin,
                                 on_delivery=on_delivery)
            else:
                # No key: the sticky partitioner spreads ids over every partition.
                producer.produce(a.topic, value=value, on_delivery=on_delivery)
            next_id += 1
        except BufferError:
            producer.poll(0.05)
        producer.poll(0)
        if next_id == a.first_id + 1:
            write_atomic(a.stop + ".started", "1")
    left = producer.flush(a.flush_timeout)
    acked_file.close()
    summary = {
        "sent": next_id - a.first_id,
        "acked": acks[0],
        "unflushed": left,
        "errors": len(errors),
        "first_errors": errors[:10],
        "max_gap_ms": {str(p): int(g * 1000) for p, g in sorted(max_gap.items())},
    }
    print(json.dumps(summary))
    check(left == 0, f"{left} records still unacknowledged after flush")


def read_acked(path):
    ids = set()
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 4:
                ids.add(int(parts[0]))
    return ids


def consume_all(bootstrap, topic, timeout, client_config=None):
    """Every value of every partition, read from offset 0 to the high watermark."""
    c = Consumer(dict({"bootstrap.servers": bootstrap, "group.id": f"verify-{os.getpid()}",
                       "enable.auto.commit": False, "auto.offset.reset": "earliest"},
                      **json.loads(client_config or "{}")))
    md = c.list_topics(topic, timeout=30).topics[topic]
    if md.error is not None:
        fail(f"metadata of {topic}: {md.error}")
    ends = {}
    for p in md.partitions:
        _, high = c.get_watermark_offsets(TopicPartition(topic, p), timeout=30)
        ends[p] = high
    c.assign([TopicPartition(topic, p, 0) for p in ends])
    pos = {p: 0 for p in ends}
    values = []
    end = time.monotonic() + timeout
    while any(pos[p] < ends[p] for p in ends):
        if time.monotonic() > end:
            fail(f"timed out reading {topic}: at {pos}, high watermarks {ends}")
        m = c.poll(0.5)
        if m is None:
            continue
        if m.error():
            fail(f"consume error: {m.error()}")
        values.append(int(m.value()))
        pos[m.partition()] = m.offset() + 1
    c.close()
    return values, ends


def cmd_verify(a):
    acked = read_acked(a.acked)
    values, ends = consume_all(a.bootstrap, a.topic, a.timeout, a.client_config)
    got = set(values)
    missing = sorted(acked - got)
    print(json.dumps({"acked": len(acked), "consumed": len(values), "distinct": len(got),
                      "duplicates": len(values) - len(got), "missing": len(missing),
                      "high_watermarks": ends}))
    check(len(acked) > 0, "no record was acknowledged at all")
    check(not missing, f"{len(missing)} acknowledged ids lost, first {missing[:20]}")


def cmd_group(a):
    """3 consumers in group `a.group`; each record processed is logged before its
    offset is committed synchronously, so after any coordinator failure the group
    must resume at or before the next unprocessed record (no skip)."""
    admin = AdminClient({"bootstrap.servers": a.bootstrap})
    conf = {"bootstrap.servers": a.bootstrap, "group.id": a.group,
            "enable.auto.commit": False, "auto.offset.reset": "earliest",
            "session.timeout.ms": 10000, "heartbeat.interval.ms": 1000,
            "topic.metadata.refresh.interval.ms": 1000}
    consumers = [Consumer(dict(conf, **{"client.id": f"c{i}"})) for i in range(3)]
    for c in consumers:
        c.subscribe([a.topic])
    seen = []
    commit_errors = []
    committed_before_kill = None
    phase = "before"
    end = time.monotonic() + a.timeout
    while True:
        if time.monotonic() > end:
            fail(f"timed out in phase {phase}: consumed {len(set(seen))} of {a.count} ids")
        if phase == "before" and len(set(seen)) >= a.count // 2:
            # Offsets are committed; tell the test which broker coordinates the group.
            desc = admin.describe_consumer_groups([a.group])[a.group].result(timeout=30)
            check(len(desc.members) == 3, f"group has {len(desc.members)} members, expected 3")
            committed_before_kill = len(set(seen))
            write_atomic(a.coordinator_file, str(desc.coordinator.id))
            phase = "waiting"
        if phase == "waiting":
            if not os.path.exists(a.killed_file):
                # Not polling: nothing is consumed while the test kills the coordinator
                # (librdkafka heartbeats from its own threads meanwhile).
                time.sleep(0.05)
                continue
            phase = "after"
        if phase == "after" and len(set(seen)) >= a.count:
            break
        for c in consumers:
            m = c.poll(0.1)
            if m is None:
                continue
            if m.error():
                fail(f"consume error: {m.error()}")
            seen.append(int(m.value()))
            for _ in range(20):
                try:
                    c.commit(message=m, asynchronous=False)
                    break
                except KafkaException as e:
                    # NOT_COORDINATOR / COORDINATOR_NOT_AVAILABLE while the group moves.
                    commit_errors.append(str(e.args[0]))
                    time.sleep(0.25)
            else:
                fail(f"could not commit offset {m.offset()} of partition {m.partition()}: "
                     f"{commit_errors[-3:]}")
    # A fresh admin client: the first one found the coordinator before the kill and
    # librdkafka keeps sending it the group's requests (the killed broker) until its
    # own request times out. Failover takes milliseconds now, the cache outlives it.
    fresh = AdminClient({"bootstrap.servers": a.bootstrap})
    deadline = time.monotonic() + 60
    while True:
        try:
            desc = fresh.describe_consumer_groups([a.group])[a.group].result(timeout=10)
            break
        except (KafkaException, TimeoutError) as e:
            if time.monotonic() > deadline:
                fail(f"no description of {a.group} after the kill: {e!r}")
            time.sleep(0.2)
    new_coordinator = desc.coordinator.id
    for c in consumers:
        c.close()
    got = set(seen)
    missing = sorted(set(range(a.count)) - got)
    print(json.dumps({"consumed": len(seen), "distinct": len(got),
                      "redelivered": len(seen) - len(got),
                      "before_kill": committed_before_kill,
                      "new_coordinator": new_coordinator,
                      "commit_retries": len(commit_errors),
                      "first_commit_errors": commit_errors[:5]}))
    check(not missing, f"{len(missing)} ids never consumed, first {missing[:20]}")


def cmd_produce_ids(a):
    config = {"bootstrap.servers": a.bootstrap, "acks": "all",
              "enable.idempotence": True, "linger.ms": 5}
    if a.batch_size:
        # Batches under a topic's small segment.bytes (a larger one is refused).
        config["batch.size"] = a.batch_size
    p = Producer(config)
    errors = []

    def on_delivery(err, _msg):
        if err is not None:
            errors.append(str(err))

    for i in range(a.first_id, a.first_id + a.count):
        p.produce(a.topic, value=str(i).encode(), partition=i % a.partitions,
                  on_delivery=on_delivery)
        p.poll(0)
    left = p.flush(60)
    check(left == 0 and not errors, f"{left} records unacknowledged, errors {errors[:5]}")
    print(json.dumps({"produced": a.count}))


def cmd_delete_records(a):
    admin = AdminClient({"bootstrap.servers": a.bootstrap})
    tp = TopicPartition(a.topic, 0, a.offset)
    low = admin.delete_records([tp])[tp].result(timeout=60).low_watermark
    print(json.dumps({"low_watermark": low}))
    check(low == a.offset, f"DeleteRecords left the low watermark at {low}, not {a.offset}")


def cmd_consume_range(a):
    c = Consumer({"bootstrap.servers": a.bootstrap, "group.id": f"range-{os.getpid()}",
                  "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    low, high = c.get_watermark_offsets(TopicPartition(a.topic, 0), timeout=30)
    check(low == a.start, f"log start offset {low}, expected {a.start}")
    c.assign([TopicPartition(a.topic, 0, low)])
    got = []
    end = time.monotonic() + a.timeout
    while len(got) < high - low:
        check(time.monotonic() < end, f"timed out at {low + len(got)} reading to {high}")
        m = c.poll(0.5)
        if m is None:
            continue
        check(not m.error(), f"consume error: {m.error()}")
        check(m.offset() == low + len(got), f"offset {m.offset()} after {len(got)} from {low}")
        got.append(int(m.value()))
    c.close()
    print(json.dumps({"log_start": low, "high_watermark": high, "consumed": len(got),
                      "first": got[:1], "last": got[-1:]}))
    expected = list(range(a.first_id, a.first_id + (high - low)))
    check(got == expected, f"ids {got[:5]}..{got[-5:]} differ from {a.first_id}.. in order")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("create-topic")
    s.add_argument("--partitions", type=int)
    s.add_argument("--rf", type=int)
    s.add_argument("--replicas")
    s.add_argument("--config", action="append")
    s.set_defaults(fn=cmd_create_topic)
    s = sub.add_parser("delete-topic")
    s.set_defaults(fn=cmd_delete_topic)
    s = sub.add_parser("alter-topic")
    s.add_argument("--set", action="append", required=True)
    s.set_defaults(fn=cmd_alter_topic)
    s = sub.add_parser("produce")
    s.add_argument("--acked", required=True)
    s.add_argument("--stop", required=True)
    s.add_argument("--rate", type=float, default=300.0)
    s.add_argument("--first-id", type=int, default=0)
    s.add_argument("--acks", choices=["all", "1"], default="all")
    s.add_argument("--round-robin", type=int, default=0,
                   help="send id N to partition N %% this many partitions")
    s.add_argument("--flush-timeout", type=float, default=60.0)
    s.add_argument("--client-config", help="JSON of librdkafka settings (security) added")
    s.set_defaults(fn=cmd_produce)
    s = sub.add_parser("elect-preferred")
    s.add_argument("--partitions", type=int, required=True)
    s.set_defaults(fn=cmd_elect_preferred)
    s = sub.add_parser("verify")
    s.add_argument("--acked", required=True)
    s.add_argument("--timeout", type=float, default=60.0)
    s.add_argument("--client-config", help="JSON of librdkafka settings (security) added")
    s.set_defaults(fn=cmd_verify)
    s = sub.add_parser("produce-ids")
    s.add_argument("--count", type=int, required=True)
    s.add_argument("--partitions", type=int, required=True)
    s.add_argument("--first-id", type=int, default=0)
    s.add_argument("--batch-size", type=int)
    s.set_defaults(fn=cmd_produce_ids)
    s = sub.add_parser("delete-records")
    s.add_argument("--offset", type=int, required=True)
    s.set_defaults(fn=cmd_delete_records)
    s = sub.add_parser("consume-range")
    s.add_argument("--start", type=int, required=True)
    s.add_argument("--first-id", type=int, required=True)
    s.add_argument("--timeout", type=float, default=60.0)
    s.set_defaults(fn=cmd_consume_range)
    s = sub.add_parser("group")
    s.add_argument("--group", required=True)
    s.add_argument("--count", type=int, required=True)
    s.add_argument("--coordinator-file", required=True)
    s.add_argument("--killed-file", required=True)
    s.add_argument("--timeout", type=float, default=75.0)
    s.set_defaults(fn=cmd_group)
    run_subcommand(ap, sub, [("--bootstrap", {"required": True}), ("--topic", {"required": True})],
                   KafkaException)


if __name__ == "__main__":
    main()
