//! The client side of SASL PLAIN and SCRAM-SHA-256/512 (RFC 4616, RFC 5802/7677), as
//! Kafka's `PlainSaslClient`/`ScramSaslClient`: the tokens a connection sends in
//! SaslAuthenticate and the checks on the broker's answers. Sans-IO; `connection`
//! carries the tokens. The primitives are ring's, as the broker's server side.

use std::num::NonZeroU32;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ring::{digest, hmac, pbkdf2};

/// A SASL mechanism a client can authenticate with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaslMechanism {
    Plain,
    ScramSha256,
    ScramSha512,
}

impl SaslMechanism {
    /// Kafka's name (`sasl.mechanism`), `None` for one this client cannot speak.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "PLAIN" => Some(Self::Plain),
            "SCRAM-SHA-256" => Some(Self::ScramSha256),
            "SCRAM-SHA-512" => Some(Self::ScramSha512),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Plain => "PLAIN",
            Self::ScramSha256 => "SCRAM-SHA-256",
            Self::ScramSha512 => "SCRAM-SHA-512",
        }
    }
}

/// What a connection authenticates with: the mechanism and the JAAS `username` and
/// `password`.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientSasl {
    pub mechanism: SaslMechanism,
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for ClientSasl {
    // The password stays out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientSasl")
            .field("mechanism", &self.mechanism)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// Why an exchange could not go on (the broker's answer was not what the RFC allows,
/// or it did not prove it knows the credential).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SaslClientError(pub String);

/// One exchange: `next` takes the broker's last token (empty at the start) and gives
/// the token to send, or `None` when the exchange is complete (for SCRAM, once the
/// broker's signature checked out).
#[derive(Debug)]
pub enum SaslClient {
    Plain { sent: bool },
    Scram(Box<ScramClient>),
}

impl SaslClient {
    pub fn new(sasl: &ClientSasl) -> Result<Self, SaslClientError> {
        Ok(match sasl.mechanism {
            SaslMechanism::Plain => Self::Plain { sent: false },
            SaslMechanism::ScramSha256 => Self::Scram(Box::new(ScramClient::new(
                ScramHash::Sha256,
                &sasl.username,
                &client_nonce()?,
            ))),
            SaslMechanism::ScramSha512 => Self::Scram(Box::new(ScramClient::new(
                ScramHash::Sha512,
                &sasl.username,
                &client_nonce()?,
            ))),
        })
    }

    pub fn next(
        &mut self,
        sasl: &ClientSasl,
        server_token: &[u8],
    ) -> Result<Option<Vec<u8>>, SaslClientError> {
        match self {
            Self::Plain { sent: false } => {
                *self = Self::Plain { sent: true };
                // authzid NUL authcid NUL password; Kafka's clients leave authzid empty.
                Ok(Some(
                    format!("\0{}\0{}", sasl.username, sasl.password).into_bytes(),
                ))
            }
            Self::Plain { sent: true } => Ok(None),
            Self::Scram(c) => c.next(&sasl.password, server_token),
        }
    }
}

/// The hash of a SCRAM mechanism and the primitives RFC 5802 builds on it, shared with
/// the broker's server side (`security/sasl/scram.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScramHash {
    Sha256,
    Sha512,
}

impl ScramHash {
    /// `HMAC(key, data)`.
    pub fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        let alg = match self {
            Self::Sha256 => hmac::HMAC_SHA256,
            Self::Sha512 => hmac::HMAC_SHA512,
        };
        hmac::sign(&hmac::Key::new(alg, key), data)
            .as_ref()
            .to_vec()
    }

    /// `H(data)`.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        let alg = match self {
            Self::Sha256 => &digest::SHA256,
            Self::Sha512 => &digest::SHA512,
        };
        digest::digest(alg, data).as_ref().to_vec()
    }

    /// `Hi(password, salt, i)`: PBKDF2 with this hash's HMAC.
    pub fn salted_password(self, password: &[u8], salt: &[u8], iterations: NonZeroU32) -> Vec<u8> {
        let (alg, len) = match self {
            Self::Sha256 => (pbkdf2::PBKDF2_HMAC_SHA256, 32),
            Self::Sha512 => (pbkdf2::PBKDF2_HMAC_SHA512, 64),
        };
        let mut out = vec![0u8; len];
        pbkdf2::derive(alg, iterations, salt, password, &mut out);
        out
    }
}

/// Kafka refuses fewer (`ScramMechanism.minIterations`); a broker asking for fewer is
/// not trusted with a proof.
const MIN_ITERATIONS: u32 = 4096;
/// And more would let a broker make this client spin (Kafka: 16384 max to create).
const MAX_ITERATIONS: u32 = 16_384;

#[derive(Debug)]
enum ScramState {
    Start,
    /// client-first sent.
    SentFirst,
    /// client-final sent; the server signature it must answer with.
    SentFinal {
        server_signature: Vec<u8>,
    },
    Done,
}

/// SCRAM's client side (held boxed by [`SaslClient`]).
#[derive(Debug)]
pub struct ScramClient {
    hash: ScramHash,
    /// `n=<user>,r=<client nonce>`: part of the AuthMessage both sides sign.
    client_first_bare: String,
    client_nonce: String,
    state: ScramState,
}

/// RFC 5802 saslname: `=` and `,` escaped.
fn sasl_name(user: &str) -> String {
    user.replace('=', "=3D").replace(',', "=2C")
}

fn client_nonce() -> Result<String, SaslClientError> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 24];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| SaslClientError("no randomness for the SCRAM client nonce".into()))?;
    Ok(B64.encode(bytes))
}

fn bad(what: impl Into<String>) -> SaslClientError {
    SaslClientError(what.into())
}

impl ScramClient {
    fn new(hash: ScramHash, user: &str, nonce: &str) -> Self {
        Self {
            hash,
            client_first_bare: format!("n={},r={nonce}", sasl_name(user)),
            client_nonce: nonce.to_owned(),
            state: ScramState::Start,
        }
    }

    fn next(
        &mut self,
        password: &str,
        server_token: &[u8],
    ) -> Result<Option<Vec<u8>>, SaslClientError> {
        match std::mem::replace(&mut self.state, ScramState::Done) {
            ScramState::Start => {
                self.state = ScramState::SentFirst;
                Ok(Some(format!("n,,{}", self.client_first_bare).into_bytes()))
            }
            ScramState::SentFirst => {
                let (token, server_signature) = self.client_final(password, server_token)?;
                self.state = ScramState::SentFinal { server_signature };
                Ok(Some(token))
            }
            ScramState::SentFinal { server_signature } => {
                let msg = std::str::from_utf8(server_token)
                    .map_err(|_| bad("server-final-message is not UTF-8"))?;
                if let Some(e) = msg.strip_prefix("e=") {
                    return Err(bad(format!("the broker refused the proof: {e}")));
                }
                let v = msg
                    .split(',')
                    .find_map(|a| a.strip_prefix("v="))
                    .ok_or_else(|| bad("server-final-message has no v="))?;
                let v = B64
                    .decode(v)
                    .map_err(|_| bad("server signature is not base64"))?;
                // Constant time: a broker must not learn how much of a guess matched.
                let differs = v.len() != server_signature.len()
                    || v.iter()
                        .zip(&server_signature)
                        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                        != 0;
                if differs {
                    return Err(bad("the broker's SCRAM server signature is wrong"));
                }
                Ok(None)
            }
            ScramState::Done => Ok(None),
        }
    }

    /// client-final-message for server-first-message `server_token`, and the server
    /// signature expected back.
    fn client_final(
        &self,
        password: &str,
        server_token: &[u8],
    ) -> Result<(Vec<u8>, Vec<u8>), SaslClientError> {
        let server_first = std::str::from_utf8(server_token)
            .map_err(|_| bad("server-first-message is not UTF-8"))?;
        let (mut nonce, mut salt, mut iterations) = (None, None, None);
        for attr in server_first.split(',') {
            match attr.split_once('=') {
                Some(("r", v)) => nonce = Some(v),
                Some(("s", v)) => salt = Some(v),
                Some(("i", v)) => iterations = Some(v),
                Some(("e", v)) => return Err(bad(format!("the broker refused: {v}"))),
                _ => {}
            }
        }
        let nonce = nonce.ok_or_else(|| bad("server-first-message has no r="))?;
        if !nonce.starts_with(&self.client_nonce) || nonce.len() == self.client_nonce.len() {
            return Err(bad("the broker's nonce does not extend ours"));
        }
        let salt = B64
            .decode(salt.ok_or_else(|| bad("server-first-message has no s="))?)
            .map_err(|_| bad("salt is not base64"))?;
        let iterations = iterations
            .and_then(|i| i.parse::<u32>().ok())
            .filter(|i| (MIN_ITERATIONS..=MAX_ITERATIONS).contains(i))
            .and_then(NonZeroU32::new)
            .ok_or_else(|| bad("iteration count missing or outside 4096..=16384"))?;
        let h = self.hash;
        let salted = h.salted_password(password.as_bytes(), &salt, iterations);
        let client_key = h.hmac(&salted, b"Client Key");
        let stored_key = h.digest(&client_key);
        // `biws` is base64 of the GS2 header `n,,` (no channel binding).
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{},{server_first},{without_proof}", self.client_first_bare);
        let signature = h.hmac(&stored_key, auth_message.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&signature)
            .map(|(k, s)| k ^ s)
            .collect();
        let server_key = h.hmac(&salted, b"Server Key");
        let server_signature = h.hmac(&server_key, auth_message.as_bytes());
        let token = format!("{without_proof},p={}", B64.encode(proof)).into_bytes();
        Ok((token, server_signature))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677 section 3's SCRAM-SHA-256 example, byte for byte.
    #[test]
    fn rfc7677_client_messages() {
        let mut c = ScramClient::new(ScramHash::Sha256, "user", "rOprNGfwEbeRWgbNEkqO");
        let first = c.next("pencil", b"").unwrap().unwrap();
        assert_eq!(first, b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        let server_first = b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
        let last = c.next("pencil", server_first).unwrap().unwrap();
        assert_eq!(
            String::from_utf8(last).unwrap(),
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        // A forged server signature is refused; the RFC's is accepted.
        let mut forged = ScramClient::new(ScramHash::Sha256, "user", "rOprNGfwEbeRWgbNEkqO");
        forged.next("pencil", b"").unwrap();
        forged.next("pencil", server_first).unwrap();
        assert!(forged.next("pencil", b"v=AAAA").is_err());
        assert_eq!(
            c.next("pencil", b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
                .unwrap(),
            None
        );
    }

    #[test]
    fn a_broker_that_does_not_extend_the_nonce_or_skimps_on_iterations_is_refused() {
        for server_first in [
            &b"r=other,s=c2FsdA==,i=4096"[..],
            b"r=abc,s=c2FsdA==,i=4096",
            b"r=abcX,s=c2FsdA==,i=1",
            b"r=abcX,s=c2FsdA==",
            b"e=unknown-user",
            b"\xff",
        ] {
            let mut c = ScramClient::new(ScramHash::Sha512, "u", "abc");
            c.next("p", b"").unwrap();
            assert!(c.next("p", server_first).is_err(), "{server_first:?}");
        }
    }

    #[test]
    fn plain_sends_one_token() {
        let sasl = ClientSasl {
            mechanism: SaslMechanism::Plain,
            username: "admin".into(),
            password: "pw".into(),
        };
        let mut c = SaslClient::new(&sasl).unwrap();
        assert_eq!(c.next(&sasl, b"").unwrap().unwrap(), b"\0admin\0pw");
        assert_eq!(c.next(&sasl, b"").unwrap(), None);
    }
}
