//! `Client`: an FTP client over tokio that drives one [`client::Session`] over any
//! `AsyncRead + AsyncWrite` control stream, opening the data connections the session
//! asks for.
//!
//! This file owns the run loop (drain the session's one output queue after every
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

mod transfer;
mod tree;

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use ::tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use ::tokio::net::{TcpListener, TcpStream, ToSocketAddrs};

use super::stream::{ControlStream, MaybeTls};
#[cfg(feature = "tls")]
use super::tls::{ClientTls, TlsConnection};
use crate::client::{
    self, Action, Event, Features, OperationId, Outcome, Output, Session, TransferKind,
};
use crate::listing::Entry;
use crate::reply::Reply;
use crate::text::{Pathname, Text};

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
    /// A command line given to [`Client::raw`] could not be read.
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
    fn io(context: &'static str) -> impl FnOnce(io::Error) -> ClientError {
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

impl Client<TcpStream> {
    /// Connects to `address` (within [`ClientConfig::connect_timeout`]), runs the TLS
    /// handshake first with implicit TLS, and waits for the greeting.
    ///
    /// With TLS, the server's certificate is checked against the name set with
    /// [`ClientTls::with_server_name`], else against the IP address connected to.
    pub async fn connect(address: impl ToSocketAddrs, config: ClientConfig) -> Result<Self> {
        let timeout = config.connect_timeout;
        let stream = ::tokio::time::timeout(timeout, TcpStream::connect(address))
            .await
            .map_err(|_| ClientError::Timeout {
                waiting_for: "the control connection",
                after: timeout,
            })?
            .map_err(ClientError::io("connecting the control connection"))?;
        let _ = stream.set_nodelay(true);
        let peer = stream
            .peer_addr()
            .map_err(ClientError::io("reading the peer address"))?;
        let local = stream.local_addr().ok();
        // The same socket, for the one byte of urgent data before ABOR.
        let urgent_socket = std::os::fd::AsFd::as_fd(&stream)
            .try_clone_to_owned()
            .map(socket2::Socket::from)
            .ok();
        let mut client = Client::build(stream, peer, config)?;
        client.local = local;
        client.urgent_socket = urgent_socket;
        client.start().await?;
        Ok(client)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Client<S> {
    /// A client over an open control stream to `peer` (the address passive data
    /// connections go to); runs the TLS handshake first with implicit TLS, and waits
    /// for the server's greeting.
    pub async fn new(control: S, peer: SocketAddr, config: ClientConfig) -> Result<Self> {
        let mut client = Client::build(control, peer, config)?;
        client.start().await?;
        Ok(client)
    }

    fn build(control: S, peer: SocketAddr, config: ClientConfig) -> Result<Self> {
        config.check()?;
        #[cfg(feature = "tls")]
        let tls = config.tls.as_ref().map(|tls| tls.connection(peer.ip()));
        Ok(Client {
            control: ControlStream::Plain(control),
            session: Session::new(config.session.clone(), peer, Instant::now()),
            config,
            local: None,
            read_buffer: vec![0; 16 * 1024].into_boxed_slice(),
            output: Vec::new(),
            output_urgent: None,
            urgent_socket: None,
            control_open: true,
            results: HashMap::new(),
            started: HashMap::new(),
            may_send: HashSet::new(),
            closing: HashSet::new(),
            accepted_from: None,
            data: None,
            listing: Vec::new(),
            orphan: None,
            greeting: None,
            upgrade_control: false,
            #[cfg(feature = "tls")]
            tls,
            data_tls: DataTlsHandshakes::default(),
            data_tls_failure: None,
        })
    }

    /// Implicit TLS's handshake, then the greeting.
    async fn start(&mut self) -> Result<()> {
        if self.config.session.implicit_tls {
            let timeout = self.config.connect_timeout;
            ::tokio::time::timeout(timeout, self.secure_control())
                .await
                .map_err(|_| ClientError::Timeout {
                    waiting_for: "the control connection's TLS handshake",
                    after: timeout,
                })??;
        }
        self.wait_for_greeting().await
    }

    /// Runs the client side of the control connection's TLS handshake.
    async fn secure_control(&mut self) -> Result<()> {
        #[cfg(feature = "tls")]
        if let (Some(tls), ControlStream::Plain(_)) = (&self.tls, &self.control) {
            let ControlStream::Plain(plain) =
                std::mem::replace(&mut self.control, ControlStream::Gone)
            else {
                unreachable!("matched above");
            };
            let secured = tls
                .connect_control(plain)
                .await
                .map_err(|source| ClientError::Tls {
                    connection: "control",
                    source,
                })?;
            tracing::debug!(
                version = ?secured.get_ref().1.protocol_version(),
                "control connection secured"
            );
            self.control = ControlStream::Tls(Box::new(secured));
            return Ok(());
        }
        Err(ClientError::TlsNotConfigured)
    }

    async fn wait_for_greeting(&mut self) -> Result<()> {
        match self.wait(OperationId::GREETING).await? {
            Outcome::Greeting(reply) => {
                self.greeting = Some(reply);
                Ok(())
            }
            _ => Err(ClientError::UnexpectedOutput("greeting")),
        }
    }

    // ----- State -----

    /// The server's greeting (220).
    pub fn greeting(&self) -> Option<&Reply<'static>> {
        self.greeting.as_ref()
    }

    /// The protocol session, for its state (features, login, the error that ended it).
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// The settings in force.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// Sets the local address of the control connection, where active-mode listeners
    /// bind when [`ClientConfig::active_address`] is not set ([`Client::connect`] sets
    /// it itself).
    pub fn set_local_address(&mut self, local: SocketAddr) {
        self.local = Some(local);
    }

    /// Whether the session is over (after `QUIT` or a fatal error).
    pub fn is_closed(&self) -> bool {
        self.session.error().is_some()
    }

    /// The TLS version the control connection runs (feature `tls`), once it runs TLS.
    #[cfg(feature = "tls")]
    pub fn tls_version(&self) -> Option<rustls::ProtocolVersion> {
        match &self.control {
            ControlStream::Tls(stream) => stream.get_ref().1.protocol_version(),
            _ => None,
        }
    }

    /// How many data connections' TLS handshakes resumed the control connection's
    /// session, and how many did not, so far in this session.
    pub fn data_tls_handshakes(&self) -> DataTlsHandshakes {
        self.data_tls
    }

    // ----- Operations -----

    /// Logs in with `USER`/`PASS` (use `anonymous` and any password for anonymous
    /// access). Returns the server's 230 reply.
    pub async fn login(&mut self, user: &str, password: &str) -> Result<Reply<'static>> {
        self.prepare().await?;
        let id = self.session.login(user, password, Instant::now())?;
        match self.wait(id).await? {
            Outcome::LoggedIn(reply) => Ok(reply),
            _ => Err(ClientError::UnexpectedOutput("login")),
        }
    }

    /// `FEAT` (then `OPTS UTF8 ON` when offered); the session keeps the answer and
    /// refuses operations the server does not advertise.
    pub async fn features(&mut self) -> Result<Features> {
        self.prepare().await?;
        let id = self.session.features(Instant::now())?;
        match self.wait(id).await? {
            Outcome::Features(features) => Ok(features),
            _ => Err(ClientError::UnexpectedOutput("FEAT")),
        }
    }

    /// `CWD path`.
    pub async fn cwd<'p>(&mut self, path: impl Into<Pathname<'p>>) -> Result<Reply<'static>> {
        self.prepare().await?;
        let id = self.session.change_directory(path, Instant::now())?;
        self.wait_done(id, "CWD").await
    }

    /// `CDUP`.
    pub async fn cdup(&mut self) -> Result<Reply<'static>> {
        self.prepare().await?;
        let id = self.session.change_to_parent(Instant::now())?;
        self.wait_done(id, "CDUP").await
    }

    /// `PWD`: the current directory.
    pub async fn pwd(&mut self) -> Result<Pathname<'static>> {
        self.prepare().await?;
        let id = self.session.print_directory(Instant::now())?;
        match self.wait(id).await? {
            Outcome::Directory(path) => Ok(path),
            _ => Err(ClientError::UnexpectedOutput("PWD")),
        }
    }

    /// `MKD path`: the new directory's path when the server names it.
    pub async fn mkdir<'p>(
        &mut self,
        path: impl Into<Pathname<'p>>,
    ) -> Result<Option<Pathname<'static>>> {
        self.prepare().await?;
        let id = self.session.make_directory(path, Instant::now())?;
        match self.wait(id).await? {
            Outcome::Directory(path) => Ok(Some(path)),
            Outcome::Done(_) => Ok(None),
            _ => Err(ClientError::UnexpectedOutput("MKD")),
        }
    }

    /// `RMD path`.
    pub async fn rmdir<'p>(&mut self, path: impl Into<Pathname<'p>>) -> Result<Reply<'static>> {
        self.prepare().await?;
        let id = self.session.remove_directory(path, Instant::now())?;
        self.wait_done(id, "RMD").await
    }

    /// `DELE path`.
    pub async fn delete<'p>(&mut self, path: impl Into<Pathname<'p>>) -> Result<Reply<'static>> {
        self.prepare().await?;
        let id = self.session.delete(path, Instant::now())?;
        self.wait_done(id, "DELE").await
    }

    /// `RNFR from`, `RNTO to`.
    pub async fn rename<'p>(
        &mut self,
        from: impl Into<Pathname<'p>>,
        to: impl Into<Pathname<'p>>,
    ) -> Result<Reply<'static>> {
        self.prepare().await?;
        let id = self.session.rename(from, to, Instant::now())?;
        self.wait_done(id, "rename").await
    }

    /// `SIZE path`, in bytes.
    pub async fn size<'p>(&mut self, path: impl Into<Pathname<'p>>) -> Result<u64> {
        self.prepare().await?;
        let id = self.session.size(path, Instant::now())?;
        match self.wait(id).await? {
            Outcome::Size(size) => Ok(size),
            _ => Err(ClientError::UnexpectedOutput("SIZE")),
        }
    }

    /// `MDTM path`: the modification time.
    pub async fn mdtm<'p>(&mut self, path: impl Into<Pathname<'p>>) -> Result<SystemTime> {
        self.prepare().await?;
        let id = self.session.modification_time(path, Instant::now())?;
        match self.wait(id).await? {
            Outcome::ModificationTime(time) => Ok(time),
            _ => Err(ClientError::UnexpectedOutput("MDTM")),
        }
    }

    /// `MFMT time path`: sets the modification time.
    pub async fn mfmt<'p>(
        &mut self,
        path: impl Into<Pathname<'p>>,
        modified: SystemTime,
    ) -> Result<Reply<'static>> {
        self.prepare().await?;
        let id = self
            .session
            .set_modification_time(path, modified, Instant::now())?;
        self.wait_done(id, "MFMT").await
    }

    /// `SITE command`.
    pub async fn site<'p>(&mut self, command: impl Into<Text<'p>>) -> Result<Reply<'static>> {
        self.prepare().await?;
        let id = self.session.site(command, Instant::now())?;
        self.wait_done(id, "SITE").await
    }

    /// `NOOP`.
    pub async fn noop(&mut self) -> Result<Reply<'static>> {
        self.prepare().await?;
        let id = self.session.noop(Instant::now())?;
        self.wait_done(id, "NOOP").await
    }

    /// Sends one command line (`SYST`, `HELP`, `STAT file`...) and returns the server's
    /// reply when it is positive (`2yz` or `3yz`). For control-only commands: one that
    /// changes state the session tracks (`TYPE`, `MODE`, `STRU`, `AUTH`, `PBSZ`, `PROT`,
    /// `CCC`, `REIN`, `USER`, `PASS`, `ACCT`, `PASV`, `EPSV`, `PORT`, `EPRT`, `REST`,
    /// the transfers and listings, `QUIT`) is refused with
    /// [`client::Error::RawRefused`], which names the typed method to use (for `TYPE`:
    /// [`set_type`](Self::set_type), [`get_as`](Self::get_as), [`put_as`](Self::put_as)).
    /// A line holding CR, LF or NUL is refused.
    pub async fn raw(&mut self, line: &str) -> Result<Reply<'static>> {
        let command = crate::parse_command(line.as_bytes())?.into_owned();
        self.prepare().await?;
        let id = self.session.raw(command, Instant::now())?;
        self.wait_done(id, "raw command").await
    }

    /// `TYPE`: the representation type of later file transfers
    /// ([`RepresentationType::Image`](crate::RepresentationType::Image), bytes as they
    /// are, the default; or `RepresentationType::Ascii(FormatControl::NonPrint)`, text
    /// with CRLF line ends on the wire). Listings always travel as `TYPE A`.
    pub async fn set_type(
        &mut self,
        representation: crate::RepresentationType,
    ) -> Result<Reply<'static>> {
        self.prepare().await?;
        let id = self.session.set_type(representation, Instant::now())?;
        self.wait_done(id, "TYPE").await
    }

    /// `QUIT`, then closes the control connection.
    pub async fn quit(mut self) -> Result<()> {
        self.prepare().await?;
        let id = self.session.quit(Instant::now())?;
        let result = self.wait(id).await;
        let _ = ::tokio::time::timeout(Duration::from_secs(1), self.control.shutdown()).await;
        match result {
            Ok(_) | Err(ClientError::Protocol(client::Error::Closed)) => Ok(()),
            Err(error) => Err(error),
        }
    }

    /// Lists a directory as parsed entries: `MLSD` when the server offers `MLST`, else
    /// `LIST` read with [`crate::listing`]. The directory's own entry and its parent
    /// (`cdir`/`pdir`, or `.` and `..` directories in a `LIST`) are left out, and so are
    /// `LIST` lines no parser understands.
    pub async fn list(&mut self, path: Option<&str>) -> Result<Vec<Entry>> {
        self.list_path(path.map(Pathname::from)).await
    }

    /// [`list`](Self::list) for a path that may not be UTF-8.
    pub async fn list_path(&mut self, path: Option<Pathname<'_>>) -> Result<Vec<Entry>> {
        self.prepare().await?;
        let id = self
            .session
            .list_entries(path, SystemTime::now(), Instant::now())?;
        match self.wait(id).await? {
            Outcome::Entries(entries) => Ok(entries),
            _ => Err(ClientError::UnexpectedOutput("listing")),
        }
    }

    /// `LIST [path]`: the raw bytes, for listings the parsers do not know.
    pub async fn list_raw(&mut self, path: Option<&str>) -> Result<Vec<u8>> {
        self.prepare().await?;
        let path = path.map(Pathname::from);
        self.listing_of(|session, now| session.list(path, now))
            .await
    }

    /// Sends one command line that answers over a data connection (a `SITE` command
    /// that lists, a vendor verb) and returns the bytes it carried, once the server's
    /// final reply confirmed them. The session opens the data connection as for
    /// `LIST` ([`client::Session::raw_transfer`]); commands that change what the
    /// session tracks are refused as by [`raw`](Self::raw).
    pub async fn raw_listing(&mut self, line: &str) -> Result<Vec<u8>> {
        let command = crate::parse_command(line.as_bytes())?.into_owned();
        self.prepare().await?;
        self.listing_of(|session, now| session.raw_transfer(command, TransferKind::Listing, now))
            .await
    }

    /// `NLST [path]`: the names, one per line of the server's answer.
    pub async fn nlst(&mut self, path: Option<&str>) -> Result<Vec<Pathname<'static>>> {
        self.prepare().await?;
        let path = path.map(Pathname::from);
        let bytes = self
            .listing_of(|session, now| session.name_list(path, now))
            .await?;
        Ok(bytes
            .split(|&byte| byte == b'\n')
            .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
            .filter(|line| !line.is_empty())
            .map(|line| Pathname::from(line.to_vec()))
            .collect())
    }

    /// `RETR path`: a download whose bytes are read from the returned [`DownloadStream`].
    pub async fn get<'p>(
        &mut self,
        path: impl Into<Pathname<'p>>,
    ) -> Result<DownloadStream<'_, S>> {
        self.prepare().await?;
        let id = self.session.retrieve(path, Instant::now())?;
        self.open_download(id, 0).await
    }

    /// [`get`](Self::get) in `representation` for this download only, such as
    /// `RepresentationType::Ascii(FormatControl::NonPrint)` for text (the server sends
    /// CRLF line ends); later transfers keep the client's type (see
    /// [`set_type`](Self::set_type)).
    pub async fn get_as<'p>(
        &mut self,
        path: impl Into<Pathname<'p>>,
        representation: crate::RepresentationType,
    ) -> Result<DownloadStream<'_, S>> {
        self.prepare().await?;
        let id = self
            .session
            .retrieve_as(path, representation, Instant::now())?;
        self.open_download(id, 0).await
    }

    /// [`put`](Self::put) in `representation` for this upload only.
    pub async fn put_as<'p>(
        &mut self,
        path: impl Into<Pathname<'p>>,
        representation: crate::RepresentationType,
    ) -> Result<UploadStream<'_, S>> {
        self.prepare().await?;
        let id = self
            .session
            .store_as(path, representation, Instant::now())?;
        self.open_upload(id, 0).await
    }

    /// `REST offset`, `RETR path`: resumes a download at byte `offset`.
    pub async fn get_from<'p>(
        &mut self,
        path: impl Into<Pathname<'p>>,
        offset: u64,
    ) -> Result<DownloadStream<'_, S>> {
        self.prepare().await?;
        let id = self.session.retrieve_from(path, offset, Instant::now())?;
        self.open_download(id, offset).await
    }

    /// `STOR path`: an upload whose bytes are written to the returned [`UploadStream`]; call
    /// [`UploadStream::finish`] after the last byte.
    pub async fn put<'p>(&mut self, path: impl Into<Pathname<'p>>) -> Result<UploadStream<'_, S>> {
        self.prepare().await?;
        let id = self.session.store(path, Instant::now())?;
        self.open_upload(id, 0).await
    }

    /// `REST offset`, `STOR path`: resumes an upload at byte `offset` (write the bytes
    /// from `offset` on).
    pub async fn put_from<'p>(
        &mut self,
        path: impl Into<Pathname<'p>>,
        offset: u64,
    ) -> Result<UploadStream<'_, S>> {
        self.prepare().await?;
        let id = self.session.store_from(path, offset, Instant::now())?;
        self.open_upload(id, offset).await
    }

    /// `APPE path`: an upload appended to the file.
    pub async fn append<'p>(
        &mut self,
        path: impl Into<Pathname<'p>>,
    ) -> Result<UploadStream<'_, S>> {
        self.prepare().await?;
        let id = self.session.append(path, Instant::now())?;
        self.open_upload(id, 0).await
    }

    /// Downloads `path` into `writer`; returns the number of bytes.
    pub async fn download_to<'p, W: AsyncWrite + Unpin>(
        &mut self,
        path: impl Into<Pathname<'p>>,
        writer: &mut W,
    ) -> Result<u64> {
        let size = self.config.buffer_size.max(1);
        let mut download = self.get(path).await?;
        let mut buffer = vec![0; size];
        loop {
            let read = match download.read(&mut buffer).await {
                Ok(read) => read,
                Err(error) => return Err(download.failure(error).await),
            };
            if read == 0 {
                break;
            }
            if let Err(source) = writer.write_all(&buffer[..read]).await {
                download.abort().await?;
                return Err(ClientError::Io {
                    context: "writing the download",
                    source,
                });
            }
        }
        writer
            .flush()
            .await
            .map_err(ClientError::io("writing the download"))?;
        let bytes = download.progress().bytes();
        download.finish().await?;
        Ok(bytes)
    }

    /// Uploads everything `reader` yields to `path` (`STOR`); returns the number of
    /// bytes.
    pub async fn upload_from<'p, R: AsyncRead + Unpin>(
        &mut self,
        path: impl Into<Pathname<'p>>,
        reader: &mut R,
    ) -> Result<u64> {
        let upload = self.put(path).await?;
        transfer::copy_into(upload, reader).await
    }

    /// Runs a listing operation and returns its bytes.
    async fn listing_of(
        &mut self,
        start: impl FnOnce(&mut Session, Instant) -> Result<OperationId, client::Error>,
    ) -> Result<Vec<u8>> {
        let id = start(&mut self.session, Instant::now())?;
        match self.wait(id).await? {
            Outcome::Listing(bytes) => Ok(bytes),
            _ => Err(ClientError::UnexpectedOutput("listing")),
        }
    }

    async fn open_download(
        &mut self,
        id: OperationId,
        offset: u64,
    ) -> Result<DownloadStream<'_, S>> {
        let (stream, size_hint) = self.open_transfer(id).await?;
        Ok(DownloadStream::new(self, id, stream, offset, size_hint))
    }

    async fn open_upload(&mut self, id: OperationId, offset: u64) -> Result<UploadStream<'_, S>> {
        let (stream, _) = self.open_transfer(id).await?;
        Ok(UploadStream::new(self, id, stream, offset))
    }

    /// Drives the session until transfer `id` has its data connection open and the
    /// server's `1yz`, then takes the data connection out of the run loop.
    async fn open_transfer(&mut self, id: OperationId) -> Result<(MaybeTls, Option<u64>)> {
        self.orphan = Some(Orphan { id, abort: true });
        let opened = self
            .run_until(|client| {
                client.results.contains_key(&id)
                    || client.data.as_ref().is_some_and(|slot| {
                        slot.id == id
                            && matches!(slot.state, DataState::Open(_))
                            && match slot.kind {
                                // The session says when an upload may write.
                                TransferKind::Upload => client.may_send.contains(&id),
                                // A download is handed over once the 1yz is in, for
                                // the size it announces.
                                _ => client.started.contains_key(&id),
                            }
                    })
            })
            .await;
        if let Err(error) = opened {
            self.orphan = None;
            return Err(error);
        }
        if let Some(result) = self.results.remove(&id) {
            self.orphan = None;
            self.data = None;
            self.started.remove(&id);
            result?;
            return Err(ClientError::UnexpectedOutput("transfer without data"));
        }
        let size_hint = self.started.remove(&id).flatten();
        self.may_send.remove(&id);
        match self.data.take() {
            Some(DataSlot {
                state: DataState::Open(stream),
                ..
            }) => Ok((stream, size_hint)),
            _ => unreachable!("run_until stopped on an open data connection"),
        }
    }

    // ----- The run loop -----

    /// Settles a transfer whose handle went away, then fails fast if the session is over.
    async fn prepare(&mut self) -> Result<()> {
        if let Some(orphan) = self.orphan.take() {
            if orphan.abort {
                self.session.abort(orphan.id, Instant::now());
            }
            if self.data.as_ref().is_some_and(|slot| slot.id == orphan.id) {
                self.data = None;
            }
            let _ = self.wait(orphan.id).await;
        }
        Ok(())
    }

    /// Runs the loop until operation `id` completes and returns its result.
    pub(crate) async fn wait(&mut self, id: OperationId) -> Result<Outcome> {
        self.run_until(|client| client.results.contains_key(&id))
            .await?;
        if self.orphan.is_some_and(|orphan| orphan.id == id) {
            self.orphan = None;
        }
        self.started.remove(&id);
        self.may_send.remove(&id);
        self.closing.remove(&id);
        let failure = self
            .data_tls_failure
            .take_if(|(failed, _)| *failed == id)
            .map(|(_, source)| source);
        match self.results.remove(&id) {
            Some(Ok(output)) => Ok(output),
            // The session only knows the data connection failed; say why.
            Some(Err(client::Error::DataConnectionFailed { .. })) if failure.is_some() => {
                Err(ClientError::Tls {
                    connection: "data",
                    source: failure.unwrap_or_else(|| unreachable!()),
                })
            }
            Some(Err(error)) => Err(error.into()),
            None => Err(ClientError::UnexpectedOutput("operation")),
        }
    }

    async fn wait_done(&mut self, id: OperationId, what: &'static str) -> Result<Reply<'static>> {
        match self.wait(id).await? {
            Outcome::Done(reply) => Ok(reply),
            _ => Err(ClientError::UnexpectedOutput(what)),
        }
    }

    /// Drains the session, writes, and waits for the next input, until `done` holds.
    /// Cancel-safe: every piece of state lives in `self`.
    async fn run_until(&mut self, done: impl Fn(&Self) -> bool) -> Result<()> {
        loop {
            self.pump()?;
            // The peer of an accepted data connection has been judged by now.
            self.accepted_from = None;
            self.flush().await?;
            if std::mem::take(&mut self.upgrade_control) {
                self.upgrade_control_stream().await?;
                continue;
            }
            if done(self) {
                return Ok(());
            }
            let input = self.next_input().await?;
            let now = Instant::now();
            match input {
                Input::Control(Ok(0)) | Input::Control(Err(_)) => {
                    self.control_open = false;
                    self.session.handle_control_closed(now);
                }
                Input::Control(Ok(read)) => {
                    tracing::trace!(received = ?self.read_buffer[..read].escape_ascii().to_string(), "control");
                    self.session
                        .handle_control_input(&self.read_buffer[..read], now);
                }
                Input::Timeout => self.session.handle_timeout(now),
                Input::Data(ready) => self.on_data(ready, now),
            }
        }
    }

    /// Runs the control connection's handshake after `234`, within the session's
    /// deadline. A failed handshake ends the session: the connection is unusable.
    async fn upgrade_control_stream(&mut self) -> Result<()> {
        let deadline = self.session.poll_timeout();
        let handshake = self.secure_control();
        let secured = match deadline {
            Some(deadline) => ::tokio::time::timeout_at(deadline.into(), handshake)
                .await
                .ok(),
            None => Some(handshake.await),
        };
        let now = Instant::now();
        match secured {
            Some(Ok(())) => {
                self.session.handle_control_tls_established(now);
                Ok(())
            }
            Some(Err(error)) => {
                self.control = ControlStream::Gone;
                self.control_open = false;
                self.session.handle_control_closed(now);
                self.pump()?;
                Err(error)
            }
            // The session's own deadline passed: it reports the timeout.
            None => {
                self.control = ControlStream::Gone;
                self.control_open = false;
                self.session.handle_timeout(now);
                Ok(())
            }
        }
    }

    /// Reads the control connection while a transfer handle moves data, without
    /// blocking: a server that fails the transfer (426, 451, 421...) while the data
    /// connection stays open must not leave the caller waiting for the data timeout.
    /// Returns whether transfer `id` has its result. Bytes to send wait for the next
    /// flush.
    pub(crate) fn poll_control(&mut self, cx: &mut Context<'_>, id: OperationId) -> bool {
        let _ = self.pump();
        while self.control_open && !self.results.contains_key(&id) {
            let mut buffer = ReadBuf::new(&mut self.read_buffer);
            let polled = Pin::new(&mut self.control).poll_read(cx, &mut buffer);
            let read = buffer.filled().len();
            let now = Instant::now();
            match polled {
                Poll::Pending => break,
                Poll::Ready(Ok(())) if read > 0 => {
                    tracing::trace!(received = ?self.read_buffer[..read].escape_ascii().to_string(), "control");
                    self.session
                        .handle_control_input(&self.read_buffer[..read], now);
                }
                Poll::Ready(_) => {
                    self.control_open = false;
                    self.session.handle_control_closed(now);
                }
            }
            if self.pump().is_err() {
                break;
            }
        }
        self.results.contains_key(&id)
    }

    /// Takes every output of the session, in order: bytes to send, actions, events.
    fn pump(&mut self) -> Result<()> {
        while let Some(output) = self.session.poll_output() {
            match output {
                Output::Transmit(bytes) => {
                    if let Some(offset) = self.session.urgent_offset() {
                        self.output_urgent = Some(self.output.len() + offset);
                    }
                    tracing::trace!(sent = ?bytes.escape_ascii().to_string(), "control");
                    self.output.extend_from_slice(&bytes);
                }
                Output::Action(action) => {
                    tracing::trace!(?action, "session action");
                    self.act(action)?;
                }
                Output::Event(event) => {
                    tracing::trace!(?event, "session event");
                    match event {
                        Event::Completed { id, result } => {
                            self.results.insert(id, result);
                        }
                        Event::TransferStarted { id, size_hint } => {
                            self.started.insert(id, size_hint);
                        }
                        Event::Closed { error } => {
                            if let Some(error) = error {
                                tracing::debug!(%error, "FTP session ended");
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn act(&mut self, action: Action) -> Result<()> {
        let now = Instant::now();
        match action {
            Action::ConnectData { id, address, kind } => {
                let connect = Box::pin(async move {
                    let stream = TcpStream::connect(address).await?;
                    let _ = stream.set_nodelay(true);
                    Ok(stream)
                });
                self.start_data(id, kind, DataState::Connecting(connect));
            }
            Action::ListenForData { id, kind } => {
                let ip = self
                    .config
                    .active_address
                    .unwrap_or_else(|| match self.local {
                        Some(local) => local.ip(),
                        None if self.session.peer().is_ipv6() => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
                        None => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                    });
                let bound = std::net::TcpListener::bind(SocketAddr::new(ip, 0))
                    .and_then(|listener| {
                        listener.set_nonblocking(true)?;
                        TcpListener::from_std(listener)
                    })
                    .and_then(|listener| Ok((listener.local_addr()?, listener)));
                match bound {
                    Ok((address, listener)) => {
                        self.start_data(id, kind, DataState::Listening(listener));
                        self.session.handle_data_listening(id, address, now);
                    }
                    Err(error) => self.session.handle_data_failed(id, error.kind(), now),
                }
            }
            Action::RefuseDataPeer { id, from } => {
                tracing::warn!(%from, "data connection from a stranger refused");
                if let (Some((listening, listener)), Some(slot)) =
                    (self.accepted_from.take(), self.data.as_mut())
                {
                    if listening == id && slot.id == id {
                        slot.state = DataState::Listening(listener);
                    }
                }
            }
            Action::SendData { id } => {
                self.may_send.insert(id);
            }
            Action::CloseData { id } => {
                if self.data.as_ref().is_some_and(|slot| slot.id == id) {
                    self.data = None;
                } else {
                    // The stream is out with a transfer handle, which closes it.
                    self.closing.insert(id);
                }
            }
            // The 234 reply is read; the handshake runs before anything else is sent.
            Action::StartControlTls => self.upgrade_control = true,
            Action::StartDataTls { id } => self.secure_data(id, now),
            Action::CloseControl => {
                self.control_open = false;
            }
        }
        Ok(())
    }

    /// Starts the TLS handshake on transfer `id`'s open data connection.
    fn secure_data(&mut self, id: OperationId, now: Instant) {
        let Some(slot) = self.data.take_if(|slot| slot.id == id) else {
            return;
        };
        #[cfg(feature = "tls")]
        if let (Some(tls), DataState::Open(MaybeTls::Plain(tcp))) = (&self.tls, slot.state) {
            // The session keeps the handshake's deadline and closes the data
            // connection when it passes.
            let handshake = tls.connect_data(tcp);
            self.data = Some(DataSlot {
                id,
                kind: slot.kind,
                state: DataState::Securing(Box::pin(handshake)),
            });
            return;
        }
        // No TLS configuration (the session cannot ask without one), or no open
        // connection: the transfer cannot be protected.
        #[cfg(not(feature = "tls"))]
        drop(slot);
        self.session
            .handle_data_failed(id, io::ErrorKind::Unsupported, now);
    }

    fn start_data(&mut self, id: OperationId, kind: TransferKind, state: DataState) {
        if kind == TransferKind::Listing {
            self.listing.clear();
        }
        self.data = Some(DataSlot { id, kind, state });
    }

    /// Writes every pending control byte; the byte the session marked urgent (the
    /// Telnet DM before `ABOR`) goes as TCP urgent data once every byte before it is out.
    async fn flush(&mut self) -> Result<()> {
        if let Some(urgent) = self.output_urgent {
            self.write_output(urgent).await?;
            self.output_urgent = None;
            if self.control_open && !self.output.is_empty() {
                self.control
                    .flush()
                    .await
                    .map_err(ClientError::io("writing the control connection"))?;
                if self.send_urgent(self.output[0]) {
                    self.output.drain(..1);
                }
            }
        }
        self.write_output(self.output.len()).await?;
        self.control
            .flush()
            .await
            .map_err(ClientError::io("writing the control connection"))
    }

    /// Writes the first `count` pending control bytes.
    async fn write_output(&mut self, mut count: usize) -> Result<()> {
        while count > 0 {
            if !self.control_open {
                self.output.clear();
                self.output_urgent = None;
                break;
            }
            let written = self
                .control
                .write(&self.output[..count])
                .await
                .map_err(ClientError::io("writing the control connection"))?;
            if written == 0 {
                return Err(ClientError::Io {
                    context: "writing the control connection",
                    source: io::ErrorKind::WriteZero.into(),
                });
            }
            self.output.drain(..written);
            count -= written;
        }
        Ok(())
    }

    /// Sends `byte` as TCP urgent data (`MSG_OOB`) on a plain control connection;
    /// `false` when it must go in the stream instead (no socket handle, TLS, or a full
    /// send buffer: the byte then still reaches the server, only without the signal).
    fn send_urgent(&mut self, byte: u8) -> bool {
        let (Some(socket), ControlStream::Plain(_)) = (&self.urgent_socket, &self.control) else {
            return false;
        };
        match socket.send_out_of_band(&[byte]) {
            Ok(1) => true,
            Ok(_) => false,
            Err(error) => {
                tracing::debug!(%error, "urgent data not sent; the byte goes in the stream");
                false
            }
        }
    }

    async fn next_input(&mut self) -> Result<Input> {
        let deadline = self.session.poll_timeout();
        let waiting_on_data = self.data.as_ref().is_some_and(|slot| {
            !matches!(slot.state, DataState::Open(_)) || slot.kind == TransferKind::Listing
        });
        if !self.control_open && deadline.is_none() && !waiting_on_data {
            // Nothing can happen any more; the session reported its end already.
            return Err(ClientError::Protocol(
                self.session
                    .error()
                    .cloned()
                    .unwrap_or(client::Error::Closed),
            ));
        }
        let sleep = async {
            match deadline {
                Some(deadline) => ::tokio::time::sleep_until(deadline.into()).await,
                None => std::future::pending().await,
            }
        };
        let control_open = self.control_open;
        let data = &mut self.data;
        let listing = &mut self.listing;
        let input = ::tokio::select! {
            read = self.control.read(&mut self.read_buffer), if control_open => Input::Control(read),
            () = sleep => Input::Timeout,
            ready = data_ready(data, listing), if waiting_on_data => Input::Data(ready),
        };
        Ok(input)
    }

    fn on_data(&mut self, ready: io::Result<DataReady>, now: Instant) {
        let Some(slot) = self.data.as_mut() else {
            return;
        };
        let id = slot.id;
        match ready {
            Ok(DataReady::Connected(stream)) => {
                slot.state = DataState::Open(MaybeTls::Plain(stream));
                self.session.handle_data_connected(id, now);
            }
            Ok(DataReady::Accepted(stream, from)) => {
                let _ = stream.set_nodelay(true);
                let listening =
                    std::mem::replace(&mut slot.state, DataState::Open(MaybeTls::Plain(stream)));
                if let DataState::Listening(listener) = listening {
                    self.accepted_from = Some((id, listener));
                }
                // The session keeps the connection if it comes from the server, and
                // otherwise asks for the listener back (`RefuseDataPeer`).
                self.session.handle_data_accepted(id, from, now);
            }
            Ok(DataReady::EndWithoutCloseNotify) => {
                self.data = None;
                self.session.handle_data_end_without_close_notify(id, now);
            }
            Ok(DataReady::Secured(stream)) => {
                if stream.resumed() {
                    self.data_tls.resumed += 1;
                } else {
                    self.data_tls.full += 1;
                }
                slot.state = DataState::Open(stream);
                self.session.handle_data_tls_established(id, now);
            }
            Ok(DataReady::Bytes(0)) => {
                self.data = None;
                self.session.handle_data_end(id, now);
            }
            Ok(DataReady::Bytes(_)) => {
                self.session.handle_data_input(id, &self.listing, now);
                self.listing.clear();
            }
            Err(error) => {
                let securing = matches!(slot.state, DataState::Securing(_));
                self.data = None;
                let kind = error.kind();
                if securing {
                    tracing::debug!(%error, "data connection's TLS handshake failed");
                    // Kept when TLS itself found the fault (a certificate, say); a
                    // connection the server dropped is better told by its reply.
                    if tls_fault(&error) {
                        self.data_tls_failure = Some((id, error));
                    }
                }
                self.session.handle_data_failed(id, kind, now);
            }
        }
    }
}

/// Whether an I/O error carries an error of rustls (a TLS fault rather than a socket's).
fn tls_fault(error: &io::Error) -> bool {
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

/// Waits for the data slot's next event: connected, accepted (with the peer's address,
/// for the session to judge), secured, or listing bytes (appended to `listing`).
async fn data_ready(data: &mut Option<DataSlot>, listing: &mut Vec<u8>) -> io::Result<DataReady> {
    let Some(slot) = data.as_mut() else {
        return std::future::pending().await;
    };
    match &mut slot.state {
        DataState::Connecting(connect) => connect.as_mut().await.map(DataReady::Connected),
        DataState::Listening(listener) => {
            let (stream, from) = listener.accept().await?;
            Ok(DataReady::Accepted(stream, from))
        }
        DataState::Securing(handshake) => handshake.as_mut().await.map(DataReady::Secured),
        DataState::Open(stream) => {
            listing.reserve(64 * 1024);
            match stream.read_buf(listing).await {
                Err(error) if error.kind() == io::ErrorKind::UnexpectedEof && stream.is_tls() => {
                    Ok(DataReady::EndWithoutCloseNotify)
                }
                read => read.map(DataReady::Bytes),
            }
        }
    }
}
