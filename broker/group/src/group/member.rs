//! One member of a classic group: identity, timeouts, supported protocols and the
//! assignment it was given. Kafka's `MemberMetadata`.

use bytes::Bytes;

/// A member of a classic group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub member_id: String,
    /// KIP-345 static membership: the stable identity across restarts.
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub session_timeout_ms: i32,
    /// `(protocol name, metadata)` in the member's order of preference.
    pub protocols: Vec<(String, Bytes)>,
    pub assignment: Bytes,
    /// The JoinGroup version of the parked join, so its response is shaped for it.
    pub join_version: i16,
    /// A JoinGroup from this member is parked until the join phase completes.
    pub awaiting_join: bool,
    /// A SyncGroup from this member is parked until the leader's assignment is stored.
    pub awaiting_sync: bool,
    /// Joined during the current rebalance and not yet completed one (KIP-394 timeout).
    pub is_new: bool,
    /// When the session expires unless a heartbeat (or a join/sync) moves it.
    pub session_deadline_ms: u64,
    /// Token of this member's live session timer; stale timer firings carry another.
    pub timer_token: u64,
}

impl Member {
    /// The metadata this member sent for `protocol`, if it supports it.
    pub fn metadata(&self, protocol: &str) -> Option<&Bytes> {
        self.protocols
            .iter()
            .find(|(name, _)| name == protocol)
            .map(|(_, m)| m)
    }

    /// Same protocols with the same metadata, in the same order: a rejoin that changes
    /// nothing, which Kafka answers without a rebalance.
    pub fn matches(&self, protocols: &[(String, Bytes)]) -> bool {
        self.protocols == protocols
    }

    /// Kafka's `MemberMetadata.vote`: the member's most preferred protocol among the
    /// candidates every member supports.
    pub fn vote<'a>(&'a self, candidates: &[&str]) -> Option<&'a str> {
        self.protocols
            .iter()
            .map(|(name, _)| name.as_str())
            .find(|name| candidates.contains(name))
    }

    /// Kafka's `shouldKeepAlive`: a member parked in a join or sync is alive (a new
    /// member only until its join timeout); otherwise it lives until its deadline.
    pub fn is_alive_at(&self, now_ms: u64) -> bool {
        if self.awaiting_join {
            return !self.is_new || self.session_deadline_ms > now_ms;
        }
        self.awaiting_sync || self.session_deadline_ms > now_ms
    }
}
