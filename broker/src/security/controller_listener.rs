//! The controller listener's security (`controller.listener.names`, first name, as
//! Kafka's nodes connect with it): TLS from its `ssl.*` keys when it is SSL or
//! SASL_SSL, and SASL when it is SASL_*: the server side from the listener's
//! `sasl.enabled.mechanisms` and PLAIN JAAS users (controllers), the client side from
//! `sasl.mechanism.controller.protocol` and the JAAS `username`/`password` (every
//! node). The quorum drives both through its `raft::sasl` traits.
//!
//! SCRAM is refused on this listener: its credentials live in the metadata log, which
//! the quorum cannot replicate before its members authenticate (Kafka bootstraps them
//! with `kafka-storage format --add-scram`, which this broker does not have).

use std::sync::Arc;

use tidewater_client::{ClientSasl, SaslClient};
use tidewater_quorum::raft::ControllerTransport;
use tidewater_quorum::raft::sasl::{
    ClientExchange, ClientMechanism, ControllerSasl, ServerExchange, ServerMechanisms, ServerStep,
};

use super::client::client_sasl;
use super::sasl::{Exchange, Mechanism, SaslListener, Step, listener_sasl};
use super::tls::{client_config, server_config};
use crate::config::{BrokerConfig, ConfigError};

const MECHANISM_KEY: &str = "sasl.mechanism.controller.protocol";

/// The transport of this node's controller connections (and listener, on controllers).
pub fn controller_transport(config: &BrokerConfig) -> Result<ControllerTransport, ConfigError> {
    let Some(name) = config.kraft.controller_listener_names.first() else {
        return Ok(ControllerTransport::default());
    };
    let protocol = config.security_protocol(name);
    let props = &config.static_props;
    let controller = config.kraft.roles.controller;
    let transport = if protocol.uses_tls() {
        let server = if controller {
            Some(server_config(props, name)?)
        } else {
            None
        };
        ControllerTransport::tls(server, client_config(props, name)?)
    } else {
        ControllerTransport::default()
    };
    if !protocol.uses_sasl() {
        return Ok(transport);
    }
    let client = client_sasl(props, name, MECHANISM_KEY)?;
    if client.mechanism != tidewater_client::SaslMechanism::Plain {
        return Err(scram_refused(MECHANISM_KEY, client.mechanism.name()));
    }
    let server = if controller {
        let listener = listener_sasl(props, name)?;
        if let Some(m) = listener.enabled.iter().find(|m| **m != Mechanism::Plain) {
            return Err(scram_refused("sasl.enabled.mechanisms", m.name()));
        }
        Some(Arc::new(ServerSide(Arc::new(listener))) as Arc<dyn ServerMechanisms>)
    } else {
        None
    };
    Ok(transport.with_sasl(ControllerSasl {
        client: Arc::new(ClientSide(client)),
        server,
    }))
}

fn scram_refused(key: &str, mechanism: &str) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        value: mechanism.into(),
        reason: "the controller listener authenticates with PLAIN only: SCRAM credentials live in the metadata log the quorum has yet to replicate".into(),
    }
}

struct ClientSide(ClientSasl);

impl ClientMechanism for ClientSide {
    fn mechanism(&self) -> &str {
        self.0.mechanism.name()
    }

    fn start(&self) -> Result<Box<dyn ClientExchange>, String> {
        let exchange = SaslClient::new(&self.0).map_err(|e| e.0)?;
        Ok(Box::new(ClientSteps(self.0.clone(), exchange)))
    }
}

struct ClientSteps(ClientSasl, SaslClient);

impl ClientExchange for ClientSteps {
    fn next(&mut self, server_token: &[u8]) -> Result<Option<Vec<u8>>, String> {
        self.1.next(&self.0, server_token).map_err(|e| e.0)
    }
}

struct ServerSide(Arc<SaslListener>);

impl ServerMechanisms for ServerSide {
    fn start(&self, mechanism: &str) -> Option<Box<dyn ServerExchange>> {
        let mechanism = Mechanism::from_name(mechanism).filter(|m| self.0.enabled.contains(m))?;
        Some(Box::new(ServerSteps(
            self.0.clone(),
            Exchange::new(mechanism),
        )))
    }
}

struct ServerSteps(Arc<SaslListener>, Exchange);

impl ServerExchange for ServerSteps {
    fn step(&mut self, token: &[u8]) -> Result<ServerStep, String> {
        // No SCRAM here (see the module doc), so no credential lookup.
        match self.1.step(token, &self.0, |_, _| None) {
            Ok(Step::Continue(token)) => Ok(ServerStep::Continue(token)),
            Ok(Step::Done { user, token }) => Ok(ServerStep::Done {
                principal: format!("User:{user}"),
                token,
            }),
            Err(failure) => Err(failure.client_message),
        }
    }
}
