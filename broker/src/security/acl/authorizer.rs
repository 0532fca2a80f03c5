//! Kafka's `StandardAuthorizer` decisions (`StandardAuthorizerData.authorize` and
//! `Authorizer.authorizeByResourceType`) over an in-memory set of ACLs.
//!
//! Sans-IO: decisions over the metadata image's [`AclIndex`] (the ACLs every broker
//! applied from the metadata log) plus `super.users` and
//! `allow.everyone.if.no.acl.found`; it never reads config, sockets or the log. The
//! rules, as Kafka's:
//! - a super user may do anything, whatever DENY ACLs say;
//! - the ACLs that apply to a resource are its literal name, the literal `*`, and
//!   every PREFIXED pattern that starts the name;
//! - an entry applies when its principal is the caller's or `User:*`, and its host
//!   the caller's address or `*`;
//! - a DENY for the operation (or ALL) wins over any ALLOW;
//! - an ALLOW of Read, Write, Delete or Alter also allows Describe, an ALLOW of
//!   AlterConfigs also DescribeConfigs, an ALLOW of ALL everything (DENYs imply
//!   nothing: a DENY of Read leaves Describe alone);
//! - a resource with no ACL at all is open only with `allow.everyone.if.no.acl.found`.

use std::collections::BTreeSet;

use tidewater_quorum::acl::index::{Section, prefixes};
use tidewater_quorum::acl::{
    AccessControlEntry, AclIndex, AclOperation, PermissionType, ResourceType, WILDCARD_HOST,
    WILDCARD_PRINCIPAL, WILDCARD_RESOURCE,
};

use crate::config::AuthorizerSettings;

/// Who asks: the connection's principal and its client address.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    /// `User:alice`, `User:CN=broker-1,O=acme`, `User:ANONYMOUS`.
    pub principal: &'a str,
    /// The client's IP address (what an ACL's host is compared with).
    pub host: &'a str,
}

/// Kafka's `StandardAuthorizer` settings that are not ACLs; the ACLs come with
/// each question, from the current metadata image.
#[derive(Debug, Clone, Default)]
pub struct Authorizer {
    super_users: BTreeSet<String>,
    allow_everyone_if_no_acl_found: bool,
}

impl Authorizer {
    pub fn new(settings: &AuthorizerSettings) -> Self {
        Self {
            super_users: settings.super_users.clone(),
            allow_everyone_if_no_acl_found: settings.allow_everyone_if_no_acl_found,
        }
    }

    pub fn is_super_user(&self, principal: &str) -> bool {
        self.super_users.contains(principal)
    }

    /// May `caller` perform `op` on the resource `resource_type`/`name`?
    pub fn authorize(
        &self,
        acls: &AclIndex,
        caller: Caller<'_>,
        op: AclOperation,
        resource_type: ResourceType,
        name: &str,
    ) -> bool {
        if self.is_super_user(caller.principal) {
            return true;
        }
        let mut any_acl = false;
        let mut allowed = false;
        for entry in acls.entries_for(resource_type, name) {
            any_acl = true;
            match decision(entry, caller, op) {
                Some(PermissionType::Deny) => return false,
                Some(PermissionType::Allow) => allowed = true,
                _ => {}
            }
        }
        allowed || (!any_acl && self.allow_everyone_if_no_acl_found)
    }

    /// Kafka's `authorizeByResourceType`: may `caller` perform `op` on at least one
    /// resource of `resource_type` (InitProducerId's "Write on some topic")? An ALLOW
    /// counts unless a DENY on the same literal, on a prefix of it, or on the
    /// literal `*` covers it.
    pub fn authorize_by_resource_type(
        &self,
        acls: &AclIndex,
        caller: Caller<'_>,
        op: AclOperation,
        resource_type: ResourceType,
    ) -> bool {
        // Kafka asks about a made-up name first, so super users (and open resources
        // under allow.everyone.if.no.acl.found) pass regardless of DENY ACLs.
        if self.authorize(acls, caller, op, resource_type, "hardcode") {
            return true;
        }
        let Some(type_acls) = acls.of_type(resource_type) else {
            return false;
        };
        let applies = |e: &AccessControlEntry| {
            (e.host == caller.host || e.host == WILDCARD_HOST)
                && (e.principal == caller.principal || e.principal == WILDCARD_PRINCIPAL)
                && (e.operation == op || e.operation == AclOperation::All)
        };
        let with = |section: &Section, p: PermissionType| {
            section
                .iter()
                .filter(|(_, entries)| entries.values().any(|e| applies(e) && e.permission == p))
                .map(|(name, _)| name.clone())
                .collect::<BTreeSet<String>>()
        };
        let deny_literal = with(&type_acls.literal, PermissionType::Deny);
        if deny_literal.contains(WILDCARD_RESOURCE) {
            return false;
        }
        let deny_prefixed = with(&type_acls.prefixed, PermissionType::Deny);
        let allow_literal = with(&type_acls.literal, PermissionType::Allow);
        if allow_literal.contains(WILDCARD_RESOURCE) {
            return true;
        }
        let denied_by_prefix = |name: &str| prefixes(name).any(|p| deny_prefixed.contains(p));
        let allow_prefixed = with(&type_acls.prefixed, PermissionType::Allow);
        allow_literal
            .iter()
            .any(|n| !deny_literal.contains(n) && !denied_by_prefix(n))
            || allow_prefixed.iter().any(|n| !denied_by_prefix(n))
    }
}

/// Kafka's `StandardAuthorizerData.findResult`: what one entry says about `op` for
/// `caller`, or `None` when it does not apply.
fn decision(
    entry: &AccessControlEntry,
    caller: Caller<'_>,
    op: AclOperation,
) -> Option<PermissionType> {
    if entry.principal != caller.principal && entry.principal != WILDCARD_PRINCIPAL {
        return None;
    }
    if entry.host != WILDCARD_HOST && entry.host != caller.host {
        return None;
    }
    if entry.operation != AclOperation::All {
        let covers = match (entry.permission, op) {
            (PermissionType::Allow, AclOperation::Describe) => matches!(
                entry.operation,
                AclOperation::Describe
                    | AclOperation::Read
                    | AclOperation::Write
                    | AclOperation::Delete
                    | AclOperation::Alter
            ),
            (PermissionType::Allow, AclOperation::DescribeConfigs) => matches!(
                entry.operation,
                AclOperation::DescribeConfigs | AclOperation::AlterConfigs
            ),
            _ => entry.operation == op,
        };
        if !covers {
            return None;
        }
    }
    Some(entry.permission)
}
