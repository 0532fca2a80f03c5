//! drive: the IO shell around [`super::executor`]. Each reconcile it reads the
//! cluster through `tidewater-client` (Metadata, ListPartitionReassignments,
//! DescribeLogDirs), asks the state machine for the next step, performs it
//! (IncrementalAlterConfigs for throttles, AlterPartitionReassignments, preferred
//! ElectLeaders) and returns the new `status.rebalance`, Events, and the brokers
//! verified empty (the only ones a runtime may remove). Both runtimes call it.
//!
//! Never blind: when the brokers cannot be read, the status stays as it was and no
//! broker counts as empty. Throttles are removed when a plan ends, fails or is
//! cancelled.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use tidewater_client::{AdminClient, ClientConfig, ClientError, ConfigResource, Reassignment};

use crate::identity::AdminAccess;

use super::executor::{self, Controls, Observation, Step};
use super::outcome::Outcome;
use super::read::{Read, check_empty, log_dirs, read};
use super::throttle::{self, FOLLOWER_RATE, FOLLOWER_REPLICAS, LEADER_RATE, LEADER_REPLICAS};
use super::{BatchPolicy, ClusterView, Move, PartitionView, PlanError};
use crate::crd::{PlannedMove, RebalancePhase, RebalanceSpec, RebalanceStatus};

/// Reason of the `Degraded` condition while a scale-in is refused.
pub const SCALE_IN_BLOCKED: &str = PlanError::REASON;
/// BROKER_ID_NOT_REGISTERED: unregistering a broker that never registered is done.
const BROKER_ID_NOT_REGISTERED: i16 = 102;

/// A failure talking to the brokers; the step is retried next reconcile.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {source}")]
pub struct DriveError {
    what: &'static str,
    #[source]
    source: ClientError,
}

pub(super) fn ctx(what: &'static str) -> impl FnOnce(ClientError) -> DriveError {
    move |source| DriveError { what, source }
}

/// Client settings: a reconcile must not hang on a dead broker.
pub(super) fn config() -> ClientConfig {
    ClientConfig {
        client_id: "tidewater-operator-rebalance".to_owned(),
        connect_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(10),
    }
}

/// `spec.rebalance` at `now` as the state machine's controls.
pub fn controls(spec: Option<&RebalanceSpec>, now: Timestamp) -> Controls {
    let spec = spec.cloned().unwrap_or_default();
    let minute = u32::try_from(now.as_second().rem_euclid(86_400) / 60).unwrap_or(0);
    Controls {
        throttle: spec.throttle_bytes_per_second,
        paused: spec.paused,
        cancel: spec.cancel,
        in_quiet_hours: spec
            .quiet_hours
            .as_deref()
            .is_none_or(|w| executor::in_quiet_hours(w, minute).unwrap_or(false)),
        generation: spec.generation,
    }
}

/// One reconcile of the rebalance of the brokers reachable through `bootstrap` (as
/// `access` says), keeping `keep` (the desired broker ids) and draining every other
/// registered broker.
pub async fn drive(
    bootstrap: &str,
    access: &AdminAccess,
    keep: &[i32],
    spec: Option<&RebalanceSpec>,
    previous: Option<&RebalanceStatus>,
    now: Timestamp,
) -> Outcome {
    let admin = match crate::admin::connect(bootstrap, access, config()).await {
        Ok(a) => a,
        Err(e) => {
            tracing::debug!(error = %e, "rebalance: brokers unreachable; nothing changes");
            return Outcome::unchanged(previous);
        }
    };
    match step(&admin, keep, spec, previous, now).await {
        Ok(o) => o,
        Err(e) => {
            tracing::warn!(error = %e, "rebalance step failed; retried next reconcile");
            let mut o = Outcome::unchanged(previous);
            o.events
                .push(("Warning", "RebalanceStepFailed", e.to_string()));
            o
        }
    }
}

async fn step(
    admin: &AdminClient,
    keep: &[i32],
    spec: Option<&RebalanceSpec>,
    previous: Option<&RebalanceStatus>,
    now: Timestamp,
) -> Result<Outcome, DriveError> {
    let r = read(admin).await?;
    let c = controls(spec, now);
    let obs = Observation {
        keep: keep.to_vec(),
        all_registered: keep.iter().all(|b| r.brokers.contains_key(b)),
        replicas: r
            .partitions
            .iter()
            .map(|(k, (replicas, _))| (k.clone(), replicas.clone()))
            .collect(),
        ongoing: r.ongoing.clone(),
    };
    let mut out = Outcome::unchanged(previous);
    let mut s = previous.cloned();
    if let Some(s) = s.as_mut()
        && executor::advance(s, &obs)
    {
        out.events.push((
            "Normal",
            "RebalanceBatchDone",
            format!("batch {} of {} done", s.current_batch, s.batches),
        ));
    }
    match executor::next(s.as_ref(), &obs, &c) {
        Step::Idle | Step::Wait => {}
        Step::Hold { reason } => {
            if let Some(s) = s.as_mut().filter(|s| executor::active(s)) {
                s.phase = RebalancePhase::Waiting;
                s.message = Some(reason.to_owned());
            }
        }
        Step::Plan { trigger } => {
            let (planned, event) = plan(admin, &r, keep, spec, &c, trigger, now).await;
            // A refusal retried every reconcile is reported once per distinct message.
            if previous.is_none_or(|p| p.message != planned.message || planned.phase != p.phase) {
                out.events.push(event);
            }
            s = Some(planned);
        }
        Step::Submit { batch } => {
            if let Some(s) = s.as_mut() {
                submit(admin, &r, s, &batch, &c, &mut out).await?;
            }
        }
        Step::Finish => {
            if let Some(s) = s.as_mut() {
                clear_throttles(admin, &r, s).await?;
                let failed = admin
                    .elect_preferred_leaders(None)
                    .await
                    .map_err(ctx("ElectLeaders"))?;
                s.phase = RebalancePhase::Done;
                s.throttle_bytes_per_second = None;
                s.eta_seconds = Some(0);
                s.message = (!failed.is_empty())
                    .then(|| format!("preferred leader election failed for {failed:?}"));
                out.events.push((
                    "Normal",
                    "RebalanceDone",
                    format!(
                        "moved {} partitions ({} bytes); throttles removed, preferred leaders elected",
                        s.partitions_moved, s.bytes_moved
                    ),
                ));
            }
        }
        Step::Cancel { ongoing } => {
            if let Some(s) = s.as_mut() {
                let cancel: Vec<Reassignment> = ongoing
                    .into_iter()
                    .map(|(topic, partition)| Reassignment {
                        topic,
                        partition,
                        target: None,
                    })
                    .collect();
                admin
                    .alter_partition_reassignments(&cancel)
                    .await
                    .map_err(ctx("cancelling reassignments"))?;
                clear_throttles(admin, &r, s).await?;
                fail(s, "cancelled by spec.rebalance.cancel".to_owned(), &mut out);
            }
        }
    }
    if let Some(s) = s.as_mut().filter(|s| executor::active(s)) {
        let elapsed = s
            .started_at
            .as_deref()
            .and_then(|t| t.parse::<Timestamp>().ok())
            .map_or(0, |t| now.as_second() - t.as_second());
        s.eta_seconds = executor::eta_seconds(s, elapsed);
    }
    if let Some(s) = s.as_ref().filter(|s| {
        s.phase == RebalancePhase::Failed && !s.draining.is_empty() && s.moves.is_empty()
    }) {
        out.blocked = Some((SCALE_IN_BLOCKED, s.message.clone().unwrap_or_default()));
    }
    out.empty = Some(check_empty(admin, &r, keep).await);
    out.status = s;
    Ok(out)
}

fn fail(s: &mut RebalanceStatus, message: String, out: &mut Outcome) {
    s.phase = RebalancePhase::Failed;
    s.submitted = false;
    s.throttle_bytes_per_second = None;
    s.eta_seconds = None;
    out.events
        .push(("Warning", "RebalanceFailed", message.clone()));
    s.message = Some(message);
}

/// A new plan from the cluster as read; a refusal is a Failed status naming the topic.
async fn plan(
    admin: &AdminClient,
    r: &Read,
    keep: &[i32],
    spec: Option<&RebalanceSpec>,
    c: &Controls,
    trigger: String,
    now: Timestamp,
) -> (RebalanceStatus, (&'static str, &'static str, String)) {
    let drain: BTreeSet<i32> = r
        .brokers
        .keys()
        .copied()
        .filter(|b| !keep.contains(b))
        .collect();
    let mut sizes: BTreeMap<(String, i32), u64> = BTreeMap::new();
    for addr in r.addrs.values() {
        // A broker whose sizes cannot be read only makes the ETA rougher.
        if let Ok(dirs) = log_dirs(admin, addr).await {
            for (k, v) in dirs {
                let e = sizes.entry(k).or_insert(0);
                *e = (*e).max(v);
            }
        }
    }
    let view = ClusterView {
        brokers: r.brokers.clone(),
        partitions: r
            .partitions
            .iter()
            .map(|((topic, partition), (replicas, _))| PartitionView {
                topic: topic.clone(),
                partition: *partition,
                replicas: replicas.clone(),
                size_bytes: sizes
                    .get(&(topic.clone(), *partition))
                    .copied()
                    .unwrap_or(0),
            })
            .collect(),
    };
    let mut keep_sorted = keep.to_vec();
    keep_sorted.sort_unstable();
    let max_in_flight = spec
        .and_then(|s| s.max_partitions_in_flight)
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(BatchPolicy::default().max_partitions);
    let mut s = RebalanceStatus {
        phase: RebalancePhase::Planning,
        trigger: trigger.clone(),
        brokers: keep_sorted,
        draining: drain.iter().copied().collect(),
        generation: c.generation,
        batch_size: i32::try_from(max_in_flight).unwrap_or(i32::MAX),
        started_at: Some(now.to_string()),
        ..RebalanceStatus::default()
    };
    match super::plan(&view, &drain) {
        Err(e) => {
            let message = format!("{e}; nothing was changed");
            s.phase = RebalancePhase::Failed;
            s.message = Some(message.clone());
            (s, ("Warning", SCALE_IN_BLOCKED, message))
        }
        Ok(p) => {
            s.moves = p
                .moves
                .iter()
                .map(|m| PlannedMove {
                    topic: m.topic.clone(),
                    partition: m.partition,
                    from: m.from.clone(),
                    to: m.to.clone(),
                    bytes: i64::try_from(m.bytes).unwrap_or(i64::MAX),
                })
                .collect();
            s.batches = i32::try_from(super::ranges(&s.moves, |m| &m.topic, max_in_flight).len())
                .unwrap_or(i32::MAX);
            s.partitions_total = i32::try_from(s.moves.len()).unwrap_or(i32::MAX);
            s.bytes_total = s.moves.iter().map(|m| m.bytes).sum();
            let note = format!(
                "{trigger}: {} partitions, {} bytes in {} batches",
                s.partitions_total, s.bytes_total, s.batches
            );
            (s, ("Normal", "RebalanceStarted", note))
        }
    }
}

fn as_move(m: &PlannedMove) -> Move {
    Move {
        topic: m.topic.clone(),
        partition: m.partition,
        from: m.from.clone(),
        to: m.to.clone(),
        bytes: u64::try_from(m.bytes).unwrap_or(0),
    }
}

/// Throttle first (as `kafka-reassign-partitions --throttle`), then the moves.
async fn submit(
    admin: &AdminClient,
    r: &Read,
    s: &mut RebalanceStatus,
    batch: &[PlannedMove],
    c: &Controls,
    out: &mut Outcome,
) -> Result<(), DriveError> {
    let moves: Vec<Move> = batch.iter().map(as_move).collect();
    let t = throttle::for_moves(&moves);
    if let Some(rate) = c.throttle.filter(|_| !t.is_empty()) {
        for b in &t.brokers {
            admin
                .incremental_alter_configs(
                    &ConfigResource::Broker(*b),
                    &[
                        (LEADER_RATE, Some(rate.to_string())),
                        (FOLLOWER_RATE, Some(rate.to_string())),
                    ],
                )
                .await
                .map_err(ctx("setting the broker throttle"))?;
        }
        for (topic, (leaders, followers)) in &t.topics {
            admin
                .incremental_alter_configs(
                    &ConfigResource::Topic(topic.clone()),
                    &[
                        (LEADER_REPLICAS, Some(leaders.clone())),
                        (FOLLOWER_REPLICAS, Some(followers.clone())),
                    ],
                )
                .await
                .map_err(ctx("setting the topic throttle"))?;
        }
    }
    let targets: Vec<Reassignment> = batch
        .iter()
        .map(|m| Reassignment {
            topic: m.topic.clone(),
            partition: m.partition,
            target: Some(m.to.clone()),
        })
        .collect();
    let refused = admin
        .alter_partition_reassignments(&targets)
        .await
        .map_err(ctx("AlterPartitionReassignments"))?;
    if !refused.is_empty() {
        // The rest of the batch is cancelled too: a plan runs whole or not at all.
        let cancel: Vec<Reassignment> = targets
            .into_iter()
            .map(|m| Reassignment { target: None, ..m })
            .collect();
        admin
            .alter_partition_reassignments(&cancel)
            .await
            .map_err(ctx("cancelling a refused batch"))?;
        clear_throttles(admin, r, s).await?;
        fail(s, format!("the controller refused moves: {refused:?}"), out);
        return Ok(());
    }
    s.submitted = true;
    s.phase = if c.throttle.is_some() && !t.is_empty() {
        RebalancePhase::Throttled
    } else {
        RebalancePhase::Moving
    };
    s.throttle_bytes_per_second = c.throttle.filter(|_| !t.is_empty());
    s.message = None;
    out.events.push((
        "Normal",
        "RebalanceBatchStarted",
        format!(
            "batch {} of {}: {} partitions of topic {}",
            s.current_batch + 1,
            s.batches,
            batch.len(),
            batch.first().map_or("", |m| m.topic.as_str())
        ),
    ));
    Ok(())
}

/// Deletes both rates on every live broker and both replica lists on every topic of
/// the plan (deleting an unset config is a no-op, as in Kafka).
async fn clear_throttles(
    admin: &AdminClient,
    r: &Read,
    s: &RebalanceStatus,
) -> Result<(), DriveError> {
    for b in r.brokers.keys() {
        admin
            .incremental_alter_configs(
                &ConfigResource::Broker(*b),
                &[(LEADER_RATE, None), (FOLLOWER_RATE, None)],
            )
            .await
            .map_err(ctx("removing the broker throttle"))?;
    }
    let topics: BTreeSet<&str> = s.moves.iter().map(|m| m.topic.as_str()).collect();
    for topic in topics {
        admin
            .incremental_alter_configs(
                &ConfigResource::Topic(topic.to_owned()),
                &[(LEADER_REPLICAS, None), (FOLLOWER_REPLICAS, None)],
            )
            .await
            .map_err(ctx("removing the topic throttle"))?;
    }
    Ok(())
}

/// UnregisterBroker after the runtime stopped and removed `id`; an id that never
/// registered is done too.
pub async fn unregister(bootstrap: &str, access: &AdminAccess, id: i32) -> Result<(), DriveError> {
    let admin = crate::admin::connect(bootstrap, access, config())
        .await
        .map_err(ctx("connecting to unregister"))?;
    match admin.unregister_broker(id).await {
        Ok(()) => Ok(()),
        Err(ClientError::Protocol { code, .. }) if code == BROKER_ID_NOT_REGISTERED => Ok(()),
        Err(e) => Err(ctx("UnregisterBroker")(e)),
    }
}
