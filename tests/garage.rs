//! The object-store back end against a real distributed object store: a Garage node
//! on loopback, set up from scratch by each test (config, layout, bucket, key), with
//! curl and Python's ftplib as clients. Then two of our servers share one bucket, as
//! they would in front of one store in production, and a three-node cluster keeps
//! serving two of our servers with one node down.
//!
//! Garage is a separate program (`.ci/run` installs it). Missing, these tests skip
//! loudly, or fail under `CI=true`, as the other peers do.
#![cfg(all(feature = "tokio", feature = "object-store", unix))]

mod common;

use std::hash::{BuildHasher, Hasher};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::example::ExampleServer;
use common::peers::{ServerThread, TempDir, free_port, pattern, peer_available, run, run_ok};
use common::scenarios::{RawClient, sha256};
use ftp_proto::tokio::object_store::aws::{AmazonS3, AmazonS3Builder};
use ftp_proto::tokio::{ObjectStorage, ServerConfig, StaticUsers};

/// Where the `garage` program is: `$GARAGE`, the `PATH`, or cargo's bin directory
/// (where `cargo install` puts it). `None`, after the loud skip or the CI failure.
fn garage_program() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("GARAGE") {
        return Some(PathBuf::from(path));
    }
    let cargo_bin = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")))
        .map(|home| home.join("bin").join("garage"));
    if let Some(path) = cargo_bin.filter(|path| path.is_file()) {
        return Some(path);
    }
    // The usual policy and message for a program that must be on the PATH.
    peer_available("garage").then(|| PathBuf::from("garage"))
}

/// 64 hex digits that no other run shares.
fn random_hex() -> String {
    (0..4)
        .map(|round| {
            let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
            hasher.write_u32(std::process::id());
            hasher.write_u32(round);
            hasher.write_u128(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos(),
            );
            format!("{:016x}", hasher.finish())
        })
        .collect()
}

/// One Garage node: its config file and process, killed on drop.
struct Node {
    config: PathBuf,
    child: Child,
    s3_port: u16,
    rpc_port: u16,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A Garage cluster on free loopback ports (one node, or several in zones of their
/// own, each holding a replica), with a bucket and a key that may use it.
struct Garage {
    program: PathBuf,
    nodes: Vec<Node>,
    bucket: String,
    key_id: String,
    secret: String,
    _dir: TempDir,
}

impl Garage {
    fn start() -> Option<Garage> {
        Garage::cluster(1)
    }

    /// `count` nodes with a replication factor of `count`.
    fn cluster(count: usize) -> Option<Garage> {
        let program = garage_program()?;
        let dir = TempDir::new("garage");
        let secret = random_hex();
        let mut nodes = Vec::new();
        for index in 0..count {
            let (rpc, s3, admin) = (free_port(), free_port(), free_port());
            let config = dir.join(&format!("garage-{index}.toml"));
            std::fs::write(
                &config,
                format!(
                    "metadata_dir = \"{meta}\"\n\
                     data_dir = \"{data}\"\n\
                     db_engine = \"sqlite\"\n\
                     replication_factor = {count}\n\
                     rpc_bind_addr = \"127.0.0.1:{rpc}\"\n\
                     rpc_public_addr = \"127.0.0.1:{rpc}\"\n\
                     rpc_secret = \"{secret}\"\n\
                     [s3_api]\n\
                     s3_region = \"garage\"\n\
                     api_bind_addr = \"127.0.0.1:{s3}\"\n\
                     root_domain = \".s3.garage.localhost\"\n\
                     [admin]\n\
                     api_bind_addr = \"127.0.0.1:{admin}\"\n",
                    meta = dir.join(&format!("meta-{index}")).display(),
                    data = dir.join(&format!("data-{index}")).display(),
                ),
            )
            .unwrap();
            let log = std::fs::File::create(dir.join(&format!("garage-{index}.log"))).unwrap();
            let child = Command::new(&program)
                .arg("-c")
                .arg(&config)
                .arg("server")
                .env("RUST_LOG", "warn")
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .expect("garage starts");
            nodes.push(Node {
                config,
                child,
                s3_port: s3,
                rpc_port: rpc,
            });
        }
        let ports: std::collections::HashSet<u16> = nodes
            .iter()
            .flat_map(|node| [node.s3_port, node.rpc_port])
            .collect();
        assert_eq!(ports.len(), 2 * count, "port clash");
        let mut garage = Garage {
            program,
            nodes,
            bucket: "ftp-test".to_owned(),
            key_id: String::new(),
            secret: String::new(),
            _dir: dir,
        };
        garage.set_up();
        Some(garage)
    }

    fn cli(&self, node: usize) -> Command {
        let mut command = Command::new(&self.program);
        command.arg("-c").arg(&self.nodes[node].config);
        command
    }

    /// Runs a CLI command on the first node until it succeeds (the cluster may still
    /// be starting), for at most 30 s; returns its output.
    fn cli_until_ok(&mut self, args: &[&str]) -> String {
        self.cli_on_until_ok(0, args)
    }

    fn cli_on_until_ok(&mut self, node: usize, args: &[&str]) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let output = run(self.cli(node).args(args), Duration::from_secs(30));
            if output.status.success() {
                return String::from_utf8_lossy(&output.stdout).into_owned();
            }
            for node in &mut self.nodes {
                if let Ok(Some(status)) = node.child.try_wait() {
                    panic!("garage exited with {status}; see its log");
                }
            }
            assert!(
                Instant::now() < deadline,
                "garage {args:?} kept failing: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn set_up(&mut self) {
        let mut ids = Vec::new();
        for node in 0..self.nodes.len() {
            let id = self.cli_on_until_ok(node, &["node", "id", "-q"]);
            ids.push(id.trim().to_owned());
        }
        // Every node meets the first; the first spreads the word.
        for id in &ids[1..] {
            self.cli_until_ok(&["node", "connect", id]);
        }
        for (index, id) in ids.iter().enumerate() {
            let node = id.split('@').next().expect("a node id").to_owned();
            let zone = format!("dc{}", index + 1);
            self.cli_until_ok(&["layout", "assign", "-z", &zone, "-c", "1G", &node]);
        }
        self.cli_until_ok(&["layout", "apply", "--version", "1"]);
        let bucket = self.bucket.clone();
        self.cli_until_ok(&["bucket", "create", &bucket]);
        let key = self.cli_until_ok(&["key", "create", "ftp-test-key"]);
        let field = |name: &str| {
            key.lines()
                .find_map(|line| line.strip_prefix(name))
                .map(|value| value.trim().to_owned())
                .unwrap_or_else(|| panic!("no {name} in {key}"))
        };
        self.key_id = field("Key ID:");
        self.secret = field("Secret key:");
        self.cli_until_ok(&[
            "bucket",
            "allow",
            "--read",
            "--write",
            "--owner",
            &bucket,
            "--key",
            "ftp-test-key",
        ]);
        for node in &mut self.nodes {
            common::peers::wait_for_port(node.s3_port, &mut node.child, "garage S3 API");
        }
    }

    /// A client of the bucket through `node`'s S3 API, as the example server builds one.
    fn store(&self, node: usize) -> AmazonS3 {
        AmazonS3Builder::new()
            .with_endpoint(format!("http://127.0.0.1:{}", self.nodes[node].s3_port))
            .with_region("garage")
            .with_bucket_name(&self.bucket)
            .with_access_key_id(&self.key_id)
            .with_secret_access_key(&self.secret)
            .with_allow_http(true)
            .build()
            .expect("an S3 client")
    }

    /// Our server over the bucket (below `prefix`), with its own S3 client of the first
    /// node: user `alice` (password `secret`) may write, `anonymous` may read.
    fn ftp_server(&self, prefix: &str, list_page_size: usize) -> ServerThread {
        self.ftp_server_on(0, prefix, list_page_size)
    }

    /// The same, through `node`'s S3 API.
    fn ftp_server_on(&self, node: usize, prefix: &str, list_page_size: usize) -> ServerThread {
        let store = self.store(node);
        let prefix = prefix.to_owned();
        ServerThread::start(ServerConfig::default(), move || {
            let root = ObjectStorage::paginated(store)
                .with_prefix(&prefix)
                .unwrap()
                .with_part_size(5 * 1024 * 1024)
                .with_list_page_size(list_page_size);
            StaticUsers::new()
                .anonymous(root.clone())
                .user("alice", "secret", root, true)
        })
    }

    /// What `garage bucket info` says, for counting objects and unfinished uploads.
    fn bucket_info(&mut self) -> String {
        let bucket = self.bucket.clone();
        self.cli_until_ok(&["bucket", "info", &bucket])
    }
}

fn curl() -> Command {
    let mut command = Command::new("curl");
    command.args(["--silent", "--show-error", "--max-time", "120"]);
    command
}

fn peers_available() -> bool {
    peer_available("curl") && peer_available("python3")
}

#[test]
fn the_ftp_scenario_through_garage() {
    if !peers_available() {
        return;
    }
    let Some(mut garage) = Garage::start() else {
        return;
    };
    // Pages of two keys: every listing below takes several requests.
    let server = garage.ftp_server("", 2);
    let local = TempDir::new("garage-local");

    // Uploads: 12 MiB is three parts of 5 MiB; the small files one PUT each.
    let big = pattern(12 << 20, 21);
    std::fs::write(local.join("big.bin"), &big).unwrap();
    run_ok(
        curl()
            .args(["--user", "alice:secret", "--ftp-create-dirs", "-T"])
            .arg(local.join("big.bin"))
            .arg(server.url("dir%20one/big.bin")),
    );
    for index in 0..5 {
        std::fs::write(local.join("small"), format!("small {index}\n")).unwrap();
        run_ok(
            curl()
                .args(["--user", "alice:secret", "-P", "-", "-T"])
                .arg(local.join("small"))
                .arg(server.url(&format!("dir%20one/small-{index}.txt"))),
        );
    }

    // Listings, paged.
    let names = run_ok(curl().arg("--list-only").arg(server.url("dir%20one/")));
    assert_eq!(
        String::from_utf8(names).unwrap(),
        "big.bin\nsmall-0.txt\nsmall-1.txt\nsmall-2.txt\nsmall-3.txt\nsmall-4.txt\n"
    );
    let listing = String::from_utf8(run_ok(curl().arg(server.url("")))).unwrap();
    assert!(
        listing
            .lines()
            .any(|line| line.starts_with('d') && line.ends_with(" dir one")),
        "{listing}"
    );

    // Downloads, passive and active, whole and resumed.
    let url = server.url("dir%20one/big.bin");
    for mode in [&["--ftp-pasv"][..], &["--ftp-port", "-"]] {
        let got = run_ok(curl().args(mode).arg(&url));
        assert!(got == big, "download with {mode:?} differs");
    }
    let partial = local.join("partial");
    std::fs::write(&partial, &big[..3_000_001]).unwrap();
    run_ok(curl().args(["-C", "-", "-o"]).arg(&partial).arg(&url));
    assert!(std::fs::read(&partial).unwrap() == big, "resumed download");

    // Everything else through ftplib, refusals included.
    let script = format!(
        r#"
import ftplib, io, hashlib
ftp = ftplib.FTP()
ftp.connect("127.0.0.1", {port}, timeout=60)
ftp.login("alice", "secret")
feat = ftp.sendcmd("FEAT")
print("mfmt advertised", "MFMT" in feat)
ftp.cwd("dir one")
print("size", ftp.size("big.bin"))
print("mdtm", ftp.voidcmd("MDTM big.bin")[:4])
facts = dict(ftp.mlsd(facts=["type", "size"]))
print("mlsd", len(facts), facts["big.bin"]["type"], facts["big.bin"]["size"])
buf = io.BytesIO()
ftp.retrbinary("RETR big.bin", buf.write, rest=5 * 1024 * 1024 + 3)
print("rest", hashlib.sha256(buf.getvalue()).hexdigest())
ftp.mkd("sub")
ftp.storbinary("STOR sub/copy.bin", io.BytesIO(b"copied"))
ftp.rename("sub/copy.bin", "moved.bin")
print("moved", sorted(ftp.nlst("sub")), ftp.size("moved.bin"))
for command in ("APPE moved.bin", "MFMT 20200102030405 moved.bin", "RNFR sub"):
    try:
        if command.startswith("APPE"):
            ftp.storbinary(command, io.BytesIO(b"more"))
        else:
            ftp.sendcmd(command)
        print(command, "accepted")
    except ftplib.error_perm as e:
        print(command.split()[0], str(e)[:3])
try:
    ftp.rmd("/dir one")
except ftplib.error_perm as e:
    print("rmd non-empty", str(e)[:3])
ftp.rmd("sub")
ftp.delete("moved.bin")
for index in range(5):
    ftp.delete("small-%d.txt" % index)
print("left", ftp.nlst())
print("quit", ftp.quit()[:3])
"#,
        port = server.address.port()
    );
    let output = String::from_utf8(run_ok(Command::new("python3").args(["-c", &script]))).unwrap();
    let expected = format!(
        "mfmt advertised False\nsize {size}\nmdtm 213 \nmlsd 6 file {size}\nrest {rest}\n\
         moved [] 6\nAPPE 502\nMFMT 502\nRNFR 504\nrmd non-empty 550\nleft ['big.bin']\nquit 221\n",
        size = big.len(),
        rest = sha256(&big[5 * 1024 * 1024 + 3..]),
    );
    assert_eq!(output, expected);
    let info = garage.bucket_info();
    // big.bin and the marker curl's MKD left in "dir one"; no upload left unfinished.
    assert_eq!(
        bucket_field(&info, "Objects:").as_deref(),
        Some("2"),
        "{info}"
    );
    assert_eq!(unfinished_uploads(&info), None, "{info}");
}

#[test]
fn an_aborted_upload_to_garage_leaves_the_old_object() {
    if !peers_available() {
        return;
    }
    let Some(mut garage) = Garage::start() else {
        return;
    };
    let server = garage.ftp_server("prefixed/root", 1000);
    let local = TempDir::new("garage-abort");
    std::fs::write(local.join("old"), b"the old content").unwrap();
    run_ok(
        curl()
            .args(["--user", "alice:secret", "-T"])
            .arg(local.join("old"))
            .arg(server.url("keep.txt")),
    );
    // An upload of two parts and more, whose client goes away after 11 MiB: it closes
    // the control connection, then resets the data connection.
    let script = format!(
        r#"
import ftplib, socket, sys
ftp = ftplib.FTP()
ftp.connect("127.0.0.1", {port}, timeout=60)
ftp.login("alice", "secret")
data = ftp.transfercmd("STOR keep.txt")
chunk = b"x" * (1024 * 1024)
for _ in range(11):
    data.sendall(chunk)
print("sent", flush=True)
sys.stdin.readline()
ftp.sock.close()
data.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
data.close()
print("gone", flush=True)
"#,
        port = server.address.port()
    );
    let mut client = Command::new("python3")
        .args(["-c", &script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut said = std::io::BufReader::new(client.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut said, &mut line).unwrap();
    assert_eq!(line, "sent\n");
    // The multipart upload is under way in Garage...
    let deadline = Instant::now() + Duration::from_secs(30);
    while unfinished_uploads(&garage.bucket_info()).is_none() {
        assert!(Instant::now() < deadline, "no multipart upload was started");
        std::thread::sleep(Duration::from_millis(50));
    }
    // ...until the client goes away: then it is aborted, and the old object stays.
    client.stdin.take().unwrap().write_all(b"go\n").unwrap();
    line.clear();
    std::io::BufRead::read_line(&mut said, &mut line).unwrap();
    assert_eq!(line, "gone\n");
    assert!(client.wait().unwrap().success());
    // keep.txt alone: the upload (and its record) is gone.
    wait_for_no_unfinished_uploads(&mut garage, "1");
    assert_eq!(
        run_ok(curl().arg(server.url("keep.txt"))),
        b"the old content"
    );
    assert_eq!(
        run_ok(curl().arg("--list-only").arg(server.url(""))),
        b"keep.txt\n"
    );
}

#[test]
fn uploads_a_killed_server_left_open_are_aborted_at_the_next_start() {
    if !peers_available() {
        return;
    }
    let Some(mut garage) = Garage::start() else {
        return;
    };
    let root = TempDir::new("garage-killed");
    let endpoint = format!("http://127.0.0.1:{}", garage.nodes[0].s3_port);
    let bucket = garage.bucket.clone();
    let flags = [
        "--s3-endpoint",
        &endpoint,
        "--s3-bucket",
        &bucket,
        "--s3-prefix",
        "fleet",
    ];
    let (key_id, secret) = (garage.key_id.clone(), garage.secret.clone());
    let env = [
        ("AWS_ACCESS_KEY_ID", key_id.as_str()),
        ("AWS_SECRET_ACCESS_KEY", secret.as_str()),
        ("AWS_REGION", "garage"),
    ];
    let mut server = ExampleServer::start_with_env(root.path(), &flags, &env);
    let url = format!("ftp://127.0.0.1:{}/", server.address.port());
    let local = TempDir::new("garage-killed-local");
    std::fs::write(local.join("old"), b"the old content").unwrap();
    run_ok(
        curl()
            .args(["--user", "alice:secret", "-T"])
            .arg(local.join("old"))
            .arg(format!("{url}keep.txt")),
    );

    // An upload of more than one part (the example server's parts are 8 MiB)...
    let mut control = RawClient::connect(server.address.port());
    control.login();
    assert!(control.command("TYPE I").starts_with("200"));
    let port = control.extended_passive_port();
    let mut data = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    control.send(b"STOR keep.txt\r\n");
    let reply = control.reply();
    // 125 or 150, as the data connection was accepted before the command or not.
    assert!(reply.starts_with('1'), "{reply}\n{}", server.log());
    data.write_all(&pattern(11 << 20, 24)).unwrap();
    // ...is a multipart upload in Garage...
    let deadline = Instant::now() + Duration::from_secs(30);
    while unfinished_uploads(&garage.bucket_info()).is_none() {
        assert!(Instant::now() < deadline, "no multipart upload was started");
        std::thread::sleep(Duration::from_millis(50));
    }
    // ...when its server is killed: nothing aborts it.
    server.kill();
    drop((data, control));
    let info = garage.bucket_info();
    assert!(unfinished_uploads(&info).is_some(), "{info}");

    // A server started with the default bound (a day) leaves it: it could be the
    // upload of another server sharing the bucket.
    drop(ExampleServer::start_with_env(root.path(), &flags, &env));
    let info = garage.bucket_info();
    assert!(unfinished_uploads(&info).is_some(), "{info}");

    // With a bound it has outlived, the next start aborts it before serving.
    let mut flags = flags.to_vec();
    flags.extend(["--abort-uploads-older-than", "0"]);
    let server = ExampleServer::start_with_env(root.path(), &flags, &env);
    assert!(
        server
            .log()
            .contains("Aborted 1 abandoned multipart upload"),
        "{}",
        server.log()
    );
    // keep.txt alone: the upload (and its record) is gone.
    wait_for_no_unfinished_uploads(&mut garage, "1");
    let url = format!("ftp://127.0.0.1:{}/", server.address.port());
    assert_eq!(
        run_ok(curl().arg(format!("{url}keep.txt"))),
        b"the old content"
    );
    assert_eq!(run_ok(curl().arg("--list-only").arg(&url)), b"keep.txt\n");
}

/// A field of `garage bucket info`'s output (`Objects:` ...), trimmed.
fn bucket_field(info: &str, name: &str) -> Option<String> {
    info.lines()
        .find_map(|line| line.strip_prefix(name))
        .map(|value| value.trim().to_owned())
}

/// Polls Garage (its counts follow its tables a moment later) until the bucket has no
/// unfinished upload, for at most 30 s, then checks it holds `objects` objects.
fn wait_for_no_unfinished_uploads(garage: &mut Garage, objects: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let info = garage.bucket_info();
        if unfinished_uploads(&info).is_none() {
            assert_eq!(
                bucket_field(&info, "Objects:").as_deref(),
                Some(objects),
                "{info}"
            );
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the upload was never aborted: {info}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Garage's count of unfinished uploads; the line is absent when there are none.
fn unfinished_uploads(info: &str) -> Option<String> {
    bucket_field(info, "Unfinished uploads:")
}

#[test]
fn two_servers_share_one_bucket() {
    if !peers_available() {
        return;
    }
    let Some(garage) = Garage::start() else {
        return;
    };
    let first = garage.ftp_server("shared", 1000);
    let second = garage.ftp_server("shared", 1000);
    let local = TempDir::new("garage-shared");
    let data = pattern(7 << 20, 22);
    std::fs::write(local.join("data.bin"), &data).unwrap();

    // Stored through one, listed and fetched through the other, identical by hash.
    run_ok(
        curl()
            .args(["--user", "alice:secret", "-Q", "MKD reports", "-T"])
            .arg(local.join("data.bin"))
            .arg(first.url("reports/data.bin")),
    );
    let listing = String::from_utf8(run_ok(curl().arg(second.url("reports/")))).unwrap();
    assert!(
        listing.lines().any(|line| line.starts_with("-rw")
            && line.contains(&format!(" {} ", data.len()))
            && line.ends_with(" data.bin")),
        "{listing}"
    );
    let fetched = run_ok(curl().arg(second.url("reports/data.bin")));
    assert_eq!(sha256(&fetched), sha256(&data));

    // Changes through the second are seen by the first.
    run_ok(
        curl()
            .args(["--user", "alice:secret", "-Q", "RNFR reports/data.bin"])
            .args(["-Q", "RNTO reports/renamed.bin"])
            .arg(second.url("")),
    );
    assert_eq!(
        run_ok(curl().arg("--list-only").arg(first.url("reports/"))),
        b"renamed.bin\n"
    );
    let fetched = run_ok(curl().arg(first.url("reports/renamed.bin")));
    assert_eq!(sha256(&fetched), sha256(&data));
    run_ok(
        curl()
            .args(["--user", "alice:secret", "-Q", "DELE reports/renamed.bin"])
            .args(["-Q", "RMD reports"])
            .arg(first.url("")),
    );
    assert_eq!(run_ok(curl().arg("--list-only").arg(second.url(""))), b"");
}

#[test]
fn three_nodes_two_servers_and_one_node_down() {
    if !peers_available() {
        return;
    }
    let Some(mut garage) = Garage::cluster(3) else {
        return;
    };
    // Each server talks to a different node; every node holds a replica.
    let first = garage.ftp_server_on(0, "", 1000);
    let third = garage.ftp_server_on(2, "", 1000);
    let local = TempDir::new("garage-cluster");
    let data = pattern(6 << 20, 23);
    std::fs::write(local.join("data.bin"), &data).unwrap();
    run_ok(
        curl()
            .args(["--user", "alice:secret", "-T"])
            .arg(local.join("data.bin"))
            .arg(first.url("data.bin")),
    );
    assert_eq!(
        run_ok(curl().arg("--list-only").arg(third.url(""))),
        b"data.bin\n"
    );
    assert_eq!(
        sha256(&run_ok(curl().arg(third.url("data.bin")))),
        sha256(&data)
    );

    // One node of three goes away: a quorum of two still reads and writes.
    let down = &mut garage.nodes[1];
    down.child.kill().unwrap();
    down.child.wait().unwrap();
    assert_eq!(
        sha256(&run_ok(curl().arg(third.url("data.bin")))),
        sha256(&data)
    );
    std::fs::write(local.join("later.txt"), b"written with a node down").unwrap();
    run_ok(
        curl()
            .args(["--user", "alice:secret", "-T"])
            .arg(local.join("later.txt"))
            .arg(third.url("later.txt")),
    );
    assert_eq!(
        run_ok(curl().arg(first.url("later.txt"))),
        b"written with a node down"
    );
    assert_eq!(
        run_ok(curl().arg("--list-only").arg(first.url(""))),
        b"data.bin\nlater.txt\n"
    );
}
