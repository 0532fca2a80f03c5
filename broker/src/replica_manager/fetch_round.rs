//! One follower fetch round trip (Kafka's `ReplicaFetcherThread.fetchFromLeader` and
//! `processPartitionData`): the request through the fetcher's KIP-227 session (only
//! partitions whose position changed are listed), and each partition's answer applied
//! as the follower state machine decides (append, truncate, back off).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::fetch_request::{
    FetchPartition, FetchTopic, ForgottenTopic, ReplicaState,
};
use kafka_protocol::messages::{BrokerId, FetchRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use tidewater_client::Connection;
use tidewater_replication::{
    EpochEndOffset, FetchPartitionResponse, FollowerAction, FollowerFetch,
};
use tracing::{debug, info, warn};
use uuid::Uuid;

use super::fetch_session::{FetchPosition, FollowerSession, SessionKey, session_key};
use super::fetcher::{delay, error_backoff};
use super::follower_throttle::Grant;
use super::truncation::{append_as_follower, restart_log_at, truncate_with_progress};
use super::{Partition, Role};
use crate::broker_server::Broker;

/// One Fetch round trip; Ok(false) asks for a backoff.
pub(super) async fn fetch(
    broker: &Broker,
    leader: i32,
    conn: &Connection,
    parts: &[(Arc<Partition>, FollowerFetch)],
    grant: &Grant,
    session: &mut FollowerSession,
) -> Result<bool, tidewater_client::ClientError> {
    let version = conn.version_for::<FetchRequest>()?;
    let settings = &broker.config().replica;
    let mut req = FetchRequest::default();
    if version >= 15 {
        let mut rs = ReplicaState::default();
        rs.replica_id = BrokerId(broker.config().node_id);
        rs.replica_epoch = parts.first().map_or(-1, |(_, f)| f.broker_epoch);
        req.replica_state = rs;
        req.replica_id = BrokerId(-1);
    } else {
        req.replica_id = BrokerId(broker.config().node_id);
    }
    req.max_wait_ms = settings.fetch_wait_max_ms;
    req.min_bytes = settings.fetch_min_bytes;
    req.max_bytes = settings.fetch_response_max_bytes;
    // Every partition of the round with its key, and the key -> `parts` index the
    // answer is matched with (hash maps: a linear search per partition made every fetch
    // O(partitions x topics), most of a follower's CPU at 10,000 partitions).
    let positions: Vec<(SessionKey, FetchPosition)> = parts
        .iter()
        .map(|(p, f)| {
            let key = session_key(
                version,
                &p.tp.topic,
                Uuid::from_u128(p.topic_id),
                p.tp.partition,
            );
            let position = FetchPosition {
                current_leader_epoch: f.current_leader_epoch.unwrap_or(-1),
                fetch_offset: f.fetch_offset,
                last_fetched_epoch: f.last_fetched_epoch.unwrap_or(-1),
                log_start_offset: f.log_start_offset,
                partition_max_bytes: grant.partition_max_bytes(p, settings.fetch_max_bytes),
            };
            (key, position)
        })
        .collect();
    let shaped = session.build(&positions, version >= 7);
    if session.starts_session(&shaped) {
        info!(
            leader,
            partitions = parts.len(),
            old_session = shaped.session_id,
            "replica fetch: full fetch, starting a fetch session"
        );
    }
    req.session_id = shaped.session_id;
    req.session_epoch = shaped.epoch;
    let mut topics: HashMap<(&str, Uuid), usize> = HashMap::new();
    for &i in &shaped.send {
        let ((name, id, partition), position) = &positions[i];
        let mut fp = FetchPartition::default();
        fp.partition = *partition;
        fp.current_leader_epoch = position.current_leader_epoch;
        fp.fetch_offset = position.fetch_offset;
        fp.last_fetched_epoch = position.last_fetched_epoch;
        fp.log_start_offset = position.log_start_offset;
        fp.partition_max_bytes = position.partition_max_bytes;
        let pos = *topics.entry((name.as_str(), *id)).or_insert_with(|| {
            let mut t = FetchTopic::default();
            t.topic = TopicName(StrBytes::from_string(name.clone()));
            t.topic_id = *id;
            req.topics.push(t);
            req.topics.len() - 1
        });
        req.topics[pos].partitions.push(fp);
    }
    let mut forgotten: HashMap<(&str, Uuid), usize> = HashMap::new();
    for (name, id, partition) in &shaped.forgotten {
        let pos = *forgotten.entry((name.as_str(), *id)).or_insert_with(|| {
            let mut t = ForgottenTopic::default();
            t.topic = TopicName(StrBytes::from_string(name.clone()));
            t.topic_id = *id;
            req.forgotten_topics_data.push(t);
            req.forgotten_topics_data.len() - 1
        });
        req.forgotten_topics_data[pos].partitions.push(*partition);
    }
    let index: HashMap<&SessionKey, usize> = positions
        .iter()
        .enumerate()
        .map(|(i, (key, _))| (key, i))
        .collect();
    let resp = match conn.send(req).await {
        Ok(resp) => resp,
        Err(e) => {
            session.on_error();
            return Err(e);
        }
    };
    if !session.on_response(resp.error_code, resp.session_id) {
        info!(
            leader,
            code = resp.error_code,
            session = shaped.session_id,
            epoch = shaped.epoch,
            "fetch refused by the leader"
        );
        // A lost or out-of-step session is fetched in full at once; anything else waits.
        return Ok(is_session_error(resp.error_code));
    }
    let mut all_ok = true;
    for t in resp.responses {
        let name = t.topic.0.to_string();
        for pd in t.partitions {
            let key = (name.clone(), t.topic_id, pd.partition_index);
            let Some(&i) = index.get(&key) else {
                continue;
            };
            let (p, f) = &parts[i];
            let diverging = (pd.diverging_epoch.epoch >= 0).then_some(EpochEndOffset {
                epoch: pd.diverging_epoch.epoch,
                end_offset: pd.diverging_epoch.end_offset,
            });
            let response = FetchPartitionResponse {
                request_fetch_offset: f.fetch_offset,
                request_leader_epoch: f.current_leader_epoch.unwrap_or(-1),
                error: ResponseError::try_from_code(pd.error_code),
                high_watermark: pd.high_watermark,
                log_start_offset: pd.log_start_offset,
                diverging_epoch: diverging,
            };
            let records = pd.records.unwrap_or_default();
            all_ok &= on_response(broker, p, &response, records);
        }
    }
    Ok(all_ok)
}

fn is_session_error(code: i16) -> bool {
    use kafka_protocol::error::ResponseError as E;
    code == E::FetchSessionIdNotFound.code() || code == E::InvalidFetchSessionEpoch.code()
}

/// Applies one partition's fetch answer; false asks for a backoff.
fn on_response(
    broker: &Broker,
    p: &Partition,
    response: &FetchPartitionResponse,
    records: Bytes,
) -> bool {
    let mut inner = p.lock();
    let Role::Follower(state) = &mut inner.role else {
        return true;
    };
    let log = &p.log;
    let action = state.on_fetch_response(response, &p.epochs(), log.log_end_offset());
    let backoff = Duration::from_millis(broker.config().replica.fetch_backoff_ms.max(50));
    let ok = match action {
        FollowerAction::Append {
            leader_high_watermark,
            ..
        } => {
            if !records.is_empty() {
                match append_as_follower(p, &records) {
                    Ok(_) => {
                        let bytes = records.len() as u64;
                        broker.metrics().replication_bytes_in(&p.tp.topic, bytes);
                        let mut quota = broker.replicas().follower_quota();
                        if quota.is_throttled(&p.tp.topic, p.tp.partition) {
                            quota.record(bytes, crate::broker_server::mono_ms());
                            broker.metrics().throttled_bytes(bytes);
                        }
                    }
                    Err(e) => {
                        if inner.stuck_log_due(Instant::now()) {
                            warn!(tp = %p.tp, error = %e, "follower append failed; backing off");
                        }
                        delay(&mut inner, backoff);
                        return true;
                    }
                }
            }
            state.on_appended(
                log.log_start_offset(),
                log.log_end_offset(),
                leader_high_watermark,
            );
            // The leader's log start offset (DeleteRecords, retention) moves ours too,
            // as far as this replica's high watermark allows (Kafka's follower
            // `maybeIncrementLogStartOffset`).
            let leader_start = response.log_start_offset.min(state.high_watermark());
            if leader_start > log.log_start_offset() {
                log.update_high_watermark(state.high_watermark().min(log.log_end_offset()));
                if let Err(e) = log.delete_records_before(leader_start) {
                    debug!(tp = %p.tp, error = %e, "cannot follow the leader's log start offset");
                }
            }
            true
        }
        FollowerAction::Truncate { offset } => match truncate_with_progress(p, offset) {
            Ok(true) => {
                info!(tp = %p.tp, offset, "truncated divergent tail");
                true
            }
            Ok(false) => {
                // The same answer would come back at once: back off, log at a bounded rate.
                if inner.stuck_log_due(Instant::now()) {
                    warn!(tp = %p.tp, offset, epochs = ?log.leader_epoch_entries(), "divergent tail truncation made no progress; backing off");
                }
                delay(&mut inner, backoff);
                true
            }
            Err(e) => {
                warn!(tp = %p.tp, error = %e, "truncation failed");
                delay(&mut inner, backoff);
                true
            }
        },
        FollowerAction::TruncateFullyAndStartAt { offset } => {
            restart_log_at(p, &mut inner, offset, backoff);
            true
        }
        FollowerAction::ListLeaderOffsets => {
            // The next round asks the leader for its offsets (FollowerRequest::ListOffsets).
            info!(tp = %p.tp, fetch_offset = response.request_fetch_offset, "fetch offset out of range on the leader; asking for its log start and end");
            true
        }
        FollowerAction::Backoff { error } => {
            debug!(tp = %p.tp, code = error.code(), "fetch error; backing off");
            delay(&mut inner, error_backoff(broker, error));
            true
        }
        FollowerAction::AwaitMetadata { error } => {
            debug!(tp = %p.tp, code = error.code(), "fenced; waiting for new metadata");
            true
        }
        FollowerAction::Ignore => true,
    };
    if inner.sync_high_watermark(log) {
        broker.replicas().notifier().notify();
    }
    ok
}
