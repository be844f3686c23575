//! The client session against dialogues as real servers speak them, replayed byte for
//! byte, and every operation's success and failure paths.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use ftp_proto::client::{
    Action, Config, DataConnectionMode, Error, Event, OperationId, OperationKind, Outcome, Output,
    Session, TransferKind, Waiting,
};
use ftp_proto::{ReplyCode, RepresentationType};

const PEER: &str = "192.0.2.7:21";

/// A session plus everything it produced, and a clock the test moves by hand.
struct Client {
    session: Session,
    now: Instant,
    sent: Vec<u8>,
    events: Vec<Event>,
    actions: Vec<Action>,
}

impl Client {
    fn new(config: Config) -> Client {
        Client::with_peer(config, PEER)
    }

    fn with_peer(config: Config, peer: &str) -> Client {
        let now = Instant::now();
        let session = Session::new(config, peer.parse().unwrap(), now);
        let mut client = Client {
            session,
            now,
            sent: Vec::new(),
            events: Vec::new(),
            actions: Vec::new(),
        };
        client.drain();
        client
    }

    /// A session past a `220` greeting.
    fn greeted(config: Config) -> Client {
        let mut client = Client::new(config);
        client.server("220 ready\r\n");
        assert!(matches!(
            client.completed(OperationId::GREETING),
            Ok(Outcome::Greeting(_))
        ));
        client
    }

    fn drain(&mut self) {
        while let Some(output) = self.session.poll_output() {
            match output {
                Output::Transmit(bytes) => self.sent.extend_from_slice(&bytes),
                Output::Action(action) => self.actions.push(action),
                Output::Event(event) => self.events.push(event),
            }
        }
    }

    fn server(&mut self, bytes: &str) {
        self.session
            .handle_control_input(bytes.as_bytes(), self.now);
        self.drain();
    }

    fn sent(&mut self) -> String {
        String::from_utf8(std::mem::take(&mut self.sent)).unwrap()
    }

    /// The bytes sent, for lines that are not UTF-8 (the Telnet bytes before `ABOR`).
    fn sent_bytes(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.sent)
    }

    fn actions(&mut self) -> Vec<Action> {
        std::mem::take(&mut self.actions)
    }

    /// Removes and returns the completion of `id`; panics if it has not come.
    fn completed(&mut self, id: OperationId) -> Result<Outcome, Error> {
        let index = self
            .events
            .iter()
            .position(|event| matches!(event, Event::Completed { id: done, .. } if *done == id))
            .unwrap_or_else(|| panic!("{id} not completed; events: {:#?}", self.events));
        match self.events.remove(index) {
            Event::Completed { result, .. } => result,
            _ => unreachable!(),
        }
    }

    fn is_pending(&self, id: OperationId) -> bool {
        !self
            .events
            .iter()
            .any(|event| matches!(event, Event::Completed { id: done, .. } if *done == id))
    }

    fn op(
        &mut self,
        start: impl FnOnce(&mut Session, Instant) -> Result<OperationId, Error>,
    ) -> OperationId {
        let id = start(&mut self.session, self.now).unwrap();
        self.drain();
        id
    }

    fn data_connected(&mut self, id: OperationId) {
        self.session.handle_data_connected(id, self.now);
        self.drain();
    }

    fn data_input(&mut self, id: OperationId, bytes: &[u8]) {
        self.session.handle_data_input(id, bytes, self.now);
        self.drain();
    }

    fn data_end(&mut self, id: OperationId) {
        self.session.handle_data_end(id, self.now);
        self.drain();
    }

    fn advance(&mut self, by: Duration) {
        self.now += by;
        self.session.handle_timeout(self.now);
        self.drain();
    }

    /// Logs in anonymously with `USER`/`PASS`.
    fn logged_in(config: Config) -> Client {
        let mut client = Client::greeted(config);
        let login = client.op(|s, now| s.login("anonymous", "guest", now));
        assert_eq!(client.sent(), "USER anonymous\r\n");
        client.server("331 Please specify the password.\r\n");
        assert_eq!(client.sent(), "PASS guest\r\n");
        client.server("230 Login successful.\r\n");
        assert!(matches!(client.completed(login), Ok(Outcome::LoggedIn(_))));
        client
    }
}

fn connect_to(action: &Action) -> SocketAddr {
    match action {
        Action::ConnectData { address, .. } => *address,
        other => panic!("expected ConnectData, got {other:?}"),
    }
}

fn code(result: &Result<Outcome, Error>) -> Option<u16> {
    match result {
        Err(error) => error.reply().map(|reply| reply.code().as_u16()),
        Ok(_) => None,
    }
}

// ----- Greeting -----

#[test]
fn greeting_120_then_220() {
    let mut client = Client::new(Config::default());
    client.server("120 Service ready in 1 minute\r\n");
    assert!(client.is_pending(OperationId::GREETING));
    client.server("220 ready\r\n");
    assert!(
        matches!(client.completed(OperationId::GREETING), Ok(Outcome::Greeting(reply)) if reply.code() == ReplyCode::SERVICE_READY)
    );
}

#[test]
fn greeting_421_is_fatal_and_sticky() {
    let mut client = Client::new(Config::default());
    let login = client.op(|s, now| s.login("a", "b", now));
    assert_eq!(client.sent(), "", "nothing is sent before the greeting");
    client.server("421 Too many connections\r\n");
    assert!(matches!(
        client.completed(OperationId::GREETING),
        Err(Error::ServiceClosing { .. })
    ));
    assert!(matches!(
        client.completed(login),
        Err(Error::ServiceClosing { .. })
    ));
    assert!(client.actions().contains(&Action::CloseControl));
    assert!(matches!(
        client.events.last(),
        Some(Event::Closed {
            error: Some(Error::ServiceClosing { .. })
        })
    ));
    let again = client.session.noop(client.now).unwrap_err();
    assert!(matches!(again, Error::ServiceClosing { .. }));
    assert!(again.is_fatal());
    assert_eq!(client.session.poll_timeout(), None);
}

#[test]
fn malformed_greeting_is_fatal() {
    let mut client = Client::new(Config::default());
    client.server("SSH-2.0-OpenSSH_9.6\r\n");
    assert!(matches!(
        client.completed(OperationId::GREETING),
        Err(Error::MalformedReply { .. })
    ));
    assert!(matches!(
        client.session.error(),
        Some(Error::MalformedReply { .. })
    ));
}

#[test]
fn greeting_other_than_220_is_fatal() {
    let mut client = Client::new(Config::default());
    client.server("530 Not allowed\r\n");
    assert!(matches!(
        client.completed(OperationId::GREETING),
        Err(Error::UnexpectedGreeting { .. })
    ));
}

#[test]
fn greeting_timeout_is_fatal() {
    let mut client = Client::new(Config::default());
    assert_eq!(
        client.session.poll_timeout(),
        Some(client.now + Duration::from_secs(30))
    );
    client.advance(Duration::from_secs(29));
    assert!(client.is_pending(OperationId::GREETING));
    client.advance(Duration::from_secs(1));
    assert!(matches!(
        client.completed(OperationId::GREETING),
        Err(Error::Timeout {
            operation: OperationKind::Greeting,
            waiting_for: Waiting::Reply
        })
    ));
}

/// Found by fuzzing: an operation refused for a missing feature must still report the
/// sticky fatal error once the session has ended.
#[test]
fn an_ended_session_reports_its_fatal_error_before_anything_else() {
    let mut client = Client::greeted(Config::default());
    let features = client.session.features(client.now).unwrap();
    client.server("211-Features:\r\n EPSV\r\n211 End\r\n");
    assert!(client.completed(features).is_ok());
    client.session.noop(client.now).unwrap();
    client.advance(Duration::from_secs(30));
    let sticky = client
        .session
        .error()
        .cloned()
        .expect("the reply timeout is fatal");
    let refused = client.session.machine_list(None, client.now).unwrap_err();
    assert_eq!(refused, sticky);
}

// ----- Login -----

#[test]
fn login_without_password() {
    let mut client = Client::greeted(Config::default());
    let login = client.op(|s, now| s.login("ftp", "", now));
    assert_eq!(client.sent(), "USER ftp\r\n");
    client.server("230 Anonymous access granted\r\n");
    assert!(matches!(client.completed(login), Ok(Outcome::LoggedIn(_))));
    assert!(client.session.is_logged_in());
}

#[test]
fn login_with_account() {
    let mut client = Client::greeted(Config::default());
    let login = client.op(|s, now| s.login_with_account("u", "p", "acct", now));
    client.server("331 Password required\r\n");
    client.server("332 Need account for login.\r\n");
    assert_eq!(client.sent(), "USER u\r\nPASS p\r\nACCT acct\r\n");
    client.server("230 Logged in\r\n");
    assert!(matches!(client.completed(login), Ok(Outcome::LoggedIn(_))));
}

#[test]
fn login_needing_an_account_we_do_not_have() {
    let mut client = Client::greeted(Config::default());
    let login = client.op(|s, now| s.login("u", "p", now));
    client.server("331 Password required\r\n332 Need account\r\n");
    assert!(
        matches!(client.completed(login), Err(Error::UnexpectedReply { reply, .. }) if reply.code().as_u16() == 332)
    );
}

#[test]
fn login_refused() {
    let mut client = Client::greeted(Config::default());
    let login = client.op(|s, now| s.login("u", "wrong", now));
    client.server("331 Password required\r\n530 Login incorrect.\r\n");
    let error = client.completed(login).unwrap_err();
    assert!(
        matches!(&error, Error::Refused { operation: OperationKind::Login, reply } if reply.code().as_u16() == 530)
    );
    assert_eq!(
        error.to_string(),
        "login refused by the server: 530 Login incorrect."
    );
    assert!(!error.is_fatal());
    assert!(!client.session.is_logged_in());
}

#[test]
fn password_is_never_in_debug_output() {
    let mut client = Client::greeted(Config::default());
    client.op(|s, now| s.login("u", "hunter2", now));
    client.server("331 Password required\r\n");
    assert!(!format!("{:?}", client.session).contains("hunter2"));
}

// ----- Real servers -----

#[test]
fn vsftpd_dialogue() {
    let mut client = Client::new(Config::default());
    client.server("220 (vsFTPd 3.0.3)\r\n");
    let login = client.op(|s, now| s.login("anonymous", "guest", now));
    client.server("331 Please specify the password.\r\n");
    client.server("230 Login successful.\r\n");
    assert!(client.completed(login).is_ok());
    let features = client.op(|s, now| s.features(now));
    client.server("211-Features:\r\n EPRT\r\n EPSV\r\n MDTM\r\n PASV\r\n REST STREAM\r\n SIZE\r\n TVFS\r\n211 End\r\n");
    let Ok(Outcome::Features(features)) = client.completed(features) else {
        panic!()
    };
    assert!(
        features.extended_passive() && features.restart_stream() && !features.machine_listing()
    );
    let pwd = client.op(|s, now| s.print_directory(now));
    client.server("257 \"/\" is the current directory\r\n");
    assert!(matches!(client.completed(pwd), Ok(Outcome::Directory(path)) if path == "/"));
    // vsftpd has no MLSD: refused locally, nothing sent.
    assert!(matches!(
        client.session.machine_list(None, client.now),
        Err(Error::NotSupported {
            feature: "MLST",
            ..
        })
    ));
    let retr = client.op(|s, now| s.retrieve("pub/file.bin", now));
    client.server("200 Switching to Binary mode.\r\n");
    client.server("229 Entering Extended Passive Mode (|||41234|)\r\n");
    let actions = client.actions();
    assert_eq!(
        actions,
        vec![Action::ConnectData {
            id: retr,
            address: "192.0.2.7:41234".parse().unwrap(),
            kind: TransferKind::Download
        }]
    );
    client.data_connected(retr);
    client.server("150 Opening BINARY mode data connection for pub/file.bin (1048576 bytes).\r\n");
    assert!(client.events.contains(&Event::TransferStarted {
        id: retr,
        size_hint: Some(1048576)
    }));
    client.data_end(retr);
    assert!(client.is_pending(retr));
    client.server("226 Transfer complete.\r\n");
    assert!(
        matches!(client.completed(retr), Ok(Outcome::Transferred { reply, .. }) if reply.code().as_u16() == 226)
    );
    let quit = client.op(|s, now| s.quit(now));
    client.server("221 Goodbye.\r\n");
    assert!(matches!(
        client.completed(quit),
        Ok(Outcome::Closed { reply: Some(_) })
    ));
    assert_eq!(
        client.sent(),
        "USER anonymous\r\nPASS guest\r\nFEAT\r\nPWD\r\nTYPE I\r\nEPSV\r\nRETR pub/file.bin\r\nQUIT\r\n"
    );
    assert_eq!(client.actions(), vec![Action::CloseControl]);
    assert_eq!(client.events.pop(), Some(Event::Closed { error: None }));
    assert_eq!(client.session.noop(client.now), Err(Error::Closed));
}

#[test]
fn proftpd_dialogue_with_utf8_mlsd_and_mlst() {
    let mut client = Client::new(Config::default());
    client.server("220 ProFTPD Server (Debian) [::ffff:127.0.0.1]\r\n");
    let features = client.op(|s, now| s.features(now));
    client.server("211-Features:\r\n LANG en-US*\r\n MDTM\r\n MFMT\r\n TVFS\r\n UTF8\r\n MFF modify;UNIX.group;UNIX.mode;\r\n MLST modify*;perm*;size*;type*;unique*;UNIX.group*;UNIX.mode*;UNIX.owner*;\r\n REST STREAM\r\n SIZE\r\n211 End\r\n");
    assert_eq!(client.sent(), "FEAT\r\nOPTS UTF8 ON\r\n");
    client.server("200 UTF8 set to on\r\n");
    assert!(matches!(client.completed(features), Ok(Outcome::Features(f)) if f.utf8()));
    let mlsd = client.op(|s, now| s.machine_list(Some("/pub".into()), now));
    client.server("200 Type set to A\r\n229 Entering Extended Passive Mode (|||30001|)\r\n");
    client.data_connected(mlsd);
    assert_eq!(client.sent(), "TYPE A\r\nEPSV\r\nMLSD /pub\r\n");
    client.server("150 Opening ASCII mode data connection for MLSD\r\n");
    client.data_input(
        mlsd,
        b"modify=20240101000000;perm=adfr;size=5;type=file; a b.txt\r\n",
    );
    client.data_input(mlsd, b"type=cdir; .\r\n");
    client.data_end(mlsd);
    client.server("226 Transfer complete\r\n");
    let Ok(Outcome::Listing(bytes)) = client.completed(mlsd) else {
        panic!()
    };
    assert_eq!(
        bytes,
        b"modify=20240101000000;perm=adfr;size=5;type=file; a b.txt\r\ntype=cdir; .\r\n"
    );
    let mlst = client.op(|s, now| s.machine_entry(Some("a b.txt".into()), now));
    client.server("250-Start of list for a b.txt\r\n modify=20240101000000;size=5;type=file; a b.txt\r\n250 End of list\r\n");
    assert!(
        matches!(client.completed(mlst), Ok(Outcome::Entry(entry)) if entry == "modify=20240101000000;size=5;type=file; a b.txt")
    );
    assert_eq!(client.sent(), "MLST a b.txt\r\n");
}

#[test]
fn pure_ftpd_multiline_greeting_and_size() {
    let mut client = Client::new(Config::default());
    client.server("220---------- Welcome to Pure-FTPd [privsep] [TLS] ----------\r\n220-You are user number 1 of 50 allowed.\r\n220-Local time is now 10:00. Server port: 21.\r\n220 You will be disconnected after 15 minutes of inactivity.\r\n");
    assert!(
        matches!(client.completed(OperationId::GREETING), Ok(Outcome::Greeting(reply)) if reply.lines().count() == 4)
    );
    let size = client.op(|s, now| s.size("big.iso", now));
    client.server("213 4700000000\r\n");
    assert_eq!(client.completed(size), Ok(Outcome::Size(4_700_000_000)));
    let mdtm = client.op(|s, now| s.modification_time("big.iso", now));
    client.server("213 20240229123456\r\n");
    let Ok(Outcome::ModificationTime(time)) = client.completed(mdtm) else {
        panic!()
    };
    assert_eq!(
        time.duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
        1709210096
    );
}

#[test]
fn iis_125_and_pasv_fallback_is_remembered() {
    let mut client = Client::logged_in(Config::default());
    let list = client.op(|s, now| s.list(None, now));
    client.server("200 Type set to A.\r\n500 'EPSV': command not understood\r\n");
    client.server("227 Entering Passive Mode (10,0,0,5,195,80).\r\n");
    // The private address in the 227 is ignored: the control peer is used.
    assert_eq!(
        connect_to(&client.actions()[0]),
        "192.0.2.7:50000".parse().unwrap()
    );
    client.data_connected(list);
    client.server("125 Data connection already open; Transfer starting.\r\n");
    client.data_input(list, b"01-01-24  10:00AM       <DIR>          dir\r\n");
    client.data_end(list);
    client.server("226 Transfer complete.\r\n");
    assert!(
        matches!(client.completed(list), Ok(Outcome::Listing(bytes)) if bytes.ends_with(b"dir\r\n"))
    );
    assert_eq!(client.sent(), "TYPE A\r\nEPSV\r\nPASV\r\nLIST\r\n");
    // The next transfer goes straight to PASV, and TYPE I because it is a file.
    let retr = client.op(|s, now| s.retrieve("f", now));
    assert_eq!(client.sent(), "TYPE I\r\n");
    client.server("200 Type set to I.\r\n");
    assert_eq!(client.sent(), "PASV\r\n");
    client.server("227 Entering Passive Mode (10,0,0,5,195,81).\r\n");
    client.data_connected(retr);
    client.server(
        "125 Data connection already open; Transfer starting.\r\n226 Transfer complete.\r\n",
    );
    client.data_end(retr);
    assert!(client.completed(retr).is_ok());
}

#[test]
fn filezilla_server_227_address_trusted_when_asked() {
    let mut config = Config::default();
    config.trust_passive_address = true;
    config.prefer_extended_passive = false;
    let mut client = Client::logged_in(config);
    let stor = client.op(|s, now| s.store("up.txt", now));
    client.server("200 Type set to I\r\n227 Entering Passive Mode (198,51,100,9,78,32)\r\n");
    let actions = client.actions();
    assert_eq!(
        actions,
        vec![Action::ConnectData {
            id: stor,
            address: "198.51.100.9:20000".parse().unwrap(),
            kind: TransferKind::Upload
        }]
    );
    client.data_connected(stor);
    assert_eq!(client.sent(), "TYPE I\r\nPASV\r\nSTOR up.txt\r\n");
    client.server("150 Starting data transfer.\r\n");
    client.data_end(stor);
    client.server("226 Operation successful\r\n");
    assert!(client.completed(stor).is_ok());
}

#[test]
fn final_reply_before_data_eof() {
    let mut client = Client::logged_in(Config::default());
    let retr = client.op(|s, now| s.retrieve("f", now));
    client.server("200 ok\r\n229 ok (|||5000|)\r\n");
    client.data_connected(retr);
    client.server("150 go\r\n226 done\r\n");
    assert!(client.is_pending(retr), "the data has not ended yet");
    client.data_end(retr);
    assert!(client.completed(retr).is_ok());
}

#[test]
fn preliminary_and_final_reply_in_one_read_after_data_eof() {
    let mut client = Client::logged_in(Config::default());
    let list = client.op(|s, now| s.name_list(None, now));
    client.server("200 ok\r\n229 ok (|||5000|)\r\n");
    client.data_connected(list);
    client.data_input(list, b"a\r\nb\r\n");
    client.data_end(list);
    client.server("150 Here comes the directory listing.\r\n226 Directory send OK.\r\n");
    assert_eq!(
        client.completed(list),
        Ok(Outcome::Listing(b"a\r\nb\r\n".to_vec()))
    );
}

#[test]
fn data_end_times_out_after_final_reply() {
    let mut client = Client::logged_in(Config::default());
    let retr = client.op(|s, now| s.retrieve("f", now));
    client.server("200 ok\r\n229 ok (|||5000|)\r\n");
    client.data_connected(retr);
    client.server("150 go\r\n226 done\r\n");
    client.actions();
    client.advance(Duration::from_secs(31));
    assert!(matches!(
        client.completed(retr),
        Err(Error::Timeout {
            waiting_for: Waiting::EndOfData,
            ..
        })
    ));
    assert_eq!(client.actions(), vec![Action::CloseData { id: retr }]);
    assert!(
        client.session.error().is_none(),
        "the control connection is still in step"
    );
}

#[test]
fn transfer_failures_are_typed() {
    for (reply, check) in [
        (
            "425 Can't open data connection.\r\n",
            (|e: &Error| matches!(e, Error::CannotOpenDataConnection { .. })) as fn(&Error) -> bool,
        ),
        ("426 Connection closed; transfer aborted.\r\n", |e| {
            matches!(e, Error::TransferAborted { .. })
        }),
        ("451 Local error.\r\n", |e| {
            matches!(e, Error::TransferAborted { .. })
        }),
        ("550 Failed to open file.\r\n", |e| {
            matches!(
                e,
                Error::Refused {
                    operation: OperationKind::Retrieve,
                    ..
                }
            )
        }),
    ] {
        let mut client = Client::logged_in(Config::default());
        let retr = client.op(|s, now| s.retrieve("f", now));
        client.server("200 ok\r\n229 ok (|||5000|)\r\n");
        client.data_connected(retr);
        client.actions();
        client.server(reply);
        let error = client.completed(retr).unwrap_err();
        assert!(check(&error), "{reply}: {error:?}");
        assert_eq!(
            client.actions(),
            vec![Action::CloseData { id: retr }],
            "{reply}"
        );
        // The session goes on.
        let noop = client.op(|s, now| s.noop(now));
        client.server("200 NOOP ok.\r\n");
        assert!(client.completed(noop).is_ok());
    }
}

#[test]
fn data_connection_failure_before_the_command_ends_the_transfer_at_once() {
    let mut client = Client::logged_in(Config::default());
    let retr = client.op(|s, now| s.retrieve("f", now));
    client.server("200 ok\r\n229 ok (|||5000|)\r\n");
    client
        .session
        .handle_data_failed(retr, io::ErrorKind::ConnectionRefused, client.now);
    client.drain();
    assert!(matches!(
        client.completed(retr),
        Err(Error::DataConnectionFailed {
            kind: io::ErrorKind::ConnectionRefused,
            ..
        })
    ));
    assert_eq!(client.sent(), "TYPE I\r\nEPSV\r\n", "RETR is never sent");
}

#[test]
fn data_connection_failure_mid_transfer_waits_for_the_final_reply() {
    let mut client = Client::logged_in(Config::default());
    let retr = client.op(|s, now| s.retrieve("f", now));
    client.server("200 ok\r\n229 ok (|||5000|)\r\n");
    client.data_connected(retr);
    client.server("150 go\r\n");
    client
        .session
        .handle_data_failed(retr, io::ErrorKind::ConnectionReset, client.now);
    client.drain();
    assert!(client.is_pending(retr));
    client.server("226 done\r\n");
    assert!(matches!(
        client.completed(retr),
        Err(Error::DataConnectionFailed { .. })
    ));
}

#[test]
fn passive_connect_timeout_fails_only_the_transfer() {
    let mut client = Client::logged_in(Config::default());
    let retr = client.op(|s, now| s.retrieve("f", now));
    client.server("200 ok\r\n229 ok (|||5000|)\r\n");
    client.actions();
    client.advance(Duration::from_secs(30));
    assert!(matches!(
        client.completed(retr),
        Err(Error::Timeout {
            waiting_for: Waiting::DataConnection,
            ..
        })
    ));
    assert_eq!(client.actions(), vec![Action::CloseData { id: retr }]);
    assert!(client.session.error().is_none());
}

#[test]
fn listing_is_bounded() {
    let mut config = Config::default();
    config.max_listing_size = 8;
    let mut client = Client::logged_in(config);
    let list = client.op(|s, now| s.list(None, now));
    client.server("200 ok\r\n229 ok (|||5000|)\r\n150 go\r\n");
    client.data_connected(list);
    client.data_input(list, b"12345");
    client.actions();
    client.data_input(list, b"6789");
    assert_eq!(client.actions(), vec![Action::CloseData { id: list }]);
    client.server("426 Connection closed\r\n");
    assert!(matches!(
        client.completed(list),
        Err(Error::TransferAborted { .. }) | Err(Error::ListingTooLarge { .. })
    ));
}

#[test]
fn store_unique_reports_the_name() {
    let mut client = Client::logged_in(Config::default());
    let stou = client.op(|s, now| s.store_unique(now));
    client.server("200 ok\r\n229 ok (|||5000|)\r\n");
    client.data_connected(stou);
    client.server("150 FILE: upload.1\r\n");
    client.data_end(stou);
    client.server("226 Transfer complete\r\n");
    assert!(
        matches!(client.completed(stou), Ok(Outcome::Transferred { unique_name: Some(name), .. }) if name == "upload.1")
    );
}

#[test]
fn append_and_resume() {
    let mut client = Client::logged_in(Config::default());
    let retr = client.op(|s, now| s.retrieve_from("f", 1000, now));
    client.server("200 ok\r\n229 ok (|||5000|)\r\n");
    client.data_connected(retr);
    assert_eq!(client.sent(), "TYPE I\r\nEPSV\r\nREST 1000\r\n");
    client.server("350 Restart position accepted (1000).\r\n");
    assert_eq!(client.sent(), "RETR f\r\n");
    client.server("150 go\r\n226 done\r\n");
    client.data_end(retr);
    assert!(client.completed(retr).is_ok());

    let appe = client.op(|s, now| s.append("log", now));
    client.server("229 ok (|||5001|)\r\n");
    client.data_connected(appe);
    assert_eq!(client.sent(), "EPSV\r\nAPPE log\r\n");
    client.server("150 go\r\n");
    client.data_end(appe);
    client.server("226 done\r\n");
    assert!(client.completed(appe).is_ok());

    // A refused REST fails the transfer and closes its data connection.
    let stor = client.op(|s, now| s.store_from("g", 5, now));
    client.server("229 ok (|||5002|)\r\n");
    client.data_connected(stor);
    client.actions();
    client.server("554 Restart not supported\r\n");
    assert!(matches!(client.completed(stor), Err(Error::Refused { .. })));
    assert_eq!(client.actions(), vec![Action::CloseData { id: stor }]);
}

#[test]
fn resume_refused_when_feat_lacks_rest_stream() {
    let mut config = Config::default();
    config.strict_features = true;
    let mut client = Client::logged_in(config);
    let features = client.op(|s, now| s.features(now));
    client.server("211-Features:\r\n SIZE\r\n211 End\r\n");
    assert!(client.completed(features).is_ok());
    assert!(matches!(
        client.session.retrieve_from("f", 1, client.now),
        Err(Error::NotSupported {
            feature: "REST STREAM",
            ..
        })
    ));
    assert!(matches!(
        client.session.modification_time("f", client.now),
        Err(Error::NotSupported { .. })
    ));
    // EPSV is tried even though FEAT does not list it (ProFTPD does not).
    client.op(|s, now| s.retrieve("f", now));
    client.server("200 ok\r\n");
    assert_eq!(client.sent(), "FEAT\r\nTYPE I\r\nEPSV\r\n");
}

// ----- Abort -----

/// `IAC IP IAC DM ABOR CRLF`.
const ABORT_BYTES: &[u8] = b"\xff\xf4\xff\xf2ABOR\r\n";

fn running_download(client: &mut Client) -> OperationId {
    let retr = client.op(|s, now| s.retrieve("f", now));
    client.server("200 ok\r\n229 ok (|||5000|)\r\n");
    client.data_connected(retr);
    client.server("150 go\r\n");
    client.sent();
    client.actions();
    retr
}

#[test]
fn abort_sends_telnet_ip_and_synch_only_when_asked() {
    let mut client = Client::logged_in(Config::default());
    let retr = running_download(&mut client);
    client.session.abort(retr, client.now);
    // By default a plain ABOR: no urgent data (see Config::telnet_synch_abort).
    assert_eq!(client.session.urgent_offset(), None);
    client.drain();
    assert_eq!(client.sent_bytes(), b"ABOR\r\n");

    let mut config = Config::default();
    config.telnet_synch_abort = true;
    let mut client = Client::logged_in(config);
    let retr = running_download(&mut client);
    client.session.abort(retr, client.now);
    // Telnet IP, Synch (IAC DM, the DM as urgent data), then ABOR: RFC 959 §4.1.3. The
    // offset belongs to the transmit just taken, which comes before the close of the
    // data connection.
    assert_eq!(client.session.urgent_offset(), None, "nothing taken yet");
    let Some(Output::Transmit(bytes)) = client.session.poll_output() else {
        panic!("ABOR is not the first output");
    };
    assert_eq!(bytes, ABORT_BYTES);
    assert_eq!(client.session.urgent_offset(), Some(3));
    assert_eq!(
        client.session.poll_output(),
        Some(Output::Action(Action::CloseData { id: retr }))
    );
    assert_eq!(
        client.session.urgent_offset(),
        None,
        "only for its own transmit"
    );
}

#[test]
fn abort_with_426_then_226() {
    let mut client = Client::logged_in(Config::default());
    let retr = running_download(&mut client);
    client.session.abort(retr, client.now);
    client.drain();
    assert_eq!(client.sent_bytes(), b"ABOR\r\n");
    assert_eq!(client.actions(), vec![Action::CloseData { id: retr }]);
    client.server("426 Transfer aborted\r\n");
    assert!(client.is_pending(retr));
    client.server("226 ABOR successful\r\n");
    assert!(matches!(client.completed(retr), Err(Error::Aborted { .. })));
    let noop = client.op(|s, now| s.noop(now));
    client.server("200 ok\r\n");
    assert!(client.completed(noop).is_ok());
}

#[test]
fn abort_with_226_then_225() {
    let mut client = Client::logged_in(Config::default());
    let retr = running_download(&mut client);
    client.session.abort(retr, client.now);
    client.drain();
    client.server("226 Transfer complete\r\n225 No transfer to ABOR\r\n");
    assert!(matches!(client.completed(retr), Err(Error::Aborted { .. })));
    assert_eq!(client.session.poll_timeout(), None);
}

#[test]
fn abort_with_a_lone_226() {
    let mut client = Client::logged_in(Config::default());
    let retr = running_download(&mut client);
    client.session.abort(retr, client.now);
    client.drain();
    assert_eq!(client.sent_bytes(), b"ABOR\r\n");
    let noop = client.op(|s, now| s.noop(now));
    client.server("226 Abort successful\r\n");
    assert!(client.is_pending(retr));
    assert_eq!(
        client.sent(),
        "",
        "nothing is sent while the ABOR reply may still come"
    );
    client.advance(Duration::from_secs(2));
    assert!(matches!(client.completed(retr), Err(Error::Aborted { .. })));
    assert_eq!(client.sent(), "NOOP\r\n");
    client.server("200 ok\r\n");
    assert!(client.completed(noop).is_ok());
}

#[test]
fn abort_before_the_transfer_command_and_in_the_queue() {
    let mut client = Client::logged_in(Config::default());
    let retr = client.op(|s, now| s.retrieve("f", now));
    let queued = client.op(|s, now| s.retrieve("g", now));
    client.session.abort(queued, client.now);
    client.drain();
    assert!(matches!(
        client.completed(queued),
        Err(Error::Aborted { .. })
    ));
    client.server("200 ok\r\n229 ok (|||5000|)\r\n");
    client.session.abort(retr, client.now);
    client.drain();
    assert!(matches!(client.completed(retr), Err(Error::Aborted { .. })));
    assert_eq!(client.sent(), "TYPE I\r\nEPSV\r\n");
}

// ----- Active mode -----

#[test]
fn active_mode_port_and_eprt() {
    let mut config = Config::default();
    config.data_connection_mode = DataConnectionMode::Active;
    let mut client = Client::logged_in(config.clone());
    let retr = client.op(|s, now| s.retrieve("f", now));
    client.server("200 ok\r\n");
    assert_eq!(
        client.actions(),
        vec![Action::ListenForData {
            id: retr,
            kind: TransferKind::Download
        }]
    );
    client
        .session
        .handle_data_listening(retr, "192.0.2.100:50001".parse().unwrap(), client.now);
    client.drain();
    client.server("200 PORT command successful.\r\n");
    client.server("150 Opening BINARY mode data connection.\r\n");
    client.data_connected(retr);
    client.data_end(retr);
    client.server("226 Transfer complete.\r\n");
    assert!(client.completed(retr).is_ok());
    assert_eq!(
        client.sent(),
        "TYPE I\r\nPORT 192,0,2,100,195,81\r\nRETR f\r\n"
    );

    let mut client = Client::with_peer(config, "[2001:db8::7]:21");
    client.server("220 ready\r\n");
    let list = client.op(|s, now| s.list(None, now));
    client.server("200 ok\r\n");
    client
        .session
        .handle_data_listening(list, "[2001:db8::1]:50002".parse().unwrap(), client.now);
    client.drain();
    assert_eq!(client.sent(), "TYPE A\r\nEPRT |2|2001:db8::1|50002|\r\n");
    client.server("200 EPRT ok\r\n");
    // The 226 may overtake the server's data connection, still in our listener's
    // queue: the transfer waits for it.
    client.server("150 ok\r\n226 ok\r\n");
    assert!(client.is_pending(list));
    // A server that had nothing to send and never connects: an empty listing once the
    // data connection's deadline has passed.
    client.advance(Duration::from_secs(30));
    assert_eq!(client.completed(list), Ok(Outcome::Listing(Vec::new())));

    // Active mode, 226 before the connection is accepted: the data still counts.
    let mut config = Config::default();
    config.data_connection_mode = DataConnectionMode::Active;
    let mut client = Client::logged_in(config);
    let retr = client.op(|s, now| s.retrieve("f", now));
    client.server("200 ok\r\n");
    client
        .session
        .handle_data_listening(retr, "192.0.2.100:50001".parse().unwrap(), client.now);
    client.drain();
    client.server("200 PORT ok\r\n150 ok\r\n226 done\r\n");
    assert!(client.is_pending(retr));
    client.data_connected(retr);
    client.data_end(retr);
    assert!(client.completed(retr).is_ok());
}

#[test]
fn active_mode_refuses_port_zero() {
    let mut config = Config::default();
    config.data_connection_mode = DataConnectionMode::Active;
    let mut client = Client::logged_in(config);
    let retr = client.op(|s, now| s.retrieve("f", now));
    client.server("200 ok\r\n");
    client
        .session
        .handle_data_listening(retr, "192.0.2.100:0".parse().unwrap(), client.now);
    client.drain();
    assert!(matches!(
        client.completed(retr),
        Err(Error::DataConnectionFailed { .. })
    ));
    assert_eq!(client.sent(), "TYPE I\r\n");
}

#[test]
fn passive_port_zero_is_refused() {
    let mut client = Client::logged_in(Config::default());
    let retr = client.op(|s, now| s.retrieve("f", now));
    client.server("200 ok\r\n229 Entering Extended Passive Mode (|||0|)\r\n");
    assert!(matches!(
        client.completed(retr),
        Err(Error::UnexpectedReply { .. })
    ));
    assert!(client.actions().is_empty());
}

// ----- TLS -----

#[test]
fn explicit_tls_login_and_protected_data() {
    let mut config = Config::default();
    config.tls = true;
    let mut client = Client::greeted(config);
    let login = client.op(|s, now| s.login("user", "secret", now));
    assert_eq!(client.sent(), "AUTH TLS\r\n");
    client.server("234 Proceed with negotiation.\r\n");
    assert_eq!(client.actions(), vec![Action::StartControlTls]);
    assert_eq!(client.sent(), "");
    client.session.handle_control_tls_established(client.now);
    client.drain();
    assert!(client.session.is_control_secure());
    client.server("331 Please specify the password.\r\n230 Login successful.\r\n");
    client.server("200 PBSZ set to 0.\r\n200 PROT now Private.\r\n");
    assert!(
        matches!(client.completed(login), Ok(Outcome::LoggedIn(reply)) if reply.code().as_u16() == 230)
    );
    assert_eq!(
        client.sent(),
        "USER user\r\nPASS secret\r\nPBSZ 0\r\nPROT P\r\n"
    );
    assert!(client.session.is_data_protected());
    let retr = client.op(|s, now| s.retrieve("f", now));
    client.server("200 ok\r\n229 ok (|||5000|)\r\n");
    client.actions();
    client.data_connected(retr);
    assert_eq!(client.actions(), vec![Action::StartDataTls { id: retr }]);
    client.server("150 go\r\n");
    client.session.handle_data_tls_established(retr, client.now);
    client.data_end(retr);
    client.server("226 done\r\n");
    assert!(client.completed(retr).is_ok());
}

#[test]
fn implicit_tls_sends_no_auth_and_protects_data_after_login() {
    let mut config = Config::default();
    config.implicit_tls = true;
    let mut client = Client::greeted(config);
    assert!(client.session.is_control_secure());
    assert!(!client.session.is_data_protected());
    let login = client.op(|s, now| s.login("user", "secret", now));
    assert_eq!(client.sent(), "USER user\r\n");
    assert!(
        client.actions().is_empty(),
        "no handshake: TLS already runs"
    );
    client.server("331 Please specify the password.\r\n230 Login successful.\r\n");
    client.server("200 PBSZ set to 0.\r\n200 PROT now Private.\r\n");
    assert!(
        matches!(client.completed(login), Ok(Outcome::LoggedIn(reply)) if reply.code().as_u16() == 230)
    );
    assert_eq!(client.sent(), "PASS secret\r\nPBSZ 0\r\nPROT P\r\n");
    assert!(client.session.is_data_protected());
    let list = client.op(|s, now| s.list(None, now));
    client.server("200 ok\r\n229 ok (|||5000|)\r\n");
    client.actions();
    client.data_connected(list);
    assert_eq!(client.actions(), vec![Action::StartDataTls { id: list }]);
}

#[test]
fn tls_refused_means_no_password_in_clear() {
    let mut config = Config::default();
    config.tls = true;
    let mut client = Client::greeted(config);
    let login = client.op(|s, now| s.login("user", "secret", now));
    client.server("500 AUTH not understood\r\n");
    assert!(matches!(
        client.completed(login),
        Err(Error::Refused { .. })
    ));
    assert_eq!(client.sent(), "AUTH TLS\r\n");
}

#[test]
fn plaintext_after_234_is_refused() {
    let mut config = Config::default();
    config.tls = true;
    let mut client = Client::greeted(config);
    let login = client.op(|s, now| s.login("user", "secret", now));
    client.server("234 Proceed\r\n230 injected\r\n");
    assert!(matches!(
        client.completed(login),
        Err(Error::ProtocolViolation { .. })
    ));
    assert!(!client.sent().contains("secret"));
}

#[test]
fn control_tls_handshake_timeout_is_fatal() {
    let mut config = Config::default();
    config.tls = true;
    let mut client = Client::greeted(config);
    let login = client.op(|s, now| s.login("user", "secret", now));
    client.server("234 Proceed\r\n");
    client.advance(Duration::from_secs(30));
    assert!(matches!(
        client.completed(login),
        Err(Error::Timeout {
            waiting_for: Waiting::ControlTls,
            ..
        })
    ));
    assert!(client.session.error().is_some());
}

// ----- Defences -----

#[test]
fn injected_line_breaks_are_refused_before_anything_is_sent() {
    let mut client = Client::logged_in(Config::default());
    for result in [
        client.session.retrieve("a\r\nDELE b", client.now),
        client.session.delete("x\ny", client.now),
        client.session.rename("ok", "evil\0", client.now),
        client.session.login("u\r\nSITE x", "p", client.now),
        client.session.site("CHMOD 777 a\r\nDELE b", client.now),
    ] {
        assert!(
            matches!(result, Err(Error::InvalidArgument { .. })),
            "{result:?}"
        );
    }
    client.drain();
    assert_eq!(client.sent(), "");
    assert!(client.events.is_empty());
}

#[test]
fn unsolicited_421_ends_the_session() {
    let mut client = Client::logged_in(Config::default());
    let cwd = client.op(|s, now| s.change_directory("/x", now));
    let queued = client.op(|s, now| s.retrieve("f", now));
    client.server("421 Timeout.\r\n");
    for id in [cwd, queued] {
        let error = client.completed(id).unwrap_err();
        assert!(matches!(&error, Error::ServiceClosing { reply } if reply.code().as_u16() == 421));
        assert_eq!(
            error.to_string(),
            "the server is closing the connection: 421 Timeout."
        );
    }
    assert_eq!(client.actions(), vec![Action::CloseControl]);
    assert!(matches!(
        client.session.noop(client.now),
        Err(Error::ServiceClosing { .. })
    ));
}

#[test]
fn unsolicited_replies_are_dropped() {
    let mut client = Client::logged_in(Config::default());
    client.server("200 nobody asked\r\n");
    let noop = client.op(|s, now| s.noop(now));
    client.server("200 NOOP ok\r\n");
    assert!(
        matches!(client.completed(noop), Ok(Outcome::Done(reply)) if reply.text() == "NOOP ok")
    );
}

#[test]
fn oversized_replies_are_fatal() {
    let mut config = Config::default();
    config.max_reply_line_length = 64;
    config.max_reply_lines = 4;
    let mut client = Client::greeted(config.clone());
    client.op(|s, now| s.noop(now));
    client.server(&format!("200 {}\r\n", "x".repeat(100)));
    assert!(matches!(
        client.session.error(),
        Some(Error::MalformedReply { .. })
    ));

    let mut client = Client::greeted(config);
    client.op(|s, now| s.features(now));
    client.server("211-a\r\n b\r\n c\r\n d\r\n e\r\n");
    assert!(matches!(
        client.session.error(),
        Some(Error::MalformedReply { .. })
    ));
}

#[test]
fn reply_timeout_is_fatal() {
    let mut client = Client::logged_in(Config::default());
    let noop = client.op(|s, now| s.noop(now));
    client.advance(Duration::from_secs(30));
    assert!(matches!(
        client.completed(noop),
        Err(Error::Timeout {
            operation: OperationKind::Noop,
            waiting_for: Waiting::Reply
        })
    ));
    assert!(client.actions().contains(&Action::CloseControl));
}

#[test]
fn no_reply_deadline_while_data_moves() {
    let mut client = Client::logged_in(Config::default());
    let retr = running_download(&mut client);
    // Only the stall deadline runs, and reported progress moves it.
    assert_eq!(
        client.session.poll_timeout(),
        Some(client.now + Duration::from_secs(60))
    );
    for _ in 0..120 {
        client.now += Duration::from_secs(30);
        client.session.handle_data_progress(retr, client.now);
        client.advance(Duration::ZERO);
    }
    assert!(client.is_pending(retr));
    assert_eq!(client.sent(), "");
    client.data_end(retr);
    assert_eq!(
        client.session.poll_timeout(),
        Some(client.now + Duration::from_secs(30))
    );
}

#[test]
fn control_closed_is_fatal_except_after_quit() {
    let mut client = Client::logged_in(Config::default());
    let noop = client.op(|s, now| s.noop(now));
    client.session.handle_control_closed(client.now);
    client.drain();
    assert_eq!(client.completed(noop), Err(Error::ControlClosed));

    let mut client = Client::logged_in(Config::default());
    let quit = client.op(|s, now| s.quit(now));
    client.session.handle_control_closed(client.now);
    client.drain();
    assert_eq!(client.completed(quit), Ok(Outcome::Closed { reply: None }));
    assert_eq!(client.session.error(), Some(&Error::Closed));
}

#[test]
fn queue_and_command_bounds() {
    let mut config = Config::default();
    config.max_queued_operations = 2;
    config.max_pending_output = 64;
    let mut client = Client::new(config);
    assert!(matches!(
        client.session.delete("x".repeat(100), client.now),
        Err(Error::CommandTooLong { .. })
    ));
    client.op(|s, now| s.noop(now));
    client.op(|s, now| s.noop(now));
    assert!(matches!(
        client.session.noop(client.now),
        Err(Error::QueueFull { limit: 2, .. })
    ));
}

// ----- Pipelining and simple operations -----

#[test]
fn single_commands_are_pipelined_and_matched_in_order() {
    let mut client = Client::logged_in(Config::default());
    let cwd = client.op(|s, now| s.change_directory("docs", now));
    let dele = client.op(|s, now| s.delete("old.txt", now));
    let size = client.op(|s, now| s.size("new.txt", now));
    let rename = client.op(|s, now| s.rename("a", "b", now));
    assert_eq!(
        client.sent(),
        "CWD docs\r\nDELE old.txt\r\nSIZE new.txt\r\n"
    );
    client.server("250 ok\r\n550 No such file\r\n213 42\r\n");
    assert!(matches!(client.completed(cwd), Ok(Outcome::Done(_))));
    assert!(matches!(
        client.completed(dele),
        Err(Error::Refused {
            operation: OperationKind::Delete,
            ..
        })
    ));
    assert_eq!(client.completed(size), Ok(Outcome::Size(42)));
    assert_eq!(
        client.sent(),
        "RNFR a\r\n",
        "rename waits for the pipeline to empty"
    );
    client.server("350 Ready for RNTO.\r\n250 Rename successful.\r\n");
    assert!(matches!(client.completed(rename), Ok(Outcome::Done(_))));
    assert_eq!(client.sent(), "RNTO b\r\n");
}

#[test]
fn pending_output_bounds_the_pipeline() {
    let mut config = Config::default();
    config.max_pending_output = 16;
    let mut client = Client::greeted(config);
    client.session.noop(client.now).unwrap();
    client.session.noop(client.now).unwrap();
    client.session.noop(client.now).unwrap();
    client.session.noop(client.now).unwrap();
    // Not drained: the session stops adding once the bound is reached.
    let Some(Output::Transmit(pending)) = client.session.poll_output() else {
        panic!("no bytes pending");
    };
    assert_eq!(pending, b"NOOP\r\nNOOP\r\nNOOP\r\n"[..]);
}

type Start = fn(&mut Session, Instant) -> Result<OperationId, Error>;
type Case = (Start, &'static str, &'static str, fn(&Outcome) -> bool);

#[test]
fn every_simple_operation_succeeds_and_fails() {
    let cases: &[Case] = &[
        (
            |s, n| s.host("ftp.example.com", n),
            "HOST ftp.example.com\r\n",
            "220 Host accepted\r\n",
            |o| matches!(o, Outcome::Done(_)),
        ),
        (
            |s, n| s.change_directory("a b", n),
            "CWD a b\r\n",
            "250 ok\r\n",
            |o| matches!(o, Outcome::Done(_)),
        ),
        (
            |s, n| s.change_to_parent(n),
            "CDUP\r\n",
            "250 ok\r\n",
            |o| matches!(o, Outcome::Done(_)),
        ),
        (
            |s, n| s.print_directory(n),
            "PWD\r\n",
            "257 \"/a \"\"q\"\"\" is current\r\n",
            |o| matches!(o, Outcome::Directory(p) if *p == *"/a \"q\""),
        ),
        (
            |s, n| s.set_type(RepresentationType::Image, n),
            "TYPE I\r\n",
            "200 ok\r\n",
            |o| matches!(o, Outcome::Done(_)),
        ),
        (
            |s, n| s.make_directory("new", n),
            "MKD new\r\n",
            "257 \"/new\" created\r\n",
            |o| matches!(o, Outcome::Directory(p) if p == "/new"),
        ),
        (
            |s, n| s.make_directory("new", n),
            "MKD new\r\n",
            "250 created\r\n",
            |o| matches!(o, Outcome::Done(_)),
        ),
        (
            |s, n| s.remove_directory("old", n),
            "RMD old\r\n",
            "250 ok\r\n",
            |o| matches!(o, Outcome::Done(_)),
        ),
        (
            |s, n| s.delete("f", n),
            "DELE f\r\n",
            "250 ok\r\n",
            |o| matches!(o, Outcome::Done(_)),
        ),
        (
            |s, n| s.size("f", n),
            "SIZE f\r\n",
            "213 7\r\n",
            |o| *o == Outcome::Size(7),
        ),
        (
            |s, n| s.modification_time("f", n),
            "MDTM f\r\n",
            "213 19700101000001\r\n",
            |o| *o == Outcome::ModificationTime(SystemTime::UNIX_EPOCH + Duration::from_secs(1)),
        ),
        (
            |s, n| s.set_modification_time("f", SystemTime::UNIX_EPOCH, n),
            "MFMT 19700101000000 f\r\n",
            "213 Modify=19700101000000; f\r\n",
            |o| matches!(o, Outcome::Done(_)),
        ),
        (
            |s, n| s.site("CHMOD 644 f", n),
            "SITE CHMOD 644 f\r\n",
            "200 ok\r\n",
            |o| matches!(o, Outcome::Done(_)),
        ),
        (
            |s, n| s.noop(n),
            "NOOP\r\n",
            "200 ok\r\n",
            |o| matches!(o, Outcome::Done(_)),
        ),
        (
            |s, n| s.status(Some("f".into()), n),
            "STAT f\r\n",
            "213-Status\r\n-rw-r--r-- 1 f\r\n213 End\r\n",
            |o| matches!(o, Outcome::Done(r) if r.lines().count() == 3),
        ),
        (
            |s, n| s.raw(ftp_proto::Command::Syst, n),
            "SYST\r\n",
            "215 UNIX Type: L8\r\n",
            |o| matches!(o, Outcome::Done(_)),
        ),
        (
            |s, n| s.rename("a", "b", n),
            "RNFR a\r\n",
            "350 ok\r\n250 ok\r\n",
            |o| matches!(o, Outcome::Done(_)),
        ),
    ];
    for (start, wire, success, check) in cases {
        let mut client = Client::logged_in(Config::default());
        let id = client.op(start);
        assert_eq!(client.sent(), *wire);
        client.server(success);
        let output = client
            .completed(id)
            .unwrap_or_else(|e| panic!("{wire}: {e}"));
        assert!(check(&output), "{wire}: {output:?}");

        let mut client = Client::logged_in(Config::default());
        let id = client.op(start);
        client.server("550 Permission denied.\r\n");
        let result = client.completed(id);
        assert_eq!(code(&result), Some(550), "{wire}: {result:?}");
        assert!(matches!(result, Err(Error::Refused { .. })));
    }
}

#[test]
fn payloads_the_operation_cannot_read() {
    let mut client = Client::logged_in(Config::default());
    let pwd = client.op(|s, now| s.print_directory(now));
    client.server("257 no quotes here\r\n");
    assert!(matches!(
        client.completed(pwd),
        Err(Error::UnexpectedReply { .. })
    ));
    let size = client.op(|s, now| s.size("f", now));
    client.server("213 lots\r\n");
    assert!(matches!(
        client.completed(size),
        Err(Error::UnexpectedReply { .. })
    ));
    let features = client.op(|s, now| s.features(now));
    client.server("502 FEAT not implemented\r\n");
    assert!(matches!(
        client.completed(features),
        Err(Error::Refused { .. })
    ));
    assert!(client.session.server_features().is_none());
}

// ----- Issue 16: state the session tracks, features, deadlines, blame -----

/// `raw` must not change state the session tracks: a raw `TYPE A` left the session
/// believing `TYPE I` was in force, and the next binary download went out as text.
#[test]
fn raw_refuses_commands_that_change_tracked_state() {
    use ftp_proto::{Command, FormatControl, ProtectionLevel};
    let mut client = Client::logged_in(Config::default());
    let refused: Vec<Command<'static>> = vec![
        Command::Type(RepresentationType::Ascii(FormatControl::NonPrint)),
        Command::Pasv,
        Command::Rest(5),
        Command::Retr("f".into()),
        Command::Stor("f".into()),
        Command::List(None),
        Command::Prot(ProtectionLevel::Private),
        Command::Rein,
        Command::User("someone".into()),
    ];
    for command in refused {
        let verb = command.verb();
        let result = client.session.raw(command, client.now);
        assert!(
            matches!(&result, Err(Error::RawRefused { verb: refused, .. }) if Some(*refused) == verb),
            "raw {verb:?}: {result:?}"
        );
        if verb == Some(ftp_proto::Verb::Type) {
            let message = result.unwrap_err().to_string();
            assert!(message.contains("set_type"), "{message}");
        }
        client.drain();
        assert_eq!(client.sent(), "", "raw {verb:?} sent something");
    }
    // Control-only commands still go.
    let syst = client.op(|s, now| s.raw(Command::Syst, now));
    assert_eq!(client.sent(), "SYST\r\n");
    client.server("215 UNIX Type: L8\r\n");
    assert!(client.completed(syst).is_ok());
}

/// Old servers implement SIZE, MDTM and REST without listing them in FEAT: after a
/// FEAT answer without them, they are still sent (the result no longer depends on
/// whether a listing ran FEAT first).
#[test]
fn size_mdtm_and_rest_are_sent_even_when_feat_omits_them() {
    let mut client = Client::logged_in(Config::default());
    let features = client.op(|s, now| s.features(now));
    client.server("211-Features:\r\n UTF8x\r\n211 End\r\n");
    assert!(client.completed(features).is_ok());
    client.sent();
    let size = client.op(|s, now| s.size("f", now));
    assert_eq!(client.sent(), "SIZE f\r\n");
    client.server("213 42\r\n");
    assert!(matches!(client.completed(size), Ok(Outcome::Size(42))));
    let mdtm = client.op(|s, now| s.modification_time("f", now));
    assert_eq!(client.sent(), "MDTM f\r\n");
    client.server("213 20240102030405\r\n");
    assert!(client.completed(mdtm).is_ok());
    let retr = client.op(|s, now| s.retrieve_from("f", 7, now));
    client.server("200 ok\r\n229 ok (|||5000|)\r\n");
    client.data_connected(retr);
    assert_eq!(client.sent(), "TYPE I\r\nEPSV\r\nREST 7\r\n");
    client.server("350 Restarting at 7\r\n");
    assert_eq!(client.sent(), "RETR f\r\n");
}

/// A 500 or 502 to SIZE, MDTM or REST is a typed "not supported", not a bare refusal.
#[test]
fn not_implemented_answers_are_typed_not_supported() {
    let mut client = Client::logged_in(Config::default());
    let size = client.op(|s, now| s.size("f", now));
    client.server("502 Command not implemented.\r\n");
    assert!(
        matches!(
            client.completed(size),
            Err(Error::NotSupported {
                operation: OperationKind::Size,
                ..
            })
        ),
        "SIZE 502"
    );
    let mdtm = client.op(|s, now| s.modification_time("f", now));
    client.server("500 Unknown command.\r\n");
    assert!(matches!(
        client.completed(mdtm),
        Err(Error::NotSupported { .. })
    ));
    let retr = client.op(|s, now| s.retrieve_from("f", 7, now));
    client.server("200 ok\r\n229 ok (|||5000|)\r\n");
    client.data_connected(retr);
    client.actions();
    client.server("502 REST not implemented\r\n");
    assert!(matches!(
        client.completed(retr),
        Err(Error::NotSupported { .. })
    ));
    assert_eq!(client.actions(), vec![Action::CloseData { id: retr }]);
    // A 550 stays a refusal: the server knows SIZE, the file is the problem.
    let size = client.op(|s, now| s.size("missing", now));
    client.server("550 No such file.\r\n");
    assert!(matches!(client.completed(size), Err(Error::Refused { .. })));
}

/// Past its listing bound the client stops reading; the server's final reply must then
/// have a deadline again, or a silent server leaves the listing waiting for ever.
#[test]
fn listing_bound_restarts_the_reply_deadline() {
    let mut config = Config::default();
    config.max_listing_size = 8;
    config.reply_timeout = Duration::from_secs(2);
    let mut client = Client::logged_in(config);
    let list = client.op(|s, now| s.list(None, now));
    client.server("200 ok\r\n229 ok (|||5000|)\r\n");
    client.data_connected(list);
    assert_eq!(client.sent(), "TYPE A\r\nEPSV\r\nLIST\r\n");
    client.server("150 go\r\n");
    client.data_input(list, b"123456789");
    assert_eq!(
        client.session.poll_timeout(),
        Some(client.now + Duration::from_secs(2)),
        "no deadline after the listing bound fired"
    );
    client.advance(Duration::from_secs(2));
    assert!(matches!(
        client.completed(list),
        Err(Error::Timeout {
            waiting_for: Waiting::Reply,
            ..
        })
    ));
}

/// The 426 that follows the client closing an over-long listing is the consequence of
/// the client's own bound: the error says so, not "the server aborted".
#[test]
fn listing_bound_is_blamed_on_the_client_not_the_server() {
    let mut config = Config::default();
    config.max_listing_size = 8;
    let mut client = Client::logged_in(config);
    let list = client.op(|s, now| s.list(None, now));
    client.server("200 ok\r\n229 ok (|||5000|)\r\n");
    client.data_connected(list);
    assert_eq!(client.sent(), "TYPE A\r\nEPSV\r\nLIST\r\n");
    client.server("150 go\r\n");
    client.data_input(list, b"123456789");
    client.server("426 Failure writing network stream.\r\n");
    let result = client.completed(list);
    assert!(
        matches!(result, Err(Error::ListingTooLarge { limit: 8, .. })),
        "{result:?}"
    );
    // The message names the client's own limit.
    let message = result.unwrap_err().to_string();
    assert!(message.contains("client"), "{message}");
}

// ----- Decisions the session owns for every adapter -----

#[test]
fn a_stalled_download_is_aborted_by_the_session() {
    let mut client = Client::logged_in(Config::default());
    let retr = running_download(&mut client);
    client.session.handle_data_progress(retr, client.now);
    client.advance(Duration::from_secs(59));
    assert_eq!(client.sent(), "", "not stalled yet");
    client.advance(Duration::from_secs(1));
    // ABOR first, then the data connection closes (RFC 959's order).
    assert_eq!(client.sent(), "ABOR\r\n");
    assert_eq!(client.actions(), vec![Action::CloseData { id: retr }]);
    client.server("426 aborted\r\n226 ok\r\n");
    assert!(matches!(
        client.completed(retr),
        Err(Error::Timeout {
            operation: OperationKind::Retrieve,
            waiting_for: Waiting::Data
        })
    ));
    let noop = client.op(|s, now| s.noop(now));
    client.server("200 ok\r\n");
    assert!(client.completed(noop).is_ok());
}

#[test]
fn an_upload_may_write_only_when_open_and_accepted() {
    let mut client = Client::logged_in(Config::default());
    let stor = client.op(|s, now| s.store("f", now));
    client.server("200 ok\r\n229 ok (|||5000|)\r\n");
    client.actions();
    client.data_connected(stor);
    assert_eq!(client.actions(), vec![], "no SendData before the 150");
    client.server("150 go\r\n");
    assert_eq!(client.actions(), vec![Action::SendData { id: stor }]);
    client.data_end(stor);
    client.server("226 ok\r\n");
    assert!(client.completed(stor).is_ok());

    // With TLS, the handshake must also be done; the 150 may come first.
    let mut config = Config::default();
    config.implicit_tls = true;
    let mut client = Client::new(config);
    client.server("220 ready\r\n");
    let login = client.op(|s, now| s.login("u", "p", now));
    client.server("331 p\r\n230 ok\r\n200 pbsz\r\n200 prot\r\n");
    assert!(client.completed(login).is_ok());
    let stor = client.op(|s, now| s.store("f", now));
    client.server("200 ok\r\n229 ok (|||5000|)\r\n");
    client.data_connected(stor);
    client.server("150 go\r\n");
    assert!(
        client
            .actions()
            .iter()
            .all(|a| !matches!(a, Action::SendData { .. }))
    );
    client.session.handle_data_tls_established(stor, client.now);
    client.drain();
    assert_eq!(client.actions(), vec![Action::SendData { id: stor }]);
}

#[test]
fn a_data_tls_handshake_that_hangs_fails_the_transfer() {
    let mut config = Config::default();
    config.implicit_tls = true;
    config.data_tls_timeout = Duration::from_secs(5);
    let mut client = Client::new(config);
    client.server("220 ready\r\n");
    client.op(|s, now| s.login("u", "p", now));
    client.server("331 p\r\n230 ok\r\n200 pbsz\r\n200 prot\r\n");
    let retr = client.op(|s, now| s.retrieve("f", now));
    client.server("200 ok\r\n229 ok (|||5000|)\r\n");
    client.data_connected(retr);
    assert!(
        client
            .actions()
            .contains(&Action::StartDataTls { id: retr })
    );
    client.advance(Duration::from_secs(5));
    assert!(client.actions().contains(&Action::CloseData { id: retr }));
    client.server("150 go\r\n426 no data\r\n");
    assert!(matches!(
        client.completed(retr),
        Err(Error::Timeout {
            waiting_for: Waiting::DataTls,
            ..
        })
    ));
}

#[test]
fn active_mode_accepts_only_the_server() {
    let mut config = Config::default();
    config.data_connection_mode = DataConnectionMode::Active;
    let mut client = Client::logged_in(config);
    let retr = client.op(|s, now| s.retrieve("f", now));
    client.server("200 ok\r\n");
    client.actions();
    client
        .session
        .handle_data_listening(retr, "192.0.2.100:50001".parse().unwrap(), client.now);
    client.drain();
    client.server("200 PORT ok\r\n150 go\r\n");
    let stranger: SocketAddr = "198.51.100.9:4000".parse().unwrap();
    client
        .session
        .handle_data_accepted(retr, stranger, client.now);
    client.drain();
    assert_eq!(
        client.actions(),
        vec![Action::RefuseDataPeer {
            id: retr,
            from: stranger
        }]
    );
    // The server itself, even as an IPv4-mapped IPv6 address.
    client
        .session
        .handle_data_accepted(retr, "[::ffff:192.0.2.7]:20".parse().unwrap(), client.now);
    client.drain();
    assert_eq!(client.actions(), vec![]);
    client.data_end(retr);
    client.server("226 ok\r\n");
    assert!(client.completed(retr).is_ok());
}

#[test]
fn a_protected_end_without_close_notify_completes_once_the_server_confirms() {
    let mut client = Client::logged_in(Config::default());
    let retr = running_download(&mut client);
    client
        .session
        .handle_data_end_without_close_notify(retr, client.now);
    client.drain();
    assert!(client.is_pending(retr), "the final reply decides");
    client.server("226 ok\r\n");
    assert!(client.completed(retr).is_ok());

    // A server that says the transfer broke is believed.
    let mut client = Client::logged_in(Config::default());
    let retr = running_download(&mut client);
    client
        .session
        .handle_data_end_without_close_notify(retr, client.now);
    client.server("426 connection closed\r\n");
    assert!(matches!(
        client.completed(retr),
        Err(Error::TransferAborted { .. })
    ));
}

#[test]
fn list_entries_picks_mlsd_from_feat_and_parses() {
    let mut client = Client::logged_in(Config::default());
    let list = client.op(|s, now| s.list_entries(None, SystemTime::UNIX_EPOCH, now));
    assert_eq!(client.sent(), "FEAT\r\n");
    client.server("211-Features:\r\n MLST type*;size*;\r\n EPSV\r\n211 End\r\n");
    client.server("200 ok\r\n229 ok (|||5000|)\r\n");
    client.data_connected(list);
    client.data_input(
        list,
        b"type=cdir; .\r\ntype=pdir; ..\r\ntype=file;size=5; a.txt\r\n",
    );
    client.data_end(list);
    client.server("150 go\r\n226 ok\r\n");
    assert_eq!(client.sent(), "TYPE A\r\nEPSV\r\nMLSD\r\n");
    let Ok(Outcome::Entries(entries)) = client.completed(list) else {
        panic!("no entries");
    };
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].name, "a.txt");
    assert_eq!(entries[0].size, Some(5));

    // With features known, no second FEAT.
    let list = client.op(|s, now| s.list_entries(None, SystemTime::UNIX_EPOCH, now));
    client.server("229 ok (|||5001|)\r\n");
    assert_eq!(client.sent(), "EPSV\r\n");
    assert!(client.is_pending(list));
}

#[test]
fn list_entries_falls_back_to_list_without_feat() {
    let mut client = Client::logged_in(Config::default());
    let list = client.op(|s, now| s.list_entries("/pub", SystemTime::UNIX_EPOCH, now));
    client.server("500 FEAT not understood\r\n");
    client.server("200 ok\r\n229 ok (|||5000|)\r\n");
    client.data_connected(list);
    client.data_input(
        list,
        b"drwxr-xr-x 2 0 0 4096 Jan 01 2024 .\r\n-rw-r--r-- 1 0 0 5 Jan 01 2024 b.txt\r\n",
    );
    client.data_end(list);
    client.server("150 go\r\n226 ok\r\n");
    assert_eq!(client.sent(), "FEAT\r\nTYPE A\r\nEPSV\r\nLIST /pub\r\n");
    let Ok(Outcome::Entries(entries)) = client.completed(list) else {
        panic!("no entries");
    };
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].name, "b.txt");
}

#[test]
fn raw_transfer_runs_any_verb_on_a_data_connection() {
    let mut client = Client::logged_in(Config::default());
    let site = client.op(|s, now| {
        s.raw_transfer(
            ftp_proto::parse_command(b"SITE LSLIST /x")
                .unwrap()
                .into_owned(),
            TransferKind::Listing,
            now,
        )
    });
    client.server("200 ok\r\n229 ok (|||5000|)\r\n");
    assert!(matches!(
        client.actions().as_slice(),
        [Action::ConnectData {
            kind: TransferKind::Listing,
            ..
        }]
    ));
    client.data_connected(site);
    client.data_input(site, b"x\r\n");
    client.data_end(site);
    client.server("150 go\r\n226 ok\r\n");
    assert_eq!(client.sent(), "TYPE A\r\nEPSV\r\nSITE LSLIST /x\r\n");
    assert_eq!(
        client.completed(site),
        Ok(Outcome::Listing(b"x\r\n".to_vec()))
    );

    // Commands that would change tracked state are still refused.
    let refused = client.session.raw_transfer(
        ftp_proto::parse_command(b"TYPE A").unwrap().into_owned(),
        TransferKind::Download,
        client.now,
    );
    assert!(matches!(refused, Err(Error::RawRefused { .. })));
}

#[test]
fn outputs_keep_the_order_they_happened_in() {
    let mut client = Client::greeted(Config::default());
    client.session.login("u", "p", client.now).unwrap();
    client
        .session
        .handle_control_input(b"331 p\r\n230 ok\r\n", client.now);
    let mut kinds = Vec::new();
    while let Some(output) = client.session.poll_output() {
        kinds.push(match output {
            Output::Transmit(bytes) => String::from_utf8(bytes.to_vec()).unwrap(),
            Output::Action(action) => format!("{action:?}"),
            Output::Event(Event::Completed { .. }) => "completed".into(),
            Output::Event(other) => format!("{other:?}"),
        });
    }
    assert_eq!(kinds, ["USER u\r\nPASS p\r\n", "completed"]);
}
