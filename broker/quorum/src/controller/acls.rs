//! CreateAcls and DeleteAcls decisions (KRaft's `AclControlManager`): which
//! `AccessControlEntryRecord`s and `RemoveAccessControlEntryRecord`s to write, one
//! result per creation or filter, with Kafka's validation messages.

use serde::{Deserialize, Serialize};

use super::scram::SCRAM_METADATA_VERSION;
use super::{Controller, ControllerError, Decision};
use crate::acl::{AclBinding, AclBindingFilter, validate_new_acl};
use crate::image::{METADATA_VERSION, MetadataImage};
use crate::records::{AccessControlEntryRecord, MetadataRecord};

/// The level from which ACL records are written: Kafka has them from 3.0, but 0.2.0
/// (up to 4.0-IV3) cannot read them, so here it is 4.1-IV0 like SCRAM credentials.
pub const ACL_METADATA_VERSION: u16 = SCRAM_METADATA_VERSION;

/// Kafka's INVALID_REQUEST.
const INVALID_REQUEST: i16 = 42;

/// One creation's or one filter's outcome: an error code (0 = done) and message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AclResult {
    pub error_code: i16,
    pub message: Option<String>,
}

/// One DeleteAcls filter's outcome: the ACLs it removed, or why it was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AclDeleteResult {
    pub result: AclResult,
    pub deleted: Vec<AclBinding>,
}

const DONE: AclResult = AclResult {
    error_code: 0,
    message: None,
};

fn invalid(message: impl Into<String>) -> AclResult {
    AclResult {
        error_code: INVALID_REQUEST,
        message: Some(message.into()),
    }
}

fn check_version(image: &MetadataImage) -> Result<(), ControllerError> {
    if image.feature_level(METADATA_VERSION) < ACL_METADATA_VERSION {
        return Err(ControllerError::UnsupportedVersion(format!(
            "ACLs need metadata.version level {ACL_METADATA_VERSION} (4.1-IV0) or later"
        )));
    }
    Ok(())
}

impl Controller {
    /// CreateAcls: each creation is `(fresh random id, binding)`. An ACL equal to one
    /// that exists (or to an earlier one of the same call) succeeds without a record.
    pub fn create_acls(
        &self,
        image: &MetadataImage,
        creations: &[(u128, AclBinding)],
    ) -> Result<Decision<Vec<AclResult>>, ControllerError> {
        check_version(image)?;
        let mut records = Vec::new();
        let mut written: Vec<&AclBinding> = Vec::new();
        let mut reply = Vec::with_capacity(creations.len());
        for (id, acl) in creations {
            if let Err(message) = validate_new_acl(acl) {
                reply.push(invalid(message));
                continue;
            }
            let exists = written.contains(&acl) || image.acls.iter().any(|(_, a)| a == *acl);
            if !exists && image.acls.get(*id).is_none() {
                records.push(MetadataRecord::AccessControlEntry(
                    AccessControlEntryRecord::new(*id, acl),
                ));
                written.push(acl);
            }
            reply.push(DONE);
        }
        Ok(Decision { records, reply })
    }

    /// DeleteAcls: every ACL a filter matches is removed; an ACL matched by several
    /// filters is listed by each and removed once, as in Kafka.
    pub fn delete_acls(
        &self,
        image: &MetadataImage,
        filters: &[AclBindingFilter],
    ) -> Result<Decision<Vec<AclDeleteResult>>, ControllerError> {
        check_version(image)?;
        let mut removed: Vec<u128> = Vec::new();
        let mut reply = Vec::with_capacity(filters.len());
        for filter in filters {
            let refusal = if filter.pattern_is_unknown() {
                Some("Unknown patternFilter.")
            } else if filter.entry_is_unknown() {
                Some("Unknown entryFilter.")
            } else {
                None
            };
            if let Some(message) = refusal {
                reply.push(AclDeleteResult {
                    result: invalid(message),
                    deleted: Vec::new(),
                });
                continue;
            }
            let matching = image.acls.matching(filter);
            for (id, _) in &matching {
                if !removed.contains(id) {
                    removed.push(*id);
                }
            }
            reply.push(AclDeleteResult {
                result: DONE,
                deleted: matching.into_iter().map(|(_, acl)| acl).collect(),
            });
        }
        let records = removed
            .into_iter()
            .map(|id| MetadataRecord::RemoveAccessControlEntry { id })
            .collect();
        Ok(Decision { records, reply })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::acl::{
        AccessControlEntry, AclOperation, PatternType, PermissionType, ResourcePattern,
        ResourceType,
    };

    fn topic_acl(name: &str, pattern_type: PatternType, principal: &str) -> AclBinding {
        AclBinding {
            pattern: ResourcePattern {
                resource_type: ResourceType::Topic,
                name: name.into(),
                pattern_type,
            },
            entry: AccessControlEntry {
                principal: principal.into(),
                host: "*".into(),
                operation: AclOperation::Write,
                permission: PermissionType::Allow,
            },
        }
    }

    fn image(level: u16) -> MetadataImage {
        MetadataImage {
            features: BTreeMap::from([(METADATA_VERSION.to_string(), level)]),
            ..MetadataImage::default()
        }
    }

    fn controller() -> Controller {
        Controller::new(Default::default())
    }

    fn apply(image: &mut MetadataImage, records: &[MetadataRecord]) {
        for r in records {
            image.apply(r);
        }
    }

    #[test]
    fn create_writes_new_acls_once_and_validates() {
        let c = controller();
        let mut img = image(ACL_METADATA_VERSION);
        let a = topic_acl("a", PatternType::Literal, "User:alice");
        let bad = topic_acl("a", PatternType::Match, "User:alice");
        let d = c
            .create_acls(&img, &[(1, a.clone()), (2, bad), (3, a.clone())])
            .unwrap();
        assert_eq!(
            d.records.len(),
            1,
            "the duplicate in the same call is no record"
        );
        assert_eq!(d.reply[0], DONE);
        assert_eq!(d.reply[1], invalid("Invalid patternType MATCH"));
        assert_eq!(d.reply[2], DONE);
        apply(&mut img, &d.records);
        assert_eq!(img.acls.get(1), Some(a.clone()));
        // Creating it again succeeds and writes nothing, as Kafka.
        let again = c.create_acls(&img, &[(4, a)]).unwrap();
        assert!(again.records.is_empty());
        assert_eq!(again.reply, [DONE]);
    }

    #[test]
    fn below_4_1_the_calls_are_unsupported() {
        let c = controller();
        let img = image(ACL_METADATA_VERSION - 1);
        let a = topic_acl("a", PatternType::Literal, "User:alice");
        let err = c.create_acls(&img, &[(1, a)]).unwrap_err();
        assert_eq!(err.error_code(), 35);
        assert_eq!(c.delete_acls(&img, &[]).unwrap_err().error_code(), 35);
    }

    #[test]
    fn delete_removes_what_filters_match_once() {
        let c = controller();
        let mut img = image(ACL_METADATA_VERSION);
        let a = topic_acl("a", PatternType::Literal, "User:alice");
        let pre = topic_acl("a", PatternType::Prefixed, "User:bob");
        let d = c
            .create_acls(&img, &[(1, a.clone()), (2, pre.clone())])
            .unwrap();
        apply(&mut img, &d.records);
        let by_name = |name: &str, pattern_type| AclBindingFilter {
            resource_type: ResourceType::Topic,
            name: Some(name.into()),
            pattern_type,
            principal: None,
            host: None,
            operation: AclOperation::Any,
            permission: PermissionType::Any,
        };
        let unknown = AclBindingFilter {
            operation: AclOperation::Unknown,
            ..by_name("a", PatternType::Any)
        };
        let d = c
            .delete_acls(
                &img,
                &[
                    by_name("ab", PatternType::Match),
                    by_name("a", PatternType::Any),
                    unknown,
                ],
            )
            .unwrap();
        assert_eq!(d.reply[0].deleted, vec![pre.clone()]);
        assert_eq!(d.reply[1].deleted, [a, pre]);
        assert_eq!(d.reply[2].result, invalid("Unknown entryFilter."));
        assert_eq!(d.records.len(), 2, "each ACL removed once");
        apply(&mut img, &d.records);
        assert!(img.acls.is_empty());
    }

    #[test]
    fn the_image_round_trips_its_acls_through_a_snapshot() {
        let c = controller();
        let mut img = image(ACL_METADATA_VERSION);
        let acls = [
            (7, topic_acl("a", PatternType::Literal, "User:alice")),
            (9, topic_acl("p-", PatternType::Prefixed, "User:*")),
        ];
        let records = c.create_acls(&img, &acls).unwrap().records;
        apply(&mut img, &records);
        let json = serde_json::to_string(&img).unwrap();
        let back: MetadataImage = serde_json::from_str(&json).unwrap();
        assert_eq!(back, img);
        assert_eq!(back.acls.len(), 2);
        // An image without ACLs reads the same as before they existed.
        assert!(!serde_json::to_string(&image(1)).unwrap().contains("acls"));
    }
}
