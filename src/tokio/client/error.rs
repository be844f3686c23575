//! Why a client operation fails: [`ClientError`], the crate's [`Result`] for the tokio
//! client, and how an I/O error is told apart from a TLS fault.

use std::io;
use std::time::Duration;

use crate::client;
use crate::reply::Reply;
use crate::text::Pathname;

/// Why a client operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The protocol session refused the operation or the server failed it; the inner
    /// error says which operation and carries the server's reply.
    #[error(transparent)]
    Protocol(#[from] client::Error),
    /// Reading or writing a socket or a local file failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: &'static str,
        /// The operating system's error.
        source: io::Error,
    },
    /// A deadline of the adapter passed (the session's own deadlines come as
    /// [`ClientError::Protocol`] with [`client::Error::Timeout`]).
    #[error("timed out after {after:?} waiting for {waiting_for}")]
    Timeout {
        /// What did not come.
        waiting_for: &'static str,
        /// The deadline in force.
        after: Duration,
    },
    /// A name in a listing would have made a tree helper write outside its target
    /// directory (`..`, `.`, an absolute path, a separator or NUL inside the name).
    #[error("unsafe name in the server's listing refused: {name:?}")]
    UnsafeName {
        /// The name as listed.
        name: Pathname<'static>,
    },
    /// A command line given to [`Client::raw`](super::Client::raw) could not be read.
    #[error("invalid command: {0}")]
    InvalidCommand(#[from] crate::CommandError),
    /// FTPS was asked for ([`client::Config::tls`] or
    /// [`client::Config::implicit_tls`]) without a TLS configuration
    /// (`ClientConfig::tls`, feature `tls`).
    #[error("FTPS needs a TLS configuration (ClientConfig::tls, feature `tls`)")]
    TlsNotConfigured,
    /// `ClientConfig::tls` is set, but the session's flags do not ask for that kind of
    /// TLS: an implicit configuration needs [`client::Config::implicit_tls`] alone, an
    /// explicit one [`client::Config::tls`] alone. `ClientConfig::with_tls` sets both
    /// sides at once.
    #[error(
        "ClientConfig::tls is for {} TLS but the session's tls/implicit_tls flags say otherwise (see ClientConfig::with_tls)",
        if *.implicit { "implicit" } else { "explicit" }
    )]
    TlsModeMismatch {
        /// Whether the TLS configuration is for implicit TLS.
        implicit: bool,
    },
    /// A TLS handshake failed, or TLS broke on the control connection: an untrusted
    /// or mismatched certificate, no common version or cipher suite, a server that
    /// does not speak TLS. [`ClientError::tls_error`] gives the rustls error.
    #[error("TLS on the {connection} connection failed: {source}")]
    Tls {
        /// `"control"` or `"data"`.
        connection: &'static str,
        /// The error, wrapping a `rustls::Error` when rustls found the fault.
        source: io::Error,
    },
    /// The server's reply was successful but not of the kind the operation needs.
    #[error("unexpected result for {0}")]
    UnexpectedOutput(&'static str),
}

/// For `?` on the `AsyncRead`/`AsyncWrite` side of a transfer.
impl From<io::Error> for ClientError {
    fn from(source: io::Error) -> Self {
        ClientError::Io {
            context: "transfer",
            source,
        }
    }
}

impl ClientError {
    pub(super) fn io(context: &'static str) -> impl FnOnce(io::Error) -> ClientError {
        move |source| ClientError::Io { context, source }
    }

    /// The server's reply behind the error, if there was one.
    pub fn reply(&self) -> Option<&Reply<'static>> {
        match self {
            ClientError::Protocol(error) => error.reply(),
            _ => None,
        }
    }

    /// The rustls error behind a failed handshake (feature `tls`), such as
    /// `rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)` for a
    /// certificate no trusted root signed.
    #[cfg(feature = "tls")]
    pub fn tls_error(&self) -> Option<&rustls::Error> {
        let source = match self {
            ClientError::Tls { source, .. } | ClientError::Io { source, .. } => source,
            _ => return None,
        };
        source.get_ref()?.downcast_ref::<rustls::Error>()
    }

    /// An `io::Error` carrying this error's message, for `AsyncRead`/`AsyncWrite`.
    pub(crate) fn to_io(&self) -> io::Error {
        match self {
            ClientError::Io { source, .. } => io::Error::new(source.kind(), self.to_string()),
            ClientError::Timeout { .. } | ClientError::Protocol(client::Error::Timeout { .. }) => {
                io::Error::new(io::ErrorKind::TimedOut, self.to_string())
            }
            _ => io::Error::other(self.to_string()),
        }
    }
}

/// The result of an operation: the value, or why it failed.
pub type Result<T, E = ClientError> = std::result::Result<T, E>;

/// Whether an I/O error carries an error of rustls (a TLS fault rather than a socket's).
pub(super) fn tls_fault(error: &io::Error) -> bool {
    #[cfg(feature = "tls")]
    if error
        .get_ref()
        .is_some_and(|inner| inner.is::<rustls::Error>())
    {
        return true;
    }
    let _ = error;
    false
}
