//! SaslHandshake and SaslAuthenticate outside a SASL exchange: on a listener without
//! SASL, or after the connection authenticated. Kafka answers ILLEGAL_SASL_STATE; the
//! exchange itself runs in the server before requests reach handlers.

use kafka_protocol::messages::{SaslAuthenticateResponse, SaslHandshakeResponse};

use super::msg;

const ILLEGAL_SASL_STATE: i16 = 34;

pub fn handshake() -> SaslHandshakeResponse {
    SaslHandshakeResponse::default().with_error_code(ILLEGAL_SASL_STATE)
}

pub fn authenticate() -> SaslAuthenticateResponse {
    SaslAuthenticateResponse::default()
        .with_error_code(ILLEGAL_SASL_STATE)
        .with_error_message(msg(
            "SaslAuthenticate request received outside a SASL exchange",
        ))
}
