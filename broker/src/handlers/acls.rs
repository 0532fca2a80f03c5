//! CreateAcls (30), DescribeAcls (29) and DeleteAcls (31): the cluster's ACLs in the
//! replicated metadata. Describe reads this broker's image; Create and Delete let the
//! controller decide and answer once this broker's image holds the outcome, so the
//! change is enforced here at once and on every other broker as its image catches up.
//!
//! As Kafka (`AclApis`): without an authorizer every call is SECURITY_DISABLED; with
//! one, the caller needs Alter on the cluster to change ACLs and Describe to list
//! them (CLUSTER_AUTHORIZATION_FAILED otherwise).

use std::time::Duration;

use kafka_protocol::messages::create_acls_response::AclCreationResult;
use kafka_protocol::messages::delete_acls_response::{
    DeleteAclsFilterResult, DeleteAclsMatchingAcl,
};
use kafka_protocol::messages::describe_acls_response::{AclDescription, DescribeAclsResource};
use kafka_protocol::messages::{
    CreateAclsRequest, CreateAclsResponse, DeleteAclsRequest, DeleteAclsResponse,
    DescribeAclsRequest, DescribeAclsResponse,
};
use kafka_protocol::protocol::StrBytes;
use tidewater_quorum::acl::{
    AccessControlEntry, AclBinding, AclBindingFilter, AclOperation, CLUSTER_NAME, PatternType,
    PermissionType, ResourcePattern, ResourceType,
};
use tidewater_quorum::controller::{AclDeleteResult, AclResult};
use tidewater_quorum::rpc::{ControllerCall, ControllerReply};

use super::{RequestContext, msg};
use crate::broker_server::Broker;

/// How long a change may take to reach this broker's image before we answer.
const PROPAGATION_TIMEOUT: Duration = Duration::from_secs(10);

const UNKNOWN_SERVER_ERROR: i16 = -1;
const CLUSTER_AUTHORIZATION_FAILED: i16 = 31;
const INVALID_REQUEST: i16 = 42;
const SECURITY_DISABLED: i16 = 54;

/// Whether the caller may perform `op` on the cluster: `Err` is the refusal every
/// result of the call carries.
fn check_cluster(broker: &Broker, ctx: &RequestContext, op: AclOperation) -> Result<(), AclResult> {
    if broker.authorizer().is_none() {
        return Err(refusal(
            SECURITY_DISABLED,
            "No Authorizer is configured on the broker",
        ));
    }
    if super::authz::allowed(broker, ctx, op, ResourceType::Cluster, CLUSTER_NAME) {
        Ok(())
    } else {
        Err(refusal(
            CLUSTER_AUTHORIZATION_FAILED,
            "Cluster authorization failed.",
        ))
    }
}

fn refusal(error_code: i16, message: &str) -> AclResult {
    AclResult {
        error_code,
        message: Some(message.into()),
    }
}

/// The filter of a DescribeAclsRequest or a DeleteAclsFilter (same field names).
macro_rules! binding_filter {
    ($r:expr) => {
        AclBindingFilter {
            resource_type: ResourceType::from_code($r.resource_type_filter),
            name: $r.resource_name_filter.as_ref().map(|s| s.to_string()),
            pattern_type: PatternType::from_code($r.pattern_type_filter),
            principal: $r.principal_filter.as_ref().map(|s| s.to_string()),
            host: $r.host_filter.as_ref().map(|s| s.to_string()),
            operation: AclOperation::from_code($r.operation),
            permission: PermissionType::from_code($r.permission_type),
        }
    };
}

pub async fn create(
    broker: &Broker,
    ctx: &RequestContext,
    req: CreateAclsRequest,
) -> CreateAclsResponse {
    let bindings: Vec<AclBinding> = req
        .creations
        .iter()
        .map(|c| AclBinding {
            pattern: ResourcePattern {
                resource_type: ResourceType::from_code(c.resource_type),
                name: c.resource_name.to_string(),
                pattern_type: PatternType::from_code(c.resource_pattern_type),
            },
            entry: AccessControlEntry {
                principal: c.principal.to_string(),
                host: c.host.to_string(),
                operation: AclOperation::from_code(c.operation),
                permission: PermissionType::from_code(c.permission_type),
            },
        })
        .collect();
    let results = match check_cluster(broker, ctx, AclOperation::Alter) {
        Err(refused) => vec![refused; bindings.len()],
        Ok(()) => create_in_metadata(broker, &bindings).await,
    };
    let results = results
        .into_iter()
        .map(|r| {
            AclCreationResult::default()
                .with_error_code(r.error_code)
                .with_error_message(r.message.map(StrBytes::from_string))
        })
        .collect();
    CreateAclsResponse::default().with_results(results)
}

async fn create_in_metadata(broker: &Broker, bindings: &[AclBinding]) -> Vec<AclResult> {
    let creations: Vec<(u128, AclBinding)> = bindings
        .iter()
        .map(|b| (uuid::Uuid::new_v4().as_u128(), b.clone()))
        .collect();
    let cluster = broker.cluster();
    let results = match cluster.call(ControllerCall::CreateAcls { creations }).await {
        Ok(ControllerReply::AclResults(results)) => results,
        Ok(other) => vec![unexpected(other); bindings.len()],
        Err(f) => vec![refusal(f.error_code, &f.message); bindings.len()],
    };
    let created: Vec<&AclBinding> = bindings
        .iter()
        .zip(&results)
        .filter(|(_, r)| r.error_code == 0)
        .map(|(b, _)| b)
        .collect();
    if !created.is_empty() {
        cluster
            .wait_for_image(PROPAGATION_TIMEOUT, |image| {
                created
                    .iter()
                    .all(|b| image.acls.iter().any(|(_, acl)| acl == **b))
            })
            .await;
    }
    results
}

fn unexpected(reply: ControllerReply) -> AclResult {
    AclResult {
        error_code: UNKNOWN_SERVER_ERROR,
        message: Some(format!("unexpected controller reply {reply:?}")),
    }
}

pub fn describe(
    broker: &Broker,
    ctx: &RequestContext,
    req: DescribeAclsRequest,
) -> DescribeAclsResponse {
    if let Err(refused) = check_cluster(broker, ctx, AclOperation::Describe) {
        return DescribeAclsResponse::default()
            .with_error_code(refused.error_code)
            .with_error_message(refused.message.map(StrBytes::from_string));
    }
    let f = binding_filter!(req);
    if f.pattern_is_unknown() || f.entry_is_unknown() {
        return DescribeAclsResponse::default()
            .with_error_code(INVALID_REQUEST)
            .with_error_message(msg("Filter contain UNKNOWN elements"));
    }
    let image = broker.cluster().image();
    let mut resources: Vec<DescribeAclsResource> = Vec::new();
    let mut matching: Vec<AclBinding> = image
        .acls
        .matching(&f)
        .into_iter()
        .map(|(_, b)| b)
        .collect();
    matching.sort();
    for acl in matching {
        let description = AclDescription::default()
            .with_principal(StrBytes::from_string(acl.entry.principal))
            .with_host(StrBytes::from_string(acl.entry.host))
            .with_operation(acl.entry.operation.code())
            .with_permission_type(acl.entry.permission.code());
        let p = &acl.pattern;
        let same = resources.last_mut().filter(|r| {
            r.resource_type == p.resource_type.code()
                && r.resource_name.as_str() == p.name
                && r.pattern_type == p.pattern_type.code()
        });
        match same {
            Some(r) => r.acls.push(description),
            None => resources.push(
                DescribeAclsResource::default()
                    .with_resource_type(p.resource_type.code())
                    .with_resource_name(StrBytes::from_string(p.name.clone()))
                    .with_pattern_type(p.pattern_type.code())
                    .with_acls(vec![description]),
            ),
        }
    }
    DescribeAclsResponse::default().with_resources(resources)
}

pub async fn delete(
    broker: &Broker,
    ctx: &RequestContext,
    req: DeleteAclsRequest,
) -> DeleteAclsResponse {
    let filters: Vec<AclBindingFilter> = req.filters.iter().map(|f| binding_filter!(f)).collect();
    let refused = |r: AclResult| AclDeleteResult {
        result: r,
        deleted: Vec::new(),
    };
    let results = match check_cluster(broker, ctx, AclOperation::Alter) {
        Err(r) => vec![refused(r); filters.len()],
        Ok(()) => {
            let cluster = broker.cluster();
            let results = match cluster
                .call(ControllerCall::DeleteAcls {
                    filters: filters.clone(),
                })
                .await
            {
                Ok(ControllerReply::AclDeleteResults(results)) => results,
                Ok(other) => vec![refused(unexpected(other)); filters.len()],
                Err(f) => vec![refused(refusal(f.error_code, &f.message)); filters.len()],
            };
            let gone: Vec<&AclBinding> = results.iter().flat_map(|r| &r.deleted).collect();
            if !gone.is_empty() {
                cluster
                    .wait_for_image(PROPAGATION_TIMEOUT, |image| {
                        !image.acls.iter().any(|(_, acl)| gone.contains(&&acl))
                    })
                    .await;
            }
            results
        }
    };
    let results = results
        .into_iter()
        .map(|r| {
            let matching = r
                .deleted
                .into_iter()
                .map(|acl| {
                    DeleteAclsMatchingAcl::default()
                        .with_resource_type(acl.pattern.resource_type.code())
                        .with_resource_name(StrBytes::from_string(acl.pattern.name))
                        .with_pattern_type(acl.pattern.pattern_type.code())
                        .with_principal(StrBytes::from_string(acl.entry.principal))
                        .with_host(StrBytes::from_string(acl.entry.host))
                        .with_operation(acl.entry.operation.code())
                        .with_permission_type(acl.entry.permission.code())
                })
                .collect();
            DeleteAclsFilterResult::default()
                .with_error_code(r.result.error_code)
                .with_error_message(r.result.message.map(StrBytes::from_string))
                .with_matching_acls(matching)
        })
        .collect();
    DeleteAclsResponse::default().with_filter_results(results)
}

#[cfg(test)]
#[path = "acls_tests.rs"]
mod tests;
