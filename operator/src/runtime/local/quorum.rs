//! What only the local runtime knows of a cluster's KRaft quorum: the voters its nodes
//! were started with (read back from their `server.properties`), and the controller
//! listener of a voter to add (its allocated port).

use std::collections::BTreeMap;

use super::LocalRuntime;
use crate::plan::AdminOp;
use crate::runtime::AdminSource;

impl<A: AdminSource> LocalRuntime<A> {
    /// The KRaft voters the existing nodes of `cluster` were started with (their
    /// `controller.quorum.voters`, id -> `host:port`): the quorum's initial voters,
    /// which every node keeps listing while KIP-853 changes the live voter set. `None`
    /// before any node was started.
    pub fn configured_voters(&self, cluster: &str) -> Option<BTreeMap<i32, String>> {
        self.persisted.ports.keys().find_map(|id| {
            let path = self.state.node_dir(cluster, *id).join("server.properties");
            crate::quorum::seed_from_properties(&std::fs::read_to_string(path).ok()?)
        })
    }

    /// `op` with what only this runtime knows filled in: the controller listener of a
    /// voter to add.
    pub(super) fn resolved(&self, op: &AdminOp) -> AdminOp {
        match op {
            AdminOp::AddRaftVoter { id, endpoint: None } => AdminOp::AddRaftVoter {
                id: *id,
                endpoint: self.persisted.ports.get(id).and_then(|p| {
                    Some(("127.0.0.1".to_owned(), u16::try_from(p.controller).ok()?))
                }),
            },
            other => other.clone(),
        }
    }
}
