//! `Server`: accepts control connections and drives one [`server::Session`] per
//! connection over tokio sockets, a [`Storage`] and an [`Authenticator`].
//!
//! This module only moves bytes and carries out the session's events: every reply and
//! every policy decision comes from the session, or for the limits across sessions from
//! [`server::limits`], whose tables it keeps for all its sessions and carries out. It
//! owns data sockets and the copy loops.
//!
//! This file holds the server's configuration, the accept loop and the limits shared by
//! all sessions, and the types several children share (`Connection`, `Opened`). The
//! rest, by concern: `connection` (one connection's run loop and what it does for each
//! action), `wait` (what the loop waits on), `data` (the data plane: listener, connect,
//! TLS handshake, the transfer task), `answer` (requests carried out on the storage and
//! authenticator), `transfer` (the copy loops) and `tests`.

mod answer;
mod connection;
mod data;
#[cfg(test)]
mod tests;
mod transfer;
mod wait;

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::sync::atomic::AtomicU16;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ::tokio::io::AsyncWriteExt;
use ::tokio::net::{TcpListener, TcpStream};
use ::tokio::task::{AbortHandle, JoinSet};
use tokio_util::sync::CancellationToken;

use crate::server::limits::{Admissions, Limits, Lockouts, Refusal};
use crate::server::{self, Session};
use crate::storage::{Account, Authenticator, Storage};
use answer::Answering;
use data::DataPlane;

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
