//! Loads for `benches/perf_suite.py`, lean enough that the server sets the pace.
//!
//! `load-driver noops ADDR USER PASS COUNT`: logs in, then one thread writes COUNT NOOPs
//! without waiting while this one counts the reply lines. Prints
//! `per_second=R cpu_share=C`.
//!
//! `load-driver sessions ADDR USER PASS COUNT CONCURRENCY`: logs COUNT sessions in,
//! CONCURRENCY at a time (one blocking thread each), prints
//! `logged_in=N failed=F seconds=S cpu_share=C first_error=...`, and keeps the sessions
//! open until its standard input closes.
//!
//! `cpu_share` is the CPU time of the driver's threads over the wall time measured: near
//! the number of cores the driver can get, and the driver may be what sets the pace.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Reads one reply, multi-line included; returns its code.
fn reply(control: &mut BufReader<TcpStream>, line: &mut Vec<u8>) -> Result<u16> {
    line.clear();
    if control.read_until(b'\n', line)? < 4 {
        return Err("connection closed".into());
    }
    let code = [line[0], line[1], line[2]];
    if line[3] == b'-' {
        loop {
            line.clear();
            if control.read_until(b'\n', line)? == 0 {
                return Err("connection closed".into());
            }
            if line.len() >= 4 && line[..3] == code && line[3] == b' ' {
                break;
            }
        }
    }
    Ok(std::str::from_utf8(&code)?.parse()?)
}

fn expect(control: &mut BufReader<TcpStream>, codes: &[u16]) -> Result<u16> {
    let mut line = Vec::new();
    let code = reply(control, &mut line)?;
    if !codes.contains(&code) {
        let line = String::from_utf8_lossy(&line);
        return Err(format!("expected {codes:?}, got {}", line.trim_end()).into());
    }
    Ok(code)
}

fn login(address: &str, user: &str, password: &str) -> Result<BufReader<TcpStream>> {
    let stream = TcpStream::connect(address)?;
    // A server that stops answering fails the run instead of hanging it.
    stream.set_read_timeout(Some(Duration::from_secs(120)))?;
    let mut control = BufReader::with_capacity(512, stream);
    expect(&mut control, &[220])?;
    let stream = control.get_mut();
    stream.write_all(format!("USER {user}\r\n").as_bytes())?;
    if expect(&mut control, &[230, 331])? == 331 {
        let stream = control.get_mut();
        stream.write_all(format!("PASS {password}\r\n").as_bytes())?;
        expect(&mut control, &[230])?;
    }
    Ok(control)
}

/// CPU time of the calling thread so far, in nanoseconds (0 where the kernel keeps no
/// scheduler statistics).
fn thread_cpu() -> u64 {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    let ns = stat.split_whitespace().next();
    ns.and_then(|ns| ns.parse().ok()).unwrap_or(0)
}

fn noops(address: &str, user: &str, password: &str, count: usize) -> Result<()> {
    let control = login(address, user, password)?;
    if !control.buffer().is_empty() {
        return Err("unexpected bytes after the login reply".into());
    }
    let mut stream = control.into_inner();
    let mut writer = stream.try_clone()?;
    let commands = b"NOOP\r\n".repeat(count);
    let (cpu, start) = (thread_cpu(), Instant::now());
    let sender = std::thread::spawn(move || writer.write_all(&commands).map(|()| thread_cpu()));
    let mut buffer = vec![0; 1 << 20];
    let (mut lines, mut bytes, mut first) = (0, 0, Vec::new());
    while lines < count {
        let read = stream.read(&mut buffer)?;
        if read == 0 {
            return Err(format!("connection closed after {lines} replies").into());
        }
        let chunk = &buffer[..read];
        if !first.ends_with(b"\n") {
            let end = chunk.iter().position(|&b| b == b'\n');
            first.extend_from_slice(&chunk[..end.map_or(read, |i| i + 1)]);
        }
        lines += chunk.iter().filter(|&&b| b == b'\n').count();
        bytes += read;
    }
    let seconds = start.elapsed().as_secs_f64();
    let writer_cpu = sender.join().map_err(|_| "writer panicked")??;
    let cpu = (thread_cpu() - cpu + writer_cpu) as f64 / 1e9;
    if !first.starts_with(b"200") || bytes != count * first.len() {
        let first = String::from_utf8_lossy(&first);
        return Err(format!("unexpected replies, the first: {first:?}").into());
    }
    let rate = count as f64 / seconds;
    println!("per_second={rate:.0} cpu_share={:.2}", cpu / seconds);
    Ok(())
}

fn sessions(address: &str, user: &str, password: &str, count: usize, threads: usize) -> Result<()> {
    let (next, failed, cpu) = (AtomicUsize::new(0), AtomicUsize::new(0), AtomicU64::new(0));
    let (open, first_error) = (Mutex::new(Vec::new()), Mutex::new(None));
    let start = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                let mut mine = Vec::new();
                while next.fetch_add(1, Ordering::Relaxed) < count {
                    match login(address, user, password) {
                        Ok(control) => mine.push(control.into_inner()),
                        Err(error) => {
                            failed.fetch_add(1, Ordering::Relaxed);
                            first_error.lock().unwrap().get_or_insert(error.to_string());
                        }
                    }
                }
                open.lock().unwrap().append(&mut mine);
                cpu.fetch_add(thread_cpu(), Ordering::Relaxed);
            });
        }
    });
    let seconds = start.elapsed().as_secs_f64();
    let cpu = cpu.into_inner() as f64 / 1e9;
    let open = open.into_inner().unwrap();
    let error = first_error.into_inner().unwrap().unwrap_or_default();
    let (logged_in, failed) = (open.len(), failed.into_inner());
    println!(
        "logged_in={logged_in} failed={failed} seconds={seconds:.4} cpu_share={:.2} first_error={error}",
        cpu / seconds
    );
    io::stdout().flush()?;
    io::stdin().read_to_end(&mut Vec::new())?;
    drop(open);
    Ok(())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number =
        |i: usize| -> Result<usize> { Ok(args.get(i).ok_or("missing argument")?.parse()?) };
    match (
        args.first().map(String::as_str),
        args.get(1),
        args.get(2),
        args.get(3),
    ) {
        (Some("noops"), Some(address), Some(user), Some(password)) => {
            noops(address, user, password, number(4)?)
        }
        (Some("sessions"), Some(address), Some(user), Some(password)) => {
            sessions(address, user, password, number(4)?, number(5)?)
        }
        _ => Err("usage: load-driver noops ADDR USER PASS COUNT | \
                  sessions ADDR USER PASS COUNT CONCURRENCY"
            .into()),
    }
}
