//! lease: leader election on a coordination.k8s.io/v1 Lease, so only one operator
//! replica reconciles. The decision (may I take or keep the lease?) is pure; the IO
//! shell reads and writes the Lease with optimistic concurrency (resourceVersion), so
//! two candidates racing for an expired lease cannot both win.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::Client;
use kube::api::{Api, PostParams};

/// What a candidate may do with the lease.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Write this spec (acquire or renew).
    Take(LeaseSpec),
    /// Someone else holds a live lease.
    Wait,
}

/// Decides whether `identity` may take (or renew) a lease whose current spec is `spec`.
pub fn decide(
    spec: Option<&LeaseSpec>,
    identity: &str,
    now: Timestamp,
    duration: Duration,
) -> Decision {
    let secs = i32::try_from(duration.as_secs()).unwrap_or(i32::MAX);
    let holder = spec.and_then(|s| s.holder_identity.as_deref());
    let mine = holder == Some(identity);
    let expired = spec
        .and_then(|s| {
            let renewed = s.renew_time.as_ref()?.0;
            let held_for =
                SignedDuration::from_secs(i64::from(s.lease_duration_seconds.unwrap_or(secs)));
            Some(renewed + held_for < now)
        })
        .unwrap_or(true);
    if holder.is_some() && !mine && !expired {
        return Decision::Wait;
    }
    let transitions = spec.and_then(|s| s.lease_transitions).unwrap_or(0);
    Decision::Take(LeaseSpec {
        holder_identity: Some(identity.to_owned()),
        lease_duration_seconds: Some(secs),
        acquire_time: if mine {
            spec.and_then(|s| s.acquire_time.clone())
        } else {
            Some(MicroTime(now))
        },
        renew_time: Some(MicroTime(now)),
        lease_transitions: Some(if mine || holder.is_none() {
            transitions
        } else {
            transitions + 1
        }),
        ..LeaseSpec::default()
    })
}

/// A Lease held by one identity.
pub struct LeaseLock {
    api: Api<Lease>,
    name: String,
    identity: String,
    duration: Duration,
}

impl LeaseLock {
    /// A lock on Lease `name` in `namespace`.
    pub fn new(
        client: Client,
        namespace: &str,
        name: &str,
        identity: &str,
        duration: Duration,
    ) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            name: name.to_owned(),
            identity: identity.to_owned(),
            duration,
        }
    }

    /// Lease duration.
    pub fn duration(&self) -> Duration {
        self.duration
    }

    /// Tries to acquire or renew; `Ok(true)` while this identity holds the lease.
    pub async fn try_acquire_or_renew(&self) -> Result<bool, kube::Error> {
        let current = self.api.get_opt(&self.name).await?;
        let spec = current.as_ref().and_then(|l| l.spec.as_ref());
        let Decision::Take(new_spec) =
            decide(spec, &self.identity, Timestamp::now(), self.duration)
        else {
            return Ok(false);
        };
        let result = match current {
            None => {
                let lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(self.name.clone()),
                        ..ObjectMeta::default()
                    },
                    spec: Some(new_spec),
                };
                self.api.create(&PostParams::default(), &lease).await
            }
            Some(mut lease) => {
                // resourceVersion stays set: a concurrent writer makes this a 409.
                lease.spec = Some(new_spec);
                self.api
                    .replace(&self.name, &PostParams::default(), &lease)
                    .await
            }
        };
        match result {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: Duration = Duration::from_secs(15);

    fn t(secs: i64) -> Timestamp {
        Timestamp::from_second(secs).unwrap()
    }

    fn held(by: &str, renewed: i64) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(by.to_owned()),
            lease_duration_seconds: Some(15),
            renew_time: Some(MicroTime(t(renewed))),
            acquire_time: Some(MicroTime(t(renewed))),
            lease_transitions: Some(2),
            ..LeaseSpec::default()
        }
    }

    #[test]
    fn free_lease_is_taken() {
        let Decision::Take(s) = decide(None, "a", t(100), D) else {
            panic!("should take")
        };
        assert_eq!(s.holder_identity.as_deref(), Some("a"));
        assert_eq!(s.lease_transitions, Some(0));
    }

    #[test]
    fn live_lease_of_another_is_respected() {
        assert_eq!(
            decide(Some(&held("b", 100)), "a", t(110), D),
            Decision::Wait
        );
    }

    #[test]
    fn expired_lease_of_another_is_taken_with_a_transition() {
        let Decision::Take(s) = decide(Some(&held("b", 100)), "a", t(116), D) else {
            panic!()
        };
        assert_eq!(s.holder_identity.as_deref(), Some("a"));
        assert_eq!(s.lease_transitions, Some(3));
        assert_eq!(s.acquire_time, Some(MicroTime(t(116))));
    }

    #[test]
    fn own_lease_is_renewed_keeping_acquire_time() {
        let Decision::Take(s) = decide(Some(&held("a", 100)), "a", t(105), D) else {
            panic!()
        };
        assert_eq!(s.renew_time, Some(MicroTime(t(105))));
        assert_eq!(s.acquire_time, Some(MicroTime(t(100))));
        assert_eq!(s.lease_transitions, Some(2));
    }
}
