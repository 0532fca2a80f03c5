#!/usr/bin/env python3
"""confluent-kafka helpers for broker/tests/kraft_throttle.rs.

Subcommands:
  fill        produce --mib MiB of 1 KiB records (acks=1) to one partition as fast as
              the client goes; prints {"bytes": N}.
  set-broker  IncrementalAlterConfigs SET on one broker's dynamic configs.
  produce     produce --mib MiB with acks=all and print {"mb_per_sec": R}.
"""
import argparse
import json
import os
import sys
import time

from confluent_kafka import Producer
from confluent_kafka.admin import (AdminClient, AlterConfigOpType, ConfigEntry,
                                   ConfigResource)

from checks import check


def produce(bootstrap, topic, mib, acks):
    p = Producer({"bootstrap.servers": bootstrap, "acks": acks, "linger.ms": 5,
                  "batch.size": 1 << 20, "queue.buffering.max.kbytes": 262144,
                  "compression.type": "none"})
    payload = os.urandom(1024)
    errors = []
    n = mib * 1024
    start = time.time()
    for _ in range(n):
        while True:
            try:
                p.produce(topic, payload, partition=0,
                          on_delivery=lambda e, m: e and errors.append(str(e)))
                break
            except BufferError:
                p.poll(0.05)
        p.poll(0)
    left = p.flush(120)
    elapsed = time.time() - start
    check(left == 0 and not errors, f"undelivered {left}, errors {errors[:3]}")
    return n * 1024, elapsed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", choices=["fill", "set-broker", "produce"])
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic")
    ap.add_argument("--mib", type=int, default=0)
    ap.add_argument("--broker")
    ap.add_argument("--set", nargs="*", default=[])
    a = ap.parse_args()
    if a.cmd == "fill":
        size, _ = produce(a.bootstrap, a.topic, a.mib, "1")
        print(json.dumps({"bytes": size}))
    elif a.cmd == "produce":
        size, elapsed = produce(a.bootstrap, a.topic, a.mib, "all")
        print(json.dumps({"mb_per_sec": size / elapsed / 1e6}))
    else:
        admin = AdminClient({"bootstrap.servers": a.bootstrap})
        entries = [ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET)
                   for k, v in (kv.split("=", 1) for kv in a.set)]
        res = ConfigResource(ConfigResource.Type.BROKER, a.broker, incremental_configs=entries)
        admin.incremental_alter_configs([res])[res].result(timeout=60)
        print(json.dumps({"altered": a.broker}))


if __name__ == "__main__":
    sys.exit(main())
