//! The RFC 3659 time value, `YYYYMMDDHHMMSS[.sss]` in UTC, used by MDTM, MFMT and the
//! MLSx `modify` and `create` facts.
//!
//! Calendar conversion is delegated to `jiff`; this module only reads and writes the
//! digits. It never reads a clock.

use std::time::SystemTime;

use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::TimeZone;

/// The longest fraction we keep: nanoseconds. Further digits are read and dropped.
const MAX_FRACTION_DIGITS: usize = 9;

/// Parses `YYYYMMDDHHMMSS` with an optional `.` and 1 or more fraction digits, as UTC.
///
/// Returns `None` for anything else: wrong length, a non-digit, an impossible date or
/// time (month 13, February 30, second 61), or a time after 9999-12-30T22:00:00Z.
pub fn parse_timestamp(input: &[u8]) -> Option<SystemTime> {
    if input.len() < 14 || !input[..14].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> i32 {
        input[range]
            .iter()
            .fold(0, |acc, digit| acc * 10 + i32::from(digit - b'0'))
    };
    let nanos = match &input[14..] {
        [] => 0,
        [b'.', fraction @ ..]
            if !fraction.is_empty() && fraction.iter().all(u8::is_ascii_digit) =>
        {
            let kept = &fraction[..fraction.len().min(MAX_FRACTION_DIGITS)];
            let value = kept
                .iter()
                .fold(0i32, |acc, digit| acc * 10 + i32::from(digit - b'0'));
            value * 10i32.pow((MAX_FRACTION_DIGITS - kept.len()) as u32)
        }
        _ => return None,
    };
    let datetime = DateTime::new(
        i16::try_from(number(0..4)).ok()?,
        i8::try_from(number(4..6)).ok()?,
        i8::try_from(number(6..8)).ok()?,
        i8::try_from(number(8..10)).ok()?,
        i8::try_from(number(10..12)).ok()?,
        i8::try_from(number(12..14)).ok()?,
        nanos,
    )
    .ok()?;
    let timestamp = TimeZone::UTC.to_timestamp(datetime).ok()?;
    Some(to_system_time(timestamp))
}

/// Converts a jiff timestamp (whole range) into a `SystemTime`.
pub(crate) fn to_system_time(timestamp: Timestamp) -> SystemTime {
    let seconds = timestamp.as_second();
    let nanos = timestamp.subsec_nanosecond();
    // jiff keeps a negative fraction for instants before 1970: the two parts share a sign.
    if seconds >= 0 && nanos >= 0 {
        SystemTime::UNIX_EPOCH + std::time::Duration::new(seconds as u64, nanos as u32)
    } else {
        SystemTime::UNIX_EPOCH
            - std::time::Duration::new(seconds.unsigned_abs(), nanos.unsigned_abs())
    }
}

/// Writes `time` as `YYYYMMDDHHMMSS`, followed by `.` and the fraction without trailing
/// zeros when it has one, so that [`parse_timestamp`] reads back the same instant.
///
/// Returns `false` (and writes nothing) for a time outside years 0000 to 9999, which
/// the format cannot express, and for the last 26 hours of 9999 (after
/// 9999-12-30T22:00:00Z), past the calendar library's range; [`parse_timestamp`]
/// refuses those too, so the two stay inverses.
pub fn write_timestamp(time: SystemTime, out: &mut Vec<u8>) -> bool {
    let Some(datetime) = utc_datetime(time) else {
        return false;
    };
    if datetime.year() < 0 {
        return false;
    }
    let fields = [
        (i32::from(datetime.year()), 4),
        (i32::from(datetime.month()), 2),
        (i32::from(datetime.day()), 2),
        (i32::from(datetime.hour()), 2),
        (i32::from(datetime.minute()), 2),
        (i32::from(datetime.second()), 2),
    ];
    for (value, width) in fields {
        push_padded(out, value as u32, width);
    }
    let nanos = datetime.subsec_nanosecond() as u32;
    if nanos != 0 {
        let mut digits = MAX_FRACTION_DIGITS;
        let mut value = nanos;
        while value % 10 == 0 {
            value /= 10;
            digits -= 1;
        }
        out.push(b'.');
        push_padded(out, value, digits);
    }
    true
}

/// The UTC calendar date and time of `time`, or `None` outside jiff's range.
pub(crate) fn utc_datetime(time: SystemTime) -> Option<DateTime> {
    let timestamp = Timestamp::try_from(time).ok()?;
    Some(TimeZone::UTC.to_datetime(timestamp))
}

/// Appends `value` in decimal, left-padded with zeros to `width` digits.
pub(crate) fn push_padded(out: &mut Vec<u8>, value: u32, width: usize) {
    let mut digits = [b'0'; 10];
    let mut position = digits.len();
    let mut rest = value;
    loop {
        position -= 1;
        digits[position] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    let written = digits.len() - position;
    out.extend(std::iter::repeat_n(b'0', width.saturating_sub(written)));
    out.extend_from_slice(&digits[position..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn known_answers() {
        let cases: &[(&[u8], u64, u32)] = &[
            (b"19700101000000", 0, 0),
            (b"20240229235959", 1_709_251_199, 0),
            (b"20240229235959.5", 1_709_251_199, 500_000_000),
            (b"20240229235959.123456789", 1_709_251_199, 123_456_789),
        ];
        for &(text, seconds, nanos) in cases {
            let expected = UNIX_EPOCH + Duration::new(seconds, nanos);
            assert_eq!(
                parse_timestamp(text),
                Some(expected),
                "{}",
                text.escape_ascii()
            );
            let mut written = Vec::new();
            assert!(write_timestamp(expected, &mut written));
            assert_eq!(written, text);
        }
    }

    #[test]
    fn extra_fraction_digits_are_dropped() {
        let parsed = parse_timestamp(b"20000101000000.1234567891").unwrap();
        assert_eq!(parsed, UNIX_EPOCH + Duration::new(946_684_800, 123_456_789));
    }

    #[test]
    fn rejects_impossible_or_malformed_values() {
        for bad in [
            &b"20230230000000"[..],
            b"20231301000000",
            b"20230101250000",
            b"2023010100000",
            b"20230101000000.",
            b"20230101000000x",
            b"2023-1-1000000",
            b"",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{}", bad.escape_ascii());
        }
    }

    #[test]
    fn the_end_of_the_range_is_refused_both_ways() {
        let last = parse_timestamp(b"99991230215959").unwrap();
        let mut written = Vec::new();
        assert!(write_timestamp(last, &mut written));
        assert_eq!(written, b"99991230215959");
        assert_eq!(parse_timestamp(b"99991231000000"), None);
        let mut none = Vec::new();
        assert!(!write_timestamp(
            last + Duration::from_secs(3 * 3600),
            &mut none
        ));
        assert!(none.is_empty());
    }

    #[test]
    fn times_before_1970_round_trip() {
        let time = parse_timestamp(b"19691231235959.25").unwrap();
        assert!(time < UNIX_EPOCH);
        let mut written = Vec::new();
        assert!(write_timestamp(time, &mut written));
        assert_eq!(written, b"19691231235959.25");
    }
}
