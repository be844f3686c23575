//! Listing parser throughput: entries per second over a 10,000-line Unix LIST reply and
//! a 10,000-line MLSD reply, both generated with this crate's own formatters.

use std::hint::black_box;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ftp_proto::listing::{self, Entry, EntryKind, FactSet, ListLine, ModifiedTime, PermFact};

const LINES: usize = 10_000;

/// 2021-06-01 00:00 UTC.
fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_622_505_600)
}

/// A varied but deterministic set of entries: files, directories and links, recent and
/// old times, names with spaces.
fn entries() -> Vec<Entry> {
    (0..LINES)
        .map(|index| {
            let name = format!("file number {index}.dat");
            let kind = match index % 10 {
                0 => EntryKind::Directory,
                1 => EntryKind::Symlink {
                    target: Some(format!("../target/{index}").into()),
                },
                _ => EntryKind::File,
            };
            let mut entry = Entry::new(name, kind);
            entry.size = Some((index as u64).wrapping_mul(2_654_435_761) % 10_000_000_000);
            // Every other entry within the last six months, the rest years older.
            let age = if index % 2 == 0 {
                index as u64 * 1_500
            } else {
                index as u64 * 90_000
            };
            let modified = now() - Duration::from_secs(age);
            entry.modified = Some(ModifiedTime::exact(modified));
            entry.permissions.unix_mode = Some(0o644);
            entry.permissions.mlsx = Some(PermFact::from_letters(b"adfrw"));
            entry.owner = Some(format!("user{}", index % 7).into());
            entry.group = Some("staff".into());
            entry.unique = Some(format!("801U{index:X}").into());
            entry
        })
        .collect()
}

fn bench_listing(criterion: &mut Criterion) {
    let entries = entries();
    let mut unix = Vec::new();
    let mut mlsd = Vec::new();
    for entry in &entries {
        listing::write_list_line(entry, now(), &mut unix);
        listing::write_mlsx_line(entry, FactSet::default(), &mut mlsd);
    }

    let mut group = criterion.benchmark_group("listing");
    group.throughput(Throughput::Elements(LINES as u64));
    group.bench_function("unix_list_10k", |bencher| {
        bencher.iter(|| {
            let parsed = listing::list_lines(black_box(&unix), now())
                .filter(|line| matches!(line, ListLine::Entry(_)))
                .count();
            assert_eq!(parsed, LINES);
        })
    });
    group.bench_function("mlsd_10k", |bencher| {
        bencher.iter(|| {
            let parsed = listing::mlsx_lines(black_box(&mlsd))
                .filter(Result::is_ok)
                .count();
            assert_eq!(parsed, LINES);
        })
    });
    group.bench_function("format_unix_list_10k", |bencher| {
        let mut out = Vec::with_capacity(unix.len());
        bencher.iter(|| {
            out.clear();
            for entry in &entries {
                listing::write_list_line(entry, now(), &mut out);
            }
            black_box(&out);
        })
    });
    group.bench_function("format_mlsd_10k", |bencher| {
        let mut out = Vec::with_capacity(mlsd.len());
        bencher.iter(|| {
            out.clear();
            for entry in &entries {
                listing::write_mlsx_line(entry, FactSet::default(), &mut out);
            }
            black_box(&out);
        })
    });
    group.finish();
}

criterion_group!(benches, bench_listing);
criterion_main!(benches);
