//! Broker configuration: `server.properties` parsing, validation against Kafka's
//! names and defaults, and the dynamic broker configs layered on top.
//!
//! Owns the meaning of every broker key. It does no IO beyond reading the file it
//! is given and never exits the process: invalid values come back as
//! [`ConfigError`] naming the key and the reason.

mod authorizer;
mod broker;
mod dynamic_checks;
mod group;
mod keys;
mod kraft;
mod listeners;
mod properties;
mod replica;
mod security_protocol;

pub use authorizer::{AuthorizerSettings, STANDARD_AUTHORIZER};
pub use broker::BrokerConfig;
pub use dynamic_checks::{
    DynamicConfigError, check_dynamic_broker_value, refuse_dynamic_broker_keys,
};
pub use group::{GroupConfigError, group_config_values, is_group_key, validate_group_configs};
pub use keys::{
    DynamicScope, broker_key_for_topic_key, broker_synonyms_for_topic_key, dynamic_broker_scope,
    is_dynamic_broker_key, is_known_broker_key, is_sensitive_broker_key,
};
pub use kraft::{KraftConfig, Roles, Voter, parse_voters};
pub use listeners::{Listener, parse_listeners};
pub use properties::parse_properties;
pub use replica::ReplicaSettings;
pub use security_protocol::{SecurityProtocol, parse_protocol_map};

use std::path::PathBuf;

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("missing required config `{key}`")]
    Missing { key: String },
    #[error("invalid value `{value}` for config `{key}`: {reason}")]
    Invalid {
        key: String,
        value: String,
        reason: String,
    },
    #[error("invalid --override `{0}`: expected key=value")]
    Override(String),
    #[error("invalid log config: {0}")]
    Log(#[from] tidewater_storage::ConfigError),
}
