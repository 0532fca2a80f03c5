//! The LogManager's background threads: a scheduler (flush.ms, retention checks every
//! log.retention.check.interval.ms, checkpoints, delayed file deletion) and the log
//! cleaner. Both wait on a condition variable, so shutdown wakes them at once.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use super::LogManager;
use crate::log::now_ms;
use crate::sync;
use crate::{Log, TopicPartition};

/// How often the cleaner looks for logs to compact (Kafka's log.cleaner.backoff.ms).
const CLEANER_BACKOFF_MS: u64 = 15_000;
/// Kafka's log.flush.offset.checkpoint.interval.ms.
const CHECKPOINT_INTERVAL_MS: i64 = 60_000;

#[derive(Default)]
pub(super) struct Stop {
    stopped: Mutex<bool>,
    cv: Condvar,
}

impl Stop {
    /// Waits up to `ms`; true when shutdown was requested.
    pub(super) fn wait(&self, ms: u64) -> bool {
        let guard = sync::lock(&self.stopped);
        if *guard {
            return true;
        }
        let (guard, _) = self
            .cv
            .wait_timeout(guard, Duration::from_millis(ms))
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *guard
    }
    pub(super) fn stop(&self) {
        *sync::lock(&self.stopped) = true;
        self.cv.notify_all();
    }
}

impl LogManager {
    /// Starts the scheduler (retention, flush, checkpoints, delayed deletes) and the
    /// cleaner thread. Stopped by `shutdown()`.
    pub fn start_background_tasks(self: &Arc<Self>) {
        let mut threads = sync::lock(&self.threads);
        if !threads.is_empty() || self.shut_down.load(Ordering::Acquire) {
            return;
        }
        let me = Arc::downgrade(self);
        let stop = self.stop.clone();
        let tick = self
            .config
            .flush_check_interval_ms
            .min(self.config.retention_check_interval_ms)
            .clamp(10, 1_000);
        let scheduler = std::thread::Builder::new()
            .name("tidewater-log-scheduler".into())
            .spawn(move || {
                let mut last_retention = now_ms();
                let mut last_checkpoint = now_ms();
                while !stop.wait(tick) {
                    let Some(mgr) = me.upgrade() else { return };
                    let now = now_ms();
                    mgr.run_flush_once(now);
                    if now - last_retention >= mgr.config.retention_check_interval_ms as i64 {
                        mgr.run_retention_once(now);
                        last_retention = now;
                    }
                    if now - last_checkpoint >= CHECKPOINT_INTERVAL_MS {
                        if let Err(e) = mgr.checkpoint_all() {
                            tracing::error!(error = %e, "checkpoint failed");
                        }
                        last_checkpoint = now;
                    }
                }
            });
        let me = Arc::downgrade(self);
        let stop = self.stop.clone();
        let cleaner = std::thread::Builder::new()
            .name("tidewater-log-cleaner".into())
            .spawn(move || {
                while !stop.wait(CLEANER_BACKOFF_MS) {
                    let Some(mgr) = me.upgrade() else { return };
                    mgr.run_cleaner_once(now_ms());
                }
            });
        for t in [scheduler, cleaner] {
            match t {
                Ok(h) => threads.push(h),
                Err(e) => tracing::error!(error = %e, "could not start log background thread"),
            }
        }
    }

    /// One retention pass over every log plus removal of due `.deleted` files.
    pub fn run_retention_once(&self, now: i64) {
        for (tp, log) in self.logs() {
            if let Err(e) = log.delete_old_segments(now) {
                tracing::error!(partition = %tp, error = %e, "retention failed");
            }
            log.expire_producers(now);
            if let Err(e) = log.delete_pending_files(now, false) {
                tracing::error!(partition = %tp, error = %e, "removing deleted segments failed");
            }
        }
    }

    /// Compacts every log whose policy and dirty ratio call for it.
    pub fn run_cleaner_once(&self, now: i64) {
        for (tp, log) in self.logs() {
            if let Err(e) = log.compact(now) {
                tracing::error!(partition = %tp, error = %e, "compaction failed");
            }
        }
    }

    fn run_flush_once(&self, now: i64) {
        // Only the logs due are taken out of the map: cloning every name and handle
        // each second was a sixth of an idle broker's CPU at 10,000 partitions, and
        // with the default `flush.ms` (never) no log is ever due.
        let due: Vec<(TopicPartition, Arc<Log>)> = sync::read(&self.logs)
            .iter()
            .filter(|(_, (_, log))| log.flush_due(now))
            .map(|(tp, (_, log))| (tp.clone(), log.clone()))
            .collect();
        for (tp, log) in due {
            if let Err(e) = log.flush_if_due(now) {
                tracing::error!(partition = %tp, error = %e, "flush failed");
            }
        }
    }
}
