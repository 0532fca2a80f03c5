//! KIP-951 leader discovery for Produce (v10+): a partition refused with
//! NOT_LEADER_OR_FOLLOWER (or FENCED_LEADER_EPOCH) names its current leader and epoch,
//! and the response carries that leader's endpoint, so the client sends its retry there
//! without a Metadata round trip. It matters most during a controlled shutdown: the
//! stopping broker answers every produce this way once its leaderships moved, and its
//! clients (librdkafka >= 2.4, the Java client >= 3.7) switch at once.
//!
//! A partition refused because this broker is handing its leadership over (a
//! controlled-shutdown drain or a preferred-leader handoff: the image still names this
//! broker, so there is no other leader to name yet) is held for a short while
//! ([`await_next_leaders`]) until the image names the next leader. The client then gets
//! one answer with the right leader, instead of a bare refusal it retries after its
//! backoff against this same broker, again and again until the move is over (that was
//! most of the longest acks=all gap of a roll).
//!
//! Pure with respect to IO: it reads this broker's metadata image and edits the
//! response; it never changes who leads.

use std::collections::BTreeSet;
use std::time::Duration;

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::BrokerId;
use kafka_protocol::messages::ProduceResponse;
use kafka_protocol::messages::produce_response::NodeEndpoint;
use kafka_protocol::protocol::StrBytes;

use super::RequestContext;
use crate::broker_server::Broker;

/// The first Produce version with `CurrentLeader` and `NodeEndpoints`.
const FIRST_VERSION: i16 = 10;

/// The longest a refused partition's answer waits for the image to name the next
/// leader; a move that takes longer (a follower still catching up) is answered bare.
const HOLD_FOR_NEXT_LEADER: Duration = Duration::from_millis(1000);

fn refused(code: i16) -> bool {
    code == E::NotLeaderOrFollower.code() || code == E::FencedLeaderEpoch.code()
}

/// Waits until the image names another leader for every partition of `resp` refused
/// because this broker hands its leadership over (drain or handoff), for at most
/// [`HOLD_FOR_NEXT_LEADER`] and half the request's timeout; returns at once when there
/// is none (or the client cannot read the answer's leader hints).
pub async fn await_next_leaders(
    broker: &Broker,
    resp: &ProduceResponse,
    version: i16,
    timeout_ms: i32,
) {
    if version < FIRST_VERSION {
        return;
    }
    let me = broker.config().node_id;
    let held: Vec<(String, i32)> = resp
        .responses
        .iter()
        .flat_map(|t| {
            t.partition_responses
                .iter()
                .filter(|p| refused(p.error_code))
                .map(|p| (t.name.0.to_string(), p.index))
        })
        .filter(|(topic, index)| {
            broker
                .replicas()
                .get_by_name(topic, *index)
                .is_some_and(|p| p.hands_leadership_over())
        })
        .collect();
    if held.is_empty() {
        return;
    }
    let half = Duration::from_millis(u64::try_from(timeout_ms.max(0) / 2).unwrap_or(0));
    let moved = |image: &tidewater_quorum::image::MetadataImage| {
        held.iter().all(|(topic, index)| {
            image
                .topic(topic)
                .and_then(|t| t.partitions.get(index))
                .is_none_or(|r| r.leader != me)
        })
    };
    broker
        .cluster()
        .wait_for_image(HOLD_FOR_NEXT_LEADER.min(half), moved)
        .await;
}

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
