//! The name of a partition and its directory name (`<topic>-<partition>`, Kafka's layout).

use std::fmt;

/// A topic partition, displayed (and stored on disk) as `topic-3`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    pub topic: String,
    pub partition: i32,
}

impl TopicPartition {
    pub fn new(topic: impl Into<String>, partition: i32) -> Self {
        TopicPartition {
            topic: topic.into(),
            partition,
        }
    }

    /// Parses a partition directory name. Topic names may contain `-`, so the partition is
    /// whatever follows the last one. Directories being deleted (`topic-0.<uuid>-delete`)
    /// and other non-partition names yield `None`, and so does Apache Kafka's metadata
    /// log (`__cluster_metadata-0`, in a log dir Kafka wrote): not a topic.
    pub fn from_dir_name(name: &str) -> Option<TopicPartition> {
        let (topic, partition) = name.rsplit_once('-')?;
        if topic.is_empty() || partition.is_empty() || topic == "__cluster_metadata" {
            return None;
        }
        if !partition.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let partition: i32 = partition.parse().ok()?;
        if !topic
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
        {
            return None;
        }
        Some(TopicPartition::new(topic, partition))
    }

    pub fn dir_name(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dir_names_round_trip() {
        let tp = TopicPartition::new("my-topic.v2", 12);
        assert_eq!(tp.to_string(), "my-topic.v2-12");
        assert_eq!(TopicPartition::from_dir_name(&tp.dir_name()), Some(tp));
        assert_eq!(TopicPartition::from_dir_name("__cluster_metadata-0"), None);
        assert_eq!(TopicPartition::from_dir_name("t-0.abcdef-delete"), None);
        assert_eq!(TopicPartition::from_dir_name("lost+found"), None);
        assert_eq!(TopicPartition::from_dir_name("-1"), None);
        assert_eq!(TopicPartition::from_dir_name("t-"), None);
    }
}
