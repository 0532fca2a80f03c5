//! The admin client: cluster reads (metadata, finalized features, the KRaft quorum) and
//! topic creation
//! against a bootstrap list.
//!
//! Owns which broker to talk to (the first reachable bootstrap address, reconnecting when
//! that connection fails) and the translation of admin answers into `metadata` views and
//! `ClientError::Protocol` codes. Like Kafka's AdminClient it retries nothing that the
//! broker rejected; a connection that broke since the last call is replaced once, since a
//! restarted broker is the normal case for an operator that rolls pods.
//!
//! Every connection it opens, to the bootstrap list or to a broker it found in the
//! metadata, is secured alike ([`AdminClient::connect_secured`]): an admin client that
//! fell back to plaintext for its second broker would fail, or worse, succeed on a port
//! that should not have served it.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, CreateTopicsRequest, DescribeClusterRequest, MetadataRequest,
    TopicName,
};
use kafka_protocol::protocol::{Request, StrBytes};
use tokio::sync::Mutex;
use uuid::Uuid;

use crate::bootstrap::parse_bootstrap;
use crate::connection::{ClientConfig, ClientSecurity, Connection};
use crate::error::ClientError;
use crate::features::finalized_features;
use crate::metadata::{ClusterDescription, ClusterMetadata};
use crate::quorum::{QuorumInfo, describe_quorum_request};
use crate::versions::{ApiVersionTable, ApiVersionsOutcome, api_versions_outcome};

/// What the broker reported for a topic it created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedTopic {
    /// Topic name.
    pub name: String,
    /// Topic id (nil before CreateTopics v7).
    pub topic_id: Uuid,
    /// Partition count actually used (-1 before CreateTopics v5).
    pub num_partitions: i32,
    /// Replication factor actually used (-1 before CreateTopics v5).
    pub replication_factor: i16,
}

/// A Kafka admin client over one connection at a time.
#[derive(Debug)]
pub struct AdminClient {
    /// The bootstrap string as given, for error messages.
    bootstrap: String,
    /// Parsed `host:port` entries, tried in order.
    addrs: Vec<String>,
    config: ClientConfig,
    /// TLS and SASL of every connection this client opens (none: plaintext).
    security: ClientSecurity,
    /// The live connection; replaced when it fails.
    conn: Mutex<Option<Arc<Connection>>>,
}

impl AdminClient {
    /// Connects to the first reachable broker of `bootstrap` (`host:port,host:port`).
    pub async fn connect(bootstrap: &str) -> Result<AdminClient, ClientError> {
        let config = ClientConfig {
            client_id: "tidewater-admin".to_owned(),
            ..ClientConfig::default()
        };
        AdminClient::connect_with(bootstrap, config).await
    }

    /// Like [`AdminClient::connect`], with explicit client id and timeouts.
    pub async fn connect_with(
        bootstrap: &str,
        config: ClientConfig,
    ) -> Result<AdminClient, ClientError> {
        AdminClient::connect_secured(bootstrap, config, ClientSecurity::default()).await
    }

    /// Like [`AdminClient::connect_with`], to SSL / SASL listeners: `security` secures
    /// the bootstrap connection and every connection opened later (Kafka's admin
    /// `security.protocol`, `ssl.*` and `sasl.*` apply to all of its connections too).
    pub async fn connect_secured(
        bootstrap: &str,
        config: ClientConfig,
        security: ClientSecurity,
    ) -> Result<AdminClient, ClientError> {
        let admin = AdminClient {
            bootstrap: bootstrap.to_owned(),
            addrs: parse_bootstrap(bootstrap)?,
            config,
            security,
            conn: Mutex::new(None),
        };
        admin.connection().await?;
        Ok(admin)
    }

    /// The address of the broker currently in use, if connected.
    pub async fn connected_to(&self) -> Option<String> {
        self.conn.lock().await.as_ref().map(|c| c.addr().to_owned())
    }

    /// Cluster metadata for `topics`, or for every topic when `None`. Never auto-creates.
    /// Per-topic errors (e.g. unknown topic) are in `TopicInfo::error_code`.
    pub async fn metadata(
        &self,
        topics: Option<Vec<String>>,
    ) -> Result<ClusterMetadata, ClientError> {
        let conn = self.connection().await?;
        let version = conn.version_for::<MetadataRequest>()?;
        // v0 has no null topic list: an empty list means "all topics" there.
        let topics = match topics {
            None if version == 0 => Some(Vec::new()),
            None => None,
            Some(names) => Some(
                names
                    .into_iter()
                    .map(|n| {
                        MetadataRequestTopic::default()
                            .with_name(Some(TopicName(StrBytes::from_string(n))))
                    })
                    .collect(),
            ),
        };
        let req = MetadataRequest::default()
            .with_topics(topics)
            .with_allow_auto_topic_creation(false);
        let resp = self.call(req).await?;
        ClientError::check(resp.error_code, ApiKey::Metadata, None)?;
        Ok(ClusterMetadata::from_response(resp))
    }

    /// DescribeCluster (KIP-700), including fenced brokers where the broker supports it.
    pub async fn describe_cluster(&self) -> Result<ClusterDescription, ClientError> {
        let req = DescribeClusterRequest::default().with_include_fenced_brokers(true);
        let conn = self.connection().await?;
        // include_fenced_brokers exists from v2; older versions must leave it false.
        let req = if conn.version_for::<DescribeClusterRequest>()? < 2 {
            req.with_include_fenced_brokers(false)
        } else {
            req
        };
        let resp = self.call(req).await?;
        ClientError::check(
            resp.error_code,
            ApiKey::DescribeCluster,
            resp.error_message.as_ref().map(|m| m.to_string()),
        )?;
        Ok(ClusterDescription::from_response(resp))
    }

    /// DescribeQuorum of the KRaft metadata log: the active controller (quorum leader),
    /// its epoch, and each voter's and observer's progress. A broker forwards it to the
    /// controllers; a broker that does not support it answers `UNSUPPORTED_VERSION` (35).
    pub async fn describe_quorum(&self) -> Result<QuorumInfo, ClientError> {
        let resp = self.call(describe_quorum_request()).await?;
        QuorumInfo::from_response(&resp)
    }

    /// Creates one topic. `partitions` / `replication_factor` of -1 ask for the broker's
    /// defaults (KIP-464). The broker validates everything; its error code comes back as
    /// `ClientError::Protocol` (e.g. 36 `TOPIC_ALREADY_EXISTS`, 38
    /// `INVALID_REPLICATION_FACTOR`).
    pub async fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        replication_factor: i16,
        configs: &BTreeMap<String, String>,
    ) -> Result<CreatedTopic, ClientError> {
        let topic = CreatableTopic::default()
            .with_name(TopicName(StrBytes::from_string(name.to_owned())))
            .with_num_partitions(partitions)
            .with_replication_factor(replication_factor)
            .with_configs(
                configs
                    .iter()
                    .map(|(k, v)| {
                        CreatableTopicConfig::default()
                            .with_name(StrBytes::from_string(k.clone()))
                            .with_value(Some(StrBytes::from_string(v.clone())))
                    })
                    .collect(),
            );
        let timeout_ms = i32::try_from(self.config.request_timeout.as_millis()).unwrap_or(i32::MAX);
        let req = CreateTopicsRequest::default()
            .with_topics(vec![topic])
            .with_timeout_ms(timeout_ms);
        let resp = self.call(req).await?;
        let result = resp
            .topics
            .into_iter()
            .find(|t| t.name.0.as_str() == name)
            .ok_or_else(|| ClientError::Decode {
                api: ApiKey::CreateTopics,
                version: -1,
                reason: format!("response has no result for topic '{name}'"),
            })?;
        let message = result
            .error_message
            .map(|m| m.to_string())
            .or_else(|| Some(format!("topic '{name}'")));
        ClientError::check(result.error_code, ApiKey::CreateTopics, message)?;
        Ok(CreatedTopic {
            name: name.to_owned(),
            topic_id: result.topic_id,
            num_partitions: result.num_partitions,
            replication_factor: result.replication_factor,
        })
    }

    /// The broker's current ApiVersions answer (fresh, not the one cached at connect).
    pub async fn api_versions(&self) -> Result<ApiVersionTable, ClientError> {
        self.fresh_api_versions().await.map(|(table, _)| table)
    }

    /// Finalized feature levels (KIP-584) as the broker reports them in ApiVersions
    /// v3+, e.g. `metadata.version` -> 21; what Kafka's `Admin.describeFeatures()` reads.
    /// Empty when the broker reports none (ApiVersions below v3, or features not known
    /// yet).
    pub async fn finalized_features(&self) -> Result<BTreeMap<String, i16>, ClientError> {
        self.fresh_api_versions()
            .await
            .map(|(_, features)| features)
    }

    async fn fresh_api_versions(
        &self,
    ) -> Result<(ApiVersionTable, BTreeMap<String, i16>), ClientError> {
        let conn = self.connection().await?;
        let version = conn.version_for::<ApiVersionsRequest>()?;
        let sent = conn.send_at(&ApiVersionsRequest::default(), version).await;
        let resp = self.forgetting_on_failure(&conn, sent).await?;
        match api_versions_outcome(&resp, version)? {
            ApiVersionsOutcome::Negotiated(table) => {
                Ok((table, finalized_features(&resp, version)))
            }
            // The connection negotiated this version at connect; a broker that now
            // rejects it changed under us (e.g. a downgrade mid-roll).
            ApiVersionsOutcome::RetryAt(_) => Err(ClientError::Protocol {
                code: resp.error_code,
                api: ApiKey::ApiVersions,
                message: Some("broker stopped supporting the negotiated version".to_owned()),
            }),
        }
    }

    /// Another admin client for `bootstrap` (e.g. one broker found in the metadata),
    /// with this one's client id, timeouts and security.
    pub async fn connect_like(&self, bootstrap: &str) -> Result<AdminClient, ClientError> {
        AdminClient::connect_secured(bootstrap, self.config.clone(), self.security.clone()).await
    }

    /// The request timeout as the `timeout_ms` field of admin requests.
    pub(crate) fn request_timeout_ms(&self) -> i32 {
        i32::try_from(self.config.request_timeout.as_millis()).unwrap_or(i32::MAX)
    }

    /// Sends any request on the admin connection, with the same reconnect rule as the
    /// typed calls. Error codes inside the response are left to the caller.
    pub async fn send<Req: Request + Clone>(&self, req: Req) -> Result<Req::Response, ClientError> {
        self.call(req).await
    }

    /// Sends `req` on the current connection; if that connection broke since its last
    /// use, reconnects once and resends.
    async fn call<Req: Request + Clone>(&self, req: Req) -> Result<Req::Response, ClientError> {
        let conn = self.connection().await?;
        match conn.send(req.clone()).await {
            Err(ClientError::Io { .. }) => {
                self.forget(&conn).await;
                let conn = self.connection().await?;
                self.forgetting_on_failure(&conn, conn.send(req).await)
                    .await
            }
            other => self.forgetting_on_failure(&conn, other).await,
        }
    }

    async fn forgetting_on_failure<T>(
        &self,
        conn: &Arc<Connection>,
        result: Result<T, ClientError>,
    ) -> Result<T, ClientError> {
        if matches!(
            result,
            Err(ClientError::Io { .. } | ClientError::Timeout { .. } | ClientError::Decode { .. })
        ) {
            self.forget(conn).await;
        }
        result
    }

    async fn forget(&self, failed: &Arc<Connection>) {
        let mut slot = self.conn.lock().await;
        if slot.as_ref().is_some_and(|c| Arc::ptr_eq(c, failed)) {
            *slot = None;
        }
    }

    /// The live connection, or a new one to the first reachable bootstrap address.
    async fn connection(&self) -> Result<Arc<Connection>, ClientError> {
        let mut slot = self.conn.lock().await;
        if let Some(conn) = slot.as_ref() {
            return Ok(Arc::clone(conn));
        }
        let mut attempts = Vec::new();
        for addr in &self.addrs {
            match Connection::connect_secured(addr, self.config.clone(), &self.security).await {
                Ok(conn) => {
                    let conn = Arc::new(conn);
                    *slot = Some(Arc::clone(&conn));
                    return Ok(conn);
                }
                Err(err) => {
                    tracing::debug!(broker = %addr, error = %err, "bootstrap address failed");
                    attempts.push(err.to_string());
                }
            }
        }
        Err(ClientError::NoBrokerAvailable {
            bootstrap: self.bootstrap.clone(),
            attempts,
        })
    }
}
