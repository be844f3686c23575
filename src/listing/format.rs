//! Listing output for servers: Unix-style LIST lines, MLSD/MLST lines with a chosen set
//! of facts (and the `OPTS MLST` selection itself), and NLST lines.
//!
//! Every writer appends one complete line, ending in CR LF, to a caller-owned buffer.
//!
//! Names may contain any byte but a listing is line-based, so CR and LF in a name are
//! escaped and never sent raw: a CR is sent as CR NUL, as RFC 2640 §3.1 prescribes for
//! path names on the control connection, and an LF as a single NUL, the convention BSD
//! ftpd uses for path names (a NUL cannot occur in a Unix or Windows file name, so both
//! escapes are unambiguous). This crate's parsers undo both escapes.

use std::time::{Duration, SystemTime};

use super::util;
use super::{Entry, EntryKind};
use crate::time::{push_padded, utc_datetime, write_timestamp};

/// Half a Gregorian year, the age past which `ls` prints a year instead of a time.
const SIX_MONTHS: Duration = Duration::from_secs(31_556_952 / 2);

/// How far in the future a time may be and still be printed with a time of day rather
/// than a year. Parsers give a year-less date up to a day of slack, so this must be
/// less than that for a listing to read back with the right year.
const FUTURE_TOLERANCE: Duration = Duration::from_secs(60 * 60);

/// The owner and group printed when an entry has none.
const DEFAULT_OWNER: &[u8] = b"ftp";

/// Appends a Unix `ls -l` style LIST line for `entry`:
/// `-rw-r--r--    1 owner    group        1234 Feb  5 10:04 name`.
///
/// A time within the six months before `now` (or at most an hour after it) is written
/// `Mon DD HH:MM`, any other as `Mon DD  YYYY`; times are written in UTC. Missing
/// fields get defaults: mode `rw-r--r--` (`rwxr-xr-x` for directories, `rwxrwxrwx` for
/// links), one link, owner and group `ftp`, size 0, and the Unix epoch for the time.
/// Spaces and control bytes in the owner or group are written as `_`, to keep the
/// columns apart. A symbolic link's target follows its name after ` -> `.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use ftp_proto::listing::{Entry, EntryKind, ModifiedTime, write_list_line};
///
/// let now = UNIX_EPOCH + Duration::from_secs(1_622_505_600); // 2021-06-01
/// let mut entry = Entry::new("notes.txt", EntryKind::File);
/// entry.size = Some(4096);
/// entry.modified = Some(ModifiedTime::exact(UNIX_EPOCH + Duration::from_secs(1_612_519_440)));
/// let mut out = Vec::new();
/// write_list_line(&entry, now, &mut out);
/// assert_eq!(out, b"-rw-r--r--    1 ftp      ftp          4096 Feb  5 10:04 notes.txt\r\n");
/// ```
pub fn write_list_line(entry: &Entry, now: SystemTime, out: &mut Vec<u8>) {
    out.push(type_letter(&entry.kind));
    let mode = entry.permissions.unix_mode.unwrap_or(match entry.kind {
        _ if entry.is_directory() => 0o755,
        EntryKind::Symlink { .. } => 0o777,
        _ => 0o644,
    });
    push_mode_bits(mode, out);
    if let Some(mark) = entry.permissions.mode_mark {
        out.push(mark.as_byte());
    }
    out.push(b' ');
    push_right_aligned(entry.link_count.unwrap_or(1), 4, out);
    out.push(b' ');
    push_column(entry.owner.as_ref().map(|owner| owner.as_bytes()), out);
    out.push(b' ');
    push_column(entry.group.as_ref().map(|group| group.as_bytes()), out);
    out.push(b' ');
    match entry.device {
        Some(device) => {
            push_right_aligned(u64::from(device.major), 3, out);
            out.extend_from_slice(b", ");
            push_right_aligned(u64::from(device.minor), 3, out);
        }
        None => push_right_aligned(entry.size.unwrap_or(0), 8, out),
    }
    out.push(b' ');
    let time = entry
        .modified
        .map_or(SystemTime::UNIX_EPOCH, |modified| modified.time);
    push_list_date(time, now, out);
    out.push(b' ');
    push_escaped_name(entry.name.as_bytes(), out);
    if let Some(target) = entry.link_target() {
        out.extend_from_slice(b" -> ");
        push_escaped_name(target.as_bytes(), out);
    }
    out.extend_from_slice(b"\r\n");
}

/// Appends an MLSD line for `entry` with the facts in `facts` that the entry has values
/// for: `type=file;size=4096;modify=20210205100400; notes.txt`.
///
/// A fact whose value cannot be written safely (it would contain `;`, CR or LF, or is
/// empty) is left out; a symbolic link whose target cannot is written as
/// `OS.unix=symlink`.
///
/// ```
/// use ftp_proto::listing::{Entry, EntryKind, FactSet, write_mlsx_line};
///
/// let mut entry = Entry::new("my docs", EntryKind::Directory);
/// entry.size = Some(4096);
/// let mut out = Vec::new();
/// write_mlsx_line(&entry, FactSet::default(), &mut out);
/// assert_eq!(out, b"type=dir;size=4096; my docs\r\n");
/// ```
pub fn write_mlsx_line(entry: &Entry, facts: FactSet, out: &mut Vec<u8>) {
    for fact in facts.iter() {
        push_fact(entry, fact, out);
    }
    out.push(b' ');
    push_escaped_name(entry.name.as_bytes(), out);
    out.extend_from_slice(b"\r\n");
}

/// Appends the entry line of an MLST reply: the same as [`write_mlsx_line`] after one
/// space, as RFC 3659 puts it between the `250-` first line and the `250` last line.
pub fn write_mlst_entry(entry: &Entry, facts: FactSet, out: &mut Vec<u8>) {
    out.push(b' ');
    write_mlsx_line(entry, facts, out);
}

/// Appends an NLST line: the name alone, escaped, and CR LF.
pub fn write_nlst_line(name: &[u8], out: &mut Vec<u8>) {
    push_escaped_name(name, out);
    out.extend_from_slice(b"\r\n");
}

/// One fact a server can send in MLSD and MLST output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MlsxFact {
    /// `type`: file, dir, cdir, pdir or an `OS.unix=` type.
    Type,
    /// `size` in octets.
    Size,
    /// `modify`: last modification time, UTC.
    Modify,
    /// `create`: creation time, UTC.
    Create,
    /// `unique`: a server-unique identifier.
    Unique,
    /// `perm`: the RFC 3659 permission letters.
    Perm,
    /// `lang`: the language of the content.
    Lang,
    /// `media-type`: the IANA media type.
    MediaType,
    /// `charset`: the character set of the content.
    Charset,
    /// `UNIX.mode`: the permission bits in octal.
    UnixMode,
    /// `UNIX.owner`: the owner's name.
    UnixOwner,
    /// `UNIX.group`: the group's name.
    UnixGroup,
}

impl MlsxFact {
    /// Every fact, in the order they are written.
    pub const ALL: [MlsxFact; 12] = [
        MlsxFact::Type,
        MlsxFact::Size,
        MlsxFact::Modify,
        MlsxFact::Create,
        MlsxFact::Unique,
        MlsxFact::Perm,
        MlsxFact::Lang,
        MlsxFact::MediaType,
        MlsxFact::Charset,
        MlsxFact::UnixMode,
        MlsxFact::UnixOwner,
        MlsxFact::UnixGroup,
    ];

    /// The fact's name as written in listings and `FEAT`.
    pub fn name(self) -> &'static str {
        match self {
            MlsxFact::Type => "type",
            MlsxFact::Size => "size",
            MlsxFact::Modify => "modify",
            MlsxFact::Create => "create",
            MlsxFact::Unique => "unique",
            MlsxFact::Perm => "perm",
            MlsxFact::Lang => "lang",
            MlsxFact::MediaType => "media-type",
            MlsxFact::Charset => "charset",
            MlsxFact::UnixMode => "UNIX.mode",
            MlsxFact::UnixOwner => "UNIX.owner",
            MlsxFact::UnixGroup => "UNIX.group",
        }
    }

    /// The fact with this name, compared without regard to case.
    pub fn from_name(name: &[u8]) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|fact| fact.name().as_bytes().eq_ignore_ascii_case(name))
    }

    fn bit(self) -> u16 {
        1 << self as u16
    }
}

/// A set of MLSx facts: what a server supports, or what a client selected with
/// `OPTS MLST`.
///
/// ```
/// use ftp_proto::listing::{FactSet, MlsxFact};
///
/// let selected = FactSet::parse_opts(b"MLST Type;size;X.unknown;");
/// assert!(selected.contains(MlsxFact::Type) && selected.contains(MlsxFact::Size));
/// assert!(!selected.contains(MlsxFact::Modify));
/// let mut reply = b"200 MLST OPTS ".to_vec();
/// selected.write_list(&mut reply);
/// assert_eq!(reply, b"200 MLST OPTS type;size;");
///
/// let mut feat = b" MLST ".to_vec();
/// FactSet::ALL.write_feat(FactSet::default(), &mut feat);
/// assert!(feat.starts_with(b" MLST type*;size*;modify*;create;unique*;perm*;"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FactSet(u16);

impl Default for FactSet {
    /// `type;size;modify;unique;perm;`, the facts RFC 3659 expects a server to send
    /// when the client has not chosen.
    fn default() -> Self {
        [
            MlsxFact::Type,
            MlsxFact::Size,
            MlsxFact::Modify,
            MlsxFact::Unique,
            MlsxFact::Perm,
        ]
        .into_iter()
        .collect()
    }
}

impl FromIterator<MlsxFact> for FactSet {
    fn from_iter<I: IntoIterator<Item = MlsxFact>>(facts: I) -> Self {
        facts.into_iter().fold(FactSet::EMPTY, |mut set, fact| {
            set.insert(fact);
            set
        })
    }
}

impl FactSet {
    /// No facts: listings then carry only names.
    pub const EMPTY: FactSet = FactSet(0);
    /// Every fact this crate can write.
    pub const ALL: FactSet = FactSet((1 << MlsxFact::ALL.len()) - 1);

    /// Whether the set holds `fact`.
    /// This set with `fact` added (usable in constants).
    pub const fn with(self, fact: MlsxFact) -> FactSet {
        FactSet(self.0 | (1 << fact as u16))
    }

    /// Whether `fact` is in the set.
    pub fn contains(self, fact: MlsxFact) -> bool {
        self.0 & fact.bit() != 0
    }

    /// Adds `fact`.
    pub fn insert(&mut self, fact: MlsxFact) {
        self.0 |= fact.bit();
    }

    /// Removes `fact`.
    pub fn remove(&mut self, fact: MlsxFact) {
        self.0 &= !fact.bit();
    }

    /// The facts in both sets: a client's selection limited to what the server
    /// supports.
    pub fn intersection(self, other: FactSet) -> FactSet {
        FactSet(self.0 & other.0)
    }

    /// The facts in the set, in the order they are written.
    pub fn iter(self) -> impl Iterator<Item = MlsxFact> {
        MlsxFact::ALL
            .into_iter()
            .filter(move |&fact| self.contains(fact))
    }

    /// Reads the argument of `OPTS MLST`: fact names each followed by `;`, such as
    /// `type;size;modify;`, with or without the leading `MLST` word. Unknown names are
    /// ignored, as RFC 3659 §7.9 requires, and an empty list selects no facts. Limit
    /// the result to what the server supports with [`FactSet::intersection`].
    pub fn parse_opts(argument: &[u8]) -> FactSet {
        let list = match argument.get(..4) {
            Some(word) if word.eq_ignore_ascii_case(b"MLST") => {
                argument[4..].strip_prefix(b" ").unwrap_or(&argument[4..])
            }
            _ => argument,
        };
        list.split(|&byte| byte == b';')
            .filter_map(MlsxFact::from_name)
            .collect()
    }

    /// Appends the facts as `type;size;`, the form of the `200 MLST OPTS` reply.
    pub fn write_list(self, out: &mut Vec<u8>) {
        for fact in self.iter() {
            out.extend_from_slice(fact.name().as_bytes());
            out.push(b';');
        }
    }

    /// Appends the facts of `self` (the supported ones) as the `FEAT` reply's `MLST`
    /// line lists them, with `*` after each fact in `enabled`: `type*;size*;perm;`.
    pub fn write_feat(self, enabled: FactSet, out: &mut Vec<u8>) {
        for fact in self.iter() {
            out.extend_from_slice(fact.name().as_bytes());
            if enabled.contains(fact) {
                out.push(b'*');
            }
            out.push(b';');
        }
    }
}

/// Appends `name=value;` for one fact, if the entry has a value that can be written.
fn push_fact(entry: &Entry, fact: MlsxFact, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(fact.name().as_bytes());
    out.push(b'=');
    let value_start = out.len();
    let written = match fact {
        MlsxFact::Type => {
            push_type(&entry.kind, out);
            true
        }
        MlsxFact::Size => entry.size.is_some_and(|size| {
            push_u64(size, out);
            true
        }),
        MlsxFact::Modify => entry
            .modified
            .is_some_and(|modified| write_timestamp(modified.time, out)),
        MlsxFact::Create => entry
            .created
            .is_some_and(|created| write_timestamp(created.time, out)),
        MlsxFact::Unique => push_text(entry.unique.as_ref().map(|text| text.as_bytes()), out),
        MlsxFact::Perm => entry.permissions.mlsx.is_some_and(|perm| {
            out.extend_from_slice(&perm.to_letters());
            true
        }),
        MlsxFact::Lang => push_text(entry.language.as_ref().map(|text| text.as_bytes()), out),
        MlsxFact::MediaType => {
            push_text(entry.media_type.as_ref().map(|text| text.as_bytes()), out)
        }
        MlsxFact::Charset => push_text(entry.charset.as_ref().map(|text| text.as_bytes()), out),
        MlsxFact::UnixMode => entry.permissions.unix_mode.is_some_and(|mode| {
            push_octal(mode & 0o7777, 4, out);
            true
        }),
        MlsxFact::UnixOwner => push_text(entry.owner.as_ref().map(|text| text.as_bytes()), out),
        MlsxFact::UnixGroup => push_text(entry.group.as_ref().map(|text| text.as_bytes()), out),
    };
    // An empty value is allowed by the grammar but says nothing, and is left out;
    // except `perm=`, which says that nothing is permitted.
    if written && (out.len() > value_start || fact == MlsxFact::Perm) {
        out.push(b';');
    } else {
        out.truncate(start);
    }
}

/// Whether a fact value can be written as is: no `;` (which ends a fact) and no line
/// break.
fn is_safe_value(value: &[u8]) -> bool {
    !value
        .iter()
        .any(|byte| matches!(byte, b';' | b'\r' | b'\n'))
}

fn push_text(value: Option<&[u8]>, out: &mut Vec<u8>) -> bool {
    match value {
        Some(value) if is_safe_value(value) => {
            out.extend_from_slice(value);
            true
        }
        _ => false,
    }
}

fn push_type(kind: &EntryKind, out: &mut Vec<u8>) {
    let value: &[u8] = match kind {
        EntryKind::File => b"file",
        EntryKind::Directory => b"dir",
        EntryKind::CurrentDirectory => b"cdir",
        EntryKind::ParentDirectory => b"pdir",
        EntryKind::Symlink {
            target: Some(target),
        } if !target.is_empty() && is_safe_value(target.as_bytes()) => {
            out.extend_from_slice(b"OS.unix=slink:");
            target.as_bytes()
        }
        EntryKind::Symlink { .. } => b"OS.unix=symlink",
        EntryKind::BlockDevice => b"OS.unix=blkdev",
        EntryKind::CharDevice => b"OS.unix=chrdev",
        EntryKind::Pipe => b"OS.unix=fifo",
        EntryKind::Socket => b"OS.unix=socket",
        EntryKind::Door => b"OS.unix=door",
        EntryKind::Other(text) if is_safe_value(text.as_bytes()) => text.as_bytes(),
        // Better a plain type than a value that breaks the line.
        EntryKind::Other(_) => b"file",
    };
    out.extend_from_slice(value);
}

/// The `ls` type letter of a kind.
fn type_letter(kind: &EntryKind) -> u8 {
    match kind {
        EntryKind::File | EntryKind::Other(_) => b'-',
        EntryKind::Directory | EntryKind::CurrentDirectory | EntryKind::ParentDirectory => b'd',
        EntryKind::Symlink { .. } => b'l',
        EntryKind::BlockDevice => b'b',
        EntryKind::CharDevice => b'c',
        EntryKind::Pipe => b'p',
        EntryKind::Socket => b's',
        EntryKind::Door => b'D',
    }
}

/// `rwxr-xr-x`, with `s`/`S` and `t`/`T` for the set-id and sticky bits.
fn push_mode_bits(mode: u32, out: &mut Vec<u8>) {
    const SPECIAL: [(u32, u8); 3] = [(0o4000, b's'), (0o2000, b's'), (0o1000, b't')];
    for (index, (special, letter)) in SPECIAL.into_iter().enumerate() {
        let shift = 3 * (2 - index as u32);
        let triple = (mode >> shift) & 0o7;
        out.push(if triple & 0o4 != 0 { b'r' } else { b'-' });
        out.push(if triple & 0o2 != 0 { b'w' } else { b'-' });
        let execute = triple & 0o1 != 0;
        out.push(match (mode & special != 0, execute) {
            (true, true) => letter,
            (true, false) => letter.to_ascii_uppercase(),
            (false, true) => b'x',
            (false, false) => b'-',
        });
    }
}

/// An owner or group column, left-aligned in 8, with separators made harmless.
fn push_column(value: Option<&[u8]>, out: &mut Vec<u8>) {
    let value = value
        .filter(|value| !value.is_empty())
        .unwrap_or(DEFAULT_OWNER);
    out.extend(value.iter().map(|&byte| {
        if byte == b' ' || byte.is_ascii_control() {
            b'_'
        } else {
            byte
        }
    }));
    out.extend(std::iter::repeat_n(
        b' ',
        8usize.saturating_sub(value.len()),
    ));
}

fn push_u64(value: u64, out: &mut Vec<u8>) {
    out.extend_from_slice(value.to_string().as_bytes());
}

fn push_right_aligned(value: u64, width: usize, out: &mut Vec<u8>) {
    let digits = value.to_string();
    out.extend(std::iter::repeat_n(
        b' ',
        width.saturating_sub(digits.len()),
    ));
    out.extend_from_slice(digits.as_bytes());
}

fn push_octal(value: u32, width: usize, out: &mut Vec<u8>) {
    let digits = format!("{value:0width$o}");
    out.extend_from_slice(digits.as_bytes());
}

/// `Mon DD HH:MM` for a recent time, `Mon DD  YYYY` for another, both in UTC.
fn push_list_date(time: SystemTime, now: SystemTime, out: &mut Vec<u8>) {
    let datetime = utc_datetime(time)
        .filter(|datetime| datetime.year() >= 0)
        .or_else(|| utc_datetime(SystemTime::UNIX_EPOCH));
    let Some(datetime) = datetime else {
        return;
    };
    let six_months_ago = now.checked_sub(SIX_MONTHS);
    let recent = six_months_ago.is_some_and(|earliest| time > earliest)
        && now
            .checked_add(FUTURE_TOLERANCE)
            .is_none_or(|latest| time <= latest);
    out.extend_from_slice(util::month_name(datetime.month()));
    out.push(b' ');
    push_right_aligned(datetime.day() as u64, 2, out);
    out.push(b' ');
    if recent {
        push_padded(out, datetime.hour() as u32, 2);
        out.push(b':');
        push_padded(out, datetime.minute() as u32, 2);
    } else {
        out.push(b' ');
        push_padded(out, datetime.year() as u32, 4);
    }
}

/// A name with CR sent as CR NUL and LF as NUL (see the module documentation).
pub(super) fn push_escaped_name(name: &[u8], out: &mut Vec<u8>) {
    for &byte in name {
        match byte {
            b'\r' => out.extend_from_slice(b"\r\0"),
            b'\n' => out.push(0),
            byte => out.push(byte),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::listing::{DeviceNumber, ModifiedTime, PermFact};
    use std::time::UNIX_EPOCH;

    fn time(year: i32, month: i8, day: i8, hour: i8, minute: i8) -> SystemTime {
        util::civil_to_time(year, month, day, hour, minute, 0, 0).unwrap()
    }

    #[test]
    fn recent_and_old_dates() {
        let now = time(2021, 6, 1, 12, 0);
        let mut out = Vec::new();
        push_list_date(time(2021, 2, 5, 10, 4), now, &mut out);
        assert_eq!(out, b"Feb  5 10:04");
        out.clear();
        push_list_date(time(2020, 11, 25, 0, 0), now, &mut out);
        assert_eq!(out, b"Nov 25  2020");
        out.clear();
        push_list_date(time(2021, 6, 2, 12, 0), now, &mut out);
        assert_eq!(out, b"Jun  2  2021");
    }

    #[test]
    fn devices_links_and_special_bits() {
        let now = time(2021, 6, 1, 12, 0);
        let mut entry = Entry::new("null", EntryKind::CharDevice);
        entry.device = Some(DeviceNumber { major: 1, minor: 3 });
        entry.permissions.unix_mode = Some(0o1666);
        entry.modified = Some(ModifiedTime::exact(time(2019, 1, 1, 0, 0)));
        let mut out = Vec::new();
        write_list_line(&entry, now, &mut out);
        assert_eq!(
            out,
            b"crw-rw-rwT    1 ftp      ftp        1,   3 Jan  1  2019 null\r\n"
        );
        let mut link = Entry::new(
            "a\nb",
            EntryKind::Symlink {
                target: Some("c\rd".into()),
            },
        );
        link.modified = Some(ModifiedTime::exact(UNIX_EPOCH));
        out.clear();
        write_list_line(&link, now, &mut out);
        assert!(
            out.ends_with(b"1970 a\0b -> c\r\0d\r\n"),
            "{}",
            out.escape_ascii()
        );
    }

    #[test]
    fn mlsx_fact_selection_and_unsafe_values() {
        let mut entry = Entry::new(
            "x",
            EntryKind::Symlink {
                target: Some("a;b".into()),
            },
        );
        entry.permissions.mlsx = Some(PermFact::from_letters(b"rw"));
        entry.permissions.unix_mode = Some(0o755);
        entry.owner = Some("semi;colon".into());
        entry.group = Some("staff".into());
        let mut out = Vec::new();
        write_mlsx_line(&entry, FactSet::ALL, &mut out);
        assert_eq!(
            out,
            b"type=OS.unix=symlink;perm=rw;UNIX.mode=0755;UNIX.group=staff; x\r\n"
        );
        out.clear();
        write_mlst_entry(&entry, FactSet::EMPTY, &mut out);
        assert_eq!(out, b"  x\r\n");
    }

    #[test]
    fn opts_argument() {
        assert_eq!(FactSet::parse_opts(b""), FactSet::EMPTY);
        assert_eq!(FactSet::parse_opts(b"MLST"), FactSet::EMPTY);
        assert_eq!(
            FactSet::parse_opts(b"UNIX.MODE;media-type"),
            [MlsxFact::UnixMode, MlsxFact::MediaType]
                .into_iter()
                .collect()
        );
    }
}
