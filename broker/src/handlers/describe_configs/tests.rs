//! Handler tests for `describe_configs`: in-process brokers, requests built by hand.

use super::*;
use crate::handlers::test_support::{broker, encodes};
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::{ApiKey, ResponseKind};

pub(crate) fn req(resource_type: i8, name: &str) -> DescribeConfigsRequest {
    let mut res = DescribeConfigsResource::default();
    res.resource_type = resource_type;
    res.resource_name = StrBytes::from_string(name.into());
    res.configuration_keys = None;
    let mut r = DescribeConfigsRequest::default();
    r.resources = vec![res];
    r.include_synonyms = true;
    r
}

pub(crate) fn value_of(resp: &DescribeConfigsResponse, key: &str) -> Option<(String, i8)> {
    resp.results[0]
        .configs
        .iter()
        .find(|c| c.name.as_str() == key)
        .map(|c| {
            (
                c.value.as_ref().map(|v| v.to_string()).unwrap_or_default(),
                c.config_source,
            )
        })
}

#[tokio::test]
async fn topic_sources_follow_kafka() {
    let tb = broker(&[("log.retention.ms", "5000")]);
    let b = &tb.broker;
    b.create_topic(
        "t",
        [(0, vec![1])].into(),
        [("cleanup.policy".to_string(), "compact".to_string())].into(),
        false,
    )
    .unwrap();
    let resp = handle(b, &Default::default(), req(RESOURCE_TOPIC, "t"), 4);
    assert_eq!(resp.results[0].error_code, 0);
    assert_eq!(
        value_of(&resp, "cleanup.policy"),
        Some(("compact".into(), source::DYNAMIC_TOPIC_CONFIG))
    );
    assert_eq!(
        value_of(&resp, "retention.ms"),
        Some(("5000".into(), source::STATIC_BROKER_CONFIG))
    );
    assert_eq!(
        value_of(&resp, "segment.bytes").map(|v| v.1),
        Some(source::DEFAULT_CONFIG)
    );
    encodes(
        ApiKey::DescribeConfigs,
        4,
        ResponseKind::DescribeConfigs(resp),
    );
    encodes(
        ApiKey::DescribeConfigs,
        1,
        ResponseKind::DescribeConfigs(handle(b, &Default::default(), req(RESOURCE_TOPIC, "t"), 1)),
    );
    assert_eq!(
        handle(b, &Default::default(), req(RESOURCE_TOPIC, "nope"), 4).results[0].error_code,
        E::UnknownTopicOrPartition.code()
    );
    let resp = handle(b, &Default::default(), req(RESOURCE_BROKER, "1"), 4);
    assert_eq!(
        value_of(&resp, "log.retention.ms"),
        Some(("5000".into(), source::STATIC_BROKER_CONFIG))
    );
    assert_eq!(value_of(&resp, "node.id").map(|v| v.0), Some("1".into()));
    assert_eq!(
        handle(b, &Default::default(), req(RESOURCE_BROKER, "7"), 4).results[0].error_code,
        E::InvalidRequest.code()
    );
}

#[tokio::test]
async fn synonyms_list_every_level_most_specific_first() {
    let tb = broker(&[("log.retention.ms", "5000"), ("min.insync.replicas", "1")]);
    let b = &tb.broker;
    b.auto_create_topic("t").unwrap();
    let set = |r: DynamicResource, v: &str| {
        b.set_dynamic_configs_for_test(
            &r,
            [("log.retention.ms".to_string(), v.to_string())].into(),
        );
    };
    set(DynamicResource::BrokerDefault, "6000");
    set(DynamicResource::Broker(1), "7000");
    // The broker applies configs from the image it follows; wait until it has.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while b.admin().log_defaults().retention_ms != 7000 {
        assert!(
            std::time::Instant::now() < deadline,
            "dynamic configs not applied"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let resp = handle(b, &Default::default(), req(RESOURCE_TOPIC, "t"), 4);
    let entry = resp.results[0]
        .configs
        .iter()
        .find(|c| c.name.as_str() == "retention.ms")
        .unwrap();
    assert_eq!(entry.value.as_deref(), Some("7000"));
    let sources: Vec<i8> = entry.synonyms.iter().map(|s| s.source).collect();
    assert_eq!(
        sources,
        [
            source::DYNAMIC_BROKER_CONFIG,
            source::DYNAMIC_DEFAULT_BROKER_CONFIG,
            source::STATIC_BROKER_CONFIG,
            source::DEFAULT_CONFIG
        ]
    );
    assert_eq!(
        value_of(&resp, "min.insync.replicas"),
        Some(("1".into(), source::STATIC_BROKER_CONFIG))
    );
    // The cluster-default resource describes only its own dynamic configs.
    let resp = handle(b, &Default::default(), req(RESOURCE_BROKER, ""), 4);
    assert_eq!(
        value_of(&resp, "log.retention.ms"),
        Some(("6000".into(), source::DYNAMIC_DEFAULT_BROKER_CONFIG))
    );
    assert_eq!(resp.results[0].configs.len(), 1);
}
