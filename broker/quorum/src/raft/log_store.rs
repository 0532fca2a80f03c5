//! The durable raft log store (openraft `RaftLogStorage`), on files in one directory:
//! `log` (append-only frames, one JSON entry each, fsynced per appended batch),
//! `vote` and `purged` (replaced atomically). Entries live in memory too: the
//! metadata log is small and snapshotted, and readers must not wait on disk.
//!
//! Crash safety: a torn tail of `log` is cut on open (see [`super::log_file`]); entries
//! at or below the purge point left behind by a crash mid-purge are skipped.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::io;
use std::ops::RangeBounds;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{AnyError, Entry, LogId, RaftLogReader, StorageError, StorageIOError, Vote};

use super::TypeConfig;
use super::log_file::{LogFile, read_atomic, write_atomic};

type StorageResult<T> = Result<T, StorageError<u64>>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave these maps half-updated in a way a
    // later call could not handle, so recover the guard instead of propagating.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[derive(Debug, Default)]
struct Entries {
    /// index -> (byte offset in `log`, entry).
    by_index: BTreeMap<u64, (u64, Entry<TypeConfig>)>,
    last_purged: Option<LogId<u64>>,
    vote: Option<Vote<u64>>,
}

/// Log store handle; clones share the same state (the clone is the log reader).
#[derive(Debug, Clone)]
pub struct LogStore {
    dir: PathBuf,
    entries: Arc<Mutex<Entries>>,
    /// Serializes file IO; only the raft core writes, readers never touch it.
    file: Arc<Mutex<LogFile>>,
}

impl LogStore {
    /// Opens the store in `dir` (created if missing), recovering from a crash.
    pub fn open(dir: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let vote = read_atomic(&dir.join("vote"))?
            .map(|b| serde_json::from_slice::<Vote<u64>>(&b))
            .transpose()?;
        let last_purged = read_atomic(&dir.join("purged"))?
            .map(|b| serde_json::from_slice::<LogId<u64>>(&b))
            .transpose()?;
        let (file, payloads) = LogFile::open(&dir.join("log"))?;
        let mut by_index = BTreeMap::new();
        for (offset, payload) in payloads {
            let entry: Entry<TypeConfig> = serde_json::from_slice(&payload)?;
            if last_purged.is_some_and(|p| entry.log_id.index <= p.index) {
                continue;
            }
            by_index.insert(entry.log_id.index, (offset, entry));
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            entries: Arc::new(Mutex::new(Entries {
                by_index,
                last_purged,
                vote,
            })),
            file: Arc::new(Mutex::new(file)),
        })
    }

    /// Runs blocking file IO off the async runtime's worker threads.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut LogFile, &Path) -> io::Result<T> + Send + 'static,
    ) -> io::Result<T> {
        let (file, dir) = (self.file.clone(), self.dir.clone());
        tokio::task::spawn_blocking(move || f(&mut lock(&file), &dir))
            .await
            .map_err(io::Error::other)?
    }
}

fn write_err(e: &io::Error) -> StorageError<u64> {
    StorageIOError::write_logs(AnyError::new(e)).into()
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> StorageResult<Vec<Entry<TypeConfig>>> {
        let entries = lock(&self.entries);
        Ok(entries
            .by_index
            .range(range)
            .map(|(_, (_, e))| e.clone())
            .collect())
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> StorageResult<LogState<TypeConfig>> {
        let entries = lock(&self.entries);
        let last = entries.by_index.values().next_back().map(|(_, e)| e.log_id);
        Ok(LogState {
            last_purged_log_id: entries.last_purged,
            last_log_id: last.or(entries.last_purged),
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<u64>) -> StorageResult<()> {
        let bytes =
            serde_json::to_vec(vote).map_err(|e| StorageIOError::write_vote(AnyError::new(&e)))?;
        self.blocking(move |_, dir| write_atomic(&dir.join("vote"), &bytes))
            .await
            .map_err(|e| StorageIOError::write_vote(AnyError::new(&e)))?;
        lock(&self.entries).vote = Some(*vote);
        Ok(())
    }

    async fn read_vote(&mut self) -> StorageResult<Option<Vote<u64>>> {
        Ok(lock(&self.entries).vote)
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> StorageResult<()>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + Send,
        I::IntoIter: Send,
    {
        let entries: Vec<Entry<TypeConfig>> = entries.into_iter().collect();
        let payloads = entries
            .iter()
            .map(serde_json::to_vec)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| StorageIOError::write_logs(AnyError::new(&e)))?;
        let result = self.blocking(move |file, _| file.append(&payloads)).await;
        match result {
            Ok(offsets) => {
                let mut state = lock(&self.entries);
                for (offset, entry) in offsets.into_iter().zip(entries) {
                    state.by_index.insert(entry.log_id.index, (offset, entry));
                }
                drop(state);
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                let err = write_err(&e);
                callback.log_io_completed(Err(e));
                Err(err)
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId<u64>) -> StorageResult<()> {
        let offset = {
            let mut state = lock(&self.entries);
            let offset = state.by_index.get(&log_id.index).map(|(o, _)| *o);
            state.by_index.split_off(&log_id.index);
            offset
        };
        if let Some(offset) = offset {
            self.blocking(move |file, _| file.truncate(offset))
                .await
                .map_err(|e| write_err(&e))?;
        }
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId<u64>) -> StorageResult<()> {
        let marker = serde_json::to_vec(&log_id)
            .map_err(|e| StorageIOError::write_logs(AnyError::new(&e)))?;
        // The purge point is durable before the file shrinks, so a crash in between
        // only leaves entries that recovery skips.
        self.blocking(move |_, dir| write_atomic(&dir.join("purged"), &marker))
            .await
            .map_err(|e| write_err(&e))?;
        let kept: Vec<Entry<TypeConfig>> = {
            let mut state = lock(&self.entries);
            state.last_purged = Some(log_id);
            state.by_index = state.by_index.split_off(&(log_id.index + 1));
            state.by_index.values().map(|(_, e)| e.clone()).collect()
        };
        let payloads = kept
            .iter()
            .map(serde_json::to_vec)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| StorageIOError::write_logs(AnyError::new(&e)))?;
        let offsets = self
            .blocking(move |file, _| file.rewrite(&payloads))
            .await
            .map_err(|e| write_err(&e))?;
        let mut state = lock(&self.entries);
        for (entry, offset) in kept.iter().zip(offsets) {
            if let Some(slot) = state.by_index.get_mut(&entry.log_id.index) {
                slot.0 = offset;
            }
        }
        Ok(())
    }
}
