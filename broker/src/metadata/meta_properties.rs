//! `meta.properties` in every log dir, as written by `kafka-storage.sh format`:
//! which cluster and node a directory belongs to. `start` refuses directories
//! without it, so a typo in `log.dirs` can never silently start an empty broker, and
//! `format` refuses a directory of another cluster or node, so data is never formatted
//! over (the operator runs `format` before every start with the id it expects).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use uuid::Uuid;

use crate::config::parse_properties;

const FILE_NAME: &str = "meta.properties";

/// The identity recorded in a formatted log dir.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaProperties {
    pub cluster_id: String,
    pub node_id: i32,
    pub directory_id: String,
}

/// Why formatting or opening log dirs was refused.
#[derive(Debug, thiserror::Error)]
pub enum MetaPropertiesError {
    #[error(
        "invalid cluster id `{0}`: use 1-64 characters from [A-Za-z0-9_-] (e.g. from `kafka-storage.sh random-uuid`)"
    )]
    InvalidClusterId(String),
    #[error(
        "log directory {dir} is not formatted; run `tidewater-broker format --config <FILE> --cluster-id <ID>` first"
    )]
    NotFormatted { dir: PathBuf },
    #[error(
        "log directory {dir} is already formatted for cluster {existing}, not {requested}: \
         it holds another cluster's data and is never formatted over; to run on it, use \
         cluster id {existing} (on Kubernetes: the KafkaCluster's status.clusterId), or \
         empty the directory (on Kubernetes: delete the claim) to discard that data"
    )]
    ClusterMismatch {
        dir: PathBuf,
        existing: String,
        requested: String,
    },
    #[error(
        "log directory {dir} belongs to node {existing}, but node.id is {configured}: \
         it is never formatted over; give it to node {existing}, or empty it to discard \
         that data"
    )]
    NodeMismatch {
        dir: PathBuf,
        existing: i32,
        configured: i32,
    },
    #[error(
        "log directory {dir} belongs to cluster {existing}, but {first} holds cluster {expected}"
    )]
    MixedClusters {
        dir: PathBuf,
        existing: String,
        first: PathBuf,
        expected: String,
    },
    #[error("{path} is invalid: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error("cannot write {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> MetaPropertiesError + '_ {
    move |source| MetaPropertiesError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn valid_cluster_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Reads `dir/meta.properties`, `Ok(None)` when absent.
fn read(dir: &Path) -> Result<Option<MetaProperties>, MetaPropertiesError> {
    let path = dir.join(FILE_NAME);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(&path)(e)),
    };
    let props = parse_properties(&text);
    let invalid = |reason: &str| MetaPropertiesError::Invalid {
        path: path.clone(),
        reason: reason.into(),
    };
    let cluster_id = props
        .get("cluster.id")
        .ok_or_else(|| invalid("no cluster.id"))?
        .clone();
    let node_id = props
        .get("node.id")
        .ok_or_else(|| invalid("no node.id"))?
        .parse()
        .map_err(|_| invalid("node.id is not a number"))?;
    let directory_id = props.get("directory.id").cloned().unwrap_or_default();
    Ok(Some(MetaProperties {
        cluster_id,
        node_id,
        directory_id,
    }))
}

/// `format`: writes `meta.properties` into every dir (creating it). Idempotent for
/// the same cluster id; refuses a dir formatted for another cluster or node.
pub fn format_log_dirs(
    dirs: &[PathBuf],
    cluster_id: &str,
    node_id: i32,
) -> Result<(), MetaPropertiesError> {
    if !valid_cluster_id(cluster_id) {
        return Err(MetaPropertiesError::InvalidClusterId(cluster_id.into()));
    }
    // Check everything before writing anything, so a refusal changes nothing.
    let mut existing = BTreeMap::new();
    for dir in dirs {
        if let Some(meta) = read(dir)? {
            if meta.cluster_id != cluster_id {
                return Err(MetaPropertiesError::ClusterMismatch {
                    dir: dir.clone(),
                    existing: meta.cluster_id,
                    requested: cluster_id.into(),
                });
            }
            if meta.node_id != node_id {
                return Err(MetaPropertiesError::NodeMismatch {
                    dir: dir.clone(),
                    existing: meta.node_id,
                    configured: node_id,
                });
            }
            existing.insert(dir.clone(), meta);
        }
    }
    for dir in dirs.iter().filter(|d| !existing.contains_key(*d)) {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        write(dir, cluster_id, node_id, &kafka_uuid(Uuid::new_v4()))?;
    }
    Ok(())
}

/// A UUID as Kafka prints and parses it (`Uuid.toString`): URL-safe base64 of its 16
/// bytes without padding, 22 characters. Kafka's tools refuse any other form.
fn kafka_uuid(id: Uuid) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(id.as_bytes())
}

fn write(
    dir: &Path,
    cluster_id: &str,
    node_id: i32,
    directory_id: &str,
) -> Result<(), MetaPropertiesError> {
    let text = format!(
        "#\n#Written by tidewater-broker format\ncluster.id={cluster_id}\ndirectory.id={directory_id}\nnode.id={node_id}\nversion=1\n"
    );
    let path = dir.join(FILE_NAME);
    crate::metadata::node_file::write_atomically(&path, text.as_bytes()).map_err(io(&path))
}

/// Earlier Tidewater versions wrote `directory.id` as 32 hex digits, which Kafka's
/// `StorageTool` cannot read; the same UUID is rewritten in Kafka's form.
fn rewrite_hex_directory_id(dir: &Path, meta: &MetaProperties) -> Result<(), MetaPropertiesError> {
    if meta.directory_id.len() != 32 {
        return Ok(());
    }
    let Ok(id) = Uuid::try_parse(&meta.directory_id) else {
        return Ok(());
    };
    let kafka = kafka_uuid(id);
    tracing::info!(dir = %dir.display(), from = %meta.directory_id, to = %kafka, "directory.id rewritten in Kafka's form");
    write(dir, &meta.cluster_id, meta.node_id, &kafka)
}

/// `start`: every dir must be formatted for the same cluster and this node. A
/// `directory.id` an earlier version wrote in hex is rewritten in Kafka's form.
pub fn read_cluster_id(dirs: &[PathBuf], node_id: i32) -> Result<String, MetaPropertiesError> {
    let mut cluster: Option<(PathBuf, String)> = None;
    for dir in dirs {
        let meta =
            read(dir)?.ok_or_else(|| MetaPropertiesError::NotFormatted { dir: dir.clone() })?;
        rewrite_hex_directory_id(dir, &meta)?;
        if meta.node_id != node_id {
            return Err(MetaPropertiesError::NodeMismatch {
                dir: dir.clone(),
                existing: meta.node_id,
                configured: node_id,
            });
        }
        match &cluster {
            Some((first, c)) if *c != meta.cluster_id => {
                return Err(MetaPropertiesError::MixedClusters {
                    dir: dir.clone(),
                    existing: meta.cluster_id,
                    first: first.clone(),
                    expected: c.clone(),
                });
            }
            Some(_) => {}
            None => cluster = Some((dir.clone(), meta.cluster_id)),
        }
    }
    cluster
        .map(|(_, id)| id)
        .ok_or_else(|| MetaPropertiesError::NotFormatted {
            dir: PathBuf::from("<no log.dirs>"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_is_idempotent_and_refuses_other_clusters() {
        let tmp = tempfile::tempdir().unwrap();
        let dirs = vec![tmp.path().join("a"), tmp.path().join("b")];
        assert!(matches!(
            read_cluster_id(&dirs, 1),
            Err(MetaPropertiesError::NotFormatted { .. })
        ));
        format_log_dirs(&dirs, "abc-DEF_1", 1).unwrap();
        format_log_dirs(&dirs, "abc-DEF_1", 1).unwrap();
        assert_eq!(read_cluster_id(&dirs, 1).unwrap(), "abc-DEF_1");
        let err = format_log_dirs(&dirs, "other", 1).unwrap_err();
        assert!(
            matches!(err, MetaPropertiesError::ClusterMismatch { .. }),
            "{err}"
        );
        assert!(matches!(
            format_log_dirs(&dirs, "abc-DEF_1", 2),
            Err(MetaPropertiesError::NodeMismatch { .. })
        ));
        assert!(matches!(
            read_cluster_id(&dirs, 2),
            Err(MetaPropertiesError::NodeMismatch { .. })
        ));
        assert!(matches!(
            format_log_dirs(&dirs, "bad id!", 1),
            Err(MetaPropertiesError::InvalidClusterId(_))
        ));
    }

    #[test]
    fn directory_ids_are_in_kafkas_uuid_form() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a");
        format_log_dirs(std::slice::from_ref(&dir), "c1", 1).unwrap();
        let id = read(&dir).unwrap().unwrap().directory_id;
        assert_eq!(id.len(), 22, "{id}");
        assert!(
            id.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
            "{id}"
        );
        // A dir an earlier version formatted (hex) is rewritten at start, same UUID.
        let uuid = Uuid::new_v4();
        write(&dir, "c1", 1, &uuid.simple().to_string()).unwrap();
        assert_eq!(
            read_cluster_id(std::slice::from_ref(&dir), 1).unwrap(),
            "c1"
        );
        let meta = read(&dir).unwrap().unwrap();
        assert_eq!(meta.directory_id, kafka_uuid(uuid));
        assert_eq!((meta.cluster_id.as_str(), meta.node_id), ("c1", 1));
    }

    #[test]
    fn a_refused_format_changes_nothing_and_says_what_to_do() {
        let tmp = tempfile::tempdir().unwrap();
        let dirs = vec![tmp.path().join("a"), tmp.path().join("b")];
        format_log_dirs(&dirs[..1], "old-cluster", 1).unwrap();
        let before = std::fs::read(dirs[0].join(FILE_NAME)).unwrap();
        let err = format_log_dirs(&dirs, "new-cluster", 1)
            .unwrap_err()
            .to_string();
        assert!(err.contains("never formatted over"), "{err}");
        assert!(err.contains("use cluster id old-cluster"), "{err}");
        assert_eq!(std::fs::read(dirs[0].join(FILE_NAME)).unwrap(), before);
        // Checked before anything is written: the second dir stays unformatted.
        assert!(!dirs[1].join(FILE_NAME).exists());
        format_log_dirs(&dirs[1..], "new-cluster", 1).unwrap();
        let err = read_cluster_id(&dirs, 1).unwrap_err();
        assert!(
            matches!(err, MetaPropertiesError::MixedClusters { .. }),
            "{err}"
        );
    }

    #[test]
    fn not_formatted_message_names_the_command() {
        let tmp = tempfile::tempdir().unwrap();
        let err = read_cluster_id(&[tmp.path().to_path_buf()], 1)
            .unwrap_err()
            .to_string();
        assert!(err.contains("tidewater-broker format"), "{err}");
    }
}
