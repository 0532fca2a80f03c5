//! The runtime boundary: what the reconciler observes of a running cluster and how a
//! plan is executed. Two implementations: [`kube`] (Pods, PVCs, ConfigMaps, Services on
//! an API server) and [`local`] (broker child processes on this machine). Runtimes own
//! IO only; deciding what to do is [`crate::plan`]'s job, and the order of one
//! reconcile step (observe -> plan -> rebalance -> apply -> status) is
//! [`crate::reconcile`]'s, written once for both.

pub mod kube;
pub mod local;

use std::collections::BTreeMap;

use crate::build::pvc::ClaimConflict;
use crate::identity::AdminAccess;
use crate::observed::{AdminError, AdminSnapshot, Observed};
use crate::plan::Plan;
use crate::validate::ValidatedCluster;

/// Reads a cluster's Kafka-protocol view.
pub trait AdminSource: Send + Sync {
    /// Reads metadata through `bootstrap` (`host:port` list), reached as `access` says.
    fn snapshot(
        &self,
        bootstrap: &[String],
        access: &AdminAccess,
    ) -> impl Future<Output = Result<AdminSnapshot, AdminError>> + Send;

    /// Runs a Kafka admin operation a plan asks for (preferred-leader election, the
    /// `metadata.version` finalize) through `bootstrap`.
    fn execute(
        &self,
        bootstrap: &[String],
        access: &AdminAccess,
        op: &crate::plan::AdminOp,
    ) -> impl Future<Output = Result<(), AdminError>> + Send {
        let _ = (bootstrap, access, op);
        async { Err(AdminError::Unsupported) }
    }
}

/// Executes plans for one kind of infrastructure.
pub trait Runtime {
    /// Runtime failures (API errors, process spawn failures).
    type Error: std::error::Error + Send + Sync + 'static;
    /// Observes the nodes of `cluster`.
    fn observe(
        &mut self,
        cluster: &ValidatedCluster,
    ) -> impl Future<Output = Result<Observed, Self::Error>>;
    /// Revision each desired node should run, by node id.
    fn desired_revisions(&self, cluster: &ValidatedCluster) -> BTreeMap<i32, String>;
    /// Executes `plan`.
    fn apply(
        &mut self,
        cluster: &ValidatedCluster,
        plan: &Plan,
    ) -> impl Future<Output = Result<(), Self::Error>>;
    /// Client `bootstrap.servers` of `cluster`'s brokers: what the status shows and what
    /// the rebalance drive and UnregisterBroker go through.
    fn bootstrap_servers(&self, cluster: &ValidatedCluster) -> String;
    /// How the operator's admin client reaches `cluster` (as the last `observe` found
    /// it): plaintext, or mTLS with the operator's certificate.
    fn admin_access(&self, cluster: &ValidatedCluster) -> AdminAccess;
    /// Where clients reach each client listener (`status.listeners`).
    fn listeners(&self, cluster: &ValidatedCluster) -> Vec<crate::crd::ListenerStatus>;
    /// The cluster id `cluster`'s nodes are (or will be) formatted with.
    fn cluster_id(&mut self, cluster: &ValidatedCluster) -> Result<String, Self::Error>;
    /// `cluster` as the data found by the last `observe` says it is (e.g. the cluster
    /// id of retained storage). Called between `observe` and planning.
    fn adopt(&mut self, cluster: ValidatedCluster) -> ValidatedCluster {
        cluster
    }
    /// `plan` without what this runtime cannot do now, saying why in `blocked`.
    fn hold_back(&self, plan: Plan) -> Plan {
        plan
    }
    /// `plan` as the last `apply` carried it out (what it refused did not happen).
    fn as_applied(&self, plan: Plan) -> Plan {
        plan
    }
    /// Retained storage the cluster cannot use, found by the last `adopt`.
    fn claim_conflicts(&self) -> &[ClaimConflict] {
        &[]
    }
}
