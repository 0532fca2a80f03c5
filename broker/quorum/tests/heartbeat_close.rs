//! A closed heartbeat connection fences a broker only when its listener confirms the
//! process is gone. Two brokers heartbeat through their own `ControllerClient`, then
//! both clients are dropped (their connections close): the one whose listener still
//! accepts connections stays unfenced — as a live 0.2.0 broker whose pooled connection
//! closed, or a live broker whose heartbeat timed out — and the one whose listener
//! refuses is fenced at once. Real TCP on free ports, three voters in process.

#![allow(clippy::unwrap_used)]

mod support;

use std::time::{Duration, Instant};

use support::{DEADLINE, Quorum, registration, wait_image};
use tidewater_quorum::controller::BrokerHeartbeat;
use tidewater_quorum::records::Listener;
use tidewater_quorum::rpc::{ControllerCall, ControllerReply};
use tokio::net::TcpListener;

fn listener_at(port: u16) -> Listener {
    Listener {
        name: "PLAINTEXT".into(),
        host: "127.0.0.1".into(),
        port,
        security_protocol: "PLAINTEXT".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_closed_heartbeat_connection_fences_only_a_broker_whose_listener_is_gone() {
    let quorum = Quorum::start(10_000).await;
    // Broker 1's listener is up for the whole test; broker 2's port refuses.
    let alive = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gone_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let ports = [(1, alive.local_addr().unwrap().port()), (2, gone_port)];
    let mut clients = Vec::new();
    for (id, port) in ports {
        let client = quorum.client(Duration::from_secs(10));
        let mut request = registration(id);
        request.listeners = vec![listener_at(port)];
        let epoch = match client.call(ControllerCall::RegisterBroker(request)).await {
            Ok(ControllerReply::BrokerEpoch(epoch)) => epoch,
            other => panic!("registering broker {id}: {other:?}"),
        };
        let heartbeat = ControllerCall::Heartbeat(BrokerHeartbeat {
            broker_id: id,
            broker_epoch: epoch,
            want_fence: false,
            want_shutdown: false,
        });
        match client.call(heartbeat).await {
            Ok(ControllerReply::Heartbeat(r)) if !r.is_fenced => {}
            other => panic!("heartbeat of broker {id}: {other:?}"),
        }
        clients.push(client);
    }
    let leader = quorum.leader().await;
    let mut images = quorum.nodes[&leader].node().image();
    wait_image(&mut images, "both brokers unfenced", |i| {
        [1, 2]
            .iter()
            .all(|id| i.brokers.get(id).is_some_and(|b| !b.fenced))
    })
    .await;

    // Both brokers' heartbeat connections close.
    drop(clients);
    wait_image(&mut images, "broker 2 fenced", |i| {
        i.brokers.get(&2).is_some_and(|b| b.fenced)
    })
    .await;
    // Broker 1's close was judged too (its probe was accepted): it stays unfenced.
    let started = Instant::now();
    while quorum.nodes[&leader].closes_of_live_brokers() == 0 {
        assert!(
            started.elapsed() < DEADLINE,
            "broker 1's closed connection was never judged"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(quorum.nodes[&leader].closes_of_live_brokers(), 1);
    let image = quorum.image(leader);
    assert!(
        !image.brokers[&1].fenced,
        "a live broker was fenced on a closed connection: {:?}",
        image.brokers[&1]
    );
    drop(alive);
}
