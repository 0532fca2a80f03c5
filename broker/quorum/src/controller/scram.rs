//! AlterUserScramCredentials decisions (KRaft's `ScramControlManager`): which SCRAM
//! credentials to write or remove, one result per user. The broker turns the salted
//! password into the stored and server keys before the call, so no password-equivalent
//! reaches the controller or the log.

use std::collections::BTreeMap;

use super::{Controller, ControllerError, Decision};
use crate::image::{METADATA_VERSION, MetadataImage};
use crate::records::{MetadataRecord, UserScramCredential};

/// The level from which SCRAM credential records are written: Kafka needs 3.5-IV2, and
/// 0.2.0 (up to 4.0-IV3) cannot read them, so here it is 4.1-IV0 like [`LeaderHandoff`].
///
/// [`LeaderHandoff`]: crate::records::LeaderHandoff
pub const SCRAM_METADATA_VERSION: u16 = 26;

/// Kafka's `ScramMechanism` types this broker knows (SCRAM-SHA-256, SCRAM-SHA-512).
pub const SCRAM_MECHANISMS: [i8; 2] = [1, 2];

/// Kafka's bounds on a SCRAM credential's iterations (`ScramMechanism.minIterations`,
/// and the 16384 cap of `ScramControlManager`).
pub const MIN_SCRAM_ITERATIONS: i32 = 4096;
pub const MAX_SCRAM_ITERATIONS: i32 = 16384;

/// Error codes of a user's result (Kafka's `Errors.java`).
const UNSUPPORTED_SASL_MECHANISM: i16 = 33;
const RESOURCE_NOT_FOUND: i16 = 91;
const DUPLICATE_RESOURCE: i16 = 92;
const UNACCEPTABLE_CREDENTIAL: i16 = 93;

/// One user's outcome: its name, error code (0 = done) and message.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ScramAlterResult {
    pub user: String,
    pub error_code: i16,
    pub message: Option<String>,
}

impl Controller {
    /// AlterUserScramCredentials: `deletions` are (user, mechanism); a user with any
    /// refused alteration gets none of its alterations written, as in Kafka.
    pub fn alter_user_scram_credentials(
        &self,
        image: &MetadataImage,
        deletions: &[(String, i8)],
        upsertions: &[UserScramCredential],
    ) -> Result<Decision<Vec<ScramAlterResult>>, ControllerError> {
        if image.feature_level(METADATA_VERSION) < SCRAM_METADATA_VERSION {
            return Err(ControllerError::UnsupportedVersion(format!(
                "SCRAM credentials need metadata.version level {SCRAM_METADATA_VERSION} (4.1-IV0) or later"
            )));
        }
        // user -> first refusal; users in order of first appearance.
        let mut refused: BTreeMap<&str, (i16, String)> = BTreeMap::new();
        let mut users: Vec<&str> = Vec::new();
        let mut seen: Vec<(&str, i8)> = Vec::new();
        let alterations = deletions
            .iter()
            .map(|(name, mechanism)| (name.as_str(), *mechanism, None))
            .chain(
                upsertions
                    .iter()
                    .map(|u| (u.name.as_str(), u.mechanism, Some(u))),
            );
        for (name, mechanism, upsertion) in alterations {
            if !users.contains(&name) {
                users.push(name);
            }
            let refusal = if seen.contains(&(name, mechanism)) {
                Some((
                    DUPLICATE_RESOURCE,
                    "A user credential cannot be altered twice in the same request".to_string(),
                ))
            } else {
                seen.push((name, mechanism));
                check_alteration(image, name, mechanism, upsertion)
            };
            if let Some(r) = refusal {
                refused.entry(name).or_insert(r);
            }
        }
        let mut records = Vec::new();
        for (name, mechanism) in deletions {
            if !refused.contains_key(name.as_str()) {
                records.push(MetadataRecord::RemoveUserScramCredential {
                    name: name.clone(),
                    mechanism: *mechanism,
                });
            }
        }
        for u in upsertions {
            if !refused.contains_key(u.name.as_str()) {
                records.push(MetadataRecord::UserScramCredential(u.clone()));
            }
        }
        let reply = users
            .into_iter()
            .map(|user| {
                let (error_code, message) = match refused.remove(user) {
                    Some((code, message)) => (code, Some(message)),
                    None => (0, None),
                };
                ScramAlterResult {
                    user: user.to_string(),
                    error_code,
                    message,
                }
            })
            .collect();
        Ok(Decision { records, reply })
    }
}

/// Why one alteration is refused, as Kafka's `ScramControlManager` words it.
fn check_alteration(
    image: &MetadataImage,
    name: &str,
    mechanism: i8,
    upsertion: Option<&UserScramCredential>,
) -> Option<(i16, String)> {
    if name.is_empty() {
        return Some((UNACCEPTABLE_CREDENTIAL, "Username must not be empty".into()));
    }
    if !SCRAM_MECHANISMS.contains(&mechanism) {
        return Some((UNSUPPORTED_SASL_MECHANISM, "Unknown SCRAM mechanism".into()));
    }
    match upsertion {
        None => {
            let exists = image
                .scram_credentials
                .get(name)
                .is_some_and(|m| m.contains_key(&mechanism));
            (!exists).then(|| {
                (
                    RESOURCE_NOT_FOUND,
                    "Attempt to delete a user credential that does not exist".into(),
                )
            })
        }
        Some(u) if u.iterations < MIN_SCRAM_ITERATIONS => Some((
            UNACCEPTABLE_CREDENTIAL,
            format!("Too few iterations: minimum is {MIN_SCRAM_ITERATIONS}"),
        )),
        Some(u) if u.iterations > MAX_SCRAM_ITERATIONS => Some((
            UNACCEPTABLE_CREDENTIAL,
            format!("Too many iterations: maximum is {MAX_SCRAM_ITERATIONS}"),
        )),
        Some(u) if u.salt.is_empty() || u.stored_key.is_empty() || u.server_key.is_empty() => {
            Some((
                UNACCEPTABLE_CREDENTIAL,
                "Credential must have a salt and a salted password".into(),
            ))
        }
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(level: u16) -> MetadataImage {
        let mut image = MetadataImage::default();
        image.apply(&MetadataRecord::FeatureLevel {
            name: METADATA_VERSION.into(),
            level,
        });
        image
    }

    fn cred(name: &str, mechanism: i8, iterations: i32) -> UserScramCredential {
        UserScramCredential {
            name: name.into(),
            mechanism,
            salt: vec![1; 16],
            stored_key: vec![2; 32],
            server_key: vec![3; 32],
            iterations,
        }
    }

    fn controller() -> Controller {
        Controller::new(Default::default())
    }

    #[test]
    fn refused_below_the_level_0_2_0_cannot_read() {
        let err = controller()
            .alter_user_scram_credentials(&image(25), &[], &[cred("alice", 2, 8192)])
            .unwrap_err();
        assert_eq!(err.error_code(), 35);
    }

    #[test]
    fn upsert_then_delete_reaches_the_image() {
        let c = controller();
        let mut img = image(26);
        let d = c
            .alter_user_scram_credentials(&img, &[], &[cred("alice", 2, 8192)])
            .unwrap();
        assert_eq!(d.reply[0].error_code, 0);
        d.records.iter().for_each(|r| img.apply(r));
        assert_eq!(img.scram_credentials["alice"][&2].iterations, 8192);
        let d = c
            .alter_user_scram_credentials(&img, &[("alice".into(), 2)], &[])
            .unwrap();
        d.records.iter().for_each(|r| img.apply(r));
        assert!(img.scram_credentials.is_empty());
    }

    #[test]
    fn a_refused_alteration_drops_all_of_that_users_alterations() {
        let d = controller()
            .alter_user_scram_credentials(
                &image(26),
                &[("bob".into(), 1)],
                &[
                    cred("bob", 2, 8192),
                    cred("carol", 1, 100),
                    cred("dave", 2, 4096),
                    cred("dave", 2, 4096),
                    cred("erin", 3, 4096),
                    cred("", 1, 4096),
                ],
            )
            .unwrap();
        let codes: Vec<(&str, i16)> = d
            .reply
            .iter()
            .map(|r| (r.user.as_str(), r.error_code))
            .collect();
        assert_eq!(
            codes,
            [
                ("bob", RESOURCE_NOT_FOUND),
                ("carol", UNACCEPTABLE_CREDENTIAL),
                ("dave", DUPLICATE_RESOURCE),
                ("erin", UNSUPPORTED_SASL_MECHANISM),
                ("", UNACCEPTABLE_CREDENTIAL),
            ]
        );
        assert!(d.records.is_empty());
    }
}
