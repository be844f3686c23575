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
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
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
    self, Action, AddressFamily, ChannelId, DataEvent, DataFailure, Direction, Event,
    ListingFormat, MoreEntries, Output, Request, RequestId, Response, Session, StorageError,
    Transfer, TransferContent, format_entry,
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
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            session: server::Config::default(),
            passive_ports: 49152..=65534,
            public_address: None,
            limits: Limits::default(),
            shutdown_grace: Duration::from_secs(30),
            buffer_size: 256 * 1024,
            #[cfg(feature = "tls")]
            tls: None,
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

/// A data connection's TLS handshake in flight, polled like a connect.
type Securing = Pin<Box<dyn std::future::Future<Output = io::Result<MaybeTls>> + Send>>;

/// The application's answer to a request in flight, polled by the connection's loop
/// (never awaited inline), so that a slow or hung back end cannot freeze the session:
/// control input is read and answered meanwhile, and the session's deadline drops it.
type Answering<S> = Pin<Box<dyn std::future::Future<Output = Answer<S>> + Send>>;

/// What an answer brings besides the response: what it opened or logged in.
struct Answer<S: Storage> {
    id: RequestId,
    response: Response,
    opened: Option<Opened<S>>,
    account: Option<Account<S>>,
}

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
enum Wake<S: Storage> {
    /// A plain control stream is readable: read it now (`Connection::read_control_input`).
    ControlReadable,
    /// A TLS control stream gave this many bytes, in `Waits::tls_input`.
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    ControlBuffered(usize),
    /// End of the control stream, or an error on it.
    ControlClosed,
    /// The application answered.
    Answered(Box<Answer<S>>),
    /// The passive listener with this id accepted a connection.
    Accepted(ChannelId, TcpStream, SocketAddr),
    /// The active connect for this transfer ended.
    Connected(RequestId, io::Result<TcpStream>),
    /// The data TLS handshake for this transfer ended.
    Secured(RequestId, io::Result<MaybeTls>),
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
        answering: &mut Option<Answering<S>>,
        data: &mut Option<&mut DataPlane<S>>,
        read_control: bool,
    ) -> Poll<Wake<S>> {
        if let Some(stop) = &mut self.stop {
            if stop.as_mut().poll(cx).is_ready() {
                self.stop = None;
                return Poll::Ready(Wake::Stop);
            }
        }
        if let Some(future) = answering {
            if let Poll::Ready(answer) = future.as_mut().poll(cx) {
                *answering = None;
                return Poll::Ready(Wake::Answered(Box::new(answer)));
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
            if let (Some((channel, listener)), None) = (&data.listener, &data.accept_retry) {
                match listener.poll_accept(cx) {
                    Poll::Ready(Ok((stream, peer))) => {
                        let channel = *channel;
                        // One connection per listener: the session asks for a new
                        // listener for the next transfer.
                        data.listener = None;
                        return Poll::Ready(Wake::Accepted(channel, stream, peer));
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
            if let Some((id, connecting)) = &mut data.connecting {
                if let Poll::Ready(result) = connecting.as_mut().poll(cx) {
                    let id = *id;
                    data.connecting = None;
                    return Poll::Ready(Wake::Connected(id, result));
                }
            }
            if let Some((id, securing)) = &mut data.securing {
                if let Poll::Ready(result) = securing.as_mut().poll(cx) {
                    let id = *id;
                    data.securing = None;
                    return Poll::Ready(Wake::Secured(id, result));
                }
            }
        }
        match stream {
            // The session has enough input waiting: leave the rest in the socket.
            _ if !read_control => {}
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

/// A connection's data connections and transfers, as the session's actions left them:
/// this holds no protocol state, only what the actions made (a listener, a connect or
/// a handshake in flight, a data connection, an opened file, a running copy), each
/// under the id the session gave it.
struct DataPlane<S: Storage> {
    /// Transfer results from this connection's transfer task.
    sender: mpsc::Sender<DataEvent>,
    receiver: mpsc::Receiver<DataEvent>,
    /// The passive listener, until it accepts one connection.
    listener: Option<(ChannelId, TcpListener)>,
    /// When an accept failed, the pause before the next try.
    accept_retry: Option<Pin<Box<::tokio::time::Sleep>>>,
    /// The active connect in flight, for the transfer with this id.
    connecting: Option<(RequestId, Connecting)>,
    /// The data TLS handshake in flight, for the transfer with this id.
    securing: Option<(RequestId, Securing)>,
    /// The data connection made, not yet handed to a transfer.
    stream: Option<MaybeTls>,
    /// Boxed: a reader or an upload is large, and a session between transfers has none.
    opened: Option<Box<(RequestId, Opened<S>)>>,
    running: Option<Running>,
}

/// A transfer's copy task and its byte counter.
struct Running {
    id: RequestId,
    task: JoinHandle<()>,
    /// Bumped by the copy loop (a relaxed add per read or write, no message).
    moved: Arc<AtomicU64>,
    /// The figure last reported to the session.
    reported: u64,
    /// An upload waits on this for the session's `CommitUpload`.
    commit: Option<::tokio::sync::oneshot::Sender<()>>,
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
            securing: None,
            stream: None,
            opened: None,
            running: None,
        }
    }

    /// Stops listening, cancels a connect in flight and drops a data connection not yet
    /// used. Everything is dropped here and now, so a port is free again on return.
    fn close(&mut self) {
        self.listener = None;
        self.accept_retry = None;
        self.connecting = None;
        self.securing = None;
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
    /// The application's answer in flight, if any.
    answering: Option<Answering<A::Storage>>,
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
            answering: None,
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
    /// handshake itself for implicit FTPS (bounded by the session's
    /// `control_tls_timeout`: the session has not started yet).
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
                let limit = self.shared.session_config.control_tls_timeout;
                return Box::pin(::tokio::time::timeout(limit, handshake))
                    .await
                    .unwrap_or_else(|_| Err(io::ErrorKind::TimedOut.into()));
            }
        }
        Ok(MaybeTls::Plain(stream))
    }

    /// Runs the TLS handshake the session asked for with AUTH TLS, until it ends or the
    /// session's deadline (the handshake's own, or the login's) closes the session.
    async fn upgrade_control_stream(&mut self, stream: MaybeTls) -> Option<MaybeTls> {
        #[cfg(feature = "tls")]
        if let (Some((config, _)), MaybeTls::Plain(tcp)) = (&self.tls, stream) {
            let mut handshake = Box::pin(super::tls::accept(config, tcp));
            loop {
                // The handshake's own deadline is always set: `None` means closed.
                let deadline = self.session.poll_timeout()?;
                match ::tokio::time::timeout_at(deadline.into(), &mut handshake).await {
                    Ok(Ok(upgraded)) => {
                        self.session.handle_control_tls_established(Instant::now());
                        return Some(upgraded);
                    }
                    Ok(Err(_)) => {
                        self.session.handle_control_tls_failed(Instant::now());
                        return None;
                    }
                    Err(_) => {
                        self.session.handle_timeout(Instant::now());
                        if self.session.is_closed() {
                            return None;
                        }
                    }
                }
            }
        }
        #[cfg(not(feature = "tls"))]
        drop(stream);
        self.session.handle_control_tls_failed(Instant::now());
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
            // Boxed: inline, the drain's state (a send, a bind) would be part of every
            // idle session's task; one allocation a wake-up costs less.
            if let Err(error) = Box::pin(self.drain(&mut stream)).await {
                break Err(error);
            }
            if std::mem::take(&mut self.upgrade_control) {
                match Box::pin(self.upgrade_control_stream(stream)).await {
                    Some(upgraded) => stream = upgraded,
                    // The session's last outputs (its Close) need no carrying out; the
                    // stream is gone with the failed handshake.
                    None => return Ok(()),
                }
                continue;
            }
            if self.session.is_closed() {
                break Ok(());
            }
            waits.set_deadline(self.session.poll_timeout());
            let read_control = self.session.wants_control_input();
            let answering = &mut self.answering;
            let mut data = self.data.as_deref_mut();
            let woken = std::future::poll_fn(|cx| {
                waits.poll(cx, &mut stream, answering, &mut data, read_control)
            });
            let woken = woken.await;
            // Progress first: the session judges stalls and answers STAT by it.
            self.report_progress();
            let now = Instant::now();
            match woken {
                Wake::ControlReadable => self.read_control_input(&mut stream),
                Wake::ControlBuffered(read) => self
                    .session
                    .handle_control_input(&waits.tls_input[..read], now),
                Wake::ControlClosed => self.session.handle_control_closed(now),
                Wake::Answered(answer) => self.answered(*answer),
                Wake::Accepted(channel, data, peer) => {
                    let _ = data.set_nodelay(true);
                    self.data().stream = Some(MaybeTls::Plain(data));
                    self.session
                        .handle_data_event(DataEvent::Accepted { channel, peer }, now);
                }
                Wake::Connected(id, Ok(data)) => {
                    let _ = data.set_nodelay(true);
                    self.data().stream = Some(MaybeTls::Plain(data));
                    self.session
                        .handle_data_event(DataEvent::Connected { id }, now);
                }
                Wake::Connected(id, Err(_)) => self
                    .session
                    .handle_data_event(DataEvent::ConnectFailed { id }, now),
                Wake::Secured(id, Ok(data)) => {
                    let resumed = data.resumed();
                    self.data().stream = Some(data);
                    self.session
                        .handle_data_event(DataEvent::TlsEstablished { id, resumed }, now);
                }
                Wake::Secured(id, Err(_)) => self
                    .session
                    .handle_data_event(DataEvent::TlsFailed { id }, now),
                Wake::Transfer(event) => self.transfer_ended(event),
                Wake::Deadline => self.session.handle_timeout(now),
                // The session now closes on its own schedule.
                Wake::Stop => self.session.handle_shutdown(),
            }
        };
        self.answering = None;
        if let Some(data) = &mut self.data {
            data.close();
            data.opened = None;
            if let Some(running) = data.running.take() {
                running.task.abort();
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

    /// Tells the session how far the running transfer got, if that grew: cheap (one
    /// atomic load), and done before every other input.
    fn report_progress(&mut self) {
        let Some(running) = self.data.as_mut().and_then(|data| data.running.as_mut()) else {
            return;
        };
        let moved = running.moved.load(Ordering::Relaxed);
        if moved > running.reported {
            running.reported = moved;
            let id = running.id;
            self.session
                .handle_data_event(DataEvent::Progress { id, bytes: moved }, Instant::now());
        }
    }

    /// Reads what a plain control stream has ready into the worker thread's scratch
    /// buffer and hands it to the session.
    fn read_control_input(&mut self, stream: &mut MaybeTls) {
        let Some(tcp) = stream.as_plain_mut() else {
            return;
        };
        CONTROL_SCRATCH.with_borrow_mut(|scratch| match tcp.try_read(scratch) {
            Ok(0) => self.session.handle_control_closed(Instant::now()),
            Ok(read) => self
                .session
                .handle_control_input(&scratch[..read], Instant::now()),
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
            Err(_) => self.session.handle_control_closed(Instant::now()),
        });
    }

    /// The connection's data plane, made on first use.
    fn data(&mut self) -> &mut DataPlane<A::Storage> {
        self.data.get_or_insert_with(|| Box::new(DataPlane::new()))
    }

    /// Carries out the session's outputs in order, until it is quiet.
    async fn drain(&mut self, writer: &mut (impl AsyncWrite + Unpin)) -> io::Result<()> {
        while let Some(output) = self.session.poll_output() {
            match output {
                Output::Transmit(mut bytes) => {
                    // Most replies go out at once; only a send that has to wait runs the
                    // bounded loop, boxed, so that its state (a timer among it) is not
                    // part of every idle session's task.
                    write_at_once(writer, &mut bytes).await?;
                    if !bytes.is_empty() {
                        Box::pin(self.send(writer, bytes)).await?;
                    }
                }
                Output::Action(action) => Box::pin(self.act(action)).await,
                Output::Request { id, request } => self.ask(id, request),
                Output::Event(event) => self.log_event(event),
            }
        }
        Ok(())
    }

    /// Sends `bytes` to a client that may have stopped reading: the session's deadlines
    /// (login, idle, and the send timeout it owns) keep running while the send waits.
    /// Without this a client that pipelines commands and never reads its replies would
    /// hold its session, and its place in the connection limits, for good.
    async fn send(
        &mut self,
        writer: &mut (impl AsyncWrite + Unpin),
        mut bytes: bytes::Bytes,
    ) -> io::Result<()> {
        let stalled = || io::Error::new(io::ErrorKind::TimedOut, "the client stopped reading");
        self.session.handle_send_blocked(Instant::now());
        while !bytes.is_empty() {
            let write = writer.write(&bytes);
            let written = match self.session.poll_timeout() {
                Some(deadline) => ::tokio::time::timeout_at(deadline.into(), write).await,
                None => Ok(write.await),
            };
            match written {
                Ok(Ok(0)) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(Ok(written)) => {
                    bytes::Buf::advance(&mut bytes, written);
                    let now = Instant::now();
                    self.session.handle_send_progress(now);
                    if !bytes.is_empty() {
                        self.session.handle_send_blocked(now);
                    }
                }
                Ok(Err(error)) => return Err(error),
                Err(_) => {
                    self.report_progress();
                    self.session.handle_timeout(Instant::now());
                    if self.session.is_closed() {
                        // Its last words cannot reach a client that does not read.
                        return Err(stalled());
                    }
                }
            }
        }
        self.session.handle_send_progress(Instant::now());
        Ok(())
    }

    async fn act(&mut self, action: Action) {
        match action {
            Action::ListenPassive { channel, family } => self.listen_passive(channel, family).await,
            Action::ConnectActive { id, address } => {
                let data = self.data();
                data.close();
                // No timer here: the session owns the connect deadline and aborts the
                // transfer (dropping this) when it passes.
                data.connecting = Some((id, Box::pin(TcpStream::connect(address))));
            }
            Action::SecureData { id } => self.secure_data(id),
            Action::CommitUpload { id } => {
                let running = self.data.as_mut().and_then(|data| data.running.as_mut());
                if let Some(running) = running.filter(|running| running.id == id) {
                    if let Some(commit) = running.commit.take() {
                        let _ = commit.send(());
                    }
                }
            }
            Action::StartTransfer(transfer) => self.start_transfer(transfer),
            Action::AbortTransfer { id } => {
                let Some(data) = &mut self.data else { return };
                if let Some(running) = data.running.take() {
                    if running.id == id {
                        running.task.abort();
                    } else {
                        data.running = Some(running);
                    }
                }
                // The connect or handshake made for it goes too: thousands of PORT,
                // RETR, ABOR rounds must not leave thousands of sockets connecting.
                if data.connecting.as_ref().is_some_and(|(c, _)| *c == id) {
                    data.connecting = None;
                }
                if data.securing.as_ref().is_some_and(|(s, _)| *s == id) {
                    data.securing = None;
                }
                if data.opened.as_ref().is_some_and(|opened| opened.0 == id) {
                    data.opened = None;
                }
            }
            Action::CloseData => {
                if let Some(data) = &mut self.data {
                    data.close();
                }
            }
            // The 234 reply is already out; the handshake runs once the drain is done.
            Action::StartControlTls => self.upgrade_control = true,
            Action::CancelRequest { id } => {
                tracing::warn!(peer = %self.peer(), id = id.as_u64(), "a request to the storage back end or authenticator was dropped unanswered");
                self.answering = None;
            }
            Action::Close => {}
        }
    }

    fn log_event(&mut self, event: Event) {
        match event {
            Event::LoggedIn { user } => {
                self.shared.logged_in(self.number);
                tracing::info!(peer = %self.peer(), user = %Escaped(user.as_bytes()), "logged in")
            }
            Event::LoginFailed { user } => {
                tracing::info!(peer = %self.peer(), user = %Escaped(user.as_bytes()), "login refused")
            }
            Event::TransferEnded {
                bytes, completed, ..
            } => tracing::debug!(bytes, completed, "transfer ended"),
            Event::Closed { reason } => tracing::debug!(?reason, "session closing"),
        }
    }

    /// Hands the request to the storage or the authenticator, as a future the
    /// connection's loop polls.
    fn ask(&mut self, id: RequestId, request: Request) {
        let shared = Arc::clone(&self.shared);
        let peer = self.peer();
        let storage = self
            .account
            .as_ref()
            .map(|account| Arc::clone(&account.storage));
        self.answering = Some(Box::pin(answer::<A>(shared, peer, storage, id, request)));
    }

    /// The application answered: keep what it opened, then tell the session.
    fn answered(&mut self, answer: Answer<A::Storage>) {
        let Answer {
            id,
            response,
            opened,
            account,
        } = answer;
        if let Some(account) = account {
            self.account = Some(account);
        }
        if let Some(opened) = opened {
            self.data().opened = Some(Box::new((id, opened)));
        }
        self.session.handle_response(id, response, Instant::now());
    }

    fn transfer_ended(&mut self, event: DataEvent) {
        if let (Some(data), DataEvent::Finished { id, .. } | DataEvent::Failed { id, .. }) =
            (&mut self.data, &event)
        {
            if data
                .running
                .as_ref()
                .is_some_and(|running| running.id == *id)
            {
                data.running = None;
            }
        }
        self.session.handle_data_event(event, Instant::now());
    }

    async fn listen_passive(&mut self, channel: ChannelId, family: AddressFamily) {
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
        let bound =
            listener.and_then(|listener| listener.local_addr().ok().map(|bound| (listener, bound)));
        let Some((listener, bound)) = bound else {
            self.session
                .handle_data_event(DataEvent::ListenFailed { channel }, Instant::now());
            return;
        };
        let advertised = SocketAddr::new(
            self.shared.config.public_address.unwrap_or(ip),
            bound.port(),
        );
        self.data().listener = Some((channel, listener));
        self.session.handle_data_event(
            DataEvent::Listening {
                channel,
                address: advertised,
            },
            Instant::now(),
        );
    }

    /// Starts the data connection's TLS handshake for transfer `id`.
    fn secure_data(&mut self, id: RequestId) {
        #[cfg(feature = "tls")]
        let config = self.tls.as_ref().map(|(_, data)| Arc::clone(data));
        let data = self.data();
        let stream = data.stream.take();
        #[cfg(feature = "tls")]
        if let (Some(config), Some(MaybeTls::Plain(tcp))) = (config, stream) {
            // No timer here either: the session owns the handshake's deadline.
            let handshake = async move { super::tls::accept(&config, tcp).await };
            data.securing = Some((id, Box::pin(handshake)));
            return;
        }
        #[cfg(not(feature = "tls"))]
        drop(stream);
        self.session
            .handle_data_event(DataEvent::TlsFailed { id }, Instant::now());
    }

    /// Runs the transfer the session started, on the data connection it said is ready.
    fn start_transfer(&mut self, transfer: Transfer) {
        let id = transfer.id;
        let buffer_size = self.shared.config.buffer_size;
        let data = self.data();
        let opened = data.opened.take().filter(|opened| opened.0 == id);
        let (Some(opened), Some(stream)) = (opened, data.stream.take()) else {
            // Only a session driven against its contract gets here.
            let failed = DataEvent::Failed {
                id,
                reason: DataFailure::Storage(StorageError::Other(
                    "the transfer's file or data connection is missing".into(),
                )),
            };
            self.session.handle_data_event(failed, Instant::now());
            return;
        };
        let (_, opened) = *opened;
        let sender = data.sender.clone();
        let moved = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&moved);
        let (commit, committed) = ::tokio::sync::oneshot::channel();
        let task = ::tokio::spawn(tracing::Instrument::in_current_span(async move {
            let upload_end = UploadEnd {
                events: &sender,
                commit: committed,
            };
            let event = run_transfer::<A::Storage>(
                transfer,
                opened,
                stream,
                buffer_size,
                &counter,
                upload_end,
            )
            .await;
            let _ = sender.send(event).await;
        }));
        data.running = Some(Running {
            id,
            task,
            moved,
            reported: 0,
            commit: Some(commit),
        });
    }
}

/// Answers one request of the session: the authenticator for a login, the storage for
/// the rest. Owns everything it needs, so that the connection can poll it while it goes
/// on reading the control connection.
async fn answer<A: Authenticator>(
    shared: Arc<Shared<A>>,
    peer: SocketAddr,
    storage: Option<Arc<A::Storage>>,
    id: RequestId,
    request: Request,
) -> Answer<A::Storage> {
    let mut answer = Answer {
        id,
        response: Response::Done,
        opened: None,
        account: None,
    };
    if let Request::Authenticate { user, password } = &request {
        let ip = peer.ip();
        if let Some(response) = shared.lockouts().screen_login(ip, Instant::now()) {
            tracing::info!(%peer, user = %Escaped(user.as_bytes()), "login refused: address locked out");
            answer.response = response;
            return answer;
        }
        answer.response = match shared.authenticator.authenticate(user, password).await {
            Some(account) => {
                let writable = account.writable;
                answer.account = Some(account);
                Response::LoggedIn { writable }
            }
            None => {
                tracing::info!(%peer, user = %Escaped(user.as_bytes()), "login refused");
                Response::LoginDenied
            }
        };
        if shared
            .lockouts()
            .record_login(ip, &answer.response, Instant::now())
        {
            tracing::warn!(
                %peer,
                seconds = shared.config.limits.lockout_duration.as_secs_f64(),
                "too many failed logins: address locked out"
            );
        }
        return answer;
    }
    // SITE reaches here only with `enable_site`, and the storage has no SITE commands:
    // it falls to `Unsupported` below, which the session answers 502.
    if let Request::SelectHost { .. } = request {
        return answer;
    }
    let Some(storage) = storage else {
        answer.response = Response::Failed(StorageError::PermissionDenied);
        return answer;
    };
    let result = match request {
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
            answer.opened = Some(Opened::Listing(lister));
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
                    tracing::info!(%peer, path = %Escaped(path.as_bytes()), offset, "download");
                    answer.opened = Some(Opened::Reader(reader));
                    Response::Opened {
                        size,
                        unique_name: None,
                    }
                })
        }
        Request::OpenWrite { path, mode } => {
            storage
                .open_write(&path, mode)
                .await
                .map(|(upload, final_path)| {
                    tracing::info!(%peer, path = %Escaped(final_path.as_bytes()), ?mode, "upload");
                    answer.opened = Some(Opened::Upload(upload));
                    Response::Opened {
                        size: None,
                        unique_name: Some(final_path),
                    }
                })
        }
        Request::Delete { path } => storage.delete(&path).await.map(|()| Response::Done),
        Request::MakeDirectory { path } => {
            storage.make_directory(&path).await.map(|()| Response::Done)
        }
        Request::RemoveDirectory { path } => storage
            .remove_directory(&path)
            .await
            .map(|()| Response::Done),
        Request::Rename { from, to } => storage.rename(&from, &to).await.map(|()| Response::Done),
        Request::SetModified { path, modified } => storage
            .set_modified(&path, modified)
            .await
            .map(|()| Response::Done),
        _ => Err(StorageError::Unsupported),
    };
    answer.response = result.unwrap_or_else(Response::Failed);
    answer
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

/// How an upload asks the session whether it is complete before committing it.
struct UploadEnd<'a> {
    events: &'a mpsc::Sender<DataEvent>,
    commit: ::tokio::sync::oneshot::Receiver<()>,
}

/// Runs one transfer to its end and says how it ended.
async fn run_transfer<S: Storage>(
    transfer: Transfer,
    opened: Opened<S>,
    mut stream: MaybeTls,
    buffer_size: usize,
    moved: &AtomicU64,
    upload_end: UploadEnd<'_>,
) -> DataEvent {
    let id = transfer.id;
    let started = Instant::now();
    let outcome = match (transfer.direction, opened, &transfer.content) {
        (Direction::Send, Opened::Reader(reader), TransferContent::File) => {
            let sendfile = S::sendfile_source(&reader).filter(|_| !transfer.ascii);
            match (sendfile, stream.as_plain_mut()) {
                (Some(source), Some(tcp)) => send_with_sendfile(source, tcp, moved).await,
                _ => send_file(reader, &mut stream, transfer.ascii, buffer_size, moved).await,
            }
        }
        (Direction::Send, Opened::Listing(lister), TransferContent::Listing(format)) => {
            send_listing(lister, &mut stream, format, moved).await
        }
        (Direction::Receive, Opened::Upload(upload), TransferContent::File) => {
            let receive = Receive {
                id,
                ascii: transfer.ascii,
                buffer_size,
                moved,
            };
            receive_file(upload, &mut stream, receive, upload_end).await
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
    tracing::debug!(%error, "data connection lost");
    DataFailure::ConnectionLost
}

/// Counts bytes moved, for the session's stall deadline and STAT: a relaxed add, read by
/// the connection's loop only when it wakes up for something else.
fn count(moved: &AtomicU64, bytes: usize) {
    moved.fetch_add(bytes as u64, Ordering::Relaxed);
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
    moved: &AtomicU64,
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
        write_counted(stream, chunk, moved)
            .await
            .map_err(connection_lost)?;
        total += chunk.len() as u64;
    }
    stream.shutdown().await.map_err(connection_lost)?;
    Ok(total)
}

/// Writes all of `bytes`, counting each write: a slow reader that keeps reading shows
/// progress, one that stops does not (and the session aborts the transfer).
async fn write_counted(
    stream: &mut (impl AsyncWrite + Unpin),
    mut bytes: &[u8],
    moved: &AtomicU64,
) -> io::Result<()> {
    while !bytes.is_empty() {
        let written = stream.write(bytes).await?;
        if written == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        count(moved, written);
        bytes = &bytes[written..];
    }
    Ok(())
}

/// Sends a file with `sendfile(2)`: the kernel copies from the page cache to the
/// socket, as vsftpd and pyftpdlib do. The file's own position says where to start.
async fn send_with_sendfile(
    source: std::os::fd::BorrowedFd<'_>,
    stream: &mut TcpStream,
    moved: &AtomicU64,
) -> Result<u64, DataFailure> {
    // Small chunks keep the receiver reading while the kernel refills the socket:
    // measured on loopback, 32 KiB beat 64 KiB, 128 KiB and 1 MiB (BENCHMARKS.md).
    const CHUNK: usize = 32 * 1024;
    let mut total = 0u64;
    loop {
        let socket: &TcpStream = stream;
        let sent = socket
            .async_io(::tokio::io::Interest::WRITABLE, || {
                rustix::fs::sendfile(socket, source, None, CHUNK).map_err(io::Error::from)
            })
            .await;
        match sent {
            Ok(0) => break,
            Ok(sent) => {
                count(moved, sent);
                total += sent as u64
            }
            // A read error is the storage's; anything else is the connection's.
            Err(error)
                if rustix::io::Errno::from_io_error(&error) == Some(rustix::io::Errno::IO) =>
            {
                return Err(storage_failed(error));
            }
            Err(error) => return Err(connection_lost(error)),
        }
    }
    stream.shutdown().await.map_err(connection_lost)?;
    Ok(total)
}

async fn send_listing(
    mut lister: impl Lister,
    stream: &mut MaybeTls,
    format: &ListingFormat,
    moved: &AtomicU64,
) -> Result<u64, DataFailure> {
    let now = SystemTime::now();
    let mut buffer = Vec::with_capacity(64 * 1024);
    let mut total = 0u64;
    while let Some((name, metadata)) = lister.next_entry().await.map_err(DataFailure::Storage)? {
        format_entry(format, name.as_bytes(), &metadata, now, &mut buffer);
        if buffer.len() >= 60 * 1024 {
            write_counted(stream, &buffer, moved)
                .await
                .map_err(connection_lost)?;
            total += buffer.len() as u64;
            buffer.clear();
        }
    }
    write_counted(stream, &buffer, moved)
        .await
        .map_err(connection_lost)?;
    total += buffer.len() as u64;
    stream.shutdown().await.map_err(connection_lost)?;
    Ok(total)
}

/// What an upload's copy needs to know.
struct Receive<'a> {
    id: RequestId,
    ascii: bool,
    buffer_size: usize,
    moved: &'a AtomicU64,
}

async fn receive_file(
    mut upload: impl Upload,
    stream: &mut MaybeTls,
    receive: Receive<'_>,
    end: UploadEnd<'_>,
) -> Result<u64, DataFailure> {
    let copied = copy_upload(
        &mut upload,
        stream,
        receive.ascii,
        receive.buffer_size,
        receive.moved,
    )
    .await;
    let (total, clean) = match copied {
        Ok(copied) => copied,
        Err(failure) => {
            upload.abort().await;
            return Err(failure);
        }
    };
    // Whether an upload that ended this way is complete is the session's decision.
    let received = DataEvent::Received {
        id: receive.id,
        bytes: total,
        clean,
    };
    if end.events.send(received).await.is_err() || end.commit.await.is_err() {
        upload.abort().await;
        return Err(DataFailure::ConnectionLost);
    }
    upload.commit().await.map_err(DataFailure::Storage)?;
    // Our close_notify (with TLS) and FIN: clients that wait for them see a clean end.
    // Bounded: the upload is stored and its reply due; a client that does not read
    // the close cannot hold it back.
    let _ = ::tokio::time::timeout(Duration::from_secs(5), stream.shutdown()).await;
    Ok(total)
}

/// Copies the data connection into the upload, up to the client's end of data; says
/// how many bytes, and whether the end was clean (false: TLS without close_notify).
async fn copy_upload(
    upload: &mut impl Upload,
    stream: &mut MaybeTls,
    ascii: bool,
    buffer_size: usize,
    moved: &AtomicU64,
) -> Result<(u64, bool), DataFailure> {
    // The buffer starts small and doubles while reads fill it: a small file never pays
    // for zeroing (and faulting in) the whole `buffer_size`, a big one soon reads in
    // `buffer_size` steps.
    let mut buffer = vec![0u8; buffer_size.clamp(1, 64 * 1024)];
    let mut converted = Vec::new();
    let mut converter = FromNetwork::new();
    let mut total = 0u64;
    let mut clean = true;
    loop {
        let read = match stream.read(&mut buffer).await {
            Ok(0) => break,
            Ok(read) => {
                count(moved, read);
                if read == buffer.len() && buffer.len() < buffer_size {
                    buffer.resize((buffer.len() * 2).min(buffer_size), 0);
                }
                read
            }
            // A TLS client that closes without close_notify: the end of the data, not
            // clean; the session decides whether that completes the upload.
            Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => {
                clean = false;
                break;
            }
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
    Ok((total, clean))
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
