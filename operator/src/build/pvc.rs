//! A node's PersistentVolumeClaim: the broker's log directory.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    PersistentVolumeClaim, PersistentVolumeClaimSpec, VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::{node_labels, owned_meta};
use crate::validate::{NodeSpec, ValidatedCluster};

/// Claim name: `data-<pod>`, the name a StatefulSet would give it.
pub fn claim_name(c: &ValidatedCluster, n: &NodeSpec) -> String {
    format!("data-{}", n.name(&c.name))
}

/// A node's claim.
pub fn claim(c: &ValidatedCluster, n: &NodeSpec) -> PersistentVolumeClaim {
    PersistentVolumeClaim {
        metadata: owned_meta(c, claim_name(c, n), node_labels(c, n)),
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec!["ReadWriteOnce".to_owned()]),
            storage_class_name: c.storage.storage_class_name.clone(),
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([(
                    "storage".to_owned(),
                    Quantity(c.storage.size.clone()),
                )])),
                limits: None,
            }),
            ..PersistentVolumeClaimSpec::default()
        }),
        status: None,
    }
}
