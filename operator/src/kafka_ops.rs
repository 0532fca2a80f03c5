//! kafka_ops: the Kafka requests a roll needs beyond the snapshot in [`crate::admin`],
//! through `tidewater-client`: each topic's `min.insync.replicas` (DescribeConfigs),
//! preferred-leader election (ElectLeaders), the `metadata.version` finalize
//! (UpdateFeatures) and the cluster-wide default broker configs (DescribeConfigs /
//! IncrementalAlterConfigs of broker `""`). IO only: [`crate::roll`] and
//! [`crate::plan`] decide when to call them.

use std::collections::BTreeMap;

use tidewater_client::kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use tidewater_client::kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use tidewater_client::kafka_protocol::messages::update_features_request::FeatureUpdateKey;
use tidewater_client::kafka_protocol::messages::{
    DescribeConfigsRequest, ElectLeadersRequest, IncrementalAlterConfigsRequest,
    UpdateFeaturesRequest,
};
use tidewater_client::kafka_protocol::protocol::StrBytes;
use tidewater_client::{AdminClient, ClientError, ClusterMetadata, METADATA_VERSION_FEATURE};

use crate::observed::{AdminError, PartitionView};

/// `ConfigResource.Type.TOPIC`.
const TOPIC_RESOURCE: i8 = 2;
/// `ConfigResource.Type.BROKER`; with an empty name, the cluster-wide default.
const BROKER_RESOURCE: i8 = 4;
/// `ConfigEntry.ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG`.
const DYNAMIC_DEFAULT_BROKER_CONFIG: i8 = 3;
/// IncrementalAlterConfigs' `SET` and `DELETE` operations.
const OP_SET: i8 = 0;
const OP_DELETE: i8 = 1;
/// ElectLeaders' `PREFERRED` election type.
const PREFERRED: i8 = 0;
/// Kafka's `FeatureUpdate.UpgradeType.UPGRADE`.
const UPGRADE: i8 = 1;
/// How long the controller may take (milliseconds) for elections and finalizes.
const TIMEOUT_MS: i32 = 10_000;

/// `request` failed on the way (not answered, or not decoded).
pub(crate) fn sent(request: &'static str) -> impl FnOnce(ClientError) -> AdminError {
    move |e| AdminError::Request {
        request,
        message: e.to_string(),
    }
}

/// `Err` when a broker answered `request` with a Kafka error code (0 is none).
pub(crate) fn answered(request: &str, code: i16, message: Option<&str>) -> Result<(), AdminError> {
    if code == 0 {
        return Ok(());
    }
    Err(AdminError::Kafka {
        request: request.to_owned(),
        code,
        message: message.map(str::to_owned),
    })
}

/// Every partition with its topic's `min.insync.replicas` (DescribeConfigs of all
/// topics in one request; a topic whose config cannot be read counts as 1).
pub async fn partitions(
    client: &AdminClient,
    metadata: &ClusterMetadata,
) -> Result<Vec<PartitionView>, AdminError> {
    let resources: Vec<DescribeConfigsResource> = metadata
        .topics
        .iter()
        .map(|t| {
            DescribeConfigsResource::default()
                .with_resource_type(TOPIC_RESOURCE)
                .with_resource_name(StrBytes::from_string(t.name.clone()))
                .with_configuration_keys(Some(vec![StrBytes::from_static_str(
                    "min.insync.replicas",
                )]))
        })
        .collect();
    let mut min_isr = BTreeMap::new();
    if !resources.is_empty() {
        let resp = client
            .send(DescribeConfigsRequest::default().with_resources(resources))
            .await
            .map_err(sent("reading min.insync.replicas"))?;
        for r in resp.results {
            let value = r
                .configs
                .iter()
                .find(|c| c.name.as_str() == "min.insync.replicas")
                .and_then(|c| c.value.as_ref())
                .and_then(|v| v.as_str().parse::<i32>().ok());
            if let (0, Some(v)) = (r.error_code, value) {
                min_isr.insert(r.resource_name.as_str().to_owned(), v);
            }
        }
    }
    Ok(metadata
        .topics
        .iter()
        .flat_map(|t| {
            let min_insync = min_isr.get(&t.name).copied().unwrap_or(1);
            t.partitions.iter().map(move |p| PartitionView {
                topic: t.name.clone(),
                partition: p.partition,
                leader: p.leader,
                replicas: p.replicas.clone(),
                isr: p.isr.clone(),
                min_insync,
            })
        })
        .collect())
}

/// Preferred-leader election of every partition (null `topic_partitions`). Partitions
/// already on their preferred leader answer ELECTION_NOT_NEEDED: not an error.
pub async fn elect_preferred_leaders(client: &AdminClient) -> Result<(), AdminError> {
    let resp = client
        .send(
            ElectLeadersRequest::default()
                .with_election_type(PREFERRED)
                .with_topic_partitions(None)
                .with_timeout_ms(TIMEOUT_MS),
        )
        .await
        .map_err(sent("ElectLeaders"))?;
    answered("ElectLeaders", resp.error_code, None)
}

/// Finalizes `metadata.version` at `level` (UpdateFeatures, upgrade).
pub async fn finalize_metadata_version(client: &AdminClient, level: i16) -> Result<(), AdminError> {
    let resp = client
        .send(
            UpdateFeaturesRequest::default()
                .with_timeout_ms(TIMEOUT_MS)
                .with_feature_updates(vec![
                    FeatureUpdateKey::default()
                        .with_feature(StrBytes::from_static_str(METADATA_VERSION_FEATURE))
                        .with_max_version_level(level)
                        .with_upgrade_type(UPGRADE),
                ]),
        )
        .await
        .map_err(sent("UpdateFeatures"))?;
    answered(
        &format!("UpdateFeatures metadata.version={level}"),
        resp.error_code,
        resp.error_message.as_deref(),
    )
}

/// The cluster-wide default broker configs (DescribeConfigs of broker `""`).
pub async fn cluster_default_configs(
    client: &AdminClient,
) -> Result<BTreeMap<String, String>, AdminError> {
    let resp = client
        .send(DescribeConfigsRequest::default().with_resources(vec![
                DescribeConfigsResource::default()
                    .with_resource_type(BROKER_RESOURCE)
                    .with_resource_name(StrBytes::from_static_str(""))
                    .with_configuration_keys(None),
            ]))
        .await
        .map_err(sent("DescribeConfigs of the cluster default"))?;
    let mut out = BTreeMap::new();
    for r in resp.results {
        answered("DescribeConfigs of the cluster default", r.error_code, None)?;
        for c in r.configs {
            if c.config_source == DYNAMIC_DEFAULT_BROKER_CONFIG
                && let Some(v) = c.value
            {
                out.insert(c.name.to_string(), v.to_string());
            }
        }
    }
    Ok(out)
}

/// IncrementalAlterConfigs of the cluster-wide default broker resource: `Some` sets a
/// key, `None` deletes it.
pub async fn alter_cluster_configs(
    client: &AdminClient,
    changes: &[(String, Option<String>)],
) -> Result<(), AdminError> {
    let configs = changes
        .iter()
        .map(|(k, v)| {
            AlterableConfig::default()
                .with_name(StrBytes::from_string(k.clone()))
                .with_config_operation(if v.is_some() { OP_SET } else { OP_DELETE })
                .with_value(v.clone().map(StrBytes::from_string))
        })
        .collect();
    let resp = client
        .send(
            IncrementalAlterConfigsRequest::default().with_resources(vec![
                AlterConfigsResource::default()
                    .with_resource_type(BROKER_RESOURCE)
                    .with_resource_name(StrBytes::from_static_str(""))
                    .with_configs(configs),
            ]),
        )
        .await
        .map_err(sent("IncrementalAlterConfigs"))?;
    for r in resp.responses {
        answered(
            "IncrementalAlterConfigs of the cluster default",
            r.error_code,
            r.error_message.as_deref(),
        )?;
    }
    Ok(())
}
