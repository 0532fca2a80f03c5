//! ACLs for a SCRAM user, managed with Kafka's own tools and held against kcat and
//! Kafka's kafka-transactions (issue 14 item 3): the tools run as the super user
//! (User:ANONYMOUS on the PLAINTEXT listener), kafka-configs gives erin a
//! SCRAM-SHA-512 credential, kafka-acls grants her topics (literal and prefixed, a
//! DENY inside the prefix) and one transactional id prefix. kcat, authenticated as
//! erin, produces where an ALLOW lets her and gets "Topic authorization failed"
//! elsewhere, and reads only once she has Read. ListTransactions shows her only the
//! transactions she may describe, and describing another one is refused with
//! TRANSACTIONAL_ID_AUTHORIZATION_FAILED (by FindCoordinator, which the tool sends
//! first, as on Kafka).

use std::path::Path;
use std::time::Duration;

use super::common::broker::free_port;
use super::common::{Broker, BrokerOpts, Output, kcat, wait_until};
use super::jvm::KafkaTools;
use super::transactions_tool::open_transaction;

const ACLS: &str = "org.apache.kafka.tools.AclCommand";
const CONFIGS: &str = "org.apache.kafka.tools.ConfigCommand";
const TOPICS: &str = "org.apache.kafka.tools.TopicCommand";
const TRANSACTIONS: &str = "org.apache.kafka.tools.TransactionsCommand";
const STANDARD_AUTHORIZER: &str = "org.apache.kafka.metadata.authorizer.StandardAuthorizer";
const T: Duration = Duration::from_secs(60);

/// A broker with the authorizer on, the PLAINTEXT listener's User:ANONYMOUS as super
/// user (the tools' side), and a SASL_PLAINTEXT listener for SCRAM-SHA-512 users.
fn start() -> (Broker, String) {
    let sasl = format!("127.0.0.1:{}", free_port());
    let broker = Broker::start(BrokerOpts {
        config: vec![
            ("sasl.enabled.mechanisms".into(), "SCRAM-SHA-512".into()),
            ("authorizer.class.name".into(), STANDARD_AUTHORIZER.into()),
            ("super.users".into(), "User:ANONYMOUS".into()),
        ],
        extra_listeners: vec![format!("SASL_PLAINTEXT://{sasl}")],
        ..Default::default()
    });
    (broker, sasl)
}

/// Gives erin a SCRAM-SHA-512 credential with kafka-configs.
fn add_erin(kafka: &KafkaTools, bs: &str) {
    kafka.ok_at(
        CONFIGS,
        bs,
        &[
            "--alter",
            "--add-config",
            "SCRAM-SHA-512=[iterations=8192,password=erin-secret]",
            "--entity-type",
            "users",
            "--entity-name",
            "erin",
        ],
    );
}

fn acl(kafka: &KafkaTools, bs: &str, args: &[&str]) {
    kafka.ok_at(ACLS, bs, &[&["--add"][..], args].concat());
}

/// kcat authenticated as erin over SCRAM-SHA-512, with `args` after the SASL ones.
fn kcat_as_erin(sasl: &str, args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut all = vec!["-b", sasl];
    for p in [
        "security.protocol=SASL_PLAINTEXT",
        "sasl.mechanisms=SCRAM-SHA-512",
        "sasl.username=erin",
        "sasl.password=erin-secret",
    ] {
        all.extend(["-X", p]);
    }
    all.extend_from_slice(args);
    kcat(&all, stdin, T)
}

/// kcat as erin produces one record to `topic`: Ok, or what kcat printed.
fn produce(sasl: &str, topic: &str) -> Result<(), String> {
    let out = kcat_as_erin(sasl, &["-P", "-t", topic], Some(b"from-erin\n"));
    if out.status.success() && !out.stderr.contains("ERROR") && !out.stderr.contains("failed") {
        Ok(())
    } else {
        Err(out.to_string())
    }
}

#[test]
fn a_scram_users_topic_acls_hold_for_kcat() {
    let Some(kafka) = KafkaTools::find("a_scram_users_topic_acls_hold_for_kcat") else {
        return;
    };
    let (broker, sasl) = start();
    let bs = broker.bootstrap();
    add_erin(&kafka, &bs);
    for topic in ["ok", "none", "pre-x", "pre-no"] {
        kafka.ok_at(
            TOPICS,
            &bs,
            &["--create", "--topic", topic, "--partitions", "1"],
        );
    }
    acl(
        &kafka,
        &bs,
        &[
            "--allow-principal",
            "User:erin",
            "--operation",
            "Write",
            "--topic",
            "ok",
        ],
    );
    acl(
        &kafka,
        &bs,
        &[
            "--allow-principal",
            "User:erin",
            "--operation",
            "Write",
            "--topic",
            "pre-",
            "--resource-pattern-type",
            "prefixed",
        ],
    );
    acl(
        &kafka,
        &bs,
        &[
            "--deny-principal",
            "User:erin",
            "--operation",
            "Write",
            "--topic",
            "pre-no",
        ],
    );
    wait_until("erin may write to ok", T, || produce(&sasl, "ok"));
    produce(&sasl, "pre-x").expect("a PREFIXED ALLOW lets erin write");
    for (topic, why) in [("none", "no ACL"), ("pre-no", "a DENY inside the prefix")] {
        let refused = produce(&sasl, topic).expect_err(why);
        assert!(
            refused.contains("Topic authorization failed"),
            "{topic} ({why}): {refused}"
        );
    }
    // Write implies Describe, not Read: erin cannot read what she wrote until she
    // gets Read.
    let read = || kcat_as_erin(&sasl, &["-C", "-t", "ok", "-o", "beginning", "-e"], None);
    let refused = read();
    assert!(
        refused.stderr.contains("Topic authorization failed")
            && !refused.stdout.contains("from-erin"),
        "{refused}"
    );
    acl(
        &kafka,
        &bs,
        &[
            "--allow-principal",
            "User:erin",
            "--operation",
            "Read",
            "--topic",
            "ok",
        ],
    );
    wait_until("erin reads ok once she has Read", T, || {
        let out = read();
        if out.status.success() && out.stdout.contains("from-erin") {
            Ok(())
        } else {
            Err(out.to_string())
        }
    });
}

/// Writes the client properties that make a Java tool authenticate as erin.
fn erin_properties(dir: &Path) -> String {
    let file = dir.join("erin.properties");
    std::fs::write(
        &file,
        "security.protocol=SASL_PLAINTEXT\n\
         sasl.mechanism=SCRAM-SHA-512\n\
         sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required \
         username=\"erin\" password=\"erin-secret\";\n",
    )
    .expect("write erin.properties");
    file.display().to_string()
}

#[test]
fn kafka_transactions_shows_a_scram_user_only_the_transactions_she_may_describe() {
    let Some(kafka) = KafkaTools::find(
        "kafka_transactions_shows_a_scram_user_only_the_transactions_she_may_describe",
    ) else {
        return;
    };
    let (broker, sasl) = start();
    let bs = broker.bootstrap();
    add_erin(&kafka, &bs);
    kafka.ok_at(
        TOPICS,
        &bs,
        &["--create", "--topic", "txn-acl", "--partitions", "1"],
    );
    // Opened by the super user over PLAINTEXT.
    let mine = open_transaction(&bs, "erin-tx", "txn-acl").to_string();
    let other = open_transaction(&bs, "other-tx", "txn-acl").to_string();
    acl(
        &kafka,
        &bs,
        &[
            "--allow-principal",
            "User:erin",
            "--operation",
            "Describe",
            "--transactional-id",
            "erin-",
            "--resource-pattern-type",
            "prefixed",
        ],
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let config = erin_properties(dir.path());
    let as_erin = |args: &[&str]| {
        kafka.run(
            TRANSACTIONS,
            &[
                &["--bootstrap-server", &sasl, "--command-config", &config][..],
                args,
            ]
            .concat(),
        )
    };
    let listed = wait_until("erin lists her transaction", T, || {
        let out = as_erin(&["list"]);
        if out.status.success() && out.stdout.contains("erin-tx") {
            Ok(out)
        } else {
            Err(out.to_string())
        }
    });
    assert!(listed.stdout.contains(&mine), "{listed}");
    assert!(
        !listed.stdout.contains("other-tx") && !listed.stdout.contains(&other),
        "ListTransactions shows erin a transaction she may not describe: {listed}"
    );
    // The super user sees both.
    let all = kafka.ok_at(TRANSACTIONS, &bs, &["list"]);
    assert!(
        all.stdout.contains("erin-tx") && all.stdout.contains("other-tx"),
        "{all}"
    );
    let described = as_erin(&["describe", "--transactional-id", "erin-tx"]);
    assert!(
        described.status.success() && described.stdout.contains("Ongoing"),
        "{described}"
    );
    // Kafka's admin client finds the coordinator first: without Describe on the id
    // that is refused already (TRANSACTIONAL_ID_AUTHORIZATION_FAILED), as on Kafka.
    let refused = as_erin(&["describe", "--transactional-id", "other-tx"]);
    assert!(
        !refused.status.success()
            && refused
                .stderr
                .contains("transactionalId `CoordinatorKey(idValue='other-tx', type=TRANSACTION)` failed due to authorization failure"),
        "{refused}"
    );
}
