//! [`Pair`]: a [`client::Session`] wired to a [`server::Session`] and a [`MemoryFs`],
//! with no socket and no clock (quinn's `Pair`, str0m's `progress`).
//!
//! The pair plays both adapters: it moves control bytes both ways, answers the
//! server's requests from the [`MemoryFs`], fakes the data connections (passive and
//! active) and their TLS handshakes, and moves the bytes of transfers between
//! per-operation client buffers and the tree. [`Pair::run_until_quiet`] steps both sides
//! until neither has anything to say; time moves only when a test calls
//! [`Pair::advance`].

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use super::memory::MemoryFs;
use crate::client::{self, Action, OperationId, Outcome, TransferKind};
use crate::server::{
    self, DataEvent, DataFailure, Direction, Request, RequestId, Response, Transfer,
    TransferContent, VirtualPath,
};

/// In which order a finished transfer reaches the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FinalOrder {
    /// The data connection ends, then the final reply (226) arrives: what a server that
    /// closes before it replies looks like.
    DataEndFirst,
    /// The final reply arrives first, the end of data after it (a slow data path).
    ReplyFirst,
}

/// How the simulated TLS handshake on the control connection ends (after `AUTH TLS`,
/// once both sessions asked for it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ControlTls {
    /// Both sides are told it succeeded.
    Succeed,
    /// The server is told it failed (it closes the connection, and the client sees the
    /// control connection close).
    Fail,
    /// It never ends: neither side is told anything, so their handshake deadlines
    /// fire when the clock passes them.
    Stall,
}

/// How a simulated TLS handshake on a data connection ends (under `PROT P`, once both
/// sessions asked for it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataTls {
    /// It succeeded, resuming the control connection's TLS session (what a good client
    /// does).
    Resumed,
    /// It succeeded with a fresh TLS session: a server with
    /// [`Config::require_tls_session_reuse`](server::Config::require_tls_session_reuse)
    /// refuses the transfer (522).
    NotResumed,
    /// It failed: the server is told [`DataEvent::TlsFailed`], the client that the data
    /// connection broke.
    Fail,
    /// It never ends: neither side is told anything, so their handshake deadlines
    /// fire when the clock passes them.
    Stall,
}

/// A simulated TLS handshake, as recorded in [`Pair::tls_handshakes`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TlsHandshake {
    /// On the control connection, with how it ended.
    Control(ControlTls),
    /// On the data connection of a transfer.
    Data {
        /// The server's id of the transfer.
        transfer: RequestId,
        /// The client's id of the same transfer.
        operation: OperationId,
        /// How it ended.
        outcome: DataTls,
    },
}

/// A transfer the server asked for, waiting to be run.
#[derive(Clone, Debug)]
struct Job {
    transfer: Transfer,
    request: Request,
    unique_name: Option<VirtualPath>,
}

/// An upload whose bytes all arrived, waiting for the server session's
/// [`server::Action::CommitUpload`] (or its abort) before it reaches the tree.
#[derive(Clone, Debug)]
struct Staged {
    id: RequestId,
    path: VirtualPath,
    mode: server::WriteMode,
    data: Vec<u8>,
}

/// The fake data connection, as both adapters see it.
#[derive(Debug, Default)]
struct DataLink {
    /// Passive: the server's listener and the address it was given (it accepts one
    /// connection).
    server_listener: Option<(server::ChannelId, SocketAddr)>,
    /// Active: the client's listener, for which operation.
    client_listener: Option<(OperationId, SocketAddr, TransferKind)>,
    /// The client's operation the open data connection belongs to.
    client_op: Option<(OperationId, TransferKind)>,
    /// The transfer the server asked for, when it cannot or must not run yet.
    job: Option<Job>,
    /// A data TLS handshake each side asked for and that has not ended yet.
    server_tls: Option<RequestId>,
    client_tls: Option<OperationId>,
}

/// A client session and a server session wired to each other in memory, with a
/// [`MemoryFs`] behind the server, a manual clock and simulated TLS. See the
/// [module docs](super) for an example.
///
/// Operations are submitted with a closure that calls the client session
/// ([`run`](Self::run), [`download`](Self::download), [`upload`](Self::upload),
/// [`listing`](Self::listing), or [`start`](Self::start) to step by hand); every call
/// that steps drains both sessions until they are quiet. The public fields are the
/// pair's knobs (faults to inject) and its records (what each side did), for tests to
/// set and read.
///
/// What the pair decides as the adapters, so that tests and models agree:
/// - [`downloads`](Self::downloads) and [`uploads`](Self::uploads) hold the bytes as the
///   data connection carries them: the client side converts no line ends (the server
///   does, in `TYPE A`);
/// - a transfer's bytes move all at once when the server starts it (unless
///   [`hold_transfers`](Self::hold_transfers)), so the sessions never see progress
///   reports: a held transfer is a stalled one;
/// - data connections come from the right peer (the server's address in active mode,
///   the client's in passive mode);
/// - the storage answers at once (unless [`hold_requests`](Self::hold_requests)), and
///   drops a held request the server cancels.
///
/// # Panics
///
/// The pair is a test harness: it panics when the sessions do something no adapter
/// could carry out (a transfer the storage never opened, a data connection from a host
/// other than the server, an operation that never completes where one is awaited, or
/// two sessions that never go quiet).
pub struct Pair {
    /// The client session: call its operations through the pair's methods, or directly
    /// followed by [`run_until_quiet`](Self::run_until_quiet).
    pub client: client::Session,
    /// The server session.
    pub server: server::Session,
    /// The server's storage: set it up before, inspect it after.
    pub fs: MemoryFs,
    now: Instant,
    start: Instant,
    wall_start: SystemTime,
    client_addr: SocketAddr,
    server_addr: SocketAddr,
    next_port: u16,
    to_server: Vec<u8>,
    to_client: Vec<u8>,
    /// Client bytes not yet split into lines, when `refuse` is in use.
    partial_line: Vec<u8>,
    data: DataLink,
    /// Client data ends to deliver after the control bytes now in flight (operation,
    /// kind, whether the end was clean).
    deferred_ends: Vec<(OperationId, TransferKind, bool)>,
    /// Requests that opened a transfer, by id, with the STOU name chosen.
    opened: HashMap<RequestId, (Request, Option<VirtualPath>)>,
    /// The upload received and not committed yet.
    staged: Option<Staged>,
    server_closed: bool,
    client_told_closed: bool,
    client_closed_control: bool,
    /// A control TLS handshake each side asked for.
    server_wants_tls: bool,
    client_wants_tls: bool,

    // ----- Knobs -----
    /// Hold the server's replies (they pile up until this is cleared, see
    /// [`release_replies`](Self::release_replies)).
    pub hold_replies: bool,
    /// Hold the storage's answers in [`held`](Self::held) until
    /// [`release_requests`](Self::release_requests).
    pub hold_requests: bool,
    /// The requests held by [`hold_requests`](Self::hold_requests), oldest first.
    pub held: VecDeque<(RequestId, Request)>,
    /// Hold every transfer the server starts until [`run_transfer`](Self::run_transfer)
    /// (to abort it midway, or to let its stall deadline pass).
    pub hold_transfers: bool,
    /// One-shot: the next transfer's data connection breaks after this many bytes.
    pub drop_data_after: Option<usize>,
    /// The order in which a transfer's end reaches the client.
    pub order: FinalOrder,
    /// The size of the pieces listing bytes are fed in (the client must not care).
    pub chunk: usize,
    /// Verbs a proxy in front of the server answers with 502 itself.
    pub refuse: Vec<&'static str>,
    /// Data connections cannot be opened (connect refused, in either direction).
    pub refuse_data_connections: bool,
    /// When the client closes a data connection with a transfer held, the server sees
    /// it break (426) at once instead of only at `ABOR`.
    pub server_notices_close: bool,
    /// How the next control-connection TLS handshakes end (default: they succeed).
    pub control_tls: ControlTls,
    /// How the next data-connection TLS handshakes end (default: they succeed and
    /// resume the control connection's session).
    pub data_tls: DataTls,
    /// Whether protected (TLS) data connections end with a TLS `close_notify` (default
    /// `true`). When `false`, a download's end is reported to the client with
    /// `handle_data_end_without_close_notify` and an upload's to the server as an
    /// unclean end: each session decides what that means (see
    /// [`server::Config::accept_upload_without_close_notify`]).
    pub close_notify: bool,

    // ----- What happened -----
    /// Results of completed operations not yet taken.
    pub results: BTreeMap<OperationId, Result<Outcome, client::Error>>,
    /// Every completed operation, in completion order.
    pub completed: Vec<OperationId>,
    /// `TransferStarted` events: operation and size hint.
    pub started: Vec<(OperationId, Option<u64>)>,
    /// The client's `Closed` event, once it came.
    pub client_closed: Option<Option<client::Error>>,
    /// Bytes each download received.
    pub downloads: HashMap<OperationId, Vec<u8>>,
    /// Bytes each upload will send (set before the transfer runs).
    pub uploads: HashMap<OperationId, Vec<u8>>,
    /// Every chunk the client sent on the control connection.
    pub client_sent: Vec<Vec<u8>>,
    /// Every control byte the server sent.
    pub server_sent: Vec<u8>,
    /// Every client action, in order.
    pub client_actions: Vec<Action>,
    /// Every server action, in order.
    pub server_actions: Vec<server::Action>,
    /// Every server event, in order.
    pub server_events: Vec<server::Event>,
    /// Every server request, in order.
    pub requests: Vec<Request>,
    /// Every simulated TLS handshake, in order.
    pub tls_handshakes: Vec<TlsHandshake>,
}

impl std::fmt::Debug for Pair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pair")
            .field("now", &(self.now - self.start))
            .field("client", &self.client)
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

/// The client's address on the control connection of [`Pair::new`].
pub const CLIENT_V4: &str = "127.0.0.1:40000";
/// The server's address on the control connection of [`Pair::new`].
pub const SERVER_V4: &str = "127.0.0.1:21";
/// The client's address on the control connection of [`Pair::ipv6`].
pub const CLIENT_V6: &str = "[::1]:40000";
/// The server's address on the control connection of [`Pair::ipv6`].
pub const SERVER_V6: &str = "[::1]:21";

impl Pair {
    /// A pair over IPv4 with default configurations, the greeting already exchanged.
    pub fn new(fs: MemoryFs) -> Pair {
        Pair::with_configs(client::Config::default(), server::Config::default(), fs)
    }

    /// A pair over IPv4 with these configurations, the greeting already exchanged. For
    /// `AUTH TLS`, set [`client::Config::tls`] and [`server::Config::enable_tls`].
    pub fn with_configs(
        client_config: client::Config,
        server_config: server::Config,
        fs: MemoryFs,
    ) -> Pair {
        Pair::build(client_config, server_config, fs, CLIENT_V4, SERVER_V4)
    }

    /// A pair whose control connection runs over IPv6 (EPSV only, EPRT).
    pub fn ipv6(
        client_config: client::Config,
        server_config: server::Config,
        fs: MemoryFs,
    ) -> Pair {
        Pair::build(client_config, server_config, fs, CLIENT_V6, SERVER_V6)
    }

    fn build(
        client_config: client::Config,
        server_config: server::Config,
        fs: MemoryFs,
        client_addr: &str,
        server_addr: &str,
    ) -> Pair {
        let now = Instant::now();
        let client_addr: SocketAddr = client_addr.parse().expect("a socket address");
        let server_addr: SocketAddr = server_addr.parse().expect("a socket address");
        let wall_start = fs.now();
        let mut pair = Pair {
            client: client::Session::new(client_config, server_addr, now),
            server: server::Session::new(server_config, client_addr, server_addr, now),
            fs,
            now,
            start: now,
            wall_start,
            client_addr,
            server_addr,
            next_port: 50000,
            to_server: Vec::new(),
            to_client: Vec::new(),
            partial_line: Vec::new(),
            data: DataLink::default(),
            deferred_ends: Vec::new(),
            opened: HashMap::new(),
            staged: None,
            server_closed: false,
            client_told_closed: false,
            client_closed_control: false,
            server_wants_tls: false,
            client_wants_tls: false,
            hold_replies: false,
            hold_requests: false,
            held: VecDeque::new(),
            hold_transfers: false,
            drop_data_after: None,
            order: FinalOrder::DataEndFirst,
            chunk: usize::MAX,
            refuse: Vec::new(),
            refuse_data_connections: false,
            server_notices_close: false,
            control_tls: ControlTls::Succeed,
            data_tls: DataTls::Resumed,
            close_notify: true,
            results: BTreeMap::new(),
            completed: Vec::new(),
            started: Vec::new(),
            client_closed: None,
            downloads: HashMap::new(),
            uploads: HashMap::new(),
            client_sent: Vec::new(),
            server_sent: Vec::new(),
            client_actions: Vec::new(),
            server_actions: Vec::new(),
            server_events: Vec::new(),
            requests: Vec::new(),
            tls_handshakes: Vec::new(),
        };
        pair.run_until_quiet();
        let greeting = pair.take(OperationId::GREETING);
        assert!(
            matches!(greeting, Some(Ok(Outcome::Greeting(_)))),
            "{greeting:?}"
        );
        pair
    }

    /// A pair logged in as the writable user [`MemoryFs::USER`], with the server's
    /// features known (`FEAT` ran), and under `AUTH TLS` when the configurations ask
    /// for it.
    pub fn logged_in(fs: MemoryFs) -> Pair {
        Pair::logged_in_with(client::Config::default(), server::Config::default(), fs)
    }

    /// [`logged_in`](Self::logged_in) with these configurations.
    pub fn logged_in_with(
        client_config: client::Config,
        server_config: server::Config,
        fs: MemoryFs,
    ) -> Pair {
        let mut pair = Pair::with_configs(client_config, server_config, fs);
        pair.login(MemoryFs::USER, MemoryFs::PASSWORD)
            .expect("login");
        pair.run(|c, now| c.features(now)).expect("features");
        pair
    }

    // ----- Running operations -----

    /// Submits an operation, steps until quiet and returns its result.
    ///
    /// # Panics
    ///
    /// If the operation did not complete (use [`start`](Self::start) and
    /// [`take`](Self::take) for those that wait on time or on a held fault).
    pub fn run(
        &mut self,
        operation: impl FnOnce(&mut client::Session, Instant) -> Result<OperationId, client::Error>,
    ) -> Result<Outcome, client::Error> {
        let id = operation(&mut self.client, self.now)?;
        self.run_until_quiet();
        self.take(id)
            .unwrap_or_else(|| panic!("operation {id} did not complete"))
    }

    /// Submits an operation without stepping.
    ///
    /// # Panics
    ///
    /// If the client refuses the operation up front.
    pub fn start(
        &mut self,
        operation: impl FnOnce(&mut client::Session, Instant) -> Result<OperationId, client::Error>,
    ) -> OperationId {
        operation(&mut self.client, self.now).expect("operation refused up front")
    }

    /// Submits an upload that will send these bytes, without stepping.
    pub fn start_upload(
        &mut self,
        data: &[u8],
        operation: impl FnOnce(&mut client::Session, Instant) -> Result<OperationId, client::Error>,
    ) -> OperationId {
        let id = self.start(operation);
        self.uploads.insert(id, data.to_vec());
        id
    }

    /// Runs an upload that sends these bytes.
    ///
    /// # Panics
    ///
    /// As [`run`](Self::run).
    pub fn upload(
        &mut self,
        data: &[u8],
        operation: impl FnOnce(&mut client::Session, Instant) -> Result<OperationId, client::Error>,
    ) -> Result<Outcome, client::Error> {
        let id = operation(&mut self.client, self.now)?;
        self.uploads.insert(id, data.to_vec());
        self.run_until_quiet();
        self.take(id)
            .unwrap_or_else(|| panic!("upload {id} did not complete"))
    }

    /// Runs a download and returns its result with the bytes it received.
    ///
    /// # Panics
    ///
    /// As [`run`](Self::run), and if the client refuses the operation up front.
    pub fn download(
        &mut self,
        operation: impl FnOnce(&mut client::Session, Instant) -> Result<OperationId, client::Error>,
    ) -> (Result<Outcome, client::Error>, Vec<u8>) {
        let id = operation(&mut self.client, self.now).expect("download refused up front");
        self.run_until_quiet();
        let result = self
            .take(id)
            .unwrap_or_else(|| panic!("download {id} did not complete"));
        (result, self.downloads.remove(&id).unwrap_or_default())
    }

    /// Logs in (and, with [`client::Config::tls`], secures the control connection
    /// first).
    pub fn login(&mut self, user: &str, password: &str) -> Result<Outcome, client::Error> {
        self.run(|c, now| c.login(user, password, now))
    }

    /// The listing bytes of a `LIST`, `NLST` or `MLSD` operation.
    ///
    /// # Panics
    ///
    /// As [`run`](Self::run), and if the operation yields something else than a
    /// listing.
    pub fn listing(
        &mut self,
        operation: impl FnOnce(&mut client::Session, Instant) -> Result<OperationId, client::Error>,
    ) -> Result<Vec<u8>, client::Error> {
        match self.run(operation)? {
            Outcome::Listing(bytes) => Ok(bytes),
            other => panic!("not a listing: {other:?}"),
        }
    }

    /// Takes the result of a completed operation.
    pub fn take(&mut self, id: OperationId) -> Option<Result<Outcome, client::Error>> {
        self.results.remove(&id)
    }

    /// Whether this operation completed (its result may have been taken since).
    pub fn is_complete(&self, id: OperationId) -> bool {
        self.completed.contains(&id)
    }

    // ----- The clock -----

    /// The pair's time: it starts at the real time the pair was made and moves only
    /// with [`advance`](Self::advance).
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Time passed since the pair was made.
    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    /// The time the pair pretends the wall clock shows: the [`MemoryFs`]'s time when
    /// the pair was made, plus [`elapsed`](Self::elapsed).
    pub fn wall(&self) -> SystemTime {
        self.wall_start + self.elapsed()
    }

    /// Lets time pass, tells both sessions (`handle_timeout`: a deadline that passed
    /// fires), and steps until quiet.
    pub fn advance(&mut self, by: Duration) {
        self.now += by;
        self.fs.set_now(self.wall());
        self.client.handle_timeout(self.now);
        self.server.handle_timeout(self.now);
        self.run_until_quiet();
    }

    /// Moves time to the earliest deadline of either session, if any, as
    /// [`advance`](Self::advance) does, and returns how far it moved.
    pub fn advance_to_next_deadline(&mut self) -> Option<Duration> {
        let deadline = self.next_deadline()?;
        let by = deadline.saturating_duration_since(self.now);
        self.advance(by);
        Some(by)
    }

    /// The earliest deadline of either session.
    pub fn next_deadline(&self) -> Option<Instant> {
        [self.client.poll_timeout(), self.server.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
    }

    // ----- Faults held and released -----

    /// Answers every held storage request and steps until quiet.
    pub fn release_requests(&mut self) {
        while let Some((id, request)) = self.held.pop_front() {
            self.answer(id, &request);
        }
        self.run_until_quiet();
    }

    /// Lets the held server replies through.
    pub fn release_replies(&mut self) {
        self.hold_replies = false;
        self.run_until_quiet();
    }

    /// Runs the held transfer, if any, and steps until quiet.
    pub fn run_transfer(&mut self) {
        if let Some(job) = self.data.job.take() {
            self.run_job(job);
        }
        self.run_until_quiet();
    }

    /// Whether a transfer is held, waiting for [`run_transfer`](Self::run_transfer).
    pub fn transfer_held(&self) -> bool {
        self.data.job.is_some()
    }

    // ----- What happened -----

    /// Control bytes the server sent that the client has not received yet.
    pub fn replies_in_flight(&self) -> &[u8] {
        &self.to_client
    }

    /// Everything the client sent on the control connection, as one string (lossy).
    pub fn client_wire(&self) -> String {
        String::from_utf8_lossy(&self.client_sent.concat()).into_owned()
    }

    /// Everything the server sent on the control connection, as one string (lossy).
    pub fn server_wire(&self) -> String {
        String::from_utf8_lossy(&self.server_sent).into_owned()
    }

    /// Whether the server session asked to close the connection.
    pub fn server_is_closed(&self) -> bool {
        self.server_closed
    }

    // ----- The loop -----

    /// Steps both sessions until neither produces anything and no byte is in flight.
    ///
    /// # Panics
    ///
    /// If they are still talking after 100,000 rounds.
    pub fn run_until_quiet(&mut self) {
        for _ in 0..100_000 {
            if !self.step() {
                return;
            }
        }
        panic!("the pair never went quiet");
    }

    /// One round: drain the client, deliver to the server, drain the server, deliver to
    /// the client. Returns whether anything happened.
    fn step(&mut self) -> bool {
        let mut progressed = self.drain_client();
        if !self.to_server.is_empty() {
            progressed = true;
            let bytes = std::mem::take(&mut self.to_server);
            if !self.server_closed {
                self.deliver_to_server(&bytes);
            }
        }
        progressed |= self.drain_server();
        if !self.hold_replies && !self.to_client.is_empty() {
            progressed = true;
            let bytes = std::mem::take(&mut self.to_client);
            self.client.handle_control_input(&bytes, self.now);
        }
        if !self.hold_replies && self.to_client.is_empty() {
            for (id, kind, clean) in std::mem::take(&mut self.deferred_ends) {
                progressed = true;
                self.client_data_end(id, kind, clean);
            }
            if self.server_closed && !self.client_told_closed {
                progressed = true;
                self.client_told_closed = true;
                self.client.handle_control_closed(self.now);
            }
        }
        progressed |= self.control_handshake();
        progressed
    }

    fn drain_client(&mut self) -> bool {
        let mut progressed = false;
        while let Some(output) = self.client.poll_output() {
            progressed = true;
            match output {
                client::Output::Transmit(bytes) => {
                    if !self.client_closed_control {
                        self.client_sent.push(bytes.to_vec());
                        self.to_server.extend_from_slice(&bytes);
                    }
                }
                client::Output::Action(action) => {
                    self.client_actions.push(action.clone());
                    self.on_client_action(action);
                }
                client::Output::Event(event) => self.on_client_event(event),
            }
        }
        progressed
    }

    fn drain_server(&mut self) -> bool {
        let mut progressed = false;
        while let Some(output) = self.server.poll_output() {
            progressed = true;
            self.on_server_output(output);
        }
        progressed
    }

    /// Gives the server the client's bytes; a verb in `refuse` is answered 502 by the
    /// proxy, after every reply the server owes for earlier lines.
    fn deliver_to_server(&mut self, bytes: &[u8]) {
        if self.refuse.is_empty() && self.partial_line.is_empty() {
            self.server.handle_control_input(bytes, self.now);
            return;
        }
        self.partial_line.extend_from_slice(bytes);
        while let Some(end) = self.partial_line.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.partial_line.drain(..=end).collect();
            let verb: Vec<u8> = line
                .iter()
                .take_while(|&&b| b != b' ' && b != b'\r' && b != b'\n')
                .map(u8::to_ascii_uppercase)
                .collect();
            if self.refuse.iter().any(|refused| refused.as_bytes() == verb) {
                self.drain_server();
                self.to_client
                    .extend_from_slice(b"502 Command not implemented (proxy).\r\n");
            } else {
                self.server.handle_control_input(&line, self.now);
            }
        }
    }

    /// Ends the control connection's TLS handshake once both sides asked for it.
    fn control_handshake(&mut self) -> bool {
        if !(self.server_wants_tls && self.client_wants_tls) {
            return false;
        }
        self.server_wants_tls = false;
        self.client_wants_tls = false;
        self.tls_handshakes
            .push(TlsHandshake::Control(self.control_tls));
        match self.control_tls {
            ControlTls::Succeed => {
                self.client.handle_control_tls_established(self.now);
                self.server.handle_control_tls_established(self.now);
            }
            // The server closes; the client learns it from the closed connection.
            ControlTls::Fail => self.server.handle_control_tls_failed(self.now),
            ControlTls::Stall => {}
        }
        true
    }

    /// Ends a data connection's TLS handshake once both sides asked for it.
    fn data_handshake(&mut self) {
        let (Some(transfer), Some(operation)) = (self.data.server_tls, self.data.client_tls) else {
            return;
        };
        self.data.server_tls = None;
        self.data.client_tls = None;
        let outcome = self.data_tls;
        self.tls_handshakes.push(TlsHandshake::Data {
            transfer,
            operation,
            outcome,
        });
        match outcome {
            DataTls::Resumed | DataTls::NotResumed => {
                self.client.handle_data_tls_established(operation, self.now);
                self.server.handle_data_event(
                    DataEvent::TlsEstablished {
                        id: transfer,
                        resumed: outcome == DataTls::Resumed,
                    },
                    self.now,
                );
            }
            DataTls::Fail => {
                self.data.client_op = None;
                self.client
                    .handle_data_failed(operation, io::ErrorKind::InvalidData, self.now);
                self.server
                    .handle_data_event(DataEvent::TlsFailed { id: transfer }, self.now);
            }
            // Still under way on the server's side: when the client gives up and
            // closes its end, the server's handshake fails.
            DataTls::Stall => self.data.server_tls = Some(transfer),
        }
    }

    fn on_client_event(&mut self, event: client::Event) {
        match event {
            client::Event::Completed { id, result } => {
                assert!(
                    !self.completed.contains(&id),
                    "operation {id} completed twice"
                );
                self.completed.push(id);
                self.results.insert(id, result);
            }
            client::Event::TransferStarted { id, size_hint } => self.started.push((id, size_hint)),
            client::Event::Closed { error } => {
                assert!(self.client_closed.is_none(), "the client closed twice");
                self.client_closed = Some(error);
            }
        }
    }

    fn on_client_action(&mut self, action: Action) {
        match action {
            Action::ConnectData { id, address, kind } => {
                let listening = self.data.server_listener;
                let Some((channel, _)) = listening.filter(|(_, listening)| {
                    *listening == address && !self.refuse_data_connections
                }) else {
                    self.client
                        .handle_data_failed(id, io::ErrorKind::ConnectionRefused, self.now);
                    return;
                };
                // A listener takes one connection.
                self.data.server_listener = None;
                self.data.client_op = Some((id, kind));
                self.client.handle_data_connected(id, self.now);
                let peer = SocketAddr::new(self.client_addr.ip(), self.port());
                self.server
                    .handle_data_event(DataEvent::Accepted { channel, peer }, self.now);
                self.run_job_if_ready();
            }
            Action::ListenForData { id, kind } => {
                let address = SocketAddr::new(self.client_addr.ip(), self.port());
                self.data.client_listener = Some((id, address, kind));
                self.client.handle_data_listening(id, address, self.now);
            }
            Action::StartDataTls { id } => {
                self.data.client_tls = Some(id);
                self.data_handshake();
            }
            Action::CloseData { id } => {
                if self
                    .data
                    .client_listener
                    .is_some_and(|(listener, ..)| listener == id)
                {
                    self.data.client_listener = None;
                }
                if self.data.client_tls == Some(id) {
                    self.data.client_tls = None;
                }
                if self.data.client_op.is_some_and(|(op, _)| op == id) {
                    self.data.client_op = None;
                    // A server in the middle of its handshake sees it fail at once.
                    if let Some(transfer) = self.data.server_tls.take() {
                        self.server
                            .handle_data_event(DataEvent::TlsFailed { id: transfer }, self.now);
                    }
                    if self.server_notices_close {
                        if let Some(job) = self.data.job.take() {
                            self.server.handle_data_event(
                                DataEvent::Failed {
                                    id: job.transfer.id,
                                    reason: DataFailure::ConnectionLost,
                                },
                                self.now,
                            );
                        }
                    }
                }
            }
            Action::CloseControl => {
                self.client_closed_control = true;
                if !self.server_closed {
                    self.server.handle_control_closed(self.now);
                }
            }
            Action::StartControlTls => self.client_wants_tls = true,
            // The upload's bytes move when the server starts the transfer, which is
            // after its 150: the session's permission always comes first.
            Action::SendData { .. } => {}
            Action::RefuseDataPeer { from, .. } => {
                panic!("the pair's data connections come from the server, not {from}")
            }
        }
    }

    fn on_server_output(&mut self, output: server::Output) {
        match output {
            server::Output::Transmit(bytes) => {
                self.server_sent.extend_from_slice(&bytes);
                self.to_client.extend_from_slice(&bytes);
            }
            server::Output::Request { id, request } => {
                self.requests.push(request.clone());
                if self.hold_requests {
                    self.held.push_back((id, request));
                } else {
                    self.answer(id, &request);
                }
            }
            server::Output::Event(event) => self.server_events.push(event),
            server::Output::Action(action) => {
                self.server_actions.push(action.clone());
                self.on_server_action(action);
            }
        }
    }

    fn on_server_action(&mut self, action: server::Action) {
        match action {
            server::Action::ListenPassive { channel, .. } => {
                let address = SocketAddr::new(self.server_addr.ip(), self.port());
                self.data.server_listener = Some((channel, address));
                self.server
                    .handle_data_event(DataEvent::Listening { channel, address }, self.now);
            }
            server::Action::ConnectActive { id, address } => match self.data.client_listener.take()
            {
                Some((op, listening, kind))
                    if listening == address && !self.refuse_data_connections =>
                {
                    self.data.client_op = Some((op, kind));
                    self.server
                        .handle_data_event(DataEvent::Connected { id }, self.now);
                    // From the server's address (port 20, by tradition): the client checks.
                    let from = SocketAddr::new(self.server_addr.ip(), 20);
                    self.client.handle_data_accepted(op, from, self.now);
                }
                other => {
                    self.data.client_listener = other;
                    self.server
                        .handle_data_event(DataEvent::ConnectFailed { id }, self.now);
                }
            },
            server::Action::SecureData { id } => {
                if self.data.client_op.is_none() {
                    // The client closed its end already: the handshake fails.
                    self.server
                        .handle_data_event(DataEvent::TlsFailed { id }, self.now);
                    return;
                }
                self.data.server_tls = Some(id);
                self.data_handshake();
            }
            server::Action::StartTransfer(transfer) => {
                let (request, unique_name) = self
                    .opened
                    .remove(&transfer.id)
                    .expect("a transfer the storage never opened");
                self.data.job = Some(Job {
                    transfer,
                    request,
                    unique_name,
                });
                self.run_job_if_ready();
            }
            server::Action::CommitUpload { id } => {
                let Some(staged) = self.staged.take().filter(|staged| staged.id == id) else {
                    panic!("a commit for an upload the pair does not hold: {id:?}");
                };
                let bytes = staged.data.len() as u64;
                let event = match self.fs.write(&staged.path, staged.mode, &staged.data) {
                    Ok(()) => DataEvent::Finished { id, bytes },
                    Err(error) => DataEvent::Failed {
                        id,
                        reason: DataFailure::Storage(error),
                    },
                };
                self.server.handle_data_event(event, self.now);
            }
            server::Action::AbortTransfer { id } => {
                self.opened.remove(&id);
                // An upload the session refused to commit never reaches the tree.
                if self.staged.as_ref().is_some_and(|staged| staged.id == id) {
                    self.staged = None;
                }
                if self.data.server_tls == Some(id) {
                    self.data.server_tls = None;
                }
                if self
                    .data
                    .job
                    .as_ref()
                    .is_some_and(|job| job.transfer.id == id)
                {
                    self.data.job = None;
                }
                // The server closed its end: the client sees it break.
                if let Some((op, _)) = self.data.client_op.take() {
                    self.data.client_tls = None;
                    self.client
                        .handle_data_failed(op, io::ErrorKind::ConnectionAborted, self.now);
                }
            }
            server::Action::CloseData => {
                self.data.server_listener = None;
            }
            server::Action::StartControlTls => self.server_wants_tls = true,
            server::Action::CancelRequest { id } => {
                self.held.retain(|(held, _)| *held != id);
            }
            server::Action::Close => self.server_closed = true,
        }
    }

    fn port(&mut self) -> u16 {
        self.next_port = self.next_port.checked_add(1).unwrap_or(50001);
        self.next_port
    }

    /// Answers one storage request from the tree and remembers the requests that open
    /// transfers.
    fn answer(&mut self, id: RequestId, request: &Request) {
        let response = self.fs.answer(request);
        if let Response::Opened { unique_name, .. } = &response {
            self.opened
                .insert(id, (request.clone(), unique_name.clone()));
        }
        self.server.handle_response(id, response, self.now);
    }

    // ----- Transfers -----

    fn run_job_if_ready(&mut self) {
        if self.hold_transfers || self.data.client_op.is_none() {
            return;
        }
        if let Some(job) = self.data.job.take() {
            self.run_job(job);
        }
    }

    /// Moves a transfer's bytes and reports its end to both sides.
    fn run_job(&mut self, job: Job) {
        let Some((op, kind)) = self.data.client_op else {
            // The client is gone (it closed its end): the server's writes fail.
            self.server.handle_data_event(
                DataEvent::Failed {
                    id: job.transfer.id,
                    reason: DataFailure::ConnectionLost,
                },
                self.now,
            );
            return;
        };
        let id = job.transfer.id;
        let drop_after = self.drop_data_after.take();
        let (moved, total) = match job.transfer.direction {
            Direction::Send => {
                let mut payload = match (&job.request, &job.transfer.content) {
                    (Request::OpenRead { path, offset }, TransferContent::File) => {
                        self.fs.read(path, *offset)
                    }
                    (Request::OpenListing { path, .. }, TransferContent::Listing(format)) => {
                        self.fs.listing(path, format)
                    }
                    other => panic!("a send transfer for {other:?}"),
                };
                if job.transfer.ascii {
                    payload = to_crlf(&payload);
                }
                let sent = &payload[..drop_after.unwrap_or(usize::MAX).min(payload.len())];
                match kind {
                    TransferKind::Listing => {
                        for piece in sent.chunks(self.chunk.max(1)) {
                            self.client.handle_data_input(op, piece, self.now);
                        }
                    }
                    TransferKind::Download => {
                        self.downloads
                            .entry(op)
                            .or_default()
                            .extend_from_slice(sent);
                    }
                    TransferKind::Upload => panic!("the server sends on an upload's connection"),
                }
                (sent.len(), payload.len())
            }
            Direction::Receive => {
                assert_eq!(kind, TransferKind::Upload, "the server receives a download");
                let upload = self.uploads.remove(&op).unwrap_or_default();
                let sent = &upload[..drop_after.unwrap_or(usize::MAX).min(upload.len())];
                let stored = if job.transfer.ascii {
                    from_crlf(sent)
                } else {
                    sent.to_vec()
                };
                let Request::OpenWrite { path, mode } = &job.request else {
                    panic!("a receive transfer for {:?}", job.request);
                };
                let path = job.unique_name.clone().unwrap_or_else(|| path.clone());
                self.staged = Some(Staged {
                    id,
                    path,
                    mode: *mode,
                    data: stored,
                });
                (sent.len(), upload.len())
            }
        };
        self.data.client_op = None;
        self.data.server_listener = None;
        let clean = !job.transfer.tls || self.close_notify;
        if drop_after.is_some_and(|after| after < total) {
            // A broken upload leaves what arrived, as a disk would.
            if let Some(staged) = self.staged.take() {
                // The NUL padding bound is the only way a write fails: then nothing
                // arrived worth keeping.
                let _ = self.fs.write(&staged.path, staged.mode, &staged.data);
            }
            self.client
                .handle_data_failed(op, io::ErrorKind::ConnectionReset, self.now);
            self.server.handle_data_event(
                DataEvent::Failed {
                    id,
                    reason: DataFailure::ConnectionLost,
                },
                self.now,
            );
            return;
        }
        let bytes = moved as u64;
        // The server hears of the end of data: an upload's with `Received` (the session
        // then asks for the commit, and `Finished` follows it), a download's with
        // `Finished`.
        let server_event = match job.transfer.direction {
            Direction::Receive => DataEvent::Received { id, bytes, clean },
            Direction::Send => DataEvent::Finished { id, bytes },
        };
        match self.order {
            FinalOrder::DataEndFirst => {
                self.client_data_end(op, kind, clean);
                self.server.handle_data_event(server_event, self.now);
            }
            FinalOrder::ReplyFirst => {
                self.server.handle_data_event(server_event, self.now);
                self.deferred_ends.push((op, kind, clean));
            }
        }
    }

    /// Tells the client its data connection ended; a download's end without
    /// `close_notify` is reported as such (an upload's end is the client's own close).
    fn client_data_end(&mut self, op: OperationId, kind: TransferKind, clean: bool) {
        if !clean && kind != TransferKind::Upload {
            self.client
                .handle_data_end_without_close_notify(op, self.now);
        } else {
            self.client.handle_data_end(op, self.now);
        }
    }
}

/// `\n` to CRLF, as a server sends in `TYPE A`.
fn to_crlf(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    for (index, &byte) in bytes.iter().enumerate() {
        if byte == b'\n' && (index == 0 || bytes[index - 1] != b'\r') {
            out.push(b'\r');
        }
        out.push(byte);
    }
    out
}

/// CRLF to `\n`, as a server stores in `TYPE A`.
fn from_crlf(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    for (index, &byte) in bytes.iter().enumerate() {
        if byte == b'\r' && bytes.get(index + 1) == Some(&b'\n') {
            continue;
        }
        out.push(byte);
    }
    out
}

/// The reply code behind an operation's result, if there is one: the final reply of a
/// success, or the reply that refused it.
pub fn reply_code(result: &Result<Outcome, client::Error>) -> Option<u16> {
    match result {
        Ok(Outcome::Done(reply) | Outcome::LoggedIn(reply) | Outcome::Greeting(reply)) => {
            Some(reply.code().as_u16())
        }
        Ok(Outcome::Transferred { reply, .. }) => Some(reply.code().as_u16()),
        Ok(Outcome::Closed { reply }) => reply.as_ref().map(|reply| reply.code().as_u16()),
        Ok(_) => None,
        Err(error) => error.reply().map(|reply| reply.code().as_u16()),
    }
}
