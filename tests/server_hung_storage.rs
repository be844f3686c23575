//! A storage back end whose calls never return must not freeze the tokio server's
//! session (issue 17, item 8): the session keeps reading the control connection,
//! answers QUIT while a call hangs, and fails a hung command with 451 once the
//! configured `storage_timeout` passes.
#![cfg(feature = "tokio")]

mod common;

use std::future::{Future, pending};
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use ftp_proto::server::{Capabilities, Metadata, StorageError, VirtualPath, WriteMode};
use ftp_proto::tokio::{LocalFs, Server, ServerConfig, StaticUsers, Storage};

use common::raw::{Raw, code};

/// A back end that takes every call and never answers (its types are `LocalFs`'s, for
/// a back end must name some).
struct Hung;

impl Storage for Hung {
    type Reader = <LocalFs as Storage>::Reader;
    type Upload = <LocalFs as Storage>::Upload;
    type Lister = <LocalFs as Storage>::Lister;

    fn capabilities(&self) -> Capabilities {
        Capabilities::ALL
    }

    fn metadata(
        &self,
        _: &VirtualPath,
    ) -> impl Future<Output = Result<Metadata, StorageError>> + Send {
        pending()
    }

    fn list(
        &self,
        _: &VirtualPath,
    ) -> impl Future<Output = Result<Self::Lister, StorageError>> + Send {
        pending()
    }

    fn open_read(
        &self,
        _: &VirtualPath,
        _: u64,
    ) -> impl Future<Output = Result<(Self::Reader, Option<u64>), StorageError>> + Send {
        pending()
    }

    fn open_write(
        &self,
        _: &VirtualPath,
        _: WriteMode,
    ) -> impl Future<Output = Result<(Self::Upload, VirtualPath), StorageError>> + Send {
        pending()
    }

    fn delete(&self, _: &VirtualPath) -> impl Future<Output = Result<(), StorageError>> + Send {
        pending()
    }

    fn make_directory(
        &self,
        _: &VirtualPath,
    ) -> impl Future<Output = Result<(), StorageError>> + Send {
        pending()
    }

    fn remove_directory(
        &self,
        _: &VirtualPath,
    ) -> impl Future<Output = Result<(), StorageError>> + Send {
        pending()
    }

    fn rename(
        &self,
        _: &VirtualPath,
        _: &VirtualPath,
    ) -> impl Future<Output = Result<(), StorageError>> + Send {
        pending()
    }

    fn set_modified(
        &self,
        _: &VirtualPath,
        _: SystemTime,
    ) -> impl Future<Output = Result<(), StorageError>> + Send {
        pending()
    }
}

/// Serves `Hung` to alice (password "secret"), with this storage deadline.
async fn hung_server(storage_timeout: Duration) -> SocketAddr {
    let mut config = ServerConfig::default();
    config.session.storage_timeout = storage_timeout;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let users = StaticUsers::new().user("alice", "secret", Hung, true);
    let server = Server::new(config, users).expect("a valid configuration");
    tokio::spawn(server.serve(listener, pending()));
    address
}

#[tokio::test]
async fn quit_is_answered_while_a_storage_call_hangs() {
    let address = hung_server(Duration::from_secs(3600)).await;
    let mut raw = Raw::connect(address).await;
    raw.login().await;
    raw.send(b"SIZE /anything\r\n").await;
    // STAT overtakes the hung SIZE, then QUIT ends the session.
    let status = raw.command("STAT").await;
    assert_eq!(code(&status), 211, "{status}");
    let goodbye = raw.command("QUIT").await;
    assert_eq!(code(&goodbye), 221, "{goodbye}");
    let rest = raw.replies_until_closed(Duration::from_secs(5)).await;
    assert!(rest.is_empty(), "nothing after 221: {rest:?}");
}

#[tokio::test]
async fn a_hung_storage_call_fails_with_451_after_the_storage_timeout() {
    let address = hung_server(Duration::from_millis(300)).await;
    let mut raw = Raw::connect(address).await;
    raw.login().await;
    let started = Instant::now();
    let reply = raw.command("SIZE /anything").await;
    let waited = started.elapsed();
    assert_eq!(code(&reply), 451, "{reply}");
    assert!(
        waited >= Duration::from_millis(300) && waited < Duration::from_secs(10),
        "answered after {waited:?}"
    );
    // The session goes on.
    assert_eq!(code(&raw.command("NOOP").await), 200);
    assert_eq!(code(&raw.command("QUIT").await), 221);
}
