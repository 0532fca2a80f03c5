//! ListOffsets: earliest (-2), latest (-1, the high watermark; the log end offset for
//! a follower broker, `replica_id` >= 0, as Kafka answers a replica), max timestamp
//! (-3), earliest local (-4) and offset-by-timestamp lookups per partition.

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};

use tidewater_quorum::acl::{AclOperation, ResourceType};

use super::{RequestContext, authz};
use crate::broker_server::Broker;

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
const EARLIEST_LOCAL: i64 = -4;
const LATEST_TIERED: i64 = -5;

fn lookup(
    broker: &Broker,
    topic: &str,
    partition: i32,
    timestamp: i64,
    current_epoch: i32,
    from_replica: bool,
    read_committed: bool,
) -> ListOffsetsPartitionResponse {
    let mut out = ListOffsetsPartitionResponse::default();
    out.partition_index = partition;
    out.timestamp = -1;
    out.offset = -1;
    let log = match broker
        .replicas()
        .leader_log_at_epoch(topic, partition, current_epoch)
    {
        Ok(log) => log,
        Err(error) => {
            out.error_code = error.code();
            return out;
        }
    };
    let epoch = log.latest_epoch().unwrap_or(0);
    match timestamp {
        LATEST => {
            // A follower reset after OFFSET_OUT_OF_RANGE compares its end with ours.
            out.offset = if from_replica {
                log.log_end_offset()
            } else if read_committed {
                // A read_committed consumer's end is the last stable offset.
                log.last_stable_offset()
            } else {
                log.high_watermark()
            };
            out.leader_epoch = epoch;
        }
        EARLIEST | EARLIEST_LOCAL => {
            out.offset = log.log_start_offset();
            out.leader_epoch = epoch;
        }
        LATEST_TIERED => {}
        ts if ts >= 0 || ts == MAX_TIMESTAMP => match log.fetch_offset_for_timestamp(ts) {
            Ok(Some(found)) if found.offset < log.high_watermark() => {
                out.offset = found.offset;
                out.timestamp = found.timestamp;
                out.leader_epoch = found.leader_epoch.unwrap_or(epoch);
            }
            Ok(_) => {}
            Err(e) => out.error_code = e.error_code(),
        },
        _ => out.error_code = E::InvalidRequest.code(),
    }
    out
}

pub fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    req: ListOffsetsRequest,
    version: i16,
) -> ListOffsetsResponse {
    let mut resp = ListOffsetsResponse::default();
    let from_replica = req.replica_id.0 >= 0;
    for t in req.topics {
        let name = t.name.0.to_string();
        let mut tr = ListOffsetsTopicResponse::default();
        tr.name = t.name;
        // Kafka's handleListOffsetRequest: Describe on the topic.
        let denied = !authz::allowed(
            broker,
            ctx,
            AclOperation::Describe,
            ResourceType::Topic,
            &name,
        );
        tr.partitions = t
            .partitions
            .iter()
            .map(|p| {
                if denied {
                    let mut r = ListOffsetsPartitionResponse::default();
                    r.partition_index = p.partition_index;
                    r.error_code = E::TopicAuthorizationFailed.code();
                    r.timestamp = -1;
                    r.offset = -1;
                    r.leader_epoch = -1;
                    return r;
                }
                let mut r = lookup(
                    broker,
                    &name,
                    p.partition_index,
                    p.timestamp,
                    p.current_leader_epoch,
                    from_replica,
                    version >= 2 && req.isolation_level == 1,
                );
                if version < 4 {
                    r.leader_epoch = -1;
                }
                r
            })
            .collect();
        resp.topics.push(tr);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker_server::now_ms;
    use crate::broker_server::offsets_backend::encode_batch;
    use crate::handlers::test_support::{broker, encodes};
    use bytes::Bytes;
    use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
    use kafka_protocol::messages::{ApiKey, ResponseKind, TopicName};
    use kafka_protocol::protocol::StrBytes;

    fn req(topic: &str, partition: i32, timestamp: i64) -> ListOffsetsRequest {
        let mut p = ListOffsetsPartition::default();
        p.partition_index = partition;
        p.timestamp = timestamp;
        p.current_leader_epoch = -1;
        let mut t = ListOffsetsTopic::default();
        t.name = TopicName(StrBytes::from_string(topic.into()));
        t.partitions = vec![p];
        let mut r = ListOffsetsRequest::default();
        // A consumer (the generated default, 0, would be a follower broker).
        r.replica_id = kafka_protocol::messages::BrokerId(-1);
        r.topics = vec![t];
        r
    }

    #[tokio::test]
    async fn earliest_latest_and_timestamps() {
        let tb = broker(&[]);
        let b = &tb.broker;
        b.auto_create_topic("t").unwrap();
        let log = b.log("t", 0).unwrap();
        for ts in [1000, 2000, 3000] {
            let batch = encode_batch(
                &[(Bytes::from_static(b"k"), Some(Bytes::from_static(b"v")))],
                ts,
            )
            .unwrap();
            log.append_as_leader(&batch, 0, now_ms()).unwrap();
        }
        log.update_high_watermark(log.log_end_offset());
        let first = |r: ListOffsetsResponse| r.topics[0].partitions[0].clone();
        assert_eq!(
            first(handle(b, &Default::default(), req("t", 0, LATEST), 7)).offset,
            3
        );
        assert_eq!(
            first(handle(b, &Default::default(), req("t", 0, EARLIEST), 7)).offset,
            0
        );
        assert_eq!(
            first(handle(b, &Default::default(), req("t", 0, 1500), 7)).offset,
            1
        );
        let max = first(handle(
            b,
            &Default::default(),
            req("t", 0, MAX_TIMESTAMP),
            7,
        ));
        assert_eq!((max.offset, max.timestamp), (2, 3000));
        assert_eq!(
            first(handle(b, &Default::default(), req("t", 0, 9999), 7)).offset,
            -1
        );
        // A follower broker asks for the log end, past the high watermark.
        let batch = encode_batch(&[(Bytes::from_static(b"k"), None)], 4000).unwrap();
        log.append_as_leader(&batch, 0, now_ms()).unwrap();
        let mut from_replica = req("t", 0, LATEST);
        from_replica.replica_id = kafka_protocol::messages::BrokerId(2);
        assert_eq!(
            first(handle(b, &Default::default(), from_replica, 7)).offset,
            4
        );
        assert_eq!(
            first(handle(b, &Default::default(), req("t", 0, LATEST), 7)).offset,
            3
        );
        assert_eq!(
            first(handle(b, &Default::default(), req("t", 3, LATEST), 7)).error_code,
            E::UnknownTopicOrPartition.code()
        );
        for v in [1, 4, 7, 9] {
            encodes(
                ApiKey::ListOffsets,
                v,
                ResponseKind::ListOffsets(handle(b, &Default::default(), req("t", 0, LATEST), v)),
            );
        }
    }
}
