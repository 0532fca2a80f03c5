// Kafka's Java client (kafka-clients at the version pinned in pom.xml) as a
// transactional producer and a read_committed consumer, for
// broker/tests/kafka_tools/transaction_version.rs, which compiles this file with javac
// at test time. With `transaction.version` 2 finalized the producer speaks KIP-890's
// second part: EndTxn v5 (a new epoch after every commit and abort), Produce v12 and
// TxnOffsetCommit v5 (no AddPartitionsToTxn or AddOffsetsToTxn). It prints what
// happened, one fact a line; the Rust test judges it.
//
//   transactions BOOTSTRAP TOPIC TXID N GROUP  N transactions; transaction i sends
//                             "commit-i" (even i, with GROUP's offset i + 1 on
//                             partition 0 of TOPIC) or "abort-i" (odd i), then
//                             commits or aborts it; prints "committed i"/"aborted i"
//   zombie BOOTSTRAP TOPIC TXID   an open transaction of one producer, fenced by a
//                             second one of the same id, which commits "fresh";
//                             prints "fenced EXCEPTION" when the first one's commit
//                             is refused
//   read BOOTSTRAP TOPIC GROUP    read_committed from the start to the last stable
//                             offset: "record VALUE"; then "group-offset N" (GROUP's
//                             committed offset on partition 0, -1 if none)

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Properties;

import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

public class TxnV2Client {
    static final long DEADLINE_MS = 60_000;

    public static void main(String[] args) throws Exception {
        String mode = args[0], bootstrap = args[1], topic = args[2];
        switch (mode) {
            case "transactions" -> transactions(bootstrap, topic, args[3], Integer.parseInt(args[4]), args[5]);
            case "zombie" -> zombie(bootstrap, topic, args[3]);
            case "read" -> read(bootstrap, topic, args[3]);
            default -> throw new IllegalArgumentException("unknown mode " + mode);
        }
    }

    static KafkaProducer<String, String> producer(String bootstrap, String transactionalId) {
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        p.put("transactional.id", transactionalId);
        p.put("transaction.timeout.ms", "60000");
        p.put("linger.ms", "5");
        return new KafkaProducer<>(p, new StringSerializer(), new StringSerializer());
    }

    static void transactions(String bootstrap, String topic, String transactionalId, int n, String group)
            throws Exception {
        TopicPartition tp = new TopicPartition(topic, 0);
        try (KafkaProducer<String, String> producer = producer(bootstrap, transactionalId)) {
            producer.initTransactions();
            for (int i = 0; i < n; i++) {
                boolean commit = i % 2 == 0;
                producer.beginTransaction();
                String value = (commit ? "commit-" : "abort-") + i;
                producer.send(new ProducerRecord<>(topic, 0, "k" + i, value)).get();
                if (commit) {
                    producer.sendOffsetsToTransaction(
                        Map.of(tp, new OffsetAndMetadata(i + 1)), new ConsumerGroupMetadata(group));
                    producer.commitTransaction();
                    System.out.println("committed " + i);
                } else {
                    producer.abortTransaction();
                    System.out.println("aborted " + i);
                }
            }
        }
    }

    static void zombie(String bootstrap, String topic, String transactionalId) throws Exception {
        KafkaProducer<String, String> zombie = producer(bootstrap, transactionalId);
        zombie.initTransactions();
        zombie.beginTransaction();
        zombie.send(new ProducerRecord<>(topic, 0, "z", "zombie")).get();
        try (KafkaProducer<String, String> fresh = producer(bootstrap, transactionalId)) {
            // Fences the zombie: its open transaction is aborted.
            fresh.initTransactions();
            fresh.beginTransaction();
            fresh.send(new ProducerRecord<>(topic, 0, "f", "fresh")).get();
            fresh.commitTransaction();
            System.out.println("fresh committed");
        }
        try {
            zombie.send(new ProducerRecord<>(topic, 0, "z", "zombie-late")).get();
            zombie.commitTransaction();
            System.out.println("zombie committed");
        } catch (Exception e) {
            Throwable cause = e.getCause() != null && !(e instanceof KafkaException) ? e.getCause() : e;
            System.out.println("fenced " + cause.getClass().getSimpleName());
        } finally {
            zombie.close(Duration.ofSeconds(5));
        }
    }

    static void read(String bootstrap, String topic, String group) {
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        p.put("isolation.level", "read_committed");
        p.put("enable.auto.commit", "false");
        p.put("group.id", group);
        TopicPartition tp = new TopicPartition(topic, 0);
        try (KafkaConsumer<String, String> consumer =
                 new KafkaConsumer<>(p, new StringDeserializer(), new StringDeserializer())) {
            consumer.assign(List.of(tp));
            consumer.seekToBeginning(List.of(tp));
            // read_committed: the end offset is the last stable offset.
            long end = consumer.endOffsets(List.of(tp)).get(tp);
            long deadline = System.currentTimeMillis() + DEADLINE_MS;
            while (consumer.position(tp) < end) {
                if (System.currentTimeMillis() > deadline) {
                    throw new IllegalStateException("read stopped at " + consumer.position(tp) + " of " + end);
                }
                for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(500))) {
                    System.out.println("record " + r.value());
                }
            }
            OffsetAndMetadata committed = consumer.committed(java.util.Set.of(tp)).get(tp);
            System.out.println("group-offset " + (committed == null ? -1 : committed.offset()));
        }
    }
}
