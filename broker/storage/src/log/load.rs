//! Opening a partition directory: finishing or undoing interrupted compaction swaps and
//! deletions, loading segments (recovering those after the recovery point unless the
//! shutdown was clean), and rebuilding producer state, the leader-epoch cache and the
//! `.txnindex` of recovered segments and of unreadable ones.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::AtomicI64;
use std::sync::{Arc, Mutex, RwLock};

use super::{AppendState, LoadParams, Log};
use crate::batch::BatchHeader;
use crate::checkpoint;
use crate::config::LogConfig;
use crate::error::StorageError;
use crate::producer_state::{self, EndTransactionMarker, ProducerStateManager};
use crate::segment::Segment;
use crate::topic_partition::TopicPartition;
use crate::txn_index::{AbortedTxn, TxnIndex};

/// Removes leftovers of interrupted operations and returns the segment base offsets.
fn tidy_dir(dir: &Path) -> Result<Vec<i64>, StorageError> {
    let rd = std::fs::read_dir(dir).map_err(|e| StorageError::io(dir, e))?;
    let mut names: Vec<String> = rd
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    // A `.swap` file is a finished cleaned segment whose rename was interrupted: it
    // replaces the original (Kafka completes swaps on load).
    for n in names.iter().filter(|n| n.ends_with(".swap")) {
        let from = dir.join(n);
        let to = dir.join(n.trim_end_matches(".swap"));
        std::fs::rename(&from, &to).map_err(|e| StorageError::io(&from, e))?;
    }
    let mut bases = Vec::new();
    for n in &names {
        if n.ends_with(".deleted") || n.ends_with(".cleaned") || n.ends_with(".tmp") {
            let p = dir.join(n);
            std::fs::remove_file(&p).map_err(|e| StorageError::io(&p, e))?;
            continue;
        }
        let n = n.trim_end_matches(".swap");
        if let Some(stem) = n.strip_suffix(".log")
            && stem.len() == 20
            && let Ok(base) = stem.parse::<i64>()
        {
            bases.push(base);
        }
    }
    bases.sort_unstable();
    bases.dedup();
    // Index files without a log are orphans.
    for n in &names {
        for ext in [".index", ".timeindex"] {
            if let Some(stem) = n.strip_suffix(ext)
                && let Ok(base) = stem.parse::<i64>()
                && !bases.contains(&base)
            {
                let _ = std::fs::remove_file(dir.join(n));
            }
        }
    }
    Ok(bases)
}

/// A grouped compaction swap that completed (its `.swap` renamed into place) covers the
/// offsets of the originals after the first one; any of those still present are dropped.
fn drop_covered_segments(dir: &Path, segments: &mut BTreeMap<i64, Arc<Segment>>) {
    let mut prev_next = i64::MIN;
    let mut covered = Vec::new();
    for (base, seg) in segments.iter() {
        if *base < prev_next {
            covered.push(*base);
        } else if !seg.is_empty() {
            prev_next = seg.next_offset();
        }
    }
    for base in covered {
        tracing::warn!(dir = %dir.display(), segment = base, "dropping a segment covered by a cleaned one");
        if let Some(seg) = segments.remove(&base)
            && let Err(e) = seg.delete_files()
        {
            tracing::warn!(error = %e, "could not remove a covered segment");
        }
    }
}

/// Replays one batch of `seg` (at byte `pos`, looked up when unknown) into producer
/// state. A control batch's marker is read from the segment, so the producer's
/// coordinator epoch is rebuilt as Kafka's recovery rebuilds it, not only taken from
/// an older snapshot.
pub(super) fn replay_batch(
    producers: &mut ProducerStateManager,
    seg: &Segment,
    pos: Option<u64>,
    h: &BatchHeader,
) {
    let marker = if h.is_control() {
        let pos = pos.or_else(|| {
            seg.find_batch(h.base_offset)
                .ok()
                .flatten()
                .map(|(pos, _)| pos)
        });
        pos.and_then(|pos| seg.read(pos, h.total_size()).ok())
            .and_then(|bytes| EndTransactionMarker::parse(&bytes))
    } else {
        None
    };
    producers.update_with_marker(h, marker);
}

impl Log {
    /// Opens (creating when missing) the log in `dir`.
    pub(crate) fn open(
        dir: &Path,
        tp: TopicPartition,
        config: LogConfig,
        p: LoadParams,
    ) -> Result<Arc<Log>, StorageError> {
        std::fs::create_dir_all(dir).map_err(|e| StorageError::io(dir, e))?;
        let bases = tidy_dir(dir)?;
        let mut producers = ProducerStateManager::default();
        // A corrupt epoch file is rebuilt from recovered batches rather than failing.
        let epoch_file = dir.join(checkpoint::LEADER_EPOCH_FILE);
        let checkpointed = checkpoint::read_epochs(&epoch_file).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "ignoring unreadable leader-epoch checkpoint");
            Vec::new()
        });
        let mut epochs = super::epochs_from_checkpoint(checkpointed.clone());
        // Batches recovered after the newest snapshot rebuild producer state as they are
        // scanned; recovered batches also restore leader epochs the checkpoint missed.
        let mut replay_from = i64::MAX;
        let mut segments = BTreeMap::new();
        // Segments recovered batch by batch: their `.txnindex` is rebuilt too.
        let mut recovered = BTreeSet::new();
        {
            let mut recovered_headers: Vec<BatchHeader> = Vec::new();
            for (i, base) in bases.iter().enumerate() {
                let next_base = bases.get(i + 1).copied().unwrap_or(i64::MAX);
                let recover = !p.clean_shutdown && next_base > p.recovery_point;
                let on_disk_size =
                    std::fs::metadata(dir.join(crate::segment::file_name(*base, "log")))
                        .map_or(0, |m| m.len());
                let mut cb = |h: &BatchHeader| {
                    if recover {
                        recovered_headers.push(*h);
                    }
                };
                let seg = Segment::open(
                    dir,
                    *base,
                    recover,
                    config.index_interval_bytes,
                    p.now_ms,
                    &mut cb,
                )?;
                if recover {
                    replay_from = replay_from.min(*base);
                    recovered.insert(*base);
                }
                let cut = seg.size() < on_disk_size;
                segments.insert(*base, Arc::new(seg));
                if cut {
                    // Kafka's rule: nothing after a corrupt batch is trusted, so later
                    // segments go too (they would leave a hole in the offsets).
                    for later in &bases[i + 1..] {
                        tracing::warn!(dir = %dir.display(), segment = later, "deleting segment after a corrupt one");
                        for ext in ["log", "index", "timeindex", "txnindex"] {
                            let _ = std::fs::remove_file(
                                dir.join(crate::segment::file_name(*later, ext)),
                            );
                        }
                    }
                    break;
                }
            }
            drop_covered_segments(dir, &mut segments);
            let log_end = segments.values().next_back().map_or(0, |s| s.next_offset());
            let snapshot = producer_state::load_latest(dir, log_end)?;
            let snap_offset = match snapshot {
                Some((o, s)) => {
                    producers = s;
                    o
                }
                None => -1,
            };
            // Segments that were not scanned but hold data after the snapshot are replayed
            // header by header.
            for seg in segments.values() {
                if seg.next_offset() > snap_offset.max(0) && seg.base_offset < replay_from {
                    replay(seg, snap_offset, &mut producers)?;
                }
            }
            for h in &recovered_headers {
                if h.base_offset >= snap_offset {
                    match segments.range(..=h.base_offset).next_back() {
                        Some((_, seg)) => replay_batch(&mut producers, seg, None, h),
                        None => {
                            producers.update(h);
                        }
                    }
                }
                super::assign_epoch(&mut epochs, h.partition_leader_epoch, h.base_offset);
            }
        }
        for seg in segments.values() {
            // Rebuilt indexes go to disk now; the data is fsynced by the next flush.
            seg.persist_index()?;
        }
        if segments.is_empty() {
            let start = p.log_start_offset.max(0);
            segments.insert(start, Arc::new(Segment::create(dir, start, "", p.now_ms)?));
        }
        let first_base = segments.keys().next().copied().unwrap_or(0);
        let log_end = segments.values().next_back().map_or(0, |s| s.next_offset());
        let log_start = p.log_start_offset.max(first_base).min(log_end);
        epochs.truncate_from_end(log_end);
        epochs.truncate_from_start(log_start);
        // The checkpoint is kept current on every change (close no longer rewrites it).
        let loaded: Vec<(i32, i64)> = epochs
            .entries()
            .map(|e| (e.epoch, e.start_offset))
            .collect();
        if loaded != checkpointed {
            checkpoint::write_epochs(&epoch_file, &loaded)?;
        }
        let recovery_point = p.recovery_point.clamp(first_base, log_end);
        let aborted = load_aborted(dir, &segments, &recovered, log_end)?;
        let log = Log {
            tp,
            dir: RwLock::new(dir.to_path_buf()),
            config: RwLock::new(Arc::new(config)),
            append: Mutex::new(AppendState {
                producers,
                epochs,
                epochs_unsynced: false,
                unflushed_messages: 0,
                last_flush_ms: p.now_ms,
                aborted,
            }),
            segments: RwLock::new(segments),
            log_start: AtomicI64::new(log_start),
            log_end: AtomicI64::new(log_end),
            high_watermark: AtomicI64::new(p.high_watermark.clamp(log_start, log_end)),
            recovery_point: AtomicI64::new(recovery_point),
            first_dirty_offset: AtomicI64::new(p.cleaner_offset.clamp(log_start, log_end)),
            cleaning: Mutex::new(()),
            pending_deletes: Mutex::new(Vec::new()),
        };
        tracing::debug!(
            partition = %log.tp,
            log_start,
            log_end,
            segments = log.segment_count(),
            "loaded log"
        );
        Ok(Arc::new(log))
    }
}

/// Replays `seg`'s batches from offset `from` on through `producers`.
fn replay(
    seg: &Segment,
    from: i64,
    producers: &mut ProducerStateManager,
) -> Result<(), StorageError> {
    let Some((start, _)) = seg.find_batch(from.max(0))? else {
        return Ok(());
    };
    seg.scan_headers(start, &mut |pos, h| {
        if h.base_offset >= from {
            replay_batch(producers, seg, Some(pos), h);
        }
        true
    })
}

/// Every segment's aborted transactions, in marker order. A segment recovered batch by
/// batch gets its `.txnindex` rebuilt from its batches, as Kafka's `LogSegment.recover`
/// (after an unclean shutdown the index may have lost entries whose markers the log
/// kept), and so does one whose `.txnindex` cannot be read (as a corrupt offset index
/// is rebuilt). The others' files are trusted, each cut at the log end first: an entry
/// is written before its marker, so one past a log that lost its tail is dropped.
fn load_aborted(
    dir: &Path,
    segments: &BTreeMap<i64, Arc<Segment>>,
    recovered: &BTreeSet<i64>,
    log_end: i64,
) -> Result<Vec<AbortedTxn>, StorageError> {
    let mut by_segment = BTreeMap::new();
    let mut rebuild = BTreeSet::new();
    for base in segments.keys() {
        if recovered.contains(base) {
            rebuild.insert(*base);
            continue;
        }
        let path = dir.join(crate::segment::file_name(*base, "txnindex"));
        match TxnIndex::open(&path) {
            Ok(mut index) => {
                index.truncate_to(log_end)?;
                by_segment.insert(*base, index.entries().to_vec());
            }
            Err(StorageError::Corrupt { reason, .. }) => {
                tracing::warn!(file = %path.display(), %reason, "rebuilding the transaction index");
                rebuild.insert(*base);
            }
            Err(e) => return Err(e),
        }
    }
    by_segment.extend(rebuild_txn_indexes(dir, segments, &rebuild)?);
    Ok(by_segment.into_values().flatten().collect())
}

/// Rebuilds the `.txnindex` of the segments in `rebuild` in one pass: producer state
/// starts from the newest snapshot at or below the first of them (else the log start)
/// and is replayed up to it, so a transaction begun in an earlier segment keeps its
/// first offset.
fn rebuild_txn_indexes(
    dir: &Path,
    segments: &BTreeMap<i64, Arc<Segment>>,
    rebuild: &BTreeSet<i64>,
) -> Result<BTreeMap<i64, Vec<AbortedTxn>>, StorageError> {
    let mut out = BTreeMap::new();
    let (Some(&first), Some(&last)) = (rebuild.first(), rebuild.last()) else {
        return Ok(out);
    };
    let (snap_offset, mut producers) =
        producer_state::read_latest(dir, first)?.unwrap_or((-1, ProducerStateManager::default()));
    for (base, seg) in segments.range(..=last) {
        if rebuild.contains(base) {
            out.insert(*base, seg.rebuild_txn_index(&mut producers)?);
        } else if seg.next_offset() > snap_offset.max(0) {
            replay(seg, snap_offset, &mut producers)?;
        }
    }
    Ok(out)
}
