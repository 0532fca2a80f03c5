//! Kafka transactions on a 3-node KRaft cluster (RF 3): the transaction coordinator
//! sends markers to partition leaders on other brokers (WriteTxnMarkers), and
//! `__transaction_state` is replicated. Scenarios: `clients/transactions.py`.

mod common;

use std::time::Duration;

use common::clients::kraft_client;
use common::cluster::Cluster;
use common::process::require_python_modules;
use common::python_client;

const T: Duration = Duration::from_secs(180);

fn scenario(bootstrap: &str, topic: &str, cmd: &str) -> String {
    let args: Vec<String> = ["--bootstrap", bootstrap, "--topic", topic, cmd]
        .iter()
        .map(|s| s.to_string())
        .collect();
    python_client("transactions.py", &args, T).ok().stdout
}

#[test]
fn confluent_transactions_on_three_nodes_commit_abort_and_read_committed() {
    require_python_modules(&["confluent_kafka"]);
    let mut cluster = Cluster::combined(3, &[]);
    let bootstrap = cluster.bootstrap();
    for topic in ["txn3-commit-abort", "txn3-read-committed"] {
        kraft_client(
            "create-topic",
            &bootstrap,
            topic,
            &["--partitions", "3", "--rf", "3"],
            Duration::from_secs(60),
        );
        cluster.wait_isr_full(topic, 3, 3, Duration::from_secs(30));
    }
    // Three partitions, their leaders spread over the nodes: most markers go to
    // another broker than the coordinator.
    let out = scenario(&bootstrap, "txn3-commit-abort", "commit-abort");
    assert!(out.contains("\"read_uncommitted\": 25"), "{out}");
    let out = scenario(&bootstrap, "txn3-read-committed", "read-committed");
    assert!(out.contains("\"read_committed\": 15"), "{out}");
    assert!(out.contains("\"lso\": 28"), "{out}");
}
