//! The Helm chart `charts/tidewater-operator`, checked with a real Helm.
//!
//! `charts/tests/render_chart.py` runs `helm lint --strict` and `helm template` through
//! helm-python-sdk (Helm's own Go library) and every rendered object through
//! `kubernetes-validate --strict` for Kubernetes 1.30.0 and 1.37.0; it reports findings
//! as JSON and this test decides what must hold: a clean lint, valid objects, the
//! operator's exact permissions and command line, and a CRD copy identical to `crds/`.

// Test helpers outside #[test] fns: a failing setup must fail the test.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use clap::Parser;
use serde_json::{Value, json};
use tidewater_operator::cli::{Cli, Command as OperatorCommand, RunArgs};

const KUBE_VERSIONS: [&str; 2] = ["1.30.0", "1.37.0"];

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn chart_dir() -> PathBuf {
    repo_root().join("charts/tidewater-operator")
}

/// Lints, renders and validates the chart with `values`; returns the script's report.
fn render(values: Value) -> Value {
    let script = repo_root().join("charts/tests/render_chart.py");
    let mut cmd = Command::new("python3");
    cmd.arg(&script)
        .arg(chart_dir())
        .arg(values.to_string())
        .args(KUBE_VERSIONS);
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run python3 {}: {e}", script.display()));
    assert!(
        out.status.success(),
        "{} failed ({}); for missing packages run `pip install -r .ci/requirements.txt`:\n{}",
        script.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Renders `values` and asserts lint is clean and every object validates.
fn render_valid(values: Value) -> Vec<Value> {
    let report = render(values.clone());
    for v in KUBE_VERSIONS {
        let lint = &report["lint"][v];
        assert_eq!(
            lint["messages"],
            json!([]),
            "helm lint --strict (k8s {v}, values {values})"
        );
        assert_eq!(
            lint["errors"],
            json!([]),
            "helm lint --strict (k8s {v}, values {values})"
        );
        let validation = &report["validation"][v];
        assert_eq!(
            validation["ok"],
            json!(true),
            "kubernetes-validate --strict -k {v} (values {values}):\n{}",
            validation["output"].as_str().unwrap_or("")
        );
    }
    assert_eq!(report["render_error"], Value::Null);
    assert_eq!(report["crds"][0]["kind"], "CustomResourceDefinition");
    report["objects"].as_array().unwrap().clone()
}

fn kinds(objects: &[Value]) -> BTreeSet<String> {
    objects
        .iter()
        .map(|o| o["kind"].as_str().unwrap().to_owned())
        .collect()
}

fn find<'a>(objects: &'a [Value], kind: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} rendered"))
}

fn container(objects: &[Value]) -> &Value {
    &find(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]
}

fn args(objects: &[Value]) -> Vec<String> {
    serde_json::from_value(container(objects)["args"].clone()).unwrap()
}

/// The container's command line, parsed by the operator's own CLI definition: the chart
/// must start `tidewater-operator run` with flags the binary accepts.
fn run_args(objects: &[Value]) -> RunArgs {
    let command: Vec<String> =
        serde_json::from_value(container(objects)["command"].clone()).unwrap();
    let argv = command.into_iter().chain(args(objects));
    match Cli::try_parse_from(argv) {
        Ok(Cli {
            command: OperatorCommand::Run(run),
        }) => run,
        Ok(other) => panic!("the chart does not start `run`: {other:?}"),
        Err(err) => panic!("tidewater-operator rejects the chart's arguments:\n{err}"),
    }
}

/// The rules as (apiGroup, resource, sorted verbs), one line per resource.
fn rules(role: &Value) -> BTreeSet<(String, String, Vec<String>)> {
    let mut out = BTreeSet::new();
    for rule in role["rules"].as_array().unwrap() {
        let mut verbs: Vec<String> = serde_json::from_value(rule["verbs"].clone()).unwrap();
        verbs.sort();
        for group in rule["apiGroups"].as_array().unwrap() {
            for res in rule["resources"].as_array().unwrap() {
                let key = (
                    group.as_str().unwrap().to_owned(),
                    res.as_str().unwrap().to_owned(),
                );
                out.insert((key.0, key.1, verbs.clone()));
            }
        }
    }
    out
}

fn rule(group: &str, resource: &str, verbs: &[&str]) -> (String, String, Vec<String>) {
    let mut verbs: Vec<String> = verbs.iter().map(|v| (*v).to_owned()).collect();
    verbs.sort();
    (group.to_owned(), resource.to_owned(), verbs)
}

#[test]
fn chart_crd_is_an_exact_copy_of_the_generated_crd() {
    for file in ["kafkacluster.yaml", "kafkauser.yaml"] {
        let generated = std::fs::read_to_string(repo_root().join("crds").join(file)).unwrap();
        let copy_path = chart_dir().join("crds").join(file);
        // Same convention as the CRD generator's own test: UPDATE_CRDS=1 refreshes the copy.
        if std::env::var_os("UPDATE_CRDS").is_some() {
            std::fs::write(&copy_path, &generated).unwrap();
        }
        let copy = std::fs::read_to_string(&copy_path).unwrap_or_default();
        assert!(
            generated == copy,
            "charts/tidewater-operator/crds/{file} drifted from crds/{file}; \
             run: UPDATE_CRDS=1 cargo test -p tidewater-operator --test helm_chart"
        );
    }
}

#[test]
fn chart_versions_follow_the_crate_version() {
    let chart: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(chart_dir().join("Chart.yaml")).unwrap())
            .unwrap();
    assert_eq!(chart["apiVersion"].as_str(), Some("v2"));
    assert_eq!(
        chart["appVersion"].as_str(),
        Some(env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn default_values_install_one_operator_with_cluster_wide_rules() {
    let objects = render_valid(json!({}));
    let expected: BTreeSet<String> = [
        "ClusterRole",
        "ClusterRoleBinding",
        "Deployment",
        "Service",
        "ServiceAccount",
    ]
    .map(str::to_owned)
    .into();
    assert_eq!(kinds(&objects), expected);

    let deployment = find(&objects, "Deployment");
    assert_eq!(deployment["spec"]["replicas"], 1);
    assert_eq!(args(&objects), ["run", "--metrics-addr", "0.0.0.0:8080"]);
    let run = run_args(&objects);
    assert_eq!(run.metrics_addr.to_string(), "0.0.0.0:8080");
    assert!(!run.leader_election);
    assert_eq!(run.namespace, None);
    let c = container(&objects);
    assert_eq!(c["command"], json!(["tidewater-operator"]));
    assert_eq!(
        c["image"],
        format!(
            "ghcr.io/tidewater-io/tidewater:{}",
            env!("CARGO_PKG_VERSION")
        )
    );
    for (name, field) in [
        ("POD_NAME", "metadata.name"),
        ("POD_NAMESPACE", "metadata.namespace"),
    ] {
        let env = c["env"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name);
        let env = env.unwrap_or_else(|| panic!("{name} not set"));
        assert_eq!(env["valueFrom"]["fieldRef"]["fieldPath"], field);
    }
    assert_eq!(c["ports"][0]["containerPort"], 8080);
    for probe in ["livenessProbe", "readinessProbe"] {
        assert_eq!(c[probe]["httpGet"]["path"], "/healthz", "{probe}");
        assert_eq!(c[probe]["httpGet"]["port"], "metrics", "{probe}");
    }
    let sc = &c["securityContext"];
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]));
    let pod_sc = &deployment["spec"]["template"]["spec"]["securityContext"];
    assert_eq!(pod_sc["runAsNonRoot"], true);

    let sa = find(&objects, "ServiceAccount")["metadata"]["name"].clone();
    assert_eq!(
        deployment["spec"]["template"]["spec"]["serviceAccountName"],
        sa
    );
    let binding = find(&objects, "ClusterRoleBinding");
    assert_eq!(binding["subjects"][0]["name"], sa);
    assert_eq!(binding["subjects"][0]["namespace"], "tidewater-system");
    assert_eq!(
        binding["roleRef"]["name"],
        find(&objects, "ClusterRole")["metadata"]["name"]
    );

    let service = find(&objects, "Service");
    assert_eq!(service["spec"]["ports"][0]["port"], 8080);
    assert_eq!(
        service["spec"]["selector"],
        deployment["spec"]["selector"]["matchLabels"]
    );
}

#[test]
fn cluster_role_grants_exactly_what_the_operator_uses() {
    let objects = render_valid(json!({}));
    let owned = ["get", "list", "watch", "create", "patch", "delete"];
    let expected: BTreeSet<_> = [
        rule(
            "tidewater.io",
            "kafkaclusters",
            &["get", "list", "watch", "patch", "update"],
        ),
        rule(
            "tidewater.io",
            "kafkaclusters/status",
            &["get", "patch", "update"],
        ),
        rule("tidewater.io", "kafkaclusters/finalizers", &["update"]),
        rule(
            "tidewater.io",
            "kafkausers",
            &["get", "list", "watch", "patch", "update"],
        ),
        rule(
            "tidewater.io",
            "kafkausers/status",
            &["get", "patch", "update"],
        ),
        rule("tidewater.io", "kafkausers/finalizers", &["update"]),
        rule("", "pods", &owned),
        rule("", "pods/eviction", &["create"]),
        rule("", "persistentvolumeclaims", &owned),
        rule("", "configmaps", &owned),
        rule("", "services", &owned),
        rule("policy", "poddisruptionbudgets", &owned),
        // Certificates of secured clusters and KafkaUsers' Secrets: read and applied by
        // name, never listed or deleted (garbage-collected through their owner reference).
        rule("", "secrets", &["get", "create", "patch"]),
        rule("", "events", &["create", "patch"]),
        rule("events.k8s.io", "events", &["create", "patch"]),
    ]
    .into();
    assert_eq!(rules(find(&objects, "ClusterRole")), expected);
}

#[test]
fn two_replicas_turn_on_leader_election_with_a_namespaced_lease_role() {
    let objects = render_valid(json!({ "replicas": 2 }));
    assert_eq!(find(&objects, "Deployment")["spec"]["replicas"], 2);
    assert_eq!(
        args(&objects),
        ["run", "--metrics-addr", "0.0.0.0:8080", "--leader-election"]
    );
    assert!(run_args(&objects).leader_election);
    let role = find(&objects, "Role");
    assert_eq!(role["metadata"]["namespace"], "tidewater-system");
    let expected: BTreeSet<_> = [rule(
        "coordination.k8s.io",
        "leases",
        &["get", "create", "update"],
    )]
    .into();
    assert_eq!(rules(role), expected);
    assert_eq!(
        find(&objects, "RoleBinding")["roleRef"]["name"],
        role["metadata"]["name"]
    );
    // One replica needs no Lease, so it gets no permission for one.
    assert!(!kinds(&render_valid(json!({}))).contains("Role"));
}

#[test]
fn a_watch_namespace_gets_a_role_instead_of_a_cluster_role() {
    let objects = render_valid(json!({ "watchNamespace": "team-a", "metrics": { "port": 9100 } }));
    assert!(!kinds(&objects).contains("ClusterRole"));
    let role = find(&objects, "Role");
    assert_eq!(role["metadata"]["namespace"], "team-a");
    assert_eq!(
        find(&objects, "RoleBinding")["metadata"]["namespace"],
        "team-a"
    );
    assert_eq!(
        args(&objects),
        [
            "run",
            "--metrics-addr",
            "0.0.0.0:9100",
            "--namespace",
            "team-a"
        ]
    );
    assert_eq!(container(&objects)["ports"][0]["containerPort"], 9100);
    let run = run_args(&objects);
    assert_eq!(run.namespace.as_deref(), Some("team-a"));
    assert_eq!(run.metrics_addr.port(), 9100);
}

#[test]
fn scheduling_values_reach_the_pod() {
    let objects = render_valid(json!({
        "nodeSelector": { "kubernetes.io/os": "linux" },
        "tolerations": [{ "key": "dedicated", "operator": "Equal", "value": "ops", "effect": "NoSchedule" }],
        "affinity": { "nodeAffinity": { "requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{ "matchExpressions": [
                { "key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"] }
            ]}]
        }}},
        "image": { "tag": "9.9.9", "pullPolicy": "Always", "repository": "registry.local/tw" },
        "serviceAccount": { "create": false, "name": "ops" }
    }));
    let pod = &find(&objects, "Deployment")["spec"]["template"]["spec"];
    assert_eq!(pod["nodeSelector"]["kubernetes.io/os"], "linux");
    assert_eq!(pod["tolerations"][0]["key"], "dedicated");
    assert!(pod["affinity"]["nodeAffinity"].is_object());
    assert_eq!(pod["serviceAccountName"], "ops");
    assert_eq!(container(&objects)["image"], "registry.local/tw:9.9.9");
    assert!(!kinds(&objects).contains("ServiceAccount"));
}

#[test]
fn invalid_values_are_rejected_by_the_schema_with_the_key_named() {
    for (values, needle) in [
        (json!({ "replicas": "two" }), "/replicas"),
        (json!({ "metrics": { "port": 0 } }), "/metrics/port"),
        (json!({ "replica": 2 }), "'replica'"),
        (
            json!({ "image": { "pullPolicy": "Sometimes" } }),
            "/image/pullPolicy",
        ),
        (json!({ "watchNamespace": "Team_A" }), "/watchNamespace"),
    ] {
        let report = render(values.clone());
        for v in KUBE_VERSIONS {
            let errors = report["lint"][v]["errors"].to_string();
            assert!(
                errors.contains(needle),
                "lint of {values} (k8s {v}) must name {needle}: {errors}"
            );
        }
        let render_error = report["render_error"].as_str().unwrap_or("");
        assert!(
            render_error.contains(needle),
            "render of {values}: {render_error}"
        );
    }
}
