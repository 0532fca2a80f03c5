//! Kafka's kafka-acls manages ACLs on Tidewater as on Kafka (CreateAcls, DescribeAcls
//! with LITERAL and MATCH filters, DeleteAcls): ACLs added through node 1 are listed
//! by node 3, because they live in the replicated metadata; without an authorizer the
//! tool gets SECURITY_DISABLED, and a caller that is no super user and has no Alter
//! on the cluster gets CLUSTER_AUTHORIZATION_FAILED.

use super::common::cluster::Cluster;
use super::common::{Broker, BrokerOpts, wait_until};
use super::jvm::KafkaTools;

const ACLS: &str = "org.apache.kafka.tools.AclCommand";
const STANDARD_AUTHORIZER: &str = "org.apache.kafka.metadata.authorizer.StandardAuthorizer";
const T: std::time::Duration = std::time::Duration::from_secs(60);

#[test]
fn kafka_acls_adds_lists_and_removes_acls_across_nodes() {
    let Some(kafka) = KafkaTools::find("kafka_acls_adds_lists_and_removes_acls_across_nodes")
    else {
        return;
    };
    // The tool connects over PLAINTEXT, as User:ANONYMOUS: the super user here.
    let mut cluster = Cluster::combined(
        3,
        &[
            ("authorizer.class.name", STANDARD_AUTHORIZER),
            ("super.users", "User:ANONYMOUS"),
        ],
    );
    let node = |c: &mut Cluster, id| c.node(id).kafka_addr.expect("broker").to_string();
    let (one, three) = (node(&mut cluster, 1), node(&mut cluster, 3));
    let out = kafka.ok_at(
        ACLS,
        &one,
        &[
            "--add",
            "--allow-principal",
            "User:alice",
            "--operation",
            "Write",
            "--operation",
            "Describe",
            "--topic",
            "a",
        ],
    );
    assert!(
        out.stdout.contains(
            "Adding ACLs for resource `ResourcePattern(resourceType=TOPIC, name=a, patternType=LITERAL)`"
        ),
        "{out}"
    );
    kafka.ok_at(
        ACLS,
        &one,
        &[
            "--add",
            "--deny-principal",
            "User:bob",
            "--operation",
            "Read",
            "--group",
            "pre-",
            "--resource-pattern-type",
            "prefixed",
        ],
    );
    let alice_write = "(principal=User:alice, host=*, operation=WRITE, permissionType=ALLOW)";
    let alice_describe = "(principal=User:alice, host=*, operation=DESCRIBE, permissionType=ALLOW)";
    let bob_deny = "(principal=User:bob, host=*, operation=READ, permissionType=DENY)";
    // Node 3 answers from its own image, once the records reached it.
    wait_until("node 3 lists both ACLs", T, || {
        let out = kafka.ok_at(ACLS, &three, &["--list"]);
        let all = [alice_write, alice_describe, bob_deny];
        if all.iter().all(|a| out.stdout.contains(a)) {
            Ok(())
        } else {
            Err(out.to_string())
        }
    });
    // A MATCH filter finds the prefixed ACL that applies to a group called pre-x.
    let out = kafka.ok_at(
        ACLS,
        &three,
        &[
            "--list",
            "--group",
            "pre-x",
            "--resource-pattern-type",
            "match",
        ],
    );
    assert!(out.stdout.contains(bob_deny), "{out}");
    assert!(
        out.stdout
            .contains("ResourcePattern(resourceType=GROUP, name=pre-, patternType=PREFIXED)"),
        "{out}"
    );
    assert!(!out.stdout.contains(alice_write), "{out}");
    kafka.ok_at(
        ACLS,
        &three,
        &[
            "--remove",
            "--force",
            "--allow-principal",
            "User:alice",
            "--operation",
            "Write",
            "--topic",
            "a",
        ],
    );
    wait_until("node 1 sees the removal node 3 made", T, || {
        let out = kafka.ok_at(ACLS, &one, &["--list", "--topic", "a"]);
        if out.stdout.contains(alice_describe) && !out.stdout.contains(alice_write) {
            Ok(())
        } else {
            Err(out.to_string())
        }
    });
}

#[test]
fn kafka_acls_needs_an_authorizer_and_alter_on_the_cluster() {
    let Some(kafka) = KafkaTools::find("kafka_acls_needs_an_authorizer_and_alter_on_the_cluster")
    else {
        return;
    };
    let add = [
        "--add",
        "--allow-principal",
        "User:alice",
        "--operation",
        "Read",
        "--topic",
        "a",
    ];
    let open = Broker::start(BrokerOpts::default());
    let out = kafka.run(
        ACLS,
        &[&["--bootstrap-server", &open.bootstrap()][..], &add].concat(),
    );
    assert!(
        format!("{}{}", out.stdout, out.stderr).contains("SecurityDisabledException"),
        "{out}"
    );
    // Authorization on, but the tool's User:ANONYMOUS is no super user.
    let closed = Broker::start(BrokerOpts {
        config: vec![
            ("authorizer.class.name".into(), STANDARD_AUTHORIZER.into()),
            ("super.users".into(), "User:admin".into()),
        ],
        ..Default::default()
    });
    for args in [&add[..], &["--list"][..]] {
        let out = kafka.run(
            ACLS,
            &[&["--bootstrap-server", &closed.bootstrap()][..], args].concat(),
        );
        assert!(
            format!("{}{}", out.stdout, out.stderr).contains("ClusterAuthorizationException"),
            "{args:?}: {out}"
        );
    }
    // So are the cluster-level admin APIs: DescribeQuorum needs Describe on the
    // cluster.
    let out = kafka.run(
        "org.apache.kafka.tools.MetadataQuorumCommand",
        &[
            "--bootstrap-server",
            &closed.bootstrap(),
            "describe",
            "--status",
        ],
    );
    assert!(
        !out.status.success()
            && format!("{}{}", out.stdout, out.stderr).contains("ClusterAuthorizationException"),
        "{out}"
    );
    // A broker's configs need DescribeConfigs on the cluster.
    let out = kafka.run(
        "org.apache.kafka.tools.ConfigCommand",
        &[
            "--bootstrap-server",
            &closed.bootstrap(),
            "--describe",
            "--entity-type",
            "brokers",
            "--entity-name",
            "1",
        ],
    );
    assert!(
        !out.status.success()
            && format!("{}{}", out.stdout, out.stderr).contains("ClusterAuthorizationException"),
        "{out}"
    );
}
