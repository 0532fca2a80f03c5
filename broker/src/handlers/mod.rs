//! Request handlers, one Kafka API per file: decoded request in, response out.
//! Protocol failures are data (error codes in the response); handlers never
//! return `Err` and never close connections.

pub mod acls;
pub mod admin_authz;
pub mod admin_configs;
pub mod api_versions;
pub mod authorized_operations;
pub mod authz;
pub mod create_partitions;
pub mod create_topics;
pub mod delete_records;
pub mod delete_topics;
pub mod describe_cluster;
pub mod describe_configs;
pub mod describe_log_dirs;
pub mod describe_quorum;
pub mod elect_leaders;
pub mod fetch;
pub mod find_coordinator;
pub mod group_authz;
pub mod init_producer_id;
pub mod list_offsets;
pub mod metadata;
pub mod offset_for_leader_epoch;
pub mod offsets_authz;
pub mod partition_reassignments;
pub mod produce;
mod produce_leader_hint;
pub mod produce_verify;
pub mod raft_voters;
pub mod record_errors;
pub mod sasl;
pub mod txn;
pub mod txn_offset_commit;
pub mod unregister_broker;
pub mod update_features;
pub mod user_scram_credentials;
pub mod write_txn_markers;

use kafka_protocol::messages::{
    AddOffsetsToTxnResponse, AddRaftVoterResponse, AlterPartitionReassignmentsResponse,
    ConsumerGroupHeartbeatResponse, DescribeLogDirsResponse, DescribeQuorumResponse,
    DescribeUserScramCredentialsResponse, ElectLeadersResponse, EndTxnResponse, HeartbeatResponse,
    InitProducerIdResponse, JoinGroupResponse, LeaveGroupResponse,
    ListPartitionReassignmentsResponse, RemoveRaftVoterResponse, RequestKind, ResponseKind,
    SyncGroupResponse, UnregisterBrokerResponse, UpdateFeaturesResponse,
};
use kafka_protocol::protocol::StrBytes;
use tidewater_quorum::acl::AclOperation;
use tracing::warn;

use crate::broker_server::Broker;
use crate::protocol::DecodedRequest;

/// GROUP_AUTHORIZATION_FAILED.
const GROUP_DENIED: i16 = 30;
/// CLUSTER_AUTHORIZATION_FAILED.
const CLUSTER_DENIED: i16 = 31;
/// TOPIC_AUTHORIZATION_FAILED.
const TOPIC_DENIED: i16 = 29;
/// TRANSACTIONAL_ID_AUTHORIZATION_FAILED.
const TXN_ID_DENIED: i16 = 53;

/// Who sent a request, for handlers that care (JoinGroup, logs).
#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    pub client_id: String,
    pub client_host: String,
    /// The listener the request arrived on (Metadata advertises its address).
    pub listener: String,
    pub correlation_id: i32,
    /// The connection's principal (`User:alice`, `User:CN=..`, `User:ANONYMOUS`),
    /// what ACLs are checked against.
    pub principal: String,
}

/// `Some(message)` as the codec's nullable string.
pub(crate) fn msg(s: impl Into<String>) -> Option<StrBytes> {
    Some(StrBytes::from_string(s.into()))
}

/// What the connection does after a request.
#[derive(Debug)]
pub enum Reply {
    Respond(Box<ResponseKind>),
    /// A Fetch response whose record sets may be file ranges to send as they are.
    Fetch(Box<fetch::FetchReply>),
    /// acks=0 produce that fully succeeded: no response.
    Silent,
    /// acks=0 produce with an error: Kafka closes the connection so the
    /// producer, which reads no responses, notices and refreshes metadata.
    Close,
}

/// Routes a request to its handler.
pub async fn dispatch(broker: &Broker, ctx: &RequestContext, req: DecodedRequest) -> Reply {
    let v = req.version;
    let groups = &broker.coordinators().groups();
    Reply::Respond(Box::new(match req.body {
        RequestKind::ApiVersions(r) => {
            ResponseKind::ApiVersions(api_versions::handle(broker.metadata(), r, v))
        }
        RequestKind::Metadata(r) => {
            ResponseKind::Metadata(metadata::handle(broker, ctx, r, v).await)
        }
        RequestKind::Produce(r) => {
            let acks = r.acks;
            let resp = produce::handle(broker, ctx, r, v).await;
            if acks != 0 {
                ResponseKind::Produce(resp)
            } else if produce::any_error(&resp) {
                return Reply::Close;
            } else {
                return Reply::Silent;
            }
        }
        RequestKind::Fetch(r) => {
            return Reply::Fetch(Box::new(fetch::handle_zero_copy(broker, ctx, r, v).await));
        }
        RequestKind::ListOffsets(r) => {
            ResponseKind::ListOffsets(list_offsets::handle(broker, ctx, r, v))
        }
        RequestKind::OffsetForLeaderEpoch(mut r) => {
            let denied = admin_authz::offset_for_leader_epoch_denied(broker, ctx, &mut r);
            let mut resp = offset_for_leader_epoch::handle(broker, r, v);
            resp.topics.extend(denied);
            ResponseKind::OffsetForLeaderEpoch(resp)
        }
        // Kafka's handleInitProducerIdRequest: Write on the transactional id, or for an
        // idempotent producer IdempotentWrite on the cluster (or Write on some topic).
        RequestKind::InitProducerId(r)
            if !match r.transactional_id.as_deref() {
                Some(id) => authz::txn_write(broker, ctx, id),
                None => authz::idempotent_write(broker, ctx),
            } =>
        {
            let code = if r.transactional_id.is_some() {
                TXN_ID_DENIED
            } else {
                CLUSTER_DENIED
            };
            ResponseKind::InitProducerId(
                InitProducerIdResponse::default()
                    .with_error_code(code)
                    .with_producer_id((-1).into())
                    .with_producer_epoch(-1),
            )
        }
        RequestKind::InitProducerId(r) => ResponseKind::InitProducerId(
            init_producer_id::handle(broker.coordinators(), r, v).await,
        ),
        RequestKind::AddPartitionsToTxn(r) => {
            ResponseKind::AddPartitionsToTxn(txn::add_partitions(broker, ctx, r, v).await)
        }
        RequestKind::AddOffsetsToTxn(r) if !authz::txn_write(broker, ctx, &r.transactional_id) => {
            ResponseKind::AddOffsetsToTxn(
                AddOffsetsToTxnResponse::default().with_error_code(TXN_ID_DENIED),
            )
        }
        RequestKind::AddOffsetsToTxn(r) if !authz::group_read(broker, ctx, &r.group_id) => {
            ResponseKind::AddOffsetsToTxn(
                AddOffsetsToTxnResponse::default().with_error_code(GROUP_DENIED),
            )
        }
        RequestKind::AddOffsetsToTxn(r) => {
            ResponseKind::AddOffsetsToTxn(txn::add_offsets(broker, r, v).await)
        }
        RequestKind::DescribeTransactions(r) => {
            ResponseKind::DescribeTransactions(admin_authz::describe_transactions(broker, ctx, r))
        }
        RequestKind::ListTransactions(r) => {
            ResponseKind::ListTransactions(admin_authz::list_transactions(
                broker,
                ctx,
                broker.coordinators().txns().list_transactions(&r, v),
            ))
        }
        RequestKind::EndTxn(r) if !authz::txn_write(broker, ctx, &r.transactional_id) => {
            ResponseKind::EndTxn(EndTxnResponse::default().with_error_code(TXN_ID_DENIED))
        }
        RequestKind::EndTxn(r) => ResponseKind::EndTxn(txn::end_txn(broker, r, v).await),
        // Only brokers write markers: ClusterAction on the cluster.
        RequestKind::WriteTxnMarkers(r) if !authz::cluster_action(broker, ctx) => {
            ResponseKind::WriteTxnMarkers(admin_authz::write_txn_markers_denied(&r))
        }
        RequestKind::WriteTxnMarkers(r) => {
            ResponseKind::WriteTxnMarkers(write_txn_markers::handle(broker, r, v).await)
        }
        RequestKind::CreateTopics(r) => {
            ResponseKind::CreateTopics(create_topics::handle(broker, ctx, r, v).await)
        }
        RequestKind::DeleteTopics(r) => {
            ResponseKind::DeleteTopics(delete_topics::handle(broker, ctx, r, v).await)
        }
        RequestKind::CreatePartitions(r) => {
            ResponseKind::CreatePartitions(create_partitions::handle(broker, ctx, r, v).await)
        }
        RequestKind::DeleteRecords(r) => {
            ResponseKind::DeleteRecords(delete_records::handle(broker, ctx, r, v))
        }
        RequestKind::DescribeConfigs(r) => {
            ResponseKind::DescribeConfigs(describe_configs::handle(broker, ctx, r, v))
        }
        RequestKind::AlterConfigs(r) => {
            ResponseKind::AlterConfigs(admin_configs::alter(broker, ctx, r, v).await)
        }
        RequestKind::IncrementalAlterConfigs(r) => ResponseKind::IncrementalAlterConfigs(
            admin_configs::incremental_alter(broker, ctx, r, v).await,
        ),
        RequestKind::DescribeCluster(r) => {
            ResponseKind::DescribeCluster(describe_cluster::handle(broker, ctx, r, v))
        }
        // Kafka's cluster-level admin APIs: Describe or Alter on the cluster.
        RequestKind::DescribeLogDirs(_) if !authz::cluster(broker, ctx, AclOperation::Describe) => {
            ResponseKind::DescribeLogDirs(
                DescribeLogDirsResponse::default().with_error_code(CLUSTER_DENIED),
            )
        }
        RequestKind::DescribeQuorum(_) if !authz::cluster(broker, ctx, AclOperation::Describe) => {
            ResponseKind::DescribeQuorum(
                DescribeQuorumResponse::default().with_error_code(CLUSTER_DENIED),
            )
        }
        RequestKind::AddRaftVoter(_) if !authz::cluster(broker, ctx, AclOperation::Alter) => {
            ResponseKind::AddRaftVoter(
                AddRaftVoterResponse::default().with_error_code(CLUSTER_DENIED),
            )
        }
        RequestKind::RemoveRaftVoter(_) if !authz::cluster(broker, ctx, AclOperation::Alter) => {
            ResponseKind::RemoveRaftVoter(
                RemoveRaftVoterResponse::default().with_error_code(CLUSTER_DENIED),
            )
        }
        RequestKind::UpdateFeatures(_) if !authz::cluster(broker, ctx, AclOperation::Alter) => {
            ResponseKind::UpdateFeatures(
                UpdateFeaturesResponse::default().with_error_code(CLUSTER_DENIED),
            )
        }
        RequestKind::ElectLeaders(_) if !authz::cluster(broker, ctx, AclOperation::Alter) => {
            ResponseKind::ElectLeaders(
                ElectLeadersResponse::default().with_error_code(CLUSTER_DENIED),
            )
        }
        RequestKind::AlterPartitionReassignments(_)
            if !authz::cluster(broker, ctx, AclOperation::Alter) =>
        {
            ResponseKind::AlterPartitionReassignments(
                AlterPartitionReassignmentsResponse::default().with_error_code(CLUSTER_DENIED),
            )
        }
        RequestKind::ListPartitionReassignments(_)
            if !authz::cluster(broker, ctx, AclOperation::Describe) =>
        {
            ResponseKind::ListPartitionReassignments(
                ListPartitionReassignmentsResponse::default().with_error_code(CLUSTER_DENIED),
            )
        }
        RequestKind::UnregisterBroker(_) if !authz::cluster(broker, ctx, AclOperation::Alter) => {
            ResponseKind::UnregisterBroker(
                UnregisterBrokerResponse::default().with_error_code(CLUSTER_DENIED),
            )
        }
        RequestKind::DescribeUserScramCredentials(_)
            if !authz::cluster(broker, ctx, AclOperation::Describe) =>
        {
            ResponseKind::DescribeUserScramCredentials(
                DescribeUserScramCredentialsResponse::default().with_error_code(CLUSTER_DENIED),
            )
        }
        RequestKind::DescribeLogDirs(r) => {
            ResponseKind::DescribeLogDirs(describe_log_dirs::handle(broker.replicas(), r, v))
        }
        RequestKind::DescribeQuorum(r) => {
            ResponseKind::DescribeQuorum(describe_quorum::handle(broker.metadata(), r, v).await)
        }
        RequestKind::AddRaftVoter(r) => {
            ResponseKind::AddRaftVoter(raft_voters::add(broker.metadata(), r).await)
        }
        RequestKind::RemoveRaftVoter(r) => {
            ResponseKind::RemoveRaftVoter(raft_voters::remove(broker.metadata(), r).await)
        }
        RequestKind::UpdateFeatures(r) => {
            ResponseKind::UpdateFeatures(update_features::handle(broker, r, v).await)
        }
        RequestKind::ElectLeaders(r) => {
            ResponseKind::ElectLeaders(elect_leaders::handle(broker, r, v).await)
        }
        RequestKind::AlterPartitionReassignments(r) => ResponseKind::AlterPartitionReassignments(
            partition_reassignments::alter(broker, r, v).await,
        ),
        RequestKind::ListPartitionReassignments(r) => ResponseKind::ListPartitionReassignments(
            partition_reassignments::list(broker, r, v).await,
        ),
        RequestKind::UnregisterBroker(r) => {
            ResponseKind::UnregisterBroker(unregister_broker::handle(broker.metadata(), r, v).await)
        }
        RequestKind::FindCoordinator(r) => {
            ResponseKind::FindCoordinator(find_coordinator::handle(broker, ctx, r, v))
        }
        // Kafka's handlers for these refuse the whole request without Read on the group.
        RequestKind::JoinGroup(r) if !authz::group_read(broker, ctx, &r.group_id) => {
            ResponseKind::JoinGroup(JoinGroupResponse::default().with_error_code(GROUP_DENIED))
        }
        RequestKind::JoinGroup(r) => ResponseKind::JoinGroup(
            groups
                .join_group(r, v, &ctx.client_id, &ctx.client_host)
                .await,
        ),
        RequestKind::SyncGroup(r) if !authz::group_read(broker, ctx, &r.group_id) => {
            ResponseKind::SyncGroup(SyncGroupResponse::default().with_error_code(GROUP_DENIED))
        }
        RequestKind::SyncGroup(r) => ResponseKind::SyncGroup(groups.sync_group(r, v).await),
        RequestKind::Heartbeat(r) if !authz::group_read(broker, ctx, &r.group_id) => {
            ResponseKind::Heartbeat(HeartbeatResponse::default().with_error_code(GROUP_DENIED))
        }
        RequestKind::Heartbeat(r) => ResponseKind::Heartbeat(groups.heartbeat(r, v).await),
        RequestKind::LeaveGroup(r) if !authz::group_read(broker, ctx, &r.group_id) => {
            ResponseKind::LeaveGroup(LeaveGroupResponse::default().with_error_code(GROUP_DENIED))
        }
        RequestKind::LeaveGroup(r) => ResponseKind::LeaveGroup(groups.leave_group(r, v).await),
        RequestKind::OffsetCommit(r) => ResponseKind::OffsetCommit(
            offsets_authz::offset_commit(broker, ctx, groups, r, v).await,
        ),
        RequestKind::TxnOffsetCommit(r) => ResponseKind::TxnOffsetCommit(
            offsets_authz::txn_offset_commit(broker, ctx, groups, r, v).await,
        ),
        RequestKind::OffsetFetch(r) => {
            ResponseKind::OffsetFetch(offsets_authz::offset_fetch(broker, ctx, groups, r, v).await)
        }
        RequestKind::ListGroups(r) => ResponseKind::ListGroups(admin_authz::list_groups(
            broker,
            ctx,
            groups.list_groups(r, v).await,
        )),
        RequestKind::DescribeGroups(mut r) => {
            let include = v >= 3 && r.include_authorized_operations;
            let denied = admin_authz::describe_groups_split(broker, ctx, &mut r);
            let mut resp =
                admin_authz::describe_groups_join(groups.describe_groups(r, v).await, denied);
            // Kafka fills these in its API layer, after the coordinator answered.
            for g in resp.groups.iter_mut().filter(|g| g.error_code == 0) {
                g.authorized_operations = authorized_operations::for_caller(
                    broker,
                    ctx,
                    authorized_operations::Resource::Group,
                    &g.group_id,
                    include,
                );
            }
            ResponseKind::DescribeGroups(resp)
        }
        RequestKind::DeleteGroups(mut r) => {
            let denied = admin_authz::delete_groups_split(broker, ctx, &mut r);
            ResponseKind::DeleteGroups(admin_authz::delete_groups_join(
                groups.delete_groups(r, v).await,
                denied,
            ))
        }
        RequestKind::ConsumerGroupHeartbeat(r) if !authz::group_read(broker, ctx, &r.group_id) => {
            ResponseKind::ConsumerGroupHeartbeat(
                ConsumerGroupHeartbeatResponse::default().with_error_code(GROUP_DENIED),
            )
        }
        RequestKind::ConsumerGroupHeartbeat(r)
            if group_authz::heartbeat_topics_denied(broker, ctx, &r) =>
        {
            ResponseKind::ConsumerGroupHeartbeat(
                ConsumerGroupHeartbeatResponse::default().with_error_code(TOPIC_DENIED),
            )
        }
        RequestKind::ConsumerGroupHeartbeat(r) => ResponseKind::ConsumerGroupHeartbeat(
            groups
                .consumer_group_heartbeat(r, v, &ctx.client_id, &ctx.client_host)
                .await,
        ),
        RequestKind::ConsumerGroupDescribe(mut r) => {
            let include = r.include_authorized_operations;
            let denied = group_authz::consumer_group_describe_split(broker, ctx, &mut r);
            let mut resp = groups.consumer_group_describe(r, v).await;
            for g in resp.groups.iter_mut().filter(|g| g.error_code == 0) {
                g.authorized_operations = authorized_operations::for_caller(
                    broker,
                    ctx,
                    authorized_operations::Resource::Group,
                    &g.group_id,
                    include,
                );
            }
            ResponseKind::ConsumerGroupDescribe(group_authz::consumer_group_describe_join(
                resp, denied,
            ))
        }
        RequestKind::SaslHandshake(_) => ResponseKind::SaslHandshake(sasl::handshake()),
        RequestKind::SaslAuthenticate(_) => ResponseKind::SaslAuthenticate(sasl::authenticate()),
        RequestKind::DescribeUserScramCredentials(r) => ResponseKind::DescribeUserScramCredentials(
            user_scram_credentials::describe(&broker.cluster().image(), r, v),
        ),
        RequestKind::AlterUserScramCredentials(r)
            if !authz::cluster(broker, ctx, AclOperation::Alter) =>
        {
            ResponseKind::AlterUserScramCredentials(user_scram_credentials::denied(
                &r,
                CLUSTER_DENIED,
            ))
        }
        RequestKind::AlterUserScramCredentials(r) => ResponseKind::AlterUserScramCredentials(
            user_scram_credentials::alter(broker, r, v).await,
        ),
        RequestKind::CreateAcls(r) => ResponseKind::CreateAcls(acls::create(broker, ctx, r).await),
        RequestKind::DescribeAcls(r) => ResponseKind::DescribeAcls(acls::describe(broker, ctx, r)),
        RequestKind::DeleteAcls(r) => ResponseKind::DeleteAcls(acls::delete(broker, ctx, r).await),
        RequestKind::OffsetDelete(mut r) => ResponseKind::OffsetDelete(
            match group_authz::offset_delete_split(broker, ctx, &mut r) {
                Ok(denied) => {
                    group_authz::offset_delete_join(groups.offset_delete(r, v).await, denied)
                }
                Err(refused) => refused,
            },
        ),
        other => {
            // decode_request only lets advertised APIs through, so this is a bug;
            // closing beats leaving the client waiting for an answer.
            warn!(api = ?req.api_key, "no handler for advertised API");
            drop(other);
            return Reply::Close;
        }
    }))
}

#[cfg(test)]
pub(crate) mod test_support;
