//! Why a sync connection ended: the error type of the connection task.

use shared_types::protocol::ErrorCode;

/// Why a connection ended. Only [`Error::Store`] is an internal failure; the others are the
/// client's doing or a normal stop, and are logged at DEBUG.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The socket ended without a close frame.
    #[error("client went away")]
    ClientGone,
    /// The client sent a close frame.
    #[error("client closed the connection")]
    ClientClosed,
    /// Writing to the socket failed.
    #[error("send failed: {0}")]
    Send(String),
    /// The server is stopping.
    #[error("the server is shutting down")]
    ShuttingDown,
    /// The log stopped before it answered one of this client's transactions.
    #[error("the server stopped while applying a transaction")]
    LogStopped,
    /// The login was refused (the client got a `LoginResult` saying why).
    #[error("login refused: {0}")]
    LoginRefused(String),
    /// The server closed the connection with an `Error` message.
    #[error("closed with {code:?}: {message}")]
    Closed { code: ErrorCode, message: String },
    /// Reading the stored log or objects failed.
    #[error(transparent)]
    Store(#[from] crate::store::Error),
}

/// The result of a step of the connection task.
pub type Result<T = (), E = Error> = std::result::Result<T, E>;
