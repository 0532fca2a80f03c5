//! Issue 17 item 2, controller membership changes (KIP-853) with real processes:
//! 3 controllers and 3 brokers under an acks=all producer; a 4th controller process
//! joins as an observer (`controller.quorum.bootstrap.servers`), AddRaftVoter makes
//! it a voter, RemoveRaftVoter removes the active controller, which is then stopped. The
//! producer keeps being acknowledged and topics keep being created throughout, and
//! DescribeQuorum (v2) shows the voters and their endpoints after each step. Kafka's
//! refusals are checked on the way: DUPLICATE_VOTER, VOTER_NOT_FOUND,
//! INCONSISTENT_CLUSTER_ID, INVALID_REQUEST, and REQUEST_TIMED_OUT for a change while
//! another is in flight and for a new voter that cannot catch up.

mod common;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use common::broker::free_port;
use common::clients::create_topic_rf3_min_isr2;
use common::cluster::{CLUSTER_ID, Cluster};
use common::cluster_node::Role;
use common::load::{BackgroundProducer, verify_no_loss};
use common::wait::wait_until;
use tidewater_client::CLUSTER_METADATA_TOPIC;
use tidewater_client::Connection;
use tidewater_client::kafka_protocol::error::ResponseError as E;
use tidewater_client::kafka_protocol::messages::add_raft_voter_request::Listener;
use tidewater_client::kafka_protocol::messages::describe_quorum_request::{
    PartitionData, TopicData,
};
use tidewater_client::kafka_protocol::messages::{
    AddRaftVoterRequest, DescribeQuorumRequest, DescribeQuorumResponse, RemoveRaftVoterRequest,
    TopicName,
};
use tidewater_client::kafka_protocol::protocol::StrBytes;

const TOPIC: &str = "voters";
const NEW_CONTROLLER: i32 = 7;

fn send<R: tidewater_client::kafka_protocol::protocol::Request>(
    broker: &str,
    req: R,
) -> R::Response {
    // One connection per request: each step asks whichever controller leads now.
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let exchange = async {
        let conn = Connection::connect(broker, "kraft-voters").await?;
        conn.send(req).await
    };
    runtime
        .block_on(exchange)
        .unwrap_or_else(|e| panic!("{} to {broker}: {e}", std::any::type_name::<R>()))
}

fn add_voter(broker: &str, id: i32, controller: SocketAddr, cluster_id: &str) -> (i16, String) {
    let mut l = Listener::default();
    l.name = StrBytes::from_static_str("CONTROLLER");
    l.host = StrBytes::from_string(controller.ip().to_string());
    l.port = controller.port();
    let mut req = AddRaftVoterRequest::default();
    req.cluster_id = Some(StrBytes::from_string(cluster_id.into()));
    req.timeout_ms = 30_000;
    req.voter_id = id;
    req.listeners = vec![l];
    let r = send(broker, req);
    (
        r.error_code,
        r.error_message.map(|m| m.to_string()).unwrap_or_default(),
    )
}

fn remove_voter(broker: &str, id: i32) -> (i16, String) {
    let mut req = RemoveRaftVoterRequest::default();
    req.cluster_id = Some(StrBytes::from_static_str(CLUSTER_ID));
    req.voter_id = id;
    let r = send(broker, req);
    (
        r.error_code,
        r.error_message.map(|m| m.to_string()).unwrap_or_default(),
    )
}

/// Voter ids, observer ids and the v2 voter endpoints (`id@host:port`).
struct Quorum {
    leader: i32,
    voters: BTreeSet<i32>,
    observers: BTreeSet<i32>,
    endpoints: BTreeSet<String>,
}

fn describe(broker: &str) -> Result<Quorum, String> {
    let r = describe_raw(broker)?;
    let p = &r.topics[0].partitions[0];
    Ok(Quorum {
        leader: p.leader_id.0,
        voters: p.current_voters.iter().map(|v| v.replica_id.0).collect(),
        observers: p.observers.iter().map(|v| v.replica_id.0).collect(),
        endpoints: r
            .nodes
            .iter()
            .flat_map(|n| {
                n.listeners
                    .iter()
                    .map(move |l| format!("{}@{}:{}", n.node_id.0, l.host.as_str(), l.port))
            })
            .collect(),
    })
}

fn describe_raw(broker: &str) -> Result<DescribeQuorumResponse, String> {
    let mut partition = PartitionData::default();
    partition.partition_index = 0;
    let mut topic = TopicData::default();
    topic.topic_name = TopicName(StrBytes::from_static_str(CLUSTER_METADATA_TOPIC));
    topic.partitions = vec![partition];
    let mut req = DescribeQuorumRequest::default();
    req.topics = vec![topic];
    let r: DescribeQuorumResponse = send(broker, req);
    if r.error_code != 0 {
        return Err(format!(
            "DescribeQuorum error {}: {:?}",
            r.error_code, r.error_message
        ));
    }
    Ok(r)
}

/// Waits until DescribeQuorum names exactly `voters`, each with its endpoint, and a
/// leader among them (a leader that removed itself hands over only once it is gone).
fn wait_voters(cluster: &mut Cluster, broker: &str, voters: &[i32]) -> Quorum {
    let want: BTreeSet<i32> = voters.iter().copied().collect();
    let endpoints: BTreeSet<String> = voters
        .iter()
        .map(|id| {
            format!(
                "{id}@{}",
                cluster.node(*id).controller_addr.expect("controller")
            )
        })
        .collect();
    wait_until(&format!("voters {want:?}"), Duration::from_secs(30), || {
        let q = describe(broker)?;
        if q.voters == want && q.endpoints == endpoints && q.voters.contains(&q.leader) {
            Ok(q)
        } else {
            Err(format!(
                "voters {:?} endpoints {:?} leader {}",
                q.voters, q.endpoints, q.leader
            ))
        }
    })
}

#[test]
fn kraft_quorum_adds_and_removes_controllers_while_writes_commit() {
    let mut cluster = Cluster::split(3, 3, &[]);
    let broker = cluster.node(4).bootstrap();
    create_topic_rf3_min_isr2(&cluster.bootstrap(), TOPIC, 3);
    cluster.wait_isr_full(TOPIC, 3, 3, Duration::from_secs(30));
    let mut producer = BackgroundProducer::start(&cluster.bootstrap(), TOPIC, 200);
    producer.wait_progress(100, Duration::from_secs(30));
    wait_voters(&mut cluster, &broker, &[1, 2, 3]);

    refusals_before_any_change(&mut cluster, &broker);
    a_learner_that_cannot_catch_up_holds_the_one_change(&mut cluster, &broker);
    a_new_controller_joins_as_observer_then_voter(&mut cluster, &broker, &mut producer);
    let rest = the_active_controller_removes_itself(&mut cluster, &broker, &mut producer);
    the_new_voter_counts(&mut cluster, &broker, &mut producer, &rest);

    let summary = producer.stop();
    eprintln!(
        "producer: sent {} acked {} errors {} max gaps {:?}",
        summary.sent, summary.acked, summary.errors, summary.max_gap_ms
    );
    let report = verify_no_loss(&cluster.bootstrap(), TOPIC, &producer.acked_path());
    eprintln!("{report}");
}

/// Kafka's refusals, before anything changes.
fn refusals_before_any_change(cluster: &mut Cluster, broker: &str) {
    let c2 = cluster.node(2).controller_addr.expect("controller");
    assert_eq!(
        add_voter(broker, 2, c2, CLUSTER_ID).0,
        E::DuplicateVoter.code()
    );
    assert_eq!(remove_voter(broker, 9).0, E::VoterNotFound.code());
    assert_eq!(
        add_voter(broker, 9, c2, "some-other-cluster").0,
        E::InconsistentClusterId.code()
    );
    let no_listener = send(broker, {
        let mut r = AddRaftVoterRequest::default();
        r.voter_id = 9;
        r
    });
    assert_eq!(no_listener.error_code, E::InvalidRequest.code());
}

/// A learner that cannot catch up (nothing listens at its endpoint) holds the one
/// change KIP-853 allows at a time: another change meanwhile is REQUEST_TIMED_OUT,
/// and the add itself gives up with REQUEST_TIMED_OUT, leaving no learner behind.
fn a_learner_that_cannot_catch_up_holds_the_one_change(cluster: &mut Cluster, broker: &str) {
    let nowhere: SocketAddr = format!("127.0.0.1:{}", free_port())
        .parse()
        .expect("loopback addr");
    let stuck = {
        let broker = broker.to_owned();
        std::thread::spawn(move || add_voter(&broker, 9, nowhere, CLUSTER_ID))
    };
    wait_until(
        "node 9 catching up as a learner",
        Duration::from_secs(10),
        || {
            let q = describe(broker)?;
            if q.observers.contains(&9) {
                Ok(())
            } else {
                Err(format!("observers {:?}", q.observers))
            }
        },
    );
    let (code, message) = remove_voter(broker, 3);
    assert_eq!(code, E::RequestTimedOut.code(), "{message}");
    let (code, message) = stuck.join().expect("AddRaftVoter thread");
    assert_eq!(code, E::RequestTimedOut.code(), "{message}");
    wait_until("node 9 removed again", Duration::from_secs(10), || {
        let q = describe(broker)?;
        if q.observers.contains(&9) || q.voters.contains(&9) {
            Err(format!("voters {:?} observers {:?}", q.voters, q.observers))
        } else {
            Ok(())
        }
    });
    wait_voters(cluster, broker, &[1, 2, 3]);
}

/// A new controller process joins as an observer, then becomes a voter.
fn a_new_controller_joins_as_observer_then_voter(
    cluster: &mut Cluster,
    broker: &str,
    producer: &mut BackgroundProducer,
) {
    let bootstrap_servers = cluster.controller_endpoints(false);
    let joining = cluster.add_node(
        NEW_CONTROLLER,
        Role::Controller,
        &[("controller.quorum.bootstrap.servers", &bootstrap_servers)],
    );
    joining.spawn();
    joining.wait_ready();
    let c7 = joining.controller_addr.expect("controller");
    let (code, message) = add_voter(broker, NEW_CONTROLLER, c7, CLUSTER_ID);
    assert_eq!(code, 0, "AddRaftVoter: {message}");
    let q = wait_voters(cluster, broker, &[1, 2, 3, NEW_CONTROLLER]);
    eprintln!(
        "after AddRaftVoter: leader {} voters {:?}",
        q.leader, q.voters
    );
    assert!(!q.observers.contains(&NEW_CONTROLLER));
    assert_eq!(
        add_voter(broker, NEW_CONTROLLER, c7, CLUSTER_ID).0,
        E::DuplicateVoter.code()
    );
    producer.wait_progress(100, Duration::from_secs(30));
    create_topic_rf3_min_isr2(&cluster.bootstrap(), "after-add", 1);
    // Restarted, the added controller is a voter from its own log (it does not join
    // again), and the quorum commits while it is down (3 of 4).
    cluster.node(NEW_CONTROLLER).sigterm();
    producer.wait_progress(100, Duration::from_secs(30));
    cluster.node(NEW_CONTROLLER).restart();
    wait_voters(cluster, broker, &[1, 2, 3, NEW_CONTROLLER]);
    wait_until("node 7 caught up again", Duration::from_secs(30), || {
        let r = describe_raw(broker)?;
        let p = &r.topics[0].partitions[0];
        let seven = p
            .current_voters
            .iter()
            .find(|v| v.replica_id.0 == NEW_CONTROLLER);
        match seven {
            Some(v) if v.log_end_offset >= p.high_watermark => Ok(()),
            other => Err(format!(
                "node 7 {other:?}, high watermark {}",
                p.high_watermark
            )),
        }
    });
}

/// The active controller removes itself (the hardest case: it must hand over),
/// then its process stops, as an operator shrinking the quorum does.
fn the_active_controller_removes_itself(
    cluster: &mut Cluster,
    broker: &str,
    producer: &mut BackgroundProducer,
) -> Vec<i32> {
    let leader = describe(broker).expect("DescribeQuorum").leader;
    let victim = if [1, 2, 3].contains(&leader) {
        leader
    } else {
        1
    };
    let rest: Vec<i32> = [1, 2, 3].into_iter().filter(|id| *id != victim).collect();
    let (code, message) = remove_voter(broker, victim);
    assert_eq!(code, 0, "RemoveRaftVoter: {message}");
    assert_eq!(remove_voter(broker, victim).0, E::VoterNotFound.code());
    let stopped = std::time::Instant::now();
    cluster.node(victim).sigterm();
    let q = wait_voters(cluster, broker, &[rest[0], rest[1], NEW_CONTROLLER]);
    eprintln!(
        "after RemoveRaftVoter {victim} (leader {leader}): leader {} voters {:?}, {} ms after it stopped",
        q.leader,
        q.voters,
        stopped.elapsed().as_millis()
    );
    producer.wait_progress(100, Duration::from_secs(30));
    create_topic_rf3_min_isr2(&cluster.bootstrap(), "after-remove", 1);
    rest
}

/// The new voter counts: with one more original voter down, 2 of 3 still commit.
fn the_new_voter_counts(
    cluster: &mut Cluster,
    broker: &str,
    producer: &mut BackgroundProducer,
    rest: &[i32],
) {
    let (down, up) = (rest[0], rest[1]);
    cluster.node(down).sigterm();
    let q = wait_until(
        "a leader among the two left",
        Duration::from_secs(30),
        || {
            let q = describe(broker)?;
            if q.leader == up || q.leader == NEW_CONTROLLER {
                Ok(q)
            } else {
                Err(format!("leader {}", q.leader))
            }
        },
    );
    eprintln!(
        "with node {down} down: leader {} of {up} and {NEW_CONTROLLER}",
        q.leader
    );
    producer.wait_progress(100, Duration::from_secs(30));
    create_topic_rf3_min_isr2(&cluster.bootstrap(), "with-two-voters", 1);
}

/// A voter whose host name does not resolve (a deleted controller pod's DNS name) is
/// unreachable like a stopped node, not a reason to fail: every node resolves voter
/// names when it connects (as Kafka does), so the quorum of 1, 2 and 9 (at
/// `nonexistent.invalid`) forms with 1 and 2, the brokers register, acks=all writes
/// commit, and controller 1 restarts while 9's name still does not resolve. Startup
/// used to resolve every voter first and gave up after 120 s.
#[test]
fn kraft_nodes_start_and_commit_while_a_voters_host_name_does_not_resolve() {
    let absent = "9@nonexistent.invalid:9093";
    let started = std::time::Instant::now();
    let mut cluster = Cluster::split_with_absent_voters(2, 3, &[absent], &[]);
    eprintln!(
        "2 controllers and 3 brokers ready in {} ms",
        started.elapsed().as_millis()
    );
    let broker = cluster.node(3).bootstrap();
    let q = describe(&broker).expect("DescribeQuorum");
    assert_eq!(q.voters, BTreeSet::from([1, 2, 9]));
    assert!([1, 2].contains(&q.leader), "leader {}", q.leader);
    assert!(
        q.endpoints.contains("9@nonexistent.invalid:9093"),
        "{:?}",
        q.endpoints
    );
    create_topic_rf3_min_isr2(&cluster.bootstrap(), TOPIC, 3);
    cluster.wait_isr_full(TOPIC, 3, 3, Duration::from_secs(30));
    let mut producer = BackgroundProducer::start(&cluster.bootstrap(), TOPIC, 200);
    producer.wait_progress(100, Duration::from_secs(30));

    // A restart needs both live controllers again (2 of 3 voters), and finds them.
    cluster.node(1).sigterm();
    cluster.node(1).restart();
    cluster.node(1).wait_ready();
    wait_until("a leader among 1 and 2", Duration::from_secs(30), || {
        let q = describe(&broker)?;
        if [1, 2].contains(&q.leader) && q.voters == BTreeSet::from([1, 2, 9]) {
            Ok(())
        } else {
            Err(format!("leader {} voters {:?}", q.leader, q.voters))
        }
    });
    producer.wait_progress(100, Duration::from_secs(30));
    create_topic_rf3_min_isr2(&cluster.bootstrap(), "after-restart", 1);

    let summary = producer.stop();
    eprintln!(
        "producer: sent {} acked {} errors {}",
        summary.sent, summary.acked, summary.errors
    );
    let report = verify_no_loss(&cluster.bootstrap(), TOPIC, &producer.acked_path());
    eprintln!("{report}");
}
