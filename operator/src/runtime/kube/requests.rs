//! Requests on the objects the kube runtime owns: server-side apply under the
//! operator's field manager (forced), delete (already gone counts as done), and the
//! orphan sweep by the cluster's labels. Every failure names verb, kind and object.

use std::collections::BTreeSet;

use kube::Resource;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{KubeRuntime, KubeRuntimeError};
use crate::build::{self, FIELD_MANAGER};
use crate::runtime::AdminSource;
use crate::validate::ValidatedCluster;

/// A namespaced Kubernetes object kind the runtime creates, lists and deletes.
pub(super) trait Owned:
    Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
    + Clone
    + DeserializeOwned
    + std::fmt::Debug
{
}

impl<K> Owned for K where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug
{
}

impl<A: AdminSource> KubeRuntime<A> {
    pub(super) fn api<K>(&self, c: &ValidatedCluster) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        <K as Resource>::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &c.namespace)
    }

    pub(super) async fn ssa<K>(
        &self,
        c: &ValidatedCluster,
        kind: &'static str,
        obj: &K,
        name: &str,
    ) -> Result<(), KubeRuntimeError>
    where
        K: Owned + Serialize,
    {
        let pp = PatchParams::apply(FIELD_MANAGER).force();
        self.api::<K>(c)
            .patch(name, &pp, &Patch::Apply(obj))
            .await
            .map(|_| ())
            .map_err(|source| api_err("apply", kind, name, source))
    }

    pub(super) async fn delete<K>(
        &self,
        c: &ValidatedCluster,
        kind: &'static str,
        name: &str,
    ) -> Result<(), KubeRuntimeError>
    where
        K: Owned,
    {
        match self
            .api::<K>(c)
            .delete(name, &DeleteParams::default())
            .await
        {
            Ok(_) => Ok(()),
            // Already gone is the goal state.
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(source) => Err(api_err("delete", kind, name, source)),
        }
    }

    /// Deletes objects of kind `K` carrying the cluster's labels whose names are not in
    /// `keep`.
    pub(super) async fn delete_orphans<K>(
        &self,
        c: &ValidatedCluster,
        kind: &'static str,
        keep: &BTreeSet<String>,
    ) -> Result<(), KubeRuntimeError>
    where
        K: Owned,
    {
        let lp = ListParams::default().labels(&build::selector_string(c));
        let list = self
            .api::<K>(c)
            .list(&lp)
            .await
            .map_err(|source| api_err("list", kind, "", source))?;
        for obj in list.items {
            let name = obj.meta().name.clone().unwrap_or_default();
            if !keep.contains(&name) {
                self.delete::<K>(c, kind, &name).await?;
            }
        }
        Ok(())
    }
}

pub(super) fn api_err(
    verb: &'static str,
    kind: &'static str,
    name: &str,
    source: kube::Error,
) -> KubeRuntimeError {
    KubeRuntimeError::Api {
        verb,
        kind,
        name: name.to_owned(),
        source,
    }
}
