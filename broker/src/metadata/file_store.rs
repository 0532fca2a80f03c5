//! [`FileMetadataStore`]: the single-node [`MetadataStore`], one JSON document in
//! the first log dir, rewritten atomically (temp file + fsync + rename + dir
//! fsync) on every change so a crash leaves either the old or the new state.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{DynamicResource, MetadataError, MetadataStore, TopicMetadata};

const FILE_NAME: &str = "tidewater-metadata.json";

/// What is persisted.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct State {
    topics: BTreeMap<String, TopicMetadata>,
    /// The cluster-wide dynamic broker defaults (resource name "").
    broker_configs: BTreeMap<String, String>,
    /// This node's own dynamic broker configs (resource name = node id); a single
    /// node is the whole cluster, so no other broker's are kept.
    #[serde(default)]
    node_broker_configs: BTreeMap<String, String>,
    /// Dynamic group configs by group id.
    #[serde(default)]
    group_configs: BTreeMap<String, BTreeMap<String, String>>,
    /// The first producer id not yet handed out.
    next_producer_id: i64,
}

/// File-backed metadata for one node.
pub struct FileMetadataStore {
    cluster_id: String,
    path: PathBuf,
    state: Mutex<State>,
}

/// Writes `bytes` to `path` so readers see the old or the new content, never a mix.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        // Persist the rename itself.
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

impl FileMetadataStore {
    /// Opens (or starts empty) the store in `log_dir`.
    pub fn open(log_dir: &Path, cluster_id: String) -> Result<Self, MetadataError> {
        let path = log_dir.join(FILE_NAME);
        let state = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| MetadataError::Corrupt {
                path: path.clone(),
                reason: e.to_string(),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => State::default(),
            Err(source) => return Err(MetadataError::Io { path, source }),
        };
        Ok(FileMetadataStore {
            cluster_id,
            path,
            state: Mutex::new(state),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave State half-updated: every
        // mutation works on a copy and swaps it in only after persisting.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Applies `change` to a copy, persists it, then publishes it.
    fn update<T>(
        &self,
        change: impl FnOnce(&mut State) -> Result<T, MetadataError>,
    ) -> Result<T, MetadataError> {
        let mut guard = self.lock();
        let mut next = guard.clone();
        let out = change(&mut next)?;
        let bytes = serde_json::to_vec_pretty(&next).map_err(|e| MetadataError::Corrupt {
            path: self.path.clone(),
            reason: e.to_string(),
        })?;
        write_atomically(&self.path, &bytes).map_err(|source| MetadataError::Io {
            path: self.path.clone(),
            source,
        })?;
        *guard = next;
        Ok(out)
    }
}

impl MetadataStore for FileMetadataStore {
    fn cluster_id(&self) -> String {
        self.cluster_id.clone()
    }

    fn topics(&self) -> Vec<TopicMetadata> {
        self.lock().topics.values().cloned().collect()
    }

    fn topic(&self, name: &str) -> Option<TopicMetadata> {
        self.lock().topics.get(name).cloned()
    }

    fn topic_by_id(&self, id: Uuid) -> Option<TopicMetadata> {
        self.lock().topics.values().find(|t| t.id == id).cloned()
    }

    fn has_partition(&self, topic: &str, partition: i32) -> bool {
        self.lock()
            .topics
            .get(topic)
            .is_some_and(|t| t.partitions.contains_key(&partition))
    }

    fn create_topic(&self, topic: TopicMetadata) -> Result<(), MetadataError> {
        self.update(|s| {
            if s.topics.contains_key(&topic.name) {
                return Err(MetadataError::TopicExists(topic.name.clone()));
            }
            s.topics.insert(topic.name.clone(), topic);
            Ok(())
        })
    }

    fn delete_topic(&self, name: &str) -> Result<TopicMetadata, MetadataError> {
        self.update(|s| {
            s.topics
                .remove(name)
                .ok_or_else(|| MetadataError::UnknownTopic(name.into()))
        })
    }

    fn add_partitions(
        &self,
        name: &str,
        assignments: Vec<Vec<i32>>,
    ) -> Result<TopicMetadata, MetadataError> {
        self.update(|s| {
            let t = s
                .topics
                .get_mut(name)
                .ok_or_else(|| MetadataError::UnknownTopic(name.into()))?;
            let mut next = i32::try_from(t.partitions.len()).unwrap_or(i32::MAX);
            for replicas in assignments {
                t.partitions.insert(next, replicas);
                next = next.saturating_add(1);
            }
            Ok(t.clone())
        })
    }

    fn set_topic_configs(
        &self,
        name: &str,
        configs: BTreeMap<String, String>,
    ) -> Result<(), MetadataError> {
        self.update(|s| {
            let t = s
                .topics
                .get_mut(name)
                .ok_or_else(|| MetadataError::UnknownTopic(name.into()))?;
            t.configs = configs;
            Ok(())
        })
    }

    fn broker_configs(&self) -> BTreeMap<String, String> {
        let s = self.lock();
        let mut out = s.broker_configs.clone();
        out.extend(
            s.node_broker_configs
                .iter()
                .map(|(k, v)| (k.clone(), v.clone())),
        );
        out
    }

    fn dynamic_configs(&self, resource: &DynamicResource) -> BTreeMap<String, String> {
        let s = self.lock();
        match resource {
            DynamicResource::BrokerDefault => s.broker_configs.clone(),
            DynamicResource::Broker(_) => s.node_broker_configs.clone(),
            DynamicResource::Group(g) => s.group_configs.get(g).cloned().unwrap_or_default(),
        }
    }

    fn set_dynamic_configs(
        &self,
        resource: &DynamicResource,
        configs: BTreeMap<String, String>,
    ) -> Result<(), MetadataError> {
        self.update(|s| {
            match resource {
                DynamicResource::BrokerDefault => s.broker_configs = configs,
                DynamicResource::Broker(_) => s.node_broker_configs = configs,
                DynamicResource::Group(g) if configs.is_empty() => {
                    s.group_configs.remove(g);
                }
                DynamicResource::Group(g) => {
                    s.group_configs.insert(g.clone(), configs);
                }
            }
            Ok(())
        })
    }

    fn allocate_producer_ids(&self, size: i64) -> Result<i64, MetadataError> {
        self.update(|s| {
            let first = s.next_producer_id;
            s.next_producer_id = first.saturating_add(size.max(1));
            Ok(first)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic(name: &str, partitions: i32) -> TopicMetadata {
        TopicMetadata {
            name: name.into(),
            id: Uuid::new_v4(),
            partitions: (0..partitions).map(|p| (p, vec![1])).collect(),
            configs: BTreeMap::new(),
        }
    }

    #[test]
    fn survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileMetadataStore::open(dir.path(), "c".into()).unwrap();
        let t = topic("a", 2);
        store.create_topic(t.clone()).unwrap();
        assert!(matches!(
            store.create_topic(t.clone()),
            Err(MetadataError::TopicExists(_))
        ));
        store.add_partitions("a", vec![vec![1]]).unwrap();
        store
            .set_topic_configs("a", [("retention.ms".to_string(), "5".to_string())].into())
            .unwrap();
        store
            .set_dynamic_configs(
                &DynamicResource::BrokerDefault,
                [("log.retention.ms".to_string(), "9".to_string())].into(),
            )
            .unwrap();
        store
            .set_dynamic_configs(
                &DynamicResource::Broker(1),
                [("log.retention.ms".to_string(), "8".to_string())].into(),
            )
            .unwrap();
        let group = DynamicResource::Group("g".into());
        store
            .set_dynamic_configs(
                &group,
                [(
                    "consumer.session.timeout.ms".to_string(),
                    "50000".to_string(),
                )]
                .into(),
            )
            .unwrap();
        let first = store.allocate_producer_ids(1000).unwrap();
        drop(store);

        let store = FileMetadataStore::open(dir.path(), "c".into()).unwrap();
        let a = store.topic("a").unwrap();
        assert_eq!(a.partitions.len(), 3);
        assert_eq!(a.configs["retention.ms"], "5");
        assert_eq!(store.topic_by_id(t.id).unwrap().name, "a");
        // This broker's own value wins over the cluster-wide default.
        assert_eq!(store.broker_configs()["log.retention.ms"], "8");
        assert_eq!(
            store.dynamic_configs(&DynamicResource::BrokerDefault)["log.retention.ms"],
            "9"
        );
        assert_eq!(store.dynamic_configs(&group).len(), 1);
        assert_eq!(store.allocate_producer_ids(1000).unwrap(), first + 1000);
        store.delete_topic("a").unwrap();
        assert!(matches!(
            store.delete_topic("a"),
            Err(MetadataError::UnknownTopic(_))
        ));
        assert!(!dir.path().join("tidewater-metadata.tmp").exists());
    }

    #[test]
    fn corrupt_file_is_an_error_not_an_empty_cluster() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE_NAME), b"{not json").unwrap();
        assert!(matches!(
            FileMetadataStore::open(dir.path(), "c".into()),
            Err(MetadataError::Corrupt { .. })
        ));
    }
}
