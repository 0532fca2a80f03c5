//! DescribeUserScramCredentials (50) and AlterUserScramCredentials (51), KIP-554: the
//! SCRAM users of the replicated metadata. Describe reads this broker's image; Alter
//! derives each credential's StoredKey/ServerKey from the salted password the client
//! sent (never forwarded), lets the controller decide, and answers once this broker's
//! image holds the outcome, so the user can authenticate here right away — and on every
//! other broker once its image catches up.

use std::collections::BTreeSet;
use std::time::Duration;

use kafka_protocol::messages::alter_user_scram_credentials_response::AlterUserScramCredentialsResult;
use kafka_protocol::messages::describe_user_scram_credentials_response::{
    CredentialInfo, DescribeUserScramCredentialsResult,
};
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse,
    DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse,
};
use kafka_protocol::protocol::StrBytes;
use tidewater_quorum::controller::ScramAlterResult;
use tidewater_quorum::image::MetadataImage;
use tidewater_quorum::records::UserScramCredential;
use tidewater_quorum::rpc::{ControllerCall, ControllerReply};

use super::msg;
use crate::broker_server::Broker;
use crate::security::sasl::scram::ScramMechanism;

/// How long an alteration may take to reach this broker's image before we answer.
const PROPAGATION_TIMEOUT: Duration = Duration::from_secs(10);

const RESOURCE_NOT_FOUND: i16 = 91;
const DUPLICATE_RESOURCE: i16 = 92;
const UNKNOWN_SERVER_ERROR: i16 = -1;

pub fn describe(
    image: &MetadataImage,
    req: DescribeUserScramCredentialsRequest,
    _version: i16,
) -> DescribeUserScramCredentialsResponse {
    let infos = |user: &str| -> Vec<CredentialInfo> {
        image
            .scram_credentials
            .get(user)
            .into_iter()
            .flat_map(|m| m.values())
            .map(|c| {
                CredentialInfo::default()
                    .with_mechanism(c.mechanism)
                    .with_iterations(c.iterations)
            })
            .collect()
    };
    let result = |user: &str| {
        DescribeUserScramCredentialsResult::default().with_user(StrBytes::from_string(user.into()))
    };
    let results = match req.users.filter(|u| !u.is_empty()) {
        // Every user with a credential.
        None => image
            .scram_credentials
            .keys()
            .map(|u| result(u).with_credential_infos(infos(u)))
            .collect(),
        Some(users) => {
            let names: Vec<String> = users.iter().map(|u| u.name.to_string()).collect();
            let mut seen = BTreeSet::new();
            let duplicated: BTreeSet<&String> = names.iter().filter(|n| !seen.insert(*n)).collect();
            let mut answered = BTreeSet::new();
            names
                .iter()
                .filter(|n| answered.insert(*n))
                .map(|n| {
                    let found = infos(n);
                    if duplicated.contains(n) {
                        result(n).with_error_code(DUPLICATE_RESOURCE).with_error_message(msg(
                            "Cannot describe SCRAM credentials for the same user twice in a single request",
                        ))
                    } else if found.is_empty() {
                        result(n)
                            .with_error_code(RESOURCE_NOT_FOUND)
                            .with_error_message(msg(format!(
                                "Attempt to describe a user credential that does not exist: {n}"
                            )))
                    } else {
                        result(n).with_credential_infos(found)
                    }
                })
                .collect()
        }
    };
    DescribeUserScramCredentialsResponse::default().with_results(results)
}

pub async fn alter(
    broker: &Broker,
    req: AlterUserScramCredentialsRequest,
    _version: i16,
) -> AlterUserScramCredentialsResponse {
    let deletions: Vec<(String, i8)> = req
        .deletions
        .iter()
        .map(|d| (d.name.to_string(), d.mechanism))
        .collect();
    let upsertions: Vec<UserScramCredential> = req
        .upsertions
        .iter()
        .map(|u| match ScramMechanism::from_type(u.mechanism) {
            Some(m) => m.credential(&u.name, &u.salt, &u.salted_password, u.iterations),
            // The controller refuses it with UNSUPPORTED_SASL_MECHANISM.
            None => UserScramCredential {
                name: u.name.to_string(),
                mechanism: u.mechanism,
                salt: Vec::new(),
                stored_key: Vec::new(),
                server_key: Vec::new(),
                iterations: u.iterations,
            },
        })
        .collect();
    let users: Vec<String> = {
        let mut users: Vec<String> = Vec::new();
        for name in deletions
            .iter()
            .map(|d| &d.0)
            .chain(upsertions.iter().map(|u| &u.name))
        {
            if !users.contains(name) {
                users.push(name.clone());
            }
        }
        users
    };
    let cluster = broker.cluster();
    let call = ControllerCall::AlterUserScramCredentials {
        deletions: deletions.clone(),
        upsertions: upsertions.clone(),
    };
    let results: Vec<ScramAlterResult> = match cluster.call(call).await {
        Ok(ControllerReply::ScramResults(results)) => results,
        Ok(other) => every_user(
            &users,
            UNKNOWN_SERVER_ERROR,
            format!("unexpected controller reply {other:?}"),
        ),
        Err(f) => every_user(&users, f.error_code, f.message),
    };
    let done: BTreeSet<&str> = results
        .iter()
        .filter(|r| r.error_code == 0)
        .map(|r| r.user.as_str())
        .collect();
    if !done.is_empty() {
        cluster
            .wait_for_image(PROPAGATION_TIMEOUT, |image| {
                let has =
                    |name: &str, m: i8| image.scram_credentials.get(name).and_then(|c| c.get(&m));
                deletions
                    .iter()
                    .filter(|(n, _)| done.contains(n.as_str()))
                    .all(|(n, m)| has(n, *m).is_none())
                    && upsertions
                        .iter()
                        .filter(|u| done.contains(u.name.as_str()))
                        .all(|u| has(&u.name, u.mechanism) == Some(u))
            })
            .await;
    }
    let results = results
        .into_iter()
        .map(|r| {
            AlterUserScramCredentialsResult::default()
                .with_user(StrBytes::from_string(r.user))
                .with_error_code(r.error_code)
                .with_error_message(r.message.map(StrBytes::from_string))
        })
        .collect();
    AlterUserScramCredentialsResponse::default().with_results(results)
}

/// The answer to a request refused as a whole (CLUSTER_AUTHORIZATION_FAILED without
/// Alter on the cluster): `error_code` for each user it names, once, as Kafka answers.
pub fn denied(
    req: &AlterUserScramCredentialsRequest,
    error_code: i16,
) -> AlterUserScramCredentialsResponse {
    let mut users: Vec<&StrBytes> = Vec::new();
    for name in req
        .deletions
        .iter()
        .map(|d| &d.name)
        .chain(req.upsertions.iter().map(|u| &u.name))
    {
        if !users.contains(&name) {
            users.push(name);
        }
    }
    AlterUserScramCredentialsResponse::default().with_results(
        users
            .into_iter()
            .map(|user| {
                AlterUserScramCredentialsResult::default()
                    .with_user(user.clone())
                    .with_error_code(error_code)
            })
            .collect(),
    )
}

fn every_user(users: &[String], error_code: i16, message: String) -> Vec<ScramAlterResult> {
    users
        .iter()
        .map(|user| ScramAlterResult {
            user: user.clone(),
            error_code,
            message: Some(message.clone()),
        })
        .collect()
}
