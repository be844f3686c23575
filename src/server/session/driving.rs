//! The calling contract of [`Session`]: every `handle_*` input a driver reports
//! (control bytes, storage responses, data-connection facts, TLS, time, shutdown, close)
//! and the `poll_*` outputs it drains after each. Deadlines are checked here, in
//! `handle_timeout`; what a command does lives in the sibling modules.

use std::collections::VecDeque;
use std::time::Instant;

use super::transfer::{sample_interval, storage_code_mid_transfer};
use super::{ControlTls, DataChannel, Pending, Session, Stage};
use crate::reply::ReplyCode;
use crate::server::events::{
    Action, CloseReason, DataEvent, DataFailure, Event, Output, RequestId, Response,
};

impl Session {
    /// Bytes from the client, received at `now`, in any chunking.
    pub fn handle_control_input(&mut self, bytes: &[u8], now: Instant) {
        self.now = now;
        if self.closed {
            return;
        }
        self.input.extend_from_slice(bytes);
        self.process_input();
        if !self.closed && self.input.len() > self.config.max_pending_input {
            self.close_with(
                ReplyCode::SERVICE_NOT_AVAILABLE,
                "Too much pipelined input.",
                CloseReason::TooMuchInput,
            );
        }
    }

    /// The application's answer to the request `id`, given at `now`. An answer to a
    /// request that is no longer awaited (after ABOR, REIN or a timeout) is ignored.
    ///
    /// `now` restarts the deadlines that follow the answer (the idle timeout, the
    /// delay after a failed login): an answer may come long after its command.
    pub fn handle_response(&mut self, id: RequestId, response: Response, now: Instant) {
        self.now = now;
        if self.closed {
            return;
        }
        let Some(Pending::Request { id: awaited, .. }) = &self.pending else {
            return;
        };
        if *awaited != id {
            return;
        }
        let Some(Pending::Request { purpose, .. }) = self.pending.take() else {
            return;
        };
        // The wait for the answer was not idleness: the idle timer starts now.
        self.restart_idle_timer();
        self.answer(id, purpose, response);
        self.process_input();
    }

    /// Something happened on the data side, at `now` (see [`DataEvent`]). A report about
    /// a listener or transfer the session has let go is ignored.
    ///
    /// `now` restarts the deadlines that follow (the idle timeout after a transfer's
    /// final reply): a transfer may run far longer than the idle timeout.
    pub fn handle_data_event(&mut self, event: DataEvent, now: Instant) {
        self.now = now;
        if self.closed {
            return;
        }
        match event {
            DataEvent::Listening { channel, address } => self.passive_listening(channel, address),
            DataEvent::ListenFailed { channel } => {
                if matches!(self.pending, Some(Pending::PassiveListener { channel: c, .. }) if c == channel)
                {
                    self.pending = None;
                    self.data = DataChannel::None;
                    self.reply(
                        ReplyCode::CANNOT_OPEN_DATA_CONNECTION,
                        "Cannot open a passive listener.",
                    );
                }
            }
            DataEvent::Accepted { channel, peer } => self.data_accepted(channel, peer),
            DataEvent::Connected { id } => {
                if self.transfer_in(id, Stage::Connecting)
                    && matches!(self.data, DataChannel::Active { .. })
                {
                    self.data_ready();
                }
            }
            DataEvent::ConnectFailed { id } => {
                if self.transfer_in(id, Stage::Connecting) {
                    self.fail_transfer(
                        ReplyCode::CANNOT_OPEN_DATA_CONNECTION,
                        "Cannot open data connection.",
                    );
                }
            }
            DataEvent::TlsEstablished { id, resumed } => {
                if self.transfer_in(id, Stage::Securing) {
                    if self.config.require_tls_session_reuse && !resumed {
                        self.fail_transfer(
                            ReplyCode::NETWORK_PROTOCOL_NOT_SUPPORTED,
                            "Data connection TLS refused: it must resume the control connection's TLS session.",
                        );
                    } else {
                        self.launch_transfer();
                    }
                }
            }
            DataEvent::TlsFailed { id } => {
                if self.transfer_in(id, Stage::Securing) {
                    self.fail_transfer(
                        ReplyCode::NETWORK_PROTOCOL_NOT_SUPPORTED,
                        "TLS handshake on the data connection failed (PROT P needs TLS there).",
                    );
                }
            }
            DataEvent::Progress { id, bytes } => {
                let data_timeout = self.config.data_timeout;
                if let Some(transfer) = self
                    .transfer
                    .as_mut()
                    .filter(|t| t.id == id && t.stage == Stage::Running)
                {
                    if bytes > transfer.bytes {
                        transfer.bytes = bytes;
                        transfer.deadline = now + data_timeout;
                    }
                }
            }
            DataEvent::Received { id, bytes, clean } => {
                if self.transfer_in(id, Stage::Running) {
                    if let Some(transfer) = self.transfer.as_mut() {
                        transfer.bytes = bytes;
                    }
                    if clean || self.config.accept_upload_without_close_notify {
                        self.push(Output::Action(Action::CommitUpload { id }));
                    } else {
                        self.fail_transfer(
                            ReplyCode::CONNECTION_CLOSED_TRANSFER_ABORTED,
                            "Upload ended without TLS close_notify; transfer aborted.",
                        );
                    }
                }
            }
            DataEvent::Finished { id, bytes } => {
                if self.transfer_in(id, Stage::Running) {
                    self.end_transfer();
                    self.push(Output::Event(Event::TransferEnded {
                        id,
                        bytes,
                        completed: true,
                    }));
                    self.reply(
                        ReplyCode::CLOSING_DATA_CONNECTION,
                        format!("Transfer complete ({bytes} bytes)."),
                    );
                    self.after_transfer();
                }
            }
            DataEvent::Failed { id, reason } => {
                if self.transfer_in(id, Stage::Running) {
                    let bytes = self.transfer.as_ref().map_or(0, |t| t.bytes);
                    self.end_transfer();
                    self.push(Output::Event(Event::TransferEnded {
                        id,
                        bytes,
                        completed: false,
                    }));
                    let (code, text) = match reason {
                        DataFailure::ConnectionLost => (
                            ReplyCode::CONNECTION_CLOSED_TRANSFER_ABORTED,
                            "Connection closed; transfer aborted.".to_owned(),
                        ),
                        DataFailure::Storage(error) => {
                            (storage_code_mid_transfer(&error), error.to_string())
                        }
                    };
                    self.reply(code, text);
                    self.after_transfer();
                }
            }
        }
        self.process_input();
    }

    /// The TLS handshake on the control connection, asked for by
    /// [`Action::StartControlTls`], succeeded at `now`.
    pub fn handle_control_tls_established(&mut self, now: Instant) {
        self.now = now;
        // A session closed during the handshake (a deadline passed) has said Close
        // already, and says nothing more.
        if self.closed || !matches!(self.pending, Some(Pending::ControlTlsHandshake { .. })) {
            return;
        }
        self.pending = None;
        self.control_tls = ControlTls::Secure;
        self.process_input();
    }

    /// The TLS handshake on the control connection, asked for by
    /// [`Action::StartControlTls`], failed at `now`: the session closes.
    pub fn handle_control_tls_failed(&mut self, now: Instant) {
        self.now = now;
        if self.closed || !matches!(self.pending, Some(Pending::ControlTlsHandshake { .. })) {
            return;
        }
        self.pending = None;
        self.close_silently(CloseReason::ControlTlsFailed);
    }

    /// Time passed: act on any deadline at or before `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        if self.closed {
            return;
        }
        if self
            .send_blocked_since
            .is_some_and(|since| now >= since + self.config.send_timeout)
        {
            // Its last words could not reach a client that does not read.
            return self.close_silently(CloseReason::SendStalled);
        }
        match self.pending {
            Some(Pending::FailedLoginDelay { until }) if now >= until => {
                self.pending = None;
                self.restart_idle_timer();
                if self.failed_logins >= self.config.max_failed_logins {
                    self.close_with(
                        ReplyCode::SERVICE_NOT_AVAILABLE,
                        "Too many failed logins.",
                        CloseReason::TooManyFailedLogins,
                    );
                    return;
                }
                self.reply(ReplyCode::NOT_LOGGED_IN, "Login incorrect.");
            }
            Some(Pending::ControlTlsHandshake { until }) if now >= until => {
                self.pending = None;
                return self.close_silently(CloseReason::ControlTlsTimeout);
            }
            Some(Pending::Request { deadline, .. }) if now >= deadline => {
                self.storage_timed_out();
                if self.closed {
                    return;
                }
            }
            _ => {}
        }
        let data_timeout = self.config.data_timeout;
        if let Some(transfer) = self
            .transfer
            .as_mut()
            .filter(|t| t.stage == Stage::Running && now >= t.sample_at)
        {
            // The adapter reported the progress made so far just before this.
            transfer.sample_at = now + sample_interval(data_timeout);
        }
        if let Some(transfer) = self.transfer.as_ref().filter(|t| now >= t.deadline) {
            match transfer.stage {
                Stage::Connecting => self.fail_transfer(
                    ReplyCode::CANNOT_OPEN_DATA_CONNECTION,
                    "No data connection was made in time.",
                ),
                Stage::Securing => self.fail_transfer(
                    ReplyCode::NETWORK_PROTOCOL_NOT_SUPPORTED,
                    "TLS handshake on the data connection timed out.",
                ),
                Stage::Running => self.fail_transfer(
                    ReplyCode::CONNECTION_CLOSED_TRANSFER_ABORTED,
                    "Data connection stalled; transfer aborted.",
                ),
            }
        }
        if self.closed {
            return;
        }
        if self.login_deadline.is_some_and(|deadline| now >= deadline) {
            self.close_with(
                ReplyCode::SERVICE_NOT_AVAILABLE,
                "Login timeout.",
                CloseReason::LoginTimeout,
            );
            return;
        }
        if self.idle_timer_runs() && now >= self.idle_deadline {
            self.close_with(
                ReplyCode::SERVICE_NOT_AVAILABLE,
                "Idle timeout.",
                CloseReason::IdleTimeout,
            );
            return;
        }
        self.process_input();
    }

    /// The adapter could not write all of the output at `now`: the client is not
    /// reading. The session closes the connection when the writes stay blocked for
    /// [`Config::send_timeout`](crate::server::Config::send_timeout) (see [`poll_timeout`](Self::poll_timeout)); its other
    /// deadlines keep running meanwhile. Call it once when a write starts waiting.
    pub fn handle_send_blocked(&mut self, now: Instant) {
        self.now = now;
        self.send_blocked_since.get_or_insert(now);
    }

    /// The adapter's writes to the client made progress at `now` (or finished): the
    /// send deadline starts afresh at the next [`handle_send_blocked`](Self::handle_send_blocked).
    pub fn handle_send_progress(&mut self, now: Instant) {
        self.now = now;
        self.send_blocked_since = None;
    }

    /// The server is shutting down: end the session with 421 now, or just after the
    /// running transfer's final reply, so that no transfer is cut short.
    pub fn handle_shutdown(&mut self) {
        if self.closed {
            return;
        }
        let reply = (ReplyCode::SERVICE_NOT_AVAILABLE, "Server shutting down.");
        if self.transfer.is_some() {
            self.close_after_transfer = Some((reply.0, reply.1, CloseReason::Shutdown));
        } else {
            self.close_with(reply.0, reply.1, CloseReason::Shutdown);
        }
    }

    /// The client closed the control connection (or it broke), at `now`: stop
    /// everything.
    pub fn handle_control_closed(&mut self, now: Instant) {
        self.now = now;
        if self.closed {
            return;
        }
        self.close_silently(CloseReason::PeerClosed);
    }

    /// The next output, in the order things happened: bytes for the client, an action
    /// for the adapter, a request for the application, or an event. Call it after every
    /// input until it returns `None`, and carry out each output before the next.
    pub fn poll_output(&mut self) -> Option<Output> {
        if let Some(output) = self.outputs.pop_front() {
            if let Output::Transmit(bytes) = &output {
                self.queued_bytes -= bytes.len();
                self.resume_after_output();
            }
            return Some(output);
        }
        if self.outputs.capacity() > 0 {
            // An idle session holds no output queue: at 10,000 sessions, a few hundred
            // bytes each is megabytes; the next output allocates it again.
            self.outputs = VecDeque::new();
        }
        if self.output.is_empty() {
            return None;
        }
        let bytes = self.cut_output();
        self.resume_after_output();
        Some(Output::Transmit(bytes))
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called next, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.closed {
            return None;
        }
        // Asked after every input by every adapter loop: no allocation here.
        let pending = match self.pending {
            Some(Pending::FailedLoginDelay { until }) => Some(until),
            Some(Pending::ControlTlsHandshake { until }) => Some(until),
            Some(Pending::Request { deadline, .. }) => Some(deadline),
            _ => None,
        };
        let idle = self.idle_timer_runs().then_some(self.idle_deadline);
        let send = self
            .send_blocked_since
            .map(|since| since + self.config.send_timeout);
        [
            self.login_deadline,
            pending,
            self.transfer.as_ref().map(|t| match t.stage {
                Stage::Running => t.deadline.min(t.sample_at),
                _ => t.deadline,
            }),
            idle,
            send,
        ]
        .into_iter()
        .flatten()
        .min()
    }
}
