//! Helpers shared by the operator's test binaries that check files rather than run
//! clusters: the shipped examples, the committed CRD, and `kubernetes-validate`.

// Test helpers outside #[test] fns: a failed unwrap is a test failure. Each test binary
// uses only some of them.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::path::PathBuf;
use std::process::Command;

/// `crds/kafkacluster.yaml`, the committed CRD.
pub fn crd_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../crds/kafkacluster.yaml")
}

/// `crds/kafkauser.yaml`, the committed KafkaUser CRD.
pub fn user_crd_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../crds/kafkauser.yaml")
}

/// Every `operator/examples/*.yaml`, sorted.
pub fn example_files() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 4, "expected four samples in {}", dir.display());
    files
}

/// `kubernetes-validate --strict` of `files` for Kubernetes `version`: whether all
/// passed, and its output.
pub fn kubernetes_validate(files: &[PathBuf], version: &str) -> (bool, String) {
    let out = Command::new("kubernetes-validate")
        .args(["--strict", "--kubernetes-version", version])
        .args(files)
        .output()
        .expect("kubernetes-validate is installed by .ci/test (pip)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (
        out.status.success() && !text.contains("ERROR") && !text.contains("INVALID"),
        text,
    )
}
