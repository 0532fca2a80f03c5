//! Brokers calling the controller over the controller listener, through
//! `ControllerClient`: real TCP on free ports, three voters in process. Replies reflect
//! committed state, a follower's NOT_CONTROLLER hint leads to the leader, calls survive
//! a leader change, and every refusal carries the exact Kafka error code.

#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use support::{CLUSTER_ID, Quorum, register};
use tidewater_quorum::controller::{
    AlterPartition, BrokerHeartbeat, CreateTopic, ElectionType, FeatureUpdate, UpgradeType,
};
use tidewater_quorum::controller_client::ControllerClient;
use tidewater_quorum::image::TopicImage;
use tidewater_quorum::records::ConfigResourceType;
use tidewater_quorum::rpc::{ControllerCall, ControllerFailure, ControllerReply};

fn heartbeat(broker_id: i32, broker_epoch: i64) -> ControllerCall {
    ControllerCall::Heartbeat(BrokerHeartbeat {
        broker_id,
        broker_epoch,
        want_fence: false,
        want_shutdown: false,
    })
}

fn create(
    name: &str,
    topic_id: u128,
    partitions: i32,
    rf: i16,
    validate_only: bool,
) -> ControllerCall {
    ControllerCall::CreateTopic {
        topic: CreateTopic {
            name: name.into(),
            topic_id,
            num_partitions: partitions,
            replication_factor: rf,
            assignments: BTreeMap::new(),
            configs: BTreeMap::new(),
        },
        validate_only,
    }
}

async fn refused(client: &ControllerClient, call: ControllerCall) -> ControllerFailure {
    match client.call(call.clone()).await {
        Err(f) => f,
        Ok(reply) => panic!("{call:?} should have been refused, got {reply:?}"),
    }
}

fn topic(reply: Result<ControllerReply, ControllerFailure>) -> TopicImage {
    match reply {
        Ok(ControllerReply::Topic(t)) => t,
        other => panic!("expected a Topic reply, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn calls_follow_the_leader_hint_and_reply_with_committed_state() {
    let mut quorum = Quorum::start(10_000).await;
    let mut leader = quorum.leader().await;
    if leader == 1 {
        // Voter 1 won the bootstrap election (initialization elects at once). Restarted,
        // its long election timeout keeps it a follower.
        quorum.stop(1).await;
        quorum.leader().await;
        quorum.restart(1).await;
        leader = quorum.leader().await;
    }
    assert_ne!(leader, 1, "voter 1 has the long election timeout");

    // A follower refuses and names the leader.
    let refusal = quorum.nodes[&1]
        .handle(ControllerCall::ListPartitionReassignments)
        .await
        .unwrap_err();
    assert_eq!(refusal.error_code, 41, "{refusal}");
    assert_eq!(refusal.leader_hint(), Some(leader as i32), "{refusal}");

    // Voter 1 (a follower) is tried first; its hint leads to the leader.
    let client = quorum.client(Duration::from_secs(15));
    assert_eq!(client.active_controller(), None);
    let mut epochs = BTreeMap::new();
    for broker in 1..=3 {
        epochs.insert(broker, register(&client, broker).await);
    }
    assert_eq!(client.active_controller(), Some(leader as i32));
    for (broker, epoch) in &epochs {
        match client.call(heartbeat(*broker, *epoch)).await {
            Ok(ControllerReply::Heartbeat(r)) => assert!(!r.is_fenced, "broker {broker}: {r:?}"),
            other => panic!("heartbeat of broker {broker}: {other:?}"),
        }
    }

    // validate_only decides (so validates) but writes nothing: the real create succeeds.
    let preview = topic(client.call(create("orders", 0xabc, 2, 3, true)).await);
    assert_eq!(preview.partitions.len(), 2);
    assert!(quorum.image(leader).topic("orders").is_none());
    let created = topic(client.call(create("orders", 0xabc, 2, 3, false)).await);
    assert_eq!(created, preview);
    for p in created.partitions.values() {
        assert_eq!(p.replicas.len(), 3, "{p:?}");
        assert_eq!(p.isr.len(), 3, "{p:?}");
    }
    assert_eq!(quorum.image(leader).topic("orders"), Some(&created));

    // The partition leader shrinks its ISR; the reply is the state after the change.
    let p = created.partitions[&0].clone();
    let dropped = *p.isr.iter().find(|b| **b != p.leader).unwrap();
    let new_isr: Vec<i32> = p.isr.iter().copied().filter(|b| *b != dropped).collect();
    let alter = AlterPartition {
        broker_id: p.leader,
        broker_epoch: epochs[&p.leader],
        topic_id: created.topic_id,
        partition: 0,
        leader_epoch: p.leader_epoch,
        partition_epoch: p.partition_epoch,
        new_isr: new_isr.clone(),
    };
    let after = match client
        .call(ControllerCall::AlterPartition(alter.clone()))
        .await
    {
        Ok(ControllerReply::Partition(after)) => after,
        other => panic!("AlterPartition: {other:?}"),
    };
    assert_eq!(after.isr, new_isr);
    assert_eq!(after.partition_epoch, p.partition_epoch + 1);
    let committed = quorum.image(leader);
    assert_eq!(committed.partition(created.topic_id, 0), Some(&after));
    // The same request again carries a stale partition epoch.
    let stale = refused(&client, ControllerCall::AlterPartition(alter)).await;
    assert_eq!(stale.error_code, 95, "INVALID_UPDATE_VERSION: {stale}");

    // Every voter's progress shows up once it has matched the leader's log (a voter
    // that held a conflicting entry from a lost election catches up a little later).
    let started = Instant::now();
    let quorum_info = loop {
        let info = match client.call(ControllerCall::DescribeQuorum).await {
            Ok(ControllerReply::Quorum(q)) => q,
            other => panic!("DescribeQuorum: {other:?}"),
        };
        if info
            .voters
            .iter()
            .all(|v| v.log_end_offset >= committed.offset as i64)
        {
            break info;
        }
        assert!(
            started.elapsed() < support::DEADLINE,
            "voters never caught up: {info:?}"
        );
        let mut metrics = quorum.nodes[&leader].node().metrics();
        let _ = tokio::time::timeout(Duration::from_millis(100), metrics.changed()).await;
    };
    assert_eq!(quorum_info.leader_id, leader as i32);
    assert!(quorum_info.leader_epoch >= 1);
    assert!(
        quorum_info.high_watermark >= committed.offset as i64,
        "{quorum_info:?}"
    );
    let mut voter_ids: Vec<i32> = quorum_info.voters.iter().map(|v| v.replica_id).collect();
    voter_ids.sort_unstable();
    assert_eq!(voter_ids, vec![1, 2, 3]);
    for v in &quorum_info.voters {
        assert!(
            v.last_fetch_ms_ago >= 0 && v.last_fetch_ms_ago < 10_000,
            "{v:?}"
        );
    }

    let deleted = client
        .call(ControllerCall::DeleteTopic {
            name: "orders".into(),
        })
        .await;
    assert_eq!(deleted, Ok(ControllerReply::TopicId(0xabc)));
    assert!(quorum.image(leader).topic("orders").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_refusal_carries_the_exact_kafka_error_code() {
    let quorum = Quorum::start(10_000).await;
    let client = quorum.client(Duration::from_secs(15));
    let epoch = register(&client, 1).await;
    client.call(heartbeat(1, epoch)).await.unwrap();
    topic(client.call(create("t", 0x77, 1, 1, false)).await);

    let cases: Vec<(ControllerCall, i16)> = vec![
        (create("t", 0x78, 1, 1, false), 36), // TOPIC_ALREADY_EXISTS
        (create("bad/name", 0x79, 1, 1, true), 17), // INVALID_TOPIC_EXCEPTION
        (create("u", 0x7a, 1, 3, false), 38), // INVALID_REPLICATION_FACTOR
        (
            ControllerCall::DeleteTopic {
                name: "missing".into(),
            },
            3,
        ), // UNKNOWN_TOPIC_OR_PARTITION
        (ControllerCall::DeleteTopicById { topic_id: 0x999 }, 100), // UNKNOWN_TOPIC_ID
        (heartbeat(1, epoch + 100), 77),      // STALE_BROKER_EPOCH
        (heartbeat(9, 1), 102),               // BROKER_ID_NOT_REGISTERED
        (ControllerCall::UnregisterBroker { broker_id: 9 }, 102),
        (
            ControllerCall::CreatePartitions {
                topic: "t".into(),
                count: 1,
                assignments: None,
                validate_only: false,
            },
            37, // INVALID_PARTITIONS
        ),
        (
            ControllerCall::IncrementalAlterConfigs {
                resource_type: ConfigResourceType::Topic,
                resource_name: "t".into(),
                ops: vec![("min.insync.replicas".into(), Some("0".into()))],
                validate_only: true,
            },
            40, // INVALID_CONFIG
        ),
        (
            ControllerCall::IncrementalAlterConfigs {
                resource_type: ConfigResourceType::Topic,
                resource_name: "missing".into(),
                ops: vec![],
                validate_only: false,
            },
            3,
        ),
        (
            ControllerCall::ElectLeader {
                topic: "t".into(),
                partition: 0,
                election: ElectionType::Preferred,
            },
            84, // ELECTION_NOT_NEEDED
        ),
        (
            ControllerCall::ElectLeader {
                topic: "t".into(),
                partition: 5,
                election: ElectionType::Preferred,
            },
            3,
        ),
        (
            ControllerCall::AlterPartitionReassignment {
                topic: "t".into(),
                partition: 0,
                target: None,
            },
            85, // NO_REASSIGNMENT_IN_PROGRESS
        ),
        (
            ControllerCall::UpdateFeatures {
                updates: vec![FeatureUpdate {
                    feature: "metadata.version".into(),
                    max_version_level: 99,
                    upgrade_type: UpgradeType::Upgrade,
                }],
                validate_only: true,
            },
            95, // INVALID_UPDATE_VERSION
        ),
    ];
    for (call, code) in cases {
        let failure = refused(&client, call.clone()).await;
        assert_eq!(failure.error_code, code, "{call:?}: {failure}");
    }

    // Valid validate_only calls succeed and change nothing.
    let offset = quorum.image(quorum.leader().await).offset;
    let valid_only = [
        ControllerCall::CreatePartitions {
            topic: "t".into(),
            count: 3,
            assignments: None,
            validate_only: true,
        },
        ControllerCall::IncrementalAlterConfigs {
            resource_type: ConfigResourceType::Topic,
            resource_name: "t".into(),
            ops: vec![("retention.ms".into(), Some("1000".into()))],
            validate_only: true,
        },
    ];
    for call in valid_only {
        assert_eq!(
            client.call(call.clone()).await,
            Ok(ControllerReply::Done),
            "{call:?}"
        );
    }
    let image = quorum.image(quorum.leader().await);
    assert_eq!(image.offset, offset, "validate_only wrote records");
    assert_eq!(image.topic("t").unwrap().partitions.len(), 1);
    assert_eq!(
        client
            .call(ControllerCall::ListPartitionReassignments)
            .await,
        Ok(ControllerReply::Reassignments(vec![]))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_call_reaches_the_new_leader_after_the_leader_stops() {
    let mut quorum = Quorum::start(10_000).await;
    let client = quorum.client(Duration::from_secs(20));
    let epoch = register(&client, 7).await;
    let old = quorum.leader().await;
    assert_eq!(client.active_controller(), Some(old as i32));
    quorum.stop(old).await;

    let started = Instant::now();
    let reply = client.call(heartbeat(7, epoch)).await;
    assert!(
        matches!(reply, Ok(ControllerReply::Heartbeat(_))),
        "{reply:?}"
    );
    let new = quorum.leader().await;
    assert_ne!(new, old);
    assert_eq!(client.active_controller(), Some(new as i32));
    println!("failover call took {:?}", started.elapsed());
    let created = topic(
        client
            .call(create("after-failover", 0x55, 1, 1, false))
            .await,
    );
    assert_eq!(quorum.image(new).topic("after-failover"), Some(&created));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_a_quorum_calls_fail_with_not_controller_within_the_request_timeout() {
    let mut quorum = Quorum::start(10_000).await;
    let leader = quorum.leader().await;
    // Keep a follower alone: it can neither lead nor reach a leader.
    let follower = *quorum.nodes.keys().find(|id| **id != leader).unwrap();
    let others: Vec<u64> = quorum
        .nodes
        .keys()
        .copied()
        .filter(|id| *id != follower)
        .collect();
    for id in others {
        quorum.stop(id).await;
    }
    let timeout = Duration::from_secs(3);
    let client = quorum.client(timeout);
    let started = Instant::now();
    let failure = refused(&client, ControllerCall::DescribeQuorum).await;
    let took = started.elapsed();
    assert_eq!(failure.error_code, 41, "{failure}");
    assert!(
        took >= timeout && took < timeout + Duration::from_secs(2),
        "took {took:?}"
    );

    // Nobody listening at all: NOT_CONTROLLER too, within the timeout.
    let nobody = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = nobody.local_addr().unwrap();
    drop(nobody);
    let client = ControllerClient::new(
        CLUSTER_ID,
        BTreeMap::from([(1, addr)]),
        Duration::from_millis(500),
    );
    let started = Instant::now();
    let failure = refused(&client, ControllerCall::DescribeQuorum).await;
    assert_eq!(failure.error_code, 41, "{failure}");
    assert!(started.elapsed() < Duration::from_secs(2));

    // A controller that takes the connection but never answers: REQUEST_TIMED_OUT.
    // (The kernel completes the handshake from the backlog; nothing ever accepts.)
    let hung = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let voters = BTreeMap::from([(1, hung.local_addr().unwrap())]);
    let client = ControllerClient::new(CLUSTER_ID, voters, Duration::from_millis(800));
    let started = Instant::now();
    let failure = refused(&client, ControllerCall::DescribeQuorum).await;
    assert_eq!(failure.error_code, 7, "{failure}");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(800) && took < Duration::from_secs(3),
        "took {took:?}"
    );
    drop(hung);

    // A voter of another cluster: INCONSISTENT_CLUSTER_ID at once, no retries.
    let voters = BTreeMap::from([(follower, quorum.voters[&follower])]);
    let client = ControllerClient::new("another-cluster", voters, Duration::from_secs(10));
    let started = Instant::now();
    let failure = refused(&client, ControllerCall::DescribeQuorum).await;
    assert_eq!(failure.error_code, 104, "{failure}");
    assert!(started.elapsed() < Duration::from_secs(2));
}
