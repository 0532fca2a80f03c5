//! Fetch (Kafka's `KafkaApis.handleFetchRequest`): one entry point that sends a
//! follower's fetch (`replica_id` set) to `replica` and a consumer's to
//! `consumer`; both build their answer with `response`. Calls run one way only:
//! this module -> `consumer` / `replica` -> `response`.

mod consumer;
mod replica;
mod response;

pub use response::FetchReply;

use kafka_protocol::messages::{FetchRequest, FetchResponse};

use super::RequestContext;
use crate::broker_server::Broker;

/// A Fetch answered with every record set in memory.
pub async fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    req: FetchRequest,
    version: i16,
) -> FetchResponse {
    handle_with(broker, ctx, req, version, false).await.body
}

/// A Fetch whose large record sets are left as file ranges for the connection
/// to send with `sendfile`.
pub async fn handle_zero_copy(
    broker: &Broker,
    ctx: &RequestContext,
    req: FetchRequest,
    version: i16,
) -> FetchReply {
    handle_with(broker, ctx, req, version, true).await
}

async fn handle_with(
    broker: &Broker,
    ctx: &RequestContext,
    req: FetchRequest,
    version: i16,
    zero_copy: bool,
) -> FetchReply {
    let replica_id = if version >= 15 {
        req.replica_state.replica_id.0
    } else {
        req.replica_id.0
    };
    if replica_id >= 0 {
        return FetchReply {
            body: replica::handle(broker, ctx, req, version, replica_id).await,
            files: Vec::new(),
        };
    }
    consumer::handle(broker, ctx, req, version, zero_copy).await
}

#[cfg(test)]
mod tests;
