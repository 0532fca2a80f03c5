//! ACL authorization with Kafka's `StandardAuthorizer` semantics: the vocabulary
//! ([`binding`]) and the decisions ([`authorizer`]).
//!
//! Sans-IO: ACLs come in from the replicated metadata, questions from the request
//! handlers; nothing here reads config, sockets or the log. Whether authorization
//! is on at all is `config::AuthorizerSettings`.

pub mod authorizer;
pub mod binding;

pub use authorizer::{Authorizer, Caller};
pub use binding::{
    AccessControlEntry, AclBinding, AclBindingFilter, AclOperation, PatternType, PermissionType,
    ResourcePattern, ResourceType,
};

#[cfg(test)]
mod tests;
