//! tokio adapters (feature `tokio`): an FTP [`Server`] that drives
//! [`server::Session`](crate::server::Session) over sockets, the [`Storage`] and
//! [`Authenticator`] traits it serves from, a local file-system back end, and an FTP
//! [`Client`] that drives [`client::Session`](crate::client::Session).
//!
//! The adapters move bytes and carry out the sessions' events; every protocol decision
//! is the session's.

mod auth;
mod client;
mod local;
mod lockout;
mod server;
mod storage;
mod stream;
#[cfg(feature = "tls")]
#[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
pub mod tls;

pub use auth::StaticUsers;
pub use client::{
    Client, ClientConfig, ClientError, DownloadStream, Progress, TreeSummary, UploadStream,
    check_listing_name,
};
pub use local::{LocalFs, LocalLister, LocalUpload};
pub use server::{Server, ServerConfig};
pub use storage::{Account, Authenticator, Lister, Storage, Upload};
