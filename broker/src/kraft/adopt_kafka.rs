//! Adopting a log dir a single-node Apache Kafka wrote: its partition directories
//! (each with Kafka's `partition.metadata`, which names the topic id) become topics in
//! the metadata log, with the same ids and one replica on this node, so their records
//! are served with the offsets and timestamps Kafka gave them. `__consumer_offsets`
//! is adopted the same way, so groups resume from what they committed on Kafka.
//! Kafka's own metadata log (`__cluster_metadata-0`) is not a topic and is left as it
//! is. Runs on every start: a topic already in the image under the same id counts as
//! adopted, so a crash half-way resumes.
//!
//! Refuses (a startup error naming the directory) what a single node cannot serve as
//! Kafka did: a topic whose partition directories have gaps (a multi-node Kafka's log
//! dir holds only some partitions of a topic) or disagree on the topic id, and a topic
//! the metadata log knows under another id. Topic configs come from Kafka's metadata
//! log ([`super::adopt_kafka_configs`]); a key Tidewater does not know is left out
//! with a warning naming it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use tidewater_quorum::controller::CreateTopic;
use tidewater_quorum::rpc::{ControllerCall, ControllerFailure};
use tidewater_storage::TopicPartition;
use tracing::{info, warn};

use super::Cluster;

const PARTITION_METADATA: &str = "partition.metadata";

/// Why a log dir Kafka wrote cannot be adopted.
#[derive(Debug, thiserror::Error)]
pub enum AdoptError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {reason} (not a partition.metadata Kafka wrote)")]
    PartitionMetadata { path: PathBuf, reason: String },
    #[error(
        "{dir}: topic {topic} has partition directories {found:?} in the log dirs, not 0..{count}: a log dir of a multi-node Kafka cannot be adopted by one node"
    )]
    PartitionGap {
        dir: PathBuf,
        topic: String,
        found: Vec<i32>,
        count: usize,
    },
    #[error("{dir}: topic {topic} has id {this:032x} here and {other:032x} in another partition")]
    TopicIdConflict {
        dir: PathBuf,
        topic: String,
        this: u128,
        other: u128,
    },
    #[error(
        "topic {name} is in the metadata log with id {in_log:032x}, but {dir} knows it as {on_disk:032x}"
    )]
    TopicIdMismatch {
        name: String,
        dir: PathBuf,
        in_log: u128,
        on_disk: u128,
    },
    #[error("cannot adopt topic {topic} from Kafka's log dir: {failure}")]
    Refused {
        topic: String,
        failure: ControllerFailure,
    },
}

/// A topic found in Kafka's partition directories.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaTopic {
    pub name: String,
    pub topic_id: u128,
    pub partitions: usize,
    /// One of its partition directories, named in errors.
    pub dir: PathBuf,
    /// Its configs as Kafka's metadata log last had them.
    pub configs: BTreeMap<String, String>,
}

/// The topic id in a `partition.metadata` file (`version: 0`, `topic_id: <base64>`).
fn read_topic_id(path: &Path) -> Result<u128, AdoptError> {
    use base64::Engine;
    let text = std::fs::read_to_string(path).map_err(|source| AdoptError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let bad = |reason: &str| AdoptError::PartitionMetadata {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    };
    let mut version = None;
    let mut id = None;
    for line in text.lines() {
        if let Some((k, v)) = line.split_once(':') {
            match k.trim() {
                "version" => version = Some(v.trim().to_string()),
                "topic_id" => id = Some(v.trim().to_string()),
                _ => {}
            }
        }
    }
    if version.as_deref() != Some("0") {
        return Err(bad("no `version: 0`"));
    }
    let id = id.ok_or_else(|| bad("no topic_id"))?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(&id)
        .map_err(|_| bad("topic_id is not base64"))?;
    let bytes: [u8; 16] = bytes
        .try_into()
        .map_err(|_| bad("topic_id is not 16 bytes"))?;
    Ok(u128::from_be_bytes(bytes))
}

/// The topics of the partition directories with a `partition.metadata` in `log_dirs`
/// (Tidewater's own partition directories have none), Kafka's metadata log left out.
pub fn scan(log_dirs: &[PathBuf]) -> Result<Vec<KafkaTopic>, AdoptError> {
    let mut found: BTreeMap<String, (u128, BTreeSet<i32>, PathBuf)> = BTreeMap::new();
    for log_dir in log_dirs {
        let entries = std::fs::read_dir(log_dir).map_err(|source| AdoptError::Io {
            path: log_dir.clone(),
            source,
        })?;
        for entry in entries.flatten() {
            let dir = entry.path();
            let name = entry.file_name();
            let Some(tp) = TopicPartition::from_dir_name(&name.to_string_lossy()) else {
                continue;
            };
            let metadata = dir.join(PARTITION_METADATA);
            // (Kafka's metadata log, `__cluster_metadata-0`, parses as no partition.)
            if !metadata.is_file() {
                continue;
            }
            let id = read_topic_id(&metadata)?;
            let (known, partitions, _) = found
                .entry(tp.topic.clone())
                .or_insert_with(|| (id, BTreeSet::new(), dir.clone()));
            if *known != id {
                return Err(AdoptError::TopicIdConflict {
                    dir,
                    topic: tp.topic,
                    this: id,
                    other: *known,
                });
            }
            partitions.insert(tp.partition);
        }
    }
    let mut configs = if found.is_empty() {
        Default::default()
    } else {
        super::adopt_kafka_configs::read(log_dirs)?
    };
    let mut topics = Vec::new();
    for (name, (topic_id, partitions, dir)) in found {
        let count = partitions.len();
        if partitions.iter().copied().ne(0..count as i32) {
            return Err(AdoptError::PartitionGap {
                dir,
                topic: name,
                found: partitions.into_iter().collect(),
                count,
            });
        }
        topics.push(KafkaTopic {
            configs: configs.remove(&name).unwrap_or_default(),
            name,
            topic_id,
            partitions: count,
            dir,
        });
    }
    Ok(topics)
}

/// Registers `topics` in the metadata log, every partition on this node alone. The
/// node must be unfenced, so the adopted partitions get a live leader.
pub async fn adopt(cluster: &Cluster, topics: &[KafkaTopic]) -> Result<(), AdoptError> {
    for topic in topics {
        if let Some(existing) = cluster.image().topic(&topic.name) {
            if existing.topic_id != topic.topic_id {
                return Err(AdoptError::TopicIdMismatch {
                    name: topic.name.clone(),
                    dir: topic.dir.clone(),
                    in_log: existing.topic_id,
                    on_disk: topic.topic_id,
                });
            }
            continue;
        }
        let assignments = (0..topic.partitions as i32)
            .map(|p| (p, vec![cluster.node_id]))
            .collect();
        let mut configs = BTreeMap::new();
        for (key, value) in &topic.configs {
            if tidewater_quorum::controller::is_topic_config(key) {
                configs.insert(key.clone(), value.clone());
            } else {
                warn!(topic = %topic.name, key, value, "leaving out a topic config Kafka had that Tidewater does not know");
            }
        }
        if topic.name == "__consumer_offsets" {
            configs.insert("cleanup.policy".to_string(), "compact".to_string());
        }
        let call = ControllerCall::CreateTopic {
            topic: CreateTopic {
                name: topic.name.clone(),
                topic_id: topic.topic_id,
                num_partitions: -1,
                replication_factor: -1,
                assignments,
                configs,
            },
            validate_only: false,
        };
        cluster
            .call(call)
            .await
            .map_err(|failure| AdoptError::Refused {
                topic: topic.name.clone(),
                failure,
            })?;
        info!(topic = %topic.name, partitions = topic.partitions, configs = ?topic.configs, "adopted topic from Kafka's log dir");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partition(root: &Path, dir: &str, id: &str) {
        let d = root.join(dir);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(
            d.join(PARTITION_METADATA),
            format!("version: 0\ntopic_id: {id}"),
        )
        .unwrap();
    }

    #[test]
    fn finds_kafkas_topics_but_not_its_metadata_log_or_tidewaters_partitions() {
        let root = tempfile::tempdir().unwrap();
        partition(root.path(), "orders-0", "w5tCC3swQQeeaE45HdFwdg");
        partition(root.path(), "orders-1", "w5tCC3swQQeeaE45HdFwdg");
        partition(
            root.path(),
            "__cluster_metadata-0",
            "AAAAAAAAAAAAAAAAAAAAAQ",
        );
        std::fs::create_dir_all(root.path().join("native-0")).unwrap();
        let topics = scan(&[root.path().to_path_buf()]).unwrap();
        assert_eq!(topics.len(), 1);
        assert_eq!(topics[0].name, "orders");
        assert_eq!(topics[0].partitions, 2);
        assert_eq!(topics[0].topic_id, 0xc39b420b_7b30_4107_9e68_4e391dd17076);
    }

    #[test]
    fn refuses_what_one_node_cannot_serve() {
        let root = tempfile::tempdir().unwrap();
        partition(root.path(), "orders-0", "w5tCC3swQQeeaE45HdFwdg");
        partition(root.path(), "orders-2", "w5tCC3swQQeeaE45HdFwdg");
        let err = scan(&[root.path().to_path_buf()]).unwrap_err();
        assert!(
            matches!(err, AdoptError::PartitionGap { ref found, .. } if found == &[0, 2]),
            "{err}"
        );
        assert!(err.to_string().contains("multi-node"), "{err}");

        partition(root.path(), "orders-1", "AAAAAAAAAAAAAAAAAAAAAQ");
        let err = scan(&[root.path().to_path_buf()]).unwrap_err();
        assert!(matches!(err, AdoptError::TopicIdConflict { .. }), "{err}");

        let root = tempfile::tempdir().unwrap();
        partition(root.path(), "orders-0", "not base64!");
        let err = scan(&[root.path().to_path_buf()]).unwrap_err();
        assert!(err.to_string().contains("partition.metadata"), "{err}");
    }
}
