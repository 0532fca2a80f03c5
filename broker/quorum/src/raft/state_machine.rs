//! The raft state machine (openraft `RaftStateMachine`): applies committed entries to
//! the [`MetadataImage`] in log order and publishes each new image on a watch channel,
//! so brokers follow the metadata log in order. Snapshots are the serialized image,
//! kept durable in `snapshot` (replaced atomically) so a restart resumes from it.

use std::io::{self, Cursor};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use openraft::storage::{RaftStateMachine, Snapshot, SnapshotMeta};
use openraft::{
    AnyError, BasicNode, Entry, EntryPayload, LogId, RaftSnapshotBuilder, StorageError,
    StorageIOError, StoredMembership,
};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::TypeConfig;
use super::log_file::{read_atomic, write_atomic};
use super::recent::{DEFAULT_RECENT_ENTRIES, RecentEntries};
use crate::image::MetadataImage;

type StorageResult<T> = Result<T, StorageError<u64>>;

/// What the `snapshot` file holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredSnapshot {
    meta: SnapshotMeta<u64, BasicNode>,
    /// The serialized [`MetadataImage`].
    data: Vec<u8>,
}

type SharedSnapshot = Arc<Mutex<Option<StoredSnapshot>>>;

/// Applies the metadata log to the image.
#[derive(Debug)]
pub struct StateMachine {
    dir: PathBuf,
    image: MetadataImage,
    last_applied: Option<LogId<u64>>,
    last_membership: StoredMembership<u64, BasicNode>,
    current_snapshot: SharedSnapshot,
    publish: watch::Sender<Arc<MetadataImage>>,
    /// Makes snapshot ids unique when two snapshots cover the same log id.
    snapshot_seq: u64,
    /// The last applied entries, served to observers as deltas.
    recent: RecentEntries,
}

impl StateMachine {
    /// Opens the state machine in `dir`, restoring the last durable snapshot.
    pub fn open(dir: &Path) -> io::Result<(Self, watch::Receiver<Arc<MetadataImage>>)> {
        std::fs::create_dir_all(dir)?;
        let stored = read_atomic(&dir.join("snapshot"))?
            .map(|b| serde_json::from_slice::<StoredSnapshot>(&b))
            .transpose()?;
        let (image, last_applied, last_membership) = match &stored {
            Some(s) => (
                MetadataImage::from_bytes(&s.data)?,
                s.meta.last_log_id,
                s.meta.last_membership.clone(),
            ),
            None => (MetadataImage::default(), None, StoredMembership::default()),
        };
        let (publish, rx) = watch::channel(Arc::new(image.clone()));
        let recent = RecentEntries::new(DEFAULT_RECENT_ENTRIES, image.offset);
        Ok((
            Self {
                dir: dir.to_path_buf(),
                image,
                last_applied,
                last_membership,
                current_snapshot: Arc::new(Mutex::new(stored)),
                publish,
                snapshot_seq: 0,
                recent,
            },
            rx,
        ))
    }

    /// The window of last applied entries (shared; the listener serves fetches from it).
    pub(crate) fn recent_entries(&self) -> RecentEntries {
        self.recent.clone()
    }
}

fn sm_write_err(e: &(impl std::error::Error + 'static)) -> StorageError<u64> {
    StorageIOError::write_state_machine(AnyError::new(e)).into()
}

/// Builds snapshots from a copy of the state taken when the builder was made.
#[derive(Debug)]
pub struct SnapshotBuilder {
    dir: PathBuf,
    image: MetadataImage,
    meta: SnapshotMeta<u64, BasicNode>,
    current_snapshot: SharedSnapshot,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> StorageResult<Snapshot<TypeConfig>> {
        let data = self.image.to_bytes().map_err(|e| sm_write_err(&e))?;
        let stored = StoredSnapshot {
            meta: self.meta.clone(),
            data,
        };
        persist(&self.dir, &stored).await?;
        let snapshot = Snapshot {
            meta: stored.meta.clone(),
            snapshot: Box::new(Cursor::new(stored.data.clone())),
        };
        *self
            .current_snapshot
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(stored);
        Ok(snapshot)
    }
}

async fn persist(dir: &Path, stored: &StoredSnapshot) -> StorageResult<()> {
    let bytes = serde_json::to_vec(stored).map_err(|e| sm_write_err(&e))?;
    let path = dir.join("snapshot");
    let signature = stored.meta.signature();
    tokio::task::spawn_blocking(move || write_atomic(&path, &bytes))
        .await
        .map_err(|e| sm_write_err(&e))?
        .map_err(|e| StorageIOError::write_snapshot(Some(signature), AnyError::new(&e)).into())
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(
        &mut self,
    ) -> StorageResult<(Option<LogId<u64>>, StoredMembership<u64, BasicNode>)> {
        Ok((self.last_applied, self.last_membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> StorageResult<Vec<()>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + Send,
        I::IntoIter: Send,
    {
        let mut replies = Vec::new();
        for entry in entries {
            let index = entry.log_id.index;
            match entry.payload {
                EntryPayload::Normal(records) => {
                    self.image.apply_entry(index, &records);
                    self.recent.push(index, records);
                }
                EntryPayload::Blank => {
                    self.image.offset = index;
                    self.recent.push(index, Vec::new());
                }
                EntryPayload::Membership(m) => {
                    self.image.offset = index;
                    self.last_membership = StoredMembership::new(Some(entry.log_id), m);
                    self.recent.push(index, Vec::new());
                }
            }
            self.last_applied = Some(entry.log_id);
            replies.push(());
        }
        self.publish.send_replace(Arc::new(self.image.clone()));
        Ok(replies)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.snapshot_seq += 1;
        let snapshot_id = match self.last_applied {
            Some(id) => format!("{}-{}-{}", id.leader_id, id.index, self.snapshot_seq),
            None => format!("none-{}", self.snapshot_seq),
        };
        SnapshotBuilder {
            dir: self.dir.clone(),
            image: self.image.clone(),
            meta: SnapshotMeta {
                last_log_id: self.last_applied,
                last_membership: self.last_membership.clone(),
                snapshot_id,
            },
            current_snapshot: self.current_snapshot.clone(),
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> StorageResult<Box<Cursor<Vec<u8>>>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<u64, BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> StorageResult<()> {
        let data = snapshot.into_inner();
        let image = MetadataImage::from_bytes(&data).map_err(|e| {
            StorageIOError::read_snapshot(Some(meta.signature()), AnyError::new(&e))
        })?;
        let stored = StoredSnapshot {
            meta: meta.clone(),
            data,
        };
        persist(&self.dir, &stored).await?;
        tracing::info!(snapshot = %meta.snapshot_id, offset = image.offset, "installed metadata snapshot");
        self.recent.reset(image.offset);
        self.image = image;
        self.last_applied = meta.last_log_id;
        self.last_membership = meta.last_membership.clone();
        *self
            .current_snapshot
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(stored);
        self.publish.send_replace(Arc::new(self.image.clone()));
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> StorageResult<Option<Snapshot<TypeConfig>>> {
        let current = self
            .current_snapshot
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        Ok(current.map(|s| Snapshot {
            meta: s.meta,
            snapshot: Box::new(Cursor::new(s.data)),
        }))
    }
}
