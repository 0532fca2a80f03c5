//! Debian's `kcat` (librdkafka) against the real broker: metadata, produce,
//! consume, and group consume with committed offsets resumed by a second run.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::{Broker, BrokerOpts, Rng, kcat, kcat_read};

const T: Duration = Duration::from_secs(60);

/// `partition -> [(offset, key, value)]` from `kcat -C -f '%p|%o|%k|%s\n'` output.
fn by_partition(stdout: &str) -> BTreeMap<i32, Vec<(i64, String, String)>> {
    let mut out: BTreeMap<i32, Vec<(i64, String, String)>> = BTreeMap::new();
    for line in stdout.lines().filter(|l| !l.is_empty()) {
        let mut f = line.splitn(4, '|');
        let (Some(p), Some(o), Some(k), Some(v)) = (f.next(), f.next(), f.next(), f.next()) else {
            panic!("unexpected kcat line {line:?}");
        };
        out.entry(p.parse().expect("partition")).or_default().push((
            o.parse().expect("offset"),
            k.to_string(),
            v.to_string(),
        ));
    }
    out
}

#[test]
fn kcat_metadata_lists_the_broker_and_auto_created_topic() {
    let b = Broker::start(BrokerOpts {
        num_partitions: 3,
        ..Default::default()
    });
    let bs = b.bootstrap();
    // Producing one record to an unknown topic auto-creates it with num.partitions.
    kcat(&["-b", &bs, "-P", "-t", "meta-topic"], Some(b"hello\n"), T).ok();
    let out = kcat(&["-b", &bs, "-L", "-J"], None, T).ok();
    let json = out.stdout.replace(' ', "");
    let broker_entry = format!("\"brokers\":[{{\"id\":1,\"name\":\"{bs}\"}}]");
    assert!(
        json.contains(&broker_entry),
        "broker 1 at {bs} missing:\n{out}"
    );
    assert!(
        json.contains("\"topic\":\"meta-topic\""),
        "topic missing:\n{out}"
    );
    // Plain listing: three partitions, each led by broker 1.
    let out = kcat(&["-b", &bs, "-L", "-t", "meta-topic"], None, T).ok();
    assert!(
        out.stdout
            .contains("topic \"meta-topic\" with 3 partitions"),
        "{out}"
    );
    for p in 0..3 {
        assert!(
            out.stdout.contains(&format!("partition {p}, leader 1")),
            "partition {p}:\n{out}"
        );
    }
}

#[test]
fn kcat_produce_then_consume_round_trips_keys_and_values() {
    let mut rng = Rng::from_env("kcat_produce_then_consume");
    let b = Broker::start(BrokerOpts {
        num_partitions: 3,
        ..Default::default()
    });
    let bs = b.bootstrap();
    let n = 300;
    let sent: Vec<(String, String)> = (0..n)
        .map(|i| {
            (
                format!("key-{}", i % 17),
                format!("value-{i}-{}", rng.next_u64()),
            )
        })
        .collect();
    let input: String = sent.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    kcat(
        &["-b", &bs, "-P", "-t", "rt", "-K:", "-X", "acks=all"],
        Some(input.as_bytes()),
        T,
    )
    .ok();

    let out = kcat_read(&bs, "rt", &["-f", "%p|%o|%k|%s\\n"], T);
    let parts = by_partition(&out.stdout);
    let total: usize = parts.values().map(Vec::len).sum();
    assert_eq!(total, n, "record count differs\n{out}");
    let mut key_partition: BTreeMap<String, i32> = BTreeMap::new();
    for (p, recs) in &parts {
        let offsets: Vec<i64> = recs.iter().map(|r| r.0).collect();
        assert_eq!(
            offsets,
            (0..recs.len() as i64).collect::<Vec<_>>(),
            "partition {p} offsets not 0..n"
        );
        for (_, k, _) in recs {
            let prev = key_partition.insert(k.clone(), *p);
            assert!(
                prev.is_none_or(|q| q == *p),
                "key {k} in partitions {prev:?} and {p}"
            );
        }
    }
    assert!(
        parts.len() > 1,
        "17 keys over 3 partitions all landed in one: {parts:?}"
    );
    // Per key, values come back in the order they were produced.
    let got: BTreeMap<String, Vec<String>> =
        parts
            .values()
            .flatten()
            .fold(BTreeMap::new(), |mut m, (_, k, v)| {
                m.entry(k.clone()).or_insert_with(Vec::new).push(v.clone());
                m
            });
    let want: BTreeMap<String, Vec<String>> = sent.iter().fold(BTreeMap::new(), |mut m, (k, v)| {
        m.entry(k.clone()).or_insert_with(Vec::new).push(v.clone());
        m
    });
    assert_eq!(got, want);
}

#[test]
fn kcat_group_consume_commits_offsets_and_resumes() {
    let b = Broker::start(BrokerOpts {
        num_partitions: 2,
        ..Default::default()
    });
    let bs = b.bootstrap();
    let batch =
        |from: usize, to: usize| -> String { (from..to).map(|i| format!("g-{i}\n")).collect() };
    kcat(
        &["-b", &bs, "-P", "-t", "gt"],
        Some(batch(0, 50).as_bytes()),
        T,
    )
    .ok();

    let group_consume = || {
        let out = kcat(
            &[
                "-b",
                &bs,
                "-G",
                "kcat-group",
                "-X",
                "auto.offset.reset=earliest",
                "-e",
                "-f",
                "%s\\n",
                "gt",
            ],
            None,
            T,
        )
        .ok();
        out.lines()
            .into_iter()
            .map(str::to_owned)
            .collect::<BTreeSet<String>>()
    };
    let first = group_consume();
    let want: BTreeSet<String> = (0..50).map(|i| format!("g-{i}")).collect();
    assert_eq!(first, want, "first group run must read every record once");

    kcat(
        &["-b", &bs, "-P", "-t", "gt"],
        Some(batch(50, 70).as_bytes()),
        T,
    )
    .ok();
    // The group committed its offsets on close, so a new member resumes after them.
    let second = group_consume();
    let want: BTreeSet<String> = (50..70).map(|i| format!("g-{i}")).collect();
    assert_eq!(
        second, want,
        "second group run must read only the new records"
    );
}

#[test]
fn kcat_compressed_batches_round_trip_with_every_codec() {
    let b = Broker::start(BrokerOpts::default());
    let bs = b.bootstrap();
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        let topic = format!("codec-{codec}");
        // Repetitive values so the codecs actually compress.
        let input: String = (0..200)
            .map(|i| format!("{codec}-{i}-{}\n", "x".repeat(100)))
            .collect();
        kcat(
            &[
                "-b",
                &bs,
                "-P",
                "-t",
                &topic,
                "-z",
                codec,
                "-X",
                "linger.ms=50",
            ],
            Some(input.as_bytes()),
            T,
        )
        .ok();
        // check.crcs makes librdkafka verify each batch's CRC-32C as it decodes.
        let out = kcat_read(&bs, &topic, &["-X", "check.crcs=true"], T);
        let want: Vec<&str> = input.lines().collect();
        assert_eq!(out.lines(), want, "codec {codec}");
    }
}
