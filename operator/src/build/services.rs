//! The cluster's Services: a headless one giving each node a stable DNS name
//! (`<pod>.<cluster>-brokers.<ns>.svc`), and a bootstrap one for clients.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{CONTROLLER_PORT, bootstrap_name, headless_name, owned_meta, selector_labels};
use crate::validate::ValidatedCluster;

/// Headless Service over every node. Publishes not-ready addresses: nodes must resolve
/// each other to form the quorum before any of them is ready.
pub fn headless(c: &ValidatedCluster) -> Service {
    Service {
        metadata: owned_meta(c, headless_name(c), selector_labels(c)),
        spec: Some(ServiceSpec {
            cluster_ip: Some("None".to_owned()),
            publish_not_ready_addresses: Some(true),
            selector: Some(selector_labels(c)),
            ports: Some(
                listener_ports(c)
                    .chain([port("controller", CONTROLLER_PORT)])
                    .collect(),
            ),
            ..ServiceSpec::default()
        }),
        status: None,
    }
}

/// Bootstrap Service over ready brokers only.
pub fn bootstrap(c: &ValidatedCluster) -> Service {
    let mut selector = selector_labels(c);
    selector.insert(
        "app.kubernetes.io/component".to_owned(),
        "broker".to_owned(),
    );
    Service {
        metadata: owned_meta(c, bootstrap_name(c), selector_labels(c)),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".to_owned()),
            selector: Some(selector.into_iter().collect::<BTreeMap<_, _>>()),
            ports: Some(listener_ports(c).collect()),
            ..ServiceSpec::default()
        }),
        status: None,
    }
}

fn listener_ports(c: &ValidatedCluster) -> impl Iterator<Item = ServicePort> {
    super::listeners::named_ports(c)
        .into_iter()
        .map(|(name, number)| port(&name, number))
}

fn port(name: &str, number: i32) -> ServicePort {
    ServicePort {
        name: Some(name.to_owned()),
        port: number,
        target_port: Some(IntOrString::Int(number)),
        protocol: Some("TCP".to_owned()),
        ..ServicePort::default()
    }
}
