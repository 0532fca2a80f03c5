//! ACL authorization with Kafka's `StandardAuthorizer` semantics: the decisions
//! ([`authorizer`]) over the ACLs of the metadata image (`tidewater_quorum::acl`,
//! where Kafka's ACL vocabulary lives, shared with the controller).
//!
//! Sans-IO: ACLs come in with the image, questions from the request handlers;
//! nothing here reads config, sockets or the log. Whether authorization is on at all
//! is `config::AuthorizerSettings`.

pub mod authorizer;

pub use authorizer::{Authorizer, Caller};

#[cfg(test)]
mod tests;
