//! Data connections as the session asks for them: connect or listen, the data TLS
//! handshake, and reporting each fact (connected, secured, bytes, end) to the session.

use std::io;
use std::time::Instant;

use ::tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};

use super::error::tls_fault;
use super::{Client, DataReady, DataSlot, DataState};
use crate::client::{OperationId, TransferKind};
use crate::tokio::stream::MaybeTls;

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Client<S> {
    /// Starts the TLS handshake on transfer `id`'s open data connection.
    pub(super) fn secure_data(&mut self, id: OperationId, now: Instant) {
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

    pub(super) fn start_data(&mut self, id: OperationId, kind: TransferKind, state: DataState) {
        if kind == TransferKind::Listing {
            self.listing.clear();
        }
        self.data = Some(DataSlot { id, kind, state });
    }

    pub(super) fn on_data(&mut self, ready: io::Result<DataReady>, now: Instant) {
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

/// Waits for the data slot's next event: connected, accepted (with the peer's address,
/// for the session to judge), secured, or listing bytes (appended to `listing`).
pub(super) async fn data_ready(
    data: &mut Option<DataSlot>,
    listing: &mut Vec<u8>,
) -> io::Result<DataReady> {
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
