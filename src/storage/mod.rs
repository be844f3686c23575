//! Storage back ends of the tokio server, in one place: the [`Storage`], [`Upload`],
//! [`Lister`] and [`Authenticator`] traits the server serves from (this file),
//! [`StaticUsers`](auth::StaticUsers) (`auth`), the local file system (`local`, feature
//! `local-fs`) and the object store (`object`, feature `object-store`). Everything here
//! is re-exported from [`crate::tokio`], which stays the public path.
//!
//! What the tokio server needs from a storage back end and an authenticator.
//!
//! Storage is streaming: reads, uploads and listings flow through `AsyncRead`,
//! `AsyncWrite` and a pull-based lister, so no whole file or listing is held in memory.
//! Optional abilities are declared in [`Capabilities`] and answered honestly by the
//! session (left out of FEAT, refused with 502).

#[cfg(feature = "server")]
pub(crate) mod auth;
#[cfg(feature = "local-fs")]
pub(crate) mod local;
#[cfg(feature = "object-store")]
pub(crate) mod object;

use std::future::Future;
use std::sync::Arc;
use std::time::SystemTime;

use ::tokio::io::{AsyncRead, AsyncWrite};

use crate::command::Password;
use crate::server::{Capabilities, Metadata, StorageError, VirtualPath, WriteMode};
use crate::text::Text;

/// A file tree the server serves. Paths are virtual ([`VirtualPath`]): normalised,
/// absolute, never above `/`; an implementation maps `/` to its root and must refuse
/// anything that resolves outside it (symlinks included).
pub trait Storage: Send + Sync + 'static {
    /// A file being read.
    type Reader: AsyncRead + Send + Unpin + 'static;
    /// A file being written.
    type Upload: Upload;
    /// A directory being listed.
    type Lister: Lister;

    /// What this back end can do.
    fn capabilities(&self) -> Capabilities;

    /// A file descriptor whose bytes, from its current position on, are the reader's:
    /// lets the server send a binary download with `sendfile(2)`, without copying it
    /// through user space. `None` (the default) copies through a buffer.
    fn sendfile_source(reader: &Self::Reader) -> Option<std::os::fd::BorrowedFd<'_>> {
        let _ = reader;
        None
    }

    /// Describes one path (following symbolic links that stay inside the root).
    fn metadata(
        &self,
        path: &VirtualPath,
    ) -> impl Future<Output = Result<Metadata, StorageError>> + Send;

    /// Starts listing a directory, or a single entry when `path` names a file.
    fn list(
        &self,
        path: &VirtualPath,
    ) -> impl Future<Output = Result<Self::Lister, StorageError>> + Send;

    /// Opens a file for reading from `offset`; also returns the bytes left to read,
    /// when known.
    fn open_read(
        &self,
        path: &VirtualPath,
        offset: u64,
    ) -> impl Future<Output = Result<(Self::Reader, Option<u64>), StorageError>> + Send;

    /// Opens a file for writing. Returns the upload and the path it will have (which
    /// differs from `path` only for [`WriteMode::Unique`]).
    fn open_write(
        &self,
        path: &VirtualPath,
        mode: WriteMode,
    ) -> impl Future<Output = Result<(Self::Upload, VirtualPath), StorageError>> + Send;

    /// Deletes a file.
    fn delete(&self, path: &VirtualPath) -> impl Future<Output = Result<(), StorageError>> + Send;

    /// Makes a directory.
    fn make_directory(
        &self,
        path: &VirtualPath,
    ) -> impl Future<Output = Result<(), StorageError>> + Send;

    /// Removes an empty directory.
    fn remove_directory(
        &self,
        path: &VirtualPath,
    ) -> impl Future<Output = Result<(), StorageError>> + Send;

    /// Renames a file or directory.
    fn rename(
        &self,
        from: &VirtualPath,
        to: &VirtualPath,
    ) -> impl Future<Output = Result<(), StorageError>> + Send;

    /// Sets a file's modification time.
    fn set_modified(
        &self,
        path: &VirtualPath,
        modified: SystemTime,
    ) -> impl Future<Output = Result<(), StorageError>> + Send;
}

/// A file being written. Until [`commit`](Upload::commit) succeeds nothing is visible:
/// an upload dropped without commit (the client went away, ABOR) leaves any older file
/// of that name as it was, for [`WriteMode::Create`].
pub trait Upload: AsyncWrite + Send + Unpin + 'static {
    /// Makes the written bytes the file's content.
    fn commit(self) -> impl Future<Output = Result<(), StorageError>> + Send;

    /// Gives the upload up, when the server knows it failed (the data connection broke,
    /// a write failed). The default just drops it. A back end whose clean-up is a
    /// request of its own (an object store's multipart upload) does it here, so that it
    /// is done before the failure is answered; `Drop` must still clean up, for
    /// transfers that are cancelled (ABOR, a closed control connection) and so never
    /// reach this call. The returned future may itself be cancelled (the session ends
    /// while it runs): a clean-up that must finish belongs on a task of its own.
    fn abort(self) -> impl Future<Output = ()> + Send
    where
        Self: Sized,
    {
        drop(self);
        std::future::ready(())
    }
}

/// A directory listing, pulled one entry at a time.
pub trait Lister: Send + 'static {
    /// The next entry's name and metadata, or `None` at the end.
    fn next_entry(
        &mut self,
    ) -> impl Future<Output = Result<Option<(Text<'static>, Metadata)>, StorageError>> + Send;
}

/// Decides who may log in and what each user sees.
pub trait Authenticator: Send + Sync + 'static {
    /// The storage users are given.
    type Storage: Storage;

    /// What the storage can do (the same for every user: it shapes FEAT, which is
    /// answered before login).
    fn capabilities(&self) -> Capabilities;

    /// Checks credentials; `None` refuses them. The session delays and counts refusals.
    fn authenticate(
        &self,
        user: &Text<'_>,
        password: &Password<'_>,
    ) -> impl Future<Output = Option<Account<Self::Storage>>> + Send;
}

/// A logged-in user's view: their storage (rooted where they belong) and whether they
/// may change it.
#[derive(Debug)]
pub struct Account<S> {
    /// The user's file tree.
    pub storage: Arc<S>,
    /// Whether the user may upload, delete, rename and make directories.
    pub writable: bool,
}

impl<S> Clone for Account<S> {
    fn clone(&self) -> Self {
        Account {
            storage: Arc::clone(&self.storage),
            writable: self.writable,
        }
    }
}
