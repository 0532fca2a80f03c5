//! The network shell end to end, in-process: real sockets, real framing, a
//! protocol-level client built on kafka-protocol, garbage thrown at the broker.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, FetchRequest, MetadataRequest, RequestHeader, RequestKind,
    ResponseHeader, ResponseKind,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::Server;
use crate::broker_server::now_ms;
use crate::broker_server::offsets_backend::encode_batch;
use crate::config::BrokerConfig;
use crate::handlers::fetch;
use crate::metadata::format_log_dirs;

fn config(dir: &std::path::Path) -> BrokerConfig {
    config_with(dir, &[])
}

fn config_with(dir: &std::path::Path, extra: &[(&str, &str)]) -> BrokerConfig {
    let props: BTreeMap<String, String> = [
        ("node.id", "1"),
        ("listeners", "PLAINTEXT://127.0.0.1:0"),
        ("tidewater.http.listener", "127.0.0.1:0"),
        ("group.initial.rebalance.delay.ms", "0"),
        ("offsets.topic.num.partitions", "2"),
        ("socket.request.max.bytes", "1048576"),
    ]
    .iter()
    .chain(extra)
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .chain([("log.dirs".to_string(), dir.display().to_string())])
    .collect();
    let c = BrokerConfig::from_props(props).unwrap();
    format_log_dirs(&c.log_dirs, "server-test", 1).unwrap();
    c
}

/// A minimal protocol client: one request at a time on one connection.
struct Client {
    stream: TcpStream,
    correlation: i32,
}

impl Client {
    async fn connect(server: &Server) -> Client {
        Client {
            stream: TcpStream::connect(server.listeners[0].1).await.unwrap(),
            correlation: 0,
        }
    }

    async fn send(&mut self, api: ApiKey, version: i16, body: RequestKind) -> ResponseKind {
        self.correlation += 1;
        let mut header = RequestHeader::default();
        header.request_api_key = api as i16;
        header.request_api_version = version;
        header.correlation_id = self.correlation;
        header.client_id = Some(StrBytes::from_static_str("server-test"));
        let mut buf = BytesMut::new();
        buf.put_i32(0);
        header
            .encode(&mut buf, api.request_header_version(version))
            .unwrap();
        body.encode(&mut buf, version).unwrap();
        let len = i32::try_from(buf.len() - 4).unwrap();
        buf[..4].copy_from_slice(&len.to_be_bytes());
        self.stream.write_all(&buf).await.unwrap();
        let size = self.stream.read_i32().await.unwrap();
        let mut frame = vec![0u8; usize::try_from(size).unwrap()];
        self.stream.read_exact(&mut frame).await.unwrap();
        let mut frame = Bytes::from(frame);
        let header =
            ResponseHeader::decode(&mut frame, api.response_header_version(version)).unwrap();
        assert_eq!(header.correlation_id, self.correlation);
        let resp = ResponseKind::decode(api, &mut frame, version).unwrap();
        assert!(!frame.has_remaining(), "{api:?} v{version}: trailing bytes");
        resp
    }
}

fn produce_request(topic: &str, i: usize) -> RequestKind {
    let batch = encode_batch(
        &[(
            Bytes::from(format!("k{i}")),
            Some(Bytes::from(format!("v{i}"))),
        )],
        now_ms(),
    )
    .unwrap();
    let mut r = crate::handlers::produce::tests::produce_request(topic, 0, Some(batch), -1);
    r.timeout_ms = 5000;
    RequestKind::Produce(r)
}

/// Seeded xorshift so a failing garbage run can be replayed from its seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Reads until the server closes the connection (or 5 s pass: a failure).
async fn closed_by_server(mut s: TcpStream) -> bool {
    let mut sink = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut sink)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_frames_close_only_their_connection_while_a_client_produces() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(config(dir.path())).await.unwrap();
    let seed = now_ms() as u64 | 1;
    println!("garbage seed: {seed}");

    let mut client = Client::connect(&server).await;
    let ResponseKind::ApiVersions(v) = client
        .send(
            ApiKey::ApiVersions,
            3,
            RequestKind::ApiVersions(ApiVersionsRequest::default()),
        )
        .await
    else {
        panic!("wrong response kind")
    };
    assert_eq!(v.error_code, 0);
    let mut md = MetadataRequest::default();
    md.topics = Some(vec![{
        let mut t = kafka_protocol::messages::metadata_request::MetadataRequestTopic::default();
        t.name = Some(kafka_protocol::messages::TopicName(
            StrBytes::from_static_str("steady"),
        ));
        t
    }]);
    md.allow_auto_topic_creation = true;
    client
        .send(ApiKey::Metadata, 12, RequestKind::Metadata(md))
        .await;
    // Auto-creation answers once the metadata image has the topic; the local replica
    // takes the leadership just after (a client would retry NOT_LEADER_OR_FOLLOWER).
    let broker = server.broker.clone();
    crate::handlers::test_support::eventually("this broker leads steady-0", move || {
        broker.replicas().leader_replica("steady", 0).is_ok()
    })
    .await;

    let addr = server.listeners[0].1;
    let garbage = tokio::spawn(async move {
        let mut rng = Rng(seed);
        let mut closed = 0;
        for round in 0..60 {
            let mut s = TcpStream::connect(addr).await.unwrap();
            let mut frame = BytesMut::new();
            match round % 4 {
                // Oversized size prefix.
                0 => frame.put_i32(i32::MAX),
                // Negative size.
                1 => frame.put_i32(-5),
                // Plausible header of an advertised API, random body.
                2 => {
                    let body: Vec<u8> = (0..(rng.next() % 200)).map(|_| rng.next() as u8).collect();
                    frame.put_i32(i32::try_from(body.len() + 8).unwrap());
                    frame.put_i16([0i16, 1, 3, 19][(rng.next() % 4) as usize]);
                    frame.put_i16((rng.next() % 12) as i16);
                    frame.put_i32(1);
                    frame.put_slice(&body);
                }
                // Entirely random frame.
                _ => {
                    let body: Vec<u8> = (0..(rng.next() % 64 + 8))
                        .map(|_| rng.next() as u8)
                        .collect();
                    frame.put_i32(i32::try_from(body.len()).unwrap());
                    frame.put_slice(&body);
                }
            }
            s.write_all(&frame).await.unwrap();
            if round % 4 != 3 && closed_by_server(s).await {
                closed += 1;
            }
        }
        closed
    });

    for i in 0..200 {
        let ResponseKind::Produce(r) = client
            .send(ApiKey::Produce, 9, produce_request("steady", i))
            .await
        else {
            panic!("wrong response kind")
        };
        let p = &r.responses[0].partition_responses[0];
        assert_eq!(
            (p.error_code, p.base_offset),
            (0, i64::try_from(i).unwrap()),
            "seed {seed}"
        );
    }
    let closed = garbage.await.unwrap();
    assert!(
        closed >= 30,
        "oversized/negative frames must close their connection (seed {seed}): {closed}"
    );

    let log = server.broker.log("steady", 0).unwrap();
    assert_eq!(log.high_watermark(), 200);
    let mut fr = FetchRequest::default();
    fr.max_wait_ms = 0;
    fr.topics = vec![{
        let mut t = kafka_protocol::messages::fetch_request::FetchTopic::default();
        t.topic = kafka_protocol::messages::TopicName(StrBytes::from_static_str("steady"));
        let mut p = kafka_protocol::messages::fetch_request::FetchPartition::default();
        p.partition_max_bytes = 1 << 20;
        t.partitions = vec![p];
        t
    }];
    let _ = fetch::handle;
    let ResponseKind::Fetch(f) = client.send(ApiKey::Fetch, 12, RequestKind::Fetch(fr)).await
    else {
        panic!()
    };
    assert_eq!(f.responses[0].partitions[0].high_watermark, 200);
    assert!(
        f.responses[0].partitions[0]
            .records
            .as_ref()
            .is_some_and(|r| !r.is_empty())
    );
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsupported_api_versions_then_http_endpoints_then_restart_keeps_data() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(config(dir.path())).await.unwrap();
    let mut client = Client::connect(&server).await;
    // ApiVersions v0 (aiokafka) works.
    let ResponseKind::ApiVersions(v0) = client
        .send(
            ApiKey::ApiVersions,
            0,
            RequestKind::ApiVersions(ApiVersionsRequest::default()),
        )
        .await
    else {
        panic!()
    };
    assert_eq!(v0.error_code, 0);
    // A future ApiVersions version gets UNSUPPORTED_VERSION in a v0 body.
    let mut raw = BytesMut::new();
    raw.put_i32(10);
    raw.put_i16(ApiKey::ApiVersions as i16);
    raw.put_i16(99);
    raw.put_i32(77);
    raw.put_i16(-1);
    client.stream.write_all(&raw).await.unwrap();
    let size = client.stream.read_i32().await.unwrap();
    let mut frame = vec![0u8; usize::try_from(size).unwrap()];
    client.stream.read_exact(&mut frame).await.unwrap();
    assert_eq!(&frame[..4], &77i32.to_be_bytes());
    assert_eq!(&frame[4..6], &35i16.to_be_bytes(), "UNSUPPORTED_VERSION");

    server.broker.auto_create_topic("kept").unwrap();
    let ResponseKind::Produce(r) = client
        .send(ApiKey::Produce, 7, produce_request("kept", 0))
        .await
    else {
        panic!()
    };
    assert_eq!(r.responses[0].partition_responses[0].error_code, 0);

    for (path, status) in [
        ("/healthz", "200"),
        ("/readyz", "200"),
        ("/metrics", "200"),
        ("/nope", "404"),
    ] {
        let mut s = TcpStream::connect(server.http_addr).await.unwrap();
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
        let mut body = String::new();
        s.read_to_string(&mut body).await.unwrap();
        assert!(
            body.starts_with(&format!("HTTP/1.1 {status}")),
            "{path}: {body}"
        );
        if path == "/metrics" {
            assert!(
                body.contains("kafka_server_brokertopicmetrics_messagesin_total{topic=\"kept\"} 1"),
                "{body}"
            );
            assert!(
                body.contains("kafka_log_log_size{partition=\"0\",topic=\"kept\"}"),
                "{body}"
            );
        }
    }
    drop(client);
    server.shutdown().await.unwrap();

    let server = Server::start(config(dir.path())).await.unwrap();
    let log = server.broker.log("kept", 0).unwrap();
    assert_eq!((log.log_end_offset(), log.high_watermark()), (1, 1));
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_answers_in_flight_long_polls_and_ignores_half_sent_frames() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(config(dir.path())).await.unwrap();
    server.broker.auto_create_topic("idle").unwrap();

    // A client stalled in the middle of a frame.
    let mut stalled = TcpStream::connect(server.listeners[0].1).await.unwrap();
    stalled.write_all(&100i32.to_be_bytes()).await.unwrap();
    stalled.write_all(&[0, 1]).await.unwrap();

    // A consumer long-polling an idle partition for 60 s.
    let mut poller = Client::connect(&server).await;
    let mut fr = FetchRequest::default();
    fr.max_wait_ms = 60_000;
    fr.min_bytes = 1;
    fr.session_id = 0;
    fr.session_epoch = 0;
    fr.topics = vec![{
        let mut t = kafka_protocol::messages::fetch_request::FetchTopic::default();
        t.topic = kafka_protocol::messages::TopicName(StrBytes::from_static_str("idle"));
        let mut p = kafka_protocol::messages::fetch_request::FetchPartition::default();
        p.partition_max_bytes = 1 << 20;
        t.partitions = vec![p];
        t
    }];
    let poll = tokio::spawn(async move {
        let r = poller.send(ApiKey::Fetch, 12, RequestKind::Fetch(fr)).await;
        (r, poller)
    });
    // Wait until the fetch is parked: it opened a fetch session (epoch 0).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while server.broker.replicas().fetch_sessions().is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the fetch never arrived"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let started = std::time::Instant::now();
    tokio::time::timeout(Duration::from_secs(10), server.shutdown())
        .await
        .expect("shutdown hung")
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    let (resp, _poller) = tokio::time::timeout(Duration::from_secs(5), poll)
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(resp, ResponseKind::Fetch(f) if f.error_code == 0),
        "the in-flight fetch is answered"
    );
    assert!(closed_by_server(stalled).await);
}

fn long_poll(topic: &'static str, max_wait_ms: i32) -> RequestKind {
    let mut fr = FetchRequest::default();
    fr.max_wait_ms = max_wait_ms;
    fr.min_bytes = 1;
    fr.topics = vec![{
        let mut t = kafka_protocol::messages::fetch_request::FetchTopic::default();
        t.topic = kafka_protocol::messages::TopicName(StrBytes::from_static_str(topic));
        let mut p = kafka_protocol::messages::fetch_request::FetchPartition::default();
        p.partition_max_bytes = 1 << 20;
        t.partitions = vec![p];
        t
    }];
    RequestKind::Fetch(fr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_max_idle_ms_closes_only_idle_connections() {
    const IDLE: Duration = Duration::from_millis(400);
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(config_with(
        dir.path(),
        &[("connections.max.idle.ms", "400")],
    ))
    .await
    .unwrap();
    server.broker.auto_create_topic("quiet").unwrap();

    // A connection that never sends a request is closed once it has been idle.
    let opened = std::time::Instant::now();
    let idle = TcpStream::connect(server.listeners[0].1).await.unwrap();
    assert!(closed_by_server(idle).await, "idle connection left open");
    assert!(
        opened.elapsed() >= IDLE,
        "closed after {:?}",
        opened.elapsed()
    );

    // Requests every 100 ms for three idle periods keep a connection open.
    let mut busy = Client::connect(&server).await;
    let until = std::time::Instant::now() + 3 * IDLE;
    while std::time::Instant::now() < until {
        let r = busy
            .send(
                ApiKey::ApiVersions,
                3,
                RequestKind::ApiVersions(ApiVersionsRequest::default()),
            )
            .await;
        assert!(matches!(r, ResponseKind::ApiVersions(v) if v.error_code == 0));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A long poll longer than the idle limit is in flight, not idle: it is answered.
    let started = std::time::Instant::now();
    let r = busy.send(ApiKey::Fetch, 12, long_poll("quiet", 1200)).await;
    assert!(matches!(r, ResponseKind::Fetch(f) if f.error_code == 0));
    assert!(started.elapsed() >= Duration::from_millis(1200));
    // And after it the connection goes idle and is closed.
    assert!(closed_by_server(busy.stream).await);
    server.shutdown().await.unwrap();
}
