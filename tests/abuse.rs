//! The abuse suite (issue 9): hostile clients against the running example server, a
//! separate process whose resident memory and open file descriptors are read from
//! `/proc/PID/`. Every case ends with a fresh session that logs in, lists the root and
//! downloads a file byte for byte (`ExampleServer::assert_serves`).
//!
//! Figures are printed on lines starting with `FIGURE` (`--nocapture` shows them);
//! BENCHMARKS.md records a run.
#![cfg(all(feature = "tokio", target_os = "linux"))]

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use common::example::{ExampleServer, PROBE};
use common::peers::{TempDir, pattern};
use common::raw::{
    LOCALHOST, OTHER, REPLY_LIMIT, Raw, Replies, code, connect_from, passive_data, raw_write,
    read_all, reset,
};
use ftp_proto::tokio::STAGING_PREFIX;

/// Named staging files of uploads under `dir` (`LocalFs` names one only where the file
/// system has no `O_TMPFILE`, or for the instant before its rename).
fn temporary_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().to_string_lossy().into_owned();
            name.starts_with(STAGING_PREFIX).then_some(name)
        })
        .collect()
}

/// The server's open staging files in `dir`, named or not: descriptors whose target is
/// in `dir` and is a staging name or an unnamed (`O_TMPFILE`) file.
fn open_staging_files(server: &ExampleServer, dir: &Path) -> usize {
    let dir = dir.canonicalize().unwrap();
    std::fs::read_dir(format!("/proc/{}/fd", server.pid()))
        .unwrap()
        .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
        .filter(|target| {
            let name = target.file_name().map(|n| n.to_string_lossy().into_owned());
            target.parent() == Some(&dir)
                && name.is_some_and(|name| {
                    name.starts_with(STAGING_PREFIX)
                        || target.to_string_lossy().ends_with(" (deleted)")
                })
        })
        .count()
}

/// Polls until `dir` holds no temporary upload file, for at most 10 s; returns those left.
async fn wait_for_no_temporary_files(dir: &Path) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = temporary_files(dir);
        if left.is_empty() || Instant::now() >= deadline {
            return left;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Lets this process open at least `needed` files, raising its soft limit towards the
/// hard one when it is lower. Returns the limit in force.
fn raise_open_file_limit(needed: u64) -> u64 {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let current = limit.current.unwrap_or(u64::MAX);
    if current >= needed {
        return current;
    }
    let wanted = limit.maximum.map_or(needed, |maximum| maximum.min(needed));
    let _ = setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(wanted),
            maximum: limit.maximum,
        },
    );
    getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX)
}

// ---------------------------------------------------------------------------------------
// Endless lines

#[tokio::test]
async fn megabyte_lines_without_a_newline_leave_memory_flat() {
    const CONNECTIONS: usize = 4;
    const LINES_EACH: usize = 5;
    const LINE: usize = 1 << 20;
    let root = TempDir::new("abuse-lines");
    let server = ExampleServer::start(root.path(), &[]);
    server.assert_serves().await;
    // Warm up the paths the attack takes, so that what is measured is growth.
    {
        let mut raw = Raw::connect(server.address).await;
        raw.send(&vec![b'B'; 64 * 1024]).await;
        assert_eq!(code(&raw.reply().await), 500);
        raw.send(b"\r\n").await;
        assert_eq!(code(&raw.command("NOOP").await), 200);
    }
    let rss_before = server.rss_kib();
    let peak_was_reset = server.reset_peak_rss();
    let peak_before = server.peak_rss_kib();

    let mut attackers = JoinSet::new();
    for connection in 0..CONNECTIONS {
        let address = server.address;
        attackers.spawn(async move {
            let mut raw = Raw::connect(address).await;
            // Half of them before login, half after.
            let logged_in = connection % 2 == 1;
            if logged_in {
                raw.login().await;
            }
            let line = vec![b'A'; LINE];
            for _ in 0..LINES_EACH {
                raw.send(&line).await;
                // Answered once per line, as soon as it is too long; the rest is
                // skipped as it arrives.
                let reply = raw.reply().await;
                assert_eq!(code(&reply), 500, "{reply}");
                // Only now does the line end (until then, more bytes would be more of
                // the same line).
                raw.send(b"\r\n").await;
            }
            // The session goes on, and nothing of the long lines was taken for a
            // command.
            assert_eq!(code(&raw.command("NOOP").await), 200);
            let pwd = raw.command("PWD").await;
            if logged_in {
                assert!(pwd.starts_with("257 \"/\""), "{pwd}");
            } else {
                assert_eq!(code(&pwd), 530, "{pwd}");
            }
        });
    }
    while let Some(done) = attackers.join_next().await {
        done.unwrap();
    }
    let rss_after = server.rss_kib();
    let peak_after = server.peak_rss_kib();
    println!(
        "FIGURE long lines: {} lines of {} KiB over {CONNECTIONS} connections; VmRSS {rss_before} -> \
         {rss_after} KiB ({:+} KiB); peak VmHWM {peak_before} -> {peak_after} KiB ({:+} KiB, \
         peak reset: {peak_was_reset})",
        CONNECTIONS * LINES_EACH,
        LINE / 1024,
        rss_after as i64 - rss_before as i64,
        peak_after as i64 - peak_before as i64,
    );
    // Buffering even one line per connection would add 4 MiB at the peak.
    assert!(
        rss_after <= rss_before + 1024,
        "resident memory grew from {rss_before} to {rss_after} KiB"
    );
    assert!(
        peak_after <= peak_before + 2048,
        "peak memory grew from {peak_before} to {peak_after} KiB"
    );
    server.assert_serves().await;
}

// ---------------------------------------------------------------------------------------
// Pipelining

#[tokio::test]
async fn ten_thousand_pipelined_commands_are_answered_in_order() {
    const COMMANDS: usize = 10_000;
    let root = TempDir::new("abuse-pipeline");
    for file in 0..100 {
        std::fs::write(root.join(&format!("f{file}")), pattern(file * 7 + 1, 1)).unwrap();
    }
    for dir in 0..10 {
        std::fs::create_dir(root.join(&format!("d{dir}"))).unwrap();
    }
    let server = ExampleServer::start(root.path(), &[]);
    let mut raw = Raw::connect(server.address).await;
    raw.login().await;

    // Groups of five commands whose replies differ from group to group, so that a
    // reply out of order cannot pass for the expected one.
    let mut commands = String::new();
    let mut expected = Vec::new();
    for n in 0..COMMANDS {
        let group = n / 5;
        let (command, reply) = match n % 5 {
            0 => (
                format!("SIZE /f{}", group % 100),
                format!("213 {}", (group % 100) * 7 + 1),
            ),
            1 => ("NOOP".to_owned(), "200 ".to_owned()),
            2 => (format!("CWD /d{}", group % 10), "250 ".to_owned()),
            3 => ("PWD".to_owned(), format!("257 \"/d{}\"", group % 10)),
            _ => (format!("SIZE /missing-{group}"), "550 ".to_owned()),
        };
        commands.push_str(&command);
        commands.push_str("\r\n");
        expected.push(reply);
    }
    let started = Instant::now();
    // Written while the replies are read: a client that only writes would stall on
    // the server's bounded output, by design.
    let Raw {
        replies,
        mut writer,
    } = raw;
    let writing = tokio::spawn(async move {
        writer.write_all(commands.as_bytes()).await.unwrap();
        writer
    });
    let mut reader = replies.0;
    let mut line = Vec::new();
    for (n, expected) in expected.iter().enumerate() {
        line.clear();
        let read = tokio::time::timeout(REPLY_LIMIT, reader.read_until(b'\n', &mut line))
            .await
            .unwrap_or_else(|_| panic!("no reply {n} within {REPLY_LIMIT:?}"))
            .unwrap();
        assert!(read > 0, "the connection ended after {n} replies");
        let text = String::from_utf8_lossy(&line);
        assert!(
            text.starts_with(expected.as_str()),
            "reply {n}: expected {expected:?}, got {text:?}"
        );
    }
    let elapsed = started.elapsed();
    println!(
        "FIGURE pipelining: {COMMANDS} pipelined commands answered in order in {:.2} s",
        elapsed.as_secs_f64()
    );
    let writer = writing.await.unwrap();
    let mut raw = Raw {
        replies: Replies(reader),
        writer,
    };
    assert_eq!(code(&raw.command("NOOP").await), 200);
    server.assert_serves().await;
}

// ---------------------------------------------------------------------------------------
// Slowloris

/// Sends `bytes` one a second until the connection fails; returns how many were sent.
async fn drip(mut writer: OwnedWriteHalf, bytes: &'static [u8]) -> usize {
    let mut sent = 0;
    for byte in bytes.iter().cycle() {
        if writer.write_all(&[*byte]).await.is_err() {
            break;
        }
        sent += 1;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    sent
}

#[tokio::test]
async fn slowloris_is_cut_by_the_login_idle_and_data_deadlines() {
    const DEADLINE: f64 = 2.0;
    // Timer granularity and a loaded machine; far below what a byte a second would
    // buy if it counted as activity.
    const SLACK: f64 = 1.5;
    let root = TempDir::new("abuse-slowloris");
    let keep = pattern(100_000, 3);
    std::fs::write(root.join("keep.bin"), &keep).unwrap();
    std::fs::write(root.join("big.bin"), pattern(32 << 20, 4)).unwrap();
    let server = ExampleServer::start(
        root.path(),
        &[
            "--login-timeout",
            "2",
            "--idle-timeout",
            "2",
            "--data-timeout",
            "2",
        ],
    );
    let limit = Duration::from_secs_f64(DEADLINE + SLACK + 5.0);

    // A byte a second, never logging in: the login deadline.
    let before_login = async {
        let started = Instant::now();
        let raw = Raw::connect(server.address).await;
        let Raw {
            mut replies,
            writer,
        } = raw;
        let dripping = tokio::spawn(drip(writer, b"USER anonymous"));
        let replies = replies.until_closed(limit).await;
        let elapsed = started.elapsed().as_secs_f64();
        let sent = dripping.await.unwrap();
        (replies, elapsed, sent)
    };
    // Complete NOOPs twice a second, never logging in: activity does not extend the
    // login deadline.
    let busy_before_login = async {
        let started = Instant::now();
        let mut raw = Raw::connect(server.address).await;
        let mut answered = 0;
        let mut replies = Vec::new();
        loop {
            if raw.writer.write_all(b"NOOP\r\n").await.is_err() {
                break;
            }
            match raw.next_reply(limit).await {
                Some(reply) if code(&reply) == 200 => answered += 1,
                Some(reply) => {
                    replies.push(reply);
                    break;
                }
                None => break,
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        replies.extend(raw.replies_until_closed(limit).await);
        (replies, started.elapsed().as_secs_f64(), answered)
    };
    // Logged in, then a byte a second of a line that never ends: the idle deadline,
    // counted from the last complete command.
    let after_login = async {
        let mut raw = Raw::connect(server.address).await;
        assert_eq!(code(&raw.command("USER alice").await), 331);
        raw.send(b"PASS secret\r\n").await;
        let started = Instant::now();
        assert_eq!(code(&raw.reply().await), 230);
        let Raw {
            mut replies,
            writer,
        } = raw;
        let dripping = tokio::spawn(drip(writer, b"NOOP"));
        let replies = replies.until_closed(limit).await;
        let elapsed = started.elapsed().as_secs_f64();
        let sent = dripping.await.unwrap();
        (replies, elapsed, sent)
    };
    // The same on a data connection, where the idle deadline does not run: a download
    // whose reader stops, an upload whose sender stops without closing. The transfer is
    // aborted with 426 and the session goes on.
    let stalled = |upload: bool| async move {
        let mut raw = Raw::connect(server.address).await;
        raw.login().await;
        let mut data = passive_data(&mut raw, server.address).await;
        let command = if upload {
            "STOR keep.bin"
        } else {
            "RETR big.bin"
        };
        let reply = raw.command(command).await;
        assert_eq!(code(&reply) / 100, 1, "{reply}");
        if upload {
            raw_write(&mut data, &pattern(50_000, 5)).await;
        } else {
            let mut first = vec![0; 64 * 1024];
            tokio::time::timeout(REPLY_LIMIT, data.read_exact(&mut first))
                .await
                .expect("the download starts")
                .unwrap();
        }
        let stopped = Instant::now();
        let reply = raw.reply().await;
        let elapsed = stopped.elapsed().as_secs_f64();
        let noop = raw.command("NOOP").await;
        assert_eq!(code(&noop), 200, "after {command}: {reply} then {noop}");
        drop(data);
        (vec![reply], elapsed)
    };
    let (
        (login_replies, login_elapsed, login_sent),
        (busy_replies, busy_elapsed, busy_answered),
        (idle_replies, idle_elapsed, idle_sent),
        (download_replies, download_elapsed),
        (upload_replies, upload_elapsed),
    ) = tokio::join!(
        before_login,
        busy_before_login,
        after_login,
        stalled(false),
        stalled(true)
    );

    println!(
        "FIGURE slowloris: deadlines {DEADLINE} s; closed with 421 after {login_elapsed:.2} s \
         (byte a second before login, {login_sent} bytes sent), {busy_elapsed:.2} s (NOOP twice a \
         second before login, {busy_answered} answered), {idle_elapsed:.2} s (byte a second \
         after login, {idle_sent} bytes sent); stalled transfers aborted with 426 after \
         {download_elapsed:.2} s (download no longer read) and {upload_elapsed:.2} s (upload no \
         longer sent)"
    );
    for (case, replies, elapsed, expected) in [
        ("login deadline", &login_replies, login_elapsed, 421),
        (
            "login deadline with NOOPs",
            &busy_replies,
            busy_elapsed,
            421,
        ),
        ("idle deadline", &idle_replies, idle_elapsed, 421),
        ("stalled download", &download_replies, download_elapsed, 426),
        ("stalled upload", &upload_replies, upload_elapsed, 426),
    ] {
        assert!(
            replies.last().is_some_and(|reply| code(reply) == expected),
            "{case}: did not end with {expected}: {replies:?}"
        );
        assert!(
            (DEADLINE - 0.1..=DEADLINE + SLACK).contains(&elapsed),
            "{case}: closed after {elapsed:.2} s, deadline {DEADLINE} s"
        );
    }
    assert!(login_sent >= 2 && idle_sent >= 2, "the drip did not drip");
    assert!(busy_answered >= 3, "the NOOPs were not answered");
    assert!(
        std::fs::read(root.join("keep.bin")).unwrap() == keep,
        "the stalled upload replaced the file"
    );
    assert!(wait_for_no_temporary_files(root.path()).await.is_empty());
    server.assert_serves().await;
}

// ---------------------------------------------------------------------------------------
// Connection floods

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_idle_connections_from_one_address_leave_room_for_others() {
    const FLOOD: usize = 2000;
    const PER_IP: usize = 16;
    let limit = raise_open_file_limit(FLOOD as u64 + 500);
    assert!(
        limit >= FLOOD as u64 + 200,
        "this test needs {} open files; the limit is {limit} (raise `ulimit -n`)",
        FLOOD + 200
    );
    let root = TempDir::new("abuse-flood");
    let server = ExampleServer::start(root.path(), &["--max-per-ip", &PER_IP.to_string()]);
    let baseline_fds = server.open_fds();
    let started = Instant::now();

    let mut held = Vec::with_capacity(FLOOD);
    let (mut greeted, mut refused, mut refused_and_closed) = (0, 0, 0);
    // A hundred connections in flight at a time: the listen backlog stays short.
    for _ in 0..FLOOD / 100 {
        let mut batch = JoinSet::new();
        for _ in 0..100 {
            let address = server.address;
            batch.spawn(async move {
                let mut raw = Raw::open_from(OTHER, address).await.expect("connect");
                let first = raw.next_reply(REPLY_LIMIT).await.unwrap_or_default();
                // A refused connection is closed right after its 421.
                let closed = code(&first) == 421 && raw.next_reply(REPLY_LIMIT).await.is_none();
                (raw, code(&first), closed)
            });
        }
        while let Some(done) = batch.join_next().await {
            let (raw, code, closed) = done.unwrap();
            match code {
                220 => greeted += 1,
                421 => refused += 1,
                other => panic!("unexpected first reply {other}"),
            }
            refused_and_closed += usize::from(closed);
            held.push(raw);
        }
    }
    let flood_seconds = started.elapsed().as_secs_f64();
    let fds_during = server.open_fds();
    // Someone else still gets in while the 2,000 are held open.
    server.assert_serves().await;
    let mut other = Raw::connect(server.address).await;
    other.login().await;
    drop(other);
    println!(
        "FIGURE flood: {FLOOD} connections from {OTHER} in {flood_seconds:.2} s: {greeted} got 220, \
         {refused} got 421 ({refused_and_closed} of them closed right after); server fds \
         {baseline_fds} before, {fds_during} while held"
    );
    assert_eq!(greeted, PER_IP);
    assert_eq!(refused, FLOOD - PER_IP);
    assert_eq!(refused_and_closed, refused);
    // The refused ones hold nothing on the server.
    assert!(
        fds_during <= baseline_fds + PER_IP + 8,
        "{fds_during} fds while {PER_IP} sessions are open (baseline {baseline_fds})"
    );
    drop(held);
    let fds_after = server
        .wait_for_fds(baseline_fds, Duration::from_secs(10))
        .await;
    println!("FIGURE flood: server fds {fds_after} after the connections closed");
    assert_eq!(fds_after, baseline_fds);
    // The places are free again.
    let mut again = Raw::connect_from(OTHER, server.address).await;
    again.login().await;
    server.assert_serves().await;
}

// ---------------------------------------------------------------------------------------
// Password guessing

/// `USER alice`, `PASS password`: the reply and how long it took.
async fn try_password(raw: &mut Raw, password: &str) -> (String, f64) {
    assert_eq!(code(&raw.command("USER alice").await), 331);
    let started = Instant::now();
    let reply = raw.command(&format!("PASS {password}")).await;
    (reply, started.elapsed().as_secs_f64())
}

#[tokio::test]
async fn password_guessing_is_throttled_then_locked_out() {
    const DELAY: f64 = 0.25;
    const LOCKOUT: f64 = 4.0;
    let root = TempDir::new("abuse-guessing");
    let server = ExampleServer::start(
        root.path(),
        &[
            "--failed-login-delay",
            "0.25",
            "--max-failed-logins",
            "3",
            "--lockout-after",
            "5",
            "--lockout-seconds",
            "4",
        ],
    );

    // Throttled: each failure of a session waits twice as long as the one before, and
    // the third ends the session.
    let mut raw = Raw::connect(server.address).await;
    let mut times = Vec::new();
    for (n, expected) in [530, 530, 421].into_iter().enumerate() {
        let (reply, seconds) = try_password(&mut raw, &format!("guess{n}")).await;
        assert_eq!(code(&reply), expected, "{reply}");
        times.push(seconds);
    }
    assert!(raw.replies_until_closed(REPLY_LIMIT).await.is_empty());
    for (n, seconds) in times.iter().enumerate() {
        let floor = DELAY * f64::from(1u32 << n);
        assert!(
            *seconds >= floor - 0.02,
            "failure {n} answered after {seconds:.3} s, not {floor} s"
        );
    }
    assert!(times[1] > times[0] + 0.15 && times[2] > times[1] + 0.35);

    // Reconnecting does not reset the count kept per address: failures four and five
    // lock 127.0.0.1 out.
    let mut raw = Raw::connect(server.address).await;
    let mut locked_at = Instant::now();
    for n in 3..5 {
        if n == 4 {
            // The lockout starts when the server sees this PASS, before its delayed
            // answer.
            locked_at = Instant::now();
        }
        let (reply, _) = try_password(&mut raw, &format!("guess{n}")).await;
        assert_eq!(code(&reply), 530, "{reply}");
    }
    drop(raw);

    // Locked out: the right password is refused, in a fresh session, like a wrong one.
    let mut raw = Raw::connect(server.address).await;
    let (reply, refused_after) = try_password(&mut raw, "secret").await;
    assert_eq!(code(&reply), 530, "the right password was let in: {reply}");
    assert!(refused_after >= DELAY - 0.02, "no delay: {refused_after}");
    drop(raw);
    // Other addresses are not locked out.
    let mut other = Raw::connect_from(OTHER, server.address).await;
    let (reply, _) = try_password(&mut other, "secret").await;
    assert_eq!(code(&reply), 230, "{reply}");
    drop(other);

    // The lockout ends on time: poll with the right password.
    let mut attempts = 0;
    let unlocked_after = loop {
        let mut raw = Raw::connect(server.address).await;
        let (reply, _) = try_password(&mut raw, "secret").await;
        attempts += 1;
        let elapsed = locked_at.elapsed().as_secs_f64();
        if code(&reply) == 230 {
            break elapsed;
        }
        assert_eq!(code(&reply), 530, "{reply}");
        assert!(
            elapsed < LOCKOUT + 5.0,
            "still locked out after {elapsed:.2} s"
        );
        drop(raw);
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    println!(
        "FIGURE guessing: failed-login delays {:.3} s, {:.3} s, {:.3} s (then 421); locked out \
         after the 5th failure; the right password refused after {refused_after:.3} s; 230 again \
         {unlocked_after:.2} s after the lockout began (lockout {LOCKOUT} s, {attempts} attempts \
         polled)",
        times[0], times[1], times[2]
    );
    assert!(
        unlocked_after >= LOCKOUT,
        "let in after {unlocked_after:.2} s of a {LOCKOUT} s lockout"
    );
    server.assert_serves().await;
}

// ---------------------------------------------------------------------------------------
// Bounce and port stealing

#[tokio::test]
async fn bounce_and_port_stealing_are_refused() {
    let root = TempDir::new("abuse-bounce");
    std::fs::write(root.join("secret.bin"), b"do not steal this").unwrap();
    let server = ExampleServer::start(root.path(), &[]);
    let mut raw = Raw::connect(server.address).await;
    raw.login().await;

    // A third party on 127.0.0.2 listens; the server must never connect to it.
    let third_party = TcpListener::bind((OTHER, 0)).await.unwrap();
    let port = third_party.local_addr().unwrap().port();
    let (high, low) = (port >> 8, port & 0xff);
    for command in [
        format!("PORT 127,0,0,2,{high},{low}"),
        format!("EPRT |1|127.0.0.2|{port}|"),
        "PORT 127,0,0,1,0,25".to_owned(),
        "EPRT |1|127.0.0.1|25|".to_owned(),
        "PORT 127,0,0,1,3,255".to_owned(),
    ] {
        let reply = raw.command(&command).await;
        assert_eq!(code(&reply), 504, "{command}: {reply}");
        // With the data set-up refused, a transfer has no data connection to use.
        let reply = raw.command("RETR secret.bin").await;
        assert_eq!(code(&reply), 425, "RETR after {command}: {reply}");
    }
    let contacted = tokio::time::timeout(Duration::from_millis(500), third_party.accept()).await;
    assert!(
        contacted.is_err(),
        "the server connected to the third party"
    );

    // The allowed case works: the control peer's own address on a high port.
    let own = TcpListener::bind((LOCALHOST, 0)).await.unwrap();
    let own_port = own.local_addr().unwrap().port();
    let reply = raw.command(&format!("EPRT |1|127.0.0.1|{own_port}|")).await;
    assert_eq!(code(&reply), 200, "{reply}");
    raw.send(b"RETR secret.bin\r\n").await;
    let (mut data, _) = tokio::time::timeout(REPLY_LIMIT, own.accept())
        .await
        .expect("the server connects back")
        .unwrap();
    assert_eq!(read_all(&mut data, REPLY_LIMIT).await, b"do not steal this");
    assert!(code(&raw.reply().await) / 100 == 1);
    assert_eq!(code(&raw.reply().await), 226);

    // A passive data connection from 127.0.0.2, before and after the RETR: refused,
    // and not a byte reaches it.
    let mut leaked = 0;
    for thief_first in [true, false] {
        let port = raw.epsv().await;
        let target = SocketAddr::new(server.address.ip(), port);
        let mut thief = None;
        if thief_first {
            thief = Some(connect_from(OTHER, target).await.expect("thief connects"));
        }
        raw.send(b"RETR secret.bin\r\n").await;
        if !thief_first {
            thief = Some(connect_from(OTHER, target).await.expect("thief connects"));
        }
        let mut thief = thief.unwrap();
        let mut reply = raw.reply().await;
        if code(&reply) / 100 == 1 {
            reply = raw.reply().await;
        }
        assert_eq!(code(&reply), 425, "thief first: {thief_first}: {reply}");
        leaked += read_all(&mut thief, Duration::from_secs(10)).await.len();
    }
    println!(
        "FIGURE bounce: 5 PORT/EPRT refused with 504, 0 connections to the third party; 2 stolen passive connections refused with 425, {leaked} bytes leaked"
    );
    assert_eq!(leaked, 0, "bytes reached the thief");
    assert_eq!(code(&raw.command("NOOP").await), 200);
    server.assert_serves().await;
}

// ---------------------------------------------------------------------------------------
// Traversal

/// Names, contents and modification times of the files under `dir`, recursively.
fn snapshot(dir: &Path) -> BTreeMap<String, (Vec<u8>, std::time::SystemTime)> {
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let path = entry.path();
        let metadata = std::fs::symlink_metadata(&path).unwrap();
        let name = path.to_string_lossy().into_owned();
        if metadata.is_dir() {
            files.insert(name, (Vec::new(), metadata.modified().unwrap()));
            files.extend(snapshot(&path));
        } else {
            files.insert(
                name,
                (std::fs::read(&path).unwrap(), metadata.modified().unwrap()),
            );
        }
    }
    files
}

/// Runs a transfer command over a fresh passive data connection: uploads `upload` if
/// the server starts a transfer. Returns the replies and the bytes received.
async fn transfer(
    raw: &mut Raw,
    address: SocketAddr,
    command: &[u8],
    upload: Option<&[u8]>,
) -> (Vec<String>, Vec<u8>) {
    let mut data = passive_data(raw, address).await;
    raw.send(command).await;
    raw.send(b"\r\n").await;
    let mut replies = vec![raw.reply().await];
    let mut received = Vec::new();
    if code(&replies[0]) / 100 == 1 {
        match upload {
            Some(bytes) => {
                let _ = data.write_all(bytes).await;
                let _ = data.shutdown().await;
            }
            None => received = read_all(&mut data, REPLY_LIMIT).await,
        }
        replies.push(raw.reply().await);
    }
    (replies, received)
}

#[tokio::test]
async fn traversal_never_reaches_outside_the_root() {
    const SECRET: &str = "TOP SECRET outside the root";
    let base = TempDir::new("abuse-traversal");
    let root = base.join("root");
    let outside = base.join("outside");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("secret.txt"), SECRET).unwrap();
    // Named nowhere in the root: seeing it means the outside was listed.
    std::fs::write(outside.join("only-outside.txt"), SECRET).unwrap();
    std::fs::write(root.join("inside.txt"), b"inside").unwrap();
    std::os::unix::fs::symlink(outside.join("secret.txt"), root.join("link-out")).unwrap();
    std::os::unix::fs::symlink(&outside, root.join("dir-out")).unwrap();
    std::os::unix::fs::symlink("../outside", root.join("rel-out")).unwrap();
    let before = snapshot(&outside);
    let server = ExampleServer::start(&root, &[]);
    let mut raw = Raw::connect(server.address).await;
    raw.login().await;

    let mut seen = Vec::<u8>::new();
    let mut refused = 0;
    // Reads: each must fail.
    let reads: &[&[u8]] = &[
        b"RETR ../outside/secret.txt",
        b"RETR /../outside/secret.txt",
        b"RETR ../../../../../../../etc/passwd",
        b"RETR /etc/passwd",
        b"RETR link-out",
        b"RETR dir-out/secret.txt",
        b"RETR rel-out/secret.txt",
        b"RETR ..\\outside\\secret.txt",
        b"RETR \\etc\\passwd",
        b"RETR dir-out\\secret.txt",
        b"RETR %2e%2e/outside/secret.txt",
        b"RETR %2E%2E%2Foutside%2Fsecret.txt",
        b"RETR ..%5Coutside%5Csecret.txt",
        b"RETR ..%2f..%2f..%2fetc%2fpasswd",
        b"RETR inside.txt\0/../../outside/secret.txt",
        b"RETR \0../outside/secret.txt",
        b"LIST dir-out",
        b"LIST rel-out",
        b"LIST -la dir-out",
        b"NLST dir-out",
        b"MLSD dir-out",
        b"MLSD rel-out/",
        b"LIST ../outside",
        b"NLST /../outside",
    ];
    for command in reads {
        let (replies, data) = transfer(&mut raw, server.address, command, None).await;
        let last = replies.last().unwrap();
        assert!(
            code(last) >= 400,
            "{} succeeded: {replies:?}",
            String::from_utf8_lossy(command)
        );
        refused += 1;
        seen.extend_from_slice(replies.concat().as_bytes());
        seen.extend_from_slice(&data);
    }
    // Control-connection commands that describe, list or move to a path.
    for command in [
        "SIZE link-out",
        "SIZE dir-out/secret.txt",
        "SIZE ../outside/secret.txt",
        "MDTM link-out",
        "MLST dir-out/secret.txt",
        "MLST rel-out",
        "STAT dir-out",
        "STAT ../outside",
        "CWD dir-out",
        "CWD rel-out",
        "CWD ../outside",
        "CWD \\..\\outside",
        "CWD %2e%2e",
    ] {
        let reply = raw.command(command).await;
        assert!(code(&reply) >= 400, "{command} succeeded: {reply}");
        refused += 1;
        seen.extend_from_slice(reply.as_bytes());
    }
    // `..` above the root stays at the root.
    assert_eq!(code(&raw.command("CWD ../../..").await), 250);
    let pwd = raw.command("PWD").await;
    assert!(pwd.starts_with("257 \"/\""), "{pwd}");
    let (replies, listing) = transfer(&mut raw, server.address, b"NLST ..", None).await;
    assert_eq!(code(replies.last().unwrap()), 226);
    let listing = String::from_utf8_lossy(&listing).into_owned();
    assert!(listing.contains("inside.txt"), "{listing}");
    seen.extend_from_slice(listing.as_bytes());

    // Writes: each must fail, and nothing outside changes.
    for command in [
        "STOR ../outside/new.txt",
        "STOR /../../outside/new.txt",
        "STOR dir-out/new.txt",
        "STOR rel-out/new.txt",
        "STOR ..\\outside\\new.txt",
        "STOR %2e%2e/outside/new.txt",
        "APPE link-out",
        "APPE dir-out/secret.txt",
        "STOU dir-out/new.txt",
    ] {
        let (replies, _) =
            transfer(&mut raw, server.address, command.as_bytes(), Some(b"PWNED")).await;
        assert!(
            code(replies.last().unwrap()) >= 400,
            "{command} succeeded: {replies:?}"
        );
        refused += 1;
    }
    assert_eq!(code(&raw.command("REST 5").await), 350);
    let (replies, _) = transfer(&mut raw, server.address, b"STOR link-out", Some(b"PWNED")).await;
    assert!(
        code(replies.last().unwrap()) >= 400,
        "REST + STOR through a link: {replies:?}"
    );
    for command in [
        "MKD dir-out/made",
        "MKD rel-out/made",
        "MKD ../outside/made",
        "DELE dir-out/secret.txt",
        "DELE ../outside/secret.txt",
        "RMD dir-out/",
        "MFMT 20000101000000 link-out",
        "MFMT 20000101000000 dir-out/secret.txt",
    ] {
        let reply = raw.command(command).await;
        assert!(code(&reply) >= 400, "{command} succeeded: {reply}");
        refused += 1;
    }
    // Renames out of and into the outside.
    let reply = raw.command("RNFR dir-out/secret.txt").await;
    assert!(code(&reply) >= 400, "RNFR outside: {reply}");
    assert_eq!(code(&raw.command("RNFR inside.txt").await), 350);
    let reply = raw.command("RNTO dir-out/moved.txt").await;
    assert!(code(&reply) >= 400, "RNTO outside: {reply}");
    assert_eq!(code(&raw.command("RNFR inside.txt").await), 350);
    let reply = raw.command("RNTO ../outside/moved.txt").await;
    // `/outside` does not exist inside the root.
    assert!(code(&reply) >= 400, "RNTO ../outside: {reply}");
    refused += 3;

    // A STOR onto the link replaces the link inside the root, never the file it
    // points to.
    let (replies, _) = transfer(&mut raw, server.address, b"STOR link-out", Some(b"PWNED")).await;
    assert_eq!(code(replies.last().unwrap()), 226, "{replies:?}");

    let seen = String::from_utf8_lossy(&seen);
    println!(
        "FIGURE traversal: {refused} attempts through .., absolute paths, backslashes, NUL, \
         percent-encoding and 3 symlinks refused; outside unchanged"
    );
    assert!(!seen.contains(SECRET), "the secret leaked");
    assert!(!seen.contains("only-outside"), "the outside was listed");
    assert!(!seen.contains("root:x:0"), "/etc/passwd leaked");
    assert!(
        snapshot(&outside) == before,
        "something outside the root changed"
    );
    assert_eq!(std::fs::read(root.join("inside.txt")).unwrap(), b"inside");
    let mut names: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["dir-out", "inside.txt", "link-out", PROBE, "rel-out"],
        "something was created in the root"
    );
    server.assert_serves().await;
}

// ---------------------------------------------------------------------------------------
// Clients killed mid-transfer

/// Opens an upload of `name` and sends `bytes` of it.
async fn start_upload(server: &ExampleServer, name: &str, bytes: &[u8]) -> (Raw, TcpStream) {
    let mut raw = Raw::connect(server.address).await;
    raw.login().await;
    let mut data = passive_data(&mut raw, server.address).await;
    let reply = raw.command(&format!("STOR {name}")).await;
    assert_eq!(code(&reply) / 100, 1, "{reply}");
    raw_write(&mut data, bytes).await;
    (raw, data)
}

/// Opens a download of `name` and reads `bytes` of it.
async fn start_download(server: &ExampleServer, name: &str, bytes: usize) -> (Raw, TcpStream) {
    let mut raw = Raw::connect(server.address).await;
    raw.login().await;
    let mut data = passive_data(&mut raw, server.address).await;
    let reply = raw.command(&format!("RETR {name}")).await;
    assert_eq!(code(&reply) / 100, 1, "{reply}");
    let mut buffer = vec![0; bytes];
    tokio::time::timeout(REPLY_LIMIT, data.read_exact(&mut buffer))
        .await
        .expect("the server stopped sending")
        .unwrap();
    (raw, data)
}

#[tokio::test]
async fn clients_reset_mid_transfer_leak_nothing() {
    const ROUNDS: usize = 3;
    let root = TempDir::new("abuse-reset");
    let keep = pattern(1 << 20, 5);
    let big = pattern(32 << 20, 6);
    std::fs::write(root.join("keep.bin"), &keep).unwrap();
    std::fs::write(root.join("big.bin"), &big).unwrap();
    let server = ExampleServer::start(root.path(), &[]);
    let baseline = server.open_fds();
    server.assert_serves().await;
    assert_eq!(
        server.wait_for_fds(baseline, Duration::from_secs(10)).await,
        baseline,
        "a clean session left descriptors open"
    );
    let replacement = pattern(4 << 20, 7);
    let mut data_only_replies = Vec::new();
    let mut peak_fds = baseline;
    for _ in 0..ROUNDS {
        // Upload, both connections reset.
        let (raw, data) = start_upload(&server, "keep.bin", &replacement[..1 << 20]).await;
        peak_fds = peak_fds.max(server.open_fds());
        reset(data);
        raw.reset();

        // Upload, data connection reset: the transfer fails, the session goes on.
        let (mut raw, data) = start_upload(&server, "keep.bin", &replacement[..1 << 20]).await;
        reset(data);
        let reply = raw.reply().await;
        data_only_replies.push(code(&reply));
        assert_eq!(code(&raw.command("NOOP").await), 200);
        raw.reset();

        // Download, both reset.
        let (raw, data) = start_download(&server, "big.bin", 1 << 20).await;
        peak_fds = peak_fds.max(server.open_fds());
        reset(data);
        raw.reset();

        // Download, data connection reset.
        let (mut raw, data) = start_download(&server, "big.bin", 1 << 20).await;
        reset(data);
        let reply = raw.reply().await;
        data_only_replies.push(code(&reply));
        assert_eq!(code(&raw.command("NOOP").await), 200);
        raw.reset();

        // Killed while the server waits for the data connection of an upload: its
        // passive listener and the opened upload go with the session.
        let mut raw = Raw::connect(server.address).await;
        raw.login().await;
        raw.epsv().await;
        let reply = raw.command("STOR keep.bin").await;
        assert_eq!(code(&reply) / 100, 1, "{reply}");
        assert_eq!(code(&raw.command("NOOP").await), 200);
        assert_eq!(
            open_staging_files(&server, root.path()),
            1,
            "the upload is open"
        );
        peak_fds = peak_fds.max(server.open_fds());
        raw.reset();
    }
    let after = server.wait_for_fds(baseline, Duration::from_secs(10)).await;
    let left = wait_for_no_temporary_files(root.path()).await;
    println!(
        "FIGURE reset: {} transfers reset midway (uploads and downloads) and {ROUNDS} clients \
         killed while the server waited for their data connection; server fds {baseline} \
         before, {peak_fds} at the peak, {after} after; data-only resets answered \
         {data_only_replies:?}; temporary files left: {}",
        ROUNDS * 4,
        left.len()
    );
    assert_eq!(after, baseline, "file descriptors leaked");
    assert!(left.is_empty(), "temporary files left: {left:?}");
    assert!(
        data_only_replies.iter().all(|code| *code == 426),
        "{data_only_replies:?}"
    );
    assert!(
        std::fs::read(root.join("keep.bin")).unwrap() == keep,
        "keep.bin changed"
    );
    assert!(
        std::fs::read(root.join("big.bin")).unwrap() == big,
        "big.bin changed"
    );
    server.assert_serves().await;
    assert_eq!(
        server.wait_for_fds(baseline, Duration::from_secs(10)).await,
        baseline
    );
}

// ---------------------------------------------------------------------------------------
// A full disk

/// A tmpfs mounted for a test, unmounted on drop.
struct Mount(std::path::PathBuf);

impl Mount {
    /// Mounts a tmpfs of `size` (as `mount` reads it: `4m`) at `path`; `None` if this
    /// process may not mount.
    fn tmpfs(path: &Path, size: &str) -> Option<Mount> {
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0755")])
            .arg("ftp-proto-abuse")
            .arg(path)
            .stderr(std::process::Stdio::null())
            .status();
        status
            .is_ok_and(|status| status.success())
            .then(|| Mount(path.to_path_buf()))
    }

    /// Free bytes for unprivileged use.
    fn free_bytes(&self) -> u64 {
        let stats = rustix::fs::statvfs(&self.0).unwrap();
        stats.f_bavail * stats.f_frsize
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let unmounted = std::process::Command::new("umount")
            .arg(&self.0)
            .status()
            .is_ok_and(|status| status.success());
        if !unmounted {
            let _ = std::process::Command::new("umount")
                .arg("-l")
                .arg(&self.0)
                .status();
        }
    }
}

/// Uploads `bytes` to `name` (STOR) where the disk cannot hold them; returns
/// the final reply.
async fn upload_too_much(raw: &mut Raw, address: SocketAddr, name: &str, bytes: &[u8]) -> String {
    let mut data = passive_data(raw, address).await;
    let reply = raw.command(&format!("STOR {name}")).await;
    assert_eq!(code(&reply) / 100, 1, "{reply}");
    // The server stops reading when the disk is full, and closes the connection.
    let _ = tokio::time::timeout(REPLY_LIMIT, data.write_all(bytes)).await;
    let _ = data.shutdown().await;
    raw.reply().await
}

#[tokio::test]
async fn a_full_disk_fails_the_upload_and_keeps_the_old_file() {
    let base = TempDir::new("abuse-disk");
    let disk = base.join("disk");
    std::fs::create_dir_all(&disk).unwrap();
    let Some(mount) = Mount::tmpfs(&disk, "4m") else {
        if std::env::var("CI").is_ok_and(|value| value == "true") {
            panic!("mounting a tmpfs is required under CI=true (run as root)");
        }
        eprintln!(
            "\n*** SKIPPED: cannot mount a tmpfs (not root?); the full-disk case did not run ***\n"
        );
        return;
    };
    let old = pattern(1 << 20, 8);
    std::fs::write(disk.join("keep.bin"), &old).unwrap();
    let server = ExampleServer::start(&disk, &[]);
    let free_before = mount.free_bytes();
    let too_big = pattern(8 << 20, 9);
    let mut raw = Raw::connect(server.address).await;
    raw.login().await;

    // Replacing a file: refused for space, the old file stays whole.
    let replace = upload_too_much(&mut raw, server.address, "keep.bin", &too_big).await;
    // A new file: refused, and nothing of it stays.
    let create = upload_too_much(&mut raw, server.address, "new.bin", &too_big).await;
    let left = wait_for_no_temporary_files(&disk).await;
    let free_after = mount.free_bytes();
    println!(
        "FIGURE full disk: 4 MiB tmpfs, 8 MiB uploads answered {:?} (replace) and {:?} \
         (new file); free space {free_before} bytes before, {free_after} after; temporary \
         files left: {}",
        replace.trim_end(),
        create.trim_end(),
        left.len()
    );
    for reply in [&replace, &create] {
        assert!(
            matches!(code(reply), 452 | 552),
            "a full disk answered {reply}"
        );
    }
    assert!(
        std::fs::read(disk.join("keep.bin")).unwrap() == old,
        "the old file was damaged"
    );
    assert!(
        !disk.join("new.bin").exists(),
        "a partial new file was left"
    );
    assert!(left.is_empty(), "temporary files left: {left:?}");
    assert_eq!(free_after, free_before, "space was not given back");

    // The session goes on, and an upload that fits works.
    let small = pattern(10_000, 10);
    let (replies, _) = transfer(&mut raw, server.address, b"STOR small.bin", Some(&small)).await;
    assert_eq!(code(replies.last().unwrap()), 226, "{replies:?}");
    let (replies, back) = transfer(&mut raw, server.address, b"RETR small.bin", None).await;
    assert_eq!(code(replies.last().unwrap()), 226, "{replies:?}");
    assert!(back == small);
    server.assert_serves().await;
    drop(raw);
    drop(server);
    drop(mount);
}

// ---------------------------------------------------------------------------------------
// Log injection

#[tokio::test]
async fn peer_supplied_names_are_escaped_in_the_log() {
    let root = TempDir::new("abuse-log");
    let server = ExampleServer::start_with_env(root.path(), &[], &[("RUST_LOG", "info")]);
    let mut raw = Raw::connect(server.address).await;
    // A bare CR, an ANSI escape (clear screen) and a right-to-left override.
    raw.send("USER eve\rroot\u{1b}[2J\u{202e}gpj.exe\r\n".as_bytes())
        .await;
    assert_eq!(code(&raw.reply().await), 331);
    assert_eq!(code(&raw.command("PASS wrong").await), 530);
    let log = server.log();
    assert!(
        log.contains(r"eve\u{d}root\u{1b}[2J\u{202e}gpj.exe"),
        "the user name is not escaped in:\n{log}"
    );
    assert!(
        !log.contains('\u{1b}') && !log.contains('\u{202e}'),
        "{log:?}"
    );
}
