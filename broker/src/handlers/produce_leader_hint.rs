//! KIP-951 leader discovery for Produce (v10+): a partition refused with
//! NOT_LEADER_OR_FOLLOWER (or FENCED_LEADER_EPOCH) names its current leader and epoch,
//! and the response carries that leader's endpoint, so the client sends its retry there
//! without a Metadata round trip. It matters most during a controlled shutdown: the
//! stopping broker answers every produce this way once its leaderships moved, and its
//! clients (librdkafka >= 2.4, the Java client >= 3.7) switch at once.
//!
//! Pure with respect to IO: it reads this broker's metadata image and edits the
//! response; it never changes who leads.

use std::collections::BTreeSet;

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::BrokerId;
use kafka_protocol::messages::ProduceResponse;
use kafka_protocol::messages::produce_response::NodeEndpoint;
use kafka_protocol::protocol::StrBytes;

use super::RequestContext;
use crate::broker_server::Broker;

/// The first Produce version with `CurrentLeader` and `NodeEndpoints`.
const FIRST_VERSION: i16 = 10;

/// Fills `current_leader` of every partition refused because this broker does not lead
/// it, when the metadata names another live leader, and `node_endpoints` with those
/// leaders' addresses on the listener the client used.
pub fn add_leader_hints(
    broker: &Broker,
    ctx: &RequestContext,
    resp: &mut ProduceResponse,
    version: i16,
) {
    if version < FIRST_VERSION {
        return;
    }
    let refused =
        |code: i16| code == E::NotLeaderOrFollower.code() || code == E::FencedLeaderEpoch.code();
    if !resp
        .responses
        .iter()
        .flat_map(|t| &t.partition_responses)
        .any(|p| refused(p.error_code))
    {
        return;
    }
    let live = broker.metadata().live_brokers(&ctx.listener);
    let image = broker.cluster().image();
    let mut named = BTreeSet::new();
    for t in &mut resp.responses {
        let Some(topic) = image.topic(t.name.0.as_str()) else {
            continue;
        };
        for p in &mut t.partition_responses {
            if !refused(p.error_code) {
                continue;
            }
            let Some(record) = topic.partitions.get(&p.index) else {
                continue;
            };
            let leader = record.leader;
            if leader < 0
                || leader == broker.config().node_id
                || !live.iter().any(|b| b.id == leader)
            {
                continue;
            }
            p.current_leader.leader_id = BrokerId(leader);
            p.current_leader.leader_epoch = record.leader_epoch;
            named.insert(leader);
        }
    }
    resp.node_endpoints = live
        .into_iter()
        .filter(|b| named.contains(&b.id))
        .map(|b| {
            let mut e = NodeEndpoint::default();
            e.node_id = BrokerId(b.id);
            e.host = StrBytes::from_string(b.host);
            e.port = i32::from(b.port);
            e.rack = b.rack.map(StrBytes::from_string);
            e
        })
        .collect();
}
