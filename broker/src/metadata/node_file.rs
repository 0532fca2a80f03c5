//! [`NodeFile`]: `tidewater-metadata.json` in the first log dir, rewritten atomically
//! (temp file + fsync + rename + dir fsync) so a crash leaves the old or the new state.
//!
//! It holds this node's producer-id counter. In a data dir written before every node ran
//! KRaft (the single-node mode of 0.2 and earlier) it also holds that mode's topics and
//! configs: [`NodeFile::legacy`] hands them to the migration into the metadata log
//! (`crate::kraft::migrate`), which then clears them. Cluster metadata is never
//! written here.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::{MetadataError, TopicMetadata};

const FILE_NAME: &str = "tidewater-metadata.json";

/// What the single-node mode without KRaft kept here; empty once migrated.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LegacyMetadata {
    pub topics: BTreeMap<String, TopicMetadata>,
    /// The cluster-wide dynamic broker defaults (resource name "").
    pub broker_configs: BTreeMap<String, String>,
    /// The node's own dynamic broker configs (resource name = its node id).
    pub node_broker_configs: BTreeMap<String, String>,
    /// Dynamic group configs by group id.
    pub group_configs: BTreeMap<String, BTreeMap<String, String>>,
}

impl LegacyMetadata {
    pub fn is_empty(&self) -> bool {
        self.topics.is_empty()
            && self.broker_configs.is_empty()
            && self.node_broker_configs.is_empty()
            && self.group_configs.is_empty()
    }
}

/// What is persisted, with the field names of every earlier release so either can
/// read it. (Not `#[serde(flatten)]`: it would read the partition map's integer keys
/// as strings and fail.)
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct State {
    #[serde(default)]
    topics: BTreeMap<String, TopicMetadata>,
    #[serde(default)]
    broker_configs: BTreeMap<String, String>,
    #[serde(default)]
    node_broker_configs: BTreeMap<String, String>,
    #[serde(default)]
    group_configs: BTreeMap<String, BTreeMap<String, String>>,
    /// The first producer id not yet handed out.
    #[serde(default)]
    next_producer_id: i64,
}

impl State {
    fn legacy(&self) -> LegacyMetadata {
        LegacyMetadata {
            topics: self.topics.clone(),
            broker_configs: self.broker_configs.clone(),
            node_broker_configs: self.node_broker_configs.clone(),
            group_configs: self.group_configs.clone(),
        }
    }
}

/// This node's own small state file.
pub struct NodeFile {
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

impl NodeFile {
    /// Opens (or starts empty) the file in `log_dir`.
    pub fn open(log_dir: &Path) -> Result<Self, MetadataError> {
        let path = log_dir.join(FILE_NAME);
        let state = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| MetadataError::Corrupt {
                path: path.clone(),
                reason: e.to_string(),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => State::default(),
            Err(source) => return Err(MetadataError::Io { path, source }),
        };
        Ok(NodeFile {
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
    fn update<T>(&self, change: impl FnOnce(&mut State) -> T) -> Result<T, MetadataError> {
        let mut guard = self.lock();
        let mut next = guard.clone();
        let out = change(&mut next);
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

    /// The old single-node mode's metadata still waiting to be migrated, if any.
    pub fn legacy(&self) -> Option<LegacyMetadata> {
        let legacy = self.lock().legacy();
        (!legacy.is_empty()).then_some(legacy)
    }

    /// Drops the migrated metadata; the producer-id counter stays.
    pub fn clear_legacy(&self) -> Result<(), MetadataError> {
        self.update(|s| {
            *s = State {
                next_producer_id: s.next_producer_id,
                ..State::default()
            }
        })
    }

    /// Reserves `size` ids of this node's counter and returns the first; durable before
    /// it returns, so no id is handed out twice across restarts.
    pub fn allocate_producer_ids(&self, size: i64) -> Result<i64, MetadataError> {
        self.update(|s| {
            let first = s.next_producer_id;
            s.next_producer_id = first.saturating_add(size.max(1));
            first
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the single-node mode of 0.2 wrote (see broker/tests/fixtures).
    const OLD_FILE: &str = r#"{
      "topics": {"a": {"name": "a", "id": "2c7c4966-3067-4ac0-9848-4ed60200b8f4",
                       "partitions": {"0": [1], "1": [1]}, "configs": {"retention.ms": "5"}}},
      "broker_configs": {}, "node_broker_configs": {"log.retention.ms": "8"},
      "group_configs": {}, "next_producer_id": 1000}"#;

    #[test]
    fn legacy_metadata_is_read_then_cleared_and_the_counter_survives() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE_NAME), OLD_FILE).unwrap();
        let file = NodeFile::open(dir.path()).unwrap();
        let legacy = file.legacy().unwrap();
        assert_eq!(legacy.topics["a"].partitions.len(), 2);
        assert_eq!(legacy.topics["a"].configs["retention.ms"], "5");
        assert_eq!(legacy.node_broker_configs["log.retention.ms"], "8");
        assert_eq!(file.allocate_producer_ids(10).unwrap(), 1000);
        assert!(
            file.legacy().is_some(),
            "allocating keeps what is not migrated"
        );
        file.clear_legacy().unwrap();
        drop(file);
        let file = NodeFile::open(dir.path()).unwrap();
        assert!(file.legacy().is_none());
        assert_eq!(file.allocate_producer_ids(10).unwrap(), 1010);
        assert!(!dir.path().join("tidewater-metadata.tmp").exists());
    }

    #[test]
    fn corrupt_file_is_an_error_not_an_empty_node() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE_NAME), b"{not json").unwrap();
        assert!(matches!(
            NodeFile::open(dir.path()),
            Err(MetadataError::Corrupt { .. })
        ));
    }
}
