//! `local user apply -f user.yaml` and `local user delete NAME`: the `KafkaUser`
//! reconcile of the local runtime ("the same from a file"), run once per command
//! against the cluster `local up` runs in the state dir. The Secret is a directory,
//! `<state-dir>/users/<name>/`, one file per Secret key (`password`,
//! `sasl.jaas.config`, or `user.crt`, `user.key`, `ca.crt`), next to the applied
//! `kafkauser.yaml` and the user's `status.yaml`.
//!
//! As on Kubernetes: Kafka first, files second (a password on disk is one the cluster
//! took); a TLS certificate is renewed inside the clients CA's renewal window by
//! `local up`'s tick ([`renew_certificates`]) or the next `local user apply`.
//! Decisions are [`crate::user`]'s.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::certs::{pki_dir, read_opt, write_if_changed};
use super::cmd::CmdError;
use super::state::{StateDir, StateError, write_atomic};
use crate::admin::KafkaAdmin;
use crate::build::listeners::admin_listener;
use crate::crd::{KafkaUser, KafkaUserStatus, UserAuthenticationType};
use crate::pki::{CaPem, Validity};
use crate::render::parse_cluster;
use crate::user::admin::{DesiredUser, UserAdmin, admin_failed};
use crate::user::secret::{self, CA_CRT, PASSWORD, SASL_JAAS_CONFIG, USER_CRT, USER_KEY};
use crate::user::{self, NotReady, ValidatedUser};
use crate::validate::{ValidatedCluster, validate};

/// Every key a user's Secret may hold (files of other keys are left alone).
const KEYS: [&str; 5] = [PASSWORD, SASL_JAAS_CONFIG, USER_CRT, USER_KEY, CA_CRT];
/// The applied resource, read back by `delete`.
const APPLIED: &str = "kafkauser.yaml";
const STATUS: &str = "status.yaml";

/// `<state-dir>/users/<name>`.
pub fn user_dir(state: &StateDir, name: &str) -> PathBuf {
    state.root().join("users").join(name)
}

fn state_err(e: StateError) -> CmdError {
    CmdError::State(e)
}

/// `local user apply`: makes the running cluster hold the user's credential and ACLs,
/// writes its Secret files, and prints where they are.
pub async fn apply(file: &Path, state_dir: &Path) -> Result<PathBuf, CmdError> {
    let text = std::fs::read_to_string(file).map_err(|source| CmdError::Read {
        path: file.to_path_buf(),
        source,
    })?;
    let u: KafkaUser = serde_yaml::from_str(&text)
        .map_err(|e| CmdError::User(format!("{}: not a KafkaUser: {e}", file.display())))?;
    let state = StateDir::open(state_dir)?;
    let name = u.metadata.name.clone().unwrap_or_default();
    let dir = user_dir(&state, &name);
    let previous: Option<KafkaUserStatus> = read_opt(&dir.join(STATUS))
        .map_err(state_err)?
        .and_then(|t| serde_yaml::from_str(&t).ok());
    let previous_username = previous.as_ref().and_then(|s| s.username.clone());
    let outcome = reconcile(&state, &u, &dir, previous_username).await?;
    let now =
        k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(k8s_openapi::jiff::Timestamp::now());
    let s = user::status::status(
        previous.as_ref(),
        u.metadata.generation,
        &name,
        &outcome,
        &now,
    );
    if outcome.is_ok() || dir.exists() {
        std::fs::create_dir_all(&dir).map_err(|source| CmdError::Read {
            path: dir.clone(),
            source,
        })?;
        let yaml = serde_yaml::to_string(&s).map_err(|e| CmdError::Encode(e.to_string()))?;
        write_atomic(&dir.join(STATUS), yaml.as_bytes())?;
    }
    match outcome {
        Ok(username) => {
            write_atomic(&dir.join(APPLIED), text.as_bytes())?;
            println!(
                "kafkauser.tidewater.io/{name} configured: principal User:{username}, credentials in {}",
                dir.display()
            );
            Ok(dir)
        }
        Err(e) => Err(CmdError::User(format!(
            "kafkauser.tidewater.io/{name} not ready: {e}"
        ))),
    }
}

/// The reconcile of one user: `Ok(Ok(username))` when ready.
async fn reconcile(
    state: &StateDir,
    u: &KafkaUser,
    dir: &Path,
    previous_username: Option<String>,
) -> Result<Result<String, NotReady>, CmdError> {
    let v = match user::validate_user(u) {
        Ok(v) => v,
        Err(e) => return Ok(Err(e)),
    };
    let c = match running_cluster(state, &v.cluster)? {
        Ok(c) => c,
        Err(e) => return Ok(Err(e)),
    };
    if let Err(e) = user::check_cluster(&c, &v) {
        return Ok(Err(e));
    }
    let mut current = BTreeMap::new();
    for key in KEYS {
        if let Some(t) = read_opt(&dir.join(key)).map_err(state_err)? {
            current.insert(key.to_owned(), t);
        }
    }
    let creds = match credentials(state, &c, &v, &current)? {
        Ok(c) => c,
        Err(e) => return Ok(Err(e)),
    };
    let bootstrap = state.load()?.listener_bootstrap(&c, admin_listener(&c));
    let desired = DesiredUser::of(&v, &creds, previous_username);
    let access = super::certs::operator_access(state, &c)
        .map_err(|e| CmdError::Local(super::LocalError::from(e)))?;
    let synced = match KafkaAdmin::default()
        .sync_user(&bootstrap, &access, &desired)
        .await
    {
        Ok(s) => s,
        Err(e) => return Ok(Err(admin_failed(&e))),
    };
    if creds.changed {
        std::fs::create_dir_all(dir).map_err(|source| CmdError::Read {
            path: dir.to_path_buf(),
            source,
        })?;
        for (key, value) in &creds.data {
            write_if_changed(&dir.join(key), value, key != CA_CRT && key != USER_CRT)
                .map_err(state_err)?;
        }
        // Keys of the other authentication type (the user changed it) go.
        for key in KEYS.iter().filter(|k| !creds.data.contains_key(**k)) {
            let _ = std::fs::remove_file(dir.join(key));
        }
    }
    if let Some(note) = synced.note(creds.changed) {
        state.event("Normal", "UserUpdated", &format!("user {}: {note}", v.name))?;
    }
    Ok(Ok(v.username()))
}

/// The cluster `local up` runs here, if it is `name`.
fn running_cluster(
    state: &StateDir,
    name: &str,
) -> Result<Result<ValidatedCluster, NotReady>, CmdError> {
    let not_found = || {
        NotReady::new(
            "ClusterNotFound",
            format!("the state dir runs no KafkaCluster {name}"),
        )
    };
    let Some(text) = read_opt(&state.cluster_file()).map_err(state_err)? else {
        return Ok(Err(not_found()));
    };
    let k = parse_cluster(&text)?;
    if k.metadata.name.as_deref() != Some(name) {
        return Ok(Err(not_found()));
    }
    Ok(validate(&k).map_err(|e| NotReady::new("ClusterInvalid", e.to_string())))
}

/// The user's credentials from the files (the user's own password from
/// `<state-dir>/secrets/<name>/<key>`, the clients CA from the cluster's pki dir or
/// the user's CA Secret dir).
fn credentials(
    state: &StateDir,
    c: &ValidatedCluster,
    v: &ValidatedUser,
    current: &BTreeMap<String, String>,
) -> Result<Result<secret::Credentials, NotReady>, CmdError> {
    let secrets = state.root().join("secrets");
    match v.authentication {
        UserAuthenticationType::ScramSha512 => {
            let provided = match &v.password_ref {
                None => None,
                Some(r) => {
                    match read_opt(&secrets.join(&r.name).join(&r.key)).map_err(state_err)? {
                        Some(p) => Some(p.trim_end_matches('\n').to_owned()),
                        None => {
                            return Ok(Err(NotReady::new(
                                "PasswordSecretNotFound",
                                format!("no file {}/{}/{}", secrets.display(), r.name, r.key),
                            )));
                        }
                    }
                }
            };
            Ok(secret::scram(&v.username(), current, provided.as_deref()))
        }
        UserAuthenticationType::Tls => {
            let Some(ca) = clients_ca(state, c).map_err(state_err)? else {
                return Ok(Err(NotReady::new(
                    "ClientsCaNotReady",
                    format!("no clients CA of {} in {}", c.name, state.root().display()),
                )));
            };
            let now = k8s_openapi::jiff::Timestamp::now().as_second();
            Ok(secret::tls(
                &v.name,
                current,
                &ca,
                Validity::from(&c.clients_ca),
                now,
            ))
        }
    }
}

/// The clients CA of `c`: the generated one in the cluster's pki dir, or the user's
/// from `<state-dir>/secrets/<secretName>/`; `None` before it exists.
fn clients_ca(state: &StateDir, c: &ValidatedCluster) -> Result<Option<CaPem>, StateError> {
    let (cert, key) = if c.clients_ca.generate_certificate_authority {
        let dir = pki_dir(state, &c.name);
        (dir.join("clients-ca.crt"), dir.join("clients-ca.key"))
    } else {
        let dir = state
            .root()
            .join("secrets")
            .join(c.clients_ca.secret_name.as_deref().unwrap_or_default());
        (dir.join("ca.crt"), dir.join("ca.key"))
    };
    Ok(match (read_opt(&cert)?, read_opt(&key)?) {
        (Some(cert), Some(key)) => Some(CaPem { cert, key }),
        _ => None,
    })
}

/// Renews the certificates of `c`'s tls users that are due at `now`, as `local user
/// apply` would (no Kafka call: a certificate user has no credential in the cluster).
/// `local up` runs it on every tick after the CAs, as the brokers' certificates; a
/// user that was never applied successfully (no `user.crt`) is left alone. Returns
/// the users renewed.
pub fn renew_certificates(
    state: &StateDir,
    c: &ValidatedCluster,
    now: i64,
) -> Result<Vec<String>, StateError> {
    let Ok(entries) = std::fs::read_dir(state.root().join("users")) else {
        return Ok(Vec::new());
    };
    let mut renewed = Vec::new();
    for dir in entries.flatten().map(|e| e.path()) {
        let Some(u) =
            read_opt(&dir.join(APPLIED))?.and_then(|t| serde_yaml::from_str::<KafkaUser>(&t).ok())
        else {
            continue;
        };
        let Ok(v) = user::validate_user(&u) else {
            continue;
        };
        if v.authentication != UserAuthenticationType::Tls || v.cluster != c.name {
            continue;
        }
        let mut current = BTreeMap::new();
        for key in [USER_CRT, USER_KEY, CA_CRT] {
            if let Some(t) = read_opt(&dir.join(key))? {
                current.insert(key.to_owned(), t);
            }
        }
        let Some(ca) = clients_ca(state, c)? else {
            return Ok(renewed);
        };
        if !current.contains_key(USER_CRT) {
            continue;
        }
        match secret::tls(&v.name, &current, &ca, Validity::from(&c.clients_ca), now) {
            Ok(creds) if creds.changed => {
                for (key, value) in &creds.data {
                    write_if_changed(&dir.join(key), value, key == USER_KEY)?;
                }
                renewed.push(v.name);
            }
            Ok(_) => {}
            // One user's bad file must not stop the cluster's tick.
            Err(e) => {
                tracing::warn!(user = %v.name, error = %e, "renewing a user certificate failed")
            }
        }
    }
    Ok(renewed)
}

/// `local user delete`: removes the user's SCRAM credential and ACLs from the running
/// cluster, then its files.
pub async fn delete(name: &str, state_dir: &Path) -> Result<(), CmdError> {
    let state = StateDir::open(state_dir)?;
    let dir = user_dir(&state, name);
    let Some(text) = read_opt(&dir.join(APPLIED)).map_err(state_err)? else {
        return Err(CmdError::User(format!(
            "no KafkaUser {name} in {}",
            state_dir.display()
        )));
    };
    let u: KafkaUser = serde_yaml::from_str(&text).map_err(|e| CmdError::User(e.to_string()))?;
    let kind = u.spec.authentication.kind;
    let cluster = u
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(crate::crd::CLUSTER_LABEL))
        .cloned()
        .unwrap_or_default();
    // A cluster that no longer runs here holds nothing of the user any more.
    if let Ok(c) = running_cluster(&state, &cluster)? {
        let bootstrap = state.load()?.listener_bootstrap(&c, admin_listener(&c));
        let username = user::username(name, kind);
        let access = super::certs::operator_access(&state, &c)
            .map_err(|e| CmdError::Local(super::LocalError::from(e)))?;
        KafkaAdmin::default()
            .remove_user(
                &bootstrap,
                &access,
                &username,
                &format!("User:{username}"),
                kind == UserAuthenticationType::ScramSha512,
            )
            .await
            .map_err(|e| CmdError::User(format!("removing User:{username}: {e}")))?;
    }
    std::fs::remove_dir_all(&dir).map_err(|source| CmdError::Read {
        path: dir.clone(),
        source,
    })?;
    state.event(
        "Normal",
        "UserDeleted",
        &format!("user {name}: credential and ACLs removed"),
    )?;
    println!("kafkauser.tidewater.io/{name} deleted");
    Ok(())
}

#[cfg(test)]
#[path = "user_tests.rs"]
mod tests;
