//! NetWare-style LIST lines: a type letter, the trustee rights in brackets, an owner, a
//! size, a Unix-style date and the name.
//!
//! ```text
//! d [R----F--] supervisor            512       Jan 16 18:53    login
//! - [RWCEAFMS] jdoe                 2371       Feb  5  2020    notes.txt
//! ```
//!
//! Unlike `ls`, NetWare pads the date column on the right, so the name starts after the
//! whole run of spaces; a leading space in a name cannot survive this format. The
//! rights letters have no Unix equivalent and stay in the raw line only.

use std::time::SystemTime;

use super::unix::find_date;
use super::util;
use super::{Entry, EntryKind, ListError, ListField, ListingFormat};
use crate::{Pathname, Text};

/// Whether the line starts with `d [` or `- [`.
pub(super) fn looks_like(line: &[u8]) -> bool {
    matches!(line, [b'd' | b'-', b' ', b'[', ..])
}

pub(super) fn parse(line: &[u8], now: SystemTime) -> Result<Entry, ListError> {
    let bad = |field| ListError::BadField {
        format: ListingFormat::NetWare,
        field,
    };
    let kind = if line[0] == b'd' {
        EntryKind::Directory
    } else {
        EntryKind::File
    };
    let columns = util::columns(line, 8);
    let rights = columns.get(1).ok_or(bad(ListField::Mode))?.of(line);
    if !(rights.starts_with(b"[") && rights.ends_with(b"]")) {
        return Err(bad(ListField::Mode));
    }
    let (date_index, modified, date_end) =
        find_date(line, &columns, 3, now).ok_or(bad(ListField::Date))?;
    let size = util::parse_u64(columns[date_index - 1].of(line)).ok_or(bad(ListField::Size))?;
    let owner = (date_index > 3).then(|| {
        let (first, last) = (columns[2], columns[date_index - 2]);
        Text::from(line[first.start..last.end].to_vec())
    });
    let rest = &line[date_end..];
    let name_start = rest.iter().position(|&byte| byte != b' ');
    let name = match name_start {
        Some(start) if start > 0 => &rest[start..],
        _ => return Err(bad(ListField::Name)),
    };

    let mut entry = Entry::new(Pathname::from(util::unescape_name(name)), kind);
    entry.size = Some(size);
    entry.modified = Some(modified);
    entry.owner = owner;
    entry.format = ListingFormat::NetWare;
    entry.raw = Text::from(line.to_vec());
    Ok(entry)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_padded_line() {
        let now = util::civil_to_time(2021, 6, 1, 0, 0, 0, 0).unwrap();
        let line = b"d [R----F--] supervisor            512       Jan 16 18:53    login";
        let entry = parse(line, now).unwrap();
        assert_eq!(entry.kind, EntryKind::Directory);
        assert_eq!(entry.name, "login");
        assert_eq!(entry.size, Some(512));
        assert_eq!(entry.owner.unwrap(), "supervisor");
        assert!(parse(b"- [RWCEAFMS] x 1 Jan 16 18:53", now).is_err());
        assert!(parse(b"- RWCEAFMS x 1 Jan 16 18:53 y", now).is_err());
    }
}
