//! [`KafkaError`]: a protocol-level refusal as the broker answers it, the Kafka error
//! code (kafka-protocol's [`ResponseError`]) and the message for the response (or
//! the log, where the response has no message field). Handlers return it as data;
//! only infrastructure failures are `Err` of their own types.

use kafka_protocol::error::ResponseError;
use tidewater_quorum::rpc::ControllerFailure;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct KafkaError {
    pub error: ResponseError,
    pub message: String,
}

impl KafkaError {
    pub fn new(error: ResponseError, message: String) -> Self {
        KafkaError { error, message }
    }

    /// The code for the response's `error_code` field.
    pub fn code(&self) -> i16 {
        self.error.code()
    }
}

/// The controller answers with a Kafka error code; one kafka-protocol does not know
/// (never sent by our controller) becomes UNKNOWN_SERVER_ERROR.
impl From<ControllerFailure> for KafkaError {
    fn from(f: ControllerFailure) -> Self {
        let error =
            ResponseError::try_from_code(f.error_code).unwrap_or(ResponseError::UnknownServerError);
        KafkaError::new(error, f.message)
    }
}
