#!/usr/bin/env python3
"""confluent-kafka AdminClient scenarios against a Tidewater broker: topics and
configs, consumer groups, and the precise Kafka error codes for bad requests.

Each subcommand exits 0 only when every check holds; on any mismatch it prints what
differed to stderr and exits 1.
"""
import argparse
import json
import sys
import time

from confluent_kafka import (ConsumerGroupState, ConsumerGroupTopicPartitions, Consumer,
                             KafkaError, KafkaException, Producer, TopicPartition)
from confluent_kafka.admin import (AdminClient, AlterConfigOpType, ConfigEntry,
                                   ConfigResource, ConfigSource, NewPartitions, NewTopic)

from checks import check, fail


def wait_for(what, cond, seconds=30):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        v = cond()
        if v:
            return v
        time.sleep(0.1)
    fail(f"timed out after {seconds}s waiting for {what}")


def describe(admin, topic, keys):
    res = ConfigResource(ConfigResource.Type.TOPIC, topic)
    cfg = admin.describe_configs([res])[res].result(timeout=30)
    return {k: cfg[k].value for k in keys if k in cfg}, cfg


def expect_error(fut, code, what):
    try:
        fut.result(timeout=30)
    except KafkaException as e:
        got = e.args[0].code()
        check(got == code, f"{what}: error {e.args[0]} (code {got}), expected {code}")
        return
    fail(f"{what}: succeeded, expected error {code}")


def cmd_admin(a):
    """AdminClient: create a topic with a config, describe it, alter it, describe
    again; precise error codes for bad requests."""
    admin = AdminClient({"bootstrap.servers": a.bootstrap})
    t = a.topic
    fs = admin.create_topics([NewTopic(t, num_partitions=4, replication_factor=1,
                                       config={"retention.ms": "3600000"})])
    fs[t].result(timeout=30)
    md = admin.list_topics(t, timeout=30)
    check(len(md.topics[t].partitions) == 4, f"partitions: {md.topics[t].partitions}")
    vals, cfg = describe(admin, t, ["retention.ms", "cleanup.policy", "segment.bytes"])
    check(vals.get("retention.ms") == "3600000", f"retention.ms after create: {vals}")
    check(vals.get("cleanup.policy") == "delete", f"cleanup.policy default: {vals}")
    src = cfg["retention.ms"].source
    check(getattr(src, "value", src) == ConfigSource.DYNAMIC_TOPIC_CONFIG.value,
          f"retention.ms source {src}, expected DYNAMIC_TOPIC_CONFIG")
    res = ConfigResource(ConfigResource.Type.TOPIC, t, incremental_configs=[
        ConfigEntry("retention.ms", "7200000", incremental_operation=AlterConfigOpType.SET)])
    admin.incremental_alter_configs([res])[res].result(timeout=30)
    vals, _ = describe(admin, t, ["retention.ms"])
    check(vals.get("retention.ms") == "7200000", f"retention.ms after alter: {vals}")
    # Errors a Java client would get, by code.
    dup = admin.create_topics([NewTopic(t, num_partitions=1, replication_factor=1)])
    expect_error(dup[t], KafkaError.TOPIC_ALREADY_EXISTS, "create existing topic")
    bad = admin.create_topics([NewTopic(t + "-bad", num_partitions=1, replication_factor=1,
                                        config={"retention.ms": "not-a-number"})])
    expect_error(bad[t + "-bad"], KafkaError.INVALID_CONFIG, "create with invalid config")
    res = ConfigResource(ConfigResource.Type.TOPIC, "no-such-topic")
    expect_error(admin.describe_configs([res])[res], KafkaError.UNKNOWN_TOPIC_OR_PART,
                 "describe unknown topic")
    print(json.dumps({"topic": t, "ok": True}))


def cmd_errors(a):
    """Bad requests get the error code a Java client would get."""
    admin = AdminClient({"bootstrap.servers": a.bootstrap})
    t = a.topic
    admin.create_topics([NewTopic(t, num_partitions=1, replication_factor=1)])[t].result(timeout=30)
    # Names Kafka rejects: illegal characters, and "." / "..".
    for name in ["bad name!", ".."]:
        fs = admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1)])
        expect_error(fs[name], KafkaError.TOPIC_EXCEPTION, f"create topic {name!r}")
    fs = admin.create_topics([NewTopic(t + "-rf3", num_partitions=1, replication_factor=3)])
    expect_error(fs[t + "-rf3"], KafkaError.INVALID_REPLICATION_FACTOR, "replication factor 3 on 1 broker")
    expect_error(admin.delete_topics(["no-such-topic"])["no-such-topic"],
                 KafkaError.UNKNOWN_TOPIC_OR_PART, "delete unknown topic")
    # Partitions can grow, never shrink.
    admin.create_partitions([NewPartitions(t, 3)])[t].result(timeout=30)
    wait_for("3 partitions in metadata",
             lambda: len(admin.list_topics(t, timeout=10).topics[t].partitions) == 3)
    expect_error(admin.create_partitions([NewPartitions(t, 2)])[t], KafkaError.INVALID_PARTITIONS,
                 "shrink partitions 3 -> 2")
    # A record over message.max.bytes (1 MiB default) is refused, not truncated.
    p = Producer({"bootstrap.servers": a.bootstrap, "message.max.bytes": 10_000_000,
                  "acks": "all", "message.send.max.retries": 0})
    errs = []
    p.produce(t, value=b"x" * (2 * 1024 * 1024), partition=0,
              on_delivery=lambda err, msg: errs.append(err))
    p.flush(30)
    check(len(errs) == 1 and errs[0] is not None and errs[0].code() == KafkaError.MSG_SIZE_TOO_LARGE,
          f"2 MiB record: {errs}, expected MSG_SIZE_TOO_LARGE")
    # Fetching past the end with auto.offset.reset=error reports OFFSET_OUT_OF_RANGE.
    p.produce(t, value=b"one", partition=0)
    check(p.flush(30) == 0, "flush")
    c = Consumer({"bootstrap.servers": a.bootstrap, "group.id": "errors-reader",
                  "auto.offset.reset": "error", "enable.auto.commit": False})
    c.assign([TopicPartition(t, 0, 1000)])
    err = None
    end = time.monotonic() + 30
    while err is None and time.monotonic() < end:
        m = c.poll(0.2)
        if m is not None and m.error():
            err = m.error()
        elif m is not None:
            fail(f"read a record at offset {m.offset()} past the end")
    c.close()
    check(err is not None and err.code() == KafkaError._AUTO_OFFSET_RESET
          and "out of range" in err.str().lower(), f"fetch past end: {err}")
    # A deleted topic leaves the metadata.
    admin.delete_topics([t])[t].result(timeout=30)
    wait_for(f"{t} gone from metadata", lambda: t not in admin.list_topics(timeout=10).topics)
    print(json.dumps({"ok": True}))


def cmd_no_auto_create(a):
    """With auto.create.topics.enable=false, producing to an unknown topic fails with
    an unknown-topic error and creates nothing."""
    p = Producer({"bootstrap.servers": a.bootstrap, "message.timeout.ms": 5000,
                  "topic.metadata.propagation.max.ms": 1000})
    errs = []
    p.produce(a.topic, value=b"v", on_delivery=lambda err, msg: errs.append(err))
    p.flush(30)
    codes = {KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC}
    check(len(errs) == 1 and errs[0] is not None and errs[0].code() in codes,
          f"produce to unknown topic: {errs}")
    admin = AdminClient({"bootstrap.servers": a.bootstrap})
    check(a.topic not in admin.list_topics(timeout=10).topics, f"{a.topic} was auto-created")
    print(json.dumps({"ok": True}))


def cmd_groups(a):
    """Consumer groups through the AdminClient: list, describe (Stable with one member,
    then Empty), committed offsets, delete."""
    t, g = a.topic, a.group
    admin = AdminClient({"bootstrap.servers": a.bootstrap})
    admin.create_topics([NewTopic(t, num_partitions=2, replication_factor=1)])[t].result(timeout=30)
    p = Producer({"bootstrap.servers": a.bootstrap})
    for i in range(20):
        p.produce(t, value=str(i).encode(), partition=i % 2)
    check(p.flush(30) == 0, "flush")
    c = Consumer({"bootstrap.servers": a.bootstrap, "group.id": g, "client.id": "grp-member",
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    c.subscribe([t])
    got = 0
    end = time.monotonic() + 30
    while got < 20 and time.monotonic() < end:
        m = c.poll(0.2)
        if m is not None and not m.error():
            got += 1
    check(got == 20, f"consumed {got} of 20")
    c.commit(asynchronous=False)
    listed = admin.list_consumer_groups().result(timeout=30)
    check(g in [x.group_id for x in listed.valid], f"{g} not in list_consumer_groups: {listed.valid}")
    desc = admin.describe_consumer_groups([g])[g].result(timeout=30)
    check(desc.state == ConsumerGroupState.STABLE, f"state while consuming: {desc.state}")
    check(len(desc.members) == 1 and desc.members[0].client_id == "grp-member",
          f"members: {desc.members}")
    parts = sorted(tp.partition for tp in desc.members[0].assignment.topic_partitions)
    check(parts == [0, 1], f"member assignment {parts}")
    offs = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(g)])[g].result(timeout=30)
    committed = {tp.partition: tp.offset for tp in offs.topic_partitions if tp.topic == t}
    check(committed == {0: 10, 1: 10}, f"committed offsets {committed}")
    # A group with members cannot be deleted.
    expect_error(admin.delete_consumer_groups([g])[g], KafkaError.NON_EMPTY_GROUP, "delete active group")
    c.close()
    wait_for("group Empty after the member left", lambda: admin.describe_consumer_groups([g])[g]
             .result(timeout=30).state == ConsumerGroupState.EMPTY)
    admin.delete_consumer_groups([g])[g].result(timeout=30)
    listed = admin.list_consumer_groups().result(timeout=30)
    check(g not in [x.group_id for x in listed.valid], f"{g} still listed after delete")
    print(json.dumps({"ok": True}))


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--group", default="admin-group")
    ap.add_argument("scenario", choices=["admin", "errors", "no-auto-create", "groups"])
    a = ap.parse_args()
    {"admin": cmd_admin, "errors": cmd_errors, "no-auto-create": cmd_no_auto_create,
     "groups": cmd_groups}[a.scenario](a)


if __name__ == "__main__":
    main()
