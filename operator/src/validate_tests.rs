use super::*;
use crate::render::parse_cluster;

fn cluster(spec: &str) -> KafkaCluster {
    let text = format!(
        "apiVersion: tidewater.io/v1alpha1\nkind: KafkaCluster\nmetadata:\n  name: t\n  namespace: ns\n  generation: 4\nspec:\n{spec}"
    );
    parse_cluster(&text).unwrap()
}

fn fields(spec: &str) -> Vec<String> {
    validate(&cluster(spec))
        .unwrap_err()
        .0
        .into_iter()
        .map(|e| e.field)
        .collect()
}

#[test]
fn defaults_resolve() {
    let v = validate(&cluster("  version: 0.1.0\n  brokers: 1\n")).unwrap();
    assert_eq!(v.namespace, "ns");
    assert_eq!(v.generation, Some(4));
    assert_eq!(v.client_port, 9092);
    assert_eq!(v.storage.size, "10Gi");
    assert_eq!(v.topology_key, None);
    assert_eq!(
        v.nodes,
        vec![NodeSpec {
            id: 0,
            role: Role::Combined,
            rack: None
        }]
    );
}

#[test]
fn combined_mode_makes_three_voters_from_three_brokers() {
    let v = validate(&cluster("  version: 0.1.0\n  brokers: 5\n")).unwrap();
    let roles: Vec<Role> = v.nodes.iter().map(|n| n.role).collect();
    assert_eq!(
        roles,
        [
            Role::Combined,
            Role::Combined,
            Role::Combined,
            Role::Broker,
            Role::Broker
        ]
    );
    // Two brokers: two voters would tolerate no more failures than one.
    let v = validate(&cluster("  version: 0.1.0\n  brokers: 2\n")).unwrap();
    assert_eq!(v.voters().count(), 1);
}

#[test]
fn dedicated_controllers_get_ids_from_1000_and_zones() {
    let v = validate(&cluster(
        "  version: 0.1.0\n  brokers: 2\n  controllers: 3\n  rack:\n    zones: [a, b]\n",
    ))
    .unwrap();
    let ids: Vec<(i32, Role, Option<&str>)> = v
        .nodes
        .iter()
        .map(|n| (n.id, n.role, n.rack.as_deref()))
        .collect();
    assert_eq!(
        ids,
        [
            (0, Role::Broker, Some("a")),
            (1, Role::Broker, Some("b")),
            (1000, Role::Controller, Some("a")),
            (1001, Role::Controller, Some("b")),
            (1002, Role::Controller, Some("a")),
        ]
    );
    assert_eq!(
        v.topology_key.as_deref(),
        Some(crate::crd::DEFAULT_TOPOLOGY_KEY)
    );
}

#[test]
fn owned_config_keys_are_rejected_naming_the_field() {
    let f = fields(
        "  version: 0.1.0\n  brokers: 1\n  config:\n    node.id: 7\n    controller.quorum.voters: x\n    log.dirs: /x\n    num.partitions: 3\n",
    );
    assert_eq!(
        f,
        [
            "spec.config.controller.quorum.voters",
            "spec.config.log.dirs",
            "spec.config.node.id"
        ]
    );
}

#[test]
fn config_values_render_as_kafka_strings() {
    let v = validate(&cluster(
        "  version: 0.1.0\n  brokers: 1\n  config:\n    a.bool: false\n    a.int: 3\n    a.float: 0.5\n    a.str: gzip\n",
    ))
    .unwrap();
    let got: Vec<(&str, &str)> = v
        .config
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("a.bool", "false"),
            ("a.float", "0.5"),
            ("a.int", "3"),
            ("a.str", "gzip")
        ]
    );
    assert_eq!(
        fields("  version: 0.1.0\n  brokers: 1\n  config:\n    x: [1]\n    y: {a: 1}\n"),
        ["spec.config.x", "spec.config.y"]
    );
}

#[test]
fn schema_rules_are_rechecked_for_runtimes_without_an_api_server() {
    assert_eq!(fields("  version: one\n  brokers: 1\n"), ["spec.version"]);
    assert_eq!(fields("  version: 0.1.0\n  brokers: 0\n"), ["spec.brokers"]);
    assert_eq!(
        fields("  version: 0.1.0\n  brokers: 101\n"),
        ["spec.brokers"]
    );
    assert_eq!(
        fields("  version: 0.1.0\n  brokers: 3\n  controllers: 2\n"),
        ["spec.controllers"]
    );
    assert_eq!(
        fields("  version: 0.1.0\n  brokers: 1\n  rack:\n    zones: [a, b]\n"),
        ["spec.rack.zones"]
    );
    assert_eq!(
        fields("  version: 0.1.0\n  brokers: 3\n  rack:\n    zones: [a, a]\n"),
        ["spec.rack.zones[1]"]
    );
    assert_eq!(
        fields("  version: 0.1.0\n  brokers: 1\n  storage:\n    size: lots\n"),
        ["spec.storage.size"]
    );
    assert_eq!(
        fields(
            "  version: 0.1.0\n  brokers: 1\n  listeners:\n  - name: a\n    port: 9093\n    authentication: {type: tls}\n"
        ),
        ["spec.listeners[0].port", "spec.listeners[0].authentication"]
    );
}

#[test]
fn quantities_and_versions() {
    for ok in ["10Gi", "1.5Ti", "500M", "1000"] {
        assert!(is_quantity(ok), "{ok}");
    }
    for bad in ["", "Gi", "1.Gi", "-1Gi", "10GB"] {
        assert!(!is_quantity(bad), "{bad}");
    }
    assert!(is_version("1.2.3-rc.1"));
    assert!(!is_version("1.2"));
}

#[test]
fn error_display_names_every_field() {
    let e = validate(&cluster(
        "  version: 0.1.0\n  brokers: 0\n  config:\n    broker.rack: x\n",
    ))
    .unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("spec.brokers: must be between 1 and 100"),
        "{text}"
    );
    assert!(
        text.contains("spec.config.broker.rack: is set by the operator"),
        "{text}"
    );
}

#[test]
fn a_metadata_version_pin_must_be_a_kafka_level_name() {
    assert_eq!(
        fields("  version: 0.2.0\n  brokers: 1\n  metadataVersion: 9.9-IV9\n"),
        ["spec.metadataVersion"]
    );
    let v = validate(&cluster(
        "  version: 0.2.0\n  brokers: 1\n  metadataVersion: 3.9-IV0\n  rollout:\n    soakSeconds: 30\n",
    ))
    .unwrap();
    assert_eq!(v.metadata_version_pin.as_deref(), Some("3.9-IV0"));
    assert_eq!(v.soak_seconds, 30);
    let d = validate(&cluster("  version: 0.2.0\n  brokers: 1\n")).unwrap();
    assert_eq!(d.soak_seconds, crate::crd::DEFAULT_SOAK_SECONDS);
}
