//! One control connection's run loop: it feeds the session what happens (control
//! bytes, answers, data-connection facts, time, shutdown), drains its outputs after
//! every input and carries out each [`Action`]; it decides nothing itself.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::Poll;
use std::time::{Duration, Instant};

use ::tokio::io::{AsyncWrite, AsyncWriteExt};
use ::tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use super::answer::{Answer, answer};
use super::data::DataPlane;
use super::wait::{CONTROL_SCRATCH, Waits, Wake};
use super::{Connection, Shared};
use crate::server::{Action, DataEvent, Event, Output, Request, RequestId, Session};
use crate::storage::Authenticator;
use crate::tokio::log::Escaped;
use crate::tokio::stream::MaybeTls;

impl<A: Authenticator> Connection<A> {
    /// The connection for a session from `peer` to our `local` address; it holds a place
    /// the caller took in the connection limits (`Shared::admit`) and gives it back when
    /// dropped.
    pub(super) fn new(
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
    pub(super) async fn serve(mut self: Box<Self>, stream: TcpStream, stop: CancellationToken) {
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

    pub(super) fn peer(&self) -> SocketAddr {
        self.session.peer()
    }

    /// Prepares the control stream: this connection's TLS configuration, and the TLS
    /// handshake itself for implicit FTPS (bounded by the session's
    /// `control_tls_timeout`: the session has not started yet).
    pub(super) async fn open_control(&mut self, stream: TcpStream) -> io::Result<MaybeTls> {
        #[cfg(feature = "tls")]
        if let Some(base) = &self.shared.config.tls {
            let (config, data_config) = crate::tokio::tls::per_connection(base)?;
            self.tls = Some((Arc::clone(&config), data_config));
            if self.shared.config.session.implicit_tls {
                // Boxed, here and for AUTH TLS: inline, the handshake's state (a
                // rustls connection) would sit in every session's task for its whole
                // life, TLS or not.
                let handshake = crate::tokio::tls::accept(&config, stream);
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
    pub(super) async fn upgrade_control_stream(&mut self, stream: MaybeTls) -> Option<MaybeTls> {
        #[cfg(feature = "tls")]
        if let (Some((config, _)), MaybeTls::Plain(tcp)) = (&self.tls, stream) {
            let mut handshake = Box::pin(crate::tokio::tls::accept(config, tcp));
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

    pub(super) async fn run(
        &mut self,
        mut stream: MaybeTls,
        stop: CancellationToken,
    ) -> io::Result<()> {
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
    pub(super) fn report_progress(&mut self) {
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
    pub(super) fn read_control_input(&mut self, stream: &mut MaybeTls) {
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
    pub(super) fn data(&mut self) -> &mut DataPlane<A::Storage> {
        self.data.get_or_insert_with(|| Box::new(DataPlane::new()))
    }

    /// Carries out the session's outputs in order, until it is quiet.
    pub(super) async fn drain(&mut self, writer: &mut (impl AsyncWrite + Unpin)) -> io::Result<()> {
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
    pub(super) async fn send(
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

    pub(super) async fn act(&mut self, action: Action) {
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

    pub(super) fn log_event(&mut self, event: Event) {
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
    pub(super) fn ask(&mut self, id: RequestId, request: Request) {
        let shared = Arc::clone(&self.shared);
        let peer = self.peer();
        let storage = self
            .account
            .as_ref()
            .map(|account| Arc::clone(&account.storage));
        self.answering = Some(Box::pin(answer::<A>(shared, peer, storage, id, request)));
    }

    /// The application answered: keep what it opened, then tell the session.
    pub(super) fn answered(&mut self, answer: Answer<A::Storage>) {
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
}

impl<A: Authenticator> Drop for Connection<A> {
    fn drop(&mut self) {
        self.shared.release(self.session.peer().ip(), self.number);
    }
}

/// Writes as much of `bytes` as the stream takes without waiting, and advances `bytes`
/// past it.
pub(super) async fn write_at_once(
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
