//! The kube runtime's one error type: a failed API request, or a certificate the
//! runtime could not make.

/// Errors talking to the API server.
#[derive(Debug, thiserror::Error)]
pub enum KubeRuntimeError {
    /// An API request failed.
    #[error("{verb} {kind} {name}: {source}")]
    Api {
        /// What was attempted.
        verb: &'static str,
        /// Object kind.
        kind: &'static str,
        /// Object name (empty for lists).
        name: String,
        /// The client error.
        #[source]
        source: kube::Error,
    },
    /// A CA or certificate could not be made or read.
    #[error("{what}: {source}")]
    Certificates {
        /// Which CA or certificate.
        what: String,
        /// Why.
        #[source]
        source: crate::pki::PkiError,
    },
    /// The operator's own client certificate could not be made.
    #[error(transparent)]
    OperatorCertificate(#[from] crate::identity::IdentityError),
}
