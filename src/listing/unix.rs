//! Unix `ls -l` LIST lines in their many variants, and the `total N` line.
//!
//! ```text
//! -rw-r--r--+  1 owner group   1234 Feb  5 10:04 name with  spaces
//! drwxr-xr-x   2 1000          4096 Feb  5  2020 no-group-column
//! crw-rw-rw-   1 root  root    1,   3 2021-02-05 22:04 null
//! lrwxrwxrwx   1 root  root       7 Feb  5 10:04 link -> target
//! ```
//!
//! Columns are separated by runs of spaces, but the name is everything after exactly
//! one space following the date, so names keep leading and inner spaces. The date is
//! found by its shape rather than by column number, because servers drop the group or
//! link-count column and device files take two columns for their size.

use std::time::{Duration, SystemTime};

use super::util::{self, Column};
use super::{
    DeviceNumber, Entry, EntryKind, ListError, ListField, ListingFormat, ModeMark, ModifiedTime,
    Permissions, TimePrecision,
};
use crate::{Pathname, Text};

/// Enough columns for the longest layout before a name: mode, links, owner, group, an
/// extra column, `major,` `minor`, and three date columns, plus slack.
const MAX_LEADING_COLUMNS: usize = 12;

/// `total N` (any case), as `ls` prints before the entries.
pub(super) fn parse_total(line: &[u8]) -> Option<u64> {
    let columns = util::columns(line, 3);
    match columns.as_slice() {
        [word, number] if word.of(line).eq_ignore_ascii_case(b"total") => {
            util::parse_u64(number.of(line))
        }
        _ => None,
    }
}

/// Whether the line starts like a Unix mode column: a type letter then nine
/// permission characters.
pub(super) fn looks_like(line: &[u8]) -> bool {
    line.len() >= 10
        && b"-dlbcpsD".contains(&line[0])
        && line[1..10].iter().all(|byte| b"rwxsStTl-".contains(byte))
}

pub(super) fn parse(line: &[u8], now: SystemTime) -> Result<Entry, ListError> {
    let bad = |field| ListError::BadField {
        format: ListingFormat::Unix,
        field,
    };
    let columns = util::columns(line, MAX_LEADING_COLUMNS);
    let mode_column = columns[0].of(line);
    let (kind, unix_mode, mode_mark) = parse_mode(mode_column).ok_or(bad(ListField::Mode))?;
    let (date_index, modified, date_end) =
        find_date(line, &columns, 2, now).ok_or(bad(ListField::Date))?;
    let name = line
        .get(date_end..)
        .and_then(|rest| rest.strip_prefix(b" "))
        .filter(|name| !name.is_empty())
        .ok_or(bad(ListField::Name))?;

    let is_device = matches!(kind, EntryKind::BlockDevice | EntryKind::CharDevice);
    let middle = &columns[1..date_index];
    let (size, device, owner_columns) =
        parse_size(line, middle, is_device).ok_or(bad(ListField::Size))?;
    let owners = parse_owners(line, owner_columns);

    let mut entry = Entry::new(Pathname::default(), kind);
    set_name_and_target(&mut entry, name);
    entry.size = size;
    entry.device = device;
    entry.modified = Some(modified);
    entry.permissions = Permissions {
        unix_mode: Some(unix_mode),
        mode_mark,
        mlsx: None,
    };
    entry.link_count = owners.link_count;
    entry.owner = owners.owner;
    entry.group = owners.group;
    entry.format = ListingFormat::Unix;
    entry.raw = Text::from(line.to_vec());
    Ok(entry)
}

/// Sets the entry's name, splitting `name -> target` for a symbolic link at the first
/// ` -> ` (a link whose own name contains ` -> ` cannot be told apart in this format).
pub(super) fn set_name_and_target(entry: &mut Entry, listed: &[u8]) {
    if let EntryKind::Symlink { target } = &mut entry.kind {
        if let Some(arrow) = memchr::memmem::find(listed, b" -> ") {
            *target = Some(Pathname::from(util::unescape_name(&listed[arrow + 4..])));
            entry.name = Pathname::from(util::unescape_name(&listed[..arrow]));
            return;
        }
    }
    entry.name = Pathname::from(util::unescape_name(listed));
}

/// The type letter, permission bits and trailing mark of a mode column.
fn parse_mode(column: &[u8]) -> Option<(EntryKind, u32, Option<ModeMark>)> {
    let (mode, mark) = match column.len() {
        10 => (column, None),
        11 => {
            let mark = match column[10] {
                b'+' => ModeMark::AccessControlList,
                b'@' => ModeMark::ExtendedAttributes,
                b'.' => ModeMark::SecurityContext,
                _ => return None,
            };
            (&column[..10], Some(mark))
        }
        _ => return None,
    };
    let kind = match mode[0] {
        b'-' => EntryKind::File,
        b'd' => EntryKind::Directory,
        b'l' => EntryKind::Symlink { target: None },
        b'b' => EntryKind::BlockDevice,
        b'c' => EntryKind::CharDevice,
        b'p' => EntryKind::Pipe,
        b's' => EntryKind::Socket,
        b'D' => EntryKind::Door,
        _ => return None,
    };
    // (the special bit an `s`/`S`/`t`/`T` in this triple's execute place stands for,
    // the letter meaning "special bit set", the letter meaning "special and execute").
    const TRIPLES: [(u32, u8, u8); 3] = [
        (0o4000, b'S', b's'),
        (0o2000, b'S', b's'),
        (0o1000, b'T', b't'),
    ];
    let mut bits = 0;
    for (index, (triple, &(special, without_x, with_x))) in
        mode[1..].chunks_exact(3).zip(TRIPLES.iter()).enumerate()
    {
        let shift = 3 * (2 - index as u32);
        match triple[0] {
            b'r' => bits |= 0o4 << shift,
            b'-' => {}
            _ => return None,
        }
        match triple[1] {
            b'w' => bits |= 0o2 << shift,
            b'-' => {}
            _ => return None,
        }
        match triple[2] {
            b'x' => bits |= 0o1 << shift,
            b'-' => {}
            letter if letter == with_x => bits |= special | (0o1 << shift),
            letter if letter == without_x => bits |= special,
            // Mandatory locking on old System V: set-group-id without group execute.
            b'l' if index == 1 => bits |= special,
            _ => return None,
        }
    }
    Some((kind, bits, mark))
}

/// Finds the date among the columns from `first` on: `Mon DD HH:MM`, `Mon DD YYYY`,
/// or ISO `YYYY-MM-DD HH:MM[:SS[.fff]] [+HHMM]`. Returns the index of its first
/// column, the time, and the byte offset where the date ends.
pub(super) fn find_date(
    line: &[u8],
    columns: &[Column],
    first: usize,
    now: SystemTime,
) -> Option<(usize, ModifiedTime, usize)> {
    (first..columns.len()).find_map(|index| {
        let text = |offset: usize| columns.get(index + offset).map(|column| column.of(line));
        if let Some(month) = util::parse_month(text(0)?) {
            let day = parse_day(text(1)?)?;
            let last = *columns.get(index + 2)?;
            let modified = month_day_time_or_year(month, day, last.of(line), now)?;
            return Some((index, modified, last.end));
        }
        let (modified, end) = iso_date(line, columns, index)?;
        Some((index, modified, end))
    })
}

fn parse_day(text: &[u8]) -> Option<i8> {
    let day = util::parse_u32(text).filter(|day| (1..=31).contains(day))?;
    (text.len() <= 2).then_some(day as i8)
}

/// The third date column: `HH:MM` (year inferred) or `YYYY` (day precision).
fn month_day_time_or_year(
    month: i8,
    day: i8,
    text: &[u8],
    now: SystemTime,
) -> Option<ModifiedTime> {
    if let Some((hour, minute)) = util::parse_hour_minute(text) {
        let time = util::infer_year(month, day, hour, minute, now)?;
        return Some(ModifiedTime {
            time,
            precision: TimePrecision::Minute,
            year_inferred: true,
            utc: false,
        });
    }
    if text.len() != 4 {
        return None;
    }
    let year = util::parse_u32(text)?;
    let time = util::civil_to_time(year as i32, month, day, 0, 0, 0, 0)?;
    Some(ModifiedTime {
        time,
        precision: TimePrecision::Day,
        year_inferred: false,
        utc: false,
    })
}

/// `YYYY-MM-DD` and a time column, optionally with seconds, a fraction and a zone
/// column (`ls --time-style=long-iso` or `full-iso`).
fn iso_date(line: &[u8], columns: &[Column], index: usize) -> Option<(ModifiedTime, usize)> {
    let date = columns.get(index)?.of(line);
    let (year, month, day) = parse_iso_date(date)?;
    let time_column = columns.get(index + 1)?;
    let time = time_column.of(line);
    let (hour_minute, seconds) = match time.len() {
        5 => (time, None),
        n if n >= 8 && time[5] == b':' => (&time[..5], Some(&time[6..])),
        _ => return None,
    };
    let (hour, minute) = util::parse_hour_minute(hour_minute)?;
    let (second, nanos, precision) = match seconds {
        None => (0, 0, TimePrecision::Minute),
        Some(seconds) => parse_seconds(seconds)?,
    };
    let mut end = time_column.end;
    let mut time = util::civil_to_time(year, month, day, hour, minute, second, nanos)?;
    let mut utc = false;
    if let Some(zone_column) = columns.get(index + 2) {
        if let Some(offset) = parse_zone(zone_column.of(line)) {
            time = if offset >= 0 {
                time.checked_sub(Duration::from_secs(offset.unsigned_abs()))?
            } else {
                time.checked_add(Duration::from_secs(offset.unsigned_abs()))?
            };
            utc = true;
            end = zone_column.end;
        }
    }
    let modified = ModifiedTime {
        time,
        precision,
        year_inferred: false,
        utc,
    };
    Some((modified, end))
}

/// `YYYY-MM-DD` as year, month and day.
pub(super) fn parse_iso_date(text: &[u8]) -> Option<(i32, i8, i8)> {
    if text.len() != 10 || text[4] != b'-' || text[7] != b'-' {
        return None;
    }
    let year = util::parse_u32(&text[..4])?;
    let month = util::parse_u32(&text[5..7])?;
    let day = util::parse_u32(&text[8..])?;
    Some((year as i32, month as i8, day as i8))
}

/// `SS` or `SS.fff…` as seconds, nanoseconds and the precision they show.
fn parse_seconds(text: &[u8]) -> Option<(i8, i32, TimePrecision)> {
    let second = util::parse_u32(text.get(..2)?).filter(|&second| second < 60)? as i8;
    match &text[2..] {
        [] => Some((second, 0, TimePrecision::Second)),
        [b'.', fraction @ ..] if !fraction.is_empty() => {
            let kept = &fraction[..fraction.len().min(9)];
            let value = util::parse_u32(kept)?;
            if !fraction.iter().all(u8::is_ascii_digit) {
                return None;
            }
            let nanos = value * 10u32.pow(9 - kept.len() as u32);
            Some((second, nanos as i32, TimePrecision::Fraction))
        }
        _ => None,
    }
}

/// `+HHMM` or `-HHMM` as an offset east of UTC in seconds.
fn parse_zone(text: &[u8]) -> Option<i64> {
    let (sign, digits) = match text {
        [b'+', digits @ ..] => (1, digits),
        [b'-', digits @ ..] => (-1, digits),
        _ => return None,
    };
    if digits.len() != 4 {
        return None;
    }
    let hours = i64::from(util::parse_u32(&digits[..2])?);
    let minutes = i64::from(util::parse_u32(&digits[2..])?);
    Some(sign * (hours * 3600 + minutes * 60))
}

/// The size (or device numbers) from the last column(s) before the date, and the
/// columns left for link count, owner and group.
#[allow(clippy::type_complexity)]
fn parse_size<'c>(
    line: &[u8],
    middle: &'c [Column],
    is_device: bool,
) -> Option<(Option<u64>, Option<DeviceNumber>, &'c [Column])> {
    let (last, before) = middle.split_last()?;
    let last_text = last.of(line);
    // `major, minor` in two columns.
    if let Some((previous, rest)) = before.split_last() {
        if let Some(major) = previous.of(line).strip_suffix(b",") {
            if let (Some(major), Some(minor)) = (util::parse_u32(major), util::parse_u32(last_text))
            {
                return Some((None, Some(DeviceNumber { major, minor }), rest));
            }
        }
    }
    // `major,minor` in one.
    if let Some(comma) = memchr::memchr(b',', last_text) {
        let major = util::parse_u32(&last_text[..comma])?;
        let minor = util::parse_u32(&last_text[comma + 1..])?;
        return Some((None, Some(DeviceNumber { major, minor }), before));
    }
    match util::parse_u64(last_text) {
        Some(size) => Some((Some(size), None, before)),
        // Some systems print a device's numbers in a form of their own (`0x5b`).
        None if is_device => Some((None, None, before)),
        None => None,
    }
}

pub(super) struct Owners {
    pub(super) link_count: Option<u64>,
    pub(super) owner: Option<Text<'static>>,
    pub(super) group: Option<Text<'static>>,
}

/// Link count, owner and group from the columns between mode and size, whichever of
/// them the server printed.
fn parse_owners(line: &[u8], columns: &[Column]) -> Owners {
    let text = |column: &Column| Some(Text::from(column.of(line).to_vec()));
    let span = |columns: &[Column]| match columns {
        [] => None,
        [first, .., last] => Some(Text::from(line[first.start..last.end].to_vec())),
        [only] => text(only),
    };
    let link_count = columns
        .first()
        .and_then(|column| util::parse_u64(column.of(line)));
    match (columns, link_count) {
        ([], _) => Owners {
            link_count: None,
            owner: None,
            group: None,
        },
        ([_], Some(count)) => Owners {
            link_count: Some(count),
            owner: None,
            group: None,
        },
        ([owner], None) => Owners {
            link_count: None,
            owner: text(owner),
            group: None,
        },
        // No link count (it would be a number): owner, then a group of one or more
        // columns.
        ([owner, group @ ..], None) => Owners {
            link_count: None,
            owner: text(owner),
            group: span(group),
        },
        // A link count and an owner, then a group if there is any more.
        ([_, owner, group @ ..], Some(count)) => Owners {
            link_count: Some(count),
            owner: text(owner),
            group: span(group),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn now() -> SystemTime {
        util::civil_to_time(2021, 6, 1, 12, 0, 0, 0).unwrap()
    }

    #[test]
    fn mode_bits_and_marks() {
        let (kind, bits, mark) = parse_mode(b"-rwsr-sr-t+").unwrap();
        assert_eq!(kind, EntryKind::File);
        assert_eq!(bits, 0o7755);
        assert_eq!(mark, Some(ModeMark::AccessControlList));
        assert_eq!(parse_mode(b"drwSr-Sr-T").unwrap().1, 0o7644);
        assert_eq!(parse_mode(b"-rw-r-lr--").unwrap().1, 0o2644);
        assert!(parse_mode(b"-rwxr-xr-q").is_none());
        assert!(parse_mode(b"-rwxr-xr-x!").is_none());
        assert!(parse_mode(b"xrwxr-xr-x").is_none());
    }

    #[test]
    fn name_starts_after_one_space() {
        let entry = parse(b"-rw-r--r-- 1 a b 5 Feb  5 10:04  two leading", now()).unwrap();
        assert_eq!(entry.name, " two leading");
        let entry = parse(b"-rw-r--r-- 1 a b 5 Feb  5  2020 x  y ", now()).unwrap();
        assert_eq!(entry.name, "x  y ");
    }

    #[test]
    fn missing_name_or_date_is_an_error() {
        let error = parse(b"-rw-r--r-- 1 a b 5 Feb  5 10:04", now()).unwrap_err();
        assert_eq!(
            error,
            ListError::BadField {
                format: ListingFormat::Unix,
                field: ListField::Name
            }
        );
        let error = parse(b"-rw-r--r-- 1 a b 5 Fbr  5 10:04 x", now()).unwrap_err();
        assert!(matches!(
            error,
            ListError::BadField {
                field: ListField::Date,
                ..
            }
        ));
    }

    #[test]
    fn full_iso_dates_with_a_zone_are_utc() {
        let entry = parse(
            b"-rw-r--r-- 1 a b 5 2021-02-05 22:04:05.250000000 +0100 x",
            now(),
        )
        .unwrap();
        let modified = entry.modified.unwrap();
        assert!(modified.utc);
        assert_eq!(modified.precision, TimePrecision::Fraction);
        assert_eq!(
            modified.time,
            UNIX_EPOCH + Duration::new(1_612_559_045, 250_000_000)
        );
        assert_eq!(entry.name, "x");
    }

    #[test]
    fn total_lines() {
        assert_eq!(parse_total(b"total 123"), Some(123));
        assert_eq!(parse_total(b"TOTAL   0"), Some(0));
        assert_eq!(parse_total(b"total"), None);
        assert_eq!(parse_total(b"total 1 2"), None);
    }
}
