//! Issue 12, broker side: the admin calls the operator's rebalance drives, through
//! `tidewater-client` against a real KRaft cluster (one controller, three brokers):
//! AlterPartitionReassignments and ListPartitionReassignments, DescribeLogDirs of the
//! broker that took a replica, replication throttles set and deleted by
//! IncrementalAlterConfigs, a cancel without a move, preferred ElectLeaders, and
//! UnregisterBroker of an unknown and of a stopped broker.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::cluster::Cluster;
use common::wait_until;
use tidewater_client::{AdminClient, ClientError, ConfigResource, Reassignment};

const TOPIC: &str = "moving";
/// Kafka error codes the test expects.
const BROKER_ID_NOT_REGISTERED: i16 = 102;
const NO_REASSIGNMENT_IN_PROGRESS: i16 = 85;
const INVALID_REPLICA_ASSIGNMENT: i16 = 39;

fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}

fn admin(bootstrap: &str) -> AdminClient {
    block_on(AdminClient::connect(bootstrap)).expect("admin connect")
}

#[test]
fn reassign_describe_throttle_elect_and_unregister() {
    let mut cluster = Cluster::split(1, 3, &[]);
    let brokers = cluster.broker_ids();
    let a = admin(&cluster.bootstrap());
    block_on(a.create_topic(TOPIC, 2, 1, &BTreeMap::new())).expect("create");
    let meta = cluster.wait_isr_full(TOPIC, 2, 1, Duration::from_secs(30));
    let from = meta[&0].replicas[0];
    let to = *brokers
        .iter()
        .find(|b| **b != from)
        .expect("another broker");
    // Throttle the move as kafka-reassign-partitions --throttle does.
    set_throttles(&a, from, to, Some("10485760"));
    move_partition_0(&mut cluster, &a, from, to);
    // Throttles removed when the plan ends.
    set_throttles(&a, from, to, None);
    cancel_without_a_move_and_elect(&a);
    unregister_unknown_and_stopped_brokers(&mut cluster, &a, &brokers, to);
}

/// Sets (`Some(rate)`) or deletes (`None`) the replication throttle of partition 0's
/// move from broker `from` to broker `to`: the brokers' rates, the topic's replicas.
fn set_throttles(a: &AdminClient, from: i32, to: i32, rate: Option<&str>) {
    let rate = rate.map(str::to_owned);
    for b in [from, to] {
        block_on(a.incremental_alter_configs(
            &ConfigResource::Broker(b),
            &[
                ("leader.replication.throttled.rate", rate.clone()),
                ("follower.replication.throttled.rate", rate.clone()),
            ],
        ))
        .expect("broker throttle");
    }
    let on = rate.is_some();
    block_on(a.incremental_alter_configs(
        &ConfigResource::Topic(TOPIC.into()),
        &[
            (
                "leader.replication.throttled.replicas",
                on.then(|| format!("0:{from}")),
            ),
            (
                "follower.replication.throttled.replicas",
                on.then(|| format!("0:{to}")),
            ),
        ],
    ))
    .expect("topic throttle");
}

/// Moves partition 0 to `to`: listed while it runs, then on the target's log dirs and
/// gone from the source's.
fn move_partition_0(cluster: &mut Cluster, a: &AdminClient, from: i32, to: i32) {
    let refused = block_on(a.alter_partition_reassignments(&[Reassignment {
        topic: TOPIC.into(),
        partition: 0,
        target: Some(vec![to]),
    }]))
    .expect("alter");
    assert!(refused.is_empty(), "{refused:?}");
    // Listed while it runs (or already done: an empty partition copies at once).
    let ongoing = block_on(a.list_partition_reassignments()).expect("list");
    assert!(
        ongoing
            .iter()
            .all(|o| o.topic == TOPIC && o.partition == 0 && o.adding == [to]),
        "{ongoing:?}"
    );
    cluster.wait_metadata(
        "partition 0 on the target",
        TOPIC,
        Duration::from_secs(30),
        |m| {
            (m[&0].replicas == [to] && m[&0].leader == to)
                .then_some(())
                .ok_or_else(|| "not moved yet".into())
        },
    );
    wait_until("no move listed", Duration::from_secs(10), || {
        let left = block_on(a.list_partition_reassignments()).map_err(|e| e.to_string())?;
        left.is_empty().then_some(()).ok_or(format!("{left:?}"))
    });
    let target = admin(&cluster.node(to).bootstrap());
    let dirs = block_on(target.describe_log_dirs()).expect("describe log dirs");
    assert!(
        dirs.iter()
            .any(|d| d.topic == TOPIC && d.partition == 0 && d.size_bytes >= 0),
        "{dirs:?}"
    );
    let source = admin(&cluster.node(from).bootstrap());
    wait_until("source replica deleted", Duration::from_secs(30), || {
        let dirs = block_on(source.describe_log_dirs()).map_err(|e| e.to_string())?;
        (!dirs.iter().any(|d| d.topic == TOPIC && d.partition == 0))
            .then_some(())
            .ok_or(format!("{dirs:?}"))
    });
}

/// Cancelling a partition that is not moving is refused per partition; a preferred
/// election with nothing to do fails nothing.
fn cancel_without_a_move_and_elect(a: &AdminClient) {
    let refused = block_on(a.alter_partition_reassignments(&[Reassignment {
        topic: TOPIC.into(),
        partition: 1,
        target: None,
    }]))
    .expect("cancel");
    assert_eq!(
        refused.iter().map(|r| r.code).collect::<Vec<_>>(),
        [NO_REASSIGNMENT_IN_PROGRESS]
    );
    let failed = block_on(a.elect_preferred_leaders(None)).expect("elect");
    assert!(failed.is_empty(), "{failed:?}");
}

/// UnregisterBroker: unknown id refused; a stopped broker disappears.
fn unregister_unknown_and_stopped_brokers(
    cluster: &mut Cluster,
    a: &AdminClient,
    brokers: &[i32],
    to: i32,
) {
    match block_on(a.unregister_broker(99)) {
        Err(ClientError::Protocol { code, .. }) => assert_eq!(code, BROKER_ID_NOT_REGISTERED),
        other => panic!("unregister 99: {other:?}"),
    }
    let gone = *brokers
        .iter()
        .find(|b| **b != to)
        .expect("a broker to stop");
    cluster.node(gone).sigterm();
    let live = admin(&cluster.node(to).bootstrap());
    block_on(live.unregister_broker(gone)).expect("unregister the stopped broker");
    // A fenced broker is still registered and could be a reassignment target; an
    // unregistered one is not.
    let refused = block_on(live.alter_partition_reassignments(&[Reassignment {
        topic: TOPIC.into(),
        partition: 1,
        target: Some(vec![gone]),
    }]))
    .expect("alter onto the unregistered broker");
    assert_eq!(
        refused.iter().map(|r| r.code).collect::<Vec<_>>(),
        [INVALID_REPLICA_ASSIGNMENT],
        "{refused:?}"
    );
    let message = refused[0].message.clone().unwrap_or_default();
    assert!(message.contains("not registered"), "{message}");
}
