//! A transaction coordinator killed -9 between EndTxn and its markers (issue 16): on
//! three brokers (one controller apart, so killing brokers never costs the quorum) a
//! transaction's EndTxn(commit) reaches its coordinator while the only replica of the
//! partition it wrote to is down, so the COMMIT marker cannot be written; the
//! coordinator is then killed -9 and both brokers restart. The coordinator that
//! loads the transaction from `__transaction_state` (PrepareCommit) must write the
//! marker and complete it, as Kafka's `TransactionCoordinator.onElection` does: a
//! read_committed consumer then reads the records (the last stable offset moved past
//! them) and DescribeTransactions says CompleteCommit (or CompleteAbort).
//!
//! Then the producer's next transaction opens on the partition whose marker the new
//! coordinator wrote, and a marker from the killed coordinator's epoch (one it could
//! have had in flight) is refused with TRANSACTION_COORDINATOR_FENCED: it must not end
//! the new transaction early.
//!
//! The transaction is driven on the wire (InitProducerId, AddPartitionsToTxn, a
//! transactional Produce, EndTxn) so each step lands exactly between the kills.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::cluster::Cluster;
use common::process::kcat_read;
use common::wait::wait_until;
use tidewater_client::kafka_protocol::error::ResponseError as E;
use tidewater_client::kafka_protocol::messages::{EndTxnRequest, ProducerId, TransactionalId};
use tidewater_client::kafka_protocol::protocol::StrBytes;
use tidewater_client::{AdminClient, Connection};
use tidewater_txn::{TxnConfig, TxnCoordinator};

const TOPIC: &str = "txn-failover";
const ID: &str = "tx-failover";
const RECORDS: usize = 3;
const PARTITIONS: usize = 3;
const T: Duration = Duration::from_secs(60);

fn txn_id() -> TransactionalId {
    TransactionalId(StrBytes::from_static_str(ID))
}

async fn connect(addr: &str) -> Result<Connection, String> {
    Connection::connect(addr, "txn-failover-test")
        .await
        .map_err(|e| e.to_string())
}

async fn find_coordinator(addr: &str) -> Result<i32, String> {
    common::txn::find_coordinator(addr, ID).await
}

async fn describe(addr: &str) -> Result<String, String> {
    common::txn::describe(addr, ID).await
}

/// AddPartitionsToTxn (v3) of `partitions` to `ID`'s transaction, at its coordinator.
async fn add_partitions(conn: &Connection, pid: ProducerId, epoch: i16, partitions: Vec<i32>) {
    let codes = common::txn::add_partitions(conn, ID, pid, epoch, TOPIC, partitions).await;
    assert!(
        codes.iter().all(|c| *c == 0),
        "AddPartitionsToTxn {codes:?}"
    );
}

/// Produces `RECORDS` records of producer `pid`/`epoch`, sequences from `first`, in
/// one transactional batch to `partition`'s leader at `addr` (acks=all); returns its
/// base offset.
async fn produce(addr: &str, partition: i32, pid: ProducerId, epoch: i16, first: i32) -> i64 {
    let values: Vec<String> = (first..first + RECORDS as i32)
        .map(|i| format!("record-{i}"))
        .collect();
    let batch = common::txn::transactional_batch(pid.0, epoch, first, &values);
    let p = common::txn::produce(addr, ID, TOPIC, partition, batch, 9).await;
    assert_eq!(p.error_code, 0, "Produce to partition {partition}");
    p.base_offset
}

/// A COMMIT marker of producer `pid`/`epoch` from `coordinator_epoch`, sent to
/// `partition`'s leader at `addr` as a coordinator sends it; returns its error code.
async fn write_marker(
    addr: &str,
    partition: i32,
    pid: ProducerId,
    epoch: i16,
    coordinator_epoch: i32,
) -> i16 {
    let req = common::txn::commit_marker(pid.0, epoch, coordinator_epoch, TOPIC, vec![partition]);
    let conn = connect(addr).await.expect("leader");
    let r = conn.send_at(&req, 1).await.expect("WriteTxnMarkers");
    r.markers[0].topics[0].partitions[0].error_code
}

/// The leader and leader epoch (the coordinator epoch) of `ID`'s
/// `__transaction_state` partition.
async fn coordinator_epoch(addr: &str) -> (i32, i32) {
    let partition = TxnCoordinator::new(TxnConfig::default()).partition_for(ID);
    let admin = AdminClient::connect(addr).await.expect("admin");
    let meta = admin
        .metadata(Some(vec!["__transaction_state".to_owned()]))
        .await
        .expect("metadata");
    let p = meta.topics[0]
        .partitions
        .iter()
        .find(|p| p.partition == partition)
        .expect("the id's partition");
    (p.leader, p.leader_epoch)
}

async fn last_stable_offset(addr: &str, partition: i32) -> Result<i64, String> {
    common::txn::last_stable_offset(addr, TOPIC, partition).await
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
        let (pid, epoch) = common::txn::init_transactional(&conn, ID, T).await;
        add_partitions(&conn, pid, epoch, leaders.keys().copied().collect()).await;
        for (&partition, leader) in &leaders {
            let base = produce(&addrs[leader], partition, pid, epoch, 0).await;
            assert_eq!(base, 0, "partition {partition}");
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
    let (txn_leader, old_epoch) = runtime.block_on(coordinator_epoch(&coordinator_addr));
    assert_eq!(
        txn_leader, coordinator,
        "the coordinator leads the id's partition"
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

    // The next transaction of the producer, on a partition whose marker the new
    // coordinator wrote: a marker the killed coordinator might still have had in
    // flight (its epoch is older) must not end it. Without the coordinator-epoch
    // fence it would commit the new transaction's records before its EndTxn.
    let (pending, _) = leaders
        .iter()
        .find(|(_, l)| **l == leader)
        .expect("a partition of the stopped broker");
    let (_, new_epoch) = runtime.block_on(coordinator_epoch(&addrs[&completed_by]));
    assert!(
        new_epoch > old_epoch,
        "coordinator epoch {old_epoch} -> {new_epoch}"
    );
    runtime.block_on(async {
        let conn = connect(&addrs[&completed_by]).await.expect("coordinator");
        add_partitions(&conn, pid, epoch, vec![*pending]).await;
        let next = produce(&addrs[&leader], *pending, pid, epoch, RECORDS as i32).await;
        assert_eq!(
            last_stable_offset(&addrs[&leader], *pending).await,
            Ok(next),
            "the next transaction holds the last stable offset"
        );
        let code = write_marker(&addrs[&leader], *pending, pid, epoch, old_epoch).await;
        assert_eq!(
            code,
            E::TransactionCoordinatorFenced.code(),
            "zombie marker"
        );
        assert_eq!(
            last_stable_offset(&addrs[&leader], *pending).await,
            Ok(next),
            "the zombie's marker ended nothing"
        );
    });
}
