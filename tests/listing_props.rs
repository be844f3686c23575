//! Property tests: what the formatters write, the parsers read back with the same
//! fields; and no input, however random, makes a parser panic.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ftp_proto::listing::{
    self, DeviceNumber, Entry, EntryKind, FactSet, ListLine, ModeMark, ModifiedTime, PermFact,
    TimePrecision,
};
use ftp_proto::{Pathname, Text};
use proptest::prelude::*;

/// 1970 to about 2200, in seconds.
const MAX_SECONDS: u64 = 7_258_118_400;

fn time(seconds: u64, nanos: u32) -> SystemTime {
    UNIX_EPOCH + Duration::new(seconds, nanos)
}

/// A name: any bytes but NUL (the escape character), at least one byte.
fn name() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(1u8..=255, 1..40),
        "[ a-zA-Z0-9._;=-]{1,30}".prop_map(String::into_bytes),
    ]
}

/// A name that also avoids ` -> `, which separates a link's name from its target.
fn link_name() -> impl Strategy<Value = Vec<u8>> {
    name().prop_filter("contains ` -> `", |name| {
        !name.windows(4).any(|window| window == b" -> ")
    })
}

fn owner() -> impl Strategy<Value = Option<Text<'static>>> {
    proptest::option::of("[a-z0-9_][a-z0-9_.-]{0,11}".prop_map(Text::from))
}

fn unix_kind() -> impl Strategy<Value = (EntryKind, Option<DeviceNumber>)> {
    let device =
        (any::<u32>(), any::<u32>()).prop_map(|(major, minor)| DeviceNumber { major, minor });
    prop_oneof![
        Just((EntryKind::File, None)),
        Just((EntryKind::Directory, None)),
        Just((EntryKind::Pipe, None)),
        Just((EntryKind::Socket, None)),
        Just((EntryKind::Door, None)),
        name().prop_map(|target| (
            EntryKind::Symlink {
                target: Some(Pathname::from(target))
            },
            None
        )),
        device
            .clone()
            .prop_map(|device| (EntryKind::BlockDevice, Some(device))),
        device.prop_map(|device| (EntryKind::CharDevice, Some(device))),
    ]
}

prop_compose! {
    fn unix_entry()(
        (kind, device) in unix_kind(),
        plain_name in name(),
        link_name in link_name(),
        mode in 0u32..=0o7777,
        mark in proptest::option::of(prop_oneof![
            Just(ModeMark::AccessControlList),
            Just(ModeMark::ExtendedAttributes),
            Just(ModeMark::SecurityContext),
        ]),
        links in 1u64..100_000,
        owner in owner(),
        group in owner(),
        size in any::<u64>(),
        modified in 0..MAX_SECONDS,
    ) -> Entry {
        let is_link = matches!(kind, EntryKind::Symlink { .. });
        let mut entry = Entry::new(
            Pathname::from(if is_link { link_name } else { plain_name }),
            kind,
        );
        entry.device = device;
        entry.size = device.is_none().then_some(size);
        entry.permissions.unix_mode = Some(mode);
        entry.permissions.mode_mark = mark;
        entry.link_count = Some(links);
        // A group column is only recognisable after an owner column.
        entry.group = group.filter(|_| owner.is_some());
        entry.owner = owner;
        entry.modified = Some(ModifiedTime::exact(time(modified, 0)));
        entry
    }
}

/// `time` cut down to the precision a LIST date keeps.
fn truncate(time: SystemTime, precision: TimePrecision) -> SystemTime {
    let seconds = time.duration_since(UNIX_EPOCH).unwrap().as_secs();
    let unit = if precision == TimePrecision::Day {
        86_400
    } else {
        60
    };
    UNIX_EPOCH + Duration::from_secs(seconds - seconds % unit)
}

prop_compose! {
    fn mlsx_entry()(
        (kind, _) in unix_kind(),
        other_kind in prop_oneof![
            Just(None),
            Just(Some(EntryKind::CurrentDirectory)),
            Just(Some(EntryKind::ParentDirectory)),
            Just(Some(EntryKind::Other(Text::from("OS.vms=weird")))),
        ],
        name in name(),
        size in proptest::option::of(any::<u64>()),
        modified in proptest::option::of((0..MAX_SECONDS, 0u32..1_000_000_000)),
        created in proptest::option::of((0..MAX_SECONDS, 0u32..1_000_000_000)),
        perm in proptest::option::of("[acdeflmprw]{0,10}"),
        mode in proptest::option::of(0u32..=0o7777),
        owner in owner(),
        group in owner(),
        unique in proptest::option::of("[0-9A-F]{1,16}"),
        language in proptest::option::of("[a-z]{2}(-[A-Z]{2})?"),
        media_type in proptest::option::of("(text|image)/[a-z]{1,8}"),
        charset in proptest::option::of("UTF-8|ISO-8859-1"),
    ) -> Entry {
        let kind = match (other_kind, kind) {
            (Some(kind), _) => kind,
            // A target with `;` cannot be written; the formatter drops it.
            (None, EntryKind::Symlink { target: Some(target) })
                if target.as_bytes().iter().any(|byte| b";\r\n".contains(byte)) =>
            {
                EntryKind::Symlink { target: None }
            }
            (None, kind) => kind,
        };
        let mut entry = Entry::new(Pathname::from(name), kind);
        entry.size = size;
        entry.modified = modified.map(|(seconds, nanos)| ModifiedTime::exact(time(seconds, nanos)));
        entry.created = created.map(|(seconds, nanos)| ModifiedTime::exact(time(seconds, nanos)));
        entry.permissions.mlsx = perm.map(|letters| PermFact::from_letters(letters.as_bytes()));
        entry.permissions.unix_mode = mode;
        entry.owner = owner;
        entry.group = group;
        entry.unique = unique.map(Text::from);
        entry.language = language.map(Text::from);
        entry.media_type = media_type.map(Text::from);
        entry.charset = charset.map(Text::from);
        entry
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn unix_lines_read_back(
        mut entry in unix_entry(),
        now_seconds in 86_400 * 400..MAX_SECONDS,
        // Most times near "now", where the year is left out and must be inferred: up
        // to 400 days before it or 2 days after it.
        offset in proptest::option::weighted(0.8, -2 * 86_400i64..400 * 86_400),
    ) {
        let now = time(now_seconds, 0);
        if let Some(offset) = offset {
            let seconds = now_seconds.checked_add_signed(-offset).unwrap();
            entry.modified = Some(ModifiedTime::exact(time(seconds, 0)));
        }
        let mut line = Vec::new();
        listing::write_list_line(&entry, now, &mut line);
        prop_assert!(line.ends_with(b"\r\n"));
        prop_assert_eq!(memchr::memchr(b'\n', &line), Some(line.len() - 1));
        let ListLine::Entry(parsed) = listing::parse_list_line(&line, now) else {
            return Err(TestCaseError::fail(format!("not an entry: {}", line.escape_ascii())));
        };
        let context = line.escape_ascii().to_string();
        prop_assert_eq!(&parsed.name, &entry.name, "{}", context);
        prop_assert_eq!(&parsed.kind, &entry.kind, "{}", context);
        prop_assert_eq!(parsed.size, entry.size, "{}", context);
        prop_assert_eq!(parsed.device, entry.device, "{}", context);
        prop_assert_eq!(parsed.permissions, entry.permissions, "{}", context);
        prop_assert_eq!(parsed.link_count, entry.link_count, "{}", context);
        prop_assert_eq!(&parsed.owner, &Some(entry.owner.clone().unwrap_or(Text::from("ftp"))), "{}", context);
        prop_assert_eq!(&parsed.group, &Some(entry.group.clone().unwrap_or(Text::from("ftp"))), "{}", context);
        let modified = parsed.modified.unwrap();
        let original = entry.modified.unwrap().time;
        prop_assert_eq!(modified.time, truncate(original, modified.precision), "{}", context);
        // Recent times keep their minute, older ones their day.
        let age = now.duration_since(original).unwrap_or_default();
        if original <= now && age < Duration::from_secs(180 * 86_400) {
            prop_assert_eq!(modified.precision, TimePrecision::Minute, "{}", context);
        }
    }

    #[test]
    fn mlsx_lines_read_back(entry in mlsx_entry()) {
        let mut line = Vec::new();
        listing::write_mlsx_line(&entry, FactSet::ALL, &mut line);
        prop_assert_eq!(memchr::memchr(b'\n', &line), Some(line.len() - 1));
        let context = line.escape_ascii().to_string();
        let parsed = listing::parse_mlsx_line(&line)
            .map_err(|error| TestCaseError::fail(format!("{error}: {context}")))?;
        let mut expected = entry.clone();
        // What parsing adds: the facts as listed, the format and the raw line.
        expected.facts = parsed.facts.clone();
        expected.format = parsed.format;
        expected.raw = parsed.raw.clone();
        // Precision is what the text shows: a whole second has no fraction.
        let shown = |time: Option<ModifiedTime>| time.map(|mut time| {
            if time.time.duration_since(UNIX_EPOCH).unwrap().subsec_nanos() == 0 {
                time.precision = TimePrecision::Second;
            }
            time
        });
        expected.modified = shown(expected.modified);
        expected.created = shown(expected.created);
        prop_assert_eq!(&parsed, &expected, "{}", context);

        let mut mlst = Vec::new();
        listing::write_mlst_entry(&entry, FactSet::ALL, &mut mlst);
        let parsed_mlst = listing::parse_mlst_entry(&mlst)
            .map_err(|error| TestCaseError::fail(format!("{error}: {context}")))?;
        prop_assert_eq!(&parsed_mlst.name, &entry.name);
        prop_assert_eq!(&parsed_mlst.kind, &entry.kind);
    }

    #[test]
    fn opts_mlst_selection_reads_back(facts in proptest::collection::vec(proptest::sample::select(listing::MlsxFact::ALL.to_vec()), 0..12)) {
        let set: FactSet = facts.into_iter().collect();
        let mut written = Vec::new();
        set.write_list(&mut written);
        prop_assert_eq!(FactSet::parse_opts(&written), set);
        let mut command = b"MLST ".to_vec();
        command.extend_from_slice(&written.to_ascii_uppercase());
        prop_assert_eq!(FactSet::parse_opts(&command), set);
    }

    #[test]
    fn nlst_lines_hold_one_line_each(name in name()) {
        let mut line = Vec::new();
        listing::write_nlst_line(&name, &mut line);
        prop_assert_eq!(memchr::memchr(b'\n', &line), Some(line.len() - 1));
    }
}

/// Real lines of each format, for mutation into near-misses.
const SEEDS: &[&[u8]] = &[
    b"-rw-r--r--+  1 ftp  ftp   4096 Feb  5 10:04 notes.txt",
    b"crw-rw-rw- 1 root root 1, 3 2021-02-05 22:04:05.5 +0100 null",
    b"lrwxrwxrwx 1 a b 7 Feb  5  2020 l -> t",
    b"d [R----F--] supervisor            512       Jan 16 18:53    login",
    b"02-05-21  10:04AM       <DIR>          docs",
    b"2021-02-05  22:04 PM 12,345 report.pdf",
    b"+i8388621.29609,m824255902,/,up755,s12,\tdev",
    b"type=file;size=12;modify=20210205220400.5;UNIX.mode=0644;perm=r; notes.txt",
    b" type=OS.unix=slink:/x;create=20210205220400; /pub",
    b"total 12",
];

fn any_time() -> impl Strategy<Value = SystemTime> {
    prop_oneof![
        (0..MAX_SECONDS).prop_map(|seconds| time(seconds, 0)),
        any::<u64>().prop_map(|seconds| UNIX_EPOCH
            .checked_add(Duration::from_secs(seconds))
            .unwrap_or(UNIX_EPOCH)),
        any::<u64>().prop_map(|seconds| UNIX_EPOCH
            .checked_sub(Duration::from_secs(seconds))
            .unwrap_or(UNIX_EPOCH)),
    ]
}

fn parse_everything(data: &[u8], now: SystemTime) {
    let _ = listing::parse_list_line(data, now);
    let _ = listing::parse_mlsx_line(data);
    let _ = listing::parse_mlst_entry(data);
    let _ = FactSet::parse_opts(data);
    for line in listing::list_lines(data, now) {
        if let ListLine::Entry(entry) = line {
            let mut out = Vec::new();
            listing::write_list_line(&entry, now, &mut out);
            listing::write_mlsx_line(&entry, FactSet::ALL, &mut out);
        }
    }
    for entry in listing::mlsx_lines(data).flatten() {
        let mut out = Vec::new();
        listing::write_list_line(&entry, now, &mut out);
        listing::write_mlsx_line(&entry, FactSet::ALL, &mut out);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(5000))]

    #[test]
    fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..200), now in any_time()) {
        parse_everything(&data, now);
    }

    #[test]
    fn mutated_real_lines_never_panic(
        seed in proptest::sample::select(SEEDS),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..6),
        now in any_time(),
    ) {
        let mut data = seed.to_vec();
        for (index, byte, operation) in edits {
            let position = index.index(data.len() + 1);
            match operation {
                0 => data.insert(position, byte),
                1 if position < data.len() => data[position] = byte,
                _ if position < data.len() => { data.remove(position); }
                _ => {}
            }
        }
        parse_everything(&data, now);
    }
}
