//! Helpers for interop tests: a library server on a free loopback port with its own
//! root directory, and real peer programs run with a time limit.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use ftp_proto::tokio::{LocalFs, Server, ServerConfig, StaticUsers};

/// Whether a peer program is installed. Outside CI a missing peer skips the test with a
/// loud message; under `CI=true` it fails it, so that CI never passes by skipping.
pub fn peer_available(program: &str) -> bool {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {program}"))
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !found {
        if std::env::var("CI").is_ok_and(|value| value == "true") {
            panic!("{program} is required under CI=true but is not installed (see .ci/run)");
        }
        eprintln!("\n*** SKIPPED: {program} is not installed; install it to run this test ***\n");
    }
    found
}

/// Whether Python has a module (pyftpdlib, OpenSSL), with the same skip policy.
pub fn python_module_available(module: &str) -> bool {
    if !peer_available("python3") {
        return false;
    }
    let found = Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !found {
        if std::env::var("CI").is_ok_and(|value| value == "true") {
            panic!("python module {module} is required under CI=true (see .ci/run)");
        }
        eprintln!("\n*** SKIPPED: python module {module} is not installed ***\n");
    }
    found
}

/// A directory under the system's temporary directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "ftp-proto-{label}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The library's server on 127.0.0.1 with a free port, running on its own thread until
/// dropped. User `alice` (password `secret`) may write; `anonymous` may read.
pub struct TestServer {
    pub address: SocketAddr,
    pub root: TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestServer {
    pub fn start() -> TestServer {
        Self::start_with(ServerConfig::default())
    }

    pub fn start_with(config: ServerConfig) -> TestServer {
        let root = TempDir::new("root");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (ready_sender, ready) = std::sync::mpsc::channel();
        let root_path = root.path().to_path_buf();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let users = StaticUsers::new()
                    .anonymous(LocalFs::new(&root_path).unwrap())
                    .user("alice", "secret", LocalFs::new(&root_path).unwrap(), true);
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                ready_sender.send(listener.local_addr().unwrap()).unwrap();
                Server::new(config, users)
                    .serve(listener, async {
                        let _ = stopped.await;
                    })
                    .await
                    .unwrap();
            });
        });
        let address = ready
            .recv_timeout(Duration::from_secs(10))
            .expect("server started");
        TestServer {
            address,
            root,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("ftp://127.0.0.1:{}/{path}", self.address.port())
    }

    pub fn write(&self, name: &str, data: &[u8]) {
        let path = self.root.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(path, data).unwrap();
    }

    pub fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.root.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    pub fn exists(&self, name: &str) -> bool {
        self.root.join(name).exists()
    }
}

impl TestServer {
    /// Starts a graceful shutdown without waiting for it.
    pub fn begin_shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Runs a command to completion within `limit`, killing it past that. Output is read
/// while the command runs, so a large output never blocks it.
pub fn run(command: &mut Command, limit: Duration) -> Output {
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    let pid = child.id();
    let (done, finished) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        let timed_out = finished.recv_timeout(limit).is_err();
        if timed_out {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
        timed_out
    });
    let output = child.wait_with_output().unwrap();
    let _ = done.send(());
    let timed_out = watchdog.join().unwrap();
    assert!(
        !timed_out,
        "{command:?} timed out after {limit:?}\nstderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Runs a command and insists that it succeeded; returns its stdout.
pub fn run_ok(command: &mut Command) -> Vec<u8> {
    let output = run(command, Duration::from_secs(120));
    assert!(
        output.status.success(),
        "{command:?} failed with {}\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// Deterministic pseudo-random bytes (xorshift), so that files differ at every offset.
pub fn pattern(length: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    let mut data = Vec::with_capacity(length + 8);
    while data.len() < length {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        data.extend_from_slice(&state.to_le_bytes());
    }
    data.truncate(length);
    data
}
