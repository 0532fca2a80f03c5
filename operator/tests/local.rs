//! The local runtime end to end: real `tidewater-operator local ...` commands running
//! real `tidewater-broker` processes, checked with real Kafka clients (see
//! `local_cluster`).

// Test helpers outside #[test] fns: a failed unwrap is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod local_cluster;

use std::time::Duration;

use serde_json::Value;
use tidewater_operator::runtime::local::process::is_alive;
use tidewater_operator::status::metadata_version;

use local_cluster::*;

#[test]
fn single_broker_reaches_ready_serves_clients_and_down_leaves_nothing() {
    let mut c = LocalCluster::up(&example("single-broker.yaml"));
    c.wait("Ready", 60);
    let s = c.status();
    assert_eq!(cond(&s, "Degraded"), ("False", "AsExpected"));
    assert_eq!(s["brokers"][0]["ready"], true);
    assert_eq!(s["controller"]["activeId"], 0);
    assert_eq!(s["clusterId"].as_str().unwrap().len(), 22);
    let bootstrap = s["bootstrapServers"].as_str().unwrap().to_owned();
    assert!(bootstrap.starts_with("127.0.0.1:"), "{bootstrap}");
    let out = clients(&bootstrap, "orders", 50, 1);
    assert!(out.contains("consumed 50"), "{out}");
    // status.metadataVersion is what the broker reports in ApiVersions (absent when it
    // reports no finalized metadata.version).
    assert_eq!(
        s.get("metadataVersion").and_then(Value::as_str),
        metadata_version(&finalized_features(&bootstrap)).as_deref(),
        "{s}"
    );
    let pids = broker_pids(&s);
    assert_eq!(pids.len(), 1);
    c.down();
    for pid in pids {
        assert!(!is_alive(pid), "broker pid {pid} survived local down");
    }
    let after: Value =
        serde_yaml::from_str(&std::fs::read_to_string(c.state.path().join("status.yaml")).unwrap())
            .unwrap();
    assert_eq!(cond(&after, "Ready"), ("False", "Stopped"));
    // Logs are kept per broker.
    let log = std::fs::read_to_string(c.state.path().join("single/broker-0/broker.log")).unwrap();
    assert!(log.contains("shutdown"), "{log}");
}

#[test]
fn kill_9_of_a_broker_is_degraded_then_restarted_to_ready() {
    let c = LocalCluster::up(&example("single-broker.yaml"));
    c.wait("Ready", 60);
    let before = broker_pids(&c.status());
    kill_9(before[0]);
    let degraded = c.wait_until("Degraded=True", Duration::from_secs(20), |s| {
        cond(s, "Degraded").0 == "True"
    });
    assert_eq!(cond(&degraded, "Degraded").1, "BrokerCrashed");
    assert_eq!(cond(&degraded, "Ready").0, "False");
    let back = c.wait_until("Ready again", Duration::from_secs(60), |s| {
        cond(s, "Ready").0 == "True" && cond(s, "Degraded").0 == "False"
    });
    let after = broker_pids(&back);
    assert_ne!(before, after, "the broker must run as a new process");
    assert!(
        c.events().contains("BrokerCrashed") && c.events().contains("BrokerRestarted"),
        "{}",
        c.events()
    );
}

#[test]
fn invalid_spec_changes_nothing_and_says_why() {
    let c = LocalCluster::up(&example("single-broker.yaml"));
    c.wait("Ready", 60);
    let pids = broker_pids(&c.status());
    let props = c.state.path().join("single/broker-0/server.properties");
    let config_before = std::fs::read_to_string(&props).unwrap();
    let spec = std::fs::read_to_string(example("single-broker.yaml")).unwrap();
    let bad = spec.replace("num.partitions: 1", "num.partitions: 1\n    node.id: 7");
    assert!(c.apply(&bad).status.success());
    let s = c.wait_until("InvalidSpec", Duration::from_secs(20), |s| {
        cond(s, "Degraded").1 == "InvalidSpec"
    });
    let message = s["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["type"] == "Degraded")
        .unwrap()["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(message.contains("spec.config.node.id"), "{message}");
    assert_eq!(s["observedGeneration"], 2);
    // Nothing changed: same process, same config, still serving.
    assert_eq!(broker_pids(&s), pids);
    assert_eq!(std::fs::read_to_string(&props).unwrap(), config_before);
    assert_eq!(cond(&s, "Ready").0, "True");
    // The last valid spec stays in force: a crashed broker is still restarted.
    kill_9(pids[0]);
    c.wait_until(
        "restarted under an invalid spec",
        Duration::from_secs(60),
        |s| {
            let now = broker_pids(s);
            cond(s, "Ready").0 == "True" && !now.is_empty() && now != pids
        },
    );
    assert_eq!(std::fs::read_to_string(&props).unwrap(), config_before);
    // Fixing the spec clears Degraded.
    assert!(c.apply(&spec).status.success());
    c.wait_until("recovered", Duration::from_secs(20), |s| {
        cond(s, "Degraded").0 == "False" && cond(s, "Ready").0 == "True"
    });
}

/// One random base64 cluster id in 64 begins with '-'; `format` took it for a flag
/// (a flaky CI failure: "StartFailed ... For more information, try '--help'").
#[test]
fn a_cluster_id_that_begins_with_a_dash_formats_and_runs() {
    let state = tempfile::tempdir().unwrap();
    let id = "-AbCdEfGhIjKlMnOpQrStU";
    std::fs::write(
        state.path().join("state.json"),
        serde_json::json!({"cluster_id": id, "ports": {}}).to_string(),
    )
    .unwrap();
    let c = LocalCluster::up_in(state, &example("single-broker.yaml"), &[]);
    c.wait("Ready", 60);
    let s = c.status();
    assert_eq!(s["clusterId"], id, "{s}");
}

#[test]
fn a_config_change_restarts_the_broker_with_the_new_config() {
    let c = LocalCluster::up(&example("single-broker.yaml"));
    c.wait("Ready", 60);
    let pids = broker_pids(&c.status());
    let spec = std::fs::read_to_string(example("single-broker.yaml")).unwrap();
    let changed = spec.replace("num.partitions: 1", "num.partitions: 4");
    let out = c.apply(&changed);
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("kafkacluster.tidewater.io/single configured")
    );
    let s = c.wait_until("restarted", Duration::from_secs(60), |s| {
        cond(s, "Ready").0 == "True" && broker_pids(s) != pids && !broker_pids(s).is_empty()
    });
    assert_eq!(s["observedGeneration"], 2);
    let props =
        std::fs::read_to_string(c.state.path().join("single/broker-0/server.properties")).unwrap();
    assert!(props.contains("num.partitions=4"), "{props}");
    assert!(c.events().contains("NodeRestarting"), "{}", c.events());
}

#[test]
fn a_broker_that_cannot_start_is_degraded_with_its_error_and_unknown_versions_are_refused() {
    // `--broker-bin` replaces this build's broker: `false` fails `format` at once.
    let c = LocalCluster::up_with(
        &example("single-broker.yaml"),
        &["--broker-bin", "0.3.0=/bin/false"],
    );
    let s = c.wait_until("StartFailed", Duration::from_secs(20), |s| {
        cond(s, "Degraded").1 == "StartFailed"
    });
    assert_eq!(cond(&s, "Ready").0, "False");
    assert!(
        c.events().contains("Warning StartFailed node 0"),
        "{}",
        c.events()
    );
    let spec = std::fs::read_to_string(example("single-broker.yaml")).unwrap();
    assert!(
        c.apply(&spec.replace("version: 0.3.0", "version: 9.9.9"))
            .status
            .success()
    );
    // A version the operator's catalog does not list (issue 11): nothing restarted.
    let s = c.wait_until("UnknownVersion", Duration::from_secs(20), |s| {
        cond(s, "Degraded").1 == "UnknownVersion"
    });
    let text = s.to_string();
    assert!(
        text.contains("spec.version 9.9.9 is not a version this operator can run"),
        "{text}"
    );
}

#[test]
fn a_new_up_after_sigkill_adopts_the_running_broker_and_keeps_ports() {
    let mut first = LocalCluster::up(&example("single-broker.yaml"));
    first.wait("Ready", 60);
    let s = first.status();
    let orphan = broker_pids(&s)[0];
    // SIGKILL skips every cleanup: the broker outlives `up`.
    first.up.kill().unwrap();
    first.up.wait().unwrap();
    assert!(is_alive(orphan));
    let state = std::mem::replace(&mut first.state, tempfile::tempdir().unwrap());
    let file = example("single-broker.yaml");
    let mut second = LocalCluster::up_in(state, &file, &[]);
    // The new `up` takes the running broker over, as a kubelet keeps its pods across
    // its own restart: same pid, no restart.
    let adopted = format!("adopted running broker pid {orphan}");
    second.wait_until("adopted broker ready", Duration::from_secs(60), |n| {
        second.events().contains(&adopted) && cond(n, "Ready").0 == "True"
    });
    // Clients go through the adopted broker while the new `up` reconciles.
    let bootstrap = s["bootstrapServers"].as_str().unwrap();
    clients(bootstrap, "adopted", 100, 1);
    let n = second.status();
    assert_eq!(
        broker_pids(&n),
        [orphan],
        "the adopted broker was restarted"
    );
    let events = second.events();
    let since_restart = events.rsplit("Starting local up").next().unwrap();
    assert!(
        !since_restart.contains("NodeCreated") && !since_restart.contains("NodeRestarting"),
        "{events}"
    );
    assert_eq!(
        n["bootstrapServers"], s["bootstrapServers"],
        "ports are kept"
    );
    // And `local down` stops an adopted broker too. It is not `up`'s child: init reaps
    // it, so its pid may linger a moment as a zombie.
    second.down();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while is_alive(orphan) {
        assert!(
            std::time::Instant::now() < deadline,
            "the adopted broker {orphan} survived local down"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn cli_errors_are_clear() {
    let state = tempfile::tempdir().unwrap();
    let dir = state.path().to_str().unwrap();
    let out = run(&["local", "status", "--state-dir", dir]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no status yet"));
    let out = run(&[
        "local",
        "status",
        "--state-dir",
        dir,
        "--wait",
        "Ready",
        "--timeout",
        "0",
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("timed out"));
    let bad = state.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n",
    )
    .unwrap();
    let out = run(&[
        "local",
        "up",
        "-f",
        bad.to_str().unwrap(),
        "--state-dir",
        dir,
    ]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("expected apiVersion tidewater.io/v1alpha1 kind KafkaCluster")
    );
    let out = run(&["local", "down", "--state-dir", dir]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("no local cluster is running"));
}

#[test]
fn three_brokers_over_three_zones_place_rf3_replicas_in_three_racks() {
    let _slot = multi_node_slot();
    let mut c = LocalCluster::up(&example("three-zones.yaml"));
    c.wait("Ready", 90);
    let s = c.status();
    let racks: Vec<&str> = s["brokers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["rack"].as_str().unwrap())
        .collect();
    assert_eq!(racks, ["zone-a", "zone-b", "zone-c"]);
    let bootstrap = s["bootstrapServers"].as_str().unwrap().to_owned();
    assert_eq!(bootstrap.split(',').count(), 3);
    let out = clients(&bootstrap, "replicated", 100, 3);
    let partitions: Vec<&str> = out.lines().filter(|l| l.starts_with("partition")).collect();
    assert_eq!(partitions.len(), 3, "{out}");
    for line in partitions {
        assert!(
            line.ends_with("racks ['zone-a', 'zone-b', 'zone-c']"),
            "{line}"
        );
    }
    let pids = broker_pids(&s);
    kill_9(pids[1]);
    c.wait_until("Degraded", Duration::from_secs(20), |s| {
        cond(s, "Degraded").0 == "True"
    });
    c.wait_until("Ready again", Duration::from_secs(90), |s| {
        cond(s, "Ready").0 == "True"
    });
    c.down();
    for pid in broker_pids(&s) {
        assert!(!is_alive(pid));
    }
}

#[test]
fn dedicated_controllers_form_the_quorum_and_survive_losing_the_active_one() {
    let _slot = multi_node_slot();
    let mut c = LocalCluster::up(&example("dedicated-controllers.yaml"));
    c.wait("Ready", 90);
    let s = c.status();
    let ids: Vec<i64> = s["brokers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [0, 1, 2, 1000, 1001, 1002]);
    let active = s["controller"]["activeId"].as_i64().unwrap();
    assert!(
        (1000..=1002).contains(&active),
        "active controller {active}"
    );
    // Clients reach brokers only: the controllers serve no client listener.
    let bootstrap = s["bootstrapServers"].as_str().unwrap().to_owned();
    assert_eq!(bootstrap.split(',').count(), 3, "{bootstrap}");
    assert_eq!(
        s.get("metadataVersion").and_then(Value::as_str),
        metadata_version(&finalized_features(&bootstrap)).as_deref(),
        "{s}"
    );
    // Losing the active controller: the operator restarts it and the quorum (led by
    // whichever voter wins the next election) serves the cluster again.
    let pids = broker_pids(&s);
    let index = ids.iter().position(|id| *id == active).unwrap();
    kill_9(pids[index]);
    c.wait_until("Degraded", Duration::from_secs(20), |s| {
        cond(s, "Degraded").0 == "True"
    });
    let back = c.wait_until("Ready again", Duration::from_secs(90), |s| {
        cond(s, "Ready").0 == "True" && cond(s, "Degraded").0 == "False"
    });
    let restarted = broker_pids(&back);
    assert_eq!(restarted.len(), 6);
    assert_ne!(
        restarted[index], pids[index],
        "the dead controller runs again"
    );
    let leader = back["controller"]["activeId"].as_i64().unwrap();
    assert!(
        (1000..=1002).contains(&leader),
        "active controller {leader}"
    );
    c.down();
    for pid in pids.into_iter().chain(restarted) {
        assert!(!is_alive(pid), "node pid {pid} survived local down");
    }
}

#[test]
fn clients_work_against_dedicated_controllers() {
    let _slot = multi_node_slot();
    let c = LocalCluster::up(&example("dedicated-controllers.yaml"));
    c.wait("Ready", 90);
    let bootstrap = c.status()["bootstrapServers"].as_str().unwrap().to_owned();
    let out = clients(&bootstrap, "replicated", 100, 3);
    assert!(out.contains("consumed 100"), "{out}");
    let partitions: Vec<&str> = out.lines().filter(|l| l.starts_with("partition")).collect();
    assert_eq!(partitions.len(), 3, "{out}");
    for line in partitions {
        assert!(
            line.ends_with("racks ['eu-west-1a', 'eu-west-1b', 'eu-west-1c']"),
            "{line}"
        );
    }
}

/// The roll that moves a secured cluster's `OPERATOR` listener from PLAINTEXT to SSL:
/// a broker still serving its admin listener in plaintext (it has not rolled) is
/// reached with the operator's mTLS access only through `plaintext_until_rolled`, and
/// refused without it (a broker on its current config is never in that set).
#[test]
fn the_operators_mtls_access_reaches_a_plaintext_broker_only_while_it_has_not_rolled() {
    use tidewater_operator::identity::{self, AdminAccess};
    use tidewater_operator::pki::{self, Validity};

    let c = LocalCluster::up(&example("single-broker.yaml"));
    c.wait("Ready", 60);
    let bootstrap = c.status()["bootstrapServers"].as_str().unwrap().to_owned();
    let v = Validity {
        days: 1,
        renewal_days: 0,
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let ca = pki::generate_ca("test cluster-ca", v, now).unwrap();
    let leaf = identity::issue_operator_cert(&ca, v, now).unwrap();
    let mtls = AdminAccess::mtls(&leaf, &ca.cert).unwrap();
    let config = tidewater_client::ClientConfig {
        connect_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(5),
        ..tidewater_client::ClientConfig::default()
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let refused = tidewater_operator::admin::connect(&bootstrap, &mtls, config.clone()).await;
        assert!(refused.is_err(), "mTLS reached a plaintext listener");
        let stale = mtls
            .clone()
            .with_plaintext_until_rolled([bootstrap.clone()].into());
        let admin = tidewater_operator::admin::connect(&bootstrap, &stale, config)
            .await
            .expect("the broker that has not rolled, in plaintext");
        let md = admin.metadata(None).await.unwrap();
        assert_eq!(md.brokers.len(), 1);
    });
}
