//! The network shell: binds the Kafka listeners and the HTTP endpoint, accepts
//! connections under a connection cap, and shuts down gracefully — stop
//! accepting, let in-flight requests finish, then flush and checkpoint.

mod connection;
mod host_address;
mod http;
mod sasl;
mod sink;

pub use connection::{ConnectionLimits, ListenerSecurity};

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use crate::security::tls_reload::ReloadableTls;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, broadcast, mpsc};
use tracing::{info, warn};

use crate::broker_server::connection_slots::ConnectionSlots;
use crate::broker_server::{Broker, StartupError};
use crate::config::{BrokerConfig, ConfigError};
use http::serve_http;

/// Runs the broker until `shutdown_signal` completes, then shuts down cleanly.
pub async fn run(
    config: BrokerConfig,
    shutdown_signal: impl Future<Output = ()>,
) -> Result<(), StartupError> {
    let server = Server::start(config).await?;
    shutdown_signal.await;
    info!("shutdown requested");
    server.shutdown().await
}

/// A started broker (used by `run` and by in-process tests).
pub struct Server {
    pub broker: Arc<Broker>,
    /// Bound Kafka listeners: (name, address).
    pub listeners: Vec<(String, SocketAddr)>,
    pub http_addr: SocketAddr,
    shutdown_tx: broadcast::Sender<()>,
    /// Every connection task holds a sender; all dropped = all drained.
    drained_rx: mpsc::Receiver<()>,
    drained_tx: Option<mpsc::Sender<()>>,
    accept_tasks: Vec<tokio::task::JoinHandle<()>>,
}

async fn bind(what: &'static str, addr: String) -> Result<TcpListener, StartupError> {
    TcpListener::bind(&addr)
        .await
        .map_err(|source| StartupError::Bind { what, addr, source })
}

impl Server {
    /// Binds, opens storage and starts accepting.
    pub async fn start(mut config: BrokerConfig) -> Result<Server, StartupError> {
        refuse_unserved_protocols(&config)?;
        let mut bound = Vec::new();
        for l in &config.listeners {
            let security = listener_security(&config, &l.name)?;
            let host = if l.host.is_empty() {
                "0.0.0.0".to_string()
            } else {
                l.host.clone()
            };
            let addr = if host.contains(':') {
                format!("[{host}]:{}", l.port)
            } else {
                format!("{host}:{}", l.port)
            };
            let listener = bind("listener", addr).await?;
            let local = listener.local_addr().map_err(|source| StartupError::Bind {
                what: "listener",
                addr: l.host_port(),
                source,
            })?;
            bound.push((l.name.clone(), local, listener, security));
        }
        // Port 0 means "any free port": advertise the one we got.
        for a in &mut config.advertised_listeners {
            if a.port == 0
                && let Some((_, local, _, _)) = bound.iter().find(|(n, _, _, _)| *n == a.name)
            {
                a.port = local.port();
            }
            if a.host.is_empty() {
                a.host = local_hostname();
            }
        }
        let http = bind("tidewater.http.listener", config.http_listener.to_string()).await?;
        let http_addr = http.local_addr().map_err(|source| StartupError::Bind {
            what: "tidewater.http.listener",
            addr: config.http_listener.to_string(),
            source,
        })?;
        let limits = Arc::new(ConnectionLimits {
            max_request_bytes: usize::try_from(config.socket_request_max_bytes)
                .unwrap_or(usize::MAX),
            inflight_bytes: Arc::new(Semaphore::new(
                config.queued_max_request_bytes.min(Semaphore::MAX_PERMITS),
            )),
            inflight_capacity: config
                .queued_max_request_bytes
                .min(Semaphore::MAX_PERMITS)
                .min(u32::MAX as usize),
            max_idle: config.connections_max_idle,
        });
        // Startup blocks the runtime on purpose: nothing else runs before it is done.
        let broker = crate::broker_server::start_broker(config).await?;
        let (shutdown_tx, _) = broadcast::channel(1);
        let (drained_tx, drained_rx) = mpsc::channel(1);
        let mut accept_tasks = Vec::new();
        let mut listeners = Vec::new();
        for (name, local, listener, security) in bound {
            connection::log_listening(&local, &name);
            listeners.push((name.clone(), local));
            // Subscribe before spawning: a shutdown sent before the task first runs
            // must still reach it.
            let stop = shutdown_tx.subscribe();
            if let Some(tls) = &security.tls {
                tokio::spawn(watch_certificates(
                    tls.clone(),
                    broker.clone(),
                    shutdown_tx.subscribe(),
                ));
            }
            let shared = AcceptShared {
                broker: broker.clone(),
                limits: limits.clone(),
                slots: broker.serving().connection_slots().clone(),
                shutdown: shutdown_tx.clone(),
                drained: drained_tx.clone(),
                security,
            };
            accept_tasks.push(tokio::spawn(accept_loop(listener, stop, name, shared)));
        }
        info!(addr = %http_addr, "http endpoint (/metrics, /healthz, /readyz) listening on {http_addr}");
        tokio::spawn(serve_http(http, broker.clone(), shutdown_tx.subscribe()));
        broker.set_ready(true);
        Ok(Server {
            broker,
            listeners,
            http_addr,
            shutdown_tx,
            drained_rx,
            drained_tx: Some(drained_tx),
            accept_tasks,
        })
    }

    /// Stops accepting, waits for in-flight requests, then flushes and checkpoints.
    pub async fn shutdown(mut self) -> Result<(), StartupError> {
        // Move leaderships away while clients can still follow them.
        crate::broker_server::controlled_shutdown(&self.broker).await;
        // The flag first: a connection that subscribes after the broadcast still
        // sees it before its next read.
        self.broker.begin_shutdown();
        let _ = self.shutdown_tx.send(());
        for t in self.accept_tasks.drain(..) {
            let _ = t.await;
        }
        // The leaderships have moved (or the controlled shutdown gave up): acks=all
        // requests still parked here fail now with NOT_LEADER_OR_FOLLOWER, rather than
        // holding the connection drain below until their request timeout.
        self.broker.replicas().resign_leaders();
        self.drained_tx.take();
        // Returns None once every connection task has finished its current request.
        let _ = self.drained_rx.recv().await;
        crate::broker_server::stop(&self.broker).await;
        let broker = self.broker.clone();
        match tokio::task::spawn_blocking(move || broker.shutdown()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(StartupError::Storage(e)),
            Err(e) => return Err(StartupError::Shutdown(e)),
        }
        info!("shutdown complete");
        Ok(())
    }
}

/// What every accept loop hands to the connections it spawns.
struct AcceptShared {
    broker: Arc<Broker>,
    limits: Arc<ConnectionLimits>,
    /// `max.connections`: a slot per open connection.
    slots: Arc<ConnectionSlots>,
    shutdown: broadcast::Sender<()>,
    /// Held by every connection task; all dropped = all drained.
    drained: mpsc::Sender<()>,
    /// The listener's TLS acceptor and SASL settings.
    security: ListenerSecurity,
}

async fn accept_loop(
    listener: TcpListener,
    mut stop: broadcast::Receiver<()>,
    name: String,
    shared: AcceptShared,
) {
    let AcceptShared {
        broker,
        limits,
        slots,
        shutdown,
        drained,
        security,
    } = shared;
    loop {
        let permit = tokio::select! {
            _ = stop.recv() => return,
            p = slots.acquire() => match p {
                Ok(p) => p,
                Err(_) => return,
            },
        };
        let (stream, peer) = tokio::select! {
            _ = stop.recv() => return,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let broker = broker.clone();
        let limits = limits.clone();
        let rx = shutdown.subscribe();
        let drained = drained.clone();
        let name = name.clone();
        let security = security.clone();
        tokio::spawn(async move {
            connection::serve_connection(stream, peer, name, broker, limits, rx, security).await;
            drop(permit);
            drop(drained);
        });
    }
}

/// How often TLS listeners look for changed certificate files and `ssl.*` keys: a
/// read of at most two small PEM files, cheap enough to do every second, so a
/// rotated certificate serves new connections within about a second.
const CERTIFICATE_CHECK_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// Reloads a TLS listener's config when its files or its dynamic `ssl.*` keys change,
/// until shutdown.
async fn watch_certificates(
    tls: Arc<ReloadableTls>,
    broker: Arc<Broker>,
    mut stop: broadcast::Receiver<()>,
) {
    let mut tick = tokio::time::interval(CERTIFICATE_CHECK_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.recv() => return,
            _ = tick.tick() => {}
        }
        let config = broker.config();
        let dynamic = crate::metadata::image_store::dynamic_broker_configs(
            &broker.cluster().image(),
            config.node_id,
        );
        let mut props = config.static_props.clone();
        props.extend(dynamic);
        // Reading files: off the async workers.
        let tls = tls.clone();
        if tokio::task::spawn_blocking(move || tls.check(&props))
            .await
            .is_err()
        {
            return;
        }
    }
}

/// Listener `name`'s TLS config (SSL, SASL_SSL) and SASL settings (SASL_*).
fn listener_security(config: &BrokerConfig, name: &str) -> Result<ListenerSecurity, StartupError> {
    let protocol = config.security_protocol(name);
    let tls = if protocol.uses_tls() {
        let tls = ReloadableTls::new(&config.static_props, name)?;
        Some(Arc::new(tls))
    } else {
        None
    };
    let sasl = if protocol.uses_sasl() {
        let sasl = crate::security::sasl::listener_sasl(&config.static_props, name)?;
        Some(Arc::new(sasl))
    } else {
        None
    };
    Ok(ListenerSecurity { tls, sasl })
}

/// Security settings the broker cannot serve, refused before it binds anything: the
/// controller listener's (TLS, SASL PLAIN; SCRAM is refused there) and the
/// inter-broker client's (TLS, SASL credentials the broker can authenticate with).
fn refuse_unserved_protocols(config: &BrokerConfig) -> Result<(), ConfigError> {
    // The controller listener's TLS and SASL settings, client and server side.
    crate::security::controller_listener::controller_transport(config)?;
    let inter_broker = config
        .advertised(&config.inter_broker_listener_name)
        .map_or(config.inter_broker_listener_name.as_str(), |l| {
            l.name.as_str()
        });
    // The replica fetchers' TLS and SASL client settings: refused here, before binding.
    crate::security::client::client_security(
        &config.static_props,
        inter_broker,
        config.security_protocol(inter_broker),
        "sasl.mechanism.inter.broker.protocol",
    )?;
    Ok(())
}

/// The host name to advertise when a listener names no host (Kafka uses the
/// canonical host name).
fn local_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into())
}

#[cfg(test)]
mod tests;
