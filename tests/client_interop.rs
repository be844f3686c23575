//! The tokio client against servers no one here wrote: vsftpd (anonymous reading, and
//! anonymous upload into a writable subdirectory: vsftpd's local users need a real
//! account with a password, which a root sandbox does not have) and pyftpdlib (a
//! writable user), each in EPSV, PASV and active mode, every operation checked against
//! the server's disk byte for byte. A missing peer skips loudly, or fails under CI=true.
#![cfg(feature = "tokio")]

mod common;

use common::peers::{
    PeerServer, client_config, exercise_client, pattern, peer_available, python_module_available,
    start_pyftpdlib, start_vsftpd, start_vsftpd_configured,
};
use ftp_proto::listing::EntryKind;
use ftp_proto::tokio::Client;
use tokio::io::AsyncReadExt;

fn vsftpd() -> Option<PeerServer> {
    peer_available("vsftpd").then(start_vsftpd)
}

fn pyftpdlib() -> Option<PeerServer> {
    python_module_available("pyftpdlib").then(start_pyftpdlib)
}

async fn vsftpd_writing(mode: &str) {
    let Some(server) = vsftpd() else { return };
    let mut client = Client::connect(server.address(), client_config(mode))
        .await
        .unwrap();
    client.login("anonymous", "guest@").await.expect("login");
    let disk = server.root.join("upload");
    exercise_client(&mut client, "/upload", &disk, mode).await;
    client.quit().await.expect("QUIT");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vsftpd_every_operation_epsv() {
    vsftpd_writing("epsv").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vsftpd_every_operation_pasv() {
    vsftpd_writing("pasv").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vsftpd_every_operation_active() {
    vsftpd_writing("active").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vsftpd_anonymous_reading() {
    let Some(server) = vsftpd() else { return };
    let data = pattern(1_000_003, 9);
    std::fs::create_dir_all(server.root.join("pub/deep")).unwrap();
    std::fs::write(server.root.join("pub/data.bin"), &data).unwrap();
    std::fs::write(server.root.join("pub/deep/note.txt"), b"note\n").unwrap();
    std::os::unix::fs::symlink("data.bin", server.root.join("pub/link")).unwrap();
    let mut client = Client::connect(server.address(), client_config("epsv"))
        .await
        .unwrap();
    client.login("anonymous", "x@").await.unwrap();
    let features = client.features().await.unwrap();
    assert!(
        !features.machine_listing(),
        "vsftpd has no MLST: LIST is parsed"
    );
    let entries = client.list(Some("/pub")).await.unwrap();
    let file = entries.iter().find(|e| e.name == *"data.bin").unwrap();
    assert_eq!(file.size, Some(data.len() as u64));
    let link = entries.iter().find(|e| e.name == *"link").unwrap();
    assert!(matches!(link.kind, EntryKind::Symlink { .. }));
    assert_eq!(link.link_target().unwrap(), "data.bin");
    assert!(
        entries
            .iter()
            .any(|e| e.name == *"deep" && e.is_directory())
    );

    let mut download = client.get("/pub/data.bin").await.unwrap();
    let mut received = Vec::new();
    download.read_to_end(&mut received).await.unwrap();
    download.finish().await.unwrap();
    assert!(received == data);
    let mut tail = Vec::new();
    let mut download = client.get_from("/pub/data.bin", 999_000).await.unwrap();
    download.read_to_end(&mut tail).await.unwrap();
    download.finish().await.unwrap();
    assert!(tail == data[999_000..]);
    assert_eq!(
        client.size("/pub/data.bin").await.unwrap(),
        data.len() as u64
    );

    let target = common::peers::TempDir::new("vsftpd-tree");
    let summary = client
        .download_tree("/pub", &target.join("pub"))
        .await
        .unwrap();
    assert_eq!(summary.files, 2);
    assert_eq!(summary.skipped.len(), 1, "the link is skipped");
    assert!(std::fs::read(target.join("pub/data.bin")).unwrap() == data);
    assert_eq!(
        std::fs::read(target.join("pub/deep/note.txt")).unwrap(),
        b"note\n"
    );

    // The anonymous root itself is read-only: refused, and the client goes on.
    let refused = client
        .upload_from("/nope.txt", &mut &b"x"[..])
        .await
        .unwrap_err();
    assert!(refused.reply().is_some(), "{refused}");
    assert!(!server.root.join("nope.txt").exists());
    client.noop().await.unwrap();
    client.quit().await.unwrap();
}

async fn pyftpdlib_writing(mode: &str) {
    let Some(server) = pyftpdlib() else { return };
    let mut client = Client::connect(server.address(), client_config(mode))
        .await
        .unwrap();
    client.login("user", "pass").await.expect("login");
    let features = client.features().await.unwrap();
    assert!(
        features.machine_listing(),
        "pyftpdlib offers MLST: MLSD is used"
    );
    exercise_client(&mut client, "/", server.root.path(), mode).await;
    client.quit().await.expect("QUIT");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyftpdlib_every_operation_epsv() {
    pyftpdlib_writing("epsv").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyftpdlib_every_operation_pasv() {
    pyftpdlib_writing("pasv").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyftpdlib_every_operation_active() {
    pyftpdlib_writing("active").await;
}

// ----- Issue 16 -----

/// get(binary), raw("TYPE A"), get(text), get(binary): a raw TYPE left the session sure
/// that TYPE I was in force, so the last RETR went without `TYPE I` and the file arrived
/// with LF turned into CRLF. Now raw refuses TYPE, and the typed ways switch and switch
/// back. vsftpd converts only with `ascii_download_enable`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vsftpd_raw_type_cannot_corrupt_a_later_binary_download() {
    use ftp_proto::client::Error as SessionError;
    use ftp_proto::tokio::ClientError;
    use ftp_proto::{FormatControl, RepresentationType};
    if !peer_available("vsftpd") {
        return;
    }
    let server = start_vsftpd_configured("ascii_download_enable=YES\n");
    let data = b"one\ntwo\nthree\n\x00\xff binary tail\n".to_vec();
    std::fs::create_dir_all(server.root.join("pub")).unwrap();
    std::fs::write(server.root.join("pub/lines.bin"), &data).unwrap();
    let text: Vec<u8> = data
        .iter()
        .flat_map(|&byte| {
            if byte == b'\n' {
                vec![b'\r', b'\n']
            } else {
                vec![byte]
            }
        })
        .collect();
    let mut client = Client::connect(server.address(), client_config("epsv"))
        .await
        .unwrap();
    client.login("anonymous", "x@").await.unwrap();
    async fn fetch(client: &mut Client<tokio::net::TcpStream>, ascii: bool) -> Vec<u8> {
        let mut download = if ascii {
            let text = RepresentationType::Ascii(FormatControl::NonPrint);
            client.get_as("/pub/lines.bin", text).await.unwrap()
        } else {
            client.get("/pub/lines.bin").await.unwrap()
        };
        let mut bytes = Vec::new();
        download.read_to_end(&mut bytes).await.unwrap();
        download.finish().await.unwrap();
        bytes
    }
    assert!(fetch(&mut client, false).await == data, "first binary get");
    let refused = client.raw("TYPE A").await.unwrap_err();
    assert!(
        matches!(
            refused,
            ClientError::Protocol(SessionError::RawRefused {
                verb: ftp_proto::Verb::Type,
                ..
            })
        ),
        "{refused}"
    );
    assert!(fetch(&mut client, true).await == text, "text get converts");
    assert!(
        fetch(&mut client, false).await == data,
        "the last binary get must be byte-identical"
    );
    // set_type changes the type of later transfers, and back.
    let ascii = RepresentationType::Ascii(FormatControl::NonPrint);
    client.set_type(ascii).await.unwrap();
    assert!(fetch(&mut client, false).await == text);
    client.set_type(RepresentationType::Image).await.unwrap();
    assert!(fetch(&mut client, false).await == data);
    client.quit().await.unwrap();
}

/// vsftpd with `async_abor_enable` notices an ABOR during a transfer through urgent
/// data (SIGURG): with `telnet_synch_abort` the client sends Telnet IP, then IAC DM with
/// the DM as TCP urgent data, then ABOR, and only then closes the data connection. vsftpd then answers "426" and "226 ABOR
/// successful."; an ABOR it reads after the transfer gets "225 No transfer to ABOR.".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vsftpd_abort_mid_download_is_urgent_and_the_session_goes_on() {
    if !peer_available("vsftpd") {
        return;
    }
    // async_abor_enable: vsftpd installs its SIGURG handler only with it.
    let server = start_vsftpd_configured(
        "async_abor_enable=YES\nxferlog_enable=YES\nlog_ftp_protocol=YES\n",
    );
    std::fs::create_dir_all(server.root.join("pub")).unwrap();
    let big = std::fs::File::create(server.root.join("pub/big.bin")).unwrap();
    big.set_len(512 << 20).unwrap();
    std::fs::write(server.root.join("pub/small.txt"), b"small\n").unwrap();
    let mut config = client_config("epsv");
    config.session.telnet_synch_abort = true;
    let mut client = Client::connect(server.address(), config).await.unwrap();
    client.login("anonymous", "x@").await.unwrap();
    let mut download = client.get("/pub/big.bin").await.unwrap();
    let mut some = vec![0; 1 << 20];
    download.read_exact(&mut some).await.unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(20), download.abort())
        .await
        .expect("the abort finishes")
        .unwrap();
    assert_eq!(client.noop().await.unwrap().code().as_u16(), 200);
    let mut small = Vec::new();
    client
        .download_to("/pub/small.txt", &mut small)
        .await
        .unwrap();
    assert_eq!(small, b"small\n");
    client.quit().await.unwrap();
    let log = server.vsftpd_log();
    assert!(
        log.contains("ABOR successful"),
        "vsftpd did not take the urgent ABOR; log:\n{log}"
    );
    assert!(!log.contains("No transfer to ABOR"), "log:\n{log}");
}

/// Names in `directory` other than `keep`: a temporary file left behind shows here.
fn others_in(directory: &std::path::Path, keep: &str) -> Vec<String> {
    std::fs::read_dir(directory)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name != keep)
        .collect()
}

/// A refused download (550) must not empty the local file of the same name: the
/// bytes go to a temporary file that replaces it only on success.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vsftpd_refused_download_to_path_leaves_the_local_file_intact() {
    let Some(server) = vsftpd() else { return };
    std::fs::create_dir_all(server.root.join("pub")).unwrap();
    std::fs::write(server.root.join("pub/new.txt"), b"new\n").unwrap();
    let local = common::peers::TempDir::new("download-to-path");
    let target = local.join("keep.txt");
    std::fs::write(&target, b"precious\n").unwrap();
    let mut client = Client::connect(server.address(), client_config("epsv"))
        .await
        .unwrap();
    client.login("anonymous", "x@").await.unwrap();
    let refused = client
        .download_to_path("/pub/missing.txt", &target)
        .await
        .unwrap_err();
    assert_eq!(refused.reply().map(|r| r.code().as_u16()), Some(550));
    assert_eq!(std::fs::read(&target).unwrap(), b"precious\n");
    assert!(others_in(local.path(), "keep.txt").is_empty());
    // A download that succeeds replaces it.
    let bytes = client
        .download_to_path("/pub/new.txt", &target)
        .await
        .unwrap();
    assert_eq!(bytes, 4);
    assert_eq!(std::fs::read(&target).unwrap(), b"new\n");
    assert!(others_in(local.path(), "keep.txt").is_empty());
    // Through links: to a device it writes into the device (a rename would replace the
    // node: `-o /dev/null` once turned /dev/null into a file), to a file it replaces
    // the file and keeps the link.
    let (to_device, to_file) = (local.join("sink"), local.join("alias"));
    std::os::unix::fs::symlink("/dev/null", &to_device).unwrap();
    std::os::unix::fs::symlink(&target, &to_file).unwrap();
    assert_eq!(
        client
            .download_to_path("/pub/new.txt", &to_device)
            .await
            .unwrap(),
        4
    );
    assert!(
        std::fs::symlink_metadata(&to_device)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(std::os::unix::fs::FileTypeExt::is_char_device(
        &std::fs::metadata("/dev/null").unwrap().file_type()
    ));
    std::fs::write(&target, b"old\n").unwrap();
    assert_eq!(
        client
            .download_to_path("/pub/new.txt", &to_file)
            .await
            .unwrap(),
        4
    );
    assert!(
        std::fs::symlink_metadata(&to_file)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(std::fs::read(&target).unwrap(), b"new\n");
    client.quit().await.unwrap();
}

/// Runs the example client's `get URL -o OUTPUT`; its exit status and output.
async fn example_get(url: String, output: &std::path::Path) -> std::process::Output {
    let binary = common::example::example_binary("client");
    let output = output.to_path_buf();
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(binary)
            .args(["get", &url, "-o"])
            .arg(&output)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

/// The example client's `get` of a missing file leaves an existing output file as it
/// was (it used to create it empty before RETR was answered), and no temporary file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn example_client_refused_get_leaves_the_local_file_intact() {
    let Some(server) = vsftpd() else { return };
    let local = common::peers::TempDir::new("example-get");
    let target = local.join("keep.txt");
    std::fs::write(&target, b"precious\n").unwrap();
    let url = format!("ftp://127.0.0.1:{}/missing.txt", server.port);
    let output = example_get(url, &target).await;
    assert!(!output.status.success(), "the get of a missing file failed");
    assert_eq!(std::fs::read(&target).unwrap(), b"precious\n");
    assert!(others_in(local.path(), "keep.txt").is_empty());
    // `-o` naming a device (through a link here, so that a failure cannot touch the
    // real /dev/null): the bytes go into it, the link and the device stay.
    std::fs::write(server.root.join("there.txt"), b"there\n").unwrap();
    let sink = local.join("sink");
    std::os::unix::fs::symlink("/dev/null", &sink).unwrap();
    let url = format!("ftp://127.0.0.1:{}/there.txt", server.port);
    let output = example_get(url, &sink).await;
    assert!(output.status.success(), "{output:?}");
    assert!(
        std::fs::symlink_metadata(&sink)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(std::os::unix::fs::FileTypeExt::is_char_device(
        &std::fs::metadata("/dev/null").unwrap().file_type()
    ));
}
