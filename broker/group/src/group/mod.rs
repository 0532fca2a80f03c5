//! One classic group's data (Kafka's `ClassicGroup`/`GroupMetadata`): state,
//! generation, protocol, leader, members, pending members and committed offsets,
//! with the pure rules Kafka applies to them (leader election, protocol selection,
//! protocol compatibility). What happens on events lives in `core`.

mod member;
mod state;

use std::collections::{BTreeMap, HashMap, HashSet};

use bytes::Bytes;
use indexmap::IndexMap;
use kafka_protocol::messages::ConsumerProtocolSubscription;
use kafka_protocol::protocol::Decodable;

pub use member::Member;
pub use state::GroupState;

use crate::records::{GroupMetadataValue, MemberMetadataValue, OffsetCommitValue};

/// The protocol type of Java/librdkafka consumers, whose subscriptions we can read.
pub const CONSUMER_PROTOCOL_TYPE: &str = "consumer";

/// A committed offset and what Kafka stores with it.
pub type CommittedOffset = OffsetCommitValue;

/// One producer's transactional offsets by (topic, partition), each with its commit
/// order (compared with `applied_commits` when the transaction commits).
pub type TxnOffsets = BTreeMap<(String, i32), (u64, CommittedOffset)>;

/// A classic group.
#[derive(Debug, Clone)]
pub struct Group {
    pub group_id: String,
    pub state: GroupState,
    /// When the group entered its state (ms since epoch); KIP-211 offset expiry of
    /// Empty groups counts from here.
    pub state_timestamp_ms: i64,
    pub generation_id: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader_id: Option<String>,
    /// Members in join order: Kafka elects the earliest remaining member as leader.
    pub members: IndexMap<String, Member>,
    /// `group.instance.id` -> member id of the static members.
    pub static_members: HashMap<String, String>,
    /// Dynamic members told MEMBER_ID_REQUIRED and expected to rejoin (KIP-394),
    /// with the token of their expiry timer.
    pub pending_members: HashMap<String, u64>,
    /// A member joined during the initial delayed rebalance, so the delay extends.
    pub new_member_added: bool,
    /// Token of the live join-phase timer (rebalance timeout or initial delay).
    pub join_timer: Option<u64>,
    /// Remaining budget of the initial rebalance delay (Kafka's `InitialDelayedJoin`).
    pub initial_delay_remaining_ms: Option<u64>,
    /// Token of the live sync-phase timer (members that never send SyncGroup).
    pub sync_timer: Option<u64>,
    /// Members of this generation that have not sent SyncGroup yet; removed when the
    /// sync timer fires (Kafka's pending-sync expiry).
    pub pending_sync: HashSet<String>,
    /// Committed offsets by (topic, partition).
    pub offsets: BTreeMap<(String, i32), CommittedOffset>,
    /// Per (topic, partition), the order of the commit whose offset `offsets` holds.
    /// Commits complete out of order once each waits for replication; an older one
    /// must not overwrite a newer one (Kafka compares appended batch offsets).
    pub applied_commits: HashMap<(String, i32), u64>,
    /// Offsets of TxnOffsetCommit by producer id, each with its commit order: pending
    /// until that producer's COMMIT marker on `__consumer_offsets` makes them
    /// committed (an ABORT drops them), as Kafka's `pendingTransactionalOffsetCommits`.
    pub pending_txn_offsets: HashMap<i64, TxnOffsets>,
    /// The KIP-848 side of a group whose members use ConsumerGroupHeartbeat; such a
    /// group has no classic members and stays Empty on the classic side, while its
    /// offsets live in `offsets` like any group's.
    pub consumer: Option<crate::consumer::ConsumerGroup>,
}

impl Group {
    pub fn new(group_id: &str, now_ms: i64) -> Self {
        Self {
            group_id: group_id.to_owned(),
            state: GroupState::Empty,
            state_timestamp_ms: now_ms,
            generation_id: 0,
            protocol_type: None,
            protocol_name: None,
            leader_id: None,
            members: IndexMap::new(),
            static_members: HashMap::new(),
            pending_members: HashMap::new(),
            new_member_added: false,
            join_timer: None,
            initial_delay_remaining_ms: None,
            sync_timer: None,
            pending_sync: HashSet::new(),
            offsets: BTreeMap::new(),
            applied_commits: HashMap::new(),
            pending_txn_offsets: HashMap::new(),
            consumer: None,
        }
    }

    /// Whether a transaction holds an offset of `topic`/`partition` not yet committed
    /// or aborted (OffsetFetch with `require_stable` answers UNSTABLE_OFFSET_COMMIT).
    pub fn has_pending_txn_offset(&self, topic: &str, partition: i32) -> bool {
        let key = (topic.to_owned(), partition);
        self.pending_txn_offsets
            .values()
            .any(|offsets| offsets.contains_key(&key))
    }

    /// Whether consumer-protocol members are in the group (it is then a consumer
    /// group, which classic requests must not touch).
    pub fn has_consumer_members(&self) -> bool {
        self.consumer
            .as_ref()
            .is_some_and(|c| !c.members.is_empty())
    }

    pub fn is(&self, state: GroupState) -> bool {
        self.state == state
    }

    pub fn transition(&mut self, to: GroupState, now_ms: i64) {
        debug_assert!(to.can_follow(self.state), "{:?} -> {to:?}", self.state);
        self.state = to;
        self.state_timestamp_ms = now_ms;
    }

    pub fn is_leader(&self, member_id: &str) -> bool {
        self.leader_id.as_deref() == Some(member_id)
    }

    pub fn add_member(&mut self, member: Member) {
        if self.leader_id.is_none() {
            self.leader_id = Some(member.member_id.clone());
        }
        if let Some(instance) = &member.group_instance_id {
            self.static_members
                .insert(instance.clone(), member.member_id.clone());
        }
        self.pending_members.remove(&member.member_id);
        self.members.insert(member.member_id.clone(), member);
    }

    /// Removes a member; a departing leader hands over to the earliest-joined member.
    pub fn remove_member(&mut self, member_id: &str) -> Option<Member> {
        let member = self.members.shift_remove(member_id)?;
        self.pending_sync.remove(member_id);
        if let Some(instance) = &member.group_instance_id
            && self
                .static_members
                .get(instance)
                .is_some_and(|id| id == member_id)
        {
            self.static_members.remove(instance);
        }
        if self.is_leader(member_id) {
            self.leader_id = self.members.keys().next().cloned();
        }
        Some(member)
    }

    /// The member id currently registered for a static `group.instance.id`.
    pub fn static_member_id(&self, instance: &str) -> Option<&str> {
        self.static_members.get(instance).map(String::as_str)
    }

    /// Kafka's `isStaticMemberFenced`: the instance id is registered to another member.
    pub fn is_static_member_fenced(&self, instance: Option<&str>, member_id: &str) -> bool {
        instance
            .and_then(|i| self.static_member_id(i))
            .is_some_and(|registered| registered != member_id)
    }

    /// Kafka's `hasAllMembersJoined`: every member parked a JoinGroup and no
    /// MEMBER_ID_REQUIRED member is still expected.
    pub fn all_members_joined(&self) -> bool {
        self.members.values().all(|m| m.awaiting_join) && self.pending_members.is_empty()
    }

    /// Kafka's `supportsProtocols`: an Empty group takes any non-empty type and list;
    /// otherwise the type must match and one protocol must be supported by all members.
    pub fn supports_protocols(&self, protocol_type: &str, protocols: &[(String, Bytes)]) -> bool {
        if self.members.is_empty() {
            return !protocol_type.is_empty() && !protocols.is_empty();
        }
        self.protocol_type.as_deref() == Some(protocol_type)
            && protocols.iter().any(|(name, _)| self.all_support(name))
    }

    fn all_support(&self, protocol: &str) -> bool {
        self.members
            .values()
            .all(|m| m.metadata(protocol).is_some())
    }

    /// Kafka's `selectProtocol`: among protocols every member supports, the one most
    /// members prefer; ties go to the earliest member's preference order.
    pub fn select_protocol(&self) -> Option<String> {
        let first = self.members.values().next()?;
        let candidates: Vec<&str> = first
            .protocols
            .iter()
            .map(|(name, _)| name.as_str())
            .filter(|name| self.all_support(name))
            .collect();
        let mut votes: Vec<(&str, usize)> = candidates.iter().map(|c| (*c, 0)).collect();
        for member in self.members.values() {
            if let Some(choice) = member.vote(&candidates)
                && let Some(slot) = votes.iter_mut().find(|(name, _)| *name == choice)
            {
                slot.1 += 1;
            }
        }
        // max_by_key keeps the last maximum; iterate reversed so ties keep the first.
        votes
            .iter()
            .rev()
            .max_by_key(|(_, n)| *n)
            .map(|(name, _)| (*name).to_owned())
    }

    pub fn max_rebalance_timeout_ms(&self) -> u64 {
        self.members
            .values()
            .map(|m| u64::try_from(m.rebalance_timeout_ms).unwrap_or(0))
            .max()
            .unwrap_or(0)
    }

    /// Topics the members subscribe to, when the group speaks the consumer protocol
    /// and every subscription parses; `None` means unknown.
    pub fn subscribed_topics(&self) -> Option<HashSet<String>> {
        if self.protocol_type.as_deref() != Some(CONSUMER_PROTOCOL_TYPE) {
            return None;
        }
        let protocol = self.protocol_name.as_deref()?;
        let mut topics = HashSet::new();
        for member in self.members.values() {
            topics.extend(parse_subscription(member.metadata(protocol)?)?);
        }
        Some(topics)
    }

    /// Kafka's `isSubscribedToTopic`: only known subscriptions protect offsets.
    pub fn is_subscribed_to(&self, topic: &str) -> bool {
        self.subscribed_topics().is_some_and(|t| t.contains(topic))
    }

    /// The group's `GroupMetadataValue`, as Kafka stores it after a rebalance.
    pub fn metadata_value(&self) -> GroupMetadataValue {
        let protocol = self.protocol_name.as_deref();
        GroupMetadataValue {
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            generation: self.generation_id,
            protocol: self.protocol_name.clone(),
            leader: self.leader_id.clone(),
            current_state_timestamp: self.state_timestamp_ms,
            members: self
                .members
                .values()
                .map(|m| MemberMetadataValue {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.group_instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    rebalance_timeout: m.rebalance_timeout_ms,
                    session_timeout: m.session_timeout_ms,
                    subscription: protocol
                        .and_then(|p| m.metadata(p))
                        .cloned()
                        .unwrap_or_default(),
                    assignment: m.assignment.clone(),
                })
                .collect(),
        }
    }
}

/// Topics of a serialized `ConsumerProtocolSubscription` (int16 version + body);
/// versions newer than we know are read as the newest, as Kafka's consumer does.
pub fn parse_subscription(metadata: &Bytes) -> Option<Vec<String>> {
    let mut buf = metadata.clone();
    if buf.len() < 2 {
        return None;
    }
    let version = i16::from_be_bytes([buf[0], buf[1]]);
    if version < 0 {
        return None;
    }
    let _ = bytes::Buf::get_i16(&mut buf);
    let sub = ConsumerProtocolSubscription::decode(&mut buf, version.min(3)).ok()?;
    Some(
        sub.topics
            .into_iter()
            .map(|t| t.as_str().to_owned())
            .collect(),
    )
}

#[cfg(test)]
mod tests;
