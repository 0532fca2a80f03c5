#!/usr/bin/env python3
"""Start-up probe of kafka-vs-tidewater.sh: produces one record (acks=all) to an
auto-created topic until one is acknowledged, and prints the seconds since the
epoch time given (the moment the first node was launched).

Usage: kvt_probe.py BOOTSTRAP LAUNCHED_AT_EPOCH_S
"""

import sys
import time

from confluent_kafka import Producer

bootstrap, launched = sys.argv[1], float(sys.argv[2])
producer = Producer({
    "bootstrap.servers": bootstrap,
    "acks": "all",
    # Retry connecting and refreshing the (not yet created) topic's metadata often,
    # so the figure is not rounded up to a back-off.
    "reconnect.backoff.ms": 20,
    "reconnect.backoff.max.ms": 100,
    "topic.metadata.refresh.fast.interval.ms": 50,
    "retry.backoff.ms": 20,
    "retry.backoff.max.ms": 100,
    "message.timeout.ms": 170_000,
    "log_level": 0,
})
outcome = []
producer.produce("kvt-startup", b"first", on_delivery=lambda err, _msg: outcome.append(err))
while not outcome:
    producer.poll(0.01)
acked = time.time()
if outcome[0] is not None:
    sys.exit(f"produce failed: {outcome[0]}")
print(f"{acked - launched:.3f}")
