//! Small byte-level helpers shared by the listing parsers: line splitting, columns,
//! numbers, month names, calendar conversion and year inference.

use std::time::{Duration, SystemTime};

use jiff::civil::DateTime;
use jiff::tz::TimeZone;

use crate::time::{to_system_time, utc_datetime};

/// How far in the future of "now" a year-less LIST date may lie and still be given the
/// current year: one day covers any time-zone difference plus a little clock skew.
const FUTURE_SLACK: Duration = Duration::from_secs(24 * 60 * 60);

/// Removes one trailing LF, CR LF or CR.
pub(crate) fn strip_line_ending(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Splits a buffer into lines on LF, dropping the LF and a CR before it, and skipping
/// empty lines.
#[derive(Clone, Debug)]
pub(crate) struct Lines<'a> {
    rest: &'a [u8],
}

impl<'a> Lines<'a> {
    pub(crate) fn new(buffer: &'a [u8]) -> Self {
        Lines { rest: buffer }
    }
}

impl<'a> Iterator for Lines<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        while !self.rest.is_empty() {
            let (line, rest) = match memchr::memchr(b'\n', self.rest) {
                Some(end) => (&self.rest[..end], &self.rest[end + 1..]),
                None => (self.rest, &[][..]),
            };
            self.rest = rest;
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if !line.is_empty() {
                return Some(line);
            }
        }
        None
    }
}

/// A column of a line: its byte range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Column {
    pub(crate) start: usize,
    pub(crate) end: usize,
}

impl Column {
    pub(crate) fn of<'a>(&self, line: &'a [u8]) -> &'a [u8] {
        &line[self.start..self.end]
    }
}

/// The first `limit` space-separated columns of `line` (runs of spaces separate).
pub(crate) fn columns(line: &[u8], limit: usize) -> Vec<Column> {
    let mut columns = Vec::with_capacity(limit);
    let mut position = 0;
    while columns.len() < limit {
        while position < line.len() && line[position] == b' ' {
            position += 1;
        }
        if position == line.len() {
            break;
        }
        let start = position;
        while position < line.len() && line[position] != b' ' {
            position += 1;
        }
        columns.push(Column {
            start,
            end: position,
        });
    }
    columns
}

/// A decimal number that fits a `u64`, digits only.
pub(crate) fn parse_u64(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    digits.iter().try_fold(0u64, |value, digit| {
        value.checked_mul(10)?.checked_add(u64::from(digit - b'0'))
    })
}

/// A decimal number that fits a `u32`.
pub(crate) fn parse_u32(digits: &[u8]) -> Option<u32> {
    parse_u64(digits).and_then(|value| u32::try_from(value).ok())
}

/// An octal number of up to 11 digits that fits a `u32`.
pub(crate) fn parse_octal(digits: &[u8]) -> Option<u32> {
    if digits.is_empty() || digits.len() > 11 || !digits.iter().all(|d| (b'0'..=b'7').contains(d)) {
        return None;
    }
    let value = digits
        .iter()
        .fold(0u64, |value, digit| value * 8 + u64::from(digit - b'0'));
    u32::try_from(value).ok()
}

const MONTHS: [&[u8; 3]; 12] = [
    b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov", b"dec",
];

/// The number (1 to 12) of an English three-letter month abbreviation, in any case.
pub(crate) fn parse_month(name: &[u8]) -> Option<i8> {
    let name: [u8; 3] = name.try_into().ok()?;
    let lower = name.map(|byte| byte.to_ascii_lowercase());
    MONTHS
        .iter()
        .position(|month| **month == lower)
        .map(|index| index as i8 + 1)
}

/// The English three-letter abbreviation of month 1 to 12, capitalised as `ls` does.
pub(crate) fn month_name(month: i8) -> &'static [u8; 3] {
    const NAMES: [&[u8; 3]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    NAMES[(month.clamp(1, 12) - 1) as usize]
}

/// `H:MM` or `HH:MM` as hours and minutes.
pub(crate) fn parse_hour_minute(text: &[u8]) -> Option<(i8, i8)> {
    let colon = memchr::memchr(b':', text)?;
    let (hour, minute) = (&text[..colon], &text[colon + 1..]);
    if hour.is_empty() || hour.len() > 2 || minute.len() != 2 {
        return None;
    }
    let hour = parse_u32(hour)?;
    let minute = parse_u32(minute)?;
    (hour < 24 && minute < 60).then_some((hour as i8, minute as i8))
}

/// The instant of a civil date and time read as UTC, or `None` if there is no such day.
pub(crate) fn civil_to_time(
    year: i32,
    month: i8,
    day: i8,
    hour: i8,
    minute: i8,
    second: i8,
    nanos: i32,
) -> Option<SystemTime> {
    let year = i16::try_from(year).ok()?;
    let datetime = DateTime::new(year, month, day, hour, minute, second, nanos).ok()?;
    let timestamp = TimeZone::UTC.to_timestamp(datetime).ok()?;
    Some(to_system_time(timestamp))
}

/// The instant of a year-less date: the latest year that puts it no more than a day
/// after `now`. Only a few years are tried, enough to reach a February 29.
pub(crate) fn infer_year(
    month: i8,
    day: i8,
    hour: i8,
    minute: i8,
    now: SystemTime,
) -> Option<SystemTime> {
    let current_year = i32::from(utc_datetime(now)?.year());
    let latest_allowed = now.checked_add(FUTURE_SLACK)?;
    (current_year - 8..=current_year + 1)
        .rev()
        .filter_map(|year| civil_to_time(year, month, day, hour, minute, 0, 0))
        .find(|&time| time <= latest_allowed)
}

/// Undoes the escapes a server applies to a name that contains CR or LF (see
/// `format::push_escaped_name`): CR NUL stands for CR, and a lone NUL for LF. Borrows
/// when there is nothing to undo.
pub(crate) fn unescape_name(name: &[u8]) -> Vec<u8> {
    if memchr::memchr(0, name).is_none() {
        return name.to_vec();
    }
    let mut unescaped = Vec::with_capacity(name.len());
    let mut index = 0;
    while index < name.len() {
        match name[index] {
            b'\r' if name.get(index + 1) == Some(&0) => {
                unescaped.push(b'\r');
                index += 2;
            }
            0 => {
                unescaped.push(b'\n');
                index += 1;
            }
            byte => {
                unescaped.push(byte);
                index += 1;
            }
        }
    }
    unescaped
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn at(year: i32, month: i8, day: i8, hour: i8, minute: i8) -> SystemTime {
        civil_to_time(year, month, day, hour, minute, 0, 0).unwrap()
    }

    #[test]
    fn lines_split_on_lf_and_crlf_and_skip_empty_ones() {
        let lines: Vec<&[u8]> = Lines::new(b"a\r\nb\n\r\n\nc d\r\n").collect();
        assert_eq!(lines, [&b"a"[..], b"b", b"c d"]);
        assert_eq!(Lines::new(b"last").collect::<Vec<_>>(), [&b"last"[..]]);
    }

    #[test]
    fn year_inference_picks_the_latest_year_not_in_the_future() {
        let now = at(2021, 6, 1, 12, 0);
        assert_eq!(infer_year(2, 5, 10, 4, now), Some(at(2021, 2, 5, 10, 4)));
        assert_eq!(infer_year(12, 24, 8, 0, now), Some(at(2020, 12, 24, 8, 0)));
        // Half a day ahead is clock or zone skew, not last year.
        assert_eq!(infer_year(6, 1, 23, 0, now), Some(at(2021, 6, 1, 23, 0)));
        assert_eq!(infer_year(6, 3, 0, 0, now), Some(at(2020, 6, 3, 0, 0)));
        // New Year's Eve in UTC, already January on the server.
        let new_year = at(2021, 12, 31, 23, 0);
        assert_eq!(infer_year(1, 1, 5, 0, new_year), Some(at(2022, 1, 1, 5, 0)));
        // February 29 goes back to the last leap year.
        assert_eq!(infer_year(2, 29, 0, 0, now), Some(at(2020, 2, 29, 0, 0)));
        assert_eq!(infer_year(2, 30, 0, 0, now), None);
        assert_eq!(infer_year(1, 1, 0, 0, UNIX_EPOCH), Some(UNIX_EPOCH));
    }

    #[test]
    fn numbers_and_months() {
        assert_eq!(parse_u64(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_u64(b"18446744073709551616"), None);
        assert_eq!(parse_u64(b"000000000000000000000001"), Some(1));
        assert_eq!(parse_u64(b""), None);
        assert_eq!(parse_octal(b"0755"), Some(0o755));
        assert_eq!(parse_octal(b"8"), None);
        assert_eq!(parse_month(b"JAN"), Some(1));
        assert_eq!(parse_month(b"dec"), Some(12));
        assert_eq!(parse_month(b"Decm"), None);
        assert_eq!(parse_hour_minute(b"9:05"), Some((9, 5)));
        assert_eq!(parse_hour_minute(b"24:00"), None);
    }

    #[test]
    fn escaped_names_unescape() {
        assert_eq!(unescape_name(b"a\r\0b\0c"), b"a\rb\nc");
        assert_eq!(unescape_name(b"plain"), b"plain");
    }
}
