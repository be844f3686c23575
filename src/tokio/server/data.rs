//! The connection's data plane: the passive listener, the active connect, the data
//! TLS handshake, the stream and opened resource waiting for their transfer, and the
//! running copy task, each under the id the session gave it.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::time::Instant;

use ::tokio::net::{TcpListener, TcpStream};
use ::tokio::sync::mpsc;
use ::tokio::task::JoinHandle;

use super::transfer::{UploadEnd, run_transfer};
use super::{Connection, Opened};
use crate::server::{
    AddressFamily, ChannelId, DataEvent, DataFailure, RequestId, StorageError, Transfer,
};
use crate::storage::{Authenticator, Storage};
use crate::tokio::stream::MaybeTls;

/// An active-mode connect in flight, polled by the connection's loop itself so that
/// dropping it (ABOR, a new PORT, the session's end) closes its socket at once.
pub(super) type Connecting =
    Pin<Box<dyn std::future::Future<Output = io::Result<TcpStream>> + Send>>;

/// A data connection's TLS handshake in flight, polled like a connect.
pub(super) type Securing = Pin<Box<dyn std::future::Future<Output = io::Result<MaybeTls>> + Send>>;

/// A connection's data connections and transfers, as the session's actions left them:
/// this holds no protocol state, only what the actions made (a listener, a connect or
/// a handshake in flight, a data connection, an opened file, a running copy), each
/// under the id the session gave it.
pub(super) struct DataPlane<S: Storage> {
    /// Transfer results from this connection's transfer task.
    pub(super) sender: mpsc::Sender<DataEvent>,
    pub(super) receiver: mpsc::Receiver<DataEvent>,
    /// The passive listener, until it accepts one connection.
    pub(super) listener: Option<(ChannelId, TcpListener)>,
    /// When an accept failed, the pause before the next try.
    pub(super) accept_retry: Option<Pin<Box<::tokio::time::Sleep>>>,
    /// The active connect in flight, for the transfer with this id.
    pub(super) connecting: Option<(RequestId, Connecting)>,
    /// The data TLS handshake in flight, for the transfer with this id.
    pub(super) securing: Option<(RequestId, Securing)>,
    /// The data connection made, not yet handed to a transfer.
    pub(super) stream: Option<MaybeTls>,
    /// Boxed: a reader or an upload is large, and a session between transfers has none.
    pub(super) opened: Option<Box<(RequestId, Opened<S>)>>,
    pub(super) running: Option<Running>,
}

/// A transfer's copy task and its byte counter.
pub(super) struct Running {
    pub(super) id: RequestId,
    pub(super) task: JoinHandle<()>,
    /// Bumped by the copy loop (a relaxed add per read or write, no message).
    pub(super) moved: Arc<AtomicU64>,
    /// The figure last reported to the session.
    pub(super) reported: u64,
    /// An upload waits on this for the session's `CommitUpload`.
    pub(super) commit: Option<::tokio::sync::oneshot::Sender<()>>,
}

impl<S: Storage> DataPlane<S> {
    pub(super) fn new() -> DataPlane<S> {
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
    pub(super) fn close(&mut self) {
        self.listener = None;
        self.accept_retry = None;
        self.connecting = None;
        self.securing = None;
        self.stream = None;
    }
}

impl<A: Authenticator> Connection<A> {
    pub(super) fn transfer_ended(&mut self, event: DataEvent) {
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

    pub(super) async fn listen_passive(&mut self, channel: ChannelId, family: AddressFamily) {
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
    pub(super) fn secure_data(&mut self, id: RequestId) {
        #[cfg(feature = "tls")]
        let config = self.tls.as_ref().map(|(_, data)| Arc::clone(data));
        let data = self.data();
        let stream = data.stream.take();
        #[cfg(feature = "tls")]
        if let (Some(config), Some(MaybeTls::Plain(tcp))) = (config, stream) {
            // No timer here either: the session owns the handshake's deadline.
            let handshake = async move { crate::tokio::tls::accept(&config, tcp).await };
            data.securing = Some((id, Box::pin(handshake)));
            return;
        }
        #[cfg(not(feature = "tls"))]
        drop(stream);
        self.session
            .handle_data_event(DataEvent::TlsFailed { id }, Instant::now());
    }

    /// Runs the transfer the session started, on the data connection it said is ready.
    pub(super) fn start_transfer(&mut self, transfer: Transfer) {
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

/// Binds a port from the passive range, trying each port at most once, round-robin
/// across the server's sessions.
pub(super) async fn bind_passive(
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
