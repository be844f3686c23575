//! The object-store back end (`ObjectStorage` over `object_store`'s in-memory store)
//! against clients no one here wrote: curl, lftp and Python's ftplib, on loopback. The
//! same scenario as `interop_server.rs` passes over a local directory, minus what an
//! object store cannot do, whose refusals are checked instead. Every transfer is
//! checked byte for byte against the store itself.
#![cfg(all(feature = "tokio", feature = "object-store", unix))]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use common::peers::{ServerThread, pattern, peer_available, run, run_ok};
use common::scenarios::{self, RawClient, Served, curl, lftp, python};
use ftp_proto::tokio::object_store::memory::InMemory;
use ftp_proto::tokio::object_store::path::Path;
use ftp_proto::tokio::object_store::{
    self, CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    ObjectStoreExt, PutMultipartOptions, PutOptions, PutPayload, PutResult, UploadPart,
};
use ftp_proto::tokio::{DIRECTORY_MARKER, ObjectStorage, ServerConfig, StaticUsers};
use futures_util::stream::BoxStream;

// ---------------------------------------------------------------------------------------
// A store that counts multipart uploads, to see that abandoned ones are aborted

#[derive(Debug, Default)]
struct Counts {
    started: AtomicUsize,
    completed: AtomicUsize,
    aborted: AtomicUsize,
}

#[derive(Debug)]
struct CountingStore {
    inner: InMemory,
    counts: Arc<Counts>,
}

impl std::fmt::Display for CountingStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CountingStore({})", self.inner)
    }
}

#[derive(Debug)]
struct CountingUpload {
    inner: Box<dyn MultipartUpload>,
    counts: Arc<Counts>,
}

#[async_trait]
impl MultipartUpload for CountingUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        self.inner.put_part(data)
    }

    async fn complete(&mut self) -> object_store::Result<PutResult> {
        let result = self.inner.complete().await;
        self.counts.completed.fetch_add(1, Ordering::SeqCst);
        result
    }

    async fn abort(&mut self) -> object_store::Result<()> {
        // A real store takes a round trip: an abort that is not awaited before the
        // failure is answered shows up late.
        tokio::time::sleep(Duration::from_millis(200)).await;
        self.counts.aborted.fetch_add(1, Ordering::SeqCst);
        self.inner.abort().await
    }
}

#[async_trait]
impl ObjectStore for CountingStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        let inner = self.inner.put_multipart_opts(location, opts).await?;
        self.counts.started.fetch_add(1, Ordering::SeqCst);
        Ok(Box::new(CountingUpload {
            inner,
            counts: Arc::clone(&self.counts),
        }))
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}

// ---------------------------------------------------------------------------------------
// The server under test

/// Our server over an in-memory bucket, with small parts so that a few hundred KiB
/// already make a multipart upload. User `alice` (password `secret`) may write;
/// `anonymous` may read. Everything lives below the key prefix `roots/main`.
struct ObjectServer {
    server: ServerThread,
    store: Arc<CountingStore>,
    runtime: tokio::runtime::Runtime,
}

const PREFIX: &str = "roots/main";
const PART_SIZE: usize = 64 * 1024;

impl ObjectServer {
    fn start() -> ObjectServer {
        Self::start_with(ServerConfig::default())
    }

    fn start_with(config: ServerConfig) -> ObjectServer {
        let store = Arc::new(CountingStore {
            inner: InMemory::new(),
            counts: Arc::default(),
        });
        let bucket = Arc::clone(&store);
        let server = ServerThread::start(config, move || {
            let root = ObjectStorage::new(bucket)
                .with_prefix(PREFIX)
                .unwrap()
                .with_part_size(PART_SIZE)
                .with_upload_concurrency(2);
            StaticUsers::new()
                .anonymous(root.clone())
                .user("alice", "secret", root, true)
        });
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        ObjectServer {
            server,
            store,
            runtime,
        }
    }

    fn url(&self, path: &str) -> String {
        self.server.url(path)
    }

    fn key(name: &str) -> Path {
        Path::parse(format!("{PREFIX}/{name}")).unwrap()
    }

    /// Stores an object below the prefix, as another server or tool would.
    fn put(&self, name: &str, data: &[u8]) {
        let payload = PutPayload::from(data.to_vec());
        self.runtime
            .block_on(self.store.put(&Self::key(name), payload))
            .unwrap();
    }

    /// Stores an object at a key of its own, outside the prefix.
    fn put_raw(&self, key: &str, data: &[u8]) {
        let payload = PutPayload::from(data.to_vec());
        self.runtime
            .block_on(self.store.put(&Path::parse(key).unwrap(), payload))
            .unwrap();
    }

    fn exists(&self, name: &str) -> bool {
        self.runtime
            .block_on(self.store.head(&Self::key(name)))
            .is_ok()
    }

    /// Every key in the bucket, sorted.
    fn keys(&self) -> Vec<String> {
        use futures_util::TryStreamExt as _;
        let mut keys: Vec<String> = self
            .runtime
            .block_on(self.store.list(None).try_collect::<Vec<_>>())
            .unwrap()
            .into_iter()
            .map(|meta| meta.location.to_string())
            .collect();
        keys.sort();
        keys
    }

    fn counts(&self) -> (usize, usize, usize) {
        let counts = &self.store.counts;
        (
            counts.started.load(Ordering::SeqCst),
            counts.completed.load(Ordering::SeqCst),
            counts.aborted.load(Ordering::SeqCst),
        )
    }
}

impl Served for ObjectServer {
    fn port(&self) -> u16 {
        self.server.address.port()
    }

    fn read(&self, name: &str) -> Vec<u8> {
        self.runtime
            .block_on(async {
                self.store
                    .get(&ObjectServer::key(name))
                    .await
                    .unwrap_or_else(|e| panic!("{name}: {e}"))
                    .bytes()
                    .await
            })
            .unwrap()
            .to_vec()
    }

    fn exists(&self, name: &str) -> bool {
        ObjectServer::exists(self, name)
    }

    fn put(&self, name: &str, data: &[u8]) {
        ObjectServer::put(self, name, data)
    }
}

// ---------------------------------------------------------------------------------------
// curl

#[test]
fn curl_lists_gets_and_puts_in_every_data_mode() {
    if !peer_available("curl") {
        return;
    }
    let server = ObjectServer::start();
    let data = pattern(300_000, 1);
    server.put("dir with space/file ü.bin", &data);
    server.put("readme.txt", b"hello\n");

    let listing = String::from_utf8(run_ok(curl().arg(server.url("")))).unwrap();
    assert!(
        listing
            .lines()
            .any(|line| line.starts_with('d') && line.ends_with(" dir with space")),
        "{listing}"
    );
    assert!(
        listing.lines().any(|line| line.starts_with("-rw-r--r--")
            && line.contains(" 6 ")
            && line.ends_with(" readme.txt")),
        "{listing}"
    );
    assert_eq!(listing.lines().count(), 2, "{listing}");

    let names = run_ok(
        curl()
            .arg("--list-only")
            .arg(server.url("dir%20with%20space/")),
    );
    assert_eq!(names, "file ü.bin\n".as_bytes());

    let url = server.url("dir%20with%20space/file%20%C3%BC.bin");
    for mode in [
        &["--ftp-pasv"][..],
        &["--disable-epsv"],
        &["--ftp-port", "-"],
        &["--ftp-port", "-", "--disable-eprt"],
    ] {
        let got = run_ok(curl().args(mode).arg(&url));
        assert!(got == data, "download with {mode:?} differs");
    }

    let local = common::peers::TempDir::new("object-upload");
    let upload = local.join("upload-source");
    std::fs::write(&upload, &data).unwrap();
    run_ok(
        curl()
            .args(["--user", "alice:secret", "-T"])
            .arg(&upload)
            .arg(server.url("new%20file.bin")),
    );
    assert!(server.read("new file.bin") == data);
    run_ok(
        curl()
            .args(["--user", "alice:secret", "-P", "-", "-T"])
            .arg(&upload)
            .arg(server.url("active.bin")),
    );
    assert!(server.read("active.bin") == data);
    // 300,000 bytes in 64 KiB parts: two multipart uploads, both completed.
    assert_eq!(server.counts(), (2, 2, 0));

    // A file smaller than a part goes up in one PUT, and an empty one too.
    let small = local.join("small");
    std::fs::write(&small, b"tiny").unwrap();
    run_ok(
        curl()
            .args(["--user", "alice:secret", "-T"])
            .arg(&small)
            .arg(server.url("small.txt")),
    );
    assert_eq!(server.read("small.txt"), b"tiny");
    let empty = local.join("empty");
    std::fs::write(&empty, b"").unwrap();
    run_ok(
        curl()
            .args(["--user", "alice:secret", "-T"])
            .arg(&empty)
            .arg(server.url("empty.txt")),
    );
    assert_eq!(server.read("empty.txt"), b"");
    assert_eq!(server.counts(), (2, 2, 0));
}

#[test]
fn curl_resumes_downloads_but_resumed_and_appended_uploads_are_refused() {
    if !peer_available("curl") {
        return;
    }
    let server = ObjectServer::start();
    let data = pattern(200_000, 2);
    server.put("whole.bin", &data);
    let local = common::peers::TempDir::new("object-resume");
    let partial = local.join("partial-download");
    std::fs::write(&partial, &data[..77_777]).unwrap();
    run_ok(
        curl()
            .args(["-C", "-", "-o"])
            .arg(&partial)
            .arg(server.url("whole.bin")),
    );
    assert!(
        std::fs::read(&partial).unwrap() == data,
        "resumed download differs"
    );

    // Resuming an upload needs writing into an object: refused, object untouched.
    server.put("half.bin", &data[..100_000]);
    let source = local.join("upload-source");
    std::fs::write(&source, &data).unwrap();
    let resumed = run(
        curl()
            .args(["--user", "alice:secret", "-C", "-", "-T"])
            .arg(&source)
            .arg(server.url("half.bin")),
        Duration::from_secs(60),
    );
    assert!(!resumed.status.success(), "a resumed upload was accepted");
    assert!(server.read("half.bin") == data[..100_000]);

    server.put("log.txt", b"one\n");
    let more = local.join("more");
    std::fs::write(&more, b"two\n").unwrap();
    let appended = run(
        curl()
            .args(["--user", "alice:secret", "--append", "-T"])
            .arg(&more)
            .arg(server.url("log.txt")),
        Duration::from_secs(60),
    );
    assert!(!appended.status.success(), "APPE was accepted");
    assert!(
        String::from_utf8_lossy(&appended.stderr).contains("502"),
        "{}",
        String::from_utf8_lossy(&appended.stderr)
    );
    assert_eq!(server.read("log.txt"), b"one\n");
}

#[test]
fn curl_file_operations_with_quote_commands() {
    if !peer_available("curl") {
        return;
    }
    let server = ObjectServer::start();
    server.put("a.txt", b"a");
    server.put(&format!("old dir/{DIRECTORY_MARKER}"), b"");
    server.put("old dir/x", b"x");
    run_ok(
        curl()
            .args([
                "--user",
                "alice:secret",
                "-Q",
                "MKD made",
                "-Q",
                "RNFR a.txt",
                "-Q",
                "RNTO made/b.txt",
                "-Q",
                "DELE old dir/x",
                "-Q",
                "RMD old dir",
            ])
            .arg(server.url("")),
    );
    assert!(!server.exists("a.txt"));
    assert_eq!(server.read("made/b.txt"), b"a");
    assert_eq!(
        server.keys(),
        [
            format!("{PREFIX}/made/{DIRECTORY_MARKER}"),
            format!("{PREFIX}/made/b.txt")
        ]
    );
    // A directory with a file in it stays; anonymous users change nothing.
    let refused = run(
        curl()
            .args(["--user", "alice:secret", "-Q", "RMD made"])
            .arg(server.url("")),
        Duration::from_secs(30),
    );
    assert!(!refused.status.success());
    let refused = run(
        curl().args(["-Q", "DELE made/b.txt"]).arg(server.url("")),
        Duration::from_secs(30),
    );
    assert!(!refused.status.success());
    assert!(server.exists("made/b.txt"));
}

#[test]
fn curl_moves_20_mib_in_parts_and_20_sessions_in_parallel() {
    if !peer_available("curl") {
        return;
    }
    let server = ObjectServer::start();
    let big = pattern(20 << 20, 3);
    let local = common::peers::TempDir::new("object-big");
    let source = local.join("big.bin");
    std::fs::write(&source, &big).unwrap();
    run_ok(
        curl()
            .args(["--user", "alice:secret", "-T"])
            .arg(&source)
            .arg(server.url("big.bin")),
    );
    assert!(server.read("big.bin") == big, "20 MiB upload differs");
    assert_eq!(server.counts(), (1, 1, 0));
    let got = run_ok(curl().arg(server.url("big.bin")));
    assert!(got == big, "20 MiB download differs");

    scenarios::curl_fetches_twenty_at_once(&server);
}

#[test]
fn curl_cannot_reach_outside_the_prefix() {
    if !peer_available("curl") {
        return;
    }
    let server = ObjectServer::start();
    server.put_raw("secret", b"secret");
    server.put_raw("roots/other/secret", b"secret");
    server.put_raw("roots/main-not-mine", b"secret");
    server.put("inside.txt", b"ok");
    for path in [
        "%2E%2E/secret",
        "%2E%2E/%2E%2E/secret",
        "%2E%2E/other/secret",
        "..%5Cother%5Csecret",
        "%2E%2E/main-not-mine",
    ] {
        let output = run(curl().arg(server.url(path)), Duration::from_secs(30));
        assert!(!output.stdout.starts_with(b"secret"), "{path} leaked");
    }
    let listing = String::from_utf8(run_ok(curl().arg("--list-only").arg(server.url("")))).unwrap();
    assert_eq!(listing, "inside.txt\n");
    assert_eq!(run_ok(curl().arg(server.url("inside.txt"))), b"ok");
}

// ---------------------------------------------------------------------------------------
// Refusals, over a raw control connection

#[test]
fn what_an_object_store_cannot_do_is_refused_and_not_advertised() {
    let server = ObjectServer::start();
    server.put("readme.txt", b"read me");
    let mut client = RawClient::connect(server.port());
    let feat = client.command("FEAT");
    assert!(feat.starts_with("211-"), "{feat}");
    let features: Vec<&str> = feat.lines().map(str::trim).collect();
    assert!(!features.contains(&"MFMT"), "{feat}");
    for expected in ["REST STREAM", "SIZE", "MDTM", "EPSV"] {
        assert!(features.contains(&expected), "{expected} missing: {feat}");
    }
    client.login();
    assert!(client.command("MDTM readme.txt").starts_with("213 "));
    assert_eq!(client.command("SIZE readme.txt"), "213 7\r\n");

    let reply = client.command("MFMT 20200102030405 readme.txt");
    assert!(reply.starts_with("502"), "{reply}");
    client.extended_passive_port();
    let reply = client.command("APPE readme.txt");
    assert!(reply.starts_with("502"), "{reply}");
    assert!(client.command("REST 3").starts_with("350"));
    let reply = client.command("STOR readme.txt");
    assert!(reply.starts_with("502"), "{reply}");

    assert!(client.command("MKD folder").starts_with("257"));
    let reply = client.command("RNFR folder");
    assert!(reply.starts_with("504"), "{reply}");
    assert!(client.command("RNTO moved").starts_with("503"));

    // MLSx perm facts leave out append (`a`) and renaming directories (`f`).
    let file = client.command("MLST readme.txt");
    assert!(file.contains("perm=dfrw;"), "{file}");
    let folder = client.command("MLST folder");
    assert!(folder.contains("perm=cdelmp;"), "{folder}");
    assert!(folder.contains("type=dir;"), "{folder}");

    // The marker name and backslashes are not names a client may use.
    let reply = client.command(&format!("MKD folder/{DIRECTORY_MARKER}"));
    assert!(reply.starts_with("553"), "{reply}");
    assert!(client.command("CWD a\\..\\..\\etc").starts_with("553"));
    // Object keys are UTF-8: a Latin-1 name cannot be stored.
    client.writer.write_all(b"MKD caf\xe9\r\n").unwrap();
    let reply = client.reply();
    assert!(reply.starts_with("553"), "{reply}");
    // Nothing was changed by any of it.
    assert_eq!(server.read("readme.txt"), b"read me");
    assert_eq!(
        server.keys(),
        [
            format!("{PREFIX}/folder/{DIRECTORY_MARKER}"),
            format!("{PREFIX}/readme.txt")
        ]
    );
}

#[test]
fn directories_are_prefixes_with_a_marker() {
    let server = ObjectServer::start();
    let mut client = RawClient::connect(server.port());
    client.login();
    assert!(client.command("MKD a").starts_with("257"));
    assert!(client.command("MKD a").starts_with("550"), "exists already");
    assert!(
        client.command("MKD missing/b").starts_with("550"),
        "no parent"
    );
    assert!(client.command("CWD a").starts_with("250"));
    assert!(client.command("CWD /nowhere").starts_with("550"));
    assert!(client.command("MKD b").starts_with("257"));
    assert!(client.command("RMD /a").starts_with("550"), "not empty");
    assert!(client.command("RMD b").starts_with("250"));
    assert!(client.command("RMD b").starts_with("550"), "gone");
    assert!(client.command("CWD /").starts_with("250"));
    assert!(client.command("RMD a").starts_with("250"));
    assert_eq!(server.keys(), Vec::<String>::new());

    // A directory that exists only through its contents (written by another tool).
    server.put("implicit/deep/file.txt", b"x");
    assert!(client.command("CWD implicit/deep").starts_with("250"));
    assert!(client.command("CWD /").starts_with("250"));
    assert!(client.command("DELE implicit").starts_with("550"));
    assert!(client.command("RMD implicit").starts_with("550"));
    assert!(client.command("SIZE implicit").starts_with("550"));
    assert!(client.command("DELE implicit/nothing").starts_with("550"));
    assert!(client.command("RNFR implicit/nothing").starts_with("550"));
    // Renaming onto a directory is refused; into a missing directory too.
    assert!(
        client
            .command("RNFR implicit/deep/file.txt")
            .starts_with("350")
    );
    assert!(client.command("RNTO implicit").starts_with("550"));
    assert!(
        client
            .command("RNFR implicit/deep/file.txt")
            .starts_with("350")
    );
    assert!(client.command("RNTO nowhere/file.txt").starts_with("550"));
    assert!(
        client
            .command("RNFR implicit/deep/file.txt")
            .starts_with("350")
    );
    assert!(client.command("RNTO top.txt").starts_with("250"));
    assert_eq!(server.keys(), [format!("{PREFIX}/top.txt")]);
}

#[test]
fn an_upload_cut_off_midway_is_aborted_and_the_old_object_stays() {
    let server = ObjectServer::start();
    server.put("keep.txt", b"the old content");
    let mut client = RawClient::connect(server.port());
    client.login();
    let port = client.extended_passive_port();
    let mut data_connection = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let opening = client.command("STOR keep.txt");
    assert!(
        opening.starts_with("125") || opening.starts_with("150"),
        "{opening}"
    );
    // Several parts' worth; the multipart upload is under way once the first part
    // fills.
    data_connection.write_all(&pattern(500_000, 14)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while server.counts().0 == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(server.counts().0, 1, "no multipart upload started");
    // The client dies, control connection first (see interop_server.rs).
    drop(client);
    let mut rest = Vec::new();
    let _ = std::io::Read::read_to_end(&mut data_connection, &mut rest);
    drop(data_connection);
    // The abandoned multipart upload is aborted, on its own task: wait for it.
    let deadline = Instant::now() + Duration::from_secs(20);
    while server.counts().2 == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(server.counts(), (1, 0, 1), "started, completed, aborted");
    assert_eq!(server.read("keep.txt"), b"the old content");
    assert_eq!(server.keys(), [format!("{PREFIX}/keep.txt")]);
}

// ---------------------------------------------------------------------------------------
// lftp

#[test]
fn lftp_mirrors_both_ways_in_passive_and_active_mode() {
    if peer_available("lftp") {
        scenarios::lftp_mirrors_both_ways(ObjectServer::start);
    }
}

#[test]
fn lftp_uses_mlsd_and_file_commands() {
    if !peer_available("lftp") {
        return;
    }
    let server = ObjectServer::start();
    server.put("x.txt", b"12345");
    let output = lftp(
        &server,
        "alice,secret",
        "mkdir made; mv x.txt made/y.txt; cls -l --sort=name made; rm made/y.txt; rmdir made; ls",
    );
    let output = String::from_utf8_lossy(&output);
    assert!(output.contains("y.txt"), "{output}");
    assert_eq!(server.keys(), Vec::<String>::new());
}

// ---------------------------------------------------------------------------------------
// Python's ftplib

#[test]
fn python_ftplib_does_everything_an_object_store_can() {
    if peer_available("python3") {
        scenarios::ftplib_does_everything(&ObjectServer::start(), false);
    }
}

#[test]
fn python_ftplib_abort_is_answered_and_the_session_goes_on() {
    if peer_available("python3") {
        scenarios::ftplib_aborts_a_download_and_goes_on(&ObjectServer::start());
    }
}

#[test]
fn python_ftplib_holds_forty_sessions_from_one_address() {
    if peer_available("python3") {
        scenarios::ftplib_holds_forty_sessions_at_once(&ObjectServer::start());
    }
}

#[test]
fn python_ftplib_ascii_mode_and_stou() {
    if !peer_available("python3") {
        return;
    }
    let server = ObjectServer::start();
    server.put("unix.txt", b"one\ntwo\n");
    let script = format!(
        r#"
import ftplib, io
ftp = ftplib.FTP()
ftp.connect("127.0.0.1", {port}, timeout=30)
ftp.login("alice", "secret")
lines = []
ftp.retrlines("RETR unix.txt", lines.append)
print(lines)
ftp.storlines("STOR stored.txt", io.BytesIO(b"a\nb\n"))
reply = ftp.storbinary("STOU unique.txt", io.BytesIO(b"u"))
print(reply[:3])
ftp.quit()
"#,
        port = server.port()
    );
    assert_eq!(python(&script), "['one', 'two']\n226\n");
    assert_eq!(server.read("stored.txt"), b"a\nb\n");
    let unique: Vec<String> = server
        .keys()
        .into_iter()
        .filter(|key| key.starts_with(&format!("{PREFIX}/unique.txt.")))
        .collect();
    assert_eq!(unique.len(), 1, "{:?}", server.keys());
    assert_eq!(
        server.read(unique[0].strip_prefix(&format!("{PREFIX}/")).unwrap()),
        b"u"
    );
}

#[test]
fn a_broken_upload_is_aborted_before_the_failure_is_answered() {
    if !peer_available("python3") {
        return;
    }
    let server = ObjectServer::start();
    server.put("keep.txt", b"the old content");
    // The client resets the data connection mid-upload but keeps its control connection
    // to read the answer.
    let script = format!(
        r#"
import ftplib, socket, sys
ftp = ftplib.FTP()
ftp.connect("127.0.0.1", {port}, timeout=30)
ftp.login("alice", "secret")
data = ftp.transfercmd("STOR keep.txt")
data.sendall(b"x" * 300000)
print("sent", flush=True)
sys.stdin.readline()
data.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
data.close()
try:
    print(ftp.voidresp()[:3], flush=True)
except ftplib.Error as e:
    print(str(e)[:3], flush=True)
sys.stdin.readline()
print(ftp.quit()[:3], flush=True)
"#,
        port = server.port()
    );
    let mut client = Command::new("python3")
        .args(["-c", &script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = client.stdin.take().unwrap();
    let mut said = BufReader::new(client.stdout.take().unwrap());
    let mut line = String::new();
    said.read_line(&mut line).unwrap();
    assert_eq!(line, "sent\n");
    let deadline = Instant::now() + Duration::from_secs(20);
    while server.counts().0 == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(server.counts().0, 1, "no multipart upload started");
    input.write_all(b"go\n").unwrap();
    line.clear();
    said.read_line(&mut line).unwrap();
    assert_eq!(line, "426\n");
    // Aborted already when the 426 came: no waiting here.
    assert_eq!(server.counts(), (1, 0, 1), "started, completed, aborted");
    input.write_all(b"go\n").unwrap();
    line.clear();
    said.read_line(&mut line).unwrap();
    assert_eq!(line, "221\n");
    assert!(client.wait().unwrap().success());
    assert_eq!(server.read("keep.txt"), b"the old content");
}
