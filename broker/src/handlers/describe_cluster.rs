//! DescribeCluster: the registered, unfenced brokers and the active controller (a
//! node without `process.roles` is the whole cluster and its own controller).

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};
use kafka_protocol::protocol::StrBytes;

use super::authorized_operations::cluster_for_caller;
use super::{RequestContext, msg};
use crate::broker_server::Broker;

/// `endpoint_type` 1 = brokers (2 = controllers, which this node does not expose).
const ENDPOINT_BROKERS: i8 = 1;

pub fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    req: DescribeClusterRequest,
    version: i16,
) -> DescribeClusterResponse {
    let mut resp = DescribeClusterResponse::default();
    if version >= 1 && req.endpoint_type != ENDPOINT_BROKERS {
        resp.error_code = E::UnsupportedEndpointType.code();
        resp.error_message = msg("The endpoint type requested is not supported by this broker");
        resp.endpoint_type = req.endpoint_type;
        return resp;
    }
    resp.cluster_id = StrBytes::from_string(broker.metadata().cluster_id().to_string());
    resp.controller_id = BrokerId(broker.metadata().controller_id());
    resp.cluster_authorized_operations =
        cluster_for_caller(broker, ctx, req.include_cluster_authorized_operations);
    resp.brokers = broker
        .metadata()
        .live_brokers(&ctx.listener)
        .into_iter()
        .map(|v| {
            let mut b = DescribeClusterBroker::default();
            b.broker_id = BrokerId(v.id);
            b.host = StrBytes::from_string(v.host);
            b.port = i32::from(v.port);
            b.rack = v.rack.map(StrBytes::from_string);
            b
        })
        .collect();
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::test_support::{broker, ctx, encodes};
    use kafka_protocol::messages::{ApiKey, ResponseKind};

    #[tokio::test]
    async fn one_broker_cluster() {
        let tb = broker(&[]);
        for v in [0, 1] {
            let r = handle(&tb.broker, &ctx(), DescribeClusterRequest::default(), v);
            assert_eq!(r.error_code, 0);
            assert_eq!(r.brokers.len(), 1);
            assert_eq!(r.cluster_id.as_str(), "test-cluster");
            encodes(ApiKey::DescribeCluster, v, ResponseKind::DescribeCluster(r));
        }
    }
}
