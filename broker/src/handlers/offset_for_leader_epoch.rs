//! OffsetForLeaderEpoch: the end offset of a leader epoch, from the log's
//! leader-epoch checkpoint (clients use it to detect log truncation).

use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kafka_protocol::messages::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};

use crate::broker_server::Broker;

pub fn handle(
    broker: &Broker,
    req: OffsetForLeaderEpochRequest,
    _version: i16,
) -> OffsetForLeaderEpochResponse {
    let mut resp = OffsetForLeaderEpochResponse::default();
    for t in req.topics {
        let name = t.topic.0.to_string();
        let mut tr = OffsetForLeaderTopicResult::default();
        tr.topic = t.topic;
        for p in t.partitions {
            let mut out = EpochEndOffset::default();
            out.partition = p.partition;
            out.leader_epoch = -1;
            out.end_offset = -1;
            match broker
                .replicas()
                .leader_log_at_epoch(&name, p.partition, p.current_leader_epoch)
            {
                Err(error) => out.error_code = error.code(),
                Ok(log) => {
                    if let Some((epoch, end)) = log.end_offset_for_epoch(p.leader_epoch) {
                        out.leader_epoch = epoch;
                        out.end_offset = end;
                    }
                }
            }
            tr.partitions.push(out);
        }
        resp.topics.push(tr);
    }
    resp
}
