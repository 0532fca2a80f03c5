//! The API server's CRD validation, as far as `x-kubernetes-validations` goes: apply the
//! schema's `default`s, then walk the structural schema and the object together and run
//! every CEL rule with `self` bound to the node the rule sits on (and `oldSelf` to the
//! same node of the old object, for transition rules on an update). Values are typed
//! from the schema the way the API server types them (`integer` -> int, `number` ->
//! double), so `self.controllers % 2` is int arithmetic as on a real cluster.
//!
//! Test support only: the CEL implementation is the `cel` crate; what this module owns
//! is where rules apply and what they see.

use std::collections::HashMap;
use std::sync::Arc;

use cel::objects::{Key, Map};
use cel::{Context, Program, Value};
use serde_json::Value as Json;

/// One `x-kubernetes-validations` entry and where it sits.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleSite {
    /// Schema path of the node, e.g. `spec.listeners[*].tls`.
    pub schema_path: String,
    /// The CEL expression.
    pub rule: String,
    /// The message the API server returns when the rule is false.
    pub message: String,
}

/// A rule that evaluated to false for an object.
#[derive(Debug, Clone, PartialEq)]
pub struct Violation {
    /// Field path of the offending value, e.g. `spec.listeners[0].tls`.
    pub field: String,
    /// The rule's message.
    pub message: String,
}

/// What evaluating an object produced.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Rules that were false.
    pub violations: Vec<Violation>,
    /// Rule sites that ran at least once (so a test can prove a rule was not skipped).
    pub evaluated: Vec<String>,
}

/// Every rule of `schema`, in schema order.
pub fn rule_sites(schema: &Json) -> Vec<RuleSite> {
    let mut out = Vec::new();
    collect_rules(schema, "", &mut out);
    out
}

fn collect_rules(schema: &Json, path: &str, out: &mut Vec<RuleSite>) {
    for r in schema["x-kubernetes-validations"]
        .as_array()
        .into_iter()
        .flatten()
    {
        out.push(RuleSite {
            schema_path: path.to_owned(),
            rule: r["rule"].as_str().unwrap_or_default().to_owned(),
            message: r["message"].as_str().unwrap_or_default().to_owned(),
        });
    }
    for (k, v) in schema["properties"].as_object().into_iter().flatten() {
        collect_rules(v, &join(path, k), out);
    }
    if schema["items"].is_object() {
        collect_rules(&schema["items"], &format!("{path}[*]"), out);
    }
    if schema["additionalProperties"].is_object() {
        collect_rules(&schema["additionalProperties"], &format!("{path}[*]"), out);
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// Fills absent properties that have a schema `default`, recursively, as the API server
/// does before validation.
pub fn apply_defaults(schema: &Json, value: &mut Json) {
    if let (Some(props), Some(obj)) = (schema["properties"].as_object(), value.as_object_mut()) {
        for (k, s) in props {
            if !obj.contains_key(k)
                && let Some(d) = s.get("default")
            {
                obj.insert(k.clone(), d.clone());
            }
            if let Some(child) = obj.get_mut(k) {
                apply_defaults(s, child);
            }
        }
    }
    if let Some(items) = value.as_array_mut() {
        for item in items {
            apply_defaults(&schema["items"], item);
        }
    }
}

/// Evaluates every rule of `schema` against `new` (already defaulted). `old` is the
/// stored object on an update; rules that mention `oldSelf` run only where it exists.
/// Errors are rules that do not compile, do not run, or do not return a bool: the API
/// server would refuse such a CRD.
pub fn evaluate(schema: &Json, new: &Json, old: Option<&Json>) -> Result<Outcome, String> {
    let mut out = Outcome::default();
    walk(schema, new, old, "", "", &mut out)?;
    Ok(out)
}

fn walk(
    schema: &Json,
    new: &Json,
    old: Option<&Json>,
    field: &str,
    schema_path: &str,
    out: &mut Outcome,
) -> Result<(), String> {
    if new.is_null() {
        return Ok(());
    }
    for r in schema["x-kubernetes-validations"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let rule = r["rule"].as_str().unwrap_or_default();
        let site = format!("{schema_path}: {rule}");
        let program = Program::compile(rule).map_err(|e| format!("{site}: {e}"))?;
        let transition = program.references().has_variable("oldSelf");
        if transition && old.is_none() {
            continue;
        }
        let mut ctx = Context::default();
        ctx.add_variable_from_value("self", to_cel(schema, new));
        if let Some(old) = old {
            ctx.add_variable_from_value("oldSelf", to_cel(schema, old));
        }
        match program.execute(&ctx) {
            Ok(Value::Bool(true)) => {}
            Ok(Value::Bool(false)) => out.violations.push(Violation {
                field: field.to_owned(),
                message: r["message"].as_str().unwrap_or(rule).to_owned(),
            }),
            Ok(other) => return Err(format!("{site}: returned {other:?}, not a bool")),
            Err(e) => return Err(format!("{site} at {field}: {e:?}")),
        }
        if !out.evaluated.contains(&site) {
            out.evaluated.push(site);
        }
    }
    if let (Some(props), Some(obj)) = (schema["properties"].as_object(), new.as_object()) {
        for (k, s) in props {
            if let Some(child) = obj.get(k) {
                let old_child = old.and_then(|o| o.get(k));
                walk(
                    s,
                    child,
                    old_child,
                    &join(field, k),
                    &join(schema_path, k),
                    out,
                )?;
            }
        }
    }
    if let Some(items) = new.as_array() {
        for (i, item) in items.iter().enumerate() {
            // Kubernetes correlates list items of an old object only for map and set
            // lists; by index is enough for the single-key maps of this CRD.
            let old_item = old.and_then(|o| o.get(i));
            walk(
                &schema["items"],
                item,
                old_item,
                &format!("{field}[{i}]"),
                &format!("{schema_path}[*]"),
                out,
            )?;
        }
    }
    Ok(())
}

/// A JSON value as CEL sees it under `schema`.
pub fn to_cel(schema: &Json, v: &Json) -> Value {
    match v {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => match (schema["type"].as_str(), n.as_i64()) {
            (Some("number"), _) | (_, None) => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
            (_, Some(i)) => Value::Int(i),
        },
        Json::String(s) => Value::String(Arc::new(s.clone())),
        Json::Array(items) => Value::List(Arc::new(
            items.iter().map(|i| to_cel(&schema["items"], i)).collect(),
        )),
        Json::Object(obj) => {
            let map: HashMap<Key, Value> = obj
                .iter()
                .map(|(k, child)| {
                    let s = schema["properties"]
                        .get(k)
                        .unwrap_or(&schema["additionalProperties"]);
                    (Key::String(Arc::new(k.clone())), to_cel(s, child))
                })
                .collect();
            Value::Map(Map { map: Arc::new(map) })
        }
    }
}
