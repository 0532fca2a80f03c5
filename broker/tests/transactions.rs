//! Kafka transactions against the real broker: confluent-kafka's transactional
//! producer (`clients/transactions.py`: commit and abort, zombie fencing) and, on the
//! wire, Kafka's exact error codes for transactional requests out of order.

mod common;

use std::time::Duration;

use common::process::require_python_modules;
use common::{Broker, BrokerOpts, python_client};
use tidewater_client::Connection;
use tidewater_client::kafka_protocol::error::ResponseError as E;
use tidewater_client::kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use tidewater_client::kafka_protocol::messages::{
    AddPartitionsToTxnRequest, EndTxnRequest, FindCoordinatorRequest, InitProducerIdRequest,
    ProducerId, TopicName, TransactionalId,
};
use tidewater_client::kafka_protocol::protocol::StrBytes;

const SCRIPT: &str = "transactions.py";
/// A topic that exists once the coordinator does.
const TXN_TOPIC: &str = "__transaction_state";
const T: Duration = Duration::from_secs(180);

fn scenario(b: &Broker, topic: &str, cmd: &str) -> String {
    let args: Vec<String> = ["--bootstrap", &b.bootstrap(), "--topic", topic, cmd]
        .iter()
        .map(|s| s.to_string())
        .collect();
    python_client(SCRIPT, &args, T).ok().stdout
}

fn three_partitions() -> BrokerOpts {
    BrokerOpts {
        num_partitions: 3,
        ..Default::default()
    }
}

#[test]
fn confluent_transactions_commit_and_abort_and_read_uncommitted_sees_both() {
    require_python_modules(&["confluent_kafka"]);
    let b = Broker::start(three_partitions());
    let out = scenario(&b, "txn-commit-abort", "commit-abort");
    assert!(out.contains("\"read_uncommitted\": 25"), "{out}");
}

#[test]
fn confluent_a_second_producer_of_one_transactional_id_fences_the_first() {
    require_python_modules(&["confluent_kafka"]);
    let b = Broker::start(three_partitions());
    let out = scenario(&b, "txn-fencing", "fencing");
    assert!(out.contains("\"fenced\""), "{out}");
}

/// TxnOffsetCommit: offsets sent to a transaction become the group's committed
/// offsets on commit only; an aborted transaction's never do, and an open one's are
/// not visible meanwhile.
#[test]
fn confluent_send_offsets_to_transaction_commits_offsets_with_the_transaction() {
    require_python_modules(&["confluent_kafka"]);
    let b = Broker::start(three_partitions());
    let out = scenario(&b, "txn-offsets", "send-offsets");
    assert!(
        out.contains("\"ended9\": 5") && out.contains("\"ended12\": 12"),
        "{out}"
    );
}

fn txn_id(s: &str) -> TransactionalId {
    TransactionalId(StrBytes::from_string(s.to_string()))
}

/// Kafka's codes for transactional requests out of order, which change nothing.
#[test]
fn transactional_requests_out_of_order_get_kafkas_error_codes() {
    let b = Broker::start(three_partitions());
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    runtime.block_on(async {
        let conn = Connection::connect(&b.bootstrap(), "txn-test")
            .await
            .expect("connect");
        // The first FindCoordinator creates __transaction_state.
        let mut find = FindCoordinatorRequest::default();
        find.key_type = 1;
        find.key = StrBytes::from_static_str("tx-order");
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let r = conn.send_at(&find, 3).await.expect("FindCoordinator");
            if r.error_code == 0 {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no coordinator: {r:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // EndTxn before InitProducerId: the id has no producer.
        let mut end = EndTxnRequest::default();
        end.transactional_id = txn_id("tx-order");
        end.producer_id = ProducerId(1);
        end.committed = true;
        let mut code;
        loop {
            // The coordinator may still be loading the partition.
            code = conn.send_at(&end, 3).await.expect("EndTxn").error_code;
            if code != E::CoordinatorLoadInProgress.code() && code != E::NotCoordinator.code() {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "coordinator not loaded"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(code, E::InvalidProducerIdMapping.code());
        let mut init = InitProducerIdRequest::default();
        init.transactional_id = Some(txn_id("tx-order"));
        init.transaction_timeout_ms = 60_000;
        init.producer_id = ProducerId(-1);
        init.producer_epoch = -1;
        let r = conn.send_at(&init, 4).await.expect("InitProducerId");
        assert_eq!(r.error_code, 0);
        let (pid, epoch) = (r.producer_id, r.producer_epoch);
        // A partition of a topic that does not exist: nothing is added.
        let add = |topic: &str, epoch: i16| {
            let mut req = AddPartitionsToTxnRequest::default();
            req.v3_and_below_transactional_id = txn_id("tx-order");
            req.v3_and_below_producer_id = pid;
            req.v3_and_below_producer_epoch = epoch;
            let mut t = AddPartitionsToTxnTopic::default();
            t.name = TopicName(StrBytes::from_string(topic.to_string()));
            t.partitions = vec![0];
            req.v3_and_below_topics = vec![t];
            req
        };
        let r = conn
            .send_at(&add("no-such-topic", epoch), 3)
            .await
            .expect("add");
        let code = r.results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code;
        assert_eq!(code, E::UnknownTopicOrPartition.code());
        // Nothing was added, so there is no transaction to end.
        end.producer_id = pid;
        end.producer_epoch = epoch;
        let r = conn.send_at(&end, 3).await.expect("EndTxn");
        assert_eq!(r.error_code, E::InvalidTxnState.code());
        // An older epoch is fenced (v1 clients, before KIP-588, get INVALID_PRODUCER_EPOCH).
        let r = conn.send_at(&init, 4).await.expect("InitProducerId");
        assert_eq!((r.error_code, r.producer_epoch), (0, epoch + 1));
        let r = conn.send_at(&add(TXN_TOPIC, epoch), 3).await.expect("add");
        let code = r.results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code;
        assert_eq!(code, E::ProducerFenced.code());
        let r = conn.send_at(&add(TXN_TOPIC, epoch), 1).await.expect("add");
        let code = r.results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code;
        assert_eq!(code, E::InvalidProducerEpoch.code());
    });
}

/// A transaction open past its `transaction.timeout.ms` is aborted by the coordinator
/// with a bumped epoch: its producer is fenced, and the next InitProducerId bumps again.
#[test]
fn a_timed_out_transaction_is_aborted_and_its_producer_fenced() {
    let b = Broker::start(BrokerOpts {
        config: vec![(
            "transaction.abort.timed.out.transaction.cleanup.interval.ms".into(),
            "100".into(),
        )],
        ..three_partitions()
    });
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    runtime.block_on(async {
        let conn = Connection::connect(&b.bootstrap(), "txn-test")
            .await
            .expect("connect");
        let mut init = InitProducerIdRequest::default();
        init.transactional_id = Some(txn_id("tx-timeout"));
        init.transaction_timeout_ms = 300;
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let r = common::txn::init_producer_id(&conn, &init, Duration::from_secs(30)).await;
        let (pid, epoch) = (r.producer_id, r.producer_epoch);
        let mut add = AddPartitionsToTxnRequest::default();
        add.v3_and_below_transactional_id = txn_id("tx-timeout");
        add.v3_and_below_producer_id = pid;
        add.v3_and_below_producer_epoch = epoch;
        let mut t = AddPartitionsToTxnTopic::default();
        t.name = TopicName(StrBytes::from_static_str(TXN_TOPIC));
        t.partitions = vec![1];
        add.v3_and_below_topics = vec![t];
        // Adding the same partition again changes nothing while the transaction is
        // open; once the coordinator aborted it, the producer's epoch is fenced.
        let fenced = loop {
            let r = conn.send_at(&add, 3).await.expect("add");
            let code =
                r.results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code;
            if code != 0 && code != E::ConcurrentTransactions.code() {
                break code;
            }
            assert!(std::time::Instant::now() < deadline, "never aborted");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(fenced, E::ProducerFenced.code());
        let mut end = EndTxnRequest::default();
        end.transactional_id = txn_id("tx-timeout");
        end.producer_id = pid;
        end.producer_epoch = epoch;
        end.committed = true;
        let r = conn.send_at(&end, 3).await.expect("EndTxn");
        assert_eq!(r.error_code, E::ProducerFenced.code());
        // The abort's markers complete; the next producer gets the epoch after the fence.
        let r = loop {
            let r = conn.send_at(&init, 4).await.expect("InitProducerId");
            if r.error_code != E::ConcurrentTransactions.code() {
                break r;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "abort never completed"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(
            (r.error_code, r.producer_id, r.producer_epoch),
            (0, pid, epoch + 2)
        );
    });
}

/// read_committed: an open transaction is not stable, aborted records are never seen
/// and committed ones are; after kill -9 and a restart (the `.txnindex` and producer
/// state recovered) both isolation levels read the same as before.
#[test]
fn confluent_read_committed_skips_aborted_records_across_kill_9_and_restart() {
    require_python_modules(&["confluent_kafka"]);
    let mut b = Broker::start(three_partitions());
    let out = scenario(&b, "txn-read-committed", "read-committed");
    // 10 + 10 + 5 records and three markers: the LSO is the log end.
    assert!(out.contains("\"read_committed\": 15"), "{out}");
    assert!(out.contains("\"lso\": 28"), "{out}");
    let status = b.kill9();
    assert!(!status.success(), "kill -9 is no clean exit: {status}");
    b.start_process();
    let out = scenario(&b, "txn-read-committed", "verify-committed");
    assert!(out.contains("\"read_committed\": 15"), "{out}");
    assert!(out.contains("\"read_uncommitted\": 25"), "{out}");
    assert!(out.contains("\"lso\": 28"), "{out}");
}
