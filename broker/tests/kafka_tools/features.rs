//! kafka-features describe and upgrade (`FeatureCommand`) through a staged upgrade
//! of a one-node KRaft Tidewater cluster: pinned to 4.0 by
//! `inter.broker.protocol.version`, the node supports and finalizes 4.0-IV3 and
//! refuses 4.1-IV0; restarted without the pin, it takes 4.1-IV0 and refuses a level
//! above its newest, each refusal in Kafka's own words.

use std::collections::BTreeMap;

use super::common::Output;
use super::common::cluster::Cluster;
use super::jvm::KafkaTools;

const FEATURES: &str = "org.apache.kafka.tools.FeatureCommand";
const PIN: &str = "inter.broker.protocol.version";

/// `SupportedMinVersion`, `SupportedMaxVersion` and `FinalizedVersionLevel` of a
/// feature as `kafka-features describe` prints them.
#[derive(Debug, PartialEq, Eq)]
struct Described {
    supported_min: String,
    supported_max: String,
    finalized: String,
}

/// The rows of `kafka-features describe` by feature name. Columns are padded with
/// runs of spaces, and a value may hold one space ("UNKNOWN 1"): split on two.
fn described(out: &Output) -> BTreeMap<String, Described> {
    let mut rows = BTreeMap::new();
    for line in out.stdout.lines() {
        let fields: BTreeMap<&str, &str> = line
            .split("  ")
            .filter_map(|f| f.trim().split_once(": "))
            .map(|(k, v)| (k, v.trim()))
            .collect();
        let (Some(name), Some(min), Some(max), Some(finalized)) = (
            fields.get("Feature"),
            fields.get("SupportedMinVersion"),
            fields.get("SupportedMaxVersion"),
            fields.get("FinalizedVersionLevel"),
        ) else {
            continue;
        };
        rows.insert(
            name.to_string(),
            Described {
                supported_min: min.to_string(),
                supported_max: max.to_string(),
                finalized: finalized.to_string(),
            },
        );
    }
    rows
}

fn metadata_version(supported_max: &str, finalized: &str) -> Described {
    Described {
        supported_min: "3.3-IV3".into(),
        supported_max: supported_max.into(),
        finalized: finalized.into(),
    }
}

#[test]
fn kafka_features_describe_and_upgrade_through_a_staged_upgrade() {
    let Some(kafka) = KafkaTools::find("kafka_features_describe_and_upgrade") else {
        return;
    };
    let mut cluster = Cluster::combined(1, &[(PIN, "4.0")]);
    let bs = cluster.node(1).bootstrap();
    let describe = |kafka: &KafkaTools| {
        let out = kafka.ok(FEATURES, &["--bootstrap-server", &bs, "describe"]);
        (described(&out), out)
    };

    let (rows, out) = describe(&kafka);
    assert_eq!(
        rows.get("metadata.version"),
        Some(&metadata_version("4.0-IV3", "4.0-IV3")),
        "{out}"
    );
    let kraft = rows.get("kraft.version");
    assert!(
        kraft.is_some_and(|k| (
            k.supported_min.as_str(),
            k.supported_max.as_str(),
            k.finalized.as_str()
        ) == ("0", "1", "1")),
        "{out}"
    );
    upgrade_is_refused(&kafka, &bs, "4.1-IV0", 26, "7-25");
    // kraft.version is finalized at 1 without a record: setting it again is a no-op,
    // lowering it is refused.
    let out = kafka.ok(
        FEATURES,
        &[
            "--bootstrap-server",
            &bs,
            "upgrade",
            "--feature",
            "kraft.version=1",
        ],
    );
    assert!(
        out.stdout.contains("kraft.version was upgraded to 1."),
        "{out}"
    );
    let out = kafka.run(
        FEATURES,
        &[
            "--bootstrap-server",
            &bs,
            "downgrade",
            "--feature",
            "kraft.version=0",
        ],
    );
    assert!(
        !out.status.success() && out.stdout.contains("Can't downgrade kraft.version from 1"),
        "{out}"
    );
    // `--release-version 4.0` sends every feature at 4.0's default, transaction.version
    // 2 (KIP-890's second part) included: a dry run takes them all.
    let out = kafka.run(
        FEATURES,
        &[
            "--bootstrap-server",
            &bs,
            "upgrade",
            "--release-version",
            "4.0",
            "--dry-run",
        ],
    );
    assert!(
        out.status.success()
            && out
                .stdout
                .contains("transaction.version can be upgraded to 2"),
        "{out}"
    );

    // The pin goes, as the last step of a rolling upgrade does: stop, edit, start.
    let node = cluster.node(1);
    let status = node.sigterm();
    assert!(status.success(), "node exited {status}");
    let config = std::fs::read_to_string(node.config_path()).expect("read config");
    let unpinned: String = config
        .lines()
        .filter(|l| !l.starts_with(PIN))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(config, unpinned, "the pin was not in the config");
    std::fs::write(node.config_path(), unpinned).expect("write config");
    node.restart();

    let (rows, out) = describe(&kafka);
    assert_eq!(
        rows.get("metadata.version"),
        Some(&metadata_version("4.1-IV0", "4.0-IV3")),
        "{out}"
    );
    let out = kafka.ok(
        FEATURES,
        &[
            "--bootstrap-server",
            &bs,
            "upgrade",
            "--metadata",
            "4.1-IV0",
        ],
    );
    assert!(
        out.stdout.contains("metadata.version was upgraded to 26."),
        "{out}"
    );
    let (rows, out) = describe(&kafka);
    assert_eq!(
        rows.get("metadata.version"),
        Some(&metadata_version("4.1-IV0", "4.1-IV0")),
        "{out}"
    );
    upgrade_is_refused(&kafka, &bs, "4.2-IV0", 28, "7-26");
}

/// `upgrade --metadata NAME` (level `level`) fails with Kafka's INVALID_UPDATE_VERSION
/// text naming the local controller's `range`, and nothing changes.
fn upgrade_is_refused(kafka: &KafkaTools, bs: &str, name: &str, level: u16, range: &str) {
    let out = kafka.run(
        FEATURES,
        &["--bootstrap-server", bs, "upgrade", "--metadata", name],
    );
    assert!(!out.status.success(), "{out}");
    let want = format!(
        "Could not upgrade metadata.version to {level}. Invalid update version {level} for \
         feature metadata.version. Local controller 1 only supports versions {range}\n"
    );
    assert!(out.stdout.contains(&want), "want {want:?}:\n{out}");
    assert!(
        out.stderr.contains("1 out of 1 operation(s) failed."),
        "{out}"
    );
}
