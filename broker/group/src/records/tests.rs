//! Byte-exact checks against the schema (the bytes Kafka's generated serializers
//! produce for these inputs) and roundtrip proptests over every version.

use bytes::Bytes;
use proptest::prelude::*;

use super::*;

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn offset_commit_key_v1_bytes_match_kafka() {
    let key = RecordKey::offset_commit("g1", "foo", 7).encode();
    // version=1, group "g1" (int16 len 2), topic "foo" (len 3), partition 7.
    assert_eq!(
        hex(&key),
        "0001".to_owned() + "0002" + "6731" + "0003" + "666f6f" + "00000007"
    );
    assert_eq!(
        RecordKey::decode(key).unwrap(),
        RecordKey::offset_commit("g1", "foo", 7)
    );
}

#[test]
fn group_metadata_key_v2_bytes_match_kafka() {
    let key = RecordKey::group_metadata("grp").encode();
    assert_eq!(hex(&key), "0002".to_owned() + "0003" + "677270");
    assert_eq!(
        RecordKey::decode(key).unwrap(),
        RecordKey::group_metadata("grp")
    );
}

#[test]
fn offset_commit_value_v3_bytes_match_kafka() {
    // Kafka's GroupCoordinatorRecordHelpersTest input: offset 100, epoch 10,
    // metadata "metadata", commit timestamp 1234, no expire timestamp -> version 3.
    let v = OffsetCommitValue {
        offset: 100,
        leader_epoch: 10,
        metadata: "metadata".into(),
        commit_timestamp: 1234,
        expire_timestamp: -1,
    };
    assert_eq!(v.write_version(), 3);
    let bytes = v.encode();
    let expected = concat!(
        "0003",             // version
        "0000000000000064", // offset 100
        "0000000a",         // leader epoch 10
        "0008",
        "6d65746164617461", // "metadata"
        "00000000000004d2", // commit timestamp 1234
    );
    assert_eq!(hex(&bytes), expected);
    assert_eq!(OffsetCommitValue::decode(bytes).unwrap(), v);
}

#[test]
fn offset_commit_value_v1_carries_expire_timestamp() {
    let v = OffsetCommitValue {
        offset: 5,
        leader_epoch: -1,
        metadata: String::new(),
        commit_timestamp: 10,
        expire_timestamp: 20,
    };
    let bytes = v.encode();
    assert_eq!(
        hex(&bytes),
        "0001".to_owned() + "0000000000000005" + "0000" + "000000000000000a" + "0000000000000014"
    );
    assert_eq!(OffsetCommitValue::decode(bytes).unwrap(), v);
}

#[test]
fn offset_commit_value_v4_is_flexible() {
    // Version 4: compact string (len+1 as uvarint) and an empty tagged-field section.
    let bytes = Bytes::from_static(&[
        0, 4, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 2, 3, b'h', b'i', 0, 0, 0, 0, 0, 0, 0, 1, 0,
    ]);
    let v = OffsetCommitValue::decode(bytes).unwrap();
    assert_eq!(
        v,
        OffsetCommitValue {
            offset: 9,
            leader_epoch: 2,
            metadata: "hi".into(),
            commit_timestamp: 1,
            expire_timestamp: -1
        }
    );
}

#[test]
fn group_metadata_value_v3_bytes_match_kafka() {
    let v = GroupMetadataValue {
        protocol_type: "consumer".into(),
        generation: 1,
        protocol: Some("range".into()),
        leader: Some("m".into()),
        current_state_timestamp: 2,
        members: vec![MemberMetadataValue {
            member_id: "m".into(),
            group_instance_id: None,
            client_id: "c".into(),
            client_host: "/h".into(),
            rebalance_timeout: 3,
            session_timeout: 4,
            subscription: Bytes::from_static(&[0xaa]),
            assignment: Bytes::new(),
        }],
    };
    let expected = concat!(
        "0003",
        "0008",
        "636f6e73756d6572", // "consumer"
        "00000001",         // generation
        "0005",
        "72616e6765", // "range"
        "0001",
        "6d",               // leader "m"
        "0000000000000002", // current state timestamp
        "00000001",         // one member
        "0001",
        "6d",   // member id
        "ffff", // group instance id null
        "0001",
        "63", // client id
        "0002",
        "2f68", // client host
        "00000003",
        "00000004", // rebalance, session timeout
        "00000001",
        "aa",       // subscription
        "00000000", // assignment
    );
    let bytes = v.encode();
    assert_eq!(hex(&bytes), expected);
    assert_eq!(GroupMetadataValue::decode(bytes).unwrap(), v);
}

#[test]
fn group_metadata_v0_reads_session_timeout_as_rebalance_timeout() {
    let mut v = GroupMetadataValue {
        protocol_type: "consumer".into(),
        generation: 3,
        protocol: None,
        leader: None,
        current_state_timestamp: -1,
        members: vec![MemberMetadataValue {
            member_id: "m".into(),
            group_instance_id: None,
            client_id: "c".into(),
            client_host: "h".into(),
            rebalance_timeout: 999,
            session_timeout: 10,
            subscription: Bytes::new(),
            assignment: Bytes::new(),
        }],
    };
    let decoded = GroupMetadataValue::decode(v.encode_version(0)).unwrap();
    v.members[0].rebalance_timeout = 10;
    assert_eq!(decoded, v);
}

#[test]
fn corrupt_records_are_errors_not_panics() {
    assert!(matches!(
        RecordKey::decode(Bytes::new()),
        Err(RecordError::Truncated { .. })
    ));
    assert!(matches!(
        RecordKey::decode(Bytes::from_static(&[0, 1, 0, 9, b'a'])),
        Err(RecordError::Truncated { .. })
    ));
    assert!(matches!(
        OffsetCommitValue::decode(Bytes::from_static(&[0, 9])),
        Err(RecordError::UnsupportedVersion { version: 9, .. })
    ));
    assert!(matches!(
        RecordKey::decode(Bytes::from_static(&[0xff, 0xff])),
        Err(RecordError::UnsupportedVersion { .. })
    ));
    // Key 4 (consumer group topic metadata) is not read; key 3 is, and is checked.
    assert_eq!(
        RecordKey::decode(Bytes::from_static(&[0, 4, 1, 2])).unwrap(),
        RecordKey::Other { version: 4 }
    );
    assert!(matches!(
        RecordKey::decode(Bytes::from_static(&[0, 3, 1, 2])),
        Err(RecordError::Truncated { .. })
    ));
    // A member count far beyond the buffer must not allocate or panic.
    let mut huge = GroupMetadataValue::decode(
        GroupMetadataValue {
            protocol_type: String::new(),
            generation: 0,
            protocol: None,
            leader: None,
            current_state_timestamp: -1,
            members: vec![],
        }
        .encode(),
    )
    .unwrap()
    .encode()
    .to_vec();
    let n = huge.len();
    huge[n - 4..].copy_from_slice(&i32::MAX.to_be_bytes());
    assert!(GroupMetadataValue::decode(Bytes::from(huge)).is_err());
}

fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9._\\-é]{0,20}"
}

fn member() -> impl Strategy<Value = MemberMetadataValue> {
    (
        text(),
        proptest::option::of(text()),
        text(),
        text(),
        any::<i32>(),
        any::<i32>(),
        proptest::collection::vec(any::<u8>(), 0..40),
        proptest::collection::vec(any::<u8>(), 0..40),
    )
        .prop_map(
            |(member_id, group_instance_id, client_id, client_host, rt, st, sub, asg)| {
                MemberMetadataValue {
                    member_id,
                    group_instance_id,
                    client_id,
                    client_host,
                    rebalance_timeout: rt,
                    session_timeout: st,
                    subscription: Bytes::from(sub),
                    assignment: Bytes::from(asg),
                }
            },
        )
}

proptest! {
    // proptest persists failing seeds (proptest-regressions) and prints the minimal case.
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn offset_commit_roundtrips_every_version(
        offset in any::<i64>(), epoch in any::<i32>(), metadata in text(),
        commit in any::<i64>(), expire in any::<i64>(), version in 0i16..=4,
    ) {
        let v = OffsetCommitValue { offset, leader_epoch: epoch, metadata, commit_timestamp: commit, expire_timestamp: expire };
        let decoded = OffsetCommitValue::decode(v.encode_version(version)).unwrap();
        let expected = OffsetCommitValue {
            leader_epoch: if version >= 3 { epoch } else { -1 },
            expire_timestamp: if version == 1 { expire } else { -1 },
            ..v
        };
        prop_assert_eq!(decoded, expected);
    }

    #[test]
    fn group_metadata_roundtrips_every_version(
        protocol_type in text(), generation in any::<i32>(),
        protocol in proptest::option::of(text()), leader in proptest::option::of(text()),
        ts in any::<i64>(), members in proptest::collection::vec(member(), 0..4), version in 0i16..=4,
    ) {
        let v = GroupMetadataValue { protocol_type, generation, protocol, leader, current_state_timestamp: ts, members };
        let decoded = GroupMetadataValue::decode(v.encode_version(version)).unwrap();
        let mut expected = v.clone();
        if version < 2 { expected.current_state_timestamp = -1; }
        for m in &mut expected.members {
            if version < 3 { m.group_instance_id = None; }
            if version < 1 { m.rebalance_timeout = m.session_timeout; }
        }
        prop_assert_eq!(decoded, expected);
    }

    #[test]
    fn keys_roundtrip(group in text(), topic in text(), partition in any::<i32>()) {
        let k = RecordKey::offset_commit(&group, &topic, partition);
        prop_assert_eq!(RecordKey::decode(k.encode()).unwrap(), k);
        let g = RecordKey::group_metadata(&group);
        prop_assert_eq!(RecordKey::decode(g.encode()).unwrap(), g);
    }

    #[test]
    fn arbitrary_bytes_never_panic(raw in proptest::collection::vec(any::<u8>(), 0..64)) {
        let b = Bytes::from(raw);
        let _ = RecordKey::decode(b.clone());
        let _ = OffsetCommitValue::decode(b.clone());
        let _ = GroupMetadataValue::decode(b);
    }
}
