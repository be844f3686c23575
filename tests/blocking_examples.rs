//! The std-threads examples (`examples/blocking_server.rs`, `examples/blocking_client.rs`)
//! against real peers, and the proof of issue 17: one scripted scenario over raw TCP
//! gets the same replies from the tokio server and from the blocking example, since
//! every protocol decision is the session's.
#![cfg(feature = "tokio")]

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use ftp_proto::server::{Capabilities, Metadata, StorageError, VirtualPath, WriteMode};
use ftp_proto::tokio::{LocalFs, ServerConfig, StaticUsers, Storage};

use common::example::{ExampleServer, PROBE, example_binary, probe_bytes};
use common::peers::{ServerThread, TempDir, pattern, peer_available, run, run_ok, start_vsftpd};
use common::raw::{LOCALHOST, REPLY_LIMIT, Raw, code, connect_from, raw_write, read_all};

fn blocking_server(root: &Path, flags: &[&str]) -> ExampleServer {
    let mut all = vec!["--writable"];
    all.extend_from_slice(flags);
    ExampleServer::start_example("blocking_server", root, &all, &[])
}

fn blocking_client(args: &[&str]) -> Vec<u8> {
    run_ok(Command::new(example_binary("blocking_client")).args(args))
}

fn curl(args: &[&str]) -> Vec<u8> {
    run_ok(
        Command::new("curl")
            .args(["--silent", "--show-error", "--max-time", "60"])
            .args(args),
    )
}

#[test]
fn curl_lists_resumes_and_uploads_on_the_blocking_server() {
    if !peer_available("curl") {
        return;
    }
    let root = TempDir::new("blocking-curl");
    let server = blocking_server(root.path(), &[]);
    let base = format!("ftp://alice:secret@{}/", server.address);

    let listing = String::from_utf8(curl(&[&base])).unwrap();
    assert!(listing.contains(PROBE), "LIST: {listing}");
    let names = String::from_utf8(curl(&["--list-only", &base])).unwrap();
    assert_eq!(names.lines().collect::<Vec<_>>(), [PROBE], "NLST: {names}");

    let whole = curl(&[&format!("{base}{PROBE}")]);
    assert!(whole == probe_bytes(), "RETR: {} bytes", whole.len());
    let resumed = curl(&["-C", "12345", &format!("{base}{PROBE}")]);
    assert!(
        resumed == probe_bytes()[12345..],
        "REST 12345: {} bytes",
        resumed.len()
    );

    let upload = pattern(300_000, 7);
    let local = root.join("local.bin");
    std::fs::write(&local, &upload).unwrap();
    curl(&[
        "-T",
        local.to_str().unwrap(),
        &format!("{base}uploaded.bin"),
    ]);
    assert!(std::fs::read(root.join("uploaded.bin")).unwrap() == upload);
    // Anonymous users read only.
    let refused = run(
        Command::new("curl")
            .args(["--silent", "-T", local.to_str().unwrap()])
            .arg(format!("ftp://{}/anonymous.bin", server.address)),
        Duration::from_secs(60),
    );
    assert!(!refused.status.success(), "an anonymous upload was taken");
    assert!(!root.join("anonymous.bin").exists());
}

/// `ls`, `get` and `put` with the blocking client against a server whose anonymous
/// users may write below `upload/` (`base` is its URL prefix, `root` its directory).
fn exercise_blocking_client(base: &str, root: &Path, upload_dir: &str) {
    let content = pattern(1_234_567, 3);
    std::fs::write(root.join("fetch.bin"), &content).unwrap();
    let listing = String::from_utf8(blocking_client(&["ls", base])).unwrap();
    assert!(listing.contains("fetch.bin"), "ls: {listing}");

    let local = TempDir::new("blocking-client-local");
    let fetched = local.join("fetched.bin");
    blocking_client(&[
        "get",
        &format!("{base}fetch.bin"),
        "-o",
        fetched.to_str().unwrap(),
    ]);
    assert!(
        std::fs::read(&fetched).unwrap() == content,
        "get changed the bytes"
    );

    let sent = pattern(777_777, 9);
    let source = local.join("sent.bin");
    std::fs::write(&source, &sent).unwrap();
    blocking_client(&[
        "put",
        source.to_str().unwrap(),
        &format!("{base}{upload_dir}"),
    ]);
    let stored = std::fs::read(root.join(upload_dir).join("sent.bin")).unwrap();
    assert!(stored == sent, "put changed the bytes");

    let missing = run(
        Command::new(example_binary("blocking_client")).args([
            "get",
            &format!("{base}no-such-file"),
            "-o",
            local.join("missing").to_str().unwrap(),
        ]),
        Duration::from_secs(60),
    );
    assert!(!missing.status.success(), "a 550 was taken for a download");
    assert!(
        !local.join("missing").exists(),
        "a refused download left a file"
    );
}

#[test]
fn the_blocking_client_lists_gets_and_puts_with_vsftpd() {
    if !peer_available("vsftpd") {
        return;
    }
    let vsftpd = start_vsftpd();
    let base = format!("ftp://{}/", vsftpd.address());
    exercise_blocking_client(&base, vsftpd.root.path(), "upload/");
}

#[test]
fn the_blocking_client_lists_gets_and_puts_with_the_blocking_server() {
    let root = TempDir::new("blocking-pair");
    std::fs::create_dir(root.join("upload")).unwrap();
    let server = blocking_server(root.path(), &[]);
    let base = format!("ftp://alice:secret@{}/", server.address);
    exercise_blocking_client(&base, root.path(), "upload/");
    // Active mode too: the blocking server connects back to the blocking client.
    let local = TempDir::new("blocking-active");
    let target = local.join("probe");
    blocking_client(&[
        "--active",
        "get",
        &format!("{base}{PROBE}"),
        "-o",
        target.to_str().unwrap(),
    ]);
    assert!(std::fs::read(target).unwrap() == probe_bytes());
}

// ----- Parity: the same replies from the tokio server and the blocking example -----

/// A file large enough that a transfer is still running when the client stops
/// reading: more than loopback's socket buffers hold.
const BIG: &str = "big.bin";
const BIG_SIZE: usize = 48 << 20;
/// The path whose storage calls never return (the blocking server's `--hang-path`).
const HANG: &str = "/hang.bin";
const DATA_TIMEOUT: &str = "1";
const STORAGE_TIMEOUT: Duration = Duration::from_millis(700);

fn parity_root() -> TempDir {
    let root = TempDir::new("parity");
    std::fs::write(root.join(BIG), vec![b'x'; BIG_SIZE]).unwrap();
    std::fs::write(root.join("notes.txt"), b"one\ntwo\n").unwrap();
    std::fs::create_dir(root.join("dir")).unwrap();
    root
}

/// Gives every entry of `root` the same modification time, so that two roots made at
/// different times list alike (the size of a listing is in its 226 reply).
fn same_times(root: &Path) {
    let time = std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    for entry in std::fs::read_dir(root).unwrap() {
        let file = std::fs::File::open(entry.unwrap().path()).unwrap();
        file.set_modified(time).unwrap();
    }
}

/// A reply with what differs between runs masked: the ports of 229 and 227 replies.
fn normalized(reply: String) -> String {
    match code(&reply) {
        229 => match reply.find("(|||") {
            Some(start) => format!("{}(|||PORT|)\r\n", &reply[..start]),
            None => reply,
        },
        227 => match reply.find('(') {
            Some(start) => format!("{}(ADDRESS)\r\n", &reply[..start]),
            None => reply,
        },
        _ => reply,
    }
}

/// One run of the script: what the server answered, in order, and the MLSD listing.
#[derive(Debug, Default)]
struct Transcript {
    replies: Vec<String>,
    listing: Vec<String>,
}

struct Script {
    raw: Raw,
    address: SocketAddr,
    transcript: Transcript,
}

impl Script {
    async fn start(address: SocketAddr) -> Script {
        let mut raw = Raw::open_from(LOCALHOST, address).await.expect("connect");
        let greeting = raw.reply().await;
        Script {
            raw,
            address,
            transcript: Transcript {
                replies: vec![greeting],
                listing: Vec::new(),
            },
        }
    }

    fn note(&mut self, reply: String) -> u16 {
        let code = code(&reply);
        self.transcript.replies.push(normalized(reply));
        code
    }

    async fn command(&mut self, line: &str) -> u16 {
        let reply = self.raw.command(line).await;
        self.note(reply)
    }

    async fn reply(&mut self) -> u16 {
        let reply = self.raw.reply().await;
        self.note(reply)
    }

    /// EPSV, then `line` and its reply, then the data connection to the port. Made
    /// after the reply, so that the reply is always 150: a connection made earlier
    /// races the storage's answer, and the reply is 125 when the connection wins.
    async fn transfer(&mut self, line: &str) -> (u16, tokio::net::TcpStream) {
        let reply = self.raw.command("EPSV").await;
        let port = ftp_proto::parse_reply(reply.as_bytes())
            .ok()
            .and_then(|reply| reply.extended_passive_port().ok())
            .unwrap_or_else(|| panic!("no port in {reply}"));
        self.note(reply);
        let started = self.command(line).await;
        let data = connect_from(LOCALHOST, SocketAddr::new(self.address.ip(), port))
            .await
            .expect("data connection");
        (started, data)
    }

    async fn login(&mut self) {
        assert_eq!(self.command("USER alice").await, 331);
        assert_eq!(self.command("PASS secret").await, 230);
        assert_eq!(self.command("TYPE I").await, 200);
    }
}

/// Login, FEAT, MLSD, RETR with REST, STOR, ABOR mid-transfer, a stalled data
/// connection, QUIT.
async fn transfer_script(address: SocketAddr, root: &Path) -> Transcript {
    let mut script = Script::start(address).await;
    script.login().await;
    script.command("FEAT").await;
    script.command("PWD").await;
    script.command("SIZE notes.txt").await;
    script.command("SIZE missing.txt").await;

    let (started, mut data) = script.transfer("MLSD").await;
    assert_eq!(started, 150);
    let listing = read_all(&mut data, REPLY_LIMIT).await;
    assert_eq!(script.reply().await, 226);
    let mut lines: Vec<String> = String::from_utf8_lossy(&listing)
        .lines()
        .map(str::to_owned)
        .collect();
    lines.sort();
    script.transcript.listing = lines;

    assert_eq!(script.command("REST 1000").await, 350);
    let (started, mut data) = script.transfer(&format!("RETR {PROBE}")).await;
    assert_eq!(started, 150);
    let resumed = read_all(&mut data, REPLY_LIMIT).await;
    assert_eq!(script.reply().await, 226);
    assert!(
        resumed == probe_bytes()[1000..],
        "REST 1000: {} bytes",
        resumed.len()
    );

    let upload = pattern(200_000, 5);
    let (started, mut data) = script.transfer("STOR stored.bin").await;
    assert_eq!(started, 150);
    raw_write(&mut data, &upload).await;
    drop(data);
    assert_eq!(script.reply().await, 226);
    assert!(std::fs::read(root.join("stored.bin")).unwrap() == upload);

    // ABOR while a download runs (the client reads a little, then stops reading).
    let (started, mut data) = script.transfer(&format!("RETR {BIG}")).await;
    assert_eq!(started, 150);
    let mut first = [0; 1024];
    tokio::io::AsyncReadExt::read_exact(&mut data, &mut first)
        .await
        .unwrap();
    script.raw.send(b"ABOR\r\n").await;
    // The session's answer to ABOR: the transfer's 426, then ABOR's own 226.
    script.reply().await;
    script.reply().await;
    drop(data);
    assert_eq!(script.command("NOOP").await, 200);

    // A stalled data connection: the client never reads, the data timeout ends it.
    let (started, data) = script.transfer(&format!("RETR {BIG}")).await;
    assert_eq!(started, 150);
    script.reply().await;
    drop(data);
    assert_eq!(script.command("NOOP").await, 200);

    assert_eq!(script.command("QUIT").await, 221);
    let rest = script.raw.replies_until_closed(REPLY_LIMIT).await;
    assert!(rest.is_empty(), "after 221: {rest:?}");
    script.transcript
}

/// A storage call that never returns: STAT and NOOP are still answered while it hangs,
/// the hung command fails when the storage deadline passes, QUIT ends the session.
async fn hang_script(address: SocketAddr) -> Transcript {
    let mut script = Script::start(address).await;
    script.login().await;
    script.raw.send(format!("SIZE {HANG}\r\n").as_bytes()).await;
    // STAT overtakes the hung command; then its deadline fails it.
    script.command("STAT").await;
    script.reply().await;
    script.command("NOOP").await;
    assert_eq!(script.command("QUIT").await, 221);
    let rest = script.raw.replies_until_closed(REPLY_LIMIT).await;
    assert!(rest.is_empty(), "after 221: {rest:?}");
    script.transcript
}

fn assert_same(tokio: &Transcript, blocking: &Transcript) {
    for (index, (left, right)) in tokio.replies.iter().zip(&blocking.replies).enumerate() {
        assert_eq!(
            left, right,
            "reply {index} differs\ntokio:    {:?}\nblocking: {:?}",
            tokio.replies, blocking.replies
        );
    }
    assert_eq!(
        tokio.replies.len(),
        blocking.replies.len(),
        "{tokio:?}\n{blocking:?}"
    );
    assert_eq!(tokio.listing, blocking.listing, "the MLSD listings differ");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tokio_server_and_the_blocking_example_answer_a_script_alike() {
    let flags = ["--data-timeout", DATA_TIMEOUT];
    let tokio_root = parity_root();
    let tokio_server = ExampleServer::start(tokio_root.path(), &flags);
    same_times(tokio_root.path());
    let tokio_transcript = transfer_script(tokio_server.address, tokio_root.path()).await;
    let blocking_root = parity_root();
    let blocking = blocking_server(blocking_root.path(), &flags);
    same_times(blocking_root.path());
    let blocking_transcript = transfer_script(blocking.address, blocking_root.path()).await;
    assert_same(&tokio_transcript, &blocking_transcript);
    // What the script saw, so that a change of the core shows here (both sides move
    // together) rather than passing silently.
    let codes: Vec<u16> = tokio_transcript
        .replies
        .iter()
        .map(|reply| code(reply))
        .collect();
    assert_eq!(
        codes,
        [
            220, 331, 230, 200, 211, 257, 213, 550, 229, 150, 226, 350, 229, 150, 226, 229, 150,
            226, 229, 150, 426, 226, 200, 229, 150, 426, 200, 221
        ],
        "{:?}",
        tokio_transcript.replies
    );
}

/// `LocalFs`, except that every call on [`HANG`] never returns.
#[derive(Clone)]
struct HangOn(LocalFs);

impl HangOn {
    async fn hang(path: &VirtualPath) {
        if path.as_bytes() == HANG.as_bytes() {
            std::future::pending::<()>().await;
        }
    }
}

impl Storage for HangOn {
    type Reader = <LocalFs as Storage>::Reader;
    type Upload = <LocalFs as Storage>::Upload;
    type Lister = <LocalFs as Storage>::Lister;

    fn capabilities(&self) -> Capabilities {
        self.0.capabilities()
    }

    async fn metadata(&self, path: &VirtualPath) -> Result<Metadata, StorageError> {
        Self::hang(path).await;
        self.0.metadata(path).await
    }

    async fn list(&self, path: &VirtualPath) -> Result<Self::Lister, StorageError> {
        Self::hang(path).await;
        self.0.list(path).await
    }

    async fn open_read(
        &self,
        path: &VirtualPath,
        offset: u64,
    ) -> Result<(Self::Reader, Option<u64>), StorageError> {
        Self::hang(path).await;
        self.0.open_read(path, offset).await
    }

    async fn open_write(
        &self,
        path: &VirtualPath,
        mode: WriteMode,
    ) -> Result<(Self::Upload, VirtualPath), StorageError> {
        Self::hang(path).await;
        self.0.open_write(path, mode).await
    }

    async fn delete(&self, path: &VirtualPath) -> Result<(), StorageError> {
        Self::hang(path).await;
        self.0.delete(path).await
    }

    async fn make_directory(&self, path: &VirtualPath) -> Result<(), StorageError> {
        Self::hang(path).await;
        self.0.make_directory(path).await
    }

    async fn remove_directory(&self, path: &VirtualPath) -> Result<(), StorageError> {
        Self::hang(path).await;
        self.0.remove_directory(path).await
    }

    async fn rename(&self, from: &VirtualPath, to: &VirtualPath) -> Result<(), StorageError> {
        Self::hang(from).await;
        self.0.rename(from, to).await
    }

    async fn set_modified(
        &self,
        path: &VirtualPath,
        modified: std::time::SystemTime,
    ) -> Result<(), StorageError> {
        Self::hang(path).await;
        self.0.set_modified(path, modified).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_storage_call_gets_the_same_replies_from_both_servers() {
    // The tokio example has no hang option: the tokio server runs here, configured as
    // the blocking example's flags configure it.
    let tokio_root = TempDir::new("parity-hang-tokio");
    let mut config = ServerConfig::default();
    config.session.storage_timeout = STORAGE_TIMEOUT;
    let path = tokio_root.path().to_path_buf();
    let tokio_server = ServerThread::start(config, move || {
        StaticUsers::new().user(
            "alice",
            "secret",
            HangOn(LocalFs::new(&path).unwrap()),
            true,
        )
    });
    let tokio_transcript = hang_script(tokio_server.address).await;

    let blocking_root = TempDir::new("parity-hang-blocking");
    let timeout = STORAGE_TIMEOUT.as_secs_f64().to_string();
    let blocking = blocking_server(
        blocking_root.path(),
        &["--storage-timeout", &timeout, "--hang-path", HANG],
    );
    let blocking_transcript = hang_script(blocking.address).await;
    assert_same(&tokio_transcript, &blocking_transcript);
    let codes: Vec<u16> = tokio_transcript
        .replies
        .iter()
        .map(|reply| code(reply))
        .collect();
    assert_eq!(
        codes,
        [220, 331, 230, 200, 211, 451, 200, 221],
        "{:?}",
        tokio_transcript.replies
    );
}
