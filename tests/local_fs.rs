//! `LocalFs` through the server, for what only a real server shows (issue 16): a server
//! killed mid-upload leaves no staging file behind, long names upload, staging names
//! are the server's own, and special files (named pipes) never block a session.
#![cfg(all(feature = "tokio", target_os = "linux"))]

mod common;

use std::io::Write as _;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::example::{ExampleServer, PROBE};
use common::peers::{TempDir, TestServer, pattern, peer_available, run_ok};
use common::scenarios::{RawClient, curl};
use ftp_proto::tokio::STAGING_PREFIX;

/// The names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// The first file the process `pid` holds open below `root` (other than the probe)
/// with at least `size` bytes in it, with its descriptor's path in `/proc`.
fn open_file_below(pid: u32, root: &Path, size: u64) -> Option<(PathBuf, String)> {
    for entry in std::fs::read_dir(format!("/proc/{pid}/fd")).ok()? {
        let fd = entry.ok()?.path();
        let Ok(target) = std::fs::read_link(&fd) else {
            continue;
        };
        let target = target.to_string_lossy().into_owned();
        if target.starts_with(root.to_str()?)
            && !target.ends_with(PROBE)
            && std::fs::metadata(&fd).is_ok_and(|metadata| metadata.len() >= size)
        {
            return Some((fd, target));
        }
    }
    None
}

/// Whether the file system of `dir` makes `O_TMPFILE` files.
fn supports_tmpfile(dir: &Path) -> bool {
    use rustix::fs::{Mode, OFlags};
    let flags = OFlags::TMPFILE | OFlags::WRONLY | OFlags::CLOEXEC;
    rustix::fs::open(dir, flags, Mode::from_raw_mode(0o600)).is_ok()
}

#[test]
fn a_server_killed_mid_upload_leaves_the_old_file_and_no_staging_file() {
    if !peer_available("curl") {
        return;
    }
    let root = TempDir::new("killed-upload");
    let canonical = std::fs::canonicalize(root.path()).unwrap();
    std::fs::write(root.join("target.bin"), b"the old content").unwrap();
    let mut server = ExampleServer::start(root.path(), &[]);

    // An upload of 3 MiB, whose bytes the server writes to its staging file a batch
    // (1 MiB) at a time.
    let mut control = RawClient::connect(server.address.port());
    control.login();
    assert!(control.command("TYPE I").starts_with("200"));
    let port = control.extended_passive_port();
    let mut data = TcpStream::connect(("127.0.0.1", port)).unwrap();
    control.send(b"STOR target.bin\r\n");
    // 125 or 150, as the data connection was accepted before the command or not.
    let reply = control.reply();
    assert!(reply.starts_with('1'), "{reply}");
    data.write_all(&pattern(3 << 20, 16)).unwrap();

    // The staging file holds a batch: the upload is under way on disk. Nothing from
    // outside says when, so the server's open files are looked at until it shows.
    let deadline = Instant::now() + Duration::from_secs(30);
    let staging = loop {
        if let Some(found) = open_file_below(server.pid(), &canonical, 1 << 20) {
            break found.1;
        }
        assert!(
            Instant::now() < deadline,
            "the server never wrote the upload"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    eprintln!("the server's staging file: {staging}");

    // SIGKILL: no Drop, no clean-up.
    server.kill();
    drop(data);
    drop(control);
    assert_eq!(
        std::fs::read(root.join("target.bin")).unwrap(),
        b"the old content"
    );
    // The staging file was an O_TMPFILE: the kernel freed it with the process. On a
    // file system without O_TMPFILE it is a named one, left behind but hidden (below).
    let mut left = names(root.path());
    if !supports_tmpfile(root.path()) {
        eprintln!(
            "no O_TMPFILE in {}: the named staging file stays, hidden",
            root.0.display()
        );
        left.retain(|name| !name.starts_with(STAGING_PREFIX));
    }
    assert_eq!(left, [PROBE, "target.bin"]);

    // A new server on the same tree lists nothing of the upload, in any listing.
    let server = ExampleServer::start(root.path(), &[]);
    let url = format!("ftp://127.0.0.1:{}/", server.address.port());
    let nlst = String::from_utf8(run_ok(curl().arg("--list-only").arg(&url))).unwrap();
    let mut listed: Vec<&str> = nlst.lines().collect();
    listed.sort();
    assert_eq!(listed, [PROBE, "target.bin"], "{nlst}");
    let list = String::from_utf8(run_ok(curl().arg(&url))).unwrap();
    let mlsd = String::from_utf8(run_ok(curl().args(["-X", "MLSD"]).arg(&url))).unwrap();
    for listing in [&list, &mlsd] {
        assert_eq!(listing.lines().count(), 2, "{listing}");
        assert!(!listing.contains("ftp-proto-part"), "{listing}");
        assert!(listing.contains("target.bin"), "{listing}");
    }
    assert_eq!(
        run_ok(curl().arg(format!("{url}target.bin"))),
        b"the old content"
    );
}

#[test]
fn a_250_byte_name_uploads() {
    if !peer_available("curl") {
        return;
    }
    let server = TestServer::start();
    let local = TempDir::new("long-name");
    std::fs::write(local.join("data"), b"a long name").unwrap();
    let name = "n".repeat(250);
    run_ok(
        curl()
            .args(["--user", "alice:secret", "-T"])
            .arg(local.join("data"))
            .arg(server.url(&name)),
    );
    assert_eq!(server.read(&name), b"a long name");
    assert_eq!(
        run_ok(curl().arg("--list-only").arg(server.url(""))),
        format!("{name}\n").into_bytes()
    );
}

/// A command's reply and how long it took.
fn timed(client: &mut RawClient, line: &str) -> String {
    let started = Instant::now();
    let reply = client.command(line);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{line} took {:?}",
        started.elapsed()
    );
    reply
}

/// A transfer command on a fresh passive data connection; its first reply.
fn transfer(client: &mut RawClient, line: &str) -> String {
    let port = client.extended_passive_port();
    let _data = TcpStream::connect(("127.0.0.1", port)).unwrap();
    timed(client, line)
}

#[test]
fn staging_names_are_refused_by_every_command() {
    let server = TestServer::start();
    let staging = format!("{STAGING_PREFIX}4242-0");
    server.write(&staging, b"left by a killed server");
    server.write("visible", b"v");
    let mut client = RawClient::connect(server.address.port());
    client.login();
    assert!(client.command("TYPE I").starts_with("200"));
    let port = client.extended_passive_port();
    let mut data = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let reply = client.command("NLST");
    assert!(reply.starts_with('1'), "{reply}");
    let mut listed = String::new();
    std::io::Read::read_to_string(&mut data, &mut listed).unwrap();
    assert!(client.reply().starts_with("226"));
    assert_eq!(listed, "visible\r\n");
    for command in ["SIZE", "MDTM", "DELE", "RNFR", "MLST", "CWD", "RMD", "MKD"] {
        let reply = timed(&mut client, &format!("{command} {staging}"));
        assert!(reply.starts_with('5'), "{command}: {reply}");
    }
    for command in ["RETR", "STOR", "APPE"] {
        let reply = transfer(&mut client, &format!("{command} {staging}"));
        assert!(reply.starts_with('5'), "{command}: {reply}");
    }
    let reply = timed(&mut client, "RNFR visible");
    assert!(reply.starts_with("350"), "{reply}");
    let reply = timed(&mut client, &format!("RNTO {staging}"));
    assert!(reply.starts_with('5'), "RNTO: {reply}");
    assert!(timed(&mut client, "QUIT").starts_with("221"));
    assert_eq!(server.read(&staging), b"left by a killed server");
    assert_eq!(server.read("visible"), b"v");
}

/// Unblocks anything left waiting on the pipe (opening both ends at once never
/// blocks), so that a failing test ends instead of hanging in the server's shutdown.
struct Unblock(PathBuf);

impl Drop for Unblock {
    fn drop(&mut self) {
        let _ = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&self.0);
    }
}

#[test]
fn a_named_pipe_is_refused_at_once_and_the_session_goes_on() {
    let server = TestServer::start();
    let pipe = server.root.join("pipe");
    rustix::fs::mkfifoat(
        rustix::fs::CWD,
        &pipe,
        rustix::fs::Mode::from_raw_mode(0o666),
    )
    .unwrap();
    let _unblock = Unblock(pipe.clone());
    let mut client = RawClient::connect(server.address.port());
    client.login();
    assert!(client.command("TYPE I").starts_with("200"));
    for command in ["SIZE pipe", "MFMT 20200102030405 pipe"] {
        let reply = timed(&mut client, command);
        assert!(reply.starts_with("550"), "{command}: {reply}");
        assert!(timed(&mut client, "NOOP").starts_with("200"));
    }
    for command in ["RETR pipe", "STOR pipe", "APPE pipe"] {
        let reply = transfer(&mut client, command);
        assert!(
            reply.starts_with("550") && reply.contains("regular file"),
            "{command}: {reply}"
        );
        assert!(timed(&mut client, "NOOP").starts_with("200"));
    }
    // Listed all the same, as `ls` lists it.
    let listed = transfer(&mut client, "MLST pipe");
    assert!(listed.contains("pipe"), "{listed}");
    assert!(timed(&mut client, "QUIT").starts_with("221"));
    assert!(
        std::fs::symlink_metadata(&pipe).is_ok(),
        "the pipe is still there"
    );
    // The test ending is the proof that no blocking thread is stuck on the pipe: the
    // server's runtime waits for its blocking threads when it shuts down.
}
