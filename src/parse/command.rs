//! Command lines: the verb, then everything after exactly one space as the argument,
//! then the argument's grammar for the verbs that have one.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4};

use nom::branch::alt;
use nom::bytes::complete::tag_no_case;
use nom::character::complete::{char, one_of, space1, u8 as decimal_u8, u16 as decimal_u16};
use nom::character::complete::{u32 as decimal_u32, u64 as decimal_u64};
use nom::combinator::{all_consuming, map, opt, value};
use nom::sequence::{preceded, separated_pair};
use nom::{IResult, Parser as _};

use super::{DEFAULT_MAX_LINE_LENGTH, LineFrame, LineFramer, Parsed, telnet_decode};
use crate::command::{
    Allocation, AuthMechanism, Command, CommandOptions, ExtendedPassive, FileStructure,
    FormatControl, NetworkProtocol, ParameterLetter, Password, ProtectionLevel, RepresentationType,
    TransferMode,
};
use crate::reply::ReplyCode;
use crate::text::{Pathname, Text};
use crate::verb::{ArgumentRule, Verb};

/// Why a command line was refused. Each error maps to the reply a server should send
/// ([`CommandError::reply_code`]), and the session goes on.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    /// The line was longer than the parser's bound; its bytes were skipped.
    #[error("command line longer than {limit} bytes")]
    LineTooLong {
        /// The bound in force.
        limit: usize,
    },
    /// The line was empty.
    #[error("empty command line")]
    EmptyLine,
    /// The line began with a space, so it has no verb.
    #[error("command line has no verb")]
    MissingVerb,
    /// More bytes followed the line end given to [`parse_command`].
    #[error("more than one line given to parse_command")]
    TrailingData,
    /// The verb needs an argument and none was given.
    #[error("{verb} needs an argument")]
    MissingArgument {
        /// The verb.
        verb: Verb,
    },
    /// The verb takes no argument and one was given.
    #[error("{verb} takes no argument")]
    UnexpectedArgument {
        /// The verb.
        verb: Verb,
    },
    /// The argument does not follow the verb's grammar.
    #[error("{verb} argument is not valid: {expected}")]
    InvalidArgument {
        /// The verb.
        verb: Verb,
        /// What the argument should look like.
        expected: &'static str,
    },
    /// The argument is well formed but names a parameter the protocol does not define
    /// (`PROT X`); RFC 959 answers 504. (`TYPE`, `STRU` and `MODE` take any letter:
    /// the session refuses the ones it does not support.)
    #[error("{verb} parameter is not supported")]
    UnsupportedParameter {
        /// The verb.
        verb: Verb,
    },
    /// `EPRT` or `EPSV` named a network protocol other than 1 (IPv4) or 2 (IPv6).
    #[error("{verb} names network protocol {protocol}, which is not supported")]
    UnsupportedNetworkProtocol {
        /// The verb.
        verb: Verb,
        /// The protocol number the peer sent.
        protocol: u16,
    },
}

impl CommandError {
    /// The reply code a server should answer with: 500 for a line that is not a command,
    /// 501 for a bad argument, 504 for an unsupported parameter, 522 for an unsupported
    /// network protocol (RFC 2428).
    pub fn reply_code(&self) -> ReplyCode {
        match self {
            CommandError::LineTooLong { .. }
            | CommandError::EmptyLine
            | CommandError::MissingVerb
            | CommandError::TrailingData => ReplyCode::SYNTAX_ERROR,
            CommandError::MissingArgument { .. }
            | CommandError::UnexpectedArgument { .. }
            | CommandError::InvalidArgument { .. } => ReplyCode::SYNTAX_ERROR_IN_ARGUMENTS,
            CommandError::UnsupportedParameter { .. } => {
                ReplyCode::COMMAND_NOT_IMPLEMENTED_FOR_PARAMETER
            }
            CommandError::UnsupportedNetworkProtocol { .. } => {
                ReplyCode::NETWORK_PROTOCOL_NOT_SUPPORTED
            }
        }
    }

    /// The verb the error concerns, when the line had a known one.
    pub fn verb(&self) -> Option<Verb> {
        match self {
            CommandError::MissingArgument { verb }
            | CommandError::UnexpectedArgument { verb }
            | CommandError::InvalidArgument { verb, .. }
            | CommandError::UnsupportedParameter { verb }
            | CommandError::UnsupportedNetworkProtocol { verb, .. } => Some(*verb),
            _ => None,
        }
    }
}

/// Parses one command line, with or without its CRLF or LF.
///
/// For a stream of lines, use a [`CommandParser`], which also bounds line length.
///
/// ```
/// use ftp_proto::{Command, CommandError, Verb, parse_command};
/// use std::net::SocketAddrV4;
///
/// assert_eq!(
///     parse_command(b"port 127,0,0,1,4,1")?,
///     Command::Port(SocketAddrV4::new([127, 0, 0, 1].into(), 1025)),
/// );
/// assert_eq!(
///     parse_command(b"RETR\r\n"),
///     Err(CommandError::MissingArgument { verb: Verb::Retr }),
/// );
/// # Ok::<(), CommandError>(())
/// ```
pub fn parse_command(line: &[u8]) -> Result<Command<'_>, CommandError> {
    let line = match memchr::memchr(b'\n', line) {
        Some(end) if end + 1 < line.len() => return Err(CommandError::TrailingData),
        Some(end) => line[..end].strip_suffix(b"\r").unwrap_or(&line[..end]),
        None => line,
    };
    parse_line(line)
}

/// Undoes Telnet framing, then parses; owned only when the line needed decoding.
#[inline]
fn parse_line(line: &[u8]) -> Result<Command<'_>, CommandError> {
    match telnet_decode(line) {
        std::borrow::Cow::Borrowed(line) => parse_decoded(line),
        std::borrow::Cow::Owned(decoded) => parse_decoded(&decoded).map(Command::into_owned),
    }
}

/// A streaming parser of command lines, for the server side of a control connection.
///
/// It owns no buffer: pass it every byte not yet consumed, drop the `consumed` bytes it
/// reports, and repeat until it returns no item. Lines end in CRLF or a bare LF; any
/// split of the input gives the same commands. A line longer than the bound (default
/// [`DEFAULT_MAX_LINE_LENGTH`]) yields [`CommandError::LineTooLong`] once and is
/// skipped as it arrives, never buffered.
///
/// ```
/// use ftp_proto::{Command, CommandParser};
///
/// let mut parser = CommandParser::new();
/// let mut input = b"USER anonymous\r\nNO".to_vec();
/// let parsed = parser.parse(&input);
/// assert!(matches!(parsed.item, Some(Ok(Command::User(_)))));
/// let consumed = parsed.consumed;
/// input.drain(..consumed);
///
/// let parsed = parser.parse(&input);
/// assert_eq!(parsed.item, None); // "NO" is not a whole line yet
/// input.drain(..parsed.consumed);
/// input.extend_from_slice(b"OP\r\n");
/// assert_eq!(parser.parse(&input).item, Some(Ok(Command::Noop)));
/// ```
#[derive(Clone, Debug)]
pub struct CommandParser {
    framer: LineFramer,
}

impl Default for CommandParser {
    fn default() -> Self {
        Self::new()
    }
}

impl CommandParser {
    /// A parser with the default line bound, [`DEFAULT_MAX_LINE_LENGTH`].
    pub fn new() -> Self {
        Self::with_max_line_length(DEFAULT_MAX_LINE_LENGTH)
    }

    /// A parser that refuses lines longer than `max_line_length` bytes (line end not
    /// counted).
    pub fn with_max_line_length(max_line_length: usize) -> Self {
        CommandParser {
            framer: LineFramer::new(max_line_length),
        }
    }

    /// The line bound in force.
    pub fn max_line_length(&self) -> usize {
        self.framer.max_line_length
    }

    /// Forgets any partly read line, as after the connection was reset; the bound stays.
    pub fn reset(&mut self) {
        self.framer = LineFramer::new(self.framer.max_line_length);
    }

    /// Parses the next command from `input`, which must start with the first byte not
    /// yet consumed (the same bytes as last time, plus any new ones).
    #[inline]
    pub fn parse<'b>(&mut self, input: &'b [u8]) -> Parsed<Result<Command<'b>, CommandError>> {
        match self.framer.next_line(input) {
            LineFrame::Line {
                line,
                consumed,
                clean,
                ..
            } => Parsed {
                consumed,
                item: Some(if clean {
                    parse_decoded(line)
                } else {
                    parse_line(line)
                }),
            },
            LineFrame::TooLong { consumed, .. } => Parsed {
                consumed,
                item: Some(Err(CommandError::LineTooLong {
                    limit: self.framer.max_line_length,
                })),
            },
            LineFrame::Partial { consumed } => Parsed {
                consumed,
                item: None,
            },
        }
    }
}

#[inline]
fn parse_decoded(line: &[u8]) -> Result<Command<'_>, CommandError> {
    if line.is_empty() {
        return Err(CommandError::EmptyLine);
    }
    // Known verbs are at most four letters: look for the space there first.
    let space = match line.iter().take(5).position(|&byte| byte == b' ') {
        Some(space) => Some(space),
        None if line.len() > 5 => memchr::memchr(b' ', &line[5..]).map(|space| space + 5),
        None => None,
    };
    let (verb_bytes, argument) = match space {
        Some(space) => (&line[..space], Some(&line[space + 1..])),
        None => (line, None),
    };
    if verb_bytes.is_empty() {
        return Err(CommandError::MissingVerb);
    }
    let Some(verb) = Verb::from_bytes(verb_bytes) else {
        return Ok(Command::Unknown {
            verb: Text::borrowed(verb_bytes),
            argument: argument.map(Text::borrowed),
        });
    };
    let argument = argument.filter(|argument| !argument.is_empty());
    let argument = match (verb.argument_rule(), argument) {
        (ArgumentRule::Nothing, Some(_)) => {
            return Err(CommandError::UnexpectedArgument { verb });
        }
        (ArgumentRule::Required, None) => return Err(CommandError::MissingArgument { verb }),
        (_, argument) => argument,
    };
    let path = || Pathname::borrowed(argument.unwrap_or_default());
    let text = || Text::borrowed(argument.unwrap_or_default());
    let optional_path = || argument.map(Pathname::borrowed);
    let optional_text = || argument.map(Text::borrowed);
    let typed = |parser: ArgumentParser| typed_argument(verb, argument.unwrap_or_default(), parser);
    Ok(match verb {
        Verb::User => Command::User(text()),
        Verb::Pass => Command::Pass(Password(text())),
        Verb::Acct => Command::Acct(text()),
        Verb::Cwd => Command::Cwd(path()),
        Verb::Cdup => Command::Cdup,
        Verb::Smnt => Command::Smnt(path()),
        Verb::Rein => Command::Rein,
        Verb::Quit => Command::Quit,
        Verb::Port => typed(ArgumentParser::Port)?,
        Verb::Pasv => Command::Pasv,
        Verb::Type => typed(ArgumentParser::Type)?,
        Verb::Stru => typed(ArgumentParser::Stru)?,
        Verb::Mode => typed(ArgumentParser::Mode)?,
        Verb::Retr => Command::Retr(path()),
        Verb::Stor => Command::Stor(path()),
        Verb::Stou => Command::Stou(optional_path()),
        Verb::Appe => Command::Appe(path()),
        Verb::Allo => typed(ArgumentParser::Allo)?,
        Verb::Rest => typed(ArgumentParser::Rest)?,
        Verb::Rnfr => Command::Rnfr(path()),
        Verb::Rnto => Command::Rnto(path()),
        Verb::Abor => Command::Abor,
        Verb::Dele => Command::Dele(path()),
        Verb::Rmd => Command::Rmd(path()),
        Verb::Mkd => Command::Mkd(path()),
        Verb::Pwd => Command::Pwd,
        Verb::List => Command::List(optional_path()),
        Verb::Nlst => Command::Nlst(optional_path()),
        Verb::Site => Command::Site(text()),
        Verb::Syst => Command::Syst,
        Verb::Stat => Command::Stat(optional_path()),
        Verb::Help => Command::Help(optional_text()),
        Verb::Noop => Command::Noop,
        Verb::Xcup => Command::Xcup,
        Verb::Xcwd => Command::Xcwd(path()),
        Verb::Xmkd => Command::Xmkd(path()),
        Verb::Xpwd => Command::Xpwd,
        Verb::Xrmd => Command::Xrmd(path()),
        Verb::Auth => Command::Auth(auth_mechanism(argument.unwrap_or_default())),
        Verb::Adat => Command::Adat(text()),
        Verb::Prot => typed(ArgumentParser::Prot)?,
        Verb::Pbsz => typed(ArgumentParser::Pbsz)?,
        Verb::Ccc => Command::Ccc,
        Verb::Mic => Command::Mic(text()),
        Verb::Conf => Command::Conf(text()),
        Verb::Enc => Command::Enc(text()),
        Verb::Feat => Command::Feat,
        Verb::Opts => Command::Opts(command_options(argument.unwrap_or_default())),
        Verb::Eprt => eprt(argument.unwrap_or_default())?,
        Verb::Epsv => match argument {
            None => Command::Epsv(ExtendedPassive::Any),
            Some(argument) => typed_argument(verb, argument, ArgumentParser::Epsv)?,
        },
        Verb::Lang => Command::Lang(optional_text()),
        Verb::Size => Command::Size(path()),
        Verb::Mdtm => Command::Mdtm(path()),
        Verb::Mlst => Command::Mlst(optional_path()),
        Verb::Mlsd => Command::Mlsd(optional_path()),
        Verb::Host => Command::Host(text()),
        Verb::Mfmt => mfmt(argument.unwrap_or_default())?,
        Verb::Hash => Command::Hash(path()),
        Verb::Clnt => Command::Clnt(text()),
    })
}

/// The typed arguments parsed with nom; each knows what it expects, for error messages.
#[derive(Clone, Copy)]
enum ArgumentParser {
    Port,
    Type,
    Stru,
    Mode,
    Prot,
    Allo,
    Rest,
    Pbsz,
    Epsv,
}

fn typed_argument<'a>(
    verb: Verb,
    argument: &'a [u8],
    parser: ArgumentParser,
) -> Result<Command<'a>, CommandError> {
    let invalid = |expected| CommandError::InvalidArgument { verb, expected };
    // A single letter outside the RFC's set is a parameter we do not support (504).
    let letter = |argument: &[u8], letters: &[u8]| -> Result<u8, CommandError> {
        match argument {
            [letter] if letters.contains(&letter.to_ascii_uppercase()) => {
                Ok(letter.to_ascii_uppercase())
            }
            [letter] if letter.is_ascii_alphabetic() => {
                Err(CommandError::UnsupportedParameter { verb })
            }
            _ => Err(invalid("a single letter")),
        }
    };
    Ok(match parser {
        ArgumentParser::Port => {
            Command::Port(finish(argument, port_argument).ok_or(invalid("h1,h2,h3,h4,p1,p2"))?)
        }
        // The two types every client sends, without the general grammar.
        ArgumentParser::Type if argument.eq_ignore_ascii_case(b"I") => {
            Command::Type(RepresentationType::Image)
        }
        ArgumentParser::Type if argument.eq_ignore_ascii_case(b"A") => {
            Command::Type(RepresentationType::Ascii(FormatControl::NonPrint))
        }
        ArgumentParser::Type => Command::Type(
            representation_type(argument).ok_or(invalid("A [N|T|C], E [N|T|C], I or L <bits>"))?,
        ),
        // Every letter is representable (RFC 959 leaves room for more, and `MODE Z` is
        // in use); whether it is supported is the session's decision, not the parser's.
        ArgumentParser::Stru => Command::Stru(FileStructure::from_letter(
            parameter_letter(argument).ok_or(invalid("a single letter"))?,
        )),
        ArgumentParser::Mode => Command::Mode(TransferMode::from_letter(
            parameter_letter(argument).ok_or(invalid("a single letter"))?,
        )),
        ArgumentParser::Prot => Command::Prot(match letter(argument, b"CSEP")? {
            b'C' => ProtectionLevel::Clear,
            b'S' => ProtectionLevel::Safe,
            b'E' => ProtectionLevel::Confidential,
            _ => ProtectionLevel::Private,
        }),
        ArgumentParser::Allo => Command::Allo(
            finish(argument, allocation).ok_or(invalid("a byte count, optionally R <size>"))?,
        ),
        ArgumentParser::Rest => Command::Rest(decimal(argument).ok_or(invalid("a byte offset"))?),
        ArgumentParser::Pbsz => {
            Command::Pbsz(finish(argument, decimal_u32).ok_or(invalid("a 32-bit buffer size"))?)
        }
        ArgumentParser::Epsv => {
            if argument.eq_ignore_ascii_case(b"ALL") {
                Command::Epsv(ExtendedPassive::All)
            } else {
                let protocol =
                    finish(argument, decimal_u16).ok_or(invalid("ALL or a protocol number"))?;
                Command::Epsv(ExtendedPassive::Protocol(NetworkProtocol(protocol)))
            }
        }
    })
}

/// A plain decimal `u64` (digits only, no sign, no overflow): REST's offset, which
/// every resumed transfer sends, read without the general grammar.
fn decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    digits.iter().try_fold(0u64, |value, &digit| {
        value.checked_mul(10)?.checked_add(u64::from(digit - b'0'))
    })
}

/// Runs a nom parser that must consume the whole input.
fn finish<'a, O>(
    input: &'a [u8],
    parser: impl nom::Parser<&'a [u8], Output = O, Error = nom::error::Error<&'a [u8]>>,
) -> Option<O> {
    all_consuming(parser)
        .parse(input)
        .ok()
        .map(|(_, output)| output)
}

fn port_argument(input: &[u8]) -> IResult<&[u8], SocketAddrV4> {
    let comma = || char(',');
    map(
        (
            decimal_u8,
            preceded(comma(), decimal_u8),
            preceded(comma(), decimal_u8),
            preceded(comma(), decimal_u8),
            preceded(comma(), decimal_u8),
            preceded(comma(), decimal_u8),
        ),
        |(h1, h2, h3, h4, p1, p2)| {
            SocketAddrV4::new(Ipv4Addr::new(h1, h2, h3, h4), u16::from_be_bytes([p1, p2]))
        },
    )
    .parse(input)
}

fn allocation(input: &[u8]) -> IResult<&[u8], Allocation> {
    map(
        (
            decimal_u64,
            opt(preceded((space1, tag_no_case("R"), space1), decimal_u64)),
        ),
        |(size, record_size)| Allocation { size, record_size },
    )
    .parse(input)
}

/// One ASCII letter, the whole argument of `STRU` and `MODE`.
fn parameter_letter(argument: &[u8]) -> Option<ParameterLetter> {
    match argument {
        [letter] => ParameterLetter::new(*letter),
        _ => None,
    }
}

/// `TYPE`'s grammar; a lone letter outside it is [`RepresentationType::Other`].
fn representation_type(argument: &[u8]) -> Option<RepresentationType> {
    fn format_control(input: &[u8]) -> IResult<&[u8], FormatControl> {
        map(
            opt(preceded(space1, one_of("NTCntc"))),
            |letter| match letter.map(|letter| letter.to_ascii_uppercase()) {
                Some('T') => FormatControl::Telnet,
                Some('C') => FormatControl::CarriageControl,
                _ => FormatControl::NonPrint,
            },
        )
        .parse(input)
    }
    let parsed = finish(
        argument,
        alt((
            map(
                preceded(tag_no_case("A"), format_control),
                RepresentationType::Ascii,
            ),
            map(
                preceded(tag_no_case("E"), format_control),
                RepresentationType::Ebcdic,
            ),
            value(RepresentationType::Image, tag_no_case("I")),
            map(
                preceded(tag_no_case("L"), preceded(opt(space1), decimal_u8)),
                RepresentationType::Local,
            ),
        )),
    );
    match parsed {
        Some(RepresentationType::Local(0)) => None,
        Some(kind) => Some(kind),
        None => parameter_letter(argument).map(RepresentationType::from_letter),
    }
}

fn auth_mechanism(argument: &[u8]) -> AuthMechanism<'_> {
    if argument.eq_ignore_ascii_case(b"TLS") || argument.eq_ignore_ascii_case(b"TLS-C") {
        AuthMechanism::Tls
    } else if argument.eq_ignore_ascii_case(b"SSL") {
        AuthMechanism::Ssl
    } else {
        AuthMechanism::Other(Text::borrowed(argument))
    }
}

fn command_options(argument: &[u8]) -> CommandOptions<'_> {
    match memchr::memchr(b' ', argument) {
        Some(space) => CommandOptions {
            command: Text::borrowed(&argument[..space]),
            options: Some(Text::borrowed(&argument[space + 1..])),
        },
        None => CommandOptions {
            command: Text::borrowed(argument),
            options: None,
        },
    }
}

/// `EPRT <d><proto><d><address><d><port><d>` with any delimiter from 33 to 126.
fn eprt(argument: &[u8]) -> Result<Command<'_>, CommandError> {
    let verb = Verb::Eprt;
    let invalid = CommandError::InvalidArgument {
        verb,
        expected: "|protocol|address|port| with one delimiter",
    };
    let Some((&delimiter, rest)) = argument.split_first() else {
        return Err(invalid);
    };
    if !(33..=126).contains(&delimiter) {
        return Err(invalid);
    }
    let mut fields = rest.split(|&byte| byte == delimiter);
    let (Some(protocol), Some(address), Some(port), Some(b""), None) = (
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
    ) else {
        return Err(invalid);
    };
    let protocol = finish(protocol, decimal_u16).ok_or(invalid.clone())?;
    let address = std::str::from_utf8(address).map_err(|_| invalid.clone())?;
    let ip = match NetworkProtocol(protocol) {
        NetworkProtocol::IPV4 => {
            IpAddr::V4(address.parse::<Ipv4Addr>().map_err(|_| invalid.clone())?)
        }
        NetworkProtocol::IPV6 => {
            IpAddr::V6(address.parse::<Ipv6Addr>().map_err(|_| invalid.clone())?)
        }
        _ => return Err(CommandError::UnsupportedNetworkProtocol { verb, protocol }),
    };
    let port = finish(port, decimal_u16).ok_or(invalid)?;
    Ok(Command::Eprt(SocketAddr::new(ip, port)))
}

/// `MFMT YYYYMMDDHHMMSS[.fff] path`.
fn mfmt(argument: &[u8]) -> Result<Command<'_>, CommandError> {
    let invalid = CommandError::InvalidArgument {
        verb: Verb::Mfmt,
        expected: "YYYYMMDDHHMMSS[.fff] followed by a path",
    };
    let (time, path) = separated_pair(
        nom::bytes::complete::is_not(" "),
        char::<&[u8], nom::error::Error<&[u8]>>(' '),
        nom::combinator::rest,
    )
    .parse(argument)
    .map(|(_, pair)| pair)
    .map_err(|_| invalid.clone())?;
    let modified = crate::time::parse_timestamp(time).ok_or(invalid.clone())?;
    if path.is_empty() {
        return Err(invalid);
    }
    Ok(Command::Mfmt {
        modified,
        path: Pathname::borrowed(path),
    })
}
