//! Rack-aware placement: which zone each node runs in, and the pod scheduling terms that
//! pin it there. Pure. Node i goes to zone `i mod n`, so consecutive broker ids land in
//! different zones and the broker's rack-aware replica assignment (which spreads each
//! partition's replicas over distinct `broker.rack` values) puts replicas in distinct
//! zones.

use k8s_openapi::api::core::v1::{
    Affinity, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm,
    TopologySpreadConstraint,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use std::collections::BTreeMap;

/// Well-known node label of the host name, used to spread nodes of one zone over hosts.
pub const HOSTNAME_KEY: &str = "kubernetes.io/hostname";

/// Zone of node index `index` (broker id, or controller ordinal) over `zones`.
pub fn zone_for(index: i32, zones: &[String]) -> Option<&str> {
    let n = i32::try_from(zones.len()).ok().filter(|n| *n > 0)?;
    let slot = usize::try_from(index.rem_euclid(n)).ok()?;
    zones.get(slot).map(String::as_str)
}

/// Required node affinity pinning a pod to `zone` on `topology_key`.
pub fn zone_affinity(topology_key: &str, zone: &str) -> Affinity {
    Affinity {
        node_affinity: Some(NodeAffinity {
            required_during_scheduling_ignored_during_execution: Some(NodeSelector {
                node_selector_terms: vec![NodeSelectorTerm {
                    match_expressions: Some(vec![NodeSelectorRequirement {
                        key: topology_key.to_owned(),
                        operator: "In".to_owned(),
                        values: Some(vec![zone.to_owned()]),
                    }]),
                    match_fields: None,
                }],
            }),
            preferred_during_scheduling_ignored_during_execution: None,
        }),
        ..Affinity::default()
    }
}

/// Spread constraints over the cluster's pods (`selector`): at most one pod of skew per
/// zone (hard), and spread over hosts inside a zone (soft, a zone may have one node).
pub fn spread_constraints(
    topology_key: Option<&str>,
    selector: &BTreeMap<String, String>,
) -> Vec<TopologySpreadConstraint> {
    let label_selector = LabelSelector {
        match_labels: Some(selector.clone()),
        match_expressions: None,
    };
    let mut out = Vec::new();
    if let Some(key) = topology_key {
        out.push(TopologySpreadConstraint {
            max_skew: 1,
            topology_key: key.to_owned(),
            when_unsatisfiable: "DoNotSchedule".to_owned(),
            label_selector: Some(label_selector.clone()),
            ..TopologySpreadConstraint::default()
        });
    }
    out.push(TopologySpreadConstraint {
        max_skew: 1,
        topology_key: HOSTNAME_KEY.to_owned(),
        when_unsatisfiable: "ScheduleAnyway".to_owned(),
        label_selector: Some(label_selector),
        ..TopologySpreadConstraint::default()
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zones(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn broker_i_goes_to_zone_i_mod_n() {
        let z = zones(&["a", "b", "c"]);
        let got: Vec<_> = (0..7).map(|i| zone_for(i, &z)).collect();
        assert_eq!(
            got,
            vec![
                Some("a"),
                Some("b"),
                Some("c"),
                Some("a"),
                Some("b"),
                Some("c"),
                Some("a")
            ]
        );
    }

    #[test]
    fn no_zones_means_no_rack() {
        assert_eq!(zone_for(3, &[]), None);
    }

    #[test]
    fn any_three_consecutive_ids_cover_three_zones() {
        let z = zones(&["a", "b", "c"]);
        for start in 0..20 {
            let mut got: Vec<_> = (start..start + 3).filter_map(|i| zone_for(i, &z)).collect();
            got.sort_unstable();
            assert_eq!(got, vec!["a", "b", "c"], "ids {start}..{}", start + 3);
        }
    }

    #[test]
    fn affinity_pins_the_zone_on_the_topology_key() {
        let a = zone_affinity("topology.kubernetes.io/zone", "eu-1b");
        let terms = a
            .node_affinity
            .and_then(|n| n.required_during_scheduling_ignored_during_execution)
            .map(|s| s.node_selector_terms)
            .unwrap();
        let expr = &terms[0].match_expressions.as_ref().unwrap()[0];
        assert_eq!(expr.key, "topology.kubernetes.io/zone");
        assert_eq!(expr.operator, "In");
        assert_eq!(expr.values.as_deref(), Some(&["eu-1b".to_owned()][..]));
    }

    #[test]
    fn spread_is_hard_on_zones_and_soft_on_hosts() {
        let sel = BTreeMap::from([("app".to_owned(), "x".to_owned())]);
        let c = spread_constraints(Some("zone"), &sel);
        assert_eq!(c.len(), 2);
        assert_eq!(
            (c[0].topology_key.as_str(), c[0].when_unsatisfiable.as_str()),
            ("zone", "DoNotSchedule")
        );
        assert_eq!(
            (c[1].topology_key.as_str(), c[1].when_unsatisfiable.as_str()),
            (HOSTNAME_KEY, "ScheduleAnyway")
        );
        assert_eq!(spread_constraints(None, &sel).len(), 1);
    }
}
