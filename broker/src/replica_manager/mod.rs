//! Partition replicas of a KRaft broker (Kafka's `ReplicaManager`): which partitions
//! this broker leads or follows, driven by the metadata image; the log manager they
//! live in, the notifier long-polling fetches wait on (Kafka's fetch purgatory), the
//! KIP-227 fetch sessions; the follower fetchers
//! (`ReplicaFetcherManager`/`ReplicaFetcherThread`, in `fetcher`), truncation on
//! leader-epoch change, and the produce requests waiting for acks=all
//! (`DelayedProduce`).
//!
//! The decisions are `tidewater-replication`'s sans-IO state machines (`Partition`'s
//! ISR, high watermark and leader epochs); this module is their IO shell: it owns the
//! per-partition role ([`LeaderState`] or [`FollowerState`]), the log, and keeps the
//! log's high watermark (what consumers may read) equal to the state machine's.
//!
//! It never sees the `Broker`: it is given this node's id and `replica.*` settings,
//! the KRaft handle (metadata image, controller calls) and the metrics at start, and
//! returns the leaderships each image changed (the group coordinator follows them).

mod alter_partition;
mod apply;
mod backoff;
mod batch_queue;
mod drain;
mod fetch_plan;
mod fetch_round;
pub mod fetch_sessions;
mod fetcher;
mod follower_session;
mod follower_throttle;
mod handoff;
pub mod leader;
mod lookup;
mod truncation;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use tidewater_quorum::records::TopicId;
use tidewater_replication::{
    FollowerState, LeaderEpochCache, LeaderState, ProduceCompletion, ReplicaError,
    ReplicationQuota, ReplicationQuotaConfig,
};
use tidewater_storage::{Log, LogManager, TopicPartition};
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;

pub use apply::LeadershipChange;
pub use fetcher::FetcherHandle;
pub(crate) use fetcher::connect_to;

use crate::config::{BrokerConfig, ReplicaSettings};
use crate::kraft::Cluster;
use crate::metrics::Metrics;
use fetch_sessions::FetchSessionCache;

/// Wakes long-polling fetches whenever any partition grows.
#[derive(Debug, Default)]
pub struct AppendNotifier {
    notify: Notify,
}

impl AppendNotifier {
    pub fn notify(&self) {
        self.notify.notify_waiters();
    }

    /// A future that completes on the next append; create it *before* checking
    /// for data so an append in between is not missed.
    pub fn notified(&self) -> tokio::sync::futures::Notified<'_> {
        self.notify.notified()
    }
}

/// What this broker is for one partition.
pub enum Role {
    Leader(Box<LeaderState>),
    Follower(FollowerState),
    /// A replica with no leader in the image (offline partition) or not yet assigned.
    Offline {
        leader_epoch: i32,
    },
}

impl Role {
    pub fn leader_epoch(&self) -> i32 {
        match self {
            Role::Leader(l) => l.leader_epoch(),
            Role::Follower(f) => f.leader_epoch(),
            Role::Offline { leader_epoch } => *leader_epoch,
        }
    }
}

/// The answer an acks=all produce waits for.
pub type AckResult = Result<(), ReplicaError>;

pub struct PartitionInner {
    pub role: Role,
    /// acks=all produce requests parked in the leader state, by request id.
    pub waiters: HashMap<u64, oneshot::Sender<AckResult>>,
    pub next_request_id: u64,
    /// Partition epoch of the last image applied to this replica.
    pub partition_epoch: i32,
    pub replicas: Vec<i32>,
    /// A follower that failed to make progress is left out of fetches until then
    /// (Kafka's per-partition `replica.fetch.backoff.ms` delay), so it never spins.
    pub fetch_delayed_until: Option<std::time::Instant>,
    /// When the fetcher last logged that this replica makes no progress: such lines are
    /// written at most every [`STUCK_LOG_INTERVAL`].
    pub last_stuck_log: Option<std::time::Instant>,
    /// Set (under this lock) when the broker starts draining for a controlled shutdown:
    /// appends not made with acks=all are refused with NOT_LEADER_OR_FOLLOWER from then
    /// on, so [`Self::handover_end`], which the drain waits for, cannot move any more.
    pub refuse_appends: bool,
    /// The replica this leader hands its leadership to (a preferred-leader election at
    /// metadata.version 4.1-IV0+, see `handoff.rs`): appends not made with acks=all are
    /// refused meanwhile, like in a drain.
    pub handoff_to: Option<i32>,
    /// While leading: the log end every in-sync follower must reach before this leader
    /// may hand its leadership over (drain, handoff) without losing an acknowledged
    /// record. The end of the last append not made with acks=all (acknowledged on the
    /// leader's word alone), and at least the whole log as it was when this replica
    /// became leader (its predecessor may have acknowledged it the same way). An
    /// acks=all append is acknowledged only once the in-sync followers hold it, so
    /// those go on being taken during a drain or handoff: the partition keeps
    /// accepting acks=all writes until its leadership moves, as in Kafka, and a record
    /// the new leader lacks was never acknowledged (its producer retries there).
    pub handover_end: i64,
}

/// The least time between two "no progress" log lines for one replica.
pub const STUCK_LOG_INTERVAL: std::time::Duration = std::time::Duration::from_secs(10);

/// One local replica.
pub struct Partition {
    pub tp: TopicPartition,
    pub topic_id: u128,
    pub log: Arc<Log>,
    pub inner: Mutex<PartitionInner>,
}

impl Partition {
    /// This replica leads and refuses appends because its leadership is moving away:
    /// a controlled-shutdown drain or a preferred-leader handoff.
    pub fn hands_leadership_over(&self) -> bool {
        let inner = self.lock();
        matches!(inner.role, Role::Leader(_))
            && (inner.refuse_appends || inner.handoff_to.is_some())
    }

    pub fn lock(&self) -> std::sync::MutexGuard<'_, PartitionInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The log's leader-epoch cache (the log owns and persists the only one).
    pub fn epochs(&self) -> LeaderEpochCache {
        self.log.leader_epoch_cache()
    }

    /// `f` on the log's leader-epoch cache, without copying it.
    pub fn with_epochs<R>(&self, f: impl FnOnce(&LeaderEpochCache) -> R) -> R {
        self.log.with_leader_epochs(f)
    }
}

impl PartitionInner {
    /// Whether a "no progress" line may be logged now (at most one per interval).
    pub fn stuck_log_due(&mut self, now: std::time::Instant) -> bool {
        let due = self
            .last_stuck_log
            .is_none_or(|t| now.duration_since(t) >= STUCK_LOG_INTERVAL);
        if due {
            self.last_stuck_log = Some(now);
        }
        due
    }

    /// Hands finished acks=all requests their answers.
    pub fn deliver(&mut self, completions: Vec<ProduceCompletion>) {
        for c in completions {
            if let Some(tx) = self.waiters.remove(&c.request_id) {
                let _ = tx.send(c.result);
            }
        }
    }

    /// Pushes the leader's high watermark to the log (consumers read up to it); true if
    /// it moved.
    pub fn sync_high_watermark(&self, log: &Log) -> bool {
        let hw = match &self.role {
            Role::Leader(l) => l.high_watermark(),
            Role::Follower(f) => f.high_watermark(),
            Role::Offline { .. } => return false,
        };
        let hw = hw.min(log.log_end_offset());
        if hw != log.high_watermark() {
            log.update_high_watermark(hw);
            return true;
        }
        false
    }
}

/// How replica fetchers (and transaction markers) secure their connections on the
/// inter-broker listener: TLS and/or SASL as its protocol says. The server refuses to
/// start on a config this cannot read, so the error is only logged here.
fn inter_broker_security(config: &BrokerConfig) -> tidewater_client::ClientSecurity {
    let name = &config.inter_broker_listener_name;
    crate::security::client::client_security(
        &config.static_props,
        name,
        config.security_protocol(name),
        "sasl.mechanism.inter.broker.protocol",
    )
    .unwrap_or_else(|e| {
        tracing::error!(error = %e, "inter-broker client security config unusable");
        tidewater_client::ClientSecurity::default()
    })
}

/// Every local replica plus the fetchers that feed the followers.
pub struct ReplicaManager {
    /// This broker's id: the replica id in fetches, ISRs and AlterPartition.
    node_id: i32,
    /// `replica.*` settings: lag time, fetch sizes and backoff, the drain timeout.
    settings: ReplicaSettings,
    /// The listener followers reach their leaders on.
    inter_broker_listener: String,
    /// That listener's TLS and SASL client settings (checked at startup).
    inter_broker_security: tidewater_client::ClientSecurity,
    /// The metadata image (leaders, brokers, reassignments) and the controller calls
    /// (AlterPartitions, CompleteLeaderHandoffs).
    cluster: Arc<Cluster>,
    /// ISR changes, replication bytes and throttled bytes are counted here.
    metrics: Arc<Metrics>,
    /// Set when the broker begins its shutdown: failed ISR changes are not retried.
    closing: std::sync::atomic::AtomicBool,
    /// Every log on this broker's disks, local replicas or strays not yet deleted.
    logs: Arc<LogManager>,
    /// Woken on every append, high-watermark move and shutdown: parked fetches and
    /// acks=all waits re-check then.
    notifier: Arc<AppendNotifier>,
    /// KIP-227 incremental fetch sessions (Kafka's `FetchSessionCache`).
    fetch_sessions: Mutex<FetchSessionCache>,
    partitions: RwLock<HashMap<TopicPartition, Arc<Partition>>>,
    /// Bumped, under the write lock, on every insert into or removal from `partitions`
    /// (see `lookup::ReplicaSlot`).
    map_generation: std::sync::atomic::AtomicU64,
    /// One fetcher per leader broker.
    fetchers: Mutex<HashMap<i32, FetcherHandle>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    /// `leader.replication.throttled.rate` over `leader.replication.throttled.replicas`.
    pub leader_quota: Mutex<ReplicationQuota>,
    /// `follower.replication.throttled.rate` over `follower.replication.throttled.replicas`.
    pub follower_quota: Mutex<ReplicationQuota>,
    /// Stray logs are looked for once, on the first applied image.
    pub(crate) strays_checked: std::sync::atomic::AtomicBool,
    /// The broker drains for a controlled shutdown: replicas created from now on refuse
    /// appends too (see [`PartitionInner::refuse_appends`]).
    pub(crate) draining: std::sync::atomic::AtomicBool,
    /// Bumped whenever this broker becomes the leader of a partition: a follower's
    /// parked fetch returns at once so its next one can name the new partitions
    /// (otherwise they wait out `replica.fetch.wait.max.ms`, and acks=all with them).
    pub(crate) leader_generation: std::sync::atomic::AtomicU64,
    /// Bumped whenever a partition starts following a leader, is added or removed:
    /// the fetchers' lists of the partitions they fetch are stale then.
    follower_generation: std::sync::atomic::AtomicU64,
    /// Per follower: the leader generation and partition count of its last fetch that
    /// named every partition led here with it in the ISR.
    isr_fetch_checked: Mutex<std::collections::HashMap<i32, (u64, usize)>>,
    /// ISR changes waiting to go to the controller in one AlterPartitions call.
    alter_partitions:
        batch_queue::BatchQueue<(Arc<Partition>, tidewater_replication::AlterPartitionRequest)>,
    /// Preferred-leader handoffs ready to complete, for one CompleteLeaderHandoffs call.
    handoffs: batch_queue::BatchQueue<(TopicId, i32, i32)>,
    /// The partitions the leader tick walks (see `leader::led_partitions`).
    led: Mutex<LedPartitions>,
}

/// The partitions led here when the (leader generation, map generation) pair was last
/// this one: a partition becomes leader only with a leader-generation bump, and leaves
/// the map only with a map-generation bump.
#[derive(Default)]
struct LedPartitions {
    key: Option<(u64, u64)>,
    partitions: Vec<Arc<Partition>>,
}

impl ReplicaManager {
    pub fn new(
        config: &BrokerConfig,
        cluster: Arc<Cluster>,
        logs: Arc<LogManager>,
        fetch_sessions: FetchSessionCache,
        metrics: Arc<Metrics>,
    ) -> Self {
        let quota = || {
            ReplicationQuota::new(ReplicationQuotaConfig::default())
                .expect("Kafka's default quota windows (11 of 1 s) are valid")
        };
        Self {
            node_id: config.node_id,
            settings: config.replica.clone(),
            inter_broker_listener: config.inter_broker_listener_name.clone(),
            inter_broker_security: inter_broker_security(config),
            cluster,
            metrics,
            closing: std::sync::atomic::AtomicBool::new(false),
            logs,
            notifier: Arc::default(),
            fetch_sessions: Mutex::new(fetch_sessions),
            partitions: RwLock::default(),
            map_generation: std::sync::atomic::AtomicU64::new(0),
            fetchers: Mutex::default(),
            tasks: Mutex::default(),
            leader_quota: Mutex::new(quota()),
            follower_quota: Mutex::new(quota()),
            strays_checked: std::sync::atomic::AtomicBool::new(false),
            draining: std::sync::atomic::AtomicBool::new(false),
            leader_generation: std::sync::atomic::AtomicU64::new(0),
            follower_generation: std::sync::atomic::AtomicU64::new(0),
            isr_fetch_checked: Mutex::default(),
            alter_partitions: Default::default(),
            handoffs: Default::default(),
            led: Mutex::default(),
        }
    }

    /// Shutdown has begun: failed ISR changes are dropped instead of retried.
    pub fn begin_closing(&self) {
        self.closing
            .store(true, std::sync::atomic::Ordering::Release);
    }

    fn is_closing(&self) -> bool {
        self.closing.load(std::sync::atomic::Ordering::Acquire)
    }

    /// The log manager: every log on this broker's disks.
    pub fn logs(&self) -> &Arc<LogManager> {
        &self.logs
    }

    /// The metadata image the replicas follow.
    pub fn image(&self) -> Arc<tidewater_quorum::image::MetadataImage> {
        self.cluster.image()
    }

    pub fn notifier(&self) -> &Arc<AppendNotifier> {
        &self.notifier
    }

    pub fn fetch_sessions(&self) -> std::sync::MutexGuard<'_, FetchSessionCache> {
        self.fetch_sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    pub fn leader_quota(&self) -> std::sync::MutexGuard<'_, ReplicationQuota> {
        self.leader_quota.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn follower_quota(&self) -> std::sync::MutexGuard<'_, ReplicationQuota> {
        self.follower_quota
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    pub fn get(&self, tp: &TopicPartition) -> Option<Arc<Partition>> {
        self.partitions
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(tp)
            .cloned()
    }

    pub fn get_by_name(&self, topic: &str, partition: i32) -> Option<Arc<Partition>> {
        self.get(&TopicPartition::new(topic, partition))
    }

    pub fn all(&self) -> Vec<Arc<Partition>> {
        self.partitions
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }

    pub(crate) fn insert(&self, p: Arc<Partition>) {
        let mut map = self.partitions.write().unwrap_or_else(|p| p.into_inner());
        map.insert(p.tp.clone(), p);
        self.map_generation
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        drop(map);
        self.bump_follower_generation();
    }

    /// See `follower_generation`.
    pub(crate) fn follower_generation(&self) -> u64 {
        self.follower_generation
            .load(std::sync::atomic::Ordering::Acquire)
    }

    pub(crate) fn bump_follower_generation(&self) {
        self.follower_generation
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    pub(crate) fn remove(&self, tp: &TopicPartition) -> Option<Arc<Partition>> {
        let mut map = self.partitions.write().unwrap_or_else(|p| p.into_inner());
        let removed = map.remove(tp);
        self.map_generation
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        drop(map);
        // So no fetcher's list keeps the removed log (and its open files) alive.
        self.bump_follower_generation();
        removed
    }

    pub(crate) fn add_task(&self, task: JoinHandle<()>) {
        self.tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(task);
    }

    /// Leaves every leadership: parked acks=all produce requests fail with
    /// NOT_LEADER_OR_FOLLOWER at once (so their clients retry against the new leaders)
    /// instead of holding the shutdown until their request timeout.
    pub fn resign_leaders(&self) {
        for p in self.all() {
            let mut inner = p.lock();
            if matches!(inner.role, Role::Leader(_)) {
                let role = std::mem::replace(&mut inner.role, Role::Offline { leader_epoch: -1 });
                if let Role::Leader(l) = role {
                    let done = l.resign();
                    inner.deliver(done);
                }
            }
        }
    }

    /// Stops the fetchers and the background tasks; parked produce requests fail
    /// with NOT_LEADER_OR_FOLLOWER so their clients retry elsewhere.
    pub fn shutdown(&self) {
        for (_, f) in self
            .fetchers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain()
        {
            f.stop();
        }
        for t in self
            .tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            t.abort();
        }
        self.resign_leaders();
    }
}
