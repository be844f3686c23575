//! `Server`: accepts control connections and drives one [`server::Session`] per
//! connection over tokio sockets, a [`Storage`] and an [`Authenticator`].
//!
//! This file only moves bytes and carries out the session's events: every reply and
//! every policy decision comes from the session, or for the limits across sessions from
//! [`server::limits`], whose tables it keeps for all its sessions and carries out. It
//! owns data sockets and the copy loops.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::pin::Pin;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use ::tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use ::tokio::net::{TcpListener, TcpStream};
use ::tokio::sync::mpsc;
use ::tokio::task::{AbortHandle, JoinHandle, JoinSet};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use super::log::Escaped;
use super::storage::{Account, Authenticator, Lister, Storage, Upload};
use super::stream::MaybeTls;
use crate::ascii::{FromNetwork, ToNetwork};
use crate::server::limits::{Admissions, Limits, Lockouts, Refusal};
use crate::server::{
    self, AddressFamily, DataEvent, DataFailure, Direction, Event, ListingFormat, MoreEntries,
    Request, RequestId, Response, Session, StorageError, Transfer, TransferContent, format_entry,
};

/// Settings of the tokio server beyond the protocol session's.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ServerConfig {
    /// The protocol session's configuration (limits, timeouts, policies).
    pub session: server::Config,
    /// Ports for passive data connections. Default 49152-65534.
    pub passive_ports: RangeInclusive<u16>,
    /// The address to advertise in PASV replies instead of the local one (behind NAT).
    pub public_address: Option<IpAddr>,
    /// The limits across sessions: connections in all and per address, and the login
    /// lockout (see [`Limits`] for each one and its default).
    pub limits: Limits,
    /// On shutdown, how long running transfers may take to finish. Default 30 s.
    pub shutdown_grace: Duration,
    /// How long a running transfer's data connection may go without moving a byte
    /// before the transfer is aborted (426). The idle timeout does not run during a
    /// transfer, so without this a client that stops reading a download, or stops
    /// sending an upload without closing, would hold its session and file open for
    /// good. Default 300 s (as vsftpd's `data_connection_timeout`).
    pub data_timeout: Duration,
    /// How long one answer of the storage back end or the authenticator may take. One
    /// that takes longer fails its command (451, or 530 for a login) and the session
    /// goes on, so a hung back end cannot hold a session (and its connection slot) for
    /// good. Default 120 s.
    pub storage_timeout: Duration,
    /// How long the client may leave our replies unread (a send that cannot make
    /// progress) before the session is closed. The session's own deadlines (login,
    /// idle) fire during a blocked send too. Default 60 s.
    pub send_timeout: Duration,
    /// The size of the data-copy buffer for uploads and converted downloads (an upload
    /// starts with 64 KiB and grows to it while reads fill the buffer). Default 256 KiB:
    /// every running upload holds one, and at 1 MiB 32 uploads at once took the
    /// server's peak memory to twice pyftpdlib's (benches/memory_under_load.sh).
    pub buffer_size: usize,
    /// The TLS configuration for FTPS (feature `tls`), needed by the session's
    /// `enable_tls` (AUTH TLS, PBSZ and PROT) and `implicit_tls` (TLS from the first
    /// byte of every control connection); [`ServerConfig::with_tls`] sets it and turns
    /// `session.enable_tls` on. [`Server::new`] refuses one without the other.
    #[cfg(feature = "tls")]
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Refuse (522) a protected data connection whose TLS handshake does not resume the
    /// control connection's session, as vsftpd's `require_ssl_reuse` does. Off by
    /// default: Python's ftplib, among others, does not resume.
    #[cfg(feature = "tls")]
    pub require_tls_session_reuse: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            session: server::Config::default(),
            passive_ports: 49152..=65534,
            public_address: None,
            limits: Limits::default(),
            shutdown_grace: Duration::from_secs(30),
            data_timeout: Duration::from_secs(300),
            storage_timeout: Duration::from_secs(120),
            send_timeout: Duration::from_secs(60),
            buffer_size: 256 * 1024,
            #[cfg(feature = "tls")]
            tls: None,
            #[cfg(feature = "tls")]
            require_tls_session_reuse: false,
        }
    }
}

/// An FTP server over tokio.
///
/// ```no_run
/// use ftp_proto::tokio::{LocalFs, Server, ServerConfig, StaticUsers};
///
/// # async fn run() -> std::io::Result<()> {
/// let users = StaticUsers::new().anonymous(LocalFs::new(".")?);
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:2121").await?;
/// Server::new(ServerConfig::default(), users)
///     .map_err(std::io::Error::other)?
///     .serve(listener, async { let _ = tokio::signal::ctrl_c().await; })
///     .await
/// # }
/// ```
pub struct Server<A> {
    shared: Arc<Shared<A>>,
}

struct Shared<A> {
    config: ServerConfig,
    /// `config.session`, shared by every session rather than copied into each.
    session_config: Arc<server::Config>,
    authenticator: A,
    admissions: Mutex<Admitted>,
    lockouts: Mutex<Lockouts>,
    next_passive_port: AtomicU16,
}

/// The core's connection limits, and what ends each session that may be evicted.
struct Admitted {
    admissions: Admissions,
    /// The tasks of sessions not logged in, by session number: the core names the one
    /// to evict, this closes it.
    handles: HashMap<u64, AbortHandle>,
}

impl<A> Shared<A> {
    fn lockouts(&self) -> std::sync::MutexGuard<'_, Lockouts> {
        self.lockouts.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn admissions(&self) -> std::sync::MutexGuard<'_, Admitted> {
        self.admissions.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes a place in the connection limits for connection `number` from `ip`, and
    /// closes the session the core evicts to make room, if any. The place is given back
    /// by [`Shared::release`], which a `Connection` calls when it is dropped.
    fn admit(&self, number: u64, ip: IpAddr) -> Result<(), Refusal> {
        let mut admitted = self.admissions();
        let admission = admitted.admissions.admit(number, ip)?;
        if let Some(evicted) = admission.evict {
            if let Some(handle) = admitted.handles.remove(&evicted) {
                handle.abort();
            }
            tracing::info!("all places taken: the oldest session not logged in was closed");
        }
        Ok(())
    }

    /// Registers the task of an admitted session, so that it can be evicted until it
    /// logs in.
    fn awaiting_login(&self, number: u64, handle: AbortHandle) {
        self.admissions().handles.insert(number, handle);
    }

    /// The session logged in: it keeps its place.
    fn logged_in(&self, number: u64) {
        let mut admitted = self.admissions();
        admitted.admissions.logged_in(number);
        admitted.handles.remove(&number);
    }

    fn release(&self, ip: IpAddr, number: u64) {
        let mut admitted = self.admissions();
        admitted.admissions.release(number, ip);
        admitted.handles.remove(&number);
    }
}

impl ServerConfig {
    /// The same settings with FTPS: `tls` for the handshakes, and the session's
    /// `enable_tls` on so that AUTH TLS is offered (set `session.implicit_tls` too for
    /// implicit FTPS, `session.require_tls_for_login`/`_for_data` to require it).
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub fn with_tls(mut self, tls: Arc<rustls::ServerConfig>) -> ServerConfig {
        self.tls = Some(tls);
        self.session.enable_tls = true;
        self
    }

    /// Refuses a contradiction between the session's configuration and what this
    /// server can do, rather than resolve it behind the user's back.
    fn check(&self, storage: server::Capabilities) -> Result<(), ConfigError> {
        #[cfg(feature = "tls")]
        let tls = self.tls.is_some();
        #[cfg(not(feature = "tls"))]
        let tls = false;
        let session = &self.session;
        if session.implicit_tls && !session.enable_tls {
            return Err(ConfigError::ImplicitTlsNotEnabled);
        }
        if session.enable_tls && !tls {
            return Err(ConfigError::TlsWithoutConfiguration);
        }
        if tls && !session.enable_tls {
            return Err(ConfigError::TlsNotEnabled);
        }
        if session.capabilities.intersection(storage) != session.capabilities {
            return Err(ConfigError::CapabilitiesBeyondStorage {
                configured: session.capabilities,
                storage,
            });
        }
        Ok(())
    }
}

/// A contradiction in a [`ServerConfig`], which [`Server::new`] refuses: the server
/// runs the session configuration as the user built it, and changes none of it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// `session.enable_tls` is on, but there is no TLS configuration to run the
    /// handshakes with (`tls` is `None`, or the crate is built without the feature
    /// `tls`).
    #[error("session.enable_tls is on but the server has no TLS configuration (ServerConfig::tls)")]
    TlsWithoutConfiguration,
    /// A TLS configuration is given, but `session.enable_tls` is off: the session would
    /// offer no TLS, and `require_tls_for_login` would not take effect.
    #[error(
        "a TLS configuration is given but session.enable_tls is off (see ServerConfig::with_tls)"
    )]
    TlsNotEnabled,
    /// `session.implicit_tls` is on without `session.enable_tls`.
    #[error("session.implicit_tls needs session.enable_tls")]
    ImplicitTlsNotEnabled,
    /// The session would offer (in FEAT, and by accepting the commands) what the
    /// storage cannot do: `session.capabilities` must be within the authenticator's
    /// [`Authenticator::capabilities`].
    #[error(
        "session.capabilities ({configured:?}) offer more than the storage can do ({storage:?}): set them to Authenticator::capabilities() or less"
    )]
    CapabilitiesBeyondStorage {
        /// What the session configuration offers.
        configured: server::Capabilities,
        /// What the authenticator's storage can do.
        storage: server::Capabilities,
    },
}

impl<A: Authenticator> Server<A> {
    /// A server with these settings and users, or the contradiction in `config` that
    /// keeps it from serving them (see [`ConfigError`]). The session configuration is
    /// used as it is: for a storage that cannot do everything, set
    /// `config.session.capabilities` to `authenticator.capabilities()` (or less).
    pub fn new(config: ServerConfig, authenticator: A) -> Result<Server<A>, ConfigError> {
        config.check(authenticator.capabilities())?;
        let first_port = *config.passive_ports.start();
        let lockouts = Lockouts::new(&config.limits);
        let admissions = Admissions::new(&config.limits);
        Ok(Server {
            shared: Arc::new(Shared {
                session_config: Arc::new(config.session.clone()),
                config,
                authenticator,
                admissions: Mutex::new(Admitted {
                    admissions,
                    handles: HashMap::new(),
                }),
                lockouts: Mutex::new(lockouts),
                next_passive_port: AtomicU16::new(first_port),
            }),
        })
    }

    /// Serves connections from `listener` until `shutdown` completes; then stops
    /// accepting, lets running transfers finish within the grace period, and returns.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> io::Result<()> {
        let stop = CancellationToken::new();
        let mut sessions = JoinSet::new();
        let mut session_number = 0u64;
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            ::tokio::select! {
                accepted = listener.accept() => {
                    let (stream, peer) = match accepted {
                        Ok(accepted) => accepted,
                        Err(error) => {
                            // Out of file descriptors and the like: wait a moment rather
                            // than spin; the loop goes on once descriptors are free.
                            tracing::warn!(%error, "accept failed");
                            ::tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    };
                    session_number += 1;
                    // At debug level every log line of a session carries its number and
                    // peer. Not at info: a span costs some 400 bytes per idle session
                    // with the usual subscriber, and the info lines name the peer.
                    let span = tracing::debug_span!("session", id = session_number, %peer);
                    let Ok(local) = stream.local_addr() else { continue };
                    // Clients send ABOR (and STAT) as TCP urgent data, as RFC 959 asks and
                    // Python's ftplib does: without this, Linux takes the urgent byte (the
                    // line's final LF) out of the stream and the command never ends.
                    if let Err(error) = rustix::net::sockopt::set_socket_oobinline(&stream, true) {
                        tracing::warn!(%error, "could not set SO_OOBINLINE on a control connection");
                    }
                    if let Err(refusal) = self.shared.admit(session_number, peer.ip()) {
                        sessions.spawn(tracing::Instrument::instrument(refuse(stream, peer, refusal), span));
                        continue;
                    }
                    // The task holds little more than the boxed connection and its
                    // stream: its size is most of what an idle session costs.
                    let connection =
                        Connection::new(Arc::clone(&self.shared), peer, local, session_number);
                    let session = connection.serve(stream, stop.clone());
                    let handle = if span.is_disabled() {
                        sessions.spawn(session)
                    } else {
                        sessions.spawn(tracing::Instrument::instrument(session, span))
                    };
                    // Registered after the spawn (the handle comes from it): a session
                    // cannot log in before this, since that takes the client two
                    // round trips through this same accept loop's runtime.
                    self.shared.awaiting_login(session_number, handle);
                }
                Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
                () = &mut shutdown => break,
            }
        }
        drop(listener);
        stop.cancel();
        let grace = self.shared.config.shutdown_grace;
        let drained = ::tokio::time::timeout(grace, async {
            while sessions.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            sessions.abort_all();
        }
        Ok(())
    }
}

/// Tells a connection over the limits so (in the core's words), and closes it.
async fn refuse(mut stream: TcpStream, peer: SocketAddr, refusal: Refusal) {
    tracing::info!(%peer, "connection refused: {refusal}");
    let mut reply = Vec::new();
    refusal.reply().encode(&mut reply);
    let _ = ::tokio::time::timeout(Duration::from_secs(5), stream.write_all(&reply)).await;
}

/// An active-mode connect in flight, polled by the connection's loop itself so that
/// dropping it (ABOR, a new PORT, the session's end) closes its socket at once.
type Connecting = Pin<Box<dyn std::future::Future<Output = io::Result<TcpStream>> + Send>>;

thread_local! {
    /// Where plain control connections read into: one buffer per worker thread instead
    /// of one per session, so that an idle session holds no read buffer (4 KiB each
    /// would be 40 MiB at 10,000 sessions). Used only between an await and the next.
    static CONTROL_SCRATCH: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0; 16 * 1024]);
}

/// What a connection's loop waits on between two drains, polled by hand rather than
/// with `select!`: a `select!` keeps every branch's future inside the session's task
/// (some 600 bytes of readiness, timer and channel futures per idle session), where
/// these polls need none but the timer and the stop signal, made once.
struct Waits {
    /// Only a TLS stream reads into a buffer of its own (4 KiB, made on first use); a
    /// plain one waits for readiness and reads into the worker thread's scratch buffer.
    tls_input: Vec<u8>,
    /// The session's next deadline, reset in place as it moves.
    timer: Option<Pin<Box<::tokio::time::Sleep>>>,
    /// The server's shutdown signal, until it fires.
    stop: Option<Pin<Box<WaitForCancellationFutureOwned>>>,
}

/// Why a connection's loop woke up.
enum Wake {
    /// A plain control stream is readable: read it now (`Connection::read_control_input`).
    ControlReadable,
    /// A TLS control stream gave this many bytes, in `Waits::tls_input`.
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    ControlBuffered(usize),
    /// End of the control stream, or an error on it.
    ControlClosed,
    /// The passive listener accepted a connection.
    Accepted(TcpStream, SocketAddr),
    /// The active connect for this transfer ended.
    Connected(RequestId, io::Result<TcpStream>, SocketAddr),
    /// A transfer ended.
    Transfer(DataEvent),
    /// The session's deadline passed.
    Deadline,
    /// The server is shutting down.
    Stop,
}

impl Waits {
    fn set_deadline(&mut self, deadline: Option<Instant>) {
        match (deadline, &mut self.timer) {
            (None, timer) => *timer = None,
            (Some(deadline), Some(timer)) => {
                if timer.deadline() != deadline.into() {
                    timer.as_mut().reset(deadline.into());
                }
            }
            (Some(deadline), timer) => {
                *timer = Some(Box::pin(::tokio::time::sleep_until(deadline.into())));
            }
        }
    }

    fn poll<S: Storage>(
        &mut self,
        cx: &mut Context<'_>,
        stream: &mut MaybeTls,
        data: &mut Option<&mut DataPlane<S>>,
    ) -> Poll<Wake> {
        if let Some(stop) = &mut self.stop {
            if stop.as_mut().poll(cx).is_ready() {
                self.stop = None;
                return Poll::Ready(Wake::Stop);
            }
        }
        if let Some(data) = data {
            if let Poll::Ready(Some(event)) = data.receiver.poll_recv(cx) {
                return Poll::Ready(Wake::Transfer(event));
            }
            if let Some(retry) = &mut data.accept_retry {
                if retry.as_mut().poll(cx).is_ready() {
                    data.accept_retry = None;
                }
            }
            if let (Some(listener), None) = (&data.listener, &data.accept_retry) {
                match listener.poll_accept(cx) {
                    Poll::Ready(Ok((stream, peer))) => {
                        data.listener = None;
                        return Poll::Ready(Wake::Accepted(stream, peer));
                    }
                    // A failed accept (out of descriptors, most likely) leaves the
                    // connection queued: try again shortly, not in a busy loop and not
                    // never (the error registers no wake-up).
                    Poll::Ready(Err(error)) => {
                        tracing::debug!(%error, "passive accept failed; trying again");
                        let mut retry = Box::pin(::tokio::time::sleep(Duration::from_millis(50)));
                        let _ = retry.as_mut().poll(cx);
                        data.accept_retry = Some(retry);
                    }
                    Poll::Pending => {}
                }
            }
            if let Some((id, address, connecting)) = &mut data.connecting {
                if let Poll::Ready(result) = connecting.as_mut().poll(cx) {
                    let (id, address) = (*id, *address);
                    data.connecting = None;
                    return Poll::Ready(Wake::Connected(id, result, address));
                }
            }
        }
        match stream {
            MaybeTls::Plain(tcp) => match tcp.poll_read_ready(cx) {
                Poll::Ready(Ok(())) => return Poll::Ready(Wake::ControlReadable),
                Poll::Ready(Err(_)) => return Poll::Ready(Wake::ControlClosed),
                Poll::Pending => {}
            },
            #[cfg(feature = "tls")]
            MaybeTls::Tls(tls) => {
                if self.tls_input.is_empty() {
                    self.tls_input = vec![0; 4096];
                }
                let mut buffer = ::tokio::io::ReadBuf::new(&mut self.tls_input);
                match Pin::new(tls).poll_read(cx, &mut buffer) {
                    Poll::Ready(Ok(())) if buffer.filled().is_empty() => {
                        return Poll::Ready(Wake::ControlClosed);
                    }
                    Poll::Ready(Ok(())) => {
                        return Poll::Ready(Wake::ControlBuffered(buffer.filled().len()));
                    }
                    Poll::Ready(Err(_)) => return Poll::Ready(Wake::ControlClosed),
                    Poll::Pending => {}
                }
            }
        }
        if let Some(timer) = &mut self.timer {
            if timer.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Wake::Deadline);
            }
        }
        Poll::Pending
    }
}

/// A connection's data connections and transfers. It holds at most one data connection
/// in the making (a passive listener or an active connect) and one made: a new PASV,
/// PORT or ABOR drops the old ones before anything else happens, so a session can
/// never pile up sockets.
struct DataPlane<S: Storage> {
    /// Transfer results from this connection's transfer task.
    sender: mpsc::Sender<DataEvent>,
    receiver: mpsc::Receiver<DataEvent>,
    /// The passive listener, until it accepts one connection.
    listener: Option<TcpListener>,
    /// When an accept failed, the pause before the next try.
    accept_retry: Option<Pin<Box<::tokio::time::Sleep>>>,
    /// The active connect in flight, for the transfer with this id, to this address.
    connecting: Option<(RequestId, SocketAddr, Connecting)>,
    stream: Option<TcpStream>,
    /// Boxed: a reader or an upload is large, and a session between transfers has none.
    opened: Option<Box<(RequestId, Opened<S>)>>,
    waiting_transfer: Option<Transfer>,
    running_transfer: Option<(RequestId, JoinHandle<()>)>,
}

impl<S: Storage> DataPlane<S> {
    fn new() -> DataPlane<S> {
        let (sender, receiver) = mpsc::channel(8);
        DataPlane {
            sender,
            receiver,
            listener: None,
            accept_retry: None,
            connecting: None,
            stream: None,
            opened: None,
            waiting_transfer: None,
            running_transfer: None,
        }
    }

    /// Stops listening, cancels a connect in flight and drops a data connection not yet
    /// used. Everything is dropped here and now, so a port is free again on return.
    fn close(&mut self) {
        self.listener = None;
        self.accept_retry = None;
        self.connecting = None;
        self.stream = None;
    }
}

/// A resource opened for a request, waiting for its transfer to start.
enum Opened<S: Storage> {
    Reader(S::Reader),
    Upload(S::Upload),
    Listing(S::Lister),
}

struct Connection<A: Authenticator> {
    shared: Arc<Shared<A>>,
    /// The session's number, in the order of acceptance (its age, for eviction).
    number: u64,
    session: Session,
    account: Option<Account<A::Storage>>,
    /// Data connections and transfers, made on first use: most idle sessions never open
    /// a data connection, and an idle session's size is what 10,000 of them cost.
    data: Option<Box<DataPlane<A::Storage>>>,
    started: Instant,
    /// The session asked for TLS on the control connection.
    upgrade_control: bool,
    /// This connection's own TLS configurations for control and data (see
    /// `tls::per_connection`).
    #[cfg(feature = "tls")]
    tls: Option<(Arc<rustls::ServerConfig>, Arc<rustls::ServerConfig>)>,
}

impl<A: Authenticator> Connection<A> {
    /// The connection for a session from `peer` to our `local` address; it holds a place
    /// the caller took in the connection limits (`Shared::admit`) and gives it back when
    /// dropped.
    fn new(
        shared: Arc<Shared<A>>,
        peer: SocketAddr,
        local: SocketAddr,
        number: u64,
    ) -> Box<Connection<A>> {
        let session = Session::new(
            Arc::clone(&shared.session_config),
            peer,
            local,
            Instant::now(),
        );
        Box::new(Connection {
            shared,
            number,
            session,
            account: None,
            data: None,
            started: Instant::now(),
            upgrade_control: false,
            #[cfg(feature = "tls")]
            tls: None,
        })
    }

    /// Runs the session on `stream` to its end.
    async fn serve(mut self: Box<Self>, stream: TcpStream, stop: CancellationToken) {
        let _ = stream.set_nodelay(true);
        let stream = match self.open_control(stream).await {
            Ok(stream) => stream,
            Err(error) => {
                tracing::info!(peer = %self.peer(), %error, "TLS handshake on the control connection failed");
                return;
            }
        };
        if let Err(error) = self.run(stream, stop).await {
            tracing::debug!(peer = %self.peer(), %error, "control connection ended with an error");
        }
    }

    fn peer(&self) -> SocketAddr {
        self.session.peer()
    }

    /// Prepares the control stream: this connection's TLS configuration, and the TLS
    /// handshake itself for implicit FTPS.
    async fn open_control(&mut self, stream: TcpStream) -> io::Result<MaybeTls> {
        #[cfg(feature = "tls")]
        if let Some(base) = &self.shared.config.tls {
            let (config, data_config) = super::tls::per_connection(base)?;
            self.tls = Some((Arc::clone(&config), data_config));
            if self.shared.config.session.implicit_tls {
                // Boxed, here and for AUTH TLS: inline, the handshake's state (a
                // rustls connection) would sit in every session's task for its whole
                // life, TLS or not.
                let handshake = super::tls::accept(&config, stream);
                return Box::pin(::tokio::time::timeout(Duration::from_secs(30), handshake))
                    .await
                    .unwrap_or_else(|_| Err(io::ErrorKind::TimedOut.into()));
            }
        }
        Ok(MaybeTls::Plain(stream))
    }

    /// Runs the TLS handshake the session asked for with AUTH TLS.
    async fn upgrade_control_stream(&mut self, stream: MaybeTls) -> Option<MaybeTls> {
        #[cfg(feature = "tls")]
        if let (Some((config, _)), MaybeTls::Plain(tcp)) = (&self.tls, stream) {
            let handshake = super::tls::accept(config, tcp);
            let upgraded =
                Box::pin(::tokio::time::timeout(Duration::from_secs(30), handshake)).await;
            let upgraded = upgraded.ok().and_then(Result::ok);
            self.session.handle_control_tls(upgraded.is_some());
            return upgraded;
        }
        #[cfg(not(feature = "tls"))]
        drop(stream);
        self.session.handle_control_tls(false);
        None
    }

    async fn run(&mut self, mut stream: MaybeTls, stop: CancellationToken) -> io::Result<()> {
        tracing::info!(peer = %self.peer(), "session started");
        let mut waits = Waits {
            tls_input: Vec::new(),
            timer: None,
            stop: Some(Box::pin(stop.cancelled_owned())),
        };
        let result = loop {
            // Boxed: inline, the drain's state (a send, a storage request) would be
            // part of every idle session's task; one allocation a wake-up costs less.
            if let Err(error) = Box::pin(self.drain(&mut stream)).await {
                break Err(error);
            }
            if std::mem::take(&mut self.upgrade_control) {
                match self.upgrade_control_stream(stream).await {
                    Some(upgraded) => stream = upgraded,
                    None => return Ok(()),
                }
                continue;
            }
            self.start_transfer_if_ready();
            if self.session.is_closed() {
                break Ok(());
            }
            waits.set_deadline(self.session.poll_timeout());
            let mut data = self.data.as_deref_mut();
            let woken = std::future::poll_fn(|cx| waits.poll(cx, &mut stream, &mut data));
            match woken.await {
                Wake::ControlReadable => self.read_control_input(&mut stream),
                Wake::ControlBuffered(read) => self
                    .session
                    .handle_control_input(&waits.tls_input[..read], Instant::now()),
                Wake::ControlClosed => self.session.handle_control_closed(),
                Wake::Accepted(data, peer) => self.data_accepted(data, peer),
                Wake::Connected(id, result, address) => self.data_connected(id, result, address),
                Wake::Transfer(event) => self.transfer_ended(event),
                Wake::Deadline => self.session.handle_timeout(Instant::now()),
                // The session now closes on its own schedule.
                Wake::Stop => self.session.handle_shutdown(),
            }
        };
        if let Some(data) = &mut self.data {
            data.close();
            if let Some((_, task)) = data.running_transfer.take() {
                task.abort();
            }
        }
        // Bounded, and boxed (it runs once): a TLS close_notify cannot be written to a
        // client that stopped reading, and the session must end all the same.
        let _ = Box::pin(::tokio::time::timeout(
            Duration::from_secs(5),
            stream.shutdown(),
        ))
        .await;
        tracing::info!(peer = %self.peer(), seconds = self.started.elapsed().as_secs_f64(), "session ended");
        result
    }

    /// Reads what a plain control stream has ready into the worker thread's scratch
    /// buffer and hands it to the session.
    fn read_control_input(&mut self, stream: &mut MaybeTls) {
        let Some(tcp) = stream.as_plain_mut() else {
            return;
        };
        CONTROL_SCRATCH.with_borrow_mut(|scratch| match tcp.try_read(scratch) {
            Ok(0) => self.session.handle_control_closed(),
            Ok(read) => self
                .session
                .handle_control_input(&scratch[..read], Instant::now()),
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
            Err(_) => self.session.handle_control_closed(),
        });
    }

    /// The connection's data plane, made on first use.
    fn data(&mut self) -> &mut DataPlane<A::Storage> {
        self.data.get_or_insert_with(|| Box::new(DataPlane::new()))
    }

    /// Sends every pending reply and carries out every pending event, until the session
    /// is quiet.
    async fn drain(&mut self, writer: &mut (impl AsyncWrite + Unpin)) -> io::Result<()> {
        loop {
            let mut progressed = false;
            while let Some(mut bytes) = self.session.poll_transmit() {
                // Most replies go out at once; only a send that has to wait runs the
                // bounded loop, boxed, so that its state (a timer among it) is not part
                // of every idle session's task.
                write_at_once(writer, &mut bytes).await?;
                if !bytes.is_empty() {
                    Box::pin(self.send(writer, bytes)).await?;
                }
                progressed = true;
            }
            while let Some(event) = self.session.poll_event() {
                progressed = true;
                Box::pin(self.handle_event(event)).await;
            }
            if !progressed {
                return Ok(());
            }
        }
    }

    /// Sends `bytes` to a client that may have stopped reading: the session's deadlines
    /// (login, idle) keep running while the send waits, and a send that makes no
    /// progress for `send_timeout` ends the connection. Without this a client that
    /// pipelines commands and never reads its replies would hold its session, and its
    /// place in the connection limits, for good.
    async fn send(
        &mut self,
        writer: &mut (impl AsyncWrite + Unpin),
        mut bytes: bytes::Bytes,
    ) -> io::Result<()> {
        let stalled = || io::Error::new(io::ErrorKind::TimedOut, "the client stopped reading");
        let mut give_up = Instant::now() + self.shared.config.send_timeout;
        while !bytes.is_empty() {
            let deadline = self
                .session
                .poll_timeout()
                .filter(|&deadline| deadline > Instant::now())
                .map_or(give_up, |deadline| deadline.min(give_up));
            match ::tokio::time::timeout_at(deadline.into(), writer.write(&bytes)).await {
                Ok(Ok(0)) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(Ok(written)) => {
                    bytes::Buf::advance(&mut bytes, written);
                    give_up = Instant::now() + self.shared.config.send_timeout;
                }
                Ok(Err(error)) => return Err(error),
                Err(_) => {
                    let now = Instant::now();
                    if now >= give_up {
                        return Err(stalled());
                    }
                    self.session.handle_timeout(now);
                    if self.session.is_closed() {
                        // Its last words cannot reach a client that does not read.
                        return Err(stalled());
                    }
                }
            }
        }
        Ok(())
    }

    async fn handle_event(&mut self, event: Event) {
        match event {
            Event::Request { id, request } => {
                let response = match ::tokio::time::timeout(
                    self.shared.config.storage_timeout,
                    self.answer(id, request),
                )
                .await
                {
                    Ok(response) => response,
                    Err(_) => {
                        tracing::warn!(peer = %self.peer(), "the storage back end did not answer in time");
                        Response::Failed(StorageError::Other(
                            "The storage did not answer in time".into(),
                        ))
                    }
                };
                self.session.handle_response(id, response, Instant::now());
            }
            Event::ListenPassive { family } => self.listen_passive(family).await,
            Event::ConnectActive { address } => self.connect_active(address),
            Event::StartTransfer(transfer) => {
                self.data().waiting_transfer = Some(transfer);
                self.start_transfer_if_ready();
            }
            Event::AbortTransfer { id } => {
                let Some(data) = &mut self.data else { return };
                if let Some((running, task)) = data.running_transfer.take() {
                    if running == id {
                        task.abort();
                    } else {
                        data.running_transfer = Some((running, task));
                    }
                }
                if data.waiting_transfer.as_ref().is_some_and(|t| t.id == id) {
                    data.waiting_transfer = None;
                }
                // The connect made for it goes too: thousands of PORT, RETR, ABOR rounds
                // must not leave thousands of sockets connecting.
                if data.connecting.as_ref().is_some_and(|(c, ..)| *c == id) {
                    data.connecting = None;
                }
                data.opened = None;
            }
            Event::CloseData => self.close_data(),
            // The 234 reply is already out; the handshake runs once the drain is done.
            Event::StartControlTls => self.upgrade_control = true,
            Event::LoggedIn { user } => {
                self.shared.logged_in(self.number);
                tracing::info!(peer = %self.peer(), user = %Escaped(user.as_bytes()), "logged in")
            }
            Event::Close => {}
        }
    }

    fn data_accepted(&mut self, stream: TcpStream, peer: SocketAddr) {
        let _ = stream.set_nodelay(true);
        self.data().stream = Some(stream);
        self.session
            .handle_data_event(DataEvent::Connected { peer }, Instant::now());
        // A data connection that arrived for a waiting transfer starts it after the next
        // drain, so that a CloseData for a refused peer is carried out first.
    }

    fn data_connected(
        &mut self,
        id: RequestId,
        result: io::Result<TcpStream>,
        address: SocketAddr,
    ) {
        match result {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                self.data().stream = Some(stream);
                self.session
                    .handle_data_event(DataEvent::Connected { peer: address }, Instant::now());
            }
            Err(_) => self.session.handle_data_event(
                DataEvent::Failed {
                    id,
                    reason: DataFailure::ConnectFailed,
                },
                Instant::now(),
            ),
        }
    }

    fn transfer_ended(&mut self, event: DataEvent) {
        if let (Some(data), DataEvent::Finished { id, .. } | DataEvent::Failed { id, .. }) =
            (&mut self.data, &event)
        {
            if data
                .running_transfer
                .as_ref()
                .is_some_and(|(running, _)| running == id)
            {
                data.running_transfer = None;
            }
        }
        self.session.handle_data_event(event, Instant::now());
    }

    fn close_data(&mut self) {
        if let Some(data) = &mut self.data {
            data.close();
        }
    }

    async fn listen_passive(&mut self, family: AddressFamily) {
        let ip = self.session.local_address().ip();
        let family_matches = matches!(
            (family, ip),
            (AddressFamily::V4, IpAddr::V4(_)) | (AddressFamily::V6, IpAddr::V6(_))
        );
        // The old listener goes first: in a narrow port range the new one may need its
        // very port.
        if let Some(data) = &mut self.data {
            data.close();
        }
        let listener = if family_matches {
            bind_passive(
                &self.shared.config.passive_ports,
                &self.shared.next_passive_port,
                ip,
            )
            .await
        } else {
            None
        };
        let Some(listener) = listener else {
            self.session
                .handle_data_event(DataEvent::ListenFailed, Instant::now());
            return;
        };
        let Ok(bound) = listener.local_addr() else {
            self.session
                .handle_data_event(DataEvent::ListenFailed, Instant::now());
            return;
        };
        let advertised = SocketAddr::new(
            self.shared.config.public_address.unwrap_or(ip),
            bound.port(),
        );
        self.data().listener = Some(listener);
        self.session.handle_data_event(
            DataEvent::Listening {
                address: advertised,
            },
            Instant::now(),
        );
    }

    fn connect_active(&mut self, address: SocketAddr) {
        let data = self.data();
        let id = data
            .opened
            .as_ref()
            .map_or(RequestId(u64::MAX), |opened| opened.0);
        let connect = ::tokio::time::timeout(Duration::from_secs(30), TcpStream::connect(address));
        data.close();
        data.connecting = Some((
            id,
            address,
            Box::pin(async move {
                connect
                    .await
                    .unwrap_or_else(|_| Err(io::ErrorKind::TimedOut.into()))
            }),
        ));
    }

    fn start_transfer_if_ready(&mut self) {
        let data_tls = match &self.data {
            Some(data) if data.running_transfer.is_none() && data.stream.is_some() => data
                .waiting_transfer
                .as_ref()
                .map(|transfer| self.data_tls(transfer.tls)),
            _ => None,
        };
        let Some(data_tls) = data_tls else { return };
        let Some(data) = &mut self.data else { return };
        let Some(transfer) = data.waiting_transfer.take() else {
            return;
        };
        let Some(opened) = data.opened.take() else {
            return;
        };
        let (opened_id, opened) = *opened;
        if opened_id != transfer.id {
            return;
        }
        let Some(stream) = data.stream.take() else {
            return;
        };
        let sender = data.sender.clone();
        let buffer_size = self.shared.config.buffer_size;
        let stall = StallLimit(self.shared.config.data_timeout);
        let id = transfer.id;
        let task = ::tokio::spawn(tracing::Instrument::in_current_span(async move {
            let event = match protect(stream, data_tls).await {
                Ok(stream) => {
                    run_transfer::<A::Storage>(transfer, opened, stream, buffer_size, stall).await
                }
                Err(reason) => DataEvent::Failed { id, reason },
            };
            let _ = sender.send(event).await;
        }));
        data.running_transfer = Some((id, task));
    }

    /// What TLS a data connection needs: `None` for a clear one.
    fn data_tls(&self, protected: bool) -> Option<DataTls> {
        if !protected {
            return None;
        }
        Some(DataTls {
            #[cfg(feature = "tls")]
            config: self.tls.as_ref().map(|(_, data)| Arc::clone(data)),
            #[cfg(feature = "tls")]
            require_reuse: self.shared.config.require_tls_session_reuse,
        })
    }

    async fn answer(&mut self, id: RequestId, request: Request) -> Response {
        if let Request::Authenticate { user, password } = &request {
            let ip = self.peer().ip();
            if let Some(response) = self.shared.lockouts().screen_login(ip, Instant::now()) {
                tracing::info!(peer = %self.peer(), user = %Escaped(user.as_bytes()), "login refused: address locked out");
                return response;
            }
            let response = match self.shared.authenticator.authenticate(user, password).await {
                Some(account) => {
                    let writable = account.writable;
                    self.account = Some(account);
                    Response::LoggedIn { writable }
                }
                None => {
                    tracing::info!(peer = %self.peer(), user = %Escaped(user.as_bytes()), "login refused");
                    Response::LoginDenied
                }
            };
            if self
                .shared
                .lockouts()
                .record_login(ip, &response, Instant::now())
            {
                tracing::warn!(
                    peer = %self.peer(),
                    seconds = self.shared.config.limits.lockout_duration.as_secs_f64(),
                    "too many failed logins: address locked out"
                );
            }
            return response;
        }
        // SITE reaches here only with `enable_site`, and the storage has no SITE
        // commands: it falls to `Unsupported` below, which the session answers 502.
        if let Request::SelectHost { .. } = request {
            return Response::Done;
        }
        let Some(account) = &self.account else {
            return Response::Failed(StorageError::PermissionDenied);
        };
        let storage = Arc::clone(&account.storage);
        let result =
            match request {
                Request::Metadata { path } => storage.metadata(&path).await.map(Response::Metadata),
                Request::ListEntries { path, limit } => {
                    list_all(&*storage, &path, limit)
                        .await
                        .map(|(entries, more)| Response::Entries {
                            entries,
                            now: SystemTime::now(),
                            more,
                        })
                }
                Request::OpenListing { path, .. } => storage.list(&path).await.map(|lister| {
                    self.data().opened = Some(Box::new((id, Opened::Listing(lister))));
                    Response::Opened {
                        size: None,
                        unique_name: None,
                    }
                }),
                Request::OpenRead { path, offset } => {
                    storage
                        .open_read(&path, offset)
                        .await
                        .map(|(reader, size)| {
                            tracing::info!(peer = %self.peer(), path = %Escaped(path.as_bytes()), offset, "download");
                            self.data().opened = Some(Box::new((id, Opened::Reader(reader))));
                            Response::Opened {
                                size,
                                unique_name: None,
                            }
                        })
                }
                Request::OpenWrite { path, mode } => storage.open_write(&path, mode).await.map(
                    |(upload, final_path)| {
                        tracing::info!(peer = %self.peer(), path = %Escaped(final_path.as_bytes()), ?mode, "upload");
                        self.data().opened = Some(Box::new((id, Opened::Upload(upload))));
                        Response::Opened {
                            size: None,
                            unique_name: Some(final_path),
                        }
                    },
                ),
                Request::Delete { path } => storage.delete(&path).await.map(|()| Response::Done),
                Request::MakeDirectory { path } => {
                    storage.make_directory(&path).await.map(|()| Response::Done)
                }
                Request::RemoveDirectory { path } => storage
                    .remove_directory(&path)
                    .await
                    .map(|()| Response::Done),
                Request::Rename { from, to } => {
                    storage.rename(&from, &to).await.map(|()| Response::Done)
                }
                Request::SetModified { path, modified } => storage
                    .set_modified(&path, modified)
                    .await
                    .map(|()| Response::Done),
                _ => Err(StorageError::Unsupported),
            };
        result.unwrap_or_else(Response::Failed)
    }
}

impl<A: Authenticator> Drop for Connection<A> {
    fn drop(&mut self) {
        self.shared.release(self.session.peer().ip(), self.number);
    }
}

/// Writes as much of `bytes` as the stream takes without waiting, and advances `bytes`
/// past it.
async fn write_at_once(
    writer: &mut (impl AsyncWrite + Unpin),
    bytes: &mut bytes::Bytes,
) -> io::Result<()> {
    std::future::poll_fn(|cx| {
        while !bytes.is_empty() {
            match Pin::new(&mut *writer).poll_write(cx, bytes) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(written)) => bytes::Buf::advance(bytes, written),
                Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
                Poll::Pending => break,
            }
        }
        Poll::Ready(Ok(()))
    })
    .await
}

/// Binds a port from the passive range, trying each port at most once, round-robin
/// across the server's sessions.
async fn bind_passive(
    range: &RangeInclusive<u16>,
    next_port: &AtomicU16,
    ip: IpAddr,
) -> Option<TcpListener> {
    let (first, last) = (*range.start(), *range.end());
    let count = u32::from(last.saturating_sub(first)) + 1;
    for _ in 0..count.min(1000) {
        let port = next_port.fetch_add(1, Ordering::Relaxed);
        let port = if port < first || port > last || port == u16::MAX {
            next_port.store(first.saturating_add(1), Ordering::Relaxed);
            first
        } else {
            port
        };
        if let Ok(listener) = TcpListener::bind(SocketAddr::new(ip, port)).await {
            return Some(listener);
        }
    }
    None
}

/// Reads up to `limit` entries of a directory for a listing over the control
/// connection, and one more to know whether there are others. It does not count them:
/// past the limit, an object store would take a request per thousand keys.
async fn list_all<S: Storage>(
    storage: &S,
    path: &server::VirtualPath,
    limit: usize,
) -> Result<(Vec<(crate::Text<'static>, server::Metadata)>, MoreEntries), StorageError> {
    let mut lister = storage.list(path).await?;
    let mut entries = Vec::new();
    while let Some(entry) = lister.next_entry().await? {
        if entries.len() >= limit {
            return Ok((entries, MoreEntries::Unknown));
        }
        entries.push(entry);
    }
    Ok((entries, MoreEntries::None))
}

/// The TLS a protected data connection runs.
struct DataTls {
    #[cfg(feature = "tls")]
    config: Option<Arc<rustls::ServerConfig>>,
    #[cfg(feature = "tls")]
    require_reuse: bool,
}

/// Runs the data connection's TLS handshake when the transfer is protected (PROT P).
async fn protect(stream: TcpStream, tls: Option<DataTls>) -> Result<MaybeTls, DataFailure> {
    let Some(tls) = tls else {
        return Ok(MaybeTls::Plain(stream));
    };
    #[cfg(feature = "tls")]
    if let Some(config) = &tls.config {
        let handshake = super::tls::accept(config, stream);
        let protected = ::tokio::time::timeout(Duration::from_secs(30), handshake)
            .await
            .ok()
            .and_then(Result::ok)
            .ok_or(DataFailure::TlsRefused)?;
        if tls.require_reuse && !protected.resumed() {
            return Err(DataFailure::TlsSessionNotResumed);
        }
        return Ok(protected);
    }
    drop((stream, tls));
    Err(DataFailure::TlsRefused)
}

/// How long one step of a data connection's I/O may take without moving a byte.
#[derive(Clone, Copy, Debug)]
struct StallLimit(Duration);

impl StallLimit {
    /// Runs one read, write or shutdown; one that does not complete within the limit
    /// fails with `TimedOut`.
    async fn step<T>(self, io: impl std::future::Future<Output = io::Result<T>>) -> io::Result<T> {
        ::tokio::time::timeout(self.0, io)
            .await
            .unwrap_or_else(|_| {
                Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the data connection stalled",
                ))
            })
    }

    /// Writes all of `bytes`, each write within the limit: a slow reader that keeps
    /// reading is never cut off, one that stops is.
    async fn write_all(
        self,
        stream: &mut (impl AsyncWrite + Unpin),
        mut bytes: &[u8],
    ) -> io::Result<()> {
        while !bytes.is_empty() {
            let written = self.step(stream.write(bytes)).await?;
            if written == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            bytes = &bytes[written..];
        }
        Ok(())
    }
}

/// Runs one transfer to its end and says how it ended.
async fn run_transfer<S: Storage>(
    transfer: Transfer,
    opened: Opened<S>,
    mut stream: MaybeTls,
    buffer_size: usize,
    stall: StallLimit,
) -> DataEvent {
    let id = transfer.id;
    let started = Instant::now();
    let outcome = match (transfer.direction, opened, &transfer.content) {
        (Direction::Send, Opened::Reader(reader), TransferContent::File) => {
            let sendfile = S::sendfile_source(&reader).filter(|_| !transfer.ascii);
            match (sendfile, stream.as_plain_mut()) {
                (Some(source), Some(tcp)) => send_with_sendfile(source, tcp, stall).await,
                _ => send_file(reader, &mut stream, transfer.ascii, buffer_size, stall).await,
            }
        }
        (Direction::Send, Opened::Listing(lister), TransferContent::Listing(format)) => {
            send_listing(lister, &mut stream, format, stall).await
        }
        (Direction::Receive, Opened::Upload(upload), TransferContent::File) => {
            receive_file(upload, &mut stream, transfer.ascii, buffer_size, stall).await
        }
        _ => Err(DataFailure::Storage(StorageError::Other(
            "transfer mismatch".into(),
        ))),
    };
    match outcome {
        Ok(bytes) => {
            tracing::info!(
                bytes,
                seconds = started.elapsed().as_secs_f64(),
                "transfer complete"
            );
            DataEvent::Finished { id, bytes }
        }
        Err(reason) => {
            tracing::info!(?reason, "transfer failed");
            DataEvent::Failed { id, reason }
        }
    }
}

fn connection_lost(error: io::Error) -> DataFailure {
    if error.kind() == io::ErrorKind::TimedOut {
        tracing::info!("data connection stalled: transfer aborted");
    }
    DataFailure::ConnectionLost
}

/// A read or write of the storage failed mid-transfer: the core's mapping says how.
fn storage_failed(error: io::Error) -> DataFailure {
    DataFailure::Storage(StorageError::from_io(&error))
}

async fn send_file(
    mut reader: impl AsyncRead + Unpin,
    stream: &mut MaybeTls,
    ascii: bool,
    buffer_size: usize,
    stall: StallLimit,
) -> Result<u64, DataFailure> {
    let mut buffer = vec![0u8; buffer_size];
    let mut converted = Vec::new();
    let mut converter = ToNetwork::new();
    let mut total = 0u64;
    loop {
        let read = reader.read(&mut buffer).await.map_err(storage_failed)?;
        if read == 0 {
            break;
        }
        let chunk = if ascii {
            converted.clear();
            converter.convert(&buffer[..read], &mut converted);
            &converted[..]
        } else {
            &buffer[..read]
        };
        stall
            .write_all(stream, chunk)
            .await
            .map_err(connection_lost)?;
        total += chunk.len() as u64;
    }
    stall
        .step(stream.shutdown())
        .await
        .map_err(connection_lost)?;
    Ok(total)
}

/// Sends a file with `sendfile(2)`: the kernel copies from the page cache to the
/// socket, as vsftpd and pyftpdlib do. The file's own position says where to start.
async fn send_with_sendfile(
    source: std::os::fd::BorrowedFd<'_>,
    stream: &mut TcpStream,
    stall: StallLimit,
) -> Result<u64, DataFailure> {
    // Small chunks keep the receiver reading while the kernel refills the socket:
    // measured on loopback, 32 KiB beat 64 KiB, 128 KiB and 1 MiB (BENCHMARKS.md).
    const CHUNK: usize = 32 * 1024;
    let mut total = 0u64;
    loop {
        let socket: &TcpStream = stream;
        let sent = stall
            .step(socket.async_io(::tokio::io::Interest::WRITABLE, || {
                rustix::fs::sendfile(socket, source, None, CHUNK).map_err(io::Error::from)
            }))
            .await;
        match sent {
            Ok(0) => break,
            Ok(sent) => total += sent as u64,
            // A read error is the storage's; anything else is the connection's.
            Err(error)
                if rustix::io::Errno::from_io_error(&error) == Some(rustix::io::Errno::IO) =>
            {
                return Err(storage_failed(error));
            }
            Err(error) => return Err(connection_lost(error)),
        }
    }
    stall
        .step(stream.shutdown())
        .await
        .map_err(connection_lost)?;
    Ok(total)
}

async fn send_listing(
    mut lister: impl Lister,
    stream: &mut MaybeTls,
    format: &ListingFormat,
    stall: StallLimit,
) -> Result<u64, DataFailure> {
    let now = SystemTime::now();
    let mut buffer = Vec::with_capacity(64 * 1024);
    let mut total = 0u64;
    while let Some((name, metadata)) = lister.next_entry().await.map_err(DataFailure::Storage)? {
        format_entry(format, name.as_bytes(), &metadata, now, &mut buffer);
        if buffer.len() >= 60 * 1024 {
            stall
                .write_all(stream, &buffer)
                .await
                .map_err(connection_lost)?;
            total += buffer.len() as u64;
            buffer.clear();
        }
    }
    stall
        .write_all(stream, &buffer)
        .await
        .map_err(connection_lost)?;
    total += buffer.len() as u64;
    stall
        .step(stream.shutdown())
        .await
        .map_err(connection_lost)?;
    Ok(total)
}

async fn receive_file(
    mut upload: impl Upload,
    stream: &mut MaybeTls,
    ascii: bool,
    buffer_size: usize,
    stall: StallLimit,
) -> Result<u64, DataFailure> {
    let total = match copy_upload(&mut upload, stream, ascii, buffer_size, stall).await {
        Ok(total) => total,
        Err(failure) => {
            upload.abort().await;
            return Err(failure);
        }
    };
    upload.commit().await.map_err(DataFailure::Storage)?;
    // Our close_notify (with TLS) and FIN: clients that wait for them see a clean end.
    let _ = stall.step(stream.shutdown()).await;
    Ok(total)
}

/// Copies the data connection into the upload, up to the client's end of data.
async fn copy_upload(
    upload: &mut impl Upload,
    stream: &mut MaybeTls,
    ascii: bool,
    buffer_size: usize,
    stall: StallLimit,
) -> Result<u64, DataFailure> {
    // The buffer starts small and doubles while reads fill it: a small file never pays
    // for zeroing (and faulting in) the whole `buffer_size`, a big one soon reads in
    // `buffer_size` steps.
    let mut buffer = vec![0u8; buffer_size.clamp(1, 64 * 1024)];
    let mut converted = Vec::new();
    let mut converter = FromNetwork::new();
    let mut total = 0u64;
    loop {
        let read = match stall.step(stream.read(&mut buffer)).await {
            Ok(0) => break,
            Ok(read) => {
                if read == buffer.len() && buffer.len() < buffer_size {
                    buffer.resize((buffer.len() * 2).min(buffer_size), 0);
                }
                read
            }
            // A TLS client that closes without close_notify: taken as the end of the
            // data, as vsftpd does by default (see `tls`).
            Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => break,
            Err(error) => return Err(connection_lost(error)),
        };
        total += read as u64;
        if ascii {
            converted.clear();
            converter.convert(&buffer[..read], &mut converted);
            upload.write_all(&converted).await.map_err(storage_failed)?;
        } else {
            upload
                .write_all(&buffer[..read])
                .await
                .map_err(storage_failed)?;
        }
    }
    if ascii {
        converted.clear();
        converter.finish(&mut converted);
        upload.write_all(&converted).await.map_err(storage_failed)?;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokio::{LocalFs, StaticUsers};

    #[test]
    fn server_new_refuses_contradictions_and_changes_nothing() {
        let users = || StaticUsers::new().anonymous(LocalFs::new(".").unwrap());
        let mut config = ServerConfig::default();
        config.session.capabilities.append = false;
        config.session.greeting = "mine".into();
        let server = Server::new(config, users()).unwrap();
        // The session configuration is the one built, not widened to the storage's.
        assert!(!server.shared.session_config.capabilities.append);
        assert_eq!(server.shared.session_config.greeting, "mine");
        assert!(!server.shared.session_config.enable_tls);

        let mut config = ServerConfig::default();
        config.session.enable_tls = true;
        let refused = Server::new(config, users()).err();
        assert_eq!(refused, Some(ConfigError::TlsWithoutConfiguration));

        let mut config = ServerConfig::default();
        config.session.implicit_tls = true;
        let refused = Server::new(config, users()).err();
        assert_eq!(refused, Some(ConfigError::ImplicitTlsNotEnabled));

        let config = ServerConfig::default();
        let read_only = server::Capabilities::READ_ONLY;
        assert_eq!(
            config.check(read_only),
            Err(ConfigError::CapabilitiesBeyondStorage {
                configured: server::Capabilities::ALL,
                storage: read_only,
            })
        );
        let mut config = ServerConfig::default();
        config.session.capabilities = read_only;
        assert_eq!(config.check(read_only), Ok(()));
    }

    #[cfg(feature = "tls")]
    #[test]
    fn tls_material_and_the_session_s_enable_tls_go_together() {
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let dir = std::env::temp_dir().join(format!("ftp-proto-check-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("cert.pem"), certified.cert.pem()).unwrap();
        std::fs::write(dir.join("key.pem"), certified.signing_key.serialize_pem()).unwrap();
        let tls =
            crate::tokio::tls::server_config_from_pem(&dir.join("cert.pem"), &dir.join("key.pem"));
        std::fs::remove_dir_all(&dir).unwrap();
        let tls = tls.unwrap();
        let config = ServerConfig {
            tls: Some(Arc::clone(&tls)),
            ..ServerConfig::default()
        };
        assert_eq!(
            config.check(server::Capabilities::ALL),
            Err(ConfigError::TlsNotEnabled)
        );
        let mut config = ServerConfig::default().with_tls(tls);
        assert!(config.session.enable_tls);
        config.session.implicit_tls = true;
        assert_eq!(config.check(server::Capabilities::ALL), Ok(()));
    }

    #[test]
    fn a_control_listing_reads_up_to_its_limit_and_says_whether_there_are_more() {
        let dir = std::env::temp_dir().join(format!("ftp-proto-list-all-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for n in 0..5 {
            std::fs::write(dir.join(format!("f{n}")), b"x").unwrap();
        }
        let fs = LocalFs::new(&dir).unwrap();
        let runtime = ::tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let root = server::VirtualPath::root();
        let cut = runtime.block_on(list_all(&fs, &root, 3)).unwrap();
        let whole = runtime.block_on(list_all(&fs, &root, 5)).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!((cut.0.len(), cut.1), (3, MoreEntries::Unknown));
        assert_eq!((whole.0.len(), whole.1), (5, MoreEntries::None));
    }

    /// What an idle session costs is mostly its task (tokio rounds a task cell up to 128
    /// bytes) and its boxed connection: a state that grows here (an inline timer, a TLS
    /// handshake) is paid by every one of 10,000 idle sessions. The serve future was
    /// 392 bytes before issue 16 in a `tokio` build, 1,776 with every feature (the
    /// handshake inline).
    #[test]
    fn an_idle_session_stays_small_with_every_feature() {
        type Users = StaticUsers<LocalFs>;
        let config = ServerConfig::default();
        let shared = Arc::new(Shared {
            session_config: Arc::new(config.session.clone()),
            lockouts: Mutex::new(Lockouts::new(&config.limits)),
            admissions: Mutex::new(Admitted {
                admissions: Admissions::new(&config.limits),
                handles: HashMap::new(),
            }),
            next_passive_port: AtomicU16::new(*config.passive_ports.start()),
            config,
            authenticator: Users::new(),
        });
        let runtime = ::tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let address = listener.local_addr().unwrap();
            let stream = TcpStream::connect(address).await.unwrap();
            assert!(shared.admit(1, address.ip()).is_ok());
            let connection = Connection::new(shared, address, address, 1);
            let task = connection.serve(stream, CancellationToken::new());
            let size = std::mem::size_of_val(&task);
            assert!(size <= 400, "the session task's future is {size} bytes");
            assert!(std::mem::size_of::<Connection<Users>>() <= 576);
        });
    }
}
