//! The plan's state machine, sans-IO: from `status.rebalance` (the plan and where it
//! is), what the brokers show now (replicas from Metadata, moves in progress from
//! ListPartitionReassignments) and `spec.rebalance`, decide the one next step. The
//! driver performs it and writes the status back, so an operator killed at any point
//! resumes the same plan: a batch marked submitted is waited on (resubmitting it would
//! be harmless too: a target equal to the ongoing one changes nothing), never replanned.

use std::collections::{BTreeMap, BTreeSet};

use crate::crd::{PlannedMove, RebalancePhase, RebalanceStatus};

/// `spec.rebalance` as the state machine needs it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Controls {
    /// Replication throttle, bytes/s.
    pub throttle: Option<i64>,
    /// No new batch starts.
    pub paused: bool,
    /// Cancel the plan in progress.
    pub cancel: bool,
    /// Whether now is inside the quiet hours (true when none are set).
    pub in_quiet_hours: bool,
    /// `spec.rebalance.generation`.
    pub generation: Option<i64>,
}

/// What the brokers show now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observation {
    /// Brokers to keep (the desired ones).
    pub keep: Vec<i32>,
    /// Whether every broker to keep is registered (a new one may still be starting).
    pub all_registered: bool,
    /// Current replicas by (topic, partition).
    pub replicas: BTreeMap<(String, i32), Vec<i32>>,
    /// Partitions with a reassignment in progress.
    pub ongoing: BTreeSet<(String, i32)>,
}

/// The one next step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Nothing to do.
    Idle,
    /// Make a new plan (the old one, if any, is finished or between batches).
    Plan { trigger: String },
    /// Set the throttle for the batch and submit it.
    Submit { batch: Vec<PlannedMove> },
    /// The submitted batch is still moving.
    Wait,
    /// The next batch may not start yet.
    Hold { reason: &'static str },
    /// Every batch is done: clear throttles, elect preferred leaders.
    Finish,
    /// Cancel the moves in flight, clear throttles.
    Cancel { ongoing: Vec<(String, i32)> },
}

/// Whether a plan is still running (not Done or Failed).
pub fn active(s: &RebalanceStatus) -> bool {
    !matches!(s.phase, RebalancePhase::Done | RebalancePhase::Failed)
}

fn current_batch(s: &RebalanceStatus) -> &[PlannedMove] {
    let size = usize::try_from(s.batch_size).unwrap_or(1);
    let index = usize::try_from(s.current_batch).unwrap_or(usize::MAX);
    super::batches::ranges(&s.moves, |m| &m.topic, size)
        .get(index)
        .map_or(&[], |r| &s.moves[r.clone()])
}

/// A move is done when the partition has exactly the target replicas (in any order:
/// the controller keeps the target's) and no reassignment of it is listed.
fn done(m: &PlannedMove, obs: &Observation) -> bool {
    let key = (m.topic.clone(), m.partition);
    let mut now = obs.replicas.get(&key).cloned().unwrap_or_default();
    let mut target = m.to.clone();
    now.sort_unstable();
    target.sort_unstable();
    now == target && !obs.ongoing.contains(&key)
}

/// Counts a finished batch: the status moves to the next one. Returns whether it did.
pub fn advance(s: &mut RebalanceStatus, obs: &Observation) -> bool {
    if !active(s) || !s.submitted {
        return false;
    }
    let batch = current_batch(s);
    if batch.is_empty() || !batch.iter().all(|m| done(m, obs)) {
        return false;
    }
    let moved = i32::try_from(batch.len()).unwrap_or(i32::MAX);
    let bytes: i64 = batch.iter().map(|m| m.bytes).sum();
    s.partitions_moved = s.partitions_moved.saturating_add(moved);
    s.bytes_moved = s.bytes_moved.saturating_add(bytes);
    s.current_batch += 1;
    s.submitted = false;
    true
}

/// Why a new plan is due, if one is.
fn trigger(s: Option<&RebalanceStatus>, obs: &Observation, c: &Controls) -> Option<String> {
    let Some(s) = s else {
        return Some("first plan".to_owned());
    };
    // A refused plan (nothing moved) is retried: the topic that blocked it may be gone.
    if s.phase == RebalancePhase::Failed && s.moves.is_empty() && !s.draining.is_empty() {
        return Some(s.trigger.clone());
    }
    let mut keep = obs.keep.clone();
    keep.sort_unstable();
    if s.brokers != keep {
        return Some(if keep.len() < s.brokers.len() {
            "scale-in".to_owned()
        } else {
            "scale-out".to_owned()
        });
    }
    match c.generation {
        Some(g) if s.generation != Some(g) => Some(format!("generation {g}")),
        _ => None,
    }
}

/// The next step for `s` (already advanced with [`advance`]).
pub fn next(s: Option<&RebalanceStatus>, obs: &Observation, c: &Controls) -> Step {
    let running = s.filter(|s| active(s));
    if c.cancel {
        return match running {
            Some(s) => Step::Cancel {
                ongoing: current_batch(s)
                    .iter()
                    .map(|m| (m.topic.clone(), m.partition))
                    .filter(|k| obs.ongoing.contains(k))
                    .collect(),
            },
            None => Step::Idle,
        };
    }
    // A batch in flight always finishes first, whatever changed meanwhile.
    if running.is_some_and(|s| s.submitted) {
        return Step::Wait;
    }
    if let Some(trigger) = trigger(s, obs, c) {
        if !obs.all_registered {
            return Step::Hold {
                reason: "waiting for every broker to register",
            };
        }
        return Step::Plan { trigger };
    }
    let Some(s) = running else {
        return Step::Idle;
    };
    if s.current_batch >= s.batches {
        return Step::Finish;
    }
    if c.paused {
        return Step::Hold {
            reason: "spec.rebalance.paused is set",
        };
    }
    if !c.in_quiet_hours {
        return Step::Hold {
            reason: "outside spec.rebalance.quietHours",
        };
    }
    Step::Submit {
        batch: current_batch(s).to_vec(),
    }
}

/// Seconds left: remaining bytes at the rate achieved since `elapsed_s` (or, before
/// any progress, at the throttle). `None` when neither is known.
pub fn eta_seconds(s: &RebalanceStatus, elapsed_s: i64) -> Option<i64> {
    let left = s.bytes_total.saturating_sub(s.bytes_moved).max(0);
    let rate = if s.bytes_moved > 0 && elapsed_s > 0 {
        Some(s.bytes_moved / elapsed_s)
    } else {
        s.throttle_bytes_per_second
    };
    rate.filter(|r| *r > 0).map(|r| left / r)
}

/// Whether `minute_of_day` (UTC) is inside `window` (`HH:MM-HH:MM`, may wrap
/// midnight). `None` when the window does not parse (the CRD pattern prevents that).
pub fn in_quiet_hours(window: &str, minute_of_day: u32) -> Option<bool> {
    let parse = |hm: &str| -> Option<u32> {
        let (h, m) = hm.split_once(':')?;
        Some(h.parse::<u32>().ok()? * 60 + m.parse::<u32>().ok()?)
    };
    let (from, to) = window.split_once('-')?;
    let (from, to) = (parse(from)?, parse(to)?);
    Some(if from <= to {
        (from..to).contains(&minute_of_day)
    } else {
        minute_of_day >= from || minute_of_day < to
    })
}
