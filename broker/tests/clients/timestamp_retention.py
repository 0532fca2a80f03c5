"""Issue 19 item 2 with librdkafka (confluent-kafka): records produced without a
timestamp must not be deleted by time-based retention.

Steps (each prints one JSON line; any mismatch exits non-zero):
  setup:    create NO_TS (retention.ms=7d) and CONTROL (retention.ms=1500)
  produce:  50 records with timestamp -1 to NO_TS (librdkafka writes the batch's max
            timestamp as 0 and every record's as -1)
  control:  one record with the current time to CONTROL, then wait until retention
            deleted it (the earliest offset moves past it): proof a check ran
  check:    NO_TS still starts at 0 and holds all 50 records, and ListOffsets by time
            finds no record at or after timestamp 0
"""
import argparse
import json
import sys
import time

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def fail(msg):
    print(json.dumps({"error": msg}), flush=True)
    sys.exit(1)


def setup(a):
    admin = AdminClient({"bootstrap.servers": a.bootstrap})
    topics = [
        NewTopic(a.no_ts, 1, 1, config={"retention.ms": str(7 * 24 * 3600 * 1000)}),
        NewTopic(a.control, 1, 1, config={"retention.ms": "1500"}),
    ]
    for t, f in admin.create_topics(topics).items():
        try:
            f.result(30)
        except KafkaException as e:
            fail(f"create {t}: {e}")
    print(json.dumps({"created": [a.no_ts, a.control]}), flush=True)


def produce(a):
    p = Producer({"bootstrap.servers": a.bootstrap, "linger.ms": 50, "acks": "all"})
    errors = []
    for i in range(50):
        p.produce(a.no_ts, value=f"v{i}".encode(), key=f"k{i}".encode(), timestamp=-1,
                  on_delivery=lambda err, msg: err and errors.append(str(err)))
    if p.flush(30) != 0 or errors:
        fail(f"produce: {errors}")
    print(json.dumps({"produced": 50}), flush=True)


def watermarks(a, topic):
    c = Consumer({"bootstrap.servers": a.bootstrap, "group.id": "wm", "enable.auto.commit": False})
    try:
        return c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10, cached=False)
    finally:
        c.close()


def control(a):
    p = Producer({"bootstrap.servers": a.bootstrap, "acks": "all"})
    p.produce(a.control, value=b"tick")
    if p.flush(30) != 0:
        fail("control produce")
    _, high = watermarks(a, a.control)
    deadline = time.time() + 60
    while time.time() < deadline:
        low, _ = watermarks(a, a.control)
        if low >= high:
            print(json.dumps({"control_deleted_up_to": low}), flush=True)
            return
        time.sleep(0.2)
    fail(f"retention never deleted the control record below {high}")


def check(a):
    low, high = watermarks(a, a.no_ts)
    if (low, high) != (0, 50):
        fail(f"{a.no_ts} watermarks are ({low}, {high}), expected (0, 50)")
    c = Consumer({"bootstrap.servers": a.bootstrap, "group.id": "check",
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    c.assign([TopicPartition(a.no_ts, 0, 0)])
    seen = []
    deadline = time.time() + 30
    while len(seen) < 50 and time.time() < deadline:
        m = c.poll(1.0)
        if m is None:
            continue
        if m.error():
            fail(str(m.error()))
        seen.append((m.offset(), m.timestamp()[1]))
    by_time = c.offsets_for_times([TopicPartition(a.no_ts, 0, 0)], timeout=10)[0].offset
    c.close()
    if [o for o, _ in seen] != list(range(50)):
        fail(f"consumed offsets {seen}")
    if any(ts >= 0 for _, ts in seen):
        fail(f"records gained a timestamp: {seen[:3]}")
    if by_time != -1:
        fail(f"ListOffsets by time 0 found offset {by_time}; no record has a timestamp")
    print(json.dumps({"survived": len(seen), "offset_for_time_0": by_time}), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("step", choices=["setup", "produce", "control", "check"])
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--no-ts", default="no-ts")
    ap.add_argument("--control", default="control")
    a = ap.parse_args()
    {"setup": setup, "produce": produce, "control": control, "check": check}[a.step](a)


if __name__ == "__main__":
    main()
