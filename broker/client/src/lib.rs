//! An async Kafka protocol client: connections, version negotiation and the admin calls
//! the operator and the broker's inter-broker paths need.
//!
//! Layers, bottom up: `frame` (wire framing, sans-IO), `versions` (ApiVersions
//! negotiation, sans-IO), `connection` (one TCP connection, the only IO besides
//! `admin`), `metadata` (owned views of cluster state, sans-IO), `features` (finalized
//! feature levels from ApiVersions, sans-IO), `quorum` (DescribeQuorum, sans-IO),
//! `admin` (bootstrap, reconnect, admin calls), `users` (SCRAM credentials and ACLs). Message codecs are kafka-protocol's;
//! nothing here hand-writes a message layout.
//!
//! ```no_run
//! # async fn run() -> Result<(), tidewater_client::ClientError> {
//! let admin = tidewater_client::AdminClient::connect("broker-0:9092,broker-1:9092").await?;
//! let metadata = admin.metadata(None).await?;
//! for tp in metadata.under_replicated() {
//!     println!("under-replicated: {}-{}", tp.topic, tp.partition);
//! }
//! # Ok(()) }
//! ```

mod admin;
mod bootstrap;
mod connection;
mod error;
mod features;
pub mod frame;
mod metadata;
mod quorum;
mod reassign;
mod sasl;
mod tls;
mod users;
mod versions;

pub use admin::{AdminClient, CreatedTopic};
pub use bootstrap::parse_bootstrap;
pub use connection::{ClientConfig, ClientSecurity, Connection};
pub use error::ClientError;
pub use features::{METADATA_VERSION_FEATURE, finalized_features, metadata_version_name};
pub use metadata::{
    BrokerInfo, ClusterDescription, ClusterMetadata, PartitionInfo, TopicInfo, TopicPartition,
};
pub use quorum::{CLUSTER_METADATA_TOPIC, QuorumInfo, QuorumReplica};
pub use reassign::{
    ConfigResource, OngoingReassignment, PartitionFailure, Reassignment, ReplicaLogDir,
};
pub use sasl::{ClientSasl, SaslClient, SaslClientError, SaslMechanism, ScramHash};
pub use tls::{ClientTls, TlsPemError};
pub use users::{AclBinding, SCRAM_ITERATIONS, SCRAM_SHA_512};
pub use versions::ApiVersionTable;

/// kafka-protocol, re-exported so callers of `Connection::send` name the same types.
pub use kafka_protocol;
/// The topic id type of `TopicInfo` and `CreatedTopic`.
pub use uuid::Uuid;

#[cfg(test)]
pub(crate) mod test_support {
    use proptest::test_runner::{Config, RngSeed};

    /// proptest with a fixed seed, printed, so any failure replays with
    /// `TIDEWATER_TEST_SEED=<seed>`.
    pub(crate) fn seeded_config() -> Config {
        let seed = std::env::var("TIDEWATER_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0x71DE_0A7E);
        eprintln!("proptest seed: {seed} (replay with TIDEWATER_TEST_SEED={seed})");
        Config {
            rng_seed: RngSeed::Fixed(seed),
            cases: 128,
            failure_persistence: None,
            ..Config::default()
        }
    }
}
