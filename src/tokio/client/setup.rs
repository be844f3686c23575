//! Opening a client: connecting, the implicit-TLS handshake and the greeting, the
//! `AUTH TLS` upgrade of the control stream, and the client's state accessors.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::Instant;

use ::tokio::io::{AsyncRead, AsyncWrite};
use ::tokio::net::{TcpStream, ToSocketAddrs};

use super::error::{ClientError, Result};
use super::{Client, ClientConfig, DataTlsHandshakes};
use crate::client::{OperationId, Outcome, Session};
use crate::reply::Reply;
use crate::tokio::stream::ControlStream;

impl Client<TcpStream> {
    /// Connects to `address` (within [`ClientConfig::connect_timeout`]), runs the TLS
    /// handshake first with implicit TLS, and waits for the greeting.
    ///
    /// With TLS, the server's certificate is checked against the name set with
    /// [`ClientTls::with_server_name`](crate::tokio::tls::ClientTls::with_server_name), else against the IP address connected to.
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

    pub(super) fn build(control: S, peer: SocketAddr, config: ClientConfig) -> Result<Self> {
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
    pub(super) async fn start(&mut self) -> Result<()> {
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
    pub(super) async fn secure_control(&mut self) -> Result<()> {
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

    pub(super) async fn wait_for_greeting(&mut self) -> Result<()> {
        match self.wait(OperationId::GREETING).await? {
            Outcome::Greeting(reply) => {
                self.greeting = Some(reply);
                Ok(())
            }
            _ => Err(ClientError::UnexpectedOutput("greeting")),
        }
    }

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
}
