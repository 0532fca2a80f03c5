//! ACLs in the replicated metadata: Kafka's ACL vocabulary ([`binding`]) and the
//! image's index of the cluster's ACLs ([`index`]). Shared by the controller (which
//! validates CreateAcls and matches DeleteAcls filters) and the broker's authorizer.

pub mod binding;
pub mod index;

pub use binding::*;
pub use index::{AclIndex, TypeAcls};
