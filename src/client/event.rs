//! What a client session hands out: events for the application, actions for the
//! adapter, the results of operations, and the names that tie them together.

use std::fmt;
use std::net::SocketAddr;
use std::time::SystemTime;

use super::error::Error;
use crate::reply::{Feature, Reply};
use crate::text::{Pathname, Text};

/// Names one operation from the moment it is asked for until its
/// [`Event::Completed`]. Ids are never reused within a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OperationId(pub(crate) u64);

impl OperationId {
    /// The id of the greeting, the operation every session starts with.
    pub const GREETING: OperationId = OperationId(0);

    /// The number behind the id, for logs.
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Display for OperationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// Which operation failed or finished; errors carry it so that a log line says what
/// the user asked for, not only which command went wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OperationKind {
    /// Waiting for the server's 220.
    Greeting,
    /// `HOST`.
    Host,
    /// `USER`/`PASS`/`ACCT`, with `AUTH TLS`, `PBSZ`, `PROT` when TLS is wanted.
    Login,
    /// `FEAT`, then `OPTS UTF8 ON` when advertised.
    Features,
    /// `CWD`.
    ChangeDirectory,
    /// `CDUP`.
    ChangeToParent,
    /// `PWD`.
    PrintDirectory,
    /// `TYPE`.
    SetType,
    /// `MKD`.
    MakeDirectory,
    /// `RMD`.
    RemoveDirectory,
    /// `DELE`.
    Delete,
    /// `RNFR` then `RNTO`.
    Rename,
    /// `SIZE`.
    Size,
    /// `MDTM`.
    ModificationTime,
    /// `MFMT`.
    SetModificationTime,
    /// `SITE`.
    Site,
    /// `NOOP`.
    Noop,
    /// `QUIT`.
    Quit,
    /// A command the caller built itself.
    Raw,
    /// `STAT` over the control connection.
    Status,
    /// `MLST` over the control connection.
    MachineEntry,
    /// `RETR`.
    Retrieve,
    /// `STOR`.
    Store,
    /// `APPE`.
    Append,
    /// `STOU`.
    StoreUnique,
    /// `LIST`.
    List,
    /// `NLST`.
    NameList,
    /// `MLSD`.
    MachineList,
}

impl OperationKind {
    /// Whether the operation moves data over a data connection.
    pub fn is_transfer(self) -> bool {
        matches!(
            self,
            OperationKind::Retrieve
                | OperationKind::Store
                | OperationKind::Append
                | OperationKind::StoreUnique
                | OperationKind::List
                | OperationKind::NameList
                | OperationKind::MachineList
        )
    }
}

impl fmt::Display for OperationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OperationKind::Greeting => "greeting",
            OperationKind::Host => "HOST",
            OperationKind::Login => "login",
            OperationKind::Features => "FEAT",
            OperationKind::ChangeDirectory => "CWD",
            OperationKind::ChangeToParent => "CDUP",
            OperationKind::PrintDirectory => "PWD",
            OperationKind::SetType => "TYPE",
            OperationKind::MakeDirectory => "MKD",
            OperationKind::RemoveDirectory => "RMD",
            OperationKind::Delete => "DELE",
            OperationKind::Rename => "rename",
            OperationKind::Size => "SIZE",
            OperationKind::ModificationTime => "MDTM",
            OperationKind::SetModificationTime => "MFMT",
            OperationKind::Site => "SITE",
            OperationKind::Noop => "NOOP",
            OperationKind::Quit => "QUIT",
            OperationKind::Raw => "raw command",
            OperationKind::Status => "STAT",
            OperationKind::MachineEntry => "MLST",
            OperationKind::Retrieve => "RETR",
            OperationKind::Store => "STOR",
            OperationKind::Append => "APPE",
            OperationKind::StoreUnique => "STOU",
            OperationKind::List => "LIST",
            OperationKind::NameList => "NLST",
            OperationKind::MachineList => "MLSD",
        })
    }
}

/// Something the application should know, from [`Session::poll_event`](super::Session::poll_event).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// An operation finished; every operation gets exactly one of these.
    Completed {
        /// The operation.
        id: OperationId,
        /// Its result.
        result: Result<Output, Error>,
    },
    /// The server accepted a transfer command (a `1yz` reply: 125 or 150).
    TransferStarted {
        /// The transfer.
        id: OperationId,
        /// The size the server announced, `(1234 bytes)`, for progress displays.
        size_hint: Option<u64>,
    },
    /// The session is over: after `QUIT` (`error` is `None`) or a fatal error. Comes
    /// once, after the `Completed` events of every operation still pending.
    Closed {
        /// The fatal error, if that is why.
        error: Option<Error>,
    },
}

/// What a successful operation produced. The operation decides the variant; each
/// operation method on [`Session`](super::Session) says which one it yields.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Output {
    /// The server's final positive reply, for operations that produce nothing more.
    Done(Reply<'static>),
    /// The greeting (220).
    Greeting(Reply<'static>),
    /// Logged in; the reply that said so (230, or 202 to a superfluous `PASS`).
    LoggedIn(Reply<'static>),
    /// The server's features; also kept by the session, see
    /// [`Session::features`](super::Session::features).
    Features(Features),
    /// A directory named by a 257 reply (`PWD`, `MKD`).
    Directory(Pathname<'static>),
    /// A size in bytes (`SIZE`).
    Size(u64),
    /// A modification time (`MDTM`).
    ModificationTime(SystemTime),
    /// The facts line of an `MLST` reply, leading space removed:
    /// `type=file;size=12; name`. Parse it with the listing module.
    Entry(Text<'static>),
    /// A listing's raw bytes (`LIST`, `NLST`, `MLSD`), as the data connection carried
    /// them. Parsing them into entries is the job of [`crate::listing`].
    Listing(Vec<u8>),
    /// A file transfer finished: both the end of data and the final reply arrived.
    Transferred {
        /// The final reply (226 or 250).
        reply: Reply<'static>,
        /// For `STOU`: the name the server chose, when it said (`FILE: name`).
        unique_name: Option<Pathname<'static>>,
    },
    /// `QUIT` finished: the server's reply, or `None` when it closed the connection
    /// without one. The session is over.
    Closed {
        /// The server's reply (221), if it sent one.
        reply: Option<Reply<'static>>,
    },
}

/// What the adapter must do for the session, from [`Session::poll_action`](super::Session::poll_action).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
#[must_use = "the session waits until the adapter carries out the action"]
pub enum Action {
    /// Open a data connection to `address` and report it with
    /// [`handle_data_connected`](super::Session::handle_data_connected) or
    /// [`handle_data_failed`](super::Session::handle_data_failed).
    ConnectData {
        /// The transfer it is for.
        id: OperationId,
        /// Where to connect.
        address: SocketAddr,
        /// Which way the data goes.
        kind: TransferKind,
    },
    /// Listen on the control connection's local address, on any port, and report the
    /// address with [`handle_data_listening`](super::Session::handle_data_listening);
    /// then accept one connection and report it with
    /// [`handle_data_connected`](super::Session::handle_data_connected).
    ListenForData {
        /// The transfer it is for.
        id: OperationId,
        /// Which way the data goes.
        kind: TransferKind,
    },
    /// Start a TLS handshake on the control connection; report
    /// [`handle_control_tls_established`](super::Session::handle_control_tls_established).
    /// The session sends nothing until then. Any control byte that arrived in clear after
    /// the `234` reply has already been refused.
    StartControlTls,
    /// Start a TLS handshake (as the client) on the data connection, resuming the
    /// control connection's TLS session (vsftpd, ProFTPD and FileZilla Server insist);
    /// report [`handle_data_tls_established`](super::Session::handle_data_tls_established).
    StartDataTls {
        /// The transfer it is for.
        id: OperationId,
    },
    /// Close the data connection (or the listener) of this transfer, without waiting
    /// for unsent data.
    CloseData {
        /// The transfer it is for.
        id: OperationId,
    },
    /// Close the control connection: the session is over.
    CloseControl,
}

/// What a data connection carries, so that the adapter knows where bytes go.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TransferKind {
    /// File bytes from the server to the application (`RETR`).
    Download,
    /// File bytes from the application to the server (`STOR`, `APPE`, `STOU`): close
    /// the data connection after the last byte and report
    /// [`handle_data_end`](super::Session::handle_data_end).
    Upload,
    /// A listing from the server: feed its bytes to
    /// [`handle_data_input`](super::Session::handle_data_input).
    Listing,
}

/// The features a server listed in its answer to `FEAT` (RFC 2389).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Features {
    features: Vec<Feature<'static>>,
}

impl Features {
    pub(crate) fn from_reply(reply: &Reply<'_>) -> Option<Features> {
        let features = reply
            .features()
            .ok()?
            .into_iter()
            .map(|feature| Feature {
                name: feature.name.into_owned(),
                parameters: feature.parameters.map(Text::into_owned),
            })
            .collect();
        Some(Features { features })
    }

    /// Every feature line, in the server's order.
    pub fn iter(&self) -> impl Iterator<Item = &Feature<'static>> {
        self.features.iter()
    }

    /// The feature with this name (ignoring ASCII case), if listed.
    pub fn get(&self, name: &str) -> Option<&Feature<'static>> {
        self.features.iter().find(|feature| feature.is(name))
    }

    /// Whether a feature with this name is listed.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// `EPSV` (RFC 2428). Many servers support it without listing it, so the session
    /// tries `EPSV` whatever this says.
    pub fn extended_passive(&self) -> bool {
        self.contains("EPSV")
    }

    /// `MLST` (RFC 3659): `MLST` and `MLSD` work.
    pub fn machine_listing(&self) -> bool {
        self.contains("MLST")
    }

    /// `UTF8` (RFC 2640).
    pub fn utf8(&self) -> bool {
        self.contains("UTF8")
    }

    /// `REST STREAM` (RFC 3659): transfers can resume at an offset.
    pub fn restart_stream(&self) -> bool {
        self.get("REST").is_some_and(|feature| {
            feature.parameters.as_ref().is_some_and(|parameters| {
                parameters
                    .as_bytes()
                    .split(|&byte| byte == b' ')
                    .any(|word| word.eq_ignore_ascii_case(b"STREAM"))
            })
        })
    }

    /// `SIZE` (RFC 3659).
    pub fn size(&self) -> bool {
        self.contains("SIZE")
    }

    /// `MDTM` (RFC 3659).
    pub fn modification_time(&self) -> bool {
        self.contains("MDTM")
    }

    /// `MFMT` (draft-somers-ftp-mfxx).
    pub fn set_modification_time(&self) -> bool {
        self.contains("MFMT")
    }
}
