//! The one error enum of the domain. The HTTP layer maps each variant to a status, an `error`
//! code and a `WWW-Authenticate` challenge; the CLI prints its message.

use thiserror::Error;

use crate::store::StoreError;

/// Everything a domain operation can refuse or fail with.
#[derive(Debug, Error)]
pub enum DomainError {
    /// Unknown username, wrong password, or a login body naming another tenant. One variant for
    /// all, so the answer cannot tell them apart.
    #[error("The username or password is incorrect.")]
    InvalidCredentials,
    /// secureApi or OAuth client authentication failed: unknown tenant, wrong or missing
    /// secret. One variant for all.
    #[error("Client authentication failed.")]
    InvalidClient,
    /// Too many failed attempts for this name or from this address.
    #[error("Too many failed attempts; retry after {retry_after} seconds.")]
    TooManyAttempts {
        /// Seconds until the window ends.
        retry_after: u64,
    },
    /// The slow-hash pool is full; the caller should retry shortly.
    #[error("The server is busy verifying other credentials; retry shortly.")]
    Busy,
    /// A secureApi resource this api does not have.
    #[error("Unknown resource {resource:?}; allowed: {allowed}.")]
    InvalidResource {
        /// The offending name.
        resource: String,
        /// The allowed names, comma-separated.
        allowed: String,
    },
    /// An OAuth scope the client may not have.
    #[error("The requested scope is not allowed; allowed: {allowed}.")]
    InvalidScope {
        /// The scopes this client may ask for.
        allowed: String,
    },
    /// A client asked to revoke a token issued to another client.
    #[error("The token was not issued to this client.")]
    NotYourToken,
    /// The bearer token is unknown, expired or revoked.
    #[error("The access token is invalid, expired or revoked.")]
    InvalidToken,
    /// The token is valid but does not grant this request: another tenant, another instance
    /// type, or a resource it does not hold.
    #[error("{0}")]
    InsufficientScope(String),
    /// The password was right but is past its expiry date.
    #[error("The password has expired; rotate it to get a new one.")]
    PasswordExpired,
    /// The instance has been disabled by an administrator.
    #[error("The instance is disabled.")]
    InstanceDisabled,
    /// A retrieve found no active token.
    #[error("The instance has no active token; log in or create one.")]
    NoActiveToken,
    /// A create would exceed `max_active_tokens`.
    #[error("The instance already holds {max} active tokens; revoke one first.")]
    TokenLimitReached {
        /// The limit in force.
        max: u32,
    },
    /// An extend would push the token past issue time + `max_token_age`.
    #[error("The token cannot be extended past its maximum age; create a new token.")]
    ExtensionLimitReached,
    /// A tenant already holds the allowed number of instances of a type.
    #[error("The tenant already holds {max} instances of type {instance_type}.")]
    InstanceLimitReached {
        /// The limit in force.
        max: u32,
        /// The type asked for.
        instance_type: String,
    },
    /// A named thing does not exist (CLI and admin look-ups).
    #[error("{0} not found.")]
    NotFound(String),
    /// A name is already taken.
    #[error("{0}")]
    Conflict(String),
    /// The request itself is malformed.
    #[error("{0}")]
    InvalidRequest(String),
    /// The database failed.
    #[error("storage failure: {0}")]
    Store(#[from] StoreError),
    /// Something that should not happen did (RNG or cipher failure).
    #[error("internal failure: {0}")]
    Internal(String),
}
