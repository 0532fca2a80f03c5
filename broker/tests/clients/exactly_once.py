#!/usr/bin/env python3
"""The exactly-once loop of issue 16: confluent-kafka consume-transform-produce with a
read_committed consumer in a group and a transactional producer committing the
consumer's offsets with its output (send_offsets_to_transaction), while the Rust test
kills brokers -9 under it.

fill: writes --count numbered records ("0".."N-1") to --input.
loop: copies every input record to --output exactly once, ~50 per transaction;
      after each commit it writes how many input records are committed to
      --progress-file (each transaction held open --pace-ms). On an abortable error it aborts and rewinds to the committed
      offsets; on a fatal one (fenced), or when send_offsets_to_transaction hangs (a
      librdkafka bug, see send_offsets), it makes a new producer. Every
      --abort-every-th transaction is aborted on purpose (a failed transform). Exits once every input
      record is committed.
verify: reads --output as read_committed and read_uncommitted; exits 1 unless
      read_committed holds every input exactly once. Prints a JSON summary.
"""
import argparse
import faulthandler
import json
import os
import sys
import threading
import time

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

from checks import check, deadline_loop, fail, poll_record

TXN_ID = "eos-loop"
PER_TXN = 50


def cmd_fill(a):
    p = Producer({"bootstrap.servers": a.bootstrap, "enable.idempotence": True,
                  "acks": "all", "linger.ms": 5})
    for i in range(a.count):
        p.produce(a.input, key=str(i).encode(), value=str(i).encode())
        p.poll(0)
    check(p.flush(60) == 0, "input records undelivered")


def new_producer(a):
    # EOS_CLIENT_DEBUG (e.g. "eos"): librdkafka's debug contexts for the producer.
    p = Producer({"bootstrap.servers": a.bootstrap, "transactional.id": TXN_ID,
                  "transaction.timeout.ms": 20000, "linger.ms": 5,
                  "message.timeout.ms": 20000}
                 | ({"debug": os.environ["EOS_CLIENT_DEBUG"]}
                    if os.environ.get("EOS_CLIENT_DEBUG") else {}))
    p.init_transactions(120)
    return p


def rewind(c):
    """Back to the group's committed offsets (stable ones: the consumer is
    read_committed, so the fetch waits out a transaction still ending); retried while
    the group's coordinator moves. Returns them by partition."""
    for _ in deadline_loop(120, "the group's committed offsets"):
        try:
            committed = c.committed(c.assignment(), timeout=30)
            break
        except KafkaException as e:
            print(f"committed offsets not fetched yet: {e.args[0]}", file=sys.stderr, flush=True)
            time.sleep(0.2)
    for tp in committed:
        c.seek(TopicPartition(tp.topic, tp.partition, max(tp.offset, 0)))
    return {tp.partition: tp.offset for tp in committed if tp.offset >= 0}


def send_offsets(p, positions, group_metadata, seconds):
    """send_offsets_to_transaction, bounded by `seconds`. librdkafka can block in it
    past its own timeout when the group coordinator it cached was killed and left the
    Metadata answers meanwhile (librdkafka issues #5456 and #5511: the coordinator
    request's timeout is never checked, and the broker it waits on was decommissioned).
    Returns False if the call did not return in time; the caller then abandons the
    producer, and a new one with the same transactional.id fences it."""
    outcome = []

    def call():
        try:
            p.send_offsets_to_transaction(positions, group_metadata, seconds)
            outcome.append(None)
        except KafkaException as e:
            outcome.append(e)

    worker = threading.Thread(target=call, daemon=True)
    worker.start()
    worker.join(seconds + 5)
    if not outcome:
        return False
    if outcome[0] is not None:
        raise outcome[0]
    return True


def input_end(a):
    c = Consumer({"bootstrap.servers": a.bootstrap, "group.id": "eos-end"})
    parts = c.list_topics(a.input, timeout=30).topics[a.input].partitions
    ends = {p: c.get_watermark_offsets(TopicPartition(a.input, p), timeout=30)[1]
            for p in parts}
    c.close()
    return ends


def progress(a, done):
    tmp = a.progress_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(done))
    os.replace(tmp, a.progress_file)


def watchdog(progressed):
    """Prints every thread's stack when the loop made no progress for 20 s, so a
    stalled run says where it waits (the test kills the loop when it times out)."""
    def watch():
        while True:
            time.sleep(5)
            if time.monotonic() - progressed[0] > 20:
                print("no progress for 20 s; the loop's stacks:", file=sys.stderr, flush=True)
                faulthandler.dump_traceback(file=sys.stderr)
                progressed[0] = time.monotonic()
    threading.Thread(target=watch, daemon=True).start()


def cmd_loop(a):
    progressed = [time.monotonic()]
    watchdog(progressed)
    ends = input_end(a)
    check(sum(ends.values()) == a.count, f"input ends {ends}, not {a.count} records")
    c = Consumer({"bootstrap.servers": a.bootstrap, "group.id": "eos-loop",
                  "enable.auto.commit": False, "isolation.level": "read_committed",
                  "auto.offset.reset": "earliest", "session.timeout.ms": 30000})
    c.subscribe([a.input])
    p = new_producer(a)
    committed = {}
    stats = {"commits": 0, "aborts": 0, "recreated": 0, "hung": 0, "aborted_records": 0}
    attempt = 0
    last_record = time.monotonic()
    for _ in deadline_loop(a.seconds, "every input record committed"):
        done = sum(committed.get(q, 0) for q in ends)
        progress(a, done)
        progressed[0] = time.monotonic()
        if done == a.count:
            break
        batch = []
        started = time.monotonic()
        while len(batch) < PER_TXN and time.monotonic() - started < 1.0:
            m = poll_record(c, 0.1)
            if m is not None:
                batch.append(m)
        if not batch:
            if time.monotonic() - last_record > 10:
                # Says where a stalled loop waits (a test that times out prints it).
                print(f"no input record for 10 s at {sum(committed.values())} committed: "
                      f"assignment {c.assignment()}, positions {c.position(c.assignment())}",
                      file=sys.stderr, flush=True)
                last_record = time.monotonic()
            continue
        last_record = time.monotonic()
        try:
            p.begin_transaction()
            for m in batch:
                p.produce(a.output, key=m.key(), value=m.value())
            positions = c.position(c.assignment())
            if not send_offsets(p, positions, c.consumer_group_metadata(), 20):
                print(f"send_offsets_to_transaction hung at {sum(committed.values())} "
                      "committed: a new producer fences this one", file=sys.stderr, flush=True)
                p = new_producer(a)
                stats["recreated"] += 1
                stats["hung"] += 1
                committed = rewind(c)
                continue
            # Open for a while, so the test's kills land inside transactions.
            time.sleep(a.pace_ms / 1000)
            attempt += 1
            if a.abort_every and attempt % a.abort_every == 0:
                # A transform that failed: its output and offsets must vanish.
                check(p.flush(60) == 0, "records undelivered")
                p.abort_transaction(60)
                stats["aborts"] += 1
                stats["aborted_records"] += len(batch)
                committed = rewind(c)
                continue
            p.commit_transaction(60)
            stats["commits"] += 1
            for tp in positions:
                if tp.offset >= 0:
                    committed[tp.partition] = tp.offset
        except KafkaException as e:
            err = e.args[0]
            print(f"transaction failed at {sum(committed.values())} committed: {err}",
                  file=sys.stderr, flush=True)
            if err.txn_requires_abort():
                try:
                    p.abort_transaction(60)
                    stats["aborts"] += 1
                except KafkaException:
                    p = new_producer(a)
                    stats["recreated"] += 1
            elif err.retriable():
                # The commit's outcome is unknown: a retry of it finds out.
                try:
                    p.commit_transaction(60)
                    stats["commits"] += 1
                    committed.update({tp.partition: tp.offset for tp in positions
                                      if tp.offset >= 0})
                    continue
                except KafkaException:
                    p = new_producer(a)
                    stats["recreated"] += 1
            else:
                p = new_producer(a)
                stats["recreated"] += 1
            committed = rewind(c)
    c.close()
    print(json.dumps(stats))


def read_all(a, isolation):
    """Every record of the output from the start, as a consumer of `isolation`: read
    until none came for 5 s once --count were read (or for 20 s before that: the
    rest is missing, and cmd_verify says which)."""
    c = Consumer({"bootstrap.servers": a.bootstrap, "group.id": f"eos-verify-{isolation}",
                  "enable.auto.commit": False, "isolation.level": isolation})
    parts = c.list_topics(a.output, timeout=30).topics[a.output].partitions
    c.assign([TopicPartition(a.output, q, 0) for q in parts])
    got = []
    idle_since = time.monotonic()
    for _ in deadline_loop(300, f"the output as {isolation}"):
        m = poll_record(c)
        if m is not None:
            got.append(m.value().decode())
            idle_since = time.monotonic()
        elif time.monotonic() - idle_since > (5 if len(got) >= a.count else 20):
            break
    c.close()
    return got


def cmd_verify(a):
    committed = read_all(a, "read_committed")
    counts = {}
    for v in committed:
        counts[v] = counts.get(v, 0) + 1
    missing = [i for i in range(a.count) if str(i) not in counts]
    duplicated = sorted(v for v, n in counts.items() if n > 1)
    uncommitted = read_all(a, "read_uncommitted")
    summary = {"read_committed": len(committed), "distinct": len(counts),
               "missing": len(missing), "duplicated": len(duplicated),
               "read_uncommitted": len(uncommitted)}
    print(json.dumps(summary))
    check(not missing and not duplicated,
          f"not exactly once: missing {missing[:20]}, duplicated {duplicated[:20]}")
    check(len(uncommitted) >= len(committed), "read_uncommitted saw less than read_committed")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--input", required=True)
    ap.add_argument("--output", required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--progress-file", default="")
    ap.add_argument("--seconds", type=int, default=300)
    ap.add_argument("--abort-every", type=int, default=0,
                    help="abort every n-th transaction on purpose, then rewind")
    ap.add_argument("--pace-ms", type=int, default=0,
                    help="pause before each commit, so the test's kills land in transactions")
    ap.add_argument("cmd", choices=["fill", "loop", "verify"])
    a = ap.parse_args()
    try:
        {"fill": cmd_fill, "loop": cmd_loop, "verify": cmd_verify}[a.cmd](a)
    except KafkaException as e:
        fail(f"{a.cmd}: {e}")


if __name__ == "__main__":
    main()
