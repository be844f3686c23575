//! Parsing and encoding throughput of the control connection.
//!
//! Run with `cargo bench --bench parse -- --warm-up-time 1 --measurement-time 3`.
//! Each input is measured twice, once in bytes per second and once in commands (or
//! replies) per second, against a baseline that only finds the line ends with `memchr`:
//! no parser can split lines faster than that, so "percent of baseline" says how much of
//! the time goes to everything else.

use std::hint::black_box;

use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main};
use ftp_proto::{Command, CommandParser, Reply, ReplyParser, parse_command};

/// One client session: what curl, lftp or FileZilla send for a login, a few listings,
/// downloads and uploads.
const SESSION: &[&str] = &[
    "USER anonymous",
    "PASS guest@example.com",
    "SYST",
    "FEAT",
    "OPTS UTF8 ON",
    "PWD",
    "TYPE I",
    "CWD /pub/releases/2024",
    "EPSV",
    "MLSD",
    "CWD /home/user/projects/ftp-proto/target/release",
    "PASV",
    "LIST -la",
    "SIZE archive/linux-6.8.1-x86_64-generic.tar.xz",
    "MDTM archive/linux-6.8.1-x86_64-generic.tar.xz",
    "EPSV",
    "RETR archive/linux-6.8.1-x86_64-generic.tar.xz",
    "REST 1048576",
    "EPSV",
    "RETR /var/www/html/assets/images/background-large-2560x1440.jpg",
    "PORT 192,168,1,10,195,80",
    "STOR uploads/2024-02-29/report-quarterly-financials-final-v3.pdf",
    "NOOP",
    "TYPE A",
    "EPSV",
    "NLST /pub",
    "CDUP",
    "MKD new folder",
    "RNFR old name.txt",
    "RNTO new name.txt",
    "DELE tmp/cache.bin",
    "QUIT",
];

/// Server replies in the proportions a session sees them, with the multi-line ones that
/// make a reply parser work: FEAT, STAT, HELP and an MLST entry line.
const REPLIES: &[&str] = &[
    "220 ProFTPD Server (Debian) [192.168.1.10]\r\n",
    "331 Anonymous login ok, send your complete email address as your password\r\n",
    "230 Anonymous access granted, restrictions apply\r\n",
    "215 UNIX Type: L8\r\n",
    "211-Features:\r\n EPRT\r\n EPSV\r\n MDTM\r\n MFMT\r\n MLST type*;size*;modify*;perm*;unique*;\r\n REST STREAM\r\n SIZE\r\n TVFS\r\n UTF8\r\n211 End\r\n",
    "200 UTF8 set to on\r\n",
    "257 \"/pub\" is the current directory\r\n",
    "200 Type set to I\r\n",
    "250 CWD command successful\r\n",
    "229 Entering Extended Passive Mode (|||50123|)\r\n",
    "150 Opening BINARY mode data connection for MLSD\r\n",
    "226 Transfer complete\r\n",
    "227 Entering Passive Mode (192,168,1,10,195,80).\r\n",
    "213 1073741824\r\n",
    "213 20240229235959\r\n",
    "150 Opening BINARY mode data connection for linux-6.8.1.tar.xz (1073741824 bytes)\r\n",
    "350 Restarting at 1048576. Send STORE or RETRIEVE to initiate transfer\r\n",
    "250-Listing /pub/releases/2024/file.txt\r\n type=file;size=1024;modify=20240229235959;perm=r; /pub/releases/2024/file.txt\r\n250 End\r\n",
    "211-ftp.example.com FTP server status:\r\n     Connected to 192.168.1.20\r\n     Logged in as ftp\r\n     TYPE: BINARY\r\n     No session bandwidth limit\r\n     Session timeout in seconds is 300\r\n     Control connection is plain text\r\n     Data connections will be plain text\r\n211 End of status\r\n",
    "214-The following commands are recognized.\r\n ABOR ACCT ALLO APPE CDUP CWD  DELE EPRT EPSV FEAT HELP LIST MDTM MKD\r\n MODE NLST NOOP OPTS PASS PASV PORT PWD  QUIT REIN REST RETR RMD  RNFR\r\n RNTO SITE SIZE SMNT STAT STOR STOU STRU SYST TYPE USER XCUP XCWD XMKD\r\n XPWD XRMD\r\n214 Help OK.\r\n",
    "550 secret.txt: Permission denied\r\n",
    "221 Goodbye.\r\n",
];

/// Sessions per buffer: about 64 KiB of commands, more than the L1 cache holds.
const REPEAT: usize = 64;

fn command_buffer() -> (Vec<u8>, u64) {
    let mut buffer = Vec::new();
    for _ in 0..REPEAT {
        for line in SESSION {
            buffer.extend_from_slice(line.as_bytes());
            buffer.extend_from_slice(b"\r\n");
        }
    }
    (buffer, (SESSION.len() * REPEAT) as u64)
}

fn reply_buffer() -> (Vec<u8>, u64) {
    let mut buffer = Vec::new();
    for _ in 0..REPEAT {
        for reply in REPLIES {
            buffer.extend_from_slice(reply.as_bytes());
        }
    }
    (buffer, (REPLIES.len() * REPEAT) as u64)
}

/// The baseline: find every LF, strip the CR, hand the line on.
fn split_lines(input: &[u8]) -> usize {
    let mut count = 0;
    let mut rest = input;
    while let Some(end) = memchr::memchr(b'\n', rest) {
        let line = &rest[..end];
        black_box(line.strip_suffix(b"\r").unwrap_or(line));
        count += 1;
        rest = &rest[end + 1..];
    }
    count
}

/// The borrowed path of a server: one buffer, one parser, drop what it consumed.
fn stream_commands(input: &[u8]) -> usize {
    let mut parser = CommandParser::new();
    let mut rest = input;
    let mut count = 0;
    loop {
        let parsed = parser.parse(rest);
        rest = &rest[parsed.consumed..];
        match parsed.item {
            Some(item) => {
                let _ = black_box(item);
                count += 1;
            }
            None => return count,
        }
    }
}

/// `parse_command` on each line, found with `memchr`.
fn commands_one_by_one(input: &[u8]) -> usize {
    let mut count = 0;
    let mut rest = input;
    while let Some(end) = memchr::memchr(b'\n', rest) {
        let _ = black_box(parse_command(&rest[..=end]));
        count += 1;
        rest = &rest[end + 1..];
    }
    count
}

fn stream_replies(input: &[u8]) -> usize {
    let mut parser = ReplyParser::new();
    let mut rest = input;
    let mut count = 0;
    loop {
        let parsed = parser.parse(rest);
        rest = &rest[parsed.consumed..];
        match parsed.item {
            Some(item) => {
                let _ = black_box(item);
                count += 1;
            }
            None => return count,
        }
    }
}

fn command_group(group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>, input: &[u8]) {
    group.bench_function("memchr_lines_baseline", |b| {
        b.iter(|| split_lines(black_box(input)))
    });
    group.bench_function("command_parser", |b| {
        b.iter(|| stream_commands(black_box(input)))
    });
    group.bench_function("parse_command_per_line", |b| {
        b.iter(|| commands_one_by_one(black_box(input)))
    });
}

/// Prints command parsing's throughput as a share of the line splitter's, from the best
/// of 20 timed rounds of each, interleaved so that both see the same machine load.
fn print_ratio(input: &[u8]) {
    let rounds = |work: &dyn Fn() -> usize| {
        let started = std::time::Instant::now();
        for _ in 0..200 {
            black_box(work());
        }
        started.elapsed()
    };
    let mut baseline = std::time::Duration::MAX;
    let mut parser = std::time::Duration::MAX;
    for _ in 0..20 {
        baseline = baseline.min(rounds(&|| split_lines(black_box(input))));
        parser = parser.min(rounds(&|| stream_commands(black_box(input))));
    }
    println!(
        "command parsing runs at {:.1}% of the memchr line-splitting baseline",
        100.0 * baseline.as_secs_f64() / parser.as_secs_f64()
    );
}

fn commands(c: &mut Criterion) {
    let (input, count) = command_buffer();
    assert_eq!(stream_commands(&input) as u64, count);
    assert_eq!(split_lines(&input) as u64, count);
    let mut parser = CommandParser::new();
    let mut rest = &input[..];
    while let Some(item) = {
        let parsed = parser.parse(rest);
        rest = &rest[parsed.consumed..];
        parsed.item
    } {
        assert!(item.is_ok(), "the command mix parses: {item:?}");
    }

    print_ratio(&input);

    let mut group = c.benchmark_group("commands_bytes");
    group.throughput(Throughput::Bytes(input.len() as u64));
    command_group(&mut group, &input);
    group.finish();

    let mut group = c.benchmark_group("commands_elements");
    group.throughput(Throughput::Elements(count));
    command_group(&mut group, &input);
    group.finish();
}

fn replies(c: &mut Criterion) {
    let (input, count) = reply_buffer();
    assert_eq!(stream_replies(&input) as u64, count);

    let mut group = c.benchmark_group("replies_bytes");
    group.throughput(Throughput::Bytes(input.len() as u64));
    group.bench_function("memchr_lines_baseline", |b| {
        b.iter(|| split_lines(black_box(&input)))
    });
    group.bench_function("reply_parser", |b| {
        b.iter(|| stream_replies(black_box(&input)))
    });
    group.finish();

    let mut group = c.benchmark_group("replies_elements");
    group.throughput(Throughput::Elements(count));
    group.bench_function("reply_parser", |b| {
        b.iter(|| stream_replies(black_box(&input)))
    });
    group.finish();
}

fn encoding(c: &mut Criterion) {
    let commands: Vec<Command<'static>> = SESSION
        .iter()
        .map(|line| parse_command(line.as_bytes()).unwrap().into_owned())
        .collect();
    let replies: Vec<Reply<'static>> = REPLIES
        .iter()
        .map(|reply| {
            ftp_proto::parse_reply(reply.as_bytes())
                .unwrap()
                .into_owned()
        })
        .collect();

    let mut buffer = Vec::with_capacity(1 << 16);
    for command in &commands {
        command.encode(&mut buffer).unwrap();
    }
    let command_bytes = buffer.len();
    let mut group = c.benchmark_group("encode_commands");
    for (throughput, name) in [
        (Throughput::Bytes(command_bytes as u64), "bytes"),
        (Throughput::Elements(commands.len() as u64), "elements"),
    ] {
        group.throughput(throughput);
        group.bench_function(name, |b| {
            b.iter(|| {
                buffer.clear();
                for command in black_box(&commands) {
                    command.encode(&mut buffer).unwrap();
                }
                black_box(buffer.len())
            })
        });
    }
    group.finish();

    buffer.clear();
    for reply in &replies {
        reply.encode(&mut buffer);
    }
    let reply_bytes = buffer.len();
    let mut group = c.benchmark_group("encode_replies");
    for (throughput, name) in [
        (Throughput::Bytes(reply_bytes as u64), "bytes"),
        (Throughput::Elements(replies.len() as u64), "elements"),
    ] {
        group.throughput(throughput);
        group.bench_function(name, |b| {
            b.iter(|| {
                buffer.clear();
                for reply in black_box(&replies) {
                    reply.encode(&mut buffer);
                }
                black_box(buffer.len())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, commands, replies, encoding);
criterion_main!(benches);
