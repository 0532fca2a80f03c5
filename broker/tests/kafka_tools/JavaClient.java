// Kafka's Java client (kafka-clients at the version pinned in pom.xml) driven for
// broker/tests/kafka_tools/java_client.rs, which compiles this file with javac at test
// time. It prints what happened, one fact a line; the Rust test judges it.
//
//   produce-idempotent BOOTSTRAP TOPIC N  N records v0..v(N-1) to partition 0,
//                                        enable.idempotence=true, acks=all
//   read BOOTSTRAP TOPIC N               partition 0 from the start: "record OFFSET VALUE"
//   range-group BOOTSTRAP TOPIC N        two members of one classic group on the range
//                                        assignor; once each holds its share, N records
//                                        go round-robin to the partitions; prints
//                                        "assigned MEMBER P,P" and "record MEMBER P VALUE"
//   consumer-group BOOTSTRAP TOPIC N     the same with group.protocol=consumer (KIP-848)
//                                        and the broker's range assignor

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Properties;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

public class JavaClient {
    static final long DEADLINE_MS = 60_000;

    public static void main(String[] args) throws Exception {
        String mode = args[0], bootstrap = args[1], topic = args[2];
        int n = Integer.parseInt(args[3]);
        switch (mode) {
            case "produce-idempotent" -> produce(bootstrap, topic, n, true, 1);
            case "read" -> read(bootstrap, topic, n);
            case "range-group" -> rangeGroup(bootstrap, topic, n, "classic");
            case "consumer-group" -> rangeGroup(bootstrap, topic, n, "consumer");
            default -> throw new IllegalArgumentException("unknown mode " + mode);
        }
    }

    static KafkaProducer<String, String> producer(String bootstrap, boolean idempotent) {
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        p.put("acks", "all");
        p.put("enable.idempotence", Boolean.toString(idempotent));
        // Several batches in flight at once: what idempotence must keep in order.
        p.put("max.in.flight.requests.per.connection", "5");
        p.put("linger.ms", "5");
        p.put("batch.size", "4096");
        return new KafkaProducer<>(p, new StringSerializer(), new StringSerializer());
    }

    /** N records v0.. to partitions i % partitions; waits for every acknowledgement. */
    static void produce(String bootstrap, String topic, int n, boolean idempotent, int partitions)
            throws Exception {
        try (KafkaProducer<String, String> producer = producer(bootstrap, idempotent)) {
            List<Future<RecordMetadata>> acks = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                acks.add(producer.send(new ProducerRecord<>(topic, i % partitions, "k" + i, "v" + i)));
            }
            for (Future<RecordMetadata> ack : acks) {
                ack.get();
            }
            System.out.println("sent " + n);
        }
    }

    static Properties consumerProps(String bootstrap) {
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        p.put("auto.offset.reset", "earliest");
        return p;
    }

    static void read(String bootstrap, String topic, int n) {
        Properties p = consumerProps(bootstrap);
        p.put("enable.auto.commit", "false");
        try (KafkaConsumer<String, String> consumer =
                new KafkaConsumer<>(p, new StringDeserializer(), new StringDeserializer())) {
            TopicPartition tp = new TopicPartition(topic, 0);
            consumer.assign(List.of(tp));
            consumer.seekToBeginning(List.of(tp));
            long deadline = System.currentTimeMillis() + DEADLINE_MS;
            // Past n too, so a duplicate after the n-th record would show.
            long end = consumer.endOffsets(List.of(tp)).get(tp);
            System.out.println("end " + end);
            while (consumer.position(tp) < end && System.currentTimeMillis() < deadline) {
                for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(200))) {
                    System.out.println("record " + r.offset() + " " + r.value());
                }
            }
        }
    }

    /** One group member polling on its own thread until told to stop. */
    static final class Member implements Runnable, ConsumerRebalanceListener {
        final String name;
        final KafkaConsumer<String, String> consumer;
        final String topic;
        final AtomicReference<TreeSet<Integer>> assigned = new AtomicReference<>(new TreeSet<>());
        final ConcurrentLinkedQueue<String> records;
        final AtomicInteger total;
        final AtomicBoolean stop;
        final AtomicReference<Throwable> failure = new AtomicReference<>();

        Member(String name, String bootstrap, String topic, ConcurrentLinkedQueue<String> records,
                AtomicInteger total, AtomicBoolean stop, String protocol) {
            Properties p = consumerProps(bootstrap);
            p.put("group.id", "java-" + protocol + "-group");
            p.put("group.protocol", protocol);
            if (protocol.equals("consumer")) {
                // KIP-848: the broker assigns.
                p.put("group.remote.assignor", "range");
            } else {
                p.put("partition.assignment.strategy",
                        "org.apache.kafka.clients.consumer.RangeAssignor");
            }
            this.name = name;
            this.consumer = new KafkaConsumer<>(p, new StringDeserializer(), new StringDeserializer());
            this.topic = topic;
            this.records = records;
            this.total = total;
            this.stop = stop;
        }

        // Incremental: the consumer protocol (and cooperative assignors) revoke and
        // assign only what changes; the eager classic protocol revokes everything.
        @Override
        public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
            TreeSet<Integer> now = new TreeSet<>(assigned.get());
            for (TopicPartition tp : partitions) {
                now.remove(tp.partition());
            }
            assigned.set(now);
        }

        @Override
        public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
            TreeSet<Integer> now = new TreeSet<>(assigned.get());
            for (TopicPartition tp : partitions) {
                now.add(tp.partition());
            }
            assigned.set(now);
        }

        @Override
        public void run() {
            try {
                consumer.subscribe(List.of(topic), this);
                while (!stop.get()) {
                    for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(100))) {
                        records.add("record " + name + " " + r.partition() + " " + r.value());
                        total.incrementAndGet();
                    }
                }
            } catch (Throwable t) {
                failure.set(t);
            } finally {
                consumer.close();
            }
        }

        String partitions() {
            return String.join(",", assigned.get().stream().map(String::valueOf).toList());
        }
    }

    static void rangeGroup(String bootstrap, String topic, int n, String protocol) throws Exception {
        ConcurrentLinkedQueue<String> records = new ConcurrentLinkedQueue<>();
        AtomicInteger total = new AtomicInteger();
        AtomicBoolean stop = new AtomicBoolean();
        Member a = new Member("a", bootstrap, topic, records, total, stop, protocol);
        Member b = new Member("b", bootstrap, topic, records, total, stop, protocol);
        Thread ta = new Thread(a), tb = new Thread(b);
        ta.start();
        tb.start();
        try {
            long deadline = System.currentTimeMillis() + DEADLINE_MS;
            int partitions = 4;
            // Each member holds its share (and the shares cover the topic) before any
            // record exists, so both must read.
            while (a.assigned.get().size() + b.assigned.get().size() != partitions
                    || a.assigned.get().isEmpty() || b.assigned.get().isEmpty()) {
                if (System.currentTimeMillis() > deadline) {
                    throw new IllegalStateException("no split: a=" + a.partitions() + " b=" + b.partitions());
                }
                Thread.sleep(50);
            }
            produce(bootstrap, topic, n, false, partitions);
            while (total.get() < n && System.currentTimeMillis() < deadline) {
                Thread.sleep(50);
            }
            System.out.println("assigned a " + a.partitions());
            System.out.println("assigned b " + b.partitions());
        } finally {
            stop.set(true);
            ta.join();
            tb.join();
        }
        for (Member m : List.of(a, b)) {
            if (m.failure.get() != null) {
                throw new IllegalStateException("member " + m.name, m.failure.get());
            }
        }
        for (String r : records) {
            System.out.println(r);
        }
    }
}
