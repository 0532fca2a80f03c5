//! Kafka's `StandardAuthorizer` decisions (`StandardAuthorizerData.authorize` and
//! `Authorizer.authorizeByResourceType`) over an in-memory set of ACLs.
//!
//! Sans-IO: the metadata image feeds it ACLs by id (as KRaft's
//! `AccessControlEntryRecord`s carry them) and handlers ask it questions; it never
//! reads config or sockets. The rules, as Kafka's:
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

use std::collections::{BTreeMap, BTreeSet, HashMap};

use uuid::Uuid;

use super::binding::{
    AccessControlEntry, AclBinding, AclBindingFilter, AclOperation, PatternType, PermissionType,
    ResourcePattern, ResourceType, WILDCARD_HOST, WILDCARD_PRINCIPAL, WILDCARD_RESOURCE,
};

/// Who asks: the connection's principal and its client address.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    /// `User:alice`, `User:CN=broker-1,O=acme`, `User:ANONYMOUS`.
    pub principal: &'a str,
    /// The client's IP address (what an ACL's host is compared with).
    pub host: &'a str,
}

/// The entries of one resource type, by pattern name, then by ACL id.
#[derive(Debug, Default)]
struct TypeAcls {
    literal: BTreeMap<String, BTreeMap<Uuid, AccessControlEntry>>,
    prefixed: BTreeMap<String, BTreeMap<Uuid, AccessControlEntry>>,
}

impl TypeAcls {
    fn section(
        &mut self,
        pattern: PatternType,
    ) -> &mut BTreeMap<String, BTreeMap<Uuid, AccessControlEntry>> {
        match pattern {
            PatternType::Prefixed => &mut self.prefixed,
            _ => &mut self.literal,
        }
    }
}

/// Kafka's `StandardAuthorizer`: `super.users`, `allow.everyone.if.no.acl.found`
/// and the cluster's ACLs.
#[derive(Debug, Default)]
pub struct Authorizer {
    super_users: BTreeSet<String>,
    allow_everyone_if_no_acl_found: bool,
    by_type: HashMap<ResourceType, TypeAcls>,
    /// Where each ACL id lives in `by_type`, for removal by id.
    patterns: HashMap<Uuid, ResourcePattern>,
}

impl Authorizer {
    pub fn new(super_users: BTreeSet<String>, allow_everyone_if_no_acl_found: bool) -> Self {
        Self {
            super_users,
            allow_everyone_if_no_acl_found,
            ..Self::default()
        }
    }

    /// Adds (or replaces) the ACL with this id (an `AccessControlEntryRecord`).
    pub fn add(&mut self, id: Uuid, acl: AclBinding) {
        self.remove(id);
        let AclBinding { pattern, entry } = acl;
        self.by_type
            .entry(pattern.resource_type)
            .or_default()
            .section(pattern.pattern_type)
            .entry(pattern.name.clone())
            .or_default()
            .insert(id, entry);
        self.patterns.insert(id, pattern);
    }

    /// Removes the ACL with this id (a `RemoveAccessControlEntryRecord`); returns it.
    pub fn remove(&mut self, id: Uuid) -> Option<AclBinding> {
        let pattern = self.patterns.remove(&id)?;
        let type_acls = self.by_type.get_mut(&pattern.resource_type)?;
        let section = type_acls.section(pattern.pattern_type);
        let entries = section.get_mut(&pattern.name)?;
        let entry = entries.remove(&id)?;
        if entries.is_empty() {
            section.remove(&pattern.name);
        }
        Some(AclBinding { pattern, entry })
    }

    /// Every ACL with its id, in a stable order.
    pub fn acls(&self) -> impl Iterator<Item = (Uuid, AclBinding)> + '_ {
        let mut ids: Vec<&Uuid> = self.patterns.keys().collect();
        ids.sort();
        ids.into_iter()
            .filter_map(|id| self.binding(*id).map(|b| (*id, b)))
    }

    /// The ACLs a DescribeAcls/DeleteAcls filter matches, with their ids.
    pub fn matching(&self, filter: &AclBindingFilter) -> Vec<(Uuid, AclBinding)> {
        self.acls().filter(|(_, acl)| filter.matches(acl)).collect()
    }

    fn binding(&self, id: Uuid) -> Option<AclBinding> {
        let pattern = self.patterns.get(&id)?;
        let type_acls = self.by_type.get(&pattern.resource_type)?;
        let section = match pattern.pattern_type {
            PatternType::Prefixed => &type_acls.prefixed,
            _ => &type_acls.literal,
        };
        let entry = section.get(&pattern.name)?.get(&id)?.clone();
        Some(AclBinding {
            pattern: pattern.clone(),
            entry,
        })
    }

    pub fn is_super_user(&self, principal: &str) -> bool {
        self.super_users.contains(principal)
    }

    /// May `caller` perform `op` on the resource `resource_type`/`name`?
    pub fn authorize(
        &self,
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
        for entry in self.entries_for(resource_type, name) {
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
        caller: Caller<'_>,
        op: AclOperation,
        resource_type: ResourceType,
    ) -> bool {
        // Kafka asks about a made-up name first, so super users (and open resources
        // under allow.everyone.if.no.acl.found) pass regardless of DENY ACLs.
        if self.authorize(caller, op, resource_type, "hardcode") {
            return true;
        }
        let Some(type_acls) = self.by_type.get(&resource_type) else {
            return false;
        };
        let applies = |e: &AccessControlEntry| {
            (e.host == caller.host || e.host == WILDCARD_HOST)
                && (e.principal == caller.principal || e.principal == WILDCARD_PRINCIPAL)
                && (e.operation == op || e.operation == AclOperation::All)
        };
        let with = |section: &'_ BTreeMap<String, BTreeMap<Uuid, AccessControlEntry>>,
                    p: PermissionType| {
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

    /// The entries of every ACL that applies to a resource called `name`.
    fn entries_for<'s>(
        &'s self,
        resource_type: ResourceType,
        name: &'s str,
    ) -> impl Iterator<Item = &'s AccessControlEntry> + 's {
        let type_acls = self.by_type.get(&resource_type);
        let literal = type_acls.into_iter().flat_map(move |t| {
            let wildcard = (name != WILDCARD_RESOURCE).then(|| t.literal.get(WILDCARD_RESOURCE));
            [t.literal.get(name), wildcard.flatten()]
                .into_iter()
                .flatten()
        });
        let prefixed = type_acls
            .filter(|t| !t.prefixed.is_empty())
            .into_iter()
            .flat_map(move |t| prefixes(name).filter_map(|p| t.prefixed.get(p)));
        literal.chain(prefixed).flat_map(|entries| entries.values())
    }
}

/// `name`'s non-empty prefixes, itself included, at character boundaries.
fn prefixes(name: &str) -> impl Iterator<Item = &str> {
    name.char_indices()
        .skip(1)
        .map(|(i, _)| i)
        .chain(std::iter::once(name.len()))
        .filter(|i| *i > 0)
        .map(move |i| &name[..i])
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
