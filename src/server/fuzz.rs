//! A harness for fuzz targets: drives a server session with arbitrary client bytes,
//! application answers, data-connection events and the passing of time, and checks the
//! invariants that must hold whatever the client does. Kept in the library so that the
//! `fuzz/` target is one line and tests can run the same code.

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use super::{
    Action, ChannelId, Config, DataEvent, DataFailure, Metadata, MoreEntries, Output, Request,
    RequestId, Response, Session, StorageError, VirtualPath,
};
use crate::parse::ReplyParser;
use crate::reply::Reply;

/// Runs one fuzz case. Panics when an invariant breaks: a panic inside the session, a
/// reply that does not parse, a file-system request before a successful login, a
/// request path with `.`/`..` or outside `/`, output past its bound, events after
/// `Close`, or a deadline left in the past after `handle_timeout`.
pub fn fuzz_server(data: &[u8]) {
    let Some((&flags, mut input)) = data.split_first() else {
        return;
    };
    let mut config = Config {
        enable_tls: flags & 1 != 0,
        require_tls_for_login: flags & 2 != 0,
        require_tls_for_data: flags & 4 != 0,
        allow_foreign_active_address: flags & 8 != 0,
        enable_site: flags & 64 != 0,
        accept_upload_without_close_notify: flags & 128 == 0,
        ..Config::default()
    };
    if flags & 16 != 0 {
        config.max_line_length = 32;
        config.max_pending_input = 256;
        config.max_pending_output = 512;
    }
    let output_bound = config.max_pending_output + 64 * 1024;
    let peer: SocketAddr = if flags & 32 != 0 {
        SocketAddr::from(([0x2001, 0xdb8, 0, 0, 0, 0, 0, 7], 40000))
    } else {
        SocketAddr::from(([192, 0, 2, 7], 40000))
    };
    let local: SocketAddr = if flags & 32 != 0 {
        SocketAddr::from(([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1], 21))
    } else {
        SocketAddr::from(([192, 0, 2, 1], 21))
    };
    let mut now = Instant::now();
    let mut session = Session::new(config, peer, local, now);
    let mut replies = ReplyParser::new();
    let mut wire = Vec::new();
    let mut held: Vec<(RequestId, Request)> = Vec::new();
    let mut logged_in = false;
    let mut closed = false;
    // The ids the session handed out last; odd arguments try stale or unknown ones.
    let mut last_transfer = RequestId::new(0);
    let mut last_channel = ChannelId::new(0);

    let mut take = |count: usize| -> &[u8] {
        let (head, tail) = input.split_at(count.min(input.len()));
        input = tail;
        head
    };
    while let Some(&opcode) = take(1).first() {
        let argument = take(1).first().copied().unwrap_or(0);
        match opcode % 10 {
            0..=3 => {
                let bytes = take(usize::from(argument));
                session.handle_control_input(bytes, now);
            }
            4 => {
                if !held.is_empty() {
                    let (id, request) = held.remove(usize::from(argument) % held.len());
                    let response = answer(&request, argument);
                    if matches!(response, Response::LoggedIn { .. }) {
                        logged_in = true;
                    }
                    session.handle_response(id, response, now);
                }
            }
            5 => {
                let (id, channel) = if argument & 1 == 0 {
                    (last_transfer, last_channel)
                } else {
                    (
                        RequestId::new(u64::from(argument)),
                        ChannelId::new(u64::from(argument)),
                    )
                };
                let event = match (argument / 2) % 12 {
                    0 => DataEvent::Listening {
                        channel,
                        address: SocketAddr::new(local.ip(), 50000 + u16::from(argument)),
                    },
                    1 => DataEvent::ListenFailed { channel },
                    2 => DataEvent::Accepted { channel, peer },
                    3 => DataEvent::Accepted {
                        channel,
                        peer: SocketAddr::from(([198, 51, 100, 9], 1)),
                    },
                    4 => DataEvent::Progress {
                        id,
                        bytes: u64::from(argument),
                    },
                    5 => DataEvent::Finished {
                        id,
                        bytes: u64::from(argument),
                    },
                    6 => DataEvent::Connected { id },
                    7 => DataEvent::ConnectFailed { id },
                    8 => DataEvent::TlsEstablished {
                        id,
                        resumed: argument & 4 == 0,
                    },
                    9 => DataEvent::TlsFailed { id },
                    10 if argument & 4 == 0 => DataEvent::Received {
                        id,
                        bytes: u64::from(argument),
                        clean: argument & 8 == 0,
                    },
                    10 => DataEvent::Failed {
                        id,
                        reason: DataFailure::Storage(StorageError::NotFound),
                    },
                    _ => DataEvent::Failed {
                        id,
                        reason: DataFailure::ConnectionLost,
                    },
                };
                session.handle_data_event(event, now);
            }
            6 => match argument % 4 {
                0 => session.handle_control_tls_established(now),
                1 => session.handle_control_tls_failed(now),
                2 => session.handle_send_blocked(now),
                _ => session.handle_send_progress(now),
            },
            7 => {
                now += Duration::from_millis(u64::from(argument) * 997);
                session.handle_timeout(now);
                if let Some(deadline) = session.poll_timeout() {
                    assert!(
                        deadline > now,
                        "deadline left in the past after handle_timeout"
                    );
                }
            }
            8 => session.handle_shutdown(),
            _ => session.handle_control_closed(now),
        }
        // Drain, checking what comes out.
        while let Some(output) = session.poll_output() {
            assert!(!closed, "output after Close: {output:?}");
            match output {
                Output::Transmit(bytes) => {
                    wire.extend_from_slice(&bytes);
                    assert!(wire.len() <= output_bound, "output unbounded");
                }
                Output::Request { id, request } => {
                    check_request(&request, logged_in);
                    held.push((id, request));
                }
                Output::Action(Action::StartTransfer(transfer)) => last_transfer = transfer.id,
                Output::Action(Action::ConnectActive { id, .. } | Action::SecureData { id }) => {
                    last_transfer = id
                }
                Output::Action(Action::ListenPassive { channel, .. }) => last_channel = channel,
                Output::Action(Action::Close) => closed = true,
                _ => {}
            }
        }
        loop {
            let parsed = replies.parse(&wire);
            let item = parsed.item.map(|item| item.map(Reply::into_owned));
            wire.drain(..parsed.consumed);
            match item {
                Some(Ok(_)) => {}
                Some(Err(error)) => panic!("the server wrote a malformed reply: {error}"),
                None => break,
            }
        }
        assert_eq!(closed, session.is_closed());
    }
}

fn check_request(request: &Request, logged_in: bool) {
    let paths: Vec<&VirtualPath> = match request {
        Request::Authenticate { .. } | Request::SelectHost { .. } => return,
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
        Request::Site { .. } => vec![],
    };
    assert!(logged_in, "{request:?} before login");
    for path in paths {
        let bytes = path.as_bytes();
        assert!(bytes.starts_with(b"/") && !bytes.contains(&0), "{path:?}");
        assert!(
            path.components().all(|part| part != b"." && part != b".."),
            "{path:?} not normalised"
        );
    }
}

/// A plausible answer, varied by `choice`.
fn answer(request: &Request, choice: u8) -> Response {
    if choice % 5 == 0 {
        return Response::Failed(StorageError::NotFound);
    }
    let time = SystemTime::UNIX_EPOCH + Duration::from_secs(u64::from(choice) << 20);
    match request {
        Request::Authenticate { .. } => {
            if choice % 3 == 0 {
                Response::LoginDenied
            } else {
                Response::LoggedIn {
                    writable: choice % 2 == 0,
                }
            }
        }
        Request::Metadata { .. } => Response::Metadata(if choice % 2 == 0 {
            Metadata::directory(Some(time))
        } else {
            Metadata::file(u64::from(choice), Some(time))
        }),
        Request::ListEntries { .. } => Response::Entries {
            entries: vec![("a\r\nb".into(), Metadata::file(1, Some(time)))],
            now: time,
            more: match choice % 3 {
                0 => MoreEntries::None,
                1 => MoreEntries::Unknown,
                _ => MoreEntries::Count(u64::from(choice) << 56),
            },
        },
        Request::OpenListing { .. } | Request::OpenRead { .. } | Request::OpenWrite { .. } => {
            Response::Opened {
                size: Some(u64::from(choice)),
                unique_name: Some(VirtualPath::root()),
            }
        }
        Request::Site { .. } => Response::Reply(Reply::new(
            crate::reply::ReplyCode::COMMAND_OKAY,
            "site\nreply",
        )),
        _ if choice % 7 == 0 => Response::Metadata(Metadata::file(0, None)),
        _ => Response::Done,
    }
}

#[cfg(test)]
mod tests {
    /// A smoke run of the harness over pseudo-random cases seeded with real commands,
    /// so that `cargo test` exercises every kind of input (stale ids, data steps out of
    /// order, TLS and send reports) without a fuzzer.
    #[test]
    fn the_harness_survives_pseudo_random_cases() {
        let seeds: [&[u8]; 4] = [
            b"USER a\r\nPASS b\r\nPASV\r\nRETR /x\r\n",
            b"USER a\r\nPASS b\r\nEPRT |1|192.0.2.7|5000|\r\nSTOR /y\r\nABOR\r\n",
            b"AUTH TLS\r\nPBSZ 0\r\nPROT P\r\nUSER a\r\nPASS b\r\nEPSV\r\nLIST\r\n",
            b"USER a\r\nPASS b\r\nSIZE /z\r\nSTAT\r\nQUIT\r\n",
        ];
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for case in 0..3000 {
            let mut data = vec![(next() & 0xff) as u8];
            while data.len() < 200 {
                let roll = next();
                match roll % 4 {
                    // Control bytes from a seed, at a random cut.
                    0 => {
                        let seed = seeds[(roll >> 8) as usize % seeds.len()];
                        let start = (roll >> 16) as usize % seed.len();
                        let length = (seed.len() - start).min(255);
                        data.push(0);
                        data.push(length as u8);
                        data.extend_from_slice(&seed[start..start + length]);
                    }
                    _ => {
                        data.push((roll >> 8) as u8);
                        data.push((roll >> 16) as u8);
                    }
                }
            }
            let _ = case;
            super::fuzz_server(&data);
        }
    }
}
