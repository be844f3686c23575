//! How a server writes one directory entry: `ls -l` lines for LIST and STAT, fact lines
//! for MLSD and MLST, bare names for NLST. The session and every adapter use this one
//! place, so that all listings a server sends agree.

use std::time::{Duration, SystemTime};

use super::events::{FileKind, ListingFormat, Metadata};

/// About six months: entries older (or further in the future) than this show a year
/// instead of a time in `ls -l` lines, as `ls` does.
const RECENT: Duration = Duration::from_secs(60 * 60 * 24 * 182);

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Writes one entry in `format`, CRLF-terminated, for a data connection.
///
/// `now` decides between `Mon DD HH:MM` and `Mon DD  YYYY` in `ls -l` lines. A CR in a
/// name is written as CR NUL and a LF as NUL (RFC 2640; a raw LF would split the entry).
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use ftp_proto::server::{format_entry, ListingFormat, Metadata};
///
/// let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
/// let file = Metadata::file(42, Some(now - Duration::from_secs(3600))).with_mode(0o644);
/// let mut out = Vec::new();
/// format_entry(&ListingFormat::Unix, b"notes.txt", &file, now, &mut out);
/// assert_eq!(out, b"-rw-r--r-- 1 ftp ftp           42 Nov 14 21:13 notes.txt\r\n");
/// ```
pub fn format_entry(
    format: &ListingFormat,
    name: &[u8],
    metadata: &Metadata,
    now: SystemTime,
    out: &mut Vec<u8>,
) {
    match format {
        ListingFormat::Unix => write_unix_line(out, name, metadata, now, NameEscaping::Data),
        ListingFormat::Names => write_name(out, name, NameEscaping::Data),
        ListingFormat::Machine { facts } => {
            write_facts(out, metadata, facts);
            write_name(out, name, NameEscaping::Data);
        }
    }
    out.extend_from_slice(b"\r\n");
}

/// Writes `fact=value;` for each chosen fact the metadata can fill, then the single
/// space that separates facts from the name (RFC 3659 §7.2).
pub(crate) fn write_facts(out: &mut Vec<u8>, metadata: &Metadata, facts: &[&str]) {
    for &fact in facts {
        match fact {
            "type" => {
                let kind: &[u8] = match &metadata.kind {
                    FileKind::File => b"file",
                    FileKind::Directory => b"dir",
                    FileKind::Symlink(_) => b"OS.unix=symlink",
                    FileKind::Other => b"OS.unix=special",
                };
                push_fact(out, b"type", kind);
            }
            "size" => push_fact(out, b"size", metadata.size.to_string().as_bytes()),
            "modify" => {
                let mut time = Vec::new();
                if let Some(modified) = metadata.modified {
                    if crate::time::write_timestamp(modified, &mut time) {
                        push_fact(out, b"modify", &time);
                    }
                }
            }
            "perm" => {
                let perm: &[u8] = match metadata.kind {
                    FileKind::Directory => b"flcdmpe",
                    _ => b"adfrw",
                };
                push_fact(out, b"perm", perm);
            }
            "unix.mode" => {
                if let Some(mode) = metadata.mode {
                    push_fact(
                        out,
                        b"UNIX.mode",
                        format!("0{:o}", mode & 0o7777).as_bytes(),
                    );
                }
            }
            _ => {}
        }
    }
    out.push(b' ');
}

fn push_fact(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.push(b'=');
    out.extend_from_slice(value);
    out.push(b';');
}

/// Where a name is written, which decides how it is escaped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NameEscaping {
    /// A data-connection listing: CR as CR NUL, LF as NUL.
    Data,
    /// Reply text: LF as NUL only, because `Reply::encode` sends every CR as CR NUL.
    Reply,
}

/// Writes a name so that it stays on one line.
pub(crate) fn write_name(out: &mut Vec<u8>, name: &[u8], escaping: NameEscaping) {
    for &byte in name {
        match byte {
            b'\r' if escaping == NameEscaping::Data => out.extend_from_slice(b"\r\0"),
            b'\n' => out.push(0),
            _ => out.push(byte),
        }
    }
}

/// An `ls -l` line without its line end.
pub(crate) fn write_unix_line(
    out: &mut Vec<u8>,
    name: &[u8],
    metadata: &Metadata,
    now: SystemTime,
    escaping: NameEscaping,
) {
    let kind = match metadata.kind {
        FileKind::Directory => b'd',
        FileKind::Symlink(_) => b'l',
        FileKind::File | FileKind::Other => b'-',
    };
    let mode = metadata.mode.unwrap_or(match metadata.kind {
        FileKind::Directory => 0o755,
        _ => 0o644,
    });
    out.push(kind);
    for shift in [6, 3, 0] {
        let bits = (mode >> shift) & 7;
        out.push(if bits & 4 != 0 { b'r' } else { b'-' });
        out.push(if bits & 2 != 0 { b'w' } else { b'-' });
        out.push(if bits & 1 != 0 { b'x' } else { b'-' });
    }
    out.extend_from_slice(format!(" 1 ftp ftp {:>12} ", metadata.size).as_bytes());
    write_unix_date(
        out,
        metadata.modified.unwrap_or(SystemTime::UNIX_EPOCH),
        now,
    );
    out.push(b' ');
    write_name(out, name, escaping);
    if let FileKind::Symlink(Some(target)) = &metadata.kind {
        out.extend_from_slice(b" -> ");
        write_name(out, target.as_bytes(), escaping);
    }
}

/// `Mon DD HH:MM` within about six months of `now`, `Mon DD  YYYY` otherwise (UTC).
fn write_unix_date(out: &mut Vec<u8>, modified: SystemTime, now: SystemTime) {
    let Some(date) = crate::time::utc_datetime(modified) else {
        out.extend_from_slice(b"Jan  1  1970");
        return;
    };
    let distance = match now.duration_since(modified) {
        Ok(age) => age,
        Err(ahead) => ahead.duration(),
    };
    let month = MONTHS[(date.month() - 1) as usize];
    let day = date.day();
    if distance < RECENT {
        out.extend_from_slice(
            format!("{month} {day:>2} {:02}:{:02}", date.hour(), date.minute()).as_bytes(),
        );
    } else {
        out.extend_from_slice(format!("{month} {day:>2}  {:>4}", date.year()).as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::Text;
    use std::time::UNIX_EPOCH;

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
            b"drwxr-xr-x 1 ftp ftp            0 Sep 13  2020 old dir\r\n"
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
    }

    #[test]
    fn machine_lines_honour_the_chosen_facts() {
        let now = at(1_700_000_000);
        let file = Metadata::file(7, Some(at(1_700_000_000))).with_mode(0o640);
        let mut out = Vec::new();
        let all = ListingFormat::Machine {
            facts: vec!["type", "size", "modify", "perm", "unix.mode"],
        };
        format_entry(&all, b"a b;c", &file, now, &mut out);
        assert_eq!(
            out,
            b"type=file;size=7;modify=20231114221320;perm=adfrw;UNIX.mode=0640; a b;c\r\n"
        );
        out.clear();
        let few = ListingFormat::Machine {
            facts: vec!["size"],
        };
        format_entry(&few, b"x", &file, now, &mut out);
        assert_eq!(out, b"size=7; x\r\n");
    }
}
