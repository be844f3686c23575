//! EPLF, the Easily Parsed LIST Format (D. J. Bernstein): `+`, comma-separated facts,
//! a tab, and the name.
//!
//! ```text
//! +i8388621.29609,m824255902,/,<TAB>dev
//! +i8388621.44468,m839956783,r,s10376,<TAB>RFCEPLF
//! ```
//!
//! Facts: `/` (a directory: CWD works), `r` (RETR works: a file), `s` size, `m` modify
//! time in Unix seconds (UTC), `i` a unique identifier, `up` Unix permission bits in
//! octal. Unknown facts are ignored, as the format asks.

use std::time::{Duration, SystemTime};

use super::util;
use super::{Entry, EntryKind, ListError, ListField, ListingFormat, ModifiedTime, TimePrecision};
use crate::{Pathname, Text};

pub(super) fn parse(line: &[u8]) -> Result<Entry, ListError> {
    let bad = |field| ListError::BadField {
        format: ListingFormat::Eplf,
        field,
    };
    let body = line.strip_prefix(b"+").ok_or(ListError::UnknownFormat)?;
    let tab = memchr::memchr(b'\t', body).ok_or(bad(ListField::Name))?;
    let (facts, name) = (&body[..tab], &body[tab + 1..]);
    if name.is_empty() {
        return Err(bad(ListField::Name));
    }
    let mut entry = Entry::new(Pathname::from(util::unescape_name(name)), EntryKind::File);
    for fact in facts
        .split(|&byte| byte == b',')
        .filter(|fact| !fact.is_empty())
    {
        match fact[0] {
            b'/' => entry.kind = EntryKind::Directory,
            b'r' => {}
            b's' => entry.size = Some(util::parse_u64(&fact[1..]).ok_or(bad(ListField::Size))?),
            b'm' => {
                let seconds = util::parse_u64(&fact[1..]).ok_or(bad(ListField::Date))?;
                let time = SystemTime::UNIX_EPOCH
                    .checked_add(Duration::from_secs(seconds))
                    .ok_or(bad(ListField::Date))?;
                entry.modified = Some(ModifiedTime {
                    time,
                    precision: TimePrecision::Second,
                    year_inferred: false,
                    utc: true,
                });
            }
            b'i' => entry.unique = Some(Text::from(fact[1..].to_vec())),
            b'u' if fact.get(1) == Some(&b'p') => {
                let mode = util::parse_octal(&fact[2..]).ok_or(bad(ListField::Mode))?;
                entry.permissions.unix_mode = Some(mode & 0o7777);
            }
            _ => {}
        }
    }
    entry.format = ListingFormat::Eplf;
    entry.raw = Text::from(line.to_vec());
    Ok(entry)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_facts() {
        let entry = parse(b"+i8388621.44468,m839956783,r,s10376,up644,\tRFCEPLF").unwrap();
        assert_eq!(entry.kind, EntryKind::File);
        assert_eq!(entry.name, "RFCEPLF");
        assert_eq!(entry.size, Some(10376));
        assert_eq!(entry.unique.unwrap(), "8388621.44468");
        assert_eq!(entry.permissions.unix_mode, Some(0o644));
        assert_eq!(
            entry.modified.unwrap().time,
            SystemTime::UNIX_EPOCH + Duration::from_secs(839_956_783)
        );
    }

    #[test]
    fn errors_name_the_field() {
        assert!(matches!(
            parse(b"+s12x,\tname"),
            Err(ListError::BadField {
                field: ListField::Size,
                ..
            })
        ));
        assert!(matches!(
            parse(b"+/,"),
            Err(ListError::BadField {
                field: ListField::Name,
                ..
            })
        ));
    }
}
