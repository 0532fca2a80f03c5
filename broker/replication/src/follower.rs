//! `FollowerState`: one partition's follower-side replication state (Kafka's
//! `AbstractFetcherThread` / `ReplicaFetcherThread` for one partition). It decides
//! what to ask the leader next and how to react to its answers: append, truncate a
//! divergent tail (KIP-101/KIP-279 via OffsetForLeaderEpoch, KIP-320 via the fetch
//! response's diverging epoch), reset after OFFSET_OUT_OF_RANGE, back off, or stop
//! until the metadata names a newer leader epoch.
//!
//! It does not touch the log: the caller performs the [`FollowerAction`] on its log and
//! epoch cache and passes their new state back in.

use kafka_protocol::ResponseError;

use crate::epoch_cache::{EpochEndOffset, LeaderEpochCache};
use crate::leader::FollowerFetch;
use crate::{ReplicaId, UNDEFINED_EPOCH};

/// What the metadata said when this broker became a follower.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FollowerInit {
    pub local_id: ReplicaId,
    /// This broker's registration epoch, sent in every fetch (KIP-903).
    pub broker_epoch: i64,
    pub leader_id: ReplicaId,
    pub leader_epoch: i32,
    /// The checkpointed high watermark.
    pub high_watermark: i64,
    /// Truncate from the fetch response's diverging epoch (KIP-320) instead of a
    /// separate OffsetForLeaderEpoch round trip first.
    pub truncation_on_fetch: bool,
}

/// The next thing the follower needs from the leader, or a local step before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FollowerRequest {
    Fetch(FollowerFetch),
    /// OffsetForLeaderEpoch for the follower's latest epoch.
    OffsetForLeaderEpoch {
        replica_id: ReplicaId,
        current_leader_epoch: i32,
        leader_epoch: i32,
    },
    /// The leader answered OFFSET_OUT_OF_RANGE: ListOffsets as a replica for its
    /// earliest and latest offsets, then call [`FollowerState::on_leader_offsets`].
    ListOffsets {
        replica_id: ReplicaId,
        current_leader_epoch: i32,
    },
    /// No epochs are known locally: truncate to the high watermark first (Kafka's
    /// behaviour for logs without epoch information), then ask again.
    TruncateToHighWatermark {
        offset: i64,
    },
    /// Fenced: nothing to send until the metadata names a newer leader epoch.
    Idle,
}

/// The partition part of the leader's fetch response, with the request it answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchPartitionResponse {
    /// The fetch offset and leader epoch of the request (stale answers are ignored).
    pub request_fetch_offset: i64,
    pub request_leader_epoch: i32,
    /// `None` when the leader answered without an error.
    pub error: Option<ResponseError>,
    pub high_watermark: i64,
    pub log_start_offset: i64,
    pub diverging_epoch: Option<EpochEndOffset>,
}

/// What the caller must do with its log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FollowerAction {
    /// Append the response's records (they start at `fetch_offset`, each batch assigning
    /// its epoch in the epoch cache), then call [`FollowerState::on_appended`].
    Append {
        fetch_offset: i64,
        leader_high_watermark: i64,
        leader_log_start_offset: i64,
    },
    /// Truncate the log and its epoch cache to `offset`.
    Truncate { offset: i64 },
    /// Delete the whole log (segments, epoch cache, producer state) and restart it empty
    /// at `offset`: the leader no longer has our log end (Kafka's
    /// `truncateFullyAndStartAt`).
    TruncateFullyAndStartAt { offset: i64 },
    /// The leader has no record at our fetch offset: nothing to do to the log yet;
    /// [`FollowerState::next_request`] now asks for the leader's offsets
    /// ([`FollowerRequest::ListOffsets`]) instead of fetching.
    ListLeaderOffsets,
    /// Retry after the fetch backoff.
    Backoff { error: ResponseError },
    /// Stop fetching until new metadata (FENCED_LEADER_EPOCH).
    AwaitMetadata { error: ResponseError },
    /// A stale answer or nothing to do.
    Ignore,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Fetching,
    /// Waiting for OffsetForLeaderEpoch answers before fetching.
    Truncating,
    /// The leader answered OFFSET_OUT_OF_RANGE: waiting for its log start and end.
    OutOfRange,
    Fenced,
}

/// The leader's answer to [`FollowerRequest::ListOffsets`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaderOffsets {
    /// ListOffsets EARLIEST (-2).
    pub log_start_offset: i64,
    /// ListOffsets LATEST (-1) from a replica: the leader's log end offset.
    pub log_end_offset: i64,
}

/// Follower-side state of one partition for one leader epoch.
#[derive(Debug, Clone)]
pub struct FollowerState {
    init: FollowerInit,
    phase: Phase,
    high_watermark: i64,
}

impl FollowerState {
    /// Kafka's `makeFollower` + `addPartitions`: fetch at once when the log has epochs and
    /// truncation on fetch is supported; otherwise validate the tail with
    /// OffsetForLeaderEpoch first.
    pub fn new(init: FollowerInit, epochs: &LeaderEpochCache, log_end_offset: i64) -> Self {
        let phase = if init.truncation_on_fetch && epochs.latest_epoch().is_some() {
            Phase::Fetching
        } else {
            Phase::Truncating
        };
        Self {
            init,
            phase,
            high_watermark: init.high_watermark.min(log_end_offset),
        }
    }

    pub fn leader_id(&self) -> ReplicaId {
        self.init.leader_id
    }
    pub fn leader_epoch(&self) -> i32 {
        self.init.leader_epoch
    }
    pub fn high_watermark(&self) -> i64 {
        self.high_watermark
    }
    pub fn is_fenced(&self) -> bool {
        self.phase == Phase::Fenced
    }
    pub fn is_truncating(&self) -> bool {
        self.phase == Phase::Truncating
    }
    /// Waiting for the leader's offsets after OFFSET_OUT_OF_RANGE.
    pub fn is_out_of_range(&self) -> bool {
        self.phase == Phase::OutOfRange
    }

    /// What to send next, given the local log's state.
    pub fn next_request(
        &self,
        epochs: &LeaderEpochCache,
        log_start_offset: i64,
        log_end_offset: i64,
    ) -> FollowerRequest {
        match self.phase {
            Phase::Fenced => FollowerRequest::Idle,
            Phase::Truncating => match epochs.latest_epoch() {
                Some(leader_epoch) => FollowerRequest::OffsetForLeaderEpoch {
                    replica_id: self.init.local_id,
                    current_leader_epoch: self.init.leader_epoch,
                    leader_epoch,
                },
                None => FollowerRequest::TruncateToHighWatermark {
                    offset: self.high_watermark,
                },
            },
            Phase::OutOfRange => FollowerRequest::ListOffsets {
                replica_id: self.init.local_id,
                current_leader_epoch: self.init.leader_epoch,
            },
            Phase::Fetching => FollowerRequest::Fetch(FollowerFetch {
                replica_id: self.init.local_id,
                broker_epoch: self.init.broker_epoch,
                current_leader_epoch: Some(self.init.leader_epoch),
                fetch_offset: log_end_offset,
                last_fetched_epoch: epochs.latest_epoch(),
                log_start_offset,
            }),
        }
    }

    /// The caller truncated to the high watermark after `TruncateToHighWatermark`.
    pub fn on_truncated_to_high_watermark(&mut self) {
        if self.phase == Phase::Truncating {
            self.phase = Phase::Fetching;
        }
    }

    /// Handles the leader's fetch response for this partition.
    pub fn on_fetch_response(
        &mut self,
        response: &FetchPartitionResponse,
        epochs: &LeaderEpochCache,
        log_end_offset: i64,
    ) -> FollowerAction {
        // Kafka only processes a response if the partition still fetches from that
        // offset in that epoch: a truncation or leader change since makes it stale.
        if self.phase != Phase::Fetching
            || response.request_leader_epoch != self.init.leader_epoch
            || response.request_fetch_offset != log_end_offset
        {
            return FollowerAction::Ignore;
        }
        match response.error {
            None => match response.diverging_epoch {
                Some(diverging) => {
                    let (offset, completed) =
                        self.truncation_offset(diverging, epochs, log_end_offset);
                    if !completed && !self.init.truncation_on_fetch {
                        self.phase = Phase::Truncating;
                    }
                    self.truncate(offset)
                }
                None => FollowerAction::Append {
                    fetch_offset: log_end_offset,
                    leader_high_watermark: response.high_watermark,
                    leader_log_start_offset: response.log_start_offset,
                },
            },
            Some(ResponseError::OffsetOutOfRange) => {
                self.phase = Phase::OutOfRange;
                FollowerAction::ListLeaderOffsets
            }
            Some(ResponseError::FencedLeaderEpoch) => self.fence(ResponseError::FencedLeaderEpoch),
            Some(error) => FollowerAction::Backoff { error },
        }
    }

    /// Handles the OffsetForLeaderEpoch answer for the epoch `next_request` asked about.
    pub fn on_offset_for_leader_epoch(
        &mut self,
        request_leader_epoch: i32,
        answer: Result<EpochEndOffset, ResponseError>,
        epochs: &LeaderEpochCache,
        log_end_offset: i64,
    ) -> FollowerAction {
        if self.phase != Phase::Truncating || request_leader_epoch != self.init.leader_epoch {
            return FollowerAction::Ignore;
        }
        match answer {
            Ok(end) => {
                let (offset, completed) = self.truncation_offset(end, epochs, log_end_offset);
                if completed {
                    self.phase = Phase::Fetching;
                }
                self.truncate(offset)
            }
            Err(ResponseError::FencedLeaderEpoch) => self.fence(ResponseError::FencedLeaderEpoch),
            Err(error) => FollowerAction::Backoff { error },
        }
    }

    /// Kafka's `fetchOffsetAndTruncate` after OFFSET_OUT_OF_RANGE: the leader's answer
    /// to [`FollowerRequest::ListOffsets`] (its log start and log end offsets) for the
    /// leader epoch the request named. Fetching resumes afterwards.
    pub fn on_leader_offsets(
        &mut self,
        request_leader_epoch: i32,
        answer: Result<LeaderOffsets, ResponseError>,
        log_end_offset: i64,
    ) -> FollowerAction {
        if self.phase != Phase::OutOfRange || request_leader_epoch != self.init.leader_epoch {
            return FollowerAction::Ignore;
        }
        let leader = match answer {
            Ok(leader) => leader,
            Err(ResponseError::FencedLeaderEpoch) => {
                return self.fence(ResponseError::FencedLeaderEpoch);
            }
            // Still out of range: ask again after the backoff.
            Err(error) => return FollowerAction::Backoff { error },
        };
        self.phase = Phase::Fetching;
        if leader.log_end_offset < log_end_offset {
            // Only reachable after an unclean election: keep what the leader has.
            return self.truncate(leader.log_end_offset);
        }
        if leader.log_start_offset > log_end_offset {
            self.high_watermark = leader.log_start_offset;
            return FollowerAction::TruncateFullyAndStartAt {
                offset: leader.log_start_offset,
            };
        }
        // The range moved back over our end meanwhile (a new leader): fetch again.
        FollowerAction::Ignore
    }

    /// The caller appended the fetched records: Kafka's follower high watermark is the
    /// leader's, capped by what this replica has.
    pub fn on_appended(
        &mut self,
        log_start_offset: i64,
        log_end_offset: i64,
        leader_high_watermark: i64,
    ) {
        self.high_watermark =
            leader_high_watermark.clamp(log_start_offset, log_end_offset.max(log_start_offset));
    }

    /// Kafka's `getOffsetTruncationState`: where to truncate given the leader's
    /// `(epoch, end offset)`, and whether that is final.
    fn truncation_offset(
        &self,
        leader: EpochEndOffset,
        epochs: &LeaderEpochCache,
        log_end_offset: i64,
    ) -> (i64, bool) {
        if leader.is_undefined() {
            // The leader knows nothing about our epoch: only the high watermark is safe.
            return (self.high_watermark, true);
        }
        if leader.epoch == UNDEFINED_EPOCH {
            return (leader.end_offset.min(log_end_offset), true);
        }
        let local = epochs.end_offset_for(leader.epoch, log_end_offset);
        if local.is_undefined() {
            // We did not track epochs that far back: the leader's offset is the answer.
            return (leader.end_offset.min(log_end_offset), true);
        }
        if local.epoch != leader.epoch {
            // We never saw the leader's epoch: cut to the end of our largest smaller epoch
            // and ask again about the epoch before it.
            return (local.end_offset.min(log_end_offset), false);
        }
        (
            local.end_offset.min(leader.end_offset).min(log_end_offset),
            true,
        )
    }

    fn truncate(&mut self, offset: i64) -> FollowerAction {
        self.high_watermark = self.high_watermark.min(offset);
        FollowerAction::Truncate { offset }
    }

    fn fence(&mut self, error: ResponseError) -> FollowerAction {
        self.phase = Phase::Fenced;
        FollowerAction::AwaitMetadata { error }
    }
}

#[cfg(test)]
#[path = "follower_tests.rs"]
mod tests;
