//! Command-line behaviour that needs no cluster: help text names every command the
//! chart and the README use, and `run` without any Kubernetes config fails with a clear
//! message instead of hanging.

// Test helpers outside #[test] fns: a failed unwrap is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

fn operator() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tidewater-operator"))
}

#[test]
fn help_lists_the_commands_and_run_flags() {
    let out = operator().arg("--help").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for cmd in ["crd", "render", "run", "local"] {
        assert!(text.contains(cmd), "{text}");
    }
    let out = operator().args(["run", "--help"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--metrics-addr",
        "--leader-election",
        "--namespace",
        "POD_NAMESPACE",
        "POD_NAME",
    ] {
        assert!(text.contains(flag), "{text}");
    }
    let out = operator().args(["local", "up", "--help"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("--broker-bin"));
    let out = operator()
        .args([
            "local",
            "up",
            "-f",
            "x",
            "--state-dir",
            "y",
            "--broker-bin",
            "nonsense",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("expected VERSION=PATH"));
}

#[test]
fn run_without_kubernetes_config_fails_clearly() {
    let home = tempfile::tempdir().unwrap();
    let out = operator()
        .args(["run", "--metrics-addr", "127.0.0.1:0"])
        .env("HOME", home.path())
        .env("KUBECONFIG", home.path().join("missing"))
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env_remove("KUBERNETES_SERVICE_PORT")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("error: connecting to Kubernetes"), "{err}");
}
