//! FindCoordinator: a group's coordinator is the leader of its `__consumer_offsets`
//! partition, a transactional id's the leader of its `__transaction_state` partition;
//! each topic is created on first use, as Kafka does.

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;
use tidewater_quorum::acl::{AclOperation, ResourceType};
use tidewater_quorum::controller::batched_calls;

use super::authz::allowed;
use super::{RequestContext, msg};
use crate::broker_server::Broker;
use crate::broker_server::topic_names::OFFSETS_TOPIC;
use crate::broker_server::txn::TXN_TOPIC;

const GROUP: i8 = 0;
const TRANSACTION: i8 = 1;

fn coordinator(broker: &Broker, ctx: &RequestContext, key: StrBytes, key_type: i8) -> Coordinator {
    let mut c = Coordinator::default();
    c.key = key;
    // As Kafka: Describe on the group or transactional id, before anything else.
    let denied = match key_type {
        GROUP => Some((ResourceType::Group, E::GroupAuthorizationFailed)),
        TRANSACTION => Some((
            ResourceType::TransactionalId,
            E::TransactionalIdAuthorizationFailed,
        )),
        _ => None,
    }
    .filter(|(rt, _)| !allowed(broker, ctx, AclOperation::Describe, *rt, c.key.as_str()));
    if let Some((_, error)) = denied {
        c.error_code = error.code();
        c.node_id = BrokerId(-1);
        c.port = -1;
        return c;
    }
    match key_type {
        GROUP => replicated_coordinator(broker, ctx, c, OFFSETS_TOPIC),
        // Markers are control batches a 0.2.0 follower was never tested with: no
        // transaction starts until every node runs this release (4.1-IV0 finalized).
        TRANSACTION if !batched_calls(&broker.cluster().image()) => {
            c.error_code = E::CoordinatorNotAvailable.code();
            c.error_message = msg("transactions need metadata.version 4.1-IV0 or later");
            c.node_id = BrokerId(-1);
            c.port = -1;
            c
        }
        TRANSACTION => replicated_coordinator(broker, ctx, c, TXN_TOPIC),
        _ => {
            c.error_code = E::InvalidRequest.code();
            c.error_message = msg(format!("unknown coordinator key type {key_type}"));
            c.node_id = BrokerId(-1);
            c.port = -1;
            c
        }
    }
}

/// The coordinator is the leader of the key's partition of `topic`
/// (`__consumer_offsets` or `__transaction_state`).
fn replicated_coordinator(
    broker: &Broker,
    ctx: &RequestContext,
    mut c: Coordinator,
    topic: &str,
) -> Coordinator {
    let unavailable = |mut c: Coordinator, why: &str| {
        c.error_code = E::CoordinatorNotAvailable.code();
        c.error_message = msg(why.to_string());
        c.node_id = BrokerId(-1);
        c.port = -1;
        c
    };
    if broker.metadata().topic(topic).is_none() {
        if topic == TXN_TOPIC {
            broker.coordinators().txns().ensure_topic();
        } else {
            broker.ensure_offsets_topic();
        }
        return unavailable(c, &format!("{topic} is being created"));
    }
    let partition = if topic == TXN_TOPIC {
        broker.coordinators().txns().partition_for(c.key.as_str())
    } else {
        broker.coordinators().groups().partition_for(c.key.as_str())
    };
    let view = broker.metadata().partition_view(topic, partition, &[]);
    let Some(leader) = broker
        .metadata()
        .live_brokers(&ctx.listener)
        .into_iter()
        .find(|b| b.id == view.leader)
    else {
        return unavailable(c, "the coordinator partition has no leader");
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
        // Transactional ids: __transaction_state is created on first use too.
        batch.key_type = 1;
        assert_eq!(
            handle(&tb.broker, &ctx(), batch.clone(), 4).coordinators[0].error_code,
            E::CoordinatorNotAvailable.code()
        );
        eventually("the transaction coordinator", || {
            handle(&tb.broker, &ctx(), batch.clone(), 4).coordinators[0].error_code == 0
        })
        .await;
        assert_eq!(
            handle(&tb.broker, &ctx(), batch.clone(), 4).coordinators[1].node_id,
            BrokerId(1)
        );
        batch.key_type = 2;
        assert_eq!(
            handle(&tb.broker, &ctx(), batch, 4).coordinators[0].error_code,
            E::InvalidRequest.code()
        );
    }

    #[tokio::test]
    async fn describe_on_the_group_or_transactional_id_is_needed() {
        let tb = broker(&[
            (
                "authorizer.class.name",
                "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            ),
            ("super.users", "User:admin"),
        ]);
        let key = |k: &str| StrBytes::from_string(k.into());
        let c = coordinator(&tb.broker, &ctx(), key("g"), GROUP);
        assert_eq!(c.error_code, E::GroupAuthorizationFailed.code());
        let c = coordinator(&tb.broker, &ctx(), key("t"), TRANSACTION);
        assert_eq!(c.error_code, E::TransactionalIdAuthorizationFailed.code());
        let admin = RequestContext {
            principal: "User:admin".into(),
            ..ctx()
        };
        let c = coordinator(&tb.broker, &admin, key("g"), GROUP);
        assert_ne!(c.error_code, E::GroupAuthorizationFailed.code());
    }
}
