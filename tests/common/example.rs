//! The example server (`examples/server.rs`) as a separate process, for tests that
//! need to see it from outside: its resident memory and open file descriptors are read
//! from `/proc/PID/`, and whatever a test does to it cannot hide in the test's own
//! process.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ftp_proto::tokio::{Client, ClientConfig};
use tokio::io::AsyncReadExt;

use super::peers::{TempDir, pattern};

/// The file every fresh session downloads and compares.
pub const PROBE: &str = "probe.bin";

/// The probe's bytes.
pub fn probe_bytes() -> Vec<u8> {
    pattern(100_000, 42)
}

/// The example server's binary, built once per test process.
pub fn example_server_binary() -> PathBuf {
    example_binary("server")
}

/// An example's binary (`server`, `client`), built once per test process.
///
/// `cargo test` builds examples when no single test target is selected; with
/// `--test NAME` it does not, and an example built earlier may be stale. So when the
/// test runs under cargo (`CARGO` is set), `cargo build --example NAME` runs here
/// with this test's profile and features: a no-op when the binary is up to date.
pub fn example_binary(name: &'static str) -> PathBuf {
    static BINARIES: std::sync::Mutex<Vec<(&'static str, PathBuf)>> =
        std::sync::Mutex::new(Vec::new());
    let mut binaries = BINARIES.lock().unwrap();
    if let Some((_, binary)) = binaries.iter().find(|(built, _)| *built == name) {
        return binary.clone();
    }
    let binary = build_example(name);
    binaries.push((name, binary.clone()));
    binary
}

fn build_example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    // target/<profile>/deps/<test>-<hash>
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test binary lives in target/<profile>/deps");
    let binary = profile_dir.join("examples").join(name);
    if let Ok(cargo) = std::env::var("CARGO") {
        let mut features = vec!["tokio"];
        if cfg!(feature = "tls") {
            features.push("tls");
        }
        if cfg!(feature = "object-store") {
            features.push("object-store");
        }
        let mut command = Command::new(cargo);
        command
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["build", "--quiet", "--example", name, "--features"])
            .arg(features.join(","));
        match profile_dir.file_name().and_then(|name| name.to_str()) {
            Some("debug") | None => {}
            Some("release") => {
                command.arg("--release");
            }
            Some(profile) => {
                command.args(["--profile", profile]);
            }
        }
        let status = command.status().expect("cargo runs");
        assert!(status.success(), "building the example {name} failed");
    }
    assert!(
        binary.is_file(),
        "no example {name} at {}: run `cargo build --example {name} --features tokio`",
        binary.display()
    );
    binary
}

/// A running example server on a free port of 127.0.0.1, killed on drop. It serves
/// `root` with user `alice` (password `secret`, may write) and anonymous read access;
/// `root` holds [`PROBE`].
pub struct ExampleServer {
    pub address: SocketAddr,
    pub root: PathBuf,
    child: Child,
    pid: u32,
    logs: TempDir,
}

impl ExampleServer {
    /// Starts the server on `root` with the extra command-line `flags`.
    pub fn start(root: &Path, flags: &[&str]) -> ExampleServer {
        Self::start_with_env(root, flags, &[])
    }

    /// The same, with extra environment variables (S3 credentials, say; `RUST_LOG` here
    /// overrides the default).
    pub fn start_with_env(root: &Path, flags: &[&str], env: &[(&str, &str)]) -> ExampleServer {
        Self::start_example("server", root, flags, env)
    }

    /// The same for another server example that takes the same flags
    /// (`blocking_server`).
    pub fn start_example(
        name: &'static str,
        root: &Path,
        flags: &[&str],
        env: &[(&str, &str)],
    ) -> ExampleServer {
        std::fs::write(root.join(PROBE), probe_bytes()).unwrap();
        let logs = TempDir::new("example-logs");
        let log = std::fs::File::create(logs.join("stderr.log")).unwrap();
        let mut child = Command::new(example_binary(name))
            .args(["--listen", "127.0.0.1:0", "--root"])
            .arg(root)
            .args(["--user", "alice:secret", "--anonymous"])
            .args(flags)
            .env(
                "RUST_LOG",
                std::env::var("EXAMPLE_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("the example server starts");
        let pid = child.id();
        let stdout = child.stdout.take().unwrap();
        let (sender, address) = std::sync::mpsc::channel();
        // Reads the address from the first line, then keeps draining stdout so that the
        // server never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut sender = Some(sender);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                // The last URL: an object store's endpoint may come first.
                if let Some(rest) = line.rsplit_once("://").map(|(_, rest)| rest) {
                    if let (Some(sender), Some(address)) = (sender.take(), rest.split('/').next()) {
                        let _ = sender.send(address.parse::<SocketAddr>());
                    }
                }
            }
        });
        let address = match address.recv_timeout(Duration::from_secs(30)) {
            Ok(Ok(address)) => address,
            other => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the example server did not say where it listens ({other:?}); stderr:\n{}",
                    std::fs::read_to_string(logs.join("stderr.log")).unwrap_or_default()
                );
            }
        };
        ExampleServer {
            address,
            root: root.to_path_buf(),
            child,
            pid,
            logs,
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Kills the server with SIGKILL, as a crash or the OOM killer would (no clean-up
    /// of any kind runs), and waits until it is gone.
    pub fn kill(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("the killed server is reaped");
    }

    /// What the server wrote to stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.logs.join("stderr.log")).unwrap_or_default()
    }

    /// A field of `/proc/PID/status` in KiB (`VmRSS`, `VmHWM`).
    pub fn status_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid))
            .expect("the server is running");
        status
            .lines()
            .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("no {field} in /proc/{}/status", self.pid))
    }

    /// Resident memory now, in KiB.
    pub fn rss_kib(&self) -> u64 {
        self.status_kib("VmRSS")
    }

    /// The peak resident memory, in KiB (since the start or the last
    /// [`reset_peak_rss`](Self::reset_peak_rss)).
    pub fn peak_rss_kib(&self) -> u64 {
        self.status_kib("VmHWM")
    }

    /// Resets the peak resident memory to the current value (`clear_refs`); false when
    /// the kernel refuses.
    pub fn reset_peak_rss(&self) -> bool {
        std::fs::write(format!("/proc/{}/clear_refs", self.pid), "5").is_ok()
    }

    /// The server's threads now.
    pub fn threads(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).unwrap();
        status
            .lines()
            .find_map(|line| line.strip_prefix("Threads:"))
            .and_then(|value| value.trim().parse().ok())
            .unwrap()
    }

    /// The server's open file descriptors now.
    pub fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid))
            .expect("the server is running")
            .count()
    }

    /// Polls until the server has at most `target` open file descriptors, for at most
    /// `limit`; returns the last count seen.
    pub async fn wait_for_fds(&self, target: usize, limit: Duration) -> usize {
        let deadline = Instant::now() + limit;
        loop {
            let count = self.open_fds();
            if count <= target || Instant::now() >= deadline {
                return count;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A fresh session still works: log in as alice, list the root (the probe is in
    /// it), download the probe and compare its bytes.
    pub async fn assert_serves(&self) {
        let served = tokio::time::timeout(Duration::from_secs(30), async {
            let mut client = Client::connect(self.address, quick_client())
                .await
                .expect("connect");
            client.login("alice", "secret").await.expect("login");
            let entries = client.list(Some("/")).await.expect("list");
            assert!(
                entries.iter().any(|entry| entry.name == *PROBE),
                "the probe is not listed: {entries:?}"
            );
            let mut download = client.get(PROBE).await.expect("RETR");
            let mut bytes = Vec::new();
            download.read_to_end(&mut bytes).await.expect("download");
            download.finish().await.expect("226");
            assert!(bytes == probe_bytes(), "the probe came back different");
            client.quit().await.expect("QUIT");
        })
        .await;
        assert!(served.is_ok(), "a fresh session took over 30 s");
    }
}

impl Drop for ExampleServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- example server stderr ---\n{}", self.log());
        }
    }
}

/// A client configuration with short timeouts, so that no wait is unbounded.
pub fn quick_client() -> ClientConfig {
    let mut config = ClientConfig::default();
    config.session.reply_timeout = Duration::from_secs(20);
    config.session.data_connect_timeout = Duration::from_secs(20);
    config.connect_timeout = Duration::from_secs(20);
    config.session.data_timeout = Duration::from_secs(20);
    config
}
