//! The leader side of replication: appends from producers (acks=all parked until the
//! ISR has the records), serving follower fetches (which move the high watermark and
//! grow the ISR), the periodic ISR shrink / produce timeout tick, and AlterPartition
//! requests to the controller.

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::ResponseError;
use tidewater_replication::{FollowerFetch, LeaderFetchResponse, ReplicaError};
use tidewater_storage::producer_state::TxnVerification;
use tidewater_storage::{AppendError, LogAppendInfo};
use tokio::sync::oneshot;

use super::ReplicaManager;
use super::{AckResult, Partition, Role};
use crate::clock::{mono_ms, now_ms};
use crate::metrics::LeaderCounts;

/// Why a produce to a replicated partition failed before or at the append.
pub enum ProduceRefusal {
    Replica(ReplicaError),
    Append(AppendError),
}

impl ProduceRefusal {
    pub fn error(&self) -> ResponseError {
        match self {
            ProduceRefusal::Replica(e) => e.error(),
            ProduceRefusal::Append(e) => e.error(),
        }
    }

    /// The code for the partition response's `error_code` field.
    pub fn error_code(&self) -> i16 {
        self.error().code()
    }

    pub fn message(&self) -> String {
        match self {
            ProduceRefusal::Replica(e) => e.to_string(),
            ProduceRefusal::Append(e) => e.to_string(),
        }
    }
}

impl Partition {
    /// Appends a producer's records as leader. For acks=all the returned receiver
    /// answers once the ISR has them (or the request timed out / the ISR fell below
    /// min.insync.replicas after the append).
    pub fn append_as_leader_replica(
        &self,
        node_id: i32,
        records: &[u8],
        acks_all: bool,
        timeout_ms: i32,
    ) -> Result<(LogAppendInfo, Option<oneshot::Receiver<AckResult>>), ProduceRefusal> {
        self.append_verified_as_leader_replica(
            node_id,
            records,
            acks_all,
            timeout_ms,
            TxnVerification::NotRequired,
        )
    }

    /// [`Partition::append_as_leader_replica`] with KIP-890 transaction verification
    /// (the produce handler took the guard and asked the transaction coordinator).
    pub fn append_verified_as_leader_replica(
        &self,
        node_id: i32,
        records: &[u8],
        acks_all: bool,
        timeout_ms: i32,
        verification: TxnVerification,
    ) -> Result<(LogAppendInfo, Option<oneshot::Receiver<AckResult>>), ProduceRefusal> {
        self.append_leader(node_id, records, acks_all, timeout_ms, Some(verification))
    }

    /// As [`Partition::append_as_leader_replica`] for the transaction markers of a
    /// WriteTxnMarkers request (control batches, which producers may not write).
    pub fn append_markers_as_leader_replica(
        &self,
        node_id: i32,
        records: &[u8],
        timeout_ms: i32,
    ) -> Result<(LogAppendInfo, Option<oneshot::Receiver<AckResult>>), ProduceRefusal> {
        self.append_leader(node_id, records, true, timeout_ms, None)
    }

    fn append_leader(
        &self,
        node_id: i32,
        records: &[u8],
        acks_all: bool,
        timeout_ms: i32,
        // `None`: the coordinator's markers; else a producer's records.
        producer: Option<TxnVerification>,
    ) -> Result<(LogAppendInfo, Option<oneshot::Receiver<AckResult>>), ProduceRefusal> {
        let partition = self;
        let mut inner = partition.lock();
        let refuse = inner.refuse_appends || inner.handoff_to.is_some();
        let Role::Leader(state) = &mut inner.role else {
            return Err(ProduceRefusal::Replica(ReplicaError::NotLeaderOrFollower(
                node_id,
            )));
        };
        if refuse && !acks_all {
            // Draining for a controlled shutdown or handing the leadership over: the
            // client retries against the leader the controller is about to elect. An
            // acks=all append is still taken: it is acknowledged only once the in-sync
            // followers hold it (see `PartitionInner::handover_end`).
            return Err(ProduceRefusal::Replica(ReplicaError::NoLongerLeader));
        }
        state
            .check_produce(acks_all)
            .map_err(ProduceRefusal::Replica)?;
        let epoch = state.leader_epoch();
        let info = match producer {
            None => partition
                .log
                .append_markers_as_leader(records, epoch, now_ms()),
            Some(verification) => {
                partition
                    .log
                    .append_verified_as_leader(records, epoch, now_ms(), verification)
            }
        }
        .map_err(ProduceRefusal::Append)?;
        let now = mono_ms();
        state.on_leader_append(partition.log.log_end_offset(), now);
        if !acks_all {
            inner.handover_end = partition.log.log_end_offset();
        }
        let mut rx = None;
        if acks_all {
            let id = inner.next_request_id;
            inner.next_request_id += 1;
            let (tx, r) = oneshot::channel();
            inner.waiters.insert(id, tx);
            if let Role::Leader(state) = &mut inner.role {
                state.await_acks(
                    id,
                    info.last_offset + 1,
                    u64::try_from(timeout_ms.max(0)).unwrap_or(0),
                    now,
                );
            }
            rx = Some(r);
        }
        if let Role::Leader(state) = &mut inner.role {
            let done = state.take_completions();
            inner.deliver(done);
        }
        inner.sync_high_watermark(&partition.log);
        Ok((info, rx))
    }
}

impl Partition {
    /// The leader's replication state in one line (high watermark, log end, ISR, each
    /// follower's position and fetch age) for the log line of a timed-out acks=all wait.
    pub fn describe_leader(&self) -> String {
        let inner = self.lock();
        let Role::Leader(state) = &inner.role else {
            return format!("not leader (epoch {})", inner.role.leader_epoch());
        };
        let now = mono_ms();
        let followers: Vec<String> = state
            .replicas()
            .iter()
            .filter_map(|id| state.follower(*id).map(|v| (id, v)))
            .map(|(id, v)| {
                format!(
                    "{id}: leo {} fetched {} ms ago",
                    v.log_end_offset,
                    now.saturating_sub(v.last_fetch_time_ms)
                )
            })
            .collect();
        format!(
            "epoch {} hw {} leo {} isr {:?} maximal isr {:?} followers [{}]",
            state.leader_epoch(),
            state.high_watermark(),
            self.log.log_end_offset(),
            state.isr(),
            state.maximal_isr(),
            followers.join(", ")
        )
    }
}

impl ReplicaManager {
    /// A follower's fetch of one partition: validates it against the leader state and
    /// records the follower's position. Completed acks=all requests are answered and a
    /// needed ISR change is sent to the controller. Also answers whether the follower
    /// is in the ISR now (the replication throttle spares in-sync followers).
    pub fn on_follower_fetch(
        &self,
        partition: &Arc<Partition>,
        fetch: &FollowerFetch,
        now_ms: u64,
    ) -> Result<(LeaderFetchResponse, bool), ReplicaError> {
        let mut inner = partition.lock();
        let Role::Leader(state) = &mut inner.role else {
            return Err(ReplicaError::NotLeaderOrFollower(self.node_id));
        };
        // DeleteRecords and retention move the log start offset underneath the state.
        state.on_log_start_offset(partition.log.log_start_offset());
        let answer = state
            .on_fetch_with(fetch, || partition.epochs(), now_ms)
            .map(|a| (a, state.isr().contains(&fetch.replica_id)));
        let done = state.take_completions();
        let alter = state.take_alter_partition();
        inner.deliver(done);
        if inner.sync_high_watermark(&partition.log) {
            self.notifier().notify();
        }
        drop(inner);
        if let Some(req) = alter {
            self.send_alter_partition(partition.clone(), req);
        }
        answer
    }

    /// Starts the leader tick (produce timeouts, ISR shrink, high watermark moves) and
    /// the sender of the ISR changes it proposes.
    pub(crate) fn start_leader_ticks(self: &Arc<Self>) {
        let replicas = Arc::downgrade(self);
        let period = Duration::from_millis((self.settings.lag_time_max_ms / 4).clamp(50, 1000));
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(replicas) = replicas.upgrade() else {
                    return;
                };
                replicas.tick_leaders();
            }
        });
        self.add_task(task);
        self.start_alter_partition_sender();
        self.start_handoff_sender();
    }

    fn tick_leaders(self: &Arc<Self>) {
        /// A follower that has not fetched for this long while acks=all produces wait
        /// on it is logged (at debug): it is what makes a produce slow.
        const STALLED_FOLLOWER_MS: u64 = 200;
        let now = mono_ms();
        let mut moved = false;
        for p in self.led_partitions() {
            let mut inner = p.lock();
            let Role::Leader(state) = &mut inner.role else {
                continue;
            };
            state.tick(now);
            if let Some((id, view)) = state.holding_high_watermark() {
                let since_fetch_ms = now.saturating_sub(view.last_fetch_time_ms);
                if since_fetch_ms >= STALLED_FOLLOWER_MS {
                    tracing::debug!(
                        tp = %p.tp, follower = id, since_fetch_ms,
                        follower_end = view.log_end_offset, leader_end = state.log_end_offset(),
                        waiting = state.pending_produce_count(),
                        "acks=all produces wait on a follower that stopped fetching"
                    );
                }
            }
            let done = state.take_completions();
            let alter = state.take_alter_partition();
            inner.deliver(done);
            moved |= inner.sync_high_watermark(&p.log);
            drop(inner);
            if let Some(req) = alter {
                self.send_alter_partition(p.clone(), req);
            }
        }
        if moved {
            self.notifier().notify();
        }
    }

    /// The partitions this broker leads: all, under min ISR, under-replicated,
    /// reassigning.
    pub fn leader_counts(&self) -> LeaderCounts {
        let mut counts = LeaderCounts::default();
        let image = self.cluster.image();
        for p in self.all() {
            let inner = p.lock();
            if let Role::Leader(l) = &inner.role {
                counts.all += 1;
                if l.isr().len() < inner.replicas.len() {
                    counts.under_replicated += 1;
                }
                if l.is_under_min_isr() {
                    counts.under_min_isr += 1;
                }
                if image
                    .topic(&p.tp.topic)
                    .and_then(|t| t.partitions.get(&p.tp.partition))
                    .is_some_and(|r| {
                        !r.adding_replicas.is_empty() || !r.removing_replicas.is_empty()
                    })
                {
                    counts.reassigning += 1;
                }
            }
        }
        counts
    }
}

impl super::ReplicaManager {
    /// How many times this broker became the leader of a partition so far.
    /// How long a follower's quiet partition may go unread in its fetch session (see
    /// the replica fetch handler): a quarter of `replica.lag.time.max.ms`, at most 3 s,
    /// so its caught-up time stays well inside the ISR lag bound.
    pub fn quiet_follower_read_ms(&self) -> u64 {
        (self.settings.lag_time_max_ms / 4).min(3_000)
    }

    /// The partitions the leader tick walks: those led here, listed again only after a
    /// partition became leader here or left the map. A follower is never walked — two
    /// thirds of an idle broker's partitions at RF 3, each a lock and cold cache lines
    /// every tick. A partition that stopped leading stays listed (and is skipped) until
    /// the next change.
    fn led_partitions(&self) -> Vec<Arc<Partition>> {
        // Read before the roles: a partition that becomes leader after its role was
        // read bumps the generation, so the next tick lists it.
        let key = (
            self.leader_generation(),
            self.map_generation
                .load(std::sync::atomic::Ordering::Acquire),
        );
        let mut led = self.led.lock().unwrap_or_else(|p| p.into_inner());
        if led.key != Some(key) {
            led.partitions = self
                .all()
                .into_iter()
                .filter(|p| matches!(p.lock().role, Role::Leader(_)))
                .collect();
            led.key = Some(key);
        }
        led.partitions.clone()
    }

    pub fn leader_generation(&self) -> u64 {
        self.leader_generation
            .load(std::sync::atomic::Ordering::Acquire)
    }

    /// Whether this broker leads a partition with `replica` in its ISR that `fetched`
    /// does not name: that follower has not applied the leader change yet, or applied
    /// it after sending this fetch. `fetched_count` is how many partitions the fetch
    /// names: a follower whose last fetch of as many partitions at the same leader
    /// generation named them all is not looked at again (at 10,000 partitions this scan
    /// on every idle fetch was a tenth of the broker's CPU); a new leadership here or a
    /// change in what the follower fetches looks again.
    pub fn isr_partition_not_fetched(
        &self,
        replica: i32,
        fetched_count: usize,
        fetched: impl Fn(&tidewater_storage::TopicPartition) -> bool,
    ) -> bool {
        let generation = self.leader_generation();
        let key = (generation, fetched_count);
        let checked = || {
            self.isr_fetch_checked
                .lock()
                .unwrap_or_else(|p| p.into_inner())
        };
        if checked().get(&replica) == Some(&key) {
            return false;
        }
        let missing = self.all().iter().any(|p| {
            let inner = p.lock();
            matches!(&inner.role, Role::Leader(state) if state.isr().contains(&replica))
                && !fetched(&p.tp)
        });
        if missing {
            checked().remove(&replica);
        } else {
            checked().insert(replica, key);
        }
        missing
    }
}
