//! An FTP server over `std::net` and threads, with no async runtime: it drives
//! [`ftp_proto::server::Session`] by the contract in the `server` module's docs and takes
//! no protocol decision of its own (every reply, order and deadline is the session's).
//!
//! ```text
//! cargo run --example blocking_server -- --root /srv/ftp --user alice:secret --writable
//! curl ftp://alice:secret@127.0.0.1:2121/
//! ```
//!
//! One thread per control connection owns its session and waits on one channel for
//! every input: control bytes (from a reader thread), the storage's answers (each
//! request runs on a thread of its own, so a slow disk never stops the session), and
//! data-connection facts (accept, connect and copy threads). Passive and active data
//! connections; no TLS.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use ftp_proto::Text;
use ftp_proto::ascii::{FromNetwork, ToNetwork};
use ftp_proto::server::limits::{Admissions, Limits, Lockouts};
use ftp_proto::server::{
    Action, ChannelId, Config, DataEvent, DataFailure, Direction, Event, FileKind, Metadata,
    MoreEntries, Output, Request, RequestId, Response, Session, StorageError, Transfer,
    TransferContent, VirtualPath, WriteMode, format_entry,
};

const HELP: &str = "\
Serve a directory over FTP, with std threads only.

Usage: blocking_server [OPTIONS]

Options:
  --root DIR             directory to serve (default: the current directory)
  --listen ADDR          address to listen on (default: 127.0.0.1:2121)
  --user NAME:PASS       a user; repeatable. When any user is given, anonymous access
                         is off unless --anonymous is given too
  --anonymous            allow anonymous read-only access (the default with no --user)
  --writable             the --user users may write (default: everyone reads only)
  --idle-timeout SECS    close sessions without a complete command this long
                         (default: 300)
  --login-timeout SECS   close sessions not logged in this long after connecting
                         (default: 60)
  --send-timeout SECS    close a session whose client leaves our replies unread this
                         long (default: 60)
  --data-timeout SECS    abort a transfer whose data connection moves no byte this
                         long (default: 300)
  --data-connect-timeout SECS
                         fail a transfer whose data connection is not made this long
                         (default: 30)
  --storage-timeout SECS fail a command whose file-system call takes this long
                         (default: 120)
  --failed-login-delay SECS
                         delay before answering a failed login, doubled at each
                         further failure of the session (default: 1)
  --max-failed-logins N  failed logins after which a session is closed (default: 3)
  --lockout-after N      failed logins from one address (across its sessions) after
                         which it is locked out; 0 turns lockouts off (default: 10)
  --lockout-seconds SECS how long a lockout lasts (default: 600)
  --max-sessions N       sessions at most in total (default: 512)
  --max-per-ip N         sessions at most from one address (default: 128)
  -h, --help             print this help

SECS may have a fraction (0.5). With --listen 127.0.0.1:0 a free port is picked; the
first line printed says which.";

struct Options {
    root: PathBuf,
    listen: SocketAddr,
    users: Vec<(String, String)>,
    anonymous: bool,
    writable: bool,
    session: Config,
    limits: Limits,
    /// Test-only (undocumented): storage calls on this virtual path never return, as a
    /// hung disk's would.
    hang: Option<Vec<u8>>,
}

fn parse_options(mut args: impl Iterator<Item = String>) -> Result<Option<Options>, String> {
    let mut options = Options {
        root: PathBuf::from("."),
        listen: "127.0.0.1:2121".parse().expect("a valid default address"),
        users: Vec::new(),
        anonymous: false,
        writable: false,
        session: Config::default(),
        limits: Limits::default(),
        hang: None,
    };
    while let Some(flag) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        let config = &mut options.session;
        match flag.as_str() {
            "-h" | "--help" => return Ok(None),
            "--root" => options.root = PathBuf::from(value("--root")?),
            "--listen" => {
                options.listen = value("--listen")?
                    .parse()
                    .map_err(|e| format!("--listen: {e}"))?
            }
            "--user" => {
                let user = value("--user")?;
                let (name, password) = user.split_once(':').ok_or("--user takes NAME:PASS")?;
                options.users.push((name.to_owned(), password.to_owned()));
            }
            "--anonymous" => options.anonymous = true,
            "--writable" => options.writable = true,
            "--idle-timeout" => config.idle_timeout = seconds(&flag, &value(&flag)?)?,
            "--login-timeout" => config.login_timeout = seconds(&flag, &value(&flag)?)?,
            "--send-timeout" => config.send_timeout = seconds(&flag, &value(&flag)?)?,
            "--data-timeout" => config.data_timeout = seconds(&flag, &value(&flag)?)?,
            "--data-connect-timeout" => {
                config.data_connection_timeout = seconds(&flag, &value(&flag)?)?
            }
            "--storage-timeout" => config.storage_timeout = seconds(&flag, &value(&flag)?)?,
            "--failed-login-delay" => config.failed_login_delay = seconds(&flag, &value(&flag)?)?,
            "--max-failed-logins" => config.max_failed_logins = number(&flag, &value(&flag)?)?,
            "--lockout-after" => {
                options.limits.max_failed_logins_per_ip = number(&flag, &value(&flag)?)?
            }
            "--lockout-seconds" => {
                options.limits.lockout_duration = seconds(&flag, &value(&flag)?)?
            }
            "--max-sessions" => options.limits.max_sessions = number(&flag, &value(&flag)?)?,
            "--max-per-ip" => options.limits.max_sessions_per_ip = number(&flag, &value(&flag)?)?,
            "--hang-path" => options.hang = Some(value(&flag)?.into_bytes()),
            other => return Err(format!("unknown option {other}; see --help")),
        }
    }
    if options.users.is_empty() {
        options.anonymous = true;
    }
    Ok(Some(options))
}

/// A duration in seconds, fractions allowed.
fn seconds(flag: &str, text: &str) -> Result<Duration, String> {
    let seconds: f64 = text.parse().map_err(|e| format!("{flag}: {e}"))?;
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("{flag}: {e}"))
}

fn number<T: std::str::FromStr>(flag: &str, text: &str) -> Result<T, String>
where
    T::Err: std::fmt::Display,
{
    text.parse().map_err(|e| format!("{flag}: {e}"))
}

fn main() -> ExitCode {
    let options = match parse_options(std::env::args().skip(1)) {
        Ok(Some(options)) => options,
        Ok(None) => {
            println!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    match serve(options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// What every connection thread shares.
struct Shared {
    config: Arc<Config>,
    fs: Fs,
    users: Vec<(String, String)>,
    anonymous: bool,
    writable: bool,
    hang: Option<Vec<u8>>,
    lockouts: Mutex<Lockouts>,
    /// The core's connection limits, and the control socket of each session that may
    /// still be evicted (not logged in), to close it when the core says so.
    admissions: Mutex<(Admissions, HashMap<u64, TcpStream>)>,
}

fn serve(options: Options) -> io::Result<()> {
    let root = fs::canonicalize(&options.root)?;
    let listener = TcpListener::bind(options.listen)?;
    let address = listener.local_addr()?;
    println!("Serving {} on ftp://{address}/", root.display());
    let shared = Arc::new(Shared {
        config: Arc::new(options.session),
        fs: Fs { root },
        users: options.users,
        anonymous: options.anonymous,
        writable: options.writable,
        hang: options.hang,
        lockouts: Mutex::new(Lockouts::new(&options.limits)),
        admissions: Mutex::new((Admissions::new(&options.limits), HashMap::new())),
    });
    for (number, stream) in (0u64..).zip(listener.incoming()) {
        let Ok(stream) = stream else { continue };
        let shared = Arc::clone(&shared);
        std::thread::spawn(move || {
            if let Err(error) = connection(&shared, number, stream) {
                eprintln!("connection {number}: {error}");
            }
        });
    }
    Ok(())
}

/// Everything that wakes a connection's thread.
enum Input {
    Control(Vec<u8>),
    ControlClosed,
    Answer(RequestId, Response, Option<Opened>),
    Accepted(ChannelId, TcpStream, SocketAddr),
    Connected(RequestId, io::Result<TcpStream>),
    Ended(DataEvent),
    /// An upload's bytes are all written, not yet committed.
    Received(RequestId, u64, Upload),
}

/// What a storage answer opened for the transfer that follows.
enum Opened {
    Read(fs::File),
    Listing(Vec<(Text<'static>, Metadata)>),
    Write(Upload),
}

/// A running copy: its byte counter, and a handle on its socket to stop it.
struct Running {
    id: RequestId,
    moved: Arc<AtomicU64>,
    reported: u64,
    socket: TcpStream,
}

struct Connection<'a> {
    shared: &'a Shared,
    session: Session,
    control: TcpStream,
    inputs: Receiver<Input>,
    sender: Sender<Input>,
    /// Lets the reader thread read once more (flow control: `wants_control_input`).
    permits: SyncSender<()>,
    reader_waiting: bool,
    listener: Option<(ChannelId, Arc<AtomicBool>)>,
    connecting: Option<RequestId>,
    stream: Option<TcpStream>,
    opened: Option<(RequestId, Opened)>,
    running: Option<Running>,
    received: Option<(RequestId, u64, Upload)>,
}

fn connection(shared: &Shared, number: u64, control: TcpStream) -> io::Result<()> {
    let peer = control.peer_addr()?;
    let admitted = {
        let mut admissions = shared.admissions.lock().unwrap_or_else(|e| e.into_inner());
        let (limits, sockets) = &mut *admissions;
        let admitted = limits.admit(number, peer.ip());
        if let Ok(admission) = &admitted {
            if let Some(socket) = admission.evict.and_then(|evicted| sockets.remove(&evicted)) {
                let _ = socket.shutdown(Shutdown::Both);
            }
            sockets.insert(number, control.try_clone()?);
        }
        admitted
    };
    if let Err(refusal) = admitted {
        let mut reply = Vec::new();
        refusal.reply().encode(&mut reply);
        control.set_write_timeout(Some(Duration::from_secs(5)))?;
        return (&control).write_all(&reply);
    }
    let result = run(shared, number, peer, control);
    let mut admissions = shared.admissions.lock().unwrap_or_else(|e| e.into_inner());
    admissions.0.release(number, peer.ip());
    admissions.1.remove(&number);
    result
}

fn run(shared: &Shared, number: u64, peer: SocketAddr, control: TcpStream) -> io::Result<()> {
    let _ = control.set_nodelay(true);
    // Clients send ABOR as urgent data: keep the urgent byte in the stream.
    socket2::SockRef::from(&control).set_out_of_band_inline(true)?;
    let session = Session::new(
        Arc::clone(&shared.config),
        peer,
        control.local_addr()?,
        Instant::now(),
    );
    let (sender, inputs) = mpsc::channel();
    let (permits, permitted) = mpsc::sync_channel(1);
    let reader = control.try_clone()?;
    let to_session = sender.clone();
    std::thread::spawn(move || read_control(reader, to_session, permitted));
    let mut connection = Connection {
        shared,
        session,
        control,
        inputs,
        sender,
        permits,
        reader_waiting: true,
        listener: None,
        connecting: None,
        stream: None,
        opened: None,
        running: None,
        received: None,
    };
    let result = connection.run(number);
    connection.close_data();
    if let Some(running) = connection.running.take() {
        let _ = running.socket.shutdown(Shutdown::Both);
    }
    // Also ends the reader thread.
    let _ = connection.control.shutdown(Shutdown::Both);
    result
}

/// Reads the control connection, one chunk per permit.
fn read_control(mut control: TcpStream, session: Sender<Input>, permits: Receiver<()>) {
    let mut buffer = vec![0; 16 * 1024];
    while permits.recv().is_ok() {
        let input = match control.read(&mut buffer) {
            Ok(0) | Err(_) => Input::ControlClosed,
            Ok(read) => Input::Control(buffer[..read].to_vec()),
        };
        let closed = matches!(input, Input::ControlClosed);
        if session.send(input).is_err() || closed {
            return;
        }
    }
}

impl Connection<'_> {
    fn run(&mut self, number: u64) -> io::Result<()> {
        loop {
            self.drain(number)?;
            if self.session.is_closed() {
                return Ok(());
            }
            if self.reader_waiting && self.session.wants_control_input() {
                self.reader_waiting = false;
                let _ = self.permits.try_send(());
            }
            let input = match self.session.poll_timeout() {
                Some(deadline) => {
                    let wait = deadline.saturating_duration_since(Instant::now());
                    self.inputs.recv_timeout(wait)
                }
                None => self
                    .inputs
                    .recv()
                    .map_err(|_| RecvTimeoutError::Disconnected),
            };
            // Progress first: the session judges stalls and answers STAT by it.
            self.report_progress();
            let now = Instant::now();
            let input = match input {
                Ok(input) => input,
                Err(RecvTimeoutError::Timeout) => {
                    self.session.handle_timeout(now);
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => unreachable!("we hold a sender"),
            };
            match input {
                Input::Control(bytes) => {
                    self.reader_waiting = true;
                    self.session.handle_control_input(&bytes, now);
                }
                Input::ControlClosed => self.session.handle_control_closed(now),
                Input::Answer(id, response, opened) => {
                    if let Some(opened) = opened {
                        self.opened = Some((id, opened));
                    }
                    self.session.handle_response(id, response, now);
                }
                Input::Accepted(channel, stream, peer) => {
                    // A listener closed since may have accepted just before: its
                    // connection is dropped (the session ignores the report too).
                    if self
                        .listener
                        .as_ref()
                        .is_some_and(|(open, _)| *open == channel)
                    {
                        self.listener = None;
                        self.stream = Some(stream);
                    }
                    let accepted = DataEvent::Accepted { channel, peer };
                    self.session.handle_data_event(accepted, now);
                }
                Input::Connected(id, result) => {
                    let event = match result {
                        Ok(stream) => {
                            if self.connecting == Some(id) {
                                self.stream = Some(stream);
                            }
                            DataEvent::Connected { id }
                        }
                        Err(_) => DataEvent::ConnectFailed { id },
                    };
                    if self.connecting == Some(id) {
                        self.connecting = None;
                    }
                    self.session.handle_data_event(event, now);
                }
                Input::Received(id, bytes, upload) => {
                    if self
                        .running
                        .as_ref()
                        .is_some_and(|running| running.id == id)
                    {
                        self.running = None;
                        self.received = Some((id, bytes, upload));
                    }
                    // The session decides whether the upload is complete.
                    let received = DataEvent::Received {
                        id,
                        bytes,
                        clean: true,
                    };
                    self.session.handle_data_event(received, now);
                }
                Input::Ended(event) => {
                    if let DataEvent::Finished { id, .. } | DataEvent::Failed { id, .. } = &event {
                        if self
                            .running
                            .as_ref()
                            .is_some_and(|running| running.id == *id)
                        {
                            self.running = None;
                        }
                    }
                    self.session.handle_data_event(event, now);
                }
            }
        }
    }

    /// Tells the session how far the running transfer got, if that grew.
    fn report_progress(&mut self) {
        let Some(running) = &mut self.running else {
            return;
        };
        let bytes = running.moved.load(Ordering::Relaxed);
        if bytes > running.reported {
            running.reported = bytes;
            let progress = DataEvent::Progress {
                id: running.id,
                bytes,
            };
            self.session.handle_data_event(progress, Instant::now());
        }
    }

    /// Carries out the session's outputs in order, until it is quiet.
    fn drain(&mut self, number: u64) -> io::Result<()> {
        while let Some(output) = self.session.poll_output() {
            match output {
                Output::Transmit(bytes) => self.send(&bytes)?,
                Output::Action(action) => self.act(action),
                Output::Request { id, request } => self.ask(id, request),
                Output::Event(Event::LoggedIn { .. }) => {
                    let mut admissions = self
                        .shared
                        .admissions
                        .lock()
                        .unwrap_or_else(|e| e.into_inner());
                    admissions.0.logged_in(number);
                    admissions.1.remove(&number);
                }
                Output::Event(_) => {}
            }
        }
        Ok(())
    }

    /// Writes a reply, telling the session when the client leaves it unread; the
    /// session's deadlines (its send timeout among them) keep running meanwhile.
    fn send(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        let mut blocked = false;
        while !bytes.is_empty() {
            let wait = self
                .session
                .poll_timeout()
                .map(|deadline| deadline.saturating_duration_since(Instant::now()));
            // A zero timeout means none to std: wait a millisecond instead.
            let wait = wait.map(|wait| wait.max(Duration::from_millis(1)));
            self.control.set_write_timeout(wait)?;
            match self.control.write(bytes) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(written) => {
                    bytes = &bytes[written..];
                    if blocked {
                        self.session.handle_send_progress(Instant::now());
                        blocked = false;
                    }
                }
                Err(error)
                    if matches!(
                        error.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    let now = Instant::now();
                    if !blocked {
                        self.session.handle_send_blocked(now);
                        blocked = true;
                    }
                    self.report_progress();
                    self.session.handle_timeout(now);
                    if self.session.is_closed() {
                        return Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            "the client stopped reading",
                        ));
                    }
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }

    fn act(&mut self, action: Action) {
        let now = Instant::now();
        match action {
            // The session closed the previous listener first (CloseData), and asks only
            // for the control connection's address family.
            Action::ListenPassive { channel, .. } => {
                let ip = self.session.local_address().ip();
                let bound = TcpListener::bind(SocketAddr::new(ip, 0))
                    .and_then(|listener| Ok((listener.local_addr()?, listener)));
                let event = match bound {
                    Ok((address, listener)) => {
                        let cancelled = Arc::new(AtomicBool::new(false));
                        self.listener = Some((channel, Arc::clone(&cancelled)));
                        let sender = self.sender.clone();
                        std::thread::spawn(move || {
                            accept_one(listener, channel, cancelled, sender)
                        });
                        DataEvent::Listening { channel, address }
                    }
                    Err(_) => DataEvent::ListenFailed { channel },
                };
                self.session.handle_data_event(event, now);
            }
            Action::ConnectActive { id, address } => {
                self.connecting = Some(id);
                let sender = self.sender.clone();
                // No timer: the session owns the connect deadline, and a late result
                // for a transfer it dropped is dropped here too.
                std::thread::spawn(move || {
                    let _ = sender.send(Input::Connected(id, TcpStream::connect(address)));
                });
            }
            // This server has no TLS (the session offers none unless enable_tls).
            Action::SecureData { id } => self
                .session
                .handle_data_event(DataEvent::TlsFailed { id }, now),
            Action::StartTransfer(transfer) => self.start_transfer(transfer),
            Action::AbortTransfer { id } => {
                if self.connecting == Some(id) {
                    self.connecting = None;
                }
                if self
                    .opened
                    .as_ref()
                    .is_some_and(|(opened, _)| *opened == id)
                {
                    self.opened = None;
                }
                // Dropping an upload not committed removes its staging file.
                if self.received.as_ref().is_some_and(|(r, ..)| *r == id) {
                    self.received = None;
                }
                if self
                    .running
                    .as_ref()
                    .is_some_and(|running| running.id == id)
                {
                    if let Some(running) = self.running.take() {
                        // Unblocks the copy thread's read or write.
                        let _ = running.socket.shutdown(Shutdown::Both);
                    }
                }
                self.stream = None;
            }
            Action::CommitUpload { id } => {
                let Some((_, bytes, upload)) = self.received.take().filter(|(r, ..)| *r == id)
                else {
                    return;
                };
                let sender = self.sender.clone();
                // A rename may be slow too: off the session's thread.
                std::thread::spawn(move || {
                    let event = match upload.commit() {
                        Ok(()) => DataEvent::Finished { id, bytes },
                        Err(error) => DataEvent::Failed {
                            id,
                            reason: DataFailure::Storage(StorageError::from_io(&error)),
                        },
                    };
                    let _ = sender.send(Input::Ended(event));
                });
            }
            Action::CloseData => self.close_data(),
            Action::StartControlTls => self.session.handle_control_tls_failed(now),
            // A std thread cannot be cancelled; the session ignores its late answer.
            Action::CancelRequest { .. } => {}
            Action::Close => {}
        }
    }

    /// Drops the passive listener and a data connection not handed to a transfer.
    fn close_data(&mut self) {
        if let Some((_, cancelled)) = self.listener.take() {
            cancelled.store(true, Ordering::Relaxed);
        }
        self.stream = None;
    }

    fn start_transfer(&mut self, transfer: Transfer) {
        let id = transfer.id;
        let opened = self.opened.take().filter(|(opened, _)| *opened == id);
        let socket = self.stream.take().and_then(|stream| {
            let handle = stream.try_clone().ok()?;
            Some((stream, handle))
        });
        let (Some((_, opened)), Some((stream, socket))) = (opened, socket) else {
            // Only a session driven against its contract gets here.
            let reason = DataFailure::Storage(StorageError::Other(
                "the transfer's file or data connection is missing".into(),
            ));
            let failed = DataEvent::Failed { id, reason };
            self.session.handle_data_event(failed, Instant::now());
            return;
        };
        let moved = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&moved);
        let sender = self.sender.clone();
        std::thread::spawn(move || {
            let input = match copy(&transfer, opened, stream, &counter) {
                Ok((bytes, Some(upload))) => Input::Received(id, bytes, upload),
                Ok((bytes, None)) => Input::Ended(DataEvent::Finished { id, bytes }),
                Err(reason) => Input::Ended(DataEvent::Failed { id, reason }),
            };
            let _ = sender.send(input);
        });
        self.running = Some(Running {
            id,
            moved,
            reported: 0,
            socket,
        });
    }

    /// Answers a request on a thread of its own, so that a slow (or hung) file system
    /// never stops the session.
    fn ask(&mut self, id: RequestId, request: Request) {
        if let Request::Authenticate { user, password } = &request {
            let ip = self.session.peer().ip();
            let mut lockouts = self
                .shared
                .lockouts
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            let response = lockouts
                .screen_login(ip, Instant::now())
                .unwrap_or_else(|| self.authenticate(user.as_bytes(), password.as_bytes()));
            lockouts.record_login(ip, &response, Instant::now());
            drop(lockouts);
            self.session.handle_response(id, response, Instant::now());
            return;
        }
        if self.shared.hang.is_some() && request_path(&request) == self.shared.hang.as_deref() {
            // Test-only: a call that never returns, as on a hung disk.
            return;
        }
        let sender = self.sender.clone();
        let fs = self.shared.fs.clone();
        std::thread::spawn(move || {
            let (response, opened) = match answer(&fs, request) {
                Ok(answered) => answered,
                Err(error) => (Response::Failed(error), None),
            };
            let _ = sender.send(Input::Answer(id, response, opened));
        });
    }

    fn authenticate(&self, user: &[u8], password: &[u8]) -> Response {
        if self.shared.anonymous && (user == b"anonymous" || user == b"ftp") {
            return Response::LoggedIn { writable: false };
        }
        let known = self.shared.users.iter().any(|(name, secret)| {
            name.as_bytes() == user && same_secret(secret.as_bytes(), password)
        });
        if known {
            Response::LoggedIn {
                writable: self.shared.writable,
            }
        } else {
            Response::LoginDenied
        }
    }
}

/// Compares without stopping at the first difference.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The virtual path a request is about, if one.
fn request_path(request: &Request) -> Option<&[u8]> {
    match request {
        Request::Metadata { path }
        | Request::ListEntries { path, .. }
        | Request::OpenListing { path, .. }
        | Request::OpenRead { path, .. }
        | Request::OpenWrite { path, .. }
        | Request::Delete { path }
        | Request::MakeDirectory { path }
        | Request::RemoveDirectory { path }
        | Request::Rename { from: path, .. }
        | Request::SetModified { path, .. } => Some(path.as_bytes()),
        _ => None,
    }
}

/// Accepts one connection on a passive listener, unless it is closed first. std has no
/// cancellable accept, so the listener is polled.
fn accept_one(
    listener: TcpListener,
    channel: ChannelId,
    cancelled: Arc<AtomicBool>,
    session: Sender<Input>,
) {
    if listener.set_nonblocking(true).is_err() {
        return;
    }
    while !cancelled.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, peer)) => {
                if stream.set_nonblocking(false).is_ok() {
                    let _ = stream.set_nodelay(true);
                    let _ = session.send(Input::Accepted(channel, stream, peer));
                }
                return;
            }
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5));
            }
            // The session's connect deadline ends the wait.
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

// ----- The copy on the data connection -----

fn copy(
    transfer: &Transfer,
    opened: Opened,
    mut stream: TcpStream,
    moved: &AtomicU64,
) -> Result<(u64, Option<Upload>), DataFailure> {
    let lost = |_| DataFailure::ConnectionLost;
    let storage = |error: io::Error| DataFailure::Storage(StorageError::from_io(&error));
    let mut buffer = vec![0; 256 * 1024];
    let mut converted = Vec::new();
    match (transfer.direction, opened, &transfer.content) {
        (Direction::Send, Opened::Read(mut file), TransferContent::File) => {
            let mut ascii = transfer.ascii.then(ToNetwork::new);
            loop {
                let read = file.read(&mut buffer).map_err(storage)?;
                if read == 0 {
                    break;
                }
                let chunk = match &mut ascii {
                    Some(ascii) => {
                        converted.clear();
                        ascii.convert(&buffer[..read], &mut converted);
                        &converted[..]
                    }
                    None => &buffer[..read],
                };
                stream.write_all(chunk).map_err(lost)?;
                moved.fetch_add(chunk.len() as u64, Ordering::Relaxed);
            }
        }
        (Direction::Send, Opened::Listing(entries), TransferContent::Listing(format)) => {
            let now = SystemTime::now();
            for (name, metadata) in entries {
                converted.clear();
                format_entry(format, name.as_bytes(), &metadata, now, &mut converted);
                stream.write_all(&converted).map_err(lost)?;
                moved.fetch_add(converted.len() as u64, Ordering::Relaxed);
            }
        }
        (Direction::Receive, Opened::Write(mut upload), TransferContent::File) => {
            let mut ascii = transfer.ascii.then(FromNetwork::new);
            loop {
                let read = stream.read(&mut buffer).map_err(lost)?;
                if read == 0 {
                    break;
                }
                moved.fetch_add(read as u64, Ordering::Relaxed);
                let chunk = match &mut ascii {
                    Some(ascii) => {
                        converted.clear();
                        ascii.convert(&buffer[..read], &mut converted);
                        &converted[..]
                    }
                    None => &buffer[..read],
                };
                upload.file.write_all(chunk).map_err(storage)?;
            }
            if let Some(ascii) = &mut ascii {
                converted.clear();
                ascii.finish(&mut converted);
                upload.file.write_all(&converted).map_err(storage)?;
            }
            return Ok((moved.load(Ordering::Relaxed), Some(upload)));
        }
        _ => {
            return Err(DataFailure::Storage(StorageError::Other(
                "transfer mismatch".into(),
            )));
        }
    }
    Ok((moved.load(Ordering::Relaxed), None))
}

// ----- The file system, confined to the root -----

/// The prefix of uploads not yet complete: such names are never listed nor reachable.
const STAGING_PREFIX: &str = ".ftp-proto-part-";

/// A directory of the local file system, served as `/`.
///
/// Paths are confined by resolving them (`canonicalize`) and checking that the result
/// lies under the root, so a symbolic link that leads outside is refused. Unlike the
/// tokio `LocalFs` (cap-std, `openat2`) this checks and then opens: a link swapped in
/// between the two is not caught. Good enough for an example; not for hostile local
/// users.
#[derive(Clone)]
struct Fs {
    root: PathBuf,
}

/// An upload in progress; a new file is written under a staging name and renamed over
/// the target when complete, and removed if the upload fails.
struct Upload {
    file: fs::File,
    staging: Option<(PathBuf, PathBuf)>,
}

impl Upload {
    fn commit(mut self) -> io::Result<()> {
        self.file.flush()?;
        if let Some((staging, target)) = self.staging.take() {
            fs::rename(&staging, &target)?;
        }
        Ok(())
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        if let Some((staging, _)) = &self.staging {
            let _ = fs::remove_file(staging);
        }
    }
}

fn refused() -> StorageError {
    StorageError::PermissionDenied
}

impl Fs {
    /// The path under the root for a virtual path, without resolving it.
    fn local(&self, path: &VirtualPath) -> Result<PathBuf, StorageError> {
        let bytes = path
            .as_bytes()
            .strip_prefix(b"/")
            .unwrap_or(path.as_bytes());
        if bytes.contains(&b'\\')
            || path
                .components()
                .any(|name| name.starts_with(STAGING_PREFIX.as_bytes()))
        {
            return Err(StorageError::InvalidName);
        }
        Ok(self.root.join(std::ffi::OsStr::from_bytes(bytes)))
    }

    /// The real path of an existing file or directory, links followed, if it lies
    /// under the root.
    fn resolve(&self, path: &VirtualPath) -> Result<PathBuf, StorageError> {
        let real = fs::canonicalize(self.local(path)?).map_err(|e| StorageError::from_io(&e))?;
        if real.starts_with(&self.root) {
            Ok(real)
        } else {
            Err(refused())
        }
    }

    /// The real directory a name lives in (links followed, under the root) and the
    /// name itself (not followed: deleting a link deletes the link).
    fn resolve_parent(&self, path: &VirtualPath) -> Result<PathBuf, StorageError> {
        let name = path.file_name().ok_or_else(refused)?;
        let parent = self.resolve(&path.parent())?;
        Ok(parent.join(std::ffi::OsStr::from_bytes(name)))
    }

    fn metadata(&self, path: &VirtualPath) -> Result<Metadata, StorageError> {
        let real = self.resolve(path)?;
        let metadata = fs::metadata(real).map_err(|e| StorageError::from_io(&e))?;
        Ok(metadata_of(&metadata, None))
    }

    /// A directory's entries (links described as links), or a file's own entry.
    fn list(&self, path: &VirtualPath) -> Result<Vec<(Text<'static>, Metadata)>, StorageError> {
        let real = self.resolve(path)?;
        let io = |e: io::Error| StorageError::from_io(&e);
        let metadata = fs::metadata(&real).map_err(io)?;
        if !metadata.is_dir() {
            let name = path.file_name().unwrap_or(b".").to_vec();
            return Ok(vec![(Text::from(name), metadata_of(&metadata, None))]);
        }
        let mut entries = Vec::new();
        for entry in fs::read_dir(&real).map_err(io)? {
            let Ok(entry) = entry else { continue };
            let name = entry.file_name();
            if name.as_bytes().starts_with(STAGING_PREFIX.as_bytes()) {
                continue;
            }
            let Ok(metadata) = fs::symlink_metadata(entry.path()) else {
                continue;
            };
            let target = metadata
                .file_type()
                .is_symlink()
                .then(|| fs::read_link(entry.path()).ok())
                .flatten();
            entries.push((
                Text::from(name.as_bytes().to_vec()),
                metadata_of(&metadata, target),
            ));
        }
        Ok(entries)
    }

    /// A regular file to read; anything else (a pipe could block for good) is refused.
    fn open_read(&self, path: &VirtualPath) -> Result<fs::File, StorageError> {
        let real = self.resolve(path)?;
        let io = |e: io::Error| StorageError::from_io(&e);
        let kind = fs::metadata(&real).map_err(io)?.file_type();
        if kind.is_dir() {
            return Err(StorageError::IsADirectory);
        }
        if !kind.is_file() {
            return Err(StorageError::NotARegularFile);
        }
        fs::File::open(real).map_err(io)
    }

    fn open_write(
        &self,
        path: &VirtualPath,
        mode: WriteMode,
    ) -> Result<(Upload, VirtualPath), StorageError> {
        let target = self.resolve_parent(path)?;
        let io = |e: io::Error| StorageError::from_io(&e);
        match fs::symlink_metadata(&target) {
            Ok(metadata) if metadata.is_dir() => return Err(StorageError::IsADirectory),
            Ok(metadata) if metadata.file_type().is_symlink() => {
                // Written through only if it leads to a regular file inside the root.
                let real = self.resolve(path)?;
                if !fs::metadata(real).map_err(io)?.is_file() {
                    return Err(StorageError::NotARegularFile);
                }
            }
            Ok(metadata) if !metadata.is_file() => return Err(StorageError::NotARegularFile),
            _ => {}
        }
        let mut options = fs::OpenOptions::new();
        let upload = |file| Upload {
            file,
            staging: None,
        };
        match mode {
            WriteMode::Create => {
                static COUNTER: AtomicU64 = AtomicU64::new(0);
                let directory = target.parent().ok_or_else(refused)?;
                let staging = directory.join(format!(
                    "{STAGING_PREFIX}{}-{}",
                    std::process::id(),
                    COUNTER.fetch_add(1, Ordering::Relaxed)
                ));
                let file = options
                    .write(true)
                    .create_new(true)
                    .open(&staging)
                    .map_err(io)?;
                let upload = Upload {
                    file,
                    staging: Some((staging, target)),
                };
                Ok((upload, path.clone()))
            }
            WriteMode::At(offset) => {
                let mut file = options.write(true).open(&target).map_err(io)?;
                io::Seek::seek(&mut file, io::SeekFrom::Start(offset)).map_err(io)?;
                Ok((upload(file), path.clone()))
            }
            WriteMode::Append => {
                let file = options
                    .append(true)
                    .create(true)
                    .open(&target)
                    .map_err(io)?;
                Ok((upload(file), path.clone()))
            }
            WriteMode::Unique => {
                options.write(true).create_new(true);
                for attempt in 0..1000u32 {
                    let (candidate, name) = if attempt == 0 {
                        (target.clone(), path.clone())
                    } else {
                        let mut local = target.clone().into_os_string();
                        local.push(format!(".{attempt}"));
                        let mut name = path.as_bytes().to_vec();
                        name.extend_from_slice(format!(".{attempt}").as_bytes());
                        let name = VirtualPath::root()
                            .join(&ftp_proto::Pathname::from(name))
                            .map_err(|_| StorageError::InvalidName)?;
                        (PathBuf::from(local), name)
                    };
                    match options.open(&candidate) {
                        Ok(file) => return Ok((upload(file), name)),
                        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                        Err(e) => return Err(io(e)),
                    }
                }
                Err(StorageError::AlreadyExists)
            }
            _ => Err(StorageError::Unsupported),
        }
    }
}

fn metadata_of(metadata: &fs::Metadata, link_target: Option<PathBuf>) -> Metadata {
    use std::os::unix::fs::PermissionsExt;
    let kind = if metadata.is_dir() {
        FileKind::Directory
    } else if metadata.is_file() {
        FileKind::File
    } else if metadata.file_type().is_symlink() {
        FileKind::Symlink(
            link_target.map(|target| Text::from(target.as_os_str().as_bytes().to_vec())),
        )
    } else {
        FileKind::Other
    };
    let modified = metadata.modified().ok();
    let mut result = match kind {
        FileKind::Directory => Metadata::directory(modified),
        _ => Metadata::file(metadata.len(), modified),
    };
    result.kind = kind;
    result.with_mode(metadata.permissions().mode() & 0o7777)
}

/// Does what a request asks of the file system.
fn answer(fs: &Fs, request: Request) -> Result<(Response, Option<Opened>), StorageError> {
    let io = |e: io::Error| StorageError::from_io(&e);
    let done = |result: io::Result<()>| result.map(|()| (Response::Done, None)).map_err(io);
    let opened = |size, unique_name, opened| {
        let response = Response::Opened { size, unique_name };
        Ok((response, Some(opened)))
    };
    match request {
        Request::SelectHost { .. } => Ok((Response::Done, None)),
        Request::Metadata { path } => Ok((Response::Metadata(fs.metadata(&path)?), None)),
        Request::ListEntries { path, limit } => {
            let mut entries = fs.list(&path)?;
            let more = entries.len().saturating_sub(limit) as u64;
            entries.truncate(limit);
            let more = if more == 0 {
                MoreEntries::None
            } else {
                MoreEntries::Count(more)
            };
            let now = SystemTime::now();
            Ok((Response::Entries { entries, now, more }, None))
        }
        Request::OpenListing { path, .. } => opened(None, None, Opened::Listing(fs.list(&path)?)),
        Request::OpenRead { path, offset } => {
            let mut file = fs.open_read(&path)?;
            let length = file.metadata().map_err(io)?.len();
            io::Seek::seek(&mut file, io::SeekFrom::Start(offset)).map_err(io)?;
            opened(
                Some(length.saturating_sub(offset)),
                None,
                Opened::Read(file),
            )
        }
        Request::OpenWrite { path, mode } => {
            let (upload, name) = fs.open_write(&path, mode)?;
            opened(None, Some(name), Opened::Write(upload))
        }
        Request::Delete { path } => done(fs::remove_file(fs.resolve_parent(&path)?)),
        Request::MakeDirectory { path } => done(fs::create_dir(fs.resolve_parent(&path)?)),
        Request::RemoveDirectory { path } if !path.is_root() => {
            done(fs::remove_dir(fs.resolve_parent(&path)?))
        }
        Request::Rename { from, to } if !from.is_root() && !to.is_root() => done(fs::rename(
            fs.resolve_parent(&from)?,
            fs.resolve_parent(&to)?,
        )),
        Request::SetModified { path, modified } => {
            let file = fs::File::open(fs.resolve(&path)?).map_err(io)?;
            done(file.set_modified(modified))
        }
        Request::RemoveDirectory { .. } | Request::Rename { .. } => Err(refused()),
        _ => Err(StorageError::Unsupported),
    }
}
