//! Kafka 4's dynamic group configs (the GROUP config resource, type 32): the
//! keys of Kafka's `GroupConfig`, their defaults from the broker's
//! `group.consumer.*` / `group.share.*` settings, and the bounds Kafka checks
//! them against. Pure: properties in, a value list or a refusal out.
//!
//! These keys tune KIP-848 consumer groups and KIP-932 share groups. This
//! broker's coordinator runs classic groups, whose session timeouts come from the
//! JoinGroup request bounded by `group.min/max.session.timeout.ms`, so stored
//! group configs are accepted, validated, replicated and described, but change
//! no classic group's behaviour (as in Kafka, where they do not apply to classic
//! groups either).

use std::collections::BTreeMap;

/// Why a set of group configs is refused; the messages are Kafka's
/// (`GroupConfig.validate`), answered as INVALID_CONFIG.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum GroupConfigError {
    #[error("Unknown group config name: {0}")]
    Unknown(String),
    #[error("Invalid value {value} for configuration {key}: Not a number of type INT")]
    NotAnInt { key: &'static str, value: String },
    #[error("Invalid value {value} for configuration {key}: Value must be at least {at_least}")]
    BelowFloor {
        key: &'static str,
        value: i64,
        at_least: i64,
    },
    /// Below the broker key `bound` (e.g. `group.consumer.min.session.timeout.ms`).
    #[error("{key} must be greater than or equal to {bound}")]
    BelowBrokerMin {
        key: &'static str,
        bound: &'static str,
    },
    #[error("{key} must be less than or equal to {bound}")]
    AboveBrokerMax {
        key: &'static str,
        bound: &'static str,
    },
    /// `kind` is `consumer` or `share`.
    #[error("{kind}.heartbeat.interval.ms must be less than {kind}.session.timeout.ms")]
    HeartbeatNotBelowSession { kind: &'static str },
}

/// One group config: its name, the broker key holding its default (and the
/// default's default), and the broker keys bounding it (with their defaults).
struct GroupKey {
    name: &'static str,
    default: (&'static str, i64),
    min: (&'static str, i64),
    max: (&'static str, i64),
    /// Kafka's `ConfigDef` floor, checked before the broker bounds.
    at_least: i64,
}

const KEYS: &[GroupKey] = &[
    GroupKey {
        name: "consumer.heartbeat.interval.ms",
        default: ("group.consumer.heartbeat.interval.ms", 5_000),
        min: ("group.consumer.min.heartbeat.interval.ms", 5_000),
        max: ("group.consumer.max.heartbeat.interval.ms", 15_000),
        at_least: 1,
    },
    GroupKey {
        name: "consumer.session.timeout.ms",
        default: ("group.consumer.session.timeout.ms", 45_000),
        min: ("group.consumer.min.session.timeout.ms", 45_000),
        max: ("group.consumer.max.session.timeout.ms", 60_000),
        at_least: 1,
    },
    GroupKey {
        name: "share.heartbeat.interval.ms",
        default: ("group.share.heartbeat.interval.ms", 5_000),
        min: ("group.share.min.heartbeat.interval.ms", 5_000),
        max: ("group.share.max.heartbeat.interval.ms", 15_000),
        at_least: 1,
    },
    GroupKey {
        name: "share.record.lock.duration.ms",
        default: ("group.share.record.lock.duration.ms", 30_000),
        min: ("group.share.min.record.lock.duration.ms", 15_000),
        max: ("group.share.max.record.lock.duration.ms", 60_000),
        at_least: 1_000,
    },
    GroupKey {
        name: "share.session.timeout.ms",
        default: ("group.share.session.timeout.ms", 45_000),
        min: ("group.share.min.session.timeout.ms", 45_000),
        max: ("group.share.max.session.timeout.ms", 60_000),
        at_least: 1,
    },
];

/// Whether `key` is one of Kafka's group config names.
pub fn is_group_key(key: &str) -> bool {
    KEYS.iter().any(|k| k.name == key)
}

/// A broker-level group setting from `server.properties`, else Kafka's default.
fn broker_value(static_props: &BTreeMap<String, String>, (key, default): (&str, i64)) -> i64 {
    static_props
        .get(key)
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// Every group config with its effective value: the group's own (`true`) or the
/// broker default (`false`), in Kafka's name order.
pub fn group_config_values(
    static_props: &BTreeMap<String, String>,
    overrides: &BTreeMap<String, String>,
) -> Vec<(&'static str, String, bool)> {
    KEYS.iter()
        .map(|k| match overrides.get(k.name) {
            Some(v) => (k.name, v.clone(), true),
            None => (
                k.name,
                broker_value(static_props, k.default).to_string(),
                false,
            ),
        })
        .collect()
}

/// Kafka's `GroupConfig.validate`: known names, integers at least the floor,
/// within the broker's bounds, and each heartbeat interval below its session
/// timeout. The message is Kafka's (answered as INVALID_CONFIG).
pub fn validate_group_configs(
    static_props: &BTreeMap<String, String>,
    configs: &BTreeMap<String, String>,
) -> Result<(), GroupConfigError> {
    if let Some(unknown) = configs.keys().find(|k| !is_group_key(k)) {
        return Err(GroupConfigError::Unknown(unknown.clone()));
    }
    let mut effective = BTreeMap::new();
    for k in KEYS {
        let value = match configs.get(k.name) {
            Some(v) => {
                let n: i32 = v.trim().parse().map_err(|_| GroupConfigError::NotAnInt {
                    key: k.name,
                    value: v.clone(),
                })?;
                let n = i64::from(n);
                if n < k.at_least {
                    return Err(GroupConfigError::BelowFloor {
                        key: k.name,
                        value: n,
                        at_least: k.at_least,
                    });
                }
                n
            }
            None => broker_value(static_props, k.default),
        };
        if value < broker_value(static_props, k.min) {
            return Err(GroupConfigError::BelowBrokerMin {
                key: k.name,
                bound: k.min.0,
            });
        }
        if value > broker_value(static_props, k.max) {
            return Err(GroupConfigError::AboveBrokerMax {
                key: k.name,
                bound: k.max.0,
            });
        }
        effective.insert(k.name, value);
    }
    for kind in ["consumer", "share"] {
        let hb = effective[format!("{kind}.heartbeat.interval.ms").as_str()];
        let session = effective[format!("{kind}.session.timeout.ms").as_str()];
        if hb >= session {
            return Err(GroupConfigError::HeartbeatNotBelowSession { kind });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn bounds_follow_kafka() {
        let none = BTreeMap::new();
        assert_eq!(
            validate_group_configs(&none, &props(&[("consumer.session.timeout.ms", "50000")])),
            Ok(())
        );
        assert_eq!(
            validate_group_configs(&none, &props(&[("consumer.session.timeout.ms", "1000")])),
            Err(GroupConfigError::BelowBrokerMin {
                key: "consumer.session.timeout.ms",
                bound: "group.consumer.min.session.timeout.ms"
            })
        );
        assert_eq!(
            validate_group_configs(&none, &props(&[("consumer.session.timeout.ms", "x")]))
                .unwrap_err()
                .to_string(),
            "Invalid value x for configuration consumer.session.timeout.ms: Not a number of type INT"
        );
        assert_eq!(
            validate_group_configs(&none, &props(&[("consumer.session.timeout.ms", "0")]))
                .unwrap_err()
                .to_string(),
            "Invalid value 0 for configuration consumer.session.timeout.ms: Value must be at least 1"
        );
        assert_eq!(
            validate_group_configs(&none, &props(&[("no.such", "1")])),
            Err(GroupConfigError::Unknown("no.such".into()))
        );
        // A broker that widens the bounds widens what a group may set.
        let wide = props(&[("group.consumer.min.session.timeout.ms", "1000")]);
        assert_eq!(
            validate_group_configs(&wide, &props(&[("consumer.session.timeout.ms", "6000")])),
            Ok(())
        );
        assert!(
            validate_group_configs(&wide, &props(&[("consumer.session.timeout.ms", "5000")]))
                .is_err_and(|e| e.to_string()
                    == "consumer.heartbeat.interval.ms must be less than consumer.session.timeout.ms")
        );
        let values = group_config_values(&none, &props(&[("share.session.timeout.ms", "50000")]));
        assert!(values.contains(&("share.session.timeout.ms", "50000".into(), true)));
        assert!(values.contains(&("consumer.session.timeout.ms", "45000".into(), false)));
    }
}
