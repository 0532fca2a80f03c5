//! One Fetch round trip of a follower's fetcher: the request built in the KIP-227
//! session with its leader (only the partitions whose request changed, and those to
//! forget), the answer applied partition by partition.

use std::collections::HashMap;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::fetch_request::{
    FetchPartition, FetchTopic, ForgottenTopic, ReplicaState,
};
use kafka_protocol::messages::{BrokerId, FetchRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use tidewater_client::Connection;
use tidewater_replication::{EpochEndOffset, FetchPartitionResponse};
use tidewater_storage::TopicPartition;
use tracing::debug;
use uuid::Uuid;

use super::ReplicaManager;
use super::fetch_plan::Followed;
use super::fetcher::on_response;
use super::follower_session::{FollowerSession, Next, Sent};
use super::follower_throttle::Grant;

fn topic_key(version: i16, name: &str, id: Uuid) -> (String, Uuid) {
    if version >= 13 {
        (String::new(), id)
    } else {
        (name.to_string(), Uuid::nil())
    }
}

/// What one round sends: the fetches of the partitions it looked at, those among
/// them that are not fetched now, and whether it looked at every followed partition.
pub(super) struct Round<'a> {
    pub fetches: &'a [(usize, tidewater_replication::FollowerFetch)],
    pub stopped: &'a [usize],
    pub full: bool,
}

/// The broker epoch (KIP-903) a fetch carries: that of this round's fetches, else the
/// one the session's last fetches carried. A partial round naming no partition must
/// still carry it: the leader checks it for every partition of the session, and -1
/// was STALE_BROKER_EPOCH for all of them (an idle follower re-fetching everything).
fn replica_epoch(
    fetches: &[(usize, tidewater_replication::FollowerFetch)],
    last: Option<i64>,
) -> i64 {
    fetches
        .first()
        .map(|(_, f)| f.broker_epoch)
        .or(last)
        .unwrap_or(-1)
}

/// One Fetch round trip in the session with this leader; Ok(false) asks for a backoff.
/// A partial round (not `full`) names only what changed since the session's last
/// request; the answer may still name any partition of the session.
pub(super) async fn fetch(
    replicas: &ReplicaManager,
    conn: &Connection,
    session: &mut FollowerSession,
    followed: &mut Followed,
    round: Round<'_>,
    grant: &Grant,
) -> Result<bool, tidewater_client::ClientError> {
    let version = conn.version_for::<FetchRequest>()?;
    let settings = &replicas.settings;
    let mut req = FetchRequest::default();
    if version >= 15 {
        let mut rs = ReplicaState::default();
        rs.replica_id = BrokerId(replicas.node_id);
        rs.replica_epoch = replica_epoch(round.fetches, followed.broker_epoch());
        req.replica_state = rs;
        req.replica_id = BrokerId(-1);
    } else {
        req.replica_id = BrokerId(replicas.node_id);
    }
    req.max_wait_ms = settings.fetch_wait_max_ms;
    req.min_bytes = settings.fetch_min_bytes;
    req.max_bytes = settings.fetch_response_max_bytes;
    let wanted: Vec<(&TopicPartition, Sent)> = round
        .fetches
        .iter()
        .map(|(i, f)| {
            let p = followed.partition(*i);
            let sent = Sent {
                topic_id: Uuid::from_u128(p.topic_id),
                fetch_offset: f.fetch_offset,
                current_leader_epoch: f.current_leader_epoch.unwrap_or(-1),
                last_fetched_epoch: f.last_fetched_epoch.unwrap_or(-1),
                log_start_offset: f.log_start_offset,
                partition_max_bytes: grant.partition_max_bytes(p, settings.fetch_max_bytes),
            };
            (&p.tp, sent)
        })
        .collect();
    let sessions = version >= 7;
    let next = if !sessions {
        Next {
            session_id: 0,
            session_epoch: -1,
            include: (0..wanted.len()).collect(),
            forget: Vec::new(),
        }
    } else if round.full {
        session.next(&wanted)
    } else {
        let stopped: Vec<&TopicPartition> = round
            .stopped
            .iter()
            .map(|i| &followed.partition(*i).tp)
            .collect();
        session.next_partial(&wanted, &stopped)
    };
    req.session_id = next.session_id;
    req.session_epoch = next.session_epoch;
    let mut topics: HashMap<(String, Uuid), usize> = HashMap::new();
    for &i in &next.include {
        let (tp, sent) = &wanted[i];
        let mut fp = FetchPartition::default();
        fp.partition = tp.partition;
        fp.current_leader_epoch = sent.current_leader_epoch;
        fp.fetch_offset = sent.fetch_offset;
        fp.last_fetched_epoch = sent.last_fetched_epoch;
        fp.log_start_offset = sent.log_start_offset;
        fp.partition_max_bytes = sent.partition_max_bytes;
        let key = topic_key(version, &tp.topic, sent.topic_id);
        let pos = *topics.entry(key).or_insert_with_key(|(name, id)| {
            let mut t = FetchTopic::default();
            t.topic = TopicName(StrBytes::from_string(name.clone()));
            t.topic_id = *id;
            req.topics.push(t);
            req.topics.len() - 1
        });
        req.topics[pos].partitions.push(fp);
    }
    req.forgotten_topics_data = forgotten(version, &next.forget, session);
    drop(wanted);
    let resp = match conn.send(req).await {
        Ok(resp) => resp,
        Err(e) => {
            session.reset();
            return Err(e);
        }
    };
    if resp.error_code != 0 {
        session.reset();
        let error = ResponseError::try_from_code(resp.error_code);
        if FollowerSession::is_session_error(error) {
            // The leader restarted or evicted the session: the next, full request
            // opens a new one at once.
            debug!(
                code = resp.error_code,
                "fetch session lost; starting a new one"
            );
            return Ok(true);
        }
        debug!(code = resp.error_code, "fetch refused by the leader");
        return Ok(false);
    }
    if sessions {
        session.on_response(resp.session_id);
    }
    // The leader holds these requests now: only a partition the answer names (below)
    // needs looking at again.
    for (i, f) in round.fetches {
        followed.set_sent(*i, Some(*f));
        followed.clean(*i);
    }
    for i in round.stopped {
        followed.set_sent(*i, None);
    }
    let mut all_ok = true;
    for t in resp.responses {
        for pd in t.partitions {
            // Looked up in the fetcher's index of its partitions: a linear search per
            // partition made every fetch O(partitions x topics).
            let found = if version >= 13 {
                followed.index_by_id(t.topic_id.as_u128(), pd.partition_index)
            } else {
                followed.index_by_name(t.topic.0.as_str(), pd.partition_index)
            };
            let Some(i) = found else { continue };
            followed.mark(i);
            let Some(f) = followed.sent(i) else { continue };
            let p = followed.partition(i).clone();
            if pd.error_code != 0 {
                session.resend(&p.tp);
            }
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
            all_ok &= on_response(replicas, &p, &response, records);
        }
    }
    Ok(all_ok)
}

/// The partitions a session no longer fetches, as the request lists them: each under
/// the topic id the session sent it with, since a topic deleted meanwhile is gone from
/// this broker's image and the leader (v13+) knows the session's partitions by id.
fn forgotten(
    version: i16,
    forget: &[TopicPartition],
    session: &FollowerSession,
) -> Vec<ForgottenTopic> {
    let mut out: Vec<ForgottenTopic> = Vec::new();
    for tp in forget {
        let id = if version >= 13 {
            session.topic_id(tp).unwrap_or_else(Uuid::nil)
        } else {
            Uuid::nil()
        };
        let (name, id) = topic_key(version, &tp.topic, id);
        match out
            .iter_mut()
            .find(|f| f.topic_id == id && f.topic.0.as_str() == name)
        {
            Some(f) => f.partitions.push(tp.partition),
            None => {
                let mut f = ForgottenTopic::default();
                f.topic = TopicName(StrBytes::from_string(name));
                f.topic_id = id;
                f.partitions.push(tp.partition);
                out.push(f);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use tidewater_replication::FollowerFetch;

    use super::replica_epoch;

    #[test]
    fn a_fetch_naming_no_partition_carries_the_last_broker_epoch() {
        let fetch = FollowerFetch {
            replica_id: 1,
            broker_epoch: 9,
            current_leader_epoch: Some(0),
            fetch_offset: 0,
            last_fetched_epoch: None,
            log_start_offset: 0,
        };
        assert_eq!(replica_epoch(&[(0, fetch)], Some(7)), 9);
        assert_eq!(replica_epoch(&[], Some(7)), 7);
        assert_eq!(replica_epoch(&[], None), -1);
    }
}
