//! FTPS (feature `tls`, rustls with the ring provider) for the tokio server and client.
//!
//! For the server: loading a certificate, the per-connection TLS configuration that
//! makes data-channel session reuse checkable, and the handshakes. For the client:
//! [`ClientTls`], which says whom to trust, which versions to speak and whether TLS is
//! explicit (`AUTH TLS`) or implicit (`ftps://`). The protocol state (what is allowed
//! before AUTH, PBSZ and PROT, when each handshake runs) is the sessions'; this module
//! only runs TLS.
//!
//! # The end of a protected data connection (close_notify)
//!
//! What each side sends and accepts when a transfer's data ends:
//!
//! | transfer | the server (ours) | the client (ours) |
//! |---|---|---|
//! | download, listing | sends close_notify, then closes | reads to the end; accepts the end **with or without** the server's close_notify, but the transfer succeeds only when the control connection's final reply (`226`/`250`) confirms it; sends no close_notify of its own |
//! | upload | reads to the end; accepts a client that closes without close_notify (as vsftpd does by default), because common clients do exactly that; answers with close_notify | sends close_notify and closes its sending side after the last byte, then reads what the server still sends (TLS 1.3 session tickets, its close_notify) until the server closes or its final reply arrives |
//!
//! A data connection that ends without close_notify could have been cut short by
//! someone forging a TCP FIN; the final reply travels on the protected control
//! connection, so a confirmed transfer is a complete one. The client's reading after an
//! upload matters with TLS 1.3: a socket closed with unread bytes (a session ticket the
//! server sent after the handshake) makes the kernel send a reset, which can destroy the
//! last bytes of the upload before the server reads them.
//!
//! # Session reuse
//!
//! Servers such as vsftpd (`require_ssl_reuse=YES`) and ours
//! ([`server::Config::require_tls_session_reuse`](crate::server::Config::require_tls_session_reuse))
//! refuse a protected data connection whose handshake does not resume the control
//! connection's TLS session. The client gives each control connection its own session
//! store and offers its session on every data connection. With TLS 1.3 each resumption
//! spends one single-use ticket, so the client asks for more with RFC 9149's
//! `ticket_request` (four on the control connection, one per data connection) and reads
//! the tickets that come on data connections. Our server sends two tickets on the
//! control connection (up to eight when asked), and one on a data connection only to a
//! client that asks for it; OpenSSL servers (vsftpd, pyftpdlib) send tickets after
//! every handshake.

#[cfg(feature = "server")]
use std::io;
#[cfg(feature = "server")]
use std::path::Path;
#[cfg(feature = "server")]
use std::sync::Arc;

#[cfg(feature = "server")]
use ::tokio::net::TcpStream;
#[cfg(feature = "server")]
use rustls::ServerConfig;
#[cfg(feature = "server")]
use rustls::pki_types::pem::PemObject as _;
#[cfg(feature = "server")]
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
#[cfg(feature = "server")]
use rustls::server::ServerSessionMemoryCache;

#[cfg(feature = "server")]
use super::stream::MaybeTls;

/// Builds a TLS configuration (TLS 1.2 and 1.3, ring) from PEM files holding a
/// certificate chain and its private key.
#[cfg(feature = "server")]
#[cfg_attr(docsrs, doc(cfg(feature = "server")))]
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
#[cfg(feature = "server")]
#[cfg_attr(docsrs, doc(cfg(feature = "server")))]
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
/// The data configuration issues TLS 1.3 session tickets only to clients that ask for
/// them (RFC 9149 `ticket_request`, at most one): a client that uploads may never read
/// them, and closing a socket with unread bytes makes the kernel send a reset that can
/// overtake the end of the upload. A client that asks says it reads them; it needs them
/// because each resumption spends a ticket. The control configuration sends its two
/// tickets, or up to eight to a client that asks.
#[cfg(feature = "server")]
pub(crate) fn per_connection(
    base: &Arc<ServerConfig>,
) -> io::Result<(Arc<ServerConfig>, Arc<ServerConfig>)> {
    let mut control = ServerConfig::clone(base);
    control.session_storage = ServerSessionMemoryCache::new(64);
    control.ticketer = rustls::crypto::ring::Ticketer::new()
        .map_err(|error| io::Error::other(error.to_string()))?;
    control.max_tls13_tickets = 8;
    let mut data = control.clone();
    data.send_tls13_tickets = 0;
    data.max_tls13_tickets = 1;
    Ok((Arc::new(control), Arc::new(data)))
}

/// Runs the server side of a TLS handshake on `stream`.
#[cfg(feature = "server")]
pub(crate) async fn accept(config: &Arc<ServerConfig>, stream: TcpStream) -> io::Result<MaybeTls> {
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::clone(config));
    let stream = acceptor.accept(stream).await?;
    Ok(MaybeTls::Tls(Box::new(tokio_rustls::TlsStream::Server(
        stream,
    ))))
}

#[cfg(feature = "client")]
mod client;

#[cfg(feature = "client")]
pub(crate) use client::TlsConnection;
#[cfg(feature = "client")]
#[cfg_attr(docsrs, doc(cfg(feature = "client")))]
pub use client::{ClientTls, ClientTlsBuilder};
