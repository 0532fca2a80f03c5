//! AlterConfigs (replace all) and IncrementalAlterConfigs (SET / DELETE /
//! APPEND / SUBTRACT) for topic overrides and dynamic broker configs. Changes
//! are validated in full, persisted in the metadata store, then applied to the
//! live logs; `validate_only` stops after validation.

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::{
    AlterConfigsRequest, AlterConfigsResponse, IncrementalAlterConfigsRequest,
    IncrementalAlterConfigsResponse,
};
use kafka_protocol::protocol::StrBytes;
use tidewater_quorum::records::ConfigResourceType;
use tidewater_storage::TopicPartition;
use tracing::info;

use super::describe_configs::{RESOURCE_BROKER, RESOURCE_TOPIC};
use super::msg;
use crate::config::is_dynamic_broker_key;
use crate::state::Broker;

type Failure = (i16, String);

const OP_SET: i8 = 0;
const OP_DELETE: i8 = 1;
const OP_APPEND: i8 = 2;
const OP_SUBTRACT: i8 = 3;

/// Keys whose values are comma-separated lists (APPEND/SUBTRACT apply).
fn is_list_key(key: &str) -> bool {
    matches!(key, "cleanup.policy" | "log.cleanup.policy")
}

/// The current config map of a resource.
fn current(
    broker: &Broker,
    resource_type: i8,
    name: &str,
) -> Result<BTreeMap<String, String>, Failure> {
    match resource_type {
        RESOURCE_TOPIC => broker
            .metadata
            .topic(name)
            .map(|t| t.configs)
            .ok_or_else(|| {
                (
                    E::UnknownTopicOrPartition.code(),
                    format!("Topic '{name}' does not exist."),
                )
            }),
        RESOURCE_BROKER => {
            if !name.is_empty() && name != broker.config.node_id.to_string() {
                return Err((
                    E::InvalidRequest.code(),
                    format!("Unexpected broker id {name}"),
                ));
            }
            Ok(broker.metadata.broker_configs())
        }
        other => Err((
            E::InvalidRequest.code(),
            format!("Resource type {other} is not supported by this broker"),
        )),
    }
}

/// Validates `configs` as the new full config of the resource and, unless
/// `validate_only`, persists and applies it.
async fn replace(
    broker: &Broker,
    resource_type: i8,
    name: &str,
    configs: BTreeMap<String, String>,
    validate_only: bool,
) -> Result<(), Failure> {
    let invalid = |m: String| (E::InvalidConfig.code(), m);
    match resource_type {
        RESOURCE_TOPIC => {
            let config = broker
                .log_defaults()
                .with_topic_overrides(&configs)
                .map_err(|e| invalid(e.to_string()))?;
            if validate_only {
                return Ok(());
            }
            if broker.cluster.is_some() {
                return replace_through_controller(broker, resource_type, name, configs).await;
            }
            let topic = broker.metadata.topic(name).ok_or_else(|| {
                (
                    E::UnknownTopicOrPartition.code(),
                    format!("Topic '{name}' does not exist."),
                )
            })?;
            broker
                .metadata
                .set_topic_configs(name, configs.clone())
                .map_err(|e| (e.error_code(), e.to_string()))?;
            for &p in topic.partitions.keys() {
                if let Some(log) = broker.logs.get_log(&TopicPartition::new(name, p)) {
                    log.update_config(config.clone());
                }
            }
            info!(topic = %name, ?configs, "topic configs changed");
            Ok(())
        }
        _ => {
            if let Some(k) = configs.keys().find(|k| !is_dynamic_broker_key(k)) {
                return Err(invalid(format!(
                    "Cannot update these configs dynamically: {k}"
                )));
            }
            broker
                .config
                .log_defaults(&configs)
                .map_err(|e| invalid(e.to_string()))?;
            if validate_only {
                return Ok(());
            }
            if broker.cluster.is_some() {
                return replace_through_controller(broker, resource_type, name, configs).await;
            }
            broker
                .metadata
                .set_broker_configs(configs.clone())
                .map_err(|e| (e.error_code(), e.to_string()))?;
            broker
                .apply_dynamic_broker_configs(configs.clone())
                .map_err(|e| invalid(e.to_string()))?;
            info!(?configs, "dynamic broker configs changed");
            Ok(())
        }
    }
}

/// KRaft: the difference between the current and the new full config, as
/// incremental operations decided by the controller.
async fn replace_through_controller(
    broker: &Broker,
    resource_type: i8,
    name: &str,
    configs: BTreeMap<String, String>,
) -> Result<(), Failure> {
    let Some(cluster) = &broker.cluster else {
        return Ok(());
    };
    let old = current(broker, resource_type, name)?;
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
    let rtype = if resource_type == RESOURCE_TOPIC {
        ConfigResourceType::Topic
    } else {
        ConfigResourceType::Broker
    };
    cluster.alter_configs(rtype, name, ops, false).await?;
    info!(resource = %name, ?configs, "configs changed through the controller");
    Ok(())
}

pub async fn alter(
    broker: &Broker,
    req: AlterConfigsRequest,
    _version: i16,
) -> AlterConfigsResponse {
    use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
    let _guard = broker.admin_lock.lock().await;
    let mut resp = AlterConfigsResponse::default();
    for r in req.resources {
        let name = r.resource_name.to_string();
        let outcome = current(broker, r.resource_type, &name).and_then(|_| {
            let mut configs = BTreeMap::new();
            for c in &r.configs {
                let value = c.value.as_ref().ok_or_else(|| {
                    (
                        E::InvalidConfig.code(),
                        format!("Null value not supported for {}", c.name.as_str()),
                    )
                })?;
                configs.insert(c.name.to_string(), value.to_string());
            }
            Ok(configs)
        });
        let outcome = match outcome {
            Ok(configs) => {
                replace(broker, r.resource_type, &name, configs, req.validate_only).await
            }
            Err(e) => Err(e),
        };
        let mut out = AlterConfigsResourceResponse::default();
        out.resource_type = r.resource_type;
        out.resource_name = r.resource_name;
        if let Err((code, m)) = outcome {
            out.error_code = code;
            out.error_message = msg(m);
        }
        resp.responses.push(out);
    }
    resp
}

/// Applies one incremental operation to `configs`.
fn apply_op(
    configs: &mut BTreeMap<String, String>,
    key: &str,
    op: i8,
    value: Option<&StrBytes>,
) -> Result<(), Failure> {
    let invalid = |m: String| (E::InvalidConfig.code(), m);
    let value = value.map(|v| v.to_string());
    match op {
        OP_SET => {
            let v = value.ok_or_else(|| invalid(format!("Null value not supported for {key}")))?;
            configs.insert(key.to_string(), v);
        }
        OP_DELETE => {
            configs.remove(key);
        }
        OP_APPEND | OP_SUBTRACT => {
            if !is_list_key(key) {
                return Err(invalid(format!(
                    "Config value append/subtract is not allowed for config key: {key}"
                )));
            }
            let v = value.ok_or_else(|| invalid(format!("Null value not supported for {key}")))?;
            let mut items: Vec<String> = configs
                .get(key)
                .map(|c| {
                    c.split(',')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default();
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
            return Err((
                E::InvalidRequest.code(),
                format!("Unknown config operation {other}"),
            ));
        }
    }
    Ok(())
}

pub async fn incremental_alter(
    broker: &Broker,
    req: IncrementalAlterConfigsRequest,
    _version: i16,
) -> IncrementalAlterConfigsResponse {
    use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
    let _guard = broker.admin_lock.lock().await;
    let mut resp = IncrementalAlterConfigsResponse::default();
    for r in req.resources {
        let name = r.resource_name.to_string();
        let outcome = current(broker, r.resource_type, &name).and_then(|mut configs| {
            let mut seen = std::collections::HashSet::new();
            for c in &r.configs {
                if !seen.insert(c.name.as_str()) {
                    return Err((
                        E::InvalidRequest.code(),
                        format!("Error due to duplicate config keys: {}", c.name.as_str()),
                    ));
                }
                apply_op(
                    &mut configs,
                    c.name.as_str(),
                    c.config_operation,
                    c.value.as_ref(),
                )?;
            }
            Ok(configs)
        });
        let outcome = match outcome {
            Ok(configs) => {
                replace(broker, r.resource_type, &name, configs, req.validate_only).await
            }
            Err(e) => Err(e),
        };
        let mut out = AlterConfigsResourceResponse::default();
        out.resource_type = r.resource_type;
        out.resource_name = r.resource_name;
        if let Err((code, m)) = outcome {
            out.error_code = code;
            out.error_message = msg(m);
        }
        resp.responses.push(out);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::describe_configs::{self, source};
    use crate::handlers::test_support::broker;
    use kafka_protocol::messages::incremental_alter_configs_request::{
        AlterConfigsResource, AlterableConfig,
    };

    fn inc(
        resource_type: i8,
        name: &str,
        ops: &[(&str, i8, Option<&str>)],
        validate_only: bool,
    ) -> IncrementalAlterConfigsRequest {
        let mut res = AlterConfigsResource::default();
        res.resource_type = resource_type;
        res.resource_name = StrBytes::from_string(name.into());
        res.configs = ops
            .iter()
            .map(|(k, op, v)| {
                let mut c = AlterableConfig::default();
                c.name = StrBytes::from_string(k.to_string());
                c.config_operation = *op;
                c.value = v.map(|v| StrBytes::from_string(v.to_string()));
                c
            })
            .collect();
        let mut r = IncrementalAlterConfigsRequest::default();
        r.resources = vec![res];
        r.validate_only = validate_only;
        r
    }

    #[tokio::test]
    async fn topic_configs_set_append_delete_and_persist() {
        let tb = broker(&[]);
        let b = &tb.broker;
        b.auto_create_topic("t").unwrap();
        let code = |r: IncrementalAlterConfigsResponse| r.responses[0].error_code;
        assert_eq!(
            code(
                incremental_alter(
                    b,
                    inc(
                        RESOURCE_TOPIC,
                        "t",
                        &[("retention.ms", OP_SET, Some("1234"))],
                        true
                    ),
                    1
                )
                .await
            ),
            0
        );
        assert!(
            b.metadata.topic("t").unwrap().configs.is_empty(),
            "validate_only changes nothing"
        );
        assert_eq!(
            code(
                incremental_alter(
                    b,
                    inc(
                        RESOURCE_TOPIC,
                        "t",
                        &[("retention.ms", OP_SET, Some("1234"))],
                        false
                    ),
                    1
                )
                .await
            ),
            0
        );
        assert_eq!(b.log("t", 0).unwrap().config().retention_ms, 1234);
        assert_eq!(
            code(
                incremental_alter(
                    b,
                    inc(
                        RESOURCE_TOPIC,
                        "t",
                        &[("cleanup.policy", OP_APPEND, Some("compact"))],
                        false
                    ),
                    1
                )
                .await
            ),
            0
        );
        assert_eq!(
            b.metadata.topic("t").unwrap().configs["cleanup.policy"],
            "compact"
        );
        assert_eq!(
            code(
                incremental_alter(
                    b,
                    inc(
                        RESOURCE_TOPIC,
                        "t",
                        &[("retention.ms", OP_APPEND, Some("1"))],
                        false
                    ),
                    1
                )
                .await
            ),
            E::InvalidConfig.code()
        );
        assert_eq!(
            code(
                incremental_alter(
                    b,
                    inc(
                        RESOURCE_TOPIC,
                        "t",
                        &[("retention.ms", OP_SET, Some("x"))],
                        false
                    ),
                    1
                )
                .await
            ),
            E::InvalidConfig.code()
        );
        assert_eq!(
            code(incremental_alter(b, inc(RESOURCE_TOPIC, "nope", &[], false), 1).await),
            E::UnknownTopicOrPartition.code()
        );
        assert_eq!(
            code(
                incremental_alter(
                    b,
                    inc(
                        RESOURCE_TOPIC,
                        "t",
                        &[("retention.ms", OP_DELETE, None)],
                        false
                    ),
                    1
                )
                .await
            ),
            0
        );
        assert!(
            !b.metadata
                .topic("t")
                .unwrap()
                .configs
                .contains_key("retention.ms")
        );
    }

    #[tokio::test]
    async fn dynamic_broker_defaults_reach_topics_without_overrides() {
        let tb = broker(&[]);
        let b = &tb.broker;
        b.auto_create_topic("t").unwrap();
        let r = incremental_alter(
            b,
            inc(
                RESOURCE_BROKER,
                "",
                &[("log.retention.ms", OP_SET, Some("777"))],
                false,
            ),
            1,
        )
        .await;
        assert_eq!(r.responses[0].error_code, 0);
        assert_eq!(b.log("t", 0).unwrap().config().retention_ms, 777);
        let d = describe_configs::handle(b, describe_configs::tests::req(RESOURCE_TOPIC, "t"), 4);
        assert_eq!(
            describe_configs::tests::value_of(&d, "retention.ms"),
            Some(("777".into(), source::DYNAMIC_DEFAULT_BROKER_CONFIG))
        );
        let r = incremental_alter(
            b,
            inc(
                RESOURCE_BROKER,
                "",
                &[("node.id", OP_SET, Some("3"))],
                false,
            ),
            1,
        )
        .await;
        assert_eq!(r.responses[0].error_code, E::InvalidConfig.code());
    }
}
