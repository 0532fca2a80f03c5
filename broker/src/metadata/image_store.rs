//! [`ImageMetadataStore`]: the [`MetadataStore`] of a KRaft broker, read from the
//! metadata image this node follows. Changes are never written here: they are
//! controller decisions (see [`crate::kraft::Cluster`]), and this view sees them once the
//! metadata log that carries them has been applied locally, in order.

use std::collections::BTreeMap;
use std::sync::Arc;

use tidewater_quorum::image::{MetadataImage, TopicImage};
use tidewater_quorum::records::ConfigResourceType;
use tokio::sync::watch;
use uuid::Uuid;

use crate::metadata::{DynamicResource, MetadataError, MetadataStore, NodeFile, TopicMetadata};

/// Producer ids of broker `n` live in `[n << 40, (n + 1) << 40)`: unique across the
/// cluster without a controller round trip (each broker persists its own counter).
const PRODUCER_ID_BITS: u32 = 40;

pub struct ImageMetadataStore {
    cluster_id: String,
    node_id: i32,
    image: watch::Receiver<Arc<MetadataImage>>,
    /// This node's producer-id counter.
    local: Arc<NodeFile>,
}

impl ImageMetadataStore {
    pub fn new(
        cluster_id: String,
        node_id: i32,
        image: watch::Receiver<Arc<MetadataImage>>,
        local: Arc<NodeFile>,
    ) -> Self {
        Self {
            cluster_id,
            node_id,
            image,
            local,
        }
    }

    pub fn image(&self) -> Arc<MetadataImage> {
        self.image.borrow().clone()
    }
}

/// A topic of the image as the handlers see topics.
pub fn topic_metadata(image: &MetadataImage, t: &TopicImage) -> TopicMetadata {
    TopicMetadata {
        name: t.name.clone(),
        id: Uuid::from_u128(t.topic_id),
        partitions: t
            .partitions
            .iter()
            .map(|(p, r)| (*p, r.replicas.clone()))
            .collect(),
        configs: image_topic_configs(image, &t.name),
    }
}

/// Dynamic broker configs for `node_id`: the cluster-wide defaults (resource name
/// "") overlaid with this broker's own, as Kafka resolves them.
pub fn dynamic_broker_configs(image: &MetadataImage, node_id: i32) -> BTreeMap<String, String> {
    let Some(brokers) = image.configs.get(&ConfigResourceType::Broker) else {
        return BTreeMap::new();
    };
    let mut out = brokers.get("").cloned().unwrap_or_default();
    if let Some(own) = brokers.get(&node_id.to_string()) {
        out.extend(own.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    out
}

/// Where the metadata image keeps a resource's dynamic configs.
pub fn image_resource(resource: &DynamicResource) -> (ConfigResourceType, String) {
    match resource {
        DynamicResource::BrokerDefault => (ConfigResourceType::Broker, String::new()),
        DynamicResource::Broker(id) => (ConfigResourceType::Broker, id.to_string()),
        DynamicResource::Group(g) => (ConfigResourceType::Group, g.clone()),
    }
}

impl MetadataStore for ImageMetadataStore {
    fn cluster_id(&self) -> String {
        self.cluster_id.clone()
    }

    fn topics(&self) -> Vec<TopicMetadata> {
        let image = self.image();
        image
            .topics_by_id
            .values()
            .map(|t| topic_metadata(&image, t))
            .collect()
    }

    fn topic(&self, name: &str) -> Option<TopicMetadata> {
        let image = self.image();
        image.topic(name).map(|t| topic_metadata(&image, t))
    }

    fn topic_by_id(&self, id: Uuid) -> Option<TopicMetadata> {
        let image = self.image();
        image
            .topics_by_id
            .get(&id.as_u128())
            .map(|t| topic_metadata(&image, t))
    }

    fn topic_name_by_id(&self, id: Uuid) -> Option<String> {
        self.image
            .borrow()
            .topics_by_id
            .get(&id.as_u128())
            .map(|t| t.name.clone())
    }

    fn has_partition(&self, topic: &str, partition: i32) -> bool {
        self.image
            .borrow()
            .topic(topic)
            .is_some_and(|t| t.partitions.contains_key(&partition))
    }

    fn broker_configs(&self) -> BTreeMap<String, String> {
        dynamic_broker_configs(&self.image(), self.node_id)
    }

    fn dynamic_configs(&self, resource: &DynamicResource) -> BTreeMap<String, String> {
        let (rtype, name) = image_resource(resource);
        self.image()
            .configs
            .get(&rtype)
            .and_then(|m| m.get(&name))
            .cloned()
            .unwrap_or_default()
    }

    fn allocate_producer_ids(&self, size: i64) -> Result<i64, MetadataError> {
        let local = self.local.allocate_producer_ids(size)?;
        if local.saturating_add(size) >= 1i64 << PRODUCER_ID_BITS {
            return Err(MetadataError::ProducerIdsExhausted);
        }
        Ok((i64::from(self.node_id) << PRODUCER_ID_BITS) + local)
    }
}

/// A topic's dynamic configs in `image`.
pub fn image_topic_configs(image: &MetadataImage, name: &str) -> BTreeMap<String, String> {
    image
        .configs
        .get(&ConfigResourceType::Topic)
        .and_then(|m| m.get(name))
        .cloned()
        .unwrap_or_default()
}
