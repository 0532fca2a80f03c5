//! The classic group state machine's states, with Kafka's names and its rules of
//! which transitions are legal (`GroupState.validPreviousStates`).

/// A classic group's state (Kafka's `ClassicGroupState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GroupState {
    /// No members; may hold committed offsets.
    Empty,
    /// Members are (re)joining; JoinGroup responses are parked.
    PreparingRebalance,
    /// The join phase completed; waiting for the leader's SyncGroup assignment.
    CompletingRebalance,
    /// Every member has its assignment; heartbeats keep sessions alive.
    Stable,
    /// Removed (deleted, or empty with no offsets left).
    Dead,
}

impl GroupState {
    /// The name Kafka reports in ListGroups/DescribeGroups.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Empty => "Empty",
            Self::PreparingRebalance => "PreparingRebalance",
            Self::CompletingRebalance => "CompletingRebalance",
            Self::Stable => "Stable",
            Self::Dead => "Dead",
        }
    }

    /// Kafka's `validPreviousStates`: what a group may move to `self` from.
    pub fn can_follow(self, previous: GroupState) -> bool {
        use GroupState::*;
        match self {
            Dead => true,
            PreparingRebalance => matches!(previous, Stable | CompletingRebalance | Empty),
            CompletingRebalance => previous == PreparingRebalance,
            Stable => previous == CompletingRebalance,
            Empty => previous == PreparingRebalance,
        }
    }

    /// Case-insensitive parse of a ListGroups `states_filter` entry (KIP-518).
    pub fn parse(name: &str) -> Option<Self> {
        [
            Self::Empty,
            Self::PreparingRebalance,
            Self::CompletingRebalance,
            Self::Stable,
            Self::Dead,
        ]
        .into_iter()
        .find(|s| s.as_str().eq_ignore_ascii_case(name))
    }
}
