//! The IO half of fencing on the connection-close signal (the decisions are in
//! `controller::sessions`): heartbeats arriving on a listener connection, that
//! connection closing, and TCP probes of brokers' listeners.
//!
//! Two probes, two standards of proof:
//! - a broker whose last heartbeat connection closed is fenced unless its listener
//!   still accepts a connection: the close already says something happened, and a
//!   live process accepts even when it is too busy to answer (the kernel completes the
//!   handshake), so a refused or unanswered probe confirms it;
//! - a broker this controller has no heartbeat connection from (after a controller
//!   failover, one that died with the old controller never connects) is fenced only
//!   when its listener refuses connections: a probe that times out (a silent network)
//!   decides nothing, and the session timeout applies.

use std::io;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::net::TcpStream;

use super::{ControllerShared, records_only};
use crate::controller::{BrokerHeartbeat, Decision};
use crate::records::Listener;
use crate::rpc::{ControllerFailure, ControllerReply};

/// How long a probe's connect may take; a silent host is no evidence.
const PROBE_TIMEOUT: Duration = Duration::from_millis(500);

impl ControllerShared {
    /// A heartbeat that arrived on listener connection `connection`; once it succeeds,
    /// that connection's close fences the broker.
    pub(crate) async fn heartbeat_on_connection(
        &self,
        hb: BrokerHeartbeat,
        connection: u64,
    ) -> Result<ControllerReply, ControllerFailure> {
        self.refuse_unless_leader()?;
        self.decide(|c, image, now| {
            let decision = c.heartbeat(image, &hb, now)?;
            c.session_connection_opened(hb.broker_id, hb.broker_epoch, connection);
            Ok(Decision {
                records: decision.records,
                reply: ControllerReply::Heartbeat(decision.reply),
            })
        })
        .await
        .map_err(|e| self.failure(e))
    }

    /// Listener connection `connection`, which carried heartbeats, closed: when it was
    /// its broker's last one, the broker is fenced unless its listener still accepts.
    pub(crate) async fn connection_closed(&self, connection: u64) {
        if self.refuse_unless_leader().is_err() {
            return;
        }
        let lost = self
            .decide(|c, image, _| {
                let reply =
                    c.session_connection_closed(image, connection)
                        .and_then(|(id, epoch)| {
                            let listeners = image.brokers.get(&id)?.listeners.clone();
                            Some((id, epoch, listeners))
                        });
                Ok(Decision {
                    records: Vec::new(),
                    reply,
                })
            })
            .await;
        let Ok(Some((id, epoch, listeners))) = lost else {
            return;
        };
        if probe(&listeners).await == Probe::Accepted {
            self.closes_of_live_brokers.fetch_add(1, Ordering::Relaxed);
            tracing::info!(
                broker = id,
                connection,
                "a heartbeat connection closed but the broker's listener accepts: not fencing"
            );
            return;
        }
        let fence = records_only(|c, image, now| {
            Ok(c.broker_unreachable(
                image,
                id,
                epoch,
                now,
                "heartbeat connection closed and the listener does not accept",
            ))
        });
        if let Err(e) = self.decide(fence).await {
            tracing::warn!(error = %e, connection, "fencing on a closed connection failed");
        }
    }

    /// Probes the listeners of active brokers without a heartbeat connection and
    /// fences those whose listener refuses connections.
    pub(crate) async fn probe_brokers_without_session(&self) {
        let lacking = self
            .decide(|c, image, _| {
                let reply: Vec<(i32, i64, Vec<Listener>)> = c
                    .brokers_without_session(image)
                    .into_iter()
                    .filter_map(|(id, epoch)| {
                        let listeners = image.brokers.get(&id)?.listeners.clone();
                        Some((id, epoch, listeners))
                    })
                    .collect();
                Ok(Decision {
                    records: Vec::new(),
                    reply,
                })
            })
            .await;
        let Ok(lacking) = lacking else { return };
        let probes = lacking
            .into_iter()
            .map(|(id, epoch, listeners)| async move { (id, epoch, probe(&listeners).await) });
        for (id, epoch, probed) in join_all(probes).await {
            if probed != Probe::Refused {
                continue;
            }
            let fence = records_only(|c, image, now| {
                Ok(c.broker_unreachable(image, id, epoch, now, "listener refuses connections"))
            });
            if let Err(e) = self.decide(fence).await {
                tracing::debug!(error = %e, broker = id, "fencing an unreachable broker failed");
            }
        }
    }
}

/// Runs every probe concurrently (a handful of brokers; no extra dependency).
async fn join_all<F: std::future::Future + Send + 'static>(
    futures: impl IntoIterator<Item = F>,
) -> Vec<F::Output>
where
    F::Output: Send + 'static,
{
    let mut set = tokio::task::JoinSet::new();
    for f in futures {
        set.spawn(f);
    }
    let mut out = Vec::new();
    while let Some(done) = set.join_next().await {
        if let Ok(result) = done {
            out.push(result);
        }
    }
    out
}

/// What connecting to a broker's first listener came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Probe {
    /// The connection was accepted: the process is there.
    Accepted,
    /// Actively refused: nothing listens, the process is gone.
    Refused,
    /// No answer within [`PROBE_TIMEOUT`], a name that does not resolve, or no
    /// listener registered.
    Silent,
}

/// Connects to the broker's first listener once.
async fn probe(listeners: &[Listener]) -> Probe {
    let Some(listener) = listeners.first() else {
        return Probe::Silent;
    };
    let target = format!("{}:{}", listener.host, listener.port);
    match tokio::time::timeout(PROBE_TIMEOUT, TcpStream::connect(&target)).await {
        Ok(Ok(_)) => Probe::Accepted,
        Ok(Err(e)) if e.kind() == io::ErrorKind::ConnectionRefused => Probe::Refused,
        Ok(Err(_)) | Err(_) => Probe::Silent,
    }
}
