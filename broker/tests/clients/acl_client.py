#!/usr/bin/env python3
"""confluent-kafka (librdkafka) against a Tidewater broker with ACLs switched on.

Subcommands (--set key=value: the acting user's client properties; --admin key=value:
the super user's, for `revoke`):
  create-topics --topic T...    creates topics (1 partition).
  acl --op O --topic T [--pattern literal|prefixed] [--deny] --principal P
                                creates one ACL on topic T (on group G with --group G,
                                on transactional id X with --txn X).
  produce --topic T             produces one record; prints {"error": <KafkaError
                                name or null>}.
  consume --topic T --group G   consumes in group G from the start; prints
                                {"error": <KafkaError name or null>, "records": n}
                                at the first error or record.
  commit --topic T --group G    commits offset 1 of T-0 for group G (no subscription);
                                prints {"error": <the commit's or partition's error
                                name or null>}.
  init-txn --txn X [--topic T]  init_transactions() as transactional id X, then (with
                                --topic) one record to T in a committed transaction;
                                prints {"error": <KafkaError name or null>}.
  groups --group G...            lists the consumer groups, describes and deletes each
                                G; prints {"listed": [...], "describe": {G: error},
                                "delete": {G: error}} (error: a KafkaError name or null).
  delete-offsets --topic T --group G
                                deletes G's committed offset of T-0 (OffsetDelete, kafka-python);
                                prints {"error": <the group's or partition's error name
                                or null>}.
  alter-scram --user U          sets U's SCRAM-SHA-256 password
                                (AlterUserScramCredentials); prints {"error": ...}.
  ops --topic T --group G       the operations (KIP-430) the user may perform on topic T,
                                the cluster and group G, as the admin client describes
                                them; prints {"topic": [...], "cluster": [...], "group":
                                [...]} (AclOperation names, sorted).
  topics                        lists the topics Metadata shows (all topics).
  revoke --topic T --principal P
                                produces one record as the user (must succeed), deletes
                                P's ACLs on topic T as the super user, produces again on
                                the same connection; prints both errors.
The last stdout line is JSON.
"""
import argparse
import json
import time

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import (AclBinding, AclBindingFilter, AclOperation,
                                   AclPermissionType, AdminClient, NewTopic,
                                   ResourcePatternType, ResourceType)

from checks import check


def conf(a, props):
    c = {"bootstrap.servers": a.bootstrap}
    for kv in props or []:
        k, v = kv.split("=", 1)
        c[k] = v
    return c


def produce_one(producer, topic):
    result = []
    producer.produce(topic, b"v", on_delivery=lambda err, msg: result.append(err))
    producer.flush(30)
    check(result, f"no delivery report for {topic}")
    err = result[0]
    return None if err is None else KafkaError(err.code()).name()


def cmd_create_topics(a):
    admin = AdminClient(conf(a, a.set))
    for f in admin.create_topics([NewTopic(t, 1, 1) for t in a.topic]).values():
        f.result()
    print(json.dumps({"created": a.topic}))


def cmd_acl(a):
    admin = AdminClient(conf(a, a.set))
    pattern = ResourcePatternType[a.pattern.upper()]
    permission = AclPermissionType.DENY if a.deny else AclPermissionType.ALLOW
    if a.txn:
        kind, name = ResourceType.TRANSACTIONAL_ID, a.txn
    elif a.group:
        kind, name = ResourceType.GROUP, a.group[0]
    else:
        kind, name = ResourceType.TOPIC, a.topic[0]
    binding = AclBinding(kind, name, pattern, a.principal, "*",
                         AclOperation[a.op.upper()], permission)
    for f in admin.create_acls([binding]).values():
        f.result()
    print(json.dumps({"acl": str(binding)}))


def cmd_produce(a):
    print(json.dumps({"error": produce_one(Producer(conf(a, a.set)), a.topic[0])}))


def cmd_consume(a):
    c = Consumer(conf(a, a.set) | {"group.id": a.group[0], "auto.offset.reset": "earliest"})
    c.subscribe([a.topic[0]])
    error, records = None, 0
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline and error is None and records == 0:
            msg = c.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                error = KafkaError(msg.error().code()).name()
            else:
                records += 1
    except KafkaException as e:
        error = KafkaError(e.args[0].code()).name()
    finally:
        c.close()
    print(json.dumps({"error": error, "records": records}))


def cmd_commit(a):
    from confluent_kafka import TopicPartition
    c = Consumer(conf(a, a.set) | {"group.id": a.group[0], "enable.auto.commit": False})
    error = None
    try:
        for tp in c.commit(offsets=[TopicPartition(a.topic[0], 0, 1)], asynchronous=False):
            if tp.error is not None:
                error = KafkaError(tp.error.code()).name()
    except KafkaException as e:
        error = KafkaError(e.args[0].code()).name()
    finally:
        c.close()
    print(json.dumps({"error": error}))


def cmd_init_txn(a):
    producer = Producer(conf(a, a.set) | {"transactional.id": a.txn})
    try:
        producer.init_transactions(30)
        if a.topic:
            producer.begin_transaction()
            producer.produce(a.topic[0], b"v")
            producer.commit_transaction(30)
        error = None
    except KafkaException as e:
        error = KafkaError(e.args[0].code()).name()
    print(json.dumps({"error": error}))


def error_name(f):
    try:
        f.result()
        return None
    except KafkaException as e:
        return KafkaError(e.args[0].code()).name()


def cmd_groups(a):
    admin = AdminClient(conf(a, a.set))
    listed = admin.list_consumer_groups(request_timeout=30).result()
    names = sorted(g.group_id for g in listed.valid)
    describe = {g: error_name(f) for g, f in
                admin.describe_consumer_groups(a.group, request_timeout=30).items()}
    delete = {g: error_name(f) for g, f in
              admin.delete_consumer_groups(a.group, request_timeout=30).items()}
    print(json.dumps({"listed": names, "describe": describe, "delete": delete}))


def cmd_delete_offsets(a):
    # confluent-kafka has no OffsetDelete; kafka-python's admin client has.
    from kafka import TopicPartition
    from kafka.admin import KafkaAdminClient
    from kafka.errors import KafkaError as PyKafkaError
    props = conf(a, a.set)
    admin = KafkaAdminClient(bootstrap_servers=a.bootstrap,
                             security_protocol=props["security.protocol"],
                             sasl_mechanism=props["sasl.mechanisms"],
                             sasl_plain_username=props["sasl.username"],
                             sasl_plain_password=props["sasl.password"])
    error = None
    try:
        results = admin.delete_group_offsets(a.group[0], [TopicPartition(a.topic[0], 0)])
        error = next((e.message for e in results.values() if e.errno != 0), None)
    except PyKafkaError as e:
        error = e.message
    finally:
        admin.close()
    print(json.dumps({"error": error}))


def cmd_alter_scram(a):
    from confluent_kafka.admin import (ScramCredentialInfo, ScramMechanism,
                                       UserScramCredentialUpsertion)
    admin = AdminClient(conf(a, a.set))
    upsert = UserScramCredentialUpsertion(
        a.user, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 4096), b"bob-secret")
    errors = [error_name(f) for f in
              admin.alter_user_scram_credentials([upsert], request_timeout=30).values()]
    print(json.dumps({"error": errors[0]}))


def cmd_ops(a):
    from confluent_kafka import TopicCollection
    admin = AdminClient(conf(a, a.set))
    names = lambda ops: sorted(op.name for op in ops or [])
    topic = admin.describe_topics(TopicCollection([a.topic[0]]), request_timeout=30,
                                  include_authorized_operations=True)[a.topic[0]].result()
    cluster = admin.describe_cluster(request_timeout=30,
                                     include_authorized_operations=True).result()
    group = admin.describe_consumer_groups([a.group[0]], request_timeout=30,
                                           include_authorized_operations=True)[a.group[0]].result()
    print(json.dumps({"topic": names(topic.authorized_operations),
                      "cluster": names(cluster.authorized_operations),
                      "group": names(group.authorized_operations)}))


def cmd_topics(a):
    md = AdminClient(conf(a, a.set)).list_topics(timeout=30)
    print(json.dumps({"topics": sorted(md.topics)}))


def cmd_revoke(a):
    producer = Producer(conf(a, a.set))
    before = produce_one(producer, a.topic[0])
    admin = AdminClient(conf(a, a.admin))
    f = AclBindingFilter(ResourceType.TOPIC, a.topic[0], ResourcePatternType.ANY,
                         a.principal, None, AclOperation.ANY, AclPermissionType.ANY)
    for fut in admin.delete_acls([f]).values():
        check(fut.result(), "the ACL was deleted")
    after = produce_one(producer, a.topic[0])
    print(json.dumps({"before": before, "after": after}))


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--set", action="append", help="the user's client property")
    ap.add_argument("--admin", action="append", help="the super user's client property")
    ap.add_argument("cmd", choices=["create-topics", "acl", "produce", "consume", "commit",
                                    "init-txn", "groups", "delete-offsets", "alter-scram",
                                    "ops", "topics", "revoke"])
    ap.add_argument("--topic", action="append")
    ap.add_argument("--op", default="write")
    ap.add_argument("--pattern", default="literal")
    ap.add_argument("--deny", action="store_true")
    ap.add_argument("--group", action="append")
    ap.add_argument("--txn")
    ap.add_argument("--principal", default="User:alice")
    ap.add_argument("--user")
    a = ap.parse_args()
    {"create-topics": cmd_create_topics, "acl": cmd_acl, "produce": cmd_produce,
     "consume": cmd_consume, "commit": cmd_commit, "init-txn": cmd_init_txn, "groups": cmd_groups,
     "delete-offsets": cmd_delete_offsets, "alter-scram": cmd_alter_scram, "ops": cmd_ops,
     "topics": cmd_topics,
     "revoke": cmd_revoke}[a.cmd](a)


if __name__ == "__main__":
    main()
