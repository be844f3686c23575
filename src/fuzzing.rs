//! `arbitrary::Arbitrary` for the data model (feature `fuzzing`), so that fuzzers
//! downstream can generate structured [`Command`](crate::Command)s and
//! [`Reply`](crate::Reply)s instead of bytes.
//!
//! Why a cargo feature rather than `cfg(fuzzing)`: the `Arbitrary` impls need the
//! `arbitrary` crate, and only a feature can turn on an optional dependency; a feature
//! is also what downstream fuzz crates can ask for in their `Cargo.toml`, whatever fuzz
//! driver they use, and it shows in the documentation. `cfg(fuzzing)`, which cargo-fuzz
//! sets for the whole build, would also change this crate under every fuzzer of any
//! crate that depends on it. The same feature gates the session fuzz harnesses
//! ([`server::fuzz_server`](crate::server::fuzz_server),
//! [`client::fuzz_client`](crate::client::fuzz_client)), which are not part of the API
//! otherwise.
//!
//! What the impls generate: every shape the types can hold, so a fuzzer reaches every
//! branch of a consumer, including values the encoder refuses (a CR, LF or NUL in an
//! argument, an empty required argument, an unknown verb that is not one word, a time
//! outside years 0000-9999). Where a value has several spellings, the impls pick the
//! one the parser gives (the parameter letters of `TYPE`, `STRU` and `MODE` go through
//! `from_letter`, `TYPE L` never has a byte size of 0), so that any value that encodes
//! reads back as itself except for these: an empty optional argument (read back as
//! `None`), an unknown verb that spells a known one, an `AUTH` mechanism that spells
//! `TLS` or `SSL`, and an IPv6 `EPRT` address's flow label and scope id (the wire
//! carries neither). The `command_round_trip` fuzz target checks exactly that.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arbitrary::{Arbitrary, Result, Unstructured};

use crate::command::{FileStructure, ParameterLetter, RepresentationType, TransferMode};
use crate::reply::ReplyCode;
use crate::text::{Pathname, Text};

impl<'u: 'a, 'a> Arbitrary<'u> for Text<'a> {
    fn arbitrary(u: &mut Unstructured<'u>) -> Result<Self> {
        // Borrowed from the fuzzer's input, as a parsed value borrows from the wire.
        Ok(Text::borrowed(<&'u [u8]>::arbitrary(u)?))
    }

    fn size_hint(depth: usize) -> (usize, Option<usize>) {
        <&[u8]>::size_hint(depth)
    }
}

impl<'u: 'a, 'a> Arbitrary<'u> for Pathname<'a> {
    fn arbitrary(u: &mut Unstructured<'u>) -> Result<Self> {
        Ok(Pathname::borrowed(<&'u [u8]>::arbitrary(u)?))
    }

    fn size_hint(depth: usize) -> (usize, Option<usize>) {
        <&[u8]>::size_hint(depth)
    }
}

impl<'u> Arbitrary<'u> for ParameterLetter {
    fn arbitrary(u: &mut Unstructured<'u>) -> Result<Self> {
        let letter = u.int_in_range(b'A'..=b'Z')?;
        Ok(ParameterLetter::new(letter).expect("A-Z is a letter"))
    }

    fn size_hint(depth: usize) -> (usize, Option<usize>) {
        u8::size_hint(depth)
    }
}

impl<'u> Arbitrary<'u> for RepresentationType {
    fn arbitrary(u: &mut Unstructured<'u>) -> Result<Self> {
        Ok(match u.choose_index(5)? {
            0 => RepresentationType::Ascii(u.arbitrary()?),
            1 => RepresentationType::Ebcdic(u.arbitrary()?),
            2 => RepresentationType::Image,
            3 => RepresentationType::Local(u.int_in_range(1..=u8::MAX)?),
            _ => RepresentationType::from_letter(u.arbitrary()?),
        })
    }
}

impl<'u> Arbitrary<'u> for FileStructure {
    fn arbitrary(u: &mut Unstructured<'u>) -> Result<Self> {
        Ok(FileStructure::from_letter(u.arbitrary()?))
    }
}

impl<'u> Arbitrary<'u> for TransferMode {
    fn arbitrary(u: &mut Unstructured<'u>) -> Result<Self> {
        Ok(TransferMode::from_letter(u.arbitrary()?))
    }
}

impl<'u> Arbitrary<'u> for ReplyCode {
    fn arbitrary(u: &mut Unstructured<'u>) -> Result<Self> {
        Ok(ReplyCode::new(u.int_in_range(0..=999)?).expect("0-999 is a reply code"))
    }

    fn size_hint(depth: usize) -> (usize, Option<usize>) {
        u16::size_hint(depth)
    }
}

/// An instant for `MFMT`: mostly within years 0000-9999, to nanosecond precision, and
/// now and then anywhere a `SystemTime` reaches, to reach the encoder's refusal.
pub(crate) fn system_time(u: &mut Unstructured<'_>) -> Result<SystemTime> {
    // 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z, in seconds from the epoch.
    const FIRST: i64 = -62_167_219_200;
    const LAST: i64 = 253_402_300_799;
    let seconds: i64 = if u.ratio(1, 16)? {
        u.arbitrary()?
    } else {
        u.int_in_range(FIRST..=LAST)?
    };
    let nanos = Duration::from_nanos(u64::from(u.int_in_range(0..=999_999_999u32)?));
    let whole = Duration::from_secs(seconds.unsigned_abs());
    let time = if seconds >= 0 {
        UNIX_EPOCH.checked_add(whole)
    } else {
        UNIX_EPOCH.checked_sub(whole)
    };
    time.and_then(|time| time.checked_add(nanos))
        .ok_or(arbitrary::Error::IncorrectFormat)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::Command;
    use crate::reply::Reply;

    /// Deterministic pseudo-random bytes (xorshift), enough to walk every variant.
    fn bytes(seed: u64, len: usize) -> Vec<u8> {
        let mut state = seed | 1;
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect()
    }

    #[test]
    fn generated_values_use_the_parsers_spelling() {
        let mut modes = std::collections::HashSet::new();
        for seed in 0..4000 {
            let data = bytes(seed, 64);
            let mut u = Unstructured::new(&data);
            let Ok(command) = Command::arbitrary(&mut u) else {
                continue;
            };
            match command {
                Command::Type(RepresentationType::Local(bits)) => assert_ne!(bits, 0),
                Command::Type(RepresentationType::Other(letter)) => {
                    assert!(!b"AEI".contains(&letter.as_byte()), "{letter}");
                }
                Command::Stru(FileStructure::Other(letter)) => {
                    assert!(!b"FRP".contains(&letter.as_byte()), "{letter}");
                }
                Command::Mode(TransferMode::Other(letter)) => {
                    assert!(!b"SBCZ".contains(&letter.as_byte()), "{letter}");
                }
                _ => {}
            }
            let reply = Reply::arbitrary(&mut Unstructured::new(&data)).unwrap();
            assert!(reply.code().as_u16() <= 999);
            modes.insert(TransferMode::arbitrary(&mut Unstructured::new(&data[..2])).unwrap());
        }
        // The generator reaches the named modes and the unnamed letters alike.
        assert!(modes.contains(&TransferMode::Deflate), "{modes:?}");
        assert!(modes.contains(&TransferMode::Stream), "{modes:?}");
        assert!(
            modes
                .iter()
                .any(|mode| matches!(mode, TransferMode::Other(_))),
            "{modes:?}"
        );
    }

    /// What the `command_round_trip` fuzz target checks at length, in the test suite:
    /// a generated command that encodes parses back to a value with the same encoding.
    #[test]
    fn generated_commands_that_encode_parse_back() {
        use crate::command::{AuthMechanism, IacEscaping};
        use crate::verb::Verb;
        let (mut encoded, mut refused) = (0, 0);
        for seed in 0..4000 {
            let data = bytes(seed, 96);
            let Ok(command) = Command::arbitrary(&mut Unstructured::new(&data)) else {
                continue;
            };
            // Two spellings whose value changes on the way back (the fuzz target's
            // `canonical` covers them).
            match &command {
                Command::Unknown { verb, .. } if Verb::from_bytes(verb.as_bytes()).is_some() => {
                    continue;
                }
                Command::Auth(AuthMechanism::Other(_)) => continue,
                _ => {}
            }
            let mut wire = Vec::new();
            if command.encode_with(&mut wire, IacEscaping::Double).is_err() {
                assert!(wire.is_empty());
                refused += 1;
                continue;
            }
            encoded += 1;
            let parsed = crate::parse_command(&wire).unwrap_or_else(|error| {
                panic!(
                    "{command:?} as {:?}: {error}",
                    wire.escape_ascii().to_string()
                )
            });
            let mut again = Vec::new();
            parsed.encode_with(&mut again, IacEscaping::Double).unwrap();
            assert_eq!(again, wire, "{command:?} came back as {parsed:?}");
        }
        assert!(
            encoded > 1000 && refused > 10,
            "{encoded} encoded, {refused} refused"
        );
    }

    #[test]
    fn generated_mfmt_times_mostly_encode() {
        let (mut inside, mut total) = (0, 0);
        for seed in 0..500 {
            let data = bytes(seed, 32);
            if let Ok(time) = system_time(&mut Unstructured::new(&data)) {
                total += 1;
                inside += usize::from(crate::time::write_timestamp(time, &mut Vec::new()));
            }
        }
        assert!(
            total > 400 && inside * 10 > total * 8,
            "{inside} of {total}"
        );
    }
}
