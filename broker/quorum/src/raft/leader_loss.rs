//! Election when the raft leader's connection closes: a killed leader closes its
//! sockets at once, so a follower need not wait for openraft's election timer (its
//! leader lease, `election_timeout_max`, plus a random election timeout: 1.5-2 s of
//! silence with `controller.quorum.election.timeout.ms` 1000).
//!
//! The other voters still refuse votes until their lease from the dead leader runs
//! out (`election_timeout_max` after they last heard from it), so the follower elects
//! right after that: the lease end as it sees it, plus a margin for the others'
//! later heartbeats, plus a stagger by its rank among the surviving voters so two
//! followers do not split the vote. Nothing happens if the leader is heard from after
//! the close (an alive leader reconnects within a heartbeat interval) or another
//! leader is known by then; a silent leader (a network partition closes nothing) is
//! left to openraft's timer.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::ListenerState;

/// Added to the lease end for heartbeats the other voters received after ours.
const MARGIN: Duration = Duration::from_millis(50);

/// When this node last accepted AppendEntries from a raft leader, and from which.
#[derive(Debug, Default)]
pub(crate) struct LeaderSeen(Mutex<Option<(u64, Instant)>>);

impl LeaderSeen {
    pub(crate) fn heard_from(&self, leader: Option<u64>) {
        if let Some(leader) = leader {
            *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some((leader, Instant::now()));
        }
    }

    fn last(&self) -> Option<(u64, Instant)> {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// How long after the leader's connection closed `me` should elect, or None when it
/// should not (it is the leader, or no voter). `since_heard` is how long ago it last
/// heard from the leader; `lease` is the voters' leader lease (`election_timeout_max`).
pub(crate) fn election_delay(
    me: u64,
    leader: u64,
    voters: &[u64],
    since_heard: Duration,
    lease: Duration,
) -> Option<Duration> {
    if me == leader {
        return None;
    }
    let mut survivors: Vec<u64> = voters.iter().copied().filter(|v| *v != leader).collect();
    survivors.sort_unstable();
    let rank = survivors.iter().position(|v| *v == me)?;
    let stagger = lease / 4 * u32::try_from(rank).unwrap_or(u32::MAX);
    Some(lease.saturating_sub(since_heard) + MARGIN + stagger)
}

/// The connection that carried `leader`'s AppendEntries closed: elect once the lease
/// has run out, unless the leader turns out to be alive.
pub(crate) fn leader_connection_closed(state: &Arc<ListenerState>, leader: u64) {
    let closed_at = Instant::now();
    let metrics = state.raft.metrics().borrow().clone();
    if metrics.current_leader != Some(leader) {
        return;
    }
    let Some((seen, at)) = state.leader_seen.last() else {
        return;
    };
    if seen != leader {
        return;
    }
    let voters: Vec<u64> = metrics.membership_config.membership().voter_ids().collect();
    let lease = Duration::from_millis(state.raft.config().election_timeout_max);
    let Some(delay) = election_delay(state.node_id, leader, &voters, at.elapsed(), lease) else {
        return;
    };
    let state = state.clone();
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        if state
            .leader_seen
            .last()
            .is_some_and(|(l, at)| l == leader && at > closed_at)
        {
            return;
        }
        if state.raft.metrics().borrow().current_leader != Some(leader) {
            return;
        }
        tracing::info!(
            leader,
            after_ms = delay.as_millis() as u64,
            "the raft leader's connection closed and it stayed silent; electing"
        );
        if let Err(e) = state.raft.trigger().elect().await {
            tracing::debug!(error = %e, "triggering an election failed");
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEASE: Duration = Duration::from_millis(1000);

    #[test]
    fn the_lowest_surviving_voter_elects_first_once_the_lease_ran_out() {
        let voters = [1, 2, 3];
        let heard = Duration::from_millis(120);
        let first = election_delay(2, 1, &voters, heard, LEASE).unwrap();
        let second = election_delay(3, 1, &voters, heard, LEASE).unwrap();
        assert_eq!(first, Duration::from_millis(1000 - 120 + 50));
        assert_eq!(second, first + LEASE / 4);
        // Leader 2 dead: 1 goes first, 3 second.
        assert_eq!(
            election_delay(1, 2, &voters, heard, LEASE),
            Some(Duration::from_millis(930))
        );
    }

    #[test]
    fn the_leader_itself_and_non_voters_do_not_elect() {
        assert_eq!(
            election_delay(1, 1, &[1, 2, 3], Duration::ZERO, LEASE),
            None
        );
        assert_eq!(
            election_delay(9, 1, &[1, 2, 3], Duration::ZERO, LEASE),
            None
        );
    }

    #[test]
    fn a_lease_already_run_out_elects_after_the_margin_only() {
        let delay = election_delay(2, 1, &[1, 2, 3], Duration::from_secs(5), LEASE);
        assert_eq!(delay, Some(MARGIN));
    }
}
