//! user: the kube-runtime Controller for `KafkaUser` (issue 14 item 7). Each reconcile
//! reads the user's `KafkaCluster` (label `tidewater.io/cluster`), checks a listener
//! offers the user's authentication, decides the credentials ([`crate::user::secret`]),
//! makes the cluster hold them and exactly the user's ACLs through the admin API
//! ([`UserAdmin`]), then writes the Secret (named as the user, owned by it) and the
//! status. Kafka first, Secret second: a Secret's password is always one the cluster
//! took, so a failed upsert is retried with a new password, never left behind.
//!
//! The finalizer removes the SCRAM credential and every ACL of the principal when the
//! user is deleted; the Secret goes with its owner (garbage collection). Requests in a
//! fixed order: GET cluster, GET Secret (GET password Secret or clients CA Secret),
//! apply Secret when it changes, PATCH status. The watch is guarded as the cluster's.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::finalizer::{Event as Finalizer, finalizer};
use kube::{Resource, ResourceExt};
use tracing::Instrument;

use super::{Context, FINALIZER, ReconcileError, now};
use crate::build::secrets::{self, Ca, text};
use crate::build::{self, FIELD_MANAGER, MANAGED_BY};
use crate::crd::{CLUSTER_LABEL, KafkaCluster, KafkaUser, KafkaUserStatus, UserAuthenticationType};
use crate::pki::{CaPem, Validity};
use crate::user::admin::{DesiredUser, UserAdmin, admin_failed};
use crate::user::secret::{self as user_secret, Credentials};
use crate::user::{self, NotReady, ValidatedUser};
use crate::validate::{ValidatedCluster, validate};

/// Requeue of a ready user: notices a deleted Secret and renews its certificate in time.
const READY_REQUEUE: Duration = Duration::from_secs(300);
/// Requeue of a user that is not ready (its cluster may come up).
const NOT_READY_REQUEUE: Duration = Duration::from_secs(30);

/// The watched resource.
pub fn user_resource() -> ApiResource {
    ApiResource::erase::<KafkaUser>(&())
}

/// Reconciles one KafkaUser (as watched: untyped).
pub async fn reconcile_user<A: UserAdmin>(
    obj: Arc<DynamicObject>,
    ctx: Arc<Context<A>>,
) -> Result<Action, ReconcileError> {
    let _timer = ctx.metrics.reconcile_started();
    let ns = obj.namespace().ok_or(ReconcileError::NoNamespace)?;
    let typed = serde_json::to_value(&*obj).and_then(serde_json::from_value::<KafkaUser>);
    let u = match typed {
        Ok(u) => u,
        Err(e) => {
            let bad = NotReady::new(
                "InvalidSpec",
                format!("does not match the KafkaUser schema: {e}"),
            );
            let s = user::status::status(
                None,
                obj.metadata.generation,
                &obj.name_any(),
                &Err(bad),
                &now(),
            );
            let api: Api<DynamicObject> =
                Api::namespaced_with(ctx.client.clone(), &ns, &user_resource());
            api.patch_status(
                &obj.name_any(),
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(&status_body(&s)),
            )
            .await?;
            return Ok(Action::await_change());
        }
    };
    let api: Api<KafkaUser> = Api::namespaced(ctx.client.clone(), &ns);
    let span = tracing::info_span!("reconcile_user", user = %u.name_any(), namespace = %ns);
    finalizer(&api, FINALIZER, Arc::new(u), |event| async {
        match event {
            Finalizer::Apply(u) => apply(&u, &ns, &ctx).await,
            Finalizer::Cleanup(u) => cleanup(&u, &ns, &ctx).await,
        }
    })
    .instrument(span)
    .await
    .map_err(super::from_finalizer)
}

async fn apply<A: UserAdmin>(
    u: &KafkaUser,
    ns: &str,
    ctx: &Context<A>,
) -> Result<Action, ReconcileError> {
    let outcome = sync(u, ns, ctx).await?;
    let previous = u.status.as_ref();
    if let Err(e) = &outcome {
        let known = previous.is_some_and(|p| {
            p.conditions
                .iter()
                .any(|c| c.reason == e.reason && c.message == e.message)
        });
        if !known {
            publish(ctx, u, EventType::Warning, e.reason, &e.message).await;
        }
    }
    let s = user::status::status(
        previous,
        u.metadata.generation,
        &u.name_any(),
        &outcome,
        &now(),
    );
    let api: Api<KafkaUser> = Api::namespaced(ctx.client.clone(), ns);
    api.patch_status(
        &u.name_any(),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&status_body(&s)),
    )
    .await?;
    Ok(Action::requeue(if outcome.is_ok() {
        READY_REQUEUE
    } else {
        NOT_READY_REQUEUE
    }))
}

/// One pass: `Ok(Ok(username))` when ready, `Ok(Err(why not))`, or `Err` for a failed
/// API call (retried by the error policy).
async fn sync<A: UserAdmin>(
    u: &KafkaUser,
    ns: &str,
    ctx: &Context<A>,
) -> Result<Result<String, NotReady>, ReconcileError> {
    let v = match user::validate_user(u) {
        Ok(v) => v,
        Err(e) => return Ok(Err(e)),
    };
    let c = match cluster(&v, ns, ctx).await? {
        Ok(c) => c,
        Err(e) => return Ok(Err(e)),
    };
    if let Err(e) = user::check_cluster(&c, &v) {
        return Ok(Err(e));
    }
    let secrets_api: Api<Secret> = Api::namespaced(ctx.client.clone(), ns);
    let current = secrets_api.get_opt(&v.name).await?;
    if let Some(s) = &current
        && !owned_by(s, u)
    {
        return Ok(Err(NotReady::new(
            "SecretConflict",
            format!("Secret {} exists and is not this KafkaUser's", v.name),
        )));
    }
    let current_data = current.as_ref().map(data_text).unwrap_or_default();
    let creds = match credentials(&v, &c, &current_data, &secrets_api).await? {
        Ok(creds) => creds,
        Err(e) => return Ok(Err(e)),
    };
    let previous = u.status.as_ref().and_then(|s| s.username.clone());
    let desired = DesiredUser::of(&v, &creds, previous);
    let Some(access) = ctx.identities.access(&c) else {
        return Ok(Err(operator_certificate_pending(&c)));
    };
    let synced = match ctx
        .admin
        .sync_user(&build::bootstrap_servers(&c), &access, &desired)
        .await
    {
        Ok(s) => s,
        Err(e) => return Ok(Err(admin_failed(&e))),
    };
    if creds.changed {
        let secret = user_secret_object(u, &v, &creds);
        let pp = PatchParams::apply(FIELD_MANAGER).force();
        secrets_api
            .patch(&v.name, &pp, &Patch::Apply(&secret))
            .await?;
    }
    if let Some(note) = synced.note(creds.changed) {
        publish(ctx, u, EventType::Normal, "UserUpdated", &note).await;
    }
    Ok(Ok(v.username()))
}

/// The user's cluster, validated.
async fn cluster<A>(
    v: &ValidatedUser,
    ns: &str,
    ctx: &Context<A>,
) -> Result<Result<ValidatedCluster, NotReady>, ReconcileError> {
    let api: Api<KafkaCluster> = Api::namespaced(ctx.client.clone(), ns);
    let Some(k) = api.get_opt(&v.cluster).await? else {
        return Ok(Err(NotReady::new(
            "ClusterNotFound",
            format!("KafkaCluster {} not found in namespace {ns}", v.cluster),
        )));
    };
    Ok(validate(&k).map_err(|e| NotReady::new("ClusterInvalid", e.to_string())))
}

/// What the Secret must hold: the SCRAM password (the user's own from its Secret, the
/// current one, or a new one), or the certificate from the clients CA's Secret.
async fn credentials(
    v: &ValidatedUser,
    c: &ValidatedCluster,
    current: &BTreeMap<String, String>,
    secrets_api: &Api<Secret>,
) -> Result<Result<Credentials, NotReady>, ReconcileError> {
    match v.authentication {
        UserAuthenticationType::ScramSha512 => {
            let provided = match &v.password_ref {
                None => None,
                Some(r) => {
                    let s = secrets_api.get_opt(&r.name).await?;
                    match s.as_ref().and_then(|s| text(s, &r.key)) {
                        Some(p) => Some(p),
                        None => {
                            return Ok(Err(NotReady::new(
                                "PasswordSecretNotFound",
                                format!("Secret {} has no key {}", r.name, r.key),
                            )));
                        }
                    }
                }
            };
            Ok(user_secret::scram(
                &v.username(),
                current,
                provided.as_deref(),
            ))
        }
        UserAuthenticationType::Tls => {
            let name = if c.clients_ca.generate_certificate_authority {
                secrets::ca_secret_name(c, Ca::Clients)
            } else {
                c.clients_ca.secret_name.clone().unwrap_or_default()
            };
            let s = secrets_api.get_opt(&name).await?;
            let ca = s.as_ref().and_then(|s| {
                Some(CaPem {
                    cert: text(s, secrets::CA_CERT)?,
                    key: text(s, secrets::CA_KEY)?,
                })
            });
            let Some(ca) = ca else {
                return Ok(Err(NotReady::new(
                    "ClientsCaNotReady",
                    format!("Secret {name} with the clients CA (ca.crt, ca.key) is not there yet"),
                )));
            };
            let now = Timestamp::now().as_second();
            Ok(user_secret::tls(
                &v.name,
                current,
                &ca,
                Validity::from(&c.clients_ca),
                now,
            ))
        }
    }
}

async fn cleanup<A: UserAdmin>(
    u: &KafkaUser,
    ns: &str,
    ctx: &Context<A>,
) -> Result<Action, ReconcileError> {
    let name = u.name_any();
    let kind = u.spec.authentication.kind;
    let Some(cluster) = u.labels().get(CLUSTER_LABEL).cloned() else {
        return Ok(Action::await_change());
    };
    let api: Api<KafkaCluster> = Api::namespaced(ctx.client.clone(), ns);
    // A cluster that is gone (or cannot run) holds nothing of the user any more.
    let Some(Ok(c)) = api.get_opt(&cluster).await?.map(|k| validate(&k)) else {
        return Ok(Action::await_change());
    };
    let username = user::username(&name, kind);
    let access = ctx
        .identities
        .access(&c)
        .ok_or_else(|| ReconcileError::Admin(operator_certificate_pending(&c).message))?;
    ctx.admin
        .remove_user(
            &build::bootstrap_servers(&c),
            &access,
            &username,
            &format!("User:{username}"),
            kind == UserAuthenticationType::ScramSha512,
        )
        .await
        .map_err(|e| ReconcileError::Admin(e.to_string()))?;
    publish(
        ctx,
        u,
        EventType::Normal,
        "UserDeleted",
        &format!("credential and ACLs of User:{username} removed"),
    )
    .await;
    Ok(Action::await_change())
}

fn owned_by(s: &Secret, u: &KafkaUser) -> bool {
    let uid = u.uid();
    s.metadata
        .owner_references
        .as_ref()
        .is_some_and(|refs| refs.iter().any(|r| Some(&r.uid) == uid.as_ref()))
}

fn data_text(s: &Secret) -> BTreeMap<String, String> {
    s.data
        .iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.clone(), String::from_utf8(v.0.clone()).ok()?)))
        .collect()
}

/// The user's Secret: named as the user, owned by it (collected with it).
fn user_secret_object(u: &KafkaUser, v: &ValidatedUser, creds: &Credentials) -> Secret {
    let labels = BTreeMap::from([
        (CLUSTER_LABEL.to_owned(), v.cluster.clone()),
        (
            "app.kubernetes.io/managed-by".to_owned(),
            MANAGED_BY.to_owned(),
        ),
    ]);
    Secret {
        metadata: ObjectMeta {
            name: Some(v.name.clone()),
            namespace: u.namespace(),
            labels: Some(labels),
            owner_references: u.uid().map(|uid| {
                vec![OwnerReference {
                    api_version: KafkaUser::api_version(&()).into_owned(),
                    kind: KafkaUser::kind(&()).into_owned(),
                    name: v.name.clone(),
                    uid,
                    controller: Some(true),
                    block_owner_deletion: Some(true),
                }]
            }),
            ..ObjectMeta::default()
        },
        type_: Some("Opaque".to_owned()),
        data: Some(
            creds
                .data
                .iter()
                .map(|(k, v)| (k.clone(), ByteString(v.as_bytes().to_vec())))
                .collect(),
        ),
        ..Secret::default()
    }
}

fn status_body(s: &KafkaUserStatus) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": KafkaUser::api_version(&()),
        "kind": KafkaUser::kind(&()),
        "status": s,
    })
}

/// Events are best effort, as the cluster's.
async fn publish<A>(ctx: &Context<A>, u: &KafkaUser, type_: EventType, reason: &str, note: &str) {
    super::publish_about(ctx, &u.object_ref(&()), type_, reason, note).await;
}

/// A secured cluster the cluster controller has not issued the operator's certificate
/// for yet (the operator just started): its next reconcile does, then this user's.
fn operator_certificate_pending(c: &crate::validate::ValidatedCluster) -> NotReady {
    NotReady::new(
        "AdminFailed",
        format!(
            "the operator has no client certificate of cluster {} yet: its next reconcile issues one",
            c.name
        ),
    )
}
