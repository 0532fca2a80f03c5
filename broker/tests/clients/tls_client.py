#!/usr/bin/env python3
"""confluent-kafka (librdkafka) over SSL listeners of a Tidewater broker.

Subcommands:
  round-trip       acks=all produce of --count records of --size bytes, then read
                   every one back by assignment; exits 0 only if all came back intact.
  expect-ssl-error metadata request that must fail with an SSL error (e.g. mTLS
                   without a client certificate); exits 0 only if it does.
  paced            one acks=all record every 100 ms for --seconds on one producer;
                   exits 0 only if every record was acked and the client never lost a
                   connection (KIP-368: a SASL session re-authenticates in place).
Client properties come as repeated --set key=value (security.protocol, ssl.*).
The last stdout line is JSON with figures.
"""
import argparse
import json
import time

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from checks import check, deadline_loop, fail, poll_record


def client_config(a, extra):
    conf = {"bootstrap.servers": a.bootstrap}
    for kv in a.set or []:
        k, v = kv.split("=", 1)
        conf[k] = v
    conf.update(extra)
    return conf


def cmd_round_trip(a):
    p = Producer(client_config(a, {"acks": "all", "linger.ms": 5}))
    acked, errors = [0], []

    def on_delivery(err, msg):
        if err is not None:
            errors.append(str(err))
        else:
            acked[0] += 1

    started = time.monotonic()
    for i in range(a.count):
        value = (f"{i:08d}-" + "x" * a.size)[: a.size].encode()
        while True:
            try:
                p.produce(a.topic, key=str(i).encode(), value=value, on_delivery=on_delivery)
                break
            except BufferError:
                p.poll(0.05)
        p.poll(0)
    check(p.flush(60) == 0, "produce flush timed out")
    check(not errors, f"delivery errors: {errors[:5]}")
    check(acked[0] == a.count, f"acked {acked[0]} of {a.count}")
    produce_s = time.monotonic() - started

    c = Consumer(client_config(a, {"group.id": "tls-reader", "enable.auto.commit": False,
                                   "fetch.max.bytes": 8 << 20}))
    md = c.list_topics(a.topic, timeout=30)
    parts = list(md.topics[a.topic].partitions)
    c.assign([TopicPartition(a.topic, q, 0) for q in parts])
    seen = set()
    started = time.monotonic()
    for _ in deadline_loop(60, f"reading {a.count} records of {a.topic}"):
        if len(seen) == a.count:
            break
        m = poll_record(c)
        if m is None:
            continue
        i = int(m.key())
        expected = (f"{i:08d}-" + "x" * a.size)[: a.size].encode()
        check(m.value() == expected, f"record {i} corrupted: {m.value()[:40]!r}")
        seen.add(i)
    consume_s = time.monotonic() - started
    c.close()
    print(json.dumps({"acked": acked[0], "read": len(seen), "produce_s": produce_s,
                      "consume_s": consume_s}))


def expect_error(a, what, wanted):
    """A metadata request that must fail with an error `wanted` accepts; prints it."""
    errors = []
    conf = client_config(a, {"error_cb": lambda e: errors.append(e)})
    p = Producer(conf)
    try:
        p.list_topics(timeout=10)
        fail(f"metadata succeeded; {what} was expected")
    except KafkaException:
        pass
    p.poll(0)
    matching = [e for e in errors if wanted(e)]
    check(matching, f"no {what} reported, only: {[e.str() for e in errors]}")
    print(json.dumps({"error": matching[0].str()}))


def cmd_expect_ssl_error(a):
    expect_error(a, "an SSL error", lambda e: e.code() == KafkaError._SSL or "SSL" in e.str())


def cmd_paced(a):
    transport = []
    errors = []
    acked = [0]

    def on_error(err):
        # librdkafka reports a lost connection as _TRANSPORT (or _ALL_BROKERS_DOWN).
        transport.append(err.str())

    def on_delivery(err, _msg):
        if err is not None:
            errors.append(err.str())
        else:
            acked[0] += 1

    p = Producer(client_config(a, {"acks": "all", "linger.ms": 0, "error_cb": on_error}))
    sent = 0
    end = time.monotonic() + a.seconds
    while time.monotonic() < end:
        p.produce(a.topic, value=str(sent).encode(), on_delivery=on_delivery)
        sent += 1
        p.poll(0.1)
    left = p.flush(30)
    print(json.dumps({"sent": sent, "acked": acked[0], "errors": errors[:5],
                      "connection_errors": transport[:5]}))
    check(left == 0 and acked[0] == sent, f"{acked[0]} of {sent} acked: {errors[:5]}")
    check(not transport, f"connections were lost: {transport[:5]}")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--set", action="append", help="client property key=value")
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("round-trip")
    s.add_argument("--topic", required=True)
    s.add_argument("--count", type=int, default=1000)
    s.add_argument("--size", type=int, default=100)
    sub.add_parser("expect-ssl-error")
    s = sub.add_parser("paced")
    s.add_argument("--topic", required=True)
    s.add_argument("--seconds", type=float, required=True)
    a = ap.parse_args()
    {"round-trip": cmd_round_trip, "expect-ssl-error": cmd_expect_ssl_error,
     "paced": cmd_paced}[a.cmd](a)


if __name__ == "__main__":
    main()
