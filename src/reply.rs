//! `Reply` and `ReplyCode`: what a server answers, its serializer, and parsers for the
//! typed payloads that clients read out of reply text (227, 229, 257, 213, 211, 150).
//!
//! Parsing of the reply framing (single and multi-line) lives in [`crate::parse`]; the
//! payload parsers here work on an already framed reply and are deliberately lenient,
//! because real servers are.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::SystemTime;

use bytes::BufMut;

use crate::text::{Pathname, Text};

/// A three-digit FTP reply code.
///
/// Every code from `000` to `999` is representable, so a code this crate has no name
/// for survives parsing unchanged; the named constants cover every code RFC 959, 1123,
/// 2228, 2428, 3659, 4217 and 7151 define.
///
/// ```
/// use ftp_proto::ReplyCode;
/// let code = ReplyCode::new(226).unwrap();
/// assert_eq!(code, ReplyCode::CLOSING_DATA_CONNECTION);
/// assert!(code.is_positive_completion());
/// assert!(ReplyCode::new(1000).is_none());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReplyCode(u16);

/// Defines the named reply codes and the table behind `ReplyCode::name`.
macro_rules! reply_codes {
    ($($name:ident = $code:literal, $doc:literal;)*) => {
        impl ReplyCode {
            $(
                #[doc = concat!("`", stringify!($code), "`: ", $doc)]
                pub const $name: ReplyCode = ReplyCode($code);
            )*

            /// The constant's name for a known code (`"FILE_STATUS_OKAY"` for 150).
            pub fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($code => Some(stringify!($name)),)*
                    _ => None,
                }
            }
        }
    };
}

reply_codes! {
    RESTART_MARKER = 110, "restart marker reply (RFC 959).";
    SERVICE_READY_IN = 120, "service ready in nnn minutes (RFC 959).";
    DATA_CONNECTION_ALREADY_OPEN = 125, "data connection already open; transfer starting (RFC 959).";
    FILE_STATUS_OKAY = 150, "file status okay; about to open data connection (RFC 959).";
    COMMAND_OKAY = 200, "command okay (RFC 959).";
    COMMAND_SUPERFLUOUS = 202, "command not implemented, superfluous at this site (RFC 959).";
    SYSTEM_STATUS = 211, "system status, or system help reply; FEAT (RFC 959, RFC 2389).";
    DIRECTORY_STATUS = 212, "directory status (RFC 959).";
    FILE_STATUS = 213, "file status; SIZE and MDTM answers (RFC 959, RFC 3659).";
    HELP_MESSAGE = 214, "help message (RFC 959).";
    SYSTEM_TYPE = 215, "NAME system type (RFC 959).";
    SERVICE_READY = 220, "service ready for new user (RFC 959).";
    CLOSING_CONTROL_CONNECTION = 221, "service closing control connection (RFC 959).";
    DATA_CONNECTION_OPEN = 225, "data connection open; no transfer in progress (RFC 959).";
    CLOSING_DATA_CONNECTION = 226, "closing data connection; requested file action successful (RFC 959).";
    ENTERING_PASSIVE_MODE = 227, "entering passive mode (h1,h2,h3,h4,p1,p2) (RFC 959).";
    ENTERING_LONG_PASSIVE_MODE = 228, "entering long passive mode (RFC 1639).";
    ENTERING_EXTENDED_PASSIVE_MODE = 229, "entering extended passive mode (|||port|) (RFC 2428).";
    LOGGED_IN = 230, "user logged in, proceed (RFC 959).";
    LOGGED_OUT = 231, "user logged out; service terminated (RFC 959 errata, REIN).";
    LOGGED_IN_AUTHORIZED = 232, "user logged in, authorized by security data exchange (RFC 2228).";
    SECURITY_DATA_EXCHANGE_COMPLETE = 234, "security data exchange complete; AUTH TLS accepted (RFC 2228, RFC 4217).";
    SECURITY_DATA_EXCHANGE_SUCCEEDED = 235, "security data exchange completed successfully (RFC 2228).";
    FILE_ACTION_OKAY = 250, "requested file action okay, completed (RFC 959).";
    PATHNAME_CREATED = 257, "\"PATHNAME\" created; also the PWD answer (RFC 959).";
    USER_NAME_OKAY_NEED_PASSWORD = 331, "user name okay, need password (RFC 959).";
    NEED_ACCOUNT_FOR_LOGIN = 332, "need account for login (RFC 959).";
    SECURITY_MECHANISM_OKAY = 334, "security mechanism accepted; ADAT data follows (RFC 2228).";
    SECURITY_DATA_ACCEPTABLE = 335, "security data acceptable; more is required (RFC 2228).";
    USER_NAME_OKAY_NEED_PASSWORD_CHALLENGE = 336, "user name okay, need password; challenge is ... (RFC 2228).";
    FILE_ACTION_PENDING = 350, "requested file action pending further information; RNFR, REST (RFC 959).";
    SERVICE_NOT_AVAILABLE = 421, "service not available, closing control connection (RFC 959).";
    CANNOT_OPEN_DATA_CONNECTION = 425, "can't open data connection (RFC 959).";
    CONNECTION_CLOSED_TRANSFER_ABORTED = 426, "connection closed; transfer aborted (RFC 959).";
    NEED_SECURITY_RESOURCE = 431, "need some unavailable resource to process security (RFC 2228).";
    FILE_ACTION_NOT_TAKEN = 450, "requested file action not taken; file unavailable, e.g. busy (RFC 959).";
    LOCAL_ERROR = 451, "requested action aborted: local error in processing (RFC 959).";
    INSUFFICIENT_STORAGE = 452, "requested action not taken: insufficient storage space (RFC 959).";
    SYNTAX_ERROR = 500, "syntax error, command unrecognized; also a line too long (RFC 959).";
    SYNTAX_ERROR_IN_ARGUMENTS = 501, "syntax error in parameters or arguments (RFC 959).";
    COMMAND_NOT_IMPLEMENTED = 502, "command not implemented (RFC 959).";
    BAD_SEQUENCE_OF_COMMANDS = 503, "bad sequence of commands (RFC 959).";
    COMMAND_NOT_IMPLEMENTED_FOR_PARAMETER = 504, "command not implemented for that parameter (RFC 959).";
    NETWORK_PROTOCOL_NOT_SUPPORTED = 522, "network protocol not supported; also a refused data TLS handshake (RFC 2428, RFC 4217).";
    NOT_LOGGED_IN = 530, "not logged in (RFC 959).";
    NEED_ACCOUNT_FOR_STORING = 532, "need account for storing files (RFC 959).";
    COMMAND_PROTECTION_LEVEL_DENIED = 533, "command protection level denied for policy reasons (RFC 2228).";
    REQUEST_DENIED_FOR_POLICY = 534, "request denied for policy reasons (RFC 2228).";
    FAILED_SECURITY_CHECK = 535, "failed security check (RFC 2228).";
    PROTECTION_LEVEL_NOT_SUPPORTED = 536, "requested PROT level not supported by mechanism (RFC 2228).";
    COMMAND_PROTECTION_LEVEL_NOT_SUPPORTED = 537, "command protection level not supported by security mechanism (RFC 2228).";
    FILE_UNAVAILABLE = 550, "requested action not taken; file unavailable (RFC 959).";
    PAGE_TYPE_UNKNOWN = 551, "requested action aborted: page type unknown (RFC 959).";
    EXCEEDED_STORAGE_ALLOCATION = 552, "requested file action aborted: exceeded storage allocation (RFC 959).";
    FILE_NAME_NOT_ALLOWED = 553, "requested action not taken: file name not allowed (RFC 959).";
    INVALID_REST_PARAMETER = 554, "requested action not taken: invalid REST parameter (RFC 1123, RFC 3659).";
    TYPE_OR_STRU_MISMATCH = 555, "requested action not taken: type or stru mismatch (RFC 1123).";
    INTEGRITY_PROTECTED_REPLY = 631, "integrity protected reply (RFC 2228).";
    CONFIDENTIALITY_AND_INTEGRITY_PROTECTED_REPLY = 632, "confidentiality and integrity protected reply (RFC 2228).";
    CONFIDENTIALITY_PROTECTED_REPLY = 633, "confidentiality protected reply (RFC 2228).";
}

/// The first digit of a reply code: what kind of answer it is (RFC 959 §4.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ReplyClass {
    /// `1yz`: the action is starting; expect another reply.
    PositivePreliminary,
    /// `2yz`: the action completed.
    PositiveCompletion,
    /// `3yz`: accepted, more information needed.
    PositiveIntermediate,
    /// `4yz`: not done, try again later.
    TransientNegative,
    /// `5yz`: not done, do not repeat as is.
    PermanentNegative,
    /// `6yz`: a protected reply (RFC 2228).
    Protected,
    /// `0yz`, `7yz`, `8yz`, `9yz`: not defined by any RFC.
    Undefined,
}

/// The second digit of a reply code: what the reply is about (RFC 959 §4.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ReplyGroup {
    /// `x0z`: syntax.
    Syntax,
    /// `x1z`: information.
    Information,
    /// `x2z`: connections.
    Connections,
    /// `x3z`: authentication and accounting.
    Authentication,
    /// `x4z`: unspecified.
    Unspecified,
    /// `x5z`: file system.
    FileSystem,
    /// `x6z` to `x9z`: not defined.
    Undefined,
}

impl ReplyCode {
    /// The code for a number from 0 to 999, or `None`.
    pub const fn new(code: u16) -> Option<ReplyCode> {
        if code <= 999 {
            Some(ReplyCode(code))
        } else {
            None
        }
    }

    /// The code for three ASCII digits, or `None`.
    pub fn from_digits(digits: &[u8]) -> Option<ReplyCode> {
        match digits {
            [a, b, c] if a.is_ascii_digit() && b.is_ascii_digit() && c.is_ascii_digit() => {
                Some(ReplyCode(
                    u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0'),
                ))
            }
            _ => None,
        }
    }

    /// The number.
    pub const fn as_u16(self) -> u16 {
        self.0
    }

    /// The three ASCII digits.
    pub const fn digits(self) -> [u8; 3] {
        [
            b'0' + (self.0 / 100) as u8,
            b'0' + (self.0 / 10 % 10) as u8,
            b'0' + (self.0 % 10) as u8,
        ]
    }

    /// The class, from the first digit.
    pub const fn class(self) -> ReplyClass {
        match self.0 / 100 {
            1 => ReplyClass::PositivePreliminary,
            2 => ReplyClass::PositiveCompletion,
            3 => ReplyClass::PositiveIntermediate,
            4 => ReplyClass::TransientNegative,
            5 => ReplyClass::PermanentNegative,
            6 => ReplyClass::Protected,
            _ => ReplyClass::Undefined,
        }
    }

    /// The group, from the second digit.
    pub const fn group(self) -> ReplyGroup {
        match self.0 / 10 % 10 {
            0 => ReplyGroup::Syntax,
            1 => ReplyGroup::Information,
            2 => ReplyGroup::Connections,
            3 => ReplyGroup::Authentication,
            4 => ReplyGroup::Unspecified,
            5 => ReplyGroup::FileSystem,
            _ => ReplyGroup::Undefined,
        }
    }

    /// `1yz`: the action is starting; another reply follows.
    pub const fn is_positive_preliminary(self) -> bool {
        self.0 / 100 == 1
    }

    /// `2yz`: the action completed.
    pub const fn is_positive_completion(self) -> bool {
        self.0 / 100 == 2
    }

    /// `3yz`: accepted; send the next command of the sequence.
    pub const fn is_positive_intermediate(self) -> bool {
        self.0 / 100 == 3
    }

    /// `4yz`: failed for now; the same command may succeed later.
    pub const fn is_transient_negative(self) -> bool {
        self.0 / 100 == 4
    }

    /// `5yz`: failed; do not repeat the command unchanged.
    pub const fn is_permanent_negative(self) -> bool {
        self.0 / 100 == 5
    }

    /// `4yz` or `5yz`.
    pub const fn is_negative(self) -> bool {
        matches!(self.0 / 100, 4 | 5)
    }

    /// `6yz`: a protected reply (RFC 2228).
    pub const fn is_protected(self) -> bool {
        self.0 / 100 == 6
    }

    /// Whether this reply ends its command's exchange (any class but `1yz`).
    pub const fn is_final(self) -> bool {
        !self.is_positive_preliminary()
    }
}

impl fmt::Debug for ReplyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{:03} {name}", self.0),
            None => write!(f, "{:03}", self.0),
        }
    }
}

impl fmt::Display for ReplyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:03}", self.0)
    }
}

impl From<ReplyCode> for u16 {
    fn from(code: ReplyCode) -> u16 {
        code.0
    }
}

impl TryFrom<u16> for ReplyCode {
    type Error = InvalidReplyCode;

    fn try_from(code: u16) -> Result<ReplyCode, InvalidReplyCode> {
        ReplyCode::new(code).ok_or(InvalidReplyCode(code))
    }
}

/// A number that is not a three-digit reply code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0} is not a three-digit reply code")]
pub struct InvalidReplyCode(pub u16);

/// A server reply: a code and one or more lines of text.
///
/// The text holds the lines joined by `\n`, without their codes or line ends; a
/// single-line reply parsed from a buffer borrows from it. Encoding writes a multi-line
/// reply in RFC 959 form, whatever the text contains: no line of the text can end the
/// reply early or inject a second one.
///
/// ```
/// use ftp_proto::{Reply, ReplyCode};
///
/// let reply = Reply::new(ReplyCode::SYSTEM_STATUS, "Features:\n EPSV\n UTF8\nEnd");
/// let mut wire = Vec::new();
/// reply.encode(&mut wire);
/// assert_eq!(wire, b"211-Features:\r\n EPSV\r\n UTF8\r\n211 End\r\n");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub struct Reply<'a> {
    code: ReplyCode,
    text: Text<'a>,
}

impl<'a> Reply<'a> {
    /// A reply with this code and text (lines separated by `\n`).
    pub fn new(code: ReplyCode, text: impl Into<Text<'a>>) -> Self {
        Reply {
            code,
            text: text.into(),
        }
    }

    /// A multi-line reply from separate lines.
    pub fn from_lines<I, L>(code: ReplyCode, lines: I) -> Reply<'static>
    where
        I: IntoIterator<Item = L>,
        L: AsRef<[u8]>,
    {
        let mut text = Vec::new();
        for (index, line) in lines.into_iter().enumerate() {
            if index > 0 {
                text.push(b'\n');
            }
            text.extend_from_slice(line.as_ref());
        }
        Reply {
            code,
            text: Text::from(text),
        }
    }

    /// A reply that names a path the RFC 959 way, as 257 does: the path in double
    /// quotes with inner quotes doubled, then `comment`.
    ///
    /// A LF in the path is sent as NUL, the pathname encoding RFC 959 implementations
    /// share (a LF cannot travel inside a reply line); a CR is sent as CR NUL by the
    /// encoder (RFC 2640).
    ///
    /// ```
    /// use ftp_proto::{Pathname, Reply, ReplyCode};
    /// let reply = Reply::with_path(ReplyCode::PATHNAME_CREATED, &Pathname::from("/a \"b\""), "created");
    /// assert_eq!(reply.text(), "\"/a \"\"b\"\"\" created");
    /// assert_eq!(reply.quoted_path().unwrap(), "/a \"b\"");
    /// ```
    pub fn with_path(code: ReplyCode, path: &Pathname<'_>, comment: &str) -> Reply<'static> {
        let mut text = Vec::with_capacity(path.len() + comment.len() + 4);
        text.push(b'"');
        for &byte in path.as_bytes() {
            match byte {
                b'"' => text.extend_from_slice(b"\"\""),
                b'\n' => text.push(0),
                _ => text.push(byte),
            }
        }
        text.push(b'"');
        if !comment.is_empty() {
            text.push(b' ');
            text.extend_from_slice(comment.as_bytes());
        }
        Reply {
            code,
            text: Text::from(text),
        }
    }

    /// The code.
    pub fn code(&self) -> ReplyCode {
        self.code
    }

    /// The whole text, lines separated by `\n`.
    pub fn text(&self) -> &Text<'a> {
        &self.text
    }

    /// The lines of the text.
    pub fn lines(&self) -> impl Iterator<Item = &[u8]> {
        self.text.as_bytes().split(|&byte| byte == b'\n')
    }

    /// Whether the reply spans more than one line.
    pub fn is_multiline(&self) -> bool {
        memchr::memchr(b'\n', self.text.as_bytes()).is_some()
    }

    /// An owned copy that no longer borrows from the input buffer.
    pub fn into_owned(self) -> Reply<'static> {
        Reply {
            code: self.code,
            text: self.text.into_owned(),
        }
    }

    /// Writes the reply, CRLF-terminated, in RFC 959 multi-line form when it has more
    /// than one line.
    ///
    /// A CR inside the text is sent as CR NUL (RFC 2640). A middle line that begins with
    /// a digit is prefixed with `code-` so that it can never be taken for the last line.
    pub fn encode<B: BufMut>(&self, dst: &mut B) {
        let digits = self.code.digits();
        let mut lines = self.text.as_bytes().split(|&byte| byte == b'\n').peekable();
        let mut first = true;
        while let Some(line) = lines.next() {
            let last = lines.peek().is_none();
            if first || last || line.first().is_some_and(u8::is_ascii_digit) {
                dst.put_slice(&digits);
                dst.put_u8(if last { b' ' } else { b'-' });
            }
            put_cr_escaped(dst, line);
            dst.put_slice(b"\r\n");
            first = false;
        }
    }

    /// The data address of a 227 reply, read as curl and ftplib do: the first six
    /// numbers after the code, with or without parentheses (`227 =h1,...` included).
    ///
    /// Refuses numbers over 255 and port 0. Mind that a client should by default connect
    /// to the control connection's peer and use only the port from here.
    pub fn passive_address(&self) -> Result<SocketAddrV4, PayloadError> {
        self.expect_code(ReplyCode::ENTERING_PASSIVE_MODE)?;
        let mut numbers = [0u8; 6];
        let mut found = 0;
        let mut bytes = self.text.as_bytes();
        while found < 6 {
            let Some(start) = bytes.iter().position(u8::is_ascii_digit) else {
                return Err(PayloadError::Malformed {
                    expected: "six numbers h1,h2,h3,h4,p1,p2",
                });
            };
            let digits = bytes[start..]
                .iter()
                .take_while(|byte| byte.is_ascii_digit())
                .count();
            numbers[found] = std::str::from_utf8(&bytes[start..start + digits])
                .ok()
                .and_then(|digits| digits.parse().ok())
                .ok_or(PayloadError::Malformed {
                    expected: "numbers from 0 to 255",
                })?;
            found += 1;
            bytes = &bytes[start + digits..];
        }
        let [h1, h2, h3, h4, p1, p2] = numbers;
        let port = u16::from_be_bytes([p1, p2]);
        if port == 0 {
            return Err(PayloadError::Malformed {
                expected: "a non-zero port",
            });
        }
        Ok(SocketAddrV4::new(Ipv4Addr::new(h1, h2, h3, h4), port))
    }

    /// The port of a 229 reply: `(<d><d><d>port<d>)` with any delimiter `d`.
    pub fn extended_passive_port(&self) -> Result<u16, PayloadError> {
        self.expect_code(ReplyCode::ENTERING_EXTENDED_PASSIVE_MODE)?;
        let malformed = PayloadError::Malformed {
            expected: "(|||port|) with one delimiter",
        };
        let text = self.text.as_bytes();
        let open = memchr::memchr(b'(', text).ok_or(malformed.clone())?;
        let inner = &text[open + 1..];
        let (&delimiter, rest) = inner.split_first().ok_or(malformed.clone())?;
        if !(33..=126).contains(&delimiter) || delimiter.is_ascii_digit() {
            return Err(malformed);
        }
        let rest = rest
            .strip_prefix(&[delimiter, delimiter][..])
            .ok_or(malformed.clone())?;
        let end = rest
            .iter()
            .position(|&byte| byte == delimiter)
            .ok_or(malformed.clone())?;
        if rest.get(end + 1) != Some(&b')') {
            return Err(malformed);
        }
        match parse_decimal(&rest[..end]).and_then(|port| u16::try_from(port).ok()) {
            Some(port) if port != 0 => Ok(port),
            _ => Err(PayloadError::Malformed {
                expected: "a port from 1 to 65535",
            }),
        }
    }

    /// The path of a 257 reply: between the first `"` and its closing `"`, with `""`
    /// read as one `"`. Borrows unless the path holds doubled quotes.
    pub fn quoted_path(&self) -> Result<Pathname<'_>, PayloadError> {
        self.expect_code(ReplyCode::PATHNAME_CREATED)?;
        let malformed = PayloadError::Malformed {
            expected: "a path in double quotes",
        };
        let text = self.text.as_bytes();
        let open = memchr::memchr(b'"', text).ok_or(malformed.clone())?;
        let body = &text[open + 1..];
        let mut index = 0;
        let mut owned: Option<Vec<u8>> = None;
        loop {
            let quote = memchr::memchr(b'"', &body[index..]).ok_or(malformed.clone())? + index;
            if body.get(quote + 1) == Some(&b'"') {
                owned
                    .get_or_insert_with(Vec::new)
                    .extend_from_slice(&body[index..=quote]);
                index = quote + 2;
                continue;
            }
            return Ok(match owned {
                None => Pathname::borrowed(&body[..quote]),
                Some(mut path) => {
                    path.extend_from_slice(&body[index..quote]);
                    Pathname::from(path)
                }
            });
        }
    }

    /// The size of a 213 reply to SIZE: a decimal byte count.
    pub fn size(&self) -> Result<u64, PayloadError> {
        self.expect_code(ReplyCode::FILE_STATUS)?;
        parse_decimal(trim(self.text.as_bytes())).ok_or(PayloadError::Malformed {
            expected: "a decimal byte count",
        })
    }

    /// The time of a 213 reply to MDTM: `YYYYMMDDHHMMSS[.fff]` in UTC.
    pub fn modification_time(&self) -> Result<SystemTime, PayloadError> {
        self.expect_code(ReplyCode::FILE_STATUS)?;
        crate::time::parse_timestamp(trim(self.text.as_bytes())).ok_or(PayloadError::Malformed {
            expected: "a time YYYYMMDDHHMMSS[.fff]",
        })
    }

    /// The features of a 211 reply to FEAT: every line between the first and the last,
    /// with its leading space removed, split into a name and its parameters.
    pub fn features(&self) -> Result<Vec<Feature<'_>>, PayloadError> {
        self.expect_code(ReplyCode::SYSTEM_STATUS)?;
        let mut lines: Vec<&[u8]> = self.lines().collect();
        if lines.len() < 2 {
            return Ok(Vec::new());
        }
        lines.pop();
        Ok(lines
            .into_iter()
            .skip(1)
            .map(trim)
            .filter(|line| !line.is_empty())
            .map(|line| match memchr::memchr(b' ', line) {
                Some(space) => Feature {
                    name: Text::borrowed(&line[..space]),
                    parameters: Some(Text::borrowed(&line[space + 1..])),
                },
                None => Feature {
                    name: Text::borrowed(line),
                    parameters: None,
                },
            })
            .collect())
    }

    /// The size hint of a 150 or 125 reply, `... (1234 bytes)`, when the server gave one.
    pub fn transfer_size_hint(&self) -> Option<u64> {
        if !self.code.is_positive_preliminary() {
            return None;
        }
        let text = self.text.as_bytes();
        let end = memchr::memmem::rfind(text, b" bytes)")?;
        let open = memchr::memrchr(b'(', &text[..end])?;
        parse_decimal(&text[open + 1..end])
    }

    fn expect_code(&self, expected: ReplyCode) -> Result<(), PayloadError> {
        if self.code == expected {
            Ok(())
        } else {
            Err(PayloadError::UnexpectedCode {
                expected,
                found: self.code,
            })
        }
    }
}

impl fmt::Display for Reply<'_> {
    /// The code and the text on one line, lines separated by ` / ` and control bytes
    /// escaped: safe for logs and error messages whatever the server sent.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code)?;
        for (index, line) in self.lines().enumerate() {
            f.write_str(if index == 0 { " " } else { " / " })?;
            for chunk in line.utf8_chunks() {
                for character in chunk.valid().chars() {
                    if character.is_control() {
                        write!(f, "{}", character.escape_default())?;
                    } else {
                        write!(f, "{character}")?;
                    }
                }
                if !chunk.invalid().is_empty() {
                    write!(f, "{}", chunk.invalid().escape_ascii())?;
                }
            }
        }
        Ok(())
    }
}

/// One line of a FEAT reply: `EPSV`, `REST STREAM`, `MLST type*;size*;modify*;`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Feature<'a> {
    /// The feature's name, such as `MLST` (compare it ignoring ASCII case).
    pub name: Text<'a>,
    /// Everything after the name's single space, if present.
    pub parameters: Option<Text<'a>>,
}

impl Feature<'_> {
    /// An owned copy that no longer borrows from the reply.
    pub fn into_owned(self) -> Feature<'static> {
        Feature {
            name: self.name.into_owned(),
            parameters: self.parameters.map(Text::into_owned),
        }
    }

    /// Whether the feature has this name, ignoring ASCII case.
    pub fn is(&self, name: &str) -> bool {
        self.name.as_bytes().eq_ignore_ascii_case(name.as_bytes())
    }
}

/// Why a typed payload could not be read out of a reply.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PayloadError {
    /// The reply has another code than the payload needs.
    #[error("expected a {expected} reply, got {found}")]
    UnexpectedCode {
        /// The code the payload comes with.
        expected: ReplyCode,
        /// The code the server sent.
        found: ReplyCode,
    },
    /// The text does not hold the payload in any form we accept.
    #[error("reply text is malformed: expected {expected}")]
    Malformed {
        /// What the text should have held.
        expected: &'static str,
    },
}

fn put_cr_escaped<B: BufMut>(dst: &mut B, line: &[u8]) {
    let mut rest = line;
    while let Some(position) = memchr::memchr(b'\r', rest) {
        dst.put_slice(&rest[..=position]);
        dst.put_u8(0);
        rest = &rest[position + 1..];
    }
    dst.put_slice(rest);
}

fn trim(bytes: &[u8]) -> &[u8] {
    bytes.trim_ascii()
}

fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 20 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    digits.iter().try_fold(0u64, |acc, &digit| {
        acc.checked_mul(10)?.checked_add(u64::from(digit - b'0'))
    })
}
