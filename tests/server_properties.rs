//! Properties of `server::Session` under random command sequences, random chunking and
//! random data-event orders: one final reply per command, in order; no file-system
//! request before login; every path inside the root; no panic.

mod common;

use std::time::Duration;

use common::{DataMode, ServerDriver};
use ftp_proto::server::{Action, Config, DataEvent, DataFailure, Request, RequestId, Response};
use proptest::prelude::*;

/// Command lines a client might send, good and bad.
fn line() -> impl Strategy<Value = String> {
    let fixed = prop::sample::select(vec![
        "NOOP",
        "PWD",
        "CDUP",
        "SYST",
        "FEAT",
        "HELP",
        "STAT",
        "TYPE I",
        "TYPE A",
        "TYPE E",
        "MODE S",
        "MODE B",
        "STRU F",
        "PASV",
        "EPSV",
        "EPSV 2",
        "EPSV ALL",
        "ABOR",
        "LIST",
        "NLST",
        "MLSD",
        "MLST",
        "ALLO 5",
        "REST 3",
        "REST x",
        "OPTS UTF8 ON",
        "OPTS MLST size;",
        "USER anonymous",
        "USER alice",
        "PASS secret",
        "PASS wrong",
        "PASS guest",
        "ACCT a",
        "PORT 127,0,0,1,200,10",
        "PORT 127,0,0,2,200,10",
        "EPRT |1|127.0.0.1|6000|",
        "PBSZ 0",
        "PROT P",
        "CCC",
        "SITE X",
        "XYZZY",
        "",
        " ",
        "RETR",
        "CLNT x",
        "MFMT 1 x",
        "HOST ftp.example.com",
    ])
    .prop_map(str::to_owned);
    let with_path = (
        prop::sample::select(vec![
            "CWD", "XCWD", "RETR", "STOR", "APPE", "STOU", "DELE", "MKD", "XMKD", "RMD", "SIZE",
            "MDTM", "MLST", "LIST", "RNFR", "RNTO", "STAT",
        ]),
        prop::sample::select(vec![
            "/",
            "/pub",
            "pub",
            "..",
            "../..",
            "/../../etc/passwd",
            "readme",
            "/readme",
            "/pub/hello.txt",
            "new",
            "a b",
            "./x/../y",
            "//pub//",
            "missing",
        ]),
    )
        .prop_map(|(verb, path)| format!("{verb} {path}"));
    prop_oneof![3 => fixed, 2 => with_path]
}

fn chunked(input: &[u8], sizes: &[usize]) -> Vec<Vec<u8>> {
    let mut chunks = Vec::new();
    let mut offset = 0;
    let mut sizes = sizes.iter().cycle();
    while offset < input.len() {
        let size = (*sizes.next().unwrap()).clamp(1, input.len() - offset);
        chunks.push(input[offset..offset + size].to_vec());
        offset += size;
    }
    chunks
}

/// Checks every request made so far: nothing but login before login, paths confined.
fn check_requests(driver: &ServerDriver, logged_in_at: Option<usize>) -> Result<(), TestCaseError> {
    for (index, request) in driver.requests.iter().enumerate() {
        let before_login = logged_in_at.is_none_or(|at| index < at);
        if before_login {
            prop_assert!(
                matches!(
                    request,
                    Request::Authenticate { .. } | Request::SelectHost { .. }
                ),
                "{request:?} before login"
            );
        }
        let paths = match request {
            Request::Metadata { path }
            | Request::ListEntries { path, .. }
            | Request::OpenListing { path, .. }
            | Request::OpenRead { path, .. }
            | Request::OpenWrite { path, .. }
            | Request::Delete { path }
            | Request::MakeDirectory { path }
            | Request::RemoveDirectory { path }
            | Request::SetModified { path, .. } => vec![path],
            Request::Rename { from, to } => vec![from, to],
            _ => vec![],
        };
        for path in paths {
            prop_assert!(path.as_bytes().starts_with(b"/"));
            prop_assert!(!path.components().any(|part| part == b".." || part == b"."));
        }
    }
    Ok(())
}

/// The index of the first request made after the login succeeded, if it did.
fn login_index(driver: &ServerDriver) -> Option<usize> {
    let login = driver.requests.iter().position(|request| {
        matches!(request, Request::Authenticate { user, password }
            if (user == "alice" && password.0 == "secret") || user == "anonymous")
    })?;
    Some(login + 1)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn one_final_reply_per_command_in_order(
        lines in prop::collection::vec(line(), 1..40),
        sizes in prop::collection::vec(1usize..20, 1..5),
    ) {
        // SITE goes to the application, as other requests that may be held do.
        let mut config = Config::default();
        config.enable_site = true;
        let mut driver = ServerDriver::new(config, ServerDriver::default_fs());
        driver.take_replies();
        let lines: Vec<String> = lines.into_iter().filter(|line| !line.starts_with("QUIT")).collect();
        let input: String = lines.iter().map(|line| format!("{line}\r\n")).collect();
        let mut replies = Vec::new();
        for chunk in chunked(input.as_bytes(), &sizes) {
            driver.send_bytes(&chunk);
            replies.extend(driver.take_replies());
        }
        // Failed logins are answered after a delay: let the clock run to each deadline.
        let mut rounds = 0;
        while !driver.session.is_closed() && rounds < 100 {
            let finals = replies.iter().filter(|r| r.code().is_final()).count();
            if finals >= lines.len() {
                break;
            }
            let Some(deadline) = driver.session.poll_timeout() else { break };
            let step = deadline.saturating_duration_since(driver.now);
            driver.advance(step.max(Duration::from_millis(1)));
            replies.extend(driver.take_replies());
            rounds += 1;
        }
        let finals = replies.iter().filter(|r| r.code().is_final()).count();
        if driver.session.is_closed() {
            // Locked out after failed logins: the last reply is the 421.
            prop_assert_eq!(replies.last().map(|r| r.code().as_u16()), Some(421));
            prop_assert!(finals <= lines.len() + 1);
        } else {
            prop_assert_eq!(finals, lines.len(), "{:?}", replies);
        }
        // Preliminary replies only ever come right before a final one for a transfer.
        for pair in replies.windows(2) {
            if pair[0].code().is_positive_preliminary() {
                prop_assert!(pair[1].code().is_final());
            }
        }
        check_requests(&driver, login_index(&driver))?;
    }

    #[test]
    fn random_events_in_random_order_never_break_the_session(
        steps in prop::collection::vec(
            prop_oneof![
                4 => line().prop_map(Step::Line),
                1 => (0u8..12, 0u64..4, 0u64..100).prop_map(|(kind, id, bytes)| Step::Data(kind, id, bytes)),
                1 => (0u64..400).prop_map(Step::Wait),
                1 => prop::collection::vec(any::<u8>(), 0..40).prop_map(Step::Garbage),
                1 => Just(Step::AnswerHeld),
            ],
            1..60,
        ),
        hold in any::<bool>(),
    ) {
        // SITE goes to the application, as other requests that may be held do.
        let mut config = Config::default();
        config.enable_site = true;
        let mut driver = ServerDriver::new(config, ServerDriver::default_fs());
        driver.data_mode = DataMode::Manual;
        driver.hold_requests = hold;
        // Every request id the session handed out, answered or not: data events pick
        // among them (the current transfer's, stale ones), since ids cannot be made up.
        let mut ids: Vec<RequestId> = Vec::new();
        for step in steps {
            match step {
                Step::Line(line) => driver.send(&format!("{line}\r\n")),
                Step::Garbage(bytes) => driver.send_bytes(&bytes),
                Step::Wait(seconds) => driver.advance(Duration::from_secs(seconds)),
                Step::AnswerHeld => {
                    if let Some((id, request)) = driver.held.pop_front() {
                        ids.push(id);
                        let response = driver.fs.answer(&request);
                        driver.respond(id, response);
                    }
                }
                Step::Data(kind, pick, bytes) => {
                    ids.extend(driver.transfer_id());
                    let id = match pick {
                        0 => driver.transfer_id(),
                        _ => ids.get(pick as usize % ids.len().max(1)).copied(),
                    };
                    let peer = if bytes % 7 == 0 { "127.0.0.2:1" } else { common::CLIENT };
                    let channel = driver.channel;
                    let event = match (kind, id, channel) {
                        (0, _, Some(channel)) => DataEvent::Listening {
                            channel,
                            address: "127.0.0.1:50000".parse().unwrap(),
                        },
                        (1, _, Some(channel)) => DataEvent::ListenFailed { channel },
                        (2, _, Some(channel)) => {
                            DataEvent::Accepted { channel, peer: peer.parse().unwrap() }
                        }
                        (3, Some(id), _) => DataEvent::Progress { id, bytes },
                        (4, Some(id), _) => DataEvent::Finished { id, bytes },
                        (5, Some(id), _) => {
                            DataEvent::Failed { id, reason: DataFailure::ConnectionLost }
                        }
                        (6, Some(id), _) => DataEvent::Connected { id },
                        (7, Some(id), _) => DataEvent::ConnectFailed { id },
                        (8, Some(id), _) => DataEvent::TlsEstablished { id, resumed: bytes % 2 == 0 },
                        (9, Some(id), _) => DataEvent::TlsFailed { id },
                        (10, _, _) => {
                            if bytes % 2 == 0 {
                                driver.session.handle_control_tls_established(driver.now);
                            } else {
                                driver.session.handle_control_tls_failed(driver.now);
                            }
                            driver.drain();
                            continue;
                        }
                        (11, _, _) => {
                            driver.session.handle_send_blocked(driver.now);
                            continue;
                        }
                        _ => continue,
                    };
                    driver.data_event(event);
                }
            }
            // Every reply the session wrote parsed (the driver panics otherwise), and a
            // closed session says nothing more.
            if driver.session.is_closed() {
                prop_assert_eq!(driver.session.poll_timeout(), None);
            }
        }
        check_requests(&driver, login_index(&driver))?;
        // Whatever happened, a late answer to a stale id is harmless.
        if let Some(&stale) = ids.first() {
            driver.respond(stale, Response::Done);
        }
        let closes = driver.actions.iter().filter(|action| matches!(action, Action::Close)).count();
        prop_assert!(closes <= 1, "Close emitted {closes} times");
    }
}

#[derive(Debug, Clone)]
enum Step {
    Line(String),
    Data(u8, u64, u64),
    Wait(u64),
    Garbage(Vec<u8>),
    AnswerHeld,
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[cfg(feature = "fuzzing")]
    /// The fuzz harness, run on random inputs as part of the test suite.
    #[test]
    fn fuzz_harness_holds_on_random_input(data in prop::collection::vec(any::<u8>(), 0..400)) {
        ftp_proto::server::fuzz_server(&data);
    }

    #[cfg(feature = "fuzzing")]
    /// The same, with inputs shaped like command lines so that sessions get further.
    #[test]
    fn fuzz_harness_holds_on_command_shaped_input(
        flags in any::<u8>(),
        steps in prop::collection::vec((0u8..10, any::<u8>(), line()), 0..40),
    ) {
        let mut data = vec![flags];
        for (opcode, argument, line) in steps {
            let line = format!("{line}\r\n");
            let bytes = line.as_bytes();
            if opcode < 4 {
                data.push(opcode);
                data.push(bytes.len().min(255) as u8);
                data.extend_from_slice(&bytes[..bytes.len().min(255)]);
            } else {
                data.push(opcode);
                data.push(argument);
            }
        }
        ftp_proto::server::fuzz_server(&data);
    }
}
