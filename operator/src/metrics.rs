//! metrics: the operator's Prometheus metrics and the small HTTP server exposing
//! `/metrics` and `/healthz`. Error categories and states are `&'static str` labels,
//! never error messages (unbounded label values would explode series).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry,
    TextEncoder,
};
use tokio::net::TcpListener;

use crate::controller::health::Health;
use crate::crd::{RebalancePhase, RebalanceStatus};

/// State of a cluster in `tidewater_operator_clusters{state}`.
pub const CLUSTER_STATES: &[&str] = &["ready", "not_ready", "degraded", "invalid", "paused"];

/// Per cluster (namespace/name): its state and (ready, not ready) broker counts.
type ClusterStates = BTreeMap<String, (&'static str, i64, i64)>;

/// The operator's metrics.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    reconciles: IntCounter,
    errors: IntCounterVec,
    duration: Histogram,
    clusters: IntGaugeVec,
    brokers: IntGaugeVec,
    blocked: IntGaugeVec,
    /// `tidewater_roll_blocked{cluster}`: one series per cluster (a bounded label).
    roll_blocked: IntGaugeVec,
    /// `tidewater_rebalance_*{cluster}`: the progress of each cluster's rebalance.
    rebalance: RebalanceGauges,
    /// Per cluster (namespace/name): why its rollout or scale-down is held back.
    blocked_by: Arc<Mutex<BTreeMap<String, &'static str>>>,
    /// Per cluster (namespace/name): its state and (ready, not ready) broker counts, to
    /// recompute the by-state gauges when one cluster changes.
    per_cluster: Arc<Mutex<ClusterStates>>,
    /// What `/healthz` answers, kept up to date by the controller.
    health: Health,
}

/// Errors creating metrics (duplicate registration is a programming error surfaced here
/// rather than a panic).
#[derive(Debug, thiserror::Error)]
#[error("registering metrics: {0}")]
pub struct MetricsError(#[from] prometheus::Error);

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Result<Self, MetricsError> {
        let registry = Registry::new();
        let reconciles =
            IntCounter::new("tidewater_operator_reconciles_total", "Reconciles started.")?;
        let errors = IntCounterVec::new(
            Opts::new(
                "tidewater_operator_reconcile_errors_total",
                "Reconciles that failed, by error category.",
            ),
            &["category"],
        )?;
        let duration = Histogram::with_opts(
            HistogramOpts::new(
                "tidewater_operator_reconcile_duration_seconds",
                "Duration of reconciles.",
            )
            .buckets(vec![0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]),
        )?;
        let clusters = IntGaugeVec::new(
            Opts::new("tidewater_operator_clusters", "KafkaClusters by state."),
            &["state"],
        )?;
        let brokers = IntGaugeVec::new(
            Opts::new(
                "tidewater_operator_brokers",
                "Brokers by state (ready, not_ready).",
            ),
            &["state"],
        )?;
        registry.register(Box::new(reconciles.clone()))?;
        registry.register(Box::new(errors.clone()))?;
        registry.register(Box::new(duration.clone()))?;
        registry.register(Box::new(clusters.clone()))?;
        let blocked = IntGaugeVec::new(
            Opts::new(
                "tidewater_operator_blocked_clusters",
                "Clusters whose restart or scale-down is held back, by reason.",
            ),
            &["reason"],
        )?;
        let roll_blocked = IntGaugeVec::new(
            Opts::new(
                "tidewater_roll_blocked",
                "1 while a cluster's roll is blocked by its Kafka metadata (RollBlocked), by cluster.",
            ),
            &["cluster"],
        )?;
        registry.register(Box::new(brokers.clone()))?;
        registry.register(Box::new(blocked.clone()))?;
        registry.register(Box::new(roll_blocked.clone()))?;
        let rebalance = RebalanceGauges::new(&registry)?;
        for s in CLUSTER_STATES {
            clusters.with_label_values(&[*s]).set(0);
        }
        Ok(Self {
            registry,
            reconciles,
            errors,
            duration,
            clusters,
            brokers,
            blocked,
            roll_blocked,
            rebalance,
            blocked_by: Arc::default(),
            per_cluster: Arc::default(),
            health: Health::default(),
        })
    }

    /// The replica's health, served at `/healthz`.
    pub fn health(&self) -> &Health {
        &self.health
    }

    /// Counts a reconcile and returns a timer recording its duration on drop.
    pub fn reconcile_started(&self) -> ReconcileTimer {
        self.reconciles.inc();
        ReconcileTimer {
            histogram: self.duration.clone(),
            start: Instant::now(),
        }
    }

    /// Counts a failed reconcile.
    pub fn reconcile_failed(&self, category: &'static str) {
        self.errors.with_label_values(&[category]).inc();
    }

    /// Records the state of one cluster (`None` state: the cluster is gone).
    pub fn set_cluster(&self, key: &str, state: Option<(&'static str, i64, i64)>) {
        let Ok(mut map) = self.per_cluster.lock() else {
            return;
        };
        match state {
            Some(s) => map.insert(key.to_owned(), s),
            None => map.remove(key),
        };
        for s in CLUSTER_STATES {
            let n = map.values().filter(|v| v.0 == *s).count();
            self.clusters
                .with_label_values(&[*s])
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
        let ready: i64 = map.values().map(|v| v.1).sum();
        let not_ready: i64 = map.values().map(|v| v.2).sum();
        self.brokers.with_label_values(&["ready"]).set(ready);
        self.brokers
            .with_label_values(&["not_ready"])
            .set(not_ready);
    }

    /// Records why a cluster's rollout or scale-down is held back (`None`: it is not).
    pub fn set_blocked(&self, key: &str, reason: Option<&'static str>) {
        let Ok(mut map) = self.blocked_by.lock() else {
            return;
        };
        let before: Vec<&'static str> = map.values().copied().collect();
        match reason {
            Some(r) => map.insert(key.to_owned(), r),
            None => map.remove(key),
        };
        for r in before.into_iter().chain(map.values().copied()) {
            let n = map.values().filter(|v| **v == r).count();
            self.blocked
                .with_label_values(&[r])
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }

    /// Whether `key`'s roll is blocked (reason `RollBlocked`).
    pub fn set_roll_blocked(&self, key: &str, blocked: bool) {
        self.roll_blocked
            .with_label_values(&[key])
            .set(i64::from(blocked));
    }

    /// Records the progress of `key`'s rebalance from its `status.rebalance` (`None`:
    /// the cluster has none, or is gone: its series are removed).
    pub fn set_rebalance(&self, key: &str, status: Option<&RebalanceStatus>) {
        self.rebalance.set(key, status);
    }

    /// Text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        if TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .is_err()
        {
            return String::new();
        }
        String::from_utf8(buf).unwrap_or_default()
    }
}

/// Rebalance progress per cluster, from `status.rebalance` (issue 12).
#[derive(Clone)]
struct RebalanceGauges {
    /// Partitions of the plan not moved yet (0 once it is done or failed).
    remaining: IntGaugeVec,
    /// Bytes copied by the plan's finished moves.
    bytes_moved: IntGaugeVec,
    /// Replication throttle in force (0: none).
    throttle: IntGaugeVec,
}

impl RebalanceGauges {
    fn new(registry: &Registry) -> Result<Self, MetricsError> {
        let gauge = |name: &str, help: &str| -> Result<IntGaugeVec, MetricsError> {
            let g = IntGaugeVec::new(Opts::new(name, help), &["cluster"])?;
            registry.register(Box::new(g.clone()))?;
            Ok(g)
        };
        Ok(Self {
            remaining: gauge(
                "tidewater_rebalance_partitions_remaining",
                "Partitions the cluster's rebalance plan still has to move.",
            )?,
            bytes_moved: gauge(
                "tidewater_rebalance_moved_bytes",
                "Bytes copied by the finished moves of the cluster's rebalance plan.",
            )?,
            throttle: gauge(
                "tidewater_rebalance_throttle_bytes_per_second",
                "Replication throttle in force for the cluster's rebalance (0: none).",
            )?,
        })
    }

    fn set(&self, key: &str, status: Option<&RebalanceStatus>) {
        let Some(s) = status else {
            // Absent series are fine: a cluster without a plan has none.
            let _ = self.remaining.remove_label_values(&[key]);
            let _ = self.bytes_moved.remove_label_values(&[key]);
            let _ = self.throttle.remove_label_values(&[key]);
            return;
        };
        let remaining = match s.phase {
            RebalancePhase::Done | RebalancePhase::Failed => 0,
            _ => (s.partitions_total - s.partitions_moved).max(0),
        };
        self.remaining
            .with_label_values(&[key])
            .set(i64::from(remaining));
        self.bytes_moved
            .with_label_values(&[key])
            .set(s.bytes_moved);
        self.throttle
            .with_label_values(&[key])
            .set(s.throttle_bytes_per_second.unwrap_or(0));
    }
}

/// Records a reconcile's duration when dropped, on success and failure alike.
pub struct ReconcileTimer {
    histogram: Histogram,
    start: Instant,
}

impl Drop for ReconcileTimer {
    fn drop(&mut self) {
        self.histogram.observe(self.start.elapsed().as_secs_f64());
    }
}

/// Serves `/metrics` and `/healthz` on `addr` until the task is dropped.
pub async fn serve(addr: SocketAddr, metrics: Metrics) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    serve_on(listener, metrics).await
}

/// Serves on an already bound listener (tests bind port 0).
pub async fn serve_on(listener: TcpListener, metrics: Metrics) -> std::io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                let metrics = metrics.clone();
                async move { Ok::<_, Infallible>(respond(req.uri().path(), &metrics)) }
            });
            let io = hyper_util::rt::TokioIo::new(stream);
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(io, service)
                .await
            {
                tracing::debug!(error = %e, "metrics connection ended with an error");
            }
        });
    }
}

fn respond(path: &str, metrics: &Metrics) -> Response<Full<Bytes>> {
    let (status, body) = match path {
        "/metrics" => (StatusCode::OK, metrics.render()),
        "/healthz" => match metrics.health.report() {
            (true, text) => (StatusCode::OK, text),
            (false, text) => (StatusCode::SERVICE_UNAVAILABLE, text),
        },
        _ => (StatusCode::NOT_FOUND, "not found\n".to_owned()),
    };
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn counts_errors_by_category_and_clusters_by_state() {
        let m = Metrics::new().unwrap();
        drop(m.reconcile_started());
        m.reconcile_failed("kube");
        m.reconcile_failed("kube");
        m.set_cluster("ns/a", Some(("ready", 3, 0)));
        m.set_cluster("ns/b", Some(("degraded", 2, 1)));
        let text = m.render();
        assert!(
            text.contains("tidewater_operator_reconciles_total 1"),
            "{text}"
        );
        assert!(text.contains("tidewater_operator_reconcile_errors_total{category=\"kube\"} 2"));
        assert!(text.contains("tidewater_operator_reconcile_duration_seconds_count 1"));
        assert!(text.contains("tidewater_operator_clusters{state=\"ready\"} 1"));
        assert!(text.contains("tidewater_operator_clusters{state=\"degraded\"} 1"));
        assert!(text.contains("tidewater_operator_brokers{state=\"ready\"} 5"));
        m.set_blocked("ns/a", Some("ScaleDownBlocked"));
        assert!(
            m.render()
                .contains("tidewater_operator_blocked_clusters{reason=\"ScaleDownBlocked\"} 1")
        );
        m.set_roll_blocked("ns/a", true);
        assert!(
            m.render()
                .contains("tidewater_roll_blocked{cluster=\"ns/a\"} 1")
        );
        m.set_roll_blocked("ns/a", false);
        assert!(
            m.render()
                .contains("tidewater_roll_blocked{cluster=\"ns/a\"} 0")
        );
        m.set_blocked("ns/a", None);
        assert!(
            m.render()
                .contains("tidewater_operator_blocked_clusters{reason=\"ScaleDownBlocked\"} 0")
        );
        m.set_cluster("ns/b", None);
        let text = m.render();
        assert!(text.contains("tidewater_operator_clusters{state=\"degraded\"} 0"));
        assert!(text.contains("tidewater_operator_brokers{state=\"not_ready\"} 0"));
    }

    #[test]
    fn renders_rebalance_progress_per_cluster_and_drops_it_with_the_plan() {
        let m = Metrics::new().unwrap();
        let moving = RebalanceStatus {
            phase: RebalancePhase::Throttled,
            partitions_total: 12,
            partitions_moved: 5,
            bytes_moved: 4096,
            throttle_bytes_per_second: Some(10_485_760),
            ..RebalanceStatus::default()
        };
        m.set_rebalance("ns/a", Some(&moving));
        let text = m.render();
        for line in [
            "tidewater_rebalance_partitions_remaining{cluster=\"ns/a\"} 7",
            "tidewater_rebalance_moved_bytes{cluster=\"ns/a\"} 4096",
            "tidewater_rebalance_throttle_bytes_per_second{cluster=\"ns/a\"} 10485760",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} not in\n{text}");
        }
        let done = RebalanceStatus {
            phase: RebalancePhase::Done,
            partitions_moved: 12,
            throttle_bytes_per_second: None,
            ..moving
        };
        m.set_rebalance("ns/a", Some(&done));
        let text = m.render();
        assert!(text.contains("tidewater_rebalance_partitions_remaining{cluster=\"ns/a\"} 0"));
        assert!(text.contains("tidewater_rebalance_throttle_bytes_per_second{cluster=\"ns/a\"} 0"));
        m.set_rebalance("ns/a", None);
        assert!(!m.render().contains("cluster=\"ns/a\""), "{}", m.render());
    }

    async fn get(addr: SocketAddr, path: &str) -> String {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    }

    #[tokio::test]
    async fn serves_metrics_and_healthz() {
        let m = Metrics::new().unwrap();
        drop(m.reconcile_started());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(serve_on(listener, m.clone()));
        let health = get(addr, "/healthz").await;
        assert!(health.starts_with("HTTP/1.1 200"), "{health}");
        m.health().stopped("lost the leader Lease");
        let health = get(addr, "/healthz").await;
        assert!(health.starts_with("HTTP/1.1 503"), "{health}");
        assert!(
            health.ends_with("unhealthy: lost the leader Lease\n"),
            "{health}"
        );
        let metrics = get(addr, "/metrics").await;
        assert!(
            metrics.contains("tidewater_operator_reconciles_total 1"),
            "{metrics}"
        );
        assert!(get(addr, "/nope").await.starts_with("HTTP/1.1 404"));
        server.abort();
    }
}
