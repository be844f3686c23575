//! FTPS for the tokio client: which certificates to trust, which TLS versions to speak,
//! explicit or implicit TLS, and the per-connection rustls configuration that lets every
//! data connection resume the control connection's TLS session.
//!
//! The protocol side (`AUTH TLS`, `PBSZ 0`, `PROT P`, when each handshake runs) is the
//! session's; this file only builds configurations and runs handshakes.

use std::fmt;
use std::io;
use std::path::Path;
use std::sync::Arc;

use ::tokio::net::TcpStream;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ClientSessionMemoryCache, Resumption, TicketRequest};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme, SupportedProtocolVersion,
};

use crate::tokio::stream::MaybeTls;

/// How the client runs FTPS (RFC 4217): the rustls configuration, explicit or implicit
/// TLS, and the name the server's certificate must carry. Set it as
/// [`ClientConfig::with_tls`](crate::tokio::ClientConfig::with_tls).
///
/// ```no_run
/// use ftp_proto::tokio::tls::ClientTls;
///
/// # fn main() -> std::io::Result<()> {
/// // Explicit TLS (AUTH TLS on port 21), the system's trusted roots (building fails if
/// // the system has none), TLS 1.2 or 1.3.
/// let tls = ClientTls::builder().build()?.with_server_name("ftp.example.org")?;
/// assert!(!tls.is_implicit());
///
/// // Implicit TLS (ftps://, port 990), TLS 1.3 only.
/// let tls = ClientTls::builder()
///     .protocol_versions(&[&rustls::version::TLS13])
///     .build()?
///     .implicit();
/// assert!(tls.is_implicit());
/// # Ok(())
/// # }
/// ```
///
/// Whatever configuration it starts from, each [`Client`](crate::tokio::Client) runs on
/// its own copy with a fresh session store, so that its data connections resume its own
/// control connection's TLS session and no other (servers such as vsftpd with
/// `require_ssl_reuse=YES` refuse anything else). The copy asks for TLS 1.3 session
/// tickets with RFC 9149's `ticket_request` extension (four on the control connection,
/// one on each data connection) because rustls spends one ticket per resumption, and it
/// never sends early data.
#[derive(Clone)]
pub struct ClientTls {
    config: Arc<ClientConfig>,
    implicit: bool,
    server_name: Option<ServerName<'static>>,
}

impl fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientTls")
            .field("implicit", &self.implicit)
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

impl ClientTls {
    /// A builder that trusts the system's root certificates and speaks TLS 1.2 and 1.3.
    pub fn builder() -> ClientTlsBuilder {
        ClientTlsBuilder {
            trust: Trust::SystemRoots,
            versions: rustls::DEFAULT_VERSIONS.to_vec(),
        }
    }

    /// FTPS over a rustls configuration of your own (client certificates, a custom
    /// verifier, other cipher suites...). Its session resumption settings are replaced
    /// per connection, as the type's docs say.
    pub fn from_rustls(config: Arc<ClientConfig>) -> ClientTls {
        ClientTls {
            config,
            implicit: false,
            server_name: None,
        }
    }

    /// Implicit TLS: the handshake runs as soon as the TCP connection is open, before
    /// the greeting (`ftps://` URLs, usually port 990). The default is explicit TLS:
    /// `AUTH TLS` before login.
    pub fn implicit(mut self) -> ClientTls {
        self.implicit = true;
        self
    }

    /// Explicit TLS (`AUTH TLS` before login), the default.
    pub fn explicit(mut self) -> ClientTls {
        self.implicit = false;
        self
    }

    /// The name the server's certificate must be valid for: a DNS name or an IP address.
    /// Without one, the client checks the certificate against the IP address it
    /// connected to, so set it whenever you connect by host name.
    pub fn with_server_name(mut self, name: &str) -> io::Result<ClientTls> {
        let name = ServerName::try_from(name.to_owned()).map_err(|error| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("not a DNS name or IP address: {name:?}: {error}"),
            )
        })?;
        self.server_name = Some(name);
        Ok(self)
    }

    /// Whether TLS starts with the TCP connection (implicit) rather than after
    /// `AUTH TLS`.
    pub fn is_implicit(&self) -> bool {
        self.implicit
    }

    /// The name set with [`with_server_name`](Self::with_server_name), if any.
    pub fn server_name(&self) -> Option<&ServerName<'static>> {
        self.server_name.as_ref()
    }

    /// The rustls configuration this was built from.
    pub fn rustls_config(&self) -> &Arc<ClientConfig> {
        &self.config
    }

    /// The state of one control connection to a server at `peer`: its own copy of the
    /// configuration and session store, and the name to check.
    pub(crate) fn connection(&self, peer: std::net::IpAddr) -> TlsConnection {
        let mut config = ClientConfig::clone(&self.config);
        // One store per control connection: its data connections can only resume its
        // own session, never another client's.
        config.resumption = Resumption::store(Arc::new(ClientSessionMemoryCache::new(16)));
        config.enable_early_data = false;
        config.send_ticket_request = Some(TicketRequest {
            new_session_count: 4,
            resumption_count: 1,
        });
        let server_name = self
            .server_name
            .clone()
            .unwrap_or(ServerName::IpAddress(peer.into()));
        TlsConnection {
            connector: tokio_rustls::TlsConnector::from(Arc::new(config)),
            server_name,
        }
    }
}

/// Which certificates a [`ClientTlsBuilder`] trusts.
#[derive(Clone, Debug)]
enum Trust {
    SystemRoots,
    Roots(Vec<CertificateDer<'static>>),
    Anything,
}

/// Builds a [`ClientTls`]: whom to trust and which TLS versions to speak.
#[derive(Clone, Debug)]
pub struct ClientTlsBuilder {
    trust: Trust,
    versions: Vec<&'static SupportedProtocolVersion>,
}

impl ClientTlsBuilder {
    /// Trust the root certificates of the operating system's store (the default).
    pub fn system_roots(mut self) -> ClientTlsBuilder {
        self.trust = Trust::SystemRoots;
        self
    }

    /// Trust the certificates in a PEM file (a private CA, or a server's self-signed
    /// certificate) instead of the system's roots. Calls add up.
    pub fn ca_file(self, path: impl AsRef<Path>) -> io::Result<ClientTlsBuilder> {
        let path = path.as_ref();
        let certificates = CertificateDer::pem_file_iter(path)
            .and_then(|certificates| certificates.collect::<Result<Vec<_>, _>>())
            .map_err(|error| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: {error}", path.display()),
                )
            })?;
        if certificates.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: no certificate in the file", path.display()),
            ));
        }
        Ok(self.ca_certificates(certificates))
    }

    /// Trust these DER certificates instead of the system's roots. Calls add up.
    pub fn ca_certificates(
        mut self,
        certificates: impl IntoIterator<Item = CertificateDer<'static>>,
    ) -> ClientTlsBuilder {
        let mut roots = match self.trust {
            Trust::Roots(roots) => roots,
            Trust::SystemRoots | Trust::Anything => Vec::new(),
        };
        roots.extend(certificates);
        self.trust = Trust::Roots(roots);
        self
    }

    /// **For tests only**: accept any certificate for any name, so that anyone between
    /// the client and the server can read and change everything, password included.
    /// The handshake's signatures are still checked, which proves nothing about who
    /// signed them.
    pub fn insecure_accept_any_certificate(mut self) -> ClientTlsBuilder {
        self.trust = Trust::Anything;
        self
    }

    /// The TLS versions to offer, from `rustls::version` (default: TLS 1.2 and 1.3).
    /// `&[&rustls::version::TLS13]` insists on TLS 1.3.
    pub fn protocol_versions(
        mut self,
        versions: &[&'static SupportedProtocolVersion],
    ) -> ClientTlsBuilder {
        self.versions = versions.to_vec();
        self
    }

    /// The configuration, with the ring crypto provider. Fails when the system's store
    /// holds no usable root certificate, or when the versions are empty.
    pub fn build(self) -> io::Result<ClientTls> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_protocol_versions(&self.versions)
            .map_err(|error| io::Error::new(io::ErrorKind::InvalidInput, error))?;
        let config = match self.trust {
            Trust::Anything => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate {
                    algorithms: provider.signature_verification_algorithms,
                }))
                .with_no_client_auth(),
            Trust::Roots(certificates) => {
                let mut roots = RootCertStore::empty();
                for certificate in certificates {
                    roots
                        .add(certificate)
                        .map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error))?;
                }
                builder.with_root_certificates(roots).with_no_client_auth()
            }
            Trust::SystemRoots => builder
                .with_root_certificates(system_roots()?)
                .with_no_client_auth(),
        };
        Ok(ClientTls::from_rustls(Arc::new(config)))
    }
}

/// The operating system's trusted roots.
fn system_roots() -> io::Result<RootCertStore> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        let why = found
            .errors
            .first()
            .map_or_else(|| "the store is empty".to_owned(), ToString::to_string);
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("no usable root certificate in the system's store: {why}"),
        ));
    }
    Ok(roots)
}

/// The verifier behind [`ClientTlsBuilder::insecure_accept_any_certificate`].
#[derive(Debug)]
struct AcceptAnyCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, certificate, signature, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, certificate, signature, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// One control connection's TLS: its configuration (with its own session store) and
/// the server name, shared by the control connection and all its data connections.
#[derive(Clone)]
pub(crate) struct TlsConnection {
    connector: tokio_rustls::TlsConnector,
    server_name: ServerName<'static>,
}

impl fmt::Debug for TlsConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConnection")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

impl TlsConnection {
    /// The client side of the control connection's handshake.
    pub(crate) async fn connect_control<S>(
        &self,
        stream: S,
    ) -> io::Result<tokio_rustls::client::TlsStream<S>>
    where
        S: ::tokio::io::AsyncRead + ::tokio::io::AsyncWrite + Unpin,
    {
        self.connector
            .connect(self.server_name.clone(), stream)
            .await
    }

    /// The client side of a data connection's handshake, which offers the control
    /// connection's session for resumption.
    pub(crate) fn connect_data(
        &self,
        stream: TcpStream,
    ) -> impl Future<Output = io::Result<MaybeTls>> + Send + 'static {
        let connect = self.connector.connect(self.server_name.clone(), stream);
        async move {
            let stream = connect.await?;
            Ok(MaybeTls::Tls(Box::new(tokio_rustls::TlsStream::Client(
                stream,
            ))))
        }
    }
}
