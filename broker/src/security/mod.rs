//! Listener security: the TLS server config of SSL listeners, SASL mechanisms of
//! SASL listeners, the principal a connection authenticates as, and what that
//! principal may do (ACLs).
//!
//! Owns turning Kafka's `ssl.*` keys into rustls configs and certificates into
//! principals; the server owns sockets and handshakes.

pub mod acl;
pub mod client;
mod client_cert;
pub mod controller_listener;
pub mod principal;
pub mod sasl;
pub mod tls;
pub mod tls_reload;
