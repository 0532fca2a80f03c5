//! The local runtime's one error type.

use super::certs;
use super::process::ProcessError;
use super::state::StateError;

/// Errors of the local runtime.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// State directory IO.
    #[error(transparent)]
    State(#[from] StateError),
    /// A broker process could not be run.
    #[error(transparent)]
    Process(#[from] ProcessError),
    /// The cluster's certificates could not be made current.
    #[error(transparent)]
    Certs(#[from] certs::CertError),
    /// No binary for the spec's version.
    #[error("no broker binary for version {0}")]
    NoBinary(String),
}
