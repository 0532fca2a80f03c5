use super::*;
use crate::build::kraft_rules;
use crate::identity::AdminAccess;
use crate::observed::{AdminError, AdminSnapshot};
use crate::test_support::{example, examples};

/// Admin view of no cluster: these tests start no broker, so it is never asked.
struct NoAdmin;

impl AdminSource for NoAdmin {
    async fn snapshot(
        &self,
        _bootstrap: &[String],
        _access: &AdminAccess,
    ) -> Result<AdminSnapshot, AdminError> {
        Err(AdminError::Unreachable("no broker in this test".to_owned()))
    }
}

/// A runtime on a fresh state dir that has allocated ports for every node of `c`
/// (what the first reconcile's `observe` does), and the properties it would write.
async fn rendered(
    state: &tempfile::TempDir,
    c: &ValidatedCluster,
) -> (LocalRuntime<NoAdmin>, Vec<BTreeMap<String, String>>) {
    let mut rt = LocalRuntime::new(
        StateDir::open(state.path()).unwrap(),
        BTreeMap::new(),
        NoAdmin,
    )
    .await
    .unwrap();
    let observed = rt.observe(c).await.unwrap();
    assert!(observed.nodes.is_empty() && observed.admin.is_none());
    let props = c.nodes.iter().map(|n| rt.properties_map(c, n)).collect();
    (rt, props)
}

#[tokio::test]
async fn every_example_renders_kraft_configs_kafka_accepts() {
    for (name, c) in examples() {
        let state = tempfile::tempdir().unwrap();
        let (_, props) = rendered(&state, &c).await;
        let broken = kraft_rules::violations(&props, true);
        assert!(broken.is_empty(), "{name}: {broken:#?}");
    }
}

#[tokio::test]
async fn dedicated_controllers_bind_only_their_controller_listener() {
    let c = example("dedicated-controllers.yaml");
    let state = tempfile::tempdir().unwrap();
    let (rt, props) = rendered(&state, &c).await;
    let ports = &rt.persisted.ports;
    let by_id = |id: i32| {
        let i = c.nodes.iter().position(|n| n.id == id).unwrap();
        &props[i]
    };
    let voters = "1000@127.0.0.1:{1000},1001@127.0.0.1:{1001},1002@127.0.0.1:{1002}"
        .replace("{1000}", &ports[&1000].controller.to_string())
        .replace("{1001}", &ports[&1001].controller.to_string())
        .replace("{1002}", &ports[&1002].controller.to_string());
    let ids: Vec<i32> = c.nodes.iter().map(|n| n.id).collect();
    assert_eq!(ids, [0, 1, 2, 1000, 1001, 1002]);
    for id in [1000, 1001, 1002] {
        let p = by_id(id);
        let port = &ports[&id];
        assert_eq!(p["node.id"], id.to_string());
        assert_eq!(p["process.roles"], "controller");
        assert_eq!(p["controller.quorum.voters"], voters);
        assert_eq!(p["controller.listener.names"], "CONTROLLER");
        assert_eq!(
            p["listeners"],
            format!("CONTROLLER://127.0.0.1:{}", port.controller)
        );
        assert_eq!(
            p["tidewater.http.listener"],
            format!("127.0.0.1:{}", port.http)
        );
        let data = state.path().join(format!("big/broker-{id}/data"));
        assert_eq!(p["log.dirs"], data.display().to_string());
        for absent in ["advertised.listeners", "inter.broker.listener.name"] {
            assert!(!p.contains_key(absent), "node {id} sets {absent}");
        }
    }
    for id in [0, 1, 2] {
        let p = by_id(id);
        let port = &ports[&id];
        assert_eq!(p["process.roles"], "broker");
        assert_eq!(p["controller.quorum.voters"], voters);
        assert_eq!(p["controller.listener.names"], "CONTROLLER");
        assert_eq!(
            p["listeners"],
            format!("PLAINTEXT://127.0.0.1:{}", port.client)
        );
        assert_eq!(
            p["advertised.listeners"],
            format!("PLAINTEXT://127.0.0.1:{}", port.client)
        );
        assert!(
            p["listener.security.protocol.map"].contains("CONTROLLER:"),
            "a broker must know how to reach the controllers"
        );
    }
    // Clients bootstrap from brokers only, never from a controller's ports.
    let bootstrap = rt.bootstrap_servers(&c);
    assert_eq!(bootstrap.split(',').count(), 3, "{bootstrap}");
    for id in [1000, 1001, 1002] {
        assert!(!bootstrap.contains(&format!(":{}", ports[&id].client)));
    }
}

#[tokio::test]
async fn ports_survive_a_new_runtime_on_the_same_state_dir() {
    let c = example("dedicated-controllers.yaml");
    let state = tempfile::tempdir().unwrap();
    let (_, first) = rendered(&state, &c).await;
    let (_, second) = rendered(&state, &c).await;
    // Same voters and listeners: a restarted `local up` does not re-form the quorum.
    assert_eq!(first, second);
}

/// KIP-853: with more controllers in the spec than the quorum was formed with, every
/// node keeps the initial voters (so no revision changes and nothing restarts), and the
/// new controllers join through `controller.quorum.bootstrap.servers` as non-voters.
#[tokio::test]
async fn a_joining_controller_keeps_the_initial_voters_and_nothing_restarts() {
    let three = example("dedicated-controllers.yaml");
    let state = tempfile::tempdir().unwrap();
    let (mut rt, before) = rendered(&state, &three).await;
    for (n, p) in three.nodes.iter().zip(&before) {
        let dir = state.path().join(format!("big/broker-{}", n.id));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("server.properties"), properties_text(p)).unwrap();
    }
    // Revisions of the nodes as started (no seed adopted yet, as before KIP-853).
    let old_revisions = rt.desired_revisions(&three);
    // The voters unchanged: once the seed is adopted, every node's config is still
    // exactly the one it was started with (a crash restart rewrites nothing).
    let same = rt.adopt(three.clone());
    assert!(same.quorum_seed.is_some());
    for (n, p) in same.nodes.iter().zip(&before) {
        assert_eq!(&rt.properties_map(&same, n), p, "node {}", n.id);
    }
    let mut five = three.clone();
    five.nodes.extend((1003..1005).map(|id| NodeSpec {
        id,
        role: crate::validate::Role::Controller,
        rack: None,
    }));
    rt.observe(&five).await.unwrap();
    let five = rt.adopt(five);
    let seed = five.quorum_seed.clone().expect("adopted");
    assert_eq!(seed.keys().copied().collect::<Vec<_>>(), [1000, 1001, 1002]);
    let props: Vec<_> = five
        .nodes
        .iter()
        .map(|n| rt.properties_map(&five, n))
        .collect();
    let broken = kraft_rules::violations(&props, true);
    assert!(broken.is_empty(), "{broken:#?}");
    let voters = &before[0]["controller.quorum.voters"];
    for p in &props {
        assert_eq!(&p["controller.quorum.voters"], voters);
        assert_eq!(
            p["controller.quorum.bootstrap.servers"].split(',').count(),
            5,
            "{p:?}"
        );
    }
    let revisions = rt.desired_revisions(&five);
    for (id, rev) in &old_revisions {
        assert_eq!(revisions.get(id), Some(rev), "node {id} would restart");
    }
}
