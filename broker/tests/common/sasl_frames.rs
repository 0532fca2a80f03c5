//! Raw Kafka frames for SASL tests that must see exactly what the broker answers on
//! one connection (no client library retries or reconnects): request framing,
//! SaslHandshake and SaslAuthenticate bodies, and reading one response.

use std::io::Read;
use std::net::TcpStream;
use std::time::Duration;

/// How long a test waits for one response.
const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// A v1 request header (api key, version, correlation id, client id) and body, framed.
pub fn request(api_key: i16, version: i16, correlation_id: i32, body: &[u8]) -> Vec<u8> {
    let client = b"sasl-test";
    let mut f = Vec::new();
    f.extend_from_slice(&api_key.to_be_bytes());
    f.extend_from_slice(&version.to_be_bytes());
    f.extend_from_slice(&correlation_id.to_be_bytes());
    f.extend_from_slice(&(client.len() as i16).to_be_bytes());
    f.extend_from_slice(client);
    f.extend_from_slice(body);
    [(f.len() as i32).to_be_bytes().as_slice(), &f].concat()
}

/// SaslHandshake v1 for `mechanism`.
pub fn handshake(mechanism: &str) -> Vec<u8> {
    let body = [
        (mechanism.len() as i16).to_be_bytes().as_slice(),
        mechanism.as_bytes(),
    ]
    .concat();
    request(17, 1, 1, &body)
}

/// SaslAuthenticate v1 carrying `token`.
pub fn authenticate(token: &[u8]) -> Vec<u8> {
    let body = [(token.len() as i32).to_be_bytes().as_slice(), token].concat();
    request(36, 1, 2, &body)
}

/// One response body (after its correlation id), or `None` if the broker closed.
pub fn response(s: &mut TcpStream) -> Option<Vec<u8>> {
    s.set_read_timeout(Some(READ_TIMEOUT)).expect("timeout");
    let mut size = [0u8; 4];
    s.read_exact(&mut size).ok()?;
    let mut body = vec![0u8; i32::from_be_bytes(size) as usize];
    s.read_exact(&mut body).ok()?;
    Some(body.split_off(4))
}

/// A response body's leading error code.
pub fn error_code(body: &[u8]) -> i16 {
    i16::from_be_bytes([body[0], body[1]])
}
