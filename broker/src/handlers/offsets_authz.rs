//! OffsetCommit and OffsetFetch as Kafka authorizes them (`handleOffsetCommitRequest`,
//! `handleOffsetFetchRequest`), around the group coordinator, which never sees what
//! the principal may not touch:
//! - OffsetCommit needs Read on the group (else every partition is
//!   GROUP_AUTHORIZATION_FAILED) and Read on each topic (else its partitions are
//!   TOPIC_AUTHORIZATION_FAILED);
//! - TxnOffsetCommit needs Write on the transactional id
//!   (TRANSACTIONAL_ID_AUTHORIZATION_FAILED), then as OffsetCommit;
//! - OffsetFetch needs Describe on the group (else the group's error is
//!   GROUP_AUTHORIZATION_FAILED); named topics without Describe are answered
//!   TOPIC_AUTHORIZATION_FAILED, and "all topics" leaves them out.

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::{
    OffsetCommitRequest, OffsetCommitResponse, OffsetFetchRequest, OffsetFetchResponse,
    TxnOffsetCommitRequest, TxnOffsetCommitResponse,
};
use tidewater_group::GroupCoordinator;
use tidewater_quorum::acl::{AclOperation, ResourceType};

use super::{RequestContext, authz};
use crate::broker_server::Broker;

pub async fn offset_commit(
    broker: &Broker,
    ctx: &RequestContext,
    groups: &GroupCoordinator,
    mut req: OffsetCommitRequest,
    version: i16,
) -> OffsetCommitResponse {
    if broker.authorizer().is_none() {
        return groups.offset_commit(req, version).await;
    }
    let group_ok = authz::group_read(broker, ctx, &req.group_id);
    let (allowed, denied): (Vec<_>, Vec<_>) =
        std::mem::take(&mut req.topics).into_iter().partition(|t| {
            group_ok
                && authz::allowed(
                    broker,
                    ctx,
                    AclOperation::Read,
                    ResourceType::Topic,
                    &t.name,
                )
        });
    let mut resp = if allowed.is_empty() {
        OffsetCommitResponse::default()
    } else {
        req.topics = allowed;
        groups.offset_commit(req, version).await
    };
    let code = if group_ok {
        E::TopicAuthorizationFailed.code()
    } else {
        E::GroupAuthorizationFailed.code()
    };
    resp.topics.extend(denied.into_iter().map(|t| {
        let mut r = OffsetCommitResponseTopic::default();
        r.name = t.name;
        r.topic_id = t.topic_id;
        r.partitions = t
            .partitions
            .iter()
            .map(|p| {
                let mut rp = OffsetCommitResponsePartition::default();
                rp.partition_index = p.partition_index;
                rp.error_code = code;
                rp
            })
            .collect();
        r
    }));
    resp
}

pub async fn txn_offset_commit(
    broker: &Broker,
    ctx: &RequestContext,
    groups: &GroupCoordinator,
    mut req: TxnOffsetCommitRequest,
    version: i16,
) -> TxnOffsetCommitResponse {
    if broker.authorizer().is_none() {
        return super::txn_offset_commit::commit(broker, groups, req, version).await;
    }
    let txn_ok = authz::txn_write(broker, ctx, &req.transactional_id);
    let group_ok = txn_ok && authz::group_read(broker, ctx, &req.group_id);
    let (allowed, denied): (Vec<_>, Vec<_>) =
        std::mem::take(&mut req.topics).into_iter().partition(|t| {
            group_ok
                && authz::allowed(
                    broker,
                    ctx,
                    AclOperation::Read,
                    ResourceType::Topic,
                    &t.name,
                )
        });
    let mut resp = if allowed.is_empty() {
        TxnOffsetCommitResponse::default()
    } else {
        req.topics = allowed;
        super::txn_offset_commit::commit(broker, groups, req, version).await
    };
    let code = if !txn_ok {
        E::TransactionalIdAuthorizationFailed.code()
    } else if !group_ok {
        E::GroupAuthorizationFailed.code()
    } else {
        E::TopicAuthorizationFailed.code()
    };
    resp.topics.extend(denied.into_iter().map(|t| {
        let mut r = TxnOffsetCommitResponseTopic::default();
        r.name = t.name;
        r.partitions = t
            .partitions
            .iter()
            .map(|p| {
                let mut rp = TxnOffsetCommitResponsePartition::default();
                rp.partition_index = p.partition_index;
                rp.error_code = code;
                rp
            })
            .collect();
        r
    }));
    resp
}

pub async fn offset_fetch(
    broker: &Broker,
    ctx: &RequestContext,
    groups: &GroupCoordinator,
    mut req: OffsetFetchRequest,
    version: i16,
) -> OffsetFetchResponse {
    if broker.authorizer().is_none() {
        return groups.offset_fetch(req, version).await;
    }
    let describe = |topic: &str| {
        authz::allowed(
            broker,
            ctx,
            AclOperation::Describe,
            ResourceType::Topic,
            topic,
        )
    };
    let group_ok = |group: &str| {
        authz::allowed(
            broker,
            ctx,
            AclOperation::Describe,
            ResourceType::Group,
            group,
        )
    };
    if version < 8 {
        if !group_ok(&req.group_id) {
            let mut resp = OffsetFetchResponse::default();
            resp.error_code = E::GroupAuthorizationFailed.code();
            return resp;
        }
        let mut denied = Vec::new();
        if let Some(topics) = req.topics.as_mut() {
            let (ok, no): (Vec<_>, Vec<_>) = std::mem::take(topics)
                .into_iter()
                .partition(|t| describe(&t.name));
            *topics = ok;
            denied = no;
        }
        let mut resp = groups.offset_fetch(req, version).await;
        resp.topics.retain(|t| describe(&t.name));
        resp.topics.extend(denied.into_iter().map(|t| {
            let mut r = OffsetFetchResponseTopic::default();
            r.name = t.name;
            r.partitions = t
                .partition_indexes
                .iter()
                .map(|&i| {
                    let mut p = OffsetFetchResponsePartition::default();
                    p.partition_index = i;
                    p.committed_offset = -1;
                    p.committed_leader_epoch = -1;
                    p.error_code = E::TopicAuthorizationFailed.code();
                    p
                })
                .collect();
            r
        }));
        return resp;
    }
    // v8+: many groups, each authorized on its own.
    let (ok_groups, denied_groups): (Vec<_>, Vec<_>) = std::mem::take(&mut req.groups)
        .into_iter()
        .partition(|g| group_ok(&g.group_id));
    let mut denied_topics = Vec::new();
    req.groups = ok_groups;
    for g in &mut req.groups {
        if let Some(topics) = g.topics.as_mut() {
            let (ok, no): (Vec<_>, Vec<_>) = std::mem::take(topics)
                .into_iter()
                .partition(|t| describe(&t.name));
            *topics = ok;
            denied_topics.push((g.group_id.clone(), no));
        }
    }
    let mut resp = if req.groups.is_empty() {
        OffsetFetchResponse::default()
    } else {
        groups.offset_fetch(req, version).await
    };
    for g in &mut resp.groups {
        g.topics.retain(|t| describe(&t.name));
        if let Some((_, no)) = denied_topics.iter_mut().find(|(id, _)| *id == g.group_id) {
            g.topics.extend(std::mem::take(no).into_iter().map(|t| {
                let mut r = OffsetFetchResponseTopics::default();
                r.name = t.name;
                r.topic_id = t.topic_id;
                r.partitions = t
                    .partition_indexes
                    .iter()
                    .map(|&i| {
                        let mut p = OffsetFetchResponsePartitions::default();
                        p.partition_index = i;
                        p.committed_offset = -1;
                        p.committed_leader_epoch = -1;
                        p.error_code = E::TopicAuthorizationFailed.code();
                        p
                    })
                    .collect();
                r
            }));
        }
    }
    resp.groups.extend(denied_groups.into_iter().map(|g| {
        let mut r = OffsetFetchResponseGroup::default();
        r.group_id = g.group_id;
        r.error_code = E::GroupAuthorizationFailed.code();
        r
    }));
    resp
}
