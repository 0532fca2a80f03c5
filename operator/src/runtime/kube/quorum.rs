//! The kube runtime's part of a KRaft voter change (KIP-853, planned by
//! [`crate::quorum`]): it reads the quorum's initial voters back from a running
//! controller's ConfigMap — what its nodes were started with, kept in every node's
//! `controller.quorum.voters` while the live voter set changes, so no node restarts —
//! and fills in a new voter's controller listener (its pod's stable DNS name) before
//! AddRaftVoter goes out. It decides nothing about which voter joins or leaves (the
//! planner's call); it only holds back what Kubernetes cannot do safely: removing one
//! of the initial voters while a broker version runs (or is asked for) that resolves
//! every initial voter's DNS name at start (0.1.0, 0.2.0): once that voter's pod were
//! gone, such a node could not restart. Later builds resolve a voter's name when they
//! connect to it, so a removed voter is only unreachable.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;

use super::requests::api_err;
use super::{KubeRuntime, KubeRuntimeError};
use crate::build::config::PROPERTIES_KEY;
use crate::build::{CONTROLLER_PORT, node_host};
use crate::observed::Observed;
use crate::plan::{AdminOp, Plan, VOTER_CHANGE_BLOCKED};
use crate::quorum::seed_from_properties;
use crate::runtime::AdminSource;
use crate::validate::{CONTROLLER_ID_BASE, Role, ValidatedCluster};

impl<A: AdminSource> KubeRuntime<A> {
    /// The initial voters of a cluster with dedicated controllers, read from the
    /// ConfigMap of its lowest observed controller (one GET): every node lists the same
    /// ones, and the lowest controller is one the spec keeps (voters leave from the top).
    /// `None` for combined mode (its voter set never changes), before any controller
    /// pod exists (a new cluster is formed with the spec's voters), or when that
    /// ConfigMap is gone — then the voter set is not changed ([`crate::quorum`]).
    pub(super) async fn read_seed(
        &self,
        c: &ValidatedCluster,
        observed: &Observed,
    ) -> Result<Option<BTreeMap<i32, String>>, KubeRuntimeError> {
        if !c.voters().any(|n| n.role == Role::Controller) {
            return Ok(None);
        }
        let Some(pod) = observed
            .nodes
            .range(CONTROLLER_ID_BASE..)
            .next()
            .and_then(|(id, _)| self.names.get(id))
        else {
            return Ok(None);
        };
        let name = format!("{pod}-config");
        let config = self
            .api::<ConfigMap>(c)
            .get_opt(&name)
            .await
            .map_err(|source| api_err("get", "ConfigMap", &name, source))?;
        Ok(config
            .and_then(|m| m.data)
            .and_then(|d| d.get(PROPERTIES_KEY).and_then(|t| seed_from_properties(t))))
    }
}

impl<A: AdminSource> KubeRuntime<A> {
    /// `plan` without a RemoveRaftVoter of one of the initial voters while
    /// `spec.version` or a running pod is a version that resolves every voter's DNS
    /// name when it starts (waiting up to two minutes, then failing): once such a
    /// controller's pod were deleted, a node of that version could not restart, and an
    /// old build must not be left crash-looping. Refused as `VoterChangeBlocked`; the
    /// controller keeps voting and its pod stays. Builds after 0.2.0 resolve a voter
    /// when connecting to it (a deleted pod's name is an unreachable voter), so with
    /// only those the initial voters leave like any other. The local runtime's
    /// addresses never stop resolving, so this holds on Kubernetes only.
    pub(super) fn keep_initial_voters(&self, mut plan: Plan) -> Plan {
        let (Some(seed), Some(version)) = (&self.seed, &self.resolves_voters_at_start) else {
            return plan;
        };
        let Some(id) = plan.admin_ops.iter().find_map(|op| match op {
            AdminOp::RemoveRaftVoter(id) if seed.contains_key(id) => Some(*id),
            _ => None,
        }) else {
            return plan;
        };
        plan.admin_ops
            .retain(|op| *op != AdminOp::RemoveRaftVoter(id));
        let initial: Vec<String> = seed.keys().map(i32::to_string).collect();
        let message = format!(
            "controller {id} is not removed: it is one of the KRaft voters the quorum was \
             formed with ({}), which every node lists in controller.quorum.voters, and \
             broker version {version} (spec.version or a running pod) resolves each one's \
             pod DNS name when it starts, so without its pod such a node could not restart; \
             finish the upgrade to a later version first, or set spec.controllers back to \
             {} or more",
            initial.join(", "),
            seed.len()
        );
        if let Some(resizing) = &mut plan.quorum {
            resizing.message.clone_from(&message);
        }
        plan.degraded.get_or_insert((VOTER_CHANGE_BLOCKED, message));
        plan
    }
}

/// `op` with what only this runtime knows filled in: the controller listener of a
/// voter to add, `<pod>.<headless service>.<namespace>.svc:9093` — the address its
/// pod's DNS name has for as long as the pod exists.
pub(super) fn resolved(c: &ValidatedCluster, op: &AdminOp) -> AdminOp {
    match op {
        AdminOp::AddRaftVoter { id, endpoint: None } => AdminOp::AddRaftVoter {
            id: *id,
            endpoint: c
                .nodes
                .iter()
                .find(|n| n.id == *id)
                .and_then(|n| Some((node_host(c, n), u16::try_from(CONTROLLER_PORT).ok()?))),
        },
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::parse_cluster;
    use crate::validate::{NodeSpec, validate};

    fn cluster(controllers: i32) -> ValidatedCluster {
        let text = format!(
            "apiVersion: tidewater.io/v1alpha1\nkind: KafkaCluster\nmetadata:\n  name: t\n  namespace: kafka\nspec:\n  version: 0.1.0\n  brokers: 3\n  controllers: {controllers}\n"
        );
        validate(&parse_cluster(&text).unwrap()).unwrap()
    }

    #[test]
    fn a_new_voter_is_added_with_its_pods_dns_name_and_the_controller_port() {
        let c = cluster(5);
        let op = AdminOp::AddRaftVoter {
            id: 1004,
            endpoint: None,
        };
        assert_eq!(
            resolved(&c, &op),
            AdminOp::AddRaftVoter {
                id: 1004,
                endpoint: Some(("t-controller-1004.t-brokers.kafka.svc".to_owned(), 9093)),
            }
        );
        // Nothing else is rewritten.
        let remove = AdminOp::RemoveRaftVoter(1004);
        assert_eq!(resolved(&c, &remove), remove);
    }

    /// Every node's config during a change, as this runtime renders it (the seed read
    /// back from a ConfigMap), passes Kafka's KRaft startup rules: the same initial
    /// voters everywhere, the joining controllers outside them with bootstrap servers.
    #[test]
    fn configs_during_a_voter_change_pass_the_kraft_startup_rules() {
        for (formed, wanted) in [(3, 5), (5, 3), (1, 3), (3, 1)] {
            let start = cluster(formed);
            let map = crate::build::config::config_map(&start, &start.nodes[3]);
            let mut c = cluster(wanted);
            c.quorum_seed = seed_from_properties(&map.data.unwrap()[PROPERTIES_KEY]);
            // The nodes running while the change goes on: both sets of controllers.
            let nodes: BTreeMap<i32, &NodeSpec> = start
                .nodes
                .iter()
                .chain(&c.nodes)
                .map(|n| (n.id, n))
                .collect();
            let props: Vec<_> = nodes
                .values()
                .map(|n| {
                    crate::build::config::server_properties(
                        &c,
                        n,
                        &crate::build::config::KubeAddressing,
                    )
                })
                .collect();
            let broken = crate::build::kraft_rules::violations(&props, false);
            assert!(broken.is_empty(), "{formed} -> {wanted}: {broken:#?}");
        }
    }

    #[test]
    fn the_seed_is_read_from_the_properties_a_node_was_started_with() {
        let c = cluster(3);
        let map = crate::build::config::config_map(&c, &c.nodes[3]);
        let text = &map.data.unwrap()[PROPERTIES_KEY];
        let seed = seed_from_properties(text).unwrap();
        assert_eq!(seed.keys().copied().collect::<Vec<_>>(), [1000, 1001, 1002]);
        assert_eq!(seed[&1001], "t-controller-1001.t-brokers.kafka.svc:9093");
        // The same seed renders the same voters: the config does not change.
        let mut adopted = c.clone();
        adopted.quorum_seed = Some(seed);
        let again = crate::build::config::config_map(&adopted, &adopted.nodes[3]);
        assert_eq!(again.data.unwrap()[PROPERTIES_KEY], *text);
    }
}
