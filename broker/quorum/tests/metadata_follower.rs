//! Brokers following the metadata log as observers (`MetadataFollower`), over real TCP
//! against three in-process voters: the follower's image equals the leader's after a
//! series of calls, it shows up in DescribeQuorum, it survives the loss of the voter it
//! fetched from, and one that starts late against a voter restored from a snapshot
//! gets the whole image and then follows by entries.

#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use support::{CLUSTER_ID, Quorum, register_active, wait_image};
use tidewater_quorum::controller::CreateTopic;
use tidewater_quorum::controller_client::{ControllerClient, MetadataFollower};
use tidewater_quorum::records::ConfigResourceType;
use tidewater_quorum::rpc::{ControllerCall, ControllerReply};

fn create(name: &str, topic_id: u128) -> ControllerCall {
    ControllerCall::CreateTopic {
        topic: CreateTopic {
            name: name.into(),
            topic_id,
            num_partitions: 2,
            replication_factor: 1,
            assignments: BTreeMap::new(),
            configs: BTreeMap::new(),
        },
        validate_only: false,
    }
}

fn set_config(key: &str, value: u32) -> ControllerCall {
    ControllerCall::IncrementalAlterConfigs {
        resource_type: ConfigResourceType::Broker,
        resource_name: String::new(),
        ops: vec![(key.into(), Some(value.to_string()))],
        validate_only: false,
    }
}

async fn call(client: &ControllerClient, call: ControllerCall) -> ControllerReply {
    match client.call(call.clone()).await {
        Ok(reply) => reply,
        Err(e) => panic!("{call:?}: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_follower_tracks_the_leaders_image_and_is_listed_as_an_observer() {
    let mut quorum = Quorum::start(10_000).await;
    let client = quorum.client(Duration::from_secs(20));
    let follower = MetadataFollower::start(client.clone(), 101);
    let mut image = follower.image();

    for broker in 1..=3 {
        register_active(&client, broker).await;
    }
    call(&client, create("a", 0xa1)).await;
    call(&client, create("b", 0xb1)).await;
    call(&client, set_config("log.retention.ms", 1000)).await;
    call(&client, ControllerCall::DeleteTopic { name: "a".into() }).await;
    let leader = quorum.leader().await;
    let want = quorum.image(leader);
    let got = wait_image(
        &mut image,
        "the follower reaching the leader's offset",
        |i| i.offset >= want.offset,
    )
    .await;
    assert_eq!(
        *got, *want,
        "applying the fetched log must give the leader's image"
    );
    assert!(got.topic("b").is_some() && got.topic("a").is_none());

    // The observer shows up in DescribeQuorum with the offset it fetched from.
    let started = std::time::Instant::now();
    loop {
        let ControllerReply::Quorum(info) = call(&client, ControllerCall::DescribeQuorum).await
        else {
            panic!("DescribeQuorum gave another reply");
        };
        if let Some(o) = info.observers.iter().find(|o| o.replica_id == 101)
            && o.log_end_offset >= want.offset as i64
        {
            assert!(
                o.last_fetch_ms_ago >= 0 && o.last_fetch_ms_ago < 10_000,
                "{o:?}"
            );
            assert!(info.voters.iter().all(|v| v.replica_id != 101));
            break;
        }
        assert!(
            started.elapsed() < support::DEADLINE,
            "observer 101 not listed: {info:?}"
        );
        // The next fetch comes within the follower's long-poll wait.
        let mut metrics = quorum.nodes[&leader].node().metrics();
        let _ = tokio::time::timeout(Duration::from_millis(200), metrics.changed()).await;
    }

    // The voter it fetched from (the leader) goes away: it moves on to the others.
    quorum.stop(leader).await;
    call(&client, create("c", 0xc1)).await;
    let leader = quorum.leader().await;
    let want = quorum.image(leader);
    let got = wait_image(&mut image, "the follower after the leader stopped", |i| {
        i.offset >= want.offset
    })
    .await;
    assert_eq!(*got, *want);
    follower.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_late_follower_of_a_snapshot_restored_voter_gets_the_image_then_entries() {
    // Snapshot (and purge the log) every 5 entries.
    let mut quorum = Quorum::start(5).await;
    let client = quorum.client(Duration::from_secs(20));
    register_active(&client, 1).await;
    let leader = quorum.leader().await;
    let lagging = *quorum.nodes.keys().find(|id| **id != leader).unwrap();
    let stopped_at = quorum.image(lagging).offset;
    quorum.stop(lagging).await;
    for i in 0..20 {
        call(&client, set_config("log.retention.ms", 1000 + i)).await;
    }
    let mut metrics = quorum.nodes[&leader].node().metrics();
    let purge = metrics.wait_for(|m| m.purged.is_some_and(|p| p.index > stopped_at));
    let purged = match tokio::time::timeout(support::DEADLINE, purge).await {
        Ok(Ok(m)) => m.purged.map_or(0, |p| p.index),
        _ => panic!("the leader never purged past voter {lagging}'s log ({stopped_at})"),
    };
    // Restarted, the lagging voter can only catch up by installing the leader's snapshot.
    quorum.restart(lagging).await;
    let leader = quorum.leader().await;
    let target = quorum.image(leader).offset;
    let mut voter = quorum.nodes[&lagging].node().image();
    wait_image(&mut voter, "the restarted voter catching up", |i| {
        i.offset >= target
    })
    .await;
    // Raft metrics are published just after the state machine's image.
    let mut metrics = quorum.nodes[&lagging].node().metrics();
    let install = metrics.wait_for(|m| m.snapshot.is_some_and(|s| s.index >= purged));
    if tokio::time::timeout(support::DEADLINE, install)
        .await
        .is_err()
    {
        let installed = metrics.borrow().snapshot;
        panic!("voter {lagging} caught up without the leader's snapshot: {installed:?}");
    }

    // A follower that can only reach that voter.
    let only = BTreeMap::from([(lagging, quorum.voters[&lagging])]);
    let observer_client = ControllerClient::new(CLUSTER_ID, only, Duration::from_secs(20));
    let follower = MetadataFollower::start(observer_client, 102);
    let mut image = follower.image();
    let got = wait_image(&mut image, "the whole image", |i| i.offset >= target).await;
    assert_eq!(
        got.config(ConfigResourceType::Broker, "", "log.retention.ms"),
        Some("1019")
    );

    // Then new entries, one by one.
    for i in 0..5 {
        call(&client, create(&format!("late-{i}"), 0x100 + i)).await;
        let leader = quorum.leader().await;
        let want = quorum.image(leader);
        let got = wait_image(&mut image, "the next entry", |img| {
            img.offset >= want.offset
        })
        .await;
        assert_eq!(*got, *want);
    }
    follower.shutdown().await;
}
