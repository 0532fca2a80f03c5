//! The LogManager: every partition log across the log dirs (JBOD), per-log-dir
//! checkpoints and the clean-shutdown marker, placement of new partitions, Kafka-style
//! asynchronous partition deletion, and the background threads (retention, compaction,
//! flush, checkpoints, delayed file deletion).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;

use crate::checkpoint::{self, CLEAN_SHUTDOWN_FILE};
use crate::config::LogConfig;
use crate::error::StorageError;
use crate::log::{LoadParams, Log, now_ms};
use crate::sync;
use crate::topic_partition::TopicPartition;

mod background;
use background::Stop;

/// Broker-level settings of the log layer.
#[derive(Clone, Debug)]
pub struct LogManagerConfig {
    pub log_dirs: Vec<PathBuf>,
    pub default_config: LogConfig,
    /// `log.retention.check.interval.ms` (300000).
    pub retention_check_interval_ms: u64,
    /// `log.flush.scheduler.interval.ms`.
    pub flush_check_interval_ms: u64,
    /// `num.recovery.threads.per.data.dir` (1).
    pub recovery_threads: usize,
}

impl Default for LogManagerConfig {
    fn default() -> Self {
        LogManagerConfig {
            log_dirs: vec![PathBuf::from("/tmp/kafka-logs")],
            default_config: LogConfig::default(),
            retention_check_interval_ms: 300_000,
            flush_check_interval_ms: 1_000,
            recovery_threads: 1,
        }
    }
}

/// One log dir for DescribeLogDirs.
#[derive(Clone, Debug)]
pub struct LogDirInfo {
    pub path: PathBuf,
    pub total_bytes: u64,
    pub usable_bytes: u64,
    /// (partition, size in bytes, offset lag).
    pub partitions: Vec<(TopicPartition, u64, i64)>,
}

pub struct LogManager {
    config: LogManagerConfig,
    /// Each log and the log dir (index into `config.log_dirs`) it lives in.
    logs: RwLock<BTreeMap<TopicPartition, (usize, Arc<Log>)>>,
    /// Serializes creation so two requests cannot create the same partition twice.
    create_lock: Mutex<()>,
    stop: Arc<Stop>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    shut_down: AtomicBool,
}

/// Reads the log dir's checkpoints. A corrupt one is logged and treated as empty: for
/// the recovery point that means a full recovery, which is slow but safe.
fn read_dir_checkpoints(dir: &Path) -> [BTreeMap<TopicPartition, i64>; 4] {
    [
        checkpoint::RECOVERY_POINT_FILE,
        checkpoint::LOG_START_FILE,
        checkpoint::HIGH_WATERMARK_FILE,
        checkpoint::CLEANER_FILE,
    ]
    .map(|name| {
        checkpoint::read_offsets(&dir.join(name)).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "ignoring unreadable checkpoint");
            BTreeMap::new()
        })
    })
}

impl LogManager {
    /// Opens every `<topic>-<partition>` dir under every log dir, recovering where the
    /// shutdown was not clean. Errors only on infrastructure failure.
    pub fn open(config: LogManagerConfig) -> Result<Arc<LogManager>, StorageError> {
        let now = now_ms();
        let mut logs = BTreeMap::new();
        for (dir_index, dir) in config.log_dirs.iter().enumerate() {
            std::fs::create_dir_all(dir).map_err(|e| StorageError::io(dir, e))?;
            let marker = dir.join(CLEAN_SHUTDOWN_FILE);
            let clean = marker.exists();
            let [recovery, start, hw, cleaner] = read_dir_checkpoints(dir);
            let mut to_open = Vec::new();
            let rd = std::fs::read_dir(dir).map_err(|e| StorageError::io(dir, e))?;
            for entry in rd.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let path = entry.path();
                if !path.is_dir() {
                    continue;
                }
                if name.ends_with("-delete") {
                    // A deletion interrupted by a restart: finish it.
                    let _ = std::fs::remove_dir_all(&path);
                    continue;
                }
                if let Some(tp) = TopicPartition::from_dir_name(&name) {
                    to_open.push((tp, path));
                }
            }
            let params = |tp: &TopicPartition| LoadParams {
                recovery_point: recovery.get(tp).copied().unwrap_or(0),
                log_start_offset: start.get(tp).copied().unwrap_or(0),
                high_watermark: hw.get(tp).copied().unwrap_or(0),
                cleaner_offset: cleaner.get(tp).copied().unwrap_or(0),
                clean_shutdown: clean,
                now_ms: now,
            };
            let opened = open_parallel(
                &to_open,
                config.recovery_threads.max(1),
                &config.default_config,
                &params,
            )?;
            for (tp, log) in opened {
                logs.insert(tp, (dir_index, log));
            }
            // Any crash from now on must be detected at the next start.
            if clean {
                std::fs::remove_file(&marker).map_err(|e| StorageError::io(&marker, e))?;
            }
        }
        let mgr = Arc::new(LogManager {
            config,
            logs: RwLock::new(logs),
            create_lock: Mutex::new(()),
            stop: Arc::new(Stop::default()),
            threads: Mutex::new(Vec::new()),
            shut_down: AtomicBool::new(false),
        });
        mgr.checkpoint_all()?;
        Ok(mgr)
    }

    pub fn config(&self) -> &LogManagerConfig {
        &self.config
    }

    /// Opens or creates the log, placing a new partition on the log dir holding the
    /// fewest. An existing log takes `config` (the topic's current effective config).
    pub fn get_or_create_log(
        &self,
        tp: &TopicPartition,
        config: LogConfig,
    ) -> Result<Arc<Log>, StorageError> {
        if self.shut_down.load(Ordering::Acquire) {
            return Err(StorageError::ShutDown);
        }
        if let Some(log) = self.get_log(tp) {
            if log.config() != config {
                log.update_config(config);
            }
            return Ok(log);
        }
        let _guard = sync::lock(&self.create_lock);
        if let Some(log) = self.get_log(tp) {
            return Ok(log);
        }
        let dir_index = {
            let logs = sync::read(&self.logs);
            let mut counts = vec![0usize; self.config.log_dirs.len()];
            for (i, _) in logs.values() {
                counts[*i] += 1;
            }
            counts
                .iter()
                .enumerate()
                .min_by_key(|(i, c)| (**c, *i))
                .map_or(0, |(i, _)| i)
        };
        let dir = self
            .config
            .log_dirs
            .get(dir_index)
            .ok_or_else(|| StorageError::Corrupt {
                path: PathBuf::new(),
                reason: "no log.dirs configured".into(),
            })?
            .join(tp.dir_name());
        let log = Log::open(
            &dir,
            tp.clone(),
            config,
            LoadParams {
                recovery_point: 0,
                log_start_offset: 0,
                high_watermark: 0,
                cleaner_offset: 0,
                clean_shutdown: true,
                now_ms: now_ms(),
            },
        )?;
        sync::write(&self.logs).insert(tp.clone(), (dir_index, log.clone()));
        tracing::info!(partition = %tp, dir = %dir.display(), "created log");
        Ok(log)
    }

    pub fn get_log(&self, tp: &TopicPartition) -> Option<Arc<Log>> {
        sync::read(&self.logs).get(tp).map(|(_, l)| l.clone())
    }

    pub fn logs(&self) -> Vec<(TopicPartition, Arc<Log>)> {
        sync::read(&self.logs)
            .iter()
            .map(|(tp, (_, l))| (tp.clone(), l.clone()))
            .collect()
    }

    /// Kafka-style: renames the dir to `<topic>-<p>.<uuid>-delete` and removes it in the
    /// background. Unknown partitions are a no-op.
    pub fn delete_log(&self, tp: &TopicPartition) -> Result<(), StorageError> {
        let Some((_, log)) = sync::write(&self.logs).remove(tp) else {
            return Ok(());
        };
        let dir = log.dir();
        let id = uuid::Uuid::new_v4().simple().to_string();
        let target = dir.with_file_name(format!("{}.{id}-delete", tp.dir_name()));
        std::fs::rename(&dir, &target).map_err(|e| StorageError::io(&dir, e))?;
        log.set_dir(&target);
        let spawned = std::thread::Builder::new()
            .name("tidewater-log-delete".into())
            .spawn(move || {
                if let Err(e) = std::fs::remove_dir_all(&target) {
                    tracing::warn!(dir = %target.display(), error = %e, "could not remove deleted log");
                }
            });
        if let Err(e) = spawned {
            return Err(StorageError::io(dir, e));
        }
        self.checkpoint_all()?;
        Ok(())
    }

    /// Writes the per-log-dir checkpoint files.
    pub fn checkpoint_all(&self) -> Result<(), StorageError> {
        let logs = sync::read(&self.logs);
        for (i, dir) in self.config.log_dirs.iter().enumerate() {
            let mut maps: [BTreeMap<TopicPartition, i64>; 4] = Default::default();
            for (tp, (d, log)) in logs.iter() {
                if *d != i {
                    continue;
                }
                maps[0].insert(tp.clone(), log.recovery_point());
                maps[1].insert(tp.clone(), log.log_start_offset());
                maps[2].insert(tp.clone(), log.high_watermark());
                maps[3].insert(tp.clone(), log.cleaner_offset());
            }
            for (map, name) in maps.iter().zip([
                checkpoint::RECOVERY_POINT_FILE,
                checkpoint::LOG_START_FILE,
                checkpoint::HIGH_WATERMARK_FILE,
                checkpoint::CLEANER_FILE,
            ]) {
                checkpoint::write_offsets(&dir.join(name), map)?;
            }
        }
        Ok(())
    }

    /// Stops background work, flushes and fsyncs everything, writes checkpoints and the
    /// clean-shutdown marker. Idempotent.
    pub fn shutdown(&self) -> Result<(), StorageError> {
        if self.shut_down.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        self.stop.stop();
        let threads: Vec<_> = sync::lock(&self.threads).drain(..).collect();
        for t in threads {
            let _ = t.join();
        }
        let started = std::time::Instant::now();
        let logs = self.logs();
        if let Some(e) = close_logs(&logs) {
            return Err(e);
        }
        tracing::info!(
            logs = logs.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "closed logs"
        );
        self.checkpoint_all()?;
        for dir in &self.config.log_dirs {
            checkpoint::write_atomically(&dir.join(CLEAN_SHUTDOWN_FILE), b"")?;
        }
        Ok(())
    }

    /// For DescribeLogDirs.
    pub fn log_dir_infos(&self) -> Vec<LogDirInfo> {
        let logs = sync::read(&self.logs);
        let mut per_dir: HashMap<usize, Vec<(TopicPartition, u64, i64)>> = HashMap::new();
        for (tp, (d, log)) in logs.iter() {
            let lag = log.log_end_offset() - log.high_watermark();
            per_dir
                .entry(*d)
                .or_default()
                .push((tp.clone(), log.size_in_bytes(), lag.max(0)));
        }
        self.config
            .log_dirs
            .iter()
            .enumerate()
            .map(|(i, path)| {
                let (total_bytes, usable_bytes) = match rustix::fs::statvfs(path) {
                    Ok(s) => (
                        s.f_blocks.saturating_mul(s.f_frsize),
                        s.f_bavail.saturating_mul(s.f_frsize),
                    ),
                    Err(_) => (0, 0),
                };
                LogDirInfo {
                    path: path.clone(),
                    total_bytes,
                    usable_bytes,
                    partitions: per_dir.remove(&i).unwrap_or_default(),
                }
            })
            .collect()
    }
}

impl Drop for LogManager {
    fn drop(&mut self) {
        // Background threads hold only weak references; wake them so they exit.
        self.stop.stop();
    }
}

type Opened = Vec<(TopicPartition, Arc<Log>)>;

/// Opens partition dirs with up to `threads` threads (num.recovery.threads.per.data.dir).
fn open_parallel(
    to_open: &[(TopicPartition, PathBuf)],
    threads: usize,
    config: &LogConfig,
    params: &(dyn Fn(&TopicPartition) -> LoadParams + Sync),
) -> Result<Opened, StorageError> {
    let chunk = to_open.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = to_open
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || -> Result<Opened, StorageError> {
                    part.iter()
                        .map(|(tp, path)| {
                            Log::open(path, tp.clone(), config.clone(), params(tp))
                                .map(|l| (tp.clone(), l))
                        })
                        .collect()
                })
            })
            .collect();
        let mut out = Vec::new();
        for h in handles {
            match h.join() {
                Ok(r) => out.extend(r?),
                Err(_) => {
                    return Err(StorageError::Corrupt {
                        path: PathBuf::new(),
                        reason: "a recovery thread panicked".into(),
                    });
                }
            }
        }
        Ok(out)
    })
}

/// How many logs are closed at once on shutdown. Closing is mostly waiting for fsync
/// (Kafka closes logs on `num.recovery.threads.per.data.dir` threads); a few threads
/// keep the device busy without a thread per partition.
const CLOSE_THREADS: usize = 8;

/// Closes every log (flush, producer snapshot, pending deletes) on a few threads; the
/// first error, if any, after every log was tried.
fn close_logs(logs: &[(TopicPartition, Arc<Log>)]) -> Option<StorageError> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let first_err: Mutex<Option<StorageError>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..CLOSE_THREADS.min(logs.len()) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((tp, log)) = logs.get(i) else { break };
                    if let Err(e) = log.close().and_then(|()| log.delete_pending_files(0, true)) {
                        tracing::error!(partition = %tp, error = %e, "closing log failed");
                        sync::lock(&first_err).get_or_insert(e);
                    }
                }
            });
        }
    });
    first_err.into_inner().unwrap_or_else(|p| p.into_inner())
}
