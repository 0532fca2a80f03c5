#!/usr/bin/env python3
"""aiokafka (asyncio client) against a Tidewater broker: send_and_wait with
acks=all, then a group consumer reads every record back in per-partition order and
commits. Exits 1 on any mismatch."""
import argparse
import asyncio
import json
import sys

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from checks import fail


async def run(a):
    producer = AIOKafkaProducer(bootstrap_servers=a.bootstrap, acks="all",
                                enable_idempotence=True, request_timeout_ms=30000)
    await producer.start()
    acked = {}
    try:
        batch = [await producer.send(a.topic, key=f"k{i % 5}".encode(), value=str(i).encode())
                 for i in range(a.count)]
        for i, fut in enumerate(batch):
            md = await asyncio.wait_for(fut, 60)
            acked[i] = (md.partition, md.offset)
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(a.topic, bootstrap_servers=a.bootstrap, group_id="aio-group",
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    seen, last = {}, {}
    try:
        async def consume():
            while len(seen) < a.count:
                batches = await consumer.getmany(timeout_ms=500)
                for tp, msgs in batches.items():
                    for m in msgs:
                        i = int(m.value)
                        if i in seen:
                            fail(f"record {i} consumed twice")
                        if last.get(tp.partition, -1) >= i:
                            fail(f"partition {tp.partition}: {i} after {last[tp.partition]}")
                        last[tp.partition] = i
                        seen[i] = (m.partition, m.offset)
        await asyncio.wait_for(consume(), 60)
        if seen != acked:
            fail(f"consumed {len(seen)} records, acknowledged {len(acked)}; differ")
        await consumer.commit()
        parts = sorted(consumer.assignment(), key=lambda tp: tp.partition)
        ends = await consumer.end_offsets(parts)
        for tp in parts:
            got = await consumer.committed(tp)
            if got != ends[tp]:
                fail(f"committed {got} for {tp}, end offset {ends[tp]}")
    finally:
        await consumer.stop()
    print(json.dumps({"acked": len(acked)}))


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--count", type=int, default=500)
    asyncio.run(run(ap.parse_args()))


if __name__ == "__main__":
    main()
