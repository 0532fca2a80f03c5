//! SASL on the controller listener (SASL_PLAINTEXT, SASL_SSL): every connection
//! authenticates before its first raft RPC, controller call or metadata fetch. The
//! tokens are the mechanism's own (PLAIN, SCRAM), carried in `SaslAuthenticate` frames
//! of the controller wire instead of Kafka's SaslHandshake/SaslAuthenticate.
//!
//! The mechanisms themselves are the broker's (its SASL server and client): this
//! module drives them through [`ClientMechanism`] and [`ServerMechanisms`] and owns
//! only the frame exchange and its failures.

use std::io;
use std::sync::Arc;

use super::transport::BoxedStream;
use super::wire::{OutgoingEnvelope, Request, Response, read_frame, write_frame};

/// How this node authenticates when it connects to a controller.
pub trait ClientMechanism: Send + Sync {
    /// The mechanism's name (`PLAIN`, `SCRAM-SHA-512`).
    fn mechanism(&self) -> &str;
    /// A fresh exchange for one connection.
    fn start(&self) -> Result<Box<dyn ClientExchange>, String>;
}

/// One connection's client exchange.
pub trait ClientExchange: Send {
    /// The next token for the server's last one (empty at first); `None` once done.
    fn next(&mut self, server_token: &[u8]) -> Result<Option<Vec<u8>>, String>;
}

/// The mechanisms a controller's listener accepts.
pub trait ServerMechanisms: Send + Sync {
    /// An exchange for `mechanism`, `None` when it is not enabled.
    fn start(&self, mechanism: &str) -> Option<Box<dyn ServerExchange>>;
}

/// One connection's server exchange.
pub trait ServerExchange: Send {
    fn step(&mut self, token: &[u8]) -> Result<ServerStep, String>;
}

/// What the server answers a token with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerStep {
    Continue(Vec<u8>),
    /// Authenticated as `principal`; `token` is the mechanism's last message.
    Done {
        principal: String,
        token: Vec<u8>,
    },
}

/// SASL settings of the controller listener: the client side on every node, the
/// server side on controllers.
#[derive(Clone)]
pub struct ControllerSasl {
    pub client: Arc<dyn ClientMechanism>,
    pub server: Option<Arc<dyn ServerMechanisms>>,
}

impl std::fmt::Debug for ControllerSasl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControllerSasl")
            .field("mechanism", &self.client.mechanism())
            .field("server", &self.server.is_some())
            .finish()
    }
}

fn refused(reason: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::PermissionDenied, reason.into())
}

/// Authenticates a freshly opened connection (after TLS, if any).
pub(crate) async fn authenticate(
    stream: &mut BoxedStream,
    cluster_id: &str,
    client: &dyn ClientMechanism,
) -> io::Result<()> {
    let mut exchange = client.start().map_err(refused)?;
    let mut server_token = Vec::new();
    let mut server_done = false;
    while let Some(token) = exchange.next(&server_token).map_err(refused)? {
        if server_done {
            return Err(refused("the controller ended the SASL exchange early"));
        }
        let request = Request::SaslAuthenticate {
            mechanism: client.mechanism().to_string(),
            token,
        };
        let envelope = OutgoingEnvelope {
            cluster_id,
            request: &request,
        };
        write_frame(stream, &envelope).await?;
        match read_frame::<_, Response>(stream).await? {
            Some(Response::SaslAuthenticate(Ok((done, token)))) => {
                server_token = token;
                server_done = done;
            }
            Some(Response::SaslAuthenticate(Err(e))) => {
                return Err(refused(format!("SASL authentication failed: {e}")));
            }
            Some(Response::InconsistentClusterId { expected }) => {
                return Err(refused(format!(
                    "the controller belongs to cluster {expected}"
                )));
            }
            Some(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "unexpected answer to SaslAuthenticate",
                ));
            }
            None => return Err(io::ErrorKind::UnexpectedEof.into()),
        }
    }
    if !server_done {
        return Err(refused(
            "the SASL exchange ended before the controller accepted",
        ));
    }
    Ok(())
}

/// The server side of one connection's exchange.
pub(crate) struct ServerAuth {
    mechanisms: Arc<dyn ServerMechanisms>,
    exchange: Option<(String, Box<dyn ServerExchange>)>,
}

/// What the listener does after one `SaslAuthenticate` frame.
pub(crate) enum AuthOutcome {
    /// Answer and keep authenticating.
    Continue(Response),
    /// Answer; the connection is authenticated as this principal.
    Done(Response, String),
    /// Answer (after a delay, against password guessing) and close.
    Failed(Response, String),
}

impl ServerAuth {
    pub(crate) fn new(mechanisms: Arc<dyn ServerMechanisms>) -> Self {
        Self {
            mechanisms,
            exchange: None,
        }
    }

    pub(crate) fn step(&mut self, mechanism: &str, token: &[u8]) -> AuthOutcome {
        let fail = |reason: String| {
            AuthOutcome::Failed(Response::SaslAuthenticate(Err(reason.clone())), reason)
        };
        let exchange = match &mut self.exchange {
            Some((chosen, _)) if chosen != mechanism => {
                return fail(format!("mechanism changed from {chosen} to {mechanism}"));
            }
            Some((_, exchange)) => exchange,
            None => match self.mechanisms.start(mechanism) {
                Some(exchange) => &mut self.exchange.insert((mechanism.to_string(), exchange)).1,
                None => return fail(format!("unsupported SASL mechanism {mechanism}")),
            },
        };
        match exchange.step(token) {
            Ok(ServerStep::Continue(token)) => {
                AuthOutcome::Continue(Response::SaslAuthenticate(Ok((false, token))))
            }
            Ok(ServerStep::Done { principal, token }) => {
                AuthOutcome::Done(Response::SaslAuthenticate(Ok((true, token))), principal)
            }
            Err(reason) => fail(reason),
        }
    }
}
