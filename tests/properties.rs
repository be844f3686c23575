//! Properties: encoding and parsing are inverses for every value the encoder accepts,
//! the result of a stream never depends on how it was split, and no input panics.

use std::net::{IpAddr, SocketAddr, SocketAddrV4};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ftp_proto::*;
use proptest::prelude::*;

/// Bytes allowed in an argument: anything but CR, LF and NUL.
fn argument_bytes(min: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        any::<u8>().prop_filter("line end or NUL", |b| !matches!(b, b'\r' | b'\n' | 0)),
        min..40,
    )
}

fn word() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(0x21u8..=0x7e, 1..12)
}

fn path(min: usize) -> impl Strategy<Value = Pathname<'static>> {
    argument_bytes(min).prop_map(Pathname::from)
}

fn text(min: usize) -> impl Strategy<Value = Text<'static>> {
    argument_bytes(min).prop_map(Text::from)
}

fn optional_path() -> impl Strategy<Value = Option<Pathname<'static>>> {
    prop::option::of(path(1))
}

fn time() -> impl Strategy<Value = SystemTime> {
    // Years 0000 to 9999, with a fraction down to nanoseconds.
    (-62_167_219_200i64..253_402_300_799, 0u32..1_000_000_000).prop_map(|(seconds, nanos)| {
        if seconds >= 0 {
            UNIX_EPOCH + Duration::new(seconds as u64, nanos)
        } else {
            UNIX_EPOCH - Duration::from_secs(seconds.unsigned_abs())
                + Duration::from_nanos(u64::from(nanos))
        }
    })
}

fn socket_address() -> impl Strategy<Value = SocketAddr> {
    (any::<IpAddr>(), any::<u16>()).prop_map(|(ip, port)| SocketAddr::new(ip, port))
}

fn command() -> impl Strategy<Value = Command<'static>> {
    let no_argument = prop_oneof![
        Just(Command::Cdup),
        Just(Command::Rein),
        Just(Command::Quit),
        Just(Command::Pasv),
        Just(Command::Abor),
        Just(Command::Pwd),
        Just(Command::Syst),
        Just(Command::Noop),
        Just(Command::Xcup),
        Just(Command::Xpwd),
        Just(Command::Ccc),
        Just(Command::Feat),
    ];
    let paths = (0usize..17, path(1)).prop_map(|(index, path)| match index {
        0 => Command::Cwd(path),
        1 => Command::Smnt(path),
        2 => Command::Retr(path),
        3 => Command::Stor(path),
        4 => Command::Appe(path),
        5 => Command::Rnfr(path),
        6 => Command::Rnto(path),
        7 => Command::Dele(path),
        8 => Command::Rmd(path),
        9 => Command::Mkd(path),
        10 => Command::Xcwd(path),
        11 => Command::Xmkd(path),
        12 => Command::Xrmd(path),
        13 => Command::Size(path),
        14 => Command::Mdtm(path),
        15 => Command::Hash(path),
        _ => Command::Stor(path),
    });
    let optional_paths = (0usize..6, optional_path()).prop_map(|(index, path)| match index {
        0 => Command::Stou(path),
        1 => Command::List(path),
        2 => Command::Nlst(path),
        3 => Command::Stat(path),
        4 => Command::Mlst(path),
        _ => Command::Mlsd(path),
    });
    let texts = (0usize..9, text(1)).prop_map(|(index, text)| match index {
        0 => Command::User(text),
        1 => Command::Acct(text),
        2 => Command::Site(text),
        3 => Command::Adat(text),
        4 => Command::Mic(text),
        5 => Command::Conf(text),
        6 => Command::Enc(text),
        7 => Command::Host(text),
        _ => Command::Clnt(text),
    });
    let letter = || {
        prop_oneof![b'A'..=b'Z', b'a'..=b'z'].prop_map(|byte| ParameterLetter::new(byte).unwrap())
    };
    let control = || {
        prop_oneof![
            Just(FormatControl::NonPrint),
            Just(FormatControl::Telnet),
            Just(FormatControl::CarriageControl)
        ]
    };
    let typed = prop_oneof![
        text(0).prop_map(|text| Command::Pass(Password(text))),
        prop::option::of(text(1)).prop_map(Command::Help),
        prop::option::of(text(1)).prop_map(Command::Lang),
        any::<SocketAddrV4>().prop_map(Command::Port),
        socket_address().prop_map(Command::Eprt),
        control().prop_map(|c| Command::Type(RepresentationType::Ascii(c))),
        control().prop_map(|c| Command::Type(RepresentationType::Ebcdic(c))),
        Just(Command::Type(RepresentationType::Image)),
        (1u8..=255).prop_map(|bits| Command::Type(RepresentationType::Local(bits))),
        // Every letter, named or not: `from_letter` gives the parser's spelling.
        letter().prop_map(|l| Command::Type(RepresentationType::from_letter(l))),
        letter().prop_map(|l| Command::Stru(FileStructure::from_letter(l))),
        letter().prop_map(|l| Command::Mode(TransferMode::from_letter(l))),
        prop_oneof![
            Just(ProtectionLevel::Clear),
            Just(ProtectionLevel::Safe),
            Just(ProtectionLevel::Confidential),
            Just(ProtectionLevel::Private)
        ]
        .prop_map(Command::Prot),
        (any::<u64>(), prop::option::of(any::<u64>()))
            .prop_map(|(size, record_size)| Command::Allo(Allocation { size, record_size })),
        any::<u64>().prop_map(Command::Rest),
        any::<u32>().prop_map(Command::Pbsz),
        prop_oneof![
            Just(ExtendedPassive::Any),
            Just(ExtendedPassive::All),
            any::<u16>().prop_map(|n| ExtendedPassive::Protocol(NetworkProtocol(n)))
        ]
        .prop_map(Command::Epsv),
        (word(), prop::option::of(text(0))).prop_map(|(command, options)| Command::Opts(
            CommandOptions {
                command: Text::from(command),
                options
            }
        )),
        prop_oneof![
            Just(AuthMechanism::Tls),
            Just(AuthMechanism::Ssl),
            word()
                .prop_filter("spelled like TLS or SSL", |w| {
                    !["TLS", "TLS-C", "SSL"]
                        .iter()
                        .any(|k| w.eq_ignore_ascii_case(k.as_bytes()))
                })
                .prop_map(|w| AuthMechanism::Other(Text::from(w)))
        ]
        .prop_map(Command::Auth),
        (time(), path(1)).prop_map(|(modified, path)| Command::Mfmt { modified, path }),
        (word(), prop::option::of(text(0)))
            .prop_filter("a known verb", |(verb, _)| Verb::from_bytes(verb).is_none())
            .prop_map(|(verb, argument)| Command::Unknown {
                verb: Text::from(verb),
                argument
            }),
    ];
    prop_oneof![no_argument, paths, optional_paths, texts, typed]
}

fn reply() -> impl Strategy<Value = Reply<'static>> {
    (
        0u16..=999,
        prop::collection::vec(
            prop::collection::vec(any::<u8>().prop_filter("LF", |b| *b != b'\n'), 0..30),
            1..5,
        ),
    )
        .prop_map(|(code, lines)| Reply::from_lines(ReplyCode::new(code).unwrap(), lines))
}

/// Feeds `input` to a parser in chunks of the given sizes, dropping consumed bytes the
/// way a real caller does, and collects the owned items.
fn run_in_chunks<T>(
    input: &[u8],
    chunks: &[usize],
    mut parse: impl FnMut(&[u8]) -> (usize, Option<T>),
) -> Vec<T> {
    let mut buffer = Vec::new();
    let mut items = Vec::new();
    let mut offset = 0;
    let mut sizes = chunks.iter().cycle();
    while offset < input.len() {
        let size = (*sizes.next().unwrap()).clamp(1, input.len() - offset);
        buffer.extend_from_slice(&input[offset..offset + size]);
        offset += size;
        loop {
            let (consumed, item) = parse(&buffer);
            buffer.drain(..consumed);
            match item {
                Some(item) => items.push(item),
                None => break,
            }
        }
    }
    items
}

fn command_items(
    parser: &mut CommandParser,
    buffer: &[u8],
) -> (usize, Option<Result<Command<'static>, CommandError>>) {
    let parsed = parser.parse(buffer);
    (
        parsed.consumed,
        parsed.item.map(|item| item.map(Command::into_owned)),
    )
}

fn reply_items(
    parser: &mut ReplyParser,
    buffer: &[u8],
) -> (usize, Option<Result<Reply<'static>, ReplyError>>) {
    let parsed = parser.parse(buffer);
    (
        parsed.consumed,
        parsed.item.map(|item| item.map(Reply::into_owned)),
    )
}

/// Lines that look like FTP traffic, with some noise, for the chunking properties.
fn command_stream() -> impl Strategy<Value = Vec<u8>> {
    let line = prop_oneof![
        command().prop_map(|command| {
            let mut wire = Vec::new();
            command.encode_with(&mut wire, IacEscaping::Double).unwrap();
            wire
        }),
        prop::collection::vec(any::<u8>(), 0..80),
        Just(b"\xff\xf4\xff\xf2ABOR\n".to_vec()),
        Just(b"NOOP\r".to_vec()),
    ];
    prop::collection::vec(line, 0..12).prop_map(|lines| lines.concat())
}

fn reply_stream() -> impl Strategy<Value = Vec<u8>> {
    let item = prop_oneof![
        reply().prop_map(|reply| {
            let mut wire = Vec::new();
            reply.encode(&mut wire);
            wire
        }),
        prop::collection::vec(any::<u8>(), 0..60),
        Just(b"211-x\r\n211-y\r\n".to_vec()),
        Just(b"211 z\r\n".to_vec()),
    ];
    prop::collection::vec(item, 0..10).prop_map(|items| items.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn command_encode_then_parse_is_identity(command in command()) {
        let mut wire = Vec::new();
        command.encode_with(&mut wire, IacEscaping::Double).unwrap();
        prop_assert_eq!(parse_command(&wire), Ok(command.clone()));
        // Without doubling, the same holds whenever no 0xFF byte is present.
        let mut raw = Vec::new();
        command.encode(&mut raw).unwrap();
        if !raw.contains(&0xFF) {
            prop_assert_eq!(parse_command(&raw), Ok(command));
        }
    }

    #[test]
    fn reply_encode_then_parse_is_identity(reply in reply()) {
        let mut wire = Vec::new();
        reply.encode(&mut wire);
        prop_assert_eq!(parse_reply(&wire), Ok(reply));
    }

    #[test]
    fn command_chunking_does_not_matter(
        input in command_stream(),
        chunks in prop::collection::vec(1usize..16, 1..8),
        max in prop_oneof![Just(4096usize), 4usize..64],
    ) {
        let mut whole = CommandParser::with_max_line_length(max);
        let expected = run_in_chunks(&input, &[input.len().max(1)], |b| command_items(&mut whole, b));
        let mut split = CommandParser::with_max_line_length(max);
        let actual = run_in_chunks(&input, &chunks, |b| command_items(&mut split, b));
        prop_assert_eq!(actual, expected);
    }

    #[test]
    fn reply_chunking_does_not_matter(
        input in reply_stream(),
        chunks in prop::collection::vec(1usize..16, 1..8),
        max_line in prop_oneof![Just(4096usize), 4usize..64],
        max_lines in 1usize..6,
    ) {
        let mut whole = ReplyParser::with_limits(max_line, max_lines);
        let expected = run_in_chunks(&input, &[input.len().max(1)], |b| reply_items(&mut whole, b));
        let mut split = ReplyParser::with_limits(max_line, max_lines);
        let actual = run_in_chunks(&input, &chunks, |b| reply_items(&mut split, b));
        prop_assert_eq!(actual, expected);
    }

    #[test]
    fn random_bytes_never_panic(input in prop::collection::vec(any::<u8>(), 0..200)) {
        // Every outcome is acceptable here but a panic; errors must name a reply code.
        if let Err(error) = parse_command(&input) {
            prop_assert!(error.reply_code().is_permanent_negative());
        }
        let mut commands = CommandParser::with_max_line_length(32);
        let _ = run_in_chunks(&input, &[7], |b| command_items(&mut commands, b));
        let mut replies = ReplyParser::with_limits(32, 4);
        for reply in run_in_chunks(&input, &[5], |b| reply_items(&mut replies, b)).into_iter().flatten() {
            let _ = (reply.passive_address(), reply.extended_passive_port(), reply.quoted_path());
            let _ = (reply.size(), reply.modification_time(), reply.features(), reply.transfer_size_hint());
        }
    }

    #[test]
    fn parsed_commands_reencode_to_a_line_that_parses_the_same(line in prop::collection::vec(any::<u8>(), 0..60)) {
        // Whatever parses, re-encodes (unless it holds a CR from CR NUL or a NUL) to a
        // line that parses to the same command: the server and client agree.
        if let Ok(command) = parse_command(&line) {
            let mut wire = Vec::new();
            match command.encode_with(&mut wire, IacEscaping::Double) {
                Ok(()) => prop_assert_eq!(parse_command(&wire), Ok(command)),
                Err(EncodeError::ForbiddenByte { .. }) => {
                    prop_assert!(line.contains(&b'\r') || line.contains(&0));
                }
                // The escape hatch keeps any verb the peer sent, control bytes included,
                // but refuses to send one.
                Err(EncodeError::NotAWord { .. }) => {
                    let control_verb = matches!(
                        &command,
                        Command::Unknown { verb, .. } if verb.as_bytes().iter().any(|&b| b < 0x20)
                    );
                    prop_assert!(control_verb, "{:?}", command);
                }
                Err(other) => prop_assert!(false, "unexpected {other:?} for {command:?}"),
            }
        }
    }
}
