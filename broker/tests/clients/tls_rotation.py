#!/usr/bin/env python3
"""Certificate rotation with confluent-kafka (librdkafka).

Subcommands:
  stay-connected  a producer that stays connected across a rotation: produces one
                  record over SSL, writes `<signal>.connected`, waits for `<signal>`
                  (the test rotated the broker's certificate), then produces again on
                  the connections it already has. Exits 0 only if both were acked.
  alter-broker    IncrementalAlterConfigs SET of --set key=value on broker --broker-id
                  (a listener's dynamic ssl.* keys).
The last stdout line is JSON.
"""
import argparse
import json
import os
import time

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource

from checks import check, fail


def cmd_alter_broker(a):
    admin = AdminClient({"bootstrap.servers": a.bootstrap})
    entries = []
    for kv in a.set:
        k, v = kv.split("=", 1)
        entries.append(ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET))
    res = ConfigResource(ConfigResource.Type.BROKER, a.broker_id, incremental_configs=entries)
    admin.incremental_alter_configs([res])[res].result(timeout=60)
    print(json.dumps({"altered": a.set}))


def cmd_stay_connected(a):
    acked = []
    errors = []

    def on_delivery(err, msg):
        if err is not None:
            errors.append(str(err))
        else:
            acked.append(msg.value().decode())

    p = Producer({"bootstrap.servers": a.bootstrap, "security.protocol": "SSL",
                  "ssl.ca.location": a.ca, "acks": "all", "linger.ms": 0,
                  "message.timeout.ms": int(a.timeout * 1000)})
    p.produce(a.topic, value=b"before-rotation", on_delivery=on_delivery)
    check(p.flush(a.timeout) == 0, f"first record not acknowledged: {errors}")
    check(acked == ["before-rotation"], f"first record failed: {errors}")
    with open(a.signal + ".connected", "w") as f:
        f.write("1")
    end = time.monotonic() + a.timeout
    while not os.path.exists(a.signal):
        if time.monotonic() > end:
            fail("never told the certificate was rotated")
        p.poll(0.1)
    p.produce(a.topic, value=b"after-rotation", on_delivery=on_delivery)
    check(p.flush(a.timeout) == 0, f"second record not acknowledged: {errors}")
    print(json.dumps({"acked": acked, "errors": errors}))
    check(acked == ["before-rotation", "after-rotation"], f"acked {acked}, errors {errors}")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--bootstrap", required=True)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("stay-connected")
    s.add_argument("--topic", required=True)
    s.add_argument("--ca", required=True)
    s.add_argument("--signal", required=True)
    s.add_argument("--timeout", type=float, default=60.0)
    s.set_defaults(fn=cmd_stay_connected)
    s = sub.add_parser("alter-broker")
    s.add_argument("--broker-id", required=True)
    s.add_argument("--set", action="append", required=True)
    s.set_defaults(fn=cmd_alter_broker)
    a = ap.parse_args()
    a.fn(a)


if __name__ == "__main__":
    main()
