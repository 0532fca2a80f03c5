//! The shell's KIP-848 entry points: ConsumerGroupHeartbeat and
//! ConsumerGroupDescribe run on the core under the lock and answer at once (the
//! consumer protocol parks nothing).

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{
    ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse, ConsumerGroupHeartbeatRequest,
    ConsumerGroupHeartbeatResponse,
};

use super::GroupCoordinator;
use crate::consumer::Assignment;
use crate::state_machine::HeartbeatArgs;

impl GroupCoordinator {
    pub async fn consumer_group_heartbeat(
        &self,
        req: ConsumerGroupHeartbeatRequest,
        version: i16,
        client_id: &str,
        client_host: &str,
    ) -> ConsumerGroupHeartbeatResponse {
        let owned = req.topic_partitions.as_ref().map(|tps| {
            let mut owned = Assignment::new();
            for tp in tps {
                owned
                    .entry(tp.topic_id)
                    .or_default()
                    .extend(tp.partitions.iter().copied());
            }
            owned
        });
        let args = HeartbeatArgs {
            group_id: req.group_id.as_str().to_owned(),
            member_id: req.member_id.as_str().to_owned(),
            member_epoch: req.member_epoch,
            instance_id: req.instance_id.as_ref().map(|s| s.as_str().to_owned()),
            rack_id: req.rack_id.as_ref().map(|s| s.as_str().to_owned()),
            rebalance_timeout_ms: req.rebalance_timeout_ms,
            subscribed_topic_names: req
                .subscribed_topic_names
                .as_ref()
                .map(|names| names.iter().map(|n| n.as_str().to_owned()).collect()),
            subscribed_topic_regex: req
                .subscribed_topic_regex
                .as_ref()
                .map(|s| s.as_str().to_owned()),
            server_assignor: req.server_assignor.as_ref().map(|s| s.as_str().to_owned()),
            owned,
            client_id: client_id.to_owned(),
            client_host: client_host.to_owned(),
            version,
        };
        let backend = self.backend.clone();
        self.with_core(|inner, now| {
            if self.is_stopped() {
                return ConsumerGroupHeartbeatResponse::default()
                    .with_error_code(ResponseError::NotCoordinator.code());
            }
            inner
                .core
                .consumer_heartbeat(args, now, &|topic| backend.topic_info(topic))
        })
    }

    pub async fn consumer_group_describe(
        &self,
        req: ConsumerGroupDescribeRequest,
        _version: i16,
    ) -> ConsumerGroupDescribeResponse {
        self.with_core(|inner, _| inner.core.consumer_group_describe(&req.group_ids))
    }
}
