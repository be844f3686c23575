//! Properties of the client session: any chunking of the server's bytes gives the same
//! events, and no input sequence panics it or breaks its invariants.

use std::time::Instant;

use ftp_proto::client::{Action, Config, Event, Output, Session};
use proptest::prelude::*;

/// A scripted server: its answer to each command line, with multi-line replies, a 150
/// and 226 sent together, and an EPSV refusal.
fn answer(line: &[u8]) -> &'static [u8] {
    match line {
        b"USER u\r\n" => b"331 Password please\r\n",
        b"PASS p\r\n" => b"230 Logged in\r\n",
        b"FEAT\r\n" => {
            b"211-Features:\r\n MLST type*;size*;\r\n UTF8\r\n REST STREAM\r\n211 End\r\n"
        }
        b"OPTS UTF8 ON\r\n" => b"200 Always in UTF8 mode.\r\n",
        b"PWD\r\n" => b"257 \"/home/u\" is current\r\n",
        b"TYPE A\r\n" => b"200 Type set to A\r\n",
        b"TYPE I\r\n" => b"200 Type set to I\r\n",
        b"EPSV\r\n" => b"500 EPSV not understood\r\n",
        b"PASV\r\n" => b"227 =10,0,0,1,4,1\r\n",
        b"LIST\r\n" => b"150 Opening data connection\r\n226 Transfer complete\r\n",
        b"SIZE f\r\n" => b"213 1234\r\n",
        b"REST 10\r\n" => b"350 Restarting at 10\r\n",
        b"RETR f\r\n" => b"125 Data connection already open\r\n226 Done\r\n",
        b"QUIT\r\n" => b"221 Goodbye\r\n",
        _ => b"502 unexpected\r\n",
    }
}

/// Runs the dialogue, reading the server's output in chunks of the given sizes (in a
/// cycle) as TCP may deliver it, and answering every data connection at once; returns
/// every event, in order.
fn run(chunk_sizes: &[usize]) -> Vec<Event> {
    let now = Instant::now();
    let mut session = Session::new(Config::default(), "192.0.2.7:21".parse().unwrap(), now);
    session.login("u", "p", now).unwrap();
    session.features(now).unwrap();
    session.print_directory(now).unwrap();
    session.list(None, now).unwrap();
    session.size("f", now).unwrap();
    session.retrieve_from("f", 10, now).unwrap();
    session.quit(now).unwrap();
    let mut events = Vec::new();
    let mut from_server = b"220-Welcome\r\n220 ready\r\n".to_vec();
    let mut sizes = chunk_sizes.iter().map(|size| size % 64 + 1).cycle();
    loop {
        while let Some(output) = session.poll_output() {
            match output {
                Output::Action(Action::ConnectData { id, .. }) => {
                    session.handle_data_connected(id, now);
                    session.handle_data_input(id, b"-rw-r--r-- 1 u u 1234 Jan 01 2024 f\r\n", now);
                    session.handle_data_end(id, now);
                }
                Output::Action(_) => {}
                Output::Transmit(bytes) => {
                    for line in bytes.split_inclusive(|&byte| byte == b'\n') {
                        from_server.extend_from_slice(answer(line));
                    }
                }
                Output::Event(event) => events.push(event),
            }
        }
        if from_server.is_empty() {
            return events;
        }
        let size = sizes.next().unwrap_or(usize::MAX).min(from_server.len());
        let chunk: Vec<u8> = from_server.drain(..size).collect();
        session.handle_control_input(&chunk, now);
    }
}

#[test]
fn the_dialogue_completes_every_operation() {
    let events = run(&[]);
    let failures: Vec<_> = events
        .iter()
        .filter(|event| matches!(event, Event::Completed { result: Err(_), .. }))
        .collect();
    assert!(failures.is_empty(), "{failures:#?}");
    assert_eq!(events.last(), Some(&Event::Closed { error: None }));
    assert_eq!(
        events
            .iter()
            .filter(|event| matches!(event, Event::Completed { .. }))
            .count(),
        8
    );
}

proptest! {
    #[test]
    fn any_chunking_gives_the_same_events(sizes in proptest::collection::vec(any::<usize>(), 0..40)) {
        prop_assert_eq!(run(&sizes), run(&[]));
    }

    #[cfg(feature = "fuzzing")]
    #[test]
    fn fuzz_harness_never_panics(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        ftp_proto::client::fuzz_client(&data);
    }

    #[cfg(feature = "fuzzing")]
    #[test]
    fn fuzz_harness_with_reply_shaped_input(
        flags in any::<u8>(),
        steps in proptest::collection::vec(
            (0u8..12, any::<u8>(), prop::sample::select(vec![
                &b"220 ok\r\n"[..], b"331 pw\r\n", b"230 in\r\n", b"234 tls\r\n",
                b"200 ok\r\n", b"229 (|||5000|)\r\n", b"227 (1,2,3,4,5,6)\r\n",
                b"150 go (5 bytes)\r\n", b"125 go\r\n", b"226 ok\r\n", b"426 x\r\n", b"225 ok\r\n",
                b"350 ok\r\n", b"213 12\r\n", b"257 \"/\"\r\n", b"500 no\r\n", b"421 bye\r\n",
                b"211-f\r\n EPSV\r\n211 e\r\n", b"550 no\r\n", b"120 wait\r\n",
            ])),
            0..64,
        ),
    ) {
        // Opcodes 0-3 feed `argument` bytes: give them whole replies.
        let mut data = vec![flags];
        for (opcode, argument, reply) in steps {
            if opcode < 4 {
                data.extend_from_slice(&[opcode, reply.len() as u8]);
                data.extend_from_slice(reply);
            } else {
                data.extend_from_slice(&[opcode, argument]);
            }
        }
        ftp_proto::client::fuzz_client(&data);
    }
}
