//! What a connection's loop waits on between two drains ([`Waits`]) and why it woke
//! ([`Wake`]), polled by hand so that an idle session holds almost no state.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

#[cfg(feature = "tls")]
use ::tokio::io::AsyncRead;
use ::tokio::net::TcpStream;
use tokio_util::sync::WaitForCancellationFutureOwned;

use super::answer::{Answer, Answering};
use super::data::DataPlane;
use crate::server::{ChannelId, DataEvent, RequestId};
use crate::storage::Storage;
use crate::tokio::stream::MaybeTls;

thread_local! {
    /// Where plain control connections read into: one buffer per worker thread instead
    /// of one per session, so that an idle session holds no read buffer (4 KiB each
    /// would be 40 MiB at 10,000 sessions). Used only between an await and the next.
    pub(super) static CONTROL_SCRATCH: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0; 16 * 1024]);
}

/// What a connection's loop waits on between two drains, polled by hand rather than
/// with `select!`: a `select!` keeps every branch's future inside the session's task
/// (some 600 bytes of readiness, timer and channel futures per idle session), where
/// these polls need none but the timer and the stop signal, made once.
pub(super) struct Waits {
    /// Only a TLS stream reads into a buffer of its own (4 KiB, made on first use); a
    /// plain one waits for readiness and reads into the worker thread's scratch buffer.
    pub(super) tls_input: Vec<u8>,
    /// The session's next deadline, reset in place as it moves.
    pub(super) timer: Option<Pin<Box<::tokio::time::Sleep>>>,
    /// The server's shutdown signal, until it fires.
    pub(super) stop: Option<Pin<Box<WaitForCancellationFutureOwned>>>,
}

/// Why a connection's loop woke up.
pub(super) enum Wake<S: Storage> {
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
    pub(super) fn set_deadline(&mut self, deadline: Option<Instant>) {
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

    pub(super) fn poll<S: Storage>(
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
