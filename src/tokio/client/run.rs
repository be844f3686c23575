//! The run loop: settle an orphaned transfer, queue an operation, then drain the
//! session after every input and wait for control bytes, a data connection or the
//! session's next deadline, until the operation's outcome.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use ::tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use ::tokio::net::{TcpListener, TcpStream};

use super::data::data_ready;
use super::error::{ClientError, Result};
use super::{Client, DataState, Input};
use crate::client::{self, Action, Event, OperationId, Outcome, Output, TransferKind};
use crate::reply::Reply;
use crate::tokio::stream::ControlStream;

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Client<S> {
    /// Settles a transfer whose handle went away, then fails fast if the session is over.
    pub(super) async fn prepare(&mut self) -> Result<()> {
        if let Some(orphan) = self.orphan.take() {
            if orphan.abort {
                self.session.abort(orphan.id, Instant::now());
            }
            if self.data.as_ref().is_some_and(|slot| slot.id == orphan.id) {
                self.data = None;
            }
            let _ = self.wait(orphan.id).await;
        }
        Ok(())
    }

    /// Runs the loop until operation `id` completes and returns its result.
    pub(crate) async fn wait(&mut self, id: OperationId) -> Result<Outcome> {
        self.run_until(|client| client.results.contains_key(&id))
            .await?;
        if self.orphan.is_some_and(|orphan| orphan.id == id) {
            self.orphan = None;
        }
        self.started.remove(&id);
        self.may_send.remove(&id);
        self.closing.remove(&id);
        let failure = self
            .data_tls_failure
            .take_if(|(failed, _)| *failed == id)
            .map(|(_, source)| source);
        match self.results.remove(&id) {
            Some(Ok(output)) => Ok(output),
            // The session only knows the data connection failed; say why.
            Some(Err(client::Error::DataConnectionFailed { .. })) if failure.is_some() => {
                Err(ClientError::Tls {
                    connection: "data",
                    source: failure.unwrap_or_else(|| unreachable!()),
                })
            }
            Some(Err(error)) => Err(error.into()),
            None => Err(ClientError::UnexpectedOutput("operation")),
        }
    }

    pub(super) async fn wait_done(
        &mut self,
        id: OperationId,
        what: &'static str,
    ) -> Result<Reply<'static>> {
        match self.wait(id).await? {
            Outcome::Done(reply) => Ok(reply),
            _ => Err(ClientError::UnexpectedOutput(what)),
        }
    }

    /// Drains the session, writes, and waits for the next input, until `done` holds.
    /// Cancel-safe: every piece of state lives in `self`.
    pub(super) async fn run_until(&mut self, done: impl Fn(&Self) -> bool) -> Result<()> {
        loop {
            self.pump()?;
            // The peer of an accepted data connection has been judged by now.
            self.accepted_from = None;
            self.flush().await?;
            if std::mem::take(&mut self.upgrade_control) {
                self.upgrade_control_stream().await?;
                continue;
            }
            if done(self) {
                return Ok(());
            }
            let input = self.next_input().await?;
            let now = Instant::now();
            match input {
                Input::Control(Ok(0)) | Input::Control(Err(_)) => {
                    self.control_open = false;
                    self.session.handle_control_closed(now);
                }
                Input::Control(Ok(read)) => {
                    tracing::trace!(received = ?self.read_buffer[..read].escape_ascii().to_string(), "control");
                    self.session
                        .handle_control_input(&self.read_buffer[..read], now);
                }
                Input::Timeout => self.session.handle_timeout(now),
                Input::Data(ready) => self.on_data(ready, now),
            }
        }
    }

    /// Runs the control connection's handshake after `234`, within the session's
    /// deadline. A failed handshake ends the session: the connection is unusable.
    pub(super) async fn upgrade_control_stream(&mut self) -> Result<()> {
        let deadline = self.session.poll_timeout();
        let handshake = self.secure_control();
        let secured = match deadline {
            Some(deadline) => ::tokio::time::timeout_at(deadline.into(), handshake)
                .await
                .ok(),
            None => Some(handshake.await),
        };
        let now = Instant::now();
        match secured {
            Some(Ok(())) => {
                self.session.handle_control_tls_established(now);
                Ok(())
            }
            Some(Err(error)) => {
                self.control = ControlStream::Gone;
                self.control_open = false;
                self.session.handle_control_closed(now);
                self.pump()?;
                Err(error)
            }
            // The session's own deadline passed: it reports the timeout.
            None => {
                self.control = ControlStream::Gone;
                self.control_open = false;
                self.session.handle_timeout(now);
                Ok(())
            }
        }
    }

    /// Reads the control connection while a transfer handle moves data, without
    /// blocking: a server that fails the transfer (426, 451, 421...) while the data
    /// connection stays open must not leave the caller waiting for the data timeout.
    /// Returns whether transfer `id` has its result. Bytes to send wait for the next
    /// flush.
    pub(crate) fn poll_control(&mut self, cx: &mut Context<'_>, id: OperationId) -> bool {
        let _ = self.pump();
        while self.control_open && !self.results.contains_key(&id) {
            let mut buffer = ReadBuf::new(&mut self.read_buffer);
            let polled = Pin::new(&mut self.control).poll_read(cx, &mut buffer);
            let read = buffer.filled().len();
            let now = Instant::now();
            match polled {
                Poll::Pending => break,
                Poll::Ready(Ok(())) if read > 0 => {
                    tracing::trace!(received = ?self.read_buffer[..read].escape_ascii().to_string(), "control");
                    self.session
                        .handle_control_input(&self.read_buffer[..read], now);
                }
                Poll::Ready(_) => {
                    self.control_open = false;
                    self.session.handle_control_closed(now);
                }
            }
            if self.pump().is_err() {
                break;
            }
        }
        self.results.contains_key(&id)
    }

    /// Takes every output of the session, in order: bytes to send, actions, events.
    pub(super) fn pump(&mut self) -> Result<()> {
        while let Some(output) = self.session.poll_output() {
            match output {
                Output::Transmit(bytes) => {
                    if let Some(offset) = self.session.urgent_offset() {
                        self.output_urgent = Some(self.output.len() + offset);
                    }
                    tracing::trace!(sent = ?bytes.escape_ascii().to_string(), "control");
                    self.output.extend_from_slice(&bytes);
                }
                Output::Action(action) => {
                    tracing::trace!(?action, "session action");
                    self.act(action)?;
                }
                Output::Event(event) => {
                    tracing::trace!(?event, "session event");
                    match event {
                        Event::Completed { id, result } => {
                            self.results.insert(id, result);
                        }
                        Event::TransferStarted { id, size_hint } => {
                            self.started.insert(id, size_hint);
                        }
                        Event::Closed { error } => {
                            if let Some(error) = error {
                                tracing::debug!(%error, "FTP session ended");
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }

    pub(super) fn act(&mut self, action: Action) -> Result<()> {
        let now = Instant::now();
        match action {
            Action::ConnectData { id, address, kind } => {
                let connect = Box::pin(async move {
                    let stream = TcpStream::connect(address).await?;
                    let _ = stream.set_nodelay(true);
                    Ok(stream)
                });
                self.start_data(id, kind, DataState::Connecting(connect));
            }
            Action::ListenForData { id, kind } => {
                let ip = self
                    .config
                    .active_address
                    .unwrap_or_else(|| match self.local {
                        Some(local) => local.ip(),
                        None if self.session.peer().is_ipv6() => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
                        None => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                    });
                let bound = std::net::TcpListener::bind(SocketAddr::new(ip, 0))
                    .and_then(|listener| {
                        listener.set_nonblocking(true)?;
                        TcpListener::from_std(listener)
                    })
                    .and_then(|listener| Ok((listener.local_addr()?, listener)));
                match bound {
                    Ok((address, listener)) => {
                        self.start_data(id, kind, DataState::Listening(listener));
                        self.session.handle_data_listening(id, address, now);
                    }
                    Err(error) => self.session.handle_data_failed(id, error.kind(), now),
                }
            }
            Action::RefuseDataPeer { id, from } => {
                tracing::warn!(%from, "data connection from a stranger refused");
                if let (Some((listening, listener)), Some(slot)) =
                    (self.accepted_from.take(), self.data.as_mut())
                {
                    if listening == id && slot.id == id {
                        slot.state = DataState::Listening(listener);
                    }
                }
            }
            Action::SendData { id } => {
                self.may_send.insert(id);
            }
            Action::CloseData { id } => {
                if self.data.as_ref().is_some_and(|slot| slot.id == id) {
                    self.data = None;
                } else {
                    // The stream is out with a transfer handle, which closes it.
                    self.closing.insert(id);
                }
            }
            // The 234 reply is read; the handshake runs before anything else is sent.
            Action::StartControlTls => self.upgrade_control = true,
            Action::StartDataTls { id } => self.secure_data(id, now),
            Action::CloseControl => {
                self.control_open = false;
            }
        }
        Ok(())
    }

    /// Writes every pending control byte; the byte the session marked urgent (the
    /// Telnet DM before `ABOR`) goes as TCP urgent data once every byte before it is out.
    pub(super) async fn flush(&mut self) -> Result<()> {
        if let Some(urgent) = self.output_urgent {
            self.write_output(urgent).await?;
            self.output_urgent = None;
            if self.control_open && !self.output.is_empty() {
                self.control
                    .flush()
                    .await
                    .map_err(ClientError::io("writing the control connection"))?;
                if self.send_urgent(self.output[0]) {
                    self.output.drain(..1);
                }
            }
        }
        self.write_output(self.output.len()).await?;
        self.control
            .flush()
            .await
            .map_err(ClientError::io("writing the control connection"))
    }

    /// Writes the first `count` pending control bytes.
    pub(super) async fn write_output(&mut self, mut count: usize) -> Result<()> {
        while count > 0 {
            if !self.control_open {
                self.output.clear();
                self.output_urgent = None;
                break;
            }
            let written = self
                .control
                .write(&self.output[..count])
                .await
                .map_err(ClientError::io("writing the control connection"))?;
            if written == 0 {
                return Err(ClientError::Io {
                    context: "writing the control connection",
                    source: io::ErrorKind::WriteZero.into(),
                });
            }
            self.output.drain(..written);
            count -= written;
        }
        Ok(())
    }

    /// Sends `byte` as TCP urgent data (`MSG_OOB`) on a plain control connection;
    /// `false` when it must go in the stream instead (no socket handle, TLS, or a full
    /// send buffer: the byte then still reaches the server, only without the signal).
    pub(super) fn send_urgent(&mut self, byte: u8) -> bool {
        let (Some(socket), ControlStream::Plain(_)) = (&self.urgent_socket, &self.control) else {
            return false;
        };
        match socket.send_out_of_band(&[byte]) {
            Ok(1) => true,
            Ok(_) => false,
            Err(error) => {
                tracing::debug!(%error, "urgent data not sent; the byte goes in the stream");
                false
            }
        }
    }

    pub(super) async fn next_input(&mut self) -> Result<Input> {
        let deadline = self.session.poll_timeout();
        let waiting_on_data = self.data.as_ref().is_some_and(|slot| {
            !matches!(slot.state, DataState::Open(_)) || slot.kind == TransferKind::Listing
        });
        if !self.control_open && deadline.is_none() && !waiting_on_data {
            // Nothing can happen any more; the session reported its end already.
            return Err(ClientError::Protocol(
                self.session
                    .error()
                    .cloned()
                    .unwrap_or(client::Error::Closed),
            ));
        }
        let sleep = async {
            match deadline {
                Some(deadline) => ::tokio::time::sleep_until(deadline.into()).await,
                None => std::future::pending().await,
            }
        };
        let control_open = self.control_open;
        let data = &mut self.data;
        let listing = &mut self.listing;
        let input = ::tokio::select! {
            read = self.control.read(&mut self.read_buffer), if control_open => Input::Control(read),
            () = sleep => Input::Timeout,
            ready = data_ready(data, listing), if waiting_on_data => Input::Data(ready),
        };
        Ok(input)
    }
}
