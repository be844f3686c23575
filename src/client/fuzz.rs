//! A harness for fuzz targets: drives a client session with arbitrary server bytes,
//! data connection events, timeouts and operations, and checks the invariants that
//! must hold whatever the server does. Kept in the library so that the `fuzz/` crate's
//! target is one line and property tests can run the same code.

use std::collections::HashSet;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::{
    Action, Config, DataConnectionMode, Event, OperationId, Output, Session, TransferKind,
};
use crate::text::Pathname;

/// Runs one fuzz case. Panics when an invariant breaks: a panic inside the session, a
/// command line holding a stray CR, LF or NUL, pending output past its bound, an
/// operation completed twice or never issued, an error that does not stick, or a
/// deadline left in the past after `handle_timeout`.
pub fn fuzz_client(data: &[u8]) {
    let Some((&flags, mut input)) = data.split_first() else {
        return;
    };
    let small = flags & 16 != 0;
    let defaults = Config::default();
    let config = Config {
        tls: flags & 1 != 0,
        implicit_tls: flags & 64 != 0,
        data_connection_mode: if flags & 2 != 0 {
            DataConnectionMode::Active
        } else {
            DataConnectionMode::Passive
        },
        trust_passive_address: flags & 4 != 0,
        prefer_extended_passive: flags & 8 == 0,
        max_reply_line_length: if small {
            64
        } else {
            defaults.max_reply_line_length
        },
        max_reply_lines: if small { 8 } else { defaults.max_reply_lines },
        max_pending_output: if small {
            256
        } else {
            defaults.max_pending_output
        },
        max_listing_size: if small { 64 } else { defaults.max_listing_size },
        max_queued_operations: if small {
            8
        } else {
            defaults.max_queued_operations
        },
        ..defaults
    };
    let peer: SocketAddr = if flags & 32 != 0 {
        "[2001:db8::7]:21"
            .parse()
            .unwrap_or_else(|_| unreachable!())
    } else {
        "192.0.2.7:21".parse().unwrap_or_else(|_| unreachable!())
    };
    let max_output = config.max_pending_output * 2 + 64;
    let mut now = Instant::now();
    let mut session = Session::new(config, peer, now);
    let mut issued: HashSet<OperationId> = HashSet::from([OperationId::GREETING]);
    let mut completed: HashSet<OperationId> = HashSet::new();
    let mut data_ids: Vec<OperationId> = Vec::new();

    let mut take = |count: usize| -> &[u8] {
        let (head, tail) = input.split_at(count.min(input.len()));
        input = tail;
        head
    };
    while let Some(&opcode) = take(1).first() {
        let argument = take(1).first().copied().unwrap_or(0);
        let last_data = data_ids.last().copied().unwrap_or(OperationId::GREETING);
        match opcode % 12 {
            0..=3 => {
                let bytes = take(usize::from(argument));
                session.handle_control_input(bytes, now);
            }
            4 => {
                let name = Pathname::from(take(usize::from(argument % 16)));
                let result = match argument % 15 {
                    0 => session.login("user", "pass", now),
                    1 => session.features(now),
                    2 => session.retrieve(name, now),
                    3 => session.store(name, now),
                    4 => session.list(Some(name), now),
                    5 => session.machine_list(None, now),
                    6 => session.retrieve_from(name, 10, now),
                    7 => session.noop(now),
                    8 => session.change_directory(name, now),
                    9 => session.rename(name.clone(), name, now),
                    10 => session.size(name, now),
                    11 => session.print_directory(now),
                    12 => session.list_entries(Some(name), std::time::UNIX_EPOCH, now),
                    13 => session.raw_transfer(
                        crate::Command::Site(crate::text::Text::from(b"LS".to_vec())),
                        TransferKind::Listing,
                        now,
                    ),
                    _ => session.quit(now),
                };
                if let Ok(id) = result {
                    assert!(issued.insert(id), "operation id {id} reused");
                } else if let Some(sticky) = session.error() {
                    assert_eq!(
                        result.as_ref().err(),
                        Some(sticky),
                        "fatal error not sticky"
                    );
                }
            }
            5 => match argument % 10 {
                0 => session.handle_data_connected(last_data, now),
                1 => session.handle_data_listening(
                    last_data,
                    SocketAddr::from(([192, 0, 2, 100], u16::from(argument) * 200)),
                    now,
                ),
                2 => session.handle_data_tls_established(last_data, now),
                3 => session.handle_data_input(last_data, take(usize::from(argument)), now),
                4 => session.handle_data_end(last_data, now),
                5 => session.handle_data_failed(last_data, io::ErrorKind::ConnectionReset, now),
                6 => session.handle_data_accepted(
                    last_data,
                    SocketAddr::from(([192, 0, 2, argument], 20)),
                    now,
                ),
                7 => session.handle_data_progress(last_data, now),
                8 => session.handle_data_end_without_close_notify(last_data, now),
                _ => session.handle_data_connected(OperationId(u64::from(argument)), now),
            },
            6 => session.handle_control_tls_established(now),
            7 | 8 => {
                now += Duration::from_millis(u64::from(argument) * 250);
                session.handle_timeout(now);
                if let Some(deadline) = session.poll_timeout() {
                    assert!(deadline > now, "a deadline survived handle_timeout");
                }
            }
            9 => session.abort(last_data, now),
            10 => session.handle_control_closed(now),
            _ => {
                if let Some(next) = session.poll_timeout() {
                    now = now.max(next);
                    session.handle_timeout(now);
                }
            }
        }
        // Drain and check every output.
        while let Some(output) = session.poll_output() {
            match output {
                Output::Transmit(bytes) => {
                    assert!(bytes.len() <= max_output, "pending output unbounded");
                    check_command_lines(&bytes);
                }
                Output::Action(Action::ConnectData { id, address, .. }) => {
                    assert_ne!(address.port(), 0, "asked to connect to port 0");
                    data_ids.push(id);
                }
                Output::Action(Action::ListenForData { id, .. }) => data_ids.push(id),
                Output::Action(_) => {}
                Output::Event(Event::Completed { id, .. }) => {
                    assert!(issued.contains(&id), "completion for unknown {id}");
                    assert!(completed.insert(id), "{id} completed twice");
                }
                Output::Event(_) => {}
            }
        }
    }
}

/// Every line the client sends ends with CRLF and holds no other CR, LF or NUL.
fn check_command_lines(bytes: &[u8]) {
    assert!(bytes.ends_with(b"\r\n"), "output ends mid-line");
    for line in bytes[..bytes.len() - 2].split(|&byte| byte == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        assert!(
            !line.iter().any(|&byte| matches!(byte, b'\r' | b'\n' | 0)),
            "injected line break in {:?}",
            line.escape_ascii().to_string()
        );
    }
}
