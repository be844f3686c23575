//! The fuzz harnesses of `ftp-proto`, shared by every target in `fuzz_targets/`.
//!
//! Each target is a one-line call into this module, so that the invariants live in one
//! place and can be read (and reused, say from a regression test) without libFuzzer.
//! A harness panics only when an invariant of the library is violated; every input,
//! however hostile, must otherwise be accepted or refused quietly.
//!
//! The invariants, and why they hold:
//!
//! * Parsing never panics, and a streaming parser gives the same items whatever the
//!   split of its input (compared as owned values and error values), and the same items
//!   as [`parse_command`] applied to each line (the framing model below).
//! * A parsed command encodes unless it holds a byte the encoder must refuse: CR, LF or
//!   NUL in an argument (reachable through a bare CR, or CR NUL, which Telnet decoding
//!   turns into CR), or a part that must be one word and is not (an unknown verb, the
//!   `AUTH` mechanism, the `OPTS` command name: empty, a space or a control byte).
//!   A failed encode writes nothing.
//! * Every successful encoding is exactly one line: no CR, LF or NUL before its CRLF.
//! * Re-parsing the encoding gives the same value back. The encoding is canonical once
//!   0xFF is doubled ([`IacEscaping::Double`]): a raw 0xFF would be read back as a
//!   Telnet command. Verbs are upper-cased, typed arguments re-rendered (`TYPE a n` is
//!   `TYPE A`), and an empty optional argument is `None` either way, so the *value*
//!   survives even where the bytes do not.
//! * A parsed reply encodes to bytes that parse back to the same reply, and its typed
//!   payloads, when they parse, survive being written out again.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arbitrary::{Arbitrary, Unstructured};
use ftp_proto::{
    Allocation, AuthMechanism, Command, CommandError, CommandOptions, CommandParser,
    DEFAULT_MAX_LINE_LENGTH, EncodeError, ExtendedPassive, FileStructure, FormatControl,
    IacEscaping, NetworkProtocol, ParameterLetter, Parsed, Password, Pathname, ProtectionLevel,
    Reply, ReplyCode, ReplyError, ReplyParser, RepresentationType, Text, TransferMode, Verb,
    parse_command, parse_reply,
};

// ---------------------------------------------------------------------------------------
// Targets
// ---------------------------------------------------------------------------------------

/// `parse_command`: one line, then the encode and re-parse invariants on what it gives.
pub fn command_line(data: &[u8]) {
    match parse_command(data) {
        Ok(command) => check_command(&command),
        Err(error) => {
            check_command_error(&error);
            if let CommandError::TrailingData = error {
                let lf = data.iter().position(|&byte| byte == b'\n');
                assert!(
                    lf.is_some_and(|lf| lf + 1 < data.len()),
                    "TrailingData without a LF before the end"
                );
            }
        }
    }
}

/// `command_stream`: the first byte picks the line bound, the second the chunk sizes; the
/// rest goes through a [`CommandParser`] in those chunks and in one piece, and both must
/// give the items of the line-by-line model.
pub fn command_stream(data: &[u8]) {
    let [limit_seed, chunk_seed, input @ ..] = data else {
        return;
    };
    let limit = line_limit(*limit_seed);
    let new_parser = || CommandParser::with_max_line_length(limit);

    let mut parser = new_parser();
    let chunked = feed(input, Chunks::new(*chunk_seed), |buffer| {
        let parsed = parser.parse(buffer);
        (parsed.consumed, parsed.item.map(owned_command))
    });
    let mut parser = new_parser();
    let whole = feed(input, Chunks::whole(), |buffer| {
        let parsed = parser.parse(buffer);
        (parsed.consumed, parsed.item.map(owned_command))
    });
    assert_eq!(chunked, whole, "chunked and one-shot command parses differ");
    assert_eq!(
        whole,
        command_model(input, limit),
        "CommandParser differs from parse_command applied line by line"
    );
    for command in whole.iter().flatten() {
        check_command(command);
    }
}

/// `parse_reply`: one whole reply, then the payload and round-trip invariants.
pub fn reply_message(data: &[u8]) {
    match parse_reply(data) {
        Ok(reply) => {
            check_reply(&reply);
            // The same bytes through a streaming parser with no bounds: the same reply,
            // every byte consumed.
            let mut parser = ReplyParser::with_limits(usize::MAX - 2, usize::MAX);
            let parsed = parser.parse(data);
            assert_eq!(parsed.consumed, data.len());
            assert_eq!(parsed.item, Some(Ok(reply)));
        }
        Err(error) => {
            let _ = error.to_string();
        }
    }
}

/// `reply_stream`: like [`command_stream`], for a [`ReplyParser`] with small bounds, and
/// every reply that comes out goes through [`reply_payloads`] and a round trip.
pub fn reply_stream(data: &[u8]) {
    let [limit_seed, chunk_seed, input @ ..] = data else {
        return;
    };
    let (max_line, max_lines) = reply_limits(*limit_seed);
    let new_parser = || ReplyParser::with_limits(max_line, max_lines);

    let mut parser = new_parser();
    let chunked = feed(input, Chunks::new(*chunk_seed), |buffer| {
        let parsed = parser.parse(buffer);
        (parsed.consumed, parsed.item.map(owned_reply))
    });

    // One piece, keeping track of where each reply starts: a reply that follows a good
    // one (or opens the stream) starts right where it was framed, so `parse_reply` on
    // exactly its bytes must agree with the stream.
    let mut parser = new_parser();
    let mut whole = Vec::new();
    let mut position = 0;
    let mut in_step = true;
    loop {
        let start = position;
        let Parsed { consumed, item } = parser.parse(&input[position..]);
        assert!(
            consumed <= input.len() - position,
            "consumed more than given"
        );
        position += consumed;
        let Some(item) = item else { break };
        assert!(consumed > 0, "an item came out of no bytes");
        if let Ok(reply) = &item {
            check_reply(reply);
            if in_step {
                assert_eq!(
                    parse_reply(&input[start..position]).as_ref(),
                    Ok(reply),
                    "parse_reply disagrees with ReplyParser on the reply's own bytes"
                );
            }
        }
        in_step = item.is_ok();
        whole.push(owned_reply(item));
    }
    assert_eq!(chunked, whole, "chunked and one-shot reply parses differ");
}

/// `command_round_trip`: a command built from the fuzzer's bytes encodes (or is refused,
/// writing nothing, exactly when it holds a forbidden byte) and parses back to itself.
///
/// The first byte picks the builder: this harness's own (even), which aims at the
/// parser's shapes and injects forbidden bytes now and then, or the library's
/// `Arbitrary` impl (odd), which builds any value the type holds, as a downstream fuzzer
/// would get it; those are compared with the value the parser gives for their spelling
/// ([`canonical`]).
pub fn command_round_trip(data: &[u8]) {
    let Some((&builder, data)) = data.split_first() else {
        return;
    };
    let mut u = Unstructured::new(data);
    if builder % 2 == 0 {
        let Ok(command) = arbitrary_command(&mut u) else {
            return;
        };
        check_command(&command);
    } else {
        let Ok(command) = Command::arbitrary(&mut u) else {
            return;
        };
        check_command_as(&command, canonical(&command).as_ref());
    }
}

/// The value the parser gives for `command`'s encoding, when the harness can say it
/// without parsing: `None` for an unknown verb that spells a known one (it parses as
/// that verb, or not at all). Empty optional arguments become `None`, an `AUTH`
/// mechanism that spells `TLS`, `TLS-C` or `SSL` its variant, and an IPv6 `EPRT`
/// address loses the flow label and scope id the wire does not carry.
fn canonical(command: &Command<'_>) -> Option<Command<'static>> {
    fn path(value: &Option<Pathname<'_>>) -> Option<Pathname<'static>> {
        value
            .as_ref()
            .filter(|value| !value.is_empty())
            .map(|value| value.clone().into_owned())
    }
    fn text(value: &Option<Text<'_>>) -> Option<Text<'static>> {
        value
            .as_ref()
            .filter(|value| !value.is_empty())
            .map(|value| value.clone().into_owned())
    }
    Some(match command {
        Command::Unknown { verb, .. } if Verb::from_bytes(verb.as_bytes()).is_some() => {
            return None;
        }
        Command::Stou(value) => Command::Stou(path(value)),
        Command::List(value) => Command::List(path(value)),
        Command::Nlst(value) => Command::Nlst(path(value)),
        Command::Stat(value) => Command::Stat(path(value)),
        Command::Mlst(value) => Command::Mlst(path(value)),
        Command::Mlsd(value) => Command::Mlsd(path(value)),
        Command::Help(value) => Command::Help(text(value)),
        Command::Lang(value) => Command::Lang(text(value)),
        Command::Auth(AuthMechanism::Other(mechanism)) => {
            let spelled = |name: &[u8]| mechanism.as_bytes().eq_ignore_ascii_case(name);
            if spelled(b"TLS") || spelled(b"TLS-C") {
                Command::Auth(AuthMechanism::Tls)
            } else if spelled(b"SSL") {
                Command::Auth(AuthMechanism::Ssl)
            } else {
                command.clone().into_owned()
            }
        }
        Command::Eprt(SocketAddr::V6(address)) => {
            Command::Eprt(SocketAddr::new(IpAddr::V6(*address.ip()), address.port()))
        }
        other => other.clone().into_owned(),
    })
}

/// `reply_round_trip`: two replies built from the fuzzer's bytes, any text at all, are
/// encoded back to back and must come out of a parser as they went in.
pub fn reply_round_trip(data: &[u8]) {
    let mut u = Unstructured::new(data);
    // The library's `Arbitrary` impl: any code from 000 to 999, any text at all.
    let (Ok(first), Ok(second)) = (Reply::arbitrary(&mut u), Reply::arbitrary(&mut u)) else {
        return;
    };
    let chunk_seed = u.arbitrary::<u8>().unwrap_or(0);
    let mut wire = Vec::new();
    first.encode(&mut wire);
    let first_len = wire.len();
    second.encode(&mut wire);
    check_reply_wire(&first, &wire[..first_len]);
    check_reply_wire(&second, &wire[first_len..]);
    assert_eq!(parse_reply(&wire[..first_len]), Ok(first.clone()));
    assert_eq!(parse_reply(&wire[first_len..]), Ok(second.clone()));

    let mut parser = ReplyParser::with_limits(usize::MAX - 2, usize::MAX);
    let items = feed(&wire, Chunks::new(chunk_seed), |buffer| {
        let parsed = parser.parse(buffer);
        (parsed.consumed, parsed.item.map(owned_reply))
    });
    assert_eq!(items, vec![Ok(first), Ok(second)]);
}

/// Every typed payload parser on `reply`: none may panic, and what they read must survive
/// being written out the canonical way and read again.
pub fn reply_payloads(reply: &Reply<'_>) {
    let code = reply.code();
    let expect_code = |expected: ReplyCode, error: &ftp_proto::PayloadError| {
        if code != expected {
            assert!(
                matches!(error, ftp_proto::PayloadError::UnexpectedCode { .. }),
                "a payload of the wrong code must say so"
            );
        }
        let _ = error.to_string();
    };

    match reply.passive_address() {
        Ok(address) => {
            assert_ne!(address.port(), 0);
            let [h1, h2, h3, h4] = address.ip().octets();
            let [p1, p2] = address.port().to_be_bytes();
            let text = format!("Entering Passive Mode ({h1},{h2},{h3},{h4},{p1},{p2}).");
            let again = Reply::new(ReplyCode::ENTERING_PASSIVE_MODE, text.as_str());
            assert_eq!(again.passive_address(), Ok(address));
        }
        Err(error) => expect_code(ReplyCode::ENTERING_PASSIVE_MODE, &error),
    }
    match reply.extended_passive_port() {
        Ok(port) => {
            assert_ne!(port, 0);
            let text = format!("Entering Extended Passive Mode (|||{port}|)");
            let again = Reply::new(ReplyCode::ENTERING_EXTENDED_PASSIVE_MODE, text.as_str());
            assert_eq!(again.extended_passive_port(), Ok(port));
        }
        Err(error) => expect_code(ReplyCode::ENTERING_EXTENDED_PASSIVE_MODE, &error),
    }
    match reply.quoted_path() {
        Ok(path) => {
            // `with_path` sends a LF as NUL (a LF cannot travel in a reply line).
            if !path.as_bytes().contains(&b'\n') {
                let again = Reply::with_path(ReplyCode::PATHNAME_CREATED, &path, "created");
                assert_eq!(again.quoted_path().as_ref(), Ok(&path));
                let mut wire = Vec::new();
                again.encode(&mut wire);
                let parsed = parse_reply(&wire).expect("an encoded 257 reply parses");
                assert_eq!(parsed.quoted_path().as_ref(), Ok(&path));
            }
        }
        Err(error) => expect_code(ReplyCode::PATHNAME_CREATED, &error),
    }
    match reply.size() {
        Ok(size) => {
            let again = Reply::new(ReplyCode::FILE_STATUS, size.to_string());
            assert_eq!(again.size(), Ok(size));
        }
        Err(error) => expect_code(ReplyCode::FILE_STATUS, &error),
    }
    match reply.modification_time() {
        Ok(time) => {
            let mut text = Vec::new();
            assert!(
                ftp_proto::time::write_timestamp(time, &mut text),
                "a time that parsed must be writable"
            );
            assert_eq!(ftp_proto::time::parse_timestamp(&text), Some(time));
            let again = Reply::new(ReplyCode::FILE_STATUS, text);
            assert_eq!(again.modification_time(), Ok(time));
        }
        Err(error) => expect_code(ReplyCode::FILE_STATUS, &error),
    }
    match reply.features() {
        Ok(features) => {
            for feature in &features {
                assert!(!feature.name.is_empty(), "a feature with an empty name");
                assert!(!feature.name.as_bytes().contains(&b' '));
                let _ = feature.is("MLST");
            }
        }
        Err(error) => expect_code(ReplyCode::SYSTEM_STATUS, &error),
    }
    if let Some(size) = reply.transfer_size_hint() {
        assert!(code.is_positive_preliminary());
        let text = format!("Opening BINARY mode data connection for x ({size} bytes)");
        assert_eq!(
            Reply::new(code, text.as_str()).transfer_size_hint(),
            Some(size)
        );
    }
    let lines = reply.lines().count();
    assert_eq!(lines > 1, reply.is_multiline());
    let _ = (
        code.class(),
        code.is_final(),
        code.name(),
        format!("{code:?} {reply:?}"),
    );
}

// ---------------------------------------------------------------------------------------
// Command invariants
// ---------------------------------------------------------------------------------------

/// What encoding a command must do, worked out from its fields alone.
#[derive(Debug, PartialEq, Eq)]
enum Expected {
    Encodes,
    NotAWord,
    ForbiddenByte,
    TimeOutOfRange,
    MissingArgument,
}

fn check_command(command: &Command<'_>) {
    check_command_as(command, Some(command));
}

/// The encode invariants on `command`; when it encodes, its re-parse must be `expected`
/// (or anything at all, without a panic, when `expected` is `None`).
fn check_command_as(command: &Command<'_>, expected_value: Option<&Command<'_>>) {
    let _ = format!("{command} {command:?}");
    let _ = command.verb();

    let expected = expected_encoding(command);
    let mut raw = Vec::new();
    let outcome = command.encode(&mut raw);
    let got = match &outcome {
        Ok(()) => Expected::Encodes,
        Err(EncodeError::NotAWord { .. }) => Expected::NotAWord,
        Err(EncodeError::ForbiddenByte { .. }) => Expected::ForbiddenByte,
        Err(EncodeError::TimeOutOfRange { .. }) => Expected::TimeOutOfRange,
        Err(EncodeError::MissingArgument { .. }) => Expected::MissingArgument,
        Err(other) => panic!("unexpected encode error {other:?}"),
    };
    assert_eq!(got, expected, "encode of {command:?}: {outcome:?}");
    if let Err(error) = outcome {
        assert!(raw.is_empty(), "a failed encode wrote {raw:?}");
        let _ = error.to_string();
        let mut doubled = Vec::new();
        assert!(
            command
                .encode_with(&mut doubled, IacEscaping::Double)
                .is_err()
        );
        assert!(doubled.is_empty());
        return;
    }

    let mut doubled = Vec::new();
    command
        .encode_with(&mut doubled, IacEscaping::Double)
        .expect("encodes raw, so encodes with IAC doubling");
    check_one_line(&raw);
    check_one_line(&doubled);
    let has_iac = fields(command).iter().any(|field| field.contains(&0xFF));
    if !has_iac {
        assert_eq!(raw, doubled, "IAC doubling changed a line without 0xFF");
    }

    let reparsed = parse_command(&doubled);
    let Some(expected_value) = expected_value else {
        return;
    };
    assert_eq!(
        reparsed.as_ref(),
        Ok(expected_value),
        "re-parse of {:?} changed the command",
        doubled.escape_ascii().to_string()
    );
}

/// An encoded command is one line: CRLF at the end and no CR, LF or NUL anywhere else.
fn check_one_line(wire: &[u8]) {
    let body = wire
        .strip_suffix(b"\r\n")
        .expect("an encoded command ends in CRLF");
    assert!(
        !body.iter().any(|&byte| matches!(byte, b'\r' | b'\n' | 0)),
        "an encoded command smuggles a line end: {:?}",
        wire.escape_ascii().to_string()
    );
}

fn check_command_error(error: &CommandError) {
    let _ = (error.to_string(), error.reply_code(), error.verb());
}

fn expected_encoding(command: &Command<'_>) -> Expected {
    let words: Vec<&[u8]> = match command {
        Command::Unknown { verb, .. } => vec![verb.as_bytes()],
        Command::Auth(AuthMechanism::Other(mechanism)) => vec![mechanism.as_bytes()],
        Command::Opts(options) => vec![options.command.as_bytes()],
        _ => Vec::new(),
    };
    if words.iter().any(|word| !is_word(word)) {
        return Expected::NotAWord;
    }
    if let Command::Mfmt { modified, path } = command {
        if path.is_empty() {
            return Expected::MissingArgument;
        }
        if !time_in_range(*modified) {
            return Expected::TimeOutOfRange;
        }
    }
    if fields(command)
        .iter()
        .any(|field| field.iter().any(|&byte| matches!(byte, b'\r' | b'\n' | 0)))
    {
        return Expected::ForbiddenByte;
    }
    if required_argument_is_empty(command) {
        return Expected::MissingArgument;
    }
    Expected::Encodes
}

/// Whether a verb that needs an argument has an empty one (the peer would answer 501).
/// For those verbs the argument is the command's only octet-string field.
fn required_argument_is_empty(command: &Command<'_>) -> bool {
    command.verb().is_some_and(Verb::requires_argument)
        && fields(command)
            .first()
            .is_some_and(|argument| argument.is_empty())
}

/// A part that must be one word: not empty, no space, no control byte.
fn is_word(word: &[u8]) -> bool {
    !word.is_empty() && !word.iter().any(|&byte| byte == b' ' || byte < 0x20)
}

/// Years 0000 to 9999, the range of `YYYYMMDDHHMMSS`.
fn time_in_range(time: SystemTime) -> bool {
    const FIRST: i64 = -62_167_219_200; // 0000-01-01T00:00:00Z
    // jiff's last instant, 9999-12-30T22:00:00.999999999Z, bounds the calendar maths.
    const END: i64 = 253_402_207_201;
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => after.as_secs() < END as u64,
        Err(before) => {
            let before = before.duration();
            // Seconds before the epoch, rounded up: the instant is at or after FIRST.
            let seconds = before.as_secs() + u64::from(before.subsec_nanos() > 0);
            seconds <= FIRST.unsigned_abs()
        }
    }
}

/// Every octet-string field of a command, as it would be written on the wire.
fn fields<'c>(command: &'c Command<'_>) -> Vec<&'c [u8]> {
    match command {
        Command::User(text)
        | Command::Acct(text)
        | Command::Site(text)
        | Command::Adat(text)
        | Command::Mic(text)
        | Command::Conf(text)
        | Command::Enc(text)
        | Command::Host(text)
        | Command::Clnt(text)
        | Command::Pass(Password(text))
        | Command::Auth(AuthMechanism::Other(text)) => vec![text.as_bytes()],
        Command::Cwd(path)
        | Command::Smnt(path)
        | Command::Retr(path)
        | Command::Stor(path)
        | Command::Appe(path)
        | Command::Rnfr(path)
        | Command::Rnto(path)
        | Command::Dele(path)
        | Command::Rmd(path)
        | Command::Mkd(path)
        | Command::Xcwd(path)
        | Command::Xmkd(path)
        | Command::Xrmd(path)
        | Command::Size(path)
        | Command::Mdtm(path)
        | Command::Hash(path)
        | Command::Mfmt { path, .. } => vec![path.as_bytes()],
        Command::Stou(path)
        | Command::List(path)
        | Command::Nlst(path)
        | Command::Stat(path)
        | Command::Mlst(path)
        | Command::Mlsd(path) => path.iter().map(Pathname::as_bytes).collect(),
        Command::Help(text) | Command::Lang(text) => text.iter().map(Text::as_bytes).collect(),
        Command::Opts(options) => std::iter::once(options.command.as_bytes())
            .chain(options.options.as_ref().map(Text::as_bytes))
            .collect(),
        Command::Unknown { verb, argument } => std::iter::once(verb.as_bytes())
            .chain(argument.as_ref().map(Text::as_bytes))
            .collect(),
        _ => Vec::new(),
    }
}

type CommandItem = Result<Command<'static>, CommandError>;

fn owned_command(item: Result<Command<'_>, CommandError>) -> CommandItem {
    item.map(Command::into_owned)
}

/// The framing model: every LF ends a line, one CR before it is dropped, a line longer
/// than the bound is `LineTooLong` (once), any other line is what `parse_command` makes
/// of it. A last line with no LF yet counts only once it is already too long.
fn command_model(input: &[u8], limit: usize) -> Vec<CommandItem> {
    let mut items = Vec::new();
    let mut rest = input;
    while let Some(lf) = rest.iter().position(|&byte| byte == b'\n') {
        let line = &rest[..lf];
        let content = line.strip_suffix(b"\r").unwrap_or(line);
        items.push(if content.len() > limit {
            Err(CommandError::LineTooLong { limit })
        } else {
            owned_command(parse_command(content))
        });
        rest = &rest[lf + 1..];
    }
    if rest.len() - usize::from(rest.last() == Some(&b'\r')) > limit {
        items.push(Err(CommandError::LineTooLong { limit }));
    }
    items
}

// ---------------------------------------------------------------------------------------
// Reply invariants
// ---------------------------------------------------------------------------------------

type ReplyItem = Result<Reply<'static>, ReplyError>;

fn owned_reply(item: Result<Reply<'_>, ReplyError>) -> ReplyItem {
    item.map(Reply::into_owned)
}

/// A parsed reply: payloads, then encode and parse back to the same value.
fn check_reply(reply: &Reply<'_>) {
    reply_payloads(reply);
    let mut wire = Vec::new();
    reply.encode(&mut wire);
    check_reply_wire(reply, &wire);
    assert_eq!(
        parse_reply(&wire).as_ref(),
        Ok(reply),
        "re-parse of {:?} changed the reply",
        wire.escape_ascii().to_string()
    );
}

/// The shape of an encoded reply: one CRLF line per line of text, the first and last
/// with the code, no bare LF, and no middle line that could close the reply early.
fn check_reply_wire(reply: &Reply<'_>, wire: &[u8]) {
    let digits = reply.code().to_string();
    let digits = digits.as_bytes();
    let lines: Vec<&[u8]> = wire
        .split_inclusive(|&byte| byte == b'\n')
        .map(|line| line.strip_suffix(b"\r\n").expect("every line ends in CRLF"))
        .collect();
    assert_eq!(lines.len(), reply.lines().count());
    let last = lines.len() - 1;
    for (index, line) in lines.iter().enumerate() {
        let closes = line.starts_with(digits) && matches!(line.get(3), None | Some(b' '));
        assert_eq!(closes, index == last, "line {index} of {lines:?} closes");
        if index == 0 {
            assert!(line.starts_with(digits));
        }
    }
}

// ---------------------------------------------------------------------------------------
// Feeding and chunking
// ---------------------------------------------------------------------------------------

/// Chunk sizes for a stream, drawn from a seed: the low three bits pick the largest
/// chunk (1, 2, 3, 5, 8, 16, 64 or 4096 bytes), the byte seeds a small generator.
struct Chunks {
    state: u32,
    largest: usize,
}

impl Chunks {
    fn new(seed: u8) -> Self {
        Chunks {
            state: u32::from(seed).wrapping_mul(2_654_435_761) | 1,
            largest: [1, 2, 3, 5, 8, 16, 64, 4096][usize::from(seed & 7)],
        }
    }

    fn whole() -> Self {
        Chunks {
            state: 1,
            largest: usize::MAX,
        }
    }

    fn next(&mut self) -> usize {
        if self.largest == usize::MAX {
            return usize::MAX;
        }
        self.state ^= self.state << 13;
        self.state ^= self.state >> 17;
        self.state ^= self.state << 5;
        1 + self.state as usize % self.largest
    }
}

/// Feeds `input` to a parse step in chunks, as a caller of the sans-IO contract does:
/// after each chunk, parse and drop the consumed bytes until no item comes out.
fn feed<O>(
    input: &[u8],
    mut chunks: Chunks,
    mut parse: impl FnMut(&[u8]) -> (usize, Option<O>),
) -> Vec<O> {
    let mut buffer = Vec::new();
    let mut items = Vec::new();
    let mut offset = 0;
    loop {
        loop {
            let (consumed, item) = parse(&buffer);
            assert!(consumed <= buffer.len(), "consumed more than given");
            buffer.drain(..consumed);
            match item {
                Some(item) => {
                    assert!(consumed > 0, "an item came out of no bytes");
                    items.push(item);
                }
                None => break,
            }
        }
        if offset == input.len() {
            return items;
        }
        let size = chunks.next().min(input.len() - offset);
        buffer.extend_from_slice(&input[offset..offset + size]);
        offset += size;
    }
}

/// The command line bound for a stream: small ones to reach the over-long paths, or the
/// default.
fn line_limit(seed: u8) -> usize {
    if seed >= 224 {
        DEFAULT_MAX_LINE_LENGTH
    } else {
        usize::from(seed % 64)
    }
}

/// The reply bounds: (line length, lines per reply).
fn reply_limits(seed: u8) -> (usize, usize) {
    if seed >= 224 {
        (DEFAULT_MAX_LINE_LENGTH, 1024)
    } else {
        (usize::from(seed % 32) + 4, usize::from(seed >> 5) + 1)
    }
}

// ---------------------------------------------------------------------------------------
// Building values from fuzzer bytes
// ---------------------------------------------------------------------------------------

/// Octet-string argument bytes: free of CR, LF and NUL, unless `hostile` asks to keep
/// them (to check that the encoder refuses them).
fn octets(u: &mut Unstructured<'_>, hostile: bool, non_empty: bool) -> arbitrary::Result<Vec<u8>> {
    let mut bytes: Vec<u8> = u.arbitrary()?;
    if !hostile {
        bytes.retain(|&byte| !matches!(byte, b'\r' | b'\n' | 0));
    }
    if non_empty && bytes.is_empty() {
        bytes.push(b'x');
    }
    Ok(bytes)
}

/// One word: no space, no control byte, not empty.
fn word(u: &mut Unstructured<'_>) -> arbitrary::Result<Vec<u8>> {
    let mut bytes: Vec<u8> = u.arbitrary()?;
    bytes.retain(|&byte| byte != b' ' && byte >= 0x20);
    if bytes.is_empty() {
        bytes.push(b'W');
    }
    Ok(bytes)
}

/// A parameter letter of either case (the parser reads both, the encoder writes upper).
fn parameter_letter(u: &mut Unstructured<'_>) -> arbitrary::Result<ParameterLetter> {
    let byte = *u.choose(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")?;
    Ok(ParameterLetter::new(byte).expect("an ASCII letter"))
}

fn text(bytes: Vec<u8>) -> Text<'static> {
    Text::from(bytes)
}

fn path(bytes: Vec<u8>) -> Pathname<'static> {
    Pathname::from(bytes)
}

/// A command of any verb with fuzzer-chosen arguments, in the shapes the parser accepts
/// (required arguments non-empty, optional ones `None` rather than empty).
fn arbitrary_command(u: &mut Unstructured<'_>) -> arbitrary::Result<Command<'static>> {
    let hostile = u.ratio(1, 8)?;
    let index = u.choose_index(Verb::ALL.len() + 1)?;
    let Some(&verb) = Verb::ALL.get(index) else {
        let mut verb = word(u)?;
        verb.retain(|&byte| byte != 0xFF); // the encoder does not double IAC in verbs
        if verb.is_empty() || Verb::from_bytes(&verb).is_some() {
            verb.push(b'1');
        }
        let argument = if u.arbitrary()? {
            Some(text(octets(u, hostile, false)?))
        } else {
            None
        };
        return Ok(Command::Unknown {
            verb: text(verb),
            argument,
        });
    };
    let required_text = |u: &mut Unstructured<'_>| octets(u, hostile, true).map(text);
    let required_path = |u: &mut Unstructured<'_>| octets(u, hostile, true).map(path);
    let optional = |u: &mut Unstructured<'_>| -> arbitrary::Result<Option<Vec<u8>>> {
        Ok(if u.arbitrary()? {
            Some(octets(u, hostile, true)?)
        } else {
            None
        })
    };
    let format_control = |u: &mut Unstructured<'_>| -> arbitrary::Result<FormatControl> {
        Ok(*u.choose(&[
            FormatControl::NonPrint,
            FormatControl::Telnet,
            FormatControl::CarriageControl,
        ])?)
    };
    Ok(match verb {
        Verb::User => Command::User(required_text(u)?),
        Verb::Pass => Command::Pass(Password(text(octets(u, hostile, false)?))),
        Verb::Acct => Command::Acct(required_text(u)?),
        Verb::Site => Command::Site(required_text(u)?),
        Verb::Adat => Command::Adat(required_text(u)?),
        Verb::Mic => Command::Mic(required_text(u)?),
        Verb::Conf => Command::Conf(required_text(u)?),
        Verb::Enc => Command::Enc(required_text(u)?),
        Verb::Host => Command::Host(required_text(u)?),
        Verb::Clnt => Command::Clnt(required_text(u)?),
        Verb::Cwd => Command::Cwd(required_path(u)?),
        Verb::Smnt => Command::Smnt(required_path(u)?),
        Verb::Retr => Command::Retr(required_path(u)?),
        Verb::Stor => Command::Stor(required_path(u)?),
        Verb::Appe => Command::Appe(required_path(u)?),
        Verb::Rnfr => Command::Rnfr(required_path(u)?),
        Verb::Rnto => Command::Rnto(required_path(u)?),
        Verb::Dele => Command::Dele(required_path(u)?),
        Verb::Rmd => Command::Rmd(required_path(u)?),
        Verb::Mkd => Command::Mkd(required_path(u)?),
        Verb::Xcwd => Command::Xcwd(required_path(u)?),
        Verb::Xmkd => Command::Xmkd(required_path(u)?),
        Verb::Xrmd => Command::Xrmd(required_path(u)?),
        Verb::Size => Command::Size(required_path(u)?),
        Verb::Mdtm => Command::Mdtm(required_path(u)?),
        Verb::Hash => Command::Hash(required_path(u)?),
        Verb::Stou => Command::Stou(optional(u)?.map(path)),
        Verb::List => Command::List(optional(u)?.map(path)),
        Verb::Nlst => Command::Nlst(optional(u)?.map(path)),
        Verb::Stat => Command::Stat(optional(u)?.map(path)),
        Verb::Mlst => Command::Mlst(optional(u)?.map(path)),
        Verb::Mlsd => Command::Mlsd(optional(u)?.map(path)),
        Verb::Help => Command::Help(optional(u)?.map(text)),
        Verb::Lang => Command::Lang(optional(u)?.map(text)),
        Verb::Port => Command::Port(SocketAddrV4::new(
            Ipv4Addr::from(u.arbitrary::<u32>()?),
            u.arbitrary()?,
        )),
        Verb::Eprt => {
            let ip = if u.arbitrary()? {
                IpAddr::V4(Ipv4Addr::from(u.arbitrary::<u32>()?))
            } else {
                IpAddr::V6(Ipv6Addr::from(u.arbitrary::<u128>()?))
            };
            Command::Eprt(SocketAddr::new(ip, u.arbitrary()?))
        }
        Verb::Epsv => Command::Epsv(match u.choose_index(3)? {
            0 => ExtendedPassive::Any,
            1 => ExtendedPassive::All,
            _ => ExtendedPassive::Protocol(NetworkProtocol(u.arbitrary()?)),
        }),
        Verb::Type => Command::Type(match u.choose_index(5)? {
            0 => RepresentationType::Ascii(format_control(u)?),
            1 => RepresentationType::Ebcdic(format_control(u)?),
            2 => RepresentationType::Image,
            3 => RepresentationType::Local(u.int_in_range(1..=255)?),
            // Any letter, named or not (`TYPE X` is a command the server refuses).
            _ => RepresentationType::from_letter(parameter_letter(u)?),
        }),
        Verb::Stru => Command::Stru(FileStructure::from_letter(parameter_letter(u)?)),
        Verb::Mode => Command::Mode(TransferMode::from_letter(parameter_letter(u)?)),
        Verb::Prot => Command::Prot(*u.choose(&[
            ProtectionLevel::Clear,
            ProtectionLevel::Safe,
            ProtectionLevel::Confidential,
            ProtectionLevel::Private,
        ])?),
        Verb::Allo => Command::Allo(Allocation {
            size: u.arbitrary()?,
            record_size: u.arbitrary()?,
        }),
        Verb::Rest => Command::Rest(u.arbitrary()?),
        Verb::Pbsz => Command::Pbsz(u.arbitrary()?),
        Verb::Auth => Command::Auth(match u.choose_index(3)? {
            0 => AuthMechanism::Tls,
            1 => AuthMechanism::Ssl,
            _ => {
                let mut mechanism = word(u)?;
                if [&b"TLS"[..], b"TLS-C", b"SSL"]
                    .iter()
                    .any(|known| mechanism.eq_ignore_ascii_case(known))
                {
                    mechanism.push(b'1');
                }
                AuthMechanism::Other(text(mechanism))
            }
        }),
        Verb::Opts => Command::Opts(CommandOptions {
            command: text(word(u)?),
            options: if u.arbitrary()? {
                Some(text(octets(u, hostile, false)?))
            } else {
                None
            },
        }),
        Verb::Mfmt => {
            // Mostly within years 0000-9999, sometimes outside, to reach TimeOutOfRange.
            let seconds: i64 = if u.ratio(1, 16)? {
                u.arbitrary()?
            } else {
                u.int_in_range(-62_167_219_200..=253_402_300_799)?
            };
            let nanos: u32 = u.int_in_range(0..=999_999_999)?;
            let whole = Duration::from_secs(seconds.unsigned_abs());
            let Some(modified) = (if seconds >= 0 {
                UNIX_EPOCH.checked_add(whole)
            } else {
                UNIX_EPOCH.checked_sub(whole)
            })
            .and_then(|time| time.checked_add(Duration::from_nanos(u64::from(nanos)))) else {
                return Err(arbitrary::Error::IncorrectFormat);
            };
            Command::Mfmt {
                modified,
                path: required_path(u)?,
            }
        }
        Verb::Cdup => Command::Cdup,
        Verb::Rein => Command::Rein,
        Verb::Quit => Command::Quit,
        Verb::Pasv => Command::Pasv,
        Verb::Abor => Command::Abor,
        Verb::Pwd => Command::Pwd,
        Verb::Syst => Command::Syst,
        Verb::Xcup => Command::Xcup,
        Verb::Xpwd => Command::Xpwd,
        Verb::Ccc => Command::Ccc,
        Verb::Feat => Command::Feat,
        // A verb added to the crate after this harness: nothing to build for it yet.
        _ => Command::Noop,
    })
}

// ---------------------------------------------------------------------------------------
// Listings and sessions
// ---------------------------------------------------------------------------------------

/// `list_line`: every line of a listing parses to an entry, a total, a blank or an
/// "unrecognised" report (never a panic), and an entry's name is never empty.
pub fn list_line(data: &[u8]) {
    let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    for line in ftp_proto::listing::list_lines(data, now) {
        if let ftp_proto::listing::ListLine::Entry(entry) = line {
            let mut out = Vec::new();
            ftp_proto::listing::write_list_line(&entry, now, &mut out);
            assert!(out.ends_with(b"\r\n"));
        }
    }
}

/// `mlsx_line`: an MLSx line that parses writes back (with every fact) to a line that
/// parses to an entry of the same name.
pub fn mlsx_line(data: &[u8]) {
    let Ok(entry) = ftp_proto::listing::parse_mlsx_line(data) else {
        return;
    };
    let mut out = Vec::new();
    ftp_proto::listing::write_mlsx_line(&entry, ftp_proto::listing::FactSet::ALL, &mut out);
    let line = out
        .strip_suffix(b"\r\n")
        .expect("a written line ends in CRLF");
    // With no fact written the line is ` name`, which MLSD and MLST share: a name that
    // itself looks like facts is then ambiguous by the grammar, not by our writer.
    if line.first() == Some(&b' ') {
        return;
    }
    let again = ftp_proto::listing::parse_mlsx_line(line).unwrap_or_else(|error| {
        panic!(
            "{:?} does not parse back: {error}",
            line.escape_ascii().to_string()
        )
    });
    assert_eq!(again.name, entry.name);
}

/// `server_session`: see [`ftp_proto::server::fuzz_server`].
pub fn server_session(data: &[u8]) {
    ftp_proto::server::fuzz_server(data);
}

/// `client_session`: see [`ftp_proto::client::fuzz_client`].
pub fn client_session(data: &[u8]) {
    ftp_proto::client::fuzz_client(data);
}
