//! The tokio client over FTPS (RFC 4217) against servers that insist on it: vsftpd with
//! TLS forced for login and data and `require_ssl_reuse=YES`, on TLS 1.2 and on TLS 1.3;
//! pyftpdlib with TLS required; our own server over explicit and implicit TLS with its
//! session-reuse requirement on. Every transfer is checked against the server's disk,
//! and every data connection's handshake must have resumed the control connection's
//! session. Certificates are made here; everything runs on loopback. A missing peer
//! skips loudly, or fails under CI=true.
#![cfg(all(feature = "tokio", feature = "tls", unix))]

mod common;

use std::process::Command;

use common::peers::{
    PeerServer, TempDir, TestServer, TlsFiles, client_config, exercise_client, pattern,
    peer_available, python_module_available, run, start_pyftpdlib_tls, start_vsftpd_tls,
};
use ftp_proto::tokio::tls::ClientTls;
use ftp_proto::tokio::{Client, ClientConfig, ClientError, DataTlsHandshakes, ServerConfig};
use rustls::ProtocolVersion;
use rustls::SupportedProtocolVersion;
use rustls::version::{TLS12, TLS13};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A client configuration for `mode` that trusts `files`' CA and offers only `versions`.
fn tls_config(
    files: &TlsFiles,
    versions: &[&'static SupportedProtocolVersion],
    mode: &str,
) -> ClientConfig {
    let mut config = client_config(mode);
    config.tls = Some(
        ClientTls::builder()
            .ca_file(&files.ca)
            .unwrap()
            .protocol_versions(versions)
            .build()
            .unwrap(),
    );
    config
}

/// Every data connection so far resumed the control connection's session.
fn assert_all_resumed(client: &Client<tokio::net::TcpStream>, at_least: u64) {
    let handshakes = client.data_tls_handshakes();
    assert_eq!(handshakes.full, 0, "{handshakes:?}");
    assert!(handshakes.resumed >= at_least, "{handshakes:?}");
}

// ----- vsftpd -----

fn vsftpd(files: &TlsFiles) -> Option<PeerServer> {
    peer_available("vsftpd").then(|| start_vsftpd_tls(files))
}

async fn vsftpd_every_operation(versions: &[&'static SupportedProtocolVersion], mode: &str) {
    let files = TlsFiles::new();
    let Some(server) = vsftpd(&files) else { return };
    let expected = versions[0].version;
    let mut client = Client::connect(server.address(), tls_config(&files, versions, mode))
        .await
        .unwrap();
    client.login("anonymous", "guest@").await.expect("login");
    assert!(client.session().is_control_secure());
    assert!(client.session().is_data_protected());
    assert_eq!(client.tls_version(), Some(expected));
    let disk = server.root.join("upload");
    exercise_client(&mut client, "/upload", &disk, mode).await;
    // exercise_client opened a few dozen data connections; vsftpd refuses (522) any
    // that does not resume, so each of them did.
    assert_all_resumed(&client, 20);
    client.quit().await.expect("QUIT");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vsftpd_tls12_every_operation() {
    vsftpd_every_operation(&[&TLS12], "epsv").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vsftpd_tls13_every_operation() {
    vsftpd_every_operation(&[&TLS13], "epsv").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vsftpd_tls13_active_mode() {
    vsftpd_every_operation(&[&TLS13], "active").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vsftpd_negotiates_tls13_when_both_are_offered() {
    let files = TlsFiles::new();
    let Some(server) = vsftpd(&files) else { return };
    let mut client = Client::connect(
        server.address(),
        tls_config(&files, &[&TLS12, &TLS13], "epsv"),
    )
    .await
    .unwrap();
    client.login("anonymous", "guest@").await.unwrap();
    assert_eq!(client.tls_version(), Some(ProtocolVersion::TLSv1_3));
    client.quit().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vsftpd_refuses_login_in_clear() {
    let files = TlsFiles::new();
    let Some(server) = vsftpd(&files) else { return };
    let mut client = Client::connect(server.address(), client_config("epsv"))
        .await
        .unwrap();
    let refused = client.login("anonymous", "guest@").await.unwrap_err();
    assert!(
        refused
            .reply()
            .is_some_and(|reply| reply.code().as_u16() == 530),
        "{refused}"
    );
}

// ----- pyftpdlib -----

async fn pyftpdlib_every_operation(versions: &[&'static SupportedProtocolVersion], mode: &str) {
    if !python_module_available("pyftpdlib") || !python_module_available("OpenSSL") {
        return;
    }
    let files = TlsFiles::new();
    let server = start_pyftpdlib_tls(&files);
    let mut client = Client::connect(server.address(), tls_config(&files, versions, mode))
        .await
        .unwrap();
    client.login("user", "pass").await.expect("login");
    assert_eq!(client.tls_version(), Some(versions[0].version));
    assert!(client.session().is_data_protected());
    exercise_client(&mut client, "/", server.root.path(), mode).await;
    // pyftpdlib does not insist on session reuse, but the client offers it and OpenSSL
    // takes it.
    assert_all_resumed(&client, 20);
    client.quit().await.expect("QUIT");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyftpdlib_tls12_every_operation() {
    pyftpdlib_every_operation(&[&TLS12], "epsv").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyftpdlib_tls13_every_operation() {
    pyftpdlib_every_operation(&[&TLS13], "pasv").await;
}

// ----- Our own server -----

fn our_server(files: &TlsFiles, implicit: bool) -> TestServer {
    let mut config = ServerConfig::default()
        .with_tls(ftp_proto::tokio::tls::server_config_from_pem(&files.cert, &files.key).unwrap());
    config.session.implicit_tls = implicit;
    config.session.require_tls_session_reuse = true;
    config.session.require_tls_for_login = true;
    config.session.require_tls_for_data = true;
    TestServer::start_with(config)
}

/// Uploads and downloads `rounds` files one after the other (uploads in a row first:
/// they spend TLS 1.3 tickets without the downloads' reading in between), each checked
/// on disk, then lists them.
async fn transfers_in_a_row(
    client: &mut Client<tokio::net::TcpStream>,
    server: &TestServer,
    rounds: usize,
) {
    let files: Vec<Vec<u8>> = (0..rounds)
        .map(|round| pattern(50_000 + round * 7_919, round as u64 + 1))
        .collect();
    for (round, data) in files.iter().enumerate() {
        let name = format!("f{round}.bin");
        let mut upload = client.put(name.as_str()).await.expect("STOR");
        upload.write_all(data).await.unwrap();
        upload.finish().await.expect("STOR finished");
        assert!(server.read(&name) == *data, "{name} differs on disk");
    }
    for (round, data) in files.iter().enumerate() {
        let mut received = Vec::new();
        let bytes = client
            .download_to(format!("f{round}.bin").as_str(), &mut received)
            .await
            .expect("RETR");
        assert_eq!(bytes, data.len() as u64);
        assert!(received == *data, "f{round}.bin differs");
    }
    let names = client.nlst(None).await.expect("NLST");
    assert_eq!(names.len(), rounds, "{names:?}");
}

async fn our_server_resumes_every_data_connection(
    versions: &[&'static SupportedProtocolVersion],
    implicit: bool,
    mode: &str,
) {
    let files = TlsFiles::new();
    let server = our_server(&files, implicit);
    let mut config = tls_config(&files, versions, mode);
    if implicit {
        config.tls = config.tls.map(ClientTls::implicit);
    }
    let mut client = Client::connect(server.address, config).await.unwrap();
    assert_eq!(
        client.session().is_control_secure(),
        implicit,
        "implicit TLS runs before the greeting"
    );
    client.login("alice", "secret").await.expect("login");
    assert_eq!(client.tls_version(), Some(versions[0].version));
    // More transfers than the tickets of the control connection: with TLS 1.3, later
    // data connections resume only with tickets read from earlier ones.
    let rounds = 10;
    transfers_in_a_row(&mut client, &server, rounds).await;
    // The server refuses (522) every data connection that does not resume: a transfer
    // that did not would have failed above. The client counts the same.
    assert_eq!(
        client.data_tls_handshakes(),
        DataTlsHandshakes {
            resumed: 2 * rounds as u64 + 1,
            full: 0
        }
    );
    client.quit().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_server_explicit_tls13_resumes_every_data_connection() {
    our_server_resumes_every_data_connection(&[&TLS13], false, "epsv").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_server_explicit_tls12_resumes_every_data_connection() {
    our_server_resumes_every_data_connection(&[&TLS12], false, "epsv").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_server_implicit_tls13_resumes_every_data_connection() {
    our_server_resumes_every_data_connection(&[&TLS13], true, "epsv").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_server_implicit_tls12_active_mode() {
    our_server_resumes_every_data_connection(&[&TLS12], true, "active").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_server_every_operation_over_tls() {
    let files = TlsFiles::new();
    let server = our_server(&files, false);
    let mut client = Client::connect(server.address, tls_config(&files, &[&TLS13], "epsv"))
        .await
        .unwrap();
    client.login("alice", "secret").await.unwrap();
    exercise_client(&mut client, "/", server.root.path(), "epsv").await;
    assert_all_resumed(&client, 20);
    client.quit().await.unwrap();
}

// ----- The end of a protected data connection, against a scripted server -----

/// How the scripted server ends a download's data connection.
#[derive(Clone, Copy)]
enum DataEnd {
    /// close_notify, then the TCP close.
    CloseNotify,
    /// The TCP close alone, after `bytes` of the file.
    BareClose { bytes: usize },
}

/// A one-session FTPS server (implicit TLS) that answers a login, one `RETR` or `STOR`
/// and `QUIT`. A download ends as `end` says and is answered `final_reply`. For an
/// upload, the task returns whether the client's data ended with close_notify (a bare
/// TCP close reads as `UnexpectedEof`) and how many bytes came.
async fn scripted_server(
    files: &TlsFiles,
    payload: Vec<u8>,
    end: DataEnd,
    final_reply: &'static str,
) -> (
    std::net::SocketAddr,
    tokio::task::JoinHandle<Option<(bool, usize)>>,
) {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let config = ftp_proto::tokio::tls::server_config_from_pem(&files.cert, &files.key).unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut control = BufReader::new(acceptor.accept(tcp).await.unwrap());
        control.write_all(b"220 scripted\r\n").await.unwrap();
        let mut data_listener = None;
        let mut upload = None;
        let mut line = String::new();
        loop {
            line.clear();
            if control.read_line(&mut line).await.unwrap() == 0 {
                return upload;
            }
            let verb = line
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_ascii_uppercase();
            let reply: String = match verb.as_str() {
                "USER" => "331 password\r\n".into(),
                "PASS" => "230 in\r\n".into(),
                "PBSZ" | "PROT" | "TYPE" => "200 ok\r\n".into(),
                "EPSV" => {
                    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                    let port = listener.local_addr().unwrap().port();
                    data_listener = Some(listener);
                    format!("229 Entering Extended Passive Mode (|||{port}|)\r\n")
                }
                "RETR" | "STOR" => {
                    control.write_all(b"150 go\r\n").await.unwrap();
                    let (tcp, _) = data_listener.take().unwrap().accept().await.unwrap();
                    let mut data = acceptor.accept(tcp).await.unwrap();
                    if verb == "STOR" {
                        let mut received = Vec::new();
                        let clean = match data.read_to_end(&mut received).await {
                            Ok(_) => true,
                            Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => {
                                false
                            }
                            Err(error) => panic!("upload: {error}"),
                        };
                        upload = Some((clean, received.len()));
                        data.shutdown().await.unwrap();
                        "226 stored\r\n".into()
                    } else {
                        match end {
                            DataEnd::CloseNotify => {
                                data.write_all(&payload).await.unwrap();
                                data.shutdown().await.unwrap();
                            }
                            DataEnd::BareClose { bytes } => {
                                data.write_all(&payload[..bytes]).await.unwrap();
                                data.flush().await.unwrap();
                                let (mut tcp, _) = data.into_inner();
                                tcp.shutdown().await.unwrap();
                            }
                        }
                        final_reply.into()
                    }
                }
                "QUIT" => {
                    control.write_all(b"221 bye\r\n").await.unwrap();
                    return upload;
                }
                _ => "502 not here\r\n".into(),
            };
            control.write_all(reply.as_bytes()).await.unwrap();
        }
    });
    (address, task)
}

fn implicit_config(files: &TlsFiles) -> ClientConfig {
    let mut config = tls_config(files, &[&TLS13], "epsv");
    config.tls = config.tls.map(ClientTls::implicit);
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_without_close_notify_counts_only_when_226_confirms_it() {
    let files = TlsFiles::new();
    let data = pattern(300_000, 31);

    // The whole file, a bare TCP close, and 226: the transfer is complete.
    let (address, server) = scripted_server(
        &files,
        data.clone(),
        DataEnd::BareClose { bytes: data.len() },
        "226 ok\r\n",
    )
    .await;
    let mut client = Client::connect(address, implicit_config(&files))
        .await
        .unwrap();
    client.login("u", "p").await.unwrap();
    let mut received = Vec::new();
    client
        .download_to("f", &mut received)
        .await
        .expect("confirmed by 226");
    assert!(received == data);
    client.quit().await.unwrap();
    server.await.unwrap();

    // Part of the file, a bare TCP close (a forged FIN looks the same), and 426: the
    // download fails, whatever the data connection said.
    let (address, server) = scripted_server(
        &files,
        data.clone(),
        DataEnd::BareClose { bytes: 100_000 },
        "426 cut\r\n",
    )
    .await;
    let mut client = Client::connect(address, implicit_config(&files))
        .await
        .unwrap();
    client.login("u", "p").await.unwrap();
    let mut received = Vec::new();
    let error = client.download_to("f", &mut received).await.unwrap_err();
    assert!(
        error
            .reply()
            .is_some_and(|reply| reply.code().as_u16() == 426),
        "{error}"
    );
    client.quit().await.unwrap();
    server.await.unwrap();

    // close_notify and 226: the ordinary case.
    let (address, server) =
        scripted_server(&files, data.clone(), DataEnd::CloseNotify, "226 ok\r\n").await;
    let mut client = Client::connect(address, implicit_config(&files))
        .await
        .unwrap();
    client.login("u", "p").await.unwrap();
    let mut download = client.get("f").await.unwrap();
    let mut received = Vec::new();
    download.read_to_end(&mut received).await.unwrap();
    download.finish().await.unwrap();
    assert!(received == data);
    client.quit().await.unwrap();
    server.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_ends_with_close_notify() {
    let files = TlsFiles::new();
    let data = pattern(250_000, 32);
    let (address, server) =
        scripted_server(&files, Vec::new(), DataEnd::CloseNotify, "226 ok\r\n").await;
    let mut client = Client::connect(address, implicit_config(&files))
        .await
        .unwrap();
    client.login("u", "p").await.unwrap();
    let mut upload = client.put("f").await.unwrap();
    upload.write_all(&data).await.unwrap();
    upload.finish().await.unwrap();
    client.quit().await.unwrap();
    assert_eq!(server.await.unwrap(), Some((true, data.len())));
}

// ----- Certificates -----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_certificate_fails_with_a_certificate_error() {
    let files = TlsFiles::self_signed();
    let server = our_server(&files, false);
    server.write("a.txt", b"trusted");
    // Trusting another CA: the server's certificate has no known issuer.
    let other = TlsFiles::new();
    let mut client = Client::connect(server.address, tls_config(&other, &[&TLS13], "epsv"))
        .await
        .unwrap();
    let error = client.login("alice", "secret").await.unwrap_err();
    assert!(
        matches!(
            error.tls_error(),
            Some(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer
            ))
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("certificate"), "{error}");
    assert!(client.is_closed());
    // Implicit TLS fails the same way, at connect.
    let implicit_server = our_server(&files, true);
    let mut config = tls_config(&other, &[&TLS12], "epsv");
    config.tls = config.tls.map(ClientTls::implicit);
    let error = Client::connect(implicit_server.address, config)
        .await
        .unwrap_err();
    assert!(
        matches!(
            error.tls_error(),
            Some(rustls::Error::InvalidCertificate(_))
        ),
        "{error:?}"
    );

    // The self-signed certificate as the CA: trusted.
    let mut client = Client::connect(server.address, tls_config(&files, &[&TLS13], "epsv"))
        .await
        .unwrap();
    client.login("alice", "secret").await.unwrap();
    let mut text = Vec::new();
    client.download_to("a.txt", &mut text).await.unwrap();
    assert_eq!(text, b"trusted");
    client.quit().await.unwrap();

    // Trusting anything (tests only) works too.
    let mut config = client_config("epsv");
    config.tls = Some(
        ClientTls::builder()
            .insecure_accept_any_certificate()
            .build()
            .unwrap(),
    );
    let mut client = Client::connect(server.address, config).await.unwrap();
    client.login("alice", "secret").await.unwrap();
    client.quit().await.unwrap();
}

#[test]
fn bad_tls_settings_are_reported_when_built() {
    let dir = TempDir::new("tls-settings");
    let empty = dir.join("empty.pem");
    std::fs::write(&empty, "").unwrap();
    let error = ClientTls::builder().ca_file(&empty).unwrap_err();
    assert!(error.to_string().contains("no certificate"), "{error}");
    assert!(
        ClientTls::builder()
            .ca_file(dir.join("missing.pem"))
            .is_err()
    );
    assert!(ClientTls::builder().protocol_versions(&[]).build().is_err());
    let tls = ClientTls::builder()
        .insecure_accept_any_certificate()
        .build()
        .unwrap();
    assert!(tls.clone().with_server_name("not a host name!").is_err());
    let named = tls.with_server_name("127.0.0.1").unwrap();
    assert!(matches!(
        named.server_name(),
        Some(rustls::pki_types::ServerName::IpAddress(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_for_another_name_is_refused() {
    let files = TlsFiles::new();
    let server = our_server(&files, false);
    let mut config = tls_config(&files, &[&TLS13], "epsv");
    config.tls = config
        .tls
        .map(|tls| tls.with_server_name("ftp.example.org").unwrap());
    let mut client = Client::connect(server.address, config).await.unwrap();
    let error = client.login("alice", "secret").await.unwrap_err();
    assert!(
        matches!(
            error.tls_error(),
            Some(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForNameContext { .. }
                    | rustls::CertificateError::NotValidForName
            ))
        ),
        "{error:?}"
    );
    // By the name it carries: trusted.
    let mut config = tls_config(&files, &[&TLS13], "epsv");
    config.tls = config
        .tls
        .map(|tls| tls.with_server_name("localhost").unwrap());
    let mut client = Client::connect(server.address, config).await.unwrap();
    client.login("alice", "secret").await.unwrap();
    client.quit().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asking_for_tls_without_a_tls_configuration_is_refused() {
    let server = TestServer::start();
    let mut config = client_config("epsv");
    config.session.tls = true;
    let error = Client::connect(server.address, config).await.unwrap_err();
    assert!(matches!(error, ClientError::TlsNotConfigured), "{error:?}");
}

// ----- The example client -----

/// The example client, built with TLS (a no-op when `cargo test` built it already).
fn example_client() -> std::path::PathBuf {
    let manifest = env!("CARGO_MANIFEST_DIR");
    let built = Command::new(env!("CARGO"))
        .args(["build", "--quiet", "--example", "client", "--all-features"])
        .current_dir(manifest)
        .status()
        .expect("cargo runs");
    assert!(built.success(), "building the example client failed");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(manifest).join("target"));
    target.join("debug/examples/client")
}

#[test]
fn example_client_flags_end_to_end() {
    let client = example_client();
    let files = TlsFiles::self_signed();
    let explicit = our_server(&files, false);
    let implicit = our_server(&files, true);
    let local = TempDir::new("example-tls");
    let data = pattern(200_000, 21);
    let source = local.join("up.bin");
    std::fs::write(&source, &data).unwrap();
    let explicit_url = format!("ftp://alice:secret@127.0.0.1:{}/", explicit.address.port());
    let implicit_url = format!("ftps://alice:secret@127.0.0.1:{}/", implicit.address.port());
    let ca = files.ca.to_str().unwrap();
    let example = |args: &[&str]| {
        run(
            Command::new(&client).args(args),
            std::time::Duration::from_secs(60),
        )
    };

    // No CA given: the system's roots do not know the certificate.
    let refused = example(&["--tls", "ls", &explicit_url]);
    assert!(!refused.status.success());
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(message.contains("invalid peer certificate"), "{message}");
    assert!(message.contains("--ca"), "the hint is missing: {message}");

    // --tls with --ca: upload, list, download.
    let put = example(&[
        "--tls",
        "--ca",
        ca,
        "put",
        source.to_str().unwrap(),
        &explicit_url,
    ]);
    assert!(
        put.status.success(),
        "{}",
        String::from_utf8_lossy(&put.stderr)
    );
    assert!(explicit.read("up.bin") == data);
    let listed = example(&["--tls", "--ca", ca, "ls", &explicit_url]);
    assert!(listed.status.success());
    let listing = String::from_utf8_lossy(&listed.stdout);
    assert!(
        listing.contains(" 200000 ") && listing.contains("up.bin"),
        "{listing}"
    );
    let copy = local.join("copy.bin");
    let got = example(&[
        "--tls",
        "--ca",
        ca,
        "get",
        &format!("{explicit_url}up.bin"),
        "-o",
        copy.to_str().unwrap(),
    ]);
    assert!(
        got.status.success(),
        "{}",
        String::from_utf8_lossy(&got.stderr)
    );
    assert!(std::fs::read(&copy).unwrap() == data);

    // ftps:// is implicit TLS; --insecure accepts the unknown certificate.
    implicit.write("i.txt", b"implicit");
    let got = example(&[
        "--insecure",
        "get",
        &format!("{implicit_url}i.txt"),
        "-o",
        "-",
    ]);
    assert!(
        got.status.success(),
        "{}",
        String::from_utf8_lossy(&got.stderr)
    );
    assert_eq!(got.stdout, b"implicit");
    let got = example(&[
        "--ca",
        ca,
        "get",
        &format!("{implicit_url}i.txt"),
        "-o",
        "-",
    ]);
    assert_eq!(got.stdout, b"implicit");

    // --ca without TLS is a mistake, not a silent plain connection.
    let plain = example(&["--ca", ca, "ls", &explicit_url]);
    assert!(!plain.status.success());
    assert!(String::from_utf8_lossy(&plain.stderr).contains("--tls"));
}
