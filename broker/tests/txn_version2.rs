//! Transaction version 2 (KIP-890 part 2) on the wire, on three brokers with the
//! transaction coordinator apart from the partition's leader: a Produce v12 needs no
//! AddPartitionsToTxn (the leader's AddPartitionsToTxn v4 with `verify_only` false
//! adds the partition), a TxnOffsetCommit v5 needs no AddOffsetsToTxn, and EndTxn v5
//! bumps the producer epoch on every commit and abort, answering the new one. The
//! bump fences the ended transaction's late batches; the next transaction starts its
//! sequences over at the new epoch. Versions 11/4 of the same requests still need the
//! client's own AddPartitionsToTxn and AddOffsetsToTxn (KIP-890 part 1's refusal, and
//! its TxnOffsetCommit verification on the group coordinator). A cluster formatted
//! with `--feature transaction.version=2` starts with it finalized; one formatted
//! without it does not finalize it.

mod common;

use std::time::Duration;

use common::process::kcat_read;
use common::txn::{
    describe, find_coordinator, produce, three_nodes_with_topic, transactional_batch,
};
use common::wait::wait_until;
use common::{Broker, BrokerOpts};
use tidewater_client::Connection;
use tidewater_client::kafka_protocol::error::ResponseError as E;
use tidewater_client::kafka_protocol::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use tidewater_client::kafka_protocol::messages::{
    ApiVersionsRequest, EndTxnRequest, EndTxnResponse, FindCoordinatorRequest, GroupId, ProducerId,
    TopicName, TransactionalId, TxnOffsetCommitRequest,
};
use tidewater_client::kafka_protocol::protocol::StrBytes;

const TOPIC: &str = "txn-v2";
const ID: &str = "tx-v2";
const GROUP: &str = "tx-v2-group";
const T: Duration = Duration::from_secs(60);
/// Transactions whose verification connections are counted.
const BURST: i16 = 10;

async fn end_txn(conn: &Connection, pid: i64, epoch: i16, commit: bool, v: i16) -> EndTxnResponse {
    let mut end = EndTxnRequest::default();
    end.transactional_id = TransactionalId(StrBytes::from_static_str(ID));
    end.producer_id = ProducerId(pid);
    end.producer_epoch = epoch;
    end.committed = commit;
    conn.send_at(&end, v).await.expect("EndTxn")
}

/// TxnOffsetCommit of GROUP's offset on TOPIC-0 at version `v`: the partition's code.
async fn txn_offset_commit(addr: &str, pid: i64, epoch: i16, offset: i64, v: i16) -> i16 {
    let conn = Connection::connect(addr, "txn-v2")
        .await
        .expect("group coordinator");
    let mut p = TxnOffsetCommitRequestPartition::default();
    p.partition_index = 0;
    p.committed_offset = offset;
    let mut t = TxnOffsetCommitRequestTopic::default();
    t.name = TopicName(StrBytes::from_static_str(TOPIC));
    t.partitions = vec![p];
    let mut req = TxnOffsetCommitRequest::default();
    req.transactional_id = TransactionalId(StrBytes::from_static_str(ID));
    req.group_id = GroupId(StrBytes::from_static_str(GROUP));
    req.producer_id = ProducerId(pid);
    req.producer_epoch = epoch;
    req.generation_id = -1;
    req.topics = vec![t];
    let r = conn.send_at(&req, v).await.expect("TxnOffsetCommit");
    r.topics[0].partitions[0].error_code
}

async fn group_coordinator(addr: &str) -> Result<i32, String> {
    let conn = Connection::connect(addr, "txn-v2")
        .await
        .map_err(|e| e.to_string())?;
    let mut find = FindCoordinatorRequest::default();
    find.key = StrBytes::from_static_str(GROUP);
    let r = conn.send_at(&find, 3).await.map_err(|e| e.to_string())?;
    match r.error_code {
        0 => Ok(r.node_id.0),
        code => Err(format!("FindCoordinator(group): error {code}")),
    }
}

#[test]
fn produce_v12_and_txn_offset_commit_v5_add_implicitly_and_end_txn_v5_bumps_the_epoch() {
    let (mut cluster, meta, addrs) = three_nodes_with_topic(TOPIC, 3, T);
    let bootstrap = cluster.bootstrap();
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let coordinator = wait_until("a transaction coordinator", T, || {
        runtime.block_on(find_coordinator(&addrs[&1], ID))
    });
    let groups = wait_until("a group coordinator", T, || {
        runtime.block_on(group_coordinator(&addrs[&1]))
    });
    // A partition led apart from the coordinator: the leader adds it over the wire.
    let p = meta
        .values()
        .find(|m| m.leader != coordinator)
        .map(|m| m.partition)
        .unwrap_or_else(|| panic!("every partition led by the coordinator: {meta:?}"));
    let leader = addrs[&meta[&p].leader].clone();
    let coordinator_addr = addrs[&coordinator].clone();
    let one = |v: &str| vec![v.to_owned()];
    // A Produce v12 retried while the coordinator still writes the last markers
    // (CONCURRENT_TRANSACTIONS, answered NOT_ENOUGH_REPLICAS for the client to retry).
    let produce_v12 = |pid: i64, epoch: i16, seq: i32, value: &str| {
        let batch = transactional_batch(pid, epoch, seq, &one(value));
        wait_until("a Produce v12 past the last markers", T, || {
            let r = runtime.block_on(produce(&leader, ID, TOPIC, p, batch.clone(), 12));
            match r.error_code {
                c if c == E::NotEnoughReplicas.code() => Err(format!("{r:?}")),
                c => Ok(c),
            }
        })
    };

    // The markers of the last end are written (Complete*): the next request meets no
    // CONCURRENT_TRANSACTIONS.
    let wait_state = |state: &str| {
        wait_until(&format!("the transaction in {state}"), T, || match runtime
            .block_on(describe(&coordinator_addr, ID))?
        {
            s if s == state => Ok(()),
            other => Err(other),
        })
    };
    let conn = runtime.block_on(async {
        Connection::connect(&coordinator_addr, "txn-v2")
            .await
            .expect("coordinator")
    });
    let (pid, epoch) = runtime.block_on(common::txn::init_transactional(&conn, ID, T));
    let pid = pid.0;
    // Version 1 clients add the partition themselves: without it, refused.
    let batch = transactional_batch(pid, epoch, 0, &one("unadded"));
    let r = runtime.block_on(produce(&leader, ID, TOPIC, p, batch, 11));
    assert_eq!(r.error_code, E::TransactionAbortable.code(), "v11 {r:?}");
    // Version 2: the leader adds it, and the transaction is open.
    assert_eq!(produce_v12(pid, epoch, 0, "committed-0"), 0);
    assert_eq!(produce_v12(pid, epoch, 1, "committed-1"), 0);
    assert_eq!(
        runtime.block_on(describe(&coordinator_addr, ID)).as_deref(),
        Ok("Ongoing")
    );
    // The group's offsets: TxnOffsetCommit v4 without AddOffsetsToTxn is refused by
    // the group coordinator's verification; v5 adds the offsets partition itself.
    let group_addr = addrs[&groups].clone();
    let code = runtime.block_on(txn_offset_commit(&group_addr, pid, epoch, 2, 4));
    assert_eq!(code, E::TransactionAbortable.code(), "TxnOffsetCommit v4");
    let code = runtime.block_on(txn_offset_commit(&group_addr, pid, epoch, 2, 5));
    assert_eq!(code, 0, "TxnOffsetCommit v5");

    // EndTxn v5 commits and answers the bumped epoch; its retry gets the same.
    let r = runtime.block_on(end_txn(&conn, pid, epoch, true, 5));
    assert_eq!(
        (r.error_code, r.producer_id.0, r.producer_epoch),
        (0, pid, epoch + 1),
        "EndTxn v5"
    );
    wait_state("CompleteCommit");
    let r = runtime.block_on(end_txn(&conn, pid, epoch, true, 5));
    assert_eq!(
        (r.error_code, r.producer_id.0, r.producer_epoch),
        (0, pid, epoch + 1),
        "a retried EndTxn v5"
    );
    // The ended transaction's late batch at the old epoch is fenced.
    let late = produce_v12(pid, epoch, 2, "late");
    assert_eq!(late, E::InvalidProducerEpoch.code(), "late batch");
    // The next transaction, at the new epoch from sequence 0, is aborted: EndTxn v5
    // bumps again.
    let next = epoch + 1;
    assert_eq!(produce_v12(pid, next, 0, "aborted-0"), 0);
    let r = runtime.block_on(end_txn(&conn, pid, next, false, 5));
    assert_eq!(
        (r.error_code, r.producer_id.0, r.producer_epoch),
        (0, pid, next + 1),
        "EndTxn v5 abort"
    );
    // A version 1 end keeps the epoch and answers no producer.
    wait_state("CompleteAbort");
    let epoch = next + 1;
    assert_eq!(produce_v12(pid, epoch, 0, "committed-2"), 0);
    let r = runtime.block_on(end_txn(&conn, pid, epoch, true, 4));
    assert_eq!(
        (r.error_code, r.producer_id.0, r.producer_epoch),
        (0, -1, -1),
        "EndTxn v4"
    );
    wait_state("CompleteCommit");

    // read_committed: the committed records, none of the aborted or refused ones.
    let partition = p.to_string();
    let args = [
        "-p",
        &partition,
        "-q",
        "-f",
        "%s\\n",
        "-X",
        "isolation.level=read_committed",
    ];
    let out = kcat_read(&bootstrap, TOPIC, &args, T);
    let seen: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        seen,
        ["committed-0", "committed-1", "committed-2"],
        "{out:?}"
    );

    // The leader keeps one connection to the coordinator for its verifications (as
    // Kafka's AddPartitionsToTxnManager does): BURST more transactions, each added by
    // the leader, open no new connection on the coordinator. (Nothing else connects
    // to it meanwhile: this test's own connection to it is open already.)
    let accepted =
        "kafka_server_socketservermetrics_connection_creation_total{listener=\"PLAINTEXT\"}";
    let before = cluster.node(coordinator).metric(accepted).expect("metrics");
    for (i, epoch) in (epoch..epoch + BURST).enumerate() {
        assert_eq!(produce_v12(pid, epoch, 0, &format!("burst-{i}")), 0);
        let r = runtime.block_on(end_txn(&conn, pid, epoch, true, 5));
        assert_eq!(
            (r.error_code, r.producer_epoch),
            (0, epoch + 1),
            "burst {i}"
        );
    }
    let after = cluster.node(coordinator).metric(accepted).expect("metrics");
    assert!(
        after - before <= 1.0,
        "{BURST} implicit adds opened {} connections on the coordinator",
        after - before
    );
}

/// `transaction.version` as ApiVersions v3 finalizes it (0: not finalized).
fn finalized_transaction_version(bootstrap: &str) -> i16 {
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    runtime.block_on(async {
        let conn = Connection::connect(bootstrap, "txn-v2")
            .await
            .expect("connect");
        let resp = conn
            .send_at(&ApiVersionsRequest::default(), 3)
            .await
            .expect("ApiVersions");
        let finalized = tidewater_client::finalized_features(&resp, 3);
        finalized.get("transaction.version").copied().unwrap_or(0)
    })
}

#[test]
fn format_feature_finalizes_transaction_version_from_the_first_start() {
    let formatted = Broker::start(BrokerOpts {
        format_features: vec!["transaction.version=2".into()],
        ..Default::default()
    });
    assert_eq!(finalized_transaction_version(&formatted.bootstrap()), 2);
    let plain = Broker::start(BrokerOpts::default());
    assert_eq!(finalized_transaction_version(&plain.bootstrap()), 0);
}
