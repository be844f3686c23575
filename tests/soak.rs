//! The soak run (issue 9): many concurrent sessions doing mixed transfers (downloads,
//! uploads read back, listings, renames, deletes; 0 B to 4 MiB) against the running
//! example server for minutes, every file's hash checked, in two halves with a pause
//! between; after each half the server's open file descriptors must be back at their
//! baseline, and its resident memory must not grow from the first pause to the end.
//! `SOAK_SECONDS` (default 180) and `SOAK_SESSIONS` (default 200) set the size.
//!
//! Not part of the default test run. Run it with:
//!
//! ```sh
//! SOAK_SECONDS=180 SOAK_SESSIONS=200 \
//!     nice cargo test --all-features --test soak -- --ignored --nocapture
//! ```
#![cfg(all(feature = "tokio", target_os = "linux"))]

mod common;

use std::collections::BTreeMap;
use std::hash::Hasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ftp_proto::tokio::{Client, ClientError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use common::example::{ExampleServer, quick_client};
use common::peers::{TempDir, pattern};

/// Sizes of the shared read-only files, which every session downloads.
const SHARED_SIZES: [usize; 7] = [0, 1, 4096, 65_536, 300_000, 1 << 20, 4 << 20];
/// Sizes of the files sessions upload, with how often each is chosen.
const UPLOAD_SIZES: [(usize, u32); 6] = [
    (0, 1),
    (1, 2),
    (10_000, 6),
    (100_000, 6),
    (1 << 20, 3),
    (3 << 20, 1),
];

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

/// A small deterministic generator: each session's choices can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn hash(bytes: &[u8]) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    hasher.write(bytes);
    hasher.finish()
}

#[derive(Default)]
struct Totals {
    sessions: AtomicU64,
    operations: AtomicU64,
    downloads: AtomicU64,
    uploads: AtomicU64,
    listings: AtomicU64,
    renames: AtomicU64,
    deletes: AtomicU64,
    bytes_down: AtomicU64,
    bytes_up: AtomicU64,
    errors: AtomicU64,
    first_errors: Mutex<Vec<String>>,
}

impl Totals {
    fn error(&self, worker: usize, what: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let mut first = self.first_errors.lock().unwrap();
        if first.len() < 20 {
            first.push(format!("session {worker}: {what}"));
        }
    }
}

/// A file a worker uploaded: its length and hash.
#[derive(Clone, Copy, PartialEq, Debug)]
struct Known {
    length: u64,
    hash: u64,
}

/// Downloads `path` and returns its length and hash.
async fn download(client: &mut Client<TcpStream>, path: &str) -> Result<Known, ClientError> {
    let mut stream = client.get(path).await?;
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).await?;
    stream.finish().await?;
    Ok(Known {
        length: bytes.len() as u64,
        hash: hash(&bytes),
    })
}

/// One worker: sessions of 5 to 40 operations each, until `deadline`. Returns the
/// files it leaves in its directory, as it believes them to be.
async fn worker(
    id: usize,
    server: std::net::SocketAddr,
    deadline: Instant,
    shared: Arc<Vec<Known>>,
    totals: Arc<Totals>,
) -> BTreeMap<String, Known> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (id as u64 + 1).wrapping_mul(0x2545_f491));
    let dir = format!("/w{id}");
    let mut files: BTreeMap<String, Known> = BTreeMap::new();
    let mut made_dir = false;
    let mut counter = 0u64;
    while Instant::now() < deadline {
        let mut client = match Client::connect(server, quick_client()).await {
            Ok(client) => client,
            Err(error) => {
                totals.error(id, format!("connect: {error}"));
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        totals.sessions.fetch_add(1, Ordering::Relaxed);
        if let Err(error) = client.login("alice", "secret").await {
            totals.error(id, format!("login: {error}"));
            continue;
        }
        if !made_dir {
            if let Err(error) = client.mkdir(dir.as_str()).await {
                totals.error(id, format!("MKD {dir}: {error}"));
                continue;
            }
            made_dir = true;
        }
        let operations = 5 + rng.below(36);
        for _ in 0..operations {
            if Instant::now() >= deadline {
                break;
            }
            totals.operations.fetch_add(1, Ordering::Relaxed);
            let outcome = operation(
                &mut client,
                &mut rng,
                &dir,
                &mut files,
                &mut counter,
                &shared,
                &totals,
            )
            .await;
            if let Err(what) = outcome {
                totals.error(id, what);
                break;
            }
        }
        let _ = client.quit().await;
    }
    files
}

/// One random operation; `Err` says what went wrong.
async fn operation(
    client: &mut Client<TcpStream>,
    rng: &mut Rng,
    dir: &str,
    files: &mut BTreeMap<String, Known>,
    counter: &mut u64,
    shared: &[Known],
    totals: &Totals,
) -> Result<(), String> {
    let pick = rng.below(100);
    let own = |rng: &mut Rng, files: &BTreeMap<String, Known>| {
        (!files.is_empty()).then(|| {
            let n = rng.below(files.len() as u64) as usize;
            let (name, known) = files.iter().nth(n).unwrap();
            (name.clone(), *known)
        })
    };
    match pick {
        // Download a shared file.
        0..=34 => {
            let n = rng.below(shared.len() as u64) as usize;
            let path = format!("/shared/s{n}.bin");
            let got = download(client, &path)
                .await
                .map_err(|e| format!("RETR {path}: {e}"))?;
            totals.downloads.fetch_add(1, Ordering::Relaxed);
            totals.bytes_down.fetch_add(got.length, Ordering::Relaxed);
            if got != shared[n] {
                return Err(format!(
                    "RETR {path}: got {got:?}, expected {:?}",
                    shared[n]
                ));
            }
        }
        // Upload (a new file, or over one of ours), then read it back.
        35..=59 => {
            let total: u32 = UPLOAD_SIZES.iter().map(|(_, weight)| weight).sum();
            let mut choice = rng.below(u64::from(total)) as u32;
            let size = UPLOAD_SIZES
                .iter()
                .find(|(_, weight)| {
                    if choice < *weight {
                        true
                    } else {
                        choice -= weight;
                        false
                    }
                })
                .unwrap()
                .0;
            let name = match own(rng, files) {
                Some((name, _)) if rng.below(3) == 0 => name,
                _ => {
                    *counter += 1;
                    format!("f{counter}.bin")
                }
            };
            let bytes = pattern(size, rng.next());
            let path = format!("{dir}/{name}");
            let mut upload = client
                .put(path.as_str())
                .await
                .map_err(|e| format!("STOR {path}: {e}"))?;
            upload
                .write_all(&bytes)
                .await
                .map_err(|e| format!("STOR {path}: {e}"))?;
            upload
                .finish()
                .await
                .map_err(|e| format!("STOR {path}: {e}"))?;
            let known = Known {
                length: size as u64,
                hash: hash(&bytes),
            };
            files.insert(name, known);
            totals.uploads.fetch_add(1, Ordering::Relaxed);
            totals.bytes_up.fetch_add(known.length, Ordering::Relaxed);
            let got = download(client, &path)
                .await
                .map_err(|e| format!("RETR {path} after STOR: {e}"))?;
            totals.downloads.fetch_add(1, Ordering::Relaxed);
            totals.bytes_down.fetch_add(got.length, Ordering::Relaxed);
            if got != known {
                return Err(format!("RETR {path}: got {got:?}, uploaded {known:?}"));
            }
        }
        // Download one of ours.
        60..=69 => {
            if let Some((name, known)) = own(rng, files) {
                let path = format!("{dir}/{name}");
                let got = download(client, &path)
                    .await
                    .map_err(|e| format!("RETR {path}: {e}"))?;
                totals.downloads.fetch_add(1, Ordering::Relaxed);
                totals.bytes_down.fetch_add(got.length, Ordering::Relaxed);
                if got != known {
                    return Err(format!("RETR {path}: got {got:?}, expected {known:?}"));
                }
            }
        }
        // List our directory: exactly our files, at their sizes.
        70..=84 => {
            let entries = client
                .list(Some(dir))
                .await
                .map_err(|e| format!("list {dir}: {e}"))?;
            totals.listings.fetch_add(1, Ordering::Relaxed);
            let listed: BTreeMap<String, Option<u64>> = entries
                .iter()
                .map(|entry| {
                    (
                        String::from_utf8_lossy(entry.name.as_bytes()).into_owned(),
                        entry.size,
                    )
                })
                .collect();
            let expected: BTreeMap<String, Option<u64>> = files
                .iter()
                .map(|(name, known)| (name.clone(), Some(known.length)))
                .collect();
            if listed != expected {
                return Err(format!("list {dir}: {listed:?}, expected {expected:?}"));
            }
        }
        // Rename one of ours.
        85..=92 => {
            if let Some((name, known)) = own(rng, files) {
                *counter += 1;
                let new_name = format!("r{counter}.bin");
                client
                    .rename(
                        format!("{dir}/{name}").as_str(),
                        format!("{dir}/{new_name}").as_str(),
                    )
                    .await
                    .map_err(|e| format!("rename {name}: {e}"))?;
                files.remove(&name);
                files.insert(new_name.clone(), known);
                totals.renames.fetch_add(1, Ordering::Relaxed);
                let size = client
                    .size(format!("{dir}/{new_name}").as_str())
                    .await
                    .map_err(|e| format!("SIZE {new_name}: {e}"))?;
                if size != known.length {
                    return Err(format!(
                        "SIZE {new_name}: {size}, expected {}",
                        known.length
                    ));
                }
            }
        }
        // Delete one of ours.
        _ => {
            if let Some((name, _)) = own(rng, files) {
                client
                    .delete(format!("{dir}/{name}").as_str())
                    .await
                    .map_err(|e| format!("DELE {name}: {e}"))?;
                files.remove(&name);
                totals.deletes.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    Ok(())
}

/// Every file under `dir` whose name marks an unfinished upload (a named staging file:
/// `LocalFs` names one only without `O_TMPFILE`, or for the instant before its rename).
fn temporary_files(dir: &std::path::Path, found: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let path = entry.path();
        if entry.file_type().unwrap().is_dir() {
            temporary_files(&path, found);
        } else if entry
            .file_name()
            .to_string_lossy()
            .starts_with(ftp_proto::tokio::STAGING_PREFIX)
        {
            found.push(path.display().to_string());
        }
    }
}

/// The server's resources, sampled.
#[derive(Clone, Copy, Debug, Default)]
struct Usage {
    rss_kib: u64,
    fds: usize,
    threads: u64,
}

impl Usage {
    fn of(server: &ExampleServer) -> Usage {
        Usage {
            rss_kib: server.rss_kib(),
            fds: server.open_fds(),
            threads: server.threads(),
        }
    }

    fn max(self, other: Usage) -> Usage {
        Usage {
            rss_kib: self.rss_kib.max(other.rss_kib),
            fds: self.fds.max(other.fds),
            threads: self.threads.max(other.threads),
        }
    }
}

/// Runs `sessions` workers (ids from `first_id`) for `seconds`, sampling the server;
/// returns each worker's files and the peak usage.
async fn run_phase(
    server: &ExampleServer,
    sessions: usize,
    first_id: usize,
    seconds: u64,
    shared: &Arc<Vec<Known>>,
    totals: &Arc<Totals>,
) -> (Vec<(usize, BTreeMap<String, Known>)>, Usage) {
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let mut workers = tokio::task::JoinSet::new();
    for id in first_id..first_id + sessions {
        let (shared, totals) = (Arc::clone(shared), Arc::clone(totals));
        let address = server.address;
        workers.spawn(async move { (id, worker(id, address, deadline, shared, totals).await) });
    }
    let mut peak = Usage::of(server);
    let report_every = Duration::from_secs((seconds / 3).max(1));
    let mut next_report = started + report_every;
    let mut results = Vec::new();
    loop {
        tokio::select! {
            done = workers.join_next() => match done {
                Some(done) => results.push(done.expect("a worker panicked")),
                None => break,
            },
            () = tokio::time::sleep(Duration::from_millis(500)) => {
                let now = Usage::of(server);
                peak = peak.max(now);
                if Instant::now() >= next_report {
                    next_report += report_every;
                    println!(
                        "{:>4.0} s: VmRSS {} KiB, fds {}, threads {}, {} operations, {} errors",
                        started.elapsed().as_secs_f64(),
                        now.rss_kib,
                        now.fds,
                        now.threads,
                        totals.operations.load(Ordering::Relaxed),
                        totals.errors.load(Ordering::Relaxed),
                    );
                }
            }
        }
    }
    (results, peak)
}

/// Waits (bounded) for the server to be idle again: descriptors back to `baseline`,
/// the blocking pool's idle threads gone (tokio lets them go after 10 s). Returns the
/// usage then.
async fn settle(server: &ExampleServer, baseline: Usage) -> Usage {
    server
        .wait_for_fds(baseline.fds, Duration::from_secs(30))
        .await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while server.threads() > baseline.threads && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Usage::of(server)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "minutes long: run with --ignored (see the file's docs)"]
async fn soak() {
    let seconds = env_number("SOAK_SECONDS", 180);
    let sessions = env_number("SOAK_SESSIONS", 200) as usize;
    let root = TempDir::new("soak");
    std::fs::create_dir(root.join("shared")).unwrap();
    let shared: Vec<Known> = SHARED_SIZES
        .iter()
        .enumerate()
        .map(|(n, size)| {
            let bytes = pattern(*size, 1000 + n as u64);
            std::fs::write(root.join(&format!("shared/s{n}.bin")), &bytes).unwrap();
            Known {
                length: *size as u64,
                hash: hash(&bytes),
            }
        })
        .collect();
    let shared = Arc::new(shared);
    let limit = (sessions + 50).to_string();
    let server = ExampleServer::start(
        root.path(),
        &["--max-sessions", &limit, "--max-per-ip", &limit],
    );
    let fds_at_start = server.open_fds();
    server.assert_serves().await;
    let before = settle(&server, Usage::of(&server)).await;
    assert_eq!(
        before.fds, fds_at_start,
        "a clean session left descriptors open"
    );

    // Two halves with a pause between: what the first leaves behind is the allocator's
    // working set; a leak would grow again in the second.
    let totals = Arc::new(Totals::default());
    let started = Instant::now();
    let (mut results, peak_first) =
        run_phase(&server, sessions, 0, seconds / 2, &shared, &totals).await;
    let pause_started = Instant::now();
    let between = settle(&server, before).await;
    let pause = pause_started.elapsed().as_secs_f64();
    println!("between the halves: {between:?}");
    let (second, peak_second) = run_phase(
        &server,
        sessions,
        sessions,
        seconds - seconds / 2,
        &shared,
        &totals,
    )
    .await;
    let load_seconds = started.elapsed().as_secs_f64() - pause;
    results.extend(second);
    let after = settle(&server, before).await;
    let peak = peak_first.max(peak_second);

    // What each worker believes is on the server is what is on the disk.
    let mut disk_mismatches = 0;
    for (id, files) in &results {
        let dir = root.join(&format!("w{id}"));
        let mut on_disk = BTreeMap::new();
        if dir.exists() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let entry = entry.unwrap();
                let bytes = std::fs::read(entry.path()).unwrap();
                on_disk.insert(
                    entry.file_name().to_string_lossy().into_owned(),
                    Known {
                        length: bytes.len() as u64,
                        hash: hash(&bytes),
                    },
                );
            }
        }
        if &on_disk != files {
            disk_mismatches += 1;
        }
    }
    let mut temporary = Vec::new();
    temporary_files(root.path(), &mut temporary);

    let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
    println!(
        "FIGURE soak: {sessions} concurrent sessions, two halves of {:.0} s ({load_seconds:.0} s \
         under load, {pause:.0} s pause between): {} sessions opened, {} operations ({} downloads, {} uploads, {} listings, \
         {} renames, {} deletes), {:.1} MiB down, {:.1} MiB up, {} errors, {disk_mismatches} \
         disk mismatches, {} temporary files left",
        seconds as f64 / 2.0,
        load(&totals.sessions),
        load(&totals.operations),
        load(&totals.downloads),
        load(&totals.uploads),
        load(&totals.listings),
        load(&totals.renames),
        load(&totals.deletes),
        load(&totals.bytes_down) as f64 / (1 << 20) as f64,
        load(&totals.bytes_up) as f64 / (1 << 20) as f64,
        load(&totals.errors),
        temporary.len(),
    );
    println!(
        "FIGURE soak: server VmRSS {} KiB before, {} KiB peak, {} KiB between the halves, {} KiB \
         after; fds {} before, {} peak, {} between, {} after; threads {} before, {} peak, {} after",
        before.rss_kib,
        peak.rss_kib,
        between.rss_kib,
        after.rss_kib,
        before.fds,
        peak.fds,
        between.fds,
        after.fds,
        before.threads,
        peak.threads,
        after.threads,
    );
    for line in totals.first_errors.lock().unwrap().iter() {
        println!("error: {line}");
    }
    assert_eq!(load(&totals.errors), 0, "operations failed");
    assert_eq!(
        disk_mismatches, 0,
        "the disk differs from what the clients did"
    );
    assert!(temporary.is_empty(), "temporary files left: {temporary:?}");
    assert_eq!(between.fds, before.fds, "file descriptors leaked");
    assert_eq!(after.fds, before.fds, "file descriptors leaked");
    // The allocator keeps freed memory for reuse, so the first half leaves the
    // resident size above the start; the second half, as long and as busy, must not
    // raise it much further.
    assert!(
        after.rss_kib <= between.rss_kib + 8 * 1024,
        "resident memory grew from {} KiB to {} KiB over the second half",
        between.rss_kib,
        after.rss_kib
    );
    server.assert_serves().await;
}
