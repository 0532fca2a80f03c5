//! The one error type of the client crate.
//!
//! Owns the split between failures of the transport (`Io`, `Timeout`), of the bytes
//! (`Decode`), of the broker's answer (`Protocol`, carrying the precise Kafka error code)
//! and of bootstrapping (`NoBrokerAvailable`, `InvalidBootstrap`). Callers branch on the
//! variant (retry on `Io`/`Timeout`, report `Protocol` codes verbatim), so variants say
//! what failed, never how to react.

use std::time::Duration;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::ApiKey;

/// Everything that can go wrong between a caller and a Kafka broker.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The TCP connection could not be opened, or broke while a request was in flight.
    #[error("I/O error talking to {addr}: {source}")]
    Io {
        /// The broker address as given by the caller.
        addr: String,
        #[source]
        source: std::io::Error,
    },

    /// The broker did not answer (or accept the connection) within the deadline. The
    /// connection is closed afterwards, as Kafka clients do, because a late response would
    /// otherwise be read as the answer to the next request.
    #[error("{api:?} to {addr} timed out after {after:?}")]
    Timeout {
        /// The broker address as given by the caller.
        addr: String,
        /// The API whose request timed out (`ApiKey::ApiVersions` during connect).
        api: ApiKey,
        /// The deadline that expired.
        after: Duration,
    },

    /// The broker answered with a Kafka error code.
    #[error("{api:?} failed with Kafka error {code} ({}){}", error_name(*.code), detail(.message))]
    Protocol {
        /// The Kafka error code exactly as the broker sent it.
        code: i16,
        /// The API that failed.
        api: ApiKey,
        /// The broker's `error_message`, or the resource the code applies to.
        message: Option<String>,
    },

    /// Bytes that do not form a valid message of the expected API and version (either
    /// direction: a request the crate cannot encode, or a response it cannot decode).
    #[error("cannot decode {api:?} v{version}: {reason}")]
    Decode {
        /// The API being encoded or decoded.
        api: ApiKey,
        /// The version in use.
        version: i16,
        /// What exactly was wrong.
        reason: String,
    },

    /// Every bootstrap address failed; `attempts` holds one line per address tried.
    #[error("no broker available from bootstrap '{bootstrap}': {}", .attempts.join("; "))]
    NoBrokerAvailable {
        /// The bootstrap string as given.
        bootstrap: String,
        /// Why each address failed.
        attempts: Vec<String>,
    },

    /// The bootstrap string holds no usable `host:port`.
    #[error("invalid bootstrap servers '{bootstrap}': {reason}")]
    InvalidBootstrap {
        /// The bootstrap string as given.
        bootstrap: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl ClientError {
    /// The Kafka error this is, if the broker answered with one.
    pub fn kafka_error(&self) -> Option<ResponseError> {
        match self {
            ClientError::Protocol { code, .. } => ResponseError::try_from_code(*code),
            _ => None,
        }
    }

    /// Whether retrying the same call later can succeed: transport failures, and Kafka
    /// error codes that Kafka itself marks retriable (e.g. `NOT_CONTROLLER`,
    /// `LEADER_NOT_AVAILABLE`).
    pub fn is_retriable(&self) -> bool {
        match self {
            ClientError::Io { .. }
            | ClientError::Timeout { .. }
            | ClientError::NoBrokerAvailable { .. } => true,
            ClientError::Protocol { code, .. } => {
                ResponseError::try_from_code(*code).is_some_and(|e| e.is_retriable())
            }
            ClientError::Decode { .. } | ClientError::InvalidBootstrap { .. } => false,
        }
    }

    /// Builds a `Protocol` error from a response's error code, or `Ok` for code 0.
    pub(crate) fn check(code: i16, api: ApiKey, message: Option<String>) -> Result<(), Self> {
        if code == 0 {
            Ok(())
        } else {
            Err(ClientError::Protocol { code, api, message })
        }
    }
}

fn error_name(code: i16) -> String {
    ResponseError::try_from_code(code).map_or_else(|| "NONE".to_owned(), |e| e.to_string())
}

fn detail(message: &Option<String>) -> String {
    message
        .as_ref()
        .map_or_else(String::new, |m| format!(": {m}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_error_names_the_kafka_error_and_the_message() {
        let err = ClientError::Protocol {
            code: 36,
            api: ApiKey::CreateTopics,
            message: Some("topic 'orders' already exists".into()),
        };
        assert_eq!(
            err.to_string(),
            "CreateTopics failed with Kafka error 36 (TopicAlreadyExists): topic 'orders' already exists"
        );
        assert_eq!(err.kafka_error(), Some(ResponseError::TopicAlreadyExists));
        assert!(!err.is_retriable());
    }

    #[test]
    fn retriable_follows_kafka_classification() {
        let not_controller = ClientError::Protocol {
            code: 41,
            api: ApiKey::CreateTopics,
            message: None,
        };
        assert!(not_controller.is_retriable());
        let decode = ClientError::Decode {
            api: ApiKey::Metadata,
            version: 12,
            reason: "short".into(),
        };
        assert!(!decode.is_retriable());
    }

    #[test]
    fn check_passes_zero_and_reports_everything_else() {
        assert!(ClientError::check(0, ApiKey::Metadata, None).is_ok());
        let err = ClientError::check(3, ApiKey::Metadata, Some("orders".into()));
        assert!(matches!(
            err,
            Err(ClientError::Protocol {
                code: 3,
                api: ApiKey::Metadata,
                ..
            })
        ));
    }
}
