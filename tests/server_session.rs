//! Scripted dialogues with `server::Session`: every command's success and failure
//! replies, checked code by code, with no socket.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, UNIX_EPOCH};

use common::{CLIENT, DataMode, MemoryFs, ServerDriver};
use ftp_proto::listing::MlsxFact;
use ftp_proto::server::{
    Action, Capabilities, CloseReason, Config, DataEvent, DataFailure, Direction, Event,
    ListingFormat, MoreEntries, Request, Response, StorageError, TransferContent, VirtualPath,
    WriteMode,
};
use ftp_proto::{Pathname, ReplyCode, Text};

fn path(text: &str) -> VirtualPath {
    VirtualPath::root().join(&Pathname::from(text)).unwrap()
}

fn anonymous() -> ServerDriver {
    ServerDriver::logged_in(Config::default(), "anonymous", "guest@")
}

fn alice() -> ServerDriver {
    ServerDriver::logged_in(Config::default(), "alice", "secret")
}

fn tls_config() -> Config {
    let mut config = Config::default();
    config.enable_tls = true;
    config
}

#[test]
fn greeting_and_login() {
    let mut server = ServerDriver::new(Config::default(), MemoryFs::new());
    let greeting = server.reply();
    assert_eq!(greeting.code(), ReplyCode::SERVICE_READY);
    assert_eq!(server.command("USER alice"), [331]);
    assert_eq!(server.command("PASS secret"), [230]);
    assert!(server.session.is_logged_in());
    assert!(
        server
            .events
            .iter()
            .any(|event| matches!(event, Event::LoggedIn { user } if user == "alice"))
    );
    assert_eq!(server.command("PASS again"), [503]);
}

#[test]
fn user_always_gets_331_and_pass_needs_user() {
    let mut server = ServerDriver::new(Config::default(), MemoryFs::new());
    server.take_replies();
    // No enumeration: unknown users get the same answer.
    assert_eq!(server.command("USER nobody-at-all"), [331]);
    assert_eq!(server.command("USER alice"), [331]);
    let mut fresh = ServerDriver::new(Config::default(), MemoryFs::new());
    fresh.take_replies();
    assert_eq!(fresh.command("PASS secret"), [503]);
    assert_eq!(fresh.command("ACCT x"), [202]);
}

#[test]
fn commands_before_login_are_refused() {
    let mut server = ServerDriver::new(Config::default(), ServerDriver::default_fs());
    server.take_replies();
    for line in [
        "PWD",
        "CWD /pub",
        "RETR /readme",
        "LIST",
        "PASV",
        "SIZE /readme",
        "MKD x",
        "DELE x",
    ] {
        assert_eq!(server.command(line), [530], "{line}");
    }
    assert!(
        server.requests.is_empty(),
        "no file-system request before login"
    );
    for (line, code) in [
        ("SYST", 215),
        ("NOOP", 200),
        ("FEAT", 211),
        ("HELP", 214),
        ("STAT", 211),
    ] {
        assert_eq!(server.command(line), [code], "{line}");
    }
}

#[test]
fn failed_logins_are_delayed_then_locked_out() {
    let mut server = ServerDriver::new(Config::default(), MemoryFs::new());
    server.take_replies();
    server.send("USER alice\r\nPASS wrong\r\nNOOP\r\n");
    assert_eq!(
        server.codes(),
        [331],
        "the 530 waits for the delay; NOOP waits behind it"
    );
    server.advance(Duration::from_millis(999));
    assert_eq!(server.codes(), Vec::<u16>::new());
    server.advance(Duration::from_millis(1));
    assert_eq!(server.codes(), [530, 200]);

    // The second failure waits twice as long.
    server.send("USER alice\r\nPASS wrong\r\n");
    server.advance(Duration::from_millis(1999));
    assert_eq!(server.codes(), [331]);
    server.advance(Duration::from_millis(1));
    assert_eq!(server.codes(), [530]);

    // The third ends the session.
    server.send("USER alice\r\nPASS wrong\r\n");
    server.advance(Duration::from_secs(4));
    assert_eq!(server.codes(), [331, 421]);
    assert!(server.session.is_closed());
    assert!(server.actions.contains(&Action::Close));
    assert_eq!(
        server.command("USER alice"),
        Vec::<u16>::new(),
        "closed sessions ignore input"
    );
}

#[test]
fn login_and_idle_deadlines() {
    let mut server = ServerDriver::new(Config::default(), MemoryFs::new());
    server.take_replies();
    let deadline = server.session.poll_timeout().unwrap();
    assert_eq!(deadline, server.now + Duration::from_secs(60));
    server.advance(Duration::from_secs(60));
    assert_eq!(server.codes(), [421]);
    assert!(server.session.is_closed());

    let mut idle = anonymous();
    idle.advance(Duration::from_secs(299));
    assert_eq!(
        idle.command("NOOP"),
        [200],
        "a command resets the idle timer"
    );
    idle.advance(Duration::from_secs(299));
    assert!(!idle.session.is_closed());
    idle.advance(Duration::from_secs(1));
    assert_eq!(idle.codes(), [421]);
    assert!(idle.session.is_closed());
}

#[test]
fn rein_does_not_restart_the_login_clock_of_a_session_that_never_logged_in() {
    let mut server = ServerDriver::new(Config::default(), MemoryFs::new());
    server.take_replies();
    // A client that never logs in cannot hold its place by sending REIN now and then.
    for _ in 0..5 {
        server.advance(Duration::from_secs(11));
        assert_eq!(server.command("REIN"), [220]);
    }
    assert!(!server.session.is_closed());
    server.advance(Duration::from_secs(5));
    assert_eq!(server.codes(), [421]);
    assert!(server.session.is_closed());

    // After a real login, REIN gives the next user a full login period.
    let mut user = ServerDriver::new(Config::default(), MemoryFs::new());
    user.take_replies();
    user.advance(Duration::from_secs(50));
    assert_eq!(user.command("USER alice"), [331]);
    assert_eq!(user.command("PASS secret"), [230]);
    user.advance(Duration::from_secs(100));
    assert_eq!(user.command("REIN"), [220]);
    user.advance(Duration::from_secs(59));
    assert!(!user.session.is_closed());
    user.advance(Duration::from_secs(1));
    assert_eq!(user.codes(), [421]);
}

#[test]
fn idle_timer_does_not_run_during_a_transfer() {
    let mut server = anonymous();
    server.data_mode = DataMode::Manual;
    server.send("PASV\r\n");
    server.listening();
    server.accept(CLIENT);
    assert_eq!(server.command("RETR /readme"), [227, 125]);
    let id = server.transfer_id().unwrap();
    // The only wake-ups while data flows are the stall deadline's progress samples,
    // an eighth of the data timeout apart.
    assert_eq!(
        server.session.poll_timeout(),
        Some(server.now + Duration::from_millis(37_500)),
        "only progress samples while data flows"
    );
    for second in 1..=12u64 {
        server.now += Duration::from_secs(299);
        server.data_event(DataEvent::Progress {
            id,
            bytes: second * 1000,
        });
        server.advance(Duration::from_secs(1));
    }
    assert!(!server.session.is_closed(), "an hour, and no idle timeout");
    assert_eq!(server.codes(), Vec::<u16>::new());
}

#[test]
fn a_stalled_transfer_is_aborted_with_426() {
    let mut server = anonymous();
    server.data_mode = DataMode::Manual;
    server.send("PASV\r\n");
    server.listening();
    server.accept(CLIENT);
    assert_eq!(server.command("RETR /readme"), [227, 125]);
    let id = server.transfer_id().unwrap();
    server.advance(Duration::from_secs(200));
    server.data_event(DataEvent::Progress { id, bytes: 5 });
    // The same figure again is no progress.
    server.advance(Duration::from_secs(200));
    server.data_event(DataEvent::Progress { id, bytes: 5 });
    assert_eq!(server.codes(), Vec::<u16>::new());
    server.advance(Duration::from_secs(100));
    assert_eq!(server.codes(), [426]);
    assert!(
        server.actions.contains(&Action::AbortTransfer { id }),
        "the adapter is told to stop the copy"
    );
    // A late end of the aborted transfer changes nothing.
    server.data_event(DataEvent::Finished { id, bytes: 7 });
    assert_eq!(server.codes(), Vec::<u16>::new());
    assert_eq!(server.command("NOOP"), [200]);
}

#[test]
fn host_before_login() {
    let mut server = ServerDriver::new(Config::default(), MemoryFs::new());
    server.take_replies();
    assert_eq!(server.command("HOST ftp.example.com"), [220]);
    assert_eq!(server.command("HOST unknown.example.com"), [550]);
    assert_eq!(server.command("HOST ftp.example.com:21"), [501]);
    assert_eq!(server.command("HOST [::1]:21"), [501]);
    server.command("USER alice");
    assert_eq!(server.command("HOST ftp.example.com"), [503]);
}

#[test]
fn rein_logs_out() {
    let mut server = alice();
    assert_eq!(server.command("CWD /pub"), [250]);
    assert_eq!(server.command("REIN"), [220]);
    assert!(!server.session.is_logged_in());
    assert_eq!(server.command("PWD"), [530]);
    server.send("USER alice\r\nPASS secret\r\n");
    server.take_replies();
    assert_eq!(server.session.working_directory(), &VirtualPath::root());
}

#[test]
fn directories_and_the_virtual_path_model() {
    let mut server = anonymous();
    let pwd = {
        server.command("PWD");
        server.requests.clear();
        server.send("PWD\r\n");
        server.reply()
    };
    assert_eq!(pwd.quoted_path().unwrap(), "/");
    assert_eq!(server.command("CWD pub"), [250]);
    assert_eq!(server.session.working_directory(), &path("/pub"));
    assert_eq!(server.command("CWD /nowhere"), [550]);
    assert_eq!(
        server.command("CWD /readme"),
        [550],
        "a file is not a directory"
    );
    assert_eq!(server.command("XCWD /pub"), [250]);
    assert_eq!(server.command("CDUP"), [250]);
    assert_eq!(server.session.working_directory(), &VirtualPath::root());
    assert_eq!(
        server.command("XCUP"),
        [250],
        "the root's parent is the root"
    );
    assert_eq!(server.command("CWD ../../../.."), [250]);
    assert_eq!(server.session.working_directory(), &VirtualPath::root());
    server.send("XPWD\r\n");
    assert_eq!(server.reply().quoted_path().unwrap(), "/");
    // NUL never reaches the storage.
    server.requests.clear();
    assert_eq!(server.command("CWD a\0b"), [553]);
    assert!(server.requests.is_empty());
}

#[test]
fn every_path_in_a_request_stays_inside_the_root() {
    let mut server = alice();
    for line in [
        "CWD ../../etc",
        "SIZE ../../../etc/passwd",
        "MDTM /../../x",
        "DELE ../../x",
        "MKD ../../../../tmp/x",
        "RMD ..",
    ] {
        server.command(line);
    }
    for request in &server.requests {
        let paths: Vec<&VirtualPath> = match request {
            Request::Metadata { path }
            | Request::Delete { path }
            | Request::MakeDirectory { path }
            | Request::RemoveDirectory { path } => vec![path],
            Request::Authenticate { .. } => vec![],
            other => panic!("unexpected {other:?}"),
        };
        for path in paths {
            assert!(path.as_bytes().starts_with(b"/"));
            assert!(!path.components().any(|part| part == b".." || part == b"."));
        }
    }
}

#[test]
fn pwd_quotes_paths_per_rfc_959() {
    let mut server = ServerDriver::logged_in(Config::default(), "alice", "secret");
    server
        .fs
        .nodes
        .insert(b"/say \"hi\"".to_vec(), common::Node::Directory);
    assert_eq!(server.command("CWD /say \"hi\""), [250]);
    server.send("PWD\r\n");
    let reply = server.reply();
    assert_eq!(
        reply.text().as_bytes(),
        b"\"/say \"\"hi\"\"\" is the current directory"
    );
    assert_eq!(reply.quoted_path().unwrap(), "/say \"hi\"");
}

#[test]
fn type_mode_stru_allo() {
    let mut server = anonymous();
    for (line, code) in [
        ("TYPE A", 200),
        ("TYPE A N", 200),
        ("TYPE I", 200),
        ("TYPE L 8", 200),
        ("TYPE L 7", 504),
        ("TYPE E", 504),
        ("TYPE A T", 504),
        ("TYPE X", 504),
        ("TYPE", 501),
        ("MODE S", 200),
        ("MODE B", 504),
        ("MODE Z", 504),
        ("MODE Q", 504),
        ("MODE 1", 501),
        ("STRU F", 200),
        ("STRU R", 504),
        ("STRU X", 504),
        ("TYPE L", 504),
        ("ALLO 100", 202),
        ("ALLO x", 501),
        ("SMNT /x", 502),
    ] {
        assert_eq!(server.command(line), [code], "{line}");
    }
}

#[test]
fn ascii_type_is_carried_to_the_transfer() {
    let mut server = anonymous();
    server.send("TYPE A\r\nPASV\r\nRETR /readme\r\n");
    let transfer = server.actions.iter().find_map(|event| match event {
        Action::StartTransfer(transfer) => Some(transfer.clone()),
        _ => None,
    });
    let transfer = transfer.expect("a transfer");
    assert!(transfer.ascii);
    assert_eq!(transfer.direction, Direction::Send);
    assert_eq!(transfer.content, TransferContent::File);
    assert_eq!(server.codes(), [200, 227, 150, 226]);
}

#[test]
fn passive_modes() {
    let mut server = anonymous();
    server.send("PASV\r\n");
    let reply = server.reply();
    assert_eq!(reply.code(), ReplyCode::ENTERING_PASSIVE_MODE);
    assert_eq!(
        reply.passive_address().unwrap(),
        "127.0.0.1:50000".parse().unwrap()
    );
    server.send("EPSV\r\n");
    assert_eq!(server.reply().extended_passive_port(), Ok(50000));
    assert_eq!(server.command("EPSV 1"), [229]);
    assert_eq!(
        server.command("EPSV 2"),
        [522],
        "IPv6 on an IPv4 control connection"
    );
    assert_eq!(server.command("EPSV 7"), [522]);
    assert_eq!(server.command("EPSV ALL"), [200]);
    assert_eq!(server.command("PASV"), [503]);
    assert_eq!(server.command("PORT 127,0,0,1,200,10"), [503]);
    assert_eq!(server.command("EPRT |1|127.0.0.1|5000|"), [503]);
    assert_eq!(server.command("EPSV"), [229]);
}

#[test]
fn a_listener_that_cannot_open_is_425() {
    let mut server = anonymous();
    server.data_mode = DataMode::Manual;
    server.send("PASV\r\nNOOP\r\n");
    assert_eq!(
        server.codes(),
        Vec::<u16>::new(),
        "PASV waits for the listener, NOOP behind it"
    );
    let channel = server.channel.unwrap();
    server.data_event(DataEvent::ListenFailed { channel });
    assert_eq!(server.codes(), [425, 200]);
}

#[test]
fn active_mode_policy() {
    let mut server = anonymous();
    assert_eq!(server.command("PORT 127,0,0,1,200,10"), [200]);
    assert_eq!(server.command("EPRT |1|127.0.0.1|5000|"), [200]);
    // The bounce attack: another host, or a privileged port.
    assert_eq!(server.command("PORT 127,0,0,2,200,10"), [504]);
    assert_eq!(server.command("EPRT |1|10.0.0.1|5000|"), [504]);
    assert_eq!(server.command("PORT 127,0,0,1,0,25"), [504]);
    assert_eq!(server.command("EPRT |1|127.0.0.1|1023|"), [504]);
    assert_eq!(server.command("PORT 1,2,3"), [501]);
    assert_eq!(server.command("EPRT |3|x|1|"), [522]);

    let mut fxp = Config::default();
    fxp.allow_foreign_active_address = true;
    fxp.allow_privileged_active_port = true;
    let mut permissive = ServerDriver::logged_in(fxp, "anonymous", "x");
    assert_eq!(permissive.command("PORT 127,0,0,2,0,25"), [200]);

    let mut passive_only = Config::default();
    passive_only.enable_active_mode = false;
    let mut no_active = ServerDriver::logged_in(passive_only, "anonymous", "x");
    assert_eq!(no_active.command("PORT 127,0,0,1,200,10"), [502]);
}

#[test]
fn active_transfer_connects_when_the_transfer_starts() {
    let mut server = anonymous();
    server.data_mode = DataMode::Manual;
    assert_eq!(server.command("EPRT |1|127.0.0.1|5000|"), [200]);
    assert!(
        server.transfer_id().is_none(),
        "no connect before a transfer"
    );
    assert_eq!(server.command("RETR /readme"), [150]);
    let address: SocketAddr = "127.0.0.1:5000".parse().unwrap();
    let id = match server.actions.last() {
        Some(Action::ConnectActive { id, address: to }) if *to == address => *id,
        other => panic!("expected a connect, got {other:?}"),
    };
    assert!(
        server.started_transfer().is_none(),
        "the transfer starts once connected"
    );
    server.data_event(DataEvent::ConnectFailed { id });
    assert_eq!(server.codes(), [425]);
    assert!(server.actions.contains(&Action::AbortTransfer { id }));

    // A connect that succeeds starts the transfer, with the same id.
    assert_eq!(server.command("EPRT |1|127.0.0.1|5000|"), [200]);
    assert_eq!(server.command("RETR /readme"), [150]);
    let id = server.transfer_id().unwrap();
    server.data_event(DataEvent::Connected { id });
    assert_eq!(server.started_transfer().map(|t| t.id), Some(id));
    server.data_event(DataEvent::Finished { id, bytes: 7 });
    assert_eq!(server.codes(), [226]);
}

#[test]
fn an_active_connect_that_never_ends_is_425() {
    let mut server = anonymous();
    server.data_mode = DataMode::Manual;
    assert_eq!(server.command("EPRT |1|127.0.0.1|5000|"), [200]);
    assert_eq!(server.command("RETR /readme"), [150]);
    let id = server.transfer_id().unwrap();
    server.advance(Duration::from_secs(30));
    assert_eq!(server.codes(), [425]);
    assert!(server.actions.contains(&Action::AbortTransfer { id }));
    // The connect's late success is ignored.
    server.data_event(DataEvent::Connected { id });
    assert!(server.started_transfer().is_none());
}

#[test]
fn passive_data_connection_from_another_host_is_refused() {
    let mut server = anonymous();
    server.data_mode = DataMode::Manual;
    server.send("PASV\r\n");
    server.listening();
    assert_eq!(server.codes(), [227]);
    assert_eq!(server.command("RETR /readme"), [150]);
    server.actions.clear();
    // Port stealing: a third party connects first.
    server.accept("127.0.0.2:40001");
    assert_eq!(server.codes(), [425]);
    assert!(server.actions.contains(&Action::CloseData));
    assert!(
        server
            .actions
            .iter()
            .any(|event| matches!(event, Action::AbortTransfer { .. }))
    );
}

#[test]
fn retrieve_with_the_right_replies_in_order() {
    let mut server = anonymous();
    server.data_mode = DataMode::Manual;
    assert_eq!(
        server.command("RETR /readme"),
        [425],
        "no data connection set up"
    );
    server.send("PASV\r\n");
    server.listening();
    server.take_replies();
    server.send("RETR /readme\r\n");
    let opening = server.reply();
    assert_eq!(opening.code(), ReplyCode::FILE_STATUS_OKAY);
    assert_eq!(opening.transfer_size_hint(), Some(7));
    assert_eq!(
        server.last_request(),
        &Request::OpenRead {
            path: path("/readme"),
            offset: 0
        }
    );
    assert!(
        server.started_transfer().is_none(),
        "no transfer before its data connection"
    );
    server.accept(CLIENT);
    let id = server.started_transfer().unwrap().id;
    server.data_event(DataEvent::Progress { id, bytes: 3 });
    server.send("STAT\r\n");
    let status = server.reply();
    assert!(
        status.text().to_string().contains("3 bytes so far"),
        "{status:?}"
    );
    server.data_event(DataEvent::Finished { id, bytes: 7 });
    assert_eq!(server.codes(), [226]);
    assert_eq!(
        server.command("RETR /readme"),
        [425],
        "a new PASV is needed per transfer"
    );
    assert_eq!(server.command("RETR /missing"), [425]);
    server.send("PASV\r\n");
    server.listening();
    server.take_replies();
    assert_eq!(server.command("RETR /missing"), [550]);
    assert_eq!(server.command("RETR /pub"), [550]);
}

#[test]
fn transfer_failures_map_to_reply_codes() {
    let cases = [
        (DataFailure::ConnectionLost, 426),
        (DataFailure::Storage(StorageError::InsufficientStorage), 452),
        (DataFailure::Storage(StorageError::QuotaExceeded), 552),
        (
            DataFailure::Storage(StorageError::Other("disk on fire".into())),
            451,
        ),
    ];
    for (reason, code) in cases {
        let mut server = failed_transfer("STOR /new", reason.clone());
        assert_eq!(server.codes(), [code], "{reason:?}");
    }
}

/// Alice's session after `command` started a transfer over a passive data connection
/// and the adapter reported it failed for `reason`; the failure's reply is unread.
fn failed_transfer(command: &str, reason: DataFailure) -> ServerDriver {
    let mut server = alice();
    server.data_mode = DataMode::Manual;
    server.send("PASV\r\n");
    server.listening();
    server.accept(CLIENT);
    assert_eq!(server.command(command), [227, 125]);
    let id = server.actions.iter().find_map(|event| match event {
        Action::StartTransfer(transfer) => Some(transfer.id),
        _ => None,
    });
    server.data_event(DataEvent::Failed {
        id: id.expect("a transfer started"),
        reason,
    });
    server
}

#[test]
fn data_connection_that_never_comes_is_425() {
    let mut server = anonymous();
    server.data_mode = DataMode::Manual;
    server.send("PASV\r\n");
    server.listening();
    assert_eq!(server.command("RETR /readme"), [227, 150]);
    assert_eq!(
        server.session.poll_timeout(),
        Some(server.now + Duration::from_secs(30))
    );
    server.advance(Duration::from_secs(30));
    assert_eq!(server.codes(), [425]);
    assert!(server.actions.contains(&Action::CloseData));
    assert_eq!(server.command("NOOP"), [200]);
}

#[test]
fn a_transfer_longer_than_the_idle_timeout_is_not_followed_by_an_idle_421() {
    // Regression: the end of a transfer restarted the idle timer from the time of the
    // last control input, so a transfer longer than the idle timeout was followed at
    // once by "421 Idle timeout". No deadline is due while a transfer runs, so nothing
    // else tells the session the time but the stall deadline, long here.
    let mut config = Config::default();
    config.data_timeout = Duration::from_secs(7200);
    let mut server = ServerDriver::logged_in(config, "anonymous", "x");
    server.data_mode = DataMode::Manual;
    server.send("PASV\r\n");
    server.listening();
    server.accept(CLIENT);
    assert_eq!(server.command("RETR /readme"), [227, 125]);
    let id = server
        .actions
        .iter()
        .find_map(|event| match event {
            Action::StartTransfer(transfer) => Some(transfer.id),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        server.session.poll_timeout(),
        Some(server.now + Duration::from_secs(900)),
        "only the stall deadline's progress samples are due mid-transfer"
    );
    server.now += Duration::from_secs(3600);
    server.data_event(DataEvent::Finished { id, bytes: 7 });
    assert_eq!(server.codes(), [226]);
    assert_eq!(
        server.session.poll_timeout(),
        Some(server.now + Duration::from_secs(300)),
        "the idle timer starts at the end of the transfer"
    );
    server.advance(Duration::from_secs(299));
    assert_eq!(server.codes(), Vec::<u16>::new());
    assert_eq!(server.command("NOOP"), [200]);
}

#[test]
fn a_slow_answer_is_not_followed_by_an_idle_421() {
    let mut server = anonymous();
    server.hold_requests = true;
    server.send("SIZE /readme\r\n");
    let (id, request) = server.held.pop_front().unwrap();
    server.now += Duration::from_secs(400);
    let answer = server.fs.answer(&request);
    server.respond(id, answer);
    assert_eq!(server.codes(), [213]);
    assert_eq!(
        server.session.poll_timeout(),
        Some(server.now + Duration::from_secs(300))
    );
    server.advance(Duration::from_secs(1));
    assert_eq!(server.command("NOOP"), [200]);
}

#[test]
fn abort_during_and_outside_a_transfer() {
    let mut server = anonymous();
    assert_eq!(server.command("ABOR"), [225]);
    server.data_mode = DataMode::Manual;
    server.send("PASV\r\n");
    server.listening();
    server.accept(CLIENT);
    assert_eq!(server.command("RETR /readme"), [227, 125]);
    // Commands other than ABOR, STAT, NOOP and QUIT wait for the transfer.
    assert_eq!(server.command("PWD"), Vec::<u16>::new());
    assert_eq!(
        server.command("ABOR"),
        Vec::<u16>::new(),
        "ABOR waits behind the PWD"
    );
    let mut direct = anonymous();
    direct.data_mode = DataMode::Manual;
    direct.send("PASV\r\n");
    direct.listening();
    direct.accept(CLIENT);
    assert_eq!(direct.command("RETR /readme"), [227, 125]);
    // Telnet IP and DM before ABOR, as Python's ftplib sends them.
    direct.send_bytes(b"\xff\xf4\xff\xf2ABOR\r\n");
    assert_eq!(direct.codes(), [426, 226]);
    assert!(
        direct
            .actions
            .iter()
            .any(|event| matches!(event, Action::AbortTransfer { .. }))
    );
    assert_eq!(direct.command("NOOP"), [200]);
}

#[test]
fn quit_waits_for_the_running_transfer() {
    let mut server = anonymous();
    server.data_mode = DataMode::Manual;
    server.send("PASV\r\n");
    server.listening();
    server.accept(CLIENT);
    assert_eq!(server.command("RETR /readme"), [227, 125]);
    assert_eq!(server.command("QUIT"), Vec::<u16>::new());
    let id = server.actions.iter().find_map(|event| match event {
        Action::StartTransfer(transfer) => Some(transfer.id),
        _ => None,
    });
    server.data_event(DataEvent::Finished {
        id: id.unwrap(),
        bytes: 7,
    });
    assert_eq!(server.codes(), [226, 221]);
    assert!(server.session.is_closed());
}

#[test]
fn uploads_need_write_permission() {
    let mut server = anonymous();
    for line in [
        "STOR x",
        "APPE x",
        "STOU",
        "DELE /readme",
        "MKD d",
        "RMD /pub",
        "RNFR /readme",
        "MFMT 20240101000000 /readme",
    ] {
        assert_eq!(server.command(line), [550], "{line}");
    }
    assert_eq!(server.fs.file("/readme"), Some(&b"read me"[..]));
}

#[test]
fn uploads_in_every_mode() {
    let mut server = alice();
    assert_eq!(server.command("PASV"), [227]);
    assert_eq!(server.command("STOR /pub/new.txt"), [150, 226]);
    assert_eq!(
        server.last_request(),
        &Request::OpenWrite {
            path: path("/pub/new.txt"),
            mode: WriteMode::Create
        }
    );
    server.command("PASV");
    assert_eq!(server.command("APPE /readme"), [150, 226]);
    assert_eq!(
        server.last_request(),
        &Request::OpenWrite {
            path: path("/readme"),
            mode: WriteMode::Append
        }
    );
    server.command("PASV");
    assert_eq!(server.command("REST 5"), [350]);
    assert_eq!(server.command("STOR /readme"), [150, 226]);
    assert_eq!(
        server.last_request(),
        &Request::OpenWrite {
            path: path("/readme"),
            mode: WriteMode::At(5)
        }
    );
    server.command("PASV");
    server.send("STOU readme\r\n");
    let replies = server.take_replies();
    assert_eq!(replies[0].code(), ReplyCode::FILE_STATUS_OKAY);
    assert!(
        replies[0].text().to_string().starts_with("FILE: /readme.1"),
        "{replies:?}"
    );
    server.command("PASV");
    assert_eq!(server.command("STOR /nodir/x"), [550]);
    server.command("PASV");
    assert_eq!(server.command("STOR /pub"), [550]);
}

#[test]
fn rest_before_retrieve() {
    let mut server = anonymous();
    assert_eq!(server.command("REST 3"), [350]);
    server.command("PASV");
    assert_eq!(server.command("RETR /readme"), [150, 226]);
    assert_eq!(
        server.last_request(),
        &Request::OpenRead {
            path: path("/readme"),
            offset: 3
        }
    );
    server.command("PASV");
    server.command("RETR /readme");
    assert_eq!(
        server.last_request(),
        &Request::OpenRead {
            path: path("/readme"),
            offset: 0
        },
        "REST is used once"
    );
    assert_eq!(server.command("REST x"), [501]);
}

#[test]
fn capabilities_are_reflected_in_feat_and_502() {
    let mut config = Config::default();
    let mut capabilities = Capabilities::ALL;
    capabilities.append = false;
    capabilities.write_at_offset = false;
    capabilities.set_modified = false;
    capabilities.rename = false;
    config.capabilities = capabilities;
    let mut server = ServerDriver::logged_in(config, "alice", "secret");
    server.send("FEAT\r\n");
    let features = server.reply();
    let names: Vec<String> = features
        .features()
        .unwrap()
        .iter()
        .map(|f| f.name.to_string())
        .collect();
    assert!(!names.contains(&"MFMT".to_owned()), "{names:?}");
    assert!(
        names.contains(&"REST".to_owned()),
        "reading from an offset still works"
    );
    assert_eq!(server.command("APPE /readme"), [502]);
    assert_eq!(server.command("MFMT 20240101000000 /readme"), [502]);
    assert_eq!(server.command("RNFR /readme"), [502]);
    server.command("PASV");
    server.command("REST 5");
    assert_eq!(server.command("STOR /readme"), [502]);
}

#[test]
fn directory_renames_are_refused_at_rnfr_when_the_back_end_cannot() {
    let mut config = Config::default();
    let mut capabilities = Capabilities::ALL;
    capabilities.rename_directories = false;
    capabilities.append = false;
    config.capabilities = capabilities;
    let mut server = ServerDriver::logged_in(config, "alice", "secret");
    assert_eq!(server.command("RNFR /pub"), [504]);
    // No rename is pending after the refusal.
    assert_eq!(server.command("RNTO /moved"), [503]);
    // Files still rename.
    assert_eq!(server.command("RNFR /readme"), [350]);
    assert_eq!(server.command("RNTO /moved"), [250]);
    // MLSD's perm fact leaves out what cannot be done: no `f` on directories, no `a`.
    server.command("PASV");
    assert_eq!(server.command("MLSD /"), [150, 226]);
    let Request::OpenListing { format, .. } = server.last_request().clone() else {
        panic!("no listing request");
    };
    assert_eq!(
        format,
        ListingFormat::Machine {
            facts: ftp_proto::server::SUPPORTED_FACTS,
            writable: true,
            capabilities,
        }
    );
    server.send("MLST /pub\r\n");
    let reply = server.reply();
    let text = reply.text().to_string();
    assert!(text.contains("perm=cdelmp;"), "{text}");
    server.send("MLST /moved\r\n");
    let text = server.reply().text().to_string();
    assert!(text.contains("perm=dfrw;"), "{text}");
}

#[test]
fn feat_lists_what_is_enabled() {
    let mut server = ServerDriver::new(tls_config(), MemoryFs::new());
    server.take_replies();
    server.send("FEAT\r\n");
    let reply = server.reply();
    let features = reply.features().unwrap();
    let names: Vec<String> = features.iter().map(|f| f.name.to_string()).collect();
    for expected in [
        "AUTH", "PBSZ", "PROT", "EPRT", "EPSV", "MDTM", "MFMT", "MLST", "PASV", "REST", "SIZE",
        "TVFS", "UTF8", "HOST",
    ] {
        assert!(
            names.contains(&expected.to_owned()),
            "{expected} missing from {names:?}"
        );
    }
    let mlst = features.iter().find(|f| f.is("MLST")).unwrap();
    assert_eq!(
        mlst.parameters.as_ref().unwrap(),
        "type*;size*;modify*;perm*;UNIX.mode*;"
    );

    let mut plain = ServerDriver::new(Config::default(), MemoryFs::new());
    plain.take_replies();
    plain.send("FEAT\r\n");
    let reply = plain.reply();
    assert!(!reply.features().unwrap().iter().any(|f| f.is("AUTH")));
}

#[test]
fn opts_utf8_and_mlst() {
    let mut server = anonymous();
    assert_eq!(server.command("OPTS UTF8 ON"), [200]);
    server.send("OPTS MLST size;Type;bogus;\r\n");
    let reply = server.reply();
    assert_eq!(reply.text(), "MLST OPTS type;size;");
    server.send("MLST /readme\r\n");
    let reply = server.reply();
    let lines: Vec<&[u8]> = reply.lines().collect();
    assert_eq!(lines[1], b" type=file;size=7; /readme");
    assert_eq!(server.command("OPTS NOSUCH x"), [501]);
    assert_eq!(server.command("OPTS"), [501]);
}

#[test]
fn metadata_commands() {
    let mut server = alice();
    server.send("SIZE /readme\r\n");
    assert_eq!(server.reply().size(), Ok(7));
    assert_eq!(server.command("SIZE /pub"), [550]);
    assert_eq!(server.command("SIZE /missing"), [550]);
    server.send("MDTM /readme\r\n");
    assert_eq!(
        server.reply().modification_time(),
        Ok(UNIX_EPOCH + Duration::from_secs(common::MODIFIED))
    );
    assert_eq!(server.command("MDTM /missing"), [550]);
    server.send("MFMT 20240229235959 /readme\r\n");
    let reply = server.reply();
    assert_eq!(reply.code(), ReplyCode::FILE_STATUS);
    assert_eq!(reply.text(), "Modify=20240229235959; /readme");
    server.send("MDTM /readme\r\n");
    assert_eq!(
        server.reply().modification_time(),
        Ok(UNIX_EPOCH + Duration::from_secs(1_709_251_199))
    );
    assert_eq!(server.command("MFMT 20240229235959 /missing"), [550]);
    assert_eq!(server.command("MFMT bad /readme"), [501]);
    server.send("MLST\r\n");
    let reply = server.reply();
    assert_eq!(reply.code(), ReplyCode::FILE_ACTION_OKAY);
    assert!(
        reply.lines().nth(1).unwrap().starts_with(b" type=dir;"),
        "{reply:?}"
    );
    assert_eq!(server.command("MLST /missing"), [550]);
}

#[test]
fn file_operations() {
    let mut server = alice();
    server.send("MKD /pub/new dir\r\n");
    let reply = server.reply();
    assert_eq!(reply.code(), ReplyCode::PATHNAME_CREATED);
    assert_eq!(reply.quoted_path().unwrap(), "/pub/new dir");
    assert_eq!(server.command("MKD /pub/new dir"), [550]);
    assert_eq!(server.command("XMKD /pub/x"), [257]);
    assert_eq!(server.command("RMD /pub"), [550], "not empty");
    assert_eq!(server.command("RMD /pub/new dir"), [250]);
    assert_eq!(server.command("XRMD /pub/x"), [250]);
    assert_eq!(server.command("RMD /pub/x"), [550]);
    assert_eq!(server.command("DELE /readme"), [250]);
    assert_eq!(server.fs.file("/readme"), None);
    assert_eq!(server.command("DELE /readme"), [550]);
    assert_eq!(server.command("DELE /pub"), [550]);
    assert_eq!(server.command("RNTO /x"), [503]);
    assert_eq!(server.command("RNFR /missing"), [550]);
    assert_eq!(server.command("RNFR /pub/hello.txt"), [350]);
    assert_eq!(server.command("RNTO /pub/renamed.txt"), [250]);
    assert_eq!(
        server.fs.file("/pub/renamed.txt"),
        Some(&b"hello\nworld\n"[..])
    );
    assert_eq!(server.command("RNTO /again"), [503], "RNFR is used once");
}

#[test]
fn listings() {
    let mut server = anonymous();
    assert_eq!(server.command("LIST"), [425]);
    server.command("PASV");
    assert_eq!(server.command("LIST -la /pub"), [150, 226]);
    assert_eq!(
        server.last_request(),
        &Request::OpenListing {
            path: path("/pub"),
            format: ListingFormat::Unix
        }
    );
    server.command("PASV");
    assert_eq!(server.command("NLST"), [150, 226]);
    assert_eq!(
        server.last_request(),
        &Request::OpenListing {
            path: path("/"),
            format: ListingFormat::Names
        }
    );
    server.command("PASV");
    server.command("OPTS MLST type;modify;");
    assert_eq!(server.command("MLSD pub"), [150, 226]);
    assert_eq!(
        server.last_request(),
        &Request::OpenListing {
            path: path("/pub"),
            format: ListingFormat::Machine {
                facts: [MlsxFact::Type, MlsxFact::Modify].into_iter().collect(),
                writable: false,
                capabilities: Capabilities::ALL,
            }
        }
    );
    let transfer = server.actions.iter().rev().find_map(|event| match event {
        Action::StartTransfer(transfer) => Some(transfer.clone()),
        _ => None,
    });
    assert!(!transfer.unwrap().ascii, "listings are CRLF already");
    server.command("PASV");
    assert_eq!(server.command("LIST /missing"), [550]);
}

#[test]
fn stat_lists_over_the_control_connection() {
    let mut server = anonymous();
    server.send("STAT /pub\r\n");
    let reply = server.reply();
    assert_eq!(reply.code(), ReplyCode::FILE_STATUS);
    let lines: Vec<String> = reply
        .lines()
        .map(|line| String::from_utf8_lossy(line).into_owned())
        .collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(
        lines[1].starts_with("-rw-r--r--") && lines[1].ends_with(" hello.txt"),
        "{lines:?}"
    );
    assert_eq!(server.command("STAT /missing"), [550]);
}

#[test]
fn stat_of_a_huge_directory_stays_within_the_output_bound_and_says_so() {
    let mut fs = MemoryFs::new().with_dir("/big");
    for n in 0..5_000 {
        let name = format!("{n:05}-{}.dat", "long-name-".repeat(20));
        fs = fs.with_file(&format!("/big/{name}"), b"x");
    }
    let config = Config::default();
    let bound = config.max_pending_output / 4;
    let mut server = ServerDriver::new(config, fs);
    server.send("USER anonymous\r\nPASS guest@\r\n");
    server.take_replies();
    server.send("STAT /big\r\n");
    let reply = server.reply();
    assert_eq!(reply.code(), ReplyCode::FILE_STATUS);
    let lines: Vec<String> = reply
        .lines()
        .map(|line| String::from_utf8_lossy(line).into_owned())
        .collect();
    let bytes: usize = lines.iter().map(|line| line.len() + 2).sum();
    assert!(
        bytes <= bound + 4096,
        "{bytes} bytes of STAT reply (bound {bound})"
    );
    let shown = lines.iter().filter(|line| line.ends_with(".dat")).count();
    assert!(shown > 100 && shown < 1_000, "{shown} entries shown");
    // The back end sent the first 1,000 and counted the rest: the note has the true
    // number of entries left out, those cut by the byte bound included.
    let note = &lines[lines.len() - 2];
    assert_eq!(
        note,
        &format!(
            "({} more entries not shown; use MLSD or LIST)",
            5_000 - shown
        )
    );
}

/// STAT of a directory with a back end answered by hand: the request and the reply's
/// last two lines.
fn stat_answered_with(config: Config, entries: usize, more: MoreEntries) -> (Request, Vec<String>) {
    let mut server = ServerDriver::logged_in(config, "anonymous", "guest@");
    server.hold_requests = true;
    server.send("STAT /pub\r\n");
    let (id, request) = server.held.pop_front().unwrap();
    let entries = (0..entries)
        .map(|n| {
            (
                Text::from(format!("file{n}")),
                ftp_proto::server::Metadata::file(1, None),
            )
        })
        .collect();
    server.respond(
        id,
        Response::Entries {
            entries,
            now: UNIX_EPOCH,
            more,
        },
    );
    let reply = server.reply();
    assert_eq!(reply.code(), ReplyCode::FILE_STATUS);
    let lines: Vec<String> = reply
        .lines()
        .map(|line| String::from_utf8_lossy(line).into_owned())
        .collect();
    (request, lines[lines.len() - 2..].to_vec())
}

#[test]
fn stat_asks_for_at_most_the_configured_entries() {
    let mut config = Config::default();
    config.max_control_listing_entries = 7;
    let (request, _) = stat_answered_with(config, 0, MoreEntries::None);
    assert_eq!(
        request,
        Request::ListEntries {
            path: path("/pub"),
            limit: 7
        }
    );
}

#[test]
fn stat_says_there_are_more_without_a_number_when_the_back_end_did_not_count() {
    let (_, tail) = stat_answered_with(Config::default(), 3, MoreEntries::Unknown);
    assert_eq!(
        tail,
        [
            "(more entries not shown; use MLSD or LIST)",
            "End of status"
        ]
    );
}

#[test]
fn stat_counts_what_the_back_end_counted_and_what_it_cut_itself() {
    let (_, tail) = stat_answered_with(Config::default(), 3, MoreEntries::Count(40));
    assert_eq!(
        tail,
        [
            "(40 more entries not shown; use MLSD or LIST)",
            "End of status"
        ]
    );
    // A back end that ignores the limit: the session shows `limit` and counts the rest.
    let mut config = Config::default();
    config.max_control_listing_entries = 2;
    let (_, tail) = stat_answered_with(config.clone(), 5, MoreEntries::None);
    assert_eq!(
        tail,
        [
            "(3 more entries not shown; use MLSD or LIST)",
            "End of status"
        ]
    );
    let (_, tail) = stat_answered_with(config.clone(), 3, MoreEntries::None);
    assert_eq!(
        tail,
        [
            "(1 more entry not shown; use MLSD or LIST)",
            "End of status"
        ]
    );
    let (_, tail) = stat_answered_with(config, 4, MoreEntries::Count(10));
    assert_eq!(
        tail,
        [
            "(12 more entries not shown; use MLSD or LIST)",
            "End of status"
        ]
    );
}

#[test]
fn stat_of_a_whole_directory_has_no_note() {
    for more in [MoreEntries::None, MoreEntries::Count(0)] {
        let (_, tail) = stat_answered_with(Config::default(), 2, more);
        // The last entry, then the end: nothing left out, nothing said.
        assert!(tail[0].ends_with(" file1"), "{tail:?}");
        assert_eq!(tail[1], "End of status");
    }
}

#[test]
fn stat_replies_fit_what_reply_parsers_accept() {
    // Clients bound the lines of a reply (ours at DEFAULT_MAX_REPLY_LINES): a STAT
    // listing longer than that would be refused by them, whatever its byte size.
    let mut fs = MemoryFs::new().with_dir("/many");
    for n in 0..1_500 {
        fs = fs.with_file(&format!("/many/{n}"), b"");
    }
    let mut server = ServerDriver::new(Config::default(), fs);
    server.send("USER anonymous\r\nPASS guest@\r\n");
    server.take_replies();
    server.send("STAT /many\r\n");
    let reply = server.reply();
    let lines = reply.lines().count();
    assert!(lines <= ftp_proto::DEFAULT_MAX_REPLY_LINES, "{lines} lines");
    assert!(lines > 900, "{lines} lines");
}

#[test]
fn an_offset_no_file_can_have_is_a_syntax_error_not_a_bad_name() {
    let mut server = anonymous();
    server.send("REST 18446744073709551615\r\n");
    let reply = server.reply();
    assert_eq!(reply.code().as_u16(), 501);
    assert!(
        reply.text().to_string().contains("beyond any file"),
        "{reply:?}"
    );
    assert_eq!(server.command(&format!("REST {}", i64::MAX)), [350]);
}

#[test]
fn plain_data_under_prot_p_and_a_missing_resumption_get_different_522_texts() {
    let mut texts = Vec::new();
    let mut reuse = tls_config();
    reuse.require_tls_session_reuse = true;
    let (mut refused, id) = waiting_for_data_tls(reuse.clone());
    refused.data_event(DataEvent::TlsFailed { id });
    let (mut fresh, id) = waiting_for_data_tls(reuse);
    fresh.data_event(DataEvent::TlsEstablished { id, resumed: false });
    for server in [&mut refused, &mut fresh] {
        let reply = server.reply();
        assert_eq!(reply.code().as_u16(), 522);
        texts.push(reply.text().to_string());
    }
    assert!(texts[0].contains("handshake"), "{texts:?}");
    assert!(!texts[0].contains("resume"), "{texts:?}");
    assert!(texts[1].contains("resume"), "{texts:?}");
}

#[test]
fn site_is_502_unless_the_application_answers_it() {
    let mut server = anonymous();
    server.hold_requests = true;
    server.send("SITE CHMOD 644 x\r\n");
    let reply = server.reply();
    assert_eq!(reply.code(), ReplyCode::COMMAND_NOT_IMPLEMENTED);
    assert_eq!(reply.text(), "No SITE commands are supported.");
    assert!(server.held.is_empty(), "{:?}", server.held);
    // Still refused before login, as every command that needs it.
    let mut fresh = ServerDriver::new(Config::default(), MemoryFs::new());
    fresh.take_replies();
    assert_eq!(fresh.command("SITE HELP"), [530]);
    // With `enable_site`, the application is asked.
    let mut config = Config::default();
    config.enable_site = true;
    let mut server = ServerDriver::logged_in(config, "anonymous", "guest@");
    server.hold_requests = true;
    server.send("SITE HELP\r\n");
    let (_, request) = server.held.pop_front().unwrap();
    assert_eq!(
        request,
        Request::Site {
            command: Text::from("HELP")
        }
    );
}

#[test]
fn site_help_syst_noop_clnt_unknown() {
    let mut config = Config::default();
    config.enable_site = true;
    let mut server = ServerDriver::logged_in(config, "anonymous", "guest@");
    server.send("SITE CHMOD 644 x\r\n");
    assert_eq!(server.reply().text(), "SITE CHMOD 644 x done");
    assert_eq!(server.command("HELP"), [214]);
    assert_eq!(server.command("SYST"), [215]);
    assert_eq!(server.command("NOOP"), [200]);
    assert_eq!(server.command("CLNT curl"), [200]);
    assert_eq!(server.command("LANG fr"), [502]);
    assert_eq!(server.command("HASH /readme"), [502]);
    assert_eq!(server.command("XYZZY plugh"), [500]);
    assert_eq!(server.command("SITE"), [501]);
    assert_eq!(server.command("QUIT"), [221]);
    assert!(server.session.is_closed());
}

#[test]
fn security_extension_commands_without_tls() {
    let mut server = anonymous();
    assert_eq!(server.command("AUTH TLS"), [502]);
    assert_eq!(server.command("PBSZ 0"), [503]);
    assert_eq!(server.command("PROT P"), [503]);
    assert_eq!(server.command("CCC"), [534]);
    for line in ["ADAT x", "MIC x", "CONF x", "ENC x"] {
        assert_eq!(server.command(line), [502], "{line}");
    }
}

#[test]
fn auth_tls_sequence_and_protection_state() {
    let mut server = ServerDriver::new(tls_config(), ServerDriver::default_fs());
    server.take_replies();
    assert_eq!(server.command("AUTH GSSAPI"), [504]);
    // Bytes pipelined after AUTH TLS in plain text are dropped: they could be injected.
    server.send("AUTH TLS\r\nUSER injected\r\n");
    assert_eq!(server.codes(), [234]);
    assert!(server.actions.contains(&Action::StartControlTls));
    server.session.handle_control_tls_established(server.now);
    server.drain();
    assert!(server.requests.is_empty());
    assert_eq!(server.command("AUTH TLS"), [503]);
    assert_eq!(server.command("PROT P"), [503], "PBSZ first");
    assert_eq!(server.command("PBSZ 0"), [200]);
    assert_eq!(server.command("PROT S"), [536]);
    assert_eq!(server.command("PROT E"), [536]);
    assert_eq!(server.command("PROT P"), [200]);
    server.send("USER alice\r\nPASS secret\r\nPASV\r\nRETR /readme\r\n");
    assert_eq!(server.codes(), [331, 230, 227, 150]);
    // PROT P: the data connection is secured before the transfer starts.
    let id = match server.actions.last() {
        Some(Action::SecureData { id }) => *id,
        other => panic!("expected SecureData, got {other:?}"),
    };
    assert!(server.started_transfer().is_none());
    server.data_event(DataEvent::TlsEstablished { id, resumed: false });
    let transfer = server.started_transfer().unwrap();
    assert!(transfer.tls, "PROT P protects the data connection");
    server.data_event(DataEvent::Finished { id, bytes: 7 });
    assert_eq!(server.codes(), [226]);
    assert_eq!(server.command("PROT C"), [200]);
}

/// A logged-in session under PROT P with a RETR waiting for its data connection's TLS.
fn waiting_for_data_tls(config: Config) -> (ServerDriver, ftp_proto::server::RequestId) {
    let mut server = ServerDriver::new(config, ServerDriver::default_fs());
    server.send("AUTH TLS\r\n");
    server.session.handle_control_tls_established(server.now);
    server.send("PBSZ 0\r\nPROT P\r\nUSER alice\r\nPASS secret\r\nPASV\r\nRETR /readme\r\n");
    assert_eq!(server.codes(), [220, 234, 200, 200, 331, 230, 227, 150]);
    let id = server.transfer_id().unwrap();
    assert!(server.actions.contains(&Action::SecureData { id }));
    (server, id)
}

#[test]
fn data_tls_failures_are_522_decided_by_the_session() {
    let (mut refused, id) = waiting_for_data_tls(tls_config());
    refused.data_event(DataEvent::TlsFailed { id });
    assert_eq!(refused.codes(), [522]);
    assert!(refused.actions.contains(&Action::AbortTransfer { id }));

    let (mut slow, id) = waiting_for_data_tls(tls_config());
    slow.advance(Duration::from_secs(29));
    assert_eq!(slow.codes(), Vec::<u16>::new());
    slow.advance(Duration::from_secs(1));
    assert_eq!(slow.codes(), [522], "the handshake's deadline");
    assert!(slow.actions.contains(&Action::AbortTransfer { id }));

    let mut reuse = tls_config();
    reuse.require_tls_session_reuse = true;
    let (mut fresh, id) = waiting_for_data_tls(reuse.clone());
    fresh.data_event(DataEvent::TlsEstablished { id, resumed: false });
    assert_eq!(fresh.codes(), [522], "not resumed");
    assert!(fresh.started_transfer().is_none());
    let (mut resumed, id) = waiting_for_data_tls(reuse);
    resumed.data_event(DataEvent::TlsEstablished { id, resumed: true });
    assert!(resumed.started_transfer().is_some());
}

#[test]
fn tls_requirements() {
    let mut config = tls_config();
    config.require_tls_for_login = true;
    config.require_tls_for_data = true;
    let mut server = ServerDriver::new(config, ServerDriver::default_fs());
    server.take_replies();
    assert_eq!(server.command("USER alice"), [530]);
    assert_eq!(server.command("PASS secret"), [530]);
    server.send("AUTH TLS\r\n");
    server.session.handle_control_tls_established(server.now);
    server.drain();
    server.take_replies();
    server.send("USER alice\r\nPASS secret\r\nPASV\r\n");
    assert_eq!(server.codes(), [331, 230, 227]);
    assert_eq!(
        server.command("RETR /readme"),
        [522],
        "PROT P required for data"
    );

    let mut failed = ServerDriver::new(tls_config(), MemoryFs::new());
    failed.send("AUTH TLS\r\n");
    failed.session.handle_control_tls_failed(failed.now);
    failed.drain();
    assert!(failed.session.is_closed());
    assert!(failed.events.contains(&Event::Closed {
        reason: CloseReason::ControlTlsFailed
    }));

    let mut slow = ServerDriver::new(tls_config(), MemoryFs::new());
    slow.send("AUTH TLS\r\n");
    slow.advance(Duration::from_secs(30));
    assert!(slow.session.is_closed(), "the handshake's deadline");
    assert!(slow.events.contains(&Event::Closed {
        reason: CloseReason::ControlTlsTimeout
    }));
}

#[test]
fn a_session_closed_during_the_tls_handshake_says_close_once() {
    // Found by the server_session fuzzer (seeded from real traffic): the login
    // deadline closed the session while AUTH TLS's handshake ran, and the handshake's
    // failure then closed it a second time.
    let mut server = ServerDriver::new(tls_config(), ServerDriver::default_fs());
    server.send("AUTH TLS\r\n");
    assert_eq!(server.codes(), [220, 234]);
    server.advance(Duration::from_secs(3600));
    assert!(server.session.is_closed());
    server.session.handle_control_tls_failed(server.now);
    server.drain();
    let closes = server
        .actions
        .iter()
        .filter(|event| matches!(event, Action::Close))
        .count();
    assert_eq!(closes, 1);
}

#[cfg(feature = "fuzzing")]
#[test]
fn the_fuzzers_double_close_input_passes_the_harness() {
    // The minimised crash input itself, through the harness that found it.
    ftp_proto::server::fuzz_server(&[
        0x69, 0xff, 0x02, 0x04, 0x02, 0x00, 0x0a, b'A', b'U', b'T', b'H', b' ', b'T', b'L', b'S',
        b'\r', b'\n', 0x02, 0x02, 0x05, 0xff, 0x7f, 0xff, 0xff, 0x20, 0x4c, 0x2f, 0x02,
    ]);
}

#[test]
fn pipelined_commands_are_answered_in_order() {
    let mut server = anonymous();
    let mut burst = String::new();
    for _ in 0..10_000 {
        burst.push_str("NOOP\r\n");
    }
    burst.push_str("PWD\r\nSIZE /readme\r\nCWD /pub\r\nPWD\r\n");
    server.send(&burst);
    let replies = server.take_replies();
    assert_eq!(replies.len(), 10_004);
    assert!(
        replies[..10_000]
            .iter()
            .all(|reply| reply.code() == ReplyCode::COMMAND_OKAY)
    );
    assert_eq!(replies[10_000].quoted_path().unwrap(), "/");
    assert_eq!(replies[10_001].size(), Ok(7));
    assert_eq!(replies[10_002].code(), ReplyCode::FILE_ACTION_OKAY);
    assert_eq!(replies[10_003].quoted_path().unwrap(), "/pub");
}

#[test]
fn commands_wait_while_a_request_is_out() {
    let mut server = anonymous();
    server.hold_requests = true;
    server.send("SIZE /readme\r\nNOOP\r\n");
    assert_eq!(server.codes(), Vec::<u16>::new());
    let (id, request) = server.held.pop_front().unwrap();
    assert_eq!(
        request,
        Request::Metadata {
            path: path("/readme")
        }
    );
    let answer = server.fs.answer(&request);
    server.respond(id, answer);
    assert_eq!(server.codes(), [213, 200]);
    // An answer to an id no longer awaited (the one just answered) is ignored.
    server.send("SIZE /readme\r\n");
    let (next, request) = server.held.pop_front().unwrap();
    assert_ne!(next, id);
    server.respond(id, Response::Done);
    assert_eq!(server.codes(), Vec::<u16>::new());
    let answer = server.fs.answer(&request);
    server.respond(next, answer);
    assert_eq!(server.codes(), [213]);
}

#[test]
fn a_mismatched_answer_is_a_local_error() {
    let mut server = anonymous();
    server.hold_requests = true;
    server.send("SIZE /readme\r\n");
    let (id, _) = server.held.pop_front().unwrap();
    server.respond(id, Response::Done);
    assert_eq!(server.codes(), [451]);
}

#[test]
fn hostile_input_is_answered_and_the_session_goes_on() {
    let mut server = anonymous();
    // A line far past the bound, in one piece and in many.
    let long = vec![b'A'; 100_000];
    server.send_bytes(&long);
    assert_eq!(server.codes(), [500]);
    server.send_bytes(&long);
    server.send("\r\nNOOP\r\n");
    assert_eq!(server.codes(), [200]);
    // Garbage bytes, an empty line, a TLS hello on a plain port.
    server.send_bytes(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\r\n\r\n \r\n");
    assert_eq!(server.codes(), [500, 500, 500]);
    assert_eq!(server.command("NOOP"), [200]);
    // CRLF injection in a reply: an unknown verb is echoed escaped, on one line.
    server.send_bytes(b"BAD\rVERB\r\n");
    let reply = server.reply();
    assert_eq!(reply.lines().count(), 1);
}

#[test]
fn too_much_pipelined_input_while_waiting_closes_the_session() {
    let mut server = anonymous();
    server.hold_requests = true;
    server.send("SIZE /readme\r\n");
    let flood = "NOOP\r\n".repeat(20_000);
    server.send(&flood);
    assert_eq!(server.codes(), [421]);
    assert!(server.session.is_closed());
}

#[test]
fn a_closed_control_connection_aborts_the_transfer() {
    let mut server = anonymous();
    server.data_mode = DataMode::Manual;
    server.send("PASV\r\n");
    server.listening();
    server.accept(CLIENT);
    server.command("RETR /readme");
    server.session.handle_control_closed(server.now);
    server.drain();
    assert!(
        server
            .actions
            .iter()
            .any(|event| matches!(event, Action::AbortTransfer { .. }))
    );
    assert!(server.session.is_closed());
    assert_eq!(server.session.poll_timeout(), None);
}

/// Every verb of the core's set: a line that succeeds and one that fails, each run on a
/// fresh session logged in as a writable user (with TLS offered), after `setup` lines.
#[test]
fn every_verb_has_a_success_and_a_failure() {
    use ftp_proto::Verb;
    // (verb, setup, success line, success codes, failure line, failure codes)
    type Row = (
        Verb,
        &'static str,
        &'static str,
        &'static [u16],
        &'static str,
        &'static [u16],
    );
    let table: &[Row] = &[
        (Verb::User, "", "USER bob", &[331], "USER", &[501]),
        (
            Verb::Pass,
            "USER alice",
            "PASS secret",
            &[230],
            "PASS wrong",
            &[530],
        ),
        (Verb::Acct, "", "ACCT x", &[202], "ACCT", &[501]),
        (Verb::Cwd, "", "CWD /pub", &[250], "CWD /readme", &[550]),
        (Verb::Cdup, "CWD /pub", "CDUP", &[250], "CDUP x", &[501]),
        (Verb::Smnt, "", "SMNT /", &[502], "SMNT", &[501]),
        (Verb::Rein, "", "REIN", &[220], "REIN now", &[501]),
        (Verb::Quit, "", "QUIT", &[221], "QUIT now", &[501]),
        (
            Verb::Port,
            "",
            "PORT 127,0,0,1,4,1",
            &[200],
            "PORT 127,0,0,1,0,21",
            &[504],
        ),
        (Verb::Pasv, "", "PASV", &[227], "PASV x", &[501]),
        (Verb::Type, "", "TYPE I", &[200], "TYPE E", &[504]),
        (Verb::Stru, "", "STRU F", &[200], "STRU P", &[504]),
        (Verb::Mode, "", "MODE S", &[200], "MODE C", &[504]),
        (
            Verb::Retr,
            "PASV",
            "RETR /readme",
            &[150, 226],
            "RETR /missing",
            &[550],
        ),
        (
            Verb::Stor,
            "PASV",
            "STOR /new",
            &[150, 226],
            "STOR /missing/new",
            &[550],
        ),
        (
            Verb::Stou,
            "PASV",
            "STOU",
            &[150, 226],
            "STOU /missing/x",
            &[550],
        ),
        (
            Verb::Appe,
            "PASV",
            "APPE /readme",
            &[150, 226],
            "APPE /pub",
            &[550],
        ),
        (Verb::Allo, "", "ALLO 10", &[202], "ALLO ten", &[501]),
        (Verb::Rest, "", "REST 10", &[350], "REST ten", &[501]),
        (
            Verb::Rnfr,
            "",
            "RNFR /readme",
            &[350],
            "RNFR /missing",
            &[550],
        ),
        (
            Verb::Rnto,
            "RNFR /readme",
            "RNTO /other",
            &[250],
            "RNTO",
            &[501],
        ),
        (Verb::Abor, "", "ABOR", &[225], "ABOR x", &[501]),
        (
            Verb::Dele,
            "",
            "DELE /readme",
            &[250],
            "DELE /missing",
            &[550],
        ),
        (
            Verb::Rmd,
            "MKD /empty",
            "RMD /empty",
            &[250],
            "RMD /pub",
            &[550],
        ),
        (Verb::Mkd, "", "MKD /d", &[257], "MKD /pub", &[550]),
        (Verb::Pwd, "", "PWD", &[257], "PWD x", &[501]),
        (
            Verb::List,
            "PASV",
            "LIST",
            &[150, 226],
            "LIST /missing",
            &[550],
        ),
        (
            Verb::Nlst,
            "PASV",
            "NLST /pub",
            &[150, 226],
            "NLST /missing",
            &[550],
        ),
        // No SITE commands without `enable_site` (see `site_is_502_unless_the_application_answers_it`).
        (Verb::Site, "", "SITE HELP", &[502], "SITE", &[501]),
        (Verb::Syst, "", "SYST", &[215], "SYST x", &[501]),
        (Verb::Stat, "", "STAT /pub", &[213], "STAT /missing", &[550]),
        (Verb::Help, "", "HELP", &[214], "HELP", &[214]),
        (Verb::Noop, "", "NOOP", &[200], "NOOP x", &[501]),
        (Verb::Xcup, "CWD /pub", "XCUP", &[250], "XCUP x", &[501]),
        (Verb::Xcwd, "", "XCWD /pub", &[250], "XCWD /nowhere", &[550]),
        (Verb::Xmkd, "", "XMKD /d", &[257], "XMKD /pub", &[550]),
        (Verb::Xpwd, "", "XPWD", &[257], "XPWD x", &[501]),
        (
            Verb::Xrmd,
            "MKD /empty",
            "XRMD /empty",
            &[250],
            "XRMD /missing",
            &[550],
        ),
        (
            Verb::Auth,
            "REIN",
            "AUTH TLS",
            &[234],
            "AUTH KERBEROS",
            &[504],
        ),
        (Verb::Adat, "", "ADAT x", &[502], "ADAT", &[501]),
        (Verb::Prot, "", "PROT P", &[503], "PROT X", &[504]),
        (Verb::Pbsz, "", "PBSZ 0", &[503], "PBSZ x", &[501]),
        (Verb::Ccc, "", "CCC", &[534], "CCC x", &[501]),
        (Verb::Mic, "", "MIC x", &[502], "MIC", &[501]),
        (Verb::Conf, "", "CONF x", &[502], "CONF", &[501]),
        (Verb::Enc, "", "ENC x", &[502], "ENC", &[501]),
        (Verb::Feat, "", "FEAT", &[211], "FEAT x", &[501]),
        (Verb::Opts, "", "OPTS UTF8 ON", &[200], "OPTS NOPE", &[501]),
        (
            Verb::Eprt,
            "",
            "EPRT |1|127.0.0.1|5000|",
            &[200],
            "EPRT |2|::1|5000|",
            &[504],
        ),
        (Verb::Epsv, "", "EPSV", &[229], "EPSV 2", &[522]),
        (Verb::Lang, "", "LANG", &[502], "LANG en", &[502]),
        (Verb::Size, "", "SIZE /readme", &[213], "SIZE /pub", &[550]),
        (
            Verb::Mdtm,
            "",
            "MDTM /readme",
            &[213],
            "MDTM /missing",
            &[550],
        ),
        (
            Verb::Mlst,
            "",
            "MLST /readme",
            &[250],
            "MLST /missing",
            &[550],
        ),
        (
            Verb::Mlsd,
            "PASV",
            "MLSD /pub",
            &[150, 226],
            "MLSD /missing",
            &[550],
        ),
        (
            Verb::Host,
            "REIN",
            "HOST ftp.example.com",
            &[220],
            "HOST other.example.com",
            &[550],
        ),
        (
            Verb::Mfmt,
            "",
            "MFMT 20200101000000 /readme",
            &[213],
            "MFMT 20200101000000 /missing",
            &[550],
        ),
        (Verb::Hash, "", "HASH /readme", &[502], "HASH", &[501]),
        (Verb::Clnt, "", "CLNT tester", &[200], "CLNT", &[501]),
    ];
    let mut mismatches = Vec::new();
    for &(verb, setup, success, success_codes, failure, failure_codes) in table {
        for (line, expected) in [(success, success_codes), (failure, failure_codes)] {
            let mut server = ServerDriver::logged_in(tls_config(), "alice", "secret");
            if !setup.is_empty() {
                server.command(setup);
            }
            let mut got = server.command(line);
            if got.is_empty() {
                // A failed login is answered after its delay.
                server.advance(Duration::from_secs(10));
                got = server.codes();
            }
            if got != expected {
                mismatches.push(format!(
                    "{verb}: {line:?} after {setup:?}: got {got:?}, expected {expected:?}"
                ));
            }
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    let covered: Vec<Verb> = table.iter().map(|row| row.0).collect();
    for verb in Verb::ALL {
        assert!(covered.contains(verb), "{verb} has no row");
    }
}

#[test]
fn a_storage_answer_that_never_comes_fails_the_command_and_the_late_answer_is_ignored() {
    let mut config = Config::default();
    config.storage_timeout = Duration::from_secs(5);
    let mut server = ServerDriver::logged_in(config, "anonymous", "x");
    server.hold_requests = true;
    server.send("SIZE /readme\r\nPWD\r\n");
    let (id, request) = server.held.pop_front().unwrap();
    assert_eq!(server.codes(), Vec::<u16>::new(), "PWD waits in order");
    assert_eq!(
        server.session.poll_timeout(),
        Some(server.now + Duration::from_secs(5))
    );
    server.advance(Duration::from_secs(5));
    assert_eq!(server.codes(), [451, 257]);
    assert!(server.actions.contains(&Action::CancelRequest { id }));
    let late = server.fs.answer(&request);
    server.respond(id, late);
    assert_eq!(
        server.codes(),
        Vec::<u16>::new(),
        "the late answer is ignored"
    );
    assert_eq!(server.command("NOOP"), [200]);
}

#[test]
fn an_authenticator_that_never_answers_fails_the_login() {
    let mut config = Config::default();
    config.storage_timeout = Duration::from_secs(5);
    let mut server = ServerDriver::new(config, MemoryFs::new());
    server.take_replies();
    server.hold_requests = true;
    server.send("USER alice\r\nPASS secret\r\n");
    assert_eq!(server.codes(), [331]);
    let (id, _) = server.held.pop_front().unwrap();
    server.advance(Duration::from_secs(5));
    assert!(server.actions.contains(&Action::CancelRequest { id }));
    assert!(
        server
            .events
            .iter()
            .any(|event| matches!(event, Event::LoginFailed { user } if user == "alice"))
    );
    // The failed-login delay, then 530.
    server.advance(Duration::from_secs(1));
    assert_eq!(server.codes(), [530]);
    server.respond(id, Response::LoggedIn { writable: true });
    assert!(!server.session.is_logged_in(), "the late answer is ignored");
}

#[test]
fn quit_stat_and_abor_overtake_a_slow_answer() {
    // STAT and QUIT while a SIZE waits.
    let mut server = anonymous();
    server.hold_requests = true;
    server.send("SIZE /readme\r\nSTAT\r\n");
    assert_eq!(server.codes(), [211], "STAT answered while SIZE waits");
    let (id, _) = server.held.pop_front().unwrap();
    server.send("QUIT\r\n");
    assert_eq!(server.codes(), [221]);
    assert!(server.session.is_closed());
    assert!(server.actions.contains(&Action::CancelRequest { id }));
    assert!(server.events.contains(&Event::Closed {
        reason: CloseReason::Quit
    }));

    // ABOR of a transfer whose file is being opened.
    let mut server = anonymous();
    server.data_mode = DataMode::Manual;
    server.send("PASV\r\n");
    server.listening();
    server.take_replies();
    server.hold_requests = true;
    server.send("RETR /readme\r\nABOR\r\n");
    assert_eq!(server.codes(), [426, 226]);
    let (id, request) = server.held.pop_front().unwrap();
    assert!(server.actions.contains(&Action::CancelRequest { id }));
    let late = server.fs.answer(&request);
    server.respond(id, late);
    assert_eq!(server.codes(), Vec::<u16>::new());
    assert!(server.started_transfer().is_none());
    assert_eq!(server.command("NOOP"), [200]);

    // Ordinary commands stay in order behind the answer, and so does an ABOR that
    // is not about a transfer.
    let mut server = anonymous();
    server.hold_requests = true;
    server.send("SIZE /readme\r\nNOOP\r\nABOR\r\n");
    assert_eq!(server.codes(), Vec::<u16>::new());
    let (id, request) = server.held.pop_front().unwrap();
    let answer = server.fs.answer(&request);
    server.respond(id, answer);
    assert_eq!(server.codes(), [213, 200, 225]);
}

#[test]
fn a_client_that_does_not_read_is_closed_by_the_send_timeout() {
    let mut config = Config::default();
    config.send_timeout = Duration::from_secs(10);
    let mut server = ServerDriver::logged_in(config, "anonymous", "x");
    server.session.handle_send_blocked(server.now);
    server.advance(Duration::from_secs(6));
    // Progress restarts the bound.
    server.session.handle_send_progress(server.now);
    server.session.handle_send_blocked(server.now);
    server.advance(Duration::from_secs(6));
    assert!(!server.session.is_closed());
    assert_eq!(
        server.session.poll_timeout(),
        Some(server.now + Duration::from_secs(4))
    );
    server.advance(Duration::from_secs(4));
    assert!(server.session.is_closed());
    assert_eq!(
        server.codes(),
        Vec::<u16>::new(),
        "no reply to a client that does not read"
    );
    assert!(server.events.contains(&Event::Closed {
        reason: CloseReason::SendStalled
    }));
    assert_eq!(server.actions.last(), Some(&Action::Close));
}

#[test]
fn outputs_come_in_the_order_things_happened() {
    use ftp_proto::server::{Output, Session};
    let now = std::time::Instant::now();
    let mut session = Session::new(
        Config::default(),
        CLIENT.parse().unwrap(),
        common::SERVER.parse().unwrap(),
        now,
    );
    session.handle_control_input(b"USER a\r\nPASS b\r\n", now);
    let mut outputs = Vec::new();
    while let Some(output) = session.poll_output() {
        outputs.push(output);
    }
    // The greeting and 331 leave together, before the request they came before.
    assert!(
        matches!(&outputs[..], [Output::Transmit(bytes), Output::Request { .. }]
            if bytes.as_ref() == b"220 ftp-proto ready\r\n331 Please specify the password.\r\n"),
        "{outputs:?}"
    );
    let Output::Request { id, .. } = &outputs[1] else {
        unreachable!()
    };
    session.handle_response(*id, Response::LoggedIn { writable: false }, now);
    session.handle_control_input(b"NOOP\r\nPASV\r\nQUIT\r\n", now);
    let mut outputs = Vec::new();
    while let Some(output) = session.poll_output() {
        outputs.push(output);
    }
    assert!(
        matches!(
            &outputs[..],
            [
                Output::Event(Event::LoggedIn { .. }),
                Output::Transmit(_),
                Output::Action(ftp_proto::server::Action::ListenPassive { .. }),
            ]
        ),
        "{outputs:?}"
    );
    let Output::Transmit(bytes) = &outputs[1] else {
        unreachable!()
    };
    assert_eq!(bytes.as_ref(), b"230 Login successful.\r\n200 NOOP ok.\r\n");
}

#[test]
fn the_listing_reply_has_one_period() {
    let mut server = anonymous();
    server.send("PASV\r\nLIST /pub\r\n");
    let replies = server.take_replies();
    assert_eq!(replies[1].code().as_u16(), 150);
    assert_eq!(
        replies[1].text().to_string(),
        "Here comes the directory listing."
    );
}

#[test]
fn a_connection_accepted_on_a_replaced_listener_is_ignored() {
    let mut server = anonymous();
    server.data_mode = DataMode::Manual;
    server.send("PASV\r\n");
    server.listening();
    let old = server.channel.unwrap();
    server.send("PASV\r\n");
    assert!(
        server.actions.contains(&Action::CloseData),
        "the old listener is closed"
    );
    server.listening();
    assert_ne!(server.channel, Some(old));
    server.take_replies();
    assert_eq!(server.command("RETR /readme"), [150]);
    let peer = CLIENT.parse().unwrap();
    server.data_event(DataEvent::Accepted { channel: old, peer });
    assert!(
        server.started_transfer().is_none(),
        "a stale accept is ignored"
    );
    server.accept(CLIENT);
    assert!(server.started_transfer().is_some());
}

#[test]
fn an_upload_without_close_notify_is_decided_by_the_session() {
    // Accepted by default (as vsftpd): the session asks the adapter to commit.
    let mut server = alice();
    server.data_mode = DataMode::Manual;
    server.send("PASV\r\n");
    server.listening();
    server.accept(CLIENT);
    assert_eq!(server.command("STOR /new"), [227, 125]);
    let id = server.transfer_id().unwrap();
    server.data_event(DataEvent::Received {
        id,
        bytes: 5,
        clean: false,
    });
    assert_eq!(server.actions.last(), Some(&Action::CommitUpload { id }));
    assert_eq!(server.codes(), Vec::<u16>::new(), "226 only once committed");
    server.data_event(DataEvent::Finished { id, bytes: 5 });
    assert_eq!(server.codes(), [226]);

    // Refused when configured: no commit, 426.
    let mut config = Config::default();
    config.accept_upload_without_close_notify = false;
    let mut strict = ServerDriver::logged_in(config, "alice", "secret");
    strict.data_mode = DataMode::Manual;
    strict.send("PASV\r\n");
    strict.listening();
    strict.accept(CLIENT);
    assert_eq!(strict.command("STOR /new"), [227, 125]);
    let id = strict.transfer_id().unwrap();
    strict.data_event(DataEvent::Received {
        id,
        bytes: 5,
        clean: false,
    });
    assert_eq!(strict.codes(), [426]);
    assert!(!strict.actions.contains(&Action::CommitUpload { id }));
    assert!(strict.actions.contains(&Action::AbortTransfer { id }));
    // A clean end is committed under the strict rule too.
    strict.send("PASV\r\n");
    strict.listening();
    strict.accept(CLIENT);
    assert_eq!(strict.command("STOR /new"), [227, 125]);
    let id = strict.transfer_id().unwrap();
    strict.data_event(DataEvent::Received {
        id,
        bytes: 5,
        clean: true,
    });
    assert_eq!(strict.actions.last(), Some(&Action::CommitUpload { id }));
}
