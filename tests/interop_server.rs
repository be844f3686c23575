//! Our tokio server against clients no one here wrote: curl, lftp and Python's ftplib,
//! on loopback, plus hostile raw connections. Every transfer is checked byte for byte.
#![cfg(all(feature = "tokio", unix))]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use common::peers::{TestServer, pattern, peer_available, run, run_ok};
use common::scenarios::{self, RawClient, curl, lftp, python};

// ---------------------------------------------------------------------------------------
// curl

#[test]
fn curl_lists_gets_and_puts_in_every_data_mode() {
    if !peer_available("curl") {
        return;
    }
    let server = TestServer::start();
    let data = pattern(300_000, 1);
    server.write("dir with space/file ü.bin", &data);
    server.write("readme.txt", b"hello\n");

    let listing = run_ok(curl().arg(server.url("")));
    let listing = String::from_utf8(listing).unwrap();
    // curl turns the listing's CRLF into local line ends, as ASCII mode asks.
    assert!(
        listing
            .lines()
            .any(|line| line.starts_with('d') && line.ends_with(" dir with space")),
        "{listing}"
    );
    assert!(
        listing
            .lines()
            .any(|line| line.starts_with("-rw") && line.ends_with(" readme.txt")),
        "{listing}"
    );

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

    let upload = server.root.join("upload-source");
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
}

#[test]
fn curl_resumes_in_both_directions() {
    if !peer_available("curl") {
        return;
    }
    let server = TestServer::start();
    let data = pattern(200_000, 2);
    server.write("whole.bin", &data);
    let partial = server.root.join("partial-download");
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

    server.write("half.bin", &data[..100_000]);
    let source = server.root.join("upload-source");
    std::fs::write(&source, &data).unwrap();
    run_ok(
        curl()
            .args(["--user", "alice:secret", "-C", "-", "-T"])
            .arg(&source)
            .arg(server.url("half.bin")),
    );
    assert!(server.read("half.bin") == data, "resumed upload differs");

    // Appending.
    server.write("log.txt", b"one\n");
    let more = server.root.join("more");
    std::fs::write(&more, b"two\n").unwrap();
    run_ok(
        curl()
            .args(["--user", "alice:secret", "--append", "-T"])
            .arg(&more)
            .arg(server.url("log.txt")),
    );
    assert_eq!(server.read("log.txt"), b"one\ntwo\n");
}

#[test]
fn curl_file_operations_with_quote_commands() {
    if !peer_available("curl") {
        return;
    }
    let server = TestServer::start();
    server.write("a.txt", b"a");
    server.write("old dir/x", b"x");
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
                "-Q",
                "MFMT 20200102030405 made/b.txt",
            ])
            .arg(server.url("")),
    );
    assert!(!server.exists("a.txt"));
    assert_eq!(server.read("made/b.txt"), b"a");
    assert!(!server.exists("old dir"));
    let modified = std::fs::metadata(server.root.join("made/b.txt"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(
        modified
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
        1_577_934_245
    );
    // Anonymous users may not change anything.
    let refused = run(
        curl().args(["-Q", "DELE made/b.txt"]).arg(server.url("")),
        Duration::from_secs(30),
    );
    assert!(!refused.status.success());
    assert!(server.exists("made/b.txt"));
}

#[test]
fn curl_moves_100_mib_intact_and_20_sessions_in_parallel() {
    if !peer_available("curl") {
        return;
    }
    let server = TestServer::start();
    let big = pattern(100 << 20, 3);
    server.write("big.bin", &big);
    let got = run_ok(curl().arg(server.url("big.bin")));
    assert!(
        got.len() == big.len() && got == big,
        "100 MiB download differs"
    );

    scenarios::curl_fetches_twenty_at_once(&server);
}

#[test]
fn curl_cannot_reach_outside_the_root() {
    if !peer_available("curl") {
        return;
    }
    let server = TestServer::start();
    let outside = common::peers::TempDir::new("outside");
    std::fs::write(outside.join("secret"), b"secret").unwrap();
    std::os::unix::fs::symlink(outside.join("secret"), server.root.join("link-out")).unwrap();
    std::os::unix::fs::symlink(outside.path(), server.root.join("dir-out")).unwrap();
    server.write("inside.txt", b"ok");
    std::os::unix::fs::symlink("inside.txt", server.root.join("link-in")).unwrap();
    for path in [
        "link-out",
        "dir-out/secret",
        "%2E%2E/%2E%2E/etc/passwd",
        "..%5C..%5Cetc%5Cpasswd",
    ] {
        let output = run(curl().arg(server.url(path)), Duration::from_secs(30));
        assert!(
            !output.stdout.starts_with(b"secret") && !output.stdout.starts_with(b"root:"),
            "{path} leaked"
        );
    }
    // A link that stays inside is followed.
    assert_eq!(run_ok(curl().arg(server.url("link-in"))), b"ok");
}

// ---------------------------------------------------------------------------------------
// lftp

#[test]
fn lftp_mirrors_both_ways_in_passive_and_active_mode() {
    if peer_available("lftp") {
        scenarios::lftp_mirrors_both_ways(TestServer::start);
    }
}

#[test]
fn lftp_uses_mlsd_and_file_commands() {
    if !peer_available("lftp") {
        return;
    }
    let server = TestServer::start();
    server.write("x.txt", b"12345");
    let output = lftp(
        &server,
        "alice,secret",
        "mkdir made; mv x.txt made/y.txt; cls -l --sort=name made; rm made/y.txt; rmdir made; ls",
    );
    let output = String::from_utf8_lossy(&output);
    assert!(output.contains("y.txt"), "{output}");
    assert!(!server.exists("made"));
    assert!(!server.exists("x.txt"));
}

// ---------------------------------------------------------------------------------------
// Python's ftplib

#[test]
fn python_ftplib_does_everything() {
    if peer_available("python3") {
        scenarios::ftplib_does_everything(&TestServer::start(), true);
    }
}

#[test]
fn python_ftplib_abort_is_answered_and_the_session_goes_on() {
    if peer_available("python3") {
        scenarios::ftplib_aborts_a_download_and_goes_on(&TestServer::start());
    }
}

#[test]
fn python_ftplib_holds_forty_sessions_from_one_address() {
    if peer_available("python3") {
        scenarios::ftplib_holds_forty_sessions_at_once(&TestServer::start());
    }
}

#[test]
fn python_ftplib_ascii_mode_converts_line_ends() {
    if !peer_available("python3") {
        return;
    }
    let server = TestServer::start();
    server.write("unix.txt", b"one\ntwo\n");
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
ftp.quit()
"#,
        port = server.address.port()
    );
    assert_eq!(python(&script), "['one', 'two']\n");
    assert_eq!(server.read("stored.txt"), b"a\nb\n");
}

// ---------------------------------------------------------------------------------------
// Hostile clients, over raw sockets

#[test]
fn hostile_lines_are_answered_and_the_session_goes_on() {
    let server = TestServer::start();
    let mut client = RawClient::connect(server.address.port());
    client.login();
    // A 1 MiB line without a newline, then its end.
    client.send(&vec![b'A'; 1 << 20]);
    assert!(client.reply().starts_with("500"));
    client.send(b"\r\n");
    assert!(client.command("NOOP").starts_with("200"));
    // Garbage.
    client.send(b"\x00\x01\x02\xff\xfe garbage\r\n");
    assert!(client.reply().starts_with("500"));
    // 10,000 pipelined NOOPs, answered in order.
    client.send("NOOP\r\n".repeat(10_000).as_bytes());
    for _ in 0..10_000 {
        assert!(client.reply().starts_with("200"));
    }
    assert!(client.command("PWD").starts_with("257 \"/\""));
    // Traversal stays inside.
    assert!(client.command("CWD ../../../../..").starts_with("250"));
    assert!(client.command("PWD").starts_with("257 \"/\""));
    assert!(
        client
            .command("SIZE /../../../etc/passwd")
            .starts_with("550")
    );
    assert!(client.command("CWD a\\..\\..\\etc").starts_with("553"));
}

#[test]
fn port_bounce_and_port_stealing_are_refused() {
    let server = TestServer::start();
    let mut client = RawClient::connect(server.address.port());
    client.login();
    assert!(client.command("PORT 127,0,0,2,200,10").starts_with("504"));
    assert!(client.command("EPRT |1|127.0.0.2|5000|").starts_with("504"));
    assert!(client.command("PORT 127,0,0,1,0,25").starts_with("504"));
    assert!(client.command("EPRT |1|127.0.0.1|25|").starts_with("504"));

    // A passive data connection from another address is refused: the transfer fails
    // with 425 and no byte reaches the thief (connecting from 127.0.0.2 needs a bind
    // before connect, which std cannot do: Python does it).
    if !peer_available("python3") {
        return;
    }
    server.write("secret.bin", b"do not steal");
    let port = client.extended_passive_port();
    let thief_script = format!(
        "import socket,sys\n\
         s=socket.socket(); s.bind(('127.0.0.2',0)); s.connect(('127.0.0.1',{port}))\n\
         print('connected', flush=True)\n\
         s.settimeout(10); got=b''\n\
         try:\n    while True:\n        d=s.recv(65536)\n        if not d: break\n        got+=d\n\
         except Exception: pass\n\
         print(len(got), flush=True)\n"
    );
    let mut thief = Command::new("python3")
        .args(["-c", &thief_script])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut thief_output = BufReader::new(thief.stdout.take().unwrap()).lines();
    assert_eq!(thief_output.next().unwrap().unwrap(), "connected");
    let first = client.command("RETR secret.bin");
    let last = if first.starts_with("425") {
        first
    } else {
        client.reply()
    };
    assert!(last.starts_with("425"), "{last}");
    assert_eq!(
        thief_output.next().unwrap().unwrap(),
        "0",
        "the thief received data"
    );
    thief.wait().unwrap();
    assert!(client.command("NOOP").starts_with("200"));
}

#[test]
fn ten_wrong_passwords_are_throttled_and_cut_off() {
    let mut config = ftp_proto::tokio::ServerConfig::default();
    config.session.failed_login_delay = Duration::from_millis(20);
    // The tenth failure would lock the address out; that lockout has its own test
    // (tests/abuse.rs). Here: the per-session delay and cut-off only.
    config.limits.max_failed_logins_per_ip = 11;
    let server = TestServer::start_with(config);
    let mut attempts = 0;
    let mut closed = false;
    'connections: for _ in 0..10 {
        let mut client = RawClient::connect(server.address.port());
        loop {
            if attempts == 10 {
                break 'connections;
            }
            assert!(client.command("USER alice").starts_with("331"));
            let reply = client.command(&format!("PASS wrong{attempts}"));
            attempts += 1;
            if reply.starts_with("421") {
                closed = true;
                continue 'connections;
            }
            assert!(reply.starts_with("530"), "{reply}");
        }
    }
    assert_eq!(attempts, 10);
    assert!(closed, "three failures end a session");
    let mut client = RawClient::connect(server.address.port());
    client.login();
}

#[test]
fn connections_over_the_per_ip_limit_get_421() {
    let mut config = ftp_proto::tokio::ServerConfig::default();
    config.limits.max_sessions_per_ip = 3;
    let server = TestServer::start_with(config);
    let kept: Vec<RawClient> = (0..3)
        .map(|_| RawClient::connect(server.address.port()))
        .collect();
    let mut extra = BufReader::new(TcpStream::connect(server.address).unwrap());
    let mut line = String::new();
    extra.read_line(&mut line).unwrap();
    assert!(line.starts_with("421"), "{line}");
    drop(kept);
    // Places free up when sessions end.
    let mut again = None;
    for _ in 0..100 {
        let stream = TcpStream::connect(server.address).unwrap();
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        if line.starts_with("220") {
            again = Some(line);
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(again.is_some(), "a place freed up");
}

#[test]
fn login_and_idle_deadlines_close_sessions() {
    let mut config = ftp_proto::tokio::ServerConfig::default();
    config.session.login_timeout = Duration::from_millis(300);
    config.session.idle_timeout = Duration::from_millis(300);
    let server = TestServer::start_with(config);
    // Never logs in: a byte at a time is not a command, so it does not count as activity.
    let mut slow = RawClient::connect(server.address.port());
    slow.send(b"US");
    assert!(slow.reply().starts_with("421"));
    let mut eof = String::new();
    assert_eq!(
        slow.reader.read_line(&mut eof).unwrap(),
        0,
        "closed after 421"
    );

    let mut idle = RawClient::connect(server.address.port());
    idle.login();
    assert!(idle.reply().starts_with("421"), "idle timeout");
}

#[test]
fn shutdown_lets_a_running_transfer_finish() {
    let mut server = TestServer::start();
    let data = pattern(20 << 20, 9);
    server.write("big.bin", &data);
    let mut client = RawClient::connect(server.address.port());
    client.login();
    let port = client.extended_passive_port();
    let mut data_connection = TcpStream::connect(("127.0.0.1", port)).unwrap();
    // 125 when the data connection was accepted before RETR arrived, 150 otherwise.
    let opening = client.command("RETR big.bin");
    assert!(
        opening.starts_with("125") || opening.starts_with("150"),
        "{opening}"
    );
    // Shut down while the data is (at most partly) read: the transfer still completes.
    server.begin_shutdown();
    let mut received = Vec::new();
    std::io::Read::read_to_end(&mut data_connection, &mut received).unwrap();
    assert!(received == data, "transfer cut short by shutdown");
    assert!(client.reply().starts_with("226"));
    assert!(client.reply().starts_with("421"), "then the session ends");
    // New connections are no longer accepted.
    assert!(
        TcpStream::connect(server.address)
            .map(|stream| {
                let mut line = String::new();
                BufReader::new(stream)
                    .read_line(&mut line)
                    .map(|n| n == 0)
                    .unwrap_or(true)
            })
            .unwrap_or(true)
    );
}

#[test]
fn an_upload_cut_off_midway_leaves_the_old_file_in_place() {
    let server = TestServer::start();
    server.write("keep.txt", b"the old content");
    let mut client = RawClient::connect(server.address.port());
    client.login();
    let port = client.extended_passive_port();
    let mut data_connection = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let opening = client.command("STOR keep.txt");
    assert!(
        opening.starts_with("125") || opening.starts_with("150"),
        "{opening}"
    );
    data_connection.write_all(&pattern(100_000, 14)).unwrap();
    // The client dies. Its control connection goes first here, so that the order is
    // certain: a FIN on the data connection alone would mean a complete upload in
    // stream mode. The server aborts the transfer and closes the data connection.
    drop(client);
    let mut rest = Vec::new();
    let _ = std::io::Read::read_to_end(&mut data_connection, &mut rest);
    drop(data_connection);
    // The session ends; the old file is intact and no temporary file is left behind.
    let mut entries = Vec::new();
    for _ in 0..200 {
        entries = std::fs::read_dir(server.root.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        if entries.len() == 1 {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(server.read("keep.txt"), b"the old content");
    assert_eq!(
        entries,
        ["keep.txt"],
        "a temporary upload file was left behind"
    );
}

#[test]
fn a_stalled_transfer_is_aborted_by_the_data_timeout() {
    // Regression: the idle timeout does not run during a transfer, and nothing else
    // did, so a client that stopped reading a download held its session for good.
    let mut config = ftp_proto::tokio::ServerConfig::default();
    config.session.data_timeout = Duration::from_millis(500);
    let server = TestServer::start_with(config);
    server.write("big.bin", &pattern(32 << 20, 15));
    server.write("keep.txt", b"the old content");
    let mut client = RawClient::connect(server.address.port());
    client.login();
    assert!(client.command("TYPE I").starts_with("200"));

    // A download whose reader stops after the first bytes.
    let port = client.extended_passive_port();
    let mut download = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let opening = client.command("RETR big.bin");
    assert!(
        opening.starts_with("125") || opening.starts_with("150"),
        "{opening}"
    );
    let mut first = [0; 65536];
    std::io::Read::read_exact(&mut download, &mut first).unwrap();
    let stopped = std::time::Instant::now();
    let reply = client.reply();
    let waited = stopped.elapsed();
    assert!(reply.starts_with("426"), "{reply}");
    assert!(
        waited >= Duration::from_millis(400) && waited < Duration::from_secs(10),
        "aborted after {waited:?}"
    );
    assert!(client.command("NOOP").starts_with("200"));
    drop(download);

    // An upload whose sender stops without closing.
    let port = client.extended_passive_port();
    let mut upload = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let opening = client.command("STOR keep.txt");
    assert!(
        opening.starts_with("125") || opening.starts_with("150"),
        "{opening}"
    );
    upload.write_all(&pattern(100_000, 16)).unwrap();
    let reply = client.reply();
    assert!(reply.starts_with("426"), "{reply}");
    assert!(client.command("NOOP").starts_with("200"));
    drop(upload);
    assert_eq!(server.read("keep.txt"), b"the old content");
}

#[test]
fn a_transfer_longer_than_the_idle_timeout_keeps_the_session() {
    // Regression: the idle timer restarted from the last command's time when a
    // transfer ended, so a transfer longer than the idle timeout was followed at once
    // by "421 Idle timeout".
    let mut config = ftp_proto::tokio::ServerConfig::default();
    config.session.idle_timeout = Duration::from_millis(300);
    let server = TestServer::start_with(config);
    let mut client = RawClient::connect(server.address.port());
    client.login();
    assert!(client.command("TYPE I").starts_with("200"));
    let port = client.extended_passive_port();
    let mut upload = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let opening = client.command("STOR slow.bin");
    assert!(
        opening.starts_with("125") || opening.starts_with("150"),
        "{opening}"
    );
    // A slow sender: the upload lasts about a second, over three idle timeouts, and
    // the server cannot finish it before the last byte.
    let data = pattern(200_000, 17);
    let started = std::time::Instant::now();
    for chunk in data.chunks(10_000) {
        upload.write_all(chunk).unwrap();
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(upload);
    assert!(started.elapsed() > Duration::from_millis(900));
    assert!(client.reply().starts_with("226"));
    assert!(
        client.command("NOOP").starts_with("200"),
        "idle 421 right after the transfer"
    );
    assert!(server.read("slow.bin") == data);
}
