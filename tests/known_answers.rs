//! Known-answer tables, checked in both directions: each canonical line parses to its
//! value and the value encodes back to the same line; lenient forms parse to the value
//! they mean; bad lines give the error (and so the reply code) a server should send.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4};
use std::time::{Duration, UNIX_EPOCH};

use ftp_proto::*;

fn path(text: &str) -> Pathname<'_> {
    Pathname::from(text)
}

fn text(text: &str) -> Text<'_> {
    Text::from(text)
}

/// Canonical lines: parse and encode are inverses on these.
fn canonical_commands() -> Vec<(&'static [u8], Command<'static>)> {
    vec![
        (b"USER anonymous\r\n", Command::User(text("anonymous"))),
        (
            b"PASS secret word\r\n",
            Command::Pass(Password::from("secret word")),
        ),
        (b"PASS \r\n", Command::Pass(Password::default())),
        (b"ACCT billing\r\n", Command::Acct(text("billing"))),
        (b"CWD /pub/linux\r\n", Command::Cwd(path("/pub/linux"))),
        (b"CDUP\r\n", Command::Cdup),
        (b"SMNT /mnt\r\n", Command::Smnt(path("/mnt"))),
        (b"REIN\r\n", Command::Rein),
        (b"QUIT\r\n", Command::Quit),
        (
            b"PORT 192,168,1,2,7,138\r\n",
            Command::Port(SocketAddrV4::new(Ipv4Addr::new(192, 168, 1, 2), 1930)),
        ),
        (b"PASV\r\n", Command::Pasv),
        (b"TYPE I\r\n", Command::Type(RepresentationType::Image)),
        (
            b"TYPE A\r\n",
            Command::Type(RepresentationType::Ascii(FormatControl::NonPrint)),
        ),
        (
            b"TYPE A T\r\n",
            Command::Type(RepresentationType::Ascii(FormatControl::Telnet)),
        ),
        (
            b"TYPE E C\r\n",
            Command::Type(RepresentationType::Ebcdic(FormatControl::CarriageControl)),
        ),
        (b"TYPE L 8\r\n", Command::Type(RepresentationType::Local(8))),
        (b"STRU F\r\n", Command::Stru(FileStructure::File)),
        (b"STRU R\r\n", Command::Stru(FileStructure::Record)),
        (b"STRU P\r\n", Command::Stru(FileStructure::Page)),
        (b"MODE S\r\n", Command::Mode(TransferMode::Stream)),
        (b"MODE B\r\n", Command::Mode(TransferMode::Block)),
        (b"MODE C\r\n", Command::Mode(TransferMode::Compressed)),
        // Values a server may refuse are still commands (504 is the session's answer).
        (b"MODE Z\r\n", Command::Mode(TransferMode::Deflate)),
        (
            b"MODE Q\r\n",
            Command::Mode(TransferMode::Other(ParameterLetter::new(b'Q').unwrap())),
        ),
        (
            b"STRU X\r\n",
            Command::Stru(FileStructure::Other(ParameterLetter::new(b'X').unwrap())),
        ),
        (
            b"TYPE Q\r\n",
            Command::Type(RepresentationType::Other(
                ParameterLetter::new(b'Q').unwrap(),
            )),
        ),
        (
            b"TYPE L\r\n",
            Command::Type(RepresentationType::Other(
                ParameterLetter::new(b'L').unwrap(),
            )),
        ),
        (
            b"RETR  leading space.txt\r\n",
            Command::Retr(path(" leading space.txt")),
        ),
        (
            b"STOR trailing space \r\n",
            Command::Stor(path("trailing space ")),
        ),
        (b"STOU\r\n", Command::Stou(None)),
        (b"STOU draft\r\n", Command::Stou(Some(path("draft")))),
        (b"APPE log.txt\r\n", Command::Appe(path("log.txt"))),
        (
            b"ALLO 1024\r\n",
            Command::Allo(Allocation {
                size: 1024,
                record_size: None,
            }),
        ),
        (
            b"ALLO 1024 R 128\r\n",
            Command::Allo(Allocation {
                size: 1024,
                record_size: Some(128),
            }),
        ),
        (b"REST 18446744073709551615\r\n", Command::Rest(u64::MAX)),
        (b"RNFR old\r\n", Command::Rnfr(path("old"))),
        (b"RNTO new\r\n", Command::Rnto(path("new"))),
        (b"ABOR\r\n", Command::Abor),
        (b"DELE gone\r\n", Command::Dele(path("gone"))),
        (b"RMD dir\r\n", Command::Rmd(path("dir"))),
        (b"MKD dir\r\n", Command::Mkd(path("dir"))),
        (b"PWD\r\n", Command::Pwd),
        (b"LIST\r\n", Command::List(None)),
        (b"LIST -la /pub\r\n", Command::List(Some(path("-la /pub")))),
        (b"NLST *.txt\r\n", Command::Nlst(Some(path("*.txt")))),
        (
            b"SITE CHMOD 644 file\r\n",
            Command::Site(text("CHMOD 644 file")),
        ),
        (b"SYST\r\n", Command::Syst),
        (b"STAT\r\n", Command::Stat(None)),
        (b"STAT /pub\r\n", Command::Stat(Some(path("/pub")))),
        (b"HELP\r\n", Command::Help(None)),
        (b"HELP SITE\r\n", Command::Help(Some(text("SITE")))),
        (b"NOOP\r\n", Command::Noop),
        (b"XCUP\r\n", Command::Xcup),
        (b"XCWD d\r\n", Command::Xcwd(path("d"))),
        (b"XMKD d\r\n", Command::Xmkd(path("d"))),
        (b"XPWD\r\n", Command::Xpwd),
        (b"XRMD d\r\n", Command::Xrmd(path("d"))),
        (b"AUTH TLS\r\n", Command::Auth(AuthMechanism::Tls)),
        (b"AUTH SSL\r\n", Command::Auth(AuthMechanism::Ssl)),
        (
            b"AUTH GSSAPI\r\n",
            Command::Auth(AuthMechanism::Other(text("GSSAPI"))),
        ),
        (b"ADAT aGVsbG8=\r\n", Command::Adat(text("aGVsbG8="))),
        (b"PROT C\r\n", Command::Prot(ProtectionLevel::Clear)),
        (b"PROT S\r\n", Command::Prot(ProtectionLevel::Safe)),
        (b"PROT E\r\n", Command::Prot(ProtectionLevel::Confidential)),
        (b"PROT P\r\n", Command::Prot(ProtectionLevel::Private)),
        (b"PBSZ 0\r\n", Command::Pbsz(0)),
        (b"PBSZ 4294967295\r\n", Command::Pbsz(u32::MAX)),
        (b"CCC\r\n", Command::Ccc),
        (b"MIC bWlj\r\n", Command::Mic(text("bWlj"))),
        (b"CONF Y29uZg==\r\n", Command::Conf(text("Y29uZg=="))),
        (b"ENC ZW5j\r\n", Command::Enc(text("ZW5j"))),
        (b"FEAT\r\n", Command::Feat),
        (
            b"OPTS UTF8 ON\r\n",
            Command::Opts(CommandOptions {
                command: text("UTF8"),
                options: Some(text("ON")),
            }),
        ),
        (
            b"OPTS MLST type;size;modify;\r\n",
            Command::Opts(CommandOptions {
                command: text("MLST"),
                options: Some(text("type;size;modify;")),
            }),
        ),
        (
            b"OPTS MLST\r\n",
            Command::Opts(CommandOptions {
                command: text("MLST"),
                options: None,
            }),
        ),
        (
            b"EPRT |1|132.235.1.2|6275|\r\n",
            Command::Eprt(SocketAddr::new(Ipv4Addr::new(132, 235, 1, 2).into(), 6275)),
        ),
        (
            b"EPRT |2|1080::8:800:200c:417a|5282|\r\n",
            Command::Eprt(SocketAddr::new(
                "1080::8:800:200C:417A".parse::<Ipv6Addr>().unwrap().into(),
                5282,
            )),
        ),
        (b"EPSV\r\n", Command::Epsv(ExtendedPassive::Any)),
        (b"EPSV ALL\r\n", Command::Epsv(ExtendedPassive::All)),
        (
            b"EPSV 1\r\n",
            Command::Epsv(ExtendedPassive::Protocol(NetworkProtocol::IPV4)),
        ),
        (
            b"EPSV 2\r\n",
            Command::Epsv(ExtendedPassive::Protocol(NetworkProtocol::IPV6)),
        ),
        (b"LANG\r\n", Command::Lang(None)),
        (b"LANG fr-FR\r\n", Command::Lang(Some(text("fr-FR")))),
        (b"SIZE big.iso\r\n", Command::Size(path("big.iso"))),
        (b"MDTM big.iso\r\n", Command::Mdtm(path("big.iso"))),
        (b"MLST\r\n", Command::Mlst(None)),
        (b"MLST file\r\n", Command::Mlst(Some(path("file")))),
        (b"MLSD\r\n", Command::Mlsd(None)),
        (b"MLSD /pub\r\n", Command::Mlsd(Some(path("/pub")))),
        (
            b"HOST ftp.example.com\r\n",
            Command::Host(text("ftp.example.com")),
        ),
        (
            b"MFMT 20240229235959 notes.txt\r\n",
            Command::Mfmt {
                modified: UNIX_EPOCH + Duration::from_secs(1_709_251_199),
                path: path("notes.txt"),
            },
        ),
        (
            b"MFMT 20240229235959.25 notes.txt\r\n",
            Command::Mfmt {
                modified: UNIX_EPOCH + Duration::new(1_709_251_199, 250_000_000),
                path: path("notes.txt"),
            },
        ),
        (b"HASH file.bin\r\n", Command::Hash(path("file.bin"))),
        (b"CLNT curl 8.5\r\n", Command::Clnt(text("curl 8.5"))),
        (
            b"XYZZY magic words\r\n",
            Command::Unknown {
                verb: text("XYZZY"),
                argument: Some(text("magic words")),
            },
        ),
        (
            b"MACB\r\n",
            Command::Unknown {
                verb: text("MACB"),
                argument: None,
            },
        ),
        (
            b"RETR caf\xe9 \xff.txt\r\n",
            Command::Retr(Pathname::borrowed(b"caf\xe9 \xff.txt")),
        ),
    ]
}

#[test]
fn canonical_commands_parse_and_encode_both_ways() {
    for (line, expected) in canonical_commands() {
        let parsed = parse_command(line);
        let shown = line.escape_ascii().to_string();
        // The 0xFF in the Latin-1 name would be Telnet IAC: it must be doubled to parse.
        if line.contains(&0xFF) {
            let mut doubled = Vec::new();
            expected
                .encode_with(&mut doubled, IacEscaping::Double)
                .unwrap();
            assert_eq!(parse_command(&doubled).as_ref(), Ok(&expected), "{shown}");
        } else {
            assert_eq!(parsed.as_ref(), Ok(&expected), "parse {shown}");
        }
        let mut encoded = Vec::new();
        expected.encode(&mut encoded).unwrap();
        assert_eq!(encoded, line, "encode {shown}");
        assert_eq!(
            expected.verb().map(Verb::as_str),
            verb_of(line),
            "verb {shown}"
        );
    }
}

fn verb_of(line: &[u8]) -> Option<&'static str> {
    let end = line
        .iter()
        .position(|&byte| byte == b' ' || byte == b'\r')?;
    Verb::from_bytes(&line[..end]).map(Verb::as_str)
}

#[test]
fn every_verb_has_a_canonical_example() {
    let covered: Vec<Verb> = canonical_commands()
        .iter()
        .filter_map(|(_, command)| command.verb())
        .collect();
    for verb in Verb::ALL {
        assert!(covered.contains(verb), "no known answer for {verb}");
    }
}

#[test]
fn lenient_forms_parse_to_what_they_mean() {
    let cases: Vec<(&[u8], Command<'static>)> = vec![
        (b"noop\n", Command::Noop),
        (b"NoOp\r\n", Command::Noop),
        (b"NOOP \r\n", Command::Noop),
        (b"PASS\r\n", Command::Pass(Password::default())),
        (b"LIST \r\n", Command::List(None)),
        (b"type i\r\n", Command::Type(RepresentationType::Image)),
        (
            b"TYPE A N\r\n",
            Command::Type(RepresentationType::Ascii(FormatControl::NonPrint)),
        ),
        (b"TYPE L8\r\n", Command::Type(RepresentationType::Local(8))),
        (b"mode z\r\n", Command::Mode(TransferMode::Deflate)),
        (
            b"stru x\r\n",
            Command::Stru(FileStructure::Other(ParameterLetter::new(b'X').unwrap())),
        ),
        (
            b"type e\r\n",
            Command::Type(RepresentationType::Ebcdic(FormatControl::NonPrint)),
        ),
        (b"auth tls-c\r\n", Command::Auth(AuthMechanism::Tls)),
        (b"epsv all\r\n", Command::Epsv(ExtendedPassive::All)),
        (b"prot p\r\n", Command::Prot(ProtectionLevel::Private)),
        (
            b"EPRT !1!127.0.0.1!2000!\r\n",
            Command::Eprt(SocketAddr::new(Ipv4Addr::LOCALHOST.into(), 2000)),
        ),
        // Telnet: IAC IP and IAC DM before ABOR are dropped (RFC 959 §4.1.3).
        (b"\xff\xf4\xff\xf2ABOR\r\n", Command::Abor),
        // A CR inside a name travels as CR NUL (RFC 2640).
        (b"DELE a\r\0b\r\n", Command::Dele(path("a\rb"))),
        (
            b"RETR \xff\xff\r\n",
            Command::Retr(Pathname::borrowed(b"\xff")),
        ),
    ];
    for (line, expected) in cases {
        assert_eq!(parse_command(line), Ok(expected), "{}", line.escape_ascii());
    }
}

#[test]
fn bad_lines_give_the_right_error_and_reply_code() {
    let cases: &[(&[u8], CommandError, u16)] = &[
        (b"\r\n", CommandError::EmptyLine, 500),
        (b" NOOP\r\n", CommandError::MissingVerb, 500),
        (b"NOOP\r\nNOOP\r\n", CommandError::TrailingData, 500),
        (
            b"RETR\r\n",
            CommandError::MissingArgument { verb: Verb::Retr },
            501,
        ),
        (
            b"RETR \r\n",
            CommandError::MissingArgument { verb: Verb::Retr },
            501,
        ),
        (
            b"USER\r\n",
            CommandError::MissingArgument { verb: Verb::User },
            501,
        ),
        (
            b"PWD x\r\n",
            CommandError::UnexpectedArgument { verb: Verb::Pwd },
            501,
        ),
        (
            b"PROT X\r\n",
            CommandError::UnsupportedParameter { verb: Verb::Prot },
            504,
        ),
        (
            b"EPRT |3|x|1|\r\n",
            CommandError::UnsupportedNetworkProtocol {
                verb: Verb::Eprt,
                protocol: 3,
            },
            522,
        ),
    ];
    for (line, error, code) in cases {
        let parsed = parse_command(line);
        assert_eq!(parsed.as_ref(), Err(error), "{}", line.escape_ascii());
        assert_eq!(
            error.reply_code().as_u16(),
            *code,
            "{}",
            line.escape_ascii()
        );
    }
    let invalid: &[&[u8]] = &[
        b"PORT 1,2,3,4,5\r\n",
        b"PORT 1,2,3,4,5,256\r\n",
        b"PORT 1,2,3,4,5,6,7\r\n",
        b"PORT a,b,c,d,e,f\r\n",
        b"TYPE L 0\r\n",
        b"TYPE L 256\r\n",
        b"TYPE A X\r\n",
        b"TYPE IMAGE\r\n",
        b"MODE STREAM\r\n",
        b"MODE 1\r\n",
        b"STRU \xC9\r\n",
        b"TYPE 7\r\n",
        b"REST -1\r\n",
        b"REST 18446744073709551616\r\n",
        b"REST 12abc\r\n",
        b"PBSZ 4294967296\r\n",
        b"ALLO\x20R 5\r\n",
        b"EPRT |1|::1|21|\r\n",
        b"EPRT |1|127.0.0.1|70000|\r\n",
        b"EPRT |1|127.0.0.1|21\r\n",
        b"EPRT \x011\x01127.0.0.1\x0121\x01\r\n",
        b"EPSV 3x\r\n",
        b"MFMT 2024 file\r\n",
        b"MFMT 20241301000000 file\r\n",
        b"MFMT 20240101000000\r\n",
    ];
    for line in invalid {
        let error = parse_command(line).unwrap_err();
        assert!(
            matches!(error, CommandError::InvalidArgument { .. }),
            "{}: {error:?}",
            line.escape_ascii()
        );
        assert_eq!(error.reply_code(), ReplyCode::SYNTAX_ERROR_IN_ARGUMENTS);
    }
}

#[test]
fn encoding_refuses_command_injection_and_writes_nothing() {
    let attacks = [
        Command::Retr(path("file\r\nDELE important")),
        Command::Cwd(path("dir\nRMD x")),
        Command::User(text("root\0")),
        Command::Pass(Password::from("pw\r\nSITE EXEC")),
        Command::Site(text("CHMOD 777 x\rDELE y")),
        Command::Unknown {
            verb: text("XYZ"),
            argument: Some(text("a\r\nQUIT")),
        },
        Command::Opts(CommandOptions {
            command: text("UTF8"),
            options: Some(text("ON\r\nDELE x")),
        }),
    ];
    for command in attacks {
        let mut wire = b"kept".to_vec();
        let error = command.encode(&mut wire).unwrap_err();
        assert!(
            matches!(error, EncodeError::ForbiddenByte { .. }),
            "{error:?}"
        );
        assert_eq!(wire, b"kept", "nothing written for {command:?}");
    }
    let not_words = [
        Command::Unknown {
            verb: text("TWO WORDS"),
            argument: None,
        },
        Command::Unknown {
            verb: text(""),
            argument: None,
        },
        Command::Opts(CommandOptions {
            command: text("MLST TYPE"),
            options: None,
        }),
        Command::Auth(AuthMechanism::Other(text("A B"))),
    ];
    for command in not_words {
        let mut wire = Vec::new();
        assert!(
            matches!(command.encode(&mut wire), Err(EncodeError::NotAWord { .. })),
            "{command:?}"
        );
        assert!(wire.is_empty());
    }
}

#[test]
fn iac_doubling_is_optional_and_parses_back() {
    let command = Command::Stor(Pathname::borrowed(b"\xffname\xff"));
    let mut raw = Vec::new();
    command.encode(&mut raw).unwrap();
    assert_eq!(raw, b"STOR \xffname\xff\r\n");
    let mut doubled = Vec::new();
    command
        .encode_with(&mut doubled, IacEscaping::Double)
        .unwrap();
    assert_eq!(doubled, b"STOR \xff\xffname\xff\xff\r\n");
    assert_eq!(parse_command(&doubled), Ok(command));
}

#[test]
fn passwords_never_show_in_debug_or_display() {
    let command = parse_command(b"PASS hunter2\r\n").unwrap();
    assert!(!format!("{command:?}").contains("hunter2"));
    assert!(!command.to_string().contains("hunter2"));
    assert_eq!(parse_command(b"RETR a b").unwrap().to_string(), "RETR a b");
}

#[test]
fn borrowed_unless_telnet_decoding_was_needed() {
    let Command::Retr(plain) = parse_command(b"RETR plain\r\n").unwrap() else {
        panic!("not RETR");
    };
    assert!(plain.is_borrowed());
    let Command::Retr(decoded) = parse_command(b"RETR a\xff\xffb\r\n").unwrap() else {
        panic!("not RETR");
    };
    assert!(!decoded.is_borrowed());
    assert_eq!(decoded.as_bytes(), b"a\xffb");
}

// ---------------------------------------------------------------------------------------
// Replies

/// Canonical replies: parse and encode are inverses on these.
fn canonical_replies() -> Vec<(&'static [u8], u16, &'static [u8])> {
    vec![
        (b"220 (vsFTPd 3.0.3)\r\n", 220, b"(vsFTPd 3.0.3)"),
        (b"200 \r\n", 200, b""),
        (
            b"211-Features:\r\n EPRT\r\n EPSV\r\n MDTM\r\n PASV\r\n REST STREAM\r\n SIZE\r\n TVFS\r\n211 End\r\n",
            211,
            b"Features:\n EPRT\n EPSV\n MDTM\n PASV\n REST STREAM\n SIZE\n TVFS\nEnd",
        ),
        (
            b"214-The following commands are recognized.\r\n ABOR ACCT ALLO APPE CDUP CWD\r\n214 Help OK.\r\n",
            214,
            b"The following commands are recognized.\n ABOR ACCT ALLO APPE CDUP CWD\nHelp OK.",
        ),
        // A middle line that starts with digits is sent with the code prefix, so it can
        // never close the reply.
        (
            b"250-Status\r\n250-123 lines that start with digits\r\n250 End\r\n",
            250,
            b"Status\n123 lines that start with digits\nEnd",
        ),
        (
            b"257 \"/a \"\"quoted\"\" dir\" created\r\n",
            257,
            b"\"/a \"\"quoted\"\" dir\" created",
        ),
        (b"550 a\r\0b: no such file\r\n", 550, b"a\rb: no such file"),
        (b"631 aW50ZWdyaXR5\r\n", 631, b"aW50ZWdyaXR5"),
        (b"999 unheard of\r\n", 999, b"unheard of"),
    ]
}

#[test]
fn canonical_replies_parse_and_encode_both_ways() {
    for (wire, code, text) in canonical_replies() {
        let reply = parse_reply(wire).unwrap();
        assert_eq!(reply.code().as_u16(), code, "{}", wire.escape_ascii());
        assert_eq!(reply.text().as_bytes(), text, "{}", wire.escape_ascii());
        let mut encoded = Vec::new();
        Reply::new(reply.code(), Text::borrowed(text)).encode(&mut encoded);
        assert_eq!(encoded, wire, "{}", text.escape_ascii());
    }
}

#[test]
fn replies_as_real_servers_send_them() {
    /// Wire bytes, code, lines of text.
    type Case = (&'static [u8], u16, Vec<&'static [u8]>);
    let cases: Vec<Case> = vec![
        // ProFTPD puts the code on every line of STAT.
        (
            b"211-Status of 'ProFTPD'\r\n211-Connected from 127.0.0.1\r\n211 End of status\r\n",
            211,
            vec![b"Status of 'ProFTPD'", b"Connected from 127.0.0.1", b"End of status"],
        ),
        // Bare LF line ends (some embedded servers).
        (b"230 Login successful.\n", 230, vec![b"Login successful."]),
        // No text at all.
        (b"200\r\n", 200, vec![b""]),
        // MLST: the entry line has a leading space inside a 250- reply.
        (
            b"250-Listing file.txt\r\n type=file;size=42;modify=20240101000000; file.txt\r\n250 End\r\n",
            250,
            vec![
                b"Listing file.txt",
                b" type=file;size=42;modify=20240101000000; file.txt",
                b"End",
            ],
        ),
        // Pure-FTPd's greeting: a long multi-line 220 whose middle lines are free text.
        (
            b"220---------- Welcome to Pure-FTPd [privsep] [TLS] ----------\r\n220-You are user number 1 of 50 allowed.\r\n220-Local time is now 12:00. Server port: 21.\r\n220 You will be disconnected after 15 minutes of inactivity.\r\n",
            220,
            vec![
                b"--------- Welcome to Pure-FTPd [privsep] [TLS] ----------",
                b"You are user number 1 of 50 allowed.",
                b"Local time is now 12:00. Server port: 21.",
                b"You will be disconnected after 15 minutes of inactivity.",
            ],
        ),
        // A middle line "226 ..." with another code does not close a 211- reply.
        (
            b"211-status\r\n226 not the end\r\n211 end\r\n",
            211,
            vec![b"status", b"226 not the end", b"end"],
        ),
    ];
    for (wire, code, lines) in cases {
        let reply =
            parse_reply(wire).unwrap_or_else(|error| panic!("{error}: {}", wire.escape_ascii()));
        assert_eq!(reply.code().as_u16(), code);
        assert_eq!(
            reply.lines().collect::<Vec<_>>(),
            lines,
            "{}",
            wire.escape_ascii()
        );
    }
}

#[test]
fn passive_replies_from_many_servers() {
    let cases: &[(&[u8], [u8; 4], u16)] = &[
        (
            b"227 Entering Passive Mode (127,0,0,1,195,80).\r\n",
            [127, 0, 0, 1],
            50000,
        ),
        (
            b"227 Entering Passive Mode 127,0,0,1,195,80\r\n",
            [127, 0, 0, 1],
            50000,
        ),
        (b"227 =10,1,2,3,4,5\r\n", [10, 1, 2, 3], 1029),
        (
            b"227 Entering passive mode (10,0,0,7,39,16)\r\n",
            [10, 0, 0, 7],
            10000,
        ),
    ];
    for &(wire, ip, port) in cases {
        let reply = parse_reply(wire).unwrap();
        assert_eq!(
            reply.passive_address(),
            Ok(SocketAddrV4::new(ip.into(), port)),
            "{}",
            wire.escape_ascii()
        );
    }
    for bad in [
        &b"227 Entering Passive Mode (127,0,0,1,0,0)\r\n"[..],
        b"227 Entering Passive Mode (127,0,0,1,4)\r\n",
        b"227 Entering Passive Mode (256,0,0,1,4,1)\r\n",
    ] {
        assert!(
            parse_reply(bad).unwrap().passive_address().is_err(),
            "{}",
            bad.escape_ascii()
        );
    }
    let wrong_code = parse_reply(b"200 (1,2,3,4,5,6)\r\n").unwrap();
    assert!(matches!(
        wrong_code.passive_address(),
        Err(PayloadError::UnexpectedCode { .. })
    ));

    let extended: &[(&[u8], u16)] = &[
        (b"229 Entering Extended Passive Mode (|||6446|)\r\n", 6446),
        (b"229 Entering Extended Passive Mode (!!!6446!)\r\n", 6446),
        (b"229 EPSV ok (|||65535|)\r\n", 65535),
    ];
    for &(wire, port) in extended {
        assert_eq!(parse_reply(wire).unwrap().extended_passive_port(), Ok(port));
    }
    for bad in [
        &b"229 Entering Extended Passive Mode (|||0|)\r\n"[..],
        b"229 Entering Extended Passive Mode (|||70000|)\r\n",
        b"229 Entering Extended Passive Mode (||6446|)\r\n",
        b"229 Entering Extended Passive Mode |||6446|\r\n",
        b"229 Entering Extended Passive Mode (|||6446!)\r\n",
    ] {
        assert!(
            parse_reply(bad).unwrap().extended_passive_port().is_err(),
            "{}",
            bad.escape_ascii()
        );
    }
}

#[test]
fn typed_payloads() {
    let pwd = parse_reply(b"257 \"/home/user\" is the current directory\r\n").unwrap();
    let quoted = pwd.quoted_path().unwrap();
    assert!(quoted.is_borrowed());
    assert_eq!(quoted, "/home/user");
    let doubled = parse_reply(b"257 \"/say \"\"hi\"\"\" created\r\n").unwrap();
    assert_eq!(doubled.quoted_path().unwrap(), "/say \"hi\"");
    assert!(
        parse_reply(b"257 /unquoted\r\n")
            .unwrap()
            .quoted_path()
            .is_err()
    );
    assert!(
        parse_reply(b"257 \"unterminated\r\n")
            .unwrap()
            .quoted_path()
            .is_err()
    );

    assert_eq!(
        parse_reply(b"213 1073741824\r\n").unwrap().size(),
        Ok(1 << 30)
    );
    assert!(parse_reply(b"213 12x\r\n").unwrap().size().is_err());
    assert_eq!(
        parse_reply(b"213 20240229235959.123\r\n")
            .unwrap()
            .modification_time(),
        Ok(UNIX_EPOCH + Duration::new(1_709_251_199, 123_000_000))
    );
    assert!(
        parse_reply(b"213 19100101000000\r\n")
            .unwrap()
            .modification_time()
            .is_ok()
    );
    assert!(
        parse_reply(b"213 2024022923595\r\n")
            .unwrap()
            .modification_time()
            .is_err()
    );

    let feat = parse_reply(
        b"211-Extensions supported:\r\n EPSV\r\n MLST type*;size*;modify*;\r\n UTF8\r\n REST STREAM\r\n211 END\r\n",
    )
    .unwrap();
    let features = feat.features().unwrap();
    let names: Vec<_> = features
        .iter()
        .map(|feature| feature.name.to_string())
        .collect();
    assert_eq!(names, ["EPSV", "MLST", "UTF8", "REST"]);
    assert_eq!(
        features[1].parameters.as_ref().unwrap(),
        "type*;size*;modify*;"
    );
    assert!(features[3].is("rest"));
    assert_eq!(
        parse_reply(b"211 no features\r\n").unwrap().features(),
        Ok(vec![])
    );

    let opening =
        parse_reply(b"150 Opening BINARY mode data connection for big.iso (1048576 bytes).\r\n")
            .unwrap();
    assert_eq!(opening.transfer_size_hint(), Some(1_048_576));
    // IIS answers 125 where others answer 150.
    let iis = parse_reply(b"125 Data connection already open; Transfer starting.\r\n").unwrap();
    assert_eq!(iis.transfer_size_hint(), None);
    assert!(iis.code().is_positive_preliminary());
}

#[test]
fn reply_encoding_cannot_be_broken_by_its_text() {
    // A single line with a CR LF inside becomes two lines, never two replies.
    let reply = Reply::new(ReplyCode::FILE_UNAVAILABLE, "evil\r\n226 fake success");
    let mut wire = Vec::new();
    reply.encode(&mut wire);
    assert_eq!(wire, b"550-evil\r\0\r\n550 226 fake success\r\n");
    let parsed = parse_reply(&wire).unwrap();
    assert_eq!(parsed.code(), ReplyCode::FILE_UNAVAILABLE);
    assert_eq!(parsed.text().as_bytes(), b"evil\r\n226 fake success");

    let path = Pathname::borrowed(b"line\nbreak\r\"q\"");
    let created = Reply::with_path(ReplyCode::PATHNAME_CREATED, &path, "created");
    let mut wire = Vec::new();
    created.encode(&mut wire);
    assert_eq!(wire, b"257 \"line\0break\r\0\"\"q\"\"\" created\r\n");
    assert_eq!(
        parse_reply(&wire)
            .unwrap()
            .quoted_path()
            .unwrap()
            .as_bytes(),
        b"line\0break\r\"q\""
    );
}

#[test]
fn reply_codes() {
    assert_eq!(
        ReplyCode::from_digits(b"226"),
        Some(ReplyCode::CLOSING_DATA_CONNECTION)
    );
    assert_eq!(ReplyCode::from_digits(b"22x"), None);
    assert_eq!(ReplyCode::new(0).unwrap().to_string(), "000");
    assert_eq!(
        format!("{:?}", ReplyCode::FILE_STATUS_OKAY),
        "150 FILE_STATUS_OKAY"
    );
    assert_eq!(ReplyCode::try_from(1000), Err(InvalidReplyCode(1000)));
    let code = ReplyCode::SERVICE_NOT_AVAILABLE;
    assert!(code.is_transient_negative() && code.is_negative() && code.is_final());
    assert_eq!(code.class(), ReplyClass::TransientNegative);
    assert_eq!(code.group(), ReplyGroup::Connections);
    assert_eq!(ReplyCode::FILE_UNAVAILABLE.group(), ReplyGroup::FileSystem);
    assert!(ReplyCode::CONFIDENTIALITY_PROTECTED_REPLY.is_protected());
    assert!(!ReplyCode::FILE_STATUS_OKAY.is_final());
}

#[test]
fn malformed_and_oversized_replies_keep_the_stream_in_step() {
    let mut parser = ReplyParser::with_limits(16, 3);
    let input: &[u8] = b"hello\r\n\
        220-this first line is far too long\r\nmiddle\r\n220 end\r\n\
        211-a\r\nb\r\nc\r\nd\r\n211 e\r\n\
        200 ok\r\n";
    let mut buffer = input.to_vec();
    let mut items = Vec::new();
    loop {
        let parsed = parser.parse(&buffer);
        let item = parsed.item.map(|item| item.map(Reply::into_owned));
        buffer.drain(..parsed.consumed);
        match item {
            Some(item) => items.push(item),
            None => break,
        }
    }
    assert_eq!(
        items,
        vec![
            Err(ReplyError::Malformed),
            Err(ReplyError::LineTooLong { limit: 16 }),
            Err(ReplyError::TooManyLines { limit: 3 }),
            Ok(Reply::new(ReplyCode::COMMAND_OKAY, "ok")),
        ]
    );
    assert!(buffer.is_empty());
}

#[test]
fn overlong_command_lines_are_refused_and_skipped() {
    let mut parser = CommandParser::with_max_line_length(8);
    let mut buffer = b"RETR 123456789".to_vec();
    let parsed = parser.parse(&buffer);
    assert_eq!(
        parsed.item,
        Some(Err(CommandError::LineTooLong { limit: 8 }))
    );
    assert_eq!(parsed.consumed, buffer.len(), "skipped, never buffered");
    buffer.clear();
    buffer.extend_from_slice(b"more of the same line\r\nNOOP\r\n");
    let parsed = parser.parse(&buffer);
    assert_eq!(parsed.item, Some(Ok(Command::Noop)));
    assert_eq!(parsed.consumed, buffer.len());
    // Exactly at the bound is fine, with CRLF or LF.
    assert_eq!(
        parser.parse(b"RETR 123\r\n").item,
        Some(Ok(Command::Retr(path("123"))))
    );
    assert_eq!(
        parser.parse(b"RETR 123\n").item,
        Some(Ok(Command::Retr(path("123"))))
    );
    assert_eq!(
        parser.parse(b"RETR 1234\n").item,
        Some(Err(CommandError::LineTooLong { limit: 8 }))
    );
}

#[test]
fn replies_display_on_one_safe_line() {
    let reply = Reply::new(
        ReplyCode::FILE_UNAVAILABLE,
        Text::borrowed(b"caf\xc3\xa9\r\x1b[31m\nsecond \xff"),
    );
    assert_eq!(reply.to_string(), "550 café\\r\\u{1b}[31m / second \\xff");
    let owned: Feature<'static> = {
        let reply = parse_reply(b"211-x\r\n MLST size*;\r\n211 E\r\n").unwrap();
        reply.features().unwrap().remove(0).into_owned()
    };
    assert!(owned.is("mlst"));
}

#[test]
fn a_long_line_does_not_swallow_the_lines_after_it() {
    let mut parser = CommandParser::with_max_line_length(4);
    let input = b"xxxxxxx\r\nNOOP\r\n";
    let first = parser.parse(input);
    assert_eq!(
        first.item,
        Some(Err(CommandError::LineTooLong { limit: 4 }))
    );
    assert_eq!(first.consumed, 9);
    assert_eq!(parser.parse(&input[9..]).item, Some(Ok(Command::Noop)));
    // The same with the default bound and more lines in the buffer.
    let mut parser = CommandParser::new();
    let mut input = vec![b'a'; 5000];
    input.extend_from_slice(b"\r\nNOOP\r\nQUIT\r\n");
    let first = parser.parse(&input);
    assert_eq!(first.consumed, 5002);
    assert_eq!(parser.parse(&input[5002..]).item, Some(Ok(Command::Noop)));
}

#[test]
fn skipping_a_refused_reply_never_stalls_on_a_complete_one() {
    let mut parser = ReplyParser::with_limits(8, 1);
    let mut buffer = b"200-a\r\nb\r\nccccccccc\n200 end\r\n201 x\r\n".to_vec();
    let mut items = Vec::new();
    loop {
        let parsed = parser.parse(&buffer);
        let item = parsed.item.map(|item| item.map(Reply::into_owned));
        buffer.drain(..parsed.consumed);
        match item {
            Some(item) => items.push(item),
            None => break,
        }
    }
    assert_eq!(
        items,
        vec![
            Err(ReplyError::TooManyLines { limit: 1 }),
            Ok(Reply::new(ReplyCode::new(201).unwrap(), "x"))
        ]
    );
    assert!(buffer.is_empty());
}

#[test]
fn encoding_refuses_an_empty_required_argument() {
    for command in [
        Command::User(text("")),
        Command::Retr(path("")),
        Command::Site(text("")),
    ] {
        let mut wire = Vec::new();
        assert!(
            matches!(
                command.encode(&mut wire),
                Err(EncodeError::MissingArgument { .. })
            ),
            "{command:?}"
        );
        assert!(wire.is_empty());
    }
    // Optional arguments may be empty: an empty password is a password.
    let mut wire = Vec::new();
    Command::Pass(Password::default())
        .encode(&mut wire)
        .unwrap();
    assert_eq!(wire, b"PASS \r\n");
}

#[test]
fn iac_doubling_covers_unknown_verbs() {
    let command = Command::Unknown {
        verb: Text::borrowed(b"X\xff"),
        argument: None,
    };
    let mut wire = Vec::new();
    command.encode_with(&mut wire, IacEscaping::Double).unwrap();
    assert_eq!(wire, b"X\xff\xff\r\n");
    assert_eq!(parse_command(&wire), Ok(command));
}

#[test]
fn telnet_decoding_holds_whatever_the_split() {
    let input: &[u8] =
        b"DELE a\r\0b\r\nRETR \xff\xffc\r\nNOOP\r\nSTOR x\ry\r\n\xff\xf4\xff\xf2ABOR\r\n";
    let expected: Vec<_> = input
        .split_inclusive(|&byte| byte == b'\n')
        .map(|line| parse_command(line).map(Command::into_owned))
        .collect();
    for split in 0..=input.len() {
        let mut parser = CommandParser::new();
        let mut buffer = Vec::new();
        let mut items = Vec::new();
        for chunk in [&input[..split], &input[split..]] {
            buffer.extend_from_slice(chunk);
            loop {
                let parsed = parser.parse(&buffer);
                let item = parsed.item.map(|item| item.map(Command::into_owned));
                buffer.drain(..parsed.consumed);
                match item {
                    Some(item) => items.push(item),
                    None => break,
                }
            }
        }
        assert_eq!(items, expected, "split at {split}");
    }
    assert_eq!(expected[0], Ok(Command::Dele(path("a\rb"))));
    assert_eq!(expected[1], Ok(Command::Retr(Pathname::borrowed(b"\xffc"))));
    assert_eq!(expected[3], Ok(Command::Stor(path("x\ry"))));
    assert_eq!(expected[4], Ok(Command::Abor));
}
