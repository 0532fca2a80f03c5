//! Controller membership changes (KIP-853's AddRaftVoter / RemoveRaftVoter) on
//! openraft: a new voter is first added as a learner and caught up, then promoted; a
//! removed voter leaves the membership entirely. One change at a time, as KIP-853
//! requires (openraft's joint consensus makes each single change safe).
//!
//! The refusals are Kafka's (`AddVoterHandler` / `RemoveVoterHandler`): a voter that
//! already votes is DUPLICATE_VOTER, an unknown one VOTER_NOT_FOUND, a change while
//! another is still uncommitted REQUEST_TIMED_OUT. This module decides nothing about
//! metadata records: the controller service calls it only on the quorum leader.

use std::collections::BTreeSet;
use std::time::Duration;

use openraft::error::{ChangeMembershipError, ClientWriteError, RaftError};
use openraft::{BasicNode, ChangeMembers, Membership};

use super::QuorumNode;

/// Kafka error codes of voter changes (`Errors.java`).
pub mod codes {
    pub const REQUEST_TIMED_OUT: i16 = 7;
    pub const INVALID_REQUEST: i16 = 42;
    pub const NOT_CONTROLLER: i16 = 41;
    pub const DUPLICATE_VOTER: i16 = 126;
    pub const VOTER_NOT_FOUND: i16 = 127;
    pub const UNKNOWN_SERVER_ERROR: i16 = -1;
}

/// Why a voter change was refused or failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MembershipError {
    #[error("node {0} is already a voter")]
    DuplicateVoter(u64),
    #[error("node {0} is not a voter")]
    VoterNotFound(u64),
    #[error("removing node {0} would leave the quorum without a voter")]
    LastVoter(u64),
    #[error("another voter change is still in progress; retry once it has committed")]
    InProgress,
    #[error("not the quorum leader (leader: {leader:?})")]
    NotLeader { leader: Option<u64> },
    #[error("node {id} did not catch up with the leader's log within {timeout:?}")]
    NotCaughtUp { id: u64, timeout: Duration },
    #[error("voter change not committed within {0:?}")]
    Timeout(Duration),
    #[error("raft failed to change the membership: {0}")]
    Raft(String),
}

impl MembershipError {
    /// The Kafka error code AddRaftVoter / RemoveRaftVoter answer with.
    pub fn error_code(&self) -> i16 {
        match self {
            Self::DuplicateVoter(_) => codes::DUPLICATE_VOTER,
            Self::VoterNotFound(_) => codes::VOTER_NOT_FOUND,
            Self::LastVoter(_) => codes::INVALID_REQUEST,
            Self::InProgress | Self::NotCaughtUp { .. } | Self::Timeout(_) => {
                codes::REQUEST_TIMED_OUT
            }
            Self::NotLeader { .. } => codes::NOT_CONTROLLER,
            Self::Raft(_) => codes::UNKNOWN_SERVER_ERROR,
        }
    }
}

type Members = Membership<u64, BasicNode>;

/// Whether `id` may be added to `current` as a voter.
pub(crate) fn check_add(current: &Members, id: u64) -> Result<(), MembershipError> {
    if current.get_joint_config().len() > 1 {
        return Err(MembershipError::InProgress);
    }
    if current.voter_ids().any(|v| v == id) {
        return Err(MembershipError::DuplicateVoter(id));
    }
    Ok(())
}

/// Whether voter `id` may be removed from `current`.
pub(crate) fn check_remove(current: &Members, id: u64) -> Result<(), MembershipError> {
    if current.get_joint_config().len() > 1 {
        return Err(MembershipError::InProgress);
    }
    let voters: BTreeSet<u64> = current.voter_ids().collect();
    if !voters.contains(&id) {
        return Err(MembershipError::VoterNotFound(id));
    }
    if voters.len() == 1 {
        return Err(MembershipError::LastVoter(id));
    }
    Ok(())
}

/// `host:port` as a peer address (IPv6 literals bracketed).
pub fn endpoint(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

fn from_raft(e: RaftError<u64, ClientWriteError<u64, BasicNode>>) -> MembershipError {
    match e {
        RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => MembershipError::NotLeader {
            leader: f.leader_id,
        },
        RaftError::APIError(ClientWriteError::ChangeMembershipError(
            ChangeMembershipError::InProgress(_),
        )) => MembershipError::InProgress,
        e => MembershipError::Raft(e.to_string()),
    }
}

impl QuorumNode {
    /// The current membership as this node's raft knows it (committed or not).
    fn membership(&self) -> Members {
        self.metrics()
            .borrow()
            .membership_config
            .membership()
            .clone()
    }

    /// The controller address of quorum member `id`: a configured voter's from
    /// `controller.quorum.voters` (a host name resolved at each connect; a membership
    /// entry recorded by an older build may hold a stale IP), else from the membership
    /// (a voter added with AddRaftVoter).
    pub(crate) fn peer_addr(&self, id: u64) -> Option<String> {
        self.configured_voter(id)
            .map(str::to_owned)
            .or_else(|| self.membership().get_node(&id).map(|n| n.addr.clone()))
    }

    /// AddRaftVoter: adds `id` (listening on `addr`) as a learner, waits up to
    /// `timeout` until it has caught up with the leader's log, then makes it a voter.
    /// A learner that does not catch up in time is removed again.
    pub async fn add_voter(
        &self,
        id: u64,
        addr: String,
        timeout: Duration,
    ) -> Result<(), MembershipError> {
        let _one_change = self
            .membership_change
            .try_lock()
            .map_err(|_| MembershipError::InProgress)?;
        check_add(&self.membership(), id)?;
        let added = self
            .raft
            .add_learner(id, BasicNode::new(addr), false)
            .await
            .map_err(from_raft)?;
        // Caught up = holds the entry that made it a learner, so everything committed
        // before it too. (openraft's own blocking wait counts a learner that never
        // answered as caught up while the log is shorter than its lag threshold.)
        let target = added.log_id.index;
        let mut metrics = self.metrics();
        let caught_up = async {
            metrics
                .wait_for(|m| {
                    let matched = m.replication.as_ref().and_then(|r| r.get(&id));
                    matches!(matched, Some(Some(l)) if l.index >= target)
                })
                .await
                .map(|_| ())
        };
        match tokio::time::timeout(timeout, caught_up).await {
            Ok(Ok(_)) => {}
            Ok(Err(_)) => return Err(MembershipError::Raft("raft stopped".into())),
            Err(_) => {
                let remove = ChangeMembers::RemoveNodes(BTreeSet::from([id]));
                if let Err(e) = self.raft.change_membership(remove, false).await {
                    tracing::warn!(node = id, error = %e, "removing a learner that did not catch up");
                }
                return Err(MembershipError::NotCaughtUp { id, timeout });
            }
        }
        let promote = ChangeMembers::AddVoterIds(BTreeSet::from([id]));
        self.commit_change(promote, timeout).await
    }

    /// RemoveRaftVoter: removes voter `id` from the membership (not kept as a learner).
    pub async fn remove_voter(&self, id: u64, timeout: Duration) -> Result<(), MembershipError> {
        let _one_change = self
            .membership_change
            .try_lock()
            .map_err(|_| MembershipError::InProgress)?;
        check_remove(&self.membership(), id)?;
        let remove = ChangeMembers::RemoveVoters(BTreeSet::from([id]));
        self.commit_change(remove, timeout).await
    }

    /// Proposes `change` (openraft's joint consensus, then the final membership; a
    /// removed node is not kept as a learner) and waits up to `timeout` for its commit.
    async fn commit_change(
        &self,
        change: ChangeMembers<u64, BasicNode>,
        timeout: Duration,
    ) -> Result<(), MembershipError> {
        let commit = self.raft.change_membership(change, false);
        match tokio::time::timeout(timeout, commit).await {
            Ok(result) => result.map(|_| ()).map_err(from_raft),
            Err(_) => Err(MembershipError::Timeout(timeout)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn members(voters: &[u64], learners: &[u64]) -> Members {
        let nodes: BTreeMap<u64, BasicNode> = voters
            .iter()
            .chain(learners)
            .map(|id| (*id, BasicNode::new(format!("h{id}:9093"))))
            .collect();
        Membership::new(vec![voters.iter().copied().collect()], nodes)
    }

    fn joint() -> Members {
        let nodes: BTreeMap<u64, BasicNode> = (1..=4)
            .map(|id| (id, BasicNode::new(format!("h{id}:9093"))))
            .collect();
        Membership::new(
            vec![BTreeSet::from([1, 2, 3]), BTreeSet::from([1, 2, 3, 4])],
            nodes,
        )
    }

    #[test]
    fn adding_refuses_a_voter_and_a_change_in_progress() {
        let m = members(&[1, 2, 3], &[4]);
        assert_eq!(check_add(&m, 4), Ok(()), "a learner may be promoted");
        assert_eq!(check_add(&m, 5), Ok(()));
        let dup = check_add(&m, 2).unwrap_err();
        assert_eq!(dup, MembershipError::DuplicateVoter(2));
        assert_eq!(dup.error_code(), codes::DUPLICATE_VOTER);
        let busy = check_add(&joint(), 5).unwrap_err();
        assert_eq!(busy, MembershipError::InProgress);
        assert_eq!(busy.error_code(), codes::REQUEST_TIMED_OUT);
    }

    #[test]
    fn removing_refuses_an_unknown_voter_the_last_one_and_a_change_in_progress() {
        let m = members(&[1, 2, 3], &[4]);
        assert_eq!(check_remove(&m, 3), Ok(()));
        let unknown = check_remove(&m, 4).unwrap_err();
        assert_eq!(
            unknown,
            MembershipError::VoterNotFound(4),
            "a learner is no voter"
        );
        assert_eq!(unknown.error_code(), codes::VOTER_NOT_FOUND);
        assert_eq!(check_remove(&m, 9), Err(MembershipError::VoterNotFound(9)));
        let last = check_remove(&members(&[1], &[]), 1).unwrap_err();
        assert_eq!(last.error_code(), codes::INVALID_REQUEST);
        assert_eq!(check_remove(&joint(), 1), Err(MembershipError::InProgress));
    }

    #[test]
    fn endpoints_bracket_ipv6_literals() {
        assert_eq!(endpoint("c1", 9093), "c1:9093");
        assert_eq!(endpoint("::1", 9093), "[::1]:9093");
        assert_eq!(endpoint("[::1]", 9093), "[::1]:9093");
    }
}
