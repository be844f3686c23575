//! `Session`: one control connection's state machine. Every protocol decision a server
//! makes is made here; it never performs I/O, reads a clock or blocks.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use bytes::BytesMut;

use super::config::Config;
use super::events::MoreEntries;
use super::events::{
    Action, AddressFamily, ChannelId, CloseReason, DataEvent, DataFailure, Direction, Event,
    FileKind, ListingFormat, Output, Request, RequestId, Response, StorageError, Transfer,
    TransferContent, WriteMode,
};
use super::format::{self, SUPPORTED_FACTS};
use super::path::{PathError, VirtualPath};
use crate::command::{
    AuthMechanism, Command, CommandOptions, ExtendedPassive, FileStructure, FormatControl,
    NetworkProtocol, Password, ProtectionLevel, RepresentationType, TransferMode,
};
use crate::listing::FactSet;
use crate::parse::{CommandError, CommandParser};
use crate::reply::{Reply, ReplyCode};
use crate::text::{Pathname, Text};

/// A server's side of one FTP control connection, as a pure state machine.
///
/// Feed it what happens, drain what it wants done:
///
/// - inputs: [`handle_control_input`](Self::handle_control_input) (bytes from the
///   client, in any chunking), [`handle_response`](Self::handle_response) (the
///   application's answer to a [`Request`]), [`handle_data_event`](Self::handle_data_event),
///   [`handle_control_tls_established`](Self::handle_control_tls_established) and
///   [`handle_control_tls_failed`](Self::handle_control_tls_failed),
///   [`handle_send_blocked`](Self::handle_send_blocked) and
///   [`handle_send_progress`](Self::handle_send_progress),
///   [`handle_timeout`](Self::handle_timeout), [`handle_shutdown`](Self::handle_shutdown),
///   [`handle_control_closed`](Self::handle_control_closed);
/// - outputs, to drain after every input: [`poll_output`](Self::poll_output) until it
///   returns `None` (bytes for the client, actions, requests and events, in order), then
///   [`poll_timeout`](Self::poll_timeout) (when to call `handle_timeout` next).
///
/// The adapter's whole duty is listed in the [module docs](super#driving-a-session).
///
/// Commands are answered strictly in order: while a request is out, later pipelined
/// commands wait in a bounded buffer (only QUIT, STAT and the ABOR of a transfer being
/// opened overtake). Time is an input: the session never reads a clock; every input
/// that can start or end a wait carries the time it happened.
///
/// ```
/// use std::time::Instant;
/// use ftp_proto::server::{Config, Event, Output, Request, Response, Session};
///
/// let now = Instant::now();
/// let peer = "127.0.0.1:50000".parse().unwrap();
/// let local = "127.0.0.1:21".parse().unwrap();
/// let mut session = Session::new(Config::default(), peer, local, now);
/// let mut sent = Vec::new();
///
/// session.handle_control_input(b"USER anonymous\r\nPASS guest\r\nPWD\r\n", now);
/// // Drain everything after every input, in order.
/// while let Some(output) = session.poll_output() {
///     match output {
///         Output::Transmit(bytes) => sent.extend_from_slice(&bytes),
///         Output::Request { id, request: Request::Authenticate { .. } } => {
///             session.handle_response(id, Response::LoggedIn { writable: false }, now);
///         }
///         Output::Event(Event::LoggedIn { user }) => assert_eq!(user, "anonymous"),
///         other => panic!("unexpected {other:?}"),
///     }
/// }
/// assert_eq!(
///     String::from_utf8(sent).unwrap(),
///     "220 ftp-proto ready\r\n\
///      331 Please specify the password.\r\n\
///      230 Login successful.\r\n\
///      257 \"/\" is the current directory\r\n"
/// );
/// ```
#[derive(Debug)]
pub struct Session {
    config: Arc<Config>,
    control_peer: SocketAddr,
    control_local: SocketAddr,
    now: Instant,
    parser: CommandParser,
    input: Vec<u8>,
    /// Reply bytes not yet cut into an [`Output::Transmit`]: consecutive replies leave
    /// as one transmit, cut when an action, request or event is queued, or when polled.
    output: BytesMut,
    /// Outputs in the order they happened.
    outputs: VecDeque<Output>,
    /// Bytes in the `Transmit`s of `outputs`: with `output`, what counts against
    /// `max_pending_output`.
    queued_bytes: usize,
    /// The number behind the next request, transfer or listener id.
    next_id: u64,
    login: Login,
    failed_logins: u32,
    /// The command being answered; while set, no further command is processed.
    pending: Option<Pending>,
    cwd: VirtualPath,
    ascii: bool,
    restart_offset: u64,
    rename_from: Option<VirtualPath>,
    epsv_all: bool,
    data: DataChannel,
    /// Boxed: it holds the transfer to start, and most sessions are between transfers.
    transfer: Option<Box<RunningTransfer>>,
    control_tls: ControlTls,
    protection_buffer_set: bool,
    protect_data: bool,
    mlst_facts: FactSet,
    /// QUIT or a shutdown came during a transfer: the reply to send after it, then close.
    close_after_transfer: Option<(ReplyCode, &'static str, CloseReason)>,
    /// Set by AUTH TLS: the rest of the plain-text input must not be run.
    drop_pipelined_input: bool,
    login_deadline: Option<Instant>,
    idle_deadline: Instant,
    /// Since when the adapter's writes to the client have been blocked, if they are.
    send_blocked_since: Option<Instant>,
    closed: bool,
}

#[derive(Debug)]
enum Login {
    NeedUser,
    NeedPassword { user: Text<'static> },
    LoggedIn { writable: bool },
}

/// What the session is waiting for before it answers the current command.
#[derive(Debug)]
enum Pending {
    /// The application's answer, due by `deadline` (`Config::storage_timeout`).
    Request {
        id: RequestId,
        purpose: Purpose,
        deadline: Instant,
    },
    PassiveListener {
        channel: ChannelId,
        extended: bool,
    },
    FailedLoginDelay {
        until: Instant,
    },
    ControlTlsHandshake {
        until: Instant,
    },
}

/// Why a request was made: decides the reply to its response.
#[derive(Debug)]
enum Purpose {
    Login {
        user: Text<'static>,
    },
    Host,
    ChangeDirectory {
        path: VirtualPath,
    },
    Size,
    ModificationTime,
    MachineListing {
        path: VirtualPath,
    },
    ControlListing {
        path: VirtualPath,
    },
    RenameFrom {
        path: VirtualPath,
    },
    Done {
        code: ReplyCode,
        text: String,
    },
    MakeDirectory {
        path: VirtualPath,
    },
    SetModified {
        text: String,
    },
    Site,
    OpenTransfer {
        direction: Direction,
        content: TransferContentKind,
    },
}

#[derive(Debug)]
enum TransferContentKind {
    /// A file; for uploads, `unique` is STOU and `append` is APPE.
    File {
        unique: bool,
        append: bool,
    },
    Listing(ListingFormat),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DataChannel {
    None,
    /// A passive listener was asked for (or is open); `connected` once it accepted a
    /// connection from the control connection's peer.
    Passive {
        channel: ChannelId,
        connected: bool,
    },
    /// PORT or EPRT gave this address: the connect is made when a transfer is ready.
    Active {
        address: SocketAddr,
    },
}

/// A transfer from its 1yz reply to its final reply.
#[derive(Debug)]
struct RunningTransfer {
    id: RequestId,
    /// Bytes moved, as last reported.
    bytes: u64,
    stage: Stage,
    /// When the current stage fails: 425 while connecting, 522 while securing, 426 when
    /// a running transfer made no progress (moved on by each progress report).
    deadline: Instant,
    /// Running: when to wake up to take a progress sample. The adapter reports progress
    /// only before an input, so without these wake-ups a stall would be noticed up to a
    /// whole `data_timeout` late; with them, at most an eighth of it.
    sample_at: Instant,
    /// The transfer to hand to the adapter once its data connection is ready.
    start: Option<Transfer>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Waiting for the data connection (a passive accept or an active connect).
    Connecting,
    /// Waiting for the data connection's TLS handshake.
    Securing,
    /// Handed to the adapter with `Action::StartTransfer`.
    Running,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ControlTls {
    Plain,
    Secure,
}

impl Session {
    /// A session for a new control connection from `control_peer` to our
    /// `control_local` address, accepted at `now`. The 220 greeting is already in the
    /// output. A server with many sessions passes one `Arc<Config>` to all of them
    /// rather than a copy each.
    pub fn new(
        config: impl Into<Arc<Config>>,
        control_peer: SocketAddr,
        control_local: SocketAddr,
        now: Instant,
    ) -> Session {
        let config = config.into();
        let mut session = Session {
            parser: CommandParser::with_max_line_length(config.max_line_length),
            login_deadline: Some(now + config.login_timeout),
            idle_deadline: now + config.idle_timeout,
            mlst_facts: SUPPORTED_FACTS,
            config,
            control_peer,
            control_local,
            now,
            input: Vec::new(),
            output: BytesMut::new(),
            outputs: VecDeque::new(),
            queued_bytes: 0,
            next_id: 0,
            login: Login::NeedUser,
            failed_logins: 0,
            pending: None,
            cwd: VirtualPath::root(),
            ascii: false,
            restart_offset: 0,
            rename_from: None,
            epsv_all: false,
            data: DataChannel::None,
            transfer: None,
            control_tls: ControlTls::Plain,
            protection_buffer_set: false,
            protect_data: false,
            close_after_transfer: None,
            drop_pipelined_input: false,
            send_blocked_since: None,
            closed: false,
        };
        if session.config.enable_tls && session.config.implicit_tls {
            session.control_tls = ControlTls::Secure;
        }
        let greeting = session.config.greeting.clone();
        session.reply(ReplyCode::SERVICE_READY, greeting);
        session
    }

    // -----------------------------------------------------------------------------------
    // Inputs

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
    /// [`Config::send_timeout`] (see [`poll_timeout`](Self::poll_timeout)); its other
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

    // -----------------------------------------------------------------------------------
    // Outputs

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

    /// Whether the adapter should read more control input now. False while the
    /// unprocessed input (commands waiting behind a slow answer or a transfer) fills
    /// half of [`Config::max_pending_input`]: the adapter then leaves the rest in the
    /// socket, and TCP holds the client back, rather than the session closing with 421.
    /// True again as soon as the session works through its input.
    pub fn wants_control_input(&self) -> bool {
        !self.closed && self.input.len() < self.config.max_pending_input / 2
    }

    /// Whether the session has ended (after [`Action::Close`]).
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// The address the control connection comes from.
    pub fn peer(&self) -> SocketAddr {
        self.control_peer
    }

    /// Our end of the control connection: where passive data connections listen.
    pub fn local_address(&self) -> SocketAddr {
        self.control_local
    }

    /// Whether a user is logged in.
    pub fn is_logged_in(&self) -> bool {
        matches!(self.login, Login::LoggedIn { .. })
    }

    /// The current working directory.
    pub fn working_directory(&self) -> &VirtualPath {
        &self.cwd
    }

    // -----------------------------------------------------------------------------------
    // Command processing

    fn idle_timer_runs(&self) -> bool {
        self.transfer.is_none() && self.pending.is_none()
    }

    /// Processes buffered commands until one has to wait (for the application, the
    /// adapter, a timer, or the client to read its replies).
    fn process_input(&mut self) {
        let mut offset = 0;
        while !self.closed && self.pending_output() < self.config.max_pending_output {
            if self.pending.is_some() {
                // A slow back end must not freeze the session: while it answers, the
                // next command is run at once if it is one that may overtake (QUIT,
                // STAT, ABOR of the transfer being opened); any other waits in order.
                if !matches!(self.pending, Some(Pending::Request { .. })) {
                    break;
                }
                let parsed = self.parser.parse(&self.input[offset..]);
                match parsed.item {
                    Some(Ok(Command::Quit)) => {
                        offset += parsed.consumed;
                        self.cancel_request();
                        self.close_with(
                            ReplyCode::CLOSING_CONTROL_CONNECTION,
                            "Goodbye.",
                            CloseReason::Quit,
                        );
                    }
                    Some(Ok(Command::Stat(None))) => {
                        offset += parsed.consumed;
                        self.status();
                    }
                    Some(Ok(Command::Abor))
                        if matches!(
                            self.pending,
                            Some(Pending::Request {
                                purpose: Purpose::OpenTransfer { .. },
                                ..
                            })
                        ) =>
                    {
                        offset += parsed.consumed;
                        self.cancel_request();
                        self.reply(
                            ReplyCode::CONNECTION_CLOSED_TRANSFER_ABORTED,
                            "Transfer aborted.",
                        );
                        self.reply(ReplyCode::CLOSING_DATA_CONNECTION, "ABOR successful.");
                        self.restart_idle_timer();
                    }
                    _ => break,
                }
                continue;
            }
            let parsed = self.parser.parse(&self.input[offset..]);
            let Some(item) = parsed.item else {
                offset += parsed.consumed;
                break;
            };
            if self.transfer.is_some()
                && !matches!(
                    item,
                    Ok(Command::Abor | Command::Stat(None) | Command::Quit | Command::Noop)
                        | Err(CommandError::LineTooLong { .. })
                )
            {
                // Other commands wait for the transfer's final reply.
                break;
            }
            let command = item.map(Command::into_owned);
            offset += parsed.consumed;
            self.idle_deadline = self.now + self.config.idle_timeout;
            match command {
                Ok(command) => self.dispatch(command),
                Err(error) => self.reply(error.reply_code(), format!("{error}.")),
            }
        }
        if std::mem::take(&mut self.drop_pipelined_input) {
            self.input.clear();
            self.parser.reset();
        } else {
            self.input.drain(..offset);
        }
        if self.input.is_empty() {
            // An idle session holds no input buffer (10,000 idle sessions would hold
            // their last command lines).
            self.input = Vec::new();
        }
    }

    fn dispatch(&mut self, command: Command<'static>) {
        if !self.is_logged_in() && !allowed_before_login(&command) {
            self.reply(ReplyCode::NOT_LOGGED_IN, "Please login with USER and PASS.");
            return;
        }
        match command {
            Command::User(user) => self.user(user),
            Command::Pass(password) => self.pass(password),
            Command::Acct(_) => self.reply(ReplyCode::COMMAND_SUPERFLUOUS, "ACCT not needed."),
            Command::Host(host) => self.host(host),
            Command::Rein => self.reinitialise(),
            Command::Quit => {
                if self.transfer.is_some() {
                    self.close_after_transfer = Some((
                        ReplyCode::CLOSING_CONTROL_CONNECTION,
                        "Goodbye.",
                        CloseReason::Quit,
                    ));
                } else {
                    self.close_with(
                        ReplyCode::CLOSING_CONTROL_CONNECTION,
                        "Goodbye.",
                        CloseReason::Quit,
                    );
                }
            }
            Command::Noop => self.reply(ReplyCode::COMMAND_OKAY, "NOOP ok."),
            Command::Syst => self.reply(ReplyCode::SYSTEM_TYPE, "UNIX Type: L8"),
            Command::Feat => self.feat(),
            Command::Help(_) => self.help(),
            Command::Opts(options) => self.opts(options),
            Command::Clnt(_) => self.reply(ReplyCode::COMMAND_OKAY, "Noted."),
            Command::Stat(None) => self.status(),
            Command::Stat(Some(path)) => self.with_path(&path, |session, path| {
                session.request(
                    Request::ListEntries {
                        path: path.clone(),
                        limit: session.config.max_control_listing_entries,
                    },
                    Purpose::ControlListing { path },
                )
            }),
            Command::Type(kind) => self.representation_type(kind),
            Command::Mode(TransferMode::Stream) => {
                self.reply(ReplyCode::COMMAND_OKAY, "Mode set to S.")
            }
            Command::Mode(_) => self.reply(
                ReplyCode::COMMAND_NOT_IMPLEMENTED_FOR_PARAMETER,
                "Only stream mode is supported.",
            ),
            Command::Stru(FileStructure::File) => {
                self.reply(ReplyCode::COMMAND_OKAY, "Structure set to F.")
            }
            Command::Stru(_) => self.reply(
                ReplyCode::COMMAND_NOT_IMPLEMENTED_FOR_PARAMETER,
                "Only file structure is supported.",
            ),
            Command::Allo(_) => self.reply(ReplyCode::COMMAND_SUPERFLUOUS, "ALLO not needed."),
            Command::Pwd | Command::Xpwd => {
                let reply = Reply::with_path(
                    ReplyCode::PATHNAME_CREATED,
                    &self.cwd.to_pathname(),
                    "is the current directory",
                );
                self.send(&reply);
            }
            Command::Cwd(path) | Command::Xcwd(path) => self.with_path(&path, |session, path| {
                session.request(
                    Request::Metadata { path: path.clone() },
                    Purpose::ChangeDirectory { path },
                )
            }),
            Command::Cdup | Command::Xcup => {
                self.cwd = self.cwd.parent();
                self.reply(
                    ReplyCode::FILE_ACTION_OKAY,
                    "Directory successfully changed.",
                );
            }
            Command::Size(path) => self.with_path(&path, |session, path| {
                session.request(Request::Metadata { path }, Purpose::Size)
            }),
            Command::Mdtm(path) => self.with_path(&path, |session, path| {
                session.request(Request::Metadata { path }, Purpose::ModificationTime)
            }),
            Command::Mlst(path) => {
                let path = path.unwrap_or_else(|| Pathname::from("."));
                self.with_path(&path, |session, path| {
                    session.request(
                        Request::Metadata { path: path.clone() },
                        Purpose::MachineListing { path },
                    )
                })
            }
            Command::Mkd(path) | Command::Xmkd(path) => self.write_op(&path, |session, path| {
                session.request(
                    Request::MakeDirectory { path: path.clone() },
                    Purpose::MakeDirectory { path },
                )
            }),
            Command::Rmd(path) | Command::Xrmd(path) => self.write_op(&path, |session, path| {
                session.request(
                    Request::RemoveDirectory { path },
                    Purpose::Done {
                        code: ReplyCode::FILE_ACTION_OKAY,
                        text: "Directory removed.".to_owned(),
                    },
                )
            }),
            Command::Dele(path) => self.write_op(&path, |session, path| {
                session.request(
                    Request::Delete { path },
                    Purpose::Done {
                        code: ReplyCode::FILE_ACTION_OKAY,
                        text: "File deleted.".to_owned(),
                    },
                )
            }),
            Command::Rnfr(path) => {
                if !self.config.capabilities.rename {
                    return self.not_supported("RNFR");
                }
                self.write_op(&path, |session, path| {
                    session.request(
                        Request::Metadata { path: path.clone() },
                        Purpose::RenameFrom { path },
                    )
                })
            }
            Command::Rnto(path) => match self.rename_from.take() {
                None => self.reply(ReplyCode::BAD_SEQUENCE_OF_COMMANDS, "RNFR required first."),
                Some(from) => self.write_op(&path, |session, to| {
                    session.request(
                        Request::Rename { from, to },
                        Purpose::Done {
                            code: ReplyCode::FILE_ACTION_OKAY,
                            text: "Rename successful.".to_owned(),
                        },
                    )
                }),
            },
            Command::Mfmt { modified, path } => {
                if !self.config.capabilities.set_modified {
                    return self.not_supported("MFMT");
                }
                let mut time = Vec::new();
                crate::time::write_timestamp(modified, &mut time);
                let text = format!(
                    "Modify={}; {}",
                    String::from_utf8_lossy(&time),
                    path.to_string_lossy()
                );
                self.write_op(&path, |session, path| {
                    session.request(
                        Request::SetModified { path, modified },
                        Purpose::SetModified { text },
                    )
                })
            }
            Command::Site(command) if self.config.enable_site => {
                self.request(Request::Site { command }, Purpose::Site)
            }
            Command::Site(_) => self.reply(
                ReplyCode::COMMAND_NOT_IMPLEMENTED,
                "No SITE commands are supported.",
            ),
            Command::Rest(offset) => self.restart(offset),
            Command::Pasv => self.passive(false, None),
            Command::Epsv(ExtendedPassive::All) => {
                self.epsv_all = true;
                self.reply(ReplyCode::COMMAND_OKAY, "EPSV ALL ok.");
            }
            Command::Epsv(ExtendedPassive::Any) => self.passive(true, None),
            Command::Epsv(ExtendedPassive::Protocol(protocol)) => {
                self.passive(true, Some(protocol))
            }
            Command::Port(address) => self.active(SocketAddr::V4(address)),
            Command::Eprt(address) => self.active(address),
            Command::Retr(path) => self.open_transfer(
                &path,
                Direction::Send,
                TransferContentKind::File {
                    unique: false,
                    append: false,
                },
            ),
            Command::Stor(path) => self.open_transfer(
                &path,
                Direction::Receive,
                TransferContentKind::File {
                    unique: false,
                    append: false,
                },
            ),
            Command::Appe(path) => {
                if !self.config.capabilities.append {
                    return self.not_supported("APPE");
                }
                self.restart_offset = 0;
                self.open_transfer(
                    &path,
                    Direction::Receive,
                    TransferContentKind::File {
                        unique: false,
                        append: true,
                    },
                )
            }
            Command::Stou(name) => {
                let name = name.unwrap_or_else(|| Pathname::from("upload"));
                self.open_transfer(
                    &name,
                    Direction::Receive,
                    TransferContentKind::File {
                        unique: true,
                        append: false,
                    },
                )
            }
            Command::List(argument) => self.listing(argument, ListingFormat::Unix),
            Command::Nlst(argument) => self.listing(argument, ListingFormat::Names),
            Command::Mlsd(argument) => {
                let format = ListingFormat::Machine {
                    facts: self.mlst_facts,
                    writable: self.is_writable(),
                    capabilities: self.config.capabilities,
                };
                self.listing(argument, format)
            }
            Command::Abor => self.abort(),
            Command::Auth(mechanism) => self.auth(mechanism),
            Command::Pbsz(_) => {
                if self.control_tls != ControlTls::Secure {
                    self.reply(
                        ReplyCode::BAD_SEQUENCE_OF_COMMANDS,
                        "PBSZ needs AUTH first.",
                    );
                } else {
                    self.protection_buffer_set = true;
                    self.reply(ReplyCode::COMMAND_OKAY, "PBSZ=0");
                }
            }
            Command::Prot(level) => self.protection(level),
            Command::Ccc => self.reply(
                ReplyCode::REQUEST_DENIED_FOR_POLICY,
                "CCC refused: the control connection stays protected.",
            ),
            Command::Adat(_) | Command::Mic(_) | Command::Conf(_) | Command::Enc(_) => self.reply(
                ReplyCode::COMMAND_NOT_IMPLEMENTED,
                "Only AUTH TLS is supported.",
            ),
            Command::Smnt(_) => self.not_supported("SMNT"),
            Command::Lang(_) => self.not_supported("LANG"),
            Command::Hash(_) => self.not_supported("HASH"),
            Command::Unknown { verb, .. } => self.reply(
                ReplyCode::SYNTAX_ERROR,
                format!("Unknown command {}.", printable(verb.as_bytes())),
            ),
        }
    }

    // -- login --------------------------------------------------------------------------

    fn user(&mut self, user: Text<'static>) {
        if self.login_blocked_by_tls() {
            return;
        }
        // Always 331, whether the user exists or not (RFC 2577: no enumeration).
        self.login = Login::NeedPassword { user };
        self.reply(
            ReplyCode::USER_NAME_OKAY_NEED_PASSWORD,
            "Please specify the password.",
        );
    }

    fn pass(&mut self, password: Password<'static>) {
        if self.login_blocked_by_tls() {
            return;
        }
        match std::mem::replace(&mut self.login, Login::NeedUser) {
            Login::NeedPassword { user } => self.request(
                Request::Authenticate {
                    user: user.clone(),
                    password,
                },
                Purpose::Login { user },
            ),
            Login::LoggedIn { writable } => {
                self.login = Login::LoggedIn { writable };
                self.reply(ReplyCode::BAD_SEQUENCE_OF_COMMANDS, "Already logged in.");
            }
            Login::NeedUser => self.reply(
                ReplyCode::BAD_SEQUENCE_OF_COMMANDS,
                "Login with USER first.",
            ),
        }
    }

    fn login_blocked_by_tls(&mut self) -> bool {
        let blocked = self.config.enable_tls
            && self.config.require_tls_for_login
            && self.control_tls != ControlTls::Secure;
        if blocked {
            self.reply(
                ReplyCode::NOT_LOGGED_IN,
                "TLS required: use AUTH TLS before logging in.",
            );
        }
        blocked
    }

    fn host(&mut self, host: Text<'static>) {
        if self.is_logged_in() || matches!(self.login, Login::NeedPassword { .. }) {
            return self.reply(
                ReplyCode::BAD_SEQUENCE_OF_COMMANDS,
                "HOST must come before USER.",
            );
        }
        let bytes = host.as_bytes();
        // RFC 7151: a port is not part of the host name.
        let has_port = match bytes.first() {
            Some(b'[') => bytes
                .iter()
                .position(|&b| b == b']')
                .is_some_and(|end| end + 1 < bytes.len()),
            _ => bytes.contains(&b':'),
        };
        if has_port {
            return self.reply(ReplyCode::SYNTAX_ERROR_IN_ARGUMENTS, "HOST takes no port.");
        }
        self.request(Request::SelectHost { host }, Purpose::Host);
    }

    fn reinitialise(&mut self) {
        // The login clock restarts only for a session that has logged in; one that never
        // did keeps the deadline it had from the connection, or REIN every few seconds
        // would hold a place for good without a login.
        if self.is_logged_in() {
            self.login_deadline = Some(self.now + self.config.login_timeout);
        }
        self.login = Login::NeedUser;
        self.cwd = VirtualPath::root();
        self.ascii = false;
        self.restart_offset = 0;
        self.rename_from = None;
        self.epsv_all = false;
        self.mlst_facts = SUPPORTED_FACTS;
        self.close_data();
        self.reply(ReplyCode::SERVICE_READY, "Service ready for new user.");
    }

    // -- information --------------------------------------------------------------------

    fn feat(&mut self) {
        let capabilities = self.config.capabilities;
        let mut lines: Vec<String> = vec!["Features:".to_owned()];
        if self.config.enable_tls {
            lines.push(" AUTH TLS".to_owned());
            lines.push(" PBSZ".to_owned());
            lines.push(" PROT".to_owned());
        }
        if self.config.enable_active_mode {
            lines.push(" EPRT".to_owned());
        }
        lines.push(" EPSV".to_owned());
        lines.push(" HOST".to_owned());
        lines.push(" MDTM".to_owned());
        if capabilities.set_modified && capabilities.write {
            lines.push(" MFMT".to_owned());
        }
        let mut mlst = b" MLST ".to_vec();
        SUPPORTED_FACTS.write_feat(self.mlst_facts, &mut mlst);
        lines.push(String::from_utf8_lossy(&mlst).into_owned());
        lines.push(" PASV".to_owned());
        if capabilities.read_at_offset {
            lines.push(" REST STREAM".to_owned());
        }
        lines.push(" SIZE".to_owned());
        lines.push(" TVFS".to_owned());
        lines.push(" UTF8".to_owned());
        lines.push("End".to_owned());
        self.send(&Reply::from_lines(ReplyCode::SYSTEM_STATUS, lines));
    }

    fn help(&mut self) {
        let verbs: Vec<&str> = crate::verb::Verb::ALL
            .iter()
            .map(|verb| verb.as_str())
            .collect();
        let mut lines = vec!["The following commands are recognized:".to_owned()];
        for chunk in verbs.chunks(10) {
            lines.push(format!(" {}", chunk.join(" ")));
        }
        lines.push("Help OK.".to_owned());
        self.send(&Reply::from_lines(ReplyCode::HELP_MESSAGE, lines));
    }

    fn opts(&mut self, options: CommandOptions<'static>) {
        if options.is_utf8_on() {
            return self.reply(ReplyCode::COMMAND_OKAY, "UTF8 mode is always on.");
        }
        if !options.command.as_bytes().eq_ignore_ascii_case(b"MLST") {
            return self.reply(
                ReplyCode::SYNTAX_ERROR_IN_ARGUMENTS,
                "Option not understood.",
            );
        }
        let requested = options
            .options
            .as_ref()
            .map(Text::as_bytes)
            .unwrap_or_default();
        self.mlst_facts = FactSet::parse_opts(requested).intersection(SUPPORTED_FACTS);
        let mut text = b"MLST OPTS ".to_vec();
        self.mlst_facts.write_list(&mut text);
        self.reply(ReplyCode::COMMAND_OKAY, Text::from(text));
    }

    fn status(&mut self) {
        let mut lines = vec!["ftp-proto status:".to_owned()];
        lines.push(format!(" Connected to {}", self.control_peer.ip()));
        lines.push(format!(
            " TYPE: {}",
            if self.ascii { "ASCII" } else { "BINARY" }
        ));
        if let Some(transfer) = &self.transfer {
            lines.push(format!(
                " Transfer in progress: {} bytes so far",
                transfer.bytes
            ));
        }
        lines.push("End of status".to_owned());
        self.send(&Reply::from_lines(ReplyCode::SYSTEM_STATUS, lines));
    }

    fn representation_type(&mut self, kind: RepresentationType) {
        match kind {
            RepresentationType::Ascii(FormatControl::NonPrint) => {
                self.ascii = true;
                self.reply(ReplyCode::COMMAND_OKAY, "Switching to ASCII mode.");
            }
            RepresentationType::Image | RepresentationType::Local(8) => {
                self.ascii = false;
                self.reply(ReplyCode::COMMAND_OKAY, "Switching to Binary mode.");
            }
            _ => self.reply(
                ReplyCode::COMMAND_NOT_IMPLEMENTED_FOR_PARAMETER,
                "Only TYPE A, I and L 8 are supported.",
            ),
        }
    }

    // -- TLS state ------------------------------------------------------------------------

    fn auth(&mut self, mechanism: AuthMechanism<'static>) {
        if !self.config.enable_tls {
            return self.reply(ReplyCode::COMMAND_NOT_IMPLEMENTED, "TLS is not configured.");
        }
        if !matches!(mechanism, AuthMechanism::Tls | AuthMechanism::Ssl) {
            return self.reply(
                ReplyCode::COMMAND_NOT_IMPLEMENTED_FOR_PARAMETER,
                "Only AUTH TLS is supported.",
            );
        }
        if self.control_tls == ControlTls::Secure {
            return self.reply(
                ReplyCode::BAD_SEQUENCE_OF_COMMANDS,
                "TLS is already active.",
            );
        }
        self.reply(
            ReplyCode::SECURITY_DATA_EXCHANGE_COMPLETE,
            "Proceed with negotiation.",
        );
        // Anything the client pipelined after AUTH in plain text could have been injected
        // by a man in the middle: it is dropped, never run under TLS (the STARTTLS
        // command injection class). `process_input` drops it once this command is done.
        self.drop_pipelined_input = true;
        self.pending = Some(Pending::ControlTlsHandshake {
            until: self.now + self.config.control_tls_timeout,
        });
        self.push(Output::Action(Action::StartControlTls));
    }

    fn protection(&mut self, level: ProtectionLevel) {
        if !self.protection_buffer_set {
            return self.reply(ReplyCode::BAD_SEQUENCE_OF_COMMANDS, "PBSZ required first.");
        }
        match level {
            ProtectionLevel::Clear => {
                self.protect_data = false;
                self.reply(ReplyCode::COMMAND_OKAY, "PROT now Clear.");
            }
            ProtectionLevel::Private => {
                self.protect_data = true;
                self.reply(ReplyCode::COMMAND_OKAY, "PROT now Private.");
            }
            ProtectionLevel::Safe | ProtectionLevel::Confidential => self.reply(
                ReplyCode::PROTECTION_LEVEL_NOT_SUPPORTED,
                "Only PROT C and P are supported.",
            ),
        }
    }

    // -- data connections -----------------------------------------------------------------

    fn passive(&mut self, extended: bool, protocol: Option<NetworkProtocol>) {
        if self.epsv_all && !extended {
            return self.reply(
                ReplyCode::BAD_SEQUENCE_OF_COMMANDS,
                "Only EPSV after EPSV ALL.",
            );
        }
        let control_family = family_of(self.control_local.ip());
        let family = match protocol {
            None => control_family,
            Some(NetworkProtocol::IPV4) => AddressFamily::V4,
            Some(NetworkProtocol::IPV6) => AddressFamily::V6,
            Some(_) => AddressFamily::V6.other_than(control_family),
        };
        let usable = family == control_family && (extended || family == AddressFamily::V4);
        if !usable {
            let hint = if control_family == AddressFamily::V4 {
                1
            } else {
                2
            };
            return self.reply(
                ReplyCode::NETWORK_PROTOCOL_NOT_SUPPORTED,
                format!("Network protocol not supported, use ({hint})."),
            );
        }
        self.close_data();
        let channel = ChannelId::new(self.next_number());
        self.pending = Some(Pending::PassiveListener { channel, extended });
        self.data = DataChannel::Passive {
            channel,
            connected: false,
        };
        self.push(Output::Action(Action::ListenPassive { channel, family }));
    }

    fn passive_listening(&mut self, channel: ChannelId, address: SocketAddr) {
        let Some(Pending::PassiveListener {
            channel: awaited,
            extended,
        }) = self.pending
        else {
            return;
        };
        if awaited != channel {
            return;
        }
        self.pending = None;
        if extended {
            self.reply(
                ReplyCode::ENTERING_EXTENDED_PASSIVE_MODE,
                format!("Entering Extended Passive Mode (|||{}|).", address.port()),
            );
            return;
        }
        match address {
            SocketAddr::V4(address) => {
                let [h1, h2, h3, h4] = address.ip().octets();
                let [p1, p2] = address.port().to_be_bytes();
                self.reply(
                    ReplyCode::ENTERING_PASSIVE_MODE,
                    format!("Entering Passive Mode ({h1},{h2},{h3},{h4},{p1},{p2})."),
                );
            }
            SocketAddr::V6(_) => {
                self.close_data();
                self.reply(
                    ReplyCode::CANNOT_OPEN_DATA_CONNECTION,
                    "PASV needs an IPv4 listener; use EPSV.",
                );
            }
        }
    }

    fn active(&mut self, address: SocketAddr) {
        if !self.config.enable_active_mode {
            return self.not_supported("Active mode");
        }
        if self.epsv_all {
            return self.reply(
                ReplyCode::BAD_SEQUENCE_OF_COMMANDS,
                "Only EPSV after EPSV ALL.",
            );
        }
        if !self.config.allow_foreign_active_address
            && canonical_ip(address.ip()) != canonical_ip(self.control_peer.ip())
        {
            return self.reply(
                ReplyCode::COMMAND_NOT_IMPLEMENTED_FOR_PARAMETER,
                "Active mode only to the address of the control connection.",
            );
        }
        if !self.config.allow_privileged_active_port && address.port() < 1024 {
            return self.reply(
                ReplyCode::COMMAND_NOT_IMPLEMENTED_FOR_PARAMETER,
                "Active mode only to ports 1024 and above.",
            );
        }
        self.close_data();
        self.data = DataChannel::Active { address };
        self.reply(ReplyCode::COMMAND_OKAY, "PORT command successful.");
    }

    fn data_accepted(&mut self, channel: ChannelId, peer: SocketAddr) {
        let DataChannel::Passive {
            channel: open,
            connected: false,
        } = self.data
        else {
            return;
        };
        if open != channel || matches!(self.pending, Some(Pending::PassiveListener { .. })) {
            return;
        }
        if !self.config.allow_foreign_passive_peer
            && canonical_ip(peer.ip()) != canonical_ip(self.control_peer.ip())
        {
            // Data-port stealing: someone else raced the client to our port.
            self.close_data();
            if self.transfer.is_some() {
                self.fail_transfer(
                    ReplyCode::CANNOT_OPEN_DATA_CONNECTION,
                    "Data connection from a foreign address refused.",
                );
            }
            return;
        }
        self.data = DataChannel::Passive {
            channel,
            connected: true,
        };
        if self
            .transfer
            .as_ref()
            .is_some_and(|t| t.stage == Stage::Connecting)
        {
            self.data_ready();
        }
    }

    fn close_data(&mut self) {
        if self.data != DataChannel::None {
            self.data = DataChannel::None;
            self.push(Output::Action(Action::CloseData));
        }
    }

    fn restart(&mut self, offset: u64) {
        if offset > 0 && !self.config.capabilities.read_at_offset {
            return self.not_supported("REST");
        }
        // No file can be longer: a file offset is a signed 64-bit number everywhere.
        if offset > i64::MAX as u64 {
            return self.reply(
                ReplyCode::SYNTAX_ERROR_IN_ARGUMENTS,
                format!("Restart offset {offset} is beyond any file's end."),
            );
        }
        self.restart_offset = offset;
        self.reply(
            ReplyCode::FILE_ACTION_PENDING,
            format!("Restarting at {offset}. Send STOR or RETR."),
        );
    }

    // -- transfers --------------------------------------------------------------------------

    fn listing(&mut self, argument: Option<Pathname<'static>>, format: ListingFormat) {
        // `ls`-style options (`LIST -la dir`) are accepted and ignored, as vsftpd does.
        let mut path = argument.unwrap_or_default();
        if path.as_bytes().first() == Some(&b'-') {
            let mut bytes = path.as_bytes();
            while bytes.first() == Some(&b'-') {
                let end = bytes.iter().position(|&b| b == b' ').unwrap_or(bytes.len());
                bytes = bytes.get(end + 1..).unwrap_or_default();
            }
            path = Pathname::from(bytes.to_vec());
        }
        self.open_transfer(&path, Direction::Send, TransferContentKind::Listing(format));
    }

    fn open_transfer(
        &mut self,
        path: &Pathname<'_>,
        direction: Direction,
        content: TransferContentKind,
    ) {
        let offset = std::mem::take(&mut self.restart_offset);
        if direction == Direction::Receive && !self.may_write() {
            return;
        }
        if self.data == DataChannel::None {
            return self.reply(
                ReplyCode::CANNOT_OPEN_DATA_CONNECTION,
                "Use PORT, EPRT, PASV or EPSV first.",
            );
        }
        if self.config.enable_tls && self.config.require_tls_for_data && !self.protect_data {
            return self.reply(
                ReplyCode::NETWORK_PROTOCOL_NOT_SUPPORTED,
                "Data connections must be protected: use PBSZ 0 and PROT P.",
            );
        }
        let path = match self.cwd.join(path) {
            Ok(path) => path,
            Err(PathError::Nul) => {
                return self.reply(ReplyCode::FILE_NAME_NOT_ALLOWED, "File name not allowed.");
            }
        };
        let request = match (&content, direction) {
            (TransferContentKind::Listing(format), _) => Request::OpenListing {
                path,
                format: format.clone(),
            },
            (TransferContentKind::File { .. }, Direction::Send) => {
                Request::OpenRead { path, offset }
            }
            (TransferContentKind::File { unique, append }, Direction::Receive) => {
                let mode = if *unique {
                    WriteMode::Unique
                } else if *append {
                    WriteMode::Append
                } else if offset > 0 {
                    if !self.config.capabilities.write_at_offset {
                        return self.not_supported("REST before STOR");
                    }
                    WriteMode::At(offset)
                } else {
                    WriteMode::Create
                };
                Request::OpenWrite { path, mode }
            }
        };
        self.request(request, Purpose::OpenTransfer { direction, content });
    }

    fn start_transfer(
        &mut self,
        id: RequestId,
        direction: Direction,
        content: TransferContentKind,
        size: Option<u64>,
        unique_name: Option<VirtualPath>,
    ) {
        let connected = match self.data {
            DataChannel::None => {
                // A file or listing was opened for nothing: the adapter lets it go.
                self.push(Output::Action(Action::AbortTransfer { id }));
                return self.reply(
                    ReplyCode::CANNOT_OPEN_DATA_CONNECTION,
                    "Use PORT, EPRT, PASV or EPSV first.",
                );
            }
            DataChannel::Passive { connected, .. } => connected,
            DataChannel::Active { .. } => false,
        };
        let code = if connected {
            ReplyCode::DATA_CONNECTION_ALREADY_OPEN
        } else {
            ReplyCode::FILE_STATUS_OKAY
        };
        let mut text = match (&content, &unique_name) {
            // RFC 1123 §4.1.2.9: the bare name, which clients read to the line's end.
            (
                TransferContentKind::File {
                    unique: true,
                    append: false,
                },
                Some(name),
            ) => {
                self.reply(code, format!("FILE: {name}"));
                return self.begin_transfer(id, direction, content, connected);
            }
            (TransferContentKind::Listing(_), _) => "Here comes the directory listing".to_owned(),
            _ => format!(
                "Opening {} mode data connection",
                if self.ascii { "ASCII" } else { "BINARY" }
            ),
        };
        if let Some(size) = size {
            text.push_str(&format!(" ({size} bytes)"));
        }
        text.push('.');
        self.reply(code, text);
        self.begin_transfer(id, direction, content, connected);
    }

    /// Readies the transfer once its 1yz reply is out: it starts when its data
    /// connection is up (at once for a passive connection made already).
    fn begin_transfer(
        &mut self,
        id: RequestId,
        direction: Direction,
        content: TransferContentKind,
        connected: bool,
    ) {
        let (content, ascii) = match content {
            TransferContentKind::File { .. } => (TransferContent::File, self.ascii),
            // Listings are written with CRLF already.
            TransferContentKind::Listing(format) => (TransferContent::Listing(format), false),
        };
        self.transfer = Some(Box::new(RunningTransfer {
            id,
            bytes: 0,
            stage: Stage::Connecting,
            deadline: self.now + self.config.data_connection_timeout,
            sample_at: self.now,
            start: Some(Transfer {
                id,
                direction,
                content,
                ascii,
                tls: self.protect_data,
            }),
        }));
        if connected {
            self.data_ready();
        } else if let DataChannel::Active { address } = self.data {
            // Connected only now that the transfer is ready, so that the connection
            // never waits on the storage.
            self.push(Output::Action(Action::ConnectActive { id, address }));
        }
    }

    /// Whether the transfer `id` is the current one, at this stage.
    fn transfer_in(&self, id: RequestId, stage: Stage) -> bool {
        self.transfer
            .as_ref()
            .is_some_and(|t| t.id == id && t.stage == stage)
    }

    /// The data connection of the current transfer is up and checked: secure it under
    /// PROT P, or start the transfer.
    fn data_ready(&mut self) {
        let protect = self.protect_data;
        let tls_timeout = self.config.data_tls_timeout;
        let now = self.now;
        let Some(transfer) = self.transfer.as_mut() else {
            return;
        };
        if protect {
            transfer.stage = Stage::Securing;
            transfer.deadline = now + tls_timeout;
            let id = transfer.id;
            self.push(Output::Action(Action::SecureData { id }));
        } else {
            self.launch_transfer();
        }
    }

    /// Hands the current transfer to the adapter: its data connection is ready.
    fn launch_transfer(&mut self) {
        let now = self.now;
        let data_timeout = self.config.data_timeout;
        let Some(transfer) = self.transfer.as_mut() else {
            return;
        };
        let Some(start) = transfer.start.take() else {
            return;
        };
        transfer.stage = Stage::Running;
        transfer.deadline = now + data_timeout;
        transfer.sample_at = now + sample_interval(data_timeout);
        self.push(Output::Action(Action::StartTransfer(start)));
    }

    /// Ends the current transfer with this reply, telling the adapter to let go of it.
    fn fail_transfer(&mut self, code: ReplyCode, text: &str) {
        let Some(transfer) = self.transfer.take() else {
            return;
        };
        self.push(Output::Action(Action::AbortTransfer { id: transfer.id }));
        self.close_data();
        self.push(Output::Event(Event::TransferEnded {
            id: transfer.id,
            bytes: transfer.bytes,
            completed: false,
        }));
        self.reply(code, text);
        self.after_transfer();
    }

    fn abort(&mut self) {
        match self.transfer.take() {
            Some(transfer) => {
                self.push(Output::Action(Action::AbortTransfer { id: transfer.id }));
                self.close_data();
                self.push(Output::Event(Event::TransferEnded {
                    id: transfer.id,
                    bytes: transfer.bytes,
                    completed: false,
                }));
                self.reply(
                    ReplyCode::CONNECTION_CLOSED_TRANSFER_ABORTED,
                    "Transfer aborted.",
                );
                self.reply(ReplyCode::CLOSING_DATA_CONNECTION, "ABOR successful.");
                self.after_transfer();
            }
            None => {
                self.close_data();
                self.reply(ReplyCode::DATA_CONNECTION_OPEN, "No transfer to abort.");
            }
        }
    }

    /// Forgets the running transfer and its data connection (stream mode closes the data
    /// connection after every transfer; the adapter's copy closed it).
    fn end_transfer(&mut self) {
        self.transfer = None;
        self.data = DataChannel::None;
    }

    fn restart_idle_timer(&mut self) {
        self.idle_deadline = self.now + self.config.idle_timeout;
    }

    fn after_transfer(&mut self) {
        self.restart_idle_timer();
        if let Some((code, text, reason)) = self.close_after_transfer.take() {
            self.close_with(code, text, reason);
        }
    }

    // -- requests and their answers -----------------------------------------------------------

    fn next_number(&mut self) -> u64 {
        let number = self.next_id;
        self.next_id += 1;
        number
    }

    fn request(&mut self, request: Request, purpose: Purpose) {
        let id = RequestId::new(self.next_number());
        self.pending = Some(Pending::Request {
            id,
            purpose,
            deadline: self.now + self.config.storage_timeout,
        });
        self.push(Output::Request { id, request });
    }

    /// Drops the request being waited for, telling the adapter.
    fn cancel_request(&mut self) {
        if let Some(Pending::Request { id, .. }) = self.pending.take() {
            self.push(Output::Action(Action::CancelRequest { id }));
        }
    }

    /// The application did not answer in time: the command fails (a login as a failed
    /// login), and a late answer is ignored.
    fn storage_timed_out(&mut self) {
        let Some(Pending::Request { id, purpose, .. }) = self.pending.take() else {
            return;
        };
        self.push(Output::Action(Action::CancelRequest { id }));
        self.restart_idle_timer();
        match purpose {
            Purpose::Login { user } => self.login_failed(user),
            _ => self.reply(
                ReplyCode::LOCAL_ERROR,
                "The storage did not answer in time.",
            ),
        }
    }

    fn answer(&mut self, id: RequestId, purpose: Purpose, response: Response) {
        if let Response::Failed(error) = &response {
            if let Purpose::Login { user } = purpose {
                return self.login_failed(user);
            }
            let code = error.reply_code();
            let text = format!("{error}.");
            return self.reply(code, text);
        }
        match (purpose, response) {
            (Purpose::Login { user }, Response::LoggedIn { writable }) => {
                self.login = Login::LoggedIn { writable };
                self.login_deadline = None;
                self.push(Output::Event(Event::LoggedIn { user }));
                self.reply(ReplyCode::LOGGED_IN, "Login successful.");
            }
            (Purpose::Login { user }, _) => self.login_failed(user),
            (Purpose::Host, Response::Done) => {
                self.reply(ReplyCode::SERVICE_READY, "Host accepted.")
            }
            (Purpose::ChangeDirectory { path }, Response::Metadata(metadata)) => {
                if metadata.kind == FileKind::Directory {
                    self.cwd = path;
                    self.reply(
                        ReplyCode::FILE_ACTION_OKAY,
                        "Directory successfully changed.",
                    );
                } else {
                    self.reply(ReplyCode::FILE_UNAVAILABLE, "Not a directory.");
                }
            }
            (Purpose::Size, Response::Metadata(metadata)) => match metadata.kind {
                FileKind::File => self.reply(ReplyCode::FILE_STATUS, metadata.size.to_string()),
                _ => self.reply(ReplyCode::FILE_UNAVAILABLE, "Not a regular file."),
            },
            (Purpose::ModificationTime, Response::Metadata(metadata)) => {
                let mut time = Vec::new();
                match metadata.modified {
                    Some(modified) if crate::time::write_timestamp(modified, &mut time) => {
                        self.reply(ReplyCode::FILE_STATUS, Text::from(time))
                    }
                    _ => self.reply(ReplyCode::FILE_UNAVAILABLE, "Modification time unknown."),
                }
            }
            (Purpose::MachineListing { path }, Response::Metadata(metadata)) => {
                let entry = format::mlst_reply_line(
                    path.as_bytes(),
                    &metadata,
                    self.mlst_facts,
                    self.is_writable(),
                    self.config.capabilities,
                );
                let mut text = format!("Listing {path}").into_bytes();
                text.push(b'\n');
                text.extend_from_slice(&entry);
                text.extend_from_slice(b"\nEnd");
                self.reply(ReplyCode::FILE_ACTION_OKAY, Text::from(text));
            }
            (Purpose::ControlListing { path }, Response::Entries { entries, now, more }) => {
                let limit = self.config.max_control_listing_entries;
                // The reply waits in the output for a client that may not read it: a
                // bound in bytes as well as in entries keeps a session within about
                // `max_pending_output` however long its names are.
                let byte_limit = self.config.max_pending_output / 4;
                let mut text = format!("Status of {path}:").into_bytes();
                let mut shown = 0;
                for (name, metadata) in entries.iter().take(limit) {
                    if text.len() >= byte_limit {
                        break;
                    }
                    text.push(b'\n');
                    text.extend_from_slice(&format::unix_reply_line(
                        name.as_bytes(),
                        metadata,
                        now,
                    ));
                    shown += 1;
                }
                // Entries left out: those received and not shown (over a bound), and
                // those the back end did not send. A number only when it is known.
                let cut = (entries.len() - shown) as u64;
                let left_out = match more {
                    MoreEntries::None => (cut > 0).then_some(Some(cut)),
                    MoreEntries::Count(count) => {
                        let count = cut.saturating_add(count);
                        (count > 0).then_some(Some(count))
                    }
                    MoreEntries::Unknown => Some(None),
                };
                match left_out {
                    Some(Some(1)) => {
                        text.extend_from_slice(b"\n(1 more entry not shown; use MLSD or LIST)")
                    }
                    Some(Some(count)) => text.extend_from_slice(
                        format!("\n({count} more entries not shown; use MLSD or LIST)").as_bytes(),
                    ),
                    Some(None) => {
                        text.extend_from_slice(b"\n(more entries not shown; use MLSD or LIST)")
                    }
                    None => {}
                }
                text.extend_from_slice(b"\nEnd of status");
                self.reply(ReplyCode::FILE_STATUS, Text::from(text));
            }
            (Purpose::RenameFrom { .. }, Response::Metadata(metadata))
                if metadata.kind == FileKind::Directory
                    && !self.config.capabilities.rename_directories =>
            {
                // Refused at RNFR, not RNTO: the client learns it before it names a target.
                self.reply(
                    ReplyCode::COMMAND_NOT_IMPLEMENTED_FOR_PARAMETER,
                    "Renaming directories is not supported by this server.",
                );
            }
            (Purpose::RenameFrom { path }, Response::Metadata(_)) => {
                self.rename_from = Some(path);
                self.reply(ReplyCode::FILE_ACTION_PENDING, "Ready for RNTO.");
            }
            (Purpose::Done { code, text }, Response::Done) => self.reply(code, text),
            (Purpose::MakeDirectory { path }, Response::Done) => {
                let reply =
                    Reply::with_path(ReplyCode::PATHNAME_CREATED, &path.to_pathname(), "created");
                self.send(&reply);
            }
            (Purpose::SetModified { text }, Response::Done) => {
                self.reply(ReplyCode::FILE_STATUS, text)
            }
            (Purpose::Site, Response::Reply(reply)) => self.send(&reply),
            (
                Purpose::OpenTransfer { direction, content },
                Response::Opened { size, unique_name },
            ) => self.start_transfer(id, direction, content, size, unique_name),
            (_, response) => self.reply(
                ReplyCode::LOCAL_ERROR,
                format!(
                    "Internal error: unexpected answer {}.",
                    response_name(&response)
                ),
            ),
        }
    }

    fn login_failed(&mut self, user: Text<'static>) {
        self.push(Output::Event(Event::LoginFailed { user }));
        self.failed_logins += 1;
        // The delay doubles with each failure of this session (capped), so that guessing
        // is slow even on one connection.
        let factor = 1u32 << (self.failed_logins - 1).min(6);
        let until = self.now + self.config.failed_login_delay * factor;
        self.pending = Some(Pending::FailedLoginDelay { until });
    }

    // -- helpers ------------------------------------------------------------------------------

    fn with_path(&mut self, path: &Pathname<'_>, then: impl FnOnce(&mut Self, VirtualPath)) {
        match self.cwd.join(path) {
            Ok(path) => then(self, path),
            Err(PathError::Nul) => {
                self.reply(ReplyCode::FILE_NAME_NOT_ALLOWED, "File name not allowed.")
            }
        }
    }

    fn is_writable(&self) -> bool {
        self.config.capabilities.write && matches!(self.login, Login::LoggedIn { writable: true })
    }

    fn may_write(&mut self) -> bool {
        let writable = matches!(self.login, Login::LoggedIn { writable: true });
        if !self.config.capabilities.write || !writable {
            self.reply(ReplyCode::FILE_UNAVAILABLE, "Permission denied.");
            return false;
        }
        true
    }

    fn write_op(&mut self, path: &Pathname<'_>, then: impl FnOnce(&mut Self, VirtualPath)) {
        if self.may_write() {
            self.with_path(path, then);
        }
    }

    fn not_supported(&mut self, what: &str) {
        self.reply(
            ReplyCode::COMMAND_NOT_IMPLEMENTED,
            format!("{what} is not supported by this server."),
        );
    }

    fn close_with(&mut self, code: ReplyCode, text: &str, reason: CloseReason) {
        self.reply(code, text);
        self.close_silently(reason);
    }

    /// Ends the session without a last reply: lets go of a transfer and a request,
    /// says why, and closes.
    fn close_silently(&mut self, reason: CloseReason) {
        if let Some(transfer) = self.transfer.take() {
            self.push(Output::Action(Action::AbortTransfer { id: transfer.id }));
        }
        self.cancel_request();
        self.closed = true;
        self.push(Output::Event(Event::Closed { reason }));
        self.push(Output::Action(Action::Close));
    }

    /// Queues an output after the replies written so far.
    fn push(&mut self, output: Output) {
        if !self.output.is_empty() {
            let bytes = self.cut_output();
            self.queued_bytes += bytes.len();
            self.outputs.push_back(Output::Transmit(bytes));
        }
        self.outputs.push_back(output);
    }

    /// The reply bytes written so far, as one transmit.
    fn cut_output(&mut self) -> bytes::Bytes {
        let bytes = self.output.split().freeze();
        // The rest of the buffer would keep the whole allocation alive (it is shared
        // with `bytes`) for as long as the session idles: start afresh instead.
        self.output = BytesMut::new();
        bytes
    }

    /// Output that piled up may have held commands back: run them now that some left.
    fn resume_after_output(&mut self) {
        if !self.closed && !self.input.is_empty() {
            self.process_input();
        }
    }

    /// Reply bytes not yet taken by the adapter.
    fn pending_output(&self) -> usize {
        self.output.len() + self.queued_bytes
    }

    fn reply<'t>(&mut self, code: ReplyCode, text: impl Into<Text<'t>>) {
        Reply::new(code, text).encode(&mut self.output);
    }

    fn send(&mut self, reply: &Reply<'_>) {
        reply.encode(&mut self.output);
    }
}

impl AddressFamily {
    /// The family that is not `other`; used to refuse an unknown EPSV protocol.
    fn other_than(self, other: AddressFamily) -> AddressFamily {
        if other == AddressFamily::V4 {
            AddressFamily::V6
        } else {
            AddressFamily::V4
        }
    }
}

fn family_of(ip: IpAddr) -> AddressFamily {
    match canonical_ip(ip) {
        IpAddr::V4(_) => AddressFamily::V4,
        IpAddr::V6(_) => AddressFamily::V6,
    }
}

/// An IPv4-mapped IPv6 address compares equal to its IPv4 form.
fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// Which commands a client may send before logging in.
fn allowed_before_login(command: &Command<'_>) -> bool {
    matches!(
        command,
        Command::User(_)
            | Command::Pass(_)
            | Command::Acct(_)
            | Command::Host(_)
            | Command::Auth(_)
            | Command::Adat(_)
            | Command::Pbsz(_)
            | Command::Prot(_)
            | Command::Ccc
            | Command::Feat
            | Command::Opts(_)
            | Command::Help(_)
            | Command::Syst
            | Command::Noop
            | Command::Quit
            | Command::Rein
            | Command::Clnt(_)
            | Command::Lang(_)
            | Command::Stat(None)
            | Command::Unknown { .. }
    )
}

/// How often a running transfer's progress is sampled: an eighth of the stall
/// deadline, so that a stall is noticed at most that late (and never in a busy loop).
fn sample_interval(data_timeout: std::time::Duration) -> std::time::Duration {
    (data_timeout / 8).max(std::time::Duration::from_millis(1))
}

/// A storage error during a transfer: a full disk or quota keeps its code, anything
/// else is a local error (451).
fn storage_code_mid_transfer(error: &StorageError) -> ReplyCode {
    match error {
        StorageError::InsufficientStorage | StorageError::QuotaExceeded => error.reply_code(),
        _ => ReplyCode::LOCAL_ERROR,
    }
}

/// At most 32 bytes of peer input, escaped, for echoing in a reply.
fn printable(bytes: &[u8]) -> String {
    let shown = &bytes[..bytes.len().min(32)];
    shown.escape_ascii().to_string()
}

fn response_name(response: &Response) -> &'static str {
    match response {
        Response::LoggedIn { .. } => "LoggedIn",
        Response::LoginDenied => "LoginDenied",
        Response::Done => "Done",
        Response::Metadata(_) => "Metadata",
        Response::Entries { .. } => "Entries",
        Response::Opened { .. } => "Opened",
        Response::Reply(_) => "Reply",
        Response::Failed(_) => "Failed",
    }
}
