//! SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677), the server side of Kafka's
//! `ScramSaslServer`: the message grammar (parsed here, by hand, against the RFC's
//! ABNF — every input is a client's), the exchange, and the credential derivation
//! AlterUserScramCredentials needs. The primitives are ring's.

use std::num::NonZeroU32;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use tidewater_client::ScramHash;
use tidewater_quorum::records::UserScramCredential;

/// A SCRAM mechanism; its `type_id` is Kafka's `ScramMechanism` type in the
/// metadata records and the AlterUserScramCredentials API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScramMechanism {
    Sha256,
    Sha512,
}

impl ScramMechanism {
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "SCRAM-SHA-256" => Some(Self::Sha256),
            "SCRAM-SHA-512" => Some(Self::Sha512),
            _ => None,
        }
    }

    pub fn from_type(type_id: i8) -> Option<Self> {
        match type_id {
            1 => Some(Self::Sha256),
            2 => Some(Self::Sha512),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Sha256 => "SCRAM-SHA-256",
            Self::Sha512 => "SCRAM-SHA-512",
        }
    }

    pub fn type_id(self) -> i8 {
        match self {
            Self::Sha256 => 1,
            Self::Sha512 => 2,
        }
    }

    /// The hash and its primitives, shared with the client side of SCRAM.
    fn primitives(self) -> ScramHash {
        match self {
            Self::Sha256 => ScramHash::Sha256,
            Self::Sha512 => ScramHash::Sha512,
        }
    }

    fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        self.primitives().hmac(key, data)
    }

    fn hash(self, data: &[u8]) -> Vec<u8> {
        self.primitives().digest(data)
    }

    /// `Hi(password, salt, i)`: PBKDF2 with this mechanism's HMAC.
    pub fn salted_password(self, password: &[u8], salt: &[u8], iterations: NonZeroU32) -> Vec<u8> {
        self.primitives()
            .salted_password(password, salt, iterations)
    }

    /// The credential the server keeps for `salted_password` (StoredKey, ServerKey).
    pub fn credential(
        self,
        name: &str,
        salt: &[u8],
        salted_password: &[u8],
        iterations: i32,
    ) -> UserScramCredential {
        UserScramCredential {
            name: name.to_string(),
            mechanism: self.type_id(),
            salt: salt.to_vec(),
            stored_key: self.hash(&self.hmac(salted_password, b"Client Key")),
            server_key: self.hmac(salted_password, b"Server Key"),
            iterations,
        }
    }
}

/// Why an exchange failed: malformed input or wrong credentials. The message goes
/// back to the client in SaslAuthenticate's error message, as Kafka's does.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ScramError(pub String);

fn bad(what: impl Into<String>) -> ScramError {
    ScramError(what.into())
}

/// RFC 5802's client-first-message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientFirst<'a> {
    /// `gs2-header`, echoed base64-encoded in the final message's `c=`.
    pub gs2_header: &'a str,
    pub authzid: Option<String>,
    pub username: String,
    pub nonce: &'a str,
    /// `client-first-message-bare`, part of the AuthMessage.
    pub bare: &'a str,
}

/// Decodes a `saslname` (`=2C` is `,`, `=3D` is `=`, any other `=` is invalid).
fn sasl_name(s: &str) -> Result<String, ScramError> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('=') {
        out.push_str(&rest[..i]);
        let code = rest.get(i + 1..i + 3);
        out.push(match code {
            Some("2C") => ',',
            Some("3D") => '=',
            _ => return Err(bad(format!("invalid saslname `{s}`"))),
        });
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    Ok(out)
}

/// A nonce: printable ASCII without `,`, at least one character.
fn valid_nonce(n: &str) -> bool {
    !n.is_empty() && n.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b',')
}

/// `attr=value` with the expected one-letter attribute.
fn attribute(part: Option<&str>, name: char) -> Result<&str, ScramError> {
    let part = part.ok_or_else(|| bad(format!("missing attribute `{name}`")))?;
    let mut chars = part.chars();
    if chars.next() == Some(name) && chars.next() == Some('=') {
        Ok(&part[2..])
    } else {
        Err(bad(format!("expected attribute `{name}=`, got `{part}`")))
    }
}

pub fn parse_client_first(msg: &str) -> Result<ClientFirst<'_>, ScramError> {
    let mut gs2 = msg.splitn(3, ',');
    let (Some(cbind), Some(authz), Some(bare)) = (gs2.next(), gs2.next(), gs2.next()) else {
        return Err(bad("client-first-message has no gs2 header"));
    };
    match cbind {
        "n" | "y" => {}
        c if c.starts_with("p=") => return Err(bad("channel binding is not supported")),
        c => return Err(bad(format!("invalid gs2 channel binding flag `{c}`"))),
    }
    let authzid = match authz {
        "" => None,
        a => Some(sasl_name(attribute(Some(a), 'a')?)?),
    };
    let gs2_header = &msg[..cbind.len() + authz.len() + 2];
    let mut attrs = bare.split(',');
    let first = attrs.next();
    if first.is_some_and(|a| a.starts_with("m=")) {
        return Err(bad("mandatory extensions are not supported"));
    }
    let username = sasl_name(attribute(first, 'n')?)?;
    if username.is_empty() {
        return Err(bad("empty username"));
    }
    let nonce = attribute(attrs.next(), 'r')?;
    if !valid_nonce(nonce) {
        return Err(bad("invalid client nonce"));
    }
    // Extensions (Kafka's `tokenauth=true` for delegation tokens) follow.
    for ext in attrs {
        let (key, value) = ext
            .split_once('=')
            .ok_or_else(|| bad(format!("invalid extension `{ext}`")))?;
        if key == "tokenauth" && value.eq_ignore_ascii_case("true") {
            return Err(bad("delegation tokens are not supported"));
        }
    }
    Ok(ClientFirst {
        gs2_header,
        authzid,
        username,
        nonce,
        bare,
    })
}

/// RFC 5802's client-final-message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientFinal<'a> {
    /// `c=`: base64 of the gs2 header (no channel binding data).
    pub channel_binding: &'a str,
    pub nonce: &'a str,
    pub proof: Vec<u8>,
    /// `client-final-message-without-proof`, part of the AuthMessage.
    pub without_proof: &'a str,
}

pub fn parse_client_final(msg: &str) -> Result<ClientFinal<'_>, ScramError> {
    let at = msg
        .rfind(",p=")
        .ok_or_else(|| bad("client-final-message has no proof"))?;
    let without_proof = &msg[..at];
    let proof = B64
        .decode(&msg[at + 3..])
        .map_err(|_| bad("client proof is not base64"))?;
    let mut attrs = without_proof.split(',');
    let channel_binding = attribute(attrs.next(), 'c')?;
    let nonce = attribute(attrs.next(), 'r')?;
    // Any further attributes are extensions, which carry nothing here.
    Ok(ClientFinal {
        channel_binding,
        nonce,
        proof,
        without_proof,
    })
}

/// What the server remembers between the two client messages.
#[derive(Debug)]
struct Pending {
    gs2_header: String,
    username: String,
    nonce: String,
    /// client-first-message-bare + "," + server-first-message.
    auth_prefix: String,
    credential: UserScramCredential,
}

/// One connection's SCRAM exchange.
#[derive(Debug)]
pub struct ScramServer {
    mechanism: ScramMechanism,
    pending: Option<Pending>,
    /// The final message was taken (well-formed or not): nothing may follow.
    finished: bool,
}

/// Bytes of randomness in the server's half of the nonce.
const SERVER_NONCE_BYTES: usize = 24;

/// A fresh server nonce (base64 of random bytes: printable, never a `,`).
pub fn server_nonce() -> Result<String, ScramError> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; SERVER_NONCE_BYTES];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| bad("no randomness for the server nonce"))?;
    Ok(B64.encode(bytes))
}

impl ScramServer {
    pub fn new(mechanism: ScramMechanism) -> Self {
        Self {
            mechanism,
            pending: None,
            finished: false,
        }
    }

    pub fn mechanism(&self) -> ScramMechanism {
        self.mechanism
    }

    /// Whether the client-first-message was taken (the next is the final one).
    pub fn started(&self) -> bool {
        self.pending.is_some() || self.finished
    }

    /// The client-first-message in, the server-first-message out. `lookup` finds the
    /// user's credential for this mechanism; `server_nonce` is [`server_nonce`]'s.
    pub fn first(
        &mut self,
        msg: &[u8],
        lookup: impl FnOnce(&str) -> Option<UserScramCredential>,
        server_nonce: &str,
    ) -> Result<Vec<u8>, ScramError> {
        if self.started() {
            return Err(bad("client-first-message sent twice"));
        }
        let msg = std::str::from_utf8(msg).map_err(|_| bad("message is not UTF-8"))?;
        let first = parse_client_first(msg)?;
        if first.authzid.as_ref().is_some_and(|a| *a != first.username) {
            return Err(bad(
                "Authentication failed: Client requested an authorization id that is different from username",
            ));
        }
        let credential = lookup(&first.username)
            .ok_or_else(|| bad("Authentication failed: Invalid user credentials"))?;
        let nonce = format!("{}{server_nonce}", first.nonce);
        let server_first = format!(
            "r={nonce},s={},i={}",
            B64.encode(&credential.salt),
            credential.iterations
        );
        self.pending = Some(Pending {
            gs2_header: first.gs2_header.to_string(),
            username: first.username,
            nonce,
            auth_prefix: format!("{},{server_first}", first.bare),
            credential,
        });
        Ok(server_first.into_bytes())
    }

    /// The client-final-message in; the authenticated user and the
    /// server-final-message out.
    pub fn last(&mut self, msg: &[u8]) -> Result<(String, Vec<u8>), ScramError> {
        self.finished = true;
        let pending = self
            .pending
            .take()
            .ok_or_else(|| bad("client-final-message before client-first-message"))?;
        let msg = std::str::from_utf8(msg).map_err(|_| bad("message is not UTF-8"))?;
        let last = parse_client_final(msg)?;
        if last.channel_binding != B64.encode(pending.gs2_header.as_bytes()) {
            return Err(bad("channel binding does not match the gs2 header"));
        }
        // Kafka checks only the end: librdkafka sends its own nonce once more in front.
        if !last.nonce.ends_with(&pending.nonce) {
            return Err(bad("Invalid nonce"));
        }
        let m = self.mechanism;
        let auth_message = format!("{},{}", pending.auth_prefix, last.without_proof);
        let signature = m.hmac(&pending.credential.stored_key, auth_message.as_bytes());
        if last.proof.len() != signature.len() {
            return Err(bad("Invalid client credentials"));
        }
        let client_key: Vec<u8> = last
            .proof
            .iter()
            .zip(&signature)
            .map(|(p, s)| p ^ s)
            .collect();
        if !constant_time_eq(&m.hash(&client_key), &pending.credential.stored_key) {
            return Err(bad("Invalid client credentials"));
        }
        let verifier = m.hmac(&pending.credential.server_key, auth_message.as_bytes());
        Ok((
            pending.username,
            format!("v={}", B64.encode(verifier)).into_bytes(),
        ))
    }
}

/// Equality whose time does not depend on where the inputs first differ.
pub(super) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
#[path = "scram_tests.rs"]
mod tests;
