//! The committed CRD matches the code (drift), is a structural schema, and is accepted
//! by `kubernetes-validate --strict` as a CustomResourceDefinition.

// Test helpers outside #[test] fns: a failed unwrap is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{crd_path, kubernetes_validate, user_crd_path};
use tidewater_operator::crd::crdgen::{crd_yaml, user_crd_yaml};

/// The committed file at `path` is `generated` (`UPDATE_CRDS=1` rewrites it first).
fn assert_committed(path: &std::path::Path, generated: &str) {
    if std::env::var_os("UPDATE_CRDS").is_some() {
        std::fs::write(path, generated).unwrap();
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == generated,
        "{} is stale; regenerate with \
         `UPDATE_CRDS=1 cargo test -p tidewater-operator --test crd`",
        path.display()
    );
}

#[test]
fn committed_user_crd_matches_the_code() {
    assert_committed(&user_crd_path(), &user_crd_yaml().unwrap());
}

#[test]
fn committed_crd_matches_the_code() {
    assert_committed(&crd_path(), &crd_yaml().unwrap());
}

/// Walks a schema and returns every violation of the structural-schema rules.
fn structural_violations(schema: &serde_json::Value, path: &str, out: &mut Vec<String>) {
    let Some(obj) = schema.as_object() else {
        out.push(format!("{path}: schema is not an object"));
        return;
    };
    let int_or_string = obj.get("x-kubernetes-int-or-string") == Some(&serde_json::json!(true));
    let preserve =
        obj.get("x-kubernetes-preserve-unknown-fields") == Some(&serde_json::json!(true));
    if !obj.contains_key("type") && !int_or_string && !preserve {
        out.push(format!("{path}: no type"));
    }
    if obj.contains_key("properties") && obj.contains_key("additionalProperties") {
        out.push(format!("{path}: both properties and additionalProperties"));
    }
    if preserve && path != "$.spec.config" {
        out.push(format!(
            "{path}: x-kubernetes-preserve-unknown-fields where not intended"
        ));
    }
    for banned in ["$ref", "definitions", "$defs", "oneOf", "allOf"] {
        if obj.contains_key(banned) {
            out.push(format!(
                "{path}: {banned} is not allowed in a structural schema"
            ));
        }
    }
    if let Some(any_of) = obj.get("anyOf") {
        // Only the int-or-string pattern (anyOf integer/string under x-int-or-string).
        if !int_or_string {
            out.push(format!(
                "{path}: anyOf outside x-kubernetes-int-or-string: {any_of}"
            ));
        }
    }
    if let Some(props) = obj.get("properties").and_then(|p| p.as_object()) {
        for (k, v) in props {
            structural_violations(v, &format!("{path}.{k}"), out);
        }
    }
    if let Some(items) = obj.get("items") {
        structural_violations(items, &format!("{path}[]"), out);
    }
    if let Some(ap) = obj.get("additionalProperties").filter(|a| a.is_object()) {
        structural_violations(ap, &format!("{path}{{}}"), out);
    }
}

fn assert_structural(schema: &serde_json::Value) {
    let mut violations = Vec::new();
    structural_violations(schema, "$", &mut violations);
    assert!(
        violations.is_empty(),
        "not structural:\n{}",
        violations.join("\n")
    );
}

#[test]
fn schema_is_structural() {
    let crd: serde_json::Value = serde_yaml::from_str(&crd_yaml().unwrap()).unwrap();
    let versions = crd["spec"]["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 1);
    let schema = &versions[0]["schema"]["openAPIV3Schema"];
    assert_structural(schema);
    // The rule under test must be able to fail: a schema without a type is caught.
    let mut probe = Vec::new();
    structural_violations(
        &serde_json::json!({"properties": {"a": {}}}),
        "$",
        &mut probe,
    );
    assert_eq!(probe.len(), 2, "{probe:?}");
}

#[test]
fn user_crd_is_structural_with_names_and_rules() {
    let crd: serde_json::Value = serde_yaml::from_str(&user_crd_yaml().unwrap()).unwrap();
    assert_eq!(crd["metadata"]["name"], "kafkausers.tidewater.io");
    assert_eq!(crd["spec"]["scope"], "Namespaced");
    assert_eq!(crd["spec"]["names"]["shortNames"][0], "ku");
    let v = &crd["spec"]["versions"][0];
    assert!(v["subresources"]["status"].is_object());
    let schema = &v["schema"]["openAPIV3Schema"];
    assert_structural(schema);
    let spec = &schema["properties"]["spec"];
    let auth = &spec["properties"]["authentication"];
    assert_eq!(
        auth["properties"]["type"]["enum"],
        serde_json::json!(["scram-sha-512", "tls"])
    );
    let rule = auth["x-kubernetes-validations"][0]["rule"]
        .as_str()
        .unwrap();
    assert!(rule.contains("password"), "{rule}");
    let acls = &spec["properties"]["authorization"]["properties"]["acls"];
    // Bounded lists and strings keep the CEL rules within the API server's cost budget.
    assert_eq!(acls["maxItems"].as_u64(), Some(64));
    let resource = &acls["items"]["properties"]["resource"];
    assert_eq!(
        resource["properties"]["name"]["maxLength"].as_u64(),
        Some(249)
    );
    let rule = resource["x-kubernetes-validations"][0]["rule"]
        .as_str()
        .unwrap();
    assert!(rule.contains("cluster"), "{rule}");
    let (ok, text) = kubernetes_validate(&[user_crd_path()], "1.30.0");
    assert!(ok, "{text}");
}

#[test]
fn crd_has_names_columns_and_cel_rules() {
    let crd: serde_json::Value = serde_yaml::from_str(&crd_yaml().unwrap()).unwrap();
    assert_eq!(crd["spec"]["group"], "tidewater.io");
    assert_eq!(crd["spec"]["scope"], "Namespaced");
    assert_eq!(crd["spec"]["names"]["shortNames"][0], "kafka");
    let v = &crd["spec"]["versions"][0];
    assert_eq!(v["name"], "v1alpha1");
    let cols: Vec<&str> = v["additionalPrinterColumns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        cols,
        [
            "Version",
            "Metadata",
            "Upgrade",
            "Brokers",
            "Ready",
            "Reason",
            "Rebalance",
            "Age"
        ]
    );
    assert!(v["subresources"]["status"].is_object());
    let spec = &v["schema"]["openAPIV3Schema"]["properties"]["spec"];
    let rules = spec["x-kubernetes-validations"].as_array().unwrap();
    assert!(
        rules
            .iter()
            .any(|r| r["rule"].as_str().unwrap().contains("controllers"))
    );
    assert_eq!(spec["properties"]["brokers"]["minimum"].as_f64(), Some(1.0));
}

#[test]
fn kubernetes_validate_strict_accepts_the_crd() {
    for version in ["1.30.0", "1.37.0"] {
        let (ok, text) = kubernetes_validate(&[crd_path()], version);
        assert!(ok, "k8s {version}: {text}");
    }
}
