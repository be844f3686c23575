//! `Command`: one variant per FTP verb, with typed and validated arguments, and its
//! serializer.
//!
//! Parsing lives in [`crate::parse`]; this module owns the data model and the encoding.
//! Encoding refuses any argument that would smuggle a second command onto the wire (CR,
//! LF or NUL): that is the command-injection bug class that hit ftplib, Commons Net and
//! suppaftp, and it is stopped here, in one place, for every caller.

use std::fmt;
use std::net::{SocketAddr, SocketAddrV4};
use std::time::SystemTime;

use bytes::BufMut;

use crate::text::{Pathname, Text};
use crate::verb::Verb;

/// An FTP command, borrowed from the input where possible.
///
/// Parse one with [`parse_command`](crate::parse_command) or a
/// [`CommandParser`](crate::CommandParser); build one directly to send it. Paths and text
/// are octet strings ([`Pathname`], [`Text`]) kept byte for byte.
///
/// ```
/// use ftp_proto::{Command, Pathname};
///
/// let command = ftp_proto::parse_command(b"RETR my file.txt\r\n")?;
/// assert_eq!(command, Command::Retr(Pathname::from("my file.txt")));
///
/// let mut wire = Vec::new();
/// command.encode(&mut wire)?;
/// assert_eq!(wire, b"RETR my file.txt\r\n");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Optional arguments (`LIST`, `NLST`, `MLSD`, `MLST`, `STAT`, `HELP`, `STOU`, `LANG`)
/// are `None` when the argument is absent or empty: `LIST` and `LIST ` parse alike.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub enum Command<'a> {
    /// `USER name`: the user name to log in as.
    User(Text<'a>),
    /// `PASS password`: the password; may be empty. Its `Debug` output is redacted.
    Pass(Password<'a>),
    /// `ACCT account`: account information.
    Acct(Text<'a>),
    /// `CWD path`: change the working directory.
    Cwd(Pathname<'a>),
    /// `CDUP`: change to the parent directory.
    Cdup,
    /// `SMNT path`: structure mount.
    Smnt(Pathname<'a>),
    /// `REIN`: reinitialise the session (log out, keep the connection).
    Rein,
    /// `QUIT`: end the session.
    Quit,
    /// `PORT h1,h2,h3,h4,p1,p2`: connect to this IPv4 address for the next transfer.
    Port(SocketAddrV4),
    /// `PASV`: listen for the next data connection and say where.
    Pasv,
    /// `TYPE`: the representation type.
    Type(RepresentationType),
    /// `STRU`: the file structure.
    Stru(FileStructure),
    /// `MODE`: the transfer mode.
    Mode(TransferMode),
    /// `RETR path`: download a file.
    Retr(Pathname<'a>),
    /// `STOR path`: upload a file, replacing any existing one.
    Stor(Pathname<'a>),
    /// `STOU [name]`: upload under a unique name the server picks.
    Stou(Option<Pathname<'a>>),
    /// `APPE path`: upload, appending to an existing file.
    Appe(Pathname<'a>),
    /// `ALLO size [R record-size]`: reserve storage.
    Allo(Allocation),
    /// `REST offset`: restart the next transfer at this byte offset (RFC 3659 stream mode).
    Rest(u64),
    /// `RNFR path`: the file to rename (followed by `RNTO`).
    Rnfr(Pathname<'a>),
    /// `RNTO path`: the new name for the file named by `RNFR`.
    Rnto(Pathname<'a>),
    /// `ABOR`: abort the running transfer.
    Abor,
    /// `DELE path`: delete a file.
    Dele(Pathname<'a>),
    /// `RMD path`: remove a directory.
    Rmd(Pathname<'a>),
    /// `MKD path`: make a directory.
    Mkd(Pathname<'a>),
    /// `PWD`: print the working directory.
    Pwd,
    /// `LIST [path]`: a human-readable listing over the data connection.
    List(Option<Pathname<'a>>),
    /// `NLST [path]`: a list of names over the data connection.
    Nlst(Option<Pathname<'a>>),
    /// `SITE subcommand`: a server-specific command, kept raw.
    Site(Text<'a>),
    /// `SYST`: the server's system type.
    Syst,
    /// `STAT [path]`: server status, or a listing over the control connection.
    Stat(Option<Pathname<'a>>),
    /// `HELP [topic]`: help text.
    Help(Option<Text<'a>>),
    /// `NOOP`: do nothing, answer 200.
    Noop,
    /// `XCUP`: the RFC 1123 spelling of `CDUP`.
    Xcup,
    /// `XCWD path`: the RFC 1123 spelling of `CWD`.
    Xcwd(Pathname<'a>),
    /// `XMKD path`: the RFC 1123 spelling of `MKD`.
    Xmkd(Pathname<'a>),
    /// `XPWD`: the RFC 1123 spelling of `PWD`.
    Xpwd,
    /// `XRMD path`: the RFC 1123 spelling of `RMD`.
    Xrmd(Pathname<'a>),
    /// `AUTH mechanism`: start a security exchange (`AUTH TLS` for FTPS).
    Auth(AuthMechanism<'a>),
    /// `ADAT data`: base64 security data.
    Adat(Text<'a>),
    /// `PROT level`: the data channel protection level.
    Prot(ProtectionLevel),
    /// `PBSZ size`: the protection buffer size (0 for TLS).
    Pbsz(u32),
    /// `CCC`: clear the command channel (end TLS on the control connection).
    Ccc,
    /// `MIC data`: an integrity-protected command (base64).
    Mic(Text<'a>),
    /// `CONF data`: a confidentiality-protected command (base64).
    Conf(Text<'a>),
    /// `ENC data`: a private command (base64).
    Enc(Text<'a>),
    /// `FEAT`: list the server's extensions.
    Feat,
    /// `OPTS command [options]`: options for a command, such as `OPTS UTF8 ON`.
    Opts(CommandOptions<'a>),
    /// `EPRT |proto|address|port|`: connect to this address for the next transfer.
    Eprt(SocketAddr),
    /// `EPSV [1|2|ALL]`: extended passive mode.
    Epsv(ExtendedPassive),
    /// `LANG [tag]`: the language of the server's replies.
    Lang(Option<Text<'a>>),
    /// `SIZE path`: a file's size in bytes.
    Size(Pathname<'a>),
    /// `MDTM path`: a file's modification time.
    Mdtm(Pathname<'a>),
    /// `MLST [path]`: machine-readable facts about one entry, over the control connection.
    Mlst(Option<Pathname<'a>>),
    /// `MLSD [path]`: a machine-readable listing over the data connection.
    Mlsd(Option<Pathname<'a>>),
    /// `HOST name`: the virtual host to talk to (before login).
    Host(Text<'a>),
    /// `MFMT time path`: set a file's modification time.
    Mfmt {
        /// The new modification time (UTC on the wire).
        #[cfg_attr(feature = "fuzzing", arbitrary(with = crate::fuzzing::system_time))]
        modified: SystemTime,
        /// The file.
        path: Pathname<'a>,
    },
    /// `HASH path`: a file's digest, with the algorithm chosen by `OPTS HASH`.
    Hash(Pathname<'a>),
    /// `CLNT name`: the client's name and version, for the server's logs.
    Clnt(Text<'a>),
    /// A verb this crate does not know, kept as sent.
    Unknown {
        /// The verb as sent (not case-folded).
        verb: Text<'a>,
        /// Everything after the single space that follows the verb, if there was one.
        argument: Option<Text<'a>>,
    },
}

/// A password: an octet string whose `Debug` output never shows the secret.
///
/// Read it with [`Password::expose`] (or [`Password::as_bytes`]), named so that a
/// reader of the calling code sees where the secret leaves its wrapper.
///
/// ```
/// use ftp_proto::{Command, Password};
///
/// let Command::Pass(password) = ftp_proto::parse_command(b"PASS s3cret\r\n")? else {
///     unreachable!()
/// };
/// assert_eq!(password.as_bytes(), b"s3cret");
/// assert_eq!(password.expose().to_str(), Some("s3cret"));
/// assert_eq!(format!("{password:?}"), "Password(<redacted>)");
/// # Ok::<(), ftp_proto::CommandError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub struct Password<'a>(pub Text<'a>);

impl<'a> Password<'a> {
    /// The password as an octet string, exactly as sent (it may be empty).
    pub fn expose(&self) -> &Text<'a> {
        &self.0
    }

    /// The password's bytes, exactly as sent (they may be empty).
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }

    /// The octet string, giving up the redacting wrapper.
    pub fn into_inner(self) -> Text<'a> {
        self.0
    }

    /// An owned copy that no longer borrows from the input buffer.
    pub fn into_owned(self) -> Password<'static> {
        Password(self.0.into_owned())
    }
}

impl fmt::Debug for Password<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

impl<'a, T: Into<Text<'a>>> From<T> for Password<'a> {
    fn from(value: T) -> Self {
        Password(value.into())
    }
}

/// The argument of `TYPE`.
///
/// Every type a client can send is representable, including those a server refuses:
/// an unknown letter is [`RepresentationType::Other`] (`TYPE X`, or `TYPE L` without its
/// byte size), and the server session answers it with 504 as RFC 959 asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RepresentationType {
    /// `A [N|T|C]`: ASCII, with line ends converted to CRLF on the wire.
    Ascii(FormatControl),
    /// `E [N|T|C]`: EBCDIC.
    Ebcdic(FormatControl),
    /// `I`: image (binary), bytes as they are.
    Image,
    /// `L n`: local byte size of `n` bits (`L 8` is the same as `I`). The parser refuses
    /// `L 0` (501): a byte has at least one bit.
    Local(u8),
    /// Any other single letter, without a form code. Never `A`, `E` or `I` when parsed
    /// (those have their own variants); build it with [`RepresentationType::from_letter`]
    /// to keep that so.
    Other(ParameterLetter),
}

impl RepresentationType {
    /// The type a lone letter names: `A` and `E` with the default form code
    /// ([`FormatControl::NonPrint`]), `I`, or [`RepresentationType::Other`].
    pub fn from_letter(letter: ParameterLetter) -> Self {
        match letter.as_byte() {
            b'A' => RepresentationType::Ascii(FormatControl::NonPrint),
            b'E' => RepresentationType::Ebcdic(FormatControl::NonPrint),
            b'I' => RepresentationType::Image,
            _ => RepresentationType::Other(letter),
        }
    }
}

/// The second parameter of `TYPE A` and `TYPE E`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub enum FormatControl {
    /// `N`: non-print (the default).
    #[default]
    NonPrint,
    /// `T`: Telnet format effectors.
    Telnet,
    /// `C`: ASA carriage control.
    CarriageControl,
}

/// The argument of `STRU`.
///
/// Every single-letter structure is representable; the server session accepts only
/// [`FileStructure::File`] and answers the others with 504.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FileStructure {
    /// `F`: file (no record structure), the default and the only one in common use.
    File,
    /// `R`: record structure.
    Record,
    /// `P`: page structure.
    Page,
    /// Any other letter. Never `F`, `R` or `P` when parsed; build it with
    /// [`FileStructure::from_letter`] to keep that so.
    Other(ParameterLetter),
}

impl FileStructure {
    /// The structure a letter names.
    pub fn from_letter(letter: ParameterLetter) -> Self {
        match letter.as_byte() {
            b'F' => FileStructure::File,
            b'R' => FileStructure::Record,
            b'P' => FileStructure::Page,
            _ => FileStructure::Other(letter),
        }
    }

    /// The letter on the wire.
    pub fn letter(self) -> ParameterLetter {
        match self {
            FileStructure::File => ParameterLetter(b'F'),
            FileStructure::Record => ParameterLetter(b'R'),
            FileStructure::Page => ParameterLetter(b'P'),
            FileStructure::Other(letter) => letter,
        }
    }
}

/// The argument of `MODE`.
///
/// Every single-letter mode is representable; the server session accepts only
/// [`TransferMode::Stream`] and answers the others with 504.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TransferMode {
    /// `S`: stream, the default and the only one in common use.
    Stream,
    /// `B`: block.
    Block,
    /// `C`: compressed.
    Compressed,
    /// `Z`: deflate (the "Deflate transmission mode for FTP" Internet-Draft), which
    /// ProFTPD's mod_deflate and a few clients speak.
    Deflate,
    /// Any other letter. Never `S`, `B`, `C` or `Z` when parsed; build it with
    /// [`TransferMode::from_letter`] to keep that so.
    Other(ParameterLetter),
}

impl TransferMode {
    /// The mode a letter names.
    pub fn from_letter(letter: ParameterLetter) -> Self {
        match letter.as_byte() {
            b'S' => TransferMode::Stream,
            b'B' => TransferMode::Block,
            b'C' => TransferMode::Compressed,
            b'Z' => TransferMode::Deflate,
            _ => TransferMode::Other(letter),
        }
    }

    /// The letter on the wire.
    pub fn letter(self) -> ParameterLetter {
        match self {
            TransferMode::Stream => ParameterLetter(b'S'),
            TransferMode::Block => ParameterLetter(b'B'),
            TransferMode::Compressed => ParameterLetter(b'C'),
            TransferMode::Deflate => ParameterLetter(b'Z'),
            TransferMode::Other(letter) => letter,
        }
    }
}

/// One parameter letter of `TYPE`, `STRU` or `MODE`: an ASCII letter, kept upper case
/// (the parameters are case-insensitive on input, upper case on output).
///
/// ```
/// use ftp_proto::{ParameterLetter, TransferMode};
///
/// let z = ParameterLetter::new(b'z').unwrap();
/// assert_eq!(z.as_char(), 'Z');
/// assert_eq!(TransferMode::from_letter(z), TransferMode::Deflate);
/// assert_eq!(ParameterLetter::new(b'1'), None);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ParameterLetter(u8);

impl ParameterLetter {
    /// The letter for an ASCII letter byte (either case), or `None` for any other byte.
    pub const fn new(letter: u8) -> Option<Self> {
        if letter.is_ascii_alphabetic() {
            Some(ParameterLetter(letter.to_ascii_uppercase()))
        } else {
            None
        }
    }

    /// The letter as an upper-case ASCII byte.
    pub const fn as_byte(self) -> u8 {
        self.0
    }

    /// The letter as an upper-case `char`.
    pub const fn as_char(self) -> char {
        self.0 as char
    }
}

impl fmt::Display for ParameterLetter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.as_char())
    }
}

/// The argument of `ALLO`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub struct Allocation {
    /// The number of bytes to reserve.
    pub size: u64,
    /// The maximum record or page size, from `R n`.
    pub record_size: Option<u64>,
}

/// The argument of `PROT` (RFC 2228).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub enum ProtectionLevel {
    /// `C`: clear, no protection.
    Clear,
    /// `S`: safe, integrity only.
    Safe,
    /// `E`: confidential.
    Confidential,
    /// `P`: private, integrity and confidentiality (TLS on the data connection).
    Private,
}

/// The argument of `AUTH` (RFC 2228, RFC 4217).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub enum AuthMechanism<'a> {
    /// `TLS` (also written `TLS-C`).
    Tls,
    /// `SSL`, the pre-RFC 4217 spelling some clients still send.
    Ssl,
    /// Any other mechanism, kept as sent.
    Other(Text<'a>),
}

/// The argument of `OPTS`: the command being configured and its options.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub struct CommandOptions<'a> {
    /// The command name, such as `UTF8` or `MLST` (never contains a space).
    pub command: Text<'a>,
    /// Everything after the single space that follows the command name, if present.
    pub options: Option<Text<'a>>,
}

impl CommandOptions<'_> {
    /// Whether this is `OPTS UTF8 ON` (any case), which every modern client sends.
    pub fn is_utf8_on(&self) -> bool {
        self.command.as_bytes().eq_ignore_ascii_case(b"UTF8")
            && self
                .options
                .as_ref()
                .is_some_and(|options| options.as_bytes().eq_ignore_ascii_case(b"ON"))
    }
}

/// The argument of `EPSV` (RFC 2428).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub enum ExtendedPassive {
    /// No argument: any protocol the server likes (the control connection's).
    Any,
    /// `EPSV ALL`: from now on only EPSV; refuse PORT, PASV and EPRT.
    All,
    /// `EPSV n`: a passive address for this network protocol.
    Protocol(NetworkProtocol),
}

/// An RFC 2428 network protocol number (an IANA address family number).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub struct NetworkProtocol(pub u16);

impl NetworkProtocol {
    /// `1`: IPv4.
    pub const IPV4: NetworkProtocol = NetworkProtocol(1);
    /// `2`: IPv6.
    pub const IPV6: NetworkProtocol = NetworkProtocol(2);
}

/// Why a command could not be encoded. Nothing is written when encoding fails.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// An argument holds CR, LF or NUL, which would end the line early and let the rest
    /// run as a second command (command injection).
    #[error("the {verb} argument contains a CR, LF or NUL byte, which would inject a command")]
    ForbiddenByte {
        /// The verb whose argument was refused (the raw verb for unknown commands).
        verb: String,
    },
    /// A part of the command that must be a single word is empty or holds a space.
    #[error("the {verb} command's {part} must be a non-empty word without spaces")]
    NotAWord {
        /// The verb whose argument was refused (the raw verb for unknown commands).
        verb: String,
        /// Which part was wrong.
        part: &'static str,
    },
    /// A verb that needs an argument was given an empty one, which the peer would
    /// refuse (501).
    #[error("the {verb} command needs a non-empty argument")]
    MissingArgument {
        /// The verb.
        verb: String,
    },
    /// A time outside the years 0000-9999 that RFC 3659 times can express.
    #[error("the {verb} time is outside the years 0000-9999")]
    TimeOutOfRange {
        /// The verb whose argument was refused.
        verb: String,
    },
}

/// How to treat byte 0xFF (Telnet IAC) in arguments when encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum IacEscaping {
    /// Send 0xFF as it is. What curl, lftp and ftplib do; right for UTF-8 names, which
    /// never contain 0xFF.
    #[default]
    Raw,
    /// Double every 0xFF (IAC IAC), as RFC 959's Telnet framing asks. Use it with servers
    /// that decode Telnet, for names in single-byte encodings that contain 0xFF.
    Double,
}

impl<'a> Command<'a> {
    /// The verb, or `None` for [`Command::Unknown`].
    pub fn verb(&self) -> Option<Verb> {
        Some(match self {
            Command::User(_) => Verb::User,
            Command::Pass(_) => Verb::Pass,
            Command::Acct(_) => Verb::Acct,
            Command::Cwd(_) => Verb::Cwd,
            Command::Cdup => Verb::Cdup,
            Command::Smnt(_) => Verb::Smnt,
            Command::Rein => Verb::Rein,
            Command::Quit => Verb::Quit,
            Command::Port(_) => Verb::Port,
            Command::Pasv => Verb::Pasv,
            Command::Type(_) => Verb::Type,
            Command::Stru(_) => Verb::Stru,
            Command::Mode(_) => Verb::Mode,
            Command::Retr(_) => Verb::Retr,
            Command::Stor(_) => Verb::Stor,
            Command::Stou(_) => Verb::Stou,
            Command::Appe(_) => Verb::Appe,
            Command::Allo(_) => Verb::Allo,
            Command::Rest(_) => Verb::Rest,
            Command::Rnfr(_) => Verb::Rnfr,
            Command::Rnto(_) => Verb::Rnto,
            Command::Abor => Verb::Abor,
            Command::Dele(_) => Verb::Dele,
            Command::Rmd(_) => Verb::Rmd,
            Command::Mkd(_) => Verb::Mkd,
            Command::Pwd => Verb::Pwd,
            Command::List(_) => Verb::List,
            Command::Nlst(_) => Verb::Nlst,
            Command::Site(_) => Verb::Site,
            Command::Syst => Verb::Syst,
            Command::Stat(_) => Verb::Stat,
            Command::Help(_) => Verb::Help,
            Command::Noop => Verb::Noop,
            Command::Xcup => Verb::Xcup,
            Command::Xcwd(_) => Verb::Xcwd,
            Command::Xmkd(_) => Verb::Xmkd,
            Command::Xpwd => Verb::Xpwd,
            Command::Xrmd(_) => Verb::Xrmd,
            Command::Auth(_) => Verb::Auth,
            Command::Adat(_) => Verb::Adat,
            Command::Prot(_) => Verb::Prot,
            Command::Pbsz(_) => Verb::Pbsz,
            Command::Ccc => Verb::Ccc,
            Command::Mic(_) => Verb::Mic,
            Command::Conf(_) => Verb::Conf,
            Command::Enc(_) => Verb::Enc,
            Command::Feat => Verb::Feat,
            Command::Opts(_) => Verb::Opts,
            Command::Eprt(_) => Verb::Eprt,
            Command::Epsv(_) => Verb::Epsv,
            Command::Lang(_) => Verb::Lang,
            Command::Size(_) => Verb::Size,
            Command::Mdtm(_) => Verb::Mdtm,
            Command::Mlst(_) => Verb::Mlst,
            Command::Mlsd(_) => Verb::Mlsd,
            Command::Host(_) => Verb::Host,
            Command::Mfmt { .. } => Verb::Mfmt,
            Command::Hash(_) => Verb::Hash,
            Command::Clnt(_) => Verb::Clnt,
            Command::Unknown { .. } => return None,
        })
    }

    /// An owned copy that no longer borrows from the input buffer.
    pub fn into_owned(self) -> Command<'static> {
        fn some(value: Option<Pathname<'_>>) -> Option<Pathname<'static>> {
            value.map(Pathname::into_owned)
        }
        match self {
            Command::User(text) => Command::User(text.into_owned()),
            Command::Pass(password) => Command::Pass(password.into_owned()),
            Command::Acct(text) => Command::Acct(text.into_owned()),
            Command::Cwd(path) => Command::Cwd(path.into_owned()),
            Command::Cdup => Command::Cdup,
            Command::Smnt(path) => Command::Smnt(path.into_owned()),
            Command::Rein => Command::Rein,
            Command::Quit => Command::Quit,
            Command::Port(address) => Command::Port(address),
            Command::Pasv => Command::Pasv,
            Command::Type(kind) => Command::Type(kind),
            Command::Stru(structure) => Command::Stru(structure),
            Command::Mode(mode) => Command::Mode(mode),
            Command::Retr(path) => Command::Retr(path.into_owned()),
            Command::Stor(path) => Command::Stor(path.into_owned()),
            Command::Stou(path) => Command::Stou(some(path)),
            Command::Appe(path) => Command::Appe(path.into_owned()),
            Command::Allo(allocation) => Command::Allo(allocation),
            Command::Rest(offset) => Command::Rest(offset),
            Command::Rnfr(path) => Command::Rnfr(path.into_owned()),
            Command::Rnto(path) => Command::Rnto(path.into_owned()),
            Command::Abor => Command::Abor,
            Command::Dele(path) => Command::Dele(path.into_owned()),
            Command::Rmd(path) => Command::Rmd(path.into_owned()),
            Command::Mkd(path) => Command::Mkd(path.into_owned()),
            Command::Pwd => Command::Pwd,
            Command::List(path) => Command::List(some(path)),
            Command::Nlst(path) => Command::Nlst(some(path)),
            Command::Site(text) => Command::Site(text.into_owned()),
            Command::Syst => Command::Syst,
            Command::Stat(path) => Command::Stat(some(path)),
            Command::Help(topic) => Command::Help(topic.map(Text::into_owned)),
            Command::Noop => Command::Noop,
            Command::Xcup => Command::Xcup,
            Command::Xcwd(path) => Command::Xcwd(path.into_owned()),
            Command::Xmkd(path) => Command::Xmkd(path.into_owned()),
            Command::Xpwd => Command::Xpwd,
            Command::Xrmd(path) => Command::Xrmd(path.into_owned()),
            Command::Auth(mechanism) => Command::Auth(match mechanism {
                AuthMechanism::Tls => AuthMechanism::Tls,
                AuthMechanism::Ssl => AuthMechanism::Ssl,
                AuthMechanism::Other(text) => AuthMechanism::Other(text.into_owned()),
            }),
            Command::Adat(text) => Command::Adat(text.into_owned()),
            Command::Prot(level) => Command::Prot(level),
            Command::Pbsz(size) => Command::Pbsz(size),
            Command::Ccc => Command::Ccc,
            Command::Mic(text) => Command::Mic(text.into_owned()),
            Command::Conf(text) => Command::Conf(text.into_owned()),
            Command::Enc(text) => Command::Enc(text.into_owned()),
            Command::Feat => Command::Feat,
            Command::Opts(options) => Command::Opts(CommandOptions {
                command: options.command.into_owned(),
                options: options.options.map(Text::into_owned),
            }),
            Command::Eprt(address) => Command::Eprt(address),
            Command::Epsv(mode) => Command::Epsv(mode),
            Command::Lang(tag) => Command::Lang(tag.map(Text::into_owned)),
            Command::Size(path) => Command::Size(path.into_owned()),
            Command::Mdtm(path) => Command::Mdtm(path.into_owned()),
            Command::Mlst(path) => Command::Mlst(some(path)),
            Command::Mlsd(path) => Command::Mlsd(some(path)),
            Command::Host(text) => Command::Host(text.into_owned()),
            Command::Mfmt { modified, path } => Command::Mfmt {
                modified,
                path: path.into_owned(),
            },
            Command::Hash(path) => Command::Hash(path.into_owned()),
            Command::Clnt(text) => Command::Clnt(text.into_owned()),
            Command::Unknown { verb, argument } => Command::Unknown {
                verb: verb.into_owned(),
                argument: argument.map(Text::into_owned),
            },
        }
    }

    /// Writes the command and its CRLF to `dst`, sending 0xFF bytes as they are.
    ///
    /// Fails, writing nothing, when an argument contains CR, LF or NUL.
    pub fn encode<B: BufMut>(&self, dst: &mut B) -> Result<(), EncodeError> {
        self.encode_with(dst, IacEscaping::Raw)
    }

    /// Writes the command and its CRLF to `dst`, treating 0xFF as `escaping` says.
    ///
    /// Fails, writing nothing, when an argument contains CR, LF or NUL.
    pub fn encode_with<B: BufMut>(
        &self,
        dst: &mut B,
        escaping: IacEscaping,
    ) -> Result<(), EncodeError> {
        // Render the typed arguments first so that validation happens before any byte
        // reaches `dst`; the common commands need no scratch space.
        let mut scratch = Vec::new();
        let (verb, argument): (&[u8], Option<&[u8]>) = match self {
            Command::Unknown { verb, argument } => {
                check_word(verb.as_bytes(), verb, "verb")?;
                (verb.as_bytes(), argument.as_ref().map(Text::as_bytes))
            }
            _ => {
                let verb = self.verb().map_or("", Verb::as_str);
                (verb.as_bytes(), self.render_argument(&mut scratch)?)
            }
        };
        if let Some(argument) = argument {
            if argument
                .iter()
                .any(|&byte| matches!(byte, b'\r' | b'\n' | 0))
            {
                return Err(EncodeError::ForbiddenByte {
                    verb: String::from_utf8_lossy(verb).into_owned(),
                });
            }
        }
        let required = self.verb().is_some_and(Verb::requires_argument);
        if required && argument.is_none_or(<[u8]>::is_empty) {
            return Err(EncodeError::MissingArgument {
                verb: String::from_utf8_lossy(verb).into_owned(),
            });
        }
        put_escaped(dst, verb, escaping);
        if let Some(argument) = argument {
            dst.put_u8(b' ');
            put_escaped(dst, argument, escaping);
        }
        dst.put_slice(b"\r\n");
        Ok(())
    }

    /// The argument's wire form: borrowed for octet-string arguments, rendered into
    /// `scratch` for typed ones; `None` when the command has no argument.
    fn render_argument<'s>(
        &'s self,
        scratch: &'s mut Vec<u8>,
    ) -> Result<Option<&'s [u8]>, EncodeError> {
        use std::io::Write as _;
        let text: &[u8] = match self {
            Command::User(text)
            | Command::Acct(text)
            | Command::Site(text)
            | Command::Adat(text)
            | Command::Mic(text)
            | Command::Conf(text)
            | Command::Enc(text)
            | Command::Host(text)
            | Command::Clnt(text)
            | Command::Pass(Password(text)) => text.as_bytes(),
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
            | Command::Hash(path) => path.as_bytes(),
            Command::Stou(path)
            | Command::List(path)
            | Command::Nlst(path)
            | Command::Stat(path)
            | Command::Mlst(path)
            | Command::Mlsd(path) => match path {
                Some(path) if !path.is_empty() => path.as_bytes(),
                _ => return Ok(None),
            },
            Command::Help(text) | Command::Lang(text) => match text {
                Some(text) if !text.is_empty() => text.as_bytes(),
                _ => return Ok(None),
            },
            Command::Cdup
            | Command::Rein
            | Command::Quit
            | Command::Pasv
            | Command::Abor
            | Command::Pwd
            | Command::Syst
            | Command::Noop
            | Command::Xcup
            | Command::Xpwd
            | Command::Ccc
            | Command::Feat
            | Command::Epsv(ExtendedPassive::Any) => return Ok(None),
            Command::Port(address) => {
                let [h1, h2, h3, h4] = address.ip().octets();
                let [p1, p2] = address.port().to_be_bytes();
                let _ = write!(scratch, "{h1},{h2},{h3},{h4},{p1},{p2}");
                scratch
            }
            Command::Eprt(address) => {
                let protocol = if address.is_ipv4() { 1 } else { 2 };
                let _ = write!(scratch, "|{protocol}|{}|{}|", address.ip(), address.port());
                scratch
            }
            Command::Epsv(ExtendedPassive::All) => b"ALL",
            Command::Epsv(ExtendedPassive::Protocol(protocol)) => {
                let _ = write!(scratch, "{}", protocol.0);
                scratch
            }
            Command::Type(kind) => {
                render_type(*kind, scratch);
                scratch
            }
            Command::Stru(structure) => {
                scratch.push(structure.letter().as_byte());
                scratch
            }
            Command::Mode(mode) => {
                scratch.push(mode.letter().as_byte());
                scratch
            }
            Command::Prot(level) => match level {
                ProtectionLevel::Clear => b"C",
                ProtectionLevel::Safe => b"S",
                ProtectionLevel::Confidential => b"E",
                ProtectionLevel::Private => b"P",
            },
            Command::Auth(mechanism) => match mechanism {
                AuthMechanism::Tls => b"TLS",
                AuthMechanism::Ssl => b"SSL",
                AuthMechanism::Other(text) => {
                    check_word(text.as_bytes(), &Verb::Auth, "mechanism")?;
                    text.as_bytes()
                }
            },
            Command::Allo(allocation) => {
                let _ = write!(scratch, "{}", allocation.size);
                if let Some(record_size) = allocation.record_size {
                    let _ = write!(scratch, " R {record_size}");
                }
                scratch
            }
            Command::Rest(offset) => {
                let _ = write!(scratch, "{offset}");
                scratch
            }
            Command::Pbsz(size) => {
                let _ = write!(scratch, "{size}");
                scratch
            }
            Command::Opts(options) => {
                check_word(options.command.as_bytes(), &Verb::Opts, "command name")?;
                scratch.extend_from_slice(options.command.as_bytes());
                if let Some(rest) = &options.options {
                    scratch.push(b' ');
                    scratch.extend_from_slice(rest.as_bytes());
                }
                scratch
            }
            Command::Mfmt { path, .. } if path.is_empty() => {
                return Err(EncodeError::MissingArgument {
                    verb: Verb::Mfmt.to_string(),
                });
            }
            Command::Mfmt { modified, path } => {
                if !crate::time::write_timestamp(*modified, scratch) {
                    return Err(EncodeError::TimeOutOfRange {
                        verb: Verb::Mfmt.to_string(),
                    });
                }
                scratch.push(b' ');
                scratch.extend_from_slice(path.as_bytes());
                scratch
            }
            Command::Unknown { argument, .. } => match argument {
                Some(argument) => argument.as_bytes(),
                None => return Ok(None),
            },
        };
        Ok(Some(text))
    }
}

/// Refuses an empty part or one with a space or control byte where one word is required.
fn check_word(word: &[u8], verb: &dyn fmt::Display, part: &'static str) -> Result<(), EncodeError> {
    if word.is_empty() || word.iter().any(|&byte| byte <= b' ') {
        return Err(EncodeError::NotAWord {
            verb: verb.to_string(),
            part,
        });
    }
    Ok(())
}

fn render_type(kind: RepresentationType, out: &mut Vec<u8>) {
    let (letter, control) = match kind {
        RepresentationType::Image => (b'I', None),
        RepresentationType::Local(bits) => {
            out.extend_from_slice(b"L ");
            crate::time::push_padded(out, u32::from(bits), 1);
            return;
        }
        RepresentationType::Ascii(control) => (b'A', Some(control)),
        RepresentationType::Ebcdic(control) => (b'E', Some(control)),
        RepresentationType::Other(letter) => (letter.as_byte(), None),
    };
    out.push(letter);
    match control {
        Some(FormatControl::Telnet) => out.extend_from_slice(b" T"),
        Some(FormatControl::CarriageControl) => out.extend_from_slice(b" C"),
        Some(FormatControl::NonPrint) | None => {}
    }
}

/// Copies `bytes` to `dst`, doubling 0xFF when asked to.
fn put_escaped<B: BufMut>(dst: &mut B, bytes: &[u8], escaping: IacEscaping) {
    if escaping == IacEscaping::Raw {
        dst.put_slice(bytes);
        return;
    }
    let mut rest = bytes;
    while let Some(position) = memchr::memchr(0xFF, rest) {
        dst.put_slice(&rest[..=position]);
        dst.put_u8(0xFF);
        rest = &rest[position + 1..];
    }
    dst.put_slice(rest);
}

impl fmt::Display for Command<'_> {
    /// The command as it would be sent, without CRLF and with any password masked.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Command::Pass(_) = self {
            return f.write_str("PASS ****");
        }
        let mut line = Vec::new();
        match self.encode(&mut line) {
            Ok(()) => {
                line.truncate(line.len() - 2);
                write!(f, "{}", line.escape_ascii())
            }
            Err(_) => write!(
                f,
                "<unencodable {}>",
                self.verb().map_or("command", Verb::as_str)
            ),
        }
    }
}
