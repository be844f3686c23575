//! What flows in and out of a server session besides control bytes: requests for the
//! application and its responses, actions for the adapter, events for logs, and
//! data-connection reports with the ids that tie them to a listener or a transfer.

use std::net::SocketAddr;
use std::time::SystemTime;

use super::path::VirtualPath;
use crate::command::Password;
use crate::reply::{Reply, ReplyCode};
use crate::text::Text;

/// Identifies a request or a transfer, so that a late answer can never be taken for the
/// answer to a newer one. Only the session makes them (there is no public constructor):
/// an adapter or application gets each id from [`Output`] and hands it back as it came.
/// A transfer keeps the id of the request that opened its file or listing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(u64);

impl RequestId {
    /// Made by the session only.
    pub(crate) fn new(number: u64) -> RequestId {
        RequestId(number)
    }

    /// The number behind the id (unique within one session), for logs.
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

/// Identifies one passive listener, so that a report about a listener the session has
/// closed since (after a new PASV, a PORT, ABOR or REIN) is ignored. Made by the session
/// only, in [`Action::ListenPassive`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChannelId(u64);

impl ChannelId {
    /// Made by the session only.
    pub(crate) fn new(number: u64) -> ChannelId {
        ChannelId(number)
    }

    /// The number behind the id (unique within one session), for logs.
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

/// One output of a session, in the order things happened. Drain them with
/// [`Session::poll_output`](super::Session::poll_output) after every input, until it
/// returns `None`, and act on each one before taking the next: the order is the
/// contract (a reply before the action that follows it, an action before the next
/// reply).
#[derive(Clone, Debug, PartialEq)]
#[must_use = "every output must be acted upon"]
pub enum Output {
    /// Bytes for the client, on the control connection.
    Transmit(bytes::Bytes),
    /// Something the adapter must do now (see [`Action`]).
    Action(Action),
    /// A question for the application (authenticator, storage): answer it with
    /// [`Session::handle_response`](super::Session::handle_response) and this id.
    Request {
        /// The id to answer with.
        id: RequestId,
        /// What is asked.
        request: Request,
    },
    /// Something that happened, for logs and statistics (see [`Event`]).
    Event(Event),
}

/// What the adapter must do, in order. The set is closed (not `non_exhaustive`) on
/// purpose: an adapter that matches on it is told by the compiler when an action is
/// added, rather than ignoring one it must carry out.
///
/// Every data-connection action names the listener ([`ChannelId`]) or the transfer
/// ([`RequestId`]) it is about, and every report back carries the same id.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Open a passive listener on the address family asked for and report
    /// [`DataEvent::Listening`] (with the address to advertise) or
    /// [`DataEvent::ListenFailed`]. Accept ONE connection on it, report it with
    /// [`DataEvent::Accepted`], and close the listener: a listener takes one connection.
    /// Neither read nor write the accepted connection before [`Action::SecureData`] or
    /// [`Action::StartTransfer`] names it.
    ListenPassive {
        /// The listener's id, for the reports about it.
        channel: ChannelId,
        /// The family asked for: the control connection's, unless EPSV named one.
        family: AddressFamily,
    },
    /// Connect to the client at this address now, for the transfer `id` (whose reply is
    /// out already), and report [`DataEvent::Connected`] or [`DataEvent::ConnectFailed`].
    /// The session owns the connect deadline: an adapter needs no timer of its own.
    ConnectActive {
        /// The transfer the connection is for.
        id: RequestId,
        /// The address the client gave with PORT or EPRT (already checked against policy).
        address: SocketAddr,
    },
    /// Run the TLS handshake (server side) on the data connection of transfer `id`
    /// (PROT P), and report [`DataEvent::TlsEstablished`] (saying whether it resumed the
    /// control connection's TLS session) or [`DataEvent::TlsFailed`].
    SecureData {
        /// The transfer.
        id: RequestId,
    },
    /// Run this transfer over its data connection, which is up, checked and (under
    /// PROT P) secured. Report [`DataEvent::Progress`] now and then (see there), and
    /// [`DataEvent::Finished`] or [`DataEvent::Failed`] at the end.
    StartTransfer(Transfer),
    /// The upload `id` reported [`DataEvent::Received`] and is complete: commit it (make
    /// the file visible), then report [`DataEvent::Finished`] or [`DataEvent::Failed`].
    CommitUpload {
        /// The upload.
        id: RequestId,
    },
    /// Forget transfer `id` and everything held for it: the file or listing opened for
    /// it, a connect or handshake in flight, its data connection, the running copy.
    /// Report nothing more about it.
    AbortTransfer {
        /// The transfer to stop.
        id: RequestId,
    },
    /// Close the passive listener, if any, and a data connection not yet handed to a
    /// transfer (after a refused peer, a timeout, REIN, ABOR or a new PASV/EPSV/PORT).
    CloseData,
    /// Start TLS on the control connection now: the 234 reply was in the output before
    /// this action, so send it first, then handshake before reading anything more.
    /// Report with [`Session::handle_control_tls_established`] or
    /// [`Session::handle_control_tls_failed`]; the session owns the handshake's
    /// deadline.
    ///
    /// [`Session::handle_control_tls_established`]: super::Session::handle_control_tls_established
    /// [`Session::handle_control_tls_failed`]: super::Session::handle_control_tls_failed
    StartControlTls,
    /// The application need not answer request `id` any more (it timed out, or the
    /// client aborted or quit): drop its work if it can. A late answer is ignored.
    CancelRequest {
        /// The request.
        id: RequestId,
    },
    /// Send what was transmitted before this, then close the control connection and
    /// any data connection. Nothing follows.
    Close,
}

/// Something that happened in the session: information for logs and statistics, never
/// a duty. The set grows (`non_exhaustive`): an adapter may ignore an event it does not
/// know.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A user logged in (for the adapter's logs and per-user settings).
    LoggedIn {
        /// The user name.
        user: Text<'static>,
    },
    /// A login was refused (wrong credentials, or the authenticator did not answer in
    /// time).
    LoginFailed {
        /// The user name tried.
        user: Text<'static>,
    },
    /// A transfer ended, with its final reply on the way.
    TransferEnded {
        /// The transfer.
        id: RequestId,
        /// Bytes moved, as last reported.
        bytes: u64,
        /// Whether it completed (226) rather than failed or was aborted.
        completed: bool,
    },
    /// The session ended, for this reason; [`Action::Close`] follows.
    Closed {
        /// Why.
        reason: CloseReason,
    },
}

/// Why a session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// The client sent QUIT.
    Quit,
    /// No command came within the idle timeout.
    IdleTimeout,
    /// No login within the login timeout.
    LoginTimeout,
    /// Too many failed logins in this session.
    TooManyFailedLogins,
    /// The client pipelined more input than the session keeps.
    TooMuchInput,
    /// The server is shutting down.
    Shutdown,
    /// The client closed the control connection (or it broke).
    PeerClosed,
    /// The client left our replies unread for longer than the send timeout.
    SendStalled,
    /// The control connection's TLS handshake failed.
    ControlTlsFailed,
    /// The control connection's TLS handshake did not end in time.
    ControlTlsTimeout,
}

/// Address families for passive listeners.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AddressFamily {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

/// A request for the application (the storage back end and the authenticator), in
/// [`Output::Request`].
///
/// Paths are virtual: normalised, absolute, never above `/`. Map `/` to the user's
/// root and refuse anything that resolves outside it (symlinks included).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Request {
    /// Check a user's credentials: answer [`Response::LoggedIn`] or
    /// [`Response::LoginDenied`].
    Authenticate {
        /// The user name from USER.
        user: Text<'static>,
        /// The password from PASS.
        password: Password<'static>,
    },
    /// Accept or refuse a virtual host (HOST, RFC 7151): answer [`Response::Done`].
    SelectHost {
        /// The host name.
        host: Text<'static>,
    },
    /// Describe one path: answer [`Response::Metadata`].
    Metadata {
        /// The path.
        path: VirtualPath,
    },
    /// List a directory for `STAT path` (over the control connection): answer
    /// [`Response::Entries`] with at most `limit` entries, and say in its `more`
    /// whether the directory holds others (and how many, if that is cheap to know).
    ListEntries {
        /// The directory.
        path: VirtualPath,
        /// Entries wanted at most ([`Config::max_control_listing_entries`]): a reply
        /// over the control connection must stay short, so there is no use reading
        /// further than this (and one more, to know there are more).
        ///
        /// [`Config::max_control_listing_entries`]: super::Config::max_control_listing_entries
        limit: usize,
    },
    /// Get ready to send a directory listing over the data connection: check the path
    /// and answer [`Response::Opened`]; the listing itself runs at
    /// [`Action::StartTransfer`].
    OpenListing {
        /// The directory (or file) to list.
        path: VirtualPath,
        /// How to format it.
        format: ListingFormat,
    },
    /// Open a file for reading from `offset`: answer [`Response::Opened`].
    OpenRead {
        /// The file.
        path: VirtualPath,
        /// Where to start (from REST), 0 otherwise.
        offset: u64,
    },
    /// Open a file for writing: answer [`Response::Opened`] (with the chosen name for
    /// [`WriteMode::Unique`]).
    OpenWrite {
        /// The file (for a unique name: the name to start from).
        path: VirtualPath,
        /// How to write.
        mode: WriteMode,
    },
    /// Delete a file: answer [`Response::Done`].
    Delete {
        /// The file.
        path: VirtualPath,
    },
    /// Make a directory: answer [`Response::Done`].
    MakeDirectory {
        /// The new directory.
        path: VirtualPath,
    },
    /// Remove an empty directory: answer [`Response::Done`].
    RemoveDirectory {
        /// The directory.
        path: VirtualPath,
    },
    /// Rename a file or directory: answer [`Response::Done`].
    Rename {
        /// The current name.
        from: VirtualPath,
        /// The new name.
        to: VirtualPath,
    },
    /// Set a file's modification time: answer [`Response::Done`].
    SetModified {
        /// The file.
        path: VirtualPath,
        /// The new time.
        modified: SystemTime,
    },
    /// A SITE command: answer [`Response::Reply`] with the whole reply. Asked only
    /// with [`Config::enable_site`](super::Config::enable_site).
    Site {
        /// The subcommand and its arguments, as sent.
        command: Text<'static>,
    },
}

/// How an upload writes its file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WriteMode {
    /// STOR: create or replace. A back end should keep the old file until the new one is
    /// complete.
    Create,
    /// REST then STOR: write into the existing file from this offset.
    At(u64),
    /// APPE: append.
    Append,
    /// STOU: create under a new name that exists nowhere yet.
    Unique,
}

/// How a directory listing is formatted on the data connection.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ListingFormat {
    /// LIST: `ls -l` lines.
    Unix,
    /// NLST: bare names.
    Names,
    /// MLSD: RFC 3659 fact lines with these facts (as chosen by OPTS MLST).
    Machine {
        /// The facts to include.
        facts: crate::listing::FactSet,
        /// Whether the user may change things: decides the `perm` fact's letters.
        writable: bool,
        /// What the back end can do: a letter for what it cannot (`a` without append,
        /// `f` on directories without directory renames) is left out of `perm`.
        capabilities: super::config::Capabilities,
    },
}

/// A transfer to run on the data connection.
#[derive(Clone, Debug, PartialEq)]
pub struct Transfer {
    /// The transfer's id, the same as the request that opened it.
    pub id: RequestId,
    /// Send (RETR, listings) or receive (STOR, APPE, STOU).
    pub direction: Direction,
    /// What the bytes are.
    pub content: TransferContent,
    /// Convert line ends: `\n` to CRLF when sending, CRLF to `\n` when receiving.
    pub ascii: bool,
    /// Run TLS on the data connection (PROT P).
    pub tls: bool,
}

/// Which way the data flows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Server to client.
    Send,
    /// Client to server.
    Receive,
}

/// The content of a transfer.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum TransferContent {
    /// The file opened for the request with the same id.
    File,
    /// The listing opened for the request with the same id.
    Listing(ListingFormat),
}

/// The application's answer to a [`Request`].
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Response {
    /// Credentials accepted.
    LoggedIn {
        /// Whether this user may change anything (anonymous users usually may not).
        writable: bool,
    },
    /// Credentials refused.
    LoginDenied,
    /// A request without a payload succeeded.
    Done,
    /// What [`Request::Metadata`] asked.
    Metadata(Metadata),
    /// What [`Request::ListEntries`] asked: names and their metadata.
    Entries {
        /// The directory's entries, at most the request's `limit` (the session shows
        /// no more than that however many come).
        entries: Vec<(Text<'static>, Metadata)>,
        /// The wall-clock time of the listing: `ls -l` lines show a time for entries
        /// within six months of it and a year for older ones.
        now: SystemTime,
        /// Whether the directory holds entries beyond `entries`: the reply says so,
        /// with their number when it is known, never a wrong one.
        more: MoreEntries,
    },
    /// A file or listing is open and ready for [`Action::StartTransfer`].
    Opened {
        /// The size to announce in the 150 reply, if known.
        size: Option<u64>,
        /// The name chosen for STOU.
        unique_name: Option<VirtualPath>,
    },
    /// The whole reply to a SITE command.
    Reply(Reply<'static>),
    /// The request failed.
    Failed(StorageError),
}

/// Whether a directory holds more entries than a [`Response::Entries`] carries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MoreEntries {
    /// The answer holds every entry.
    #[default]
    None,
    /// There are more; how many is not known (the back end stopped reading, as it
    /// should past the request's limit when counting would cost a trip per entry).
    Unknown,
    /// This many more entries.
    Count(u64),
}

/// What the application knows about a path.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Metadata {
    /// File, directory, link or other.
    pub kind: FileKind,
    /// Size in bytes.
    pub size: u64,
    /// Last modification, if known.
    pub modified: Option<SystemTime>,
    /// Unix permission bits, if known.
    pub mode: Option<u32>,
}

impl Metadata {
    /// Metadata for a file of this size.
    pub fn file(size: u64, modified: Option<SystemTime>) -> Metadata {
        Metadata {
            kind: FileKind::File,
            size,
            modified,
            mode: None,
        }
    }

    /// Metadata for a directory.
    pub fn directory(modified: Option<SystemTime>) -> Metadata {
        Metadata {
            kind: FileKind::Directory,
            size: 0,
            modified,
            mode: None,
        }
    }

    /// The same metadata with these Unix permission bits.
    pub fn with_mode(mut self, mode: u32) -> Metadata {
        self.mode = Some(mode);
        self
    }
}

/// The kind of a directory entry.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FileKind {
    /// A regular file.
    File,
    /// A directory.
    Directory,
    /// A symbolic link, with its target when known.
    Symlink(Option<Text<'static>>),
    /// Anything else (device, pipe, socket).
    Other,
}

/// Why the storage back end could not do what was asked; each maps to the reply RFC 959
/// gives it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// No such file or directory (550).
    #[error("No such file or directory")]
    NotFound,
    /// Not allowed (550).
    #[error("Permission denied")]
    PermissionDenied,
    /// The name exists already (550).
    #[error("File exists")]
    AlreadyExists,
    /// A directory was needed (550).
    #[error("Not a directory")]
    NotADirectory,
    /// A file was needed (550).
    #[error("Is a directory")]
    IsADirectory,
    /// RMD of a directory with entries (550).
    #[error("Directory not empty")]
    DirectoryNotEmpty,
    /// A regular file was needed and this is something else: a named pipe, a socket,
    /// a device (550). Transferring one could block the session for good.
    #[error("Not a regular file")]
    NotARegularFile,
    /// The name cannot be stored here (553).
    #[error("File name not allowed")]
    InvalidName,
    /// The disk is full (452).
    #[error("Insufficient storage space")]
    InsufficientStorage,
    /// A quota is exhausted (552).
    #[error("Exceeded storage allocation")]
    QuotaExceeded,
    /// The back end cannot do this at all (502).
    #[error("Not supported by this server")]
    Unsupported,
    /// Anything else, said in words for the reply (451).
    #[error("{0}")]
    Other(String),
}

impl StorageError {
    /// The reply code for this error.
    pub fn reply_code(&self) -> ReplyCode {
        match self {
            StorageError::NotFound
            | StorageError::PermissionDenied
            | StorageError::AlreadyExists
            | StorageError::NotADirectory
            | StorageError::IsADirectory
            | StorageError::DirectoryNotEmpty
            | StorageError::NotARegularFile => ReplyCode::FILE_UNAVAILABLE,
            StorageError::InvalidName => ReplyCode::FILE_NAME_NOT_ALLOWED,
            StorageError::InsufficientStorage => ReplyCode::INSUFFICIENT_STORAGE,
            StorageError::QuotaExceeded => ReplyCode::EXCEEDED_STORAGE_ALLOCATION,
            StorageError::Unsupported => ReplyCode::COMMAND_NOT_IMPLEMENTED,
            StorageError::Other(_) => ReplyCode::LOCAL_ERROR,
        }
    }

    /// The error a storage back end's I/O error stands for: the one place where an
    /// [`std::io::Error`] becomes a reply, so that every back end and adapter answers
    /// the same failure with the same code.
    ///
    /// An error that wraps a `StorageError` (`io::Error::other(StorageError::...)`, the
    /// way a back end's reader or writer says exactly what went wrong) is that error.
    /// Otherwise the [`ErrorKind`](std::io::ErrorKind) decides, never the raw `errno`
    /// number (which differs between Linux, macOS and the BSDs); a kind without a
    /// better match is [`StorageError::Other`] with the error's text.
    ///
    /// ```
    /// use std::io;
    /// use ftp_proto::server::StorageError;
    ///
    /// let full = io::Error::from(io::ErrorKind::StorageFull);
    /// assert_eq!(StorageError::from_io(&full), StorageError::InsufficientStorage);
    /// let wrapped = io::Error::other(StorageError::NotARegularFile);
    /// assert_eq!(StorageError::from(&wrapped), StorageError::NotARegularFile);
    /// ```
    pub fn from_io(error: &std::io::Error) -> StorageError {
        use std::io::ErrorKind;

        if let Some(inner) = error
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<StorageError>())
        {
            return inner.clone();
        }
        // Only kinds stable in the crate's MSRV (1.85) are named: `InvalidFilename`
        // (ENAMETOOLONG) is 1.87, so a back end that can tell says so itself.
        match error.kind() {
            ErrorKind::NotFound => StorageError::NotFound,
            // A read-only file system refuses a write as a permission would.
            ErrorKind::PermissionDenied | ErrorKind::ReadOnlyFilesystem => {
                StorageError::PermissionDenied
            }
            ErrorKind::AlreadyExists => StorageError::AlreadyExists,
            // What std answers for a name it cannot pass to the system (a NUL byte).
            ErrorKind::InvalidInput => StorageError::InvalidName,
            ErrorKind::NotADirectory => StorageError::NotADirectory,
            ErrorKind::IsADirectory => StorageError::IsADirectory,
            ErrorKind::DirectoryNotEmpty => StorageError::DirectoryNotEmpty,
            ErrorKind::StorageFull => StorageError::InsufficientStorage,
            // A file over the size limit is a storage allocation exceeded (552).
            ErrorKind::QuotaExceeded | ErrorKind::FileTooLarge => StorageError::QuotaExceeded,
            ErrorKind::Unsupported => StorageError::Unsupported,
            _ => StorageError::Other(error.to_string()),
        }
    }
}

impl From<&std::io::Error> for StorageError {
    /// See [`StorageError::from_io`].
    fn from(error: &std::io::Error) -> StorageError {
        StorageError::from_io(error)
    }
}

impl From<std::io::Error> for StorageError {
    /// See [`StorageError::from_io`].
    fn from(error: std::io::Error) -> StorageError {
        StorageError::from_io(&error)
    }
}

/// What happened on the data side, reported by the adapter. Each report carries the id
/// of the listener or transfer it is about; a report about one the session has let go
/// (after ABOR, a timeout, a new PASV) is ignored.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DataEvent {
    /// The passive listener asked for is open at this address (the one to advertise:
    /// the adapter substitutes its public address for NAT here).
    Listening {
        /// The listener.
        channel: ChannelId,
        /// The address clients should connect to.
        address: SocketAddr,
    },
    /// A passive listener could not be opened (answered 425).
    ListenFailed {
        /// The listener.
        channel: ChannelId,
    },
    /// The passive listener accepted a connection from `peer` (and is closed now). The
    /// session checks the peer (the port-stealing defence) before it uses it.
    Accepted {
        /// The listener.
        channel: ChannelId,
        /// The other end.
        peer: SocketAddr,
    },
    /// The active connect for transfer `id` succeeded.
    Connected {
        /// The transfer.
        id: RequestId,
    },
    /// The active connect for transfer `id` failed (answered 425).
    ConnectFailed {
        /// The transfer.
        id: RequestId,
    },
    /// The TLS handshake asked for by [`Action::SecureData`] succeeded.
    TlsEstablished {
        /// The transfer.
        id: RequestId,
        /// Whether the handshake resumed the control connection's TLS session (the
        /// session refuses one that did not when
        /// [`Config::require_tls_session_reuse`](super::Config::require_tls_session_reuse)
        /// is set).
        resumed: bool,
    },
    /// The TLS handshake asked for by [`Action::SecureData`] failed: the client spoke
    /// no TLS, or the handshake broke (answered 522).
    TlsFailed {
        /// The transfer.
        id: RequestId,
    },
    /// Bytes moved so far in the running transfer. Report it right before any other
    /// input (control bytes, a timeout) while a transfer runs, whenever the figure grew:
    /// the session takes growth as progress for its stall deadline
    /// ([`Config::data_timeout`](super::Config::data_timeout)) and shows the figure in
    /// STAT. A counter the copy loop bumps (an atomic) is enough: no message per read.
    /// While a transfer runs the session asks for a wake-up ([`poll_timeout`]) every
    /// eighth of `data_timeout`, so that these samples come often enough.
    ///
    /// [`poll_timeout`]: super::Session::poll_timeout
    Progress {
        /// The transfer.
        id: RequestId,
        /// Bytes moved so far.
        bytes: u64,
    },
    /// An upload's data connection ended (the client's end of data) and every byte is
    /// written but not committed. Report it before committing anything: the session
    /// decides whether the upload is complete (see
    /// [`Config::accept_upload_without_close_notify`](super::Config::accept_upload_without_close_notify))
    /// and answers [`Action::CommitUpload`] or [`Action::AbortTransfer`].
    Received {
        /// The upload.
        id: RequestId,
        /// Bytes received.
        bytes: u64,
        /// Whether the end was clean: a plain connection's end of stream, or TLS
        /// close_notify. False when a TLS connection ended without close_notify.
        clean: bool,
    },
    /// The transfer completed: every byte sent and the connection closed cleanly, or
    /// (after [`Action::CommitUpload`]) every byte received and stored.
    Finished {
        /// The transfer.
        id: RequestId,
        /// Bytes moved in all.
        bytes: u64,
    },
    /// The running transfer failed.
    Failed {
        /// The transfer.
        id: RequestId,
        /// Why.
        reason: DataFailure,
    },
}

/// Why a running transfer failed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DataFailure {
    /// The data connection broke mid-transfer (answered 426).
    ConnectionLost,
    /// The storage failed (answered by the error's code, 451 for most).
    Storage(StorageError),
}

#[cfg(test)]
mod tests {
    use std::io;

    use super::*;

    #[test]
    fn io_errors_map_by_their_kind() {
        let cases = [
            (io::ErrorKind::NotFound, StorageError::NotFound),
            (
                io::ErrorKind::PermissionDenied,
                StorageError::PermissionDenied,
            ),
            (
                io::ErrorKind::ReadOnlyFilesystem,
                StorageError::PermissionDenied,
            ),
            (io::ErrorKind::AlreadyExists, StorageError::AlreadyExists),
            (io::ErrorKind::InvalidInput, StorageError::InvalidName),
            (io::ErrorKind::NotADirectory, StorageError::NotADirectory),
            (io::ErrorKind::IsADirectory, StorageError::IsADirectory),
            (
                io::ErrorKind::DirectoryNotEmpty,
                StorageError::DirectoryNotEmpty,
            ),
            (
                io::ErrorKind::StorageFull,
                StorageError::InsufficientStorage,
            ),
            (io::ErrorKind::QuotaExceeded, StorageError::QuotaExceeded),
            (io::ErrorKind::FileTooLarge, StorageError::QuotaExceeded),
            (io::ErrorKind::Unsupported, StorageError::Unsupported),
        ];
        for (kind, expected) in cases {
            assert_eq!(
                StorageError::from_io(&io::Error::from(kind)),
                expected,
                "{kind:?}"
            );
            assert_eq!(
                StorageError::from(io::Error::from(kind)),
                expected,
                "{kind:?}"
            );
        }
    }

    #[test]
    fn other_io_errors_keep_their_text_and_answer_451() {
        let error = StorageError::from_io(&io::Error::other("disk on fire"));
        assert_eq!(error, StorageError::Other("disk on fire".into()));
        assert_eq!(error.reply_code(), ReplyCode::LOCAL_ERROR);
        let error = StorageError::from_io(&io::Error::from(io::ErrorKind::TimedOut));
        assert!(matches!(error, StorageError::Other(_)), "{error:?}");
    }

    #[test]
    fn a_wrapped_storage_error_is_itself() {
        for wrapped in [
            StorageError::NotARegularFile,
            StorageError::InvalidName,
            StorageError::QuotaExceeded,
            StorageError::Other("quota service down".into()),
        ] {
            let error = io::Error::other(wrapped.clone());
            assert_eq!(StorageError::from_io(&error), wrapped);
            // Whatever kind it was wrapped with.
            let error = io::Error::new(io::ErrorKind::NotFound, wrapped.clone());
            assert_eq!(StorageError::from_io(&error), wrapped);
        }
    }

    #[cfg(unix)]
    #[test]
    fn the_system_s_own_errors_map_without_their_numbers() {
        let dir = std::env::temp_dir().join(format!("ftp-proto-from-io-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("file");
        std::fs::write(&file, b"x").unwrap();
        let cases = [
            (std::fs::create_dir(&dir), StorageError::AlreadyExists),
            (
                std::fs::metadata(dir.join("missing")).map(drop),
                StorageError::NotFound,
            ),
            (
                std::fs::read_dir(&file).map(drop),
                StorageError::NotADirectory,
            ),
            (std::fs::remove_dir(&dir), StorageError::DirectoryNotEmpty),
        ];
        std::fs::remove_dir_all(&dir).unwrap();
        for (result, expected) in cases {
            let error = result.unwrap_err();
            assert_eq!(StorageError::from_io(&error), expected, "{error}");
        }
    }
}
