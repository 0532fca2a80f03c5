//! The shape of a Fetch response both paths build: topics in request order, and the
//! file ranges the connection sends with `sendfile`.

use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{FetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use tidewater_storage::FileRecords;
use uuid::Uuid;

/// A Fetch response and, for each partition in it (in order), the file range
/// that is its record set, if any.
#[derive(Debug, Default)]
pub struct FetchReply {
    pub body: FetchResponse,
    pub files: Vec<Option<FileRecords>>,
}

/// Appends to the last topic entry when it is the same topic (keeps request order).
pub(super) fn push_partition(resp: &mut FetchResponse, topic: &str, id: Uuid, pd: PartitionData) {
    match resp.responses.last_mut() {
        Some(t) if t.topic.0.as_str() == topic && t.topic_id == id => t.partitions.push(pd),
        _ => {
            let mut t = FetchableTopicResponse::default();
            t.topic = TopicName(StrBytes::from_string(topic.to_string()));
            t.topic_id = id;
            t.partitions = vec![pd];
            resp.responses.push(t);
        }
    }
}
