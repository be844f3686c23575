//! RFC 3659 MLSD and MLST entry lines: `fact=value;fact=value; name`.
//!
//! Each fact ends with `;`, and exactly one space separates the last `;` from the name,
//! which runs to the end of the line and may contain spaces and `;`. The fact list may
//! be empty (the line is then a space and the name). Every fact is kept, in order, in
//! [`Entry::facts`]; the standard ones and the common `UNIX.*` ones are also decoded
//! into the entry's fields. Fact names are compared without regard to case.

use super::util;
use super::{Entry, EntryKind, Fact, ListingFormat, ModifiedTime, PermFact, TimePrecision};
use crate::time::parse_timestamp;
use crate::{Pathname, Text};

/// Why an MLSD or MLST line could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MlsxError {
    /// The facts are not followed by `; ` and a name (a fact lacks its `;`, or the line
    /// ends before the name).
    #[error("the fact list is not followed by a space and a name")]
    MissingName,
    /// The name after the facts is empty.
    #[error("the entry's name is empty")]
    EmptyName,
    /// A fact is not of the form `name=value` with a non-empty name.
    #[error("fact `{fact}` is not of the form name=value")]
    MalformedFact {
        /// The fact as listed (lossily decoded).
        fact: String,
    },
    /// A fact whose value has a defined syntax (`size`, `modify`, `create`,
    /// `UNIX.mode`) has a value that does not follow it.
    #[error("the {fact} fact has an invalid value `{value}`")]
    InvalidValue {
        /// The fact's name as listed.
        fact: String,
        /// The value as listed (lossily decoded).
        value: String,
    },
    /// An MLST entry line must start with a space.
    #[error("an MLST entry line must start with a space")]
    MissingLeadingSpace,
}

/// Reads one MLSD line, or an MLST entry line, with or without its CR LF.
///
/// The MLST form (inside a `250-` reply) has one leading space before the facts. A
/// leading space also starts an MLSD line with no facts (`" name"`), so a line that
/// starts with a space is read as MLST only when what follows starts like a fact
/// (`word=…;` with no space before the `;`); use [`parse_mlst_entry`] when you know
/// which it is.
pub fn parse_mlsx_line(line: &[u8]) -> Result<Entry, MlsxError> {
    let line = util::strip_line_ending(line);
    match line.strip_prefix(b" ") {
        Some(rest) if starts_with_fact(rest) => parse_entry(line, rest),
        _ => parse_entry(line, line),
    }
}

/// Reads the entry line of an MLST reply: a space, the facts, a space, the path.
pub fn parse_mlst_entry(line: &[u8]) -> Result<Entry, MlsxError> {
    let line = util::strip_line_ending(line);
    let rest = line
        .strip_prefix(b" ")
        .ok_or(MlsxError::MissingLeadingSpace)?;
    parse_entry(line, rest)
}

/// Whether `text` starts with `name=value;` with no space before the `;`.
fn starts_with_fact(text: &[u8]) -> bool {
    let Some(semicolon) = memchr::memchr(b';', text) else {
        return false;
    };
    let fact = &text[..semicolon];
    !fact.contains(&b' ') && memchr::memchr(b'=', fact).is_some_and(|equals| equals > 0)
}

/// Reads `facts SP name` from `body`; `raw` is the whole line, kept in the entry.
fn parse_entry(raw: &[u8], body: &[u8]) -> Result<Entry, MlsxError> {
    let mut facts = Vec::new();
    let mut position = 0;
    let name = loop {
        match body.get(position) {
            None => return Err(MlsxError::MissingName),
            Some(b' ') => break &body[position + 1..],
            Some(_) => {}
        }
        let length = memchr::memchr(b';', &body[position..]).ok_or(MlsxError::MissingName)?;
        let fact = &body[position..position + length];
        let equals = memchr::memchr(b'=', fact)
            .filter(|&equals| equals > 0)
            .ok_or_else(|| MlsxError::MalformedFact {
                fact: String::from_utf8_lossy(fact).into_owned(),
            })?;
        facts.push(Fact {
            name: Text::from(fact[..equals].to_vec()),
            value: Text::from(fact[equals + 1..].to_vec()),
        });
        position += length + 1;
    };
    if name.is_empty() {
        return Err(MlsxError::EmptyName);
    }
    let mut entry = Entry::new(Pathname::from(util::unescape_name(name)), EntryKind::File);
    apply_facts(&mut entry, &facts)?;
    entry.facts = facts;
    entry.format = ListingFormat::Mlsx;
    entry.raw = Text::from(raw.to_vec());
    Ok(entry)
}

/// Decodes the facts the entry has fields for.
fn apply_facts(entry: &mut Entry, facts: &[Fact]) -> Result<(), MlsxError> {
    let mut uid = None;
    let mut gid = None;
    for fact in facts {
        let value = fact.value.as_bytes();
        let invalid = || MlsxError::InvalidValue {
            fact: fact.name.to_string_lossy().into_owned(),
            value: fact.value.to_string_lossy().into_owned(),
        };
        let owned = || Some(Text::from(value.to_vec()));
        let name = fact.name.as_bytes().to_ascii_lowercase();
        match name.as_slice() {
            b"type" => entry.kind = parse_type(value),
            b"size" => entry.size = Some(util::parse_u64(value).ok_or_else(invalid)?),
            b"modify" => entry.modified = Some(parse_time(value).ok_or_else(invalid)?),
            b"create" => entry.created = Some(parse_time(value).ok_or_else(invalid)?),
            b"unique" => entry.unique = owned(),
            b"perm" => entry.permissions.mlsx = Some(PermFact::from_letters(value)),
            b"lang" => entry.language = owned(),
            b"media-type" => entry.media_type = owned(),
            b"charset" => entry.charset = owned(),
            b"unix.mode" => {
                let mode = util::parse_octal(value).ok_or_else(invalid)?;
                entry.permissions.unix_mode = Some(mode & 0o7777);
            }
            b"unix.owner" | b"unix.ownername" => entry.owner = owned(),
            b"unix.group" | b"unix.groupname" => entry.group = owned(),
            b"unix.uid" => uid = owned(),
            b"unix.gid" => gid = owned(),
            _ => {}
        }
    }
    // A numeric id stands in for a missing name, as `ls -n` would show it.
    entry.owner = entry.owner.take().or(uid);
    entry.group = entry.group.take().or(gid);
    Ok(())
}

/// The `type` fact: the RFC 3659 values and the `OS.unix=` ones servers use for links
/// and special files; anything else is kept verbatim.
fn parse_type(value: &[u8]) -> EntryKind {
    let lower = value.to_ascii_lowercase();
    match lower.as_slice() {
        b"file" => EntryKind::File,
        b"dir" => EntryKind::Directory,
        b"cdir" => EntryKind::CurrentDirectory,
        b"pdir" => EntryKind::ParentDirectory,
        b"os.unix=symlink" | b"os.unix=slink" => EntryKind::Symlink { target: None },
        b"os.unix=blkdev" => EntryKind::BlockDevice,
        b"os.unix=chrdev" => EntryKind::CharDevice,
        b"os.unix=fifo" => EntryKind::Pipe,
        b"os.unix=socket" => EntryKind::Socket,
        b"os.unix=door" => EntryKind::Door,
        _ if lower.starts_with(b"os.unix=slink:") => EntryKind::Symlink {
            target: Some(Pathname::from(value[b"os.unix=slink:".len()..].to_vec())),
        },
        _ => EntryKind::Other(Text::from(value.to_vec())),
    }
}

/// A `modify` or `create` value, with the precision it was written to.
fn parse_time(value: &[u8]) -> Option<ModifiedTime> {
    let time = parse_timestamp(value)?;
    let precision = if value.contains(&b'.') {
        TimePrecision::Fraction
    } else {
        TimePrecision::Second
    };
    Some(ModifiedTime {
        time,
        precision,
        year_inferred: false,
        utc: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_may_hold_spaces_and_semicolons() {
        let entry = parse_mlsx_line(b"type=file;size=3; a; b=c; d \r\n").unwrap();
        assert_eq!(entry.name, "a; b=c; d ");
        assert_eq!(entry.size, Some(3));
    }

    #[test]
    fn empty_fact_list_and_mlst_form() {
        let entry = parse_mlsx_line(b" just a name").unwrap();
        assert_eq!(entry.name, "just a name");
        assert!(entry.facts.is_empty());
        let entry = parse_mlsx_line(b" Type=dir;Modify=20210205220400; /pub").unwrap();
        assert_eq!(entry.kind, EntryKind::Directory);
        assert_eq!(entry.name, "/pub");
        let entry = parse_mlst_entry(b" type=file; /a b").unwrap();
        assert_eq!(entry.name, "/a b");
        assert_eq!(
            parse_mlst_entry(b"type=file; x"),
            Err(MlsxError::MissingLeadingSpace)
        );
    }

    #[test]
    fn errors_say_what_is_wrong() {
        assert_eq!(
            parse_mlsx_line(b"type=file;size=1"),
            Err(MlsxError::MissingName)
        );
        assert_eq!(parse_mlsx_line(b"type=file; "), Err(MlsxError::EmptyName));
        assert_eq!(
            parse_mlsx_line(b"type;size=1; x"),
            Err(MlsxError::MalformedFact {
                fact: "type".into()
            })
        );
        let error = parse_mlsx_line(b"size=12k; x").unwrap_err();
        assert_eq!(
            error.to_string(),
            "the size fact has an invalid value `12k`"
        );
    }

    #[test]
    fn types() {
        assert_eq!(parse_type(b"CDir"), EntryKind::CurrentDirectory);
        assert_eq!(parse_type(b"pdir"), EntryKind::ParentDirectory);
        assert_eq!(
            parse_type(b"OS.unix=slink:/etc/x"),
            EntryKind::Symlink {
                target: Some(Pathname::from("/etc/x"))
            }
        );
        assert_eq!(
            parse_type(b"OS.VMS=weird"),
            EntryKind::Other(Text::from("OS.VMS=weird"))
        );
    }
}
