//! What a client session hands out, in one ordered queue ([`Output`]): bytes for the
//! control connection, actions for the adapter, events for the application, and the
//! results of operations ([`Outcome`]).

use std::net::SocketAddr;
use std::time::SystemTime;

use super::error::Error;
use super::id::OperationId;
use crate::listing::Entry;
use crate::reply::{Feature, Reply};
use crate::text::{Pathname, Text};

/// One output of a [`Session`](super::Session), from
/// [`poll_output`](super::Session::poll_output), in the order the session produced them.
///
/// Carry each out before taking the next: the order is part of the protocol (the bytes
/// of an `ABOR` go out before its data connection is closed; a TLS handshake starts
/// before the next command is written).
#[derive(Clone, Debug, PartialEq)]
#[must_use = "every output must be carried out or handed on"]
pub enum Output {
    /// Bytes to write to the control connection, in order. Check
    /// [`urgent_offset`](super::Session::urgent_offset) before writing them: one byte
    /// may have to go as TCP urgent data.
    Transmit(bytes::Bytes),
    /// Something the adapter must do.
    Action(Action),
    /// Something the application should know.
    Event(Event),
}

/// Something the application should know.
///
/// The set can grow: a driver ignores an event it does not know (none changes what the
/// driver must do; those are [`Action`]s).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// An operation finished; every operation gets exactly one of these.
    Completed {
        /// The operation.
        id: OperationId,
        /// Its result.
        result: Result<Outcome, Error>,
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
pub enum Outcome {
    /// The server's final positive reply, for operations that produce nothing more.
    Done(Reply<'static>),
    /// The greeting (220).
    Greeting(Reply<'static>),
    /// Logged in; the reply that said so (230, or 202 to a superfluous `PASS`).
    LoggedIn(Reply<'static>),
    /// The server's features; also kept by the session, see
    /// [`Session::server_features`](super::Session::server_features).
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
    /// A directory's entries, from [`Session::list_entries`](super::Session::list_entries):
    /// parsed from `MLSD` or `LIST`, without the directory itself and its parent, and
    /// without lines no parser understands.
    Entries(Vec<Entry>),
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

/// What the adapter must do for the session. The [module docs](super) list what to
/// report back for each.
///
/// Exhaustive on purpose: a new action changes what every driver must do, so a driver
/// that matches on this enum stops compiling until it handles it.
#[derive(Clone, Debug, PartialEq, Eq)]
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
    /// then accept connections and report each with
    /// [`handle_data_accepted`](super::Session::handle_data_accepted), until the
    /// session keeps one (it answers a stranger with [`Action::RefuseDataPeer`]).
    ListenForData {
        /// The transfer it is for.
        id: OperationId,
        /// Which way the data goes.
        kind: TransferKind,
    },
    /// Close the connection just accepted for transfer `id` (it came from a host other
    /// than the server: port stealing) and go on accepting on the same listener.
    RefuseDataPeer {
        /// The transfer it is for.
        id: OperationId,
        /// Who connected.
        from: SocketAddr,
    },
    /// Start a TLS handshake on the control connection; report
    /// [`handle_control_tls_established`](super::Session::handle_control_tls_established).
    /// The session sends nothing until then. Any control byte that arrived in clear after
    /// the `234` reply has already been refused.
    StartControlTls,
    /// Start a TLS handshake (as the client) on the data connection, resuming the
    /// control connection's TLS session (vsftpd, ProFTPD and FileZilla Server insist);
    /// report [`handle_data_tls_established`](super::Session::handle_data_tls_established)
    /// (the session keeps the deadline, [`Config::data_tls_timeout`](super::Config::data_tls_timeout)).
    StartDataTls {
        /// The transfer it is for.
        id: OperationId,
    },
    /// An upload's data connection is ready and the server accepted the command (its
    /// `1yz`): write the file's bytes now, not before. Report progress with
    /// [`handle_data_progress`](super::Session::handle_data_progress), and close the
    /// data connection after the last byte, then report
    /// [`handle_data_end`](super::Session::handle_data_end).
    SendData {
        /// The transfer it is for.
        id: OperationId,
    },
    /// Close the data connection (or the listener) of this transfer, without waiting
    /// for unsent data; nothing more is read from it or written to it.
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
    /// File bytes from the server to the application (`RETR`): read them as soon as
    /// the connection is open, and report progress with
    /// [`handle_data_progress`](super::Session::handle_data_progress).
    Download,
    /// File bytes from the application to the server (`STOR`, `APPE`, `STOU`): wait
    /// for [`Action::SendData`], then write; close the data connection after the last
    /// byte and report [`handle_data_end`](super::Session::handle_data_end).
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
