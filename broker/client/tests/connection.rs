//! Failure paths of `Connection` and `AdminClient` against a scripted peer: version
//! fallback, timeouts, cancellation, wrong correlation ids, refused and restarted brokers.

// Test helpers outside #[test] fns: a failing setup must fail the test.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::peer::{Action, Peer, all_versions, is_api_versions, respond, respond_at};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::metadata_response::MetadataResponseBroker;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsResponse, BrokerId, MetadataRequest, MetadataResponse,
};
use kafka_protocol::protocol::StrBytes;
use tidewater_client::{AdminClient, ClientConfig, ClientError, Connection};

fn quick() -> ClientConfig {
    ClientConfig {
        client_id: "conn-test".into(),
        connect_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_millis(300),
    }
}

fn one_broker_metadata(node_id: i32) -> MetadataResponse {
    MetadataResponse::default()
        .with_controller_id(BrokerId(node_id))
        .with_brokers(vec![
            MetadataResponseBroker::default()
                .with_node_id(BrokerId(node_id))
                .with_host(StrBytes::from_static_str("peer"))
                .with_port(9092),
        ])
}

/// A peer that answers ApiVersions and Metadata like a broker, and delegates the rest.
async fn broker_like(
    other: impl Fn(&kafka_protocol::messages::RequestHeader, usize) -> Action + Send + Sync + 'static,
) -> Peer {
    Peer::start(move |h, conn, _| {
        if is_api_versions(h) {
            respond(h, &all_versions())
        } else {
            other(h, conn)
        }
    })
    .await
}

/// A loopback address nothing listens on.
fn refused_addr() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

/// An older broker: ApiVersions up to v2 (so no feature fields), Metadata up to v8;
/// newer ApiVersions requests get UNSUPPORTED_VERSION in a v0 body (what Kafka does, so
/// that the client can read the table).
async fn old_broker() -> Peer {
    Peer::start(|h, _, _| {
        let table = ApiVersionsResponse::default().with_api_keys(vec![
            ApiVersion::default()
                .with_api_key(ApiKey::ApiVersions as i16)
                .with_max_version(2),
            ApiVersion::default()
                .with_api_key(ApiKey::Metadata as i16)
                .with_max_version(8),
        ]);
        if h.request_api_version > 2 {
            respond_at(
                h.correlation_id,
                &table.with_error_code(35),
                h.request_api_version,
                0,
            )
        } else {
            respond(h, &table)
        }
    })
    .await
}

#[tokio::test]
async fn api_versions_falls_back_to_the_brokers_newest_version() {
    let peer = old_broker().await;
    let conn = Connection::connect_with(&peer.addr, quick()).await.unwrap();
    assert_eq!(conn.version_for::<MetadataRequest>().unwrap(), 8);
    let key = ApiKey::ApiVersions as i16;
    assert_eq!(peer.seen(), vec![(key, 4, 0), (key, 2, 0)]);
}

#[tokio::test]
async fn a_silent_broker_times_out_and_the_connection_is_closed() {
    let peer = broker_like(|_, _| Action::Ignore).await;
    let conn = Connection::connect_with(&peer.addr, quick()).await.unwrap();
    let err = conn.send(MetadataRequest::default()).await.unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::Timeout {
                api: ApiKey::Metadata,
                ..
            }
        ),
        "{err}"
    );
    // A late answer to the timed-out request must never be read as the next answer.
    let err = conn.send(MetadataRequest::default()).await.unwrap_err();
    assert!(
        err.to_string().contains("closed after an earlier failure"),
        "{err}"
    );
}

#[tokio::test]
async fn a_cancelled_request_closes_the_connection() {
    let peer = broker_like(|_, _| Action::Ignore).await;
    let mut config = quick();
    config.request_timeout = Duration::from_secs(30);
    let conn = Connection::connect_with(&peer.addr, config).await.unwrap();
    let cancelled = tokio::time::timeout(
        Duration::from_millis(100),
        conn.send(MetadataRequest::default()),
    )
    .await;
    assert!(
        cancelled.is_err(),
        "the peer never answers, so the caller's timeout fires"
    );
    let err = conn.send(MetadataRequest::default()).await.unwrap_err();
    assert!(matches!(err, ClientError::Io { .. }), "{err}");
}

#[tokio::test]
async fn a_wrong_correlation_id_is_a_decode_error() {
    let peer = broker_like(|h, _| {
        respond_at(
            h.correlation_id + 1,
            &one_broker_metadata(1),
            h.request_api_version,
            h.request_api_version,
        )
    })
    .await;
    let conn = Connection::connect_with(&peer.addr, quick()).await.unwrap();
    let err = conn.send(MetadataRequest::default()).await.unwrap_err();
    assert!(err.to_string().contains("correlation id"), "{err}");
}

#[tokio::test]
async fn a_broker_closing_mid_request_is_an_io_error() {
    let peer = broker_like(|_, _| Action::Close).await;
    let conn = Connection::connect_with(&peer.addr, quick()).await.unwrap();
    let err = conn.send(MetadataRequest::default()).await.unwrap_err();
    assert!(matches!(err, ClientError::Io { .. }), "{err}");
    assert!(err.is_retriable());
}

#[tokio::test]
async fn admin_skips_unreachable_bootstrap_addresses() {
    let peer = broker_like(|h, _| respond(h, &one_broker_metadata(7))).await;
    let bootstrap = format!("{},{}", refused_addr(), peer.addr);
    let admin = AdminClient::connect_with(&bootstrap, quick())
        .await
        .unwrap();
    assert_eq!(
        admin.connected_to().await.as_deref(),
        Some(peer.addr.as_str())
    );
    let md = admin.metadata(None).await.unwrap();
    assert_eq!(md.controller_id, 7);
}

#[tokio::test]
async fn admin_reports_every_failed_bootstrap_address() {
    let bootstrap = format!("{},{}", refused_addr(), refused_addr());
    let err = AdminClient::connect_with(&bootstrap, quick())
        .await
        .unwrap_err();
    let ClientError::NoBrokerAvailable { attempts, .. } = &err else {
        panic!("expected NoBrokerAvailable, got {err}")
    };
    assert_eq!(attempts.len(), 2, "{err}");
    let err = AdminClient::connect("not-a-bootstrap").await.unwrap_err();
    assert!(matches!(err, ClientError::InvalidBootstrap { .. }), "{err}");
}

#[tokio::test]
async fn admin_reconnects_once_after_the_broker_dropped_the_connection() {
    // Connection 0 dies on its first Metadata (a broker restart); connection 1 works.
    let peer = broker_like(|h, conn| {
        if conn == 0 {
            Action::Close
        } else {
            respond(h, &one_broker_metadata(3))
        }
    })
    .await;
    let admin = AdminClient::connect_with(&peer.addr, quick())
        .await
        .unwrap();
    let md = admin.metadata(None).await.unwrap();
    assert_eq!(md.brokers.len(), 1);
    let metadata_calls: Vec<usize> = peer
        .seen()
        .into_iter()
        .filter(|(k, _, _)| *k == ApiKey::Metadata as i16)
        .map(|(_, _, conn)| conn)
        .collect();
    assert_eq!(metadata_calls, [0, 1]);
}

#[tokio::test]
async fn broker_error_codes_surface_as_protocol_errors() {
    let peer =
        broker_like(|h, _| respond(h, &MetadataResponse::default().with_error_code(29))).await;
    let admin = AdminClient::connect_with(&peer.addr, quick())
        .await
        .unwrap();
    let err = admin.metadata(None).await.unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::Protocol {
                code: 29,
                api: ApiKey::Metadata,
                ..
            }
        ),
        "{err}"
    );
    let err = admin.describe_cluster().await.unwrap_err();
    // The scripted peer answers DescribeCluster with a Metadata body: bytes that do
    // not decode as DescribeCluster must be a Decode error, not garbage values.
    assert!(matches!(err, ClientError::Decode { .. }), "{err}");
}

#[tokio::test]
async fn finalized_features_come_from_api_versions_v3() {
    use kafka_protocol::messages::api_versions_response::FinalizedFeatureKey;
    let peer = Peer::start(|h, _, _| {
        let feature = |name: &'static str, level| {
            FinalizedFeatureKey::default()
                .with_name(StrBytes::from_static_str(name))
                .with_min_version_level(level)
                .with_max_version_level(level)
        };
        let resp = all_versions()
            .with_finalized_features_epoch(12)
            .with_finalized_features(vec![
                feature("metadata.version", 21),
                feature("kraft.version", 1),
            ]);
        respond(h, &resp)
    })
    .await;
    let admin = AdminClient::connect_with(&peer.addr, quick())
        .await
        .unwrap();
    let features = admin.finalized_features().await.unwrap();
    assert_eq!(
        features.into_iter().collect::<Vec<_>>(),
        [
            ("kraft.version".to_owned(), 1),
            ("metadata.version".to_owned(), 21)
        ]
    );
    // Connect negotiated ApiVersions, then finalized_features sent a fresh one at v3+.
    let key = ApiKey::ApiVersions as i16;
    let sent: Vec<i16> = peer
        .seen()
        .into_iter()
        .filter(|(k, _, _)| *k == key)
        .map(|(_, v, _)| v)
        .collect();
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert!(sent.iter().all(|v| *v >= 3), "{sent:?}");
}

#[tokio::test]
async fn a_broker_without_api_versions_v3_reports_no_features() {
    let peer = old_broker().await;
    let admin = AdminClient::connect_with(&peer.addr, quick())
        .await
        .unwrap();
    assert!(admin.finalized_features().await.unwrap().is_empty());
}
