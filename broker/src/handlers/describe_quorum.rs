//! DescribeQuorum (v0-2): the metadata quorum as its leader sees it — topic
//! `__cluster_metadata` partition 0, leader id and epoch, high watermark, voters and
//! observers with their log end offsets, and (v2) the voters' controller endpoints.
//!
//! Also owns [`forwarded`]: how a failure of a call forwarded to the controller becomes
//! the error code a client sees, shared by every admin API the controller decides.
//!
//! Every node has a quorum: one without `process.roles` is its own only voter.

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::describe_quorum_response::{
    Listener, Node, PartitionData, ReplicaState, TopicData,
};
use kafka_protocol::messages::{
    BrokerId, DescribeQuorumRequest, DescribeQuorumResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use tidewater_quorum::rpc::{
    ControllerCall, ControllerFailure, ControllerReply, QuorumInfo, ReplicaProgress, codes,
};

use super::msg;
use crate::broker_server::{MetadataView, now_ms};
use crate::config::Voter;
use crate::kafka_error::KafkaError;
use crate::kraft::Cluster;

/// The metadata log's topic name, as Kafka reports it.
pub const METADATA_TOPIC: &str = "__cluster_metadata";

/// A controller failure as the forwarding broker reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forwarded {
    pub error: KafkaError,
    /// No controller answered: later calls in the same request would only wait out
    /// the same timeout, so the handler fails them at once.
    pub unreachable: bool,
}

/// Kafka's brokers forward these APIs to the active controller and retry a
/// NOT_CONTROLLER answer against the next controller until the request times out,
/// then answer REQUEST_TIMED_OUT; a client never sees NOT_CONTROLLER from a KRaft
/// broker. Every other code is the controller's own decision and passes unchanged.
pub fn forwarded(f: &ControllerFailure) -> Forwarded {
    if f.error_code == codes::NOT_CONTROLLER || f.error_code == codes::REQUEST_TIMED_OUT {
        Forwarded {
            error: KafkaError::new(
                E::RequestTimedOut,
                format!("Timed out waiting for the active controller: {}", f.message),
            ),
            unreachable: true,
        }
    } else {
        Forwarded {
            error: KafkaError::from(f.clone()),
            unreachable: false,
        }
    }
}

/// Runs a call whose success is [`ControllerReply::Done`], as the client should see
/// its failure.
pub async fn forward_done(cluster: &Cluster, call: ControllerCall) -> Result<(), Forwarded> {
    match cluster.call(call).await {
        Ok(ControllerReply::Done) => Ok(()),
        Ok(other) => Err(Forwarded {
            error: KafkaError::new(
                E::UnknownServerError,
                format!("unexpected controller reply {other:?}"),
            ),
            unreachable: false,
        }),
        Err(f) => Err(forwarded(&f)),
    }
}

pub async fn handle(
    metadata: &MetadataView,
    req: DescribeQuorumRequest,
    version: i16,
) -> DescribeQuorumResponse {
    let cluster = metadata.cluster();
    if !asks_for_metadata_partition(&req) {
        // Kafka's raft client: one topic, one partition, __cluster_metadata-0.
        return partition_errors(&req, E::UnknownTopicOrPartition.code());
    }
    match cluster.call(ControllerCall::DescribeQuorum).await {
        Ok(ControllerReply::Quorum(info)) => {
            let listener = cluster
                .config
                .controller_listener_names
                .first()
                .map_or("CONTROLLER", String::as_str);
            response(&info, &cluster.config.voters, listener, now_ms(), version)
        }
        Ok(other) => top_level_error(
            E::UnknownServerError.code(),
            &format!("unexpected controller reply {other:?}"),
        ),
        Err(f) => {
            let f = forwarded(&f);
            top_level_error(f.error.code(), &f.error.message)
        }
    }
}

fn asks_for_metadata_partition(req: &DescribeQuorumRequest) -> bool {
    matches!(req.topics.as_slice(), [t] if t.topic_name.0.as_str() == METADATA_TOPIC
        && matches!(t.partitions.as_slice(), [p] if p.partition_index == 0))
}

fn top_level_error(code: i16, message: &str) -> DescribeQuorumResponse {
    let mut resp = DescribeQuorumResponse::default();
    resp.error_code = code;
    resp.error_message = msg(message);
    resp
}

/// Every requested partition with `code` (Kafka's partition-level error response).
fn partition_errors(req: &DescribeQuorumRequest, code: i16) -> DescribeQuorumResponse {
    let mut resp = DescribeQuorumResponse::default();
    resp.topics = req
        .topics
        .iter()
        .map(|t| {
            let mut td = TopicData::default();
            td.topic_name = t.topic_name.clone();
            td.partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let mut pd = PartitionData::default();
                    pd.partition_index = p.partition_index;
                    pd.error_code = code;
                    pd.leader_id = BrokerId(-1);
                    pd.leader_epoch = -1;
                    pd.high_watermark = -1;
                    pd
                })
                .collect();
            td
        })
        .collect();
    resp
}

/// The answer for `info`, observed at `now` (ms since the epoch); `voters` and
/// `listener` (the first of `controller.listener.names`) give v2's endpoints.
pub fn response(
    info: &QuorumInfo,
    voters: &[Voter],
    listener: &str,
    now: i64,
    version: i16,
) -> DescribeQuorumResponse {
    let hw = info.high_watermark;
    let state = |r: &ReplicaProgress| {
        let mut s = ReplicaState::default();
        s.replica_id = BrokerId(r.replica_id);
        s.log_end_offset = r.log_end_offset;
        // Fields of v1+; the codec leaves them out of older versions.
        s.last_fetch_timestamp = if r.last_fetch_ms_ago >= 0 {
            now - r.last_fetch_ms_ago
        } else {
            -1
        };
        // Caught up = had everything committed at its last fetch (Kafka: reached the
        // leader's log end); the last fetch is then the last time it was caught up.
        s.last_caught_up_timestamp = if r.log_end_offset >= hw {
            s.last_fetch_timestamp
        } else {
            -1
        };
        s
    };
    let mut pd = PartitionData::default();
    pd.partition_index = 0;
    pd.leader_id = BrokerId(info.leader_id);
    pd.leader_epoch = info.leader_epoch;
    pd.high_watermark = hw;
    pd.current_voters = info.voters.iter().map(state).collect();
    pd.observers = info.observers.iter().map(state).collect();
    let mut td = TopicData::default();
    td.topic_name = TopicName(StrBytes::from_static_str(METADATA_TOPIC));
    td.partitions = vec![pd];
    let mut resp = DescribeQuorumResponse::default();
    resp.topics = vec![td];
    if version >= 2 {
        resp.nodes = voter_nodes(info, voters, listener);
    }
    resp
}

/// The voters' controller listener endpoints: from the raft membership (which
/// follows AddRaftVoter / RemoveRaftVoter), else from `controller.quorum.voters`.
fn voter_nodes(info: &QuorumInfo, voters: &[Voter], listener: &str) -> Vec<Node> {
    info.voters
        .iter()
        .filter_map(|v| {
            let from_membership = info
                .endpoints
                .iter()
                .find(|(id, _)| *id == v.replica_id)
                .and_then(|(_, at)| split_endpoint(at));
            let from_config = || {
                voters
                    .iter()
                    .find(|c| c.id == v.replica_id)
                    .map(|c| (c.host.clone(), c.port))
            };
            let (host, port) = from_membership.or_else(from_config)?;
            let mut l = Listener::default();
            l.name = StrBytes::from_string(listener.to_string());
            l.host = StrBytes::from_string(host);
            l.port = port;
            let mut n = Node::default();
            n.node_id = BrokerId(v.replica_id);
            n.listeners = vec![l];
            Some(n)
        })
        .collect()
}

/// `host:port` (IPv6 hosts bracketed) as host and port.
fn split_endpoint(endpoint: &str) -> Option<(String, u16)> {
    let (host, port) = endpoint.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Some((host.to_string(), port.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::test_support::{broker, encodes};
    use kafka_protocol::messages::describe_quorum_request;
    use kafka_protocol::messages::{ApiKey, ResponseKind};

    fn request(topic: &str, partition: i32) -> DescribeQuorumRequest {
        let mut p = describe_quorum_request::PartitionData::default();
        p.partition_index = partition;
        let mut t = describe_quorum_request::TopicData::default();
        t.topic_name = TopicName(StrBytes::from_string(topic.into()));
        t.partitions = vec![p];
        let mut r = DescribeQuorumRequest::default();
        r.topics = vec![t];
        r
    }

    #[test]
    fn only_timeouts_and_not_controller_become_request_timed_out() {
        let f = forwarded(&ControllerFailure::not_controller(1, Some(2)));
        assert_eq!(f.error.error, E::RequestTimedOut);
        assert!(f.unreachable);
        let f = forwarded(&ControllerFailure::new(codes::REQUEST_TIMED_OUT, "slow"));
        assert_eq!(f.error.error, E::RequestTimedOut);
        let f = forwarded(&ControllerFailure::new(84, "not needed"));
        assert_eq!((f.error.code(), f.unreachable), (84, false));
        assert_eq!(f.error.message, "not needed");
    }

    #[test]
    fn only_the_metadata_partition_is_asked_for() {
        assert!(asks_for_metadata_partition(&request(METADATA_TOPIC, 0)));
        assert!(!asks_for_metadata_partition(&request(METADATA_TOPIC, 1)));
        assert!(!asks_for_metadata_partition(&request("other", 0)));
        assert!(!asks_for_metadata_partition(
            &DescribeQuorumRequest::default()
        ));
        let r = partition_errors(&request("other", 3), E::UnknownTopicOrPartition.code());
        assert_eq!(r.error_code, 0);
        assert_eq!(r.topics[0].partitions[0].partition_index, 3);
        assert_eq!(r.topics[0].partitions[0].error_code, 3);
        for v in 0..=2 {
            encodes(
                ApiKey::DescribeQuorum,
                v,
                ResponseKind::DescribeQuorum(r.clone()),
            );
        }
    }

    fn progress(replica_id: i32, log_end_offset: i64, last_fetch_ms_ago: i64) -> ReplicaProgress {
        ReplicaProgress {
            replica_id,
            log_end_offset,
            last_fetch_ms_ago,
        }
    }

    #[test]
    fn reports_leader_voters_observers_and_v2_endpoints() {
        let info = QuorumInfo {
            leader_id: 2,
            leader_epoch: 7,
            high_watermark: 40,
            voters: vec![
                progress(1, 41, 0),
                progress(2, 38, 100),
                progress(3, -1, -1),
            ],
            observers: vec![progress(4, 40, 5)],
            endpoints: vec![(3, "[::1]:9095".into())],
        };
        let voters: Vec<Voter> = (1..=3)
            .map(|id| Voter {
                id,
                host: format!("c{id}"),
                port: 9093,
            })
            .collect();
        for v in 0..=2 {
            let r = response(&info, &voters, "CONTROLLER", 1_000, v);
            assert_eq!(r.error_code, 0);
            assert_eq!(r.topics[0].topic_name.0.as_str(), METADATA_TOPIC);
            let p = &r.topics[0].partitions[0];
            assert_eq!((p.partition_index, p.leader_id.0), (0, 2));
            assert_eq!((p.leader_epoch, p.high_watermark), (7, 40));
            let leo: Vec<i64> = p.current_voters.iter().map(|s| s.log_end_offset).collect();
            assert_eq!(leo, [41, 38, -1]);
            let fetched: Vec<i64> = p
                .current_voters
                .iter()
                .map(|s| s.last_fetch_timestamp)
                .collect();
            assert_eq!(fetched, [1_000, 900, -1]);
            let caught_up: Vec<i64> = p
                .current_voters
                .iter()
                .map(|s| s.last_caught_up_timestamp)
                .collect();
            assert_eq!(caught_up, [1_000, -1, -1], "voter 2 is behind the hw");
            assert_eq!(p.observers[0].replica_id.0, 4);
            assert_eq!(p.observers[0].last_caught_up_timestamp, 995);
            if v >= 2 {
                let nodes: Vec<(i32, String, u16)> = r
                    .nodes
                    .iter()
                    .map(|n| {
                        let l = &n.listeners[0];
                        assert_eq!(l.name.as_str(), "CONTROLLER");
                        (n.node_id.0, l.host.to_string(), l.port)
                    })
                    .collect();
                assert_eq!(
                    nodes,
                    [
                        (1, "c1".into(), 9093),
                        (2, "c2".into(), 9093),
                        (3, "::1".into(), 9095)
                    ]
                );
            } else {
                assert!(r.nodes.is_empty());
            }
            encodes(ApiKey::DescribeQuorum, v, ResponseKind::DescribeQuorum(r));
        }
    }

    #[tokio::test]
    async fn a_node_without_process_roles_is_its_own_only_voter() {
        let tb = broker(&[]);
        for v in 0..=2 {
            let r = handle(tb.broker.metadata(), request(METADATA_TOPIC, 0), v).await;
            assert_eq!(r.error_code, 0);
            let p = &r.topics[0].partitions[0];
            assert_eq!((p.error_code, p.leader_id.0), (0, 1));
            let voters: Vec<i32> = p.current_voters.iter().map(|s| s.replica_id.0).collect();
            assert_eq!(voters, [1]);
            encodes(ApiKey::DescribeQuorum, v, ResponseKind::DescribeQuorum(r));
        }
    }
}
