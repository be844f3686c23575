//! The borrowed path allocates nothing: parsing commands with a `CommandParser` (or
//! `parse_command`) over a buffer, and parsing a single-line reply, make no heap
//! allocation at all.
//!
//! A counting global allocator counts the allocations of the current thread only, and
//! only between `count_allocations`' start and end, so that other tests running in
//! parallel, the test harness and the set-up of each test (building the input) never
//! count.
//!
//! This needs `unsafe impl GlobalAlloc`: the trait is unsafe to implement, and no safe
//! wrapper can stand in for the global allocator. The library itself forbids unsafe
//! code; this integration test is a separate crate, and its unsafe is the minimum: every
//! method delegates straight to `System` with the caller's own arguments, so `System`'s
//! guarantees are passed through unchanged, and the counting touches only a const-
//! initialised thread-local `Cell` (which neither allocates nor registers a destructor,
//! so it cannot recurse into the allocator).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use ftp_proto::{Command, CommandParser, ReplyCode, ReplyParser, parse_command, parse_reply};

struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn note_allocation() {
    // `try_with`: the allocator may run while this thread's locals are being torn down.
    let _ = COUNTING.try_with(|counting| {
        if counting.get() {
            let _ = ALLOCATIONS.try_with(|count| count.set(count.get() + 1));
        }
    });
}

// SAFETY: every method forwards its arguments unchanged to `System`, which upholds the
// `GlobalAlloc` contract; the bookkeeping does not allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: the caller's obligations for `alloc` are passed on as they are.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation();
        // SAFETY: `ptr` came from this allocator, which is `System` underneath.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator, which is `System` underneath.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Runs `work` and returns what it returned and how many allocations (and reallocations)
/// this thread made meanwhile.
fn count_allocations<T>(work: impl FnOnce() -> T) -> (T, usize) {
    ALLOCATIONS.with(|count| count.set(0));
    COUNTING.with(|counting| counting.set(true));
    let result = std::hint::black_box(work());
    COUNTING.with(|counting| counting.set(false));
    (result, ALLOCATIONS.with(Cell::get))
}

/// What clients send, including the typed arguments (PORT, EPRT, TYPE, REST, MFMT with
/// its calendar conversion), optional and empty arguments, unknown verbs and errors.
const COMMANDS: &[&str] = &[
    "USER anonymous",
    "PASS guest@example.com",
    "PASS",
    "SYST",
    "FEAT",
    "OPTS UTF8 ON",
    "PWD",
    "TYPE I",
    "TYPE A N",
    "TYPE L 8",
    "STRU F",
    "MODE S",
    "MODE Z",
    "TYPE Z",
    "CWD /pub/releases/2024",
    "EPSV",
    "EPSV ALL",
    "EPSV 2",
    "PASV",
    "PORT 192,168,1,10,195,80",
    "EPRT |1|132.235.1.2|6275|",
    "EPRT |2|1080::8:800:200C:417A|5282|",
    "MLSD",
    "MLST file.txt",
    "LIST -la",
    "NLST ",
    "SIZE archive/linux-6.8.1.tar.xz",
    "MDTM archive/linux-6.8.1.tar.xz",
    "MFMT 20240229235959.5 archive/linux-6.8.1.tar.xz",
    "REST 1048576",
    "ALLO 1024 R 512",
    "RETR /var/www/html/assets/images/background-large-2560x1440.jpg",
    "STOR uploads/report final v3.pdf",
    "AUTH TLS",
    "PBSZ 0",
    "PROT P",
    "RNFR old name.txt",
    "RNTO new name.txt",
    "SITE CHMOD 644 file.txt",
    "HELP",
    "NOOP",
    "XYZZY plugh",
    "RETR",
    "NOOP now",
    "PROT Z",
    "PORT 1,2,3",
    "QUIT",
];

fn command_buffer() -> Vec<u8> {
    let mut buffer = Vec::new();
    for line in COMMANDS {
        buffer.extend_from_slice(line.as_bytes());
        buffer.extend_from_slice(b"\r\n");
    }
    buffer
}

#[test]
fn the_counter_sees_allocations() {
    let (vector, allocations) = count_allocations(|| vec![1u8; 64]);
    assert_eq!(vector.len(), 64);
    assert_eq!(allocations, 1);
    // A line that needs Telnet decoding is decoded into an owned buffer.
    let (command, allocations) = count_allocations(|| parse_command(b"RETR a\xff\xffb\r\n"));
    assert!(matches!(command, Ok(Command::Retr(_))));
    assert!(allocations > 0);
}

#[test]
fn command_parser_allocates_nothing_on_the_borrowed_path() {
    let input = command_buffer();
    let mut parser = CommandParser::new();
    let ((parsed, errors), allocations) = count_allocations(|| {
        let (mut parsed, mut errors) = (0, 0);
        let mut rest = &input[..];
        loop {
            let step = parser.parse(rest);
            rest = &rest[step.consumed..];
            match step.item {
                Some(Ok(command)) => {
                    std::hint::black_box(&command);
                    parsed += 1;
                }
                Some(Err(error)) => {
                    std::hint::black_box(&error);
                    errors += 1;
                }
                None => break,
            }
        }
        (parsed, errors)
    });
    assert_eq!(parsed + errors, COMMANDS.len());
    assert_eq!(
        errors, 4,
        "RETR, NOOP now, PROT Z and PORT 1,2,3 are refused"
    );
    assert_eq!(
        allocations, 0,
        "CommandParser allocated on the borrowed path"
    );
}

#[test]
fn parse_command_allocates_nothing_on_the_borrowed_path() {
    let lines: Vec<Vec<u8>> = COMMANDS
        .iter()
        .map(|line| format!("{line}\r\n").into_bytes())
        .collect();
    let (parsed, allocations) = count_allocations(|| {
        lines
            .iter()
            .filter(|line| std::hint::black_box(parse_command(line)).is_ok())
            .count()
    });
    assert_eq!(parsed, COMMANDS.len() - 4);
    assert_eq!(
        allocations, 0,
        "parse_command allocated on the borrowed path"
    );
}

#[test]
fn a_single_line_reply_allocates_nothing() {
    let input = b"227 Entering Passive Mode (192,168,1,10,195,80).\r\n229 Entering Extended Passive Mode (|||50123|)\r\n213 1073741824\r\n";
    let mut parser = ReplyParser::new();
    let ((codes, address, port, size), allocations) = count_allocations(|| {
        let mut rest = &input[..];
        let mut codes = [ReplyCode::COMMAND_OKAY; 3];
        let (mut address, mut port, mut size) = (None, None, None);
        for code in &mut codes {
            let step = parser.parse(rest);
            rest = &rest[step.consumed..];
            let reply = step.item.expect("a whole reply").expect("a valid reply");
            *code = reply.code();
            address = address.or(reply.passive_address().ok());
            port = port.or(reply.extended_passive_port().ok());
            size = size.or(reply.size().ok());
        }
        (codes, address, port, size)
    });
    assert_eq!(
        codes,
        [
            ReplyCode::ENTERING_PASSIVE_MODE,
            ReplyCode::ENTERING_EXTENDED_PASSIVE_MODE,
            ReplyCode::FILE_STATUS
        ]
    );
    assert_eq!(address.map(|address| address.port()), Some(50_000));
    assert_eq!(port, Some(50_123));
    assert_eq!(size, Some(1_073_741_824));
    assert_eq!(allocations, 0, "a single-line reply allocated");

    let (reply, allocations) = count_allocations(|| parse_reply(b"200 Type set to I\r\n"));
    assert_eq!(reply.map(|reply| reply.code()), Ok(ReplyCode::COMMAND_OKAY));
    assert_eq!(allocations, 0, "parse_reply allocated for a single line");
}
