//! ACLs enforced with real clients (issue 14 item 3): confluent-kafka over
//! SASL_PLAINTEXT with PLAIN users, a broker with Kafka's StandardAuthorizer and
//! `super.users=User:admin`. The super user creates topics and ACLs; alice produces
//! where an ALLOW (literal or PREFIXED) lets her, gets TOPIC_AUTHORIZATION_FAILED
//! where no ACL or a DENY stops her, loses access on her live connection's next
//! request once the ACL is deleted; Metadata shows her only the topics she may
//! describe; a consumer without Read on its group gets GROUP_AUTHORIZATION_FAILED;
//! with `allow.everyone.if.no.acl.found=true` a
//! topic without ACLs is open.
//!
//! Checked per request today: Produce (Write on the topic, Write on the transactional
//! id), Fetch (Read on the topic; ClusterAction for a follower), ListOffsets
//! (Describe), Metadata (Describe on each topic, Create for auto-creation), Read on
//! the group for JoinGroup/SyncGroup/Heartbeat/LeaveGroup/ConsumerGroupHeartbeat,
//! Describe on the group or transactional id for FindCoordinator, CreateTopics
//! (Create on the cluster or topic), DeleteTopics and DeleteRecords (Delete),
//! CreatePartitions (Alter), OffsetCommit (Read on the group and topic), OffsetFetch
//! (Describe), InitProducerId (Write on the transactional id, or IdempotentWrite),
//! AddPartitionsToTxn (and Write on each topic), AddOffsetsToTxn, EndTxn and
//! TxnOffsetCommit (Write on the transactional id), ListGroups/DescribeGroups
//! (Describe), DeleteGroups (Delete), Describe/ListTransactions (Describe on the id,
//! untested here: no client of ours lists transactions), and the ACL APIs;
//! the cluster-level admin APIs (Describe or Alter on the cluster, checked in
//! kafka_tools/acls.rs), the configs APIs (DescribeConfigs / AlterConfigs on the
//! topic, the cluster for brokers, the group), OffsetForLeaderEpoch (ClusterAction
//! for a follower, Describe for a client), WriteTxnMarkers (ClusterAction),
//! OffsetDelete (Delete on the group, Read on the topic), ConsumerGroupHeartbeat's
//! subscribed topics (Describe), ConsumerGroupDescribe (Describe),
//! AlterUserScramCredentials (Alter on the cluster), and the KIP-430 authorized
//! operations every describing API reports. A follower Fetch from a principal
//! without ClusterAction is refused here on the wire.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::broker::free_port;
use common::clients::PLAIN_JAAS;
use common::{Broker, BrokerOpts, python_client};
use tidewater_client::Connection;
use tidewater_client::kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use tidewater_client::kafka_protocol::messages::{BrokerId, FetchRequest, TopicName};
use tidewater_client::kafka_protocol::protocol::StrBytes;

const STANDARD_AUTHORIZER: &str = "org.apache.kafka.metadata.authorizer.StandardAuthorizer";

/// A broker with a SASL_PLAINTEXT listener (PLAIN) and the authorizer on.
fn start(allow_everyone: bool) -> (Broker, SocketAddr) {
    let sasl: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
    let config = [
        ("sasl.enabled.mechanisms", "PLAIN"),
        (
            "listener.name.sasl_plaintext.plain.sasl.jaas.config",
            PLAIN_JAAS,
        ),
        ("authorizer.class.name", STANDARD_AUTHORIZER),
        ("super.users", "User:admin"),
        (
            "allow.everyone.if.no.acl.found",
            if allow_everyone { "true" } else { "false" },
        ),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let broker = Broker::start(BrokerOpts {
        config,
        extra_listeners: vec![format!("SASL_PLAINTEXT://{sasl}")],
        ..Default::default()
    });
    (broker, sasl)
}

fn user(name: &str) -> Vec<String> {
    [
        "security.protocol=SASL_PLAINTEXT".to_string(),
        "sasl.mechanisms=PLAIN".to_string(),
        format!("sasl.username={name}"),
        format!("sasl.password={name}-secret"),
    ]
    .to_vec()
}

/// Runs `acl_client.py <cmd>` as `who` (and the super user for `--admin`), returns
/// its JSON summary.
fn client(sasl: SocketAddr, who: &str, cmd: &str, rest: &[&str]) -> serde_json::Value {
    let mut args = vec!["--bootstrap".to_string(), sasl.to_string()];
    for p in user(who) {
        args.extend(["--set".to_string(), p]);
    }
    for p in user("admin") {
        args.extend(["--admin".to_string(), p]);
    }
    args.push(cmd.to_string());
    args.extend(rest.iter().map(|s| s.to_string()));
    let out = python_client("acl_client.py", &args, Duration::from_secs(120)).ok();
    let line = out.lines().last().copied().unwrap_or_default().to_string();
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("acl_client.py {cmd}: {e}\n{out}"))
}

fn produce(sasl: SocketAddr, topic: &str) -> serde_json::Value {
    client(sasl, "alice", "produce", &["--topic", topic])["error"].clone()
}

#[test]
fn produce_is_authorized_by_topic_acls() {
    let (_broker, sasl) = start(false);
    let topics = ["a", "b", "pre-x", "c"];
    let mut args = Vec::new();
    for t in topics {
        args.extend(["--topic", t]);
    }
    client(sasl, "admin", "create-topics", &args);
    client(sasl, "admin", "acl", &["--topic", "a"]);
    client(
        sasl,
        "admin",
        "acl",
        &["--topic", "pre-", "--pattern", "prefixed"],
    );
    client(sasl, "admin", "acl", &["--topic", "c"]);
    client(sasl, "admin", "acl", &["--topic", "c", "--deny"]);

    let denied = serde_json::json!("TOPIC_AUTHORIZATION_FAILED");
    assert_eq!(produce(sasl, "a"), serde_json::Value::Null, "literal ALLOW");
    assert_eq!(produce(sasl, "b"), denied, "no ACL: denied by default");
    assert_eq!(
        produce(sasl, "pre-x"),
        serde_json::Value::Null,
        "PREFIXED ALLOW"
    );
    assert_eq!(produce(sasl, "c"), denied, "DENY beats ALLOW");
    // Metadata leaves out b, the one topic alice may not describe (a DENY of Write
    // on c does not deny the Describe its ALLOW of Write implies, as in Kafka).
    let visible = client(sasl, "alice", "topics", &[]);
    assert_eq!(
        visible["topics"],
        serde_json::json!(["a", "c", "pre-x"]),
        "{visible}"
    );
    // The super user needs no ACL.
    let admin = client(sasl, "admin", "produce", &["--topic", "b"]);
    assert_eq!(admin["error"], serde_json::Value::Null);

    let revoked = client(sasl, "alice", "revoke", &["--topic", "a"]);
    assert_eq!(revoked["before"], serde_json::Value::Null, "{revoked}");
    assert_eq!(
        revoked["after"], denied,
        "the live connection loses access: {revoked}"
    );
}

#[test]
fn allow_everyone_if_no_acl_found_opens_topics_without_acls() {
    let (_broker, sasl) = start(true);
    client(
        sasl,
        "admin",
        "create-topics",
        &["--topic", "open", "--topic", "guarded"],
    );
    client(
        sasl,
        "admin",
        "acl",
        &["--topic", "guarded", "--principal", "User:admin"],
    );
    assert_eq!(produce(sasl, "open"), serde_json::Value::Null);
    assert_eq!(
        produce(sasl, "guarded"),
        serde_json::json!("TOPIC_AUTHORIZATION_FAILED"),
        "a topic with an ACL (for someone else) is closed"
    );
}

#[test]
fn a_consumer_without_group_read_gets_group_authorization_failed() {
    let (_broker, sasl) = start(false);
    client(sasl, "admin", "create-topics", &["--topic", "g"]);
    client(sasl, "admin", "produce", &["--topic", "g"]);
    client(sasl, "admin", "acl", &["--topic", "g", "--op", "read"]);
    let consume = || {
        client(
            sasl,
            "alice",
            "consume",
            &["--topic", "g", "--group", "grp"],
        )
    };
    let refused = consume();
    assert_eq!(
        refused["error"],
        serde_json::json!("GROUP_AUTHORIZATION_FAILED"),
        "{refused}"
    );
    client(
        sasl,
        "admin",
        "acl",
        &["--topic", "g", "--group", "grp", "--op", "read"],
    );
    let read = consume();
    assert_eq!(read["records"], serde_json::json!(1), "{read}");
}

#[test]
fn a_consumer_without_topic_read_gets_topic_authorization_failed() {
    let (_broker, sasl) = start(false);
    client(sasl, "admin", "create-topics", &["--topic", "r"]);
    client(sasl, "admin", "produce", &["--topic", "r"]);
    client(
        sasl,
        "admin",
        "acl",
        &["--topic", "r", "--group", "rg", "--op", "read"],
    );
    // Describe lets alice see the topic and list its offsets, not read it.
    client(sasl, "admin", "acl", &["--topic", "r", "--op", "describe"]);
    let consume = || client(sasl, "alice", "consume", &["--topic", "r", "--group", "rg"]);
    let refused = consume();
    assert_eq!(
        refused["error"],
        serde_json::json!("TOPIC_AUTHORIZATION_FAILED"),
        "{refused}"
    );
    assert_eq!(refused["records"], serde_json::json!(0), "{refused}");
    client(sasl, "admin", "acl", &["--topic", "r", "--op", "read"]);
    let read = consume();
    assert_eq!(read["records"], serde_json::json!(1), "{read}");
}

#[test]
fn offset_commits_need_read_on_the_group_and_the_topic() {
    let (_broker, sasl) = start(false);
    client(sasl, "admin", "create-topics", &["--topic", "o"]);
    let commit = || client(sasl, "alice", "commit", &["--topic", "o", "--group", "og"]);
    // Describe on the group finds its coordinator (FindCoordinator), not more.
    client(
        sasl,
        "admin",
        "acl",
        &["--topic", "o", "--group", "og", "--op", "describe"],
    );
    let refused = commit();
    assert_eq!(
        refused["error"],
        serde_json::json!("GROUP_AUTHORIZATION_FAILED"),
        "{refused}"
    );
    client(
        sasl,
        "admin",
        "acl",
        &["--topic", "o", "--group", "og", "--op", "read"],
    );
    let refused = commit();
    assert_eq!(
        refused["error"],
        serde_json::json!("TOPIC_AUTHORIZATION_FAILED"),
        "{refused}"
    );
    client(sasl, "admin", "acl", &["--topic", "o", "--op", "read"]);
    let committed = commit();
    assert_eq!(committed["error"], serde_json::Value::Null, "{committed}");
}

#[test]
fn a_transactional_producer_needs_write_on_its_transactional_id() {
    let (_broker, sasl) = start(false);
    client(sasl, "admin", "create-topics", &["--topic", "t"]);
    let init = || client(sasl, "alice", "init-txn", &["--txn", "tx-a"]);
    // Describe on the id finds its coordinator (FindCoordinator); InitProducerId
    // needs Write.
    client(
        sasl,
        "admin",
        "acl",
        &["--topic", "t", "--txn", "tx-a", "--op", "describe"],
    );
    let refused = init();
    assert_eq!(
        refused["error"],
        serde_json::json!("TRANSACTIONAL_ID_AUTHORIZATION_FAILED"),
        "{refused}"
    );
    client(
        sasl,
        "admin",
        "acl",
        &["--topic", "t", "--txn", "tx-a", "--op", "write"],
    );
    let ok = init();
    assert_eq!(ok["error"], serde_json::Value::Null, "{ok}");
    // Writing to a topic in the transaction needs Write on the topic too
    // (AddPartitionsToTxn); Describe lets the producer find the topic's leader.
    client(sasl, "admin", "acl", &["--topic", "t", "--op", "describe"]);
    let in_txn = || {
        client(
            sasl,
            "alice",
            "init-txn",
            &["--txn", "tx-a", "--topic", "t"],
        )
    };
    let refused = in_txn();
    assert_eq!(
        refused["error"],
        serde_json::json!("TOPIC_AUTHORIZATION_FAILED"),
        "{refused}"
    );
    client(sasl, "admin", "acl", &["--topic", "t", "--op", "write"]);
    let committed = in_txn();
    assert_eq!(committed["error"], serde_json::Value::Null, "{committed}");
}

#[test]
fn group_admin_apis_show_and_delete_only_authorized_groups() {
    let (_broker, sasl) = start(false);
    client(sasl, "admin", "create-topics", &["--topic", "ga"]);
    for g in ["seen", "hidden"] {
        let made = client(sasl, "admin", "commit", &["--topic", "ga", "--group", g]);
        assert_eq!(made["error"], serde_json::Value::Null, "{made}");
    }
    client(
        sasl,
        "admin",
        "acl",
        &["--topic", "ga", "--group", "seen", "--op", "describe"],
    );
    let groups = || {
        client(
            sasl,
            "alice",
            "groups",
            &["--group", "seen", "--group", "hidden"],
        )
    };
    let denied = serde_json::json!("GROUP_AUTHORIZATION_FAILED");
    let seen = groups();
    assert_eq!(seen["listed"], serde_json::json!(["seen"]), "{seen}");
    assert_eq!(seen["describe"]["seen"], serde_json::Value::Null, "{seen}");
    assert_eq!(seen["describe"]["hidden"], denied, "{seen}");
    assert_eq!(
        seen["delete"]["seen"], denied,
        "Describe is not Delete: {seen}"
    );
    assert_eq!(seen["delete"]["hidden"], denied, "{seen}");
    client(
        sasl,
        "admin",
        "acl",
        &["--topic", "ga", "--group", "seen", "--op", "delete"],
    );
    let deleted = groups();
    assert_eq!(
        deleted["delete"]["seen"],
        serde_json::Value::Null,
        "{deleted}"
    );
}

#[test]
fn offset_delete_needs_delete_on_the_group_and_read_on_the_topic() {
    let (_broker, sasl) = start(false);
    client(sasl, "admin", "create-topics", &["--topic", "od"]);
    let made = client(
        sasl,
        "admin",
        "commit",
        &["--topic", "od", "--group", "odg"],
    );
    assert_eq!(made["error"], serde_json::Value::Null, "{made}");
    let delete = || {
        client(
            sasl,
            "alice",
            "delete-offsets",
            &["--topic", "od", "--group", "odg"],
        )
    };
    // Read on the group (a consumer's right) is not Delete.
    client(
        sasl,
        "admin",
        "acl",
        &["--topic", "od", "--group", "odg", "--op", "read"],
    );
    let refused = delete();
    assert_eq!(
        refused["error"],
        serde_json::json!("GROUP_AUTHORIZATION_FAILED"),
        "{refused}"
    );
    client(
        sasl,
        "admin",
        "acl",
        &["--topic", "od", "--group", "odg", "--op", "delete"],
    );
    let refused = delete();
    assert_eq!(
        refused["error"],
        serde_json::json!("TOPIC_AUTHORIZATION_FAILED"),
        "{refused}"
    );
    client(sasl, "admin", "acl", &["--topic", "od", "--op", "read"]);
    let deleted = delete();
    assert_eq!(deleted["error"], serde_json::Value::Null, "{deleted}");
}

#[test]
fn alter_user_scram_credentials_needs_alter_on_the_cluster() {
    let (_broker, sasl) = start(false);
    let refused = client(sasl, "alice", "alter-scram", &["--user", "bob"]);
    assert_eq!(
        refused["error"],
        serde_json::json!("CLUSTER_AUTHORIZATION_FAILED"),
        "{refused}"
    );
    let altered = client(sasl, "admin", "alter-scram", &["--user", "bob"]);
    assert_eq!(altered["error"], serde_json::Value::Null, "{altered}");
}

#[test]
fn a_kip_848_consumer_subscribing_to_a_topic_it_may_not_describe_is_refused() {
    let (_broker, sasl) = start(false);
    client(sasl, "admin", "create-topics", &["--topic", "h"]);
    client(sasl, "admin", "produce", &["--topic", "h"]);
    client(
        sasl,
        "admin",
        "acl",
        &["--topic", "h", "--group", "hg", "--op", "read"],
    );
    let consume = || {
        client(
            sasl,
            "alice",
            "consume",
            &[
                "--topic",
                "h",
                "--group",
                "hg",
                "--set",
                "group.protocol=consumer",
            ],
        )
    };
    // ConsumerGroupHeartbeat names the topic: it needs Describe on it.
    let refused = consume();
    assert_eq!(
        refused["error"],
        serde_json::json!("TOPIC_AUTHORIZATION_FAILED"),
        "{refused}"
    );
    client(sasl, "admin", "acl", &["--topic", "h", "--op", "read"]);
    let read = consume();
    assert_eq!(read["records"], serde_json::json!(1), "{read}");
}

#[test]
fn authorized_operations_are_the_principals_own() {
    let (_broker, sasl) = start(false);
    client(sasl, "admin", "create-topics", &["--topic", "ops"]);
    let made = client(
        sasl,
        "admin",
        "commit",
        &["--topic", "ops", "--group", "opsg"],
    );
    assert_eq!(made["error"], serde_json::Value::Null, "{made}");
    client(sasl, "admin", "acl", &["--topic", "ops", "--op", "read"]);
    client(
        sasl,
        "admin",
        "acl",
        &["--topic", "ops", "--group", "opsg", "--op", "describe"],
    );
    let ops = |who| client(sasl, who, "ops", &["--topic", "ops", "--group", "opsg"]);
    let alice = ops("alice");
    // Read implies Describe; nothing on the cluster.
    assert_eq!(
        alice["topic"],
        serde_json::json!(["DESCRIBE", "READ"]),
        "{alice}"
    );
    assert_eq!(alice["cluster"], serde_json::json!([]), "{alice}");
    assert_eq!(alice["group"], serde_json::json!(["DESCRIBE"]), "{alice}");
    let admin = ops("admin");
    assert_eq!(
        admin["topic"].as_array().map(Vec::len),
        Some(8),
        "a super user may do all 8 topic operations: {admin}"
    );
    assert_eq!(
        admin["cluster"].as_array().map(Vec::len),
        Some(7),
        "{admin}"
    );
}

#[test]
fn a_follower_fetch_without_cluster_action_is_refused() {
    let (broker, sasl) = start(false);
    client(sasl, "admin", "create-topics", &["--topic", "rep"]);
    client(sasl, "admin", "produce", &["--topic", "rep"]);
    // The plaintext listener's User:ANONYMOUS is no super user and has no ACL: as a
    // broker it may not replicate (Kafka's ClusterAction on the cluster).
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let codes: Vec<i16> = runtime.block_on(async {
        let conn = Connection::connect(&broker.bootstrap(), "not-a-broker")
            .await
            .expect("connect");
        let mut fetch = FetchRequest::default();
        fetch.replica_id = BrokerId(2);
        fetch.max_wait_ms = 0;
        fetch.max_bytes = 1 << 20;
        let mut topic = FetchTopic::default();
        topic.topic = TopicName(StrBytes::from_static_str("rep"));
        let mut partition = FetchPartition::default();
        partition.partition_max_bytes = 1 << 20;
        topic.partitions = vec![partition];
        fetch.topics = vec![topic];
        let r = conn.send_at(&fetch, 12).await.expect("fetch");
        r.responses
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| p.error_code))
            .collect()
    });
    assert_eq!(
        codes,
        vec![29],
        "TOPIC_AUTHORIZATION_FAILED for its partition"
    );
}
