//! Handler tests for `admin_configs`: in-process brokers, requests built by hand.

use super::*;
use crate::handlers::describe_configs::{self, source};
use crate::handlers::test_support::{broker, eventually};
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;

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

/// IncrementalAlterConfigs (v1) of one resource: its response entry.
async fn alter(
    b: &Broker,
    resource_type: i8,
    name: &str,
    ops: &[(&str, i8, Option<&str>)],
    validate_only: bool,
) -> AlterConfigsResourceResponse {
    let mut r = incremental_alter(
        b,
        &Default::default(),
        inc(resource_type, name, ops, validate_only),
        1,
    )
    .await;
    r.responses.remove(0)
}

/// The error code of setting, appending or deleting one config of topic `name`.
async fn alter_topic(
    b: &Broker,
    name: &str,
    op: (&str, i8, Option<&str>),
    validate_only: bool,
) -> i16 {
    alter(b, RESOURCE_TOPIC, name, &[op], validate_only)
        .await
        .error_code
}

/// Setting or deleting one config of broker resource `name` ("" is the cluster default).
async fn alter_broker(
    b: &Broker,
    name: &str,
    op: (&str, i8, Option<&str>),
) -> AlterConfigsResourceResponse {
    alter(b, RESOURCE_BROKER, name, &[op], false).await
}

#[tokio::test]
async fn topic_configs_set_append_delete_and_persist() {
    let tb = broker(&[]);
    let b = &tb.broker;
    b.auto_create_topic("t").unwrap();
    let set_1234 = ("retention.ms", OP_SET, Some("1234"));
    assert_eq!(alter_topic(b, "t", set_1234, true).await, 0);
    assert!(
        b.metadata().topic("t").unwrap().configs.is_empty(),
        "validate_only changes nothing"
    );
    assert_eq!(alter_topic(b, "t", set_1234, false).await, 0);
    // The controller committed the change; this node applies it from the metadata log.
    eventually("retention.ms 1234 applied to the log", || {
        b.log("t", 0)
            .is_some_and(|l| l.config().retention_ms == 1234)
    })
    .await;
    let append_compact = ("cleanup.policy", OP_APPEND, Some("compact"));
    assert_eq!(alter_topic(b, "t", append_compact, false).await, 0);
    // APPEND starts from the inherited `delete`, as the regression shows.
    assert_eq!(
        b.metadata().topic("t").unwrap().configs["cleanup.policy"],
        "delete,compact"
    );
    for refused in [
        ("retention.ms", OP_APPEND, Some("1")),
        ("retention.ms", OP_SET, Some("x")),
    ] {
        assert_eq!(
            alter_topic(b, "t", refused, false).await,
            E::InvalidConfig.code(),
            "{refused:?}"
        );
    }
    assert_eq!(
        alter(b, RESOURCE_TOPIC, "nope", &[], false)
            .await
            .error_code,
        E::UnknownTopicOrPartition.code()
    );
    let delete = ("retention.ms", OP_DELETE, None);
    assert_eq!(alter_topic(b, "t", delete, false).await, 0);
    assert!(
        !b.metadata()
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
    let r = alter_broker(b, "", ("log.retention.ms", OP_SET, Some("777"))).await;
    assert_eq!(r.error_code, 0);
    // The controller committed the change; this node applies it from the metadata log.
    eventually("retention.ms 777 applied to the log", || {
        b.log("t", 0)
            .is_some_and(|l| l.config().retention_ms == 777)
    })
    .await;
    let d = describe_configs::handle(
        b,
        &Default::default(),
        describe_configs::tests::req(RESOURCE_TOPIC, "t"),
        4,
    );
    assert_eq!(
        describe_configs::tests::value_of(&d, "retention.ms"),
        Some(("777".into(), source::DYNAMIC_DEFAULT_BROKER_CONFIG))
    );
    let r = alter_broker(b, "", ("node.id", OP_SET, Some("3"))).await;
    assert_eq!(r.error_code, E::InvalidRequest.code());
    assert_eq!(
        r.error_message.as_deref(),
        Some("Cannot update these configs dynamically: Set(node.id)")
    );
    // A per-broker key: only on the broker's own resource, with its source.
    let key = "sasl.kerberos.min.time.before.relogin";
    let r = alter_broker(b, "", (key, OP_SET, Some("60000"))).await;
    assert_eq!(r.error_code, E::InvalidRequest.code());
    let r = alter_broker(b, "1", (key, OP_SET, Some("60000"))).await;
    assert_eq!(r.error_code, 0);
    let d = describe_configs::handle(
        b,
        &Default::default(),
        describe_configs::tests::req(RESOURCE_BROKER, "1"),
        4,
    );
    assert_eq!(
        describe_configs::tests::value_of(&d, key),
        Some(("60000".into(), source::DYNAMIC_BROKER_CONFIG))
    );
}
