//! DescribeLogDirs: per log dir its capacity and the size of every partition
//! on it (optionally filtered by topic/partition).

use std::collections::BTreeMap;

use kafka_protocol::messages::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
};
use kafka_protocol::messages::{DescribeLogDirsRequest, DescribeLogDirsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use crate::replica_manager::ReplicaManager;

pub fn handle(
    replicas: &ReplicaManager,
    req: DescribeLogDirsRequest,
    version: i16,
) -> DescribeLogDirsResponse {
    let wanted: Option<BTreeMap<String, Vec<i32>>> = req.topics.map(|ts| {
        ts.into_iter()
            .map(|t| (t.topic.0.to_string(), t.partitions))
            .collect()
    });
    let mut resp = DescribeLogDirsResponse::default();
    for dir in replicas.logs().log_dir_infos() {
        let mut result = DescribeLogDirsResult::default();
        result.log_dir = StrBytes::from_string(dir.path.display().to_string());
        if version >= 4 {
            result.total_bytes = i64::try_from(dir.total_bytes).unwrap_or(i64::MAX);
            result.usable_bytes = i64::try_from(dir.usable_bytes).unwrap_or(i64::MAX);
        }
        let mut topics: BTreeMap<String, Vec<DescribeLogDirsPartition>> = BTreeMap::new();
        for (tp, size, lag) in dir.partitions {
            if let Some(w) = &wanted
                && !w
                    .get(&tp.topic)
                    .is_some_and(|ps| ps.contains(&tp.partition))
            {
                continue;
            }
            let mut p = DescribeLogDirsPartition::default();
            p.partition_index = tp.partition;
            p.partition_size = i64::try_from(size).unwrap_or(i64::MAX);
            p.offset_lag = lag;
            topics.entry(tp.topic).or_default().push(p);
        }
        result.topics = topics
            .into_iter()
            .map(|(name, partitions)| {
                let mut t = DescribeLogDirsTopic::default();
                t.name = TopicName(StrBytes::from_string(name));
                t.partitions = partitions;
                t
            })
            .collect();
        resp.results.push(result);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::test_support::{broker, encodes};
    use kafka_protocol::messages::{ApiKey, ResponseKind};

    #[tokio::test]
    async fn lists_partitions_per_dir() {
        let tb = broker(&[]);
        tb.broker.auto_create_topic("t").unwrap();
        let mut all = DescribeLogDirsRequest::default();
        all.topics = None;
        let r = handle(tb.broker.replicas(), all.clone(), 4);
        assert_eq!(r.results.len(), 1);
        assert!(r.results[0].topics.iter().any(|t| t.name.0.as_str() == "t"));
        assert!(r.results[0].total_bytes > 0);
        for v in [1, 4] {
            encodes(
                ApiKey::DescribeLogDirs,
                v,
                ResponseKind::DescribeLogDirs(handle(tb.broker.replicas(), all.clone(), v)),
            );
        }
    }
}
