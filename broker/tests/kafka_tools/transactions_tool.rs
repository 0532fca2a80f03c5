//! Kafka 4.4.0's kafka-transactions (`TransactionsCommand`) against a one-node
//! Tidewater: `list` (ListTransactions) and `describe --transactional-id`
//! (DescribeTransactions) show a transaction left open with one partition added.

use std::time::Duration;

use tidewater_client::Connection;
use tidewater_client::kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use tidewater_client::kafka_protocol::messages::{
    AddPartitionsToTxnRequest, InitProducerIdRequest, ProducerId, TopicName, TransactionalId,
};
use tidewater_client::kafka_protocol::protocol::StrBytes;

use super::common::clients::kraft_client;
use super::common::cluster::Cluster;
use super::common::txn::init_producer_id;
use super::common::wait_until;
use super::jvm::KafkaTools;

const TRANSACTIONS: &str = "org.apache.kafka.tools.TransactionsCommand";
const ID: &str = "tx-tool";
const TOPIC: &str = "txn-tool";

/// InitProducerId and AddPartitionsToTxn(`topic`-0) for `id`, retried while the
/// coordinator is created and loaded: the transaction stays Ongoing.
pub(super) fn open_transaction(bootstrap: &str, id: &str, topic: &str) -> i64 {
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    runtime.block_on(async {
        let conn = Connection::connect(bootstrap, "txn-tool")
            .await
            .expect("connect");
        let mut init = InitProducerIdRequest::default();
        init.transactional_id = Some(TransactionalId(StrBytes::from_string(id.to_owned())));
        init.transaction_timeout_ms = 600_000;
        init.producer_id = ProducerId(-1);
        init.producer_epoch = -1;
        let r = init_producer_id(&conn, &init, Duration::from_secs(60)).await;
        let mut add = AddPartitionsToTxnRequest::default();
        add.v3_and_below_transactional_id = TransactionalId(StrBytes::from_string(id.to_owned()));
        add.v3_and_below_producer_id = r.producer_id;
        add.v3_and_below_producer_epoch = r.producer_epoch;
        let mut t = AddPartitionsToTxnTopic::default();
        t.name = TopicName(StrBytes::from_string(topic.to_owned()));
        t.partitions = vec![0];
        add.v3_and_below_topics = vec![t];
        let r2 = conn.send_at(&add, 3).await.expect("AddPartitionsToTxn");
        let code = r2.results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code;
        assert_eq!(code, 0, "AddPartitionsToTxn");
        r.producer_id.0
    })
}

#[test]
fn kafka_transactions_tool_lists_and_describes_an_open_transaction() {
    let Some(kafka) =
        KafkaTools::find("kafka_transactions_tool_lists_and_describes_an_open_transaction")
    else {
        return;
    };
    let mut cluster = Cluster::combined(
        1,
        &[
            ("default.replication.factor", "1"),
            ("offsets.topic.replication.factor", "1"),
            ("transaction.state.log.replication.factor", "1"),
            ("transaction.state.log.min.isr", "1"),
            ("min.insync.replicas", "1"),
        ],
    );
    let bs = cluster.node(1).bootstrap();
    kraft_client(
        "create-topic",
        &bs,
        TOPIC,
        &["--partitions", "1", "--rf", "1"],
        Duration::from_secs(60),
    );
    let producer_id = open_transaction(&bs, ID, TOPIC).to_string();
    let listed = wait_until(
        "kafka-transactions list shows it",
        Duration::from_secs(30),
        || {
            let out = kafka.run(TRANSACTIONS, &["--bootstrap-server", &bs, "list"]);
            let line = out
                .stdout
                .lines()
                .find(|l| l.contains(ID))
                .map(str::to_owned);
            line.ok_or(format!("{out}"))
        },
    );
    for part in [ID, producer_id.as_str(), "Ongoing"] {
        assert!(listed.contains(part), "{listed}");
    }
    let out = kafka.ok(
        TRANSACTIONS,
        &[
            "--bootstrap-server",
            &bs,
            "describe",
            "--transactional-id",
            ID,
        ],
    );
    let line = out
        .stdout
        .lines()
        .find(|l| l.contains(ID))
        .unwrap_or_else(|| panic!("{out}"));
    eprintln!("kafka-transactions list: {listed}\ndescribe: {line}");
    for part in [producer_id.as_str(), "Ongoing", "600000", "txn-tool-0"] {
        assert!(line.contains(part), "{part} missing: {out}");
    }
    let out = kafka.run(
        TRANSACTIONS,
        &[
            "--bootstrap-server",
            &bs,
            "describe",
            "--transactional-id",
            "nobody",
        ],
    );
    assert!(!out.status.success(), "an unknown id is described: {out}");
}
