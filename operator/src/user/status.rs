//! The status of a `KafkaUser`: one `Ready` condition (True, or False with the reason
//! from [`super::NotReady`]), the Kafka user name and the Secret, as Strimzi reports
//! them. Pure; both runtimes publish it.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::NotReady;
use crate::crd::KafkaUserStatus;
use crate::status::conditions::{self, Desired, READY};

/// The status after a reconcile that ended in `outcome` (`Ok(username)` when ready).
pub fn status(
    previous: Option<&KafkaUserStatus>,
    generation: Option<i64>,
    name: &str,
    outcome: &Result<String, NotReady>,
    now: &Time,
) -> KafkaUserStatus {
    let desired = match outcome {
        Ok(_) => Desired::new(READY, true, "Ready", "credentials and ACLs are in place"),
        Err(e) => Desired::new(READY, false, e.reason, e.message.clone()),
    };
    let old = previous
        .map(|p| p.conditions.as_slice())
        .unwrap_or_default();
    KafkaUserStatus {
        observed_generation: generation,
        conditions: conditions::merge(old, &[desired], generation, now),
        username: outcome
            .as_ref()
            .ok()
            .cloned()
            .or_else(|| previous.and_then(|p| p.username.clone())),
        secret: match outcome {
            Ok(_) => Some(name.to_owned()),
            Err(_) => previous.and_then(|p| p.secret.clone()),
        },
    }
}
