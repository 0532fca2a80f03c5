//! `render` output of every sample passes `kubernetes-validate --strict` for Kubernetes
//! 1.30 and 1.37, and every sample KafkaCluster validates against the CRD's own
//! openAPIV3Schema (python `jsonschema`, which kubernetes-validate depends on).

// Test helpers outside #[test] fns: a failed unwrap is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{crd_path, example_files as examples, kubernetes_validate};

fn render(file: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_tidewater-operator"))
        .args(["render", "-f"])
        .arg(file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "render {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn rendered_objects_pass_kubernetes_validate_strict() {
    let tmp = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for example in examples() {
        let stem = example.file_stem().unwrap().to_string_lossy().to_string();
        let rendered = render(&example);
        let docs: Vec<&str> = rendered
            .split("---\n")
            .filter(|d| !d.trim().is_empty())
            .collect();
        assert!(docs.len() >= 6, "{stem}: {} objects", docs.len());
        for (i, doc) in docs.iter().enumerate() {
            let f = tmp.path().join(format!("{stem}-{i:02}.yaml"));
            std::fs::write(&f, doc).unwrap();
            files.push(f);
        }
    }
    for version in ["1.30.0", "1.37.0"] {
        let (ok, text) = kubernetes_validate(&files, version);
        assert!(ok, "Kubernetes {version}:\n{text}");
    }
    // The check can fail: an unknown field under --strict is refused.
    let bad = tmp.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata: {}\nbogus: 1\n",
    )
    .unwrap();
    assert!(!kubernetes_validate(&[bad], "1.30.0").0);
}

const SCHEMA_CHECK: &str = r#"
import json, sys, yaml, jsonschema
crd = yaml.safe_load(open(sys.argv[1]))
schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
failures = []
for path in sys.argv[2:]:
    doc = yaml.safe_load(open(path))
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(doc), key=str)
    for e in errors:
        failures.append("%s: %s at %s" % (path, e.message, "/".join(map(str, e.path))))
print("\n".join(failures))
sys.exit(1 if failures else 0)
"#;

fn schema_check(files: &[PathBuf]) -> (bool, String) {
    let crd = crd_path();
    let out = Command::new("python3")
        .args(["-c", SCHEMA_CHECK])
        .arg(crd)
        .args(files)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn samples_validate_against_the_crd_schema() {
    let (ok, text) = schema_check(&examples());
    assert!(ok, "{text}");
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "apiVersion: tidewater.io/v1alpha1\nkind: KafkaCluster\nmetadata:\n  name: x\nspec:\n  version: 0.1.0\n  brokers: 0\n  listeners: [{name: plain, port: 9092, type: external}]\n",
    )
    .unwrap();
    let (ok, text) = schema_check(&[bad]);
    assert!(!ok, "an out-of-range broker count must be refused");
    assert!(
        text.contains("brokers") && text.contains("external"),
        "{text}"
    );
}

#[test]
fn render_rejects_invalid_specs_with_the_field() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "apiVersion: tidewater.io/v1alpha1\nkind: KafkaCluster\nmetadata:\n  name: x\nspec:\n  version: 0.1.0\n  brokers: 1\n  config:\n    listeners: PLAINTEXT://:1\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tidewater-operator"))
        .args(["render", "-f"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("spec.config.listeners"), "{err}");
}

#[test]
fn crd_command_prints_the_committed_crd() {
    let out = Command::new(env!("CARGO_BIN_EXE_tidewater-operator"))
        .arg("crd")
        .output()
        .unwrap();
    assert!(out.status.success());
    let committed = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../crds/kafkacluster.yaml"),
    )
    .unwrap();
    assert!(
        String::from_utf8(out.stdout).unwrap() == committed,
        "`tidewater-operator crd` differs from crds/kafkacluster.yaml; regenerate with UPDATE_CRDS=1"
    );
}
