//! Directory listings: this module owns the entry model shared by every listing format,
//! the LIST and MLSx line parsers, and the formatters a server uses to produce listings.
//!
//! | Format | Where it comes from | Example line |
//! | --- | --- | --- |
//! | Unix `ls -l` | vsftpd, ProFTPD, Pure-FTPd, busybox, FileZilla Server, most others | `-rw-r--r--   1 ftp  ftp   4096 Feb  5 10:04 notes.txt` |
//! | Unix, ISO date | `ls --time-style=long-iso` | `drwxr-xr-x 2 root root 4096 2021-02-05 22:04 pub` |
//! | Unix device | `/dev` on any Unix server | `crw-rw-rw- 1 root root 1, 3 Feb  5  2021 null` |
//! | NetWare | NetWare and its imitators | `d [RWCEAFMS] admin  512 Feb  5 10:04 login` |
//! | MS-DOS / IIS | IIS (default style), Windows servers | `02-05-21  10:04AM       <DIR>          docs` |
//! | MS-DOS, 24-hour | Windows servers | `2021-02-05  22:04  12345 report.pdf` |
//! | EPLF | publicfile, anonftpd | `+i8388621.29609,m824255902,/,\tdev` |
//! | MLSD / MLST (RFC 3659) | any modern server | `type=file;size=12;modify=20210205220400.5; notes.txt` |
//!
//! LIST output has no standard, so [`parse_list_line`] detects the format line by line
//! and reports a line it cannot read as [`ListLine::Unrecognised`] with the raw bytes,
//! never dropping it. MLSD and MLST lines are standard and have their own parser,
//! [`parse_mlsx_line`]. Both produce an [`Entry`].
//!
//! Nothing here reads a clock or a file system: a LIST date without a year needs "now",
//! and the caller passes it in. Formatting (for servers) lives in [`write_list_line`],
//! [`write_mlsx_line`] and [`write_nlst_line`], which append to a caller-owned buffer.
//!
//! # What each format can and cannot say
//!
//! - Unix: columns are separated by runs of spaces, but the name is everything after
//!   exactly one space following the date, so leading and inner spaces survive. The
//!   date is found by its shape, not its column number, so a missing group or
//!   link-count column and a two-column `major, minor` are read correctly. A link whose
//!   own name contains ` -> ` cannot be told apart from its target.
//! - NetWare and MS-DOS `<DIR>` lines pad the name with a run of spaces, so a leading
//!   space in such a name is lost; after an MS-DOS size, exactly one space separates.
//! - LIST dates are in the server's local time zone, which a client cannot know: they
//!   are read as UTC and marked [`ModifiedTime::utc`]` == false`.
//!
//! # Names with line breaks
//!
//! A listing is line-based, so the writers never send CR or LF raw: a CR in a name is
//! sent as CR NUL, as RFC 2640 §3.1 prescribes for path names, and an LF as a single
//! NUL, the convention BSD ftpd uses. No Unix or Windows file name contains NUL, so
//! both escapes are unambiguous, and every parser here undoes them.
//!
//! ```
//! use std::time::{Duration, UNIX_EPOCH};
//! use ftp_proto::listing::{self, EntryKind, ListLine, TimePrecision};
//!
//! // 2021-06-01T00:00:00Z: "Feb  5 10:04" is then February 2021.
//! let now = UNIX_EPOCH + Duration::from_secs(1_622_505_600);
//! let listing = b"total 8\r\n\
//!     -rw-r--r--   1 ftp  ftp   4096 Feb  5 10:04 notes.txt\r\n\
//!     lrwxrwxrwx   1 ftp  ftp      9 Feb  5  2020 latest -> notes.txt\r\n";
//! let lines: Vec<ListLine> = listing::list_lines(listing, now).collect();
//! assert!(matches!(lines[0], ListLine::Total(8)));
//! let ListLine::Entry(file) = &lines[1] else { panic!() };
//! assert_eq!(file.name, "notes.txt");
//! assert_eq!(file.size, Some(4096));
//! assert_eq!(file.permissions.unix_mode, Some(0o644));
//! let modified = file.modified.unwrap();
//! assert_eq!(modified.precision, TimePrecision::Minute);
//! assert!(modified.year_inferred);
//! assert_eq!(modified.time, UNIX_EPOCH + Duration::from_secs(1_612_519_440));
//! let ListLine::Entry(link) = &lines[2] else { panic!() };
//! assert_eq!(link.link_target().unwrap(), "notes.txt");
//!
//! let entry = listing::parse_mlsx_line(b"type=dir;modify=20210205220400; my docs").unwrap();
//! assert_eq!(entry.kind, EntryKind::Directory);
//! assert_eq!(entry.name, "my docs");
//! ```

mod dos;
mod eplf;
mod format;
mod mlsx;
mod netware;
mod unix;
mod util;

use std::fmt;
use std::time::SystemTime;

use crate::{Pathname, Text};

pub use format::{
    FactSet, MlsxFact, write_list_line, write_mlst_entry, write_mlsx_line, write_nlst_line,
};
pub use mlsx::{MlsxError, parse_mlst_entry, parse_mlsx_line};

/// Whether a name from a listing can be used as one local file name without leaving
/// the directory it is created in: not empty, not `.` or `..`, and no `/`, `\` or NUL
/// (nor, on Windows, any of `:*?"<>|`). A hostile server's `../x` or `/etc/x` fails.
///
/// ```
/// use ftp_proto::listing::is_safe_file_name;
/// assert!(is_safe_file_name(b"report 2024.pdf"));
/// assert!(!is_safe_file_name(b".."));
/// assert!(!is_safe_file_name(b"../etc/passwd"));
/// assert!(!is_safe_file_name(b"dir\\file"));
/// ```
pub fn is_safe_file_name(name: &[u8]) -> bool {
    !name.is_empty()
        && name != b"."
        && name != b".."
        && !name.iter().any(|&byte| {
            byte == b'/'
                || byte == b'\\'
                || byte == 0
                || (cfg!(windows) && b":*?\"<>|".contains(&byte))
        })
}

/// One file, directory or other object of a listing, whatever format it came from.
///
/// Fields a format does not carry are `None` (or empty). Build one for formatting with
/// [`Entry::new`] and set the fields you know.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Entry {
    /// The name exactly as listed (a bare name, or a path for MLST and some `cdir`s).
    pub name: Pathname<'static>,
    /// What kind of object this is; a symbolic link carries its target.
    pub kind: EntryKind,
    /// The size in octets, when the listing gives one (device files do not).
    pub size: Option<u64>,
    /// The device numbers of a block or character device, listed in place of a size.
    pub device: Option<DeviceNumber>,
    /// The last modification time, with how precise the listing was.
    pub modified: Option<ModifiedTime>,
    /// The creation time (MLSx `create` fact).
    pub created: Option<ModifiedTime>,
    /// Unix mode bits and MLSx permission letters, where known.
    pub permissions: Permissions,
    /// The owner: a user name or a numeric id, as listed.
    pub owner: Option<Text<'static>>,
    /// The group: a group name or a numeric id, as listed.
    pub group: Option<Text<'static>>,
    /// The hard-link count of a Unix listing.
    pub link_count: Option<u64>,
    /// A server-unique identifier (MLSx `unique` fact, EPLF `i` fact).
    pub unique: Option<Text<'static>>,
    /// The language of the file's content (MLSx `lang` fact).
    pub language: Option<Text<'static>>,
    /// The IANA media type (MLSx `media-type` fact).
    pub media_type: Option<Text<'static>>,
    /// The character set of the file's content (MLSx `charset` fact).
    pub charset: Option<Text<'static>>,
    /// Every MLSx fact in the order listed, including the ones decoded above.
    pub facts: Vec<Fact>,
    /// The format the entry was read from.
    pub format: ListingFormat,
    /// The whole line as received (without its line ending); empty for built entries.
    pub raw: Text<'static>,
}

impl Entry {
    /// An entry with a name and a kind and nothing else known, for formatting.
    pub fn new(name: impl Into<Pathname<'static>>, kind: EntryKind) -> Self {
        Entry {
            name: name.into(),
            kind,
            size: None,
            device: None,
            modified: None,
            created: None,
            permissions: Permissions::default(),
            owner: None,
            group: None,
            link_count: None,
            unique: None,
            language: None,
            media_type: None,
            charset: None,
            facts: Vec::new(),
            format: ListingFormat::Built,
            raw: Text::default(),
        }
    }

    /// The target of a symbolic link, when this is one and the listing names it.
    pub fn link_target(&self) -> Option<&Pathname<'static>> {
        match &self.kind {
            EntryKind::Symlink { target } => target.as_ref(),
            _ => None,
        }
    }

    /// The value of the first MLSx fact with this name (compared case-insensitively).
    pub fn fact(&self, name: &str) -> Option<&Text<'static>> {
        self.facts
            .iter()
            .find(|fact| fact.name.as_bytes().eq_ignore_ascii_case(name.as_bytes()))
            .map(|fact| &fact.value)
    }

    /// Whether this is a directory, including MLSx `cdir` and `pdir`.
    pub fn is_directory(&self) -> bool {
        matches!(
            self.kind,
            EntryKind::Directory | EntryKind::CurrentDirectory | EntryKind::ParentDirectory
        )
    }
}

/// What kind of object an entry is.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EntryKind {
    /// A regular file (`-`, MLSx `file`).
    File,
    /// A directory (`d`, `<DIR>`, MLSx `dir`).
    Directory,
    /// The listed directory itself (MLSx `cdir`).
    CurrentDirectory,
    /// The parent of the listed directory (MLSx `pdir`).
    ParentDirectory,
    /// A symbolic link (`l`, MLSx `OS.unix=slink:target`), with its target when listed.
    Symlink {
        /// Where the link points, as listed; `None` when the listing does not say.
        target: Option<Pathname<'static>>,
    },
    /// A block device (`b`).
    BlockDevice,
    /// A character device (`c`).
    CharDevice,
    /// A named pipe (`p`).
    Pipe,
    /// A Unix-domain socket (`s`).
    Socket,
    /// A Solaris door (`D`).
    Door,
    /// Another kind, verbatim: an unknown MLSx `type` value such as `OS.unix=blkdev`.
    Other(Text<'static>),
}

/// A device's major and minor numbers, listed by `ls` as `major, minor`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DeviceNumber {
    /// The major number (the driver).
    pub major: u32,
    /// The minor number (the unit).
    pub minor: u32,
}

/// A listed time and how much of it the listing actually said.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ModifiedTime {
    /// The instant, with the parts the listing did not give set to zero.
    pub time: SystemTime,
    /// The finest unit the listing gave.
    pub precision: TimePrecision,
    /// Whether the year was missing (`Mon DD HH:MM`) and inferred from "now".
    pub year_inferred: bool,
    /// Whether the time is known to be UTC. LIST dates are in the server's local time
    /// zone, which the client cannot know; they are read as if they were UTC and this
    /// is `false`. MLSx and EPLF times are UTC.
    pub utc: bool,
}

impl ModifiedTime {
    /// A UTC time precise to the second or better (what MLSx and a server's file
    /// system give).
    pub fn exact(time: SystemTime) -> Self {
        ModifiedTime {
            time,
            precision: TimePrecision::Fraction,
            year_inferred: false,
            utc: true,
        }
    }
}

/// The finest unit a listed time gives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TimePrecision {
    /// A date without a time of day (`Mon DD YYYY`).
    Day,
    /// Hours and minutes (`Mon DD HH:MM`, MS-DOS listings).
    Minute,
    /// Whole seconds (EPLF, MLSx without a fraction, `ls --full-time`).
    Second,
    /// Seconds with a fraction (MLSx `modify=20210205220400.123`).
    Fraction,
}

/// What a listing says about who may do what with an entry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Permissions {
    /// The Unix permission bits (`0o7777`: set-user-id, set-group-id, sticky and
    /// `rwxrwxrwx`), from a Unix mode column, EPLF `up` or MLSx `UNIX.mode`.
    pub unix_mode: Option<u32>,
    /// The mark `ls` prints after the mode column.
    pub mode_mark: Option<ModeMark>,
    /// The MLSx `perm` fact.
    pub mlsx: Option<PermFact>,
}

/// The character `ls` appends to a mode column for extra access information.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ModeMark {
    /// `+`: an access control list applies.
    AccessControlList,
    /// `@`: extended attributes (macOS).
    ExtendedAttributes,
    /// `.`: an SELinux security context and nothing more.
    SecurityContext,
}

impl ModeMark {
    /// The character `ls` prints for this mark.
    pub fn as_byte(self) -> u8 {
        match self {
            ModeMark::AccessControlList => b'+',
            ModeMark::ExtendedAttributes => b'@',
            ModeMark::SecurityContext => b'.',
        }
    }
}

/// The RFC 3659 `perm` fact: a set of the letters `a c d e f l m p r w`.
///
/// ```
/// use ftp_proto::listing::PermFact;
/// let perm = PermFact::from_letters(b"ADFRW");
/// assert!(perm.contains(b'r') && perm.contains(b'f'));
/// assert!(!perm.contains(b'e'));
/// assert_eq!(perm.to_letters(), b"adfrw");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct PermFact(u16);

impl PermFact {
    /// The letters RFC 3659 defines, in the order they are written.
    pub const LETTERS: &'static [u8; 10] = b"acdeflmprw";

    /// The set of known letters in `letters`, in any case; other bytes are ignored (the
    /// fact's raw value stays in [`Entry::facts`]).
    pub fn from_letters(letters: &[u8]) -> Self {
        let bits = letters
            .iter()
            .filter_map(|&letter| Self::bit(letter))
            .fold(0, |bits, bit| bits | bit);
        PermFact(bits)
    }

    /// Whether the set holds `letter` (in any case).
    pub fn contains(self, letter: u8) -> bool {
        Self::bit(letter).is_some_and(|bit| self.0 & bit != 0)
    }

    /// Adds `letter` to the set; an unknown letter is ignored.
    pub fn insert(&mut self, letter: u8) {
        if let Some(bit) = Self::bit(letter) {
            self.0 |= bit;
        }
    }

    /// The letters in the set, lower case, in RFC order.
    pub fn to_letters(self) -> Vec<u8> {
        Self::LETTERS
            .iter()
            .copied()
            .filter(|&letter| self.contains(letter))
            .collect()
    }

    fn bit(letter: u8) -> Option<u16> {
        let lower = letter.to_ascii_lowercase();
        Self::LETTERS
            .iter()
            .position(|&known| known == lower)
            .map(|index| 1 << index)
    }
}

/// One MLSx fact as listed: its name (case as written) and its value.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Fact {
    /// The fact name, such as `Type` or `UNIX.mode`, case as the server wrote it.
    pub name: Text<'static>,
    /// The value, verbatim.
    pub value: Text<'static>,
}

/// Which format an entry was read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ListingFormat {
    /// Unix `ls -l` style.
    Unix,
    /// NetWare style (`d [RWCEAFMS] owner size date name`).
    NetWare,
    /// MS-DOS / IIS style.
    Dos,
    /// Easily Parsed LIST Format.
    Eplf,
    /// RFC 3659 MLSD or MLST.
    Mlsx,
    /// Not parsed: built with [`Entry::new`].
    Built,
}

impl fmt::Display for ListingFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ListingFormat::Unix => "Unix",
            ListingFormat::NetWare => "NetWare",
            ListingFormat::Dos => "MS-DOS",
            ListingFormat::Eplf => "EPLF",
            ListingFormat::Mlsx => "MLSx",
            ListingFormat::Built => "built",
        })
    }
}

/// What one line of a LIST reply turned out to be.
// Entries are nearly every line, so boxing them to shrink the rare variants would only
// add an allocation per entry.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListLine {
    /// A file, directory or other object.
    Entry(Entry),
    /// The `total N` line `ls` prints first (N in blocks, as listed).
    Total(u64),
    /// An empty or all-blank line.
    Blank,
    /// A line no parser could read, with the reason from the format it looked most like.
    Unrecognised {
        /// The line as received (without its line ending).
        raw: Text<'static>,
        /// What was wrong.
        error: ListError,
    },
}

/// Why a LIST line could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ListError {
    /// The line looks like none of the supported formats.
    #[error("the line matches no known LIST format")]
    UnknownFormat,
    /// The line looks like one format but a field is missing or malformed.
    #[error("{format} listing line has a missing or malformed {field}")]
    BadField {
        /// The format the line looked like.
        format: ListingFormat,
        /// The field that could not be read.
        field: ListField,
    },
}

/// A column of a LIST line, named in [`ListError::BadField`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ListField {
    /// The mode (type and permission) column.
    Mode,
    /// The owner, group and link-count columns.
    Owner,
    /// The size or device-number column.
    Size,
    /// The date and time.
    Date,
    /// The name (missing or empty).
    Name,
    /// An EPLF fact.
    Fact,
}

impl fmt::Display for ListField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ListField::Mode => "mode",
            ListField::Owner => "owner",
            ListField::Size => "size",
            ListField::Date => "date",
            ListField::Name => "name",
            ListField::Fact => "fact",
        })
    }
}

/// Reads one LIST line (with or without its CR LF), detecting its format.
///
/// `now` is the moment to infer a year from, for dates written `Mon DD HH:MM`: the
/// year chosen is the latest one that puts the date no more than a day after `now`
/// (`ls` prints such dates only for files from the last six months; the day of slack
/// absorbs clock and time-zone differences between server and client).
///
/// Never panics; a line that is neither an entry, `total N`, nor blank comes back as
/// [`ListLine::Unrecognised`].
pub fn parse_list_line(line: &[u8], now: SystemTime) -> ListLine {
    let line = util::strip_line_ending(line);
    if line.iter().all(|&byte| byte == b' ' || byte == b'\t') {
        return ListLine::Blank;
    }
    if let Some(total) = unix::parse_total(line) {
        return ListLine::Total(total);
    }
    let result = match line[0] {
        b'+' => eplf::parse(line),
        b'0'..=b'9' => dos::parse(line),
        _ if netware::looks_like(line) => netware::parse(line, now),
        _ if unix::looks_like(line) => unix::parse(line, now),
        _ => Err(ListError::UnknownFormat),
    };
    match result {
        Ok(entry) => ListLine::Entry(entry),
        Err(error) => ListLine::Unrecognised {
            raw: Text::from(line.to_vec()),
            error,
        },
    }
}

/// Iterates over the lines of a whole LIST reply, split on LF or CR LF, skipping blank
/// lines. See [`parse_list_line`].
pub fn list_lines(listing: &[u8], now: SystemTime) -> ListLines<'_> {
    ListLines {
        lines: util::Lines::new(listing),
        now,
    }
}

/// The iterator [`list_lines`] returns.
#[derive(Clone, Debug)]
pub struct ListLines<'a> {
    lines: util::Lines<'a>,
    now: SystemTime,
}

impl Iterator for ListLines<'_> {
    type Item = ListLine;

    fn next(&mut self) -> Option<ListLine> {
        loop {
            match parse_list_line(self.lines.next()?, self.now) {
                ListLine::Blank => continue,
                line => return Some(line),
            }
        }
    }
}

/// Iterates over the entries of a whole MLSD reply, split on LF or CR LF, skipping
/// blank lines. See [`parse_mlsx_line`].
pub fn mlsx_lines(listing: &[u8]) -> MlsxLines<'_> {
    MlsxLines {
        lines: util::Lines::new(listing),
    }
}

/// The iterator [`mlsx_lines`] returns.
#[derive(Clone, Debug)]
pub struct MlsxLines<'a> {
    lines: util::Lines<'a>,
}

impl Iterator for MlsxLines<'_> {
    type Item = Result<Entry, MlsxError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let line = self.lines.next()?;
            if line.iter().all(|&byte| byte == b' ') {
                continue;
            }
            return Some(parse_mlsx_line(line));
        }
    }
}
