//! A broker's life with the controller: register (rack, listeners, supported
//! `metadata.version` range), heartbeat every `broker.heartbeat.interval.ms`, ask to
//! be unfenced once the local image has caught up with the registration, and on
//! SIGTERM a controlled shutdown that moves leaderships away before the process stops.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tidewater_quorum::controller::{BrokerHeartbeat, BrokerRegistrationRequest, HeartbeatReply};
use tidewater_quorum::image::METADATA_VERSION;
use tidewater_quorum::records::Listener;
use tidewater_quorum::rpc::{ControllerCall, ControllerFailure, ControllerReply};
use tokio::sync::watch;
use tracing::{info, warn};

use super::{Cluster, declared_metadata_version};

/// How long a broker whose leaderships moved stays up, still listed in Metadata, before
/// it completes its controlled shutdown: time for its clients to get
/// NOT_LEADER_OR_FOLLOWER from it and fetch the new leaders (a produce retry backoff
/// plus a Metadata round trip).
const CLIENT_HANDOFF: Duration = Duration::from_millis(300);
/// How long a controlled shutdown waits for its image to show the leaderships the
/// controller moved before it heartbeats again.
const MOVE_WAIT: Duration = Duration::from_millis(200);
use crate::config::BrokerConfig;

/// Why this broker could not register with the controller.
#[derive(Debug, thiserror::Error)]
pub enum RegistrationError {
    /// Refused for good (e.g. the finalized metadata.version is outside our range).
    #[error("the controller refused this broker's registration: {0}")]
    Refused(ControllerFailure),
    #[error("the controller answered a registration with {0}")]
    UnexpectedReply(String),
}

/// Error codes after which registering again cannot help (a clear startup error).
const UNSUPPORTED_VERSION: i16 = 35;
const INCONSISTENT_CLUSTER_ID: i16 = 104;
/// Heartbeat refusals after which the broker registers again.
const STALE_BROKER_EPOCH: i16 = 77;
const BROKER_ID_NOT_REGISTERED: i16 = 102;
const UNKNOWN_SERVER_ERROR: i16 = -1;

impl Cluster {
    /// Registers this broker, retrying until a controller answers. Fails only when the
    /// controller refuses for good (e.g. the finalized metadata.version is outside our
    /// supported range).
    pub async fn register(&self, config: &BrokerConfig) -> Result<i64, RegistrationError> {
        let listeners: Vec<Listener> = config
            .advertised_listeners
            .iter()
            .map(|l| Listener {
                name: l.name.clone(),
                host: l.host.clone(),
                port: l.port,
                security_protocol: "PLAINTEXT".into(),
            })
            .collect();
        let request = BrokerRegistrationRequest {
            broker_id: self.node_id,
            incarnation_id: self.incarnation_id,
            rack: config.broker_rack.clone(),
            listeners,
            features: std::iter::once((
                METADATA_VERSION.to_string(),
                declared_metadata_version(&self.config),
            ))
            .chain(crate::handlers::update_features::supported_features())
            .collect(),
        };
        let mut attempt = 0u32;
        loop {
            match self
                .call(ControllerCall::RegisterBroker(request.clone()))
                .await
            {
                Ok(ControllerReply::BrokerEpoch(epoch)) => {
                    self.broker_epoch.store(epoch, Ordering::Release);
                    info!(
                        broker = self.node_id,
                        epoch, "registered with the controller"
                    );
                    return Ok(epoch);
                }
                Ok(other) => return Err(RegistrationError::UnexpectedReply(format!("{other:?}"))),
                Err(f) if matches!(f.error_code, UNSUPPORTED_VERSION | INCONSISTENT_CLUSTER_ID) => {
                    return Err(RegistrationError::Refused(f));
                }
                Err(f) => {
                    attempt += 1;
                    if attempt % 10 == 1 {
                        warn!(error = %f.message, code = f.error_code, "broker registration failed; retrying");
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    }

    /// One heartbeat. `want_fence` stays true until our image holds our own
    /// registration (so we never lead with a stale view of the cluster).
    pub async fn heartbeat(
        &self,
        want_shutdown: bool,
    ) -> Result<HeartbeatReply, ControllerFailure> {
        let epoch = self.broker_epoch();
        let caught_up = self
            .image
            .borrow()
            .brokers
            .get(&self.node_id)
            .is_some_and(|b| b.broker_epoch == epoch);
        let hb = BrokerHeartbeat {
            broker_id: self.node_id,
            broker_epoch: epoch,
            want_fence: !caught_up && !want_shutdown,
            want_shutdown,
        };
        match self.call(ControllerCall::Heartbeat(hb)).await? {
            ControllerReply::Heartbeat(reply) => Ok(reply),
            other => Err(ControllerFailure::new(
                UNKNOWN_SERVER_ERROR,
                format!("unexpected heartbeat reply {other:?}"),
            )),
        }
    }

    /// Heartbeats until `stop` turns true; re-registers when the controller no longer
    /// knows our epoch (e.g. after being fenced and unregistered).
    pub async fn run_heartbeats(
        self: Arc<Self>,
        config: BrokerConfig,
        mut stop: watch::Receiver<bool>,
    ) {
        let interval = Duration::from_millis(self.config.broker_heartbeat_interval_ms);
        let mut fast = true;
        loop {
            // Until unfenced, beat faster so the broker joins quickly.
            let wait = if fast {
                interval.min(Duration::from_millis(100))
            } else {
                interval
            };
            tokio::select! {
                _ = stop.changed() => return,
                _ = tokio::time::sleep(wait) => {}
            }
            if *stop.borrow() {
                return;
            }
            match self.heartbeat(false).await {
                Ok(reply) => fast = reply.is_fenced,
                Err(f) if matches!(f.error_code, STALE_BROKER_EPOCH | BROKER_ID_NOT_REGISTERED) => {
                    warn!(error = %f, "registration lost; registering again");
                    if let Err(e) = self.register(&config).await {
                        warn!(error = %e, "re-registration refused");
                    }
                }
                Err(f) => warn!(error = %f, "heartbeat failed"),
            }
        }
    }

    /// Returns once this broker's metadata image names it the leader of no partition.
    async fn until_leading_nothing(&self) {
        let mut image = self.image.clone();
        let id = self.node_id;
        let _ = image
            .wait_for(|i| i.partitions().all(|p| p.leader != id))
            .await;
    }

    /// Controlled shutdown: asks the controller to move this broker's leaderships away
    /// and waits (bounded) until it says the broker may stop.
    pub async fn controlled_shutdown(&self, timeout: Duration) {
        if self.broker_epoch() < 0 {
            return;
        }
        let deadline = tokio::time::Instant::now() + timeout;
        info!(
            broker = self.node_id,
            "controlled shutdown: moving leaderships away"
        );
        let mut handed_off = false;
        while tokio::time::Instant::now() < deadline {
            match self.heartbeat(true).await {
                Ok(reply) if reply.should_shutdown => {
                    info!("controlled shutdown complete");
                    return;
                }
                Ok(_) => {}
                Err(e) => warn!(error = %e, "controlled shutdown heartbeat failed"),
            }
            // The controller committed the moves before replying; this broker's image
            // has them a few ms later. Not moved by then (no other replica could lead
            // yet): ask again at once, the controller retries the moves on each beat.
            let moved = tokio::time::timeout(MOVE_WAIT, self.until_leading_nothing())
                .await
                .is_ok();
            if !moved {
                continue;
            }
            // Moved, handed off, and still not told to stop (e.g. the controller is
            // failing over): beat again soon, without spinning.
            let mut wait = Duration::from_millis(50);
            if !handed_off {
                // The leaderships moved and this broker is still listed: its clients
                // get NOT_LEADER_OR_FOLLOWER here and learn the new leaders while it
                // is up. Completing at once would drop it from Metadata in the same
                // refresh, which librdkafka answers by parking the partitions it had
                // here until its next 1 s leader scan.
                handed_off = true;
                wait = CLIENT_HANDOFF;
                info!(
                    handoff_ms = wait.as_millis() as u64,
                    "controlled shutdown: leaderships moved; handing clients off"
                );
            }
            tokio::time::sleep(
                wait.min(deadline.saturating_duration_since(tokio::time::Instant::now())),
            )
            .await;
        }
        warn!("controlled shutdown did not complete within {timeout:?}; stopping anyway");
    }
}
