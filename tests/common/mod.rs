//! Test harness: an in-memory file tree that answers a `server::Session`'s requests, and
//! a driver that feeds the session and collects its replies, with no socket.
#![allow(dead_code)]

#[cfg(feature = "tokio")]
pub mod example;
pub mod pair;
#[cfg(feature = "tokio")]
pub mod peers;
#[cfg(feature = "tokio")]
pub mod raw;
#[cfg(feature = "tokio")]
pub mod scenarios;

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ftp_proto::server::{
    Action, ChannelId, Config, DataEvent, Direction, Event, FileKind, Metadata, MoreEntries,
    Output, Request, RequestId, Response, Session, StorageError, Transfer, VirtualPath, WriteMode,
};
use ftp_proto::{Reply, ReplyCode, ReplyParser, Text};

/// A file tree in memory: paths (virtual, absolute) to nodes.
#[derive(Clone, Debug, Default)]
pub struct MemoryFs {
    pub nodes: BTreeMap<Vec<u8>, Node>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Node {
    Directory,
    File { data: Vec<u8>, modified: SystemTime },
}

pub const MODIFIED: u64 = 1_700_000_000;

impl MemoryFs {
    pub fn new() -> MemoryFs {
        let mut fs = MemoryFs::default();
        fs.nodes.insert(b"/".to_vec(), Node::Directory);
        fs
    }

    pub fn with_file(mut self, path: &str, data: &[u8]) -> MemoryFs {
        self.nodes.insert(
            path.as_bytes().to_vec(),
            Node::File {
                data: data.to_vec(),
                modified: UNIX_EPOCH + Duration::from_secs(MODIFIED),
            },
        );
        self
    }

    pub fn with_dir(mut self, path: &str) -> MemoryFs {
        self.nodes.insert(path.as_bytes().to_vec(), Node::Directory);
        self
    }

    pub fn file(&self, path: &str) -> Option<&[u8]> {
        match self.nodes.get(path.as_bytes()) {
            Some(Node::File { data, .. }) => Some(data),
            _ => None,
        }
    }

    fn metadata(&self, path: &VirtualPath) -> Result<Metadata, StorageError> {
        match self.nodes.get(path.as_bytes()) {
            Some(Node::Directory) => Ok(Metadata::directory(None)),
            Some(Node::File { data, modified }) => {
                Ok(Metadata::file(data.len() as u64, Some(*modified)).with_mode(0o644))
            }
            None => Err(StorageError::NotFound),
        }
    }

    fn parent_is_directory(&self, path: &VirtualPath) -> bool {
        matches!(
            self.nodes.get(path.parent().as_bytes()),
            Some(Node::Directory)
        )
    }

    fn children(&self, path: &VirtualPath) -> Vec<(Text<'static>, Metadata)> {
        let prefix = if path.is_root() {
            b"/".to_vec()
        } else {
            [path.as_bytes(), b"/"].concat()
        };
        self.nodes
            .iter()
            .filter(|(key, _)| key.starts_with(&prefix) && key.len() > prefix.len())
            .filter(|(key, _)| !key[prefix.len()..].contains(&b'/'))
            .map(|(key, _)| {
                let child = VirtualPath::root()
                    .join(&ftp_proto::Pathname::borrowed(key))
                    .unwrap();
                (
                    Text::from(key[prefix.len()..].to_vec()),
                    self.metadata(&child).unwrap(),
                )
            })
            .collect()
    }

    /// Answers one request the way a simple, correct storage back end would.
    pub fn answer(&mut self, request: &Request) -> Response {
        let result = match request {
            Request::Authenticate { user, password } => {
                return match (user.as_bytes(), password.0.as_bytes()) {
                    (b"anonymous", _) => Response::LoggedIn { writable: false },
                    (b"alice", b"secret") => Response::LoggedIn { writable: true },
                    _ => Response::LoginDenied,
                };
            }
            Request::SelectHost { host } if host == "ftp.example.com" => Ok(Response::Done),
            Request::SelectHost { .. } => Err(StorageError::NotFound),
            Request::Metadata { path } => self.metadata(path).map(Response::Metadata),
            Request::ListEntries { path, limit } => match self.metadata(path) {
                Ok(metadata) if metadata.kind == FileKind::Directory => {
                    // Cut at the limit, and say exactly how many more: this back end
                    // has them all at hand.
                    let mut entries = self.children(path);
                    let more = entries.len().saturating_sub(*limit);
                    entries.truncate(*limit);
                    Ok(Response::Entries {
                        entries,
                        now: UNIX_EPOCH + Duration::from_secs(MODIFIED + 3600),
                        more: match more {
                            0 => MoreEntries::None,
                            more => MoreEntries::Count(more as u64),
                        },
                    })
                }
                Ok(_) => Err(StorageError::NotADirectory),
                Err(error) => Err(error),
            },
            Request::OpenListing { path, .. } => self.metadata(path).map(|_| Response::Opened {
                size: None,
                unique_name: None,
            }),
            Request::OpenRead { path, offset } => match self.metadata(path) {
                Ok(metadata) if metadata.kind == FileKind::File => Ok(Response::Opened {
                    size: Some(metadata.size.saturating_sub(*offset)),
                    unique_name: None,
                }),
                Ok(_) => Err(StorageError::IsADirectory),
                Err(error) => Err(error),
            },
            Request::OpenWrite { path, mode } => {
                if !self.parent_is_directory(path) {
                    Err(StorageError::NotFound)
                } else if matches!(self.nodes.get(path.as_bytes()), Some(Node::Directory)) {
                    Err(StorageError::IsADirectory)
                } else if *mode == WriteMode::Unique {
                    let mut candidate = path.clone();
                    let mut counter = 1;
                    while self.nodes.contains_key(candidate.as_bytes()) {
                        let name = format!("{}.{counter}", path);
                        candidate = VirtualPath::root().join(&name.as_str().into()).unwrap();
                        counter += 1;
                    }
                    Ok(Response::Opened {
                        size: None,
                        unique_name: Some(candidate),
                    })
                } else {
                    Ok(Response::Opened {
                        size: None,
                        unique_name: None,
                    })
                }
            }
            Request::Delete { path } => match self.nodes.get(path.as_bytes()) {
                Some(Node::File { .. }) => {
                    self.nodes.remove(path.as_bytes());
                    Ok(Response::Done)
                }
                Some(Node::Directory) => Err(StorageError::IsADirectory),
                None => Err(StorageError::NotFound),
            },
            Request::MakeDirectory { path } => {
                if self.nodes.contains_key(path.as_bytes()) {
                    Err(StorageError::AlreadyExists)
                } else if !self.parent_is_directory(path) {
                    Err(StorageError::NotFound)
                } else {
                    self.nodes.insert(path.as_bytes().to_vec(), Node::Directory);
                    Ok(Response::Done)
                }
            }
            Request::RemoveDirectory { path } => match self.nodes.get(path.as_bytes()) {
                Some(Node::Directory) if path.is_root() => Err(StorageError::PermissionDenied),
                Some(Node::Directory) if !self.children(path).is_empty() => {
                    Err(StorageError::DirectoryNotEmpty)
                }
                Some(Node::Directory) => {
                    self.nodes.remove(path.as_bytes());
                    Ok(Response::Done)
                }
                Some(_) => Err(StorageError::NotADirectory),
                None => Err(StorageError::NotFound),
            },
            Request::Rename { from, to } => match self.nodes.remove(from.as_bytes()) {
                Some(node) => {
                    self.nodes.insert(to.as_bytes().to_vec(), node);
                    Ok(Response::Done)
                }
                None => Err(StorageError::NotFound),
            },
            Request::SetModified { path, modified } => match self.nodes.get_mut(path.as_bytes()) {
                Some(Node::File { modified: old, .. }) => {
                    *old = *modified;
                    Ok(Response::Done)
                }
                Some(_) => Err(StorageError::IsADirectory),
                None => Err(StorageError::NotFound),
            },
            Request::Site { command } => Ok(Response::Reply(Reply::new(
                ReplyCode::COMMAND_OKAY,
                format!("SITE {command} done"),
            ))),
            other => panic!("unexpected request {other:?}"),
        };
        result.unwrap_or_else(Response::Failed)
    }
}

/// How the driver answers data-side actions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataMode {
    /// Listeners open at once; a client connects to one once a transfer waits for it;
    /// active connects succeed at once; transfers finish at once.
    Automatic,
    /// Data-side actions are only recorded; the test reports events itself.
    Manual,
}

/// Drives a session against a `MemoryFs`, collecting replies and events.
pub struct ServerDriver {
    pub session: Session,
    pub fs: MemoryFs,
    pub now: Instant,
    pub data_mode: DataMode,
    /// Replies received so far, not yet taken by `replies()`.
    replies: VecDeque<Reply<'static>>,
    wire: Vec<u8>,
    parser: ReplyParser,
    /// Every action, in order.
    pub actions: Vec<Action>,
    /// Every event, in order.
    pub events: Vec<Event>,
    /// The last passive listener asked for.
    pub channel: Option<ChannelId>,
    /// Automatic mode: a file or listing was opened, so the client connects.
    awaiting_connection: bool,
    /// Requests seen, in order (answered automatically unless `hold_requests`).
    pub requests: Vec<Request>,
    pub hold_requests: bool,
    pub held: VecDeque<(RequestId, Request)>,
    /// Bytes "uploaded" by the next automatic receive.
    pub upload: Vec<u8>,
    pub passive_port: u16,
}

pub const CLIENT: &str = "127.0.0.1:40000";
pub const SERVER: &str = "127.0.0.1:21";

impl ServerDriver {
    pub fn new(config: Config, fs: MemoryFs) -> ServerDriver {
        let now = Instant::now();
        let session = Session::new(
            config,
            CLIENT.parse().unwrap(),
            SERVER.parse().unwrap(),
            now,
        );
        let mut driver = ServerDriver {
            session,
            fs,
            now,
            data_mode: DataMode::Automatic,
            replies: VecDeque::new(),
            wire: Vec::new(),
            parser: ReplyParser::new(),
            actions: Vec::new(),
            events: Vec::new(),
            channel: None,
            awaiting_connection: false,
            requests: Vec::new(),
            hold_requests: false,
            held: VecDeque::new(),
            upload: Vec::new(),
            passive_port: 50000,
        };
        driver.drain();
        driver
    }

    pub fn default_fs() -> MemoryFs {
        MemoryFs::new()
            .with_dir("/pub")
            .with_file("/pub/hello.txt", b"hello\nworld\n")
            .with_file("/readme", b"read me")
    }

    pub fn logged_in(config: Config, user: &str, password: &str) -> ServerDriver {
        let mut driver = ServerDriver::new(config, Self::default_fs());
        driver.take_replies();
        driver.send(&format!("USER {user}\r\nPASS {password}\r\n"));
        let codes = driver.codes();
        assert_eq!(codes, [331, 230], "login");
        driver
    }

    /// Sends raw bytes at the driver's current time and processes everything.
    pub fn send_bytes(&mut self, bytes: &[u8]) {
        self.session.handle_control_input(bytes, self.now);
        self.drain();
    }

    pub fn send(&mut self, text: &str) {
        self.send_bytes(text.as_bytes());
    }

    /// Sends one command line and returns the codes of the replies it produced.
    pub fn command(&mut self, line: &str) -> Vec<u16> {
        self.send(&format!("{line}\r\n"));
        self.codes()
    }

    pub fn advance(&mut self, by: Duration) {
        self.now += by;
        self.session.handle_timeout(self.now);
        self.drain();
    }

    pub fn data_event(&mut self, event: DataEvent) {
        self.session.handle_data_event(event, self.now);
        self.drain();
    }

    pub fn respond(&mut self, id: RequestId, response: Response) {
        if matches!(response, Response::Opened { .. }) {
            self.awaiting_connection = true;
        }
        self.session.handle_response(id, response, self.now);
        self.drain();
    }

    /// Reports the last listener asked for as open at 127.0.0.1:50000.
    pub fn listening(&mut self) {
        let channel = self.channel.expect("no listener was asked for");
        let address = "127.0.0.1:50000".parse().unwrap();
        self.data_event(DataEvent::Listening { channel, address });
    }

    /// Reports a connection from `peer` accepted on the last listener asked for.
    pub fn accept(&mut self, peer: &str) {
        let channel = self.channel.expect("no listener was asked for");
        let peer = peer.parse().unwrap();
        self.data_event(DataEvent::Accepted { channel, peer });
    }

    /// The id of the last transfer the session named in an action.
    pub fn transfer_id(&self) -> Option<RequestId> {
        self.actions.iter().rev().find_map(|action| match action {
            Action::StartTransfer(transfer) => Some(transfer.id),
            Action::ConnectActive { id, .. } | Action::SecureData { id } => Some(*id),
            _ => None,
        })
    }

    /// The transfer the session started last.
    pub fn started_transfer(&self) -> Option<Transfer> {
        self.actions.iter().rev().find_map(|action| match action {
            Action::StartTransfer(transfer) => Some(transfer.clone()),
            _ => None,
        })
    }

    /// Drains every output until the session is quiet, answering as configured.
    pub fn drain(&mut self) {
        loop {
            while let Some(output) = self.session.poll_output() {
                self.handle_output(output);
            }
            // Automatic mode: the client connects to the listener once a transfer
            // waits for it (so that the reply is 150, as with a real client).
            if self.data_mode == DataMode::Automatic && self.awaiting_connection {
                self.awaiting_connection = false;
                if let Some(channel) = self.channel.take() {
                    let peer = CLIENT.parse().unwrap();
                    self.session
                        .handle_data_event(DataEvent::Accepted { channel, peer }, self.now);
                    continue;
                }
            }
            break;
        }
        loop {
            let parsed = self.parser.parse(&self.wire);
            let item = parsed.item.map(|item| item.map(Reply::into_owned));
            self.wire.drain(..parsed.consumed);
            match item {
                Some(Ok(reply)) => self.replies.push_back(reply),
                Some(Err(error)) => panic!("server sent a malformed reply: {error}"),
                None => break,
            }
        }
    }

    fn handle_output(&mut self, output: Output) {
        match output {
            Output::Transmit(bytes) => self.wire.extend_from_slice(&bytes),
            Output::Request { id, request } => {
                self.requests.push(request.clone());
                if self.hold_requests {
                    self.held.push_back((id, request));
                } else {
                    let response = self.fs.answer(&request);
                    if matches!(response, Response::Opened { .. }) {
                        self.awaiting_connection = true;
                    }
                    self.session.handle_response(id, response, self.now);
                }
            }
            Output::Event(event) => self.events.push(event),
            Output::Action(action) => {
                let automatic = self.data_mode == DataMode::Automatic;
                match &action {
                    Action::ListenPassive { channel, .. } => {
                        self.channel = Some(*channel);
                        if automatic {
                            let address: SocketAddr =
                                format!("127.0.0.1:{}", self.passive_port).parse().unwrap();
                            let channel = *channel;
                            self.session.handle_data_event(
                                DataEvent::Listening { channel, address },
                                self.now,
                            );
                        }
                    }
                    Action::ConnectActive { id, .. } if automatic => {
                        self.session
                            .handle_data_event(DataEvent::Connected { id: *id }, self.now);
                    }
                    Action::StartTransfer(transfer) if automatic => self.run_transfer(transfer),
                    Action::CommitUpload { id } if automatic => {
                        let bytes = self.upload.len() as u64;
                        self.session
                            .handle_data_event(DataEvent::Finished { id: *id, bytes }, self.now);
                    }
                    _ => {}
                }
                self.actions.push(action);
            }
        }
    }

    fn run_transfer(&mut self, transfer: &Transfer) {
        // Only uploads move bytes the test chose; a download's size is not checked here.
        // An upload asks the session before it commits (`CommitUpload`, above).
        let event = match transfer.direction {
            Direction::Receive => DataEvent::Received {
                id: transfer.id,
                bytes: self.upload.len() as u64,
                clean: true,
            },
            Direction::Send => DataEvent::Finished {
                id: transfer.id,
                bytes: 0,
            },
        };
        self.session.handle_data_event(event, self.now);
    }

    /// Replies received since the last call.
    pub fn take_replies(&mut self) -> Vec<Reply<'static>> {
        self.replies.drain(..).collect()
    }

    pub fn codes(&mut self) -> Vec<u16> {
        self.take_replies()
            .iter()
            .map(|reply| reply.code().as_u16())
            .collect()
    }

    /// The single reply received since the last call.
    pub fn reply(&mut self) -> Reply<'static> {
        let mut replies = self.take_replies();
        assert_eq!(replies.len(), 1, "expected one reply, got {replies:?}");
        replies.remove(0)
    }

    pub fn last_request(&self) -> &Request {
        self.requests.last().expect("no request was made")
    }
}
