use super::*;
use crate::build::config::{KubeAddressing, server_properties};
use crate::render::parse_cluster;
use crate::validate::validate;
use k8s_openapi::api::core::v1::Pod;

pub(crate) fn valid(spec: &str) -> ValidatedCluster {
    let text = format!(
        "apiVersion: tidewater.io/v1alpha1\nkind: KafkaCluster\nmetadata:\n  name: tide\n  namespace: kafka\n  uid: 0f8fad5b-d9cb-469f-a165-70867728950e\nspec:\n{spec}"
    );
    validate(&parse_cluster(&text).unwrap()).unwrap()
}

const THREE_ZONES: &str = "  version: 0.1.0\n  brokers: 3\n  rack:\n    zones: [a, b, c]\n  config:\n    num.partitions: 6\n";

#[test]
fn objects_come_in_dependency_order() {
    let c = valid(THREE_ZONES);
    let kinds: Vec<&str> = build_all(&c)
        .iter()
        .map(|d| match d {
            Desired::ConfigMap(_) => "cm",
            Desired::Service(_) => "svc",
            Desired::Pvc(_) => "pvc",
            Desired::Pod(_) => "pod",
            Desired::Pdb(_) => "pdb",
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "cm", "cm", "cm", "svc", "svc", "pvc", "pvc", "pvc", "pod", "pod", "pod", "pdb"
        ]
    );
}

#[test]
fn rendering_is_deterministic() {
    let a = serde_json::to_string(&build_all(&valid(THREE_ZONES))).unwrap();
    let b = serde_json::to_string(&build_all(&valid(THREE_ZONES))).unwrap();
    assert_eq!(a, b);
}

#[test]
fn server_properties_of_a_combined_node() {
    let c = valid(THREE_ZONES);
    let p = server_properties(&c, &c.nodes[1], &KubeAddressing);
    let get = |k: &str| p.get(k).map(String::as_str);
    assert_eq!(get("node.id"), Some("1"));
    assert_eq!(get("process.roles"), Some("broker,controller"));
    assert_eq!(
        get("controller.quorum.voters"),
        Some(
            "0@tide-broker-0.tide-brokers.kafka.svc:9093,1@tide-broker-1.tide-brokers.kafka.svc:9093,2@tide-broker-2.tide-brokers.kafka.svc:9093"
        )
    );
    assert_eq!(
        get("listeners"),
        Some("PLAINTEXT://:9092,CONTROLLER://:9093")
    );
    assert_eq!(
        get("advertised.listeners"),
        Some("PLAINTEXT://tide-broker-1.tide-brokers.kafka.svc:9092")
    );
    assert_eq!(get("controller.listener.names"), Some("CONTROLLER"));
    assert_eq!(get("log.dirs"), Some(DATA_DIR));
    assert_eq!(get("broker.rack"), Some("b"));
    assert_eq!(get("tidewater.http.listener"), Some("0.0.0.0:9404"));
    assert_eq!(get("num.partitions"), Some("6"));
    assert_eq!(get("offsets.topic.replication.factor"), Some("3"));
}

#[test]
fn dedicated_controller_and_broker_properties() {
    let c = valid("  version: 0.1.0\n  brokers: 1\n  controllers: 1\n");
    let broker = server_properties(&c, &c.nodes[0], &KubeAddressing);
    let ctrl = server_properties(&c, &c.nodes[1], &KubeAddressing);
    assert_eq!(broker["process.roles"], "broker");
    assert_eq!(broker["listeners"], "PLAINTEXT://:9092");
    assert_eq!(
        broker["controller.quorum.voters"],
        "1000@tide-controller-1000.tide-brokers.kafka.svc:9093"
    );
    assert_eq!(ctrl["process.roles"], "controller");
    assert_eq!(ctrl["listeners"], "CONTROLLER://:9093");
    assert!(!ctrl.contains_key("advertised.listeners"));
    assert!(!broker.contains_key("broker.rack"));
    // One broker: internal topics cannot ask for three replicas.
    assert_eq!(broker["offsets.topic.replication.factor"], "1");
}

#[test]
fn user_config_overrides_internal_topic_defaults() {
    let c = valid(
        "  version: 0.1.0\n  brokers: 1\n  config:\n    offsets.topic.replication.factor: 1\n    transaction.state.log.min.isr: 1\n",
    );
    let p = server_properties(&c, &c.nodes[0], &KubeAddressing);
    assert_eq!(p["transaction.state.log.min.isr"], "1");
}

#[test]
fn broker_pods_run_as_the_image_user_with_a_group_writable_volume() {
    let c = valid(THREE_ZONES);
    let spec = pod::pod(&c, &c.nodes[0]).spec.unwrap();
    let sc = spec.security_context.unwrap();
    assert_eq!(sc.run_as_non_root, Some(true));
    assert_eq!(sc.run_as_user, Some(pod::BROKER_UID));
    assert_eq!(sc.run_as_group, Some(65532));
    // fsGroup is what makes a root-owned PVC writable by uid 65532.
    assert_eq!(sc.fs_group, Some(65532));
    assert_eq!(sc.seccomp_profile.unwrap().type_, "RuntimeDefault");
}

#[test]
fn pod_is_placed_in_its_zone_with_probes_and_grace() {
    let c = valid(THREE_ZONES);
    let pod = pod::pod(&c, &c.nodes[2]);
    assert_eq!(pod.metadata.name.as_deref(), Some("tide-broker-2"));
    let owner = &pod.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.controller),
        ("KafkaCluster", Some(true))
    );
    let spec = pod.spec.unwrap();
    assert_eq!(spec.subdomain.as_deref(), Some("tide-brokers"));
    assert_eq!(spec.hostname.as_deref(), Some("tide-broker-2"));
    assert_eq!(spec.termination_grace_period_seconds, Some(120));
    let zone = spec
        .affinity
        .unwrap()
        .node_affinity
        .unwrap()
        .required_during_scheduling_ignored_during_execution
        .unwrap()
        .node_selector_terms[0]
        .match_expressions
        .clone()
        .unwrap()[0]
        .clone();
    assert_eq!(
        (zone.key.as_str(), zone.values.unwrap()),
        (crate::crd::DEFAULT_TOPOLOGY_KEY, vec!["c".to_owned()])
    );
    assert_eq!(spec.topology_spread_constraints.unwrap().len(), 2);
    let broker = &spec.containers[0];
    let ready = broker
        .readiness_probe
        .as_ref()
        .unwrap()
        .http_get
        .as_ref()
        .unwrap();
    assert_eq!(ready.path.as_deref(), Some("/readyz"));
    let live = broker
        .liveness_probe
        .as_ref()
        .unwrap()
        .http_get
        .as_ref()
        .unwrap();
    assert_eq!(live.path.as_deref(), Some("/healthz"));
    let init = &spec.init_containers.unwrap()[0];
    assert_eq!(init.args.as_ref().unwrap()[0], "format");
}

#[test]
fn revision_changes_with_config_and_only_for_affected_nodes() {
    let a = valid(THREE_ZONES);
    let b = valid(&THREE_ZONES.replace("num.partitions: 6", "num.partitions: 7"));
    let rev = |c: &ValidatedCluster, i: usize| {
        pod::pod(c, &c.nodes[i]).metadata.annotations.unwrap()[REVISION_ANNOTATION].clone()
    };
    assert_ne!(rev(&a, 0), rev(&b, 0));
    assert_eq!(rev(&a, 0), rev(&a, 0));
    assert_ne!(rev(&a, 0), rev(&a, 1));
}

#[test]
fn a_dynamic_config_change_leaves_the_pod_revision_alone() {
    let rev = |c: &ValidatedCluster| {
        pod::pod(c, &c.nodes[0]).metadata.annotations.unwrap()[REVISION_ANNOTATION].clone()
    };
    let base = valid(THREE_ZONES);
    let dynamic = valid(&format!("{THREE_ZONES}    log.retention.ms: \"7777777\"\n"));
    let fixed = valid(&format!("{THREE_ZONES}    num.network.threads: \"5\"\n"));
    // Applied through IncrementalAlterConfigs: no pod restarts.
    assert_eq!(rev(&base), rev(&dynamic));
    // A static key still rolls the node.
    assert_ne!(rev(&base), rev(&fixed));
    // The ConfigMap carries the dynamic key all the same (a restarted broker reads it).
    let cm = config::config_map(&dynamic, &dynamic.nodes[0]);
    assert!(cm.data.unwrap()[config::PROPERTIES_KEY].contains("log.retention.ms=7777777"));
}

#[test]
fn template_applies_but_operator_labels_win() {
    let c = valid(
        "  version: 0.1.0\n  brokers: 1\n  template:\n    pod:\n      labels:\n        team: x\n        app.kubernetes.io/instance: evil\n      annotations:\n        a: b\n      priorityClassName: high\n      nodeSelector:\n        disk: ssd\n",
    );
    let pod = pod::pod(&c, &c.nodes[0]);
    let labels = pod.metadata.labels.unwrap();
    assert_eq!(labels["team"], "x");
    assert_eq!(labels["app.kubernetes.io/instance"], "tide");
    assert_eq!(pod.metadata.annotations.unwrap()["a"], "b");
    let spec = pod.spec.unwrap();
    assert_eq!(spec.priority_class_name.as_deref(), Some("high"));
    assert_eq!(spec.node_selector.unwrap()["disk"], "ssd");
}

#[test]
fn services_pvc_and_pdb() {
    let c = valid(
        "  version: 0.1.0\n  brokers: 1\n  storage:\n    size: 5Gi\n    storageClassName: fast\n",
    );
    let h = services::headless(&c).spec.unwrap();
    assert_eq!(h.cluster_ip.as_deref(), Some("None"));
    assert_eq!(h.publish_not_ready_addresses, Some(true));
    let b = services::bootstrap(&c).spec.unwrap();
    assert_eq!(b.selector.unwrap()["app.kubernetes.io/component"], "broker");
    assert_eq!(bootstrap_servers(&c), "tide-bootstrap.kafka.svc:9092");
    let pvc = pvc::claim(&c, &c.nodes[0]);
    assert_eq!(pvc.metadata.name.as_deref(), Some("data-tide-broker-0"));
    let spec = pvc.spec.unwrap();
    assert_eq!(spec.storage_class_name.as_deref(), Some("fast"));
    assert_eq!(
        spec.resources.unwrap().requests.unwrap()["storage"].0,
        "5Gi"
    );
    let pdb = pdb::budget(&c).spec.unwrap();
    // An integer minAvailable, since KafkaCluster has no scale subresource for
    // Kubernetes to compute maxUnavailable from: a single node may always go.
    assert_eq!(c.nodes.len(), 1);
    assert_eq!(
        pdb.min_available,
        Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(0))
    );
    assert_eq!(pdb.max_unavailable, None);
    let three = valid("  version: 0.1.0\n  brokers: 3\n");
    assert_eq!(
        pdb::budget(&three).spec.unwrap().min_available,
        Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(2))
    );
}

#[test]
fn cluster_id_is_a_kafka_uuid_from_the_uid() {
    let c = valid("  version: 0.1.0\n  brokers: 1\n");
    let id = cluster_id(&c);
    assert_eq!(id.len(), 22);
    assert_eq!(
        id,
        cluster_id_from_seed("0f8fad5b-d9cb-469f-a165-70867728950e")
    );
    assert_ne!(cluster_id_from_seed("a/b"), cluster_id_from_seed("a/c"));
    assert_eq!(cluster_id_from_seed("a/b").len(), 22);
}

/// `server.properties` as a ConfigMap holds it, read back the way the broker reads it.
fn properties_of(cm: &k8s_openapi::api::core::v1::ConfigMap) -> BTreeMap<String, String> {
    cm.data.as_ref().unwrap()[config::PROPERTIES_KEY]
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

#[test]
fn every_example_renders_kraft_configs_kafka_accepts() {
    for (name, c) in crate::test_support::examples() {
        let props: Vec<BTreeMap<String, String>> = build_all(&c)
            .iter()
            .filter_map(|d| match d {
                Desired::ConfigMap(cm) => Some(properties_of(cm)),
                _ => None,
            })
            .collect();
        assert_eq!(props.len(), c.nodes.len(), "{name}");
        let broken = kraft_rules::violations(&props, false);
        assert!(broken.is_empty(), "{name}: {broken:#?}");
    }
}

#[test]
fn dedicated_controller_pods_expose_no_client_port_and_get_no_client_traffic() {
    let c = crate::test_support::example("dedicated-controllers.yaml");
    let objects = build_all(&c);
    let pods: Vec<&Pod> = objects
        .iter()
        .filter_map(|d| match d {
            Desired::Pod(p) => Some(p.as_ref()),
            _ => None,
        })
        .collect();
    let ports_of = |p: &Pod| -> Vec<String> {
        let container = &p.spec.as_ref().unwrap().containers[0];
        container
            .ports
            .iter()
            .flatten()
            .map(|cp| format!("{}:{}", cp.name.as_deref().unwrap(), cp.container_port))
            .collect()
    };
    let names: Vec<&str> = pods
        .iter()
        .map(|p| p.metadata.name.as_deref().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "big-broker-0",
            "big-broker-1",
            "big-broker-2",
            "big-controller-1000",
            "big-controller-1001",
            "big-controller-1002"
        ]
    );
    for p in &pods[..3] {
        assert_eq!(ports_of(p), ["kafka:9092", "http:9404"]);
    }
    for p in &pods[3..] {
        assert_eq!(ports_of(p), ["controller:9093", "http:9404"]);
        let labels = p.metadata.labels.as_ref().unwrap();
        assert_eq!(labels["app.kubernetes.io/component"], "controller");
    }
    let bootstrap = services::bootstrap(&c);
    let selector = bootstrap.spec.unwrap().selector.unwrap();
    assert_eq!(selector["app.kubernetes.io/component"], "broker");
}

#[test]
fn the_version_rolls_pods_even_with_an_image_override_and_picks_the_catalog_image() {
    let pod_of = |spec: &str| {
        let c = valid(spec);
        pod::pod(&c, &c.nodes[0])
    };
    let old = pod_of("  version: 0.1.0\n  brokers: 1\n  image: my/registry:custom\n");
    let new = pod_of("  version: 0.2.0\n  brokers: 1\n  image: my/registry:custom\n");
    let rev = |p: &Pod| {
        kube::ResourceExt::annotations(p)
            .get(REVISION_ANNOTATION)
            .cloned()
    };
    assert_ne!(
        rev(&old),
        rev(&new),
        "spec.version counts when spec.image is set"
    );
    assert_eq!(kube::ResourceExt::labels(&new)[pod::VERSION_LABEL], "0.2.0");
    let catalog = pod_of("  version: 0.2.0\n  brokers: 1\n");
    let image = catalog.spec.unwrap().containers[0].image.clone();
    assert_eq!(
        image.as_deref(),
        Some("ghcr.io/tidewater-io/tidewater:0.2.0")
    );
}
