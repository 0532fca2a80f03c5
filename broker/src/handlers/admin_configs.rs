//! AlterConfigs (replace all) and IncrementalAlterConfigs (SET / DELETE /
//! APPEND / SUBTRACT) for topic overrides, dynamic broker configs (per broker
//! or the cluster-wide default) and group configs. Changes are validated in
//! full, persisted in the metadata store (or through the controller), then
//! applied to the live logs; `validate_only` stops after validation.

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::{
    AlterConfigsRequest, AlterConfigsResponse, IncrementalAlterConfigsRequest,
    IncrementalAlterConfigsResponse,
};
use kafka_protocol::protocol::StrBytes;
use tracing::info;

use super::describe_configs::{RESOURCE_BROKER, RESOURCE_GROUP, RESOURCE_TOPIC};
use super::msg;
use crate::broker_server::Broker;
use crate::config::{
    check_dynamic_broker_value, refuse_dynamic_broker_keys, validate_group_configs,
};
use crate::kafka_error::KafkaError;
use crate::metadata::DynamicResource;
use crate::metadata::image_store::image_resource;

/// A refused resource: its Kafka error code and message.
type Failure = KafkaError;

const OP_SET: i8 = 0;
const OP_DELETE: i8 = 1;
const OP_APPEND: i8 = 2;
const OP_SUBTRACT: i8 = 3;

/// The resource a request names.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    Topic(String),
    Dynamic(DynamicResource),
}

/// Resolves a (type, name) pair as Kafka's `ConfigAdminManager` does.
fn target(broker: &Broker, resource_type: i8, name: &str) -> Result<Target, Failure> {
    let invalid_request = |m: String| Failure::new(E::InvalidRequest, m);
    match resource_type {
        RESOURCE_TOPIC => Ok(Target::Topic(name.to_string())),
        RESOURCE_BROKER if name.is_empty() => Ok(Target::Dynamic(DynamicResource::BrokerDefault)),
        RESOURCE_BROKER => {
            let id: i32 = name.parse().map_err(|_| {
                invalid_request(format!("Node id must be an integer, but it is: {name}"))
            })?;
            if id != broker.config().node_id {
                return Err(invalid_request(format!(
                    "Unexpected broker id, expected {}, but received {name}",
                    broker.config().node_id
                )));
            }
            Ok(Target::Dynamic(DynamicResource::Broker(id)))
        }
        RESOURCE_GROUP if name.is_empty() => {
            Err(invalid_request("Group name must not be empty.".into()))
        }
        RESOURCE_GROUP => Ok(Target::Dynamic(DynamicResource::Group(name.to_string()))),
        other => Err(invalid_request(format!("Unknown resource type {other}"))),
    }
}

/// The configs stored on the resource itself (no inherited values).
fn current(broker: &Broker, t: &Target) -> Result<BTreeMap<String, String>, Failure> {
    match t {
        Target::Topic(name) => broker
            .metadata()
            .topic(name)
            .map(|t| t.configs)
            .ok_or_else(|| {
                Failure::new(
                    E::UnknownTopicOrPartition,
                    format!("Topic '{name}' does not exist."),
                )
            }),
        Target::Dynamic(r) => Ok(broker.metadata().dynamic_configs(r)),
    }
}

/// LIST-typed keys (APPEND/SUBTRACT apply) on each kind of resource.
fn is_list_key(t: &Target, key: &str) -> bool {
    match t {
        Target::Topic(_) => matches!(
            key,
            "cleanup.policy"
                | "leader.replication.throttled.replicas"
                | "follower.replication.throttled.replicas"
        ),
        Target::Dynamic(DynamicResource::Group(_)) => false,
        Target::Dynamic(_) => {
            let base = key
                .strip_prefix("listener.name.")
                .and_then(|r| r.split_once('.'))
                .map_or(key, |(_, b)| b);
            matches!(
                base,
                "log.cleanup.policy"
                    | "listeners"
                    | "advertised.listeners"
                    | "sasl.enabled.mechanisms"
                    | "ssl.cipher.suites"
                    | "ssl.enabled.protocols"
                    | "metric.reporters"
            )
        }
    }
}

/// The value a list key has on `t` when the resource does not set it: the
/// effective (inherited) value, so APPEND `compact` to a topic that inherits
/// `delete` gives `delete,compact`, never `compact` alone.
fn inherited(broker: &Broker, t: &Target, key: &str) -> String {
    let defaults = broker.admin().log_defaults();
    match (t, key) {
        (Target::Topic(_), _) => defaults
            .topic_entries()
            .into_iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v)
            .unwrap_or_default(),
        (Target::Dynamic(DynamicResource::Broker(_)), _) => broker
            .metadata()
            .dynamic_configs(&DynamicResource::BrokerDefault)
            .get(key)
            .cloned()
            .unwrap_or_else(|| static_or_log_default(broker, key)),
        (Target::Dynamic(_), _) => static_or_log_default(broker, key),
    }
}

fn static_or_log_default(broker: &Broker, key: &str) -> String {
    if let Some(v) = broker.config().static_props.get(key) {
        return v.clone();
    }
    if key == "log.cleanup.policy" {
        return tidewater_storage::LogConfig::default()
            .cleanup_policy
            .as_str()
            .to_string();
    }
    String::new()
}

/// Validates `configs` as the new full config of the resource and, unless
/// `validate_only`, persists and applies it.
async fn replace(
    broker: &Broker,
    t: &Target,
    configs: BTreeMap<String, String>,
    validate_only: bool,
) -> Result<(), Failure> {
    let invalid = |m: String| Failure::new(E::InvalidConfig, m);
    match t {
        Target::Topic(_) => {
            broker
                .admin()
                .log_defaults()
                .with_topic_overrides(&configs)
                .map_err(|e| invalid(e.to_string()))?;
        }
        Target::Dynamic(DynamicResource::Group(_)) => {
            validate_group_configs(&broker.config().static_props, &configs)
                .map_err(|e| invalid(e.to_string()))?;
        }
        Target::Dynamic(resource) => {
            let per_broker = matches!(resource, DynamicResource::Broker(_));
            // Kafka answers every broker-config validation failure with
            // INVALID_REQUEST (ConfigAdminManager, KAFKA-13609).
            refuse_dynamic_broker_keys(configs.keys().map(String::as_str), per_broker)
                .map_err(|e| Failure::new(E::InvalidRequest, e.to_string()))?;
            for (k, v) in &configs {
                check_dynamic_broker_value(k, v)
                    .map_err(|e| Failure::new(E::InvalidRequest, e.to_string()))?;
            }
            let mut effective = if per_broker {
                broker
                    .metadata()
                    .dynamic_configs(&DynamicResource::BrokerDefault)
            } else {
                BTreeMap::new()
            };
            effective.extend(configs.iter().map(|(k, v)| (k.clone(), v.clone())));
            broker
                .config()
                .log_defaults(&effective)
                .map_err(|e| Failure::new(E::InvalidRequest, e.to_string()))?;
        }
    }
    if validate_only {
        return Ok(());
    }
    replace_through_controller(broker, t, configs).await
}

/// The difference between the current and the new full config, as
/// incremental operations decided by the controller.
async fn replace_through_controller(
    broker: &Broker,
    t: &Target,
    configs: BTreeMap<String, String>,
) -> Result<(), Failure> {
    let cluster = broker.cluster();
    let old = current(broker, t)?;
    let mut ops: Vec<(String, Option<String>)> = configs
        .iter()
        .filter(|(k, v)| old.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), Some(v.clone())))
        .collect();
    ops.extend(
        old.keys()
            .filter(|k| !configs.contains_key(*k))
            .map(|k| (k.clone(), None)),
    );
    if ops.is_empty() {
        return Ok(());
    }
    let (rtype, name) = match t {
        Target::Topic(name) => (
            tidewater_quorum::records::ConfigResourceType::Topic,
            name.clone(),
        ),
        Target::Dynamic(r) => image_resource(r),
    };
    cluster.alter_configs(rtype, &name, ops, false).await?;
    info!(resource = %name, ?configs, "configs changed through the controller");
    Ok(())
}

/// One resource of either request: resolve it, build the whole config map it asks
/// for with `configs` (AlterConfigs replaces, IncrementalAlterConfigs applies its
/// operations to the current map), then validate and store it through [`replace`].
async fn alter_resource(
    broker: &Broker,
    ctx: &super::RequestContext,
    resource_type: i8,
    name: &str,
    validate_only: bool,
    configs: impl FnOnce(&Target) -> Result<BTreeMap<String, String>, Failure>,
) -> Result<(), Failure> {
    // Kafka's AlterConfigs on the resource, before anything about it is looked up.
    super::authz::config_resource(
        broker,
        ctx,
        tidewater_quorum::acl::AclOperation::AlterConfigs,
        resource_type,
        name,
    )?;
    let t = target(broker, resource_type, name)?;
    let configs = configs(&t)?;
    replace(broker, &t, configs, validate_only).await
}

pub async fn alter(
    broker: &Broker,
    ctx: &super::RequestContext,
    req: AlterConfigsRequest,
    _version: i16,
) -> AlterConfigsResponse {
    use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
    let _guard = broker.admin().lock().await;
    let mut resp = AlterConfigsResponse::default();
    for r in req.resources {
        let outcome = alter_resource(
            broker,
            ctx,
            r.resource_type,
            r.resource_name.as_str(),
            req.validate_only,
            |t| {
                current(broker, t)?;
                let mut configs = BTreeMap::new();
                for c in &r.configs {
                    let value = c.value.as_ref().ok_or_else(|| {
                        Failure::new(
                            E::InvalidConfig,
                            format!("Null value not supported for {}", c.name.as_str()),
                        )
                    })?;
                    configs.insert(c.name.to_string(), value.to_string());
                }
                Ok(configs)
            },
        )
        .await;
        let mut out = AlterConfigsResourceResponse::default();
        out.resource_type = r.resource_type;
        out.resource_name = r.resource_name;
        if let Err(e) = outcome {
            out.error_code = e.code();
            out.error_message = msg(e.message);
        }
        resp.responses.push(out);
    }
    resp
}

/// Applies one incremental operation to `configs`; APPEND and SUBTRACT start
/// from the resource's value, or the inherited one when it sets none.
fn apply_op(
    broker: &Broker,
    t: &Target,
    configs: &mut BTreeMap<String, String>,
    key: &str,
    op: i8,
    value: Option<&StrBytes>,
) -> Result<(), Failure> {
    let invalid = |m: String| Failure::new(E::InvalidConfig, m);
    let value = value.map(|v| v.to_string());
    match op {
        OP_SET => {
            let v = value.ok_or_else(|| {
                Failure::new(
                    E::InvalidRequest,
                    format!("Null value not supported for : {key}"),
                )
            })?;
            configs.insert(key.to_string(), v);
        }
        OP_DELETE => {
            configs.remove(key);
        }
        OP_APPEND | OP_SUBTRACT => {
            let name = if op == OP_APPEND {
                "APPEND"
            } else {
                "SUBTRACT"
            };
            if !is_list_key(t, key) {
                return Err(invalid(format!(
                    "Can't {name} to key {key} because its type is not LIST."
                )));
            }
            let v = value.ok_or_else(|| {
                Failure::new(
                    E::InvalidRequest,
                    format!("Null value not supported for : {key}"),
                )
            })?;
            let old = configs
                .get(key)
                .cloned()
                .unwrap_or_else(|| inherited(broker, t, key));
            let mut items: Vec<String> = old
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect();
            for item in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                if op == OP_APPEND {
                    if !items.iter().any(|i| i == item) {
                        items.push(item.to_string());
                    }
                } else {
                    items.retain(|i| i != item);
                }
            }
            configs.insert(key.to_string(), items.join(","));
        }
        other => {
            return Err(Failure::new(
                E::InvalidRequest,
                format!("Unknown operations type {other}"),
            ));
        }
    }
    Ok(())
}

pub async fn incremental_alter(
    broker: &Broker,
    ctx: &super::RequestContext,
    req: IncrementalAlterConfigsRequest,
    _version: i16,
) -> IncrementalAlterConfigsResponse {
    use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
    let _guard = broker.admin().lock().await;
    let mut resp = IncrementalAlterConfigsResponse::default();
    for r in req.resources {
        let outcome = alter_resource(
            broker,
            ctx,
            r.resource_type,
            r.resource_name.as_str(),
            req.validate_only,
            |t| {
                let mut configs = current(broker, t)?;
                let mut seen = std::collections::HashSet::new();
                for c in &r.configs {
                    if !seen.insert(c.name.as_str()) {
                        return Err(Failure::new(
                            E::InvalidRequest,
                            format!("Error due to duplicate config keys: {}", c.name.as_str()),
                        ));
                    }
                    apply_op(
                        broker,
                        t,
                        &mut configs,
                        c.name.as_str(),
                        c.config_operation,
                        c.value.as_ref(),
                    )?;
                }
                Ok(configs)
            },
        )
        .await;
        let mut out = AlterConfigsResourceResponse::default();
        out.resource_type = r.resource_type;
        out.resource_name = r.resource_name;
        if let Err(e) = outcome {
            out.error_code = e.code();
            out.error_message = msg(e.message);
        }
        resp.responses.push(out);
    }
    resp
}

#[cfg(test)]
mod tests;
