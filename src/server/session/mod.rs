//! `Session`: one control connection's state machine. Every protocol decision a server
//! makes is made here; it never performs I/O, reads a clock or blocks.
//!
//! This file owns the [`Session`] type, its state and its constructor; each concern's
//! methods live in a child module:
//!
//! - `driving`: the calling contract, every `handle_*` input and `poll_*` output, and
//!   the deadlines checked on `handle_timeout`;
//! - `dispatch`: reading commands and routing each verb to its concern;
//! - `login`: USER, PASS, HOST, REIN; `info`: FEAT, HELP, OPTS, STAT, TYPE;
//!   `tls`: AUTH, PBSZ, PROT;
//! - `data`: data-connection listeners and connects, and who may connect;
//!   `transfer`: REST, listings, file transfers, ABOR;
//! - `requests`: requests to the application and the replies to their answers;
//! - `output`: the ordered output queue and closing.

mod data;
mod dispatch;
mod driving;
mod info;
mod login;
mod output;
mod requests;
mod tls;
mod transfer;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::BytesMut;

use super::config::Config;
use super::events::{
    ChannelId, CloseReason, Direction, ListingFormat, Output, RequestId, Transfer,
};
use super::format::SUPPORTED_FACTS;
use super::path::VirtualPath;
use crate::listing::FactSet;
use crate::parse::CommandParser;
use crate::reply::ReplyCode;
use crate::text::Text;

/// A server's side of one FTP control connection, as a pure state machine.
///
/// Feed it what happens, drain what it wants done:
///
/// - inputs: [`handle_control_input`](Self::handle_control_input) (bytes from the
///   client, in any chunking), [`handle_response`](Self::handle_response) (the
///   application's answer to a [`Request`](crate::server::Request)), [`handle_data_event`](Self::handle_data_event),
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

    /// Whether the adapter should read more control input now. False while the
    /// unprocessed input (commands waiting behind a slow answer or a transfer) fills
    /// half of [`Config::max_pending_input`]: the adapter then leaves the rest in the
    /// socket, and TCP holds the client back, rather than the session closing with 421.
    /// True again as soon as the session works through its input.
    pub fn wants_control_input(&self) -> bool {
        !self.closed && self.input.len() < self.config.max_pending_input / 2
    }

    /// Whether the session has ended (after [`Action::Close`](crate::server::Action::Close)).
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
}
