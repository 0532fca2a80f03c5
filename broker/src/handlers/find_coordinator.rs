//! FindCoordinator: this node coordinates every group. Transaction
//! coordinators do not exist here (transactions are not offered).

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;

use super::{RequestContext, msg};
use crate::broker_server::Broker;
use crate::broker_server::topic_names::OFFSETS_TOPIC;

const GROUP: i8 = 0;

fn coordinator(broker: &Broker, ctx: &RequestContext, key: StrBytes, key_type: i8) -> Coordinator {
    let mut c = Coordinator::default();
    c.key = key;
    if key_type != GROUP {
        c.error_code = E::CoordinatorNotAvailable.code();
        c.error_message = msg("transactions are not supported by this broker");
        c.node_id = BrokerId(-1);
        c.port = -1;
        return c;
    }
    replicated_coordinator(broker, ctx, c)
}

/// The coordinator is the leader of the group's `__consumer_offsets`
/// partition; the topic is created on first use, as Kafka does.
fn replicated_coordinator(
    broker: &Broker,
    ctx: &RequestContext,
    mut c: Coordinator,
) -> Coordinator {
    let unavailable = |mut c: Coordinator, why: &str| {
        c.error_code = E::CoordinatorNotAvailable.code();
        c.error_message = msg(why.to_string());
        c.node_id = BrokerId(-1);
        c.port = -1;
        c
    };
    if broker.metadata().topic(OFFSETS_TOPIC).is_none() {
        broker.ensure_offsets_topic();
        return unavailable(c, "the group metadata topic is being created");
    }
    let partition = broker.coordinators().groups().partition_for(c.key.as_str());
    let view = broker
        .metadata()
        .partition_view(OFFSETS_TOPIC, partition, &[]);
    let Some(leader) = broker
        .metadata()
        .live_brokers(&ctx.listener)
        .into_iter()
        .find(|b| b.id == view.leader)
    else {
        return unavailable(c, "the group's coordinator partition has no leader");
    };
    c.node_id = BrokerId(leader.id);
    c.host = StrBytes::from_string(leader.host);
    c.port = i32::from(leader.port);
    c
}

pub fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    req: FindCoordinatorRequest,
    version: i16,
) -> FindCoordinatorResponse {
    let mut resp = FindCoordinatorResponse::default();
    if version >= 4 {
        resp.coordinators = req
            .coordinator_keys
            .into_iter()
            .map(|k| coordinator(broker, ctx, k, req.key_type))
            .collect();
        return resp;
    }
    let c = coordinator(broker, ctx, req.key, req.key_type);
    resp.error_code = c.error_code;
    if version >= 1 {
        resp.error_message = c.error_message;
    }
    resp.node_id = c.node_id;
    resp.host = c.host;
    resp.port = c.port;
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::test_support::{broker, ctx, encodes, eventually};
    use kafka_protocol::messages::{ApiKey, ResponseKind};

    #[tokio::test]
    async fn this_node_coordinates_groups() {
        let tb = broker(&[]);
        let mut req = FindCoordinatorRequest::default();
        req.key = StrBytes::from_static_str("g");
        // As in Kafka, the group metadata topic is created on first use.
        let r = handle(&tb.broker, &ctx(), req.clone(), 2);
        assert_eq!(r.error_code, E::CoordinatorNotAvailable.code());
        eventually("the group coordinator", || {
            handle(&tb.broker, &ctx(), req.clone(), 2).error_code == 0
        })
        .await;
        let r = handle(&tb.broker, &ctx(), req.clone(), 2);
        assert_eq!((r.error_code, r.node_id, r.port), (0, BrokerId(1), 9092));
        encodes(
            ApiKey::FindCoordinator,
            0,
            ResponseKind::FindCoordinator(handle(&tb.broker, &ctx(), req.clone(), 0)),
        );
        let mut batch = FindCoordinatorRequest::default();
        batch.coordinator_keys = vec![
            StrBytes::from_static_str("a"),
            StrBytes::from_static_str("b"),
        ];
        let r = handle(&tb.broker, &ctx(), batch.clone(), 4);
        assert_eq!(r.coordinators.len(), 2);
        assert_eq!(r.coordinators[1].node_id, BrokerId(1));
        encodes(ApiKey::FindCoordinator, 6, ResponseKind::FindCoordinator(r));
        batch.key_type = 1;
        assert_eq!(
            handle(&tb.broker, &ctx(), batch, 4).coordinators[0].error_code,
            E::CoordinatorNotAvailable.code()
        );
    }
}
