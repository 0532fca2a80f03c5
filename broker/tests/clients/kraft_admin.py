#!/usr/bin/env python3
"""One admin operation of the KRaft admin APIs against a Tidewater cluster, through a
real client, printed as one JSON line for tests/kraft_admin.rs to check.

confluent-kafka (librdkafka) for ElectLeaders and DescribeCluster; kafka-python for
DescribeQuorum, features (ApiVersions / UpdateFeatures), CreateTopics with a manual
assignment and the partition reassignment APIs (confluent-kafka has none of these).
Per-partition errors are reported as Kafka error names (e.g. ELECTION_NOT_NEEDED),
None for success; a request-level failure exits 0 with {"error": NAME, "message": ...}
so the test can check it too.
"""
import argparse
import json
import sys
import time

from confluent_kafka import ElectionType, KafkaException, TopicPartition as CkTp
from confluent_kafka.admin import AdminClient
from kafka import KafkaAdminClient, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import KafkaError as KpError

CONFLUENT_ERROR_NAMES = {
    "_ELECTION_NOT_NEEDED": "ELECTION_NOT_NEEDED",
}


def kp_admin(bootstrap):
    return KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30000)


def kp_name(err):
    """kafka-python: an error class or instance -> the Kafka error name."""
    if err is None:
        return None
    cls = err if isinstance(err, type) else type(err)
    # e.g. NoReassignmentInProgressError -> NO_REASSIGNMENT_IN_PROGRESS via `message`.
    return getattr(cls, "message", cls.__name__)


def ck_name(err):
    """confluent-kafka: a KafkaException / KafkaError -> the Kafka error name."""
    if err is None:
        return None
    if isinstance(err, KafkaException):
        err = err.args[0]
    name = err.name()
    return CONFLUENT_ERROR_NAMES.get(name, name)


def ints(csv):
    return [int(x) for x in csv.split(",") if x]


def cmd_quorum(a):
    return kp_admin(a.bootstrap).describe_metadata_quorum()


def cmd_features(a):
    f = kp_admin(a.bootstrap).describe_features()
    return {name: {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}
            for name, d in f.items()}


def cmd_update_features(a):
    try:
        kp_admin(a.bootstrap).update_features(
            {a.feature: (a.type, a.level)}, validate_only=a.validate_only)
        return {"error": None}
    except KpError as e:
        return {"error": kp_name(e), "message": str(e)}


def cmd_create(a):
    assignment = {p: ints(r) for p, r in enumerate(a.assignment.split("/"))}
    kp_admin(a.bootstrap).create_topics(
        [NewTopic(a.topic, num_partitions=-1, replication_factor=-1,
                  replica_assignments=assignment)])
    return {"created": a.topic}


def cmd_reassign(a):
    target = None if a.replicas == "none" else ints(a.replicas)
    try:
        r = kp_admin(a.bootstrap).alter_partition_reassignments(
            {TopicPartition(a.topic, a.partition): target}, timeout_ms=30000)
    except KpError as e:
        return {"error": kp_name(e), "message": str(e)}
    return {f"{tp.topic}-{tp.partition}": kp_name(e) for tp, e in r.items()}


def cmd_list_reassignments(a):
    wanted = None
    if a.topic:
        wanted = {a.topic: ints(a.partitions)}
    r = kp_admin(a.bootstrap).list_partition_reassignments(wanted)
    return {f"{tp.topic}-{tp.partition}": v for tp, v in r.items()}


def cmd_elect(a):
    kind = ElectionType.UNCLEAN if a.type == "unclean" else ElectionType.PREFERRED
    parts = None
    if a.topic:
        parts = [CkTp(a.topic, p) for p in ints(a.partitions)]
    client = AdminClient({"bootstrap.servers": a.bootstrap})
    try:
        # (request_timeout= trips a kwargs bug in confluent-kafka 2.16's elect_leaders.)
        r = client.elect_leaders(kind, parts).result()
    except KafkaException as e:
        return {"error": ck_name(e), "message": str(e)}
    return {f"{tp.topic}-{tp.partition}": ck_name(e) for tp, e in r.items()}


def cmd_elect_at(a):
    """ElectLeaders (preferred) sent to broker `--node` itself, not the controller it
    names (kafka-python's admin keeps the target in `_controller_id`); the raw codes."""
    admin = kp_admin(a.bootstrap)
    admin._controller_id = a.node
    start = time.monotonic()
    r = admin.elect_leaders(0, {a.topic: ints(a.partitions)}, timeout_ms=30000,
                            raise_errors=False)
    return {"error_code": r.error_code,
            "partitions": {f"{t.topic}-{p.partition_id}": p.error_code
                           for t in r.replica_election_results for p in t.partition_result},
            "seconds": round(time.monotonic() - start, 1)}


def cmd_cluster(a):
    client = AdminClient({"bootstrap.servers": a.bootstrap})
    d = client.describe_cluster(request_timeout=30).result()
    return {"cluster_id": d.cluster_id,
            "controller": d.controller.id if d.controller else None,
            "nodes": sorted(n.id for n in d.nodes)}


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ["quorum", "features", "cluster"]:
        sub.add_parser(name).add_argument("--bootstrap", required=True)
    u = sub.add_parser("update-features")
    u.add_argument("--bootstrap", required=True)
    u.add_argument("--feature", default="metadata.version")
    u.add_argument("--level", type=int, required=True)
    u.add_argument("--type", default="UPGRADE",
                   choices=["UPGRADE", "SAFE_DOWNGRADE", "UNSAFE_DOWNGRADE"])
    u.add_argument("--validate-only", action="store_true")
    c = sub.add_parser("create")
    c.add_argument("--bootstrap", required=True)
    c.add_argument("--topic", required=True)
    c.add_argument("--assignment", required=True, help="replicas per partition: 1,2/2,3")
    r = sub.add_parser("reassign")
    r.add_argument("--bootstrap", required=True)
    r.add_argument("--topic", required=True)
    r.add_argument("--partition", type=int, default=0)
    r.add_argument("--replicas", required=True, help="2,3 or none (cancel)")
    for name in ["list-reassignments", "elect"]:
        s = sub.add_parser(name)
        s.add_argument("--bootstrap", required=True)
        s.add_argument("--topic")
        s.add_argument("--partitions", default="0")
        if name == "elect":
            s.add_argument("--type", default="preferred", choices=["preferred", "unclean"])
    e = sub.add_parser("elect-at")
    e.add_argument("--bootstrap", required=True)
    e.add_argument("--node", type=int, required=True)
    e.add_argument("--topic", required=True)
    e.add_argument("--partitions", default="0")
    a = p.parse_args()
    out = globals()["cmd_" + a.cmd.replace("-", "_")](a)
    print(json.dumps(out, default=str, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
