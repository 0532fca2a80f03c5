#!/usr/bin/env python3
"""KIP-392 check for broker/tests/kraft_rack.rs: produce N records to partition 0, then
consume them with client.rack set to the rack of a follower. Prints
{"consumed": N, "leader": L, "follower": F}."""
import argparse
import json
import sys
import time

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient

from checks import check


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--records", type=int, default=1000)
    a = ap.parse_args()
    meta = AdminClient({"bootstrap.servers": a.bootstrap}).list_topics(a.topic, timeout=30)
    part = meta.topics[a.topic].partitions[0]
    follower = next(r for r in part.replicas if r != part.leader)
    p = Producer({"bootstrap.servers": a.bootstrap, "acks": "all"})
    for i in range(a.records):
        p.produce(a.topic, str(i).encode(), partition=0)
    check(p.flush(60) == 0, "records not delivered")
    c = Consumer({"bootstrap.servers": a.bootstrap, "group.id": "kip392",
                  "auto.offset.reset": "earliest", "client.rack": f"r{follower}",
                  "fetch.wait.max.ms": 100})
    c.subscribe([a.topic])
    seen = set()
    end = time.monotonic() + 60
    while len(seen) < a.records and time.monotonic() < end:
        m = c.poll(0.5)
        if m is not None and not m.error():
            seen.add(m.value())
    c.close()
    check(len(seen) == a.records, f"consumed {len(seen)} of {a.records}")
    print(json.dumps({"consumed": len(seen), "leader": part.leader, "follower": follower}))


if __name__ == "__main__":
    sys.exit(main())
