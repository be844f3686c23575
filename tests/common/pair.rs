//! An in-memory pair: a `client::Session` wired to a `server::Session` and a `MemoryFs`,
//! with no socket and no clock (quinn's `Pair`, str0m's `progress`).
//!
//! The harness plays both adapters: it moves control bytes both ways, answers the
//! server's requests from the `MemoryFs`, fakes the data connections (passive and
//! active) and moves the bytes of transfers between per-operation client buffers and
//! the tree. `run_until_quiet` steps both sides until neither has anything to say;
//! time only moves when a test calls `advance`.
//!
//! Faults a test can inject: drop the data connection after N bytes, deliver the final
//! reply before or after the end of data, hold the server's replies or the storage's
//! answers, refuse a verb with 502 (a proxy in front of the server), refuse data
//! connections, hold a transfer so that it can be aborted midway.
//!
//! What the harness decides itself (documented so that tests and the model agree):
//! - upload and download buffers hold the bytes as the data connection carries them:
//!   no client-side line-end conversion (the server converts in `TYPE A`);
//! - `REST n` + `STOR` writes from byte `n`, keeps what lies beyond the new bytes and
//!   pads with NUL when `n` is past the end (a sparse file);
//! - a broken upload leaves the bytes received so far in the file, as a disk would;
//! - renames are carried out here, not by `MemoryFs` (which moves a directory's node but
//!   not its children): the whole subtree moves, an existing file is replaced, an
//!   existing directory is refused (550), moving `/` is refused (550) and moving a
//!   directory into itself is refused (553).
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ftp_proto::client::{self, Action, OperationId, Outcome, TransferKind};
use ftp_proto::server::{
    self, DataEvent, DataFailure, Direction, FileKind, ListingFormat, Metadata, Request, RequestId,
    Response, StorageError, Transfer, TransferContent, VirtualPath, WriteMode,
};
use ftp_proto::{Pathname, Text};

use super::{MODIFIED, MemoryFs, Node};

/// The wall-clock time the harness pretends it is (one hour after `MemoryFs`'s files
/// were modified): listings are formatted and parsed against it.
pub fn wall_clock() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(MODIFIED + 3600)
}

/// In which order a finished transfer reaches the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FinalOrder {
    /// The data connection ends, then the final reply (226) arrives: what a server that
    /// closes before it replies looks like.
    DataEndFirst,
    /// The final reply arrives first, the end of data after it (a slow data path).
    ReplyFirst,
}

/// A transfer the server asked for, waiting to be run.
#[derive(Clone, Debug)]
struct Job {
    transfer: Transfer,
    request: Request,
    unique_name: Option<VirtualPath>,
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
}

/// The pair and its wires.
pub struct Pair {
    pub client: client::Session,
    pub server: server::Session,
    pub fs: MemoryFs,
    pub now: Instant,
    start: Instant,
    client_addr: SocketAddr,
    server_addr: SocketAddr,
    next_port: u16,
    to_server: Vec<u8>,
    to_client: Vec<u8>,
    /// Client bytes not yet split into lines, when `refuse` is in use.
    partial_line: Vec<u8>,
    data: DataLink,
    /// Client data ends to deliver after the control bytes now in flight.
    deferred_ends: Vec<OperationId>,
    /// Requests that opened a transfer, by id, with the STOU name chosen.
    opened: HashMap<RequestId, (Request, Option<VirtualPath>)>,
    server_closed: bool,
    client_told_closed: bool,
    client_closed_control: bool,

    // ----- Knobs -----
    /// Hold the server's replies (they pile up until this is cleared).
    pub hold_replies: bool,
    /// Hold the storage's answers in `held` until `release_requests`.
    pub hold_requests: bool,
    pub held: VecDeque<(RequestId, Request)>,
    /// Hold every transfer the server starts until `run_transfer` (to abort it midway).
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
}

pub const CLIENT_V4: &str = "127.0.0.1:40000";
pub const SERVER_V4: &str = "127.0.0.1:21";
pub const CLIENT_V6: &str = "[::1]:40000";
pub const SERVER_V6: &str = "[::1]:21";

impl Pair {
    /// A pair over IPv4 with default configurations.
    pub fn new(fs: MemoryFs) -> Pair {
        Pair::with_configs(client::Config::default(), server::Config::default(), fs)
    }

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
        let client_addr: SocketAddr = client_addr.parse().unwrap();
        let server_addr: SocketAddr = server_addr.parse().unwrap();
        let mut pair = Pair {
            client: client::Session::new(client_config, server_addr, now),
            server: server::Session::new(server_config, client_addr, server_addr, now),
            fs,
            now,
            start: now,
            client_addr,
            server_addr,
            next_port: 50000,
            to_server: Vec::new(),
            to_client: Vec::new(),
            partial_line: Vec::new(),
            data: DataLink::default(),
            deferred_ends: Vec::new(),
            opened: HashMap::new(),
            server_closed: false,
            client_told_closed: false,
            client_closed_control: false,
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
        };
        pair.run_until_quiet();
        let greeting = pair.take(OperationId::GREETING);
        assert!(
            matches!(greeting, Some(Ok(Outcome::Greeting(_)))),
            "{greeting:?}"
        );
        pair
    }

    /// The tree every test starts from unless it says otherwise.
    pub fn default_fs() -> MemoryFs {
        MemoryFs::new()
            .with_dir("/pub")
            .with_file("/pub/hello.txt", b"hello\nworld\n")
            .with_file("/readme", b"read me")
    }

    /// A pair logged in as the writable user `alice`, with the server's features known.
    pub fn logged_in(fs: MemoryFs) -> Pair {
        Pair::logged_in_with(client::Config::default(), server::Config::default(), fs)
    }

    pub fn logged_in_with(
        client_config: client::Config,
        server_config: server::Config,
        fs: MemoryFs,
    ) -> Pair {
        let mut pair = Pair::with_configs(client_config, server_config, fs);
        pair.login("alice", "secret").expect("login");
        pair.run(|c, now| c.features(now)).expect("features");
        pair
    }

    // ----- Running operations -----

    /// Submits an operation, steps until quiet and returns its result. Panics if the
    /// operation did not complete (use `start` and `result` for those that wait on time).
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
    pub fn start(
        &mut self,
        operation: impl FnOnce(&mut client::Session, Instant) -> Result<OperationId, client::Error>,
    ) -> OperationId {
        operation(&mut self.client, self.now).expect("operation refused up front")
    }

    /// Submits an upload with these bytes, without stepping.
    pub fn start_upload(
        &mut self,
        data: &[u8],
        operation: impl FnOnce(&mut client::Session, Instant) -> Result<OperationId, client::Error>,
    ) -> OperationId {
        let id = self.start(operation);
        self.uploads.insert(id, data.to_vec());
        id
    }

    /// Runs an upload with these bytes.
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

    /// Runs a download and returns the bytes it received, with its result.
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

    pub fn login(&mut self, user: &str, password: &str) -> Result<Outcome, client::Error> {
        self.run(|c, now| c.login(user, password, now))
    }

    /// The listing bytes of a LIST, NLST or MLSD operation.
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

    pub fn is_complete(&self, id: OperationId) -> bool {
        self.completed.contains(&id)
    }

    // ----- Time and faults -----

    /// Lets time pass, tells both sides, and steps until quiet.
    pub fn advance(&mut self, by: Duration) {
        self.now += by;
        self.client.handle_timeout(self.now);
        self.server.handle_timeout(self.now);
        self.run_until_quiet();
    }

    /// The earliest deadline of either side.
    pub fn next_deadline(&self) -> Option<Instant> {
        [self.client.poll_timeout(), self.server.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
    }

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

    /// Runs the held transfer, if any.
    pub fn run_transfer(&mut self) {
        if let Some(job) = self.data.job.take() {
            self.run_job(job);
        }
        self.run_until_quiet();
    }

    /// Whether a transfer is held, waiting for `run_transfer`.
    pub fn transfer_held(&self) -> bool {
        self.data.job.is_some()
    }

    /// Control bytes the server sent that the client has not received yet.
    pub fn replies_in_flight(&self) -> &[u8] {
        &self.to_client
    }

    /// Everything the client sent, as one string (lossy).
    pub fn client_wire(&self) -> String {
        String::from_utf8_lossy(&self.client_sent.concat()).into_owned()
    }

    pub fn server_is_closed(&self) -> bool {
        self.server_closed
    }

    /// The time the pair pretends the wall clock shows now.
    pub fn wall(&self) -> SystemTime {
        wall_clock() + (self.now - self.start)
    }

    // ----- The loop -----

    /// Steps both sessions until neither produces anything and no byte is in flight.
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
            for id in std::mem::take(&mut self.deferred_ends) {
                progressed = true;
                self.client.handle_data_end(id, self.now);
            }
            if self.server_closed && !self.client_told_closed {
                progressed = true;
                self.client_told_closed = true;
                self.client.handle_control_closed(self.now);
            }
        }
        progressed
    }

    fn drain_client(&mut self) -> bool {
        let mut progressed = false;
        loop {
            let mut any = false;
            while let Some(output) = self.client.poll_output() {
                any = true;
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
            if !any {
                return progressed;
            }
            progressed = true;
        }
    }

    fn drain_server(&mut self) -> bool {
        let mut progressed = false;
        loop {
            let mut any = false;
            while let Some(output) = self.server.poll_output() {
                any = true;
                self.on_server_output(output);
            }
            if !any {
                return progressed;
            }
            progressed = true;
        }
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
            other => panic!("unknown client event {other:?}"),
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
            Action::StartDataTls { id } => self.client.handle_data_tls_established(id, self.now),
            Action::CloseData { id } => {
                if self
                    .data
                    .client_listener
                    .is_some_and(|(listener, ..)| listener == id)
                {
                    self.data.client_listener = None;
                }
                if self.data.client_op.is_some_and(|(op, _)| op == id) {
                    self.data.client_op = None;
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
            Action::StartControlTls => panic!("the pair does not simulate TLS"),
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
                    self.client.handle_data_connected(op, self.now);
                }
                other => {
                    self.data.client_listener = other;
                    self.server
                        .handle_data_event(DataEvent::ConnectFailed { id }, self.now);
                }
            },
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
            server::Action::AbortTransfer { id } => {
                self.opened.remove(&id);
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
                    self.client
                        .handle_data_failed(op, io::ErrorKind::ConnectionAborted, self.now);
                }
            }
            server::Action::CloseData => {
                self.data.server_listener = None;
            }
            // The pair's storage is synchronous: an upload is committed with its end.
            server::Action::CommitUpload { .. } | server::Action::CancelRequest { .. } => {}
            server::Action::Close => self.server_closed = true,
            server::Action::SecureData { .. } | server::Action::StartControlTls => {
                panic!("the pair does not simulate TLS")
            }
        }
    }

    fn port(&mut self) -> u16 {
        self.next_port += 1;
        self.next_port
    }

    // ----- Storage -----

    /// Answers one storage request from the tree (renames are done here, see the module
    /// docs) and remembers the requests that open transfers.
    fn answer(&mut self, id: RequestId, request: &Request) {
        let response = match request {
            Request::Rename { from, to } => self.rename(from, to),
            _ => self.fs.answer(request),
        };
        if let Response::Opened { unique_name, .. } = &response {
            self.opened
                .insert(id, (request.clone(), unique_name.clone()));
        }
        self.server.handle_response(id, response, self.now);
    }

    fn rename(&mut self, from: &VirtualPath, to: &VirtualPath) -> Response {
        let Some(node) = self.fs.nodes.get(from.as_bytes()).cloned() else {
            return Response::Failed(StorageError::NotFound);
        };
        if from.is_root() {
            return Response::Failed(StorageError::PermissionDenied);
        }
        if from == to {
            return Response::Done;
        }
        let inside = [from.as_bytes(), b"/"].concat();
        if to.as_bytes().starts_with(&inside) {
            return Response::Failed(StorageError::InvalidName);
        }
        if !matches!(
            self.fs.nodes.get(to.parent().as_bytes()),
            Some(Node::Directory)
        ) {
            return Response::Failed(StorageError::NotFound);
        }
        match (self.fs.nodes.get(to.as_bytes()), &node) {
            (Some(Node::Directory), _) => return Response::Failed(StorageError::AlreadyExists),
            (Some(Node::File { .. }), Node::Directory) => {
                return Response::Failed(StorageError::NotADirectory);
            }
            _ => {}
        }
        let moved: Vec<Vec<u8>> = self
            .fs
            .nodes
            .keys()
            .filter(|key| key.as_slice() == from.as_bytes() || key.starts_with(&inside))
            .cloned()
            .collect();
        for key in moved {
            let node = self.fs.nodes.remove(&key).unwrap();
            let new_key = [to.as_bytes(), &key[from.as_bytes().len()..]].concat();
            self.fs.nodes.insert(new_key, node);
        }
        Response::Done
    }

    fn metadata(&mut self, path: &VirtualPath) -> Option<Metadata> {
        match self.fs.answer(&Request::Metadata { path: path.clone() }) {
            Response::Metadata(metadata) => Some(metadata),
            _ => None,
        }
    }

    /// The listing the server sends for `path` in `format`.
    fn listing_bytes(&mut self, path: &VirtualPath, format: &ListingFormat) -> Vec<u8> {
        let entries = match self.fs.answer(&Request::ListEntries {
            path: path.clone(),
            limit: usize::MAX,
        }) {
            Response::Entries { entries, .. } => entries,
            // A file lists as itself.
            _ => match self.metadata(path) {
                Some(metadata) if metadata.kind != FileKind::Directory => vec![(
                    Text::from(path.file_name().unwrap_or_default().to_vec()),
                    metadata,
                )],
                _ => Vec::new(),
            },
        };
        let mut out = Vec::new();
        for (name, metadata) in &entries {
            server::format_entry(format, name.as_bytes(), metadata, wall_clock(), &mut out);
        }
        out
    }

    fn write_file(&mut self, path: &VirtualPath, mode: WriteMode, data: &[u8]) {
        let modified = self.wall();
        let key = path.as_bytes().to_vec();
        let old = match self.fs.nodes.get(&key) {
            Some(Node::File { data, .. }) => data.clone(),
            _ => Vec::new(),
        };
        let new = match mode {
            WriteMode::Append => [old.as_slice(), data].concat(),
            WriteMode::At(offset) => {
                let offset = usize::try_from(offset).unwrap();
                let mut new = old;
                if new.len() < offset + data.len() {
                    new.resize(offset + data.len(), 0);
                }
                new[offset..offset + data.len()].copy_from_slice(data);
                new
            }
            _ => data.to_vec(),
        };
        self.fs.nodes.insert(
            key,
            Node::File {
                data: new,
                modified,
            },
        );
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
                        let data = match self.fs.nodes.get(path.as_bytes()) {
                            Some(Node::File { data, .. }) => data.as_slice(),
                            _ => &[],
                        };
                        let offset = usize::try_from(*offset).unwrap().min(data.len());
                        data[offset..].to_vec()
                    }
                    (Request::OpenListing { path, .. }, TransferContent::Listing(format)) => {
                        self.listing_bytes(path, format)
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
                self.write_file(&path, *mode, &stored);
                (sent.len(), upload.len())
            }
        };
        self.data.client_op = None;
        self.data.server_listener = None;
        if drop_after.is_some_and(|after| after < total) {
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
        if job.transfer.direction == Direction::Receive {
            // The client's end of data was clean; the session asks for the commit, and
            // the pair's storage has the bytes already.
            self.server.handle_data_event(
                DataEvent::Received {
                    id,
                    bytes,
                    clean: true,
                },
                self.now,
            );
        }
        match self.order {
            FinalOrder::DataEndFirst => {
                self.client.handle_data_end(op, self.now);
                self.server
                    .handle_data_event(DataEvent::Finished { id, bytes }, self.now);
            }
            FinalOrder::ReplyFirst => {
                self.server
                    .handle_data_event(DataEvent::Finished { id, bytes }, self.now);
                self.deferred_ends.push(op);
            }
        }
    }
}

/// `\n` to CRLF, as a server sends in `TYPE A`.
pub fn to_crlf(bytes: &[u8]) -> Vec<u8> {
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
pub fn from_crlf(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    for (index, &byte) in bytes.iter().enumerate() {
        if byte == b'\r' && bytes.get(index + 1) == Some(&b'\n') {
            continue;
        }
        out.push(byte);
    }
    out
}

/// A path argument from raw bytes (for names that are not UTF-8).
pub fn path(bytes: &[u8]) -> Pathname<'static> {
    Pathname::from(bytes.to_vec())
}

/// The reply code behind a result, if any.
pub fn code(result: &Result<Outcome, client::Error>) -> Option<u16> {
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
