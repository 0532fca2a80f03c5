use super::*;
use crate::crd::KafkaClusterStatus;
use crate::observed::{AdminError, AdminSnapshot, ObservedNode};
use crate::render::parse_cluster;
use crate::validate::validate;

fn cluster(version: &str, extra: &str) -> ValidatedCluster {
    let text = format!(
        "apiVersion: tidewater.io/v1alpha1\nkind: KafkaCluster\nmetadata:\n  name: t\nspec:\n  version: {version}\n  brokers: 3\n  rollout:\n    soakSeconds: 60\n{extra}"
    );
    validate(&parse_cluster(&text).unwrap()).unwrap()
}

fn observed(versions: &[&str], finalized: Option<i16>, healthy: bool) -> Observed {
    let nodes = versions
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let node = ObservedNode {
                version: Some((*v).to_owned()),
                ready: true,
                ..ObservedNode::default()
            };
            (i32::try_from(i).unwrap(), node)
        })
        .collect();
    let snapshot = AdminSnapshot {
        registered: [0, 1, 2].into(),
        under_replicated_partitions: usize::from(!healthy),
        finalized_features: finalized
            .map(|l| [("metadata.version".to_owned(), l)].into())
            .unwrap_or_default(),
        ..AdminSnapshot::default()
    };
    Observed {
        nodes,
        admin: Some(Ok(snapshot)),
    }
}

fn at(secs: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + secs).unwrap()
}

fn decide_at(
    c: &ValidatedCluster,
    o: &Observed,
    previous: Option<&UpgradeStatus>,
    now: i64,
) -> Decision {
    let status = KafkaClusterStatus {
        upgrade: previous.cloned(),
        version: Some("0.1.0".into()),
        ..KafkaClusterStatus::default()
    };
    decide_from_status(c, o, Some(&status), &Catalog::shipped(), at(now))
}

#[test]
fn an_unknown_version_is_refused() {
    let d = decide_at(
        &cluster("9.9.9", ""),
        &observed(&["0.1.0"; 3], Some(21), true),
        None,
        0,
    );
    let (reason, message) = d.refuse.unwrap();
    assert_eq!(reason, "UnknownVersion");
    assert!(
        message.contains("9.9.9") && message.contains("0.1.0, 0.2.0"),
        "{message}"
    );
}

#[test]
fn rolling_keeps_the_old_level_and_counts_nodes_done() {
    let c = cluster("0.2.0", "");
    let d = decide_at(
        &c,
        &observed(&["0.2.0", "0.1.0", "0.1.0"], Some(21), true),
        None,
        0,
    );
    assert_eq!(d.refuse, None);
    assert_eq!(d.finalize, None);
    let s = d.status.unwrap();
    assert_eq!((s.from.as_str(), s.to.as_str()), ("0.1.0", "0.2.0"));
    assert_eq!(
        (s.phase, s.nodes_done, s.nodes),
        (UpgradePhase::Rolling, 1, 3)
    );
    assert_eq!(s.metadata_version.as_deref(), Some("4.0-IV3"));
}

#[test]
fn the_finalize_waits_for_the_soak_time_of_a_healthy_cluster() {
    let c = cluster("0.2.0", "");
    let all_new = observed(&["0.2.0"; 3], Some(21), true);
    let first = decide_at(&c, &all_new, None, 0);
    let s = first.status.clone().unwrap();
    assert_eq!((s.phase, first.finalize), (UpgradePhase::Soaking, None));
    assert!(s.soak_started_at.is_some());
    // Under-replicated partitions restart the soak.
    let sick = decide_at(&c, &observed(&["0.2.0"; 3], Some(21), false), Some(&s), 30);
    assert_eq!(sick.status.as_ref().unwrap().soak_started_at, None);
    assert_eq!(sick.finalize, None);
    // Healthy for 59 s: not yet; 60 s: finalize 4.0-IV3.
    assert_eq!(decide_at(&c, &all_new, Some(&s), 59).finalize, None);
    let done = decide_at(&c, &all_new, Some(&s), 60);
    assert_eq!(done.finalize, Some(25));
    assert_eq!(done.status.unwrap().phase, UpgradePhase::Finalizing);
    let finalized = decide_at(&c, &observed(&["0.2.0"; 3], Some(25), true), Some(&s), 61);
    assert_eq!(finalized.finalize, None);
    let f = finalized.status.unwrap();
    assert_eq!((f.phase, f.from.as_str()), (UpgradePhase::Done, "0.1.0"));
}

#[test]
fn a_pinned_metadata_version_is_finalized_only_up_to_the_pin() {
    let pinned = cluster("0.2.0", "  metadataVersion: 3.9-IV0\n");
    let o = observed(&["0.2.0"; 3], Some(21), true);
    let d = decide_at(&pinned, &o, None, 0);
    assert_eq!(d.status.unwrap().phase, UpgradePhase::Done);
    // The user raises the pin: soak, then finalize 4.0-IV1.
    let raised = cluster("0.2.0", "  metadataVersion: 4.0-IV1\n");
    let s = decide_at(&raised, &o, None, 0).status.unwrap();
    assert_eq!(decide_at(&raised, &o, Some(&s), 60).finalize, Some(23));
}

#[test]
fn rolling_back_before_the_finalize_is_allowed_after_it_refused() {
    let back = cluster("0.1.0", "");
    let before = decide_at(
        &back,
        &observed(&["0.2.0", "0.1.0", "0.1.0"], Some(21), true),
        None,
        0,
    );
    assert_eq!(before.refuse, None);
    let after = decide_at(&back, &observed(&["0.2.0"; 3], Some(25), true), None, 0);
    let (reason, message) = after.refuse.unwrap();
    assert_eq!(reason, "DowngradeBlocked");
    assert!(
        message.contains("4.0-IV3") && message.contains("3.9-IV0"),
        "{message}"
    );
    // Metadata unreadable: the level recorded in status still refuses.
    let mut blind = observed(&["0.2.0"; 3], None, true);
    blind.admin = Some(Err(AdminError::Unreachable("down".into())));
    let status = KafkaClusterStatus {
        version: Some("0.2.0".into()),
        metadata_version: Some("4.0-IV3".into()),
        ..KafkaClusterStatus::default()
    };
    let d = decide_from_status(&back, &blind, Some(&status), &Catalog::shipped(), at(0));
    assert_eq!(d.refuse.map(|r| r.0), Some("DowngradeBlocked"));
}

#[test]
fn a_cluster_never_upgraded_shows_no_upgrade() {
    let c = cluster("0.2.0", "");
    let o = observed(&["0.2.0"; 3], Some(25), true);
    let d = decide_from_status(&c, &o, None, &Catalog::shipped(), at(0));
    assert_eq!(d, Decision::default());
}

#[test]
fn a_crashing_new_version_stalls_the_upgrade_with_the_way_back() {
    let c = cluster("0.2.0", "");
    let mut o = observed(&["0.2.0", "0.1.0", "0.1.0"], Some(21), true);
    if let Some(n) = o.nodes.get_mut(&0) {
        n.ready = false;
        n.problem = Some((
            "BrokerCrashed".into(),
            "process exited (exit status: 1)".into(),
        ));
    }
    let d = decide_at(&c, &o, None, 0);
    let (reason, message) = d.stalled.unwrap();
    assert_eq!(reason, "UpgradeStalled");
    assert!(
        message.contains("node 0") && message.contains("back to 0.1.0"),
        "{message}"
    );
    assert_eq!(d.refuse, None, "rolling back must stay possible");
    // Rolled back: the node runs the old version again; nothing stalls.
    let back = cluster("0.1.0", "");
    assert_eq!(decide_at(&back, &o, None, 0).stalled, None);
}
