//! DeleteRecords: advance a partition's log start offset (offset -1 means the
//! high watermark); segments wholly below it are removed by the log layer.

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};

use tidewater_quorum::acl::{AclOperation, ResourceType};

use super::{RequestContext, authz};
use crate::broker_server::Broker;

pub fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    req: DeleteRecordsRequest,
    _version: i16,
) -> DeleteRecordsResponse {
    let mut resp = DeleteRecordsResponse::default();
    for t in req.topics {
        let name = t.name.0.to_string();
        let mut tr = DeleteRecordsTopicResult::default();
        tr.name = t.name;
        // Kafka's handleDeleteRecordsRequest: Delete on the topic.
        let allowed = authz::allowed(
            broker,
            ctx,
            AclOperation::Delete,
            ResourceType::Topic,
            &name,
        );
        for p in t.partitions {
            let mut r = DeleteRecordsPartitionResult::default();
            r.partition_index = p.partition_index;
            r.low_watermark = -1;
            if !allowed {
                r.error_code = E::TopicAuthorizationFailed.code();
                tr.partitions.push(r);
                continue;
            }
            match broker.replicas().leader_log(&name, p.partition_index) {
                Err(error) => r.error_code = error.code(),
                Ok(log) => {
                    let hw = log.high_watermark();
                    let offset = if p.offset == -1 { hw } else { p.offset };
                    if offset < 0 || offset > hw {
                        r.error_code = E::OffsetOutOfRange.code();
                    } else {
                        match log.delete_records_before(offset) {
                            Ok(low) => r.low_watermark = low,
                            Err(e) => r.error_code = e.error_code(),
                        }
                    }
                }
            }
            tr.partitions.push(r);
        }
        resp.topics.push(tr);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker_server::now_ms;
    use crate::broker_server::offsets_backend::encode_batch;
    use crate::handlers::test_support::broker;
    use bytes::Bytes;
    use kafka_protocol::messages::TopicName;
    use kafka_protocol::messages::delete_records_request::{
        DeleteRecordsPartition, DeleteRecordsTopic,
    };
    use kafka_protocol::protocol::StrBytes;

    fn req(offset: i64) -> DeleteRecordsRequest {
        let mut p = DeleteRecordsPartition::default();
        p.offset = offset;
        let mut t = DeleteRecordsTopic::default();
        t.name = TopicName(StrBytes::from_static_str("t"));
        t.partitions = vec![p];
        let mut r = DeleteRecordsRequest::default();
        r.topics = vec![t];
        r
    }

    #[tokio::test]
    async fn advances_log_start_within_the_high_watermark() {
        let tb = broker(&[]);
        let b = &tb.broker;
        b.auto_create_topic("t").unwrap();
        let log = b.log("t", 0).unwrap();
        for _ in 0..4 {
            let batch = encode_batch(&[(Bytes::from_static(b"k"), None)], now_ms()).unwrap();
            log.append_as_leader(&batch, 0, now_ms()).unwrap();
        }
        log.update_high_watermark(log.log_end_offset());
        let low = |r: DeleteRecordsResponse| {
            (
                r.topics[0].partitions[0].error_code,
                r.topics[0].partitions[0].low_watermark,
            )
        };
        assert_eq!(low(handle(b, &Default::default(), req(2), 1)), (0, 2));
        assert_eq!(log.log_start_offset(), 2);
        assert_eq!(
            low(handle(b, &Default::default(), req(9), 1)).0,
            E::OffsetOutOfRange.code()
        );
        assert_eq!(low(handle(b, &Default::default(), req(-1), 1)), (0, 4));
    }
}
