//! `MaybeTls`: a TCP stream that is plain or, with feature `tls`, wrapped in TLS (as the
//! server or as the client), so that the control and data paths are written once for
//! both. `ControlStream`: the client's control connection over any transport, which
//! `AUTH TLS` upgrades in place.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use ::tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use ::tokio::net::TcpStream;

/// A plain or TLS-wrapped TCP stream.
#[derive(Debug)]
pub(crate) enum MaybeTls {
    /// No TLS.
    Plain(TcpStream),
    /// Server-side or client-side TLS (boxed: the TLS state is large).
    #[cfg(feature = "tls")]
    Tls(Box<tokio_rustls::TlsStream<TcpStream>>),
}

impl MaybeTls {
    /// The plain TCP stream, when there is no TLS on it.
    pub(crate) fn as_plain_mut(&mut self) -> Option<&mut TcpStream> {
        match self {
            MaybeTls::Plain(stream) => Some(stream),
            #[cfg(feature = "tls")]
            MaybeTls::Tls(_) => None,
        }
    }

    /// Whether TLS runs on the stream.
    // The client uses it in every build; a server-only build may not (the server asks
    // only with `tls`).
    #[cfg_attr(not(feature = "client"), allow(dead_code))]
    pub(crate) fn is_tls(&self) -> bool {
        !matches!(self, MaybeTls::Plain(_))
    }

    /// Whether the stream's TLS handshake resumed an earlier session (on the server, one
    /// of this control connection's configuration, see `tls::per_connection`; on the
    /// client, one of its control connection's store).
    // The client uses it in every build; a server-only build may not (the server asks
    // only with `tls`).
    #[cfg_attr(not(feature = "client"), allow(dead_code))]
    pub(crate) fn resumed(&self) -> bool {
        match self {
            MaybeTls::Plain(_) => false,
            #[cfg(feature = "tls")]
            MaybeTls::Tls(stream) => {
                stream.get_ref().1.handshake_kind() == Some(rustls::HandshakeKind::Resumed)
            }
        }
    }
}

impl AsyncRead for MaybeTls {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Plain(stream) => Pin::new(stream).poll_read(cx, buf),
            #[cfg(feature = "tls")]
            MaybeTls::Tls(stream) => Pin::new(stream).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for MaybeTls {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            MaybeTls::Plain(stream) => Pin::new(stream).poll_write(cx, buf),
            #[cfg(feature = "tls")]
            MaybeTls::Tls(stream) => Pin::new(stream).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Plain(stream) => Pin::new(stream).poll_flush(cx),
            #[cfg(feature = "tls")]
            MaybeTls::Tls(stream) => Pin::new(stream).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Plain(stream) => Pin::new(stream).poll_shutdown(cx),
            #[cfg(feature = "tls")]
            MaybeTls::Tls(stream) => Pin::new(stream).poll_shutdown(cx),
        }
    }
}

/// The client's control connection: the caller's transport, plain or under TLS.
#[cfg(feature = "client")]
#[derive(Debug)]
pub(crate) enum ControlStream<S> {
    /// No TLS (yet).
    Plain(S),
    /// Client-side TLS (boxed: the TLS state is large).
    #[cfg(feature = "tls")]
    Tls(Box<tokio_rustls::client::TlsStream<S>>),
    /// Taken for a TLS handshake that has not given it back (it failed): every use
    /// fails.
    Gone,
}

#[cfg(feature = "client")]
fn gone() -> io::Error {
    io::Error::new(
        io::ErrorKind::NotConnected,
        "the control connection was lost in a failed TLS handshake",
    )
}

#[cfg(feature = "client")]
impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for ControlStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ControlStream::Plain(stream) => Pin::new(stream).poll_read(cx, buf),
            #[cfg(feature = "tls")]
            ControlStream::Tls(stream) => Pin::new(stream).poll_read(cx, buf),
            ControlStream::Gone => Poll::Ready(Err(gone())),
        }
    }
}

#[cfg(feature = "client")]
impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for ControlStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ControlStream::Plain(stream) => Pin::new(stream).poll_write(cx, buf),
            #[cfg(feature = "tls")]
            ControlStream::Tls(stream) => Pin::new(stream).poll_write(cx, buf),
            ControlStream::Gone => Poll::Ready(Err(gone())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ControlStream::Plain(stream) => Pin::new(stream).poll_flush(cx),
            #[cfg(feature = "tls")]
            ControlStream::Tls(stream) => Pin::new(stream).poll_flush(cx),
            ControlStream::Gone => Poll::Ready(Err(gone())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ControlStream::Plain(stream) => Pin::new(stream).poll_shutdown(cx),
            #[cfg(feature = "tls")]
            ControlStream::Tls(stream) => Pin::new(stream).poll_shutdown(cx),
            ControlStream::Gone => Poll::Ready(Ok(())),
        }
    }
}

/// Asks the kernel to report `stream` readable only once `bytes` are queued (or at its
/// end, or on an error): `SO_RCVLOWAT`. A download woken for every few dozen KiB costs
/// the sender a cross-CPU wake-up each time; waiting for 256 KiB halved the wall time
/// of a 1 GiB download from vsftpd on loopback (BENCHMARKS.md, issue 7). Linux signals
/// readiness anew when the mark is lowered below what is queued.
#[cfg(feature = "client")]
pub(crate) fn set_receive_low_water(stream: &TcpStream, bytes: usize) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let value = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    // SAFETY: the descriptor is open for as long as `stream` is borrowed, and the option
    // value is a live `c_int` whose size is passed with it.
    #[allow(unsafe_code)]
    let result = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVLOWAT,
            std::ptr::from_ref(&value).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if result == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}
