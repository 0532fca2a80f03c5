#!/usr/bin/env python3
"""confluent-kafka clients of the network-partition test (broker/tests/kraft_netsplit.rs).

Subcommands:
  isolated  runs INSIDE the cut-off old leader's network namespace: an acks=1 producer
            writes unique `iso1-N` ids to the partition until enough are acknowledged
            (the old leader still accepts them: the divergent tail), while an acks=all
            producer tries `isoall-N` ids, none of which may be acknowledged. Prints a
            JSON summary; exits 1 when an acks=all write was acknowledged.
  verify    reads the partition from offset 0 to its high watermark and checks that
            every acknowledged id of the main acks=all producer is there exactly once,
            that no `iso` record of the isolated leader survived, and that the records
            acknowledged after the failover carry a higher leader epoch than those
            acknowledged before the cut.

Each subcommand exits 0 only when its checks hold; otherwise prints FAIL to stderr.
"""
import argparse
import json
import os
import time

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

from checks import check, fail, run_subcommand


def cmd_isolated(a):
    acked1 = []
    errors1 = []
    all_acked = []
    all_errors = []

    def on_acks1(err, msg):
        if err is None:
            acked1.append((msg.value().decode(), msg.offset()))
        else:
            errors1.append(f"{msg.value().decode()}: {err}")

    def on_acks_all(err, msg):
        if err is None:
            all_acked.append((msg.value().decode(), msg.offset()))
        else:
            all_errors.append(f"{msg.value().decode()}: {err.name()}: {err.str()}")

    common = {"bootstrap.servers": a.bootstrap, "linger.ms": 0,
              "enable.idempotence": False, "request.timeout.ms": 3000,
              "retry.backoff.ms": 100, "topic.metadata.refresh.interval.ms": 1000}
    p1 = Producer(dict(common, **{"acks": "1", "message.timeout.ms": 10000}))
    # acks=all without idempotence: an idempotent producer would first need a
    # producer id, which the cut-off node cannot get from the quorum; this one
    # reaches the Produce path and must be refused or time out there.
    pall = Producer(dict(common, **{"acks": "all", "message.timeout.ms": a.all_timeout_ms}))
    for i in range(a.all_count):
        pall.produce(a.topic, value=f"isoall-{i}".encode(), partition=a.partition,
                     on_delivery=on_acks_all)
    sent1 = 0
    end = time.monotonic() + a.timeout
    while len(acked1) < a.min_acked:
        if time.monotonic() > end:
            fail(f"only {len(acked1)} of {a.min_acked} acks=1 writes acknowledged by the "
                 f"isolated leader in {a.timeout}s; errors {errors1[:5]}")
        p1.produce(a.topic, value=f"iso1-{sent1}".encode(), partition=a.partition,
                   on_delivery=on_acks1)
        sent1 += 1
        p1.poll(0.02)
        pall.poll(0)
    left1 = p1.flush(30)
    leftall = pall.flush(a.all_timeout_ms / 1000 + 30)
    with open(a.acks1_file, "w") as f:
        for value, offset in acked1:
            f.write(f"{value} {offset}\n")
    summary = {"acks1_sent": sent1, "acks1_acked": len(acked1),
               "acks1_errors": len(errors1), "acks1_first_errors": errors1[:5],
               "all_sent": a.all_count, "all_acked": len(all_acked),
               "all_errors": len(all_errors), "all_first_errors": all_errors[:5],
               "unflushed": left1 + leftall}
    print(json.dumps(summary))
    check(left1 + leftall == 0, f"{left1 + leftall} records neither acked nor failed")
    check(not all_acked, f"the isolated leader acknowledged acks=all writes: {all_acked[:5]}")
    check(len(all_errors) == a.all_count, "every acks=all write must fail")


def read_acked(path):
    """The main producer's acked ids in acknowledgement order."""
    ids = []
    with open(path) as f:
        for line in f:
            # "id partition offset [ack time]": the producer may log more fields.
            parts = line.split()
            if len(parts) >= 3:
                ids.append(int(parts[0]))
    return ids


def consume_partition(bootstrap, topic, partition, timeout):
    """(offset, value, leader epoch) of every record from 0 to the high watermark."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"netsplit-{os.getpid()}",
                  "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    _, high = c.get_watermark_offsets(TopicPartition(topic, partition), timeout=30)
    c.assign([TopicPartition(topic, partition, 0)])
    out = []
    pos = 0
    end = time.monotonic() + timeout
    while pos < high:
        if time.monotonic() > end:
            fail(f"timed out reading {topic}-{partition} at {pos} of {high}")
        m = c.poll(0.5)
        if m is None:
            continue
        if m.error():
            fail(f"consume error: {m.error()}")
        out.append((m.offset(), m.value().decode(), m.leader_epoch()))
        pos = m.offset() + 1
    c.close()
    return out, high


def cmd_verify(a):
    acked = read_acked(a.acked)
    records, high = consume_partition(a.bootstrap, a.topic, a.partition, a.timeout)
    epoch_of = {}
    count = {}
    iso = []
    for offset, value, epoch in records:
        if value.startswith("iso"):
            iso.append((offset, value, epoch))
            continue
        count[int(value)] = count.get(int(value), 0) + 1
        epoch_of[int(value)] = epoch
    missing = [i for i in acked if count.get(i, 0) == 0]
    dup = sorted(i for i, n in count.items() if n > 1)
    epochs = {}
    for _, _, e in records:
        epochs[str(e)] = epochs.get(str(e), 0) + 1
    check(a.pre_count > 0 and len(acked) > a.post_count, "too few acks around the cut")
    old_epoch = epoch_of.get(acked[a.pre_count - 1])
    post = [epoch_of.get(i) for i in acked[a.post_count:]]
    print(json.dumps({"acked": len(acked), "records": len(records), "high_watermark": high,
                      "missing": len(missing), "duplicates": len(dup),
                      "iso_records": len(iso), "records_by_epoch": epochs,
                      "epoch_before_cut": old_epoch,
                      "epochs_after_failover": sorted(set(e for e in post if e is not None))}))
    check(not missing, f"{len(missing)} acknowledged ids lost, first {missing[:20]}")
    check(not dup, f"{len(dup)} ids stored more than once, first {dup[:20]}")
    check(not iso, f"records of the isolated leader survived: {iso[:10]}")
    check(old_epoch is not None and old_epoch >= 0,
          f"no leader epoch on the last record acked before the cut: {old_epoch}")
    low = [e for e in post if e is None or e <= old_epoch]
    check(not low, f"{len(low)} records acked after the failover carry epoch <= "
                   f"{old_epoch} (the old leader's): {low[:10]}")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("isolated")
    s.add_argument("--acks1-file", required=True)
    s.add_argument("--min-acked", type=int, default=20)
    s.add_argument("--all-count", type=int, default=10)
    s.add_argument("--all-timeout-ms", type=int, default=8000)
    s.add_argument("--timeout", type=float, default=30.0)
    s.set_defaults(fn=cmd_isolated)
    s = sub.add_parser("verify")
    s.add_argument("--acked", required=True)
    s.add_argument("--pre-count", type=int, required=True)
    s.add_argument("--post-count", type=int, required=True)
    s.add_argument("--timeout", type=float, default=60.0)
    s.set_defaults(fn=cmd_verify)
    run_subcommand(ap, sub, [("--bootstrap", {"required": True}), ("--topic", {"required": True}),
                    ("--partition", {"type": int, "default": 0})],
                   KafkaException)


if __name__ == "__main__":
    main()
