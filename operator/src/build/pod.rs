//! A node's Pod: the broker container, its volumes, probes on the broker's health
//! endpoints, placement, and the revision annotation that tells the rollout when the pod
//! must be recreated (pods are immutable in the fields that matter).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    ConfigMapKeySelector, ConfigMapVolumeSource, Container, ContainerPort, EnvVar, EnvVarSource,
    HTTPGetAction, PersistentVolumeClaimVolumeSource, Pod, PodSecurityContext, PodSpec, Probe,
    SeccompProfile, SecretVolumeSource, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::config::{
    CLUSTER_ID_KEY, KubeAddressing, config_map_name, properties_text, server_properties,
};
use super::{
    CONTROLLER_PORT, DATA_DIR, HTTP_PORT, REVISION_ANNOTATION, TLS_DIR, cluster_id, fnv1a,
    headless_name, image, node_labels, owned_meta, pvc::claim_name, selector_labels,
};
use crate::placement;
use crate::validate::{NodeSpec, ValidatedCluster};

/// Seconds a broker gets between SIGTERM and SIGKILL: controlled shutdown moves partition
/// leadership away and flushes the log, which on a large broker takes a while (Strimzi
/// also defaults to generous grace).
pub const TERMINATION_GRACE_SECONDS: i64 = 120;
const CONFIG_DIR: &str = "/etc/tidewater";
/// Label carrying the broker version a pod runs (`kubectl get pods -L
/// tidewater.io/version`); the image is that version's from the catalog unless
/// `spec.image` overrides it, and the label still says the version then.
pub const VERSION_LABEL: &str = "tidewater.io/version";
/// The image's numeric USER (Dockerfile): the broker never runs as root.
pub const BROKER_UID: i64 = 65532;

/// A node's Pod, with [`REVISION_ANNOTATION`] set to [`revision`] of everything else.
pub fn pod(c: &ValidatedCluster, n: &NodeSpec) -> Pod {
    let mut pod = pod_without_revision(c, n);
    let rev = revision(c, n, &pod);
    pod.metadata
        .annotations
        .get_or_insert_with(BTreeMap::new)
        .insert(REVISION_ANNOTATION.to_owned(), rev);
    pod
}

/// Hash of the pod spec and the static part of the node's config: if either changes the
/// broker must restart to see it. Cluster-wide dynamic keys are left out: they change
/// through IncrementalAlterConfigs without a restart ([`super::dynamic`]).
pub fn revision(c: &ValidatedCluster, n: &NodeSpec, pod: &Pod) -> String {
    let mut text = serde_json::to_string(pod).unwrap_or_default();
    let props = super::dynamic::static_part(&server_properties(c, n, &KubeAddressing));
    text.push_str(&properties_text(&props));
    text.push_str(&cluster_id(c));
    format!("{:016x}", fnv1a(text.as_bytes()))
}

fn pod_without_revision(c: &ValidatedCluster, n: &NodeSpec) -> Pod {
    let pod_name = n.name(&c.name);
    let tpl = &c.pod_template;
    let mut labels = tpl.labels.clone();
    labels.extend(node_labels(c, n));
    // The version the pod runs, even when spec.image overrides the image: a version
    // change changes the revision (the node rolls), and `kubectl get pods -L` shows it.
    labels.insert(VERSION_LABEL.to_owned(), c.version.clone());
    let mut meta = owned_meta(c, pod_name.clone(), labels);
    if !tpl.annotations.is_empty() {
        meta.annotations = Some(tpl.annotations.clone());
    }
    let props = format!("{CONFIG_DIR}/server.properties");
    let container = Container {
        name: "broker".to_owned(),
        image: Some(image(c)),
        command: Some(vec!["tidewater-broker".to_owned()]),
        args: Some(vec![
            "start".to_owned(),
            "--config".to_owned(),
            props.clone(),
        ]),
        ports: Some(ports(c, n)),
        resources: c.resources.clone(),
        readiness_probe: Some(http_probe("/readyz", 5, 3)),
        liveness_probe: Some(http_probe("/healthz", 10, 6)),
        startup_probe: Some(http_probe("/healthz", 5, 60)),
        volume_mounts: Some(broker_mounts(c)),
        ..Container::default()
    };
    // `format` writes meta.properties with the cluster id before the first start, as
    // `kafka-storage format` does on Strimzi pods; it is idempotent for the same cluster
    // and node id, so it can run before every start.
    let format = Container {
        name: "format".to_owned(),
        image: Some(image(c)),
        command: Some(vec!["tidewater-broker".to_owned()]),
        args: Some(vec![
            "format".to_owned(),
            "--config".to_owned(),
            props,
            // `=`: a cluster id may begin with '-', which would read as a flag.
            "--cluster-id=$(CLUSTER_ID)".to_owned(),
        ]),
        env: Some(vec![EnvVar {
            name: "CLUSTER_ID".to_owned(),
            value_from: Some(EnvVarSource {
                config_map_key_ref: Some(ConfigMapKeySelector {
                    name: config_map_name(c, n),
                    key: CLUSTER_ID_KEY.to_owned(),
                    optional: Some(false),
                }),
                ..EnvVarSource::default()
            }),
            ..EnvVar::default()
        }]),
        volume_mounts: Some(mounts()),
        // Its refusal (a log dir of another cluster or node) becomes the termination
        // message the operator reports on the cluster's `Degraded` condition.
        termination_message_policy: Some("FallbackToLogsOnError".to_owned()),
        ..Container::default()
    };
    let affinity = match (&c.topology_key, &n.rack) {
        (Some(key), Some(zone)) => Some(placement::zone_affinity(key, zone)),
        _ => None,
    };
    Pod {
        metadata: meta,
        spec: Some(PodSpec {
            hostname: Some(pod_name),
            subdomain: Some(headless_name(c)),
            init_containers: Some(vec![format]),
            containers: vec![container],
            volumes: Some(volumes(c, n)),
            affinity,
            topology_spread_constraints: Some(placement::spread_constraints(
                c.topology_key.as_deref(),
                &selector_labels(c),
            )),
            tolerations: (!tpl.tolerations.is_empty()).then(|| tpl.tolerations.clone()),
            node_selector: (!tpl.node_selector.is_empty()).then(|| tpl.node_selector.clone()),
            priority_class_name: tpl.priority_class_name.clone(),
            termination_grace_period_seconds: Some(TERMINATION_GRACE_SECONDS),
            restart_policy: Some("Always".to_owned()),
            security_context: Some(security_context()),
            ..PodSpec::default()
        }),
        status: None,
    }
}

/// Non-root, with `fsGroup` so the kubelet makes the data volume group-writable: a fresh
/// PVC is root-owned, and uid 65532 could not create its log dir in it otherwise.
/// `OnRootMismatch` skips the recursive chown of a large log dir on every restart.
fn security_context() -> PodSecurityContext {
    PodSecurityContext {
        run_as_non_root: Some(true),
        run_as_user: Some(BROKER_UID),
        run_as_group: Some(BROKER_UID),
        fs_group: Some(BROKER_UID),
        fs_group_change_policy: Some("OnRootMismatch".to_owned()),
        seccomp_profile: Some(SeccompProfile {
            type_: "RuntimeDefault".to_owned(),
            ..SeccompProfile::default()
        }),
        ..PodSecurityContext::default()
    }
}

fn ports(c: &ValidatedCluster, n: &NodeSpec) -> Vec<ContainerPort> {
    let mut out = Vec::new();
    if n.role.is_broker() {
        out.extend(
            super::listeners::named_ports(c)
                .iter()
                .map(|(name, number)| port(name, *number)),
        );
    }
    if n.role.is_voter() {
        out.push(port("controller", CONTROLLER_PORT));
    }
    out.push(port("http", HTTP_PORT));
    out
}

fn port(name: &str, number: i32) -> ContainerPort {
    ContainerPort {
        name: Some(name.to_owned()),
        container_port: number,
        protocol: Some("TCP".to_owned()),
        ..ContainerPort::default()
    }
}

fn http_probe(path: &str, period: i32, failures: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.to_owned()),
            port: IntOrString::String("http".to_owned()),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(period),
        failure_threshold: Some(failures),
        ..Probe::default()
    }
}

fn mounts() -> Vec<VolumeMount> {
    vec![
        VolumeMount {
            name: "data".to_owned(),
            mount_path: DATA_DIR.to_owned(),
            ..VolumeMount::default()
        },
        VolumeMount {
            name: "config".to_owned(),
            mount_path: CONFIG_DIR.to_owned(),
            read_only: Some(true),
            ..VolumeMount::default()
        },
    ]
}

/// The broker's mounts: data, config, and on a secured cluster its certificates
/// (a Secret volume, not `subPath`, so the kubelet updates the files in place when the
/// operator renews them and the broker reloads them without a restart).
fn broker_mounts(c: &ValidatedCluster) -> Vec<VolumeMount> {
    let mut m = mounts();
    if c.secured() {
        m.push(VolumeMount {
            name: "tls".to_owned(),
            mount_path: TLS_DIR.to_owned(),
            read_only: Some(true),
            ..VolumeMount::default()
        });
    }
    m
}

fn volumes(c: &ValidatedCluster, n: &NodeSpec) -> Vec<Volume> {
    let mut v = vec![
        Volume {
            name: "data".to_owned(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: claim_name(c, n),
                read_only: None,
            }),
            ..Volume::default()
        },
        Volume {
            name: "config".to_owned(),
            config_map: Some(ConfigMapVolumeSource {
                name: config_map_name(c, n),
                ..ConfigMapVolumeSource::default()
            }),
            ..Volume::default()
        },
    ];
    if c.secured() {
        v.push(Volume {
            name: "tls".to_owned(),
            secret: Some(SecretVolumeSource {
                secret_name: Some(super::secrets::node_secret_name(c, n)),
                default_mode: Some(0o440),
                ..SecretVolumeSource::default()
            }),
            ..Volume::default()
        });
    }
    v
}
