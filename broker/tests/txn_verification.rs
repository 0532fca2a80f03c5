//! KIP-890 transaction verification (part 1) on three brokers, with the transaction
//! coordinator on another broker than the partition leaders: a leader asks the
//! coordinator (AddPartitionsToTxn v4, `verify_only`) before a producer's first
//! transactional batch opens a transaction on a partition, and refuses the batch when
//! the partition is not in the producer's ongoing transaction. Without it each of the
//! two batches refused here would open a transaction no coordinator knows of: a
//! hanging transaction that holds the last stable offset, so read_committed consumers
//! stop, until the producer id expires.
//!
//! Driven on the wire (InitProducerId, AddPartitionsToTxn for one partition only, a
//! transactional Produce to another, EndTxn(abort), a late Produce of the aborted
//! transaction); kcat reads read_committed afterwards.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::process::{kcat, kcat_read};
use common::txn::{
    add_partitions, describe, find_coordinator, produce, three_nodes_with_topic,
    transactional_batch,
};
use common::wait::wait_until;
use tidewater_client::Connection;
use tidewater_client::kafka_protocol::error::ResponseError as E;
use tidewater_client::kafka_protocol::messages::add_partitions_to_txn_request::{
    AddPartitionsToTxnTopic, AddPartitionsToTxnTransaction,
};
use tidewater_client::kafka_protocol::messages::{
    AddPartitionsToTxnRequest, EndTxnRequest, ProducerId, TopicName, TransactionalId,
};
use tidewater_client::kafka_protocol::protocol::StrBytes;

const TOPIC: &str = "txn-verification";
const ID: &str = "tx-verification";
const PARTITIONS: i32 = 3;
const T: Duration = Duration::from_secs(60);

fn txn_id() -> TransactionalId {
    TransactionalId(StrBytes::from_static_str(ID))
}

/// AddPartitionsToTxn v4 with `verify_only`, as a partition leader sends it: each
/// partition's error code.
async fn verify_only(
    conn: &Connection,
    pid: ProducerId,
    epoch: i16,
    partitions: Vec<i32>,
) -> BTreeMap<i32, i16> {
    let mut t = AddPartitionsToTxnTopic::default();
    t.name = TopicName(StrBytes::from_static_str(TOPIC));
    t.partitions = partitions;
    let mut txn = AddPartitionsToTxnTransaction::default();
    txn.transactional_id = txn_id();
    txn.producer_id = pid;
    txn.producer_epoch = epoch;
    txn.verify_only = true;
    txn.topics = vec![t];
    let mut req = AddPartitionsToTxnRequest::default();
    req.transactions = vec![txn];
    let r = conn.send_at(&req, 4).await.expect("AddPartitionsToTxn v4");
    assert_eq!(r.error_code, 0, "AddPartitionsToTxn v4");
    r.results_by_transaction[0].topic_results[0]
        .results_by_partition
        .iter()
        .map(|p| (p.partition_index, p.partition_error_code))
        .collect()
}

/// `partition` read by a read_committed kcat, to the last stable offset.
fn read_committed(bootstrap: &str, partition: i32) -> Vec<String> {
    let p = partition.to_string();
    let args = [
        "-p",
        &p,
        "-q",
        "-f",
        "%s\\n",
        "-X",
        "isolation.level=read_committed",
    ];
    let out = kcat_read(bootstrap, TOPIC, &args, T);
    out.stdout.lines().map(str::to_owned).collect()
}

#[test]
fn a_batch_for_a_partition_outside_the_transaction_or_after_its_abort_is_refused() {
    let (cluster, meta, addrs) = three_nodes_with_topic(TOPIC, PARTITIONS, T);
    let bootstrap = cluster.bootstrap();
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let leaders: BTreeMap<i32, i32> = meta.values().map(|p| (p.partition, p.leader)).collect();
    let coordinator = wait_until("a transaction coordinator", T, || {
        runtime.block_on(find_coordinator(&addrs[&1], ID))
    });
    // Both partitions led elsewhere than the coordinator: the leaders ask over the
    // inter-broker listener.
    let apart: Vec<i32> = leaders
        .iter()
        .filter(|(_, l)| **l != coordinator)
        .map(|(p, _)| *p)
        .collect();
    assert!(
        apart.len() >= 2,
        "leaders {leaders:?}, coordinator {coordinator}"
    );
    let (added, not_added) = (apart[0], apart[1]);
    let leader_of = |p: i32| addrs[&leaders[&p]].clone();
    let one = |v: &str| vec![v.to_owned()];
    let coordinator_addr = addrs[&coordinator].clone();
    let (pid, epoch) = runtime.block_on(async {
        let conn = Connection::connect(&coordinator_addr, "txn-verification")
            .await
            .expect("coordinator");
        let (pid, epoch) = common::txn::init_transactional(&conn, ID, T).await;
        let codes = add_partitions(&conn, ID, pid, epoch, TOPIC, vec![added]).await;
        assert_eq!(codes, vec![0]);
        // The coordinator's own answer to a leader.
        let answer = verify_only(&conn, pid, epoch, vec![added, not_added]).await;
        assert_eq!(
            answer,
            BTreeMap::from([(added, 0), (not_added, E::TransactionAbortable.code())])
        );

        // Not added: refused, with the code each Produce version knows.
        let batch = transactional_batch(pid.0, epoch, 0, &one("hanging"));
        let r = produce(
            &leader_of(not_added),
            ID,
            TOPIC,
            not_added,
            batch.clone(),
            9,
        )
        .await;
        assert_eq!(r.error_code, E::InvalidTxnState.code(), "Produce v9 {r:?}");
        let r = produce(&leader_of(not_added), ID, TOPIC, not_added, batch, 11).await;
        assert_eq!(
            r.error_code,
            E::TransactionAbortable.code(),
            "Produce v11 {r:?}"
        );
        // Added: appended, and the next batch goes on in the open transaction.
        for (seq, value) in [(0, "aborted-0"), (1, "aborted-1")] {
            let batch = transactional_batch(pid.0, epoch, seq, &one(value));
            let r = produce(&leader_of(added), ID, TOPIC, added, batch, 9).await;
            assert_eq!(r.error_code, 0, "{value}: {r:?}");
        }
        let mut end = EndTxnRequest::default();
        end.transactional_id = txn_id();
        end.producer_id = pid;
        end.producer_epoch = epoch;
        end.committed = false;
        let r = conn.send_at(&end, 3).await.expect("EndTxn");
        assert_eq!(r.error_code, 0, "EndTxn");
        (pid.0, epoch)
    });
    wait_until("the abort completed", T, || {
        match runtime.block_on(describe(&coordinator_addr, ID))? {
            s if s == "CompleteAbort" => Ok(()),
            other => Err(other),
        }
    });
    // A late batch of the aborted transaction, same producer epoch: refused.
    runtime.block_on(async {
        let batch = transactional_batch(pid, epoch, 2, &one("late"));
        let r = produce(&leader_of(added), ID, TOPIC, added, batch, 9).await;
        assert_eq!(r.error_code, E::InvalidTxnState.code(), "late batch {r:?}");
    });
    // Nothing hangs: records written after are read by read_committed consumers.
    for p in [added, not_added] {
        let record = format!("after-{p}\n");
        let partition = p.to_string();
        kcat(
            &["-b", &bootstrap, "-P", "-t", TOPIC, "-p", &partition],
            Some(record.as_bytes()),
            T,
        )
        .ok();
        assert_eq!(read_committed(&bootstrap, p), vec![format!("after-{p}")]);
    }
}
