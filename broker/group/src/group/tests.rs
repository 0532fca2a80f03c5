//! Kafka's pure group rules: protocol selection by votes, leader handover, protocol
//! compatibility, subscriptions and legal state transitions.

use bytes::Bytes;

use super::*;

fn member(id: &str, protocols: &[&str]) -> Member {
    Member {
        member_id: id.into(),
        group_instance_id: None,
        client_id: "c".into(),
        client_host: "h".into(),
        rebalance_timeout_ms: 1000,
        session_timeout_ms: 1000,
        protocols: protocols
            .iter()
            .map(|p| ((*p).to_owned(), Bytes::from_static(b"m")))
            .collect(),
        assignment: Bytes::new(),
        join_version: 7,
        awaiting_join: false,
        awaiting_sync: false,
        is_new: false,
        session_deadline_ms: 0,
        timer_token: 0,
    }
}

#[test]
fn protocol_selection_is_by_votes_among_common_protocols() {
    let mut g = Group::new("g", 0);
    g.protocol_type = Some("consumer".into());
    g.add_member(member("a", &["range", "roundrobin", "sticky"]));
    g.add_member(member("b", &["roundrobin", "range"]));
    g.add_member(member("c", &["roundrobin", "range", "sticky"]));
    // Common: range, roundrobin. Votes: a->range, b->roundrobin, c->roundrobin.
    assert_eq!(g.select_protocol().as_deref(), Some("roundrobin"));
    g.remove_member("c");
    // Tie (1-1): the earliest member's preference wins, deterministically.
    assert_eq!(g.select_protocol().as_deref(), Some("range"));
}

#[test]
fn leader_hands_over_to_the_earliest_member() {
    let mut g = Group::new("g", 0);
    for id in ["a", "b", "c"] {
        g.add_member(member(id, &["range"]));
    }
    assert_eq!(g.leader_id.as_deref(), Some("a"));
    g.remove_member("b");
    assert_eq!(g.leader_id.as_deref(), Some("a"));
    g.remove_member("a");
    assert_eq!(g.leader_id.as_deref(), Some("c"));
    g.remove_member("c");
    assert_eq!(g.leader_id, None);
}

#[test]
fn protocol_compatibility_as_kafka() {
    let mut g = Group::new("g", 0);
    let p = |names: &[&str]| {
        names
            .iter()
            .map(|n| ((*n).to_owned(), Bytes::new()))
            .collect::<Vec<_>>()
    };
    assert!(
        !g.supports_protocols("", &p(&["range"])),
        "empty protocol type"
    );
    assert!(!g.supports_protocols("consumer", &[]), "no protocols");
    assert!(g.supports_protocols("consumer", &p(&["range"])));
    g.protocol_type = Some("consumer".into());
    g.add_member(member("a", &["range", "sticky"]));
    assert!(g.supports_protocols("consumer", &p(&["sticky"])));
    assert!(!g.supports_protocols("consumer", &p(&["roundrobin"])));
    assert!(!g.supports_protocols("connect", &p(&["range"])));
}

#[test]
fn static_members_are_fenced_by_instance_id() {
    let mut g = Group::new("g", 0);
    let mut m = member("a-1", &["range"]);
    m.group_instance_id = Some("a".into());
    g.add_member(m);
    assert!(!g.is_static_member_fenced(Some("a"), "a-1"));
    assert!(g.is_static_member_fenced(Some("a"), "a-0"));
    assert!(
        !g.is_static_member_fenced(Some("b"), "a-0"),
        "unknown instance: not fenced, unknown"
    );
    g.remove_member("a-1");
    assert_eq!(g.static_member_id("a"), None);
}

#[test]
fn subscriptions_are_read_from_consumer_protocol_metadata() {
    use kafka_protocol::messages::ConsumerProtocolSubscription;
    use kafka_protocol::protocol::{Encodable, StrBytes};
    let encode = |version: i16, topics: &[&str]| {
        let sub = ConsumerProtocolSubscription::default().with_topics(
            topics
                .iter()
                .map(|t| StrBytes::from_string((*t).to_owned()))
                .collect(),
        );
        let mut buf = bytes::BytesMut::new();
        bytes::BufMut::put_i16(&mut buf, version);
        sub.encode(&mut buf, version.min(3)).unwrap();
        buf.freeze()
    };
    assert_eq!(
        parse_subscription(&encode(0, &["a", "b"])),
        Some(vec!["a".to_owned(), "b".to_owned()])
    );
    // A newer version than we know is read as the newest, like Kafka's consumer.
    assert_eq!(
        parse_subscription(&encode(7, &["x"])),
        Some(vec!["x".to_owned()])
    );
    assert_eq!(parse_subscription(&Bytes::from_static(b"\x00")), None);

    let mut g = Group::new("g", 0);
    g.protocol_type = Some(CONSUMER_PROTOCOL_TYPE.into());
    g.protocol_name = Some("range".into());
    let mut m = member("a", &[]);
    m.protocols = vec![("range".into(), encode(1, &["orders"]))];
    g.add_member(m);
    assert!(g.is_subscribed_to("orders"));
    assert!(!g.is_subscribed_to("payments"));
}

#[test]
fn state_transitions_follow_kafka() {
    use GroupState::*;
    assert!(PreparingRebalance.can_follow(Empty));
    assert!(PreparingRebalance.can_follow(Stable));
    assert!(CompletingRebalance.can_follow(PreparingRebalance));
    assert!(Stable.can_follow(CompletingRebalance));
    assert!(Empty.can_follow(PreparingRebalance));
    assert!(!Stable.can_follow(Empty));
    assert!(!CompletingRebalance.can_follow(Stable));
    assert_eq!(
        GroupState::parse("completingrebalance"),
        Some(CompletingRebalance)
    );
    assert_eq!(GroupState::parse("bogus"), None);
}
