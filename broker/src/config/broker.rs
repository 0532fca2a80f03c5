//! [`BrokerConfig`]: the validated, typed view of `server.properties` with
//! Kafka's defaults filled in.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use tidewater_storage::{LogConfig, LogManagerConfig};
use tracing::warn;

use super::authorizer::{AuthorizerSettings, authorizer_settings};
use super::keys::is_known_broker_key;
use super::kraft::{KraftConfig, kraft_config};
use super::listeners::{Listener, advertised_listeners, broker_listeners};
use super::properties::Props;
use super::replica::{ReplicaSettings, replica_settings};
use super::security_protocol::{SecurityProtocol, inter_broker_listener_name};
use super::{ConfigError, parse_properties};

/// Everything the broker reads from its config, validated.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    pub node_id: i32,
    /// Listeners this broker binds (controller-only listeners removed).
    pub listeners: Vec<Listener>,
    /// What Metadata tells clients, by listener name; defaults to `listeners`.
    pub advertised_listeners: Vec<Listener>,
    pub log_dirs: Vec<PathBuf>,
    pub num_partitions: i32,
    pub default_replication_factor: i16,
    pub auto_create_topics_enable: bool,
    pub delete_topic_enable: bool,
    pub message_max_bytes: i32,
    pub socket_request_max_bytes: i32,
    pub group_initial_rebalance_delay_ms: u64,
    pub group_min_session_timeout_ms: i32,
    pub group_max_session_timeout_ms: i32,
    pub group_max_size: i32,
    /// KIP-848 consumer groups: `group.consumer.session.timeout.ms`,
    /// `group.consumer.heartbeat.interval.ms` (told to members) and `group.consumer.max.size`.
    pub group_consumer_session_timeout_ms: i32,
    pub group_consumer_heartbeat_interval_ms: i32,
    pub group_consumer_max_size: i32,
    pub offsets_topic_replication_factor: i16,
    pub offsets_topic_num_partitions: i32,
    pub offsets_topic_segment_bytes: i64,
    pub offsets_retention_minutes: i64,
    /// `offsets.commit.timeout.ms`: how long an OffsetCommit (or group metadata
    /// write) waits for `__consumer_offsets` replication before it fails.
    pub offsets_commit_timeout_ms: i32,
    /// Cap on open client connections (`max.connections`).
    pub max_connections: usize,
    /// `connections.max.idle.ms`: a connection with no request for this long is
    /// closed, as Kafka's selector expires idle channels; `None` (-1) never.
    pub connections_max_idle: Option<std::time::Duration>,
    /// Cap on request bytes read but not yet answered, across all connections.
    pub queued_max_request_bytes: usize,
    /// Broker-side cap on one Fetch response (`fetch.max.bytes`).
    pub fetch_max_bytes: i32,
    /// KIP-227 session cache size (`max.incremental.fetch.session.cache.slots`).
    pub fetch_session_cache_slots: usize,
    pub log_retention_check_interval_ms: u64,
    pub log_flush_scheduler_interval_ms: u64,
    pub num_recovery_threads_per_data_dir: usize,
    /// `/metrics`, `/healthz`, `/readyz` (`tidewater.http.listener`).
    pub http_listener: SocketAddr,
    /// Off by default: refuse user topic names with '.' or a leading '_'.
    pub topic_naming_policy_enable: bool,
    /// The file's keys and values (after `--override`s), for DescribeConfigs and
    /// for re-deriving log defaults when dynamic broker configs change.
    pub static_props: BTreeMap<String, String>,
    /// KRaft roles and quorum (a one-voter combined node without `process.roles`).
    pub kraft: KraftConfig,
    /// `broker.rack`.
    pub broker_rack: Option<String>,
    /// `inter.broker.listener.name` (or the listener named after
    /// `security.inter.broker.protocol`): the listener followers fetch from.
    pub inter_broker_listener_name: String,
    /// Every listener's security protocol (controller listeners included), from
    /// `listener.security.protocol.map`.
    pub listener_security_protocols: BTreeMap<String, SecurityProtocol>,
    pub replica: ReplicaSettings,
    /// ACL authorization (`authorizer.class.name`); `None`: every request allowed.
    pub authorizer: Option<AuthorizerSettings>,
}

impl BrokerConfig {
    /// Reads `path`, applies `overrides` (`key=value`) and validates.
    pub fn load(path: &Path, overrides: &[String]) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut props = parse_properties(&text);
        for o in overrides {
            let (k, v) = o
                .split_once('=')
                .ok_or_else(|| ConfigError::Override(o.clone()))?;
            if k.trim().is_empty() {
                return Err(ConfigError::Override(o.clone()));
            }
            props.insert(k.trim().to_string(), v.trim().to_string());
        }
        Self::from_props(props)
    }

    /// Validates a parsed key/value map. Unknown keys are logged, not refused.
    pub fn from_props(props: BTreeMap<String, String>) -> Result<Self, ConfigError> {
        for key in props.keys().filter(|k| !is_known_broker_key(k)) {
            warn!(key = %key, "unknown config key ignored");
        }
        let p = Props(&props);
        let node_id = match (p.get("node.id"), p.get("broker.id")) {
            (Some(_), _) => p.int::<i32>("node.id", 0, 0, i32::MAX)?,
            (None, Some(_)) => p.int::<i32>("broker.id", 0, 0, i32::MAX)?,
            (None, None) => {
                return Err(ConfigError::Missing {
                    key: "node.id".into(),
                });
            }
        };
        let kraft = kraft_config(&p, node_id)?;
        let controller_only = !kraft.roles.broker;
        let (listeners, listener_security_protocols) =
            broker_listeners(&p, &kraft.controller_listener_names, controller_only)?;
        let inter_broker_listener_name = inter_broker_listener_name(&p)?;
        let advertised_listeners = advertised_listeners(&p, &listeners)?;
        let log_dirs: Vec<PathBuf> = p
            .get("log.dirs")
            .or_else(|| p.get("log.dir"))
            .unwrap_or("/tmp/kafka-logs")
            .split(',')
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .collect();
        if log_dirs.is_empty() {
            return Err(ConfigError::Invalid {
                key: "log.dirs".into(),
                value: String::new(),
                reason: "at least one log directory is required".into(),
            });
        }
        let http_listener = match p.get("tidewater.http.listener") {
            None => SocketAddr::from(([0, 0, 0, 0], 9404)),
            Some(v) => v.parse().map_err(|_| ConfigError::Invalid {
                key: "tidewater.http.listener".into(),
                value: v.into(),
                reason: "expected host:port with an IP address, e.g. 0.0.0.0:9404".into(),
            })?,
        };
        let queued = p.int::<i64>("queued.max.request.bytes", -1, -1, i64::MAX)?;
        let socket_request_max_bytes =
            p.int("socket.request.max.bytes", 104_857_600, 1, i32::MAX)?;
        let min_session = p.int("group.min.session.timeout.ms", 6000, 0, i32::MAX)?;
        let max_session = p.int("group.max.session.timeout.ms", 1_800_000, 0, i32::MAX)?;
        if min_session > max_session {
            return Err(ConfigError::Invalid {
                key: "group.min.session.timeout.ms".into(),
                value: min_session.to_string(),
                reason: "must not exceed group.max.session.timeout.ms".into(),
            });
        }
        let offsets_rf = p.int::<i16>("offsets.topic.replication.factor", 3, 1, i16::MAX)?;
        // Kafka's default is 3; only an explicit setting deserves a warning.
        if kraft.single_node
            && offsets_rf > 1
            && p.get("offsets.topic.replication.factor").is_some()
        {
            warn!(
                configured = offsets_rf,
                "offsets.topic.replication.factor exceeds the number of brokers (1); using 1"
            );
        }
        let default_rf = p.int::<i16>("default.replication.factor", 1, 1, i16::MAX)?;
        let config = BrokerConfig {
            node_id,
            listeners,
            advertised_listeners,
            log_dirs,
            num_partitions: p.int("num.partitions", 1, 1, i32::MAX)?,
            default_replication_factor: default_rf,
            auto_create_topics_enable: p.bool("auto.create.topics.enable", true)?,
            delete_topic_enable: p.bool("delete.topic.enable", true)?,
            message_max_bytes: p.int("message.max.bytes", 1_048_588, 0, i32::MAX)?,
            socket_request_max_bytes,
            group_initial_rebalance_delay_ms: p.int(
                "group.initial.rebalance.delay.ms",
                3000,
                0,
                u64::MAX,
            )?,
            group_min_session_timeout_ms: min_session,
            group_max_session_timeout_ms: max_session,
            group_max_size: p.int("group.max.size", i32::MAX, 1, i32::MAX)?,
            group_consumer_session_timeout_ms: p.int(
                "group.consumer.session.timeout.ms",
                45_000,
                1,
                i32::MAX,
            )?,
            group_consumer_heartbeat_interval_ms: p.int(
                "group.consumer.heartbeat.interval.ms",
                5_000,
                1,
                i32::MAX,
            )?,
            group_consumer_max_size: p.int("group.consumer.max.size", i32::MAX, 1, i32::MAX)?,
            offsets_topic_replication_factor: if kraft.single_node { 1 } else { offsets_rf },
            offsets_topic_num_partitions: p.int("offsets.topic.num.partitions", 50, 1, i32::MAX)?,
            offsets_topic_segment_bytes: p.int(
                "offsets.topic.segment.bytes",
                104_857_600,
                1,
                i64::MAX,
            )?,
            offsets_retention_minutes: p.int("offsets.retention.minutes", 10080, 1, i64::MAX)?,
            offsets_commit_timeout_ms: p.int("offsets.commit.timeout.ms", 5000, 1, i32::MAX)?,
            max_connections: p.int("max.connections", i32::MAX as usize, 1, i32::MAX as usize)?,
            connections_max_idle: match p.int::<i64>(
                "connections.max.idle.ms",
                600_000,
                -1,
                i64::MAX,
            )? {
                -1 => None,
                0 => {
                    return Err(ConfigError::Invalid {
                        key: "connections.max.idle.ms".into(),
                        value: "0".into(),
                        reason: "must be positive, or -1 to never close idle connections".into(),
                    });
                }
                ms => Some(std::time::Duration::from_millis(ms.unsigned_abs())),
            },
            queued_max_request_bytes: if queued <= 0 {
                // Kafka's -1 means "bounded by queued.max.requests"; we bound bytes
                // directly, generously enough for several maximal requests.
                (socket_request_max_bytes as usize)
                    .saturating_mul(4)
                    .max(256 << 20)
            } else {
                usize::try_from(queued).unwrap_or(usize::MAX)
            },
            fetch_max_bytes: p.int("fetch.max.bytes", 57_671_680, 1024, i32::MAX)?,
            fetch_session_cache_slots: p.int(
                "max.incremental.fetch.session.cache.slots",
                1000,
                0,
                usize::MAX,
            )?,
            log_retention_check_interval_ms: p.int(
                "log.retention.check.interval.ms",
                300_000,
                1,
                u64::MAX,
            )?,
            log_flush_scheduler_interval_ms: p.int(
                "log.flush.scheduler.interval.ms",
                i64::MAX as u64,
                1,
                u64::MAX,
            )?,
            num_recovery_threads_per_data_dir: p.int(
                "num.recovery.threads.per.data.dir",
                1,
                1,
                1024,
            )?,
            http_listener,
            topic_naming_policy_enable: p.bool("tidewater.topic.naming.policy.enable", false)?,
            static_props: props.clone(),
            broker_rack: p
                .get("broker.rack")
                .filter(|r| !r.is_empty())
                .map(str::to_string),
            inter_broker_listener_name,
            listener_security_protocols,
            replica: replica_settings(&p)?,
            authorizer: authorizer_settings(&p)?,
            kraft,
        };
        // Validate the log defaults now so a bad value refuses to start.
        config.log_defaults(&BTreeMap::new())?;
        Ok(config)
    }

    /// The broker-wide default topic config: static props overlaid with the
    /// dynamic broker configs (`dynamic` wins, as in Kafka).
    pub fn log_defaults(
        &self,
        dynamic: &BTreeMap<String, String>,
    ) -> Result<LogConfig, ConfigError> {
        let mut merged = self.static_props.clone();
        merged.extend(dynamic.iter().map(|(k, v)| (k.clone(), v.clone())));
        Ok(LogConfig::from_broker_props(&merged)?)
    }

    /// `max.connections` with the dynamic broker configs applied. A dynamic value was
    /// checked when it was stored; one that no longer parses leaves the static value.
    pub fn max_connections_with(&self, dynamic: &BTreeMap<String, String>) -> usize {
        dynamic
            .get("max.connections")
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(self.max_connections)
    }

    /// The storage layer's config for `LogManager::open`.
    pub fn log_manager_config(
        &self,
        dynamic: &BTreeMap<String, String>,
    ) -> Result<LogManagerConfig, ConfigError> {
        Ok(LogManagerConfig {
            log_dirs: self.log_dirs.clone(),
            default_config: self.log_defaults(dynamic)?,
            retention_check_interval_ms: self.log_retention_check_interval_ms,
            flush_check_interval_ms: self.log_flush_scheduler_interval_ms,
            recovery_threads: self.num_recovery_threads_per_data_dir,
        })
    }

    /// The security protocol of listener `name` (PLAINTEXT for one not configured:
    /// the fallback listeners `advertised` picks are always configured).
    pub fn security_protocol(&self, name: &str) -> SecurityProtocol {
        self.listener_security_protocols
            .get(name)
            .copied()
            .unwrap_or(SecurityProtocol::Plaintext)
    }

    /// The advertised listener with `name`, falling back to the first one.
    pub fn advertised(&self, name: &str) -> Option<&Listener> {
        self.advertised_listeners
            .iter()
            .find(|l| l.name == name)
            .or_else(|| self.advertised_listeners.first())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn kafka_defaults_apply() {
        let c = BrokerConfig::from_props(props(&[
            ("node.id", "1"),
            ("listeners", "PLAINTEXT://127.0.0.1:0"),
        ]))
        .unwrap();
        assert_eq!(c.num_partitions, 1);
        assert!(c.auto_create_topics_enable);
        assert_eq!(c.message_max_bytes, 1_048_588);
        assert_eq!(c.socket_request_max_bytes, 104_857_600);
        assert_eq!(c.group_initial_rebalance_delay_ms, 3000);
        assert_eq!(c.offsets_topic_num_partitions, 50);
        assert_eq!(c.offsets_retention_minutes, 10080);
        assert_eq!(c.offsets_commit_timeout_ms, 5000);
        assert_eq!(c.log_dirs, vec![PathBuf::from("/tmp/kafka-logs")]);
        assert_eq!(c.http_listener.port(), 9404);
        assert_eq!(c.advertised_listeners, c.listeners);
        assert!(!c.topic_naming_policy_enable);
        assert_eq!(
            c.connections_max_idle,
            Some(std::time::Duration::from_secs(600))
        );
        let never = |v| {
            BrokerConfig::from_props(props(&[("node.id", "1"), ("connections.max.idle.ms", v)]))
                .map(|c| c.connections_max_idle)
        };
        assert_eq!(never("-1").unwrap(), None);
    }

    #[test]
    fn invalid_values_name_key_and_reason() {
        let cases = [
            ("num.partitions", "0", "between"),
            ("num.partitions", "x", "integer"),
            ("auto.create.topics.enable", "yes", "true or false"),
            ("tidewater.http.listener", "nope", "host:port"),
            ("log.retention.ms", "soon", "log.retention.ms"),
            ("connections.max.idle.ms", "0", "-1 to never"),
            ("connections.max.idle.ms", "-2", "between"),
        ];
        for (key, value, reason) in cases {
            let err = BrokerConfig::from_props(props(&[("node.id", "1"), (key, value)]))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(key) && err.contains(reason),
                "{key}={value}: {err}"
            );
        }
        let err = BrokerConfig::from_props(props(&[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("node.id"), "{err}");
    }

    #[test]
    fn controller_listeners_are_skipped_and_every_protocol_mapped() {
        let c = BrokerConfig::from_props(props(&[
            ("node.id", "1"),
            (
                "listeners",
                "PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093",
            ),
            ("controller.listener.names", "CONTROLLER"),
            (
                "listener.security.protocol.map",
                "PLAINTEXT:PLAINTEXT,CONTROLLER:SSL",
            ),
        ]))
        .unwrap();
        assert_eq!(c.listeners.len(), 1);
        assert_eq!(c.security_protocol("CONTROLLER"), SecurityProtocol::Ssl);
        let c = BrokerConfig::from_props(props(&[
            ("node.id", "1"),
            (
                "listeners",
                "SSL://127.0.0.1:9093,INTERNAL://127.0.0.1:9094",
            ),
            (
                "listener.security.protocol.map",
                "SSL:SSL,INTERNAL:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT",
            ),
            ("security.inter.broker.protocol", "SSL"),
        ]))
        .unwrap();
        assert_eq!(c.security_protocol("SSL"), SecurityProtocol::Ssl);
        assert_eq!(
            c.security_protocol("INTERNAL"),
            SecurityProtocol::SaslPlaintext
        );
        assert_eq!(c.inter_broker_listener_name, "SSL");
        let err = BrokerConfig::from_props(props(&[
            ("node.id", "1"),
            ("listeners", "INTERNAL://127.0.0.1:9093"),
        ]))
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("listener.security.protocol.map") && err.contains("INTERNAL"),
            "{err}"
        );
        let err = BrokerConfig::from_props(props(&[
            ("node.id", "1"),
            ("listeners", "PLAINTEXT://0.0.0.0:9092"),
        ]))
        .unwrap_err()
        .to_string();
        assert!(err.contains("advertised.listeners"), "{err}");
    }

    #[test]
    fn overrides_win_over_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.properties");
        std::fs::write(
            &path,
            "node.id=1\nnum.partitions=3\nlisteners=PLAINTEXT://127.0.0.1:0\n",
        )
        .unwrap();
        let c = BrokerConfig::load(&path, &["num.partitions=7".into()]).unwrap();
        assert_eq!(c.num_partitions, 7);
        assert!(BrokerConfig::load(&path, &["oops".into()]).is_err());
    }
}
