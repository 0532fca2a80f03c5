//! An async Kafka protocol client: connections, version negotiation and the admin calls
//! the operator and the broker's inter-broker paths need.
