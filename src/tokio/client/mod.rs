//! `Client`: an FTP client over tokio that drives one [`client::Session`] over any
//! `AsyncRead + AsyncWrite` control stream, opening the data connections the session
//! asks for.
//!
//! This module owns the run loop (drain the session's one output queue after every
//! input, then wait for control bytes, a data connection or the session's next
//! deadline), the data sockets and the typed operation methods. It is a thin executor
//! of the session's outputs, following the adapter contract in [`crate::client`]: it
//! decides nothing about the protocol. Command order, EPSV/PASV fallback, which reply
//! means what, the choice of `MLSD` or `LIST`, who may connect in active mode, when an
//! upload may write, what a TLS end without close_notify means, and every deadline
//! (replies, data connections, data TLS handshakes, stalled transfers) are the
//! session's.
//!
//! With feature `tls` and [`ClientConfig::with_tls`] given, the client speaks FTPS (RFC 4217):
//! explicit (`AUTH TLS` before login, then `PBSZ 0` and `PROT P`, all sent by the
//! session) or implicit (TLS from the first byte). The adapter only runs the handshakes
//! the session asks for; every data connection offers the control connection's TLS
//! session for resumption. The [`tls`](super::tls) module says what is sent and accepted
//! at the end of a protected data connection.
//!
//! File bytes do not pass through the session: [`DownloadStream`] and [`UploadStream`] hand the
//! data connection to the caller as an `AsyncRead`/`AsyncWrite`, and report its end (or
//! its failure) back to the session. A transfer dropped midway is aborted (`ABOR`) before
//! the next operation starts, so the client stays usable.
//!
//! This file holds the configuration and the [`Client`] type with its state; by concern,
//! `setup` opens a client, `commands`, `listing` and `files` are the operations, `run`
//! is the run loop, `data` the data connections, `error` the error type, and
//! `transfer` and `tree` the transfer handles and the directory-tree helpers.
//!
//! ```no_run
//! use ftp_proto::tokio::{Client, ClientConfig};
//! use tokio::io::AsyncReadExt;
//!
//! # async fn run() -> Result<(), ftp_proto::tokio::ClientError> {
//! let mut client = Client::connect("127.0.0.1:21", ClientConfig::default()).await?;
//! client.login("anonymous", "guest").await?;
//! for entry in client.list(Some("/pub")).await? {
//!     println!("{} {:?}", entry.name, entry.size);
//! }
//! let mut download = client.get("/pub/README").await?;
//! let mut text = Vec::new();
//! download.read_to_end(&mut text).await?;
//! println!("{} bytes", download.progress().bytes());
//! download.finish().await?;
//! client.quit().await?;
//! # Ok(())
//! # }
//! ```

mod commands;
mod data;
mod error;
mod files;
mod listing;
mod run;
mod setup;

mod transfer;
mod tree;

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::time::Duration;

use ::tokio::net::{TcpListener, TcpStream};

use super::stream::{ControlStream, MaybeTls};
#[cfg(feature = "tls")]
use super::tls::{ClientTls, TlsConnection};
use crate::client::{self, OperationId, Outcome, Session, TransferKind};
use crate::reply::Reply;

pub use error::{ClientError, Result};
pub use transfer::{DownloadStream, Progress, UploadStream};
pub use tree::{TreeSummary, check_listing_name};

/// Settings of the tokio client beyond the protocol session's.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ClientConfig {
    /// The protocol session's configuration: reply and data-connect timeouts, passive
    /// or active mode, EPSV preference, bounds.
    pub session: client::Config,
    /// How long [`Client::connect`] may take to open the control connection (default
    /// 30 s).
    pub connect_timeout: Duration,
    /// The size of the copy buffer of [`Client::download_to`] and
    /// [`Client::upload_from`] (default 256 KiB).
    pub buffer_size: usize,
    /// The address to listen on in active mode; default: the control connection's
    /// local address (known after [`Client::connect`]), else any address.
    pub active_address: Option<IpAddr>,
    /// FTPS (feature `tls`): whom to trust, explicit or implicit TLS. Set it with
    /// [`ClientConfig::with_tls`], which also sets the session's
    /// [`tls`](client::Config::tls) (explicit) or
    /// [`implicit_tls`](client::Config::implicit_tls) to match. The client runs the
    /// session configuration as given and changes none of it: TLS material that the
    /// session flags contradict is refused with [`ClientError::TlsModeMismatch`], and
    /// asking the session for TLS without it with [`ClientError::TlsNotConfigured`].
    #[cfg(feature = "tls")]
    pub tls: Option<ClientTls>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            session: client::Config::default(),
            connect_timeout: Duration::from_secs(30),
            buffer_size: 256 * 1024,
            active_address: None,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }
}

impl ClientConfig {
    /// Speaks FTPS with `tls` (feature `tls`): sets [`tls`](Self::tls) and the one
    /// session flag that matches it, [`implicit_tls`](client::Config::implicit_tls)
    /// for an implicit [`ClientTls`] and [`tls`](client::Config::tls) (`AUTH TLS`)
    /// otherwise, clearing the other.
    #[cfg(feature = "tls")]
    #[must_use]
    pub fn with_tls(mut self, tls: ClientTls) -> ClientConfig {
        self.session.implicit_tls = tls.is_implicit();
        self.session.tls = !tls.is_implicit();
        self.tls = Some(tls);
        self
    }

    /// Refuses a contradiction between the session's TLS flags and the TLS material,
    /// rather than resolve it behind the user's back.
    fn check(&self) -> Result<()> {
        let session = &self.session;
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            let implicit = tls.is_implicit();
            if session.implicit_tls != implicit || session.tls == implicit {
                return Err(ClientError::TlsModeMismatch { implicit });
            }
            return Ok(());
        }
        if session.tls || session.implicit_tls {
            return Err(ClientError::TlsNotConfigured);
        }
        Ok(())
    }
}

/// A data connection the session asked for, held by the run loop until a transfer takes
/// it (downloads, uploads) or the listing has been read.
struct DataSlot {
    id: OperationId,
    kind: TransferKind,
    state: DataState,
}

enum DataState {
    Connecting(Pin<Box<dyn Future<Output = io::Result<TcpStream>> + Send>>),
    Listening(TcpListener),
    /// The TLS handshake runs (`PROT P`).
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    Securing(Pin<Box<dyn Future<Output = io::Result<MaybeTls>> + Send>>),
    Open(MaybeTls),
}

/// A transfer whose [`DownloadStream`] or [`UploadStream`] went away before its end: the next
/// operation first settles it.
#[derive(Clone, Copy, Debug)]
struct Orphan {
    id: OperationId,
    /// The data connection was still open: send `ABOR`.
    abort: bool,
}

/// What woke the run loop.
enum Input {
    Control(io::Result<usize>),
    Timeout,
    Data(io::Result<DataReady>),
}

enum DataReady {
    Connected(TcpStream),
    Accepted(TcpStream, SocketAddr),
    Secured(MaybeTls),
    Bytes(usize),
    /// A protected listing ended without TLS close_notify; the session decides what
    /// that means.
    EndWithoutCloseNotify,
}

/// How the data connections' TLS handshakes went in one session (feature `tls`): a
/// server that insists on session reuse refuses every full handshake.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DataTlsHandshakes {
    /// Handshakes that resumed the control connection's TLS session.
    pub resumed: u64,
    /// Handshakes that did not (a full handshake).
    pub full: u64,
}

/// An FTP client over a control stream `S` (a `TcpStream` from [`Client::connect`], or
/// any `AsyncRead + AsyncWrite`: a proxy tunnel, a TLS stream).
///
/// Each method runs one operation to its end and returns its result; a failed operation
/// leaves the client usable unless the error [is fatal](client::Error::is_fatal)
/// (the session then refuses everything with the same error). Transfers
/// ([`get`](Self::get), [`put`](Self::put)...) return a handle that borrows the client
/// until the transfer ends.
pub struct Client<S> {
    control: ControlStream<S>,
    session: Session,
    config: ClientConfig,
    local: Option<SocketAddr>,
    read_buffer: Box<[u8]>,
    /// Control bytes taken from the session and not yet written: kept here, so that a
    /// cancelled write never leaves half a command unsent and forgotten.
    output: Vec<u8>,
    /// The offset in `output` of the byte the session wants sent as TCP urgent data.
    output_urgent: Option<usize>,
    /// A second handle on the control socket (from [`Client::connect`]) through which
    /// that byte goes with `MSG_OOB`; without it, the byte goes in the stream.
    urgent_socket: Option<socket2::Socket>,
    control_open: bool,
    results: HashMap<OperationId, Result<Outcome, client::Error>>,
    /// Transfers that got their `1yz`, with the size the server announced.
    started: HashMap<OperationId, Option<u64>>,
    /// Uploads the session allowed to write ([`Action::SendData`]).
    may_send: HashSet<OperationId>,
    /// Transfers whose data connection, held by a transfer handle, the session asked
    /// to close ([`Action::CloseData`]); the handle closes it.
    closing: HashSet<OperationId>,
    /// The listener of an active-mode data connection just accepted, kept until the
    /// session has judged the peer ([`Action::RefuseDataPeer`] puts it back).
    accepted_from: Option<(OperationId, TcpListener)>,
    data: Option<DataSlot>,
    listing: Vec<u8>,
    orphan: Option<Orphan>,
    greeting: Option<Reply<'static>>,
    /// The session asked for TLS on the control connection (after 234).
    upgrade_control: bool,
    /// This control connection's TLS state, shared with its data connections.
    #[cfg(feature = "tls")]
    tls: Option<TlsConnection>,
    data_tls: DataTlsHandshakes,
    /// Why the last data connection's TLS handshake failed, for the transfer's error.
    data_tls_failure: Option<(OperationId, io::Error)>,
}

impl<S> std::fmt::Debug for Client<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("peer", &self.session.peer())
            .field("logged_in", &self.session.is_logged_in())
            .field("closed", &self.session.error())
            .finish_non_exhaustive()
    }
}
