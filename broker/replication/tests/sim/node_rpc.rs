//! How a simulated broker serves and answers replication RPCs: the leader side reads
//! its log for fetches and answers epoch and offset queries; the follower side applies
//! the `FollowerAction`s the state machine decides.

use kafka_protocol::ResponseError;
use tidewater_replication::{
    FetchKind, FetchPartitionResponse, FollowerAction, FollowerState, LeaderOffsets, ReplicaId,
};

use super::{Ctx, FETCH_BACKOFF_MS, MAX_FETCH_RECORDS, Node, Role};
use crate::log::Rec;
use crate::network::{Envelope, Msg};

impl Node {
    /// The epoch check a broker that is not the leader applies to a leader request.
    fn not_leader_error(&self, request_epoch: Option<i32>) -> ResponseError {
        match request_epoch {
            Some(e) if e < self.known_leader_epoch => ResponseError::FencedLeaderEpoch,
            Some(e) if e > self.known_leader_epoch => ResponseError::UnknownLeaderEpoch,
            _ => ResponseError::NotLeaderOrFollower,
        }
    }

    pub fn handle(&mut self, env: Envelope, ctx: &mut Ctx) {
        let from = env.from;
        match env.msg {
            Msg::Fetch(fetch) => {
                let mut response = FetchPartitionResponse {
                    request_fetch_offset: fetch.fetch_offset,
                    request_leader_epoch: fetch.current_leader_epoch.unwrap_or(-1),
                    error: None,
                    high_watermark: -1,
                    log_start_offset: 0,
                    diverging_epoch: None,
                };
                let mut records = Vec::new();
                let error = self.not_leader_error(fetch.current_leader_epoch);
                match &mut self.role {
                    Role::Leader(l) => match l.on_fetch(&fetch, &self.log.epochs, ctx.now) {
                        Ok(r) => {
                            response.high_watermark = r.high_watermark;
                            match r.kind {
                                FetchKind::Records { fetch_offset } => {
                                    let start =
                                        usize::try_from(fetch_offset).expect("validated offset");
                                    let end = self.log.records.len().min(start + MAX_FETCH_RECORDS);
                                    records = self.log.records[start..end].to_vec();
                                }
                                FetchKind::Diverging(d) => response.diverging_epoch = Some(d),
                            }
                        }
                        Err(e) => response.error = Some(e.error()),
                    },
                    _ => response.error = Some(error),
                }
                self.drain_leader(ctx);
                self.send(ctx, from, Msg::FetchResponse { response, records });
            }
            Msg::OffsetForLeaderEpoch {
                current_leader_epoch,
                leader_epoch,
            } => {
                let error = self.not_leader_error(Some(current_leader_epoch));
                let result = match &self.role {
                    Role::Leader(l) => l
                        .check_leader_epoch(Some(current_leader_epoch))
                        .map(|()| {
                            self.log
                                .epochs
                                .end_offset_for(leader_epoch, self.log.end_offset())
                        })
                        .map_err(|e| e.error()),
                    _ => Err(error),
                };
                self.send(
                    ctx,
                    from,
                    Msg::OffsetForLeaderEpochResponse {
                        request_leader_epoch: current_leader_epoch,
                        result,
                    },
                );
            }
            Msg::ListOffsets {
                current_leader_epoch,
            } => {
                let error = self.not_leader_error(Some(current_leader_epoch));
                let result = match &self.role {
                    Role::Leader(l) => l
                        .check_leader_epoch(Some(current_leader_epoch))
                        .map(|()| (0, self.log.end_offset()))
                        .map_err(|e| e.error()),
                    _ => Err(error),
                };
                self.send(
                    ctx,
                    from,
                    Msg::ListOffsetsResponse {
                        request_leader_epoch: current_leader_epoch,
                        result,
                    },
                );
            }
            Msg::FetchResponse { response, records } => {
                let Some(state) = follower_of(&mut self.role, from) else {
                    return;
                };
                let action =
                    state.on_fetch_response(&response, &self.log.epochs, self.log.end_offset());
                self.apply_follower_action(action, &records, ctx);
            }
            Msg::OffsetForLeaderEpochResponse {
                request_leader_epoch,
                result,
            } => {
                let Some(state) = follower_of(&mut self.role, from) else {
                    return;
                };
                let action = state.on_offset_for_leader_epoch(
                    request_leader_epoch,
                    result,
                    &self.log.epochs,
                    self.log.end_offset(),
                );
                self.apply_follower_action(action, &[], ctx);
            }
            Msg::ListOffsetsResponse {
                request_leader_epoch,
                result,
            } => {
                let Some(state) = follower_of(&mut self.role, from) else {
                    return;
                };
                let answer = result.map(|(start, end)| LeaderOffsets {
                    log_start_offset: start,
                    log_end_offset: end,
                });
                let action =
                    state.on_leader_offsets(request_leader_epoch, answer, self.log.end_offset());
                self.apply_follower_action(action, &[], ctx);
            }
            Msg::AlterPartitionResponse(response) => {
                let Role::Leader(l) = &mut self.role else {
                    return;
                };
                if l.on_alter_partition_response(response, ctx.now) {
                    self.alter_sent_at = 0; // Resend at once.
                }
                self.drain_leader(ctx);
            }
            Msg::AlterPartition(_) => {}
        }
    }

    fn apply_follower_action(&mut self, action: FollowerAction, records: &[Rec], ctx: &mut Ctx) {
        let Role::Follower {
            state,
            backoff_until,
            ..
        } = &mut self.role
        else {
            return;
        };
        match action {
            FollowerAction::Append {
                leader_high_watermark,
                ..
            } => {
                for &rec in records {
                    self.log.append(rec);
                }
                state.on_appended(0, self.log.end_offset(), leader_high_watermark);
            }
            FollowerAction::Truncate { offset } => self.log.truncate(offset),
            FollowerAction::TruncateFullyAndStartAt { offset } => {
                panic!(
                    "replica {}: the simulation has no retention, yet was told to restart the log at {offset}",
                    self.id
                )
            }
            // The next poll asks the leader for its offsets (FollowerRequest::ListOffsets).
            FollowerAction::ListLeaderOffsets => {}
            FollowerAction::Backoff { .. } => *backoff_until = ctx.now + FETCH_BACKOFF_MS,
            FollowerAction::AwaitMetadata { .. } | FollowerAction::Ignore => {}
        }
    }
}

/// The follower state if `from` is our leader; clears the in-flight marker.
fn follower_of(role: &mut Role, from: ReplicaId) -> Option<&mut FollowerState> {
    match role {
        Role::Follower {
            state,
            inflight_since,
            ..
        } if state.leader_id() == from => {
            *inflight_since = None;
            Some(state)
        }
        _ => None,
    }
}
