#!/usr/bin/env python3
"""Transactions on Apache Kafka, for its __transaction_state records
(broker/tests/kafka_tools/transaction_log.rs), with confluent-kafka (librdkafka).

  BOOTSTRAP   creates topic 'txn' (2 partitions); transactional id 'tw-txn' commits a
              transaction of 4 records over both partitions, then aborts one of 2
              records on partition 0. Exits 1 on any error."""
import sys

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

TOPIC = "txn"


def main(bootstrap):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(TOPIC, num_partitions=2, replication_factor=1)])[TOPIC].result(60)
    p = Producer({"bootstrap.servers": bootstrap, "transactional.id": "tw-txn",
                  "transaction.timeout.ms": 60000})
    p.init_transactions(60)
    p.begin_transaction()
    for i in range(4):
        p.produce(TOPIC, value=b"commit-%d" % i, partition=i % 2)
    p.commit_transaction(60)
    p.begin_transaction()
    for i in range(2):
        p.produce(TOPIC, value=b"abort-%d" % i, partition=0)
    p.flush(60)
    p.abort_transaction(60)


if __name__ == "__main__":
    main(sys.argv[1])
