//! The raft state machine (openraft `RaftStateMachine`): applies committed entries to
//! the [`MetadataImage`] in log order and publishes each new image on a watch channel,
//! so brokers follow the metadata log in order. Snapshots are the serialized image,
//! kept durable in `snapshot` (replaced atomically) so a restart resumes from it.

use std::collections::BTreeMap;
use std::io::{self, Cursor};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, Weak};

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

/// The durable `snapshot` file and the snapshot it holds, shared by the state machine
/// (install) and its builders, which openraft runs in their own task: the two can
/// write at once. Writes are serialized (both went through one `snapshot.tmp`, so a
/// second writer's rename failed, a storage error that stops the raft core) and a
/// snapshot never replaces a newer one (a build that started before an install and
/// ended after it would otherwise put the older image back on disk).
///
/// One store per file in the process ([`SnapshotStore::open`]): a build outlives the
/// raft that started it (openraft spawns it and does not wait for it on shutdown), so
/// a node stopped and started again in the same process shares the store, and its
/// lock, with a build of its previous life still writing.
#[derive(Debug)]
struct SnapshotStore {
    path: PathBuf,
    current: Mutex<Option<StoredSnapshot>>,
    write: tokio::sync::Mutex<()>,
}

type SharedSnapshot = Arc<SnapshotStore>;

impl SnapshotStore {
    /// The store of `path`, `stored` being what the file held when read: the store a
    /// build still running in this process holds if there is one (keeping the newer of
    /// its snapshot and `stored`), else a new one.
    fn open(path: PathBuf, stored: Option<StoredSnapshot>) -> Arc<SnapshotStore> {
        static OPEN: Mutex<BTreeMap<PathBuf, Weak<SnapshotStore>>> = Mutex::new(BTreeMap::new());
        let mut open = OPEN.lock().unwrap_or_else(PoisonError::into_inner);
        open.retain(|_, store| store.strong_count() > 0);
        if let Some(store) = open.get(&path).and_then(Weak::upgrade) {
            let mut current = store.current.lock().unwrap_or_else(PoisonError::into_inner);
            let older = |held: &StoredSnapshot| {
                stored
                    .as_ref()
                    .is_some_and(|s| s.meta.last_log_id > held.meta.last_log_id)
            };
            if current.as_ref().is_none_or(older) {
                *current = stored;
            }
            drop(current);
            return store;
        }
        let store = Arc::new(SnapshotStore {
            path: path.clone(),
            current: Mutex::new(stored),
            write: tokio::sync::Mutex::new(()),
        });
        open.insert(path, Arc::downgrade(&store));
        store
    }

    fn current(&self) -> Option<StoredSnapshot> {
        self.current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Makes `stored` the durable snapshot unless one at or past its last log id
    /// already is; returns whether it did.
    async fn save(&self, stored: StoredSnapshot) -> StorageResult<bool> {
        let _write = self.write.lock().await;
        let newer_held = self
            .current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .is_some_and(|held| held.meta.last_log_id >= stored.meta.last_log_id);
        if newer_held {
            return Ok(false);
        }
        persist(&self.path, &stored).await?;
        *self.current.lock().unwrap_or_else(PoisonError::into_inner) = Some(stored);
        Ok(true)
    }
}

/// Applies the metadata log to the image.
#[derive(Debug)]
pub struct StateMachine {
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
                image,
                last_applied,
                last_membership,
                current_snapshot: SnapshotStore::open(dir.join("snapshot"), stored),
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
        let snapshot = Snapshot {
            meta: stored.meta.clone(),
            snapshot: Box::new(Cursor::new(stored.data.clone())),
        };
        // Not saved when an installed snapshot overtook this build: openraft keeps
        // the newer of the two as well.
        self.current_snapshot.save(stored).await?;
        Ok(snapshot)
    }
}

async fn persist(path: &Path, stored: &StoredSnapshot) -> StorageResult<()> {
    let bytes = serde_json::to_vec(stored).map_err(|e| sm_write_err(&e))?;
    let path = path.to_path_buf();
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
        if !self.current_snapshot.save(stored).await? {
            // openraft installs only a snapshot past what it applied, so a newer held
            // one is a build of ours racing ahead; keep the image that goes with it.
            tracing::warn!(snapshot = %meta.snapshot_id, "a newer snapshot is already held; not installed");
            return Ok(());
        }
        tracing::info!(snapshot = %meta.snapshot_id, offset = image.offset, "installed metadata snapshot");
        self.recent.reset(image.offset);
        self.image = image;
        self.last_applied = meta.last_log_id;
        self.last_membership = meta.last_membership.clone();
        self.publish.send_replace(Arc::new(self.image.clone()));
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> StorageResult<Option<Snapshot<TypeConfig>>> {
        Ok(self.current_snapshot.current().map(|s| Snapshot {
            meta: s.meta,
            snapshot: Box::new(Cursor::new(s.data)),
        }))
    }
}

#[cfg(test)]
mod tests {
    use openraft::CommittedLeaderId;

    use super::*;

    fn blank(index: u64) -> Entry<TypeConfig> {
        Entry {
            log_id: LogId::new(CommittedLeaderId::new(1, 1), index),
            payload: EntryPayload::Blank,
        }
    }

    /// A leader's snapshot at `index` (what InstallSnapshot carries).
    async fn leader_snapshot(index: u64) -> Snapshot<TypeConfig> {
        let dir = tempfile::tempdir().unwrap();
        let (mut leader, _image) = StateMachine::open(dir.path()).unwrap();
        leader.apply((1..=index).map(blank)).await.unwrap();
        leader
            .get_snapshot_builder()
            .await
            .build_snapshot()
            .await
            .unwrap()
    }

    fn durable_index(dir: &Path) -> Option<u64> {
        let (_sm, image) = StateMachine::open(dir).unwrap();
        let offset = image.borrow().offset;
        Some(offset)
    }

    #[tokio::test]
    async fn a_build_that_ends_after_a_newer_install_leaves_the_newer_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let (mut sm, _image) = StateMachine::open(dir.path()).unwrap();
        sm.apply((1..=3).map(blank)).await.unwrap();
        let mut build_at_3 = sm.get_snapshot_builder().await;
        let newer = leader_snapshot(10).await;
        sm.install_snapshot(&newer.meta, newer.snapshot)
            .await
            .unwrap();
        build_at_3.build_snapshot().await.unwrap();
        let held = sm.get_current_snapshot().await.unwrap().unwrap();
        assert_eq!(held.meta.last_log_id, newer.meta.last_log_id);
        assert_eq!(durable_index(dir.path()), Some(10));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn builds_and_installs_at_once_all_succeed_and_the_newest_is_durable() {
        let dir = tempfile::tempdir().unwrap();
        let (mut sm, _image) = StateMachine::open(dir.path()).unwrap();
        let mut applied = 0;
        for round in 0..20u64 {
            let to = round * 4 + 2;
            sm.apply((applied + 1..=to).map(blank)).await.unwrap();
            let mut build = sm.get_snapshot_builder().await;
            let newer = leader_snapshot(to + 2).await;
            // openraft runs a build in its own task while the state machine installs.
            let built = tokio::spawn(async move { build.build_snapshot().await });
            sm.install_snapshot(&newer.meta, newer.snapshot)
                .await
                .unwrap();
            built.await.unwrap().unwrap();
            applied = to + 2;
            assert_eq!(durable_index(dir.path()), Some(applied), "round {round}");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_build_outliving_its_node_shares_the_store_of_the_restarted_node() {
        let dir = tempfile::tempdir().unwrap();
        let mut durable = 0;
        for round in 0..20u64 {
            let (mut stopped, _image) = StateMachine::open(dir.path()).unwrap();
            stopped
                .apply((durable + 1..=durable + 2).map(blank))
                .await
                .unwrap();
            let mut build = stopped.get_snapshot_builder().await;
            // The raft stopped; openraft's build task lives on while the node restarts.
            drop(stopped);
            let (mut restarted, _image) = StateMachine::open(dir.path()).unwrap();
            let newer = leader_snapshot(durable + 4).await;
            let built = tokio::spawn(async move { build.build_snapshot().await });
            restarted
                .install_snapshot(&newer.meta, newer.snapshot)
                .await
                .unwrap();
            built.await.unwrap().unwrap();
            durable += 4;
            assert_eq!(durable_index(dir.path()), Some(durable), "round {round}");
        }
    }
}
