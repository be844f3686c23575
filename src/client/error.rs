//! The client session's error type: what went wrong, in which operation, and the
//! server's own words when it had any.

use std::io;

use super::id::OperationKind;
use crate::command::EncodeError;
use crate::parse::ReplyError;
use crate::reply::Reply;

/// Why an operation, or the whole session, failed.
///
/// Errors that end the session ([`Error::is_fatal`]) are sticky: every pending operation
/// completes with a copy, and every later operation is refused with it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server answered with a negative reply (`4yz` or `5yz`).
    #[error("{operation} refused by the server: {}", summary(reply))]
    Refused {
        /// The operation.
        operation: OperationKind,
        /// The server's reply.
        reply: Reply<'static>,
    },
    /// The server could not open the data connection (425).
    #[error(
        "{operation}: the server could not open the data connection: {}",
        summary(reply)
    )]
    CannotOpenDataConnection {
        /// The operation.
        operation: OperationKind,
        /// The server's reply.
        reply: Reply<'static>,
    },
    /// The server aborted the transfer (426, or 451 local error).
    #[error("{operation}: the server aborted the transfer: {}", summary(reply))]
    TransferAborted {
        /// The operation.
        operation: OperationKind,
        /// The server's reply.
        reply: Reply<'static>,
    },
    /// The server answered with a reply the operation cannot use: a code it does not
    /// expect here, or a payload (257 path, 213 size, 227 address...) it cannot read.
    #[error(
        "{operation}: unexpected reply ({expected} expected): {}",
        summary(reply)
    )]
    UnexpectedReply {
        /// The operation.
        operation: OperationKind,
        /// What the operation needed.
        expected: &'static str,
        /// The server's reply.
        reply: Reply<'static>,
    },
    /// An argument cannot be sent (it holds CR, LF or NUL, which would inject a
    /// command); nothing was sent.
    #[error("{operation}: argument refused, nothing sent: {source}")]
    InvalidArgument {
        /// The operation.
        operation: OperationKind,
        /// Why the command could not be encoded.
        source: EncodeError,
    },
    /// The operation's commands would not fit in the pending-output bound.
    #[error("{operation}: the commands exceed the {limit}-byte output bound")]
    CommandTooLong {
        /// The operation.
        operation: OperationKind,
        /// [`Config::max_pending_output`](super::Config::max_pending_output).
        limit: usize,
    },
    /// Too many operations are waiting to start.
    #[error("{operation}: {limit} operations are already queued")]
    QueueFull {
        /// The operation.
        operation: OperationKind,
        /// [`Config::max_queued_operations`](super::Config::max_queued_operations).
        limit: usize,
    },
    /// The server does not support what this operation needs: it answered the command
    /// with 500 or 502 (`reply` holds that answer), or its `FEAT` answer does not list
    /// the feature and the session refused locally, sending nothing (`reply` is `None`;
    /// see [`Config::strict_features`](super::Config::strict_features)).
    #[error("{operation}: the server does not support {feature}{}", reply_suffix(reply.as_ref()))]
    NotSupported {
        /// The operation.
        operation: OperationKind,
        /// The command or FEAT line the server lacks (`"SIZE"`, `"REST STREAM"`...).
        feature: &'static str,
        /// The server's 500 or 502, when it was asked.
        reply: Option<Reply<'static>>,
    },
    /// [`Session::raw`](super::Session::raw) refused a command that would change state
    /// the session keeps track of (the representation type, the data connection, TLS,
    /// the login); nothing was sent. `instead` names the typed way to do it.
    #[error("raw {verb} refused: it changes state the session tracks; use {instead}")]
    RawRefused {
        /// The verb refused.
        verb: crate::verb::Verb,
        /// The typed operation or setting to use instead.
        instead: &'static str,
    },
    /// The adapter reported that the data connection failed.
    #[error("{operation}: data connection failed: {kind}")]
    DataConnectionFailed {
        /// The operation.
        operation: OperationKind,
        /// What the adapter reported.
        kind: io::ErrorKind,
    },
    /// A listing grew past [`Config::max_listing_size`](super::Config::max_listing_size):
    /// the client's own bound, not a fault the server reported. The client closed the
    /// data connection; a 426 the server sends for that is not blamed on the server.
    #[error(
        "{operation}: listing larger than the client's own bound of {limit} bytes \
         (Config::max_listing_size); the client stopped reading"
    )]
    ListingTooLarge {
        /// The operation.
        operation: OperationKind,
        /// The bound in force.
        limit: usize,
    },
    /// [`Session::abort`](super::Session::abort) stopped the operation.
    #[error("{operation} aborted")]
    Aborted {
        /// The operation.
        operation: OperationKind,
    },
    /// A deadline passed. Fatal when the session waited for a reply or for the control
    /// connection's TLS handshake; otherwise only the operation fails.
    #[error("{operation}: timed out waiting for {waiting_for}")]
    Timeout {
        /// The operation.
        operation: OperationKind,
        /// What did not come in time.
        waiting_for: Waiting,
    },
    /// The server sent 421: it is closing the control connection. Fatal.
    #[error("the server is closing the connection: {}", summary(reply))]
    ServiceClosing {
        /// The server's reply.
        reply: Reply<'static>,
    },
    /// The server's first reply was not 220 (or 120 then 220). Fatal.
    #[error("unexpected greeting: {}", summary(reply))]
    UnexpectedGreeting {
        /// The server's reply.
        reply: Reply<'static>,
    },
    /// The server sent bytes that are not a reply, or a reply over the bounds. Fatal:
    /// replies can no longer be matched to commands.
    #[error("malformed reply from the server: {source}")]
    MalformedReply {
        /// What the parser refused.
        source: ReplyError,
    },
    /// The server broke the protocol in a way that makes going on unsafe. Fatal.
    #[error("protocol violation: {reason}")]
    ProtocolViolation {
        /// What the server did.
        reason: &'static str,
    },
    /// The control connection closed without `QUIT`. Fatal.
    #[error("the control connection closed")]
    ControlClosed,
    /// The session ended after `QUIT`; nothing more can be sent.
    #[error("the session is closed")]
    Closed,
}

/// What a timed-out operation was waiting for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Waiting {
    /// A reply on the control connection.
    Reply,
    /// The TLS handshake on the control connection.
    ControlTls,
    /// The data connection to open.
    DataConnection,
    /// The data connection to end after the server's final reply.
    EndOfData,
    /// The next bytes on an open data connection (a listing's, or a file's as the
    /// adapter reports its progress).
    Data,
    /// The data connection's TLS handshake.
    DataTls,
}

impl std::fmt::Display for Waiting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Waiting::Reply => "a reply",
            Waiting::ControlTls => "the control connection's TLS handshake",
            Waiting::DataConnection => "the data connection",
            Waiting::EndOfData => "the end of the data connection",
            Waiting::Data => "data on the data connection",
            Waiting::DataTls => "the data connection's TLS handshake",
        })
    }
}

impl Error {
    /// Whether the error ended the session.
    pub fn is_fatal(&self) -> bool {
        match self {
            Error::Timeout { waiting_for, .. } => {
                matches!(waiting_for, Waiting::Reply | Waiting::ControlTls)
            }
            Error::ServiceClosing { .. }
            | Error::UnexpectedGreeting { .. }
            | Error::MalformedReply { .. }
            | Error::ProtocolViolation { .. }
            | Error::ControlClosed
            | Error::Closed => true,
            _ => false,
        }
    }

    /// The server's reply behind the error, if there was one.
    pub fn reply(&self) -> Option<&Reply<'static>> {
        match self {
            Error::Refused { reply, .. }
            | Error::CannotOpenDataConnection { reply, .. }
            | Error::TransferAborted { reply, .. }
            | Error::UnexpectedReply { reply, .. }
            | Error::ServiceClosing { reply }
            | Error::UnexpectedGreeting { reply } => Some(reply),
            Error::NotSupported { reply, .. } => reply.as_ref(),
            _ => None,
        }
    }

    /// The operation that failed, for errors that belong to one operation.
    pub fn operation(&self) -> Option<OperationKind> {
        match self {
            Error::Refused { operation, .. }
            | Error::CannotOpenDataConnection { operation, .. }
            | Error::TransferAborted { operation, .. }
            | Error::UnexpectedReply { operation, .. }
            | Error::InvalidArgument { operation, .. }
            | Error::CommandTooLong { operation, .. }
            | Error::QueueFull { operation, .. }
            | Error::NotSupported { operation, .. }
            | Error::DataConnectionFailed { operation, .. }
            | Error::ListingTooLarge { operation, .. }
            | Error::Aborted { operation }
            | Error::Timeout { operation, .. } => Some(*operation),
            Error::RawRefused { .. } => Some(OperationKind::Raw),
            _ => None,
        }
    }

    /// The error a negative reply to `operation` means: transfers tell 425, 426 and 451
    /// apart from other refusals because a caller may retry those.
    pub(crate) fn from_negative_reply(operation: OperationKind, reply: Reply<'static>) -> Error {
        let code = reply.code().as_u16();
        if operation.is_transfer() {
            match code {
                425 => return Error::CannotOpenDataConnection { operation, reply },
                426 | 451 => return Error::TransferAborted { operation, reply },
                _ => {}
            }
        }
        Error::Refused { operation, reply }
    }
}

/// `: 502 text` after a message when there is a reply.
fn reply_suffix(reply: Option<&Reply<'_>>) -> String {
    reply
        .map(|reply| format!(": {}", summary(reply)))
        .unwrap_or_default()
}

/// The code and first line of a reply, escaped, for messages that end up in logs.
fn summary(reply: &Reply<'_>) -> String {
    const MAX: usize = 200;
    let first = reply.lines().next().unwrap_or_default();
    let shown = &first[..first.len().min(MAX)];
    let ellipsis = if first.len() > MAX { "..." } else { "" };
    format!("{} {}{ellipsis}", reply.code(), shown.escape_ascii())
}
