//! Transactional requests on the wire for the tests that drive a transaction
//! coordinator without a client library.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tidewater_client::Connection;
use tidewater_client::kafka_protocol::indexmap::IndexMap;
use tidewater_client::kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use tidewater_client::kafka_protocol::messages::list_offsets_request::{
    ListOffsetsPartition, ListOffsetsTopic,
};
use tidewater_client::kafka_protocol::messages::produce_request::{
    PartitionProduceData, TopicProduceData,
};
use tidewater_client::kafka_protocol::messages::produce_response::PartitionProduceResponse;
use tidewater_client::kafka_protocol::messages::write_txn_markers_request::{
    WritableTxnMarker, WritableTxnMarkerTopic,
};
use tidewater_client::kafka_protocol::messages::{
    AddPartitionsToTxnRequest, DescribeTransactionsRequest, FindCoordinatorRequest,
    InitProducerIdRequest, InitProducerIdResponse, ListOffsetsRequest, ProduceRequest, ProducerId,
    TopicName, TransactionalId, WriteTxnMarkersRequest,
};
use tidewater_client::kafka_protocol::protocol::StrBytes;
use tidewater_client::kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

async fn connect(addr: &str) -> Result<Connection, String> {
    Connection::connect(addr, "txn-test")
        .await
        .map_err(|e| e.to_string())
}

fn txn_id(id: &str) -> TransactionalId {
    TransactionalId(StrBytes::from_string(id.to_owned()))
}

fn topic_name(topic: &str) -> TopicName {
    TopicName(StrBytes::from_string(topic.to_owned()))
}

/// The node coordinating transactional id `id`, asked of `addr` (the first
/// FindCoordinator creates `__transaction_state`).
pub async fn find_coordinator(addr: &str, id: &str) -> Result<i32, String> {
    let conn = connect(addr).await?;
    let mut find = FindCoordinatorRequest::default();
    find.key_type = 1;
    find.key = StrBytes::from_string(id.to_owned());
    let r = conn.send_at(&find, 3).await.map_err(|e| e.to_string())?;
    if r.error_code != 0 {
        return Err(format!("FindCoordinator: error {}", r.error_code));
    }
    Ok(r.node_id.0)
}

/// `id`'s state as the coordinator at `addr` describes it (DescribeTransactions v0).
pub async fn describe(addr: &str, id: &str) -> Result<String, String> {
    let conn = connect(addr).await?;
    let mut req = DescribeTransactionsRequest::default();
    req.transactional_ids = vec![txn_id(id)];
    let r = conn.send_at(&req, 0).await.map_err(|e| e.to_string())?;
    let state = r.transaction_states.first().ok_or("no transaction state")?;
    if state.error_code != 0 {
        return Err(format!("DescribeTransactions: error {}", state.error_code));
    }
    Ok(state.transaction_state.to_string())
}

/// `values` as records of producer `pid`/`epoch`, sequences from `first`, in one
/// transactional batch.
pub fn transactional_batch(pid: i64, epoch: i16, first: i32, values: &[String]) -> Bytes {
    let records: Vec<Record> = values
        .iter()
        .zip(first..)
        .map(|(value, i)| Record {
            transactional: true,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: pid,
            producer_epoch: epoch,
            timestamp_type: TimestampType::Creation,
            offset: i64::from(i - first),
            sequence: i,
            timestamp: 0,
            key: None,
            value: Some(Bytes::from(value.clone())),
            headers: IndexMap::new(),
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        records.iter(),
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .expect("encode batch");
    buf.freeze()
}

/// AddPartitionsToTxn (v3) of `partitions` of `topic` to `id`'s transaction, at its
/// coordinator; each partition's error code.
pub async fn add_partitions(
    conn: &Connection,
    id: &str,
    pid: ProducerId,
    epoch: i16,
    topic: &str,
    partitions: Vec<i32>,
) -> Vec<i16> {
    let mut add = AddPartitionsToTxnRequest::default();
    add.v3_and_below_transactional_id = txn_id(id);
    add.v3_and_below_producer_id = pid;
    add.v3_and_below_producer_epoch = epoch;
    let mut t = AddPartitionsToTxnTopic::default();
    t.name = topic_name(topic);
    t.partitions = partitions;
    add.v3_and_below_topics = vec![t];
    let r = conn.send_at(&add, 3).await.expect("AddPartitionsToTxn");
    r.results_by_topic_v3_and_below[0]
        .results_by_partition
        .iter()
        .map(|p| p.partition_error_code)
        .collect()
}

/// Produces `batch` of transactional id `id` to `partition`'s leader at `addr`
/// (acks=all, Produce `version`); the partition's answer.
pub async fn produce(
    addr: &str,
    id: &str,
    topic: &str,
    partition: i32,
    batch: Bytes,
    version: i16,
) -> PartitionProduceResponse {
    let mut data = PartitionProduceData::default();
    data.index = partition;
    data.records = Some(batch);
    let mut td = TopicProduceData::default();
    td.name = topic_name(topic);
    td.partition_data = vec![data];
    let mut produce = ProduceRequest::default();
    produce.transactional_id = Some(txn_id(id));
    produce.acks = -1;
    produce.timeout_ms = 30_000;
    produce.topic_data = vec![td];
    let conn = connect(addr).await.expect("leader");
    let r = conn.send_at(&produce, version).await.expect("Produce");
    r.responses[0].partition_responses[0].clone()
}

/// The last stable offset of `partition` (ListOffsets, latest, read_committed).
pub async fn last_stable_offset(addr: &str, topic: &str, partition: i32) -> Result<i64, String> {
    let conn = connect(addr).await?;
    let mut p = ListOffsetsPartition::default();
    p.partition_index = partition;
    p.timestamp = -1;
    p.current_leader_epoch = -1;
    let mut t = ListOffsetsTopic::default();
    t.name = topic_name(topic);
    t.partitions = vec![p];
    let mut req = ListOffsetsRequest::default();
    req.replica_id = (-1).into();
    req.isolation_level = 1;
    req.topics = vec![t];
    let r = conn.send_at(&req, 5).await.map_err(|e| e.to_string())?;
    let p = &r.topics[0].partitions[0];
    if p.error_code != 0 {
        return Err(format!("ListOffsets: error {}", p.error_code));
    }
    Ok(p.offset)
}

/// InitProducerId (v4) for `init`'s transactional id, after a FindCoordinator
/// (key_type 1) each round: the first creates `__transaction_state`, and the id is
/// served once its partition is led and loaded. Panics after `timeout`.
pub async fn init_producer_id(
    conn: &Connection,
    init: &InitProducerIdRequest,
    timeout: Duration,
) -> InitProducerIdResponse {
    let mut find = FindCoordinatorRequest::default();
    find.key_type = 1;
    find.key = init.transactional_id.clone().unwrap_or_default().0;
    let deadline = std::time::Instant::now() + timeout;
    loop {
        conn.send_at(&find, 3).await.expect("FindCoordinator");
        let r = conn.send_at(init, 4).await.expect("InitProducerId");
        if r.error_code == 0 {
            return r;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no coordinator: {r:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// InitProducerId of a new transactional id `id` (timeout 10 minutes) at its
/// coordinator `conn`: the producer id and epoch.
pub async fn init_transactional(
    conn: &Connection,
    id: &str,
    timeout: Duration,
) -> (ProducerId, i16) {
    let mut init = InitProducerIdRequest::default();
    init.transactional_id = Some(txn_id(id));
    init.transaction_timeout_ms = 600_000;
    init.producer_id = ProducerId(-1);
    init.producer_epoch = -1;
    let r = init_producer_id(conn, &init, timeout).await;
    (r.producer_id, r.producer_epoch)
}

/// WriteTxnMarkers as a transaction coordinator sends it: one COMMIT marker of
/// producer `pid`/`epoch` from `coordinator_epoch` for `partitions` of `topic`.
pub fn commit_marker(
    pid: i64,
    epoch: i16,
    coordinator_epoch: i32,
    topic: &str,
    partitions: Vec<i32>,
) -> WriteTxnMarkersRequest {
    let mut t = WritableTxnMarkerTopic::default();
    t.name = TopicName(StrBytes::from_string(topic.to_owned()));
    t.partition_indexes = partitions;
    let mut marker = WritableTxnMarker::default();
    marker.producer_id = ProducerId(pid);
    marker.producer_epoch = epoch;
    marker.transaction_result = true;
    marker.coordinator_epoch = coordinator_epoch;
    marker.topics = vec![t];
    let mut req = WriteTxnMarkersRequest::default();
    req.markers = vec![marker];
    req
}

/// Three combined nodes with `topic` (`partitions`, replication factor 3, every ISR
/// full): the cluster, the partitions' metadata and each node's address by id.
pub fn three_nodes_with_topic(
    topic: &str,
    partitions: i32,
    timeout: Duration,
) -> (
    super::cluster::Cluster,
    BTreeMap<i32, super::clients::PartitionMeta>,
    BTreeMap<i32, String>,
) {
    let mut cluster = super::cluster::Cluster::combined(3, &[]);
    let bootstrap = cluster.bootstrap();
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    runtime.block_on(async {
        let admin = tidewater_client::AdminClient::connect(&bootstrap)
            .await
            .expect("admin");
        admin
            .create_topic(topic, partitions, 3, &BTreeMap::new())
            .await
            .expect("create topic");
    });
    let count = usize::try_from(partitions).unwrap_or(0);
    let meta = cluster.wait_isr_full(topic, count, 3, timeout);
    let addrs = cluster
        .broker_ids()
        .into_iter()
        .map(|id| (id, cluster.node(id).bootstrap()))
        .collect();
    (cluster, meta, addrs)
}
