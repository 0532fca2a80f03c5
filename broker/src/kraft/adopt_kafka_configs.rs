//! The topic configs of a log dir a single-node Apache Kafka wrote. Kafka keeps them
//! only in its metadata log (`__cluster_metadata-0`): its latest snapshot
//! (`<end offset>-<epoch>.checkpoint`) and the segments after it hold `ConfigRecord`s
//! (set, or delete with a null value), and a `RemoveTopicRecord` drops a deleted
//! topic's configs with it. Replayed in order, they give each topic's configs as
//! Kafka last had them.
//!
//! Kafka's metadata records are framed as frame version 1, api key and record version
//! (unsigned varints), then the record; only `TopicRecord` (2), `ConfigRecord` (4) and
//! `RemoveTopicRecord` (9) matter here, every other record is skipped.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use kafka_protocol::records::RecordBatchDecoder;
use tidewater_group::records::RecordError;
use tidewater_group::records::wire::Reader;

use super::adopt_kafka::AdoptError;

const METADATA_DIR: &str = "__cluster_metadata-0";
const TOPIC_RECORD: u32 = 2;
const CONFIG_RECORD: u32 = 4;
const REMOVE_TOPIC_RECORD: u32 = 9;
/// `ConfigResource.Type.TOPIC`.
const TOPIC_RESOURCE: i8 = 2;

/// Topic name -> config key -> value, as Kafka's metadata log last had them.
pub type TopicConfigs = BTreeMap<String, BTreeMap<String, String>>;

/// What replaying the metadata records keeps.
#[derive(Default)]
struct Replay {
    configs: TopicConfigs,
    /// Topic id -> name, to drop a removed topic's configs.
    names: BTreeMap<u128, String>,
}

impl Replay {
    fn apply(&mut self, value: Bytes) -> Result<(), RecordError> {
        let mut r = Reader::new(value);
        let _frame_version = r.uvarint("frame version")?;
        let api_key = r.uvarint("api key")?;
        let _version = r.uvarint("record version")?;
        match api_key {
            TOPIC_RECORD => {
                let name = r.string(true, "topic name")?;
                self.names.insert(uuid(&mut r)?, name);
            }
            REMOVE_TOPIC_RECORD => {
                if let Some(name) = self.names.remove(&uuid(&mut r)?) {
                    self.configs.remove(&name);
                }
            }
            CONFIG_RECORD => {
                if r.i8("resource type")? != TOPIC_RESOURCE {
                    return Ok(());
                }
                let topic = r.string(true, "resource name")?;
                let key = r.string(true, "config name")?;
                match r.nullable_string(true, "config value")? {
                    Some(value) => {
                        self.configs.entry(topic).or_default().insert(key, value);
                    }
                    None => {
                        if let Some(c) = self.configs.get_mut(&topic) {
                            c.remove(&key);
                        }
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Every data record of one file (a snapshot or a segment) at `from` or later.
    fn file(&mut self, path: &Path, from: i64) -> Result<(), AdoptError> {
        let bad = |reason: String| AdoptError::PartitionMetadata {
            path: path.to_path_buf(),
            reason,
        };
        let bytes = std::fs::read(path).map_err(|source| AdoptError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mut bytes = Bytes::from(bytes);
        let sets = RecordBatchDecoder::decode_all(&mut bytes).map_err(|e| bad(e.to_string()))?;
        for record in sets.into_iter().flat_map(|s| s.records) {
            if record.control || record.offset < from {
                continue;
            }
            if let Some(value) = record.value {
                self.apply(value).map_err(|e| bad(e.to_string()))?;
            }
        }
        Ok(())
    }
}

fn uuid(r: &mut Reader) -> Result<u128, RecordError> {
    let high = r.i64("topic id")? as u64;
    let low = r.i64("topic id")? as u64;
    Ok((u128::from(high) << 64) | u128::from(low))
}

/// Files in `dir` ending in `.ext` whose name starts with an offset, by that offset.
fn by_offset(dir: &Path, ext: &str) -> Result<Vec<(i64, PathBuf)>, AdoptError> {
    let entries = std::fs::read_dir(dir).map_err(|source| AdoptError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(stem) = name.strip_suffix(ext) else {
            continue;
        };
        let offset = stem.split('-').next().and_then(|o| o.parse::<i64>().ok());
        if let Some(offset) = offset {
            out.push((offset, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// The topic configs in the metadata log of `log_dirs` (empty when there is none).
pub fn read(log_dirs: &[PathBuf]) -> Result<TopicConfigs, AdoptError> {
    let Some(dir) = log_dirs
        .iter()
        .map(|d| d.join(METADATA_DIR))
        .find(|d| d.is_dir())
    else {
        return Ok(TopicConfigs::new());
    };
    let mut replay = Replay::default();
    // The newest snapshot holds everything before its end offset.
    let snapshot = by_offset(&dir, ".checkpoint")?.pop();
    let from = match &snapshot {
        Some((end, path)) => {
            replay.file(path, 0)?;
            *end
        }
        None => 0,
    };
    for (_, segment) in by_offset(&dir, ".log")? {
        replay.file(&segment, from)?;
    }
    Ok(replay.configs)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The metadata log of an Apache Kafka 4.4.0 node that created `produce_segments.py`'s
    /// topics (`compacted` with cleanup.policy=compact among them).
    #[test]
    fn reads_the_topic_configs_kafka_wrote() {
        let fixtures =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/kafka-4.4-segments");
        let configs = read(&[fixtures]).unwrap();
        let compacted = &configs["compacted"];
        assert_eq!(compacted["cleanup.policy"], "compact");
        assert_eq!(compacted["min.cleanable.dirty.ratio"], "0.01");
        assert!(!configs.contains_key("__cluster_metadata"));
    }

    #[test]
    fn a_removed_topic_loses_its_configs_and_a_null_value_deletes_one() {
        let mut replay = Replay::default();
        let id = 7u128;
        let mut topic = vec![1, TOPIC_RECORD as u8, 0, 2, b't'];
        topic.extend_from_slice(&id.to_be_bytes());
        topic.push(0);
        replay.apply(Bytes::from(topic)).unwrap();
        let config = |key: &[u8], value: Option<&[u8]>| {
            let mut v = vec![1, CONFIG_RECORD as u8, 0, TOPIC_RESOURCE as u8, 2, b't'];
            v.push(key.len() as u8 + 1);
            v.extend_from_slice(key);
            match value {
                Some(val) => {
                    v.push(val.len() as u8 + 1);
                    v.extend_from_slice(val);
                }
                None => v.push(0),
            }
            v.push(0);
            Bytes::from(v)
        };
        replay.apply(config(b"retention.ms", Some(b"5"))).unwrap();
        replay.apply(config(b"segment.ms", Some(b"9"))).unwrap();
        replay.apply(config(b"segment.ms", None)).unwrap();
        assert_eq!(replay.configs["t"].len(), 1);
        let mut remove = vec![1, REMOVE_TOPIC_RECORD as u8, 0];
        remove.extend_from_slice(&id.to_be_bytes());
        remove.push(0);
        replay.apply(Bytes::from(remove)).unwrap();
        assert!(replay.configs.is_empty());
        // A truncated record is an error, not a panic.
        assert!(replay.apply(Bytes::from_static(&[1, 4, 0, 2])).is_err());
    }
}
