//! Topic and config administration on this broker (the part of Kafka's
//! `DynamicBrokerConfig` that derives log defaults, plus the serialization of admin
//! changes): the broker-wide topic defaults, overlaid with the dynamic broker configs
//! of the metadata image, and the lock that serializes topic create/delete/alter.
//!
//! Owns that state behind this small API; the decisions on a change stay with the
//! controller (see [`crate::kraft`]).

use std::collections::BTreeMap;
use std::sync::{Mutex, RwLock};

use tidewater_storage::LogConfig;
use tracing::warn;

pub struct ConfigAdmin {
    /// Broker-wide topic defaults: static config overlaid with dynamic broker configs.
    log_defaults: RwLock<LogConfig>,
    /// The dynamic broker configs last applied (compared on every image).
    last_dynamic: Mutex<BTreeMap<String, String>>,
    /// Serializes topic create/delete/alter so metadata and logs change together.
    admin_lock: tokio::sync::Mutex<()>,
}

impl ConfigAdmin {
    pub fn new(log_defaults: LogConfig, dynamic: BTreeMap<String, String>) -> Self {
        ConfigAdmin {
            log_defaults: RwLock::new(log_defaults),
            last_dynamic: Mutex::new(dynamic),
            admin_lock: tokio::sync::Mutex::new(()),
        }
    }

    /// The broker-wide default topic config right now.
    pub fn log_defaults(&self) -> LogConfig {
        self.log_defaults
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// A topic's effective config. Overrides were validated when stored; should
    /// one no longer parse (e.g. after an upgrade) the defaults apply and we warn.
    pub fn topic_log_config(&self, overrides: &BTreeMap<String, String>) -> LogConfig {
        let defaults = self.log_defaults();
        defaults
            .with_topic_overrides(overrides)
            .unwrap_or_else(|e| {
                warn!(error = %e, "stored topic config no longer valid; using broker defaults");
                defaults
            })
    }

    /// Held while a topic is created, deleted or altered on this broker.
    pub async fn lock(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.admin_lock.lock().await
    }

    /// Re-derives the log defaults when `dynamic` differs from the configs last
    /// applied; invalid configs keep the previous defaults (and are retried on the
    /// next image).
    pub fn apply_dynamic<E: std::fmt::Display>(
        &self,
        dynamic: BTreeMap<String, String>,
        derive: impl FnOnce(&BTreeMap<String, String>) -> Result<LogConfig, E>,
    ) {
        let mut last = self.last_dynamic.lock().unwrap_or_else(|p| p.into_inner());
        if *last == dynamic {
            return;
        }
        match derive(&dynamic) {
            Ok(defaults) => {
                *self.log_defaults.write().unwrap_or_else(|p| p.into_inner()) = defaults;
                *last = dynamic;
            }
            Err(e) => {
                warn!(error = %e, "dynamic broker configs from the controller are invalid; keeping the previous ones")
            }
        }
    }
}
