//! The tokio client against servers no one here wrote: vsftpd (anonymous reading, and
//! anonymous upload into a writable subdirectory: vsftpd's local users need a real
//! account with a password, which a root sandbox does not have) and pyftpdlib (a
//! writable user), each in EPSV, PASV and active mode, every operation checked against
//! the server's disk byte for byte. A missing peer skips loudly, or fails under CI=true.
#![cfg(feature = "tokio")]

mod common;

use common::peers::{
    PeerServer, client_config, exercise_client, pattern, peer_available, python_module_available,
    start_pyftpdlib, start_vsftpd,
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
