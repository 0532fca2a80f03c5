//! The broker's shared handles (Kafka's `BrokerServer`, which builds the managers and
//! hands them to `KafkaApis`): [`Broker`] holds the config and one owned part per
//! Kafka seam, each with its state behind a small API: the [`MetadataView`]
//! (`MetadataCache`), the [`crate::replica_manager::ReplicaManager`] (log manager,
//! append notifier, fetch sessions, replicas), the [`Coordinators`] (group coordinator,
//! producer ids), the [`ConfigAdmin`], and [`Serving`] (readiness, connection slots);
//! plus metrics. Handlers take the part they need.
//!
//! Also here: the broker's checks on topic names ([`topic_names`], [`crate::kafka_error::KafkaError`]),
//! the group coordinator's storage port on `__consumer_offsets` ([`offsets_backend`])
//! and the broker's reaction to each new metadata image (`kraft.rs`, Kafka's
//! `BrokerMetadataPublisher`). It does no socket IO; the handlers call it.

mod config_admin;
pub mod connection_slots;
mod coordinators;
mod kraft;
mod metadata_view;
pub mod offsets_backend;
pub mod producer_ids;
mod serving;
mod startup;
pub mod topic_names;
mod topics;
pub mod txn;

pub use config_admin::ConfigAdmin;
pub use coordinators::Coordinators;
pub use metadata_view::{BrokerView, MetadataView, PartitionView};
pub use serving::Serving;
pub use startup::{controlled_shutdown, start_broker, stop};

pub use crate::clock::{mono_ms, now_ms};

use std::collections::BTreeMap;
use std::sync::Arc;

use tidewater_group::{GroupConfig, GroupCoordinator};
use tidewater_storage::{Log, LogManager, TopicPartition};
use uuid::Uuid;

use crate::config::{BrokerConfig, ConfigError};
use crate::kraft::Cluster;
use crate::metadata::image_store::ImageMetadataStore;
use crate::metadata::{MetaPropertiesError, MetadataError, MetadataStore, NodeFile};
use crate::metrics::Metrics;
use crate::replica_manager::ReplicaManager;
use crate::replica_manager::fetch_sessions::FetchSessionCache;
use crate::security::acl::Authorizer;
use offsets_backend::LogOffsetsBackend;
use producer_ids::ProducerIdManager;

/// Why the broker could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    LogDirs(#[from] MetaPropertiesError),
    #[error(transparent)]
    Metadata(#[from] MetadataError),
    #[error("cannot open logs: {0}")]
    Storage(#[from] tidewater_storage::StorageError),
    #[error(transparent)]
    Migration(#[from] crate::kraft::migrate::MigrationError),
    #[error(transparent)]
    AdoptKafka(#[from] crate::kraft::adopt_kafka::AdoptError),
    #[error(transparent)]
    Kraft(#[from] crate::kraft::KraftStartError),
    #[error(transparent)]
    Registration(#[from] crate::kraft::RegistrationError),
    #[error("node {node} was not unfenced by its own controller within {timeout:?}")]
    NotUnfenced {
        node: i32,
        timeout: std::time::Duration,
    },
    #[error("shutdown failed: {0}")]
    Shutdown(#[from] tokio::task::JoinError),
    #[error("cannot bind {what} on {addr}: {source}")]
    Bind {
        what: &'static str,
        addr: String,
        source: std::io::Error,
    },
}

/// Everything a request handler may touch, one part per Kafka seam.
pub struct Broker {
    config: BrokerConfig,
    /// The cluster id, the metadata image's topics and configs, the KRaft node.
    metadata: MetadataView,
    /// The local replicas, as the metadata image assigns them, and their logs.
    replicas: Arc<ReplicaManager>,
    /// The group coordinator and producer ids.
    coordinators: Coordinators,
    metrics: Arc<Metrics>,
    /// Log defaults, dynamic broker configs and the admin lock.
    admin: ConfigAdmin,
    /// Readiness, shutdown and the connection cap.
    serving: Serving,
    /// `authorizer.class.name`'s StandardAuthorizer; `None`: every request allowed.
    authorizer: Option<Authorizer>,
    /// This broker's own `Arc`, for tasks a handler (holding `&Broker`) must spawn.
    this: std::sync::Weak<Broker>,
}

impl Broker {
    /// Opens a broker: metadata comes from the image `cluster` follows; logs are
    /// opened, and replicas appear as the image assigns them (see [`Broker::follow`]).
    pub fn open(
        config: BrokerConfig,
        cluster: Arc<Cluster>,
        cluster_id: String,
        node_file: Arc<NodeFile>,
    ) -> Result<Arc<Broker>, StartupError> {
        let store: Arc<dyn MetadataStore> = Arc::new(ImageMetadataStore::new(
            cluster_id.clone(),
            config.node_id,
            cluster.subscribe(),
            node_file,
        ));
        let broker = Self::build(config, MetadataView::new(cluster_id, store, cluster))?;
        broker.replicas.logs().start_background_tasks();
        Ok(broker)
    }

    fn build(config: BrokerConfig, metadata: MetadataView) -> Result<Arc<Broker>, StartupError> {
        let dynamic = metadata.broker_configs();
        let log_defaults = config.log_defaults(&dynamic)?;
        let serving = Serving::new(config.max_connections_with(&dynamic));
        let logs = LogManager::open(config.log_manager_config(&dynamic)?)?;
        let first_session_id = i32::from_be_bytes(
            Uuid::new_v4().as_bytes()[..4]
                .try_into()
                .unwrap_or([0, 0, 0, 1]),
        ) & 0x3fff_ffff;
        let fetch_sessions =
            FetchSessionCache::new(config.fetch_session_cache_slots, first_session_id);
        let metrics = Arc::new(Metrics::new());
        let replicas = Arc::new(ReplicaManager::new(
            &config,
            metadata.cluster().clone(),
            logs.clone(),
            fetch_sessions,
            metrics.clone(),
        ));
        let backend = Arc::new(LogOffsetsBackend {
            logs,
            metadata: metadata.store().clone(),
            notifier: replicas.notifier().clone(),
            node_id: config.node_id,
            replicas: replicas.clone(),
            commit_timeout: std::time::Duration::from_millis(
                u64::try_from(config.offsets_commit_timeout_ms).unwrap_or(5000),
            ),
        });
        // Groups are served only for `__consumer_offsets` partitions this broker leads
        // (loaded as leadership arrives).
        let groups = GroupCoordinator::new_unowned(
            GroupConfig {
                initial_rebalance_delay_ms: config.group_initial_rebalance_delay_ms,
                min_session_timeout_ms: config.group_min_session_timeout_ms,
                max_session_timeout_ms: config.group_max_session_timeout_ms,
                max_size: config.group_max_size,
                offsets_retention_ms: config.offsets_retention_minutes.saturating_mul(60_000),
                offsets_topic_partitions: config.offsets_topic_num_partitions,
                consumer_session_timeout_ms: config.group_consumer_session_timeout_ms,
                consumer_heartbeat_interval_ms: config.group_consumer_heartbeat_interval_ms,
                consumer_max_size: config.group_consumer_max_size,
            },
            backend,
        );
        let producer_ids = ProducerIdManager::new(metadata.store().clone());
        let txns = txn::TxnHost::new(
            &config,
            replicas.clone(),
            groups.clone(),
            metadata.cluster().clone(),
        );
        Ok(Arc::new_cyclic(|this| Broker {
            this: this.clone(),
            coordinators: Coordinators::new(groups, producer_ids, txns),
            metrics,
            metadata,
            admin: ConfigAdmin::new(log_defaults, dynamic),
            serving,
            replicas,
            authorizer: config.authorizer.as_ref().map(Authorizer::new),
            config,
        }))
    }

    pub fn config(&self) -> &BrokerConfig {
        &self.config
    }

    /// The cluster id, topics and configs this broker knows, and its KRaft node.
    pub fn metadata(&self) -> &MetadataView {
        &self.metadata
    }

    /// The local replicas, their logs, fetch sessions and the append notifier.
    pub fn replicas(&self) -> &Arc<ReplicaManager> {
        &self.replicas
    }

    /// The group coordinator and producer ids.
    pub fn coordinators(&self) -> &Coordinators {
        &self.coordinators
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Log defaults, dynamic broker configs and the admin lock.
    pub fn admin(&self) -> &ConfigAdmin {
        &self.admin
    }

    /// Readiness, shutdown and the connection cap.
    pub fn serving(&self) -> &Serving {
        &self.serving
    }

    /// The ACL authorizer, when `authorizer.class.name` switched it on.
    pub fn authorizer(&self) -> Option<&Authorizer> {
        self.authorizer.as_ref()
    }

    /// Resizes the connection cap when the effective `max.connections` changed.
    fn apply_max_connections(&self, dynamic: &BTreeMap<String, String>) {
        self.serving
            .set_max_connections(self.config.max_connections_with(dynamic));
    }

    /// The log of a partition this broker leads: the metadata must know the
    /// partition (a deleted topic's logs may linger until removed in the background).
    pub fn log(&self, topic: &str, partition: i32) -> Option<Arc<Log>> {
        if !self.metadata.has_partition(topic, partition) {
            return None;
        }
        self.replicas
            .logs()
            .get_log(&TopicPartition::new(topic, partition))
    }

    /// The quorum membership and metadata image of this node.
    pub fn cluster(&self) -> &Arc<Cluster> {
        self.metadata.cluster()
    }

    /// The state the metrics' gauges mirror, read at each scrape.
    pub fn metrics_state(&self) -> crate::metrics::BrokerState {
        let cluster = self.cluster();
        let active_controller = cluster.is_active_controller();
        crate::metrics::BrokerState {
            logs: self.replicas.logs().logs(),
            leaders: self.replicas.leader_counts(),
            active_controller,
            offline_partitions: if active_controller {
                cluster
                    .image()
                    .partitions()
                    .filter(|p| p.leader < 0)
                    .count()
            } else {
                0
            },
            groups: self.coordinators.groups().group_counts(),
        }
    }

    /// This broker as an `Arc` (None only while it is being dropped).
    pub fn arc(&self) -> Option<Arc<Broker>> {
        self.this.upgrade()
    }

    /// `/readyz`: listeners bound and logs loaded; a broker must also be registered
    /// and unfenced (Kafka's RUNNING state), so clients bootstrapping from it see the
    /// whole cluster as it is.
    pub fn is_ready(&self) -> bool {
        if !self.serving.is_ready() {
            return false;
        }
        let c = self.cluster();
        !c.is_broker()
            || c.image()
                .brokers
                .get(&self.config.node_id)
                .is_some_and(|b| !b.fenced && b.broker_epoch == c.broker_epoch())
    }

    pub fn set_ready(&self, ready: bool) {
        self.serving.set_ready(ready);
    }

    /// First step of shutdown: not ready any more, long polls and parked group
    /// requests are answered now so in-flight requests finish quickly.
    pub fn begin_shutdown(&self) {
        self.set_ready(false);
        self.serving.begin_closing();
        self.replicas.begin_closing();
        self.replicas.notifier().notify();
        self.coordinators.groups().shutdown();
    }

    pub fn is_closing(&self) -> bool {
        self.serving.is_closing()
    }

    /// Stops background work and makes everything durable. Idempotent.
    pub fn shutdown(&self) -> Result<(), tidewater_storage::StorageError> {
        self.set_ready(false);
        self.coordinators.groups().shutdown();
        self.replicas.logs().shutdown()
    }
}
