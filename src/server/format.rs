//! How a server writes one directory entry: the bridge from the server's [`Metadata`]
//! to the [`listing`](crate::listing) formatters, so that every listing a server sends
//! (LIST, NLST, MLSD over data; MLST and STAT over control) comes from one writer.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::config::Capabilities;
use super::events::{FileKind, ListingFormat, Metadata};
use crate::listing::{self, Entry, EntryKind, FactSet, MlsxFact, ModifiedTime, PermFact};
use crate::text::Pathname;

/// The MLSx facts this server can fill from [`Metadata`]; all are on by default.
pub const SUPPORTED_FACTS: FactSet = FactSet::EMPTY
    .with(MlsxFact::Type)
    .with(MlsxFact::Size)
    .with(MlsxFact::Modify)
    .with(MlsxFact::Perm)
    .with(MlsxFact::UnixMode);

/// Writes one entry in `format`, CRLF-terminated, for a data connection.
///
/// `now` decides between `Mon DD HH:MM` and `Mon DD  YYYY` in `ls -l` lines. A CR in a
/// name is written as CR NUL and a LF as NUL (see [`listing`](crate::listing)).
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use ftp_proto::server::{format_entry, ListingFormat, Metadata};
///
/// let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
/// let file = Metadata::file(42, Some(now - Duration::from_secs(3600))).with_mode(0o644);
/// let mut out = Vec::new();
/// format_entry(&ListingFormat::Unix, b"notes.txt", &file, now, &mut out);
/// assert_eq!(out, b"-rw-r--r--    1 ftp      ftp            42 Nov 14 21:13 notes.txt\r\n");
/// ```
pub fn format_entry(
    format: &ListingFormat,
    name: &[u8],
    metadata: &Metadata,
    now: SystemTime,
    out: &mut Vec<u8>,
) {
    match format {
        ListingFormat::Names => listing::write_nlst_line(name, out),
        ListingFormat::Unix => listing::write_list_line(
            &entry(name, metadata, false, Capabilities::READ_ONLY),
            now,
            out,
        ),
        ListingFormat::Machine {
            facts,
            writable,
            capabilities,
        } => listing::write_mlsx_line(
            &entry(name, metadata, *writable, *capabilities),
            *facts,
            out,
        ),
    }
}

/// The MLST entry line for a reply: ` facts; name`, without a line end, with CR left
/// raw (the reply encoder sends it as CR NUL).
pub(crate) fn mlst_reply_line(
    name: &[u8],
    metadata: &Metadata,
    facts: FactSet,
    writable: bool,
    capabilities: Capabilities,
) -> Vec<u8> {
    let mut line = Vec::new();
    listing::write_mlst_entry(
        &entry(name, metadata, writable, capabilities),
        facts,
        &mut line,
    );
    for_reply(line)
}

/// An `ls -l` line for a reply (STAT), without a line end, CR left raw.
pub(crate) fn unix_reply_line(name: &[u8], metadata: &Metadata, now: SystemTime) -> Vec<u8> {
    let mut line = Vec::new();
    listing::write_list_line(
        &entry(name, metadata, false, Capabilities::READ_ONLY),
        now,
        &mut line,
    );
    for_reply(line)
}

/// Turns a data-connection line into reply text: drops the CRLF and undoes the CR NUL
/// escape, which `Reply::encode` applies itself (a NUL cannot be in a name, so every
/// CR NUL here is an escaped CR).
fn for_reply(mut line: Vec<u8>) -> Vec<u8> {
    line.truncate(line.len().saturating_sub(2));
    let mut unescaped = Vec::with_capacity(line.len());
    let mut index = 0;
    while index < line.len() {
        unescaped.push(line[index]);
        index += if line[index] == b'\r' && line.get(index + 1) == Some(&0) {
            2
        } else {
            1
        };
    }
    unescaped
}

/// The listing entry for a name and its metadata. `writable` and the back end's
/// `capabilities` decide the MLSx `perm` letters: what this user may do here, not what
/// the file system would allow.
fn entry(name: &[u8], metadata: &Metadata, writable: bool, capabilities: Capabilities) -> Entry {
    let kind = match &metadata.kind {
        FileKind::File => EntryKind::File,
        FileKind::Directory => EntryKind::Directory,
        FileKind::Symlink(target) => EntryKind::Symlink {
            target: target
                .as_ref()
                .map(|target| Pathname::from(target.as_bytes().to_vec())),
        },
        FileKind::Other => EntryKind::Other("special".into()),
    };
    let directory = kind == EntryKind::Directory;
    let mut entry = Entry::new(Pathname::from(name.to_vec()), kind);
    entry.size = Some(metadata.size);
    entry.modified = metadata
        .modified
        .map(|modified| ModifiedTime::exact(to_milliseconds(modified)));
    entry.permissions.unix_mode = metadata.mode.map(|mode| mode & 0o7777);
    entry.permissions.mlsx = Some(PermFact::from_letters(&perm_letters(
        directory,
        writable,
        capabilities,
    )));
    entry
}

/// `time` rounded down to a whole millisecond, so that a `modify` fact carries at most
/// three fractional digits. RFC 3659 §2.3 allows any number, but strict clients (and
/// people reading logs) expect milliseconds at most, and file systems keep nanoseconds.
/// The parsers still read any number of digits.
pub(crate) fn to_milliseconds(time: SystemTime) -> SystemTime {
    const NANOS_PER_MILLI: u32 = 1_000_000;
    let excess = match time.duration_since(UNIX_EPOCH) {
        Ok(after) => Duration::from_nanos(u64::from(after.subsec_nanos() % NANOS_PER_MILLI)),
        // Before the epoch, rounding down moves away from it: subtract what is missing
        // to the next whole millisecond of the distance.
        Err(before) => match before.duration().subsec_nanos() % NANOS_PER_MILLI {
            0 => Duration::ZERO,
            rest => Duration::from_nanos(u64::from(NANOS_PER_MILLI - rest)),
        },
    };
    time.checked_sub(excess).unwrap_or(time)
}

/// RFC 3659 §7.5.5 letters: `a` append, `d` delete, `f` rename, `r` retrieve, `w` store;
/// for directories `c` create, `e` enter, `l` list, `m` make directory, `p` purge.
fn perm_letters(directory: bool, writable: bool, capabilities: Capabilities) -> Vec<u8> {
    let mut letters = Vec::with_capacity(7);
    let rename = capabilities.rename && (!directory || capabilities.rename_directories);
    if directory {
        if writable && rename {
            letters.push(b'f');
        }
        letters.push(b'l');
        if writable {
            letters.extend_from_slice(b"cdmp");
        }
        letters.push(b'e');
    } else {
        if writable && capabilities.append {
            letters.push(b'a');
        }
        if writable {
            letters.push(b'd');
        }
        if writable && rename {
            letters.push(b'f');
        }
        letters.push(b'r');
        if writable {
            letters.push(b'w');
        }
    }
    letters
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::Text;
    use std::time::{Duration, UNIX_EPOCH};

    fn at(seconds: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(seconds)
    }

    #[test]
    fn unix_lines_show_a_year_for_old_entries() {
        let now = at(1_700_000_000);
        let mut out = Vec::new();
        let old = Metadata::directory(Some(at(1_600_000_000)));
        format_entry(&ListingFormat::Unix, b"old dir", &old, now, &mut out);
        assert_eq!(
            out,
            b"drwxr-xr-x    1 ftp      ftp             0 Sep 13  2020 old dir\r\n"
        );
    }

    #[test]
    fn links_and_hostile_names() {
        let now = at(1_700_000_000);
        let mut link = Metadata::file(4, Some(now));
        link.kind = FileKind::Symlink(Some(Text::from("target")));
        let mut out = Vec::new();
        format_entry(&ListingFormat::Unix, b"ln", &link, now, &mut out);
        assert!(
            out.ends_with(b" ln -> target\r\n"),
            "{}",
            out.escape_ascii()
        );
        out.clear();
        format_entry(
            &ListingFormat::Names,
            b"evil\r\n226 done",
            &link,
            now,
            &mut out,
        );
        assert_eq!(out, b"evil\r\x00\x00226 done\r\n");
        // In reply text a CR stays raw: the reply encoder escapes it once.
        assert!(unix_reply_line(b"a\rb", &link, now).ends_with(b" a\rb -> target"));
    }

    #[test]
    fn machine_lines_honour_the_chosen_facts_and_the_user() {
        let now = at(1_700_000_000);
        let file = Metadata::file(7, Some(at(1_700_000_000))).with_mode(0o640);
        let mut out = Vec::new();
        let all = ListingFormat::Machine {
            facts: SUPPORTED_FACTS,
            writable: true,
            capabilities: Capabilities::ALL,
        };
        format_entry(&all, b"a b;c", &file, now, &mut out);
        assert_eq!(
            out,
            b"type=file;size=7;modify=20231114221320;perm=adfrw;UNIX.mode=0640; a b;c\r\n"
        );
        out.clear();
        let few = ListingFormat::Machine {
            facts: [MlsxFact::Size, MlsxFact::Perm].into_iter().collect(),
            writable: false,
            capabilities: Capabilities::ALL,
        };
        format_entry(&few, b"x", &file, now, &mut out);
        assert_eq!(out, b"size=7;perm=r; x\r\n");
    }

    #[test]
    fn modify_facts_carry_at_most_three_fractional_digits() {
        let now = at(1_700_000_000);
        let facts = ListingFormat::Machine {
            facts: [MlsxFact::Modify].into_iter().collect(),
            writable: false,
            capabilities: Capabilities::ALL,
        };
        let cases: [(SystemTime, &[u8]); 5] = [
            (at(1_700_000_000), b"modify=20231114221320; f\r\n"),
            (
                at(1_700_000_000) + Duration::from_nanos(123_456_789),
                b"modify=20231114221320.123; f\r\n",
            ),
            (
                at(1_700_000_000) + Duration::from_nanos(500_000_001),
                b"modify=20231114221320.5; f\r\n",
            ),
            (
                at(1_700_000_000) + Duration::from_nanos(999_999),
                b"modify=20231114221320; f\r\n",
            ),
            // Before 1970, rounding down moves away from the epoch.
            (
                UNIX_EPOCH - Duration::from_nanos(1),
                b"modify=19691231235959.999; f\r\n",
            ),
        ];
        for (modified, expected) in cases {
            let mut out = Vec::new();
            format_entry(
                &facts,
                b"f",
                &Metadata::file(1, Some(modified)),
                now,
                &mut out,
            );
            assert_eq!(
                out.escape_ascii().to_string(),
                expected.escape_ascii().to_string()
            );
        }
        // MLST over the control connection goes through the same entry.
        let line = mlst_reply_line(
            b"f",
            &Metadata::file(1, Some(at(1) + Duration::from_nanos(987_654_321))),
            [MlsxFact::Modify].into_iter().collect(),
            false,
            Capabilities::ALL,
        );
        assert_eq!(line, b" modify=19700101000001.987; f");
    }

    #[test]
    fn a_modify_fact_with_many_digits_still_parses() {
        let entry = crate::listing::parse_mlsx_line(b"modify=20231114221320.123456789; f").unwrap();
        let modified = entry.modified.unwrap().time;
        assert_eq!(
            modified,
            at(1_700_000_000) + Duration::from_nanos(123_456_789)
        );
    }

    #[test]
    fn perm_letters_leave_out_what_the_back_end_cannot_do() {
        let mut objects = Capabilities::ALL;
        objects.append = false;
        objects.rename_directories = false;
        let letters = |directory, writable, capabilities| {
            String::from_utf8(perm_letters(directory, writable, capabilities)).unwrap()
        };
        assert_eq!(letters(false, true, Capabilities::ALL), "adfrw");
        assert_eq!(letters(true, true, Capabilities::ALL), "flcdmpe");
        assert_eq!(letters(false, true, objects), "dfrw");
        assert_eq!(letters(true, true, objects), "lcdmpe");
        assert_eq!(letters(false, false, objects), "r");
        assert_eq!(letters(true, false, Capabilities::ALL), "le");
    }
}
