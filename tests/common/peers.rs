//! Helpers for interop tests: a library server on a free loopback port with its own
//! root directory, and real peer programs run with a time limit.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use ftp_proto::tokio::{Authenticator, LocalFs, Server, ServerConfig, StaticUsers};

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

/// The library's server on 127.0.0.1 with a free port, running on its own thread and
/// runtime until dropped, for any authenticator (built on that runtime by `users`).
pub struct ServerThread {
    pub address: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ServerThread {
    pub fn start<A, F>(config: ServerConfig, users: F) -> ServerThread
    where
        A: Authenticator,
        F: FnOnce() -> A + Send + 'static,
    {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (ready_sender, ready) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let users = users();
                // The session offers no more than the storage can do (`Server::new`
                // refuses that); a test's own narrower capabilities stay.
                let mut config = config;
                config.session.capabilities = config
                    .session
                    .capabilities
                    .intersection(users.capabilities());
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                ready_sender.send(listener.local_addr().unwrap()).unwrap();
                Server::new(config, users)
                    .unwrap()
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
        ServerThread {
            address,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("ftp://127.0.0.1:{}/{path}", self.address.port())
    }

    /// Starts a graceful shutdown without waiting for it.
    pub fn begin_shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Drop for ServerThread {
    fn drop(&mut self) {
        self.begin_shutdown();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The library's server over a fresh local directory. User `alice` (password `secret`)
/// may write; `anonymous` may read.
pub struct TestServer {
    /// Declared first: dropped (stopped) before the root directory goes.
    server: ServerThread,
    pub address: SocketAddr,
    pub root: TempDir,
}

impl TestServer {
    pub fn start() -> TestServer {
        Self::start_with(ServerConfig::default())
    }

    pub fn start_with(config: ServerConfig) -> TestServer {
        let root = TempDir::new("root");
        let root_path = root.path().to_path_buf();
        let server = ServerThread::start(config, move || {
            StaticUsers::new()
                .anonymous(LocalFs::new(&root_path).unwrap())
                .user("alice", "secret", LocalFs::new(&root_path).unwrap(), true)
        });
        TestServer {
            address: server.address,
            server,
            root,
        }
    }

    pub fn url(&self, path: &str) -> String {
        self.server.url(path)
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

    /// Starts a graceful shutdown without waiting for it.
    pub fn begin_shutdown(&mut self) {
        self.server.begin_shutdown();
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

// ----- Real servers for the client's interop tests, and the client checks they share -----

/// A free TCP port on 127.0.0.1: bound to port 0, then released.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until something accepts connections on 127.0.0.1:`port`.
pub fn wait_for_port(port: u16, child: &mut std::process::Child, name: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while std::time::Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{name} exited early with {status}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{name} did not accept connections on port {port}");
}

/// A greeting no other listener on this machine sends: the peer started for one test
/// is told to greet with it, so that [`wait_for_greeting`] knows it reached that peer.
fn unique_banner(name: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "{name}-for-ftp-proto-test-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Waits until the peer program `child` greets with `banner` on 127.0.0.1:`port`.
///
/// A port from [`free_port`] is only free when it is chosen: a test running alongside
/// may bind it (a data listener, another peer) before the program does, and then
/// something answers on the port although the program has exited on "address in use".
/// Reading the greeting tells the two apart; `false` means the program exited, and the
/// caller starts it again on another port.
fn wait_for_greeting(port: u16, child: &mut std::process::Child, name: &str, banner: &str) -> bool {
    use std::io::BufRead;
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while std::time::Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if let Ok(stream) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            stream
                .set_read_timeout(Some(Duration::from_millis(500)))
                .unwrap();
            let mut greeting = String::new();
            let read = std::io::BufReader::new(stream).read_line(&mut greeting);
            if read.is_ok() && greeting.starts_with("220") && greeting.contains(banner) {
                return true;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{name} did not greet on port {port}");
}

/// Starts a peer server: `spawn(port, banner)` runs the program on `port`, told to
/// greet with `banner`; a lost race for the port (see [`wait_for_greeting`]) is tried
/// again on another port, a few times.
fn start_peer(
    name: &str,
    mut spawn: impl FnMut(u16, &str) -> std::process::Child,
) -> (u16, std::process::Child) {
    for _ in 0..5 {
        let port = free_port();
        let banner = unique_banner(name);
        let mut child = spawn(port, &banner);
        if wait_for_greeting(port, &mut child, name, &banner) {
            return (port, child);
        }
        let status = child.wait().unwrap();
        eprintln!("{name} exited with {status} on port {port}; trying another port");
    }
    panic!("{name} could not start on five free ports");
}

/// A server program started by a test, killed on drop.
pub struct PeerServer {
    pub port: u16,
    /// What the server serves.
    pub root: TempDir,
    child: std::process::Child,
    _config: Option<TempDir>,
}

impl PeerServer {
    pub fn address(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// vsftpd's log file (`vsftpd_log_file`; written with `xferlog_enable=YES`), as text.
    pub fn vsftpd_log(&self) -> String {
        self._config
            .as_ref()
            .and_then(|dir| std::fs::read(dir.join("vsftpd.log")).ok())
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default()
    }
}

impl Drop for PeerServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// vsftpd on a free loopback port, anonymous only (vsftpd's local users need a real
/// account with a password, which a sandbox running as root does not have). `root` is
/// the root-owned, read-only anonymous root; `root/upload` is owned by the `ftp` user and
/// writable through anonymous upload, mkdir and the "other write" rights (DELE, RNFR,
/// RMD). Ports 2 apart from `port` are the passive range.
pub fn start_vsftpd() -> PeerServer {
    start_vsftpd_with("")
}

/// [`start_vsftpd`] with FTPS required for everything, as a careful site runs it:
/// anonymous users may (and must) use TLS for login and data (the `force_local_*`
/// settings say the same for local users, which the sandbox has none of), and a data
/// connection must resume the control connection's TLS session.
pub fn start_vsftpd_tls(tls: &TlsFiles) -> PeerServer {
    start_vsftpd_with(&format!(
        "ssl_enable=YES\nrsa_cert_file={cert}\nrsa_private_key_file={key}\n\
         allow_anon_ssl=YES\nforce_anon_logins_ssl=YES\nforce_anon_data_ssl=YES\n\
         force_local_logins_ssl=YES\nforce_local_data_ssl=YES\nrequire_ssl_reuse=YES\n\
         ssl_request_cert=NO\nssl_ciphers=HIGH\n",
        cert = tls.cert.display(),
        key = tls.key.display(),
    ))
}

/// [`start_vsftpd`] with extra `vsftpd.conf` lines (later lines override earlier ones).
pub fn start_vsftpd_configured(extra: &str) -> PeerServer {
    start_vsftpd_with(extra)
}

fn start_vsftpd_with(extra: &str) -> PeerServer {
    let root = TempDir::new("vsftpd-root");
    let config_dir = TempDir::new("vsftpd-config");
    let empty = config_dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let upload = root.join("upload");
    std::fs::create_dir_all(&upload).unwrap();
    let uid = String::from_utf8(run_ok(Command::new("id").args(["-u", "ftp"])))
        .unwrap()
        .trim()
        .parse::<u32>()
        .expect("the ftp user exists");
    std::os::unix::fs::chown(&upload, Some(uid), None).unwrap();
    let pasv_min = free_port();
    let (port, child) = start_peer("vsftpd", |port, banner| {
        let config = format!(
            "listen=YES\nlisten_ipv6=NO\nlisten_address=127.0.0.1\nlisten_port={port}\n\
             ftpd_banner={banner}\n\
             anonymous_enable=YES\nlocal_enable=NO\nno_anon_password=YES\nanon_root={root}\n\
             write_enable=YES\nanon_upload_enable=YES\nanon_mkdir_write_enable=YES\n\
             anon_other_write_enable=YES\nanon_umask=022\nanon_world_readable_only=NO\n\
             pasv_enable=YES\npasv_min_port={pasv_min}\npasv_max_port={pasv_max}\n\
             port_enable=YES\nconnect_from_port_20=NO\nseccomp_sandbox=NO\nbackground=NO\n\
             secure_chroot_dir={empty}\nxferlog_enable=NO\nuse_localtime=NO\n\
             vsftpd_log_file={log}\ndual_log_enable=NO\nmax_per_ip=0\nmax_clients=0\n{extra}",
            root = root.path().display(),
            pasv_max = pasv_min.saturating_add(20),
            empty = empty.display(),
            log = config_dir.join("vsftpd.log").display(),
        );
        let file = config_dir.join("vsftpd.conf");
        std::fs::write(&file, config).unwrap();
        Command::new("vsftpd")
            .arg(&file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("vsftpd starts")
    });
    PeerServer {
        port,
        root,
        child,
        _config: Some(config_dir),
    }
}

/// pyftpdlib on a free loopback port: user `user`, password `pass`, writable, serving
/// a fresh directory.
pub fn start_pyftpdlib() -> PeerServer {
    start_pyftpdlib_with(&[])
}

/// [`start_pyftpdlib`] with explicit FTPS (`AUTH TLS`), required for login and data.
pub fn start_pyftpdlib_tls(tls: &TlsFiles) -> PeerServer {
    start_pyftpdlib_with(&[
        "--tls".as_ref(),
        "--certfile".as_ref(),
        tls.cert.as_os_str(),
        "--keyfile".as_ref(),
        tls.key.as_os_str(),
        "--tls-control-required".as_ref(),
        "--tls-data-required".as_ref(),
    ])
}

fn start_pyftpdlib_with(extra: &[&std::ffi::OsStr]) -> PeerServer {
    let root = TempDir::new("pyftpdlib-root");
    let (port, child) = start_peer("pyftpdlib", |port, banner| {
        Command::new("python3")
            .args(["-m", "pyftpdlib", "-i", "127.0.0.1", "-w"])
            .args(["-p", &port.to_string(), "--banner", banner])
            .args(extra)
            .args(["-u", "user", "-P", "pass", "-d"])
            .arg(root.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("pyftpdlib starts")
    });
    PeerServer {
        port,
        root,
        child,
        _config: None,
    }
}

/// Certificates made for a test, in PEM files: a CA, and a certificate it signed for
/// 127.0.0.1 and localhost with its key (or, from [`TlsFiles::self_signed`], one
/// certificate that is its own issuer, in both `ca` and `cert`).
pub struct TlsFiles {
    _dir: TempDir,
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TlsFiles {
    /// The example server's flags that serve this certificate and key.
    pub fn example_flags(&self) -> [String; 4] {
        [
            "--tls-cert".into(),
            self.cert.display().to_string(),
            "--tls-key".into(),
            self.key.display().to_string(),
        ]
    }

    /// A CA and a server certificate it signed.
    pub fn new() -> TlsFiles {
        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
        let dir = TempDir::new("tls");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "ftp-proto test CA");
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "ftp-proto test server");
        let cert = params.signed_by(&key, &ca).unwrap();
        let files = TlsFiles {
            ca: dir.join("ca.pem"),
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
            _dir: dir,
        };
        std::fs::write(&files.ca, ca.pem()).unwrap();
        std::fs::write(&files.cert, cert.pem()).unwrap();
        std::fs::write(&files.key, key.serialize_pem()).unwrap();
        files
    }

    /// One self-signed certificate for 127.0.0.1 and localhost.
    pub fn self_signed() -> TlsFiles {
        let certified =
            rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()])
                .unwrap();
        let dir = TempDir::new("tls");
        let files = TlsFiles {
            ca: dir.join("cert.pem"),
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
            _dir: dir,
        };
        std::fs::write(&files.cert, certified.cert.pem()).unwrap();
        std::fs::write(&files.key, certified.signing_key.serialize_pem()).unwrap();
        files
    }
}

/// A client configuration for one data connection mode: `"epsv"`, `"pasv"` (EPSV
/// switched off) or `"active"`.
pub fn client_config(mode: &str) -> ftp_proto::tokio::ClientConfig {
    use ftp_proto::client::DataConnectionMode;
    let mut config = ftp_proto::tokio::ClientConfig::default();
    config.session.reply_timeout = Duration::from_secs(10);
    config.session.data_connect_timeout = Duration::from_secs(10);
    config.session.data_timeout = Duration::from_secs(10);
    match mode {
        "epsv" => {}
        "pasv" => config.session.prefer_extended_passive = false,
        "active" => config.session.data_connection_mode = DataConnectionMode::Active,
        other => panic!("unknown mode {other}"),
    }
    config
}

/// Runs every client operation in the remote directory `base/mode` (created here),
/// which is `disk/mode` on the server's disk, checking results against the disk byte
/// for byte. MFMT and resumed transfers are checked when the server advertises them.
pub async fn exercise_client(
    client: &mut ftp_proto::tokio::Client<tokio::net::TcpStream>,
    base: &str,
    disk: &Path,
    mode: &str,
) {
    use ftp_proto::client::Error as SessionError;
    use ftp_proto::listing::EntryKind;
    use ftp_proto::tokio::ClientError;
    use std::time::{SystemTime, UNIX_EPOCH};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let dir = format!("{}/{mode}", base.trim_end_matches('/'));
    let disk = disk.join(mode);
    let features = client.features().await.expect("FEAT");
    assert!(client.pwd().await.unwrap().as_bytes().starts_with(b"/"));

    // Directories.
    client.mkdir(dir.as_str()).await.expect("MKD");
    assert!(disk.is_dir());
    client.cwd(dir.as_str()).await.expect("CWD");
    assert_eq!(client.pwd().await.unwrap(), *dir.as_str());
    client.mkdir("sub").await.expect("MKD sub");
    assert!(disk.join("sub").is_dir());
    client.cwd("sub").await.unwrap();
    client.cdup().await.expect("CDUP");
    assert_eq!(client.pwd().await.unwrap(), *dir.as_str());

    // Upload through the AsyncWrite handle, with progress.
    let data = pattern(300_000, 7);
    let mut upload = client.put("f.bin").await.expect("STOR");
    let progress = upload.progress();
    upload.write_all(&data).await.unwrap();
    assert_eq!(progress.bytes(), data.len() as u64);
    upload.finish().await.expect("STOR finished");
    assert!(
        std::fs::read(disk.join("f.bin")).unwrap() == data,
        "uploaded bytes differ"
    );
    assert_eq!(client.size("f.bin").await.expect("SIZE"), data.len() as u64);

    // Download through the AsyncRead handle, with progress.
    let mut download = client.get("f.bin").await.expect("RETR");
    let mut received = Vec::new();
    download.read_to_end(&mut received).await.unwrap();
    assert_eq!(download.bytes_transferred(), data.len() as u64);
    download.finish().await.expect("RETR finished");
    assert!(received == data, "downloaded bytes differ");
    let mut copied = Vec::new();
    let bytes = client.download_to("f.bin", &mut copied).await.unwrap();
    assert_eq!(bytes, data.len() as u64);
    assert!(copied == data);

    // Resume both ways, and append.
    if features.restart_stream() {
        let mut tail = Vec::new();
        let mut download = client.get_from("f.bin", 100_000).await.expect("REST+RETR");
        download.read_to_end(&mut tail).await.unwrap();
        download.finish().await.unwrap();
        assert!(tail == data[100_000..], "resumed download differs");

        client
            .upload_from("r.bin", &mut &data[..120_000])
            .await
            .unwrap();
        let mut upload = client.put_from("r.bin", 120_000).await.expect("REST+STOR");
        upload.write_all(&data[120_000..]).await.unwrap();
        upload.finish().await.unwrap();
        assert!(
            std::fs::read(disk.join("r.bin")).unwrap() == data,
            "resumed upload differs"
        );
    } else {
        client.upload_from("r.bin", &mut &data[..]).await.unwrap();
    }
    let mut upload = client.append("r.bin").await.expect("APPE");
    upload.write_all(b"appended").await.unwrap();
    upload.finish().await.unwrap();
    let mut expected = data.clone();
    expected.extend_from_slice(b"appended");
    assert!(
        std::fs::read(disk.join("r.bin")).unwrap() == expected,
        "append differs"
    );

    // Times.
    let modified = client.mdtm("f.bin").await.expect("MDTM");
    let age = SystemTime::now()
        .duration_since(modified)
        .unwrap_or_default();
    assert!(age < Duration::from_secs(3600), "MDTM {modified:?}");
    let then = UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    if features.set_modification_time() {
        client.mfmt("f.bin", then).await.expect("MFMT");
        assert_eq!(client.mdtm("f.bin").await.unwrap(), then);
    } else {
        let refused = client.mfmt("f.bin", then).await.unwrap_err();
        assert!(matches!(
            refused,
            ClientError::Protocol(SessionError::NotSupported { .. })
        ));
    }

    // Listings.
    let entries = client.list(Some(dir.as_str())).await.expect("list");
    let file = entries
        .iter()
        .find(|entry| entry.name == *"f.bin")
        .unwrap_or_else(|| panic!("f.bin not in {entries:?}"));
    assert_eq!(file.kind, EntryKind::File);
    assert_eq!(file.size, Some(data.len() as u64));
    let sub = entries.iter().find(|entry| entry.name == *"sub").unwrap();
    assert!(sub.is_directory());
    assert_eq!(entries.len(), 3, "{entries:?}");
    let raw = client.list_raw(None).await.expect("LIST");
    assert!(String::from_utf8_lossy(&raw).contains("f.bin"));
    let names = client.nlst(None).await.expect("NLST");
    assert!(
        names.iter().any(|name| name.as_bytes().ends_with(b"f.bin")),
        "{names:?}"
    );

    // Rename.
    client.rename("f.bin", "g.bin").await.expect("rename");
    assert!(!disk.join("f.bin").exists() && disk.join("g.bin").exists());

    // Abort midway, and drop midway: the client stays usable either way.
    let big = pattern(16 << 20, 3);
    std::fs::write(disk.join("big.bin"), &big).unwrap();
    let mut download = client.get("big.bin").await.unwrap();
    let mut start = vec![0; 65536];
    download.read_exact(&mut start).await.unwrap();
    assert!(start == big[..65536]);
    download.abort().await.expect("ABOR");
    client.noop().await.expect("NOOP after ABOR");
    let mut download = client.get("big.bin").await.unwrap();
    download.read_exact(&mut start).await.unwrap();
    drop(download);
    client.noop().await.expect("NOOP after a dropped download");
    let mut upload = client.put("partial.bin").await.unwrap();
    upload.write_all(&data[..1000]).await.unwrap();
    drop(upload);
    client.noop().await.expect("NOOP after a dropped upload");
    let mut whole = Vec::new();
    client.download_to("big.bin", &mut whole).await.unwrap();
    assert!(whole == big, "big download differs");

    // Control-only commands.
    let system = client.raw("SYST").await.expect("SYST");
    assert_eq!(system.code().as_u16(), 215);
    match client.site("HELP").await {
        Ok(reply) => assert!(reply.code().is_positive_completion()),
        Err(ClientError::Protocol(SessionError::Refused { .. })) => {}
        Err(error) => panic!("SITE HELP: {error}"),
    }
    assert!(client.raw("NOOP\r\nDELE g.bin").await.is_err());

    // Trees.
    let local = TempDir::new("tree-up");
    std::fs::create_dir_all(local.join("a/b")).unwrap();
    std::fs::write(local.join("a/x.bin"), pattern(70_000, 11)).unwrap();
    std::fs::write(local.join("a/b/y.bin"), pattern(5, 12)).unwrap();
    std::fs::write(local.join("z.txt"), b"zed").unwrap();
    std::fs::write(local.join("a/b/empty"), b"").unwrap();
    let tree = format!("{dir}/tree");
    let up = client
        .upload_tree(local.path(), &tree)
        .await
        .expect("upload tree");
    assert_eq!(up.files, 4);
    let fetched = TempDir::new("tree-down");
    let down = client
        .download_tree(&tree, &fetched.join("copy"))
        .await
        .expect("download tree");
    assert_eq!(down.files, 4);
    for name in ["a/x.bin", "a/b/y.bin", "z.txt", "a/b/empty"] {
        let original = std::fs::read(local.join(name)).unwrap();
        assert!(
            std::fs::read(disk.join("tree").join(name)).unwrap() == original,
            "{name}"
        );
        assert!(
            std::fs::read(fetched.join("copy").join(name)).unwrap() == original,
            "{name}"
        );
    }

    // Removal.
    for name in ["g.bin", "r.bin", "big.bin"] {
        client.delete(name).await.expect("DELE");
        assert!(!disk.join(name).exists());
    }
    client.rmdir("sub").await.expect("RMD");
    assert!(!disk.join("sub").exists());
    let missing = client.delete("no-such-file").await.unwrap_err();
    assert!(
        missing
            .reply()
            .is_some_and(|reply| reply.code().as_u16() == 550)
    );
    client.noop().await.expect("NOOP at the end");
}
