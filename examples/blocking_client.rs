//! A minimal FTP client over `std::net` and threads, with no async runtime: it drives
//! [`ftp_proto::client::Session`] by the contract in the `client` module's docs and takes
//! no protocol decision of its own.
//!
//! ```text
//! cargo run --example blocking_client -- ls ftp://127.0.0.1:2121/
//! cargo run --example blocking_client -- get ftp://alice:secret@127.0.0.1:2121/a.txt -o a.txt
//! cargo run --example blocking_client -- put a.txt ftp://alice:secret@127.0.0.1:2121/
//! ```
//!
//! The main thread owns the session and waits on one channel for every input: control
//! bytes (from a reader thread) and data-connection facts (connect, accept and copy
//! threads). No TLS.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant, SystemTime};

use ftp_proto::Pathname;
use ftp_proto::client::{
    Action, Config, DataConnectionMode, Event, OperationId, Outcome, Output, Session, TransferKind,
};
use ftp_proto::listing::{Entry, EntryKind};

const HELP: &str = "\
A minimal FTP client, with std threads only.

Usage: blocking_client [OPTIONS] COMMAND ARGS

Commands:
  ls URL               list a directory, one entry a line like ls -l
  get URL [-o FILE]    download a file (default: the URL's last segment, here)
  put FILE URL         upload a file (a URL ending in / gets FILE's name)

URLs: ftp://[user[:password]@]host[:port]/path, percent-encoded as curl reads them;
anonymous login without a user. The path is relative to the login directory; start it
with // (or %2F) for an absolute path.

Options:
  --active             active mode (the server connects back) instead of passive
  -o FILE              where get writes (- for stdout)
  -h, --help           print this help";

struct Url {
    host: String,
    port: u16,
    user: Option<Vec<u8>>,
    password: Option<Vec<u8>>,
    /// Decoded, relative to the login directory unless it starts with `/`.
    path: Vec<u8>,
}

/// Decodes `%XX` sequences, as curl does for the parts of an FTP URL.
fn percent_decode(text: &str) -> Result<Vec<u8>, String> {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' {
            let hex = bytes
                .get(index + 1..index + 3)
                .and_then(|hex| std::str::from_utf8(hex).ok())
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                .ok_or_else(|| format!("bad percent-encoding in {text:?}"))?;
            decoded.push(hex);
            index += 3;
        } else {
            decoded.push(bytes[index]);
            index += 1;
        }
    }
    Ok(decoded)
}

fn parse_url(text: &str) -> Result<Url, String> {
    let rest = text
        .strip_prefix("ftp://")
        .ok_or_else(|| format!("{text}: not an ftp:// URL"))?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let (credentials, host_port) = match authority.rfind('@') {
        Some(at) => (Some(&authority[..at]), &authority[at + 1..]),
        None => (None, authority),
    };
    let (user, password) = match credentials {
        None => (None, None),
        Some(credentials) => match credentials.split_once(':') {
            Some((user, password)) => {
                (Some(percent_decode(user)?), Some(percent_decode(password)?))
            }
            None => (Some(percent_decode(credentials)?), None),
        },
    };
    let (host, port) = if let Some(bracketed) = host_port.strip_prefix('[') {
        let (host, after) = bracketed
            .split_once(']')
            .ok_or_else(|| format!("{text}: unclosed [ in the host"))?;
        (host.to_owned(), after.strip_prefix(':'))
    } else {
        match host_port.rsplit_once(':') {
            Some((host, port)) => (host.to_owned(), Some(port)),
            None => (host_port.to_owned(), None),
        }
    };
    if host.is_empty() {
        return Err(format!("{text}: no host"));
    }
    let port = match port {
        Some(port) => port
            .parse()
            .map_err(|_| format!("{text}: bad port {port:?}"))?,
        None => 21,
    };
    // The first `/` separates the host; what follows is relative to the login directory.
    let path = percent_decode(path.strip_prefix('/').unwrap_or(path))?;
    Ok(Url {
        host,
        port,
        user,
        password,
        path,
    })
}

struct Options {
    command: String,
    arguments: Vec<String>,
    output: Option<String>,
    active: bool,
}

fn parse_options(mut args: impl Iterator<Item = String>) -> Result<Option<Options>, String> {
    let mut positional = Vec::new();
    let mut options = Options {
        command: String::new(),
        arguments: Vec::new(),
        output: None,
        active: false,
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--active" => options.active = true,
            "-o" => options.output = Some(args.next().ok_or("-o needs a file")?),
            flag if flag.starts_with('-') && flag.len() > 1 => {
                return Err(format!("unknown option {flag}"));
            }
            _ => positional.push(arg),
        }
    }
    let mut positional = positional.into_iter();
    options.command = positional.next().ok_or("no command given")?;
    options.arguments = positional.collect();
    let wanted = match options.command.as_str() {
        "ls" | "get" => 1,
        "put" => 2,
        other => return Err(format!("unknown command {other}")),
    };
    if options.arguments.len() != wanted {
        return Err(format!("{} takes {wanted} argument(s)", options.command));
    }
    Ok(Some(options))
}

fn main() -> ExitCode {
    let options = match parse_options(std::env::args().skip(1)) {
        Ok(Some(options)) => options,
        Ok(None) => {
            println!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Err(error) => {
            eprintln!("blocking_client: {error}\n\n{HELP}");
            return ExitCode::from(2);
        }
    };
    match run(options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("blocking_client: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run(options: Options) -> Result<(), String> {
    let url_text = if options.command == "put" {
        &options.arguments[1]
    } else {
        &options.arguments[0]
    };
    let url = parse_url(url_text)?;
    let mut config = Config::default();
    if options.active {
        config.data_connection_mode = DataConnectionMode::Active;
    }
    let mut client = Client::connect(&url, config)?;
    let user = url.user.clone().unwrap_or_else(|| b"anonymous".to_vec());
    let password = url
        .password
        .clone()
        .unwrap_or_else(|| b"ftp-proto@example.org".to_vec());
    let login = client.session.login(user, password, Instant::now());
    client.finish(login).map_err(|e| format!("login: {e}"))?;
    let result = match options.command.as_str() {
        "ls" => list(&mut client, &url.path),
        "get" => get(&mut client, &url.path, options.output.as_deref()),
        "put" => put(&mut client, &url.path, &options.arguments[0]),
        _ => unreachable!("commands are checked when parsed"),
    };
    let quit = client.session.quit(Instant::now());
    let _ = client.finish(quit);
    result
}

fn list(client: &mut Client, path: &[u8]) -> Result<(), String> {
    let path = (!path.is_empty()).then(|| Pathname::from(path));
    let id = client
        .session
        .list_entries(path, SystemTime::now(), Instant::now());
    let Outcome::Entries(entries) = client.finish(id)? else {
        return Err("the listing came back in an unexpected form".into());
    };
    let width = entries
        .iter()
        .filter_map(|entry| entry.size)
        .map(|size| size.to_string().len())
        .max()
        .unwrap_or(1);
    for entry in entries {
        let size = entry.size.map_or("-".to_owned(), |size| size.to_string());
        let date = entry
            .modified
            .and_then(|modified| jiff::Timestamp::try_from(modified.time).ok())
            .map(|time| time.strftime("%Y-%m-%d %H:%M").to_string())
            .unwrap_or_else(|| "????-??-?? ??:??".to_owned());
        let name = entry.name.to_string_lossy().escape_debug().to_string();
        println!("{} {size:>width$} {date} {name}", mode_string(&entry));
    }
    Ok(())
}

/// `drwxr-xr-x` from an entry's kind and Unix mode (dashes where unknown).
fn mode_string(entry: &Entry) -> String {
    let kind = match entry.kind {
        EntryKind::Directory | EntryKind::CurrentDirectory | EntryKind::ParentDirectory => 'd',
        EntryKind::Symlink { .. } => 'l',
        _ => '-',
    };
    let mut text = String::from(kind);
    match entry.permissions.unix_mode {
        Some(mode) => {
            for shift in [6, 3, 0] {
                let bits = (mode >> shift) & 7;
                text.push(if bits & 4 != 0 { 'r' } else { '-' });
                text.push(if bits & 2 != 0 { 'w' } else { '-' });
                text.push(if bits & 1 != 0 { 'x' } else { '-' });
            }
        }
        None => text.push_str("?????????"),
    }
    text
}

fn get(client: &mut Client, path: &[u8], output: Option<&str>) -> Result<(), String> {
    let target = match output {
        Some(file) => file.to_owned(),
        None => {
            let name = path.rsplit(|&byte| byte == b'/').next().unwrap_or_default();
            if name.is_empty() || !ftp_proto::listing::is_safe_file_name(name) {
                return Err("the URL names no file; use -o FILE".into());
            }
            String::from_utf8_lossy(name).into_owned()
        }
    };
    if target == "-" {
        client.sink = Some(Box::new(io::stdout()));
        let id = client.session.retrieve(path, Instant::now());
        return client.finish(id).map(drop);
    }
    // The bytes go to a file beside the target, renamed over it only when the server
    // confirmed the download: a refused RETR must not empty an existing file.
    let temporary = format!("{target}.part-{}", std::process::id());
    let file = File::create(&temporary).map_err(|e| format!("{temporary}: {e}"))?;
    client.sink = Some(Box::new(file));
    let id = client.session.retrieve(path, Instant::now());
    let outcome = client.finish(id);
    match outcome {
        Ok(_) => std::fs::rename(&temporary, &target).map_err(|e| format!("{target}: {e}")),
        Err(error) => {
            let _ = std::fs::remove_file(&temporary);
            Err(error)
        }
    }
}

fn put(client: &mut Client, path: &[u8], file: &str) -> Result<(), String> {
    let source = File::open(file).map_err(|e| format!("{file}: {e}"))?;
    let mut remote = path.to_vec();
    if remote.is_empty() || remote.ends_with(b"/") {
        let name = std::path::Path::new(file)
            .file_name()
            .ok_or("the file has no name")?;
        remote.extend_from_slice(name.to_string_lossy().as_bytes());
    }
    client.source = Some(source);
    let id = client.session.store(remote, Instant::now());
    client.finish(id).map(drop)
}

// ----- The driver -----

/// Everything that wakes the session's thread.
enum Input {
    Control(Vec<u8>),
    ControlClosed,
    Connected(OperationId, io::Result<TcpStream>),
    Accepted(OperationId, TcpStream, SocketAddr),
    Listing(OperationId, Vec<u8>),
    Progress(OperationId),
    End(OperationId),
    Failed(OperationId, io::ErrorKind),
}

/// One data connection: its kind, the socket once open (a handle, to close it), and the
/// accept loop's stop flag in active mode.
struct Data {
    kind: TransferKind,
    socket: Option<TcpStream>,
    listening: Option<Arc<AtomicBool>>,
}

struct Client {
    session: Session,
    control: TcpStream,
    inputs: Receiver<Input>,
    sender: Sender<Input>,
    data: HashMap<OperationId, Data>,
    results: HashMap<OperationId, Result<Outcome, ftp_proto::client::Error>>,
    /// Where the next download's bytes go, and where the next upload's come from.
    sink: Option<Box<dyn Write + Send>>,
    source: Option<File>,
}

impl Client {
    fn connect(url: &Url, config: Config) -> Result<Client, String> {
        let name = format!("{}:{}", url.host, url.port);
        let address = (url.host.as_str(), url.port)
            .to_socket_addrs()
            .map_err(|e| format!("{name}: {e}"))?
            .next()
            .ok_or_else(|| format!("{name}: no address"))?;
        let control = TcpStream::connect_timeout(&address, config.reply_timeout)
            .map_err(|e| format!("{name}: {e}"))?;
        let _ = control.set_nodelay(true);
        let session = Session::new(config, address, Instant::now());
        let (sender, inputs) = mpsc::channel();
        let mut reader = control.try_clone().map_err(|e| e.to_string())?;
        let to_session = sender.clone();
        std::thread::spawn(move || {
            let mut buffer = vec![0; 16 * 1024];
            loop {
                let input = match reader.read(&mut buffer) {
                    Ok(0) | Err(_) => Input::ControlClosed,
                    Ok(read) => Input::Control(buffer[..read].to_vec()),
                };
                let closed = matches!(input, Input::ControlClosed);
                if to_session.send(input).is_err() || closed {
                    return;
                }
            }
        });
        Ok(Client {
            session,
            control,
            inputs,
            sender,
            data: HashMap::new(),
            results: HashMap::new(),
            sink: None,
            source: None,
        })
    }

    /// Runs the session until operation `id` (as an operation call returned it) ends.
    fn finish(
        &mut self,
        id: Result<OperationId, ftp_proto::client::Error>,
    ) -> Result<Outcome, String> {
        let id = id.map_err(|e| e.to_string())?;
        loop {
            self.drain().map_err(|e| e.to_string())?;
            if let Some(result) = self.results.remove(&id) {
                return result.map_err(|e| e.to_string());
            }
            if let Some(error) = self.session.error() {
                return Err(error.to_string());
            }
            let input = match self.session.poll_timeout() {
                Some(deadline) => self
                    .inputs
                    .recv_timeout(deadline.saturating_duration_since(Instant::now())),
                None => self
                    .inputs
                    .recv()
                    .map_err(|_| RecvTimeoutError::Disconnected),
            };
            let now = Instant::now();
            match input {
                Err(_) => self.session.handle_timeout(now),
                Ok(Input::Control(bytes)) => self.session.handle_control_input(&bytes, now),
                Ok(Input::ControlClosed) => self.session.handle_control_closed(now),
                Ok(Input::Connected(id, Ok(stream))) => {
                    if self.data.contains_key(&id) {
                        self.session.handle_data_connected(id, now);
                        self.opened(id, stream);
                    }
                }
                Ok(Input::Connected(id, Err(error))) => {
                    self.session.handle_data_failed(id, error.kind(), now)
                }
                Ok(Input::Accepted(id, stream, peer)) => {
                    if self.data.contains_key(&id) {
                        self.session.handle_data_accepted(id, peer, now);
                        // Kept unless the session refuses the peer in what follows.
                        if let Some(data) = self.data.get_mut(&id) {
                            data.socket = stream.try_clone().ok();
                        }
                        self.drain().map_err(|e| e.to_string())?;
                        if self.data.get(&id).is_some_and(|data| data.socket.is_some()) {
                            self.opened(id, stream);
                        }
                    }
                }
                Ok(Input::Listing(id, bytes)) => self.session.handle_data_input(id, &bytes, now),
                Ok(Input::Progress(id)) => self.session.handle_data_progress(id, now),
                Ok(Input::End(id)) => self.session.handle_data_end(id, now),
                Ok(Input::Failed(id, kind)) => self.session.handle_data_failed(id, kind, now),
            }
        }
    }

    /// Carries out the session's outputs in order, until it is quiet.
    fn drain(&mut self) -> io::Result<()> {
        while let Some(output) = self.session.poll_output() {
            match output {
                // No urgent data (`telnet_synch_abort` is off): the bytes go in order.
                Output::Transmit(bytes) => self.control.write_all(&bytes)?,
                Output::Action(action) => self.act(action),
                Output::Event(Event::Completed { id, result }) => {
                    self.results.insert(id, result);
                }
                Output::Event(_) => {}
            }
        }
        Ok(())
    }

    fn act(&mut self, action: Action) {
        let now = Instant::now();
        match action {
            Action::ConnectData { id, address, kind } => {
                self.data.insert(
                    id,
                    Data {
                        kind,
                        socket: None,
                        listening: None,
                    },
                );
                let sender = self.sender.clone();
                // No timer: the session keeps the connect deadline.
                std::thread::spawn(move || {
                    let _ = sender.send(Input::Connected(id, TcpStream::connect(address)));
                });
            }
            Action::ListenForData { id, kind } => {
                let bound = self.control.local_addr().and_then(|local| {
                    let listener = TcpListener::bind(SocketAddr::new(local.ip(), 0))?;
                    Ok((listener.local_addr()?, listener))
                });
                match bound {
                    Ok((address, listener)) => {
                        let stop = Arc::new(AtomicBool::new(false));
                        self.data.insert(
                            id,
                            Data {
                                kind,
                                socket: None,
                                listening: Some(Arc::clone(&stop)),
                            },
                        );
                        let sender = self.sender.clone();
                        std::thread::spawn(move || accept(listener, id, stop, sender));
                        self.session.handle_data_listening(id, address, now);
                    }
                    Err(error) => self.session.handle_data_failed(id, error.kind(), now),
                }
            }
            // The accept loop goes on; the stranger's connection is dropped.
            Action::RefuseDataPeer { id, .. } => {
                if let Some(socket) = self.data.get_mut(&id).and_then(|data| data.socket.take()) {
                    let _ = socket.shutdown(Shutdown::Both);
                }
            }
            Action::StartDataTls { id } => {
                self.session
                    .handle_data_failed(id, io::ErrorKind::Unsupported, now)
            }
            Action::SendData { id } => {
                let socket = self
                    .data
                    .get(&id)
                    .and_then(|data| data.socket.as_ref()?.try_clone().ok());
                let (Some(mut socket), Some(mut source)) = (socket, self.source.take()) else {
                    self.session
                        .handle_data_failed(id, io::ErrorKind::NotConnected, now);
                    return;
                };
                let sender = self.sender.clone();
                std::thread::spawn(move || {
                    let mut buffer = vec![0; 256 * 1024];
                    let input = loop {
                        let read = match source.read(&mut buffer) {
                            Ok(0) => break Input::End(id),
                            Ok(read) => read,
                            Err(error) => break Input::Failed(id, error.kind()),
                        };
                        if let Err(error) = socket.write_all(&buffer[..read]) {
                            break Input::Failed(id, error.kind());
                        }
                        let _ = sender.send(Input::Progress(id));
                    };
                    // The end of the upload is the end of the connection.
                    let _ = socket.shutdown(Shutdown::Both);
                    let _ = sender.send(input);
                });
            }
            Action::CloseData { id } => {
                if let Some(data) = self.data.remove(&id) {
                    if let Some(socket) = data.socket {
                        let _ = socket.shutdown(Shutdown::Both);
                    }
                    if let Some(stop) = data.listening {
                        stop.store(true, Ordering::Relaxed);
                    }
                }
            }
            Action::StartControlTls => self.session.handle_control_closed(now),
            Action::CloseControl => {
                let _ = self.control.shutdown(Shutdown::Both);
            }
        }
    }

    /// The data connection of transfer `id` is open: move bytes as its kind says.
    fn opened(&mut self, id: OperationId, stream: TcpStream) {
        let Some(data) = self.data.get_mut(&id) else {
            return;
        };
        if let Some(stop) = data.listening.take() {
            stop.store(true, Ordering::Relaxed);
        }
        data.socket = stream.try_clone().ok();
        let sender = self.sender.clone();
        match data.kind {
            // Waits for Action::SendData.
            TransferKind::Upload => {}
            TransferKind::Listing => {
                std::thread::spawn(move || read_data(stream, id, sender, None));
            }
            TransferKind::Download => {
                let sink = self.sink.take();
                std::thread::spawn(move || read_data(stream, id, sender, sink));
            }
        }
    }
}

/// Reads a data connection to its end: a listing's bytes go to the session, a
/// download's to `sink`, with a progress report for each read.
fn read_data(
    mut stream: TcpStream,
    id: OperationId,
    session: Sender<Input>,
    mut sink: Option<Box<dyn Write + Send>>,
) {
    let mut buffer = vec![0; 256 * 1024];
    let end = loop {
        let read = match stream.read(&mut buffer) {
            Ok(0) => break Input::End(id),
            Ok(read) => read,
            Err(error) => break Input::Failed(id, error.kind()),
        };
        let input = match &mut sink {
            None => Input::Listing(id, buffer[..read].to_vec()),
            Some(sink) => match sink.write_all(&buffer[..read]) {
                Ok(()) => Input::Progress(id),
                Err(error) => break Input::Failed(id, error.kind()),
            },
        };
        if session.send(input).is_err() {
            return;
        }
    };
    if let Some(sink) = &mut sink {
        if let Err(error) = sink.flush() {
            let _ = session.send(Input::Failed(id, error.kind()));
            return;
        }
    }
    let _ = session.send(end);
}

/// Accepts connections for transfer `id` until stopped; std has no cancellable accept,
/// so the listener is polled.
fn accept(listener: TcpListener, id: OperationId, stop: Arc<AtomicBool>, session: Sender<Input>) {
    if listener.set_nonblocking(true).is_err() {
        return;
    }
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, peer)) => {
                if stream.set_nonblocking(false).is_ok()
                    && session.send(Input::Accepted(id, stream, peer)).is_err()
                {
                    return;
                }
            }
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}
