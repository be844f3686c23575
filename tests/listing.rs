//! Known-answer tables: real-world LIST and MLSx lines from many servers, each with the
//! fields a client should read from it.

use std::time::SystemTime;

use ftp_proto::listing::{
    self, DeviceNumber, Entry, EntryKind, ListError, ListField, ListLine, ListingFormat, MlsxError,
    ModeMark, PermFact, TimePrecision,
};
use ftp_proto::{Pathname, Text};
use jiff::civil::DateTime;
use jiff::tz::TimeZone;

/// A civil date and time read as UTC.
fn utc(year: i16, month: i8, day: i8, hour: i8, minute: i8, second: i8) -> SystemTime {
    let datetime = DateTime::new(year, month, day, hour, minute, second, 0).unwrap();
    let seconds = TimeZone::UTC.to_timestamp(datetime).unwrap().as_second();
    SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(seconds.try_into().unwrap())
}

/// The "now" every LIST table is read at: 2021-06-01 12:00 UTC.
fn now() -> SystemTime {
    utc(2021, 6, 1, 12, 0, 0)
}

/// What a LIST line should yield. Unset fields are expected to be `None`.
#[derive(Default)]
struct Expected {
    name: &'static str,
    kind: Option<EntryKind>,
    size: Option<u64>,
    device: Option<(u32, u32)>,
    /// (year, month, day, hour, minute, precision, year inferred)
    date: Option<(i16, i8, i8, i8, i8, TimePrecision, bool)>,
    mode: Option<u32>,
    mark: Option<ModeMark>,
    owner: Option<&'static str>,
    group: Option<&'static str>,
    links: Option<u64>,
    target: Option<&'static str>,
}

fn file() -> Option<EntryKind> {
    Some(EntryKind::File)
}

fn dir() -> Option<EntryKind> {
    Some(EntryKind::Directory)
}

fn link(target: &'static str) -> Option<EntryKind> {
    Some(EntryKind::Symlink {
        target: Some(Pathname::from(target)),
    })
}

fn check(source: &str, line: &[u8], format: ListingFormat, expected: Expected) {
    let context = format!("{source}: {}", line.escape_ascii());
    let entry = match listing::parse_list_line(line, now()) {
        ListLine::Entry(entry) => entry,
        other => panic!("{context}: {other:?}"),
    };
    assert_eq!(entry.format, format, "{context}");
    assert_eq!(entry.name, expected.name, "{context}");
    assert_eq!(Some(&entry.kind), expected.kind.as_ref(), "{context}");
    assert_eq!(entry.size, expected.size, "{context}");
    assert_eq!(
        entry.device,
        expected
            .device
            .map(|(major, minor)| DeviceNumber { major, minor }),
        "{context}"
    );
    let date = entry
        .modified
        .map(|modified| (modified.time, modified.precision, modified.year_inferred));
    let expected_date = expected.date.map(|(y, mo, d, h, mi, precision, inferred)| {
        (utc(y, mo, d, h, mi, 0), precision, inferred)
    });
    assert_eq!(date, expected_date, "{context}");
    assert_eq!(entry.permissions.unix_mode, expected.mode, "{context}");
    assert_eq!(entry.permissions.mode_mark, expected.mark, "{context}");
    assert_eq!(entry.owner, expected.owner.map(Text::from), "{context}");
    assert_eq!(entry.group, expected.group.map(Text::from), "{context}");
    assert_eq!(entry.link_count, expected.links, "{context}");
    assert_eq!(
        entry.link_target(),
        expected.target.map(Pathname::from).as_ref(),
        "{context}"
    );
    assert_eq!(
        entry.raw.as_bytes(),
        line.strip_suffix(b"\r\n").unwrap_or(line)
    );
}

use TimePrecision::{Day, Minute};

#[test]
fn unix_servers() {
    let table: Vec<(&str, &[u8], Expected)> = vec![
        (
            "vsftpd",
            b"drwxr-xr-x    2 0        0            4096 Jun 04  2019 pub",
            Expected {
                name: "pub",
                kind: dir(),
                size: Some(4096),
                date: Some((2019, 6, 4, 0, 0, Day, false)),
                mode: Some(0o755),
                owner: Some("0"),
                group: Some("0"),
                links: Some(2),
                ..Expected::default()
            },
        ),
        (
            "vsftpd, hide_ids",
            b"-rw-r--r--    1 ftp      ftp        104857 Feb 05 10:04 1M.bin\r\n",
            Expected {
                name: "1M.bin",
                kind: file(),
                size: Some(104857),
                date: Some((2021, 2, 5, 10, 4, Minute, true)),
                mode: Some(0o644),
                owner: Some("ftp"),
                group: Some("ftp"),
                links: Some(1),
                ..Expected::default()
            },
        ),
        (
            "ProFTPD",
            b"-rw-r--r--   1 ftp      ftp          1234 Dec 24 08:00 last year.txt",
            Expected {
                name: "last year.txt",
                kind: file(),
                size: Some(1234),
                date: Some((2020, 12, 24, 8, 0, Minute, true)),
                mode: Some(0o644),
                owner: Some("ftp"),
                group: Some("ftp"),
                links: Some(1),
                ..Expected::default()
            },
        ),
        (
            "ProFTPD, symlink",
            b"lrwxrwxrwx   1 root     root           11 Mar  3 14:15 latest -> releases/2.1",
            Expected {
                name: "latest",
                kind: link("releases/2.1"),
                size: Some(11),
                date: Some((2021, 3, 3, 14, 15, Minute, true)),
                mode: Some(0o777),
                owner: Some("root"),
                group: Some("root"),
                links: Some(1),
                target: Some("releases/2.1"),
                ..Expected::default()
            },
        ),
        (
            "Pure-FTPd",
            b"drwxr-xr-x    5 1000       1000             4096 May 31 23:59 www",
            Expected {
                name: "www",
                kind: dir(),
                size: Some(4096),
                date: Some((2021, 5, 31, 23, 59, Minute, true)),
                mode: Some(0o755),
                owner: Some("1000"),
                group: Some("1000"),
                links: Some(5),
                ..Expected::default()
            },
        ),
        (
            "busybox ftpd",
            b"-rwxr-xr-x    1 0        0           12345 Jan  1  1970 init",
            Expected {
                name: "init",
                kind: file(),
                size: Some(12345),
                date: Some((1970, 1, 1, 0, 0, Day, false)),
                mode: Some(0o755),
                owner: Some("0"),
                group: Some("0"),
                links: Some(1),
                ..Expected::default()
            },
        ),
        (
            "FileZilla Server",
            b"-rw-r--r-- 1 ftp ftp          42 Jun 01 13:30 tomorrow-ish.txt",
            Expected {
                name: "tomorrow-ish.txt",
                kind: file(),
                size: Some(42),
                // 90 minutes ahead of "now": clock skew, still this year.
                date: Some((2021, 6, 1, 13, 30, Minute, true)),
                mode: Some(0o644),
                owner: Some("ftp"),
                group: Some("ftp"),
                links: Some(1),
                ..Expected::default()
            },
        ),
        (
            "FileZilla Server, directory with a year",
            b"drwxr-xr-x 1 ftp ftp            0 Feb 21  2012 archive",
            Expected {
                name: "archive",
                kind: dir(),
                size: Some(0),
                date: Some((2012, 2, 21, 0, 0, Day, false)),
                mode: Some(0o755),
                owner: Some("ftp"),
                group: Some("ftp"),
                links: Some(1),
                ..Expected::default()
            },
        ),
        (
            "ftpparse: no group column",
            b"dr-xr-xr-x   2 root                  512 Apr  8  1994 03-unix-nogroup dir",
            Expected {
                name: "03-unix-nogroup dir",
                kind: dir(),
                size: Some(512),
                date: Some((1994, 4, 8, 0, 0, Day, false)),
                mode: Some(0o555),
                owner: Some("root"),
                links: Some(2),
                ..Expected::default()
            },
        ),
        (
            "Windows server with a domain column",
            b"-rw-r--r--   1 group domain user 531 Jan 29 03:26 domain file",
            Expected {
                name: "domain file",
                kind: file(),
                size: Some(531),
                date: Some((2021, 1, 29, 3, 26, Minute, true)),
                mode: Some(0o644),
                owner: Some("group"),
                group: Some("domain user"),
                links: Some(1),
                ..Expected::default()
            },
        ),
        (
            "IIS in Unix style",
            b"d---------   1 owner    group               0 Jul 10 13:34 wwwroot",
            Expected {
                name: "wwwroot",
                kind: dir(),
                size: Some(0),
                date: Some((2020, 7, 10, 13, 34, Minute, true)),
                mode: Some(0),
                owner: Some("owner"),
                group: Some("group"),
                links: Some(1),
                ..Expected::default()
            },
        ),
        (
            "GNU ls, ACL",
            b"-rw-rw-r--+  1 alice    staff          10 2021-02-05 22:04 acl.txt",
            Expected {
                name: "acl.txt",
                kind: file(),
                size: Some(10),
                date: Some((2021, 2, 5, 22, 4, Minute, false)),
                mode: Some(0o664),
                mark: Some(ModeMark::AccessControlList),
                owner: Some("alice"),
                group: Some("staff"),
                links: Some(1),
                ..Expected::default()
            },
        ),
        (
            "macOS ls, extended attributes",
            b"-rw-r--r--@  1 bob  staff  2048 Apr  1 09:00 Screenshot 2021-04-01.png",
            Expected {
                name: "Screenshot 2021-04-01.png",
                kind: file(),
                size: Some(2048),
                date: Some((2021, 4, 1, 9, 0, Minute, true)),
                mode: Some(0o644),
                mark: Some(ModeMark::ExtendedAttributes),
                owner: Some("bob"),
                group: Some("staff"),
                links: Some(1),
                ..Expected::default()
            },
        ),
        (
            "GNU ls, SELinux context",
            b"drwxr-xr-x. 3 root root 17 jan  5  2020 selinux",
            Expected {
                name: "selinux",
                kind: dir(),
                size: Some(17),
                date: Some((2020, 1, 5, 0, 0, Day, false)),
                mode: Some(0o755),
                mark: Some(ModeMark::SecurityContext),
                owner: Some("root"),
                group: Some("root"),
                links: Some(3),
                ..Expected::default()
            },
        ),
        (
            "character device",
            b"crw-rw-rw-   1 root     root       1,   3 Feb  5 10:04 null",
            Expected {
                name: "null",
                kind: Some(EntryKind::CharDevice),
                device: Some((1, 3)),
                date: Some((2021, 2, 5, 10, 4, Minute, true)),
                mode: Some(0o666),
                owner: Some("root"),
                group: Some("root"),
                links: Some(1),
                ..Expected::default()
            },
        ),
        (
            "block device, numbers in one column",
            b"brw-rw----   1 root     disk     8,0 Feb  5  2021 sda",
            Expected {
                name: "sda",
                kind: Some(EntryKind::BlockDevice),
                device: Some((8, 0)),
                date: Some((2021, 2, 5, 0, 0, Day, false)),
                mode: Some(0o660),
                owner: Some("root"),
                group: Some("disk"),
                links: Some(1),
                ..Expected::default()
            },
        ),
        (
            "named pipe",
            b"prw-------   1 root     root            0 MAR 14 01:59 initctl",
            Expected {
                name: "initctl",
                kind: Some(EntryKind::Pipe),
                size: Some(0),
                date: Some((2021, 3, 14, 1, 59, Minute, true)),
                mode: Some(0o600),
                owner: Some("root"),
                group: Some("root"),
                links: Some(1),
                ..Expected::default()
            },
        ),
        (
            "socket and sticky directory bits",
            b"srwxrwxrwt   1 root     root            0 Nov 30 23:00 .X11-unix",
            Expected {
                name: ".X11-unix",
                kind: Some(EntryKind::Socket),
                size: Some(0),
                date: Some((2020, 11, 30, 23, 0, Minute, true)),
                mode: Some(0o1777),
                owner: Some("root"),
                group: Some("root"),
                links: Some(1),
                ..Expected::default()
            },
        ),
        (
            "Solaris door",
            b"Dr--r--r--   1 root     root            0 Sep  9  2009 name_service_door",
            Expected {
                name: "name_service_door",
                kind: Some(EntryKind::Door),
                size: Some(0),
                date: Some((2009, 9, 9, 0, 0, Day, false)),
                mode: Some(0o444),
                owner: Some("root"),
                group: Some("root"),
                links: Some(1),
                ..Expected::default()
            },
        ),
        (
            "set-id bits",
            b"-rwsr-sr-x   1 root     root        54256 Mar 27  2019 passwd",
            Expected {
                name: "passwd",
                kind: file(),
                size: Some(54256),
                date: Some((2019, 3, 27, 0, 0, Day, false)),
                mode: Some(0o6755),
                owner: Some("root"),
                group: Some("root"),
                links: Some(1),
                ..Expected::default()
            },
        ),
        (
            "leading and inner spaces in a name",
            b"-rw-r--r--   1 ftp      ftp             3 Feb  5 10:04   two  spaces ",
            Expected {
                name: "  two  spaces ",
                kind: file(),
                size: Some(3),
                date: Some((2021, 2, 5, 10, 4, Minute, true)),
                mode: Some(0o644),
                owner: Some("ftp"),
                group: Some("ftp"),
                links: Some(1),
                ..Expected::default()
            },
        ),
        (
            "a name that looks like a date",
            b"-rw-r--r--   1 ftp      ftp             3 Feb  5  2020 Jan 1 12:00 backup",
            Expected {
                name: "Jan 1 12:00 backup",
                kind: file(),
                size: Some(3),
                date: Some((2020, 2, 5, 0, 0, Day, false)),
                mode: Some(0o644),
                owner: Some("ftp"),
                group: Some("ftp"),
                links: Some(1),
                ..Expected::default()
            },
        ),
        (
            "NetPresenz (Mac): no owner names",
            b"-------r--         326  1391972  1392298 Nov 22  1995 MegaPhone.sit",
            Expected {
                name: "MegaPhone.sit",
                kind: file(),
                size: Some(1392298),
                date: Some((1995, 11, 22, 0, 0, Day, false)),
                mode: Some(0o004),
                owner: Some("1391972"),
                links: Some(326),
                ..Expected::default()
            },
        ),
        (
            "NetPresenz (Mac): folder",
            b"drwxrwxr-x               folder        2 May 10  1996 network",
            Expected {
                name: "network",
                kind: dir(),
                size: Some(2),
                date: Some((1996, 5, 10, 0, 0, Day, false)),
                mode: Some(0o775),
                owner: Some("folder"),
                ..Expected::default()
            },
        ),
    ];
    for (source, line, expected) in table {
        check(source, line, ListingFormat::Unix, expected);
    }
}

#[test]
fn names_are_octet_strings() {
    let line = b"-rw-r--r--   1 ftp      ftp             3 Feb  5 10:04 caf\xe9 \r\0x\0y.txt";
    let ListLine::Entry(entry) = listing::parse_list_line(line, now()) else {
        panic!();
    };
    // Latin-1 kept byte for byte; the CR NUL and NUL escapes undone.
    assert_eq!(entry.name.as_bytes(), b"caf\xe9 \rx\ny.txt");
}

#[test]
fn iso_and_full_iso_dates() {
    let ListLine::Entry(entry) = listing::parse_list_line(
        b"-rw-r--r-- 1 u g 7 2021-02-05 22:04:05.123456789 -0500 iso name",
        now(),
    ) else {
        panic!();
    };
    let modified = entry.modified.unwrap();
    assert!(modified.utc);
    assert_eq!(modified.precision, TimePrecision::Fraction);
    assert_eq!(
        modified.time,
        utc(2021, 2, 6, 3, 4, 5) + std::time::Duration::from_nanos(123_456_789)
    );
    assert_eq!(entry.name, "iso name");
}

#[test]
fn netware() {
    let table: Vec<(&str, &[u8], Expected)> = vec![
        (
            "NetWare directory",
            b"d [R----F--] supervisor            512       Jan 16 18:53    login",
            Expected {
                name: "login",
                kind: dir(),
                size: Some(512),
                date: Some((2021, 1, 16, 18, 53, Minute, true)),
                owner: Some("supervisor"),
                ..Expected::default()
            },
        ),
        (
            "NetWare file",
            b"- [R----F--] rhesus             214059       Oct 20 15:27    netware file",
            Expected {
                name: "netware file",
                kind: file(),
                size: Some(214059),
                date: Some((2020, 10, 20, 15, 27, Minute, true)),
                owner: Some("rhesus"),
                ..Expected::default()
            },
        ),
    ];
    for (source, line, expected) in table {
        check(source, line, ListingFormat::NetWare, expected);
    }
}

#[test]
fn dos_and_iis() {
    let table: Vec<(&str, &[u8], Expected)> = vec![
        (
            "IIS, directory",
            b"02-05-21  10:04AM       <DIR>          aspnet_client",
            Expected {
                name: "aspnet_client",
                kind: dir(),
                date: Some((2021, 2, 5, 10, 4, Minute, false)),
                ..Expected::default()
            },
        ),
        (
            "IIS, file after noon",
            b"04-14-00  03:47PM                  589 readme file.txt\r\n",
            Expected {
                name: "readme file.txt",
                kind: file(),
                size: Some(589),
                date: Some((2000, 4, 14, 15, 47, Minute, false)),
                ..Expected::default()
            },
        ),
        (
            "IIS, midnight and a 1990s year",
            b"12-31-99  12:00AM                    0 y2k.log",
            Expected {
                name: "y2k.log",
                kind: file(),
                size: Some(0),
                date: Some((1999, 12, 31, 0, 0, Minute, false)),
                ..Expected::default()
            },
        ),
        (
            "IIS, four-digit year",
            b"02-05-2021  10:04PM       <DIR>          My Documents",
            Expected {
                name: "My Documents",
                kind: dir(),
                date: Some((2021, 2, 5, 22, 4, Minute, false)),
                ..Expected::default()
            },
        ),
        (
            "Windows, 24-hour with ISO date",
            b"2021-02-05  22:04  12345 report.pdf",
            Expected {
                name: "report.pdf",
                kind: file(),
                size: Some(12345),
                date: Some((2021, 2, 5, 22, 4, Minute, false)),
                ..Expected::default()
            },
        ),
        (
            "Windows, thousands separators",
            b"2002-09-02  19:06                9,730 longyear file",
            Expected {
                name: "longyear file",
                kind: file(),
                size: Some(9730),
                date: Some((2002, 9, 2, 19, 6, Minute, false)),
                ..Expected::default()
            },
        ),
        (
            "Windows, separate AM/PM column",
            b"02/05/2021  09:15 AM  <DIR>  Program Files",
            Expected {
                name: "Program Files",
                kind: dir(),
                date: Some((2021, 2, 5, 9, 15, Minute, false)),
                ..Expected::default()
            },
        ),
        (
            "Windows, leading space kept after a size",
            b"2021-02-05  22:04  12345  spaced",
            Expected {
                name: " spaced",
                kind: file(),
                size: Some(12345),
                date: Some((2021, 2, 5, 22, 4, Minute, false)),
                ..Expected::default()
            },
        ),
    ];
    for (source, line, expected) in table {
        check(source, line, ListingFormat::Dos, expected);
    }
}

/// An EPLF line, and its name, kind, size and modification time in Unix seconds.
type EplfCase = (&'static [u8], &'static str, EntryKind, Option<u64>, u64);

#[test]
fn eplf() {
    let table: [EplfCase; 2] = [
        (
            b"+i8388621.29609,m824255902,/,\tdev",
            "dev",
            EntryKind::Directory,
            None,
            824_255_902,
        ),
        (
            b"+i8388621.44468,m839956783,r,s10376,\tRFCEPLF",
            "RFCEPLF",
            EntryKind::File,
            Some(10376),
            839_956_783,
        ),
    ];
    for (line, name, kind, size, seconds) in table {
        let ListLine::Entry(entry) = listing::parse_list_line(line, now()) else {
            panic!("{}", line.escape_ascii());
        };
        assert_eq!(entry.format, ListingFormat::Eplf);
        assert_eq!(entry.name, name);
        assert_eq!(entry.kind, kind);
        assert_eq!(entry.size, size);
        let modified = entry.modified.unwrap();
        assert_eq!(
            modified.time,
            SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(seconds)
        );
        assert_eq!(modified.precision, TimePrecision::Second);
        assert!(modified.utc);
        assert!(entry.unique.is_some());
    }
}

#[test]
fn totals_blanks_and_unrecognised_lines() {
    let listing_text: &[u8] = b"total 24\r\n\
        drwxr-xr-x   2 ftp ftp 4096 Feb  5 10:04 ok\r\n\
        \r\n\
        Directory of C:\\\r\n\
        -rw-r--r--   1 ftp ftp 12k Feb  5 10:04 named size\r\n\
        +s12\r\n\
        99-99-99  10:00  1 impossible date\n\
        /pub/subdir:\n";
    let lines: Vec<ListLine> = listing::list_lines(listing_text, now()).collect();
    assert_eq!(lines.len(), 7, "{lines:#?}");
    assert_eq!(lines[0], ListLine::Total(24));
    assert!(matches!(&lines[1], ListLine::Entry(entry) if entry.name == "ok"));
    let errors: Vec<(String, ListError)> = lines[2..]
        .iter()
        .map(|line| match line {
            ListLine::Unrecognised { raw, error } => (raw.to_string(), *error),
            other => panic!("{other:?}"),
        })
        .collect();
    let bad = |format, field| ListError::BadField { format, field };
    assert_eq!(
        errors,
        [
            ("Directory of C:\\".to_string(), ListError::UnknownFormat),
            (
                "-rw-r--r--   1 ftp ftp 12k Feb  5 10:04 named size".to_string(),
                bad(ListingFormat::Unix, ListField::Size)
            ),
            (
                "+s12".to_string(),
                bad(ListingFormat::Eplf, ListField::Name)
            ),
            (
                "99-99-99  10:00  1 impossible date".to_string(),
                bad(ListingFormat::Dos, ListField::Date)
            ),
            ("/pub/subdir:".to_string(), ListError::UnknownFormat),
        ]
    );
    assert_eq!(listing::parse_list_line(b"  \r\n", now()), ListLine::Blank);
    assert_eq!(
        bad(ListingFormat::Unix, ListField::Date).to_string(),
        "Unix listing line has a missing or malformed date"
    );
}

/// What an MLSx line should yield beyond its name and kind.
fn mlsx(line: &[u8]) -> Entry {
    listing::parse_mlsx_line(line)
        .unwrap_or_else(|error| panic!("{}: {error}", line.escape_ascii()))
}

#[test]
fn mlsx_from_real_servers() {
    // vsftpd
    let entry = mlsx(b"type=file;modify=20210205220400;size=1048576; 1M.bin\r\n");
    assert_eq!(entry.kind, EntryKind::File);
    assert_eq!(entry.size, Some(1048576));
    assert_eq!(entry.modified.unwrap().time, utc(2021, 2, 5, 22, 4, 0));
    assert_eq!(entry.modified.unwrap().precision, TimePrecision::Second);
    assert!(entry.modified.unwrap().utc);
    assert_eq!(entry.format, ListingFormat::Mlsx);

    // ProFTPD, with UNIX facts and a symlink
    let entry = mlsx(
        b"modify=20210205220400;perm=adfrw;size=7;type=OS.unix=slink:/srv/target;unique=FD00U1A2B;UNIX.group=1000;UNIX.groupname=users;UNIX.mode=0777;UNIX.owner=1000;UNIX.ownername=alice; link",
    );
    assert_eq!(entry.name, "link");
    assert_eq!(entry.link_target().unwrap(), "/srv/target");
    assert_eq!(entry.permissions.unix_mode, Some(0o777));
    assert_eq!(
        entry.permissions.mlsx,
        Some(PermFact::from_letters(b"adfrw"))
    );
    assert_eq!(entry.owner.as_ref().unwrap(), "alice");
    assert_eq!(entry.group.as_ref().unwrap(), "users");
    assert_eq!(entry.unique.as_ref().unwrap(), "FD00U1A2B");
    assert_eq!(entry.facts.len(), 10);
    assert_eq!(entry.fact("unix.OWNERNAME").unwrap(), "alice");

    // Pure-FTPd, with cdir and pdir
    let cdir = mlsx(b"type=cdir;sizd=4096;modify=20210205220400;UNIX.mode=0755;UNIX.uid=1000;UNIX.gid=100;unique=803g1a; .");
    assert_eq!(cdir.kind, EntryKind::CurrentDirectory);
    assert!(cdir.is_directory());
    assert_eq!(cdir.size, None);
    assert_eq!(cdir.fact("sizd").unwrap(), "4096");
    assert_eq!(cdir.owner.as_ref().unwrap(), "1000");
    assert_eq!(cdir.group.as_ref().unwrap(), "100");
    let pdir = mlsx(b"type=pdir;sizd=4096;modify=20210205220400;UNIX.mode=0755; ..");
    assert_eq!(pdir.kind, EntryKind::ParentDirectory);

    // IIS: capitalised fact names, fractional seconds
    let entry = mlsx(b"Type=dir;Modify=20210205220400.123;Create=20200101000000.5; Program Files");
    assert_eq!(entry.kind, EntryKind::Directory);
    assert_eq!(entry.name, "Program Files");
    let modified = entry.modified.unwrap();
    assert_eq!(modified.precision, TimePrecision::Fraction);
    assert_eq!(
        modified.time,
        utc(2021, 2, 5, 22, 4, 0) + std::time::Duration::from_millis(123)
    );
    assert_eq!(
        entry.created.unwrap().time,
        utc(2020, 1, 1, 0, 0, 0) + std::time::Duration::from_millis(500)
    );

    // FileZilla Server, with RFC facts the others do not send
    let entry = mlsx(
        b"type=file;size=10;lang=en;media-type=text/plain;charset=UTF-8;X.foo=bar;OS.z=1; a; b.txt",
    );
    assert_eq!(entry.name, "a; b.txt");
    assert_eq!(entry.language.as_ref().unwrap(), "en");
    assert_eq!(entry.media_type.as_ref().unwrap(), "text/plain");
    assert_eq!(entry.charset.as_ref().unwrap(), "UTF-8");
    assert_eq!(entry.fact("x.FOO").unwrap(), "bar");
    let names: Vec<&[u8]> = entry
        .facts
        .iter()
        .map(|fact| fact.name.as_bytes())
        .collect();
    assert_eq!(
        names,
        [
            &b"type"[..],
            b"size",
            b"lang",
            b"media-type",
            b"charset",
            b"X.foo",
            b"OS.z"
        ]
    );

    // Unknown type values are kept verbatim; OS.unix=symlink has no target.
    assert_eq!(
        mlsx(b"type=OS.unix=chr-13/29; tty").kind,
        EntryKind::Other(Text::from("OS.unix=chr-13/29"))
    );
    assert_eq!(
        mlsx(b"type=OS.unix=symlink; l").kind,
        EntryKind::Symlink { target: None }
    );

    // An MLST reply's entry line.
    let entry =
        listing::parse_mlst_entry(b" Type=file;Size=1830;Modify=19980427094700; /pub/readme\r\n")
            .unwrap();
    assert_eq!(entry.name, "/pub/readme");
    assert_eq!(entry.size, Some(1830));
}

#[test]
fn mlsd_listing_iterator_reports_each_bad_line() {
    let listing_text =
        b"type=cdir; .\r\ntype=file;size=x; bad size\r\n\r\ntype=file;size=1; ok\nnofacts\n";
    let results: Vec<Result<Entry, MlsxError>> = listing::mlsx_lines(listing_text).collect();
    assert_eq!(results.len(), 4);
    assert_eq!(
        results[0].as_ref().unwrap().kind,
        EntryKind::CurrentDirectory
    );
    assert_eq!(
        results[1],
        Err(MlsxError::InvalidValue {
            fact: "size".into(),
            value: "x".into()
        })
    );
    assert_eq!(results[2].as_ref().unwrap().name, "ok");
    assert_eq!(results[3], Err(MlsxError::MissingName));
}
