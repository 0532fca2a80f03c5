//! The group and transaction admin APIs as Kafka authorizes them, around the
//! coordinators (which never see what the principal may not touch):
//! - ListGroups: every group with Describe on the cluster, else only the groups the
//!   principal may Describe;
//! - DescribeGroups: Describe on each group, DeleteGroups: Delete on each group (else
//!   that group's GROUP_AUTHORIZATION_FAILED);
//! - DescribeTransactions: Describe on each transactional id (else its
//!   TRANSACTIONAL_ID_AUTHORIZATION_FAILED); ListTransactions: only the ids the
//!   principal may Describe.

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::describe_groups_response::DescribedGroup;
use kafka_protocol::messages::describe_transactions_response::TransactionState;
use kafka_protocol::messages::{
    DeleteGroupsRequest, DeleteGroupsResponse, DescribeGroupsRequest, DescribeGroupsResponse,
    DescribeTransactionsRequest, DescribeTransactionsResponse, ListGroupsResponse,
    ListTransactionsResponse,
};
use tidewater_quorum::acl::{AclOperation, CLUSTER_NAME, ResourceType};

use super::{RequestContext, authz};
use crate::broker_server::Broker;

fn may(
    broker: &Broker,
    ctx: &RequestContext,
    op: AclOperation,
    rt: ResourceType,
    name: &str,
) -> bool {
    authz::allowed(broker, ctx, op, rt, name)
}

pub fn list_groups(
    broker: &Broker,
    ctx: &RequestContext,
    mut resp: ListGroupsResponse,
) -> ListGroupsResponse {
    if broker.authorizer().is_some()
        && !may(
            broker,
            ctx,
            AclOperation::Describe,
            ResourceType::Cluster,
            CLUSTER_NAME,
        )
    {
        resp.groups.retain(|g| {
            may(
                broker,
                ctx,
                AclOperation::Describe,
                ResourceType::Group,
                &g.group_id,
            )
        });
    }
    resp
}

/// The request's groups the principal may Describe; the others' answers.
pub fn describe_groups_split(
    broker: &Broker,
    ctx: &RequestContext,
    req: &mut DescribeGroupsRequest,
) -> Vec<DescribedGroup> {
    if broker.authorizer().is_none() {
        return Vec::new();
    }
    let (ok, denied): (Vec<_>, Vec<_>) = std::mem::take(&mut req.groups)
        .into_iter()
        .partition(|g| may(broker, ctx, AclOperation::Describe, ResourceType::Group, g));
    req.groups = ok;
    denied
        .into_iter()
        .map(|g| {
            let mut d = DescribedGroup::default();
            d.group_id = g;
            d.error_code = E::GroupAuthorizationFailed.code();
            d
        })
        .collect()
}

/// Appends the denied groups' answers (Kafka lists them after the described ones).
pub fn describe_groups_join(
    mut resp: DescribeGroupsResponse,
    denied: Vec<DescribedGroup>,
) -> DescribeGroupsResponse {
    resp.groups.extend(denied);
    resp
}

/// As [`describe_groups_split`], for DeleteGroups (Delete on each group).
pub fn delete_groups_split(
    broker: &Broker,
    ctx: &RequestContext,
    req: &mut DeleteGroupsRequest,
) -> Vec<DeletableGroupResult> {
    if broker.authorizer().is_none() {
        return Vec::new();
    }
    let (ok, denied): (Vec<_>, Vec<_>) = std::mem::take(&mut req.groups_names)
        .into_iter()
        .partition(|g| may(broker, ctx, AclOperation::Delete, ResourceType::Group, g));
    req.groups_names = ok;
    denied
        .into_iter()
        .map(|g| {
            let mut r = DeletableGroupResult::default();
            r.group_id = g;
            r.error_code = E::GroupAuthorizationFailed.code();
            r
        })
        .collect()
}

pub fn delete_groups_join(
    mut resp: DeleteGroupsResponse,
    denied: Vec<DeletableGroupResult>,
) -> DeleteGroupsResponse {
    resp.results.extend(denied);
    resp
}

/// DescribeTransactions: ids without Describe are answered with
/// TRANSACTIONAL_ID_AUTHORIZATION_FAILED and not looked up.
pub fn describe_transactions(
    broker: &Broker,
    ctx: &RequestContext,
    mut req: DescribeTransactionsRequest,
) -> DescribeTransactionsResponse {
    let mut denied = Vec::new();
    if broker.authorizer().is_some() {
        let (ok, no): (Vec<_>, Vec<_>) = std::mem::take(&mut req.transactional_ids)
            .into_iter()
            .partition(|id| {
                may(
                    broker,
                    ctx,
                    AclOperation::Describe,
                    ResourceType::TransactionalId,
                    id,
                )
            });
        req.transactional_ids = ok;
        denied = no;
    }
    let mut resp = broker.coordinators().txns().describe_transactions(&req);
    resp.transaction_states.extend(denied.into_iter().map(|id| {
        let mut s = TransactionState::default();
        s.transactional_id = id;
        s.error_code = E::TransactionalIdAuthorizationFailed.code();
        s.producer_id = (-1).into();
        s.producer_epoch = -1;
        s.transaction_start_time_ms = -1;
        s
    }));
    resp
}

/// ListTransactions: only the ids the principal may Describe.
pub fn list_transactions(
    broker: &Broker,
    ctx: &RequestContext,
    mut resp: ListTransactionsResponse,
) -> ListTransactionsResponse {
    if broker.authorizer().is_some() {
        resp.transaction_states.retain(|s| {
            may(
                broker,
                ctx,
                AclOperation::Describe,
                ResourceType::TransactionalId,
                &s.transactional_id,
            )
        });
    }
    resp
}

/// WriteTxnMarkers without ClusterAction (a client, or a broker whose principal is no
/// super user): every partition CLUSTER_AUTHORIZATION_FAILED, as Kafka answers.
pub fn write_txn_markers_denied(
    req: &kafka_protocol::messages::WriteTxnMarkersRequest,
) -> kafka_protocol::messages::WriteTxnMarkersResponse {
    use kafka_protocol::messages::write_txn_markers_response::{
        WritableTxnMarkerPartitionResult, WritableTxnMarkerResult, WritableTxnMarkerTopicResult,
    };
    let mut resp = kafka_protocol::messages::WriteTxnMarkersResponse::default();
    resp.markers = req
        .markers
        .iter()
        .map(|m| {
            let mut r = WritableTxnMarkerResult::default();
            r.producer_id = m.producer_id;
            r.topics = m
                .topics
                .iter()
                .map(|t| {
                    let mut tr = WritableTxnMarkerTopicResult::default();
                    tr.name = t.name.clone();
                    tr.partitions = t
                        .partition_indexes
                        .iter()
                        .map(|&p| {
                            let mut pr = WritableTxnMarkerPartitionResult::default();
                            pr.partition_index = p;
                            pr.error_code = E::ClusterAuthorizationFailed.code();
                            pr
                        })
                        .collect();
                    tr
                })
                .collect();
            r
        })
        .collect();
    resp
}

/// OffsetForLeaderEpoch as Kafka authorizes it: a follower (replica id set) needs
/// ClusterAction, a client Describe on each topic; the denied partitions' answers.
pub fn offset_for_leader_epoch_denied(
    broker: &Broker,
    ctx: &RequestContext,
    req: &mut kafka_protocol::messages::OffsetForLeaderEpochRequest,
) -> Vec<kafka_protocol::messages::offset_for_leader_epoch_response::OffsetForLeaderTopicResult> {
    use kafka_protocol::messages::offset_for_leader_epoch_response::{
        EpochEndOffset, OffsetForLeaderTopicResult,
    };
    if broker.authorizer().is_none() {
        return Vec::new();
    }
    let (ok, denied): (Vec<_>, Vec<_>) = if req.replica_id.0 >= 0 {
        if authz::cluster_action(broker, ctx) {
            return Vec::new();
        }
        (Vec::new(), std::mem::take(&mut req.topics))
    } else {
        std::mem::take(&mut req.topics).into_iter().partition(|t| {
            may(
                broker,
                ctx,
                AclOperation::Describe,
                ResourceType::Topic,
                &t.topic,
            )
        })
    };
    req.topics = ok;
    denied
        .into_iter()
        .map(|t| {
            let mut r = OffsetForLeaderTopicResult::default();
            r.topic = t.topic;
            r.partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let mut e = EpochEndOffset::default();
                    e.partition = p.partition;
                    e.error_code = E::TopicAuthorizationFailed.code();
                    e.leader_epoch = -1;
                    e.end_offset = -1;
                    e
                })
                .collect();
            r
        })
        .collect()
}
