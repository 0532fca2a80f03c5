//! Coordinator settings, named and defaulted as Kafka's broker configs.

/// The broker-level group coordinator settings (Kafka's `group.*` and `offsets.*` keys).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupConfig {
    /// `group.initial.rebalance.delay.ms`: how long a new (Empty) group waits for more
    /// members before its first rebalance, so a fleet starting together rebalances once.
    pub initial_rebalance_delay_ms: u64,
    /// `group.min.session.timeout.ms`: lower bound on a member's session timeout.
    pub min_session_timeout_ms: i32,
    /// `group.max.session.timeout.ms`: upper bound on a member's session timeout.
    pub max_session_timeout_ms: i32,
    /// `group.max.size`: members allowed in one group.
    pub max_size: i32,
    /// `offsets.retention.minutes` in ms: how long offsets of an Empty group are kept.
    pub offsets_retention_ms: i64,
    /// `offsets.topic.num.partitions`: partitions of `__consumer_offsets`.
    pub offsets_topic_partitions: i32,
    /// `group.consumer.session.timeout.ms`: a consumer-protocol member that sends no
    /// heartbeat for this long is removed.
    pub consumer_session_timeout_ms: i32,
    /// `group.consumer.heartbeat.interval.ms`: told to consumer-protocol members.
    pub consumer_heartbeat_interval_ms: i32,
    /// `group.consumer.max.size`: members allowed in one consumer group.
    pub consumer_max_size: i32,
}

impl Default for GroupConfig {
    fn default() -> Self {
        Self {
            initial_rebalance_delay_ms: 3_000,
            min_session_timeout_ms: 6_000,
            max_session_timeout_ms: 1_800_000,
            max_size: i32::MAX,
            offsets_retention_ms: 7 * 24 * 60 * 60 * 1_000,
            offsets_topic_partitions: 50,
            consumer_session_timeout_ms: 45_000,
            consumer_heartbeat_interval_ms: 5_000,
            consumer_max_size: i32::MAX,
        }
    }
}

/// `offset.metadata.max.bytes`: the largest metadata string a commit may carry.
pub const OFFSET_METADATA_MAX_BYTES: usize = 4096;

/// `offsets.retention.check.interval.ms`: how often expired offsets are swept.
pub const OFFSETS_RETENTION_CHECK_INTERVAL_MS: u64 = 600_000;

/// Kafka's `GroupCoordinator.NewMemberJoinTimeoutMs` (KIP-394): a member that joined
/// during a rebalance but never completes it is dropped after this long.
pub const NEW_MEMBER_JOIN_TIMEOUT_MS: u64 = 300_000;
