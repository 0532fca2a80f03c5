//! Handler tests for `admin_configs`: in-process brokers, requests built by hand.

use super::*;
use crate::handlers::describe_configs::{self, source};
use crate::handlers::test_support::{broker, eventually};
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
        b.metadata().topic("t").unwrap().configs.is_empty(),
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
    // The controller committed the change; this node applies it from the metadata log.
    eventually("retention.ms 1234 applied to the log", || {
        b.log("t", 0)
            .is_some_and(|l| l.config().retention_ms == 1234)
    })
    .await;
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
    // APPEND starts from the inherited `delete`, as the regression shows.
    assert_eq!(
        b.metadata().topic("t").unwrap().configs["cleanup.policy"],
        "delete,compact"
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
    // The controller committed the change; this node applies it from the metadata log.
    eventually("retention.ms 777 applied to the log", || {
        b.log("t", 0)
            .is_some_and(|l| l.config().retention_ms == 777)
    })
    .await;
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
    assert_eq!(r.responses[0].error_code, E::InvalidRequest.code());
    assert_eq!(
        r.responses[0].error_message.as_deref(),
        Some("Cannot update these configs dynamically: Set(node.id)")
    );
    // A per-broker key: only on the broker's own resource, with its source.
    let key = "sasl.kerberos.min.time.before.relogin";
    let r = incremental_alter(
        b,
        inc(RESOURCE_BROKER, "", &[(key, OP_SET, Some("60000"))], false),
        1,
    )
    .await;
    assert_eq!(r.responses[0].error_code, E::InvalidRequest.code());
    let r = incremental_alter(
        b,
        inc(RESOURCE_BROKER, "1", &[(key, OP_SET, Some("60000"))], false),
        1,
    )
    .await;
    assert_eq!(r.responses[0].error_code, 0);
    let d = describe_configs::handle(b, describe_configs::tests::req(RESOURCE_BROKER, "1"), 4);
    assert_eq!(
        describe_configs::tests::value_of(&d, key),
        Some(("60000".into(), source::DYNAMIC_BROKER_CONFIG))
    );
}
