//! Kafka's checks on a set of dynamic broker configs (`DynamicBrokerConfig`):
//! which keys may change at which level, and the type of each value. The
//! refusals carry Kafka's own messages; the AlterConfigs handlers answer them
//! with INVALID_REQUEST, as Kafka's `ConfigAdminManager` does (KAFKA-13609).

use super::keys::{DynamicScope, SECURITY_DYNAMIC, dynamic_broker_scope, listener_base};

/// Why a dynamic broker config change is refused; the messages are Kafka's.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum DynamicConfigError {
    #[error("Cannot update these configs dynamically: {}", scala_set(.0))]
    NotDynamic(Vec<String>),
    #[error(
        "These security configs can be dynamically updated only per-listener using the listener prefix: {}",
        scala_set(.0)
    )]
    NeedsListenerPrefix(Vec<String>),
    #[error(
        "Cannot update these configs at default cluster level, broker id must be specified: {}",
        scala_set(.0)
    )]
    PerBrokerOnly(Vec<String>),
    #[error(
        "Invalid value {value} for configuration {key}: Expected value to be either true or false"
    )]
    NotABoolean { key: String, value: String },
    #[error("Invalid value {value} for configuration {key}: Not a number of type {kind}")]
    NotANumber {
        key: String,
        value: String,
        /// Kafka's `ConfigDef` type: LONG, INT, SHORT or DOUBLE.
        kind: &'static str,
    },
}

/// Key names as Kafka prints a Scala set: `Set(a, b)`.
fn scala_set(keys: &[String]) -> String {
    format!("Set({})", keys.join(", "))
}

/// Why Kafka refuses a set of dynamic broker keys, with its exact message
/// (`DynamicBrokerConfig.validateConfigs`); the caller answers INVALID_REQUEST,
/// as Kafka's `ConfigAdminManager` does (KAFKA-13609).
pub fn refuse_dynamic_broker_keys<'a>(
    keys: impl IntoIterator<Item = &'a str> + Clone,
    per_broker: bool,
) -> Result<(), DynamicConfigError> {
    let names = |keys: Vec<&str>| keys.into_iter().map(String::from).collect();
    let not_dynamic: Vec<&str> = keys
        .clone()
        .into_iter()
        .filter(|k| dynamic_broker_scope(k).is_none())
        .collect();
    if !not_dynamic.is_empty() {
        return Err(DynamicConfigError::NotDynamic(names(not_dynamic)));
    }
    let unprefixed: Vec<&str> = keys
        .clone()
        .into_iter()
        .filter(|k| SECURITY_DYNAMIC.contains(k))
        .collect();
    if !unprefixed.is_empty() {
        return Err(DynamicConfigError::NeedsListenerPrefix(names(unprefixed)));
    }
    if !per_broker {
        let only_per_broker: Vec<&str> = keys
            .into_iter()
            .filter(|k| dynamic_broker_scope(k) == Some(DynamicScope::PerBroker))
            .collect();
        if !only_per_broker.is_empty() {
            return Err(DynamicConfigError::PerBrokerOnly(names(only_per_broker)));
        }
    }
    Ok(())
}

/// Kafka's `ConfigDef` type of the non-log dynamic broker keys that take numbers
/// or booleans (log keys are parsed by the log config itself).
fn dynamic_value_type(key: &str) -> Option<&'static str> {
    let base = listener_base(key).unwrap_or(key);
    Some(match base {
        "sasl.kerberos.min.time.before.relogin"
        | "log.cleaner.dedupe.buffer.size"
        | "log.cleaner.backoff.ms"
        | "leader.replication.throttled.rate"
        | "follower.replication.throttled.rate"
        | "replica.alter.log.dirs.io.max.bytes.per.second"
        | "remote.log.index.file.cache.total.size.bytes"
        | "remote.fetch.max.wait.ms"
        | "remote.log.manager.copy.max.bytes.per.second"
        | "remote.log.manager.fetch.max.bytes.per.second"
        | "remote.list.offsets.request.timeout.ms" => "LONG",
        "log.cleaner.threads"
        | "log.cleaner.io.buffer.size"
        | "num.io.threads"
        | "num.replica.fetchers"
        | "num.recovery.threads.per.data.dir"
        | "background.threads"
        | "max.connections.per.ip"
        | "max.connections"
        | "max.connection.creation.rate"
        | "num.network.threads"
        | "producer.id.expiration.ms" => "INT",
        "sasl.login.refresh.min.period.seconds" | "sasl.login.refresh.buffer.seconds" => "SHORT",
        "sasl.kerberos.ticket.renew.window.factor"
        | "sasl.kerberos.ticket.renew.jitter"
        | "sasl.login.refresh.window.factor"
        | "sasl.login.refresh.window.jitter"
        | "log.cleaner.io.buffer.load.factor"
        | "log.cleaner.io.max.bytes.per.second" => "DOUBLE",
        "transaction.partition.verification.enable" => "BOOLEAN",
        _ => return None,
    })
}

/// Kafka's `validateConfigTypes` for one dynamic broker value, with its message
/// (answered INVALID_REQUEST, as Kafka does).
pub fn check_dynamic_broker_value(key: &str, value: &str) -> Result<(), DynamicConfigError> {
    let Some(kind) = dynamic_value_type(key) else {
        return Ok(());
    };
    let v = value.trim();
    let ok = match kind {
        "LONG" => v.parse::<i64>().is_ok(),
        "INT" => v.parse::<i32>().is_ok(),
        "SHORT" => v.parse::<i16>().is_ok(),
        "DOUBLE" => v.parse::<f64>().is_ok(),
        _ => v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("false"),
    };
    if ok {
        Ok(())
    } else if kind == "BOOLEAN" {
        Err(DynamicConfigError::NotABoolean {
            key: key.to_string(),
            value: value.to_string(),
        })
    } else {
        Err(DynamicConfigError::NotANumber {
            key: key.to_string(),
            value: value.to_string(),
            kind,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_carry_kafkas_messages() {
        let per_broker = ["sasl.kerberos.min.time.before.relogin"];
        assert_eq!(refuse_dynamic_broker_keys(per_broker, true), Ok(()));
        assert_eq!(
            refuse_dynamic_broker_keys(per_broker, false),
            Err(DynamicConfigError::PerBrokerOnly(vec![
                "sasl.kerberos.min.time.before.relogin".into()
            ]))
        );
        assert_eq!(
            refuse_dynamic_broker_keys(["node.id"], true),
            Err(DynamicConfigError::NotDynamic(vec!["node.id".into()]))
        );
        assert!(
            refuse_dynamic_broker_keys(["ssl.keystore.location"], true)
                .is_err_and(|e| e.to_string().contains("only per-listener"))
        );
        assert_eq!(
            refuse_dynamic_broker_keys(["listener.name.internal.ssl.keystore.location"], true),
            Ok(())
        );
        assert_eq!(
            refuse_dynamic_broker_keys(["log.retention.ms", "max.connections"], false),
            Ok(())
        );
        assert_eq!(check_dynamic_broker_value("max.connections", "100"), Ok(()));
        assert_eq!(
            check_dynamic_broker_value("max.connections", "many")
                .unwrap_err()
                .to_string(),
            "Invalid value many for configuration max.connections: Not a number of type INT"
        );
        assert_eq!(
            check_dynamic_broker_value("transaction.partition.verification.enable", "yes")
                .unwrap_err()
                .to_string(),
            "Invalid value yes for configuration transaction.partition.verification.enable: Expected value to be either true or false"
        );
    }
}
