#!/usr/bin/env python3
"""Transactional produce throughput against a running broker: confluent-kafka
(librdkafka), 1 KiB records, acks=all, one partition, in one run: idempotent
produce first, then transactions of 1, 10 and 100 records (begin, produce,
commit_transaction). Prints one JSON line per mode (records/s, ratio to idempotent).

Usage: txn_bench.py --bootstrap HOST:PORT [--records N]
"""
import argparse
import json
import time

from confluent_kafka import Producer

VALUE = b"x" * 1024


def idempotent(a, topic, n):
    p = Producer({"bootstrap.servers": a.bootstrap, "enable.idempotence": True,
                  "acks": "all", "linger.ms": 5})
    start = time.monotonic()
    for _ in range(n):
        while True:
            try:
                p.produce(topic, value=VALUE, partition=0)
                break
            except BufferError:
                p.poll(0.01)
        p.poll(0)
    left = p.flush(60)
    assert left == 0, f"{left} undelivered"
    return time.monotonic() - start


def transactional(a, topic, n, per_txn):
    p = Producer({"bootstrap.servers": a.bootstrap, "transactional.id": f"bench-{per_txn}",
                  "linger.ms": 5})
    p.init_transactions(30)
    start = time.monotonic()
    for _ in range(n // per_txn):
        p.begin_transaction()
        for _ in range(per_txn):
            p.produce(topic, value=VALUE, partition=0)
        p.commit_transaction(30)
    return time.monotonic() - start


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--records", type=int, default=20000)
    a = ap.parse_args()
    n = a.records
    secs = idempotent(a, "bench-idempotent", n)
    base = n / secs
    print(json.dumps({"mode": "idempotent", "records": n, "records_per_s": round(base)}))
    # One record per transaction costs a round of markers each: fewer of them.
    for per_txn, count in [(1, max(n // 10, 1)), (10, n), (100, n)]:
        secs = transactional(a, f"bench-txn-{per_txn}", count, per_txn)
        rate = count / secs
        print(json.dumps({"mode": f"txn-{per_txn}", "records": count,
                          "records_per_s": round(rate), "ratio": round(rate / base, 3)}),
              flush=True)


if __name__ == "__main__":
    main()
