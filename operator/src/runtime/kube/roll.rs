//! The roll on Kubernetes (issue 11, items 7 and 9): which node's ConfigMap may be
//! written this reconcile, and the restart of one node through the Eviction API so the
//! cluster's PodDisruptionBudget is honoured.
//!
//! - A node's new config (and its pod's new image, see [`super::KubeRuntime`]'s apply)
//!   is published only at its turn: its ConfigMap is written while its pod is absent
//!   (being created, or gone after its eviction) or already runs the desired revision,
//!   never while an older pod still runs — a container restart the roll did not plan
//!   would otherwise read the new config ahead of the roll's order.
//! - A restart is an eviction (never a DELETE): a 429 from the budget means wait, the
//!   reconcile says so in status and tries again at the next one; nothing forces it.
//!   The eviction carries the observed pod's uid as a precondition, so a pod that was
//!   replaced meanwhile is never evicted by mistake.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::Eviction as EvictionRequest;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{DeleteOptions, ObjectMeta, Preconditions};
use kube::api::{Api, PostParams};

/// What became of an eviction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Eviction {
    /// The pod is being deleted (with its grace period), or was already gone.
    Evicted,
    /// The disruption budget allows no disruption now (HTTP 429); the API's message.
    Refused(String),
}

/// The `policy/v1` Eviction of pod `name` (only the one with `uid`, when known).
pub fn eviction(name: &str, uid: Option<&str>) -> EvictionRequest {
    EvictionRequest {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            ..ObjectMeta::default()
        },
        delete_options: uid.map(|uid| DeleteOptions {
            preconditions: Some(Preconditions {
                uid: Some(uid.to_owned()),
                resource_version: None,
            }),
            ..DeleteOptions::default()
        }),
    }
}

/// Evicts pod `name` (only the one with `uid`, when known). The body is built here, as
/// a typed `policy/v1` Eviction: kube's `Api::evict` sends `delete_options` in snake
/// case, which the API server ignores, so the uid precondition would be lost.
pub async fn evict(api: &Api<Pod>, name: &str, uid: Option<&str>) -> Result<Eviction, kube::Error> {
    let body = eviction(name, uid);
    let sent = api
        .create_subresource::<_, kube::core::Status>(
            "eviction",
            name,
            &PostParams::default(),
            &body,
        )
        .await;
    match sent {
        Ok(_) => Ok(Eviction::Evicted),
        Err(kube::Error::Api(s)) if s.code == 429 => Ok(Eviction::Refused(s.message)),
        // Gone, or replaced by another pod since it was observed: this one is evicted.
        Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => Ok(Eviction::Evicted),
        Err(e) => Err(e),
    }
}

/// Nodes whose ConfigMap may be written now: those without a pod (`observed` maps pod
/// names to the revision they run) and those whose pod runs its desired revision.
/// `desired` maps node id to (pod name, desired revision).
pub fn config_due(
    desired: &BTreeMap<i32, (String, String)>,
    observed: &BTreeMap<String, Option<String>>,
) -> BTreeSet<i32> {
    desired
        .iter()
        .filter(|(_, (pod, rev))| match observed.get(pod) {
            None => true,
            Some(have) => have.as_deref() == Some(rev.as_str()),
        })
        .map(|(id, _)| *id)
        .collect()
}

/// The message of a refused eviction, for `Progressing`.
pub fn refused_message(pod: &str, budget: &str, api_message: &str) -> String {
    format!(
        "waiting to restart pod {pod}: the eviction was refused by PodDisruptionBudget {budget} ({api_message}); retrying at the next reconcile"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_eviction_names_the_observed_pod_by_uid() {
        let body = serde_json::to_value(eviction("t-broker-1", Some("u-1"))).unwrap();
        assert_eq!(body["apiVersion"], "policy/v1");
        assert_eq!(body["kind"], "Eviction");
        assert_eq!(body["metadata"]["name"], "t-broker-1");
        assert_eq!(body["deleteOptions"]["preconditions"]["uid"], "u-1");
    }

    #[test]
    fn a_stale_running_pod_gets_no_new_config_until_it_is_gone() {
        let desired = BTreeMap::from([
            (0, ("t-broker-0".to_owned(), "new".to_owned())),
            (1, ("t-broker-1".to_owned(), "new".to_owned())),
            (2, ("t-broker-2".to_owned(), "new".to_owned())),
        ]);
        let observed = BTreeMap::from([
            ("t-broker-0".to_owned(), Some("new".to_owned())),
            ("t-broker-2".to_owned(), Some("old".to_owned())),
        ]);
        // 0 runs it already, 1 is (re)created now, 2 still runs the old revision.
        assert_eq!(config_due(&desired, &observed), BTreeSet::from([0, 1]));
    }
}
