//! The voter-change steps as the planner takes them: every step derived from the
//! quorum DescribeQuorum shows, one voter at a time.

use std::collections::BTreeMap;

use super::*;
use crate::observed::{AdminError, AdminSnapshot, ObservedNode};
use crate::plan::{Action, Plan, VOTER_CHANGE_BLOCKED, plan};
use crate::render::parse_cluster;
use crate::validate::validate;

/// `brokers` brokers and `controllers` dedicated controllers, on a runtime that formed
/// the quorum with controllers 1000..1002.
fn cluster(controllers: i32) -> ValidatedCluster {
    let text = format!(
        "apiVersion: tidewater.io/v1alpha1\nkind: KafkaCluster\nmetadata:\n  name: t\nspec:\n  version: 0.1.0\n  brokers: 3\n  controllers: {controllers}\n"
    );
    let mut c = validate(&parse_cluster(&text).unwrap()).unwrap();
    c.quorum_seed = Some(
        (1000..1003)
            .map(|id| (id, format!("127.0.0.1:{id}")))
            .collect(),
    );
    c
}

/// Brokers 0..2 and controllers `running` (all ready but `starting`), the quorum's
/// voters `voters` led by `active`.
fn observed(running: &[i32], starting: &[i32], voters: &[i32], active: i32) -> Observed {
    let node = |id: &i32| {
        let o = ObservedNode {
            name: "p".into(),
            revision: Some("r".into()),
            version: None,
            ready: !starting.contains(id),
            problem: None,
        };
        (*id, o)
    };
    Observed {
        nodes: [0, 1, 2].iter().chain(running).map(node).collect(),
        admin: Some(Ok(AdminSnapshot {
            registered: [0, 1, 2].into(),
            controller: Some(active),
            voters: voters.iter().copied().collect(),
            ..AdminSnapshot::default()
        })),
    }
}

fn revisions(c: &ValidatedCluster) -> BTreeMap<i32, String> {
    c.nodes.iter().map(|n| (n.id, "r".to_owned())).collect()
}

fn ensured(p: &Plan) -> Vec<i32> {
    p.actions
        .iter()
        .filter_map(|a| match a {
            Action::Ensure(n) => Some(n.id),
            _ => None,
        })
        .collect()
}

fn removed(p: &Plan) -> Vec<(i32, bool)> {
    p.actions
        .iter()
        .filter_map(|a| match a {
            Action::Remove { id, delete_storage } => Some((*id, *delete_storage)),
            _ => None,
        })
        .collect()
}

fn resizing(p: &Plan) -> (&'static str, String) {
    let r = p.quorum.clone().expect("QuorumResizing");
    (r.reason, r.message)
}

#[test]
fn three_to_five_adds_one_voter_at_a_time() {
    let c = cluster(5);
    let revs = revisions(&c);
    let base = [1000, 1001, 1002];
    // 1003 is created alone; nothing is sent before it serves.
    let p = plan(&c, &revs, &observed(&base, &[], &base, 1000));
    assert_eq!(ensured(&p), [0, 1, 2, 1000, 1001, 1002, 1003]);
    assert!(p.admin_ops.is_empty(), "{p:?}");
    let (reason, message) = resizing(&p);
    assert_eq!(reason, "AddingVoter");
    assert!(message.contains("adding controller 1003"), "{message}");
    assert!(message.contains("[1000, 1001, 1002]"), "{message}");
    // Started but not serving yet: still waiting.
    let p = plan(
        &c,
        &revs,
        &observed(&[1000, 1001, 1002, 1003], &[1003], &base, 1000),
    );
    assert!(p.admin_ops.is_empty(), "{p:?}");
    // Serving: AddRaftVoter; 1004 still waits.
    let obs = observed(&[1000, 1001, 1002, 1003], &[], &base, 1000);
    let p = plan(&c, &revs, &obs);
    assert_eq!(
        p.admin_ops,
        [AdminOp::AddRaftVoter {
            id: 1003,
            endpoint: None
        }]
    );
    assert!(!ensured(&p).contains(&1004));
    assert!(resizing(&p).1.contains("AddRaftVoter sent"));
    // DescribeQuorum lists 1003: 1004 is next.
    let four = [1000, 1001, 1002, 1003];
    let p = plan(&c, &revs, &observed(&four, &[], &four, 1000));
    assert!(ensured(&p).contains(&1004));
    assert!(resizing(&p).1.contains("adding controller 1004"));
    let five = [1000, 1001, 1002, 1003, 1004];
    let p = plan(&c, &revs, &observed(&five, &[], &five, 1000));
    assert_eq!(p.quorum, None);
    assert!(p.admin_ops.is_empty(), "{p:?}");
    assert!(removed(&p).is_empty());
}

#[test]
fn five_to_three_removes_the_active_controller_last_and_deletes_only_what_left() {
    let c = cluster(3);
    let revs = revisions(&c);
    let five = [1000, 1001, 1002, 1003, 1004];
    // 1004 leads: 1003 goes first, and no node stops while it is still a voter.
    let p = plan(&c, &revs, &observed(&five, &[], &five, 1004));
    assert_eq!(p.admin_ops, [AdminOp::RemoveRaftVoter(1003)]);
    assert!(removed(&p).is_empty(), "{p:?}");
    let (reason, message) = resizing(&p);
    assert_eq!(reason, "RemovingVoter");
    assert!(message.contains("removing controller 1003"), "{message}");
    // 1003 left the quorum: it is stopped with its state; then the active one.
    let four = [1000, 1001, 1002, 1004];
    let p = plan(&c, &revs, &observed(&five, &[], &four, 1004));
    assert_eq!(p.admin_ops, [AdminOp::RemoveRaftVoter(1004)]);
    assert_eq!(removed(&p), [(1003, true)]);
    assert!(resizing(&p).1.contains("the active controller, last"));
    let three = [1000, 1001, 1002];
    let p = plan(&c, &revs, &observed(&four, &[], &three, 1001));
    assert_eq!(removed(&p), [(1004, true)]);
    assert_eq!(p.quorum, None);
    // Without a leader known, the highest id goes first.
    let p = plan(&c, &revs, &observed(&five, &[], &five, -1));
    assert_eq!(p.admin_ops, [AdminOp::RemoveRaftVoter(1004)]);
}

#[test]
fn an_unread_quorum_creates_and_removes_no_controller() {
    let mut obs = observed(&[1000, 1001, 1002], &[], &[], 1000);
    obs.admin = Some(Err(AdminError::Unreachable("refused".into())));
    let p = plan(&cluster(5), &revisions(&cluster(5)), &obs);
    assert_eq!(ensured(&p), [0, 1, 2, 1000, 1001, 1002]);
    let mut obs = observed(&[1000, 1001, 1002, 1003, 1004], &[], &[], 1000);
    obs.admin = Some(Err(AdminError::Unreachable("refused".into())));
    let p = plan(&cluster(3), &revisions(&cluster(3)), &obs);
    assert!(removed(&p).is_empty(), "{p:?}");
}

#[test]
fn nothing_restarts_while_the_voters_change() {
    let c = cluster(5);
    let mut revs = revisions(&c);
    revs.insert(0, "new".into());
    let base = [1000, 1001, 1002];
    let p = plan(&c, &revs, &observed(&base, &[], &base, 1000));
    assert!(
        p.actions.iter().all(|a| !matches!(a, Action::Restart(_))),
        "{p:?}"
    );
    // Once the voters match, the restart goes ahead.
    let five = [1000, 1001, 1002, 1003, 1004];
    let p = plan(&c, &revs, &observed(&five, &[], &five, 1000));
    assert!(p.actions.iter().any(|a| matches!(a, Action::Restart(_))));
}

#[test]
fn mode_changes_and_runtimes_without_kip_853_are_refused() {
    let base = [1000, 1001, 1002];
    // Dedicated -> combined.
    let text = "apiVersion: tidewater.io/v1alpha1\nkind: KafkaCluster\nmetadata:\n  name: t\nspec:\n  version: 0.1.0\n  brokers: 3\n";
    let mut combined = validate(&parse_cluster(text).unwrap()).unwrap();
    combined.quorum_seed = cluster(3).quorum_seed;
    let p = plan(
        &combined,
        &revisions(&combined),
        &observed(&base, &[], &base, 1000),
    );
    let (reason, message) = p.degraded.expect("refused");
    assert_eq!(reason, VOTER_CHANGE_BLOCKED);
    assert!(
        message.contains("only among dedicated controllers"),
        "{message}"
    );
    assert!(p.actions.is_empty());
    // Without the seed (kube: the ConfigMap it is read from is gone) 3 -> 5 is refused.
    let mut kube = cluster(5);
    kube.quorum_seed = None;
    let p = plan(&kube, &revisions(&kube), &observed(&base, &[], &base, 1000));
    let (reason, message) = p.degraded.expect("refused");
    assert_eq!(reason, VOTER_CHANGE_BLOCKED);
    assert!(
        message.contains("without knowing the voters the nodes were started with"),
        "{message}"
    );
}

/// Only the releases before lazy voter resolution keep the initial voters, an
/// unlabelled pod (version unknown) keeps them too, and every version named is one the
/// catalog can run.
#[test]
fn initial_voters_are_kept_while_a_release_resolving_them_at_start_runs() {
    assert_eq!(keeps_initial_voters([Some("0.3.0"), Some("0.3.0")]), None);
    assert_eq!(
        keeps_initial_voters([Some("0.3.0"), Some("0.2.0")]),
        Some("0.2.0".to_owned())
    );
    assert_eq!(
        keeps_initial_voters([Some("0.3.0"), None]),
        Some("unknown".to_owned())
    );
    let catalog = crate::roll::catalog::Catalog::shipped();
    for v in RESOLVE_VOTERS_AT_START {
        assert!(catalog.get(v).is_some_and(|r| r.commit.is_some()), "{v}");
    }
}
