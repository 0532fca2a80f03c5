use super::*;
use crate::render::parse_cluster;
use crate::validate::validate;

fn cluster(storage: &str, status_id: Option<&str>) -> ValidatedCluster {
    let mut text = format!(
        "apiVersion: tidewater.io/v1alpha1\nkind: KafkaCluster\nmetadata:\n  name: t\n  namespace: kafka\n  uid: 0f8fad5b-d9cb-469f-a165-70867728950e\nspec:\n  version: 0.1.0\n  brokers: 3\n  storage: {storage}\n"
    );
    if let Some(id) = status_id {
        text.push_str(&format!("status:\n  clusterId: {id}\n"));
    }
    validate(&parse_cluster(&text).unwrap()).unwrap()
}

fn observed(name: &str, node: i32, id: Option<&str>) -> ObservedClaim {
    ObservedClaim {
        name: name.to_owned(),
        node_id: Some(node),
        cluster_id: id.map(str::to_owned),
    }
}

#[test]
fn claims_are_owned_only_when_delete_claim_is_true() {
    let kept = cluster("{}", None);
    let pvc = claim(&kept, &kept.nodes[1]);
    assert_eq!(pvc.metadata.owner_references, None);
    let labels = pvc.metadata.labels.unwrap();
    assert_eq!(labels["app.kubernetes.io/instance"], "t");
    assert_eq!(labels[NODE_ID_LABEL], "1");
    assert_eq!(
        pvc.metadata.annotations.unwrap()[CLUSTER_ID_ANNOTATION],
        cluster_id(&kept)
    );

    let deleted = cluster("{deleteClaim: true}", None);
    let owners = claim(&deleted, &deleted.nodes[1])
        .metadata
        .owner_references
        .unwrap();
    assert_eq!(owners.len(), 1);
    assert_eq!(owners[0].kind, "KafkaCluster");
    assert_eq!(owners[0].uid, "0f8fad5b-d9cb-469f-a165-70867728950e");
}

#[test]
fn the_recorded_status_id_names_the_claims() {
    let c = cluster("{}", Some("OLD-id_1"));
    assert_eq!(cluster_id(&c), "OLD-id_1");
    let pvc = claim(&c, &c.nodes[0]);
    assert_eq!(
        pvc.metadata.annotations.unwrap()[CLUSTER_ID_ANNOTATION],
        "OLD-id_1"
    );
}

#[test]
fn a_new_cluster_adopts_the_id_its_retained_claims_carry() {
    let c = cluster("{}", None);
    let claims = [
        observed("data-t-broker-0", 0, Some("X")),
        observed("data-t-broker-1", 1, Some("X")),
        // Made before the annotation existed: no vote, no conflict.
        observed("data-t-broker-2", 2, None),
    ];
    let a = adopt(&c, &claims);
    assert_eq!(a.cluster_id.as_deref(), Some("X"));
    assert!(a.conflicts.is_empty(), "{a:?}");
    // No claims at all: nothing to adopt, the uid decides.
    assert_eq!(adopt(&c, &[]), Adoption::default());
}

#[test]
fn a_claim_of_another_cluster_blocks_only_its_node() {
    let c = cluster("{}", None);
    let claims = [
        observed("data-t-broker-2", 2, Some("Z")),
        observed("data-t-broker-1", 1, Some("X")),
        observed("data-t-broker-0", 0, Some("X")),
    ];
    let a = adopt(&c, &claims);
    assert_eq!(a.cluster_id.as_deref(), Some("X"));
    assert_eq!(
        a.conflicts,
        vec![ClaimConflict::OtherCluster {
            claim: "data-t-broker-2".into(),
            node_id: 2,
            found: "Z".into(),
            expected: "X".into(),
        }]
    );
    assert_eq!(a.blocked_nodes().collect::<Vec<_>>(), vec![2]);
}

#[test]
fn a_tie_goes_to_the_lowest_node_and_a_known_id_wins_over_any_vote() {
    let c = cluster("{}", None);
    let claims = [
        observed("data-t-broker-1", 1, Some("B")),
        observed("data-t-broker-0", 0, Some("A")),
    ];
    assert_eq!(adopt(&c, &claims).cluster_id.as_deref(), Some("A"));
    let known = cluster("{}", Some("B"));
    let a = adopt(&known, &claims);
    assert_eq!(a.cluster_id.as_deref(), Some("B"));
    assert_eq!(a.blocked_nodes().collect::<Vec<_>>(), vec![0]);
}

#[test]
fn claims_of_nodes_the_spec_no_longer_has_are_reported_not_blocking() {
    let c = cluster("{}", None);
    let claims = [
        observed("data-t-broker-0", 0, Some("X")),
        observed("data-t-broker-4", 4, Some("X")),
    ];
    let a = adopt(&c, &claims);
    assert_eq!(
        a.conflicts,
        vec![ClaimConflict::RemovedNode {
            claim: "data-t-broker-4".into(),
            node_id: 4,
            cluster_id: Some("X".into()),
        }]
    );
    assert_eq!(a.blocked_nodes().count(), 0);
}

#[test]
fn observed_claims_read_label_and_annotation() {
    let c = cluster("{}", Some("X"));
    let k = ObservedClaim::from_claim(&claim(&c, &c.nodes[2]));
    assert_eq!(k, observed("data-t-broker-2", 2, Some("X")));
}
