//! The authentication phase of a SASL_PLAINTEXT or SASL_SSL connection, before its
//! first ordinary request: ApiVersions, SaslHandshake and SaslAuthenticate
//! frames, as Kafka's `SaslServerAuthenticator` (after a v0 handshake, the tokens
//! travel as bare size-prefixed frames instead of SaslAuthenticate requests). Any other request closes the
//! connection; a failed exchange is answered SASL_AUTHENTICATION_FAILED after
//! `connection.failed.authentication.delay.ms` and closes this connection only.
//!
//! KIP-368: with `connections.max.reauth.ms`, a successful SaslAuthenticate (v1+)
//! carries the session lifetime; a SaslHandshake on an authenticated connection runs
//! the exchange again (re-authentication), which must keep principal and mechanism.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{
    RequestKind, ResponseKind, SaslAuthenticateResponse, SaslHandshakeResponse,
};
use kafka_protocol::protocol::StrBytes;
use tokio::io::{AsyncRead, BufReader};

use super::connection::{ConnectionError, Served, read_frame, read_size};
use super::sink::ResponseSink;
use crate::handlers::{self, Reply, RequestContext};
use crate::protocol::{Decoded, decode_request_frame, encode_response};
use crate::security::sasl::{Exchange, Mechanism, SaslFailure, SaslListener, Step};

/// Kafka's `sasl.server.max.receive.size` default: the largest frame accepted
/// before authentication (a SASL token is a few hundred bytes).
pub(super) const SASL_MAX_RECEIVE_SIZE: usize = 524_288;

/// Kafka's `connection.failed.authentication.delay.ms` default: a wrong password is
/// answered this late, on this connection only, to slow down guessing.
pub(super) const FAILED_AUTHENTICATION_DELAY: Duration = Duration::from_millis(100);

/// Kafka's error codes of the exchange (`Errors.java`).
const UNSUPPORTED_SASL_MECHANISM: i16 = 33;
const SASL_AUTHENTICATION_FAILED: i16 = 58;

/// A finished exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Authenticated {
    pub(super) user: String,
    pub(super) mechanism: Mechanism,
    /// When the session ends unless the client re-authenticates first (KIP-368).
    pub(super) expires: Option<Instant>,
}

/// Runs the exchange; the authenticated user, or `None` when the client went away
/// or the broker is shutting down before it finished. `first` is a frame already
/// read (the SaslHandshake that starts a re-authentication).
pub(super) async fn authenticate<R: AsyncRead + Unpin, W: ResponseSink>(
    reader: &mut BufReader<R>,
    out: &mut W,
    served: &mut Served<'_>,
    sasl: &SaslListener,
    mut first: Option<BytesMut>,
) -> Result<Option<Authenticated>, ConnectionError> {
    let mut exchange: Option<(Mechanism, Exchange)> = None;
    // SaslHandshake v0 chose the mechanism: tokens come as bare frames.
    let mut raw_tokens = false;
    let limit = SASL_MAX_RECEIVE_SIZE.min(served.limits.max_request_bytes);
    let done = |user: String, mechanism: Mechanism| Authenticated {
        user,
        mechanism,
        expires: sasl.max_reauth.map(|d| Instant::now() + d),
    };
    loop {
        let frame = match first.take() {
            Some(frame) => frame,
            None => match read_auth_frame(reader, served, limit).await? {
                Some(frame) => frame,
                None => return Ok(None),
            },
        };
        if let (true, Some((mechanism, ex))) = (raw_tokens, exchange.as_mut()) {
            match step(ex, &frame, served, sasl) {
                Ok(Step::Continue(token)) => out.send_bytes(&raw_frame(&token)).await?,
                Ok(Step::Done { user, token }) => {
                    out.send_bytes(&raw_frame(&token)).await?;
                    return Ok(Some(done(user, *mechanism)));
                }
                // Kafka closes a v0 exchange without an answer.
                Err(failure) => {
                    tokio::time::sleep(FAILED_AUTHENTICATION_DELAY).await;
                    return Err(ConnectionError::AuthenticationFailed(failure.reason));
                }
            }
            continue;
        }
        let request = match decode_request_frame(frame.freeze())? {
            Decoded::UnsupportedApiVersions { correlation_id } => {
                let (api, version, body) = handlers::api_versions::unsupported_version_response();
                out.send_bytes(&encode_response(api, version, correlation_id, &body)?)
                    .await?;
                continue;
            }
            Decoded::Request(request) => *request,
        };
        let (api, version) = (request.api_key, request.version);
        let correlation_id = request.header.correlation_id;
        let respond = |body: ResponseKind| encode_response(api, version, correlation_id, &body);
        match request.body {
            RequestKind::ApiVersions(_) => {
                let ctx = RequestContext {
                    listener: served.listener.to_string(),
                    correlation_id,
                    ..RequestContext::default()
                };
                let Reply::Respond(body) = handlers::dispatch(served.broker, &ctx, request).await
                else {
                    return Err(ConnectionError::SaslState("ApiVersions was not answered"));
                };
                out.send_bytes(&respond(*body)?).await?;
            }
            RequestKind::SaslHandshake(r) if exchange.is_none() => {
                let chosen =
                    Mechanism::from_name(r.mechanism.as_str()).filter(|m| sasl.enabled.contains(m));
                let resp = SaslHandshakeResponse::default()
                    .with_error_code(if chosen.is_some() {
                        0
                    } else {
                        UNSUPPORTED_SASL_MECHANISM
                    })
                    .with_mechanisms(
                        sasl.enabled_names()
                            .into_iter()
                            .map(StrBytes::from_static_str)
                            .collect(),
                    );
                out.send_bytes(&respond(ResponseKind::SaslHandshake(resp))?)
                    .await?;
                let Some(mechanism) = chosen else {
                    return Err(ConnectionError::UnsupportedMechanism(
                        r.mechanism.to_string(),
                    ));
                };
                exchange = Some((mechanism, Exchange::new(mechanism)));
                raw_tokens = version == 0;
            }
            RequestKind::SaslAuthenticate(r) => {
                let Some((mechanism, ex)) = exchange.as_mut().filter(|_| !raw_tokens) else {
                    return Err(ConnectionError::SaslState(
                        "SaslAuthenticate before SaslHandshake",
                    ));
                };
                let step = step(ex, &r.auth_bytes, served, sasl);
                let resp = SaslAuthenticateResponse::default();
                match step {
                    Ok(Step::Continue(token)) => {
                        let resp = resp.with_auth_bytes(Bytes::from(token));
                        out.send_bytes(&respond(ResponseKind::SaslAuthenticate(resp))?)
                            .await?;
                    }
                    Ok(Step::Done { user, token }) => {
                        let done = done(user, *mechanism);
                        let lifetime = sasl
                            .max_reauth
                            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
                        // v0 has no session_lifetime_ms: such clients never re-authenticate.
                        let resp = resp
                            .with_auth_bytes(Bytes::from(token))
                            .with_session_lifetime_ms(if version >= 1 { lifetime } else { 0 });
                        out.send_bytes(&respond(ResponseKind::SaslAuthenticate(resp))?)
                            .await?;
                        return Ok(Some(done));
                    }
                    Err(failure) => {
                        // Only this connection waits: it is its own task.
                        tokio::time::sleep(FAILED_AUTHENTICATION_DELAY).await;
                        let resp = resp
                            .with_error_code(SASL_AUTHENTICATION_FAILED)
                            .with_error_message(Some(StrBytes::from_string(
                                failure.client_message,
                            )));
                        out.send_bytes(&respond(ResponseKind::SaslAuthenticate(resp))?)
                            .await?;
                        return Err(ConnectionError::AuthenticationFailed(failure.reason));
                    }
                }
            }
            RequestKind::SaslHandshake(_) => {
                return Err(ConnectionError::SaslState(
                    "a second SaslHandshake on one connection",
                ));
            }
            _ => return Err(ConnectionError::Unauthenticated(api)),
        }
    }
}

/// The next frame of the exchange, bounded by `sasl.server.max.receive.size`; `None`
/// when the client went away or the broker is shutting down.
async fn read_auth_frame<R: AsyncRead + Unpin>(
    reader: &mut BufReader<R>,
    served: &mut Served<'_>,
    limit: usize,
) -> Result<Option<BytesMut>, ConnectionError> {
    let size = tokio::select! {
        _ = served.shutdown.recv() => return Ok(None),
        size = read_size(reader, served.limits.max_idle) => match size {
            Ok(s) => s,
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                return Err(ConnectionError::Idle(served.limits.max_idle.unwrap_or_default()));
            }
            Err(e) => return Err(e.into()),
        },
    };
    let size = usize::try_from(size)
        .ok()
        .filter(|s| *s <= limit)
        .ok_or(ConnectionError::SaslOversized(i64::from(size), limit))?;
    let mut frame = BytesMut::with_capacity(size);
    tokio::select! {
        _ = served.shutdown.recv() => return Ok(None),
        read = read_frame(reader, &mut frame, size) => { read?; }
    }
    Ok(Some(frame))
}

/// A re-authentication (KIP-368) must end as the same principal with the same
/// mechanism (Kafka's `SaslServerAuthenticator.ReauthInfo`); `None` when it does.
pub(super) fn reauthentication_refusal(
    before: &Authenticated,
    after: &Authenticated,
) -> Option<String> {
    if before.mechanism != after.mechanism {
        return Some(format!(
            "SASL mechanism changed during re-authentication from {} to {}",
            before.mechanism.name(),
            after.mechanism.name()
        ));
    }
    (before.user != after.user).then(|| {
        format!(
            "Cannot change principals during re-authentication from User:{} to User:{}",
            before.user, after.user
        )
    })
}

/// Feeds `token` to the exchange, with SCRAM credentials from this broker's image.
fn step(
    exchange: &mut Exchange,
    token: &[u8],
    served: &Served<'_>,
    sasl: &SaslListener,
) -> Result<Step, SaslFailure> {
    let image = served.broker.cluster().image();
    exchange.step(token, sasl, |user, mechanism| {
        image
            .scram_credentials
            .get(user)
            .and_then(|m| m.get(&mechanism))
            .cloned()
    })
}

/// A token as a bare size-prefixed frame (after SaslHandshake v0).
fn raw_frame(token: &[u8]) -> Vec<u8> {
    let len = i32::try_from(token.len()).unwrap_or(i32::MAX);
    [len.to_be_bytes().as_slice(), token].concat()
}
