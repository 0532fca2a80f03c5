//! Kafka's text checkpoint files: `recovery-point-offset-checkpoint`,
//! `log-start-offset-checkpoint`, `replication-offset-checkpoint` and
//! `cleaner-offset-checkpoint` per log dir (`0\n<count>\n<topic> <partition> <offset>\n`)
//! and `leader-epoch-checkpoint` per partition (`0\n<count>\n<epoch> <offset>\n`).
//! Written to a temp file, fsynced and renamed, so a crash leaves the old or the new one.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use crate::error::StorageError;
use crate::topic_partition::TopicPartition;

pub const RECOVERY_POINT_FILE: &str = "recovery-point-offset-checkpoint";
pub const LOG_START_FILE: &str = "log-start-offset-checkpoint";
pub const HIGH_WATERMARK_FILE: &str = "replication-offset-checkpoint";
pub const CLEANER_FILE: &str = "cleaner-offset-checkpoint";
pub const LEADER_EPOCH_FILE: &str = "leader-epoch-checkpoint";
pub const CLEAN_SHUTDOWN_FILE: &str = ".kafka_cleanshutdown";

/// Writes `contents` to `path` atomically (temp file, fsync, rename, fsync dir).
pub fn write_atomically(path: &Path, contents: &[u8]) -> Result<(), StorageError> {
    write_replacing(path, contents, true)
}

/// Replaces `path` with `contents` through a temp file and a rename; with `sync`, the
/// temp file is fsynced before the rename and the directory after it.
fn write_replacing(path: &Path, contents: &[u8], sync: bool) -> Result<(), StorageError> {
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp).map_err(|e| StorageError::io(&tmp, e))?;
    f.write_all(contents)
        .map_err(|e| StorageError::io(&tmp, e))?;
    if sync {
        f.sync_all().map_err(|e| StorageError::io(&tmp, e))?;
    }
    std::fs::rename(&tmp, path).map_err(|e| StorageError::io(path, e))?;
    if sync
        && let Some(dir) = path.parent()
        && let Ok(d) = std::fs::File::open(dir)
    {
        // Best effort: the rename is durable once the directory is synced.
        let _ = d.sync_all();
    }
    Ok(())
}

fn parse_lines<'a>(path: &Path, text: &'a str) -> Result<Vec<Vec<&'a str>>, StorageError> {
    let corrupt = |reason: &str| StorageError::Corrupt {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    };
    let mut lines = text.lines();
    match lines.next() {
        Some("0") => {}
        _ => return Err(corrupt("missing or unknown version line")),
    }
    let count: usize = lines
        .next()
        .and_then(|l| l.trim().parse().ok())
        .ok_or_else(|| corrupt("missing entry count"))?;
    let entries: Vec<Vec<&str>> = lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split_whitespace().collect())
        .collect();
    if entries.len() != count {
        return Err(corrupt("entry count does not match"));
    }
    Ok(entries)
}

/// Reads a per-log-dir offset checkpoint; a missing file is empty.
pub fn read_offsets(path: &Path) -> Result<BTreeMap<TopicPartition, i64>, StorageError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(StorageError::io(path, e)),
    };
    let mut out = BTreeMap::new();
    for fields in parse_lines(path, &text)? {
        let [topic, partition, offset] = fields[..] else {
            return Err(StorageError::Corrupt {
                path: path.to_path_buf(),
                reason: "malformed entry".into(),
            });
        };
        let (Ok(p), Ok(o)) = (partition.parse::<i32>(), offset.parse::<i64>()) else {
            return Err(StorageError::Corrupt {
                path: path.to_path_buf(),
                reason: format!("malformed entry '{topic} {partition} {offset}'"),
            });
        };
        out.insert(TopicPartition::new(topic, p), o);
    }
    Ok(out)
}

pub fn write_offsets(
    path: &Path,
    offsets: &BTreeMap<TopicPartition, i64>,
) -> Result<(), StorageError> {
    let mut s = format!("0\n{}\n", offsets.len());
    for (tp, o) in offsets {
        s.push_str(&format!("{} {} {o}\n", tp.topic, tp.partition));
    }
    write_atomically(path, s.as_bytes())
}

/// Reads `leader-epoch-checkpoint`; a missing file is empty.
pub fn read_epochs(path: &Path) -> Result<Vec<(i32, i64)>, StorageError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(StorageError::io(path, e)),
    };
    parse_lines(path, &text)?
        .into_iter()
        .map(|f| match f[..] {
            [e, o] => match (e.parse(), o.parse()) {
                (Ok(e), Ok(o)) => Ok((e, o)),
                _ => Err(()),
            },
            _ => Err(()),
        })
        .collect::<Result<Vec<_>, ()>>()
        .map_err(|()| StorageError::Corrupt {
            path: path.to_path_buf(),
            reason: "malformed epoch entry".into(),
        })
}

pub fn write_epochs(path: &Path, epochs: &[(i32, i64)]) -> Result<(), StorageError> {
    write_replacing(path, epochs_text(epochs).as_bytes(), true)
}

/// `write_epochs` without the fsyncs, for the append path: an fsync there held the
/// appending thread (and with it every request on a 2-core runtime) for the length of
/// a journal commit. The log syncs the file before its recovery point passes the new
/// entries, and recovery re-derives the entries past the recovery point from the
/// batches, so a crash loses nothing the file must hold.
pub fn write_epochs_unsynced(path: &Path, epochs: &[(i32, i64)]) -> Result<(), StorageError> {
    write_replacing(path, epochs_text(epochs).as_bytes(), false)
}

fn epochs_text(epochs: &[(i32, i64)]) -> String {
    let mut s = format!("0\n{}\n", epochs.len());
    for (e, o) in epochs {
        s.push_str(&format!("{e} {o}\n"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_and_epochs_round_trip_and_corruption_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(RECOVERY_POINT_FILE);
        assert!(read_offsets(&p).unwrap().is_empty());
        let mut m = BTreeMap::new();
        m.insert(TopicPartition::new("a-b", 0), 42);
        m.insert(TopicPartition::new("c", 7), 0);
        write_offsets(&p, &m).unwrap();
        assert_eq!(read_offsets(&p).unwrap(), m);
        std::fs::write(&p, "0\n3\na 0 1\n").unwrap();
        assert!(read_offsets(&p).is_err());
        let e = dir.path().join(LEADER_EPOCH_FILE);
        write_epochs(&e, &[(0, 0), (3, 100)]).unwrap();
        assert_eq!(read_epochs(&e).unwrap(), vec![(0, 0), (3, 100)]);
        std::fs::write(&e, "0\n1\nx y\n").unwrap();
        assert!(read_epochs(&e).is_err());
    }
}
