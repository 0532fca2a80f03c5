//! The CRD's CEL rules (`x-kubernetes-validations`), taken from the GENERATED CRD and
//! executed by a real CEL interpreter: every example passes every rule, a spec made to
//! break one rule fails exactly that rule with its message, and the rules agree with
//! the operator's own `validate` on everything the schema lets through.

// Test helpers outside #[test] fns: a failed unwrap is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cel_eval;
mod common;

use proptest::test_runner::{Config, RngSeed, TestRunner};
use serde_json::{Value as Json, json};
use tidewater_operator::crd::KafkaCluster;
use tidewater_operator::crd::crdgen::crd_yaml;
use tidewater_operator::validate::validate;

use cel_eval::{apply_defaults, evaluate, rule_sites};
use common::example_files;

const CONTROLLERS: &str = "spec.controllers must be 0 (combined mode) or an odd number: a Raft quorum of an even size tolerates no more failures than one smaller";
const ZONES: &str =
    "spec.rack.zones lists more zones than there are brokers; some zones would hold no broker";
const RESERVED_PORTS: &str =
    "spec.listeners: ports 9093 (controller) and 9404 (health/metrics) are reserved";
const UNIQUE: &str = "spec.listeners: ports must be unique (names are the list's keys)";
const TLS_AUTH: &str =
    "spec.listeners: authentication type tls (client certificates) needs tls: true";
const OWN_NAMES: &str = "spec.listeners: the names replication, operator and controller are the operator's own listeners";
const SECURED_PORTS: &str = "spec.listeners: with TLS or authentication on, ports 9090 (operator) and 9091 (replication) are reserved";
const CA_WINDOW: &str = "spec.clusterCa / spec.clientsCa: renewalDays must be less than validityDays, or every certificate would be renewed at once";
const CA_SECRET: &str = "spec.clusterCa / spec.clientsCa: generateCertificateAuthority: false needs secretName, the Secret holding ca.crt and ca.key";
// Transition rules (`oldSelf`, issue 12 item 4): run on updates only.
const VOTERS: &str = "spec.controllers cannot change between 0 (combined mode) and dedicated controllers: that changes which nodes vote in the KRaft quorum; the number of dedicated controllers can change, one voter at a time (KIP-853)";
const COMBINED_CROSSING: &str = "in combined mode spec.brokers cannot cross between fewer than 3 and 3 or more: that changes the KRaft voter set (1 or 3 combined voters) and would restart brokers with another role; resize the quorum with dedicated controllers";
const RACK_CHANGE: &str = "spec.rack cannot be added, removed or have its zones changed: existing brokers would change zone and their replicas would lose rack spread";
const STORAGE_CLASS: &str =
    "spec.storage.storageClassName cannot change: existing claims keep their class";

/// One update per transition rule, each breaking only that rule: (old, new) specs
/// patched onto the single-broker example.
fn broken_updates() -> Vec<(&'static str, Json, Json)> {
    vec![
        (
            VOTERS,
            json!({"brokers": 3, "controllers": 3}),
            json!({"brokers": 3, "controllers": 0}),
        ),
        (
            VOTERS,
            json!({"brokers": 3}),
            json!({"brokers": 3, "controllers": 3}),
        ),
        (
            COMBINED_CROSSING,
            json!({"brokers": 1}),
            json!({"brokers": 3}),
        ),
        (
            COMBINED_CROSSING,
            json!({"brokers": 3}),
            json!({"brokers": 2}),
        ),
        (
            RACK_CHANGE,
            json!({"brokers": 4, "rack": {"zones": ["a", "b"]}}),
            json!({"brokers": 4, "rack": {"zones": ["a", "b", "c"]}}),
        ),
        (
            RACK_CHANGE,
            json!({"brokers": 4}),
            json!({"brokers": 4, "rack": {"zones": ["a"]}}),
        ),
        (
            STORAGE_CLASS,
            json!({"storage": {"storageClassName": "fast"}}),
            json!({"storage": {"storageClassName": "slow"}}),
        ),
    ]
}

fn patched(patch: &Json) -> Json {
    let mut o = single_broker();
    for (k, v) in patch.as_object().unwrap() {
        o["spec"][k] = v.clone();
    }
    o
}

#[test]
fn each_broken_update_fails_exactly_its_rule_and_allowed_updates_pass() {
    let schema = schema();
    let run = |old: &Json, new: &Json| {
        let (mut old, mut new) = (patched(old), patched(new));
        apply_defaults(&schema, &mut old);
        apply_defaults(&schema, &mut new);
        evaluate(&schema, &new, Some(&old)).unwrap()
    };
    for (message, old, new) in broken_updates() {
        let messages: Vec<String> = run(&old, &new)
            .violations
            .into_iter()
            .map(|v| v.message)
            .collect();
        assert_eq!(messages, [message], "{old} -> {new}");
    }
    // Scaling within a mode, with dedicated controllers, and unchanged racks pass.
    for (old, new) in [
        (json!({"brokers": 3}), json!({"brokers": 5})),
        (json!({"brokers": 5}), json!({"brokers": 3})),
        (
            json!({"brokers": 1, "controllers": 3}),
            json!({"brokers": 4, "controllers": 3}),
        ),
        // KIP-853: dedicated controllers change one voter at a time.
        (
            json!({"brokers": 3, "controllers": 3}),
            json!({"brokers": 3, "controllers": 5}),
        ),
        (
            json!({"brokers": 3, "controllers": 5}),
            json!({"brokers": 3, "controllers": 1}),
        ),
        (
            json!({"brokers": 3, "rack": {"zones": ["a", "b", "c"]}}),
            json!({"brokers": 5, "rack": {"zones": ["a", "b", "c"]}}),
        ),
    ] {
        let outcome = run(&old, &new);
        assert!(
            outcome.violations.is_empty(),
            "{old} -> {new}: {:?}",
            outcome.violations
        );
        let transitions = rule_sites(&schema)
            .iter()
            .filter(|s| s.rule.contains("oldSelf"))
            .count();
        assert_eq!(
            outcome.evaluated.len(),
            rule_sites(&schema).len(),
            "{old} -> {new}"
        );
        assert_eq!(transitions, 4);
    }
}

fn schema() -> Json {
    let crd: Json = serde_yaml::from_str(&crd_yaml().unwrap()).unwrap();
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone()
}

fn examples() -> Vec<(String, Json)> {
    example_files()
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            (
                p.display().to_string(),
                serde_yaml::from_str(&text).unwrap(),
            )
        })
        .collect()
}

/// `(field, message)` of every violated rule of `object` after defaulting.
fn violations(schema: &Json, object: &Json) -> Vec<(String, String)> {
    let mut object = object.clone();
    apply_defaults(schema, &mut object);
    evaluate(schema, &object, None)
        .unwrap()
        .violations
        .into_iter()
        .map(|v| (v.field, v.message))
        .collect()
}

fn single_broker() -> Json {
    examples()
        .into_iter()
        .find(|(p, _)| p.ends_with("single-broker.yaml"))
        .unwrap()
        .1
}

/// One hand-made spec per rule, each breaking only that rule.
fn broken_specs() -> Vec<(&'static str, &'static str, Json)> {
    let with = |patch: &dyn Fn(&mut Json)| {
        let mut o = single_broker();
        patch(&mut o["spec"]);
        o
    };
    vec![
        ("spec", CONTROLLERS, with(&|s| s["controllers"] = json!(2))),
        (
            "spec",
            ZONES,
            with(&|s| s["rack"] = json!({"zones": ["a", "b"]})),
        ),
        (
            "spec.listeners",
            RESERVED_PORTS,
            with(&|s| s["listeners"] = json!([{"name": "plain", "port": 9404}])),
        ),
        (
            "spec.listeners",
            UNIQUE,
            with(&|s| {
                s["listeners"] = json!([{"name": "a", "port": 9092}, {"name": "b", "port": 9092}])
            }),
        ),
        (
            "spec.listeners",
            TLS_AUTH,
            with(&|s| {
                s["listeners"] =
                    json!([{"name": "a", "port": 9092, "authentication": {"type": "tls"}}])
            }),
        ),
        (
            "spec.listeners",
            OWN_NAMES,
            with(&|s| s["listeners"] = json!([{"name": "operator", "port": 9092}])),
        ),
        (
            "spec.listeners",
            SECURED_PORTS,
            with(&|s| s["listeners"] = json!([{"name": "a", "port": 9091, "tls": true}])),
        ),
        (
            "spec",
            CA_WINDOW,
            with(&|s| s["clientsCa"] = json!({"validityDays": 5, "renewalDays": 5})),
        ),
        (
            "spec",
            CA_SECRET,
            with(&|s| s["clusterCa"] = json!({"generateCertificateAuthority": false})),
        ),
    ]
}

#[test]
fn every_rule_compiles_and_has_a_breaking_case() {
    let schema = schema();
    let sites = rule_sites(&schema);
    let messages: Vec<&str> = sites.iter().map(|s| s.message.as_str()).collect();
    assert_eq!(
        messages,
        [
            CONTROLLERS,
            ZONES,
            VOTERS,
            COMBINED_CROSSING,
            RACK_CHANGE,
            STORAGE_CLASS,
            CA_WINDOW,
            CA_SECRET,
            RESERVED_PORTS,
            UNIQUE,
            TLS_AUTH,
            OWN_NAMES,
            SECURED_PORTS
        ],
        "rules changed: give each new rule a breaking case in broken_specs()"
    );
    for s in &sites {
        assert!(!s.message.is_empty(), "{s:?} has no message");
        cel::Program::compile(&s.rule).unwrap_or_else(|e| panic!("{s:?}: {e}"));
    }
    let covered: Vec<&str> = broken_specs()
        .iter()
        .map(|c| c.1)
        .chain(broken_updates().iter().map(|c| c.0))
        .collect();
    for m in &messages {
        assert!(covered.contains(m), "no breaking case for rule `{m}`");
    }
}

#[test]
fn every_example_passes_every_rule() {
    let schema = schema();
    // Transition rules run on updates only.
    let all = rule_sites(&schema)
        .iter()
        .filter(|s| !s.rule.contains("oldSelf"))
        .count();
    let examples = examples();
    for (path, object) in &examples {
        let mut object = object.clone();
        apply_defaults(&schema, &mut object);
        let outcome = evaluate(&schema, &object, None).unwrap();
        assert!(
            outcome.violations.is_empty(),
            "{path}: {:?}",
            outcome.violations
        );
        // Not vacuous: defaults put a listener (and its tls) in every example, so all
        // rules ran.
        assert_eq!(
            outcome.evaluated.len(),
            all,
            "{path}: {:?}",
            outcome.evaluated
        );
    }
}

#[test]
fn each_broken_spec_fails_exactly_its_rule() {
    let schema = schema();
    for (field, message, object) in broken_specs() {
        assert_eq!(
            violations(&schema, &object),
            [(field.to_owned(), message.to_owned())],
            "spec: {}",
            object["spec"]
        );
        // The operator's own validation rejects it too (the webhook-less safety net).
        let cluster: KafkaCluster = serde_json::from_value(object).unwrap();
        assert!(validate(&cluster).is_err(), "{message}");
    }
}

#[test]
fn boundary_specs_pass() {
    let schema = schema();
    let cases = [
        json!({"controllers": 0}),
        json!({"controllers": 1}),
        json!({"controllers": 9}),
        json!({"brokers": 2, "rack": {"zones": ["a", "b"]}}),
        json!({"listeners": [{"name": "plain", "port": 9094, "tls": false}]}),
        json!({"listeners": [{"name": "a", "port": 9091}, {"name": "b", "port": 9092}]}),
        json!({"listeners": [{"name": "a", "port": 9092, "tls": true, "authentication": {"type": "tls"}}]}),
        json!({"listeners": [{"name": "a", "port": 9092, "authentication": {"type": "scram-sha-512"}}]}),
        json!({"clusterCa": {"validityDays": 2, "renewalDays": 1}, "clientsCa": {"generateCertificateAuthority": false, "secretName": "ca"}}),
    ];
    for patch in cases {
        let mut o = single_broker();
        for (k, v) in patch.as_object().unwrap() {
            o["spec"][k] = v.clone();
        }
        assert_eq!(violations(&schema, &o), [], "{patch}");
    }
}

#[test]
fn transition_rules_see_old_self_only_on_update() {
    let schema = json!({
        "type": "object",
        "properties": {"n": {
            "type": "integer",
            "x-kubernetes-validations": [{"rule": "self >= oldSelf", "message": "n may not shrink"}]
        }}
    });
    let new = json!({"n": 1});
    assert!(evaluate(&schema, &new, None).unwrap().evaluated.is_empty());
    let shrunk = evaluate(&schema, &new, Some(&json!({"n": 2}))).unwrap();
    assert_eq!(shrunk.violations.len(), 1);
    assert_eq!(shrunk.violations[0].message, "n may not shrink");
    let grown = evaluate(&schema, &json!({"n": 3}), Some(&json!({"n": 2}))).unwrap();
    assert!(grown.violations.is_empty());
}

/// Over everything the schema's ranges admit, the CEL rules reject exactly what
/// `validate` rejects for the same fields, so `kubectl apply` and the operator agree.
#[test]
fn cel_rules_agree_with_validate() {
    let seed = std::env::var("TIDEWATER_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0xCE1_u64);
    eprintln!("proptest seed: {seed} (replay with TIDEWATER_TEST_SEED={seed})");
    let mut runner = TestRunner::new(Config {
        rng_seed: RngSeed::Fixed(seed),
        cases: 256,
        failure_persistence: None,
        ..Config::default()
    });
    let schema = schema();
    let strategy = (
        1i32..=100,
        proptest::option::of(0i32..=9),
        proptest::option::of(1usize..=16),
    );
    runner
        .run(&strategy, |(brokers, controllers, zones)| {
            let mut o = single_broker();
            o["spec"]["brokers"] = json!(brokers);
            if let Some(c) = controllers {
                o["spec"]["controllers"] = json!(c);
            }
            if let Some(z) = zones {
                let names: Vec<String> = (0..z).map(|i| format!("zone-{i}")).collect();
                o["spec"]["rack"] = json!({ "zones": names });
            }
            let cel: Vec<String> = violations(&schema, &o).into_iter().map(|v| v.1).collect();
            let cluster: KafkaCluster = serde_json::from_value(o).unwrap();
            let rust: Vec<String> = match validate(&cluster) {
                Ok(_) => vec![],
                Err(e) => e.0.into_iter().map(|f| f.field).collect(),
            };
            let expected_cel: Vec<&str> = [
                (rust.iter().any(|f| f == "spec.controllers"), CONTROLLERS),
                (rust.iter().any(|f| f == "spec.rack.zones"), ZONES),
            ]
            .into_iter()
            .filter_map(|(bad, m)| bad.then_some(m))
            .collect();
            proptest::prop_assert_eq!(&cel, &expected_cel, "validate said {:?}", rust);
            Ok(())
        })
        .unwrap();
}
