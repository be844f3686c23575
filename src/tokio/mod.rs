//! tokio adapters, one feature per role (all of them with feature `tokio`).
//!
//! - `client`: an FTP [`Client`] that drives [`client::Session`](crate::client::Session).
//! - `server`: an FTP [`Server`] that drives [`server::Session`](crate::server::Session)
//!   over sockets, and the [`Storage`] and [`Authenticator`] traits it serves from.
//! - `local-fs`: a local file-system back end ([`LocalFs`]); `object-store`: an
//!   object-store back end (`ObjectStorage`). Both imply `server`; their code, and the
//!   storage traits', lives in the crate-private `storage` module.
//! - `tls`: FTPS ([`tls`]) for whichever of the two roles is enabled.
//!
//! The adapters move bytes and carry out the sessions' events; every protocol decision
//! is the session's.

#[cfg(feature = "client")]
mod client;
#[cfg(feature = "server")]
mod log;
#[cfg(feature = "server")]
mod server;
mod stream;
#[cfg(feature = "tls")]
#[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
pub mod tls;

#[cfg(feature = "server")]
#[cfg_attr(docsrs, doc(cfg(feature = "server")))]
pub use crate::storage::auth::StaticUsers;
#[cfg(feature = "local-fs")]
#[cfg_attr(docsrs, doc(cfg(feature = "local-fs")))]
pub use crate::storage::local::{LocalFs, LocalLister, LocalUpload, STAGING_PREFIX};
#[cfg(feature = "object-store")]
#[cfg_attr(docsrs, doc(cfg(feature = "object-store")))]
pub use crate::storage::object::{
    DEFAULT_LIST_PAGE_SIZE, DEFAULT_PART_SIZE, DEFAULT_UPLOAD_CONCURRENCY, DIRECTORY_MARKER,
    ObjectLister, ObjectReader, ObjectStorage, ObjectUpload, UPLOAD_RECORDS,
};
#[cfg(feature = "server")]
#[cfg_attr(docsrs, doc(cfg(feature = "server")))]
pub use crate::storage::{Account, Authenticator, Lister, Storage, Upload};
#[cfg(feature = "client")]
#[cfg_attr(docsrs, doc(cfg(feature = "client")))]
pub use client::{
    Client, ClientConfig, ClientError, DataTlsHandshakes, DownloadStream, Progress, TreeSummary,
    UploadStream, check_listing_name,
};
/// The `object_store` crate this back end is built on (feature `object-store`), so that
/// stores are built with the very version [`ObjectStorage`] takes.
#[cfg(feature = "object-store")]
#[cfg_attr(docsrs, doc(cfg(feature = "object-store")))]
pub use object_store;
#[cfg(feature = "server")]
#[cfg_attr(docsrs, doc(cfg(feature = "server")))]
pub use server::{ConfigError, Server, ServerConfig};
