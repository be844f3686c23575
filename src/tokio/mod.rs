//! tokio adapters (feature `tokio`): an FTP [`Server`] that drives
//! [`server::Session`](crate::server::Session) over sockets, the [`Storage`] and
//! [`Authenticator`] traits it serves from, a local file-system back end (and, with the
//! feature `object-store`, an object-store back end), and an FTP
//! [`Client`] that drives [`client::Session`](crate::client::Session).
//!
//! The adapters move bytes and carry out the sessions' events; every protocol decision
//! is the session's.

mod auth;
mod client;
mod local;
mod log;
#[cfg(feature = "object-store")]
mod object;
mod server;
mod storage;
mod stream;
#[cfg(feature = "tls")]
#[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
pub mod tls;

pub use auth::StaticUsers;
pub use client::{
    Client, ClientConfig, ClientError, DataTlsHandshakes, DownloadStream, Progress, TreeSummary,
    UploadStream, check_listing_name,
};
pub use local::{LocalFs, LocalLister, LocalUpload, STAGING_PREFIX};
#[cfg(feature = "object-store")]
#[cfg_attr(docsrs, doc(cfg(feature = "object-store")))]
pub use object::{
    DEFAULT_LIST_PAGE_SIZE, DEFAULT_PART_SIZE, DEFAULT_UPLOAD_CONCURRENCY, DIRECTORY_MARKER,
    ObjectLister, ObjectReader, ObjectStorage, ObjectUpload, UPLOAD_RECORDS,
};
/// The `object_store` crate this back end is built on (feature `object-store`), so that
/// stores are built with the very version [`ObjectStorage`] takes.
#[cfg(feature = "object-store")]
#[cfg_attr(docsrs, doc(cfg(feature = "object-store")))]
pub use object_store;
pub use server::{ConfigError, Server, ServerConfig};
pub use storage::{Account, Authenticator, Lister, Storage, Upload};
