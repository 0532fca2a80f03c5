//! A transaction coordinator killed -9 between EndTxn and its markers (issue 16): on
//! three brokers (one controller apart, so killing brokers never costs the quorum) a
//! transaction's EndTxn(commit) reaches its coordinator while the only replica of the
//! partition it wrote to is down, so the COMMIT marker cannot be written; the
//! coordinator is then killed -9 and both brokers restart. The coordinator that
//! loads the transaction from `__transaction_state` (PrepareCommit) must write the
//! marker and complete it, as Kafka's `TransactionCoordinator.onElection` does: a
//! read_committed consumer then reads the records (the last stable offset moved past
//! them) and DescribeTransactions says CompleteCommit.
//!
//! The transaction is driven on the wire (InitProducerId, AddPartitionsToTxn, a
//! transactional Produce, EndTxn) so each step lands exactly between the kills.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use common::cluster::Cluster;
use common::process::kcat_read;
use common::wait::wait_until;
use tidewater_client::kafka_protocol::indexmap::IndexMap;
use tidewater_client::kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use tidewater_client::kafka_protocol::messages::list_offsets_request::{
    ListOffsetsPartition, ListOffsetsTopic,
};
use tidewater_client::kafka_protocol::messages::produce_request::{
    PartitionProduceData, TopicProduceData,
};
use tidewater_client::kafka_protocol::messages::{
    AddPartitionsToTxnRequest, DescribeTransactionsRequest, EndTxnRequest, FindCoordinatorRequest,
    InitProducerIdRequest, ListOffsetsRequest, ProduceRequest, ProducerId, TopicName,
    TransactionalId,
};
use tidewater_client::kafka_protocol::protocol::StrBytes;
use tidewater_client::kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use tidewater_client::{AdminClient, Connection};

const TOPIC: &str = "txn-failover";
const ID: &str = "tx-failover";
const RECORDS: usize = 3;
const PARTITIONS: usize = 3;
const T: Duration = Duration::from_secs(60);

fn txn_id() -> TransactionalId {
    TransactionalId(StrBytes::from_static_str(ID))
}

fn topic() -> TopicName {
    TopicName(StrBytes::from_static_str(TOPIC))
}

async fn connect(addr: &str) -> Result<Connection, String> {
    Connection::connect(addr, "txn-failover-test")
        .await
        .map_err(|e| e.to_string())
}

/// The node coordinating `ID`, asked of `addr` (the first FindCoordinator creates
/// `__transaction_state`).
async fn find_coordinator(addr: &str) -> Result<i32, String> {
    let conn = connect(addr).await?;
    let mut find = FindCoordinatorRequest::default();
    find.key_type = 1;
    find.key = StrBytes::from_static_str(ID);
    let r = conn.send_at(&find, 3).await.map_err(|e| e.to_string())?;
    if r.error_code != 0 {
        return Err(format!("FindCoordinator: error {}", r.error_code));
    }
    Ok(r.node_id.0)
}

/// `ID`'s state as the coordinator at `addr` describes it (DescribeTransactions v0).
async fn describe(addr: &str) -> Result<String, String> {
    let conn = connect(addr).await?;
    let mut req = DescribeTransactionsRequest::default();
    req.transactional_ids = vec![txn_id()];
    let r = conn.send_at(&req, 0).await.map_err(|e| e.to_string())?;
    let state = r.transaction_states.first().ok_or("no transaction state")?;
    if state.error_code != 0 {
        return Err(format!("DescribeTransactions: error {}", state.error_code));
    }
    Ok(state.transaction_state.to_string())
}

/// `RECORDS` records of producer `pid`/`epoch`, sequences from 0, in one
/// transactional batch.
fn transactional_batch(pid: i64, epoch: i16) -> Bytes {
    let records: Vec<Record> = (0..RECORDS)
        .map(|i| Record {
            transactional: true,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: pid,
            producer_epoch: epoch,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: i as i32,
            timestamp: 0,
            key: None,
            value: Some(Bytes::from(format!("record-{i}"))),
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

/// The last stable offset of `partition` (ListOffsets, latest, read_committed).
async fn last_stable_offset(addr: &str, partition: i32) -> Result<i64, String> {
    let conn = connect(addr).await?;
    let mut p = ListOffsetsPartition::default();
    p.partition_index = partition;
    p.timestamp = -1;
    p.current_leader_epoch = -1;
    let mut t = ListOffsetsTopic::default();
    t.name = topic();
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

#[test]
fn a_commit_whose_coordinator_died_before_its_marker_is_completed_by_the_next_coordinator() {
    end_with_the_coordinator_killed(true);
}

#[test]
fn an_abort_whose_coordinator_died_before_its_marker_is_completed_by_the_next_coordinator() {
    end_with_the_coordinator_killed(false);
}

/// The scenario of the module doc, ending the transaction with a commit or an abort.
fn end_with_the_coordinator_killed(commit: bool) {
    let (prepared, completed) = if commit {
        ("PrepareCommit", "CompleteCommit")
    } else {
        ("PrepareAbort", "CompleteAbort")
    };
    let mut cluster = Cluster::split(1, 3, &[]);
    let bootstrap = cluster.bootstrap();
    let any = cluster.node(2).bootstrap();
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    // One replica per partition: while its broker is down nothing can take its marker.
    runtime.block_on(async {
        let admin = AdminClient::connect(&bootstrap).await.expect("admin");
        let configs = BTreeMap::from([("min.insync.replicas".to_owned(), "1".to_owned())]);
        admin
            .create_topic(TOPIC, PARTITIONS as i32, 1, &configs)
            .await
            .expect("create topic");
    });
    let coordinator = wait_until("a transaction coordinator", T, || {
        runtime.block_on(find_coordinator(&any))
    });
    // Every partition joins the transaction; the markers of those led elsewhere than
    // `leader` are written before the kill, `leader`'s are not.
    let meta = cluster.wait_isr_full(TOPIC, PARTITIONS, 1, T);
    let leaders: BTreeMap<i32, i32> = meta.values().map(|p| (p.partition, p.leader)).collect();
    let leader = *leaders
        .values()
        .find(|l| **l != coordinator)
        .expect("a partition led by another broker than the coordinator");
    let addrs: BTreeMap<i32, String> = cluster
        .broker_ids()
        .into_iter()
        .map(|id| (id, cluster.node(id).bootstrap()))
        .collect();
    let coordinator_addr = addrs[&coordinator].clone();
    let (pid, epoch) = runtime.block_on(async {
        let conn = connect(&coordinator_addr).await.expect("coordinator");
        let mut init = InitProducerIdRequest::default();
        init.transactional_id = Some(txn_id());
        init.transaction_timeout_ms = 600_000;
        init.producer_id = ProducerId(-1);
        init.producer_epoch = -1;
        let r = common::txn::init_producer_id(&conn, &init, T).await;
        let (pid, epoch) = (r.producer_id, r.producer_epoch);
        let mut add = AddPartitionsToTxnRequest::default();
        add.v3_and_below_transactional_id = txn_id();
        add.v3_and_below_producer_id = pid;
        add.v3_and_below_producer_epoch = epoch;
        let mut t = AddPartitionsToTxnTopic::default();
        t.name = topic();
        t.partitions = leaders.keys().copied().collect();
        add.v3_and_below_topics = vec![t];
        let r = conn.send_at(&add, 3).await.expect("AddPartitionsToTxn");
        for p in &r.results_by_topic_v3_and_below[0].results_by_partition {
            assert_eq!(p.partition_error_code, 0, "AddPartitionsToTxn {p:?}");
        }
        for (&partition, leader) in &leaders {
            let mut data = PartitionProduceData::default();
            data.index = partition;
            data.records = Some(transactional_batch(pid.0, epoch));
            let mut td = TopicProduceData::default();
            td.name = topic();
            td.partition_data = vec![data];
            let mut produce = ProduceRequest::default();
            produce.transactional_id = Some(txn_id());
            produce.acks = -1;
            produce.timeout_ms = 30_000;
            produce.topic_data = vec![td];
            let leader_conn = connect(&addrs[leader]).await.expect("leader");
            let r = leader_conn.send_at(&produce, 9).await.expect("Produce");
            let p = &r.responses[0].partition_responses[0];
            assert_eq!((p.error_code, p.base_offset), (0, 0), "Produce {partition}");
        }
        (pid, epoch)
    });

    // `leader`'s partitions have no other replica: their markers cannot be
    // written while it is down.
    cluster.node(leader).sigterm();
    runtime.block_on(async {
        let conn = connect(&coordinator_addr).await.expect("coordinator");
        let mut end = EndTxnRequest::default();
        end.transactional_id = txn_id();
        end.producer_id = pid;
        end.producer_epoch = epoch;
        end.committed = commit;
        let r = conn.send_at(&end, 3).await.expect("EndTxn");
        assert_eq!(r.error_code, 0, "EndTxn");
    });
    let stable = RECORDS as i64 + 1;
    for (&partition, l) in leaders.iter().filter(|(_, l)| **l != leader) {
        wait_until(
            &format!("the marker on partition {partition}"),
            T,
            || match runtime.block_on(last_stable_offset(&addrs[l], partition))? {
                lso if lso >= stable => Ok(()),
                lso => Err(format!("last stable offset {lso}")),
            },
        );
    }
    // Durable as PrepareCommit/PrepareAbort, the stopped broker's markers pending.
    assert_eq!(
        runtime.block_on(describe(&coordinator_addr)).as_deref(),
        Ok(prepared)
    );
    let status = cluster.node(coordinator).kill9();
    assert!(!status.success(), "kill -9 is no clean exit: {status}");
    cluster.node(leader).restart();
    cluster.node(coordinator).restart();

    // Whichever broker now coordinates the id completes the commit.
    let completed_by = wait_until("the transaction completed", T, || {
        runtime.block_on(async {
            let node = find_coordinator(&any).await?;
            let addr = addrs.get(&node).ok_or(format!("no broker {node}"))?;
            match describe(addr).await? {
                done if done == completed => Ok(node),
                other => Err(format!("node {node}: {other}")),
            }
        })
    });
    eprintln!(
        "coordinator {coordinator} killed with the markers of node {leader} pending \
         (leaders {leaders:?}); completed by node {completed_by}"
    );
    // Every marker is written: the last stable offsets are past the records, and a
    // read_committed consumer reads them (committed) or skips them (aborted).
    for (&partition, l) in &leaders {
        let lso = wait_until(&format!("the marker on partition {partition}"), T, || {
            runtime.block_on(last_stable_offset(&addrs[l], partition))
        });
        assert!(
            lso >= stable,
            "partition {partition}: last stable offset {lso}"
        );
        let partition_arg = partition.to_string();
        let out = kcat_read(
            &bootstrap,
            TOPIC,
            &[
                "-p",
                &partition_arg,
                "-q",
                "-f",
                "%s\\n",
                "-X",
                "isolation.level=read_committed",
            ],
            T,
        );
        let read: Vec<&str> = out.stdout.lines().collect();
        let expected: &[&str] = if commit {
            &["record-0", "record-1", "record-2"]
        } else {
            &[]
        };
        assert_eq!(read, expected, "read_committed partition {partition}");
    }
}
