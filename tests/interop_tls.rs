//! FTPS against our tokio server: curl, lftp and Python's ftplib over explicit TLS with
//! PROT P, implicit TLS, and the data-channel session-reuse requirement.
#![cfg(all(feature = "tokio", feature = "tls", unix))]

mod common;

use std::process::Command;

use common::example::ExampleServer;
use common::peers::{TempDir, TestServer, TlsFiles, pattern, peer_available, run, run_ok};
use ftp_proto::tokio::ServerConfig;

/// A self-signed certificate for 127.0.0.1 and localhost, in PEM files.
fn certificate() -> TlsFiles {
    TlsFiles::self_signed()
}

fn tls_server(certificate: &TlsFiles, configure: impl FnOnce(&mut ServerConfig)) -> TestServer {
    let mut config = ServerConfig::default().with_tls(
        ftp_proto::tokio::tls::server_config_from_pem(&certificate.cert, &certificate.key).unwrap(),
    );
    configure(&mut config);
    TestServer::start_with(config)
}

fn curl(certificate: &TlsFiles) -> Command {
    let mut command = Command::new("curl");
    command.args([
        "--silent",
        "--show-error",
        "--max-time",
        "60",
        "--ssl-reqd",
        "--cacert",
    ]);
    command.arg(&certificate.cert);
    command
}

#[test]
fn curl_over_explicit_tls_lists_gets_puts_and_resumes() {
    if !peer_available("curl") {
        return;
    }
    let certificate = certificate();
    let server = tls_server(&certificate, |_| {});
    let data = pattern(500_000, 10);
    server.write("secret.bin", &data);
    let listing = String::from_utf8(run_ok(curl(&certificate).arg(server.url("")))).unwrap();
    assert!(
        listing.lines().any(|line| line.ends_with(" secret.bin")),
        "{listing}"
    );
    assert!(run_ok(curl(&certificate).arg(server.url("secret.bin"))) == data);
    let partial = server.root.join("partial");
    std::fs::write(&partial, &data[..1234]).unwrap();
    run_ok(
        curl(&certificate)
            .args(["-C", "-", "-o"])
            .arg(&partial)
            .arg(server.url("secret.bin")),
    );
    assert!(std::fs::read(&partial).unwrap() == data);
    run_ok(
        curl(&certificate)
            .args(["--user", "alice:secret", "-T"])
            .arg(&partial)
            .arg(server.url("up.bin")),
    );
    assert!(server.read("up.bin") == data);
}

#[test]
fn curl_over_implicit_tls() {
    if !peer_available("curl") {
        return;
    }
    let certificate = certificate();
    let server = tls_server(&certificate, |config| config.session.implicit_tls = true);
    server.write("a.txt", b"implicit");
    let url = server.url("a.txt").replacen("ftp://", "ftps://", 1);
    assert_eq!(run_ok(curl(&certificate).arg(url)), b"implicit");
}

#[test]
fn session_reuse_can_be_required() {
    if !peer_available("curl") || !peer_available("python3") {
        return;
    }
    let certificate = certificate();
    let server = tls_server(&certificate, |config| {
        config.session.require_tls_session_reuse = true
    });
    let data = pattern(100_000, 11);
    server.write("d.bin", &data);
    // curl resumes the control connection's session on the data connection.
    assert!(run_ok(curl(&certificate).arg(server.url("d.bin"))) == data);
    // Python's ftplib does not, so its protected transfer is refused with 522, and the
    // control connection goes on.
    assert_eq!(
        ftplib_protected_retr(&certificate, server.address.port(), "d.bin"),
        "refused 522 resume\n200\n"
    );
}

/// The example server's `--require-tls-reuse` is the library's setting: ftplib, which
/// does not resume, is refused, and the 522 says why.
#[test]
fn the_example_server_can_require_session_reuse() {
    if !peer_available("python3") {
        return;
    }
    let certificate = certificate();
    let root = TempDir::new("example-reuse");
    std::fs::write(root.join("d.bin"), b"data").unwrap();
    let [cert_flag, cert, key_flag, key] = certificate.example_flags();
    let server = ExampleServer::start(
        root.path(),
        &[&cert_flag, &cert, &key_flag, &key, "--require-tls-reuse"],
    );
    assert_eq!(
        ftplib_protected_retr(&certificate, server.address.port(), "d.bin"),
        "refused 522 resume\n200\n"
    );
}

/// Python's ftplib over explicit TLS with PROT P retrieves `name`: prints
/// `transferred`, or `refused CODE` and whether the refusal's text speaks of resuming,
/// then the code of a NOOP after it.
fn ftplib_protected_retr(certificate: &TlsFiles, port: u16, name: &str) -> String {
    let script = format!(
        r#"
import ftplib, ssl
context = ssl.create_default_context(cafile="{cafile}")
ftp = ftplib.FTP_TLS(context=context)
ftp.connect("127.0.0.1", {port}, timeout=30)
ftp.login("alice", "secret")
ftp.prot_p()
def refused(error):
    text = str(error)
    print("refused", text[:3], "resume" if "resume" in text else "other")
try:
    ftp.retrbinary("RETR {name}", lambda b: None)
    print("transferred")
except ftplib.error_perm as error:
    refused(error)
except (OSError, EOFError):
    # The data connection was dropped after its handshake; the reply says why.
    try:
        ftp.getresp()
    except ftplib.error_perm as error:
        refused(error)
print(ftp.voidcmd("NOOP")[:3])
"#,
        cafile = certificate.cert.display(),
    );
    String::from_utf8(run_ok(Command::new("python3").args(["-c", &script]))).unwrap()
}

#[test]
fn python_ftplib_over_tls_with_prot_p() {
    if !peer_available("python3") {
        return;
    }
    let certificate = certificate();
    let server = tls_server(&certificate, |_| {});
    let data = pattern(250_000, 12);
    server.write("file.bin", &data);
    let script = format!(
        r#"
import ftplib, ssl, io, hashlib
context = ssl.create_default_context(cafile="{cafile}")
ftp = ftplib.FTP_TLS(context=context)
ftp.connect("127.0.0.1", {port}, timeout=30)
ftp.login("alice", "secret")
ftp.prot_p()
buf = io.BytesIO()
ftp.retrbinary("RETR file.bin", buf.write)
print(hashlib.sha256(buf.getvalue()).hexdigest())
part = io.BytesIO()
ftp.retrbinary("RETR file.bin", part.write, rest=5)
print(len(part.getvalue()))
ftp.storbinary("STOR copy.bin", io.BytesIO(buf.getvalue()))
print(sorted(ftp.nlst()))
ftp.prot_c()
print(len(ftp.nlst()))
ftp.quit()
"#,
        cafile = certificate.cert.display(),
        port = server.address.port()
    );
    let output = String::from_utf8(run_ok(Command::new("python3").args(["-c", &script]))).unwrap();
    let digest = {
        let output = run(
            Command::new("sh").arg("-c").arg(format!(
                "sha256sum {}",
                server.root.join("file.bin").display()
            )),
            std::time::Duration::from_secs(30),
        );
        String::from_utf8(output.stdout)
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .to_owned()
    };
    assert_eq!(
        output,
        format!("{digest}\n249995\n['copy.bin', 'file.bin']\n2\n")
    );
    assert!(server.read("copy.bin") == data);
}

#[test]
fn lftp_forces_tls_and_mirrors() {
    if !peer_available("lftp") {
        return;
    }
    let certificate = certificate();
    let server = tls_server(&certificate, |config| {
        config.session.require_tls_for_login = true
    });
    let local = TempDir::new("lftp-tls");
    std::fs::create_dir_all(local.join("up/sub")).unwrap();
    let data = pattern(80_000, 13);
    std::fs::write(local.join("up/sub/x.bin"), &data).unwrap();
    run_ok(Command::new("lftp").args([
        "-u",
        "alice,secret",
        "-p",
        &server.address.port().to_string(),
        "-e",
        &format!(
            "set cmd:fail-exit true; set net:max-retries 1; set ftp:ssl-force true; \
             set ftp:ssl-protect-data true; set ssl:ca-file {}; set ssl:check-hostname no; \
             lcd {}; mirror -R up up; mirror up down; bye",
            certificate.cert.display(),
            local.path().display()
        ),
        "127.0.0.1",
    ]));
    assert!(server.read("up/sub/x.bin") == data);
    assert!(std::fs::read(local.join("down/sub/x.bin")).unwrap() == data);
    // Without TLS, login is refused.
    let plain = run(
        Command::new("curl")
            .args(["-s", "--user", "alice:secret"])
            .arg(server.url("")),
        std::time::Duration::from_secs(30),
    );
    assert!(!plain.status.success());
}
