//! MS-DOS style LIST lines, as IIS (in its default style) and other Windows servers
//! send them: a date, a time, `<DIR>` or a size, and the name.
//!
//! ```text
//! 02-05-21  10:04AM       <DIR>          docs
//! 02-05-2021  10:04 PM            12,345 report.pdf
//! 2021-02-05  22:04               12345 report.pdf
//! ```
//!
//! Dates are `MM-DD-YY`, `MM-DD-YYYY` or `YYYY-MM-DD` (`/` also accepted); a two-digit
//! year means 1970 to 2069, as POSIX `%y` does. Times are 24-hour or 12-hour with an
//! `AM`/`PM` suffix, attached or in its own column. After a size the name starts after
//! exactly one space; after `<DIR>` it starts after the whole padding, so a directory
//! name's leading spaces are lost in this format.

use super::util;
use super::{Entry, EntryKind, ListError, ListField, ListingFormat, ModifiedTime, TimePrecision};
use crate::{Pathname, Text};

pub(super) fn parse(line: &[u8]) -> Result<Entry, ListError> {
    let bad = |field| ListError::BadField {
        format: ListingFormat::Dos,
        field,
    };
    let columns = util::columns(line, 5);
    let [date_column, time_column, ..] = columns[..] else {
        return Err(ListError::UnknownFormat);
    };
    // A line that starts with a digit but has no date is not a DOS line at all.
    let (year, month, day) = parse_date(date_column.of(line)).ok_or(ListError::UnknownFormat)?;
    let mut next = 2;
    let mut time_text = time_column.of(line);
    let mut suffix_column = None;
    if let Some(column) = columns.get(next) {
        let text = column.of(line);
        if text.eq_ignore_ascii_case(b"AM") || text.eq_ignore_ascii_case(b"PM") {
            suffix_column = Some(text);
            next += 1;
        }
    }
    let (hour, minute) = match suffix_column {
        Some(suffix) => parse_time(time_text, Some(suffix)),
        None => {
            let split = time_text.len().saturating_sub(2);
            let (clock, suffix) = time_text.split_at(split);
            if suffix.eq_ignore_ascii_case(b"AM") || suffix.eq_ignore_ascii_case(b"PM") {
                time_text = clock;
                parse_time(time_text, Some(suffix))
            } else {
                parse_time(time_text, None)
            }
        }
    }
    .ok_or(bad(ListField::Date))?;
    let time =
        util::civil_to_time(year, month, day, hour, minute, 0, 0).ok_or(bad(ListField::Date))?;

    let size_column = columns.get(next).ok_or(bad(ListField::Size))?;
    let size_text = size_column.of(line);
    let rest = &line[size_column.end..];
    let (kind, size, name) = if size_text.eq_ignore_ascii_case(b"<DIR>") {
        let start = rest.iter().position(|&byte| byte != b' ');
        let name = start.filter(|&start| start > 0).map(|start| &rest[start..]);
        (EntryKind::Directory, None, name)
    } else {
        let size = parse_size(size_text).ok_or(bad(ListField::Size))?;
        let name = rest.strip_prefix(b" ").filter(|name| !name.is_empty());
        (EntryKind::File, Some(size), name)
    };
    let name = name.ok_or(bad(ListField::Name))?;

    let mut entry = Entry::new(Pathname::from(util::unescape_name(name)), kind);
    entry.size = size;
    entry.modified = Some(ModifiedTime {
        time,
        precision: TimePrecision::Minute,
        year_inferred: false,
        utc: false,
    });
    entry.format = ListingFormat::Dos;
    entry.raw = Text::from(line.to_vec());
    Ok(entry)
}

/// `MM-DD-YY`, `MM-DD-YYYY` or `YYYY-MM-DD`, with `-` or `/`.
fn parse_date(text: &[u8]) -> Option<(i32, i8, i8)> {
    let mut parts = text.split(|&byte| byte == b'-' || byte == b'/');
    let (first, second, third) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let number = |part: &[u8]| util::parse_u32(part).map(|value| value as i32);
    let (year, month, day) = match (first.len(), second.len(), third.len()) {
        (4, 2, 2) => (number(first)?, number(second)?, number(third)?),
        (2, 2, 4) => (number(third)?, number(first)?, number(second)?),
        (2, 2, 2) => {
            let short = number(third)?;
            let year = if short >= 70 {
                1900 + short
            } else {
                2000 + short
            };
            (year, number(first)?, number(second)?)
        }
        _ => return None,
    };
    Some((year, i8::try_from(month).ok()?, i8::try_from(day).ok()?))
}

/// `HH:MM`, read as 12-hour when an `AM`/`PM` suffix is given.
fn parse_time(clock: &[u8], suffix: Option<&[u8]>) -> Option<(i8, i8)> {
    let (hour, minute) = util::parse_hour_minute(clock)?;
    let Some(suffix) = suffix else {
        return Some((hour, minute));
    };
    if !(1..=12).contains(&hour) {
        return None;
    }
    let afternoon = suffix.eq_ignore_ascii_case(b"PM");
    let hour = match (hour, afternoon) {
        (12, false) => 0,
        (12, true) => 12,
        (hour, false) => hour,
        (hour, true) => hour + 12,
    };
    Some((hour, minute))
}

/// A size, possibly with thousands separators (`12,345` or `12.345`).
fn parse_size(text: &[u8]) -> Option<u64> {
    if let Some(size) = util::parse_u64(text) {
        return Some(size);
    }
    let digits: Vec<u8> = text
        .iter()
        .copied()
        .filter(|&byte| byte != b',' && byte != b'.')
        .collect();
    util::parse_u64(&digits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twelve_hour_clock() {
        assert_eq!(parse_time(b"12:05", Some(b"AM")), Some((0, 5)));
        assert_eq!(parse_time(b"12:05", Some(b"pm")), Some((12, 5)));
        assert_eq!(parse_time(b"01:05", Some(b"PM")), Some((13, 5)));
        assert_eq!(parse_time(b"13:05", Some(b"PM")), None);
        assert_eq!(parse_time(b"13:05", None), Some((13, 5)));
    }

    #[test]
    fn dates_in_three_orders() {
        assert_eq!(parse_date(b"02-05-21"), Some((2021, 2, 5)));
        assert_eq!(parse_date(b"02-05-98"), Some((1998, 2, 5)));
        assert_eq!(parse_date(b"02/05/2021"), Some((2021, 2, 5)));
        assert_eq!(parse_date(b"2021-02-05"), Some((2021, 2, 5)));
        assert_eq!(parse_date(b"2021-02"), None);
        assert_eq!(parse_date(b"202-02-05"), None);
    }

    #[test]
    fn sizes_with_separators() {
        assert_eq!(parse_size(b"12,345"), Some(12345));
        assert_eq!(parse_size(b"12345"), Some(12345));
        assert_eq!(parse_size(b","), None);
        assert_eq!(parse_size(b"12a"), None);
    }

    #[test]
    fn a_line_without_a_name_is_an_error() {
        let error = parse(b"02-05-21  10:04AM       <DIR>").unwrap_err();
        assert!(matches!(
            error,
            ListError::BadField {
                field: ListField::Name,
                ..
            }
        ));
        assert_eq!(parse(b"123 not a date"), Err(ListError::UnknownFormat));
    }
}
