#!/usr/bin/env python3
"""Authorized operations (KIP-430) as real clients ask for them: confluent-kafka's
describe_topics (Metadata with include_topic_authorized_operations),
describe_cluster (DescribeCluster) and describe_consumer_groups (DescribeGroups),
each with include_authorized_operations=True. Without an authorizer Kafka reports
every operation the resource type supports; an empty set is a failure.

Exits 0 only when every check holds; prints what differed to stderr otherwise.
"""
import argparse
import json

from confluent_kafka import Consumer, TopicCollection
from confluent_kafka.admin import AclOperation, AdminClient, NewTopic

from checks import check, deadline_loop, poll_record

TOPIC_OPS = {AclOperation.READ, AclOperation.WRITE, AclOperation.CREATE,
             AclOperation.DESCRIBE, AclOperation.DELETE, AclOperation.ALTER,
             AclOperation.DESCRIBE_CONFIGS, AclOperation.ALTER_CONFIGS}
CLUSTER_OPS = {AclOperation.CREATE, AclOperation.CLUSTER_ACTION,
               AclOperation.DESCRIBE_CONFIGS, AclOperation.ALTER_CONFIGS,
               AclOperation.IDEMPOTENT_WRITE, AclOperation.ALTER, AclOperation.DESCRIBE}
GROUP_OPS = {AclOperation.READ, AclOperation.DESCRIBE, AclOperation.DELETE,
             AclOperation.DESCRIBE_CONFIGS, AclOperation.ALTER_CONFIGS}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    a = ap.parse_args()
    admin = AdminClient({"bootstrap.servers": a.bootstrap})
    t = "authz-ops"
    admin.create_topics([NewTopic(t, num_partitions=1, replication_factor=1)])[t].result(30)

    desc = admin.describe_topics(TopicCollection([t]), include_authorized_operations=True)
    td = desc[t].result(timeout=30)
    got = set(td.authorized_operations or [])
    check(got == TOPIC_OPS, f"topic authorized operations {sorted(map(str, got))}")
    # Not asked: Kafka leaves the field unset, the client reports none.
    td = admin.describe_topics(TopicCollection([t])).get(t).result(timeout=30)
    check(not td.authorized_operations, f"unrequested topic ops {td.authorized_operations}")

    cd = admin.describe_cluster(include_authorized_operations=True).result(timeout=30)
    got = set(cd.authorized_operations or [])
    check(got == CLUSTER_OPS, f"cluster authorized operations {sorted(map(str, got))}")

    # A live group, so DescribeGroups answers from the coordinator.
    c = Consumer({"bootstrap.servers": a.bootstrap, "group.id": "authz-group",
                  "auto.offset.reset": "earliest"})
    c.subscribe([t])
    for _ in deadline_loop(30, "an assignment"):
        poll_record(c)
        if c.assignment():
            break
    gd = admin.describe_consumer_groups(["authz-group"], include_authorized_operations=True)
    g = gd["authz-group"].result(timeout=30)
    got = set(g.authorized_operations or [])
    check(got == GROUP_OPS, f"group authorized operations {sorted(map(str, got))}")
    c.close()
    print(json.dumps({"ok": True}))


if __name__ == "__main__":
    main()
