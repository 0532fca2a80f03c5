//! [`AclIndex`]: the cluster's ACLs as the metadata image holds them, by id (as
//! `AccessControlEntryRecord`s carry them) and indexed by resource type and pattern
//! name, so the authorizer looks up a resource's literal name, `*` and each prefix
//! of the name instead of scanning every ACL.
//!
//! Applying records never fails; deciding which records to write is the
//! controller's (`controller::acls`), and what an ACL allows is the broker's
//! authorizer's.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::binding::{
    AccessControlEntry, AclBinding, AclBindingFilter, AclOperation, PatternType, PermissionType,
    ResourcePattern, ResourceType,
};
use crate::records::AccessControlEntryRecord;

/// The entries of one pattern section: pattern name -> ACL id -> entry.
pub type Section = BTreeMap<String, BTreeMap<u128, AccessControlEntry>>;

/// The ACLs of one resource type.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TypeAcls {
    pub literal: Section,
    pub prefixed: Section,
}

impl TypeAcls {
    fn section(&self, pattern: PatternType) -> &Section {
        match pattern {
            PatternType::Prefixed => &self.prefixed,
            _ => &self.literal,
        }
    }

    fn section_mut(&mut self, pattern: PatternType) -> &mut Section {
        match pattern {
            PatternType::Prefixed => &mut self.prefixed,
            _ => &mut self.literal,
        }
    }
}

/// Every ACL of the cluster. Serialized (in snapshots) as the list of its records.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    from = "Vec<AccessControlEntryRecord>",
    into = "Vec<AccessControlEntryRecord>"
)]
pub struct AclIndex {
    by_type: BTreeMap<ResourceType, TypeAcls>,
    /// Where each ACL id lives in `by_type`, for removal by id.
    patterns: BTreeMap<u128, ResourcePattern>,
}

impl AclIndex {
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    pub fn len(&self) -> usize {
        self.patterns.len()
    }

    /// Adds (or replaces) the ACL with this id (an `AccessControlEntryRecord`).
    pub fn add(&mut self, id: u128, acl: AclBinding) {
        self.remove(id);
        let AclBinding { pattern, entry } = acl;
        self.by_type
            .entry(pattern.resource_type)
            .or_default()
            .section_mut(pattern.pattern_type)
            .entry(pattern.name.clone())
            .or_default()
            .insert(id, entry);
        self.patterns.insert(id, pattern);
    }

    /// Removes the ACL with this id (a `RemoveAccessControlEntryRecord`); returns it.
    pub fn remove(&mut self, id: u128) -> Option<AclBinding> {
        let pattern = self.patterns.remove(&id)?;
        let type_acls = self.by_type.get_mut(&pattern.resource_type)?;
        let section = type_acls.section_mut(pattern.pattern_type);
        let entries = section.get_mut(&pattern.name)?;
        let entry = entries.remove(&id)?;
        if entries.is_empty() {
            section.remove(&pattern.name);
        }
        if type_acls.literal.is_empty() && type_acls.prefixed.is_empty() {
            self.by_type.remove(&pattern.resource_type);
        }
        Some(AclBinding { pattern, entry })
    }

    /// The ACL with this id.
    pub fn get(&self, id: u128) -> Option<AclBinding> {
        let pattern = self.patterns.get(&id)?;
        let entry = self
            .by_type
            .get(&pattern.resource_type)?
            .section(pattern.pattern_type)
            .get(&pattern.name)?
            .get(&id)?
            .clone();
        Some(AclBinding {
            pattern: pattern.clone(),
            entry,
        })
    }

    /// Every ACL with its id, by id.
    pub fn iter(&self) -> impl Iterator<Item = (u128, AclBinding)> + '_ {
        self.patterns
            .keys()
            .filter_map(|id| self.get(*id).map(|b| (*id, b)))
    }

    /// The ACLs a DescribeAcls/DeleteAcls filter matches, with their ids.
    pub fn matching(&self, filter: &AclBindingFilter) -> Vec<(u128, AclBinding)> {
        self.iter().filter(|(_, acl)| filter.matches(acl)).collect()
    }

    /// The ACLs of one resource type (for `authorizeByResourceType`).
    pub fn of_type(&self, resource_type: ResourceType) -> Option<&TypeAcls> {
        self.by_type.get(&resource_type)
    }

    /// The entries of every ACL that applies to a resource called `name`: its
    /// literal name, the literal `*`, and every PREFIXED pattern that starts `name`.
    pub fn entries_for<'s>(
        &'s self,
        resource_type: ResourceType,
        name: &'s str,
    ) -> impl Iterator<Item = &'s AccessControlEntry> + 's {
        let type_acls = self.by_type.get(&resource_type);
        let literal = type_acls.into_iter().flat_map(move |t| {
            let wildcard =
                (name != super::WILDCARD_RESOURCE).then(|| t.literal.get(super::WILDCARD_RESOURCE));
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
pub fn prefixes(name: &str) -> impl Iterator<Item = &str> {
    name.char_indices()
        .skip(1)
        .map(|(i, _)| i)
        .chain(std::iter::once(name.len()))
        .filter(|i| *i > 0)
        .map(move |i| &name[..i])
}

impl AccessControlEntryRecord {
    /// The record of ACL `id`, in Kafka's `AccessControlEntryRecord` fields.
    pub fn new(id: u128, acl: &AclBinding) -> Self {
        Self {
            id,
            resource_type: acl.pattern.resource_type.code(),
            resource_name: acl.pattern.name.clone(),
            pattern_type: acl.pattern.pattern_type.code(),
            principal: acl.entry.principal.clone(),
            host: acl.entry.host.clone(),
            operation: acl.entry.operation.code(),
            permission_type: acl.entry.permission.code(),
        }
    }

    pub fn binding(&self) -> AclBinding {
        AclBinding {
            pattern: ResourcePattern {
                resource_type: ResourceType::from_code(self.resource_type),
                name: self.resource_name.clone(),
                pattern_type: PatternType::from_code(self.pattern_type),
            },
            entry: AccessControlEntry {
                principal: self.principal.clone(),
                host: self.host.clone(),
                operation: AclOperation::from_code(self.operation),
                permission: PermissionType::from_code(self.permission_type),
            },
        }
    }
}

impl From<Vec<AccessControlEntryRecord>> for AclIndex {
    fn from(records: Vec<AccessControlEntryRecord>) -> Self {
        let mut index = AclIndex::default();
        for r in records {
            index.add(r.id, r.binding());
        }
        index
    }
}

impl From<AclIndex> for Vec<AccessControlEntryRecord> {
    fn from(index: AclIndex) -> Self {
        index
            .iter()
            .map(|(id, acl)| AccessControlEntryRecord::new(id, &acl))
            .collect()
    }
}
