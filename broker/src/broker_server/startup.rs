//! Starting and stopping a broker (Kafka's `BrokerServer.startup` / `shutdown`): the
//! KRaft role first, then logs and replicas, registration, heartbeats and image
//! following; on SIGTERM the drain and controlled shutdown, then the quorum member.

use std::sync::Arc;
use std::time::Duration;

use super::{Broker, StartupError};
use crate::config::BrokerConfig;
use crate::kraft::{Cluster, adopt_kafka, migrate};
use crate::metadata::{NodeFile, read_cluster_id};

/// How long a single node waits for its own controller to unfence it.
const UNFENCE_TIMEOUT: Duration = Duration::from_secs(60);

/// Starts a KRaft node: quorum member or metadata follower, logs, and for the broker
/// role registration, heartbeats, the leader tick and image following.
pub async fn start_broker(config: BrokerConfig) -> Result<Arc<Broker>, StartupError> {
    let cluster_id = read_cluster_id(&config.log_dirs, config.node_id)?;
    let node_file = Arc::new(NodeFile::open(&config.log_dirs[0])?);
    let cluster = Cluster::start(&config, &cluster_id).await?;
    let broker = Broker::open(
        config.clone(),
        cluster.clone(),
        cluster_id,
        node_file.clone(),
    )?;
    if cluster.is_broker() {
        let single_node = config.kraft.single_node;
        // Partition dirs an Apache Kafka node wrote into this node's log dirs.
        let kafka_topics = adopt_kafka::scan(&config.log_dirs)?;
        broker.replicas().start_leader_ticks();
        cluster.register(&config).await?;
        cluster.start_heartbeats(config);
        tokio::spawn(broker.clone().follow());
        tokio::spawn(crate::broker_server::txn::TxnHost::run_cleanup(
            Arc::downgrade(broker.coordinators().txns()),
            crate::broker_server::txn::TxnHost::cleanup_interval(broker.config()),
        ));
        if single_node || node_file.legacy().is_some() || !kafka_topics.is_empty() {
            // Its own controller unfences it within a few heartbeats; clients connect
            // after that, as they could at once before every node ran KRaft (Kafka's
            // broker also waits to be unfenced before it serves clients). Migrated
            // partitions need a live leader too.
            wait_unfenced(&cluster).await?;
        }
        // A data dir of the old single-node mode: its topics join the metadata log
        // before any client can connect.
        migrate::migrate_file_metadata(&cluster, &node_file).await?;
        adopt_kafka::adopt(&cluster, &kafka_topics).await?;
    }
    Ok(broker)
}

/// Waits until this broker's registration is unfenced in the image.
async fn wait_unfenced(cluster: &Cluster) -> Result<(), StartupError> {
    let node = cluster.node_id;
    let unfenced = cluster
        .wait_for_image(UNFENCE_TIMEOUT, |i| {
            i.brokers.get(&node).is_some_and(|b| !b.fenced)
        })
        .await;
    if unfenced {
        Ok(())
    } else {
        Err(StartupError::NotUnfenced {
            node,
            timeout: UNFENCE_TIMEOUT,
        })
    }
}

/// SIGTERM, first step: drain the led partitions (no more appends, in-sync followers
/// reach the log end), then controlled shutdown (bounded) so leaderships move to a
/// follower that holds every acknowledged record.
pub async fn controlled_shutdown(broker: &Broker) {
    let cluster = broker.cluster();
    if cluster.is_broker() && broker.config().replica.controlled_shutdown_enable {
        broker
            .replicas()
            .drain_leaderships(Duration::from_millis(
                broker.config().replica.controlled_shutdown_drain_timeout_ms,
            ))
            .await;
        cluster
            .controlled_shutdown(Duration::from_millis(
                cluster.config.broker_session_timeout_ms.max(5000),
            ))
            .await;
    }
}

/// Last step: stop heartbeats, replicas, and the quorum member.
pub async fn stop(broker: &Broker) {
    let cluster = broker.cluster();
    cluster.stop_heartbeats();
    broker.replicas().shutdown();
    cluster.shutdown().await;
}
