//! The authorizer's decisions as a matrix: each row is a set of ACLs, a caller, an
//! operation on a resource, and what Kafka's StandardAuthorizer answers.

use std::collections::BTreeSet;

use tidewater_quorum::acl::*;

use super::*;
use crate::config::AuthorizerSettings;
use AclOperation as Op;
use PatternType::{Literal, Prefixed};
use PermissionType::{Allow, Deny};
use ResourceType as R;

const ALICE: Caller<'static> = Caller {
    principal: "User:alice",
    host: "10.0.0.1",
};
const BOB: Caller<'static> = Caller {
    principal: "User:bob",
    host: "10.0.0.2",
};
const ADMIN: Caller<'static> = Caller {
    principal: "User:admin",
    host: "10.0.0.9",
};

fn acl(
    resource_type: ResourceType,
    name: &str,
    pattern_type: PatternType,
    principal: &str,
    host: &str,
    operation: AclOperation,
    permission: PermissionType,
) -> AclBinding {
    AclBinding {
        pattern: ResourcePattern {
            resource_type,
            name: name.into(),
            pattern_type,
        },
        entry: AccessControlEntry {
            principal: principal.into(),
            host: host.into(),
            operation,
            permission,
        },
    }
}

/// An ACL from its short form `TYPE name PATTERN principal host OPERATION PERMISSION`
/// (Kafka's enum names), e.g. `TOPIC a LITERAL User:alice * READ ALLOW`.
fn b(spec: &str) -> AclBinding {
    let f: Vec<&str> = spec.split_whitespace().collect();
    assert_eq!(f.len(), 7, "bad spec {spec}");
    let rt = match f[0] {
        "TOPIC" => R::Topic,
        "GROUP" => R::Group,
        "CLUSTER" => R::Cluster,
        "TXN" => R::TransactionalId,
        "TOKEN" => R::DelegationToken,
        "USER" => R::User,
        other => panic!("resource type {other}"),
    };
    let pt = if f[2] == "PREFIXED" {
        Prefixed
    } else {
        Literal
    };
    let op = (0..=15)
        .map(AclOperation::from_code)
        .find(|o| format!("{o:?}").to_uppercase() == f[5].replace('_', ""))
        .unwrap_or_else(|| panic!("operation {}", f[5]));
    let perm = if f[6] == "DENY" { Deny } else { Allow };
    acl(rt, f[1], pt, f[3], f[4], op, perm)
}

/// The authorizer (super user `User:admin`) and an index of `acls` with ids 1, 2, ...
fn authorizer(acls: &[AclBinding], allow_everyone: bool) -> (Authorizer, AclIndex) {
    let settings = AuthorizerSettings {
        super_users: BTreeSet::from(["User:admin".to_string()]),
        allow_everyone_if_no_acl_found: allow_everyone,
    };
    let mut index = AclIndex::default();
    for (i, acl) in acls.iter().enumerate() {
        index.add(i as u128 + 1, acl.clone());
    }
    (Authorizer::new(&settings), index)
}

/// One row: why, the ACLs, allow.everyone.if.no.acl.found, who asks, the operation,
/// the resource, and Kafka's answer.
type Row = (
    &'static str,
    &'static [&'static str],
    bool,
    Caller<'static>,
    AclOperation,
    (ResourceType, &'static str),
    bool,
);

const GROUP_X: Caller<'static> = Caller {
    principal: "Group:x",
    host: "10.0.0.1",
};
const READ_A: &str = "TOPIC a LITERAL User:alice * READ ALLOW";
const WRITE_A: &str = "TOPIC a LITERAL User:alice * WRITE ALLOW";
const DENY_ALL_A: &str = "TOPIC a LITERAL User:alice * ALL DENY";
const PRE_W: &str = "TOPIC pre- PREFIXED User:alice * WRITE ALLOW";
const CL: (ResourceType, &str) = (R::Cluster, "kafka-cluster");
const TA: (ResourceType, &str) = (R::Topic, "a");

#[rustfmt::skip]
const MATRIX: &[Row] = &[
    ("no ACL, default deny", &[], false, ALICE, Op::Read, TA, false),
    ("super user without ACLs", &[], false, ADMIN, Op::Alter, CL, true),
    ("super user beats DENY", &["TOPIC a LITERAL User:admin * ALL DENY"], false, ADMIN, Op::Read, TA, true),
    ("literal allow", &[READ_A], false, ALICE, Op::Read, TA, true),
    ("literal is exact", &[READ_A], false, ALICE, Op::Read, (R::Topic, "ab"), false),
    ("other principal", &[READ_A], false, BOB, Op::Read, TA, false),
    ("other operation", &[READ_A], false, ALICE, Op::Write, TA, false),
    ("other resource type", &[READ_A], false, ALICE, Op::Read, (R::Group, "a"), false),
    ("Read implies Describe", &[READ_A], false, ALICE, Op::Describe, TA, true),
    ("Write implies Describe", &[WRITE_A], false, ALICE, Op::Describe, TA, true),
    ("Delete implies Describe", &["TOPIC a LITERAL User:alice * DELETE ALLOW"], false, ALICE, Op::Describe, TA, true),
    ("Alter implies Describe", &["TOPIC a LITERAL User:alice * ALTER ALLOW"], false, ALICE, Op::Describe, TA, true),
    ("Create does not imply Describe", &["TOPIC a LITERAL User:alice * CREATE ALLOW"], false, ALICE, Op::Describe, TA, false),
    ("Describe does not imply Read", &["TOPIC a LITERAL User:alice * DESCRIBE ALLOW"], false, ALICE, Op::Read, TA, false),
    ("AlterConfigs implies DescribeConfigs", &["TOPIC a LITERAL User:alice * ALTER_CONFIGS ALLOW"], false, ALICE, Op::DescribeConfigs, TA, true),
    ("DescribeConfigs does not imply AlterConfigs", &["TOPIC a LITERAL User:alice * DESCRIBE_CONFIGS ALLOW"], false, ALICE, Op::AlterConfigs, TA, false),
    ("AlterConfigs does not imply Describe", &["TOPIC a LITERAL User:alice * ALTER_CONFIGS ALLOW"], false, ALICE, Op::Describe, TA, false),
    ("ALL allows Write", &["TOPIC a LITERAL User:alice * ALL ALLOW"], false, ALICE, Op::Write, TA, true),
    ("ALL allows IdempotentWrite", &["CLUSTER kafka-cluster LITERAL User:alice * ALL ALLOW"], false, ALICE, Op::IdempotentWrite, CL, true),
    ("DENY beats ALLOW", &[READ_A, "TOPIC a LITERAL User:alice * READ DENY"], false, ALICE, Op::Read, TA, false),
    ("DENY ALL beats ALLOW", &[WRITE_A, DENY_ALL_A], false, ALICE, Op::Write, TA, false),
    ("DENY ALL denies Describe", &[READ_A, DENY_ALL_A], false, ALICE, Op::Describe, TA, false),
    ("DENY Read leaves implied Describe", &[READ_A, WRITE_A, "TOPIC a LITERAL User:alice * READ DENY"], false, ALICE, Op::Describe, TA, true),
    ("DENY Write does not deny Read", &[READ_A, "TOPIC a LITERAL User:alice * WRITE DENY"], false, ALICE, Op::Read, TA, true),
    ("DENY for User:* beats a user's ALLOW", &[READ_A, "TOPIC a LITERAL User:* * READ DENY"], false, ALICE, Op::Read, TA, false),
    ("User:* allows everyone", &["TOPIC a LITERAL User:* * READ ALLOW"], false, BOB, Op::Read, TA, true),
    ("User:* applies to every principal type (matchingPrincipals)", &["TOPIC a LITERAL User:* * READ ALLOW"], false, GROUP_X, Op::Read, TA, true),
    ("literal * covers every topic", &["TOPIC * LITERAL User:alice * READ ALLOW"], false, ALICE, Op::Read, (R::Topic, "anything"), true),
    ("literal * deny beats literal allow", &[READ_A, "TOPIC * LITERAL User:alice * READ DENY"], false, ALICE, Op::Read, TA, false),
    ("prefixed allow", &[PRE_W], false, ALICE, Op::Write, (R::Topic, "pre-x"), true),
    ("prefixed matches the prefix itself", &[PRE_W], false, ALICE, Op::Write, (R::Topic, "pre-"), true),
    ("prefixed is not a suffix", &[PRE_W], false, ALICE, Op::Write, (R::Topic, "xpre-"), false),
    ("prefixed is case sensitive", &[PRE_W], false, ALICE, Op::Write, (R::Topic, "PRE-x"), false),
    ("prefixed * is no wildcard", &["TOPIC * PREFIXED User:alice * WRITE ALLOW"], false, ALICE, Op::Write, TA, false),
    ("prefixed deny beats literal allow", &[WRITE_A, "TOPIC a PREFIXED User:alice * WRITE DENY"], false, ALICE, Op::Write, TA, false),
    ("shorter prefix deny beats longer allow", &["TOPIC pre-x PREFIXED User:alice * WRITE ALLOW", "TOPIC pre PREFIXED User:alice * WRITE DENY"], false, ALICE, Op::Write, (R::Topic, "pre-xy"), false),
    ("multi-byte names match by prefix", &["TOPIC ü PREFIXED User:alice * WRITE ALLOW"], false, ALICE, Op::Write, (R::Topic, "über"), true),
    ("exact host", &["TOPIC a LITERAL User:alice 10.0.0.1 READ ALLOW"], false, ALICE, Op::Read, TA, true),
    ("other host", &["TOPIC a LITERAL User:alice 10.0.0.7 READ ALLOW"], false, ALICE, Op::Read, TA, false),
    ("deny from one host only", &[READ_A, "TOPIC a LITERAL User:alice 10.0.0.7 READ DENY"], false, ALICE, Op::Read, TA, true),
    ("group read", &["GROUP g LITERAL User:alice * READ ALLOW"], false, ALICE, Op::Read, (R::Group, "g"), true),
    ("transactional id write", &["TXN tx- PREFIXED User:alice * WRITE ALLOW"], false, ALICE, Op::Write, (R::TransactionalId, "tx-1"), true),
    ("transactional id write is not topic write", &["TXN a LITERAL User:alice * WRITE ALLOW"], false, ALICE, Op::Write, TA, false),
    ("delegation token", &["TOKEN t LITERAL User:alice * DESCRIBE ALLOW"], false, ALICE, Op::Describe, (R::DelegationToken, "t"), true),
    ("user resource", &["USER User:bob LITERAL User:alice * CREATE_TOKENS ALLOW"], false, ALICE, Op::CreateTokens, (R::User, "User:bob"), true),
    ("cluster action", &["CLUSTER kafka-cluster LITERAL User:alice * CLUSTER_ACTION ALLOW"], false, ALICE, Op::ClusterAction, CL, true),
    ("someone else's ACL means found: deny", &["TOPIC a LITERAL User:bob * READ ALLOW"], false, ALICE, Op::Read, TA, false),
    ("allow.everyone: no ACL is open", &[], true, BOB, Op::Write, TA, true),
    ("allow.everyone: someone else's ACL closes it", &[READ_A], true, BOB, Op::Read, TA, false),
    ("allow.everyone: an ACL on another topic", &[READ_A], true, BOB, Op::Read, (R::Topic, "b"), true),
    ("allow.everyone: a covering prefix closes it", &["TOPIC b PREFIXED User:alice * READ ALLOW"], true, BOB, Op::Read, (R::Topic, "bb"), false),
    ("allow.everyone: a literal * closes every topic", &["TOPIC * LITERAL User:alice * READ ALLOW"], true, BOB, Op::Read, (R::Topic, "b"), false),
    ("allow.everyone: a DENY still denies", &[DENY_ALL_A], true, ALICE, Op::Read, TA, false),
    ("allow.everyone: another operation on an ACL'd topic", &[READ_A], true, ALICE, Op::Write, TA, false),
];

#[test]
fn standard_authorizer_matrix() {
    let mut failures = Vec::new();
    for (why, acls, allow_everyone, caller, op, (rt, name), allowed) in MATRIX {
        let acls: Vec<AclBinding> = acls.iter().map(|s| b(s)).collect();
        let (a, index) = authorizer(&acls, *allow_everyone);
        let got = a.authorize(&index, *caller, *op, *rt, name);
        if got != *allowed {
            failures.push(format!("{why}: expected {allowed}, got {got}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} rows wrong:\n{}",
        failures.len(),
        MATRIX.len(),
        failures.join("\n")
    );
}

#[test]
fn removing_an_acl_revokes_it() {
    let (a, mut index) = authorizer(&[b(READ_A)], false);
    assert!(a.authorize(&index, ALICE, Op::Read, R::Topic, "a"));
    assert_eq!(index.remove(1), Some(b(READ_A)));
    assert!(!a.authorize(&index, ALICE, Op::Read, R::Topic, "a"));
    assert!(index.is_empty());
    assert!(index.remove(1).is_none());
}

#[test]
fn adding_the_same_id_replaces() {
    let (a, mut index) = authorizer(&[b(READ_A)], false);
    index.add(1, b("TOPIC b PREFIXED User:alice * READ ALLOW"));
    assert!(!a.authorize(&index, ALICE, Op::Read, R::Topic, "a"));
    assert!(a.authorize(&index, ALICE, Op::Read, R::Topic, "bx"));
    assert_eq!(index.len(), 1);
}

#[rustfmt::skip]
const BY_RESOURCE_TYPE: &[(&str, &[&str], Caller<'static>, bool)] = &[
    ("no ACL", &[], ALICE, false),
    ("super user", &["TOPIC * LITERAL User:admin * WRITE DENY"], ADMIN, true),
    ("a literal allow", &[WRITE_A], ALICE, true),
    ("a prefixed allow", &[PRE_W], ALICE, true),
    ("someone else's allow", &[WRITE_A], BOB, false),
    ("allow denied by the same literal", &[WRITE_A, "TOPIC a LITERAL User:alice * WRITE DENY"], ALICE, false),
    ("allow denied by a prefix", &["TOPIC abc LITERAL User:alice * WRITE ALLOW", "TOPIC ab PREFIXED User:alice * WRITE DENY"], ALICE, false),
    ("prefixed allow denied by a shorter prefix", &["TOPIC abc PREFIXED User:alice * WRITE ALLOW", "TOPIC a PREFIXED User:alice * WRITE DENY"], ALICE, false),
    ("prefixed allow not denied by a literal", &["TOPIC abc PREFIXED User:alice * WRITE ALLOW", "TOPIC abc LITERAL User:alice * WRITE DENY"], ALICE, true),
    ("one of two allows survives", &[WRITE_A, "TOPIC b LITERAL User:alice * WRITE ALLOW", "TOPIC a LITERAL User:alice * WRITE DENY"], ALICE, true),
    ("wildcard deny wins", &[WRITE_A, "TOPIC * LITERAL User:alice * WRITE DENY"], ALICE, false),
    ("wildcard allow", &["TOPIC * LITERAL User:alice * WRITE ALLOW", "TOPIC a LITERAL User:alice * WRITE DENY"], ALICE, true),
    ("ALL counts", &["TOPIC a LITERAL User:alice * ALL ALLOW"], ALICE, true),
    ("Read does not count for Write", &[READ_A], ALICE, false),
    ("other host does not count", &["TOPIC a LITERAL User:alice 10.9.9.9 WRITE ALLOW"], ALICE, false),
    ("User:* counts", &["TOPIC a LITERAL User:* * WRITE ALLOW"], BOB, true),
];

#[test]
fn authorize_by_resource_type_as_kafka() {
    for (why, acls, caller, expected) in BY_RESOURCE_TYPE {
        let acls: Vec<AclBinding> = acls.iter().map(|s| b(s)).collect();
        let (a, index) = authorizer(&acls, false);
        let got = a.authorize_by_resource_type(&index, *caller, Op::Write, R::Topic);
        assert_eq!(got, *expected, "{why}");
    }
    // Open under allow.everyone.if.no.acl.found, like Kafka's "hardcode" probe.
    let (a, index) = authorizer(&[], true);
    assert!(a.authorize_by_resource_type(&index, BOB, Op::Write, R::Topic));
}

fn filter(rt: ResourceType, name: Option<&str>, pt: PatternType) -> AclBindingFilter {
    AclBindingFilter {
        resource_type: rt,
        name: name.map(String::from),
        pattern_type: pt,
        principal: None,
        host: None,
        operation: Op::Any,
        permission: PermissionType::Any,
    }
}

#[test]
fn filters_match_as_kafka() {
    let lit = b("TOPIC foo LITERAL User:alice * READ ALLOW");
    let star = b("TOPIC * LITERAL User:alice * READ ALLOW");
    let pre = b("TOPIC fo PREFIXED User:bob * WRITE DENY");
    let group = b("GROUP foo LITERAL User:alice * READ ALLOW");
    let all = [&lit, &star, &pre, &group];
    let hits = |f: &AclBindingFilter| all.into_iter().filter(|a| f.matches(a)).collect::<Vec<_>>();
    assert_eq!(hits(&filter(R::Any, None, PatternType::Any)), all);
    assert_eq!(
        hits(&filter(R::Topic, Some("foo"), PatternType::Any)),
        [&lit]
    );
    assert_eq!(hits(&filter(R::Topic, Some("foo"), Literal)), [&lit]);
    assert_eq!(hits(&filter(R::Topic, Some("fo"), Prefixed)), [&pre]);
    let matched = hits(&filter(R::Topic, Some("foo"), PatternType::Match));
    assert_eq!(matched, [&lit, &star, &pre]);
    assert_eq!(
        hits(&filter(R::Topic, Some("bar"), PatternType::Match)),
        [&star]
    );
    assert_eq!(hits(&filter(R::Any, None, Prefixed)), [&pre]);
    let mut by_entry = filter(R::Any, None, PatternType::Any);
    by_entry.principal = Some("User:bob".into());
    assert_eq!(hits(&by_entry), [&pre]);
    by_entry.principal = None;
    by_entry.operation = Op::Read;
    by_entry.permission = Allow;
    assert_eq!(hits(&by_entry), [&lit, &star, &group]);
    by_entry.host = Some("10.0.0.1".into());
    assert!(hits(&by_entry).is_empty());
    assert!(!filter(R::Topic, None, PatternType::Any).pattern_is_unknown());
    assert!(filter(R::Unknown, None, PatternType::Any).pattern_is_unknown());
    assert!(filter(R::Topic, None, PatternType::Unknown).pattern_is_unknown());
}

#[test]
fn matching_returns_ids() {
    let group = b("GROUP g LITERAL User:alice * READ ALLOW");
    let (_, index) = authorizer(&[b(READ_A), group.clone()], false);
    let found = index.matching(&filter(R::Group, None, PatternType::Any));
    assert_eq!(found, [(2, group)]);
}

#[test]
fn codes_round_trip_and_unknown_codes_are_unknown() {
    for code in 0..=7 {
        assert_eq!(ResourceType::from_code(code).code(), code);
    }
    for code in 0..=15 {
        assert_eq!(AclOperation::from_code(code).code(), code);
    }
    assert_eq!(ResourceType::from_code(42), ResourceType::Unknown);
    assert_eq!(PatternType::from_code(-1), PatternType::Unknown);
    assert_eq!(PermissionType::from_code(9), PermissionType::Unknown);
    assert_eq!(AclOperation::from_code(16), AclOperation::Unknown);
}

#[test]
fn new_acls_are_validated_as_kafka() {
    let ok = b(READ_A);
    assert_eq!(validate_new_acl(&ok), Ok(()));
    let with = |f: &dyn Fn(&mut AclBinding)| {
        let mut b = ok.clone();
        f(&mut b);
        validate_new_acl(&b).unwrap_err()
    };
    assert_eq!(
        with(&|b| b.pattern.resource_type = R::Any),
        "Invalid resourceType ANY"
    );
    assert_eq!(
        with(&|b| b.pattern.pattern_type = PatternType::Match),
        "Invalid patternType MATCH"
    );
    assert_eq!(
        with(&|b| b.entry.operation = Op::Any),
        "Invalid operation ANY"
    );
    assert_eq!(
        with(&|b| b.entry.permission = PermissionType::Unknown),
        "Invalid permissionType UNKNOWN"
    );
    assert_eq!(
        with(&|b| b.pattern.name.clear()),
        "Resource name should not be empty"
    );
    assert!(with(&|b| b.entry.principal = "alice".into()).contains("no colon"));
    let cluster = |b: &mut AclBinding| {
        b.pattern.resource_type = R::Cluster;
        b.pattern.name = "other".into();
    };
    assert_eq!(
        with(&cluster),
        "The only valid name for the CLUSTER resource is kafka-cluster"
    );
    let mut tid = ok.clone();
    tid.pattern.resource_type = R::TransactionalId;
    tid.pattern.pattern_type = Prefixed;
    assert_eq!(validate_new_acl(&tid), Ok(()));
}
