#!/usr/bin/env python3
"""Config semantics of issue 19 (items 5, 6, 7) as real admin clients see them.

  cleanup-policy  IncrementalAlterConfigs APPEND/SUBTRACT start from the effective
                  value (APPEND compact to the inherited delete gives delete,compact);
                  an empty cleanup.policy is accepted (SUBTRACT to nothing, and at
                  CreateTopics) and means neither delete nor compact.
  sources         a topic's min.insync.replicas from server.properties is
                  STATIC_BROKER_CONFIG, and the broker resource lists it.
  dynamic-broker  Kafka's dynamic broker keys: per-broker ones only on the broker's
                  own resource, cluster-wide ones on either, each described with
                  DYNAMIC_BROKER_CONFIG / DYNAMIC_DEFAULT_BROKER_CONFIG; non-dynamic
                  keys refused with Kafka's message.
  dynamic-broker-persisted  after a restart, both levels are still in force.
  max-connections a dynamic max.connections takes effect on the running broker:
                  lowered, a connection beyond it is not served until one closes;
                  deleted, the static limit is back.
  group-configs   the GROUP resource (type 32, kafka-python): Kafka 4's group keys
                  set, described and validated against the broker's bounds.

Each subcommand exits 0 only when every check holds; on a mismatch it prints what
differed to stderr and exits 1.
"""
import argparse
import json
import socket
import struct

from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import (AdminClient, AlterConfigOpType, ConfigEntry,
                                   ConfigResource, ConfigSource, NewTopic)

from checks import check, deadline_loop, fail

TOPIC = ConfigResource.Type.TOPIC
BROKER = ConfigResource.Type.BROKER


def src(entry):
    s = entry.source
    return getattr(s, "value", s)


def describe(admin, rtype, name):
    res = ConfigResource(rtype, name)
    return admin.describe_configs([res])[res].result(timeout=30)


def incremental(admin, rtype, name, *ops):
    entries = [ConfigEntry(k, v, incremental_operation=op) for k, op, v in ops]
    res = ConfigResource(rtype, name, incremental_configs=entries)
    return admin.incremental_alter_configs([res])[res]


def expect_error(fut, code, text, what):
    try:
        fut.result(timeout=30)
    except KafkaException as e:
        err = e.args[0]
        check(err.code() == code, f"{what}: {err} (code {err.code()}), expected code {code}")
        check(text in err.str(), f"{what}: message {err.str()!r} lacks {text!r}")
        return
    fail(f"{what}: succeeded, expected error {code}")


def cmd_cleanup_policy(a):
    admin = AdminClient({"bootstrap.servers": a.bootstrap})
    t = "cp-append"
    admin.create_topics([NewTopic(t, num_partitions=1, replication_factor=1)])[t].result(30)
    incremental(admin, TOPIC, t, ("cleanup.policy", AlterConfigOpType.APPEND, "compact")) \
        .result(timeout=30)
    cfg = describe(admin, TOPIC, t)
    check(cfg["cleanup.policy"].value == "delete,compact",
          f"APPEND compact to the default gave {cfg['cleanup.policy'].value!r}, "
          "expected 'delete,compact' (retention must stay on)")
    check(src(cfg["cleanup.policy"]) == ConfigSource.DYNAMIC_TOPIC_CONFIG.value,
          f"cleanup.policy source {cfg['cleanup.policy'].source}")
    incremental(admin, TOPIC, t,
                ("cleanup.policy", AlterConfigOpType.SUBTRACT, "delete,compact")) \
        .result(timeout=30)
    cfg = describe(admin, TOPIC, t)
    check(cfg["cleanup.policy"].value == "",
          f"SUBTRACT to nothing gave {cfg['cleanup.policy'].value!r}, expected ''")
    # A non-list key cannot be appended to (Kafka's controller message).
    expect_error(incremental(admin, TOPIC, t, ("retention.ms", AlterConfigOpType.APPEND, "1")),
                 KafkaError.INVALID_CONFIG, "because its type is not LIST", "APPEND retention.ms")

    e = "cp-empty"
    admin.create_topics([NewTopic(e, num_partitions=1, replication_factor=1,
                                  config={"cleanup.policy": ""})])[e].result(30)
    cfg = describe(admin, TOPIC, e)
    check(cfg["cleanup.policy"].value == "", f"created with '' gave {cfg['cleanup.policy'].value!r}")
    # Neither policy: not compacted, so a record without a key is accepted.
    p = Producer({"bootstrap.servers": a.bootstrap})
    errs = []
    p.produce(e, value=b"no key", on_delivery=lambda err, m: errs.append(err))
    p.flush(30)
    check(errs == [None], f"keyless record to an empty-policy topic: {errs}")
    print(json.dumps({"ok": True}))


def cmd_sources(a):
    admin = AdminClient({"bootstrap.servers": a.bootstrap})
    t = "src-topic"
    admin.create_topics([NewTopic(t, num_partitions=1, replication_factor=1)])[t].result(30)
    cfg = describe(admin, TOPIC, t)
    mir = cfg["min.insync.replicas"]
    check(mir.value == "1" and src(mir) == ConfigSource.STATIC_BROKER_CONFIG.value,
          f"topic min.insync.replicas {mir.value} source {mir.source}, "
          "expected STATIC_BROKER_CONFIG (set in server.properties)")
    # confluent-kafka keys synonyms by name, so the STATIC and DEFAULT entries of
    # min.insync.replicas collapse into one; its presence is what can be checked.
    check("min.insync.replicas" in (mir.synonyms or {}), f"synonyms {mir.synonyms}")
    cfg = describe(admin, BROKER, a.broker_id)
    check("min.insync.replicas" in cfg, "the broker resource omits min.insync.replicas")
    mir = cfg["min.insync.replicas"]
    check(src(mir) == ConfigSource.STATIC_BROKER_CONFIG.value,
          f"broker min.insync.replicas source {mir.source}")
    check(not mir.is_read_only, "min.insync.replicas is a dynamic broker config in Kafka")
    print(json.dumps({"ok": True}))


def cluster_default(bootstrap, alter=None):
    """IncrementalAlterConfigs (when `alter` is given) or DescribeConfigs on the
    cluster-wide default broker resource (empty name). Neither Python client's
    public API can name it (Java's AdminClient and kafka-configs --entity-default
    can), so this builds kafka-python's request and sends it as is."""
    from kafka import KafkaAdminClient
    from kafka.admin import ConfigResource as KpResource, ConfigResourceType
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30000)
    try:
        res = KpResource(ConfigResourceType.BROKER, "", alter)
        if alter is not None:
            req = admin._alter_configs_request([res], False, True)
            resp = admin._manager.run(admin._manager.send, req)
            return admin._alter_configs_process_responses(resp.responses)["broker"][""]
        req = admin._describe_configs_request([res], True)
        resp = admin._manager.run(admin._manager.send, req)
        return admin._describe_configs_process_responses([resp], "all")["broker"][""]
    finally:
        admin.close()


def cmd_dynamic_broker(a):
    admin = AdminClient({"bootstrap.servers": a.bootstrap})
    me = a.broker_id
    key = "sasl.kerberos.min.time.before.relogin"
    incremental(admin, BROKER, me, (key, AlterConfigOpType.SET, "120000")).result(timeout=30)
    cfg = describe(admin, BROKER, me)
    check(key in cfg, f"{key} not described after it was set")
    check(cfg[key].value == "120000" and src(cfg[key]) == ConfigSource.DYNAMIC_BROKER_CONFIG.value,
          f"{key}: {cfg[key].value} source {cfg[key].source}")
    from kafka.admin import AlterConfigOp
    got = cluster_default(a.bootstrap, {key: (AlterConfigOp.SET, "120000")})
    check("InvalidRequestError: Cannot update these configs at default cluster level, "
          "broker id must be specified" in got, f"{key} as a cluster-wide default: {got}")
    expect_error(incremental(admin, BROKER, me, (key, AlterConfigOpType.SET, "soon")),
                 KafkaError.INVALID_REQUEST, "Not a number of type LONG", f"{key}=soon")
    expect_error(incremental(admin, BROKER, me, ("node.id", AlterConfigOpType.SET, "7")),
                 KafkaError.INVALID_REQUEST, "Cannot update these configs dynamically: Set(node.id)",
                 "node.id")
    expect_error(incremental(admin, BROKER, me,
                             ("ssl.keystore.location", AlterConfigOpType.SET, "/x")),
                 KafkaError.INVALID_REQUEST, "only per-listener using the listener prefix",
                 "ssl.keystore.location without a listener prefix")

    # Cluster-wide default, then this broker's own value on top: topics follow.
    t = "dyn-topic"
    admin.create_topics([NewTopic(t, num_partitions=1, replication_factor=1)])[t].result(30)
    got = cluster_default(a.bootstrap, {"log.retention.ms": (AlterConfigOp.SET, "3600000")})
    check(got == "OK", f"log.retention.ms as the cluster default: {got}")
    r = describe(admin, TOPIC, t)["retention.ms"]
    check(r.value == "3600000" and src(r) == ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG.value,
          f"retention.ms after the cluster default: {r.value} source {r.source}")
    d = cluster_default(a.bootstrap).get("log.retention.ms") or {}
    check(str(d.get("value")) == "3600000"
          and "DYNAMIC_DEFAULT_BROKER_CONFIG" in str(d.get("config_source")),
          f"the default resource describes log.retention.ms as {d}")
    incremental(admin, BROKER, me, ("log.retention.ms", AlterConfigOpType.SET, "7200000")) \
        .result(timeout=30)
    r = describe(admin, TOPIC, t)["retention.ms"]
    check(r.value == "7200000" and src(r) == ConfigSource.DYNAMIC_BROKER_CONFIG.value,
          f"retention.ms after the per-broker value: {r.value} source {r.source}")
    print(json.dumps({"ok": True}))


def cmd_dynamic_broker_persisted(a):
    """After a restart: both levels written by dynamic-broker are still in force."""
    admin = AdminClient({"bootstrap.servers": a.bootstrap})
    key = "sasl.kerberos.min.time.before.relogin"
    cfg = describe(admin, BROKER, a.broker_id)
    check(key in cfg and cfg[key].value == "120000"
          and src(cfg[key]) == ConfigSource.DYNAMIC_BROKER_CONFIG.value,
          f"{key} after restart: {cfg.get(key)}")
    r = describe(admin, TOPIC, "dyn-topic")["retention.ms"]
    check(r.value == "7200000" and src(r) == ConfigSource.DYNAMIC_BROKER_CONFIG.value,
          f"retention.ms after restart: {r.value} source {r.source}")
    d = cluster_default(a.bootstrap).get("log.retention.ms") or {}
    check(str(d.get("value")) == "3600000", f"cluster default after restart: {d}")
    print(json.dumps({"ok": True}))


def cmd_group_configs(a):
    # confluent-kafka's GROUP is the ACL resource type (3); kafka-python speaks 32.
    from kafka import KafkaAdminClient
    from kafka.admin import AlterConfigOp, ConfigResourceType
    from kafka.admin import ConfigResource as KpResource
    admin = KafkaAdminClient(bootstrap_servers=a.bootstrap, request_timeout_ms=30000)
    g = "cfg-group"

    def alter(configs):
        r = admin.alter_configs([KpResource(ConfigResourceType.GROUP, g, configs)],
                                raise_on_unknown=False, incremental=True)
        return r["group"][g]

    def described():
        r = admin.describe_configs([KpResource(ConfigResourceType.GROUP, g)],
                                   config_filter="all")
        return r["group"][g]

    got = alter({"consumer.session.timeout.ms": (AlterConfigOp.SET, "50000")})
    check(got == "OK", f"SET consumer.session.timeout.ms: {got}")
    cfg = described()
    st = cfg.get("consumer.session.timeout.ms") or {}
    check(str(st.get("value")) == "50000", f"consumer.session.timeout.ms described as {st}")
    check("GROUP_CONFIG" in str(st.get("config_source")) or st.get("config_source") == 8,
          f"source of a set group config: {st}")
    hb = cfg.get("consumer.heartbeat.interval.ms") or {}
    check(str(hb.get("value")) == "5000", f"default heartbeat interval: {hb}")
    got = alter({"consumer.session.timeout.ms": (AlterConfigOp.SET, "1000")})
    check("must be greater than or equal to group.consumer.min.session.timeout.ms" in got,
          f"out-of-range session timeout: {got}")
    got = alter({"no.such.group.config": (AlterConfigOp.SET, "1")})
    check("Unknown group config name" in got, f"unknown group key: {got}")
    got = alter({"consumer.session.timeout.ms": (AlterConfigOp.DELETE, None)})
    check(got == "OK", f"DELETE consumer.session.timeout.ms: {got}")
    st = described().get("consumer.session.timeout.ms") or {}
    check(str(st.get("value")) == "45000", f"after DELETE: {st}")
    admin.close()
    print(json.dumps({"ok": True}))


def api_versions_conn(bootstrap, timeout):
    """A raw connection that sent ApiVersions v0; returns (socket, answered?)."""
    host, port = bootstrap.split(",")[0].rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=5)
    body = struct.pack(">hhih", 18, 0, 7, -1)  # api key, version, correlation id, null client
    s.sendall(struct.pack(">i", len(body)) + body)
    return s, answered(s, timeout)


def answered(s, timeout):
    s.settimeout(timeout)
    try:
        head = s.recv(8)
    except socket.timeout:
        return False
    return len(head) == 8 and struct.unpack(">i", head[4:])[0] == 7


def cmd_max_connections(a):
    admin = AdminClient({"bootstrap.servers": a.bootstrap})
    fut = incremental(admin, BROKER, a.broker_id,
                      ("max.connections", AlterConfigOpType.SET, "2"))
    fut.result(timeout=30)
    del admin  # closes its connections: only the raw ones below count
    # Two connections are served once the limit reached this broker (KRaft: through the
    # metadata image) and the admin client's connections are gone.
    held = []
    for _ in deadline_loop(30, "two served connections under max.connections=2"):
        for s in held:
            s.close()
        conns = [api_versions_conn(a.bootstrap, 2) for _ in range(2)]
        held = [s for s, _ in conns]
        if not all(ok for _, ok in conns):
            continue
        third, served = api_versions_conn(a.bootstrap, 2)
        if not served:
            break
        third.close()
    # The third waits for a slot, and gets one as soon as a held connection closes.
    held[0].close()
    check(answered(third, 10), "a waiting connection was not served after one closed")
    for s in held[1:] + [third]:
        s.close()
    admin = AdminClient({"bootstrap.servers": a.bootstrap})
    fut = incremental(admin, BROKER, a.broker_id,
                      ("max.connections", AlterConfigOpType.DELETE, None))
    fut.result(timeout=30)
    del admin
    for _ in deadline_loop(30, "five served connections after DELETE max.connections"):
        conns = [api_versions_conn(a.bootstrap, 2) for _ in range(5)]
        for s, _ in conns:
            s.close()
        if all(ok for _, ok in conns):
            break
    print(json.dumps({"ok": True}))


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--broker-id", default="1")
    cmds = {"cleanup-policy": cmd_cleanup_policy, "sources": cmd_sources,
            "dynamic-broker": cmd_dynamic_broker,
            "dynamic-broker-persisted": cmd_dynamic_broker_persisted,
            "group-configs": cmd_group_configs,
            "max-connections": cmd_max_connections}
    ap.add_argument("cmd", choices=sorted(cmds))
    a = ap.parse_args()
    cmds[a.cmd](a)


if __name__ == "__main__":
    main()
