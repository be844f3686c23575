//! End to end: every client operation through the in-memory pair (a real
//! `client::Session` against a real `server::Session` and a `MemoryFs`), on its success
//! and failure paths, with faults injected on the data and control paths.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, UNIX_EPOCH};

use common::MemoryFs;
use common::pair::{FinalOrder, Pair, code, path, wall_clock};
use ftp_proto::client::{self, DataConnectionMode, Error, OperationKind, Outcome, Waiting};
use ftp_proto::listing::{self, EntryKind, ListLine};
use ftp_proto::server;
use ftp_proto::{Command, FormatControl, RepresentationType};

fn logged_in() -> Pair {
    Pair::logged_in(Pair::default_fs())
}

fn refused_code(result: &Result<Outcome, Error>) -> u16 {
    match result {
        Err(Error::Refused { reply, .. }) => reply.code().as_u16(),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

// ----- Login -----

#[test]
fn login_succeeds() {
    let mut pair = Pair::new(Pair::default_fs());
    let result = pair.login("alice", "secret");
    assert!(matches!(&result, Ok(Outcome::LoggedIn(_))), "{result:?}");
    assert_eq!(code(&result), Some(230));
    assert!(pair.client.is_logged_in());
    assert!(pair.server.is_logged_in());
    assert!(
        pair.client_wire()
            .starts_with("USER alice\r\nPASS secret\r\n")
    );
}

#[test]
fn anonymous_login_cannot_write() {
    let mut pair = Pair::new(Pair::default_fs());
    pair.login("anonymous", "guest@").unwrap();
    let result = pair.run(|c, now| c.make_directory("new", now));
    assert_eq!(refused_code(&result), 550);
    assert!(!pair.fs.nodes.contains_key(b"/new".as_slice()));
}

#[test]
fn bad_password_is_answered_after_the_servers_delay() {
    let mut pair = Pair::new(Pair::default_fs());
    let id = pair.start(|c, now| c.login("alice", "wrong", now));
    pair.run_until_quiet();
    assert!(!pair.is_complete(id), "answered before the delay");
    pair.advance(Duration::from_millis(999));
    assert!(!pair.is_complete(id), "answered before the delay");
    pair.advance(Duration::from_millis(1));
    let result = pair.take(id).unwrap();
    assert_eq!(refused_code(&result), 530);
    assert!(!pair.client.is_logged_in());
    // The delay doubles at the second failure.
    let id = pair.start(|c, now| c.login("alice", "wrong again", now));
    pair.run_until_quiet();
    pair.advance(Duration::from_millis(1999));
    assert!(!pair.is_complete(id));
    pair.advance(Duration::from_millis(1));
    assert_eq!(refused_code(&pair.take(id).unwrap()), 530);
    // The session goes on: the right password still works.
    pair.login("alice", "secret").unwrap();
    assert!(pair.client.is_logged_in());
}

#[test]
fn third_bad_password_locks_the_session_out() {
    let mut pair = Pair::new(Pair::default_fs());
    for delay in [1, 2] {
        let id = pair.start(|c, now| c.login("alice", "wrong", now));
        pair.run_until_quiet();
        pair.advance(Duration::from_secs(delay));
        assert_eq!(refused_code(&pair.take(id).unwrap()), 530);
    }
    let id = pair.start(|c, now| c.login("alice", "wrong", now));
    let queued = pair.start(|c, now| c.noop(now));
    pair.run_until_quiet();
    pair.advance(Duration::from_secs(4));
    let result = pair.take(id).unwrap();
    assert!(
        matches!(&result, Err(Error::ServiceClosing { reply }) if reply.code().as_u16() == 421),
        "{result:?}"
    );
    assert!(result.as_ref().unwrap_err().is_fatal());
    // The queued operation completes with the same fatal error, then the session ends.
    assert_eq!(pair.take(queued).unwrap(), result);
    assert_eq!(pair.client_closed, Some(Some(result.clone().unwrap_err())));
    assert!(pair.server_is_closed());
    // Sticky.
    assert_eq!(pair.run(|c, now| c.noop(now)), result);
}

// ----- Information -----

#[test]
fn features_are_read_and_kept() {
    let mut pair = Pair::new(Pair::default_fs());
    pair.login("alice", "secret").unwrap();
    let Outcome::Features(features) = pair.run(|c, now| c.features(now)).unwrap() else {
        panic!("not features");
    };
    for feature in ["EPSV", "EPRT", "MDTM", "MFMT", "MLST", "SIZE", "UTF8"] {
        assert!(
            features.contains(feature),
            "{feature} missing: {features:?}"
        );
    }
    assert!(features.restart_stream());
    assert!(features.machine_listing());
    assert_eq!(pair.client.server_features(), Some(&features));
    assert!(pair.client_wire().contains("FEAT\r\nOPTS UTF8 ON\r\n"));
}

#[test]
fn missing_features_refuse_operations_before_sending() {
    let mut config = server::Config::default();
    config.capabilities = server::Capabilities::READ_ONLY;
    let mut pair = Pair::logged_in_with(client::Config::default(), config, Pair::default_fs());
    let sent = pair.client_sent.len();
    let result = pair.run(|c, now| c.set_modification_time("/readme", UNIX_EPOCH, now));
    assert!(
        matches!(
            result,
            Err(Error::NotSupported {
                feature: "MFMT",
                ..
            })
        ),
        "{result:?}"
    );
    assert_eq!(pair.client_sent.len(), sent, "something was sent");
    // Without FEAT, the client tries and the server says 502.
    let mut config = server::Config::default();
    config.capabilities = server::Capabilities::READ_ONLY;
    let mut pair = Pair::with_configs(client::Config::default(), config, Pair::default_fs());
    pair.login("alice", "secret").unwrap();
    let result = pair.run(|c, now| c.set_modification_time("/readme", UNIX_EPOCH, now));
    assert!(
        matches!(&result, Err(Error::NotSupported { feature: "MFMT", reply: Some(reply), .. })
            if reply.code().as_u16() == 502),
        "{result:?}"
    );
}

#[test]
fn directories_cwd_cdup_pwd() {
    let mut pair = logged_in();
    let pwd = |pair: &mut Pair| match pair.run(|c, now| c.print_directory(now)).unwrap() {
        Outcome::Directory(path) => path.to_string_lossy().into_owned(),
        other => panic!("{other:?}"),
    };
    assert_eq!(pwd(&mut pair), "/");
    assert_eq!(
        code(&pair.run(|c, now| c.change_directory("pub", now))),
        Some(250)
    );
    assert_eq!(pwd(&mut pair), "/pub");
    assert_eq!(pair.server.working_directory().as_bytes(), b"/pub");
    assert_eq!(code(&pair.run(|c, now| c.change_to_parent(now))), Some(250));
    assert_eq!(pwd(&mut pair), "/");
    // Failures leave the directory alone.
    let missing = pair.run(|c, now| c.change_directory("nowhere", now));
    assert_eq!(refused_code(&missing), 550);
    let file = pair.run(|c, now| c.change_directory("readme", now));
    assert_eq!(refused_code(&file), 550);
    assert_eq!(pwd(&mut pair), "/");
    // `..` never climbs above the root.
    pair.run(|c, now| c.change_directory("../../pub/..", now))
        .unwrap();
    assert_eq!(pwd(&mut pair), "/");
}

#[test]
fn type_ascii_converts_line_ends_and_type_image_does_not() {
    let mut pair = logged_in();
    let (result, bytes) = pair.download(|c, now| c.retrieve("/pub/hello.txt", now));
    result.unwrap();
    assert_eq!(bytes, b"hello\nworld\n");
    let ascii = RepresentationType::Ascii(FormatControl::NonPrint);
    assert_eq!(code(&pair.run(|c, now| c.set_type(ascii, now))), Some(200));
    let (result, bytes) = pair.download(|c, now| c.retrieve("/pub/hello.txt", now));
    result.unwrap();
    assert_eq!(bytes, b"hello\r\nworld\r\n");
    // Uploads in TYPE A are stored with the server's line ends.
    pair.upload(b"a\r\nb\r\n", |c, now| c.store("/lines", now))
        .unwrap();
    assert_eq!(pair.fs.file("/lines"), Some(b"a\nb\n".as_slice()));
    pair.run(|c, now| c.set_type(RepresentationType::Image, now))
        .unwrap();
    let (_, bytes) = pair.download(|c, now| c.retrieve("/pub/hello.txt", now));
    assert_eq!(bytes, b"hello\nworld\n");
    // An unsupported type is refused.
    let ebcdic = RepresentationType::Ebcdic(FormatControl::NonPrint);
    assert_eq!(
        refused_code(&pair.run(|c, now| c.set_type(ebcdic, now))),
        504
    );
}

#[test]
fn mkdir_rmdir_delete_rename() {
    let mut pair = logged_in();
    match pair.run(|c, now| c.make_directory("new dir", now)).unwrap() {
        Outcome::Directory(path) => assert_eq!(path, "/new dir"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        pair.fs.nodes.get(b"/new dir".as_slice()),
        Some(&common::Node::Directory)
    );
    assert_eq!(
        refused_code(&pair.run(|c, now| c.make_directory("new dir", now))),
        550
    );
    assert_eq!(
        refused_code(&pair.run(|c, now| c.make_directory("/no/parent", now))),
        550
    );
    // RMD: not empty, a file, missing, then fine.
    assert_eq!(
        refused_code(&pair.run(|c, now| c.remove_directory("pub", now))),
        550
    );
    assert_eq!(
        refused_code(&pair.run(|c, now| c.remove_directory("readme", now))),
        550
    );
    assert_eq!(
        refused_code(&pair.run(|c, now| c.remove_directory("gone", now))),
        550
    );
    assert_eq!(
        code(&pair.run(|c, now| c.remove_directory("new dir", now))),
        Some(250)
    );
    assert!(!pair.fs.nodes.contains_key(b"/new dir".as_slice()));
    // DELE: a directory, missing, then fine.
    assert_eq!(refused_code(&pair.run(|c, now| c.delete("pub", now))), 550);
    assert_eq!(refused_code(&pair.run(|c, now| c.delete("gone", now))), 550);
    assert_eq!(code(&pair.run(|c, now| c.delete("readme", now))), Some(250));
    assert_eq!(pair.fs.file("/readme"), None);
    // Rename: a file, a directory with its children, a missing source.
    assert_eq!(
        code(&pair.run(|c, now| c.rename("pub/hello.txt", "/hi", now))),
        Some(250)
    );
    assert_eq!(pair.fs.file("/hi"), Some(b"hello\nworld\n".as_slice()));
    pair.upload(b"x", |c, now| c.store("/pub/x", now)).unwrap();
    pair.run(|c, now| c.rename("pub", "public", now)).unwrap();
    assert_eq!(pair.fs.file("/public/x"), Some(b"x".as_slice()));
    assert!(!pair.fs.nodes.contains_key(b"/pub".as_slice()));
    let missing = pair.run(|c, now| c.rename("nothing", "something", now));
    assert_eq!(refused_code(&missing), 550);
    assert!(
        pair.client_wire().ends_with("RNFR nothing\r\n"),
        "RNTO sent after a refused RNFR"
    );
}

#[test]
fn size_mdtm_mfmt() {
    let mut pair = logged_in();
    assert_eq!(
        pair.run(|c, now| c.size("/readme", now)),
        Ok(Outcome::Size(7))
    );
    assert_eq!(refused_code(&pair.run(|c, now| c.size("/pub", now))), 550);
    assert_eq!(
        refused_code(&pair.run(|c, now| c.size("/missing", now))),
        550
    );
    let modified = UNIX_EPOCH + Duration::from_secs(common::MODIFIED);
    assert_eq!(
        pair.run(|c, now| c.modification_time("/readme", now)),
        Ok(Outcome::ModificationTime(modified))
    );
    assert_eq!(
        refused_code(&pair.run(|c, now| c.modification_time("/pub", now))),
        550
    );
    let new = UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    assert_eq!(
        code(&pair.run(|c, now| c.set_modification_time("/readme", new, now))),
        Some(213)
    );
    assert_eq!(
        pair.run(|c, now| c.modification_time("/readme", now)),
        Ok(Outcome::ModificationTime(new))
    );
    let missing = pair.run(|c, now| c.set_modification_time("/missing", new, now));
    assert_eq!(refused_code(&missing), 550);
}

#[test]
fn site_noop_status_raw() {
    let mut config = server::Config::default();
    config.enable_site = true;
    let mut pair = Pair::logged_in_with(client::Config::default(), config, Pair::default_fs());
    let Outcome::Done(reply) = pair.run(|c, now| c.site("CHMOD 644 readme", now)).unwrap() else {
        panic!()
    };
    assert_eq!(reply.code().as_u16(), 200);
    assert_eq!(reply.text(), "SITE CHMOD 644 readme done");
    assert_eq!(code(&pair.run(|c, now| c.noop(now))), Some(200));
    // STAT without a path: the server's status.
    let Outcome::Done(status) = pair.run(|c, now| c.status(None, now)).unwrap() else {
        panic!()
    };
    assert_eq!(status.code().as_u16(), 211);
    assert!(status.text().to_string_lossy().contains("TYPE: BINARY"));
    // STAT with a path: a listing in the reply.
    let Outcome::Done(status) = pair
        .run(|c, now| c.status(Some("/pub".into()), now))
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(status.code().as_u16(), 213);
    let lines: Vec<&[u8]> = status.lines().collect();
    assert_eq!(lines.len(), 3, "{status:?}");
    let ListLine::Entry(entry) =
        listing::parse_list_line(lines[1].trim_ascii_start(), wall_clock())
    else {
        panic!("{:?}", lines[1].escape_ascii().to_string())
    };
    assert_eq!(entry.name, "hello.txt");
    assert_eq!(entry.size, Some(12));
    assert_eq!(
        refused_code(&pair.run(|c, now| c.status(Some("/none".into()), now))),
        550
    );
    // Raw commands: any 2yz or 3yz is a success; 5yz is a refusal.
    let syst = pair.run(|c, now| c.raw(Command::Syst, now)).unwrap();
    assert_eq!(code(&Ok(syst)), Some(215));
    let help = pair.run(|c, now| c.raw(Command::Help(None), now));
    assert_eq!(code(&help), Some(214));
    let rnfr = pair.run(|c, now| c.raw(Command::Rnfr("/readme".into()), now));
    assert_eq!(code(&rnfr), Some(350));
    let dele = pair.run(|c, now| c.raw(Command::Dele("/none".into()), now));
    assert_eq!(refused_code(&dele), 550);
    // Commands that change what the session tracks are refused, and nothing is sent.
    let sent = pair.client_sent.len();
    for command in [
        Command::Rest(0),
        Command::Mode(ftp_proto::TransferMode::Block),
    ] {
        let refused = pair.run(|c, now| c.raw(command, now));
        assert!(
            matches!(refused, Err(Error::RawRefused { .. })),
            "{refused:?}"
        );
    }
    assert_eq!(pair.client_sent.len(), sent);
}

#[test]
fn machine_entry_over_the_control_connection() {
    let mut pair = logged_in();
    let Outcome::Entry(entry) = pair
        .run(|c, now| c.machine_entry(Some("/readme".into()), now))
        .unwrap()
    else {
        panic!()
    };
    let entry = listing::parse_mlsx_line(entry.as_bytes()).unwrap();
    assert_eq!(entry.name, "/readme");
    assert_eq!(entry.kind, EntryKind::File);
    assert_eq!(entry.size, Some(7));
    let Outcome::Entry(cwd) = pair.run(|c, now| c.machine_entry(None, now)).unwrap() else {
        panic!()
    };
    let cwd = listing::parse_mlsx_line(cwd.as_bytes()).unwrap();
    assert_eq!(cwd.kind, EntryKind::Directory);
    assert_eq!(cwd.name, "/");
    let missing = pair.run(|c, now| c.machine_entry(Some("/missing".into()), now));
    assert_eq!(refused_code(&missing), 550);
}

// ----- Listings -----

/// The tree's entries directly under `dir`: name, whether a directory, size.
fn children(fs: &MemoryFs, dir: impl AsRef<[u8]>) -> BTreeSet<(Vec<u8>, bool, u64)> {
    let dir = dir.as_ref();
    let prefix = if dir == b"/" {
        b"/".to_vec()
    } else {
        [dir, b"/"].concat()
    };
    fs.nodes
        .iter()
        .filter_map(|(key, node)| {
            let name = key.strip_prefix(prefix.as_slice())?;
            if name.is_empty() || name.contains(&b'/') {
                return None;
            }
            Some(match node {
                common::Node::Directory => (name.to_vec(), true, 0),
                common::Node::File { data, .. } => (name.to_vec(), false, data.len() as u64),
            })
        })
        .collect()
}

fn parse_list(bytes: &[u8]) -> BTreeSet<(Vec<u8>, bool, u64)> {
    listing::list_lines(bytes, wall_clock())
        .map(|line| match line {
            ListLine::Entry(entry) => (
                entry.name.as_bytes().to_vec(),
                entry.is_directory(),
                entry.size.unwrap(),
            ),
            other => panic!("unreadable LIST line {other:?}"),
        })
        .collect()
}

fn parse_mlsd(bytes: &[u8]) -> BTreeSet<(Vec<u8>, bool, u64)> {
    listing::mlsx_lines(bytes)
        .map(|entry| {
            let entry = entry.expect("unreadable MLSD line");
            (
                entry.name.as_bytes().to_vec(),
                entry.is_directory(),
                entry.size.unwrap(),
            )
        })
        .collect()
}

fn parse_nlst(bytes: &[u8]) -> BTreeSet<Vec<u8>> {
    assert!(
        bytes.is_empty() || bytes.ends_with(b"\r\n"),
        "{}",
        bytes.escape_ascii()
    );
    bytes
        .split(|&b| b == b'\n')
        .filter(|line| !line.is_empty())
        .map(|line| line.strip_suffix(b"\r").expect("LF without CR").to_vec())
        .collect()
}

fn names(entries: &BTreeSet<(Vec<u8>, bool, u64)>) -> BTreeSet<Vec<u8>> {
    entries.iter().map(|(name, ..)| name.clone()).collect()
}

fn rich_fs() -> MemoryFs {
    Pair::default_fs()
        .with_dir("/pub/sub")
        .with_file("/pub/big", &[7; 5000])
        .with_file("/pub/empty", b"")
}

#[test]
fn list_nlst_mlsd_match_the_tree() {
    let mut pair = Pair::logged_in(rich_fs());
    for dir in ["/", "/pub", "/pub/sub"] {
        let expected = children(&pair.fs, dir);
        let list = pair
            .listing(|c, now| c.list(Some(dir.into()), now))
            .unwrap();
        assert_eq!(parse_list(&list), expected, "LIST {dir}");
        let mlsd = pair
            .listing(|c, now| c.machine_list(Some(dir.into()), now))
            .unwrap();
        assert_eq!(parse_mlsd(&mlsd), expected, "MLSD {dir}");
        let nlst = pair
            .listing(|c, now| c.name_list(Some(dir.into()), now))
            .unwrap();
        assert_eq!(parse_nlst(&nlst), names(&expected), "NLST {dir}");
    }
    // Without a path: the working directory.
    pair.run(|c, now| c.change_directory("/pub", now)).unwrap();
    let list = pair.listing(|c, now| c.list(None, now)).unwrap();
    assert_eq!(parse_list(&list), children(&pair.fs, "/pub"));
    let mlsd = pair.listing(|c, now| c.machine_list(None, now)).unwrap();
    assert_eq!(parse_mlsd(&mlsd), children(&pair.fs, "/pub"));
    // The listings travelled in TYPE A, and TYPE went back to I for files.
    assert!(pair.client_wire().contains("TYPE A\r\n"));
    let (result, bytes) = pair.download(|c, now| c.retrieve("hello.txt", now));
    result.unwrap();
    assert_eq!(bytes, b"hello\nworld\n");
    assert!(
        pair.client_wire()
            .ends_with("TYPE I\r\nEPSV\r\nRETR hello.txt\r\n")
    );
}

#[test]
fn listing_of_a_missing_directory_is_refused() {
    let mut pair = logged_in();
    for result in [
        pair.run(|c, now| c.list(Some("/none".into()), now)),
        pair.run(|c, now| c.name_list(Some("/none".into()), now)),
        pair.run(|c, now| c.machine_list(Some("/none".into()), now)),
    ] {
        assert_eq!(refused_code(&result), 550);
    }
    // The data connection the client opened was closed, and the session goes on.
    assert_eq!(code(&pair.run(|c, now| c.noop(now))), Some(200));
}

#[test]
fn listing_of_an_empty_directory_and_of_a_file() {
    let mut pair = Pair::logged_in(rich_fs());
    let list = pair
        .listing(|c, now| c.list(Some("/pub/sub".into()), now))
        .unwrap();
    assert!(list.is_empty());
    let list = pair
        .listing(|c, now| c.list(Some("/readme".into()), now))
        .unwrap();
    assert_eq!(parse_list(&list), [(b"readme".to_vec(), false, 7)].into());
}

#[test]
fn listing_fed_one_byte_at_a_time() {
    let mut pair = Pair::logged_in(rich_fs());
    pair.chunk = 1;
    let mlsd = pair
        .listing(|c, now| c.machine_list(Some("/pub".into()), now))
        .unwrap();
    assert_eq!(parse_mlsd(&mlsd), children(&pair.fs, "/pub"));
}

// ----- Transfers -----

#[test]
fn retrieve_whole_and_from_an_offset() {
    let mut pair = Pair::logged_in(rich_fs());
    let (result, bytes) = pair.download(|c, now| c.retrieve("/pub/big", now));
    let Ok(Outcome::Transferred { reply, unique_name }) = result else {
        panic!("{result:?}")
    };
    assert_eq!(reply.code().as_u16(), 226);
    assert_eq!(unique_name, None);
    assert_eq!(bytes, vec![7; 5000]);
    // The server announced the size in its 150.
    assert_eq!(pair.started.last().unwrap().1, Some(5000));
    let (result, bytes) = pair.download(|c, now| c.retrieve_from("/pub/hello.txt", 6, now));
    result.unwrap();
    assert_eq!(bytes, b"world\n");
    assert!(
        pair.client_wire()
            .ends_with("REST 6\r\nRETR /pub/hello.txt\r\n")
    );
    // Past the end: nothing.
    let (result, bytes) = pair.download(|c, now| c.retrieve_from("/readme", 100, now));
    result.unwrap();
    assert!(bytes.is_empty());
    // An empty file.
    let (result, bytes) = pair.download(|c, now| c.retrieve("/pub/empty", now));
    result.unwrap();
    assert!(bytes.is_empty());
}

#[test]
fn retrieve_failures() {
    let mut pair = logged_in();
    let (result, bytes) = pair.download(|c, now| c.retrieve("/missing", now));
    assert_eq!(refused_code(&result), 550);
    assert!(bytes.is_empty());
    let (result, _) = pair.download(|c, now| c.retrieve("/pub", now));
    assert_eq!(refused_code(&result), 550);
    // Not logged in: 530 before any data connection.
    let mut pair = Pair::new(Pair::default_fs());
    let (result, _) = pair.download(|c, now| c.retrieve("/readme", now));
    assert_eq!(refused_code(&result), 530);
}

#[test]
fn store_append_store_unique_store_from() {
    let mut pair = logged_in();
    let result = pair.upload(b"first", |c, now| c.store("/new", now));
    assert_eq!(code(&result), Some(226));
    assert_eq!(pair.fs.file("/new"), Some(b"first".as_slice()));
    // STOR replaces.
    pair.upload(b"2nd", |c, now| c.store("/new", now)).unwrap();
    assert_eq!(pair.fs.file("/new"), Some(b"2nd".as_slice()));
    // APPE appends, and creates.
    pair.upload(b"+more", |c, now| c.append("/new", now))
        .unwrap();
    assert_eq!(pair.fs.file("/new"), Some(b"2nd+more".as_slice()));
    pair.upload(b"fresh", |c, now| c.append("/pub/appended", now))
        .unwrap();
    assert_eq!(pair.fs.file("/pub/appended"), Some(b"fresh".as_slice()));
    // REST + STOR writes from the offset.
    pair.upload(b"ND", |c, now| c.store_from("/new", 1, now))
        .unwrap();
    assert_eq!(pair.fs.file("/new"), Some(b"2ND+more".as_slice()));
    assert!(pair.client_wire().ends_with("REST 1\r\nSTOR /new\r\n"));
    // STOU picks fresh names and says which.
    let mut names = Vec::new();
    for content in [b"one".as_slice(), b"two"] {
        match pair.upload(content, |c, now| c.store_unique(now)).unwrap() {
            Outcome::Transferred {
                unique_name: Some(name),
                ..
            } => names.push(name.to_string_lossy().into_owned()),
            other => panic!("{other:?}"),
        }
    }
    // The exact names are checked by `stou_reports_the_name_the_server_chose`.
    assert_eq!(names.len(), 2);
    assert_eq!(pair.fs.file("/upload"), Some(b"one".as_slice()));
    assert_eq!(pair.fs.file("/upload.1"), Some(b"two".as_slice()));
    // An empty upload makes an empty file.
    pair.upload(b"", |c, now| c.store("/empty", now)).unwrap();
    assert_eq!(pair.fs.file("/empty"), Some(b"".as_slice()));
}

#[test]
fn store_failures() {
    let mut pair = logged_in();
    let result = pair.upload(b"x", |c, now| c.store("/no/such/dir/file", now));
    assert_eq!(refused_code(&result), 550);
    let result = pair.upload(b"x", |c, now| c.store("/pub", now));
    assert_eq!(refused_code(&result), 550);
    // Anonymous users cannot upload at all.
    let mut pair = Pair::new(Pair::default_fs());
    pair.login("anonymous", "x").unwrap();
    let result = pair.upload(b"x", |c, now| c.store("/new", now));
    assert_eq!(refused_code(&result), 550);
    let result = pair.upload(b"x", |c, now| c.store_unique(now));
    assert_eq!(refused_code(&result), 550);
    assert_eq!(pair.fs.file("/new"), None);
    // A server without APPE or REST-before-STOR.
    let mut config = server::Config::default();
    config.capabilities.append = false;
    config.capabilities.write_at_offset = false;
    let mut pair = Pair::with_configs(client::Config::default(), config, Pair::default_fs());
    pair.login("alice", "secret").unwrap();
    let result = pair.upload(b"x", |c, now| c.append("/readme", now));
    assert_eq!(refused_code(&result), 502);
    let result = pair.upload(b"x", |c, now| c.store_from("/readme", 2, now));
    assert_eq!(refused_code(&result), 502);
    assert_eq!(pair.fs.file("/readme"), Some(b"read me".as_slice()));
    assert_eq!(code(&pair.run(|c, now| c.noop(now))), Some(200));
}

#[test]
fn stou_reports_the_name_the_server_chose() {
    let mut pair = logged_in();
    let result = pair.upload(b"one", |c, now| c.store_unique(now));
    let Ok(Outcome::Transferred { unique_name, .. }) = result else {
        panic!("{result:?}")
    };
    assert_eq!(pair.fs.file("/upload"), Some(b"one".as_slice()));
    assert_eq!(unique_name.unwrap(), "/upload");
}

// ----- Abort -----

#[test]
fn abort_during_a_download() {
    let mut pair = Pair::logged_in(rich_fs());
    pair.hold_transfers = true;
    let id = pair.start(|c, now| c.retrieve("/pub/big", now));
    pair.run_until_quiet();
    assert!(pair.transfer_held(), "the transfer did not start");
    assert!(!pair.is_complete(id));
    pair.client.abort(id, pair.now);
    pair.run_until_quiet();
    assert_eq!(
        pair.take(id),
        Some(Err(Error::Aborted {
            operation: OperationKind::Retrieve
        }))
    );
    assert!(!pair.transfer_held());
    assert!(
        pair.server_actions
            .iter()
            .any(|action| matches!(action, server::Action::AbortTransfer { .. }))
    );
    assert!(
        pair.client_sent
            .concat()
            .ends_with(b"RETR /pub/big\r\nABOR\r\n")
    );
    // Both sides are in step afterwards.
    pair.hold_transfers = false;
    assert_eq!(code(&pair.run(|c, now| c.noop(now))), Some(200));
    let (result, bytes) = pair.download(|c, now| c.retrieve("/readme", now));
    result.unwrap();
    assert_eq!(bytes, b"read me");
}

#[test]
fn abort_when_the_server_sees_the_data_connection_break_first() {
    // The server answers the broken transfer with 426, then ABOR finds nothing to
    // abort (225): the client must take both replies.
    let mut pair = Pair::logged_in(rich_fs());
    pair.hold_transfers = true;
    pair.server_notices_close = true;
    let id = pair.start_upload(&[1; 100], |c, now| c.store("/up", now));
    pair.run_until_quiet();
    assert!(pair.transfer_held());
    pair.client.abort(id, pair.now);
    pair.run_until_quiet();
    assert_eq!(
        pair.take(id),
        Some(Err(Error::Aborted {
            operation: OperationKind::Store
        }))
    );
    pair.hold_transfers = false;
    assert_eq!(code(&pair.run(|c, now| c.noop(now))), Some(200));
    assert_eq!(
        pair.run(|c, now| c.size("/readme", now)),
        Ok(Outcome::Size(7))
    );
}

#[test]
fn abort_a_queued_operation_and_a_finished_one() {
    let mut pair = logged_in();
    pair.hold_transfers = true;
    let running = pair.start(|c, now| c.list(None, now));
    let queued = pair.start(|c, now| c.retrieve("/readme", now));
    pair.run_until_quiet();
    pair.client.abort(queued, pair.now);
    pair.run_until_quiet();
    assert_eq!(
        pair.take(queued),
        Some(Err(Error::Aborted {
            operation: OperationKind::Retrieve
        }))
    );
    assert!(!pair.client_wire().contains("RETR"));
    pair.hold_transfers = false;
    pair.run_transfer();
    assert!(matches!(pair.take(running), Some(Ok(Outcome::Listing(_)))));
    // Aborting what already finished changes nothing.
    pair.client.abort(running, pair.now);
    pair.run_until_quiet();
    assert_eq!(code(&pair.run(|c, now| c.noop(now))), Some(200));
}

// ----- Data connection modes -----

#[test]
fn passive_uses_epsv_by_default() {
    let mut pair = logged_in();
    let (result, _) = pair.download(|c, now| c.retrieve("/readme", now));
    result.unwrap();
    assert!(pair.client_wire().ends_with("EPSV\r\nRETR /readme\r\n"));
    assert!(!pair.client_wire().contains("PASV"));
}

#[test]
fn epsv_refused_falls_back_to_pasv_for_the_rest_of_the_session() {
    let mut pair = logged_in();
    pair.refuse = vec!["EPSV"];
    let (result, bytes) = pair.download(|c, now| c.retrieve("/readme", now));
    result.unwrap();
    assert_eq!(bytes, b"read me");
    assert!(
        pair.client_wire()
            .ends_with("EPSV\r\nPASV\r\nRETR /readme\r\n")
    );
    let list = pair
        .listing(|c, now| c.list(Some("/".into()), now))
        .unwrap();
    assert_eq!(parse_list(&list), children(&pair.fs, "/"));
    pair.upload(b"up", |c, now| c.store("/up", now)).unwrap();
    assert_eq!(pair.client_wire().matches("EPSV").count(), 1);
    assert_eq!(pair.client_wire().matches("PASV").count(), 3);
}

#[test]
fn pasv_only_when_the_client_prefers_it() {
    let mut config = client::Config::default();
    config.prefer_extended_passive = false;
    let mut pair = Pair::logged_in_with(config, server::Config::default(), Pair::default_fs());
    let (result, bytes) = pair.download(|c, now| c.retrieve("/readme", now));
    result.unwrap();
    assert_eq!(bytes, b"read me");
    assert!(pair.client_wire().ends_with("PASV\r\nRETR /readme\r\n"));
    assert!(!pair.client_wire().contains("EPSV"));
}

#[test]
fn ipv6_passive_is_epsv_only() {
    let mut pair = Pair::ipv6(
        client::Config::default(),
        server::Config::default(),
        Pair::default_fs(),
    );
    pair.login("alice", "secret").unwrap();
    let list = pair.listing(|c, now| c.list(None, now)).unwrap();
    assert_eq!(parse_list(&list), children(&pair.fs, "/"));
    // No PASV fallback on IPv6: PASV cannot name an IPv6 port.
    pair.refuse = vec!["EPSV"];
    let (result, _) = pair.download(|c, now| c.retrieve("/readme", now));
    assert_eq!(refused_code(&result), 502);
    assert!(!pair.client_wire().contains("PASV"));
}

fn active() -> client::Config {
    let mut config = client::Config::default();
    config.data_connection_mode = DataConnectionMode::Active;
    config
}

#[test]
fn active_mode_with_port() {
    let mut pair = Pair::logged_in_with(active(), server::Config::default(), rich_fs());
    let (result, bytes) = pair.download(|c, now| c.retrieve("/pub/hello.txt", now));
    result.unwrap();
    assert_eq!(bytes, b"hello\nworld\n");
    assert!(pair.client_wire().contains("PORT 127,0,0,1,"));
    assert!(!pair.client_wire().contains("EPSV"));
    let list = pair
        .listing(|c, now| c.machine_list(Some("/pub".into()), now))
        .unwrap();
    assert_eq!(parse_mlsd(&list), children(&pair.fs, "/pub"));
    pair.upload(b"active", |c, now| c.store("/pub/a", now))
        .unwrap();
    assert_eq!(pair.fs.file("/pub/a"), Some(b"active".as_slice()));
    let (result, bytes) = pair.download(|c, now| c.retrieve_from("/pub/a", 3, now));
    result.unwrap();
    assert_eq!(bytes, b"ive");
    // A refused transfer closes the client's listener and the session goes on.
    let (result, _) = pair.download(|c, now| c.retrieve("/missing", now));
    assert_eq!(refused_code(&result), 550);
    assert!(
        pair.client_actions
            .iter()
            .rev()
            .any(|action| matches!(action, client::Action::CloseData { .. }))
    );
    assert_eq!(code(&pair.run(|c, now| c.noop(now))), Some(200));
}

#[test]
fn active_mode_with_eprt_over_ipv6() {
    let mut pair = Pair::ipv6(active(), server::Config::default(), Pair::default_fs());
    pair.login("alice", "secret").unwrap();
    let (result, bytes) = pair.download(|c, now| c.retrieve("/readme", now));
    result.unwrap();
    assert_eq!(bytes, b"read me");
    assert!(
        pair.client_wire().contains("EPRT |2|::1|"),
        "{}",
        pair.client_wire()
    );
    let list = pair.listing(|c, now| c.name_list(None, now)).unwrap();
    assert_eq!(parse_nlst(&list), names(&children(&pair.fs, "/")));
}

#[test]
fn active_mode_refused_by_the_server() {
    let mut config = server::Config::default();
    config.enable_active_mode = false;
    let mut pair = Pair::with_configs(active(), config, Pair::default_fs());
    pair.login("alice", "secret").unwrap();
    let (result, _) = pair.download(|c, now| c.retrieve("/readme", now));
    assert_eq!(refused_code(&result), 502);
    assert!(matches!(
        pair.client_actions.last(),
        Some(client::Action::CloseData { .. })
    ));
    assert_eq!(code(&pair.run(|c, now| c.noop(now))), Some(200));
}

// ----- Quit and the end of the session -----

#[test]
fn quit_ends_both_sides() {
    let mut pair = logged_in();
    let result = pair.run(|c, now| c.quit(now));
    let Ok(Outcome::Closed { reply: Some(reply) }) = &result else {
        panic!("{result:?}")
    };
    assert_eq!(reply.code().as_u16(), 221);
    assert_eq!(pair.client_closed, Some(None));
    assert!(pair.server_is_closed());
    assert!(matches!(
        pair.client_actions.last(),
        Some(client::Action::CloseControl)
    ));
    assert_eq!(pair.run(|c, now| c.noop(now)), Err(Error::Closed));
}

#[test]
fn quit_waits_for_earlier_operations() {
    let mut pair = Pair::logged_in(rich_fs());
    let list = pair.start(|c, now| c.list(Some("/pub".into()), now));
    let size = pair.start(|c, now| c.size("/readme", now));
    let quit = pair.start(|c, now| c.quit(now));
    pair.run_until_quiet();
    assert_eq!(
        pair.completed[pair.completed.len() - 3..],
        [list, size, quit]
    );
    assert!(matches!(pair.take(list), Some(Ok(Outcome::Listing(_)))));
    assert_eq!(pair.take(size), Some(Ok(Outcome::Size(7))));
    assert_eq!(code(&pair.take(quit).unwrap()), Some(221));
    assert_eq!(pair.client_closed, Some(None));
}

#[test]
fn idle_timeout_421_is_the_clients_fatal_error() {
    let mut pair = logged_in();
    pair.advance(Duration::from_secs(299));
    assert!(pair.client_closed.is_none());
    pair.advance(Duration::from_secs(1));
    let Some(Some(error)) = pair.client_closed.clone() else {
        panic!("the client did not close: {:?}", pair.client_closed)
    };
    assert!(
        matches!(&error, Error::ServiceClosing { reply } if reply.code().as_u16() == 421),
        "{error:?}"
    );
    assert!(error.is_fatal());
    assert!(pair.server_is_closed());
    assert_eq!(pair.client.error(), Some(&error));
    assert_eq!(pair.run(|c, now| c.noop(now)), Err(error));
}

#[test]
fn a_late_reply_is_a_fatal_timeout() {
    let mut pair = logged_in();
    pair.hold_requests = true;
    let id = pair.start(|c, now| c.size("/readme", now));
    pair.run_until_quiet();
    pair.advance(Duration::from_secs(29));
    assert!(!pair.is_complete(id));
    pair.advance(Duration::from_secs(1));
    let timeout = Error::Timeout {
        operation: OperationKind::Size,
        waiting_for: Waiting::Reply,
    };
    assert_eq!(pair.take(id), Some(Err(timeout.clone())));
    assert_eq!(pair.client_closed, Some(Some(timeout)));
    // The client closed the control connection; the server learnt it.
    assert!(pair.server.is_closed());
}

#[test]
fn delayed_storage_answers_are_waited_for() {
    let mut pair = logged_in();
    pair.hold_requests = true;
    let cwd = pair.start(|c, now| c.change_directory("/pub", now));
    let size = pair.start(|c, now| c.size("hello.txt", now));
    pair.run_until_quiet();
    pair.advance(Duration::from_secs(10));
    assert!(!pair.is_complete(cwd) && !pair.is_complete(size));
    assert_eq!(pair.held.len(), 1, "the server asks one question at a time");
    pair.hold_requests = false;
    pair.release_requests();
    assert_eq!(code(&pair.take(cwd).unwrap()), Some(250));
    assert_eq!(pair.take(size), Some(Ok(Outcome::Size(12))));
}

// ----- Pipelining -----

#[test]
fn pipelined_operations_complete_in_order() {
    let mut pair = Pair::logged_in(rich_fs());
    pair.hold_replies = true;
    let sent_before = pair.client_sent.len();
    let ids = [
        pair.start(|c, now| c.change_directory("/pub", now)),
        pair.start(|c, now| c.size("hello.txt", now)),
        pair.start(|c, now| c.noop(now)),
        pair.start(|c, now| c.make_directory("fresh", now)),
        pair.start(|c, now| c.delete("/readme", now)),
        pair.start(|c, now| c.size("/readme", now)),
        pair.start(|c, now| c.print_directory(now)),
    ];
    pair.run_until_quiet();
    // Every command went out before any reply came back.
    let sent = pair.client_sent[sent_before..].concat();
    assert_eq!(
        String::from_utf8(sent).unwrap(),
        "CWD /pub\r\nSIZE hello.txt\r\nNOOP\r\nMKD fresh\r\nDELE /readme\r\nSIZE /readme\r\nPWD\r\n"
    );
    assert!(ids.iter().all(|id| !pair.is_complete(*id)));
    pair.release_replies();
    assert_eq!(pair.completed[pair.completed.len() - ids.len()..], ids);
    let results: Vec<_> = ids.iter().map(|id| pair.take(*id).unwrap()).collect();
    assert_eq!(code(&results[0]), Some(250));
    assert_eq!(results[1], Ok(Outcome::Size(12)));
    assert_eq!(code(&results[2]), Some(200));
    assert!(matches!(&results[3], Ok(Outcome::Directory(path)) if *path == "/pub/fresh"));
    assert_eq!(code(&results[4]), Some(250));
    assert_eq!(refused_code(&results[5]), 550);
    assert!(matches!(&results[6], Ok(Outcome::Directory(path)) if *path == "/pub"));
}

#[test]
fn transfers_wait_for_pipelined_replies_and_later_commands_wait_for_transfers() {
    let mut pair = Pair::logged_in(rich_fs());
    let cwd = pair.start(|c, now| c.change_directory("/pub", now));
    let list = pair.start(|c, now| c.list(None, now));
    let size = pair.start(|c, now| c.size("big", now));
    let retrieve = pair.start(|c, now| c.retrieve("hello.txt", now));
    let rename = pair.start(|c, now| c.rename("hello.txt", "bye.txt", now));
    pair.run_until_quiet();
    assert_eq!(
        pair.completed[pair.completed.len() - 5..],
        [cwd, list, size, retrieve, rename]
    );
    let Some(Ok(Outcome::Listing(list))) = pair.take(list) else {
        panic!()
    };
    // The LIST ran in /pub (after CWD) and before the rename.
    assert!(names(&parse_list(&list)).contains(b"hello.txt".as_slice()));
    assert_eq!(pair.take(size), Some(Ok(Outcome::Size(5000))));
    assert_eq!(pair.downloads[&retrieve], b"hello\nworld\n");
    assert_eq!(
        pair.fs.file("/pub/bye.txt"),
        Some(b"hello\nworld\n".as_slice())
    );
}

// ----- Names -----

#[test]
fn names_with_spaces_utf8_and_latin1_survive_the_round_trip() {
    let names_: [&[u8]; 5] = [
        b"with space",
        b"two  spaces ",
        "caf\u{e9} \u{65e5}\u{672c}".as_bytes(),
        b"latin1 caf\xe9",
        b"semi;colon=eq",
    ];
    let mut pair = logged_in();
    pair.run(|c, now| c.make_directory(path(b"dir \xe9 x"), now))
        .unwrap();
    pair.run(|c, now| c.change_directory(path(b"dir \xe9 x"), now))
        .unwrap();
    for name in names_ {
        let content = [b"content of ", name].concat();
        pair.upload(&content, |c, now| c.store(path(name), now))
            .unwrap();
        let full = [b"/dir \xe9 x/".as_slice(), name].concat();
        assert_eq!(
            pair.fs.nodes.get(&full),
            Some(&common::Node::File {
                data: content.clone(),
                modified: pair.wall()
            }),
            "{}",
            full.escape_ascii()
        );
        let (result, bytes) = pair.download(|c, now| c.retrieve(path(name), now));
        result.unwrap();
        assert_eq!(bytes, content);
        assert_eq!(
            pair.run(|c, now| c.size(path(name), now)),
            Ok(Outcome::Size(content.len() as u64))
        );
    }
    let expected: BTreeSet<Vec<u8>> = names_.iter().map(|name| name.to_vec()).collect();
    let list = pair.listing(|c, now| c.list(None, now)).unwrap();
    assert_eq!(names(&parse_list(&list)), expected);
    let mlsd = pair.listing(|c, now| c.machine_list(None, now)).unwrap();
    assert_eq!(names(&parse_mlsd(&mlsd)), expected);
    let nlst = pair.listing(|c, now| c.name_list(None, now)).unwrap();
    assert_eq!(parse_nlst(&nlst), expected);
    match pair.run(|c, now| c.print_directory(now)).unwrap() {
        Outcome::Directory(dir) => assert_eq!(dir.as_bytes(), b"/dir \xe9 x"),
        other => panic!("{other:?}"),
    }
    let Outcome::Entry(entry) = pair
        .run(|c, now| c.machine_entry(Some(path(b"latin1 caf\xe9")), now))
        .unwrap()
    else {
        panic!()
    };
    let entry = listing::parse_mlsx_line(entry.as_bytes()).unwrap();
    assert_eq!(entry.name.as_bytes(), b"/dir \xe9 x/latin1 caf\xe9");
    pair.run(|c, now| c.rename(path(b"latin1 caf\xe9"), path(b"\xfe renamed \xe0"), now))
        .unwrap();
    assert!(
        pair.fs
            .nodes
            .contains_key(b"/dir \xe9 x/\xfe renamed \xe0".as_slice())
    );
    for name in [b"\xfe renamed \xe0".as_slice(), b"with space"] {
        assert_eq!(
            code(&pair.run(|c, now| c.delete(path(name), now))),
            Some(250)
        );
    }
    assert_eq!(children(&pair.fs, b"/dir \xe9 x").len(), 3);
}

#[test]
fn a_name_with_byte_0xff_names_the_same_file_on_both_sides() {
    // This server decodes Telnet, so the client doubles 0xFF (IAC IAC) when told to.
    let mut config = client::Config::default();
    config.iac_escaping = ftp_proto::IacEscaping::Double;
    let mut pair = Pair::logged_in_with(config, server::Config::default(), Pair::default_fs());
    let result = pair.run(|c, now| c.delete(path(b"\xff\xfe readme"), now));
    // There is no file named "\xff\xfe readme": the delete must fail and /readme stay.
    assert_eq!(pair.fs.file("/readme"), Some(b"read me".as_slice()));
    assert_eq!(refused_code(&result), 550);
}

// ----- Faults on the data connection -----

#[test]
fn final_reply_before_or_after_the_end_of_data() {
    for mode in [DataConnectionMode::Passive, DataConnectionMode::Active] {
        for order in [FinalOrder::DataEndFirst, FinalOrder::ReplyFirst] {
            let mut config = client::Config::default();
            config.data_connection_mode = mode;
            let mut pair = Pair::logged_in_with(config, server::Config::default(), rich_fs());
            pair.order = order;
            let context = format!("{mode:?} {order:?}");
            let (result, bytes) = pair.download(|c, now| c.retrieve("/pub/big", now));
            assert_eq!(code(&result), Some(226), "{context}");
            assert_eq!(bytes, vec![7; 5000], "{context}");
            let list = pair.listing(|c, now| c.list(Some("/pub".into()), now));
            assert_eq!(
                parse_list(&list.unwrap()),
                children(&pair.fs, "/pub"),
                "{context}"
            );
            let result = pair.upload(b"up", |c, now| c.store("/up", now));
            assert_eq!(code(&result), Some(226), "{context}");
            let result = pair.upload(b"+", |c, now| c.append("/up", now));
            assert_eq!(code(&result), Some(226), "{context}");
            assert_eq!(pair.fs.file("/up"), Some(b"up+".as_slice()), "{context}");
            assert_eq!(
                code(&pair.run(|c, now| c.noop(now))),
                Some(200),
                "{context}"
            );
        }
    }
}

#[test]
fn a_download_broken_midway_fails_and_the_session_goes_on() {
    for order in [FinalOrder::DataEndFirst, FinalOrder::ReplyFirst] {
        let mut pair = Pair::logged_in(rich_fs());
        pair.order = order;
        pair.drop_data_after = Some(1000);
        let (result, bytes) = pair.download(|c, now| c.retrieve("/pub/big", now));
        assert!(
            matches!(&result, Err(Error::TransferAborted { reply, .. }) if reply.code().as_u16() == 426),
            "{result:?}"
        );
        assert_eq!(bytes.len(), 1000);
        let (result, bytes) = pair.download(|c, now| c.retrieve("/pub/big", now));
        result.unwrap();
        assert_eq!(bytes.len(), 5000);
    }
}

#[test]
fn a_listing_broken_midway_fails() {
    let mut pair = Pair::logged_in(rich_fs());
    pair.drop_data_after = Some(10);
    let result = pair.run(|c, now| c.list(Some("/pub".into()), now));
    assert!(
        matches!(
            &result,
            Err(Error::TransferAborted { .. } | Error::DataConnectionFailed { .. })
        ),
        "{result:?}"
    );
    let list = pair
        .listing(|c, now| c.list(Some("/pub".into()), now))
        .unwrap();
    assert_eq!(parse_list(&list), children(&pair.fs, "/pub"));
}

#[test]
fn an_upload_broken_midway_fails_and_leaves_what_arrived() {
    let mut pair = logged_in();
    pair.drop_data_after = Some(3);
    let result = pair.upload(b"abcdef", |c, now| c.store("/partial", now));
    assert!(
        matches!(
            &result,
            Err(Error::TransferAborted { .. } | Error::DataConnectionFailed { .. })
        ),
        "{result:?}"
    );
    assert_eq!(pair.fs.file("/partial"), Some(b"abc".as_slice()));
    // Resume where it broke.
    pair.upload(b"def", |c, now| c.store_from("/partial", 3, now))
        .unwrap();
    assert_eq!(pair.fs.file("/partial"), Some(b"abcdef".as_slice()));
}

#[test]
fn data_connections_that_cannot_be_opened() {
    // Passive: the client cannot connect; nothing more is sent for the transfer.
    let mut pair = logged_in();
    pair.refuse_data_connections = true;
    let (result, _) = pair.download(|c, now| c.retrieve("/readme", now));
    assert!(
        matches!(result, Err(Error::DataConnectionFailed { .. })),
        "{result:?}"
    );
    assert!(!pair.client_wire().contains("RETR"));
    pair.refuse_data_connections = false;
    let (result, bytes) = pair.download(|c, now| c.retrieve("/readme", now));
    result.unwrap();
    assert_eq!(bytes, b"read me");
    // Active: the server cannot connect and says 425.
    let mut pair = Pair::logged_in_with(active(), server::Config::default(), Pair::default_fs());
    pair.refuse_data_connections = true;
    let (result, _) = pair.download(|c, now| c.retrieve("/readme", now));
    assert!(
        matches!(&result, Err(Error::CannotOpenDataConnection { reply, .. }) if reply.code().as_u16() == 425),
        "{result:?}"
    );
    pair.refuse_data_connections = false;
    let (result, bytes) = pair.download(|c, now| c.retrieve("/readme", now));
    result.unwrap();
    assert_eq!(bytes, b"read me");
}
