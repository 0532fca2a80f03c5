//! OffsetFetch in both shapes: v0-7 (one group, top-level topics) and v8+ (a
//! `groups` array). A null topic list means every committed offset of the group.
//! With `require_stable` (v7+, KIP-447), a partition with a transactional offset
//! still pending answers UNSTABLE_OFFSET_COMMIT (the client retries) instead of an
//! offset the transaction may be about to replace.

use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{OffsetFetchRequest, OffsetFetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use kafka_protocol::ResponseError;

use super::Core;
use super::responses::{NO_ERROR, error_code, str_bytes};

/// One partition's answer: offset, leader epoch, metadata, error (Kafka's "no
/// offset" is -1/-1/"" with no error).
type Fetched = (i32, i64, i32, String, i16);
/// Each topic with its partitions' answers.
type FetchedTopics = Vec<(String, Vec<Fetched>)>;

impl Core {
    pub fn offset_fetch(&self, req: &OffsetFetchRequest, version: i16) -> OffsetFetchResponse {
        if version >= 8 {
            let groups = req
                .groups
                .iter()
                .map(|g| {
                    let wanted = g.topics.as_ref().map(|ts| {
                        ts.iter()
                            .map(|t| (t.name.as_str().to_owned(), t.partition_indexes.clone()))
                            .collect::<Vec<_>>()
                    });
                    let (checked, topics) =
                        self.fetch_group(g.group_id.as_str(), wanted, req.require_stable);
                    OffsetFetchResponseGroup::default()
                        .with_group_id(g.group_id.clone())
                        .with_error_code(error_code(checked))
                        .with_topics(
                            topics
                                .into_iter()
                                .map(|(name, parts)| {
                                    OffsetFetchResponseTopics::default()
                                        .with_name(topic_name(&name))
                                        .with_partitions(
                                            parts
                                                .into_iter()
                                                .map(|(p, offset, epoch, metadata, code)| {
                                                    OffsetFetchResponsePartitions::default()
                                                        .with_partition_index(p)
                                                        .with_error_code(code)
                                                        .with_committed_offset(offset)
                                                        .with_committed_leader_epoch(epoch)
                                                        .with_metadata(Some(str_bytes(&metadata)))
                                                })
                                                .collect(),
                                        )
                                })
                                .collect(),
                        )
                })
                .collect();
            return OffsetFetchResponse::default().with_groups(groups);
        }
        let wanted = req.topics.as_ref().map(|ts| {
            ts.iter()
                .map(|t| (t.name.as_str().to_owned(), t.partition_indexes.clone()))
                .collect::<Vec<_>>()
        });
        let stable = version >= 7 && req.require_stable;
        let (checked, topics) = self.fetch_group(req.group_id.as_str(), wanted, stable);
        let error = error_code(checked);
        let topics = topics
            .into_iter()
            .map(|(name, parts)| {
                OffsetFetchResponseTopic::default()
                    .with_name(topic_name(&name))
                    .with_partitions(
                        parts
                            .into_iter()
                            .map(|(p, offset, epoch, metadata, code)| {
                                OffsetFetchResponsePartition::default()
                                    .with_partition_index(p)
                                    .with_committed_offset(offset)
                                    .with_committed_leader_epoch(if version >= 5 {
                                        epoch
                                    } else {
                                        -1
                                    })
                                    .with_metadata(Some(str_bytes(&metadata)))
                                    // v0-1 have no top-level error: it goes on every partition.
                                    .with_error_code(if version < 2 { error } else { code })
                            })
                            .collect(),
                    )
            })
            .collect();
        OffsetFetchResponse::default()
            .with_topics(topics)
            .with_error_code(if version >= 2 { error } else { NO_ERROR })
    }

    /// The group-level check and the per-topic answers; `wanted = None` is "all".
    fn fetch_group(
        &self,
        group_id: &str,
        wanted: Option<Vec<(String, Vec<i32>)>>,
        require_stable: bool,
    ) -> (Result<(), ResponseError>, FetchedTopics) {
        if let Err(error) = self.check_coordinator(group_id) {
            let topics = wanted
                .unwrap_or_default()
                .into_iter()
                .map(|(t, ps)| {
                    (
                        t,
                        ps.into_iter()
                            .map(|p| (p, -1, -1, String::new(), NO_ERROR))
                            .collect(),
                    )
                })
                .collect();
            return (Err(error), topics);
        }
        let group = self.groups.get(group_id);
        let unstable = |topic: &str, p: i32| {
            require_stable && group.is_some_and(|g| g.has_pending_txn_offset(topic, p))
        };
        let lookup = |topic: &str, p: i32| -> Fetched {
            if unstable(topic, p) {
                return (
                    p,
                    -1,
                    -1,
                    String::new(),
                    ResponseError::UnstableOffsetCommit.code(),
                );
            }
            match group.and_then(|g| g.offsets.get(&(topic.to_owned(), p))) {
                Some(v) => (p, v.offset, v.leader_epoch, v.metadata.clone(), NO_ERROR),
                None => (p, -1, -1, String::new(), NO_ERROR),
            }
        };
        let topics = match wanted {
            Some(wanted) => wanted
                .into_iter()
                .map(|(topic, parts)| {
                    let fetched = parts.into_iter().map(|p| lookup(&topic, p)).collect();
                    (topic, fetched)
                })
                .collect(),
            None => {
                let mut out: FetchedTopics = Vec::new();
                for (topic, p) in group.map(|g| g.offsets.keys()).into_iter().flatten() {
                    let entry = lookup(topic, *p);
                    match out.last_mut() {
                        Some((last, parts)) if last == topic => parts.push(entry),
                        _ => out.push((topic.clone(), vec![entry])),
                    }
                }
                out
            }
        };
        (Ok(()), topics)
    }
}

fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_owned()))
}
