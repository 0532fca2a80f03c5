#!/usr/bin/env python3
"""Per-record produce errors (KIP-467) as kafka-python's producer reads them: one
batch to a compacted topic holding keyed records and one keyless record. Kafka
rejects the batch with INVALID_RECORD, names the keyless record in
`record_errors` (its index in the batch and LogValidator's message) and sets
`error_message`, so the client fails the bad record with that message and the
good ones as "part of a batch which had one or more invalid records". Without
record_errors every record gets the same bare error.

The same for a CreateTime out of message.timestamp.after.max.ms (INVALID_TIMESTAMP).

Exits 0 only when every check holds; prints what differed to stderr otherwise.
"""
import argparse
import json
import time

from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic

from checks import check


def outcome(future):
    try:
        future.get(timeout=30)
        return None
    except Exception as e:  # the per-record exception is the point of the test
        return e


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    a = ap.parse_args()
    t = "compacted-keys"
    admin = KafkaAdminClient(bootstrap_servers=a.bootstrap, request_timeout_ms=30000)
    admin.create_topics([NewTopic(t, num_partitions=1, replication_factor=1,
                                  topic_configs={"cleanup.policy": "compact"}),
                         NewTopic("ts-range", num_partitions=1, replication_factor=1)])
    admin.close()

    # One batch: a long linger and a flush put all four records in one request.
    p = KafkaProducer(bootstrap_servers=a.bootstrap, linger_ms=1000, retries=0)
    futures = [
        p.send(t, key=b"a", value=b"1", partition=0),
        p.send(t, key=None, value=b"2", partition=0),
        p.send(t, key=b"c", value=b"3", partition=0),
        p.send(t, key=None, value=b"4", partition=0),
    ]
    p.flush(timeout=30)
    errs = [outcome(f) for f in futures]
    p.close()
    text = [repr(e) for e in errs]
    check(all(e is not None for e in errs), f"the whole batch must be rejected: {text}")
    want = f"Compacted topic cannot accept message without key in topic partition {t}-0."
    for i in (1, 3):
        check(want in str(errs[i]), f"record {i}: {text[i]}, expected {want!r}")
    for i in (0, 2):
        check("part of a batch which had one more more invalid records" in str(errs[i]),
              f"record {i} (valid) should fail only as part of the batch: {text[i]}")

    # CreateTime two hours ahead, past message.timestamp.after.max.ms (1 h): only
    # that record is named, with LogValidator's range message.
    ts = "ts-range"
    p = KafkaProducer(bootstrap_servers=a.bootstrap, linger_ms=1000, retries=0)
    now_ms = int(time.time() * 1000)
    futures = [
        p.send(ts, key=b"a", value=b"now", partition=0, timestamp_ms=now_ms),
        p.send(ts, key=b"b", value=b"future", partition=0, timestamp_ms=now_ms + 7_200_000),
    ]
    p.flush(timeout=30)
    terrs = [outcome(f) for f in futures]
    p.close()
    ttext = [repr(e) for e in terrs]
    check(f"Timestamp {now_ms + 7_200_000} of message with offset 1 is out of range"
          in str(terrs[1]), f"future record: {ttext[1]}")
    check("part of a batch which had one more more invalid records" in str(terrs[0]),
          f"the in-range record should fail only as part of the batch: {ttext[0]}")
    print(json.dumps({"ok": True, "errors": text + ttext}))


if __name__ == "__main__":
    main()
