//! FTPS for the tokio server (feature `tls`): loading a certificate, the per-connection
//! TLS configuration that makes data-channel session reuse checkable, and the
//! handshakes. The protocol state (what is allowed before AUTH, PROT per transfer) is
//! the session's; this file only runs TLS.
//!
//! What we send and accept at the end of data (close_notify): on downloads and
//! listings the server sends close_notify, then closes. On uploads it accepts a client
//! that closes without close_notify as the end of the data, as vsftpd does by default,
//! because common clients do exactly that.

use std::io;
use std::path::Path;
use std::sync::Arc;

use ::tokio::net::TcpStream;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::ServerSessionMemoryCache;
use rustls::{HandshakeKind, ServerConfig};

use super::stream::MaybeTls;

/// Builds a TLS configuration (TLS 1.2 and 1.3, ring) from PEM files holding a
/// certificate chain and its private key.
pub fn server_config_from_pem(
    certificate_chain: &Path,
    private_key: &Path,
) -> io::Result<Arc<ServerConfig>> {
    let invalid = |what: &str, error: &dyn std::fmt::Display| {
        io::Error::new(io::ErrorKind::InvalidData, format!("{what}: {error}"))
    };
    let certificates = CertificateDer::pem_file_iter(certificate_chain)
        .map_err(|e| invalid("certificate file", &e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid("certificate file", &e))?;
    let key = PrivateKeyDer::from_pem_file(private_key).map_err(|e| invalid("key file", &e))?;
    server_config(certificates, key)
}

/// Builds a TLS configuration from a DER certificate chain and key.
pub fn server_config(
    certificates: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> io::Result<Arc<ServerConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|builder| {
            builder
                .with_no_client_auth()
                .with_single_cert(certificates, key)
        })
        .map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error))?;
    Ok(Arc::new(config))
}

/// Copies of `base` for one control connection and its data connections, with their
/// own session cache and ticket keys: a data connection that resumes a session of these
/// configurations can only have got it from that control connection.
///
/// The data configuration issues no TLS 1.3 session tickets: a client that uploads
/// never reads them, and closing a socket with unread bytes makes the kernel send a
/// reset that can overtake the end of the upload.
pub(crate) fn per_connection(
    base: &Arc<ServerConfig>,
) -> io::Result<(Arc<ServerConfig>, Arc<ServerConfig>)> {
    let mut control = ServerConfig::clone(base);
    control.session_storage = ServerSessionMemoryCache::new(64);
    control.ticketer = rustls::crypto::ring::Ticketer::new()
        .map_err(|error| io::Error::other(error.to_string()))?;
    let mut data = control.clone();
    data.send_tls13_tickets = 0;
    Ok((Arc::new(control), Arc::new(data)))
}

/// Runs the server side of a TLS handshake on `stream`.
pub(crate) async fn accept(config: &Arc<ServerConfig>, stream: TcpStream) -> io::Result<MaybeTls> {
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::clone(config));
    let stream = acceptor.accept(stream).await?;
    Ok(MaybeTls::Tls(Box::new(stream)))
}

/// Whether a data connection's TLS handshake resumed a session (of this control
/// connection's configuration, see [`per_connection`]).
pub(crate) fn resumed(stream: &MaybeTls) -> bool {
    match stream {
        MaybeTls::Tls(stream) => {
            stream.get_ref().1.handshake_kind() == Some(HandshakeKind::Resumed)
        }
        MaybeTls::Plain(_) => false,
    }
}
